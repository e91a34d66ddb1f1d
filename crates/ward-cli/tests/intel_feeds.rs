//! Feeds as connectors with state, through the real binaries: `ward intel feed add`,
//! `ward intel pull` and `ward intel feed list` against a TAXII 2.1 collection served by
//! medallion (the OASIS reference server, loaded with shared/data/taxii), a MISP feed
//! (manifest.json + event JSON) and a STIX bundle file; a failing feed records its error.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Ward;
use serde_json::Value;

const HV: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_medallion(dir: &Path) -> (Peer, String) {
    let py = ward_testkit::require_python_module("medallion", "scripts/deps/intel.sh");
    let data = dir.join("data.json");
    std::fs::copy(
        ward_testkit::shared_data().join("taxii/medallion_default_data.json"),
        &data,
    )
    .unwrap();
    let conf = dir.join("conf.json");
    std::fs::write(
        &conf,
        serde_json::json!({
            "backend": {"module_class": "MemoryBackend", "module": "medallion.backends.memory_backend", "filename": data},
            "users": {"admin": "Password0"},
            "taxii": {"max_page_size": 2}
        })
        .to_string(),
    )
    .unwrap();
    let port = ward_testkit::free_port();
    let child = Command::new(&py)
        .args(["-c", "import sys; from medallion.scripts.run import main; sys.argv[0]='medallion'; sys.exit(main())"])
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let peer = Peer(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let base = format!("http://127.0.0.1:{port}");
        let answered = reqwest::blocking::Client::new()
            .get(format!("{base}/taxii2/"))
            .basic_auth("admin", Some("Password0"))
            .header("Accept", "application/taxii+json;version=2.1")
            .send()
            .is_ok_and(|r| r.status().is_success());
        if answered {
            return (peer, base);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("medallion did not start on port {port}");
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "ward failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn misp_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ward-intel/tests/data/misp")
}

fn feed<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("feed {name} not listed: {list}"))
}

