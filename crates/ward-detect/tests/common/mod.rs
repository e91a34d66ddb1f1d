//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/data` relative to the repository root, or `$WARD_SHARED_DATA`.
/// Fails (never skips) when the data is not there.
pub fn shared_data() -> PathBuf {
    let p = match std::env::var_os("WARD_SHARED_DATA") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    assert!(
        p.join("sigma/rules").is_dir() && p.join("evtx").is_dir(),
        "shared test data not found at {} (set WARD_SHARED_DATA; see scripts/deps/detect.sh)",
        p.display()
    );
    p
}
