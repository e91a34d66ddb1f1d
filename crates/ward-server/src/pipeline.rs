//! The detection consumer: reads committed events from the log, runs the rules, and commits
//! detections, incidents, outbox messages and its own offset in one transaction.
//!
//! Because the offset moves in the same transaction as everything it caused, a crash at any
//! point replays exactly the uncommitted events: nothing is lost and no incident is opened
//! twice.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use std::collections::HashMap;
use tokio::sync::{watch, Notify};
use ward_alerting::{IncidentGrouper, RuleHit};

use ward_detect::{Correlator, CorrelatorLimits, Engine, FilterSet};
use ward_eventlog::{EventLog, LogReader, LogRecord};
use ward_model::clock::now_ms;
use ward_storage::Store;
use ward_telemetry::Registry;

pub const DETECTION_CONSUMER: &str = "detection";

pub struct DetectionConsumer {
    pub store: Store,
    pub log: Arc<dyn EventLog>,
    pub engine: Arc<Engine>,
    pub grouper: IncidentGrouper,
    pub batch_events: usize,
    pub dispatcher_wake: Arc<Notify>,
    pub registry: Arc<Registry>,
    /// Indicator matching of every event (None: off).
    pub intel: Option<Arc<crate::intel::IntelRuntime>>,
}

/// The host an event is about, from whichever layout it uses.
pub fn event_host(event: &Value) -> Option<String> {
    let candidates: [&[&str]; 8] = [
        &["Computer"],
        &["Event", "System", "Computer"],
        &["winlog", "computer_name"],
        &["host", "name"],
        &["host", "hostname"],
        &["hostname"],
        &["host"],
        &["src_ip"],
    ];
    candidates.iter().find_map(|path| {
        let mut v = event;
        for key in *path {
            v = v.get(key)?;
        }
        v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
    })
}

/// One stored event after the rules ran over it.
struct Evaluated<'a> {
    record: &'a LogRecord,
    event: Value,
    detections: Vec<ward_detect::Detection>,
}

/// Each organisation's compiled meta filters.
type OrgFilters = HashMap<String, FilterSet>;