#[test]
fn feeds_pull_and_keep_state() {
    let dir = tempfile::tempdir().unwrap();
    // The scheduler must not race the explicit pulls of this test. ward first: both
    // pick a free port, and medallion is only listening once it answers.
    let w = Ward::start(dir.path(), &[("WARD_INTEL__SCHEDULER_SECS", "3600")]);
    let mdir = tempfile::tempdir().unwrap();
    let (_medallion, mbase) = start_medallion(mdir.path());

    // TAXII 2.1: medallion pages of 2, followed to the end.
    ok(&w.cli(&[
        "intel",
        "feed",
        "add",
        "medallion",
        "--kind",
        "taxii",
        "--from",
        &format!("{mbase}/trustgroup1/"),
        "--collection",
        HV,
        "--username",
        "admin",
        "--password",
        "Password0",
        "--interval",
        "600",
    ]));
    let out = ok(&w.cli(&["intel", "pull", "medallion"]));
    assert!(out.contains("medallion: added"), "{out}");
    let list: Value =
        serde_json::from_str(&ok(&w.cli(&["--json", "intel", "feed", "list"]))).unwrap();
    let st = &feed(&list, "medallion")["state"];
    assert_eq!(st["runs"], 1, "{st}");
    assert_eq!(st["consecutive_errors"], 0, "{st}");
    let added = st["total_counts"]["added"].as_u64().unwrap();
    assert!(added >= 2, "{st}");
    assert!(st["cursor"].is_string(), "TAXII cursor kept: {st}");
    assert!(
        st["next_run"].is_string() && st["last_success"].is_string(),
        "{st}"
    );
    // The next pull asks only for what was added after the cursor: nothing new.
    ok(&w.cli(&["intel", "pull", "medallion"]));
    let list: Value =
        serde_json::from_str(&ok(&w.cli(&["--json", "intel", "feed", "list"]))).unwrap();
    let st = &feed(&list, "medallion")["state"];
    assert_eq!(st["runs"], 2);
    assert_eq!(st["last_counts"]["added"], 0, "{st}");
    assert_eq!(st["total_counts"]["added"].as_u64().unwrap(), added);
    // What came in is served to members over ward's own TAXII and the API.
    let (s, v) = w.get("/api/v1/intel/indicators?limit=1000", &w.token);
    assert_eq!(s, 200);
    assert!(
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["source"] == "feed:medallion"),
        "{v}"
    );

    // A MISP feed: manifest.json, then each event's JSON (the fixture's manifest also
    // names events it does not ship; the feed here lists only the one it has).
    let feed_dir = dir.path().join("misp-feed");
    std::fs::create_dir_all(&feed_dir).unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(misp_fixtures().join("manifest.json")).unwrap())
            .unwrap();
    let mut kept = serde_json::Map::new();
    for (uuid, entry) in manifest.as_object().unwrap() {
        let file = misp_fixtures().join(format!("{uuid}.json"));
        if file.exists() {
            std::fs::copy(&file, feed_dir.join(format!("{uuid}.json"))).unwrap();
            kept.insert(uuid.clone(), entry.clone());
        }
    }
    assert!(!kept.is_empty());
    std::fs::write(
        feed_dir.join("manifest.json"),
        Value::Object(kept).to_string(),
    )
    .unwrap();
    ok(&w.cli(&[
        "intel",
        "feed",
        "add",
        "misp-local",
        "--kind",
        "misp",
        "--from",
        feed_dir.to_str().unwrap(),
    ]));
    let out = ok(&w.cli(&["--json", "intel", "pull", "misp-local"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["state"]["last_counts"]["added"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert!(v["state"]["cursor"].is_string(), "{v}");

    // A STIX bundle file.
    let bundle = dir.path().join("bundle.json");
    std::fs::write(
        &bundle,
        serde_json::json!({"type": "bundle", "id": "bundle--3f1d2c4b-5a6e-4f7d-8c9b-0a1b2c3d4e5f", "objects": [{
            "type": "indicator", "spec_version": "2.1", "id": "indicator--2d1c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "created": "2026-11-20T00:00:00.000Z", "modified": "2026-11-20T00:00:00.000Z",
            "pattern": "[url:value = 'http://dropper.ward-fixture.org/a.bin']", "pattern_type": "stix",
            "valid_from": "2026-11-20T00:00:00Z"}]})
        .to_string(),
    )
    .unwrap();
    ok(&w.cli(&[
        "intel",
        "feed",
        "add",
        "bundle",
        "--kind",
        "stix",
        "--from",
        bundle.to_str().unwrap(),
    ]));
    let out = ok(&w.cli(&["intel", "pull", "bundle"]));
    assert!(out.contains("added 1"), "{out}");

    // The other intel commands: list (JSON), a plain-list export, a freetext submission.
    let v: Value =
        serde_json::from_str(&ok(&w.cli(&["--json", "intel", "list", "--kind", "url"]))).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|i| i["value"] == "http://dropper.ward-fixture.org/a.bin"),
        "{v}"
    );
    let urls = ok(&w.cli(&["intel", "export", "list", "--kind", "url"]));
    assert!(
        urls.lines()
            .any(|l| l == "http://dropper.ward-fixture.org/a.bin"),
        "{urls}"
    );
    let notes = dir.path().join("notes.txt");
    std::fs::write(
        &notes,
        "beacons to 185.220.101[.]9 and hxxp://stage2.ward-fixture[.]org/x",
    )
    .unwrap();
    let v: Value = serde_json::from_str(&ok(&w.cli(&[
        "--json",
        "intel",
        "submit",
        notes.to_str().unwrap(),
        "--format",
        "freetext",
        "--tlp",
        "GREEN",
    ])))
    .unwrap();
    assert_eq!(v["indicators_added"], 2, "{v}");
    let out = w.cli(&["intel", "export", "list"]);
    assert_eq!(out.status.code(), Some(3), "a plain list needs --kind");

    ok(&w.cli(&[
        "intel",
        "feed",
        "add",
        "gone",
        "--kind",
        "stix",
        "--from",
        "/nonexistent/bundle.json",
    ]));
    let out = w.cli(&["intel", "pull", "gone"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/bundle.json"));
    let list: Value =
        serde_json::from_str(&ok(&w.cli(&["--json", "intel", "feed", "list"]))).unwrap();
    let st = &feed(&list, "gone")["state"];
    assert_eq!(st["consecutive_errors"], 1, "{st}");
    assert_eq!(st["errors"].as_array().unwrap().len(), 1, "{st}");

    // Unknown kinds and duplicate names are refused with exit code 3 (4xx).
    let out = w.cli(&[
        "intel",
        "feed",
        "add",
        "x",
        "--kind",
        "rss",
        "--from",
        "http://127.0.0.1:1/",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let out = w.cli(&[
        "intel", "feed", "add", "bundle", "--kind", "stix", "--from", "/tmp/x",
    ]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn the_scheduler_runs_due_feeds() {
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(dir.path(), &[("WARD_INTEL__SCHEDULER_SECS", "1")]);
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "bad.ward-fixture.org\n185.220.101.33\n").unwrap();
    ok(&w.cli(&[
        "intel",
        "feed",
        "add",
        "blocklist",
        "--kind",
        "freetext",
        "--from",
        list.to_str().unwrap(),
        "--interval",
        "60",
    ]));
    // Nobody pulls: the scheduler finds the new feed due and runs it.
    let v = w.wait_for("/api/v1/intel/feeds", |v| v[0]["state"]["runs"] == 1);
    let st = &v[0]["state"];
    assert_eq!(st["runs"], 1, "{v}");
    assert_eq!(st["last_counts"]["added"], 2, "{v}");
    // Not again before its interval.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (_, v) = w.get("/api/v1/intel/feeds", &w.token);
    assert_eq!(v[0]["state"]["runs"], 1, "{v}");
}
