//! Per-contact channel settings (migration 0011) on both engines.

use ward_model::channels::ContactChannels;
use ward_model::{OdsCode, OrgKind};
use ward_storage::{NewContact, Store, StoreError};
use ward_testkit::PgDatabase;

#[macro_use]
mod common;

on_both_engines!(settings_round_trip_and_replace, |store| {
    let org: OdsCode = "RJ1".parse().unwrap();
    store
        .create_org(&org, "Trust", OrgKind::AcuteTrust, "London")
        .await
        .unwrap();
    let c = store
        .add_contact(
            &org,
            NewContact {
                name: "Lead".into(),
                phone: None,
                email: Some("lead@rj1.example".into()),
                role: "security_lead".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(store.contact_channels(c.id).await.unwrap(), None);
    let mut s = ContactChannels {
        contact_id: c.id,
        webhook_url: Some("https://hooks.example/rj1".into()),
        webhook_format: "teams".into(),
        webhook_secret: Some("k1".into()),
        channels: vec!["webhook".into(), "email".into()],
        updated_at: 5,
    };
    store.set_contact_channels(&s).await.unwrap();
    assert_eq!(store.contact_channels(c.id).await.unwrap(), Some(s.clone()));
    // Replacing clears what the new settings leave out.
    s.webhook_secret = None;
    s.channels.clear();
    s.updated_at = 6;
    store.set_contact_channels(&s).await.unwrap();
    assert_eq!(store.contact_channels(c.id).await.unwrap(), Some(s.clone()));
    s.contact_id = 9_999;
    assert!(matches!(
        store.set_contact_channels(&s).await,
        Err(StoreError::NotFound(_))
    ));
});
