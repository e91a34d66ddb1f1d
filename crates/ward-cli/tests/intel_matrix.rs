//! THE TLP/distribution matrix through the real `ward serve`: every intel read route (API
//! list, get, the four exports; TAXII objects, object, manifest, versions) × every TLP ×
//! every kind of reader, against a table written out by hand from the TLP 2.0 and MISP
//! distribution rules (docs/intel.md), not computed from ward's own policy code.

mod common;

use common::{member, Ward};
use serde_json::{json, Value};

const TLPS: [(&str, &str); 5] = [
    (
        "clear",
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    ),
    (
        "green",
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    ),
    (
        "amber",
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    ),
    (
        "amber-strict",
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    ),
    (
        "red",
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    ),
];

fn id(i: usize) -> String {
    format!("indicator--{:08x}-7a1e-4c2b-9d3f-5e6a7b8c9d0e", i + 1)
}

fn value(label: &str) -> String {
    format!("tlp-{label}.matrix.example")
}

struct Reader {
    name: &'static str,
    token: String,
    /// Readable per TLP (CLEAR, GREEN, AMBER, AMBER+STRICT, RED), by hand.
    expect: [bool; 5],
}

fn user(w: &Ward, email: &str, role: &str, org: &str) -> String {
    let (s, v) = w.post_json(
        "/api/v1/users",
        &w.token,
        &json!({"name": email, "email": email, "role": role, "org_code": org}),
    );
    assert_eq!(s, 201, "{v}");
    v["token"].as_str().unwrap().to_string()
}

fn text(w: &Ward, path: &str, token: &str) -> (u16, String) {
    let r = w
        .client()
        .get(format!("{}{path}", w.url))
        .bearer_auth(token)
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap_or_default())
}

fn taxii(w: &Ward, path: &str, token: &str) -> (u16, Value) {
    let r = w
        .client()
        .get(format!(
            "{}/taxii2/api/collections/indicators/{path}",
            w.url
        ))
        .basic_auth("member", Some(token))
        .header("Accept", "application/taxii+json;version=2.1")
        .send()
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().unwrap_or(Value::Null))
}

