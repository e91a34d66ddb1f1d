//! ward's TAXII 2.1 client against the OASIS reference server (medallion), loaded
//! with ../shared/data/taxii/.

mod common;

use ward_intel::feeds::stix_bundle::import_objects;
use ward_intel::stix::StixObject;
use ward_intel::taxii::client::{ObjectsQuery, TaxiiAuth, TaxiiClient};
use ward_intel::tlp::Tlp;

const HV: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_medallion() {
    let dir = tempfile::tempdir().unwrap();
    let (_peer, base) = common::start_medallion(dir.path());
    let c = TaxiiClient::new(TaxiiAuth::Basic {
        user: "admin".into(),
        password: "Password0".into(),
    })
    .unwrap();

    let d = c.discovery(&format!("{base}/taxii2/")).await.unwrap();
    assert!(d.api_roots.len() >= 2, "{d:?}");
    let root = format!("{base}/trustgroup1/");
    let ar = c.api_root(&root).await.unwrap();
    assert!(ar.versions.iter().any(|v| v.contains("2.1")));
    let cols = c.collections(&root).await.unwrap();
    assert_eq!(cols.len(), 5, "{cols:?}");
    assert!(cols.iter().any(|c| c.id == HV && c.can_read));

    // Paging with limit=2 follows `next` to the end and sees every object once.
    let all = c.poll(&root, HV, None, 2).await.unwrap();
    assert!(all.pages >= 3, "pages {}", all.pages);
    let mut ids: Vec<String> = all
        .objects
        .iter()
        .map(|o| format!("{}@{}", o["id"], o["modified"]))
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicates across pages");
    assert!(n >= 5, "{n}");
    let cursor = all.cursor.clone().expect("X-TAXII-Date-Added-Last");

    // The page headers are there.
    let p = c
        .objects_page(
            &root,
            HV,
            &ObjectsQuery {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(p.date_added_first.is_some() && p.date_added_last.is_some());
    assert!(p.envelope.more);

    // added_after = last cursor: nothing new.
    let again = c.poll(&root, HV, Some(&cursor), 50).await.unwrap();
    assert!(again.objects.is_empty(), "{:?}", again.objects);

    // The objects import as indicators.
    let objs: Vec<StixObject> = all
        .objects
        .iter()
        .map(|o| StixObject::from_value(o.clone()).unwrap())
        .collect();
    let imp = import_objects(objs, "medallion", Tlp::Green);
    assert!(!imp.indicators.is_empty());

    // Manifest.
    let m = c
        .manifest(&root, HV, &ObjectsQuery::default())
        .await
        .unwrap();
    assert!(!m.objects.is_empty());

    // POST to the writable collection → 202 status resource, then GET status.
    let writable = cols.iter().find(|c| c.can_write && c.can_read).unwrap();
    let ind = ward_intel::export::stix_bundle(
        &[ward_intel::feeds::IndicatorRecord::from_value(
            ward_intel::observable::Observable::domain("nhs-payroll-update.example").unwrap(),
            "ward",
            ward_intel::stix::Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
        )],
        &[],
        &ward_intel::export::Producer::default(),
    );
    let objs: Vec<serde_json::Value> = ind["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "indicator")
        .cloned()
        .collect();
    let st = c.add_objects(&root, &writable.id, objs).await.unwrap();
    assert_eq!(st.total_count, 1);
    let st2 = c.status(&root, &st.id).await.unwrap();
    assert_eq!(st2.id, st.id);

    // Wrong credentials and a no-access collection are errors with the status.
    let bad = TaxiiClient::new(TaxiiAuth::Basic {
        user: "admin".into(),
        password: "nope".into(),
    })
    .unwrap();
    assert!(matches!(
        bad.collections(&root).await.unwrap_err(),
        ward_intel::IntelError::Status { status: 401, .. }
    ));
    let noaccess = cols.iter().find(|c| !c.can_read && !c.can_write).unwrap();
    let e = c
        .objects_page(&root, &noaccess.id, &ObjectsQuery::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, ward_intel::IntelError::Status { status: 403, .. }),
        "{e}"
    );
}
