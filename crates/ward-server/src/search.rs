//! The index consumer: tails the event log from its own persisted offset, parses each record
//! into ward's model (off the async runtime), and writes the event and its observables into
//! the search index ([`EventIndex`]) together with its new offset, so a crash replays exactly
//! the uncommitted batch. A second task prunes the index to each member's retention.
//!
//! Unparsed records are indexed too (class `base_event`, format `raw`): they stay searchable
//! by organisation, time and free text, and are counted on `/metrics`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use ward_eventlog::{EventLog, LogReader, LogRecord};
use ward_model::clock::now_ms;
use ward_storage::{EventIndex, IndexedEvent};
use ward_telemetry::Registry;

pub const SEARCH_CONSUMER: &str = "search";

/// Turns one stored record into what the index keeps. CPU-bound (parsing).
pub fn to_indexed(rec: &LogRecord) -> IndexedEvent {
    let event =
        ward_formats::parse_bytes_or_raw(None, &rec.payload, &ward_formats::Options::default());
    // Record times are nanoseconds; the index, like the rest of ward, keeps milliseconds.
    let time_ms = event
        .time
        .map(|t| t.0.div_euclid(1_000_000))
        .unwrap_or(rec.received_at_ms);
    let host = event.host.as_ref().and_then(|h| {
        h.hostname
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| h.ip.map(|ip| ip.to_string()))
    });
    let class = serde_json::to_value(event.class)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "base_event".to_string());
    let observables = event
        .observables
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.into_owned()))
        .collect();
    IndexedEvent {
        offset: rec.offset,
        org: rec.org.clone(),
        time_ms,
        received_at_ms: rec.received_at_ms,
        host,
        class,
        format: event.original.format.clone(),
        parsed: event.is_parsed(),
        record: rec.payload.clone(),
        observables,
    }
}

pub struct IndexConsumer {
    pub index: Arc<dyn EventIndex>,
    pub log: Arc<dyn EventLog>,
    pub batch_events: usize,
    pub registry: Arc<Registry>,
}

impl IndexConsumer {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let indexed = self.registry.counter(
            "ward_search_indexed_events_total",
            "Events written to the search index",
            &[],
        );
        let observables = self.registry.counter(
            "ward_search_indexed_observables_total",
            "Observables written to the search index",
            &[],
        );
        let unparsed = self.registry.counter(
            "ward_search_unparsed_events_total",
            "Events indexed raw because no parser understood them (searchable by org, time and text only)",
            &[],
        );
        let failures = self.registry.counter(
            "ward_search_index_failures_total",
            "Index batches that failed to commit and were retried",
            &[],
        );
        let skipped = self.registry.counter(
            "ward_search_skipped_by_log_retention_total",
            "Events the event log's retention removed before the index read them",
            &[],
        );
        let start = match self.index.indexed_offset(SEARCH_CONSUMER).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "search index cannot read its offset; not starting");
                return;
            }
        };
        tracing::info!(offset = start, "search index consumer starting");
        let mut reader: Option<Box<dyn LogReader>> = match self.log.reader(start) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(error = %e, "search index cannot open the event log");
                return;
            }
        };
        let mut committed = self.log.subscribe();
        let mut skipped_seen = 0;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let Some(mut r) = reader.take() else { return };
            let max = self.batch_events.max(1);
            let read = tokio::task::spawn_blocking(move || {
                let batch = r.read_batch(max).map(|records| {
                    records
                        .iter()
                        .map(to_indexed)
                        .collect::<Vec<IndexedEvent>>()
                });
                (r, batch)
            })
            .await;
            let (r, batch) = match read {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!(error = %e, "search index worker panicked; stopping the index");
                    return;
                }
            };
            let next_offset = r.position();
            let now_skipped = r.skipped_by_retention();
            skipped.add(now_skipped.saturating_sub(skipped_seen));
            skipped_seen = now_skipped;
            reader = Some(r);
            let events = match batch {
                Ok(events) => events,
                Err(e) => {
                    tracing::error!(error = %e, "search index cannot read the log; retrying in 5 s");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            if events.is_empty() {
                tokio::select! {
                    _ = committed.changed() => {}
                    _ = shutdown.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
                continue;
            }
            match self
                .index
                .index_batch(SEARCH_CONSUMER, &events, next_offset)
                .await
            {
                Ok(()) => {
                    indexed.add(events.len() as u64);
                    observables.add(events.iter().map(|e| e.observables.len() as u64).sum());
                    unparsed.add(events.iter().filter(|e| !e.parsed).count() as u64);
                }
                Err(e) => {
                    failures.inc();
                    tracing::error!(error = %e, "search index commit failed; retrying the batch");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    match self.index.indexed_offset(SEARCH_CONSUMER).await {
                        Ok(offset) => match self.log.reader(offset) {
                            Ok(r) => reader = Some(r),
                            Err(e) => {
                                tracing::error!(error = %e, "cannot reopen the event log");
                                return;
                            }
                        },
                        Err(e) => {
                            tracing::error!(error = %e, "cannot read the search index offset")
                        }
                    }
                }
            }
        }
    }
}