#[test]
fn every_read_route_by_tlp_and_reader() {
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(dir.path(), &[]);
    // Source organisation and another in its community (London); one far away (North).
    let key_src = member(&w, "RJ1", "London");
    let _key_other = member(&w, "RXB", "London");
    let key_far = member(&w, "RNN", "North East and Yorkshire");
    let lead_src = user(&w, "lead@rj1.example", "org_lead", "RJ1");
    let viewer_src = user(&w, "viewer@rj1.example", "org_viewer", "RJ1");
    let lead_other = user(&w, "lead@rxb.example", "org_lead", "RXB");
    let viewer_other = user(&w, "viewer@rxb.example", "org_viewer", "RXB");
    let lead_far = user(&w, "lead@rnn.example", "org_lead", "RNN");

    // RJ1's lead publishes one indicator per TLP, distribution "all": TLP caps it
    // (AMBER: connected communities, AMBER+STRICT: its community, RED: RJ1 only).
    let objects: Vec<Value> = TLPS
        .iter()
        .enumerate()
        .map(|(i, (label, marking))| {
            json!({"type": "indicator", "spec_version": "2.1", "id": id(i),
                "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
                "name": format!("{label} indicator"), "indicator_types": ["malicious-activity"],
                "pattern": format!("[domain-name:value = '{}']", value(label)), "pattern_type": "stix",
                "valid_from": "2026-11-01T00:00:00Z", "object_marking_refs": [marking]})
        })
        .collect();
    let resp = w
        .client()
        .post(format!("{}/api/v1/intel/indicators?distribution=all", w.url))
        .bearer_auth(&lead_src)
        .header("content-type", "application/stix+json")
        .body(json!({"type": "bundle", "id": "bundle--9e1f3a4b-2c5d-4e6f-8a7b-0c1d2e3f4a5b", "objects": objects}).to_string())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);

    let readers = [
        Reader {
            name: "central analyst",
            token: w.token.clone(),
            expect: [true, true, true, true, true],
        },
        Reader {
            name: "lead of the source org",
            token: lead_src,
            expect: [true, true, true, true, true],
        },
        Reader {
            name: "viewer of the source org",
            token: viewer_src,
            expect: [true, true, true, true, true],
        },
        Reader {
            name: "API key of the source org",
            token: key_src,
            expect: [true, true, true, true, false],
        },
        Reader {
            name: "lead of another org, same community",
            token: lead_other,
            expect: [true, true, true, true, false],
        },
        Reader {
            name: "viewer of another org, same community",
            token: viewer_other,
            expect: [true, true, true, true, false],
        },
        Reader {
            name: "lead of an org in another community",
            token: lead_far,
            expect: [true, true, false, false, false],
        },
        Reader {
            name: "API key of an org in another community",
            token: key_far,
            expect: [true, true, false, false, false],
        },
    ];

    let mut cases = 0;
    for r in &readers {
        let (s, list) = w.get("/api/v1/intel/indicators?limit=1000", &r.token);
        assert_eq!(s, 200, "{}: {list}", r.name);
        let (s, stix) = text(&w, "/api/v1/intel/export/stix", &r.token);
        assert_eq!(s, 200, "{}", r.name);
        let (s, misp) = text(&w, "/api/v1/intel/export/misp", &r.token);
        assert_eq!(s, 200, "{}", r.name);
        let (s, csv) = text(&w, "/api/v1/intel/export/csv", &r.token);
        assert_eq!(s, 200, "{}", r.name);
        let (s, plain) = text(&w, "/api/v1/intel/export/list?kind=domain", &r.token);
        assert_eq!(s, 200, "{}", r.name);
        let (s, objs) = taxii(&w, "objects/", &r.token);
        assert_eq!(s, 200, "{}: {objs}", r.name);
        let (s, manifest) = taxii(&w, "manifest/", &r.token);
        assert_eq!(s, 200, "{}", r.name);
        for (i, (label, _)) in TLPS.iter().enumerate() {
            let want = r.expect[i];
            let v = value(label);
            let iid = id(i);
            let ctx = format!("{} × TLP {label}", r.name);
            let in_list = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["value"] == v.as_str());
            assert_eq!(in_list, want, "API list: {ctx}");
            let (s, _) = w.get(&format!("/api/v1/intel/indicators/{iid}"), &r.token);
            assert_eq!(s == 200, want, "API get ({s}): {ctx}");
            assert_eq!(s == 404, !want, "API get ({s}): {ctx}");
            assert_eq!(stix.contains(&iid), want, "STIX export: {ctx}");
            assert_eq!(misp.contains(&v), want, "MISP export: {ctx}");
            assert_eq!(csv.contains(&v), want, "CSV export: {ctx}");
            assert_eq!(plain.lines().any(|l| l == v), want, "plain list: {ctx}");
            let in_objs = objs["objects"]
                .as_array()
                .map(|a| a.iter().any(|o| o["id"] == iid.as_str()))
                .unwrap_or(false);
            assert_eq!(in_objs, want, "TAXII objects: {ctx}");
            let in_manifest = manifest["objects"]
                .as_array()
                .map(|a| a.iter().any(|o| o["id"] == iid.as_str()))
                .unwrap_or(false);
            assert_eq!(in_manifest, want, "TAXII manifest: {ctx}");
            let (s, _) = taxii(&w, &format!("objects/{iid}/"), &r.token);
            assert_eq!(s == 200, want, "TAXII object ({s}): {ctx}");
            let (s, _) = taxii(&w, &format!("objects/{iid}/versions/"), &r.token);
            assert_eq!(s == 200, want, "TAXII versions ({s}): {ctx}");
            cases += 10;
        }
    }
    assert_eq!(cases, 8 * 5 * 10);
}
