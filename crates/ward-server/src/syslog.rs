//! The syslog listeners inside `ward serve`: configured by `[syslog]`, members identified by the
//! log sources registered in the store, records written through the same [`ward_ingest::Ingestor`]
//! as HTTP (pseudonymiser, admission control, durable log), counted on `/metrics`.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use ward_config::{Config, SyslogConfig};
use ward_event::Event;
use ward_ingest::{Encoding, IngestError};
use ward_model::clock::now_ms;
use ward_storage::{LogSource, SourceKind, Store};
use ward_syslog::{
    Backpressure, CertIdentity, Cidr, ListenerConfig, OrgResolver, RateLimit, StaticResolver,
    SyslogSink, TlsListenerConfig,
};

use crate::intake::{encode_events, ndjson_bodies};
use crate::state::AppState;
use crate::ServerError;

/// Largest NDJSON body the sink hands the ingestor at once.
const SINK_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The listeners that are up, for `/metrics`, the web page and the status of intake.
pub struct Listening {
    pub metrics: Arc<ward_syslog::Metrics>,
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    pub tls: Option<SocketAddr>,
}

/// Intake state shared through [`AppState`]: set once the listeners are bound.
#[derive(Default)]
pub struct Intake {
    listening: OnceLock<Listening>,
    /// Woken by the sources API so a registration applies at once on this node; other nodes
    /// see it at their next `sources_refresh_ms` check.
    sources_changed: tokio::sync::Notify,
}

impl Intake {
    /// Tell the resolver that log sources were added or removed.
    pub fn sources_changed(&self) {
        self.sources_changed.notify_one();
    }

    pub fn listening(&self) -> Option<&Listening> {
        self.listening.get()
    }

    /// The syslog counters in Prometheus text, empty when no listener runs.
    pub fn render_prometheus(&self) -> String {
        self.listening
            .get()
            .map(|l| l.metrics.render_prometheus())
            .unwrap_or_default()
    }
}

/// Hands parsed syslog records to the ingestor as JSON records stamped with the member.
pub struct IngestSink {
    state: AppState,
}

#[async_trait::async_trait]
impl SyslogSink for IngestSink {
    async fn submit(&self, org: &str, records: Vec<Event>) -> Result<(), Backpressure> {
        // Serialising a thousand events is CPU work: off the async workers.
        let max_event = self.state.cfg.ingest.max_event_bytes as usize;
        let (records, encoded, oversize) = match tokio::task::spawn_blocking(move || {
            let encoded = encode_events(&records);
            // One record over the ingest limit would refuse its whole body: it is dropped
            // alone, counted, and its neighbours are stored.
            let before = records.len();
            let (records, encoded): (Vec<Event>, Vec<Vec<u8>>) = records
                .into_iter()
                .zip(encoded)
                .filter(|(_, e)| e.len() <= max_event)
                .unzip();
            let oversize = (before - records.len()) as u64;
            (records, encoded, oversize)
        })
        .await
        {
            Ok(x) => x,
            Err(e) => {
                // Nothing to hand back: the records were in the panicked task.
                tracing::error!(error = %e, org, "syslog record encoding failed");
                return Ok(());
            }
        };
        if oversize > 0 {
            self.state
                .registry
                .counter(
                    "ward_ingest_records_refused_total",
                    "Records not stored, by door and reason",
                    &[("source", "syslog"), ("reason", "event_too_large")],
                )
                .add(oversize);
        }
        let mut done = 0usize;
        for (body, n) in ndjson_bodies(
            &encoded,
            SINK_BODY_BYTES.min(self.state.ingestor.max_body_bytes() as usize),
        ) {
            match self
                .state
                .ingestor
                .ingest_from("syslog", org, now_ms(), body, Encoding::Identity)
                .await
            {
                Ok(_) => done += n,
                Err(IngestError::Overloaded { .. } | IngestError::LogUnavailable(_)) => {
                    // Only what is not yet durable goes back, so a retry stores nothing twice.
                    let mut records = records;
                    return Err(Backpressure {
                        records: records.split_off(done),
                    });
                }
                Err(e) => {
                    // Counted by the ingestor under source="syslog" and the error's code.
                    tracing::warn!(error = %e, org, records = n, "syslog records refused at ingest");
                    done += n;
                }
            }
        }
        Ok(())
    }
}

/// Maps certificates and addresses to members from the store's log sources, re-read when they
/// change so registrations apply without a restart.
pub struct StoreResolver {
    current: RwLock<Arc<StaticResolver>>,
}

impl StoreResolver {
    fn snapshot(&self) -> Arc<StaticResolver> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn replace(&self, r: StaticResolver) {
        let mut g = match self.current.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = Arc::new(r);
    }
}

impl OrgResolver for StoreResolver {
    fn org_for_cert(&self, cert: &CertIdentity) -> Option<String> {
        self.snapshot().org_for_cert(cert)
    }
    fn org_for_addr(&self, ip: IpAddr) -> Option<String> {
        self.snapshot().org_for_addr(ip)
    }
}

