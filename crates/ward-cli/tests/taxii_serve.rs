//! The real `ward serve` as a TAXII 2.1 server, driven by the OASIS client
//! (`taxii2-client`): discovery, collections, `as_pages` paging, `added_after`, versions,
//! POST + status, each member seeing only what TLP and distribution allow.

mod common;

use std::process::Command;

use common::{member, Ward};
use serde_json::{json, Value};

const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";

fn indicator(i: usize, marking: &str, modified: &str) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--{:08x}-0000-4000-8000-000000000000", i),
        "created": "2026-01-01T00:00:00.000Z", "modified": modified,
        "name": format!("indicator {i}"), "description": "test",
        "indicator_types": ["malicious-activity"],
        "pattern": format!("[ipv4-addr:value = '203.0.113.{i}']"), "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": [marking]
    })
}

const SCRIPT: &str = r#"
import json, sys
from taxii2client.v21 import Server, as_pages
base, key, post = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
out = {}
s = Server(base + "/taxii2/", user="member", password=key)
out["title"] = s.title
out["api_roots"] = [r.url for r in s.api_roots]
root = s.default
out["versions"] = root.versions
out["collections"] = [[c.id, c.alias if hasattr(c, "alias") else None, c.can_read, c.can_write] for c in root.collections]
c = root.collections[0]
pages, ids = [], []
for env in as_pages(c.get_objects, per_request=4):
    objs = env.get("objects", [])
    pages.append(len(objs))
    ids += [o["id"] + "@" + o["modified"] for o in objs]
out["pages"] = pages
out["ids"] = ids
allm = []
for env in as_pages(c.get_manifest, per_request=5):
    allm += env.get("objects", [])
out["manifest_n"] = len(allm)
if len(allm) > 9:
    cut = allm[9]["date_added"]
    after = []
    for env in as_pages(c.get_objects, per_request=7, added_after=cut):
        after += env.get("objects", [])
    out["after_n"] = len(after)
out["versions_0"] = c.object_versions("indicator--00000000-0000-4000-8000-000000000000").get("versions", [])
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
    let py = ward_testkit::require_python_module("taxii2client", "scripts/deps/intel.sh");
    let out = Command::new(py)
        .args(["-c", SCRIPT, base, key, if post { "1" } else { "0" }])
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

fn submit(w: &Ward, token: &str, bundle: &Value, query: &str) -> Value {
    let resp = w
        .client()
        .post(format!("{}/api/v1/intel/indicators?{query}", w.url))
        .bearer_auth(token)
        .header("content-type", "application/stix+json")
        .body(bundle.to_string())
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let v: Value = resp.json().unwrap_or(Value::Null);
    assert_eq!(status, 200, "{v}");
    v
}

#[test]
fn taxii2_client_against_ward_serve() {
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(dir.path(), &[("WARD_INTEL__TAXII_MAX_PAGE", "10")]);
    let rj1 = member(&w, "RJ1", "London");
    let rxb = member(&w, "RXB", "North East and Yorkshire");

    // The national centre publishes 20 GREEN and 2 RED indicators to everyone, then a
    // second version of indicator 0.
    let mut objects: Vec<Value> = (0..20)
        .map(|i| indicator(i, GREEN, "2026-01-01T00:00:00.000Z"))
        .collect();
    objects.push(indicator(20, RED, "2026-01-01T00:00:00.000Z"));
    objects.push(indicator(21, RED, "2026-01-01T00:00:00.000Z"));
    let bundle = json!({"type": "bundle", "id": "bundle--0d3f0d7e-7f4c-4a8e-8b0c-2f2f8a4b1c01", "objects": objects});
    let r = submit(&w, &w.token, &bundle, "distribution=all");
    assert_eq!(r["objects_added"], 22, "{r}");
    assert_eq!(r["indicators_added"], 22, "{r}");
    let v2 = json!({"type": "bundle", "id": "bundle--0d3f0d7e-7f4c-4a8e-8b0c-2f2f8a4b1c02",
        "objects": [indicator(0, GREEN, "2026-02-01T00:00:00.000Z")]});
    let r = submit(&w, &w.token, &v2, "distribution=all");
    assert_eq!(r["objects_added"], 1, "{r}");

    // RJ1's member system: discovery, the collection, 20 GREEN in pages of 4 (RED never
    // reaches machines), manifest paging capped at the server's 10, added_after, versions,
    // then a POST of one good and one bad object.
    let a = run_client(&w.url, &rj1, true);
    assert_eq!(a["title"], "ward TAXII 2.1");
    assert_eq!(a["api_roots"][0], format!("{}/taxii2/api/", w.url));
    assert_eq!(a["versions"], json!(["application/taxii+json;version=2.1"]));
    assert_eq!(a["collections"].as_array().unwrap().len(), 1);
    assert_eq!(a["collections"][0][3], true, "member systems may write");
    assert_eq!(a["pages"], json!([4, 4, 4, 4, 4]));
    let ids = a["ids"].as_array().unwrap();
    assert_eq!(ids.len(), 20);
    assert!(ids
        .iter()
        .any(|i| i == "indicator--00000000-0000-4000-8000-000000000000@2026-02-01T00:00:00.000Z"));
    assert!(!ids
        .iter()
        .any(|i| i == "indicator--00000000-0000-4000-8000-000000000000@2026-01-01T00:00:00.000Z"));
    assert_eq!(a["manifest_n"], 20);
    assert_eq!(a["after_n"], 10);
    assert_eq!(
        a["versions_0"],
        json!(["2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"])
    );
    assert_eq!(
        a["status"],
        json!({"status": "complete", "total": 2, "success": 1, "failure": 1})
    );
    assert_eq!(a["status_refreshed"], "complete");
    assert_eq!(a["after_post"], 1);

    // The central analyst sees everything: 20 GREEN + 2 RED + RJ1's post.
    let c = run_client(&w.url, &w.token, false);
    assert_eq!(c["ids"].as_array().unwrap().len(), 23);
    // A member system in another region: GREEN only; RJ1's post went to its community
    // (London) and RED to nobody outside the centre.
    let b = run_client(&w.url, &rxb, false);
    assert_eq!(b["ids"].as_array().unwrap().len(), 20);

    // What was POSTed is live: the indicator's domain is in the store for RJ1.
    let (s, v) = w.get("/api/v1/intel/indicators?kind=domain", &rj1);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["items"][0]["value"], "posted.example");
    assert_eq!(v["items"][0]["owner_org"], "RJ1");
    assert_eq!(v["items"][0]["tlp"], "TLP:CLEAR");

    // The intel routes are in the OpenAPI document.
    let (s, doc) = w.get("/api/v1/openapi.json", &w.token);
    assert_eq!(s, 200);
    for path in [
        "/api/v1/intel/indicators",
        "/api/v1/intel/indicators/{id}/false-positives",
        "/api/v1/intel/export/{format}",
        "/api/v1/intel/feeds",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }

    // Protocol errors through the real server.
    let http = w.client();
    let url = format!("{}/taxii2/api/collections/indicators/objects/", w.url);
    let r = http
        .get(&url)
        .header("Accept", "application/taxii+json;version=2.1")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(&url)
        .bearer_auth(&rxb)
        .header("Accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 406);
    let r = http
        .get(&url)
        .bearer_auth("wk_not_a_key")
        .header("Accept", "application/taxii+json;version=2.1")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{}/taxii2/nope/collections/", w.url))
        .bearer_auth(&rxb)
        .header("Accept", "application/taxii+json;version=2.1")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}
