//! ward's TAXII 2.1 server driven by the OASIS client (`taxii2-client`): discovery,
//! collections, paging with `as_pages`, `added_after`, manifest, POST + status, and
//! TLP/distribution filtering per API key.

mod common;

use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};
use ward_intel::policy::{AccessMeta, Distribution, Role, Viewer};
use ward_intel::taxii::server::{router, MemCollection, MemoryBackend};
use ward_intel::tlp::Tlp;

const IND: &str = "a3c8a3b0-1d3e-4c7a-9b7e-2f8f7c1d9e01";
const ADV: &str = "b7f1e6d2-5c4b-4a3e-8d2c-1e0f9a8b7c02";

fn viewer(role: Role, org: &str, community: &str) -> Viewer {
    Viewer {
        role,
        org: org.into(),
        communities: vec![community.into()],
        sharing_groups: vec![],
    }
}

fn indicator(i: usize, tlp: Tlp, modified: &str) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--{:08x}-0000-4000-8000-000000000000", i),
        "created": "2026-01-01T00:00:00.000Z", "modified": modified,
        "name": format!("indicator {i}"), "description": "test",
        "indicator_types": ["malicious-activity"],
        "pattern": format!("[ipv4-addr:value = '203.0.113.{i}']"), "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": [tlp.marking_id()]
    })
}

fn backend() -> MemoryBackend {
    let mut b = MemoryBackend::new("ward TAXII", 10);
    b.add_root(
        "ward",
        "ward national indicators",
        vec![
            MemCollection::new(IND, "Indicators", vec![Role::CentralAnalyst, Role::OrgLead]),
            MemCollection::new(ADV, "Advisories", vec![Role::CentralAnalyst]),
        ],
    );
    b.keys.insert(
        "k-analyst".into(),
        viewer(Role::CentralAnalyst, "NCSC", "national"),
    );
    b.keys
        .insert("k-lead-a".into(), viewer(Role::OrgLead, "RXA", "london"));
    b.keys
        .insert("k-sys-b".into(), viewer(Role::MemberSystem, "RXB", "north"));
    let meta = |tlp: Tlp, d: Distribution| AccessMeta {
        owner_org: "RXA".into(),
        tlp,
        distribution: d,
        community: "london".into(),
        connected: vec![],
    };
    for i in 0..20 {
        b.insert(
            "ward",
            IND,
            indicator(i, Tlp::Clear, "2026-01-01T00:00:00.000Z"),
            meta(Tlp::Clear, Distribution::All),
        )
        .unwrap();
    }
    for i in 20..23 {
        b.insert(
            "ward",
            IND,
            indicator(i, Tlp::Amber, "2026-01-01T00:00:00.000Z"),
            meta(Tlp::Amber, Distribution::Community),
        )
        .unwrap();
    }
    for i in 23..25 {
        b.insert(
            "ward",
            IND,
            indicator(i, Tlp::Red, "2026-01-01T00:00:00.000Z"),
            meta(Tlp::Red, Distribution::All),
        )
        .unwrap();
    }
    // A second version of indicator 0.
    b.insert(
        "ward",
        IND,
        indicator(0, Tlp::Clear, "2026-02-01T00:00:00.000Z"),
        meta(Tlp::Clear, Distribution::All),
    )
    .unwrap();
    b
}

const SCRIPT: &str = r#"
import json, sys
from taxii2client.v21 import Server, as_pages
base, key, ind, post = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
out = {}
s = Server(base + "/taxii2/", user="member", password=key)
out["title"] = s.title
out["api_roots"] = [r.url for r in s.api_roots]
root = s.default
out["root_title"] = root.title
out["versions"] = root.versions
out["collections"] = sorted([[c.id, c.can_read, c.can_write] for c in root.collections])
c = [c for c in root.collections if c.id == ind][0]
pages, ids = [], []
for env in as_pages(c.get_objects, per_request=4):
    objs = env.get("objects", [])
    pages.append(len(objs))
    ids += [o["id"] + "@" + o["modified"] for o in objs]
out["pages"] = pages
out["ids"] = ids
m = c.get_manifest()
out["manifest_n"] = len(m.get("objects", []))
out["manifest_more"] = m.get("more", False)
allm = []
for env in as_pages(c.get_manifest, per_request=10):
    allm += env.get("objects", [])
cut = allm[9]["date_added"]
after = []
for env in as_pages(c.get_objects, per_request=10, added_after=cut):
    after += env.get("objects", [])
out["after_n"] = len(after)
out["versions_0"] = c.object_versions("indicator--00000000-0000-4000-8000-000000000000").get("versions", [])
out["all_versions_n"] = len(c.get_objects(limit=10, **{"version": "all", "id": "indicator--00000000-0000-4000-8000-000000000000"}).get("objects", []))
if post:
    env = {"objects": [{
        "type": "indicator", "spec_version": "2.1", "id": "indicator--6f2c1b0e-5a4d-4c3b-9e8f-7a6b5c4d3e2f",
        "created": "2026-03-01T00:00:00.000Z", "modified": "2026-03-01T00:00:00.000Z",
        "name": "posted", "description": "posted by taxii2-client", "indicator_types": ["malicious-activity"],
        "pattern": "[domain-name:value = 'posted.example']", "pattern_type": "stix", "valid_from": "2026-03-01T00:00:00Z",
        "object_marking_refs": ["marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"]}, {"type": "indicator"}]}
    st = c.add_objects(env)
    out["status"] = {"status": st.status, "total": st.total_count, "success": st.success_count, "failure": st.failure_count}
    st.refresh()
    out["status_refreshed"] = st.status
    out["after_post"] = len(c.get_objects(**{"id": "indicator--6f2c1b0e-5a4d-4c3b-9e8f-7a6b5c4d3e2f"}).get("objects", []))