/// A resolver over `sources`; a stored network that no longer parses is skipped, logged.
pub fn resolver_from(sources: &[LogSource]) -> StaticResolver {
    let mut r = StaticResolver::new();
    for s in sources {
        let org = s.org_code.as_str();
        r = match s.kind {
            SourceKind::CertFingerprint => r.with_fingerprint(&s.value, org),
            SourceKind::CertCn => r.with_common_name(&s.value, org),
            SourceKind::Network => match s.value.parse::<Cidr>() {
                Ok(net) => r.with_network(net, org),
                Err(e) => {
                    tracing::warn!(id = s.id, error = %e, "log source skipped");
                    r
                }
            },
        };
    }
    r
}

async fn refresh_sources(
    state: AppState,
    store: Store,
    resolver: Arc<StoreResolver>,
    every: Duration,
    mut seen: (i64, i64),
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = state.intake.sources_changed.notified() => {}
            _ = shutdown.changed() => return,
        }
        let version = match store.log_sources_version().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check log sources; keeping the last ones");
                continue;
            }
        };
        if version == seen {
            continue;
        }
        match store.list_log_sources(None).await {
            Ok(sources) => {
                resolver.replace(resolver_from(&sources));
                seen = version;
                tracing::info!(sources = sources.len(), "log sources reloaded");
            }
            Err(e) => tracing::warn!(error = %e, "cannot read log sources; keeping the last ones"),
        }
    }
}

fn addr(what: &str, s: &Option<String>) -> Result<Option<SocketAddr>, ServerError> {
    s.as_deref()
        .map(|a| {
            a.parse::<SocketAddr>().map_err(|e| {
                ServerError::Config(format!(
                    "syslog.{what} = {a:?} is not an address like 0.0.0.0:514: {e}"
                ))
            })
        })
        .transpose()
}

fn read_pem(what: &str, path: &std::path::Path) -> Result<String, ServerError> {
    std::fs::read_to_string(path)
        .map_err(|e| ServerError::Config(format!("syslog.{what} {}: {e}", path.display())))
}

fn listener_config(cfg: &SyslogConfig) -> Result<ListenerConfig, ServerError> {
    let tls = match addr("tls_listen", &cfg.tls_listen)? {
        None => None,
        Some(tls_addr) => {
            let need = |what: &str, p: &Option<std::path::PathBuf>| {
                p.clone().ok_or_else(|| {
                    ServerError::Config(format!("syslog.tls_listen needs syslog.{what}"))
                })
            };
            Some(TlsListenerConfig {
                addr: tls_addr,
                cert_chain_pem: read_pem(
                    "tls_cert_file",
                    &need("tls_cert_file", &cfg.tls_cert_file)?,
                )?,
                key_pem: read_pem("tls_key_file", &need("tls_key_file", &cfg.tls_key_file)?)?,
                client_ca_pem: cfg
                    .tls_client_ca_file
                    .as_deref()
                    .map(|p| read_pem("tls_client_ca_file", p))
                    .transpose()?,
                require_client_cert: cfg.tls_require_client_cert,
                handshake_timeout_secs: 10,
            })
        }
    };
    Ok(ListenerConfig {
        udp: addr("udp_listen", &cfg.udp_listen)?,
        tcp: addr("tcp_listen", &cfg.tcp_listen)?,
        tls,
        max_message_bytes: cfg.max_message_bytes as usize,
        rate_limit: RateLimit {
            messages_per_sec: cfg.rate_per_member,
            burst: cfg.burst_per_member,
        },
        backpressure_wait_ms: cfg.backpressure_wait_ms,
        max_connections: cfg.max_connections.clamp(1, 1 << 20) as usize,
        ..ListenerConfig::default()
    })
}

/// Binds the configured listeners (none when no address is set) and returns the task that
/// stops them at shutdown.
pub async fn start(
    cfg: &Config,
    state: AppState,
    shutdown: watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>, ServerError> {
    let s = &cfg.syslog;
    if s.udp_listen.is_none() && s.tcp_listen.is_none() && s.tls_listen.is_none() {
        return Ok(None);
    }
    let lcfg = listener_config(s)?;
    let store = state.store.clone();
    let version = store.log_sources_version().await?;
    let sources = store.list_log_sources(None).await?;
    let resolver = Arc::new(StoreResolver {
        current: RwLock::new(Arc::new(resolver_from(&sources))),
    });
    let sink = Arc::new(IngestSink {
        state: state.clone(),
    });
    let running = ward_syslog::start(lcfg, sink, resolver.clone())
        .await
        .map_err(|e| ServerError::Config(format!("syslog listeners: {e}")))?;
    tracing::info!(
        udp = ?running.udp_addr,
        tcp = ?running.tcp_addr,
        tls = ?running.tls_addr,
        sources = sources.len(),
        "syslog listeners up"
    );
    let _ = state.intake.listening.set(Listening {
        metrics: running.metrics.clone(),
        udp: running.udp_addr,
        tcp: running.tcp_addr,
        tls: running.tls_addr,
    });
    let refresh = tokio::spawn(refresh_sources(
        state.clone(),
        store,
        resolver,
        Duration::from_millis(s.sources_refresh_ms.max(50)),
        version,
        shutdown.clone(),
    ));
    let mut stop = shutdown;
    Ok(Some(tokio::spawn(async move {
        let _ = stop.wait_for(|s| *s).await;
        running.shutdown().await;
        let _ = refresh.await;
    })))
}
