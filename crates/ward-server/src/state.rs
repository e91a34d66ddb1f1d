use std::ops::Deref;
use std::sync::Arc;

use ward_config::Config;
use ward_detect::Engine;
use ward_eventlog::EventLog;
use ward_ingest::Ingestor;
use ward_storage::Store;
use ward_telemetry::Registry;

/// Everything a request handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub cfg: Config,
    pub store: Store,
    /// The event search index: its own database on SQLite, the state's on PostgreSQL.
    pub search_index: Store,
    /// The durable event log: the embedded engine or JetStream (`eventlog.engine`).
    pub log: Arc<dyn EventLog>,
    pub ingestor: Ingestor,
    pub registry: Arc<Registry>,
    pub engine: Arc<Engine>,
    pub rule_errors: Vec<String>,
    pub public_url: String,
    pub started_at_ms: i64,
    /// Syslog listeners, once bound.
    pub intake: crate::syslog::Intake,
    /// The scanner, its runs and schedules, and the estate's vulnerability matching.
    pub scan: Arc<crate::scan::ScanHub>,
    pub intel: Arc<crate::intel::IntelRuntime>,
    pub intel_publisher: crate::intel::Publisher,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        AppState(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
