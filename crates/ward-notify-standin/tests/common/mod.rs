#![allow(dead_code)]
//! Helpers shared by the integration tests: locating the project's Python venv.

use std::path::PathBuf;
use std::process::Command;

/// The venv python with the test peers (see `scripts/deps/channels.sh`).
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("WARD_PYTHON") {
        return PathBuf::from(p);
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = std::env::var("WARD_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo.join(".venv"));
    venv.join("bin/python")
}

/// Fails (not skips) with a clear message when a Python module is missing.
pub fn require_python_module(module: &str) -> PathBuf {
    let py = python();
    let ok = Command::new(&py)
        .args(["-c", &format!("import {module}")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python module `{module}` not importable with {}: run scripts/deps/channels.sh \
         (or set WARD_PYTHON / WARD_VENV)",
        py.display()
    );
    py
}