print(json.dumps(out))
"#;

fn run_client(base: &str, key: &str, post: bool) -> Value {
    let out = Command::new(common::python())
        .args(["-c", SCRIPT, base, key, IND, if post { "1" } else { "0" }])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "taxii2-client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxii2_client_against_ward_server() {
    let app = router(Arc::new(backend()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let b2 = base.clone();
    let a = tokio::task::spawn_blocking(move || run_client(&b2, "k-analyst", true))
        .await
        .unwrap();
    assert_eq!(a["title"], "ward TAXII");
    assert_eq!(a["api_roots"][0], format!("{base}/ward/"));
    assert_eq!(a["root_title"], "ward national indicators");
    assert_eq!(a["collections"].as_array().unwrap().len(), 2);
    // 25 indicators (latest version only) in pages of 4 via `next`.
    assert_eq!(a["pages"], json!([4, 4, 4, 4, 4, 4, 1]));
    let ids = a["ids"].as_array().unwrap();
    assert_eq!(ids.len(), 25);
    assert!(ids
        .iter()
        .any(|i| i == "indicator--00000000-0000-4000-8000-000000000000@2026-02-01T00:00:00.000Z"));
    assert!(!ids
        .iter()
        .any(|i| i == "indicator--00000000-0000-4000-8000-000000000000@2026-01-01T00:00:00.000Z"));
    // Manifest capped at the server's page size, then added_after the 10th.
    assert_eq!(a["manifest_n"], 10);
    assert_eq!(a["manifest_more"], true);
    assert_eq!(a["after_n"], 15);
    assert_eq!(
        a["versions_0"],
        json!(["2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"])
    );
    assert_eq!(a["all_versions_n"], 2);
    assert_eq!(
        a["status"],
        json!({"status": "complete", "total": 2, "success": 1, "failure": 1})
    );
    assert_eq!(a["status_refreshed"], "complete");
    assert_eq!(a["after_post"], 1);

    // The owner's lead sees its RED and AMBER objects (and the posted CLEAR one).
    let b2 = base.clone();
    let l = tokio::task::spawn_blocking(move || run_client(&b2, "k-lead-a", false))
        .await
        .unwrap();
    assert_eq!(l["ids"].as_array().unwrap().len(), 26);
    assert_eq!(
        l["collections"],
        json!([[IND, true, true], [ADV, true, false]])
    );
    // Another region's member system sees only TLP:CLEAR (21 incl. the posted one).
    let b2 = base.clone();
    let s = tokio::task::spawn_blocking(move || run_client(&b2, "k-sys-b", false))
        .await
        .unwrap();
    assert_eq!(s["ids"].as_array().unwrap().len(), 21);
    assert_eq!(
        s["collections"],
        json!([[IND, true, false], [ADV, true, false]])
    );

    // Protocol errors: no credentials 401, wrong Accept 406, wrong Content-Type 415,
    // member system may not POST (403), headers on object pages.
    let http = reqwest::Client::new();
    let url = format!("{base}/ward/collections/{IND}/objects/");
    let r = http
        .get(&url)
        .header("Accept", "application/taxii+json;version=2.1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(&url)
        .bearer_auth("k-analyst")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    let r = http
        .get(&url)
        .bearer_auth("k-analyst")
        .header("Accept", "application/taxii+json;version=2.1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/taxii+json;version=2.1"
    );
    assert!(
        r.headers().contains_key("x-taxii-date-added-first")
            && r.headers().contains_key("x-taxii-date-added-last")
    );
    let env: Value = r.json().await.unwrap();
    assert_eq!(env["objects"].as_array().unwrap().len(), 10);
    assert_eq!(env["more"], true);
    let r = http
        .post(&url)
        .bearer_auth("k-analyst")
        .header("Accept", "application/taxii+json;version=2.1")
        .header("Content-Type", "application/json")
        .body("{\"objects\":[]}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = http
        .post(&url)
        .bearer_auth("k-sys-b")
        .header("Accept", "application/taxii+json;version=2.1")
        .header("Content-Type", "application/taxii+json;version=2.1")
        .body("{\"objects\":[]}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http.get(format!("{base}/ward/collections/{IND}/objects/indicator--00000017-0000-4000-8000-000000000000/"))
        .bearer_auth("k-sys-b").header("Accept", "application/taxii+json;version=2.1").send().await.unwrap();
    assert_eq!(
        r.status(),
        404,
        "a TLP:RED object is invisible, not forbidden"
    );
    let r = http
        .get(format!(
            "{base}/ward/collections/{IND}/objects/?match[type]=malware"
        ))
        .bearer_auth("k-analyst")
        .header("Accept", "application/taxii+json;version=2.1")
        .send()
        .await
        .unwrap();
    let env: Value = r.json().await.unwrap();
    assert!(env["objects"].as_array().unwrap().is_empty());
}
