//! Wiring of the escalation engine: the acknowledgement-link key and the engine's task.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ward_alerting::acklink::AckSigner;
use ward_alerting::{EscalationConfig, Escalator};
use ward_config::Config;
use ward_storage::Store;
use ward_telemetry::Registry;

use crate::ServerError;

/// File in the data directory holding the key that signs acknowledgement links.
pub const ACK_KEY_FILE: &str = "ack-link.key";

/// The signer for this data directory; the key is read (or created) once per directory, so
/// links stay valid across restarts and several servers in one test process do not mix keys.
pub fn signer(cfg: &Config) -> Result<Arc<AckSigner>, ServerError> {
    static SIGNERS: OnceLock<Mutex<HashMap<PathBuf, Arc<AckSigner>>>> = OnceLock::new();
    let path = cfg.data_dir.join(ACK_KEY_FILE);
    let mut cache = SIGNERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(s) = cache.get(&path) {
        return Ok(s.clone());
    }
    let s = Arc::new(
        AckSigner::load_or_create(&path).map_err(|source| ServerError::Write {
            path: path.clone(),
            source,
        })?,
    );
    cache.insert(path, s.clone());
    Ok(s)
}

/// The engine as configured, ready to run.
pub fn escalator(
    cfg: &Config,
    store: Store,
    registry: Arc<Registry>,
    public_url: &str,
) -> Result<Escalator, ServerError> {
    let e = &cfg.escalation;
    Ok(Escalator::new(
        store,
        EscalationConfig {
            tick: Duration::from_millis(e.tick_ms.max(10)),
            public_url: public_url.to_string(),
            link_ttl_ms: e.ack_link_ttl_secs as i64 * 1000,
            delivery_deadline_ms: e.delivery_deadline_secs as i64 * 1000,
            ..EscalationConfig::default()
        },
        signer(cfg)?,
        registry,
    ))
}
