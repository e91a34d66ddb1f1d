//! Shared helpers for integration tests that need Python peers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn shared() -> PathBuf {
    std::env::var_os("WARD_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

/// The venv python with medallion, taxii2-client and stix2-validator; panics (fails
/// the test, never skips) naming the script that installs them.
pub fn python() -> PathBuf {
    let p = std::env::var_os("WARD_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
        });
    let ok = Command::new(&p)
        .args(["-c", "import medallion, taxii2client, stix2validator"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python peers missing at {} — run scripts/deps/intel.sh (or set WARD_PYTHON)",
        p.display()
    );
    p
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process killed on drop.
pub struct Peer(pub Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts medallion on a free loopback port with the shared seed data; returns the
/// peer and its base URL once `/taxii2/` answers.
pub fn start_medallion(dir: &std::path::Path) -> (Peer, String) {
    let py = python();
    let data = dir.join("data.json");
    std::fs::copy(shared().join("taxii/medallion_default_data.json"), &data).unwrap();
    let conf = dir.join("conf.json");
    std::fs::write(
        &conf,
        serde_json::json!({
            "backend": {"module_class": "MemoryBackend", "module": "medallion.backends.memory_backend", "filename": data},
            "users": {"admin": "Password0"},
            "taxii": {"max_page_size": 100}
        })
        .to_string(),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(&py)
        .args(["-c", "import sys; from medallion.scripts.run import main; sys.argv[0]='medallion'; sys.exit(main())"])
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let peer = Peer(child);
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (peer, base);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("medallion did not start on port {port}");
}
