//! Every STIX bundle ward exports passes the OASIS validator in strict mode.

mod common;

use std::process::Command;

use ward_intel::export::{stix_bundle, Producer};
use ward_intel::feeds::misp;
use ward_intel::feeds::stix_bundle::import_objects;
use ward_intel::feeds::IndicatorRecord;
use ward_intel::observable::Observable;
use ward_intel::stix::{StixObject, Timestamp};
use ward_intel::tlp::Tlp;

fn validate_strict(bundles: &[serde_json::Value]) {
    let py = common::python();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, b) in bundles.iter().enumerate() {
        let f = dir.path().join(format!("bundle{i}.json"));
        std::fs::write(&f, serde_json::to_vec_pretty(b).unwrap()).unwrap();
        files.push(f);
    }
    let out = Command::new(py)
        .args([
            "-c",
            "import sys\nfrom stix2validator import validate_file, ValidationOptions, print_results\n\
             opts = ValidationOptions(strict=True, version='2.1')\nok = True\n\
             for f in sys.argv[1:]:\n    r = validate_file(f, opts)\n    print_results(r)\n    print(('VALID ' if r.is_valid else 'INVALID ') + f)\n    ok = ok and r.is_valid\n\
             sys.exit(0 if ok else 1)",
        ])
        .args(&files)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "stix2-validator --strict failed:\n{text}"
    );
    assert_eq!(
        text.matches("VALID ").count() - text.matches("INVALID ").count(),
        bundles.len(),
        "{text}"
    );
}

#[test]
fn exported_bundles_pass_stix2_validator_strict() {
    let t = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    let p = Producer::default();
    // Values of every kind, every TLP, with and without valid_until.
    let mut recs = Vec::new();
    let vals = [
        "203.0.113.5",
        "198.51.100.0/24",
        "2001:db8::/32",
        "nhs-payroll.example",
        "http://nhs-payroll.example/login?x=1",
        "db349b97c37d22f5ea1d1841e3c89eb4",
        "5ff465afaabcbf0150d1a3ab2c2e74f3a4426467",
        "24d004a104d4d54034dbcffc2a4b19a11f39008a575aa614ea04703480b1022c",
        "it's-me@phish.example",
    ];
    for (i, v) in vals.iter().enumerate() {
        let mut r = IndicatorRecord::from_value(Observable::guess(v).unwrap(), "test", t);
        r.tlp = Tlp::ALL[i % 5];
        r.name = Some(format!("test indicator {i}"));
        r.labels = vec!["phishing".into()];
        if i % 2 == 0 {
            r.valid_until = Some(Timestamp::parse("2026-06-01T00:00:00Z").unwrap());
        }
        recs.push(r);
    }
    // Two values under one id: exported as one indicator with an OR pattern.
    let mut twin = recs[0].clone();
    twin.observable = Observable::ipv4("203.0.113.6").unwrap();
    recs.push(twin);
    let b1 = stix_bundle(&recs, &[], &p);
    assert_eq!(
        b1["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["type"] == "indicator")
            .count(),
        vals.len()
    );

    // Indicators from the MISP feed fixture.
    let ev = misp::parse_event(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/misp/5a0f5d6e-0b1c-4f5e-9f2a-2b6f1c9d0a11.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let b2 = stix_bundle(&misp::event_indicators(&ev, "misp"), &[], &p);

    // Re-export of the medallion seed (a round trip through ward's model).
    let seed: serde_json::Value = serde_json::from_slice(
        &std::fs::read(common::shared().join("taxii/medallion_default_data.json")).unwrap(),
    )
    .unwrap();
    let objs: Vec<StixObject> = seed["trustgroup1"]["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "91a7b528-80eb-42ed-a74d-c6fbd5a26116")
        .unwrap()["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| StixObject::from_value(o.clone()).unwrap())
        .collect();
    let imp = import_objects(objs.clone(), "medallion", Tlp::Green);
    let others: Vec<StixObject> = objs
        .into_iter()
        .filter(|o| o.type_name() != "indicator")
        .collect();
    let b3 = stix_bundle(&imp.indicators, &others, &p);

    // Freetext → indicators → bundle.
    let ft: Vec<IndicatorRecord> =
        misp::freetext("C2 at 81.2.69[.]142 and hxxps://login-nhs[.]example/a")
            .into_iter()
            .map(|o| IndicatorRecord::from_value(o, "freetext", t))
            .collect();
    let b4 = stix_bundle(&ft, &[], &p);
    validate_strict(&[b1, b2, b3, b4]);
}
