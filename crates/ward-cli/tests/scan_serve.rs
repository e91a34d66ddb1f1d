//! The scanner and the estate inside the real `ward` binary: scopes, scans against loopback
//! listeners and Samba (NT1), findings in three formats, a re-scan closing a finding, refusal
//! with no connection, cancellation, an incident for SMBv1, and members' exposure to real
//! KEV/NVD/OSV/CSAF data with a draft advisory request for a new KEV entry.

mod common;
#[path = "../../ward-scan/tests/common/mod.rs"]
mod scan_peers;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{member, Ward};
use serde_json::{json, Value};

fn shared() -> PathBuf {
    std::env::var_os("WARD_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "ward failed ({:?}): {}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_of(out: &std::process::Output) -> Value {
    let text = ok(out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A listener that counts the connections it accepts.
struct Counting {
    port: u16,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Counting {
    fn start(ip: &str) -> Counting {
        let l = TcpListener::bind((ip, 0)).expect("bind counting listener");
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (count.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok(_) => {
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Counting { port, count, stop }
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn start_ward(dir: &Path, smb_port: u16) -> Ward {
    let smb = format!("[{smb_port}]");
    Ward::start(
        dir,
        &[
            ("WARD_SCAN__SMB_PORTS", smb.as_str()),
            ("WARD_SCAN__RDP_PORTS", "[]"),
            ("WARD_SCAN__TLS_PORTS", "[]"),
            ("WARD_SCAN__HTTP_PORTS", "[]"),
            ("WARD_SCAN__PROBE_TIMEOUT_MS", "3000"),
            ("WARD_SCAN__PROGRESS_INTERVAL_MS", "50"),
        ],
    )
}

fn findings(w: &Ward) -> Vec<Value> {
    let (s, v) = w.get("/api/v1/findings", &w.token);
    assert_eq!(s, 200, "{v}");
    v.as_array().cloned().unwrap_or_default()
}

fn wait_run(w: &Ward, id: i64, within: Duration) -> Value {
    let t0 = Instant::now();
    loop {
        let (_, v) = w.get(&format!("/api/v1/scans/{id}"), &w.token);
        let st = v["status"].as_str().unwrap_or("");
        if !matches!(st, "queued" | "running") || t0.elapsed() > within {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn scans_are_scoped_recorded_reconciled_and_alerted() {
    let smbd = scan_peers::start_smbd(true);
    let dir = tempfile::tempdir().unwrap();
    let w = start_ward(dir.path(), smbd.port);
    member(&w, "RXH", "London");
    // The member's estate already knows this host; the scan adds what it saw.
    let (s, v) = w.post_json(
        "/api/v1/organisations/RXH/assets",
        &w.token,
        &json!({"org": "RXH", "asset_id": "pc-lo", "hostname": "127.0.0.1", "os_name": "Windows 7", "os_version": "6.1.7601", "os_patch_level": "SP1"}),
    );
    assert_eq!(s, 201, "{v}");

    ok(&w.cli(&[
        "scope",
        "add",
        "lo",
        "--org",
        "RXH",
        "--cidr",
        "127.0.0.1/32",
        "--checks",
        "port_scan,smb,ms17010,eol",
        "--max-rate",
        "2000",
        "--authorised-by",
        "Head of IT, RXH",
    ]));
    let scopes = json_of(&w.cli(&["scope", "list", "--json"]));
    assert_eq!(scopes[0]["id"], "lo");
    assert_eq!(scopes[0]["spec"]["cidrs"][0], "127.0.0.1/32");
    // Only central analysts manage scopes.
    let lead = w.post_json(
        "/api/v1/users",
        &w.token,
        &json!({"name": "Lee", "email": "lee@rxh.example", "role": "org_lead", "org_code": "RXH"}),
    );
    assert_eq!(lead.0, 201, "{}", lead.1);
    let lead_token = lead.1["token"].as_str().unwrap().to_string();
    let (s, _) = w.post_json("/api/v1/scans", &lead_token, &json!({"scope_id": "lo"}));
    assert_eq!(s, 403);
    let (s, v) = w.get("/api/v1/scan/scopes", &lead_token);
    assert_eq!(
        (s, v.as_array().map(Vec::len)),
        (200, Some(1)),
        "members read their own scopes"
    );

    // A loopback service that will go away, and Samba with SMBv1.
    let service = TcpListener::bind("127.0.0.1:0").unwrap();
    let svc_port = service.local_addr().unwrap().port();
    let ports = format!("{svc_port},{}", smbd.port);
    let out = ok(&w.cli(&[
        "scan",
        "run",
        "lo",
        "--target",
        "127.0.0.1",
        "--ports",
        &ports,
    ]));
    assert!(out.contains(": done"), "{out}");

    let fs = findings(&w);
    let open = fs
        .iter()
        .find(|f| f["check"] == "port.open" && f["port"] == svc_port)
        .unwrap_or_else(|| panic!("no port.open finding for {svc_port}: {fs:?}"));
    assert_eq!(open["status"], "open");
    let smbv1 = fs
        .iter()
        .find(|f| f["check"] == "smb.v1")
        .unwrap_or_else(|| panic!("SMBv1 on NT1 Samba not found: {fs:?}"));
    assert_eq!(smbv1["port"], smbd.port);
    assert_eq!(smbv1["severity"], "high");

    // SMBv1 opened an incident through the alerting path, with an outbox message.
    let incident = smbv1["incident_id"]
        .as_i64()
        .expect("SMBv1 finding linked to an incident");
    let (_, inc) = w.get(&format!("/api/v1/incidents/{incident}"), &w.token);
    assert_eq!(inc["incident"]["rule_id"], "scan:smbv1", "{inc}");
    assert_eq!(inc["incident"]["org_code"], "RXH");
    assert_eq!(inc["detections"][0]["rule_id"], "scan:smbv1", "{inc}");
    let notes = w.wait_for("/api/v1/notifications", |v| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|n| n["incident_id"] == incident))
    });
    assert!(
        notes
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["incident_id"] == incident),
        "{notes}"
    );

    // Three formats.
    let listed = json_of(&w.cli(&["findings", "list", "--json"]));
    assert_eq!(listed.as_array().map(Vec::len), Some(fs.len()));
    let csv = ok(&w.cli(&["findings", "list", "--csv"]));
    assert!(
        csv.starts_with("id,org,scope_id,host,address,port,check"),
        "{csv}"
    );
    assert!(
        csv.contains(",smb.v1,") && csv.contains(&format!(",{svc_port},port.open,")),
        "{csv}"
    );
    let xml = ok(&w.cli(&["findings", "list", "--xml"]));
    assert!(xml.contains("<nmaprun scanner=\"ward\""), "{xml}");
    assert!(xml.contains(&format!("portid=\"{svc_port}\"")), "{xml}");
    assert!(xml.contains("id=\"ward-smb.v1\""), "{xml}");

    // The estate learnt that SMBv1 is on.
    let (_, assets) = w.get("/api/v1/organisations/RXH/assets", &w.token);
    let pc = assets
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["asset_id"] == "pc-lo")
        .unwrap_or_else(|| panic!("{assets}"));
    assert_eq!(pc["body"]["attributes"]["smbv1"], "enabled", "{pc}");
    assert_eq!(
        pc["source"], "api",
        "a scan fact does not change who registered the asset"
    );
    // ... and with NVD's configuration for EternalBlue that host is exposed.
    ok(&w.cli(&[
        "estate",
        "pull",
        "nvd",
        shared().join("nvd/CVE-2017-0144.json").to_str().unwrap(),
    ]));
    let (_, ex) = w.get("/api/v1/organisations/RXH/exposures", &w.token);
    assert!(
        ex.as_array()
            .unwrap()
            .iter()
            .any(|e| e["cve"] == "CVE-2017-0144"
                && e["asset_id"] == "pc-lo"
                && e["matched"] == "smbv1=enabled"),
        "{ex}"
    );

    // The service goes away: a re-scan closes its finding as fixed, SMBv1 stays open.
    drop(service);
    ok(&w.cli(&[
        "scan",
        "run",
        "lo",
        "--target",
        "127.0.0.1",
        "--ports",
        &ports,
    ]));
    let fixed = json_of(&w.cli(&["findings", "list", "--status", "fixed", "--json"]));
    assert!(
        fixed
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "port.open" && f["port"] == svc_port),
        "{fixed}"
    );
    let again = findings(&w);
    let smbv1_again = again.iter().find(|f| f["check"] == "smb.v1").unwrap();
    assert_eq!(smbv1_again["status"], "open");
    assert_eq!(smbv1_again["id"], smbv1["id"]);
    assert!(smbv1_again["last_seen"].as_i64() >= smbv1["last_seen"].as_i64());

    // A target outside the scope is refused before any packet: the listener sees nothing.
    let counting = Counting::start("127.0.0.2");
    let out = w.cli(&[
        "scan",
        "run",
        "lo",
        "--target",
        "127.0.0.2",
        "--ports",
        &counting.port.to_string(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SCAN-R005"),
        "{out:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        counting.count.load(Ordering::SeqCst),
        0,
        "an out-of-scope target was touched"
    );
    let runs = json_of(&w.cli(&["scan", "list", "--json"]));
    assert_eq!(runs[0]["status"], "refused");
    let run = json_of(&w.cli(&["scan", "show", &runs[0]["id"].to_string()]));
    assert_eq!(run["refusals"][0]["code"], "SCAN-R005", "{run}");
    assert_eq!(run["refusals"][0]["target"], "127.0.0.2");
    // Positive control: the counting listener does count when it is in scope.
    ok(&w.cli(&[
        "scope",
        "update",
        "lo",
        "--org",
        "RXH",
        "--cidr",
        "127.0.0.1/32",
        "--cidr",
        "127.0.0.2/32",
        "--checks",
        "port_scan",
        "--max-rate",
        "2000",
        "--authorised-by",
        "Head of IT, RXH",
    ]));
    ok(&w.cli(&[
        "scan",
        "run",
        "lo",
        "--target",
        "127.0.0.2",
        "--ports",
        &counting.port.to_string(),
    ]));
    assert!(counting.count.load(Ordering::SeqCst) > 0);
    let audit = json_of(&w.cli(&["scope", "audit", "lo", "--json"]));
    assert_eq!(audit.as_array().map(Vec::len), Some(2));
    assert_eq!(audit[1]["action"], "update");
    assert_eq!(audit[1]["before"]["spec"]["cidrs"], json!(["127.0.0.1/32"]));
    assert_eq!(
        audit[1]["after"]["spec"]["cidrs"],
        json!(["127.0.0.1/32", "127.0.0.2/32"])
    );
    assert!(audit[1]["actor"].as_str().unwrap().contains("admin"));

    // Cancellation stops a long, slow scan at once.
    ok(&w.cli(&[
        "scope",
        "add",
        "slow",
        "--org",
        "RXH",
        "--cidr",
        "127.0.0.77/32",
        "--checks",
        "port_scan",
        "--max-rate",
        "20",
        "--authorised-by",
        "Head of IT, RXH",
    ]));
    let started = json_of(&w.cli(&[
        "scan", "run", "slow", "--ports", "1-20000", "--detach", "--json",
    ]));
    let id = started["id"].as_i64().unwrap();
    let t0 = Instant::now();
    loop {
        let (_, v) = w.get(&format!("/api/v1/scans/{id}"), &w.token);
        if v["progress"]["ports_done"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "no progress: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
    ok(&w.cli(&["scan", "cancel", &id.to_string()]));
    let cancelled_at = Instant::now();
    let v = wait_run(&w, id, Duration::from_secs(10));
    assert_eq!(v["status"], "cancelled", "{v}");
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        cancelled_at.elapsed()
    );
    assert!(
        v["progress"]["ports_done"].as_u64().unwrap() < 20_000,
        "{v}"
    );
    let again = w.cli(&["scan", "cancel", &id.to_string()]);
    assert_eq!(
        again.status.code(),
        Some(3),
        "cancelling a finished run is refused"
    );
    let metrics = reqwest::blocking::get(format!("{}/metrics", w.url))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("ward_scan_refusals_total{code=\"SCAN-R005\"} 1"),
        "{metrics}"
    );
}

fn csv_estate() -> &'static str {
    "org,asset_id,hostname,os_name,os_version,os_patch_level,software,patches,attributes\n\
     RXA,pc-001,pc1.rxa.example,Windows 7,6.1.7601,SP1,,,smbv1=enabled\n\
     RXB,pc-010,pc10.rxb.example,Windows 10,1607,,,KB4013429,smbv1=enabled\n\
     RXC,app-1,app1.rxc.example,,,,pkg:maven/com.typesafe.akka/akka-actor_2.12@2.5.15,,\n"
}

#[test]
fn estate_exposures_and_kev_drafts_with_real_data() {
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(dir.path(), &[]);
    for org in ["RXA", "RXB", "RXC"] {
        member(&w, org, "London");
    }
    let csv = dir.path().join("estate.csv");
    std::fs::write(&csv, csv_estate()).unwrap();
    let out = ok(&w.cli(&["estate", "import", csv.to_str().unwrap()]));
    assert!(out.contains("imported 3 assets"), "{out}");

    // Yesterday's catalogue did not have EternalBlue yet.
    let kev_path = shared().join("kev/known_exploited_vulnerabilities.json");
    let mut kev: Value = serde_json::from_slice(&std::fs::read(&kev_path).unwrap()).unwrap();
    kev["vulnerabilities"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["cveID"] != "CVE-2017-0144");
    let n = kev["vulnerabilities"].as_array().unwrap().len();
    kev["count"] = json!(n);
    let yesterday = dir.path().join("kev-yesterday.json");
    std::fs::write(&yesterday, kev.to_string()).unwrap();
    let first = json_of(&w.cli(&[
        "estate",
        "pull",
        "kev",
        yesterday.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(
        first[0]["drafts"],
        json!([]),
        "the first catalogue is the baseline"
    );
    ok(&w.cli(&[
        "estate",
        "pull",
        "nvd",
        shared()
            .join("nvd/nvd-api2-envelope-subset.json")
            .to_str()
            .unwrap(),
    ]));
    // A folder of OSV records (the shared folder also holds the schema, which is not one).
    let osv_dir = dir.path().join("osv");
    std::fs::create_dir(&osv_dir).unwrap();
    for f in std::fs::read_dir(shared().join("osv")).unwrap().flatten() {
        if f.file_name().to_string_lossy().ends_with(".osv.json") {
            std::fs::copy(f.path(), osv_dir.join(f.file_name())).unwrap();
        }
    }
    let osv = json_of(&w.cli(&["estate", "pull", "osv", osv_dir.to_str().unwrap(), "--json"]));
    assert!(osv.as_array().unwrap().len() >= 4, "{osv}");
    ok(&w.cli(&[
        "estate",
        "pull",
        "csaf",
        shared()
            .join("csaf/examples/bsi-2022-0001.json")
            .to_str()
            .unwrap(),
    ]));
    let bad = w.cli(&[
        "estate",
        "pull",
        "kev",
        shared().join("osv/full_ranges.osv.json").to_str().unwrap(),
    ]);
    assert_eq!(
        bad.status.code(),
        Some(3),
        "an OSV file is not a KEV catalogue"
    );

    // Unpatched Windows 7 with SMBv1: exposed; patched Windows 10: not.
    let rxa = json_of(&w.cli(&["estate", "exposures", "RXA", "--json"]));
    let eb = rxa
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["cve"] == "CVE-2017-0144")
        .unwrap_or_else(|| panic!("CVE-2017-0144 not flagged on RXA: {rxa}"));
    assert_eq!(eb["confidence"], "exact_cpe");
    assert_eq!(eb["asset_id"], "pc-001");
    let rxb = json_of(&w.cli(&["estate", "exposures", "RXB", "--json"]));
    assert!(
        rxb.as_array()
            .unwrap()
            .iter()
            .all(|e| e["cve"] != "CVE-2017-0144"),
        "patched Windows 10 flagged: {rxb}"
    );
    // purl matches are exact.
    let rxc = json_of(&w.cli(&["estate", "exposures", "RXC", "--json"]));
    assert!(
        rxc.as_array()
            .unwrap()
            .iter()
            .any(|e| e["cve"] == "CVE-2018-16115" && e["confidence"] == "exact_purl"),
        "{rxc}"
    );

    // Today's catalogue adds EternalBlue: one draft, targeted at exactly RXA.
    let second = json_of(&w.cli(&[
        "estate",
        "pull",
        "kev",
        kev_path.to_str().unwrap(),
        "--json",
    ]));
    let drafts = second[0]["drafts"].as_array().unwrap();
    assert_eq!(drafts.len(), 1, "{second}");
    assert_eq!(drafts[0]["cve"], "CVE-2017-0144");
    assert_eq!(drafts[0]["members"], json!(["RXA"]));
    let stored = json_of(&w.cli(&["estate", "drafts", "--json"]));
    assert_eq!(stored.as_array().map(Vec::len), Some(1));
    assert_eq!(stored[0]["members"], json!(["RXA"]));
    assert_eq!(stored[0]["status"], "draft");
    // The request is a real draft High Severity Alert, aimed at RXA alone, which an analyst
    // publishes: only RXA is asked to act.
    let (status, advisories) = w.get("/api/v1/advisories", &w.token);
    assert_eq!(status, 200, "{advisories}");
    let text = advisories.to_string();
    assert!(
        text.contains("CVE-2017-0144") && text.contains("draft"),
        "{text}"
    );
    let id = text
        .split('"')
        .find(|s| s.starts_with("HSA-"))
        .unwrap_or_else(|| panic!("no HSA id in {text}"))
        .to_string();
    let (status, published) = w.post_json(
        &format!("/api/v1/advisories/{id}/publish"),
        &w.token,
        &json!({}),
    );
    assert_eq!(status, 200, "{published}");
    let published = published.to_string();
    assert!(
        published.contains("RXA") && !published.contains("RXB"),
        "{published}"
    );
    // Pulling the same catalogue again files nothing new.
    let third = json_of(&w.cli(&[
        "estate",
        "pull",
        "kev",
        kev_path.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(third[0]["drafts"], json!([]));

    // The national view: KEV + ransomware + unpatched.
    let (s, nat) = w.get(
        "/api/v1/exposures?kev=true&ransomware=true&unpatched=true",
        &w.token,
    );
    assert_eq!(s, 200, "{nat}");
    let members = nat["members"].as_array().unwrap();
    let a = members
        .iter()
        .find(|m| m["org"] == "RXA")
        .unwrap_or_else(|| panic!("{nat}"));
    assert!(a["exposures"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["cve"] == "CVE-2017-0144" && e["kev_ransomware"] == true));
    assert!(
        members.iter().all(|m| m["org"] != "RXC"),
        "the npm/maven finding is not in KEV: {nat}"
    );
    assert!(members
        .iter()
        .filter(|m| m["org"] == "RXB")
        .all(|m| m["exposures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["cve"] != "CVE-2017-0144")));

    // Feed state is visible.
    let feeds = json_of(&w.cli(&["estate", "feeds", "--json"]));
    let kev_state = feeds
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feed"] == "kev")
        .unwrap();
    assert_eq!(kev_state["state"]["runs"], 4, "{kev_state}");
    assert_eq!(
        kev_state["state"]["errors"].as_array().map(Vec::len),
        Some(1),
        "the refused pull is recorded: {kev_state}"
    );

    // Members see only their own exposures; the national view is for central analysts.
    let lead = w.post_json(
        "/api/v1/users",
        &w.token,
        &json!({"name": "Lee", "email": "lee@rxb.example", "role": "org_lead", "org_code": "RXB"}),
    );
    let lead_token = lead.1["token"].as_str().unwrap().to_string();
    assert_eq!(
        w.get("/api/v1/organisations/RXA/exposures", &lead_token).0,
        403
    );
    assert_eq!(
        w.get("/api/v1/organisations/RXB/exposures", &lead_token).0,
        200
    );
    assert_eq!(w.get("/api/v1/exposures?kev=true", &lead_token).0, 403);
    assert_eq!(w.get("/api/v1/advisory-drafts", &lead_token).0, 403);
}

#[test]
fn scheduled_scans_run_by_themselves_and_risk_acceptance_expires_into_open() {
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(
        dir.path(),
        &[
            ("WARD_SCAN__SCHEDULER_TICK_MS", "100"),
            ("WARD_SCAN__RDP_PORTS", "[]"),
            ("WARD_SCAN__SMB_PORTS", "[]"),
            ("WARD_SCAN__TLS_PORTS", "[]"),
            ("WARD_SCAN__HTTP_PORTS", "[]"),
        ],
    );
    member(&w, "RXH", "London");
    let service = TcpListener::bind("127.0.0.1:0").unwrap();
    let port_n = service.local_addr().unwrap().port();
    let port = port_n.to_string();
    ok(&w.cli(&[
        "scope",
        "add",
        "nightly",
        "--org",
        "RXH",
        "--cidr",
        "127.0.0.1/32",
        "--checks",
        "port_scan",
        "--authorised-by",
        "Head of IT, RXH",
        "--every",
        "1",
        "--schedule-ports",
        &port,
    ]));
    let scope = json_of(&w.cli(&["scope", "show", "nightly"]));
    assert_eq!(scope["schedule"]["every_secs"], 1, "{scope}");
    assert!(scope["next_run_at"].as_i64().is_some(), "{scope}");
    let runs = w.wait_for("/api/v1/scans?scope=nightly", |v| {
        v.as_array().is_some_and(|a| {
            a.iter()
                .filter(|r| r["trigger"] == "schedule" && r["status"] == "done")
                .count()
                >= 2
        })
    });
    let done: Vec<&Value> = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["trigger"] == "schedule" && r["status"] == "done")
        .collect();
    assert!(done.len() >= 2, "{runs}");
    assert_eq!(done[0]["requested_by"], "scheduler");

    // The scheduled scans found the service; accept its risk briefly, watch it reopen.
    let fs = findings(&w);
    let f = fs
        .iter()
        .find(|f| f["check"] == "port.open" && f["port"] == port_n)
        .unwrap_or_else(|| panic!("{fs:?}"));
    let id_n = f["id"].as_i64().unwrap();
    let id = id_n.to_string();
    let until = ward_scan::Timestamp(ward_scan::Timestamp::now().0 + 2).to_string();
    let acc = json_of(&w.cli(&["findings", "accept", &id, "--until", &until, "--json"]));
    assert_eq!(acc["status"], "risk_accepted", "{acc}");
    assert!(acc["accepted_by"].as_str().unwrap().contains("admin"));
    let reopened = w.wait_for("/api/v1/findings?status=open&check=port.open", |v| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|x| x["id"] == id_n))
    });
    assert!(
        reopened.as_array().unwrap().iter().any(|x| x["id"] == id_n),
        "the acceptance did not expire: {reopened}"
    );
    drop(service);
}