/// Runs the rules over a batch on all cores, then each organisation's meta filters.
/// CPU-bound: call it off the async runtime.
fn evaluate<'a>(
    engine: &Engine,
    filters: &OrgFilters,
    records: &'a [LogRecord],
    errors: &ward_telemetry::Counter,
    suppressed: &ward_telemetry::Counter,
) -> Vec<Evaluated<'a>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = records.len().div_ceil(threads).max(256);
    let run = |part: &'a [LogRecord]| -> Vec<Evaluated<'a>> {
        let mut out = Vec::with_capacity(part.len());
        for rec in part {
            let event: Value = match serde_json::from_slice(&rec.payload) {
                Ok(v) => v,
                Err(e) => {
                    // Ingest checked every line, so this means the log holds something it
                    // should not: count it loudly rather than stop detection for everyone.
                    tracing::error!(offset = rec.offset, error = %e, "stored event is not JSON");
                    errors.inc();
                    continue;
                }
            };
            let mut detections = engine.evaluate(&event);
            if let Some(fs) = filters.get(&rec.org).filter(|_| !detections.is_empty()) {
                let (kept, dropped) = fs.apply(engine, &event, detections);
                suppressed.add(dropped.len() as u64);
                detections = kept;
            }
            out.push(Evaluated {
                record: rec,
                event,
                detections,
            });
        }
        out
    };
    if records.len() <= chunk {
        return run(records);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = records
            .chunks(chunk)
            .map(|part| s.spawn(move || run(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn hit_from(rec: &LogRecord, org: &str, event: &Value, d: ward_detect::Detection) -> RuleHit {
    let matched: serde_json::Map<String, Value> = d
        .matched_fields
        .iter()
        .map(|m| (m.field.clone(), Value::String(m.value.clone())))
        .collect();
    RuleHit {
        event_offset: rec.offset,
        org: org.to_string(),
        received_at_ms: rec.received_at_ms,
        host: event_host(event),
        event_json: String::from_utf8_lossy(&rec.payload).into_owned(),
        rule_id: d.rule_id,
        rule_title: d.title,
        rule_author: d.author,
        level: level_of(d.level),
        tags: d.tags,
        matched_fields: Value::Object(matched),
    }
}

/// Turns evaluated events into rule hits, in log order, feeding the correlator on the way.
/// Sequential because correlation windows depend on order.
fn collect_hits(
    engine: &Engine,
    evaluated: Vec<Evaluated<'_>>,
    mut correlator: Option<&mut Correlator>,
    intel: Option<&crate::intel::IntelRuntime>,
) -> Vec<RuleHit> {
    let mut out = Vec::new();
    for ev in evaluated {
        if let Some(rt) = intel {
            out.extend(crate::intel::match_event(
                rt,
                ev.record,
                &ev.event,
                event_host(&ev.event),
            ));
        }
        if let Some(c) = correlator.as_deref_mut() {
            let time = ward_detect::event_time_ms(&ev.event).unwrap_or(ev.record.received_at_ms);
            for alert in c.process(&ev.record.org, time, &ev.event, &ev.detections) {
                // A federation-wide correlation concerns every organisation in its window;
                // each gets the hit, and the incident grouper makes it national.
                let orgs = match &alert.org {
                    Some(org) => vec![org.clone()],
                    None => alert.orgs.clone(),
                };
                for org in orgs {
                    out.push(hit_from(
                        ev.record,
                        &org,
                        &ev.event,
                        alert.detection.clone(),
                    ));
                }
            }
        }
        for d in ev.detections {
            // Rules that only feed a correlation are not alerts of their own.
            if engine.generates(&d.rule_id) {
                out.push(hit_from(ev.record, &ev.record.org, &ev.event, d));
            }
        }
    }
    out
}

fn level_of(level: ward_detect::Level) -> ward_model::Level {
    match level {
        ward_detect::Level::Informational => ward_model::Level::Informational,
        ward_detect::Level::Low => ward_model::Level::Low,
        ward_detect::Level::Medium => ward_model::Level::Medium,
        ward_detect::Level::High => ward_model::Level::High,
        ward_detect::Level::Critical => ward_model::Level::Critical,
    }
}

impl DetectionConsumer {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let events = self.registry.counter(
            "ward_detection_events_total",
            "Events evaluated by the detection consumer",
            &[],
        );
        let hits_total = self.registry.counter(
            "ward_detection_hits_total",
            "Rule matches recorded as detections",
            &[],
        );
        let bad_events = self.registry.counter(
            "ward_detection_events_dropped_total",
            "Stored events detection could not read",
            &[("reason", "not_json")],
        );
        let start = match self.store.consumer_offset(DETECTION_CONSUMER).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "detection cannot read its offset; not starting");
                return;
            }
        };
        tracing::info!(
            offset = start,
            rules = self.engine.rule_count(),
            "detection consumer starting"
        );
        let mut reader: Option<Box<dyn LogReader>> = match self.log.reader(start) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(error = %e, "detection cannot open the event log");
                return;
            }
        };
        let mut correlator = self.restore_correlator().await;
        let suppressed = self.registry.counter(
            "ward_detection_suppressed_total",
            "Detections an organisation's meta filters tuned out",
            &[],
        );
        let filter_errors = self.registry.counter(
            "ward_detection_filter_errors_total",
            "Stored meta filters that no longer compile against the loaded rules",
            &[],
        );
        // Correlation state is bounded; what the bounds cost is reported, never hidden.
        let corr_stats: Arc<[std::sync::atomic::AtomicU64; 4]> = Arc::default();
        for (i, (name, help)) in [
            (
                "ward_correlation_groups",
                "Correlation groups held in memory",
            ),
            (
                "ward_correlation_entries",
                "Events held in correlation windows",
            ),
            (
                "ward_correlation_evicted_groups",
                "Correlation groups evicted to respect the memory bound",
            ),
            (
                "ward_correlation_evicted_entries",
                "Correlation window entries evicted to respect the memory bound",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let stats = corr_stats.clone();
            self.registry.gauge_fn(name, help, &[], move || {
                stats[i].load(std::sync::atomic::Ordering::Relaxed) as f64
            });
        }
        let mut filters: Arc<OrgFilters> = Arc::default();
        let mut filters_version = None;
        let mut committed = self.log.subscribe();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let Some(mut r) = reader.take() else { return };
            let batch_events = self.batch_events;
            let engine = self.engine.clone();
            let bad = bad_events.clone();
            // Filters take effect from the next batch after they are added or removed.
            match self.store.filters_version().await {
                Ok(v) if Some(v) != filters_version => {
                    filters = Arc::new(self.load_filters(&filter_errors).await);
                    filters_version = Some(v);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "cannot read meta filters; keeping the last ones")
                }
            }
            let mut corr = correlator.take();
            let batch_filters = filters.clone();
            let sup = suppressed.clone();
            let intel = self.intel.clone();
            let read = tokio::task::spawn_blocking(move || {
                let batch = r.read_batch(batch_events);
                let (hits, state) = match &batch {
                    Ok(records) if !records.is_empty() => {
                        let evaluated = evaluate(&engine, &batch_filters, records, &bad, &sup);
                        let hits =
                            collect_hits(&engine, evaluated, corr.as_mut(), intel.as_deref());
                        let state = corr
                            .as_ref()
                            .and_then(|c| serde_json::to_string(&c.snapshot()).ok());
                        (hits, state)
                    }
                    _ => (Vec::new(), None),
                };
                (r, batch, hits, state, corr)
            })
            .await;
            let (r, batch, hits, state, corr) = match read {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!(error = %e, "detection worker panicked; stopping detection");
                    return;
                }
            };
            let next_offset = r.position();
            reader = Some(r);
            correlator = corr;
            if let Some(c) = &correlator {
                let st = c.stats();
                let values = [
                    st.groups as u64,
                    st.entries as u64,
                    st.evicted_groups,
                    st.evicted_entries,
                ];
                for (slot, v) in corr_stats.iter().zip(values) {
                    slot.store(v, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let records = match batch {
                Ok(records) => records,
                Err(e) => {
                    tracing::error!(error = %e, "detection cannot read the log; retrying in 5 s");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            if records.is_empty() {
                tokio::select! {
                    _ = committed.changed() => {}
                    _ = shutdown.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
                continue;
            }
            match self.commit(&hits, next_offset, state.as_deref()).await {
                Ok(queued) => {
                    events.add(records.len() as u64);
                    hits_total.add(hits.len() as u64);
                    if queued > 0 {
                        self.dispatcher_wake.notify_one();
                    }
                }
                Err(e) => {
                    // Nothing of the batch was committed: read it again from the stored offset,
                    // with the correlation state that goes with that offset.
                    tracing::error!(error = %e, "detection commit failed; retrying the batch");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    correlator = self.restore_correlator().await;
                    match self.store.consumer_offset(DETECTION_CONSUMER).await {
                        Ok(offset) => match self.log.reader(offset) {
                            Ok(r) => reader = Some(r),
                            Err(e) => {
                                tracing::error!(error = %e, "cannot reopen the event log");
                                return;
                            }
                        },
                        Err(e) => tracing::error!(error = %e, "cannot read the detection offset"),
                    }
                }
            }
        }
    }

    async fn load_filters(&self, errors: &ward_telemetry::Counter) -> OrgFilters {
        let stored = match self.store.list_filters(None).await {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "cannot load meta filters");
                return OrgFilters::new();
            }
        };
        let mut by_org: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for f in stored {
            by_org
                .entry(f.org_code.to_string())
                .or_default()
                .push((format!("filter {} ({})", f.id, f.name), f.yaml));
        }
        let engine = self.engine.clone();
        let compiled = tokio::task::spawn_blocking(move || {
            by_org
                .into_iter()
                .map(|(org, sources)| {
                    let (set, errs) = FilterSet::from_sources(&engine, &sources);
                    (org, set, errs)
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let mut out = OrgFilters::new();
        for (org, set, errs) in compiled {
            for e in &errs {
                tracing::error!(org = %org, error = %e, "meta filter does not compile; it is not applied");
            }
            errors.add(errs.len() as u64);
            out.insert(org, set);
        }
        out
    }

    /// The correlator as it was at the committed offset, or a fresh one; none when no rule
    /// is a correlation.
    async fn restore_correlator(&self) -> Option<Correlator> {
        if self.engine.correlations().is_empty() {
            return None;
        }
        let limits = CorrelatorLimits::default();
        let saved = match self.store.consumer_state(DETECTION_CONSUMER).await {
            Ok(saved) => saved,
            Err(e) => {
                tracing::error!(error = %e, "cannot read correlation state; starting empty");
                None
            }
        };
        let restored = saved.and_then(|text| match serde_json::from_str(&text) {
            Ok(state) => match Correlator::restore(self.engine.clone(), limits, state) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "correlation state does not fit the rules; starting empty");
                    None
                }
            },
            Err(e) => {
                tracing::error!(error = %e, "correlation state is unreadable; starting empty");
                None
            }
        });
        Some(restored.unwrap_or_else(|| Correlator::new(self.engine.clone(), limits)))
    }

    async fn commit(
        &self,
        hits: &[RuleHit],
        next_offset: u64,
        correlation_state: Option<&str>,
    ) -> Result<usize, ward_alerting::AlertingError> {
        let mut tx = self.store.begin_detection_tx().await?;
        let now = now_ms();
        let mut queued = 0;
        for hit in hits {
            queued += self.grouper.apply(&mut tx, hit, now).await?.messages_queued;
        }
        if let Some(state) = correlation_state {
            tx.set_consumer_state(DETECTION_CONSUMER, state, now)
                .await?;
        }
        tx.set_consumer_offset(DETECTION_CONSUMER, next_offset, now)
            .await?;
        tx.commit().await?;
        Ok(queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn host_comes_from_any_layout() {
        assert_eq!(event_host(&json!({"Computer": "a"})).as_deref(), Some("a"));
        assert_eq!(
            event_host(&json!({"Event": {"System": {"Computer": "b"}}})).as_deref(),
            Some("b")
        );
        assert_eq!(
            event_host(&json!({"winlog": {"computer_name": "c"}})).as_deref(),
            Some("c")
        );
        assert_eq!(
            event_host(&json!({"host": {"name": "d"}})).as_deref(),
            Some("d")
        );
        assert_eq!(
            event_host(&json!({"src_ip": "10.0.0.1"})).as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(event_host(&json!({"x": 1})), None);
    }
}
