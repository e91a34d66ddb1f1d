//! Test support for ward's crates. Used only as a dev-dependency.
//!
//! - [`PgDatabase`]: a fresh PostgreSQL database per test, dropped afterwards, so concurrent
//!   test runs never collide. The server is found through `WARD_TEST_POSTGRES_URL` (an admin
//!   URL, default `postgres://postgres@127.0.0.1:5432/postgres`); `scripts/test` starts one.
//! - [`free_port`], [`shared_data`], [`python`]: where the peers and data are.

use std::net::TcpListener;
use std::path::PathBuf;

pub fn postgres_admin_url() -> String {
    std::env::var("WARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A throw-away PostgreSQL database. Dropped (with `FORCE`) when this value is dropped.
pub struct PgDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        use sqlx::Connection;
        let admin_url = postgres_admin_url();
        let name = format!("ward_test_{:016x}", rand::random::<u64>());
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is needed at {admin_url} ({e}); run scripts/test, which starts it, \
                     or set WARD_TEST_POSTGRES_URL"
                )
            });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let url = match admin_url.rfind('/') {
            Some(i) if !admin_url[..i].ends_with('/') => format!("{}/{name}", &admin_url[..i]),
            _ => format!("{admin_url}/{name}"),
        };
        PgDatabase {
            name,
            url,
            admin_url,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside a runtime in async tests; a thread with its own runtime avoids
        // blocking it.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// The repository root (two levels above a crate's manifest directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared/data` beside the repository, or `WARD_SHARED_DATA`.
pub fn shared_data() -> PathBuf {
    std::env::var_os("WARD_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data"))
}

/// The Python with the test peers installed: `WARD_PYTHON`, or the venv at `WARD_VENV`
/// (default `<repo>/.venv`, which `scripts/test` makes).
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("WARD_PYTHON") {
        return PathBuf::from(p);
    }
    std::env::var_os("WARD_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"))
        .join("bin/python")
}

/// [`python`], after checking that it can import `module`. Fails (never skips) naming the
/// script that installs it.
pub fn require_python_module(module: &str, deps_script: &str) -> PathBuf {
    let py = python();
    let ok = std::process::Command::new(&py)
        .args(["-c", &format!("import {module}")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python module `{module}` not importable with {}: run {deps_script} (or set WARD_PYTHON / WARD_VENV)",
        py.display()
    );
    py
}
