//! Starting the real `ward` binary for integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const WARD: &str = env!("CARGO_BIN_EXE_ward");

/// A `ward serve` process on a free port and its own data directory. Killed on drop.
pub struct Ward {
    pub child: Child,
    pub url: String,
    pub token: String,
    pub data_dir: PathBuf,
    pub port: u16,
    extra_env: Vec<(String, String)>,
}

impl Ward {
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Ward {
        let port = ward_testkit::free_port();
        let extra_env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let child = spawn(data_dir, port, &extra_env);
        let url = format!("http://127.0.0.1:{port}");
        wait_healthy(&url);
        let token = std::fs::read_to_string(data_dir.join("admin.token"))
            .expect("admin token written at first start")
            .trim()
            .to_string();
        Ward {
            child,
            url,
            token,
            data_dir: data_dir.to_path_buf(),
            port,
            extra_env,
        }
    }

    /// `kill -9`, then start again on the same directory and port.
    pub fn crash_and_restart(&mut self) {
        self.kill9();
        self.child = spawn(&self.data_dir, self.port, &self.extra_env);
        wait_healthy(&self.url);
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL on Unix
        let _ = self.child.wait();
    }

    /// Runs a `ward` CLI command against this server.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(WARD)
            .args(args)
            .env("WARD_URL", &self.url)
            .env("WARD_TOKEN", &self.token)
            .env_remove("WARD_CONFIG")
            .output()
            .expect("run ward")
    }

    pub fn client(&self) -> reqwest::blocking::Client {
        reqwest::blocking::Client::new()
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let resp = self
            .client()
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .expect("GET");
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }

    pub fn post_json(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .client()
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
            .send()
            .expect("POST");
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }

    pub fn post_events(&self, key: &str, body: impl Into<reqwest::blocking::Body>) -> (u16, Value) {
        let resp = self
            .client()
            .post(format!("{}/api/v1/events", self.url))
            .bearer_auth(key)
            .body(body)
            .send()
            .expect("POST events");
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }

    /// Polls `path` until `done` holds or 30 s pass; returns the last answer.
    pub fn wait_for(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, v) = self.get(path, &self.token);
            if done(&v) || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Ward {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn spawn(data_dir: &Path, port: u16, env: &[(String, String)]) -> Child {
    let mut cmd = Command::new(WARD);
    cmd.arg("serve")
        .env("WARD_DATA_DIR", data_dir)
        .env("WARD_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("WARD_LOG", "warn")
        .env("WARD_NOTIFY__POLL_INTERVAL_MS", "100")
        .env_remove("WARD_CONFIG")
        .current_dir(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn ward serve")
}

fn wait_healthy(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::blocking::get(format!("{url}/healthz")) {
            if r.status().is_success() {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("ward serve did not answer on {url} within 30 s");
}

/// Creates an organisation with one contact and returns an API key secret for it.
pub fn member(w: &Ward, code: &str, region: &str) -> String {
    let (s, v) = w.post_json(
        "/api/v1/organisations",
        &w.token,
        &serde_json::json!({"ods_code": code, "name": format!("{code} Trust"), "kind": "acute_trust", "region": region}),
    );
    assert_eq!(s, 201, "{v}");
    let (s, v) = w.post_json(
        &format!("/api/v1/organisations/{code}/contacts"),
        &w.token,
        &serde_json::json!({"name": format!("{code} lead"), "phone": "07700 900123", "email": format!("lead@{code}.example")}),
    );
    assert_eq!(s, 201, "{v}");
    let (s, v) = w.post_json(
        &format!("/api/v1/organisations/{code}/keys"),
        &w.token,
        &serde_json::json!({"label": "test"}),
    );
    assert_eq!(s, 201, "{v}");
    v["secret"].as_str().unwrap().to_string()
}

/// A Sysmon event that trips the built-in WannaCry rule on `host`, numbered `seq`.
pub fn wannacry_event(host: &str, seq: u64) -> String {
    serde_json::json!({
        "Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Computer": host,
        "Image": "C:\\Windows\\tasksche.exe", "CommandLine": "tasksche.exe /i", "seq": seq
    })
    .to_string()
}

pub fn benign_event(seq: u64) -> String {
    let mut v = ward_scenario_like(seq);
    v["seq"] = seq.into();
    v.to_string()
}

fn ward_scenario_like(seq: u64) -> Value {
    serde_json::json!({
        "Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Computer": format!("WS-{}", seq % 50),
        "Image": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
        "CommandLine": "\"WINWORD.EXE\" /n letter.docx"
    })
}
