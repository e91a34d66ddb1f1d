//! Log sources and per-member retention, on SQLite and PostgreSQL.

use ward_model::{OdsCode, OrgKind};
use ward_storage::{SourceKind, Store, StoreError};
use ward_testkit::PgDatabase;

#[macro_use]
mod common;

fn ods(s: &str) -> OdsCode {
    s.parse().unwrap()
}

async fn two_orgs(store: &Store) {
    for (code, kind) in [
        ("RJ1", OrgKind::AcuteTrust),
        ("B82005", OrgKind::GpPractice),
    ] {
        store
            .create_org(&ods(code), code, kind, "London")
            .await
            .unwrap();
    }
}

on_both_engines!(log_sources, |store| {
    two_orgs(&store).await;
    let v0 = store.log_sources_version().await.unwrap();
    let a = store
        .add_log_source(&ods("RJ1"), SourceKind::Network, " 10.1.0.0/16 ", "site A")
        .await
        .unwrap();
    assert_eq!(a.value, "10.1.0.0/16");
    let b = store
        .add_log_source(&ods("B82005"), SourceKind::CertCn, "gp-b.ward.test", "fw")
        .await
        .unwrap();
    assert_ne!(v0, store.log_sources_version().await.unwrap());
    // One identity, one member.
    let dup = store
        .add_log_source(&ods("B82005"), SourceKind::Network, "10.1.0.0/16", "x")
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    // The same value under another kind is another identity.
    store
        .add_log_source(
            &ods("B82005"),
            SourceKind::CertFingerprint,
            "10.1.0.0/16",
            "odd",
        )
        .await
        .unwrap();
    let missing = store
        .add_log_source(&ods("ZZZ"), SourceKind::Network, "10.9.0.0/16", "x")
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );

    let all = store.list_log_sources(None).await.unwrap();
    assert_eq!(all.len(), 3);
    let rj1 = store.list_log_sources(Some(&ods("RJ1"))).await.unwrap();
    assert_eq!(rj1, vec![a.clone()]);
    assert_eq!(store.get_log_source(b.id).await.unwrap(), Some(b.clone()));

    // Remove one and add one: the count is back where it was, the version is not.
    let before = store.log_sources_version().await.unwrap();
    store.delete_log_source(b.id).await.unwrap();
    assert!(matches!(
        store.delete_log_source(b.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert_ne!(store.log_sources_version().await.unwrap(), before);
    store
        .add_log_source(&ods("B82005"), SourceKind::CertCn, "gp-b2.ward.test", "fw")
        .await
        .unwrap();
    let after = store.log_sources_version().await.unwrap();
    assert_eq!(after.0, before.0);
    assert_ne!(after, before);
});

on_both_engines!(retention_per_member, |store| {
    two_orgs(&store).await;
    assert_eq!(store.retention_days(&ods("RJ1")).await.unwrap(), None);
    store
        .set_retention_days(&ods("RJ1"), Some(30))
        .await
        .unwrap();
    store
        .set_retention_days(&ods("B82005"), Some(400))
        .await
        .unwrap();
    store
        .set_retention_days(&ods("RJ1"), Some(90))
        .await
        .unwrap();
    assert_eq!(store.retention_days(&ods("RJ1")).await.unwrap(), Some(90));
    assert_eq!(
        store.list_retention().await.unwrap(),
        vec![(ods("B82005"), 400), (ods("RJ1"), 90)]
    );
    assert!(matches!(
        store.set_retention_days(&ods("RJ1"), Some(0)).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.set_retention_days(&ods("ZZZ"), Some(5)).await,
        Err(StoreError::NotFound(_))
    ));
    store.set_retention_days(&ods("RJ1"), None).await.unwrap();
    assert_eq!(store.retention_days(&ods("RJ1")).await.unwrap(), None);
    assert_eq!(store.list_retention().await.unwrap().len(), 1);
});
