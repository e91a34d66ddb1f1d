//! The real `ward` binary over HTTP: members, keys, ingest rules, incidents and outbox.

mod common;

use std::io::Write;

use common::{benign_event, member, wannacry_event, Ward};
use serde_json::{json, Value};

#[test]
fn ingest_detect_incident_outbox_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(dir.path(), &[]);
    let key_a = member(&w, "ZA1", "London");
    let key_b = member(&w, "ZA2", "South East");
    let key_c = member(&w, "ZA3", "South West");

    // A member can never write as another: the key's organisation wins over the body.
    let body = format!(
        "{}\n{}\n",
        wannacry_event("pc1.za1", 1),
        benign_event(2).replace("{", "{\"org\":\"ZA2\",")
    );
    let (s, v) = w.post_events(&key_a, body);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["accepted"], 2);
    assert_eq!(v["org"], "ZA1");
    let incidents = w.wait_for("/api/v1/incidents", |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(incidents[0]["organisations"], json!(["ZA1"]));
    assert_eq!(incidents[0]["severity"], 4);
    let dets = w.wait_for("/api/v1/detections", |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(dets.as_array().unwrap().len(), 1);
    let d = &dets[0];
    assert_eq!(d["org_code"], "ZA1");
    assert_eq!(d["host"], "pc1.za1");
    assert_eq!(d["rule_author"], "ward contributors");
    assert_eq!(d["level"], "critical");
    assert!(d["tags"]
        .as_array()
        .unwrap()
        .contains(&json!("attack.t1486")));
    assert_eq!(d["event"]["seq"], 1);

    // Two more organisations: one national incident linking the three.
    w.post_events(&key_b, wannacry_event("pc9.za2", 3));
    w.post_events(&key_c, format!("{}\n", wannacry_event("srv.za3", 4)));
    let national = w.wait_for("/api/v1/incidents?scope=national", |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(national[0]["organisations"], json!(["ZA1", "ZA2", "ZA3"]));
    let nid = national[0]["id"].as_i64().unwrap();
    let notes = w.wait_for(&format!("/api/v1/notifications?incident={nid}"), |v| {
        v.as_array()
            .is_some_and(|a| a.len() == 6 && a.iter().all(|n| n["status"] == "sent"))
    });
    let notes = notes.as_array().unwrap();
    assert_eq!(
        notes.len(),
        6,
        "SMS and e-mail to each of three leads: {notes:?}"
    );
    assert!(notes
        .iter()
        .all(|n| n["attempt_log"].as_array().unwrap().len() == 1));
    assert!(notes
        .iter()
        .any(|n| n["channel"] == "sms" && n["destination"] == "+447700900123"));

    // The web page: a sign-in form without a session, the incidents with one.
    let no_redirect = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = no_redirect.get(format!("{}/", w.url)).send().unwrap();
    assert_eq!(page.status().as_u16(), 401);
    assert!(page.text().unwrap().contains("Sign in"));
    let login = no_redirect
        .get(format!("{}/login?token={}", w.url, w.token))
        .send()
        .unwrap();
    assert_eq!(login.status().as_u16(), 303);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = no_redirect
        .get(format!("{}/", w.url))
        .header("cookie", &cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(html.contains("National outbreak"), "{html}");
    assert!(html.contains("class=\"national\""));
    let detail = no_redirect
        .get(format!("{}/incidents/{nid}", w.url))
        .header("cookie", &cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        detail.contains("+447700900123") && detail.contains("tasksche.exe"),
        "{detail}"
    );
    let bad = no_redirect
        .get(format!("{}/login?token={key_a}", w.url))
        .send()
        .unwrap();
    assert!(bad.text().unwrap().contains("organisation API key"));

    // Organisation-scoped people see only their own organisation.
    let (s, viewer) = w.post_json(
        "/api/v1/users",
        &w.token,
        &json!({"name": "Vi", "email": "vi@za2.example", "role": "org_viewer", "org_code": "ZA2"}),
    );
    assert_eq!(s, 201, "{viewer}");
    let vt = viewer["token"].as_str().unwrap();
    let (_, seen) = w.get("/api/v1/detections", vt);
    assert!(seen
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["org_code"] == "ZA2"));
    assert_eq!(w.get("/api/v1/detections?org=ZA1", vt).0, 403);
    assert_eq!(w.get("/api/v1/incidents/999999", vt).0, 404);
    assert_eq!(w.get("/api/v1/status", vt).0, 403);
    assert_eq!(
        w.post_json(
            "/api/v1/organisations/ZA2/contacts",
            vt,
            &json!({"name":"x","email":"x@y"})
        )
        .0,
        403
    );
    // Personal tokens cannot send events; keys cannot administer.
    assert_eq!(w.post_events(vt, benign_event(9)).0, 403);
    assert_eq!(
        w.post_json(
            "/api/v1/organisations",
            &key_a,
            &json!({"ods_code":"ZZ9","name":"x","kind":"other","region":"x"})
        )
        .0,
        403
    );

    // The OpenAPI document describes the API it serves.
    let (s, doc) = w.get("/api/v1/openapi.json", "");
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/events",
        "/api/v1/incidents",
        "/api/v1/organisations/{ods}/keys",
        "/api/v1/notifications",
    ] {
        assert!(doc["paths"].get(path).is_some(), "missing {path}");
    }

    // Prometheus metrics count what was accepted.
    let metrics = w
        .client()
        .get(format!("{}/metrics", w.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("ward_ingest_events_accepted_total{source=\"http\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ward_notifications_attempts_total{channel=\"sms\",outcome=\"accepted\"}")
    );
}

#[test]
fn bad_input_gets_a_clear_error_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(dir.path(), &[("WARD_INGEST__MAX_BODY_BYTES", "100000")]);
    let key = member(&w, "ZA1", "London");

    // No key, a bad key, a revoked key.
    let resp = w
        .client()
        .post(format!("{}/api/v1/events", w.url))
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let (s, v) = w.post_events("wk_knope_nope", "{}");
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );

    // A malformed line refuses the whole batch and names the line.
    let body = format!(
        "{}\n{}\nnot json\n{{\"a\":\n",
        benign_event(1),
        benign_event(2)
    );
    let (s, v) = w.post_events(&key, body);
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_batch");
    assert_eq!(v["error"]["details"]["bad_lines"], 2);
    assert_eq!(v["error"]["details"]["errors"][0]["line"], 3);
    assert_eq!(v["error"]["details"]["errors"][0]["code"], "not_an_object");
    assert_eq!(v["error"]["details"]["errors"][1]["line"], 4);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no line of this batch was stored"));

    // Too big.
    let big = format!("{{\"x\":\"{}\"}}\n", "a".repeat(200_000));
    let (s, v) = w.post_events(&key, big);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );

    // gzip is welcome; a bad gzip body is named.
    let mut gz = flate2_like_gzip(format!("{}\n{}\n", benign_event(5), benign_event(6)).as_bytes());
    let resp = w
        .client()
        .post(format!("{}/api/v1/events", w.url))
        .bearer_auth(&key)
        .header("content-encoding", "gzip")
        .body(gz.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    gz.truncate(10);
    let resp = w
        .client()
        .post(format!("{}/api/v1/events", w.url))
        .bearer_auth(&key)
        .header("content-encoding", "gzip")
        .body(gz)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(resp.json::<Value>().unwrap()["error"]["code"], "bad_gzip");
    let resp = w
        .client()
        .post(format!("{}/api/v1/events", w.url))
        .bearer_auth(&key)
        .header("content-encoding", "br")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);

    // Only the two gzip events were stored.
    let (_, status) = w.get("/api/v1/status", &w.token);
    assert_eq!(status["log_committed_offset"], 2, "{status}");

    // Revocation takes effect at once.
    let out = w.cli(&["key", "list", "ZA1", "--json"]);
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = keys[0]["id"].as_str().unwrap().to_string();
    let out = w.cli(&["key", "revoke", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(w.post_events(&key, benign_event(7)).0, 401);
}

/// gzip via the `ward send`-independent path: a tiny encoder so the test needs no extra crate.
fn flate2_like_gzip(data: &[u8]) -> Vec<u8> {
    // Stored (uncompressed) deflate blocks inside a gzip member: valid gzip, simple to write.
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    for (i, chunk) in data.chunks(65_535).enumerate() {
        let last = (i + 1) * 65_535 >= data.len();
        out.push(u8::from(last));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let crc = crc32(data);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn cli_administers_members_with_json_output_and_meaningful_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(dir.path(), &[]);
    let out = w.cli(&[
        "org",
        "add",
        "RJ1",
        "--name",
        "Guy's and St Thomas'",
        "--kind",
        "acute_trust",
        "--region",
        "London",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = w.cli(&["org", "list", "--json"]);
    let orgs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(orgs[0]["ods_code"], "RJ1");
    // A duplicate is refused by the server: exit code 3 and the server's reason.
    let out = w.cli(&[
        "org",
        "add",
        "RJ1",
        "--name",
        "x",
        "--kind",
        "acute_trust",
        "--region",
        "London",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("conflict"));
    let out = w.cli(&[
        "org", "add", "RJ2", "--name", "x", "--kind", "hospital", "--region", "London",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("acute_trust"),
        "lists valid kinds"
    );
    let out = w.cli(&[
        "contact",
        "add",
        "RJ1",
        "--name",
        "Lead",
        "--phone",
        "07700 900456",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = w.cli(&[
        "contact", "add", "RJ1", "--name", "Lead", "--phone", "12345",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let out = w.cli(&["contact", "list", "RJ1", "--json"]);
    let contacts: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(contacts[0]["phone"], "+447700900456");
    let out = w.cli(&[
        "user",
        "add",
        "--name",
        "Lee",
        "--email",
        "lee@rj1.example",
        "--role",
        "org_lead",
        "--org",
        "RJ1",
        "--json",
    ]);
    let user: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(user["token"].as_str().unwrap().starts_with("wu_"));
    let out = w.cli(&["key", "create", "RJ1", "--label", "firewall", "--json"]);
    let key: Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = key["secret"].as_str().unwrap();
    // `ward send` with the member's key.
    let file = dir.path().join("events.ndjson");
    let mut f = std::fs::File::create(&file).unwrap();
    writeln!(f, "{}", benign_event(1)).unwrap();
    writeln!(f, "{}", benign_event(2)).unwrap();
    let out = std::process::Command::new(common::WARD)
        .args(["send", file.to_str().unwrap(), "--json"])
        .env("WARD_URL", &w.url)
        .env("WARD_TOKEN", secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sent[0]["accepted"], 2);
    assert_eq!(sent[0]["org"], "RJ1");
    // An unreachable server is exit code 4.
    let out = std::process::Command::new(common::WARD)
        .args(["org", "list"])
        .env(
            "WARD_URL",
            format!("http://127.0.0.1:{}", ward_testkit::free_port()),
        )
        .env("WARD_TOKEN", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn demo_shows_a_national_incident_and_its_notifications() {
    let out = std::process::Command::new(common::WARD)
        .args(["demo", "--exit", "--listen", "127.0.0.1:0"])
        .env("WARD_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("National outbreak"), "{stdout}");
    assert!(stdout.contains("ZA1,ZA3,ZA6,ZA5,Z82002"), "{stdout}");
    assert!(stdout.contains("NATIONAL incident INC-"), "{stdout}");
    assert!(stdout.contains("/login?token=wu_"), "{stdout}");
}

#[test]
fn patient_identifiers_never_reach_the_log_the_database_or_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(dir.path(), &[]);
    let key = member(&w, "ZA1", "London");
    // 943 476 5919 is a valid NHS number (Modulus 11); 1234567890 is not and must survive.
    let event = json!({
        "Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Computer": "ward-7.za1",
        "Image": "C:\\Windows\\tasksche.exe",
        "CommandLine": "tasksche.exe /i C:\\records\\943 476 5919.pdf order 1234567890",
        "User": "jane.doe@nhs.example", "PatientNhs": 9434765919u64
    });
    let (s, v) = w.post_events(&key, event.to_string());
    assert_eq!(s, 200, "{v}");
    let dets = w.wait_for("/api/v1/detections", |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    });
    let stored = dets[0]["event"].to_string();
    assert!(stored.contains("nhs:tok_"), "{stored}");
    assert!(
        stored.contains("1234567890"),
        "invalid numbers are left alone: {stored}"
    );
    let notes = w.wait_for("/api/v1/notifications", |v| {
        v.as_array()
            .is_some_and(|a| a.iter().all(|n| n["status"] == "sent") && !a.is_empty())
    });
    let metrics = w
        .client()
        .get(format!("{}/metrics", w.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("ward_ingest_identifiers_pseudonymised_total 3"),
        "{metrics}"
    );
    drop(w);
    // Nothing on disk — log segments, SQLite database and its WAL — holds the identifiers.
    let mut files = vec![dir.path().to_path_buf()];
    let mut scanned = 0;
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for needle in ["9434765919", "943 476 5919", "jane.doe@nhs.example"] {
            assert!(!text.contains(needle), "{needle} found in {}", p.display());
        }
        scanned += 1;
    }
    assert!(scanned >= 3, "log segment, database and keys were scanned");
    for n in notes.as_array().unwrap() {
        assert!(!n["body"].as_str().unwrap().contains("943"), "{n}");
    }
}