/// Days each organisation's events stay searchable, where it differs from the default.
///
/// Read from `search.retention_days_by_org`; when organisations carry their own
/// `retention_days` in the store, this is the one place to read them from instead.
pub fn retention_overrides(cfg: &ward_config::Config) -> HashMap<String, u32> {
    cfg.search
        .retention_days_by_org
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// Prunes the index to each member's retention every `search.prune_interval_secs`.
pub async fn prune_loop(
    index: Arc<dyn EventIndex>,
    store: ward_storage::Store,
    cfg: ward_config::Config,
    registry: Arc<Registry>,
    mut shutdown: watch::Receiver<bool>,
) {
    let pruned = registry.counter(
        "ward_search_pruned_events_total",
        "Events removed from the search index by retention",
        &[],
    );
    let failures = registry.counter(
        "ward_search_prune_failures_total",
        "Retention passes over the search index that failed",
        &[],
    );
    let every = Duration::from_secs(cfg.search.prune_interval_secs.max(1));
    loop {
        // Configured overrides, then what each member's retention is set to in the store
        // (`ward retention set`), which wins.
        let mut overrides = retention_overrides(&cfg);
        match store.list_retention().await {
            Ok(rows) => {
                overrides.extend(rows.into_iter().map(|(org, days)| (org.to_string(), days)))
            }
            Err(e) => {
                tracing::error!(error = %e, "members' retention not read; using configuration")
            }
        }
        match index
            .prune(cfg.search.retention_days, &overrides, now_ms())
            .await
        {
            Ok(n) => pruned.add(n),
            Err(e) => {
                failures.inc();
                tracing::error!(error = %e, "search index retention pass failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(payload: &str) -> LogRecord {
        LogRecord {
            offset: 7,
            received_at_ms: 1_700_000_000_000,
            org: "RJ1".into(),
            payload: payload.as_bytes().to_vec(),
        }
    }

    #[test]
    fn suricata_dns_becomes_an_indexed_event() {
        let line = r#"{"timestamp":"2017-05-12T10:00:00.000000+0000","event_type":"dns","src_ip":"10.1.2.3","src_port":53000,"dest_ip":"8.8.8.8","dest_port":53,"proto":"UDP","dns":{"type":"query","rrname":"www.IUQERFSODP9IFJAPOSDFJHGOSURIJFAEWRWERGWEA.com","rrtype":"A"}}"#;
        let ev = to_indexed(&rec(line));
        assert!(ev.parsed, "{ev:?}");
        assert_eq!(ev.class, "dns_activity");
        assert_eq!(ev.org, "RJ1");
        assert_eq!(ev.offset, 7);
        assert_eq!(ev.time_ms, 1_494_583_200_000);
        assert!(ev
            .observables
            .contains(&("ip".to_string(), "10.1.2.3".to_string())));
        assert!(ev.observables.contains(&(
            "domain".to_string(),
            "www.iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea.com".to_string()
        )));
    }

    #[test]
    fn unknown_records_are_kept_raw_at_their_arrival_time() {
        let ev = to_indexed(&rec(r#"{"hello":"world"}"#));
        assert!(!ev.parsed);
        assert_eq!(ev.class, "base_event");
        assert_eq!(ev.time_ms, 1_700_000_000_000);
        assert_eq!(ev.record, br#"{"hello":"world"}"#);
    }
}
