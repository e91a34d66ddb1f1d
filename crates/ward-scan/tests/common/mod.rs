//! Shared helpers for ward-scan's integration tests: free loopback ports,
//! private peers (smbd, xrdp, openssl s_server, python http.server) started
//! in temporary folders and killed on drop, and loopback scopes.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ward_scan::{Check, Scope, TimeWindow, Timestamp};

pub const DEPS: &str = "scripts/deps/scan.sh";

/// Fails (never skips) when a peer binary is missing.
pub fn require(bin: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(bin);
        if p.exists() {
            return p;
        }
    }
    panic!("`{bin}` is not installed: run {DEPS} (from the repository root) first");
}

/// A free loopback TCP port, chosen by the kernel.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().unwrap().port()
}

/// Waits until something accepts on `port`.
pub fn wait_port(port: u16, within: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        if TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(200),
        )
        .is_ok()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listening on 127.0.0.1:{port} after {within:?}");
}

/// A child process killed (with its process group) when dropped.
pub struct Peer {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub name: &'static str,
}

impl Peer {
    pub fn log(&self) -> String {
        let mut s = String::new();
        for f in ["out.txt", "err.txt"] {
            s.push_str(&std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default());
        }
        s
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spawn(name: &'static str, mut cmd: Command, dir: tempfile::TempDir, port: u16) -> Peer {
    let out = std::fs::File::create(dir.path().join("out.txt")).unwrap();
    let err = std::fs::File::create(dir.path().join("err.txt")).unwrap();
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {name}: {e}; run {DEPS}"));
    Peer {
        child,
        dir,
        port,
        name,
    }
}

/// A scope authorising 127.0.0.1 (and ::1) for the next hour, every check.
pub fn loopback_scope() -> Scope {
    let now = Timestamp::now();
    Scope {
        id: "test-loopback".into(),
        member: "RXH".into(),
        cidrs: vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()],
        host_names: vec![],
        windows: vec![TimeWindow {
            start: Timestamp(now.0 - 60),
            end: Timestamp(now.0 + 3600),
        }],
        allowed_checks: Check::ALL.into_iter().collect(),
        max_rate_per_sec: 100_000,
        authorised_by: "integration test".into(),
        authorised_at: Timestamp(now.0 - 60),
    }
}

/// A Samba smbd on a free loopback port with a private configuration.
pub fn start_smbd(nt1: bool) -> Peer {
    let smbd = require("smbd");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    for sub in [
        "pid", "lock", "state", "cache", "private", "ncalrpc", "share", "log",
    ] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    let port = free_port();
    let min = if nt1 {
        "  server min protocol = NT1\n"
    } else {
        ""
    };
    let conf = format!(
        "[global]\n  netbios name = WARDTEST{port}\n  workgroup = WARD\n  server role = standalone server\n  interfaces = 127.0.0.1\n  bind interfaces only = yes\n  smb ports = {port}\n{min}  disable netbios = yes\n  pid directory = {d}/pid\n  lock directory = {d}/lock\n  state directory = {d}/state\n  cache directory = {d}/cache\n  private dir = {d}/private\n  ncalrpc dir = {d}/ncalrpc\n  binddns dir = {d}/private\n  log file = {d}/log/smbd.log\n  passdb backend = tdbsam:{d}/private/passdb.tdb\n  map to guest = Bad User\n  load printers = no\n  printing = bsd\n  printcap name = /dev/null\n  disable spoolss = yes\n  usershare path =\n[share]\n  path = {d}/share\n  guest ok = yes\n"
    );
    std::fs::write(dir.path().join("smb.conf"), conf).unwrap();
    let mut cmd = Command::new(smbd);
    cmd.args([
        "--foreground",
        "--no-process-group",
        "--debug-stdout",
        "-d",
        "1",
        "-s",
    ])
    .arg(dir.path().join("smb.conf"));
    let peer = spawn("smbd", cmd, dir, port);
    wait_port(port, Duration::from_secs(20));
    peer
}

/// Runs nmap's smb-protocols script and returns the dialects it lists,
/// normalised to 3 hex digits (`202`, `210`, ... ; `NT LM 0.12` for SMBv1).
pub fn nmap_smb_protocols(port: u16) -> (Vec<String>, String) {
    let nmap = require("nmap");
    let out = Command::new(nmap)
        .args([
            "-Pn",
            "-n",
            "-p",
            &port.to_string(),
            "--script",
            "smb-protocols",
            "--script-args",
            &format!("smbport={port}"),
            "127.0.0.1",
        ])
        .output()
        .expect("run nmap");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut v = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.contains("dialects:") {
            inside = true;
            continue;
        }
        if inside {
            let Some(item) = line.strip_prefix("|") else {
                break;
            };
            let item = item.trim_start_matches('_').trim();
            if item.is_empty() {
                continue;
            }
            v.push(normalise_dialect(item));
            if line.starts_with("|_") {
                break;
            }
        }
    }
    (v, text)
}

/// `2.0.2` / `202` → `202`, `2.1` → `210`, `NT LM 0.12 (SMBv1) ...` → `NT LM 0.12`.
pub fn normalise_dialect(s: &str) -> String {
    if s.starts_with("NT LM 0.12") {
        return "NT LM 0.12".into();
    }
    if s.contains('.') {
        let mut d: String = s.split('.').collect();
        while d.len() < 3 {
            d.push('0');
        }
        return d;
    }
    s.to_string()
}

/// Runs `f` on a fresh multi-thread runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// An openssl binary.
pub fn openssl() -> PathBuf {
    require("openssl")
}

/// Runs openssl with args in `dir`, panicking with its stderr on failure.
pub fn run_openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(openssl())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// When `WARD_CAPTURE_GOLDEN` is set, peer tests save the raw replies they
/// received under `tests/golden/` (hex), for the parser golden tests.
pub fn capture_golden(name: &str, hex: Option<&str>) {
    if std::env::var_os("WARD_CAPTURE_GOLDEN").is_none() {
        return;
    }
    let Some(hex) = hex else { return };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.hex")), format!("{hex}\n")).unwrap();
}
