//! The scale-out engines together: the event log on NATS JetStream and the state in
//! PostgreSQL, behind the same `ward serve` (scripts/deps/nats.sh and postgres.sh start them).

mod common;

use common::{member, wannacry_event, Ward};

fn nats_url() -> String {
    std::env::var("WARD_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

#[test]
fn events_go_through_jetstream_into_postgres_incidents_and_survive_a_crash() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(ward_testkit::PgDatabase::create());
    let stream = format!("WARD_TEST_SERVE_{:x}", std::process::id());
    let subject = format!("ward.test.serve.{:x}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let nats = nats_url();
    let mut w = Ward::start(
        dir.path(),
        &[
            ("WARD_DATABASE__URL", db.url.as_str()),
            ("WARD_EVENTLOG__ENGINE", "jetstream"),
            ("WARD_EVENTLOG__NATS_URL", nats.as_str()),
            ("WARD_EVENTLOG__NATS_STREAM", stream.as_str()),
            ("WARD_EVENTLOG__NATS_SUBJECT", subject.as_str()),
        ],
    );
    let key = member(&w, "ZJ1", "London");
    let (status, receipt) = w.post_events(&key, wannacry_event("pc1", 1));
    assert_eq!(status, 200, "{receipt}");
    w.wait_for("/api/v1/incidents", |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    });
    // Nothing of the event log is on local disk: it lives in the stream.
    assert!(!dir.path().join("eventlog").exists());
    let (_, st) = w.get("/api/v1/status", &w.token);
    assert!(st.to_string().contains("postgres"), "{st}");

    // A crash between the two posts neither loses the second event nor repeats the first.
    w.crash_and_restart();
    assert_eq!(w.post_events(&key, wannacry_event("pc2", 2)).0, 200);
    let incidents = w.wait_for("/api/v1/incidents", |v| {
        v.as_array().is_some_and(|a| a.len() == 2)
    });
    let detections = w.wait_for("/api/v1/detections", |v| {
        v.as_array().is_some_and(|a| a.len() >= 2)
    });
    assert_eq!(incidents.as_array().unwrap().len(), 2);
    let hosts: std::collections::BTreeSet<String> = detections
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["host"].as_str().map(String::from))
        .collect();
    assert!(
        hosts.contains("pc1") && hosts.contains("pc2"),
        "{detections}"
    );
    drop(w);
    rt.block_on(async {
        let client = async_nats::connect(nats.as_str()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let info = js.get_stream(&stream).await.unwrap().cached_info().clone();
        assert!(info.state.messages >= 2, "the events are in the stream");
        js.delete_stream(&stream).await.unwrap();
    });
}
