use std::ops::Deref;
use std::sync::Arc;

use ward_config::Config;
use ward_detect::Engine;
use ward_eventlog::EmbeddedLog;
use ward_ingest::Ingestor;
use ward_storage::Store;
use ward_telemetry::Registry;

/// Everything a request handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub cfg: Config,
    pub store: Store,
    pub log: Arc<EmbeddedLog>,
    pub ingestor: Ingestor,
    pub registry: Arc<Registry>,
    pub engine: Arc<Engine>,
    pub rule_errors: Vec<String>,
    pub public_url: String,
    pub started_at_ms: i64,
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
