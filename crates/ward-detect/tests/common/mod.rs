//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/data` relative to the repository root, or `$WARD_SHARED_DATA`.
pub fn shared_data() -> PathBuf {
    match std::env::var_os("WARD_SHARED_DATA") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}
