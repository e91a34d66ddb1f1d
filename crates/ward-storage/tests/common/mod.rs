//! Shared by every storage test file: `#[macro_use] mod common;` (the file must import `Store`
//! and `ward_testkit::PgDatabase`).

/// Runs `$body` with a fresh store of each engine.
macro_rules! on_both_engines {
    ($name:ident, |$store:ident| $body:block) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
                let $store = Store::connect(&url, 4).await.unwrap();
                assert_eq!($store.backend_name(), "sqlite");
                $body
            }

            #[tokio::test]
            async fn postgres() {
                let db = PgDatabase::create().await;
                let $store = Store::connect(&db.url, 4).await.unwrap();
                assert_eq!($store.backend_name(), "postgres");
                $body
                $store.close().await;
            }
        }
    };
}
