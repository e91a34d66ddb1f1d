//! ward's server: the HTTP API, the web page, `/metrics`, and the pipeline behind them.
//!
//! ```text
//!  POST /api/v1/events ──► Ingestor ──► EventLog (durable, group-committed)
//!                                            │
//!                                            ▼
//!                                  DetectionConsumer (Sigma engine, all cores)
//!                                            │  one transaction: detections, incidents,
//!                                            ▼  outbox, consumer offset
//!                                       Store (SQLite | PostgreSQL)
//!                                            │
//!                                            ▼
//!                                  Dispatcher ──► GOV.UK Notify SMS / e-mail, log
//! ```
//!
//! [`start`] runs all of it on one node and returns once it is listening.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ward_server::ServerError> {
//! let cfg = ward_config::Config::default();
//! let server = ward_server::start(cfg).await?;
//! println!("listening on http://{}", server.addr);
//! server.shutdown().await;
//! # Ok(()) }
//! ```

pub mod advisory_chase;
pub mod advisory_escalation;
pub mod api;
pub mod auth;
pub mod channel_config;
pub mod error;
pub mod escalation;
pub mod intake;
pub mod intel;
pub mod intel_feeds;
pub mod pipeline;
pub mod scan;
pub mod search;
pub mod state;
pub mod syslog;
pub mod taxii;
pub mod vulns;
pub mod web;
pub mod web_search;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::sync::watch;
use ward_alerting::{ChannelSet, Dispatcher, DispatcherConfig, IncidentGrouper, IncidentPolicy};
use ward_channels::notify::{NotifyClient, NotifyConfig, NotifyEmail, NotifySms};
use ward_config::Config;
use ward_detect::{Engine, EngineConfig};
use ward_eventlog::{EmbeddedLog, EventLog, JetStreamLog, JetStreamOptions, LogOptions};
use ward_ingest::{Ingestor, Limits};
use ward_model::clock::now_ms;
use ward_model::Role;
use ward_storage::Store;
use ward_telemetry::Registry;

use crate::pipeline::DetectionConsumer;
use crate::state::{AppState, Inner};

/// ward's own rules, compiled into the binary (`rules/builtin/`).
pub const BUILTIN_RULES: &[(&str, &str)] = &[
    (
        "builtin/wannacry_process.yml",
        include_str!("../../../rules/builtin/wannacry_process.yml"),
    ),
    (
        "builtin/shadow_copy_deletion.yml",
        include_str!("../../../rules/builtin/shadow_copy_deletion.yml"),
    ),
    (
        "builtin/icacls_grant_everyone.yml",
        include_str!("../../../rules/builtin/icacls_grant_everyone.yml"),
    ),
    (
        "builtin/wannacry_encrypted_files.yml",
        include_str!("../../../rules/builtin/wannacry_encrypted_files.yml"),
    ),
    (
        "builtin/eternalblue_network.yml",
        include_str!("../../../rules/builtin/eternalblue_network.yml"),
    ),
];

/// File in the data directory holding the first central analyst's token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Log(#[from] ward_eventlog::LogError),
    #[error(transparent)]
    Store(#[from] ward_storage::StoreError),
    #[error(transparent)]
    Channel(#[from] ward_channels::ChannelError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A server that is up. Dropping it does not stop it; call [`RunningServer::shutdown`].
pub struct RunningServer {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// The first central analyst's token, when this start created it.
    pub admin_token: Option<String>,
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    engine: LogEngine,
}

/// The concrete event log behind `AppState::log`, for what only that engine does (closing,
/// the embedded engine's retention).
#[derive(Clone)]
enum LogEngine {
    Embedded(Arc<EmbeddedLog>),
    JetStream(Arc<JetStreamLog>),
}

impl LogEngine {
    async fn open(cfg: &Config) -> Result<LogEngine, ServerError> {
        match cfg.eventlog.engine.as_str() {
            "jetstream" => {
                let opts = JetStreamOptions {
                    url: cfg.eventlog.nats_url.clone(),
                    stream: cfg.eventlog.nats_stream.clone(),
                    subject: cfg.eventlog.nats_subject.clone(),
                    max_age: Duration::from_secs(cfg.eventlog.retention_max_age_secs),
                    max_bytes: match cfg.eventlog.retention_max_bytes {
                        0 => -1,
                        n => i64::try_from(n).unwrap_or(i64::MAX),
                    },
                    replicas: cfg.eventlog.nats_replicas.max(1) as usize,
                    ..JetStreamOptions::default()
                };
                Ok(LogEngine::JetStream(Arc::new(
                    JetStreamLog::connect(opts).await?,
                )))
            }
            _ => Ok(LogEngine::Embedded(Arc::new(EmbeddedLog::open(
                &cfg.eventlog_dir(),
                LogOptions {
                    segment_bytes: cfg.eventlog.segment_bytes,
                    ..LogOptions::default()
                },
            )?))),
        }
    }

    fn log(&self) -> Arc<dyn EventLog> {
        match self {
            LogEngine::Embedded(l) => l.clone(),
            LogEngine::JetStream(l) => l.clone(),
        }
    }

    fn close(&self) {
        match self {
            LogEngine::Embedded(l) => l.close(),
            LogEngine::JetStream(l) => l.close(),
        }
    }
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, lets the pipeline finish its current step, and closes the log.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.state.store.close().await;
        self.state.search_index.close().await;
        self.engine.close();
    }

    /// Runs until `signal` completes, then shuts down.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
}

fn load_rules(cfg: &Config) -> (Engine, Vec<String>) {
    let mut sources: Vec<(String, String)> = Vec::new();
    if cfg.detection.builtin_rules {
        sources.extend(
            BUILTIN_RULES
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string())),
        );
    }
    let mut errors = Vec::new();
    if let Some(dir) = &cfg.detection.rules_dir {
        let files = collect_rule_files(dir);
        if files.is_empty() {
            errors.push(format!(
                "{}: no .yml or .yaml rule files found",
                dir.display()
            ));
        }
        for path in files {
            match std::fs::read_to_string(&path) {
                Ok(text) => sources.push((path.display().to_string(), text)),
                Err(e) => errors.push(format!("{}: {e}", path.display())),
            }
        }
    }
    let mut engine_cfg = EngineConfig {
        placeholders: cfg.detection.placeholders.clone().into_iter().collect(),
        ..EngineConfig::default()
    };
    if let Some(path) = &cfg.detection.logsources_file {
        match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                ward_detect::LogsourceConfig::from_yaml(&text).map_err(|e| e.to_string())
            }) {
            Ok(map) => engine_cfg.logsources = Some(map),
            Err(e) => errors.push(format!(
                "{}: logsource mapping not loaded, using the shipped one: {e}",
                path.display()
            )),
        }
    }
    let report = Engine::from_sources(&sources, &engine_cfg);
    errors.extend(report.errors.iter().map(|e| e.to_string()));
    for e in &errors {
        tracing::warn!(error = %e, "rule not loaded");
    }
    tracing::info!(
        loaded = report.loaded,
        refused = errors.len(),
        "rules loaded"
    );
    (report.engine, errors)
}

fn collect_rule_files(path: &std::path::Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn channels(cfg: &Config) -> Result<(ChannelSet, Option<NotifyClient>), ServerError> {
    if cfg.notify.provider != "govuk_notify" {
        return Ok((ChannelSet::log_only(), None));
    }
    let need = |v: &Option<String>, name: &str| {
        v.clone().ok_or_else(|| {
            ServerError::Config(format!(
                "notify.provider = \"govuk_notify\" needs notify.{name}"
            ))
        })
    };
    let config = NotifyConfig::new(
        need(&cfg.notify.api_key, "api_key")?,
        need(&cfg.notify.sms_template_id, "sms_template_id")?,
        need(&cfg.notify.email_template_id, "email_template_id")?,
    )
    .with_base_url(cfg.notify.base_url.clone());
    let client = NotifyClient::new(config)?;
    let uncertain = client.clone();
    let channels = ChannelSet {
        sms: Arc::new(NotifySms(client.clone())),
        email: Arc::new(NotifyEmail(client.clone())),
        webhook: None,
        mark_uncertain: Some(Arc::new(move |reference: &str| {
            uncertain.mark_uncertain(reference)
        })),
    };
    Ok((channels, Some(client)))
}

async fn bootstrap_admin(
    store: &Store,
    data_dir: &std::path::Path,
) -> Result<Option<String>, ServerError> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let (_, token) = store
        .create_user("admin", "admin@localhost", Role::CentralAnalyst, None)
        .await?;
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    write_private(&path, &token).map_err(|source| ServerError::Write {
        path: path.clone(),
        source,
    })?;
    tracing::info!(path = %path.display(), "created the first central analyst; token written");
    Ok(Some(token))
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

/// The federation's pseudonymisation secret: read from the configured file, or created (256
/// random bits, hex) in the data directory at first start.
fn pseudonymiser(
    cfg: &Config,
) -> Result<Option<Arc<ward_pseudonymise::Pseudonymiser>>, ServerError> {
    if !cfg.pseudonymise.enabled {
        return Ok(None);
    }
    let path = cfg
        .pseudonymise
        .secret_file
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("pseudonymise.key"));
    if !path.exists() {
        if cfg.pseudonymise.secret_file.is_some() {
            return Err(ServerError::Config(format!(
                "pseudonymise.secret_file {} does not exist",
                path.display()
            )));
        }
        let secret = rand_secret()?;
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        write_private(&path, &hex).map_err(|source| ServerError::Write {
            path: path.clone(),
            source,
        })?;
    }
    let text = std::fs::read_to_string(&path).map_err(|source| ServerError::Write {
        path: path.clone(),
        source,
    })?;
    let secret = text.trim().as_bytes().to_vec();
    let p = ward_pseudonymise::Pseudonymiser::new(&secret, &ward_pseudonymise::Config::default())
        .map_err(|e| {
        ServerError::Config(format!(
            "pseudonymisation secret in {}: {e}",
            path.display()
        ))
    })?;
    Ok(Some(Arc::new(p)))
}

/// 256 bits from the operating system's CSPRNG.
fn rand_secret() -> Result<[u8; 32], ServerError> {
    use rand::RngCore;
    let mut buf = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut buf).map_err(|e| {
        ServerError::Config(format!(
            "the operating system gave no random bytes for the pseudonymisation secret: {e}"
        ))
    })?;
    Ok(buf)
}

/// Starts everything and returns once the HTTP listener is bound.
pub async fn start(cfg: Config) -> Result<RunningServer, ServerError> {
    let data_dir = cfg.data_dir.clone();
    std::fs::create_dir_all(&data_dir).map_err(|source| ServerError::DataDir {
        path: data_dir.clone(),
        source,
    })?;
    let log_engine = LogEngine::open(&cfg).await?;
    let log = log_engine.log();
    let store = Store::connect(&cfg.database_url(), cfg.database.max_connections).await?;
    let admin_token = bootstrap_admin(&store, &data_dir).await?;
    let search_url = cfg.search_database_url();
    let search_index = if search_url == cfg.database_url() {
        store.clone()
    } else {
        Store::connect(&search_url, cfg.database.max_connections).await?
    };
    let (engine, rule_errors) = if cfg.detection.enabled {
        let cfg2 = cfg.clone();
        tokio::task::spawn_blocking(move || load_rules(&cfg2))
            .await
            .map_err(|e| ServerError::Config(format!("rule loading failed: {e}")))?
    } else {
        (
            Engine::from_sources(&[], &EngineConfig::default()).engine,
            Vec::new(),
        )
    };
    let engine = Arc::new(engine);
    let registry = Arc::new(Registry::default());
    register_log_gauges(&registry, log.clone());
    let ingestor = Ingestor::new(
        log.clone(),
        Limits {
            max_event_bytes: cfg.ingest.max_event_bytes as usize,
            max_decompressed_bytes: cfg.ingest.max_decompressed_bytes,
            ..Limits::default()
        },
        cfg.ingest.max_body_bytes,
        cfg.ingest.max_in_flight_bytes,
        registry.clone(),
    );
    let ingestor = match pseudonymiser(&cfg)? {
        Some(p) => ingestor.with_pseudonymiser(p),
        None => ingestor,
    };
    let listener = tokio::net::TcpListener::bind(&cfg.http.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: cfg.http.listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: cfg.http.listen.clone(),
        source,
    })?;
    let public_url = cfg
        .http
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let (mut channel_set, notify_client) = channels(&cfg)?;
    channel_config::configure(&cfg, &mut channel_set)?;
    let dispatcher = Dispatcher::new(
        store.clone(),
        channel_set,
        DispatcherConfig {
            poll_interval: Duration::from_millis(cfg.notify.poll_interval_ms.max(10)),
            max_attempts: cfg.notify.max_attempts.max(1),
            ..DispatcherConfig::default()
        },
        registry.clone(),
    );
    let wake = dispatcher.waker();
    let incident_policy = IncidentPolicy {
        local_window_ms: cfg.incidents.local_window_secs as i64 * 1000,
        national_window_ms: cfg.incidents.national_window_secs as i64 * 1000,
        national_min_orgs: cfg.incidents.national_min_orgs,
        public_url: public_url.clone(),
    };
    let scan_hub = scan::ScanHub::new(
        store.clone(),
        &cfg,
        incident_policy.clone(),
        registry.clone(),
    );
    store.interrupt_unfinished_scan_runs(now_ms()).await?;
    scan_hub.vulns.reload().await?;
    let intel = Arc::new(intel::IntelRuntime::new(cfg.intel.clone(), &registry));
    taxii::ensure_collections(&store).await?;
    // Everything stored so far goes into the matcher before events are checked; it was
    // retro-hunted when it arrived.
    intel.refresh(&store).await?;
    let intel_publisher = intel::Publisher {
        store: store.clone(),
        runtime: intel.clone(),
        retro: Arc::new(intel::LogScan { log: log.clone() }),
        grouper: Arc::new(IncidentGrouper::new(incident_policy.clone())),
        dispatcher_wake: wake.clone(),
    };
    let state = AppState::new(Inner {
        cfg: cfg.clone(),
        store: store.clone(),
        search_index: search_index.clone(),
        log: log.clone(),
        ingestor,
        registry: registry.clone(),
        engine: engine.clone(),
        rule_errors,
        public_url: public_url.clone(),
        started_at_ms: now_ms(),
        intake: Default::default(),
        scan: scan_hub.clone(),
        intel: intel.clone(),
        intel_publisher,
    });

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(dispatcher.run(shutdown_rx.clone())));
    if let Some(client) = notify_client {
        let acks = ward_alerting::SmsAcks {
            store: store.clone(),
            client,
            interval: Duration::from_millis(cfg.notify.inbound_poll_ms.max(100)),
            registry: registry.clone(),
        };
        tasks.push(tokio::spawn(acks.run(shutdown_rx.clone())));
    }
    if cfg.escalation.enabled {
        let escalator = escalation::escalator(&cfg, store.clone(), registry.clone(), &public_url)?
            .with_dispatcher_wake(wake.clone());
        tasks.push(tokio::spawn(escalator.run(shutdown_rx.clone())));
    }
    tasks.push(tokio::spawn(
        advisory_chase::AdvisoryChase::new(
            &cfg.advisories,
            store.clone(),
            registry.clone(),
            public_url.clone(),
        )
        .run(shutdown_rx.clone()),
    ));
    if cfg.detection.enabled {
        let consumer = DetectionConsumer {
            store: store.clone(),
            log: log.clone(),
            engine,
            grouper: IncidentGrouper::new(incident_policy),
            batch_events: cfg.detection.batch_events,
            dispatcher_wake: wake,
            registry: registry.clone(),
            intel: cfg.intel.live_matching.then(|| intel.clone()),
        };
        tasks.push(tokio::spawn(consumer.run(shutdown_rx.clone())));
    }
    if cfg.search.enabled {
        let index: Arc<dyn ward_storage::EventIndex> = Arc::new(search_index.clone());
        let consumer = search::IndexConsumer {
            index: index.clone(),
            log: log.clone(),
            batch_events: cfg.search.batch_events,
            registry: registry.clone(),
        };
        tasks.push(tokio::spawn(consumer.run(shutdown_rx.clone())));
        tasks.push(tokio::spawn(search::prune_loop(
            index,
            store.clone(),
            cfg.clone(),
            registry.clone(),
            shutdown_rx.clone(),
        )));
    }
    tasks.push(tokio::spawn(intel_feeds::scheduler(
        state.clone(),
        shutdown_rx.clone(),
    )));
    tasks.push(tokio::spawn(intel_feeds::refresher(
        state.clone(),
        shutdown_rx.clone(),
    )));
    // JetStream applies its own retention (the stream's max_age and max_bytes).
    if let LogEngine::Embedded(embedded) = &log_engine {
        tasks.push(tokio::spawn(retention(
            embedded.clone(),
            cfg.clone(),
            shutdown_rx.clone(),
        )));
    }
    match syslog::start(&cfg, state.clone(), shutdown_rx.clone()).await {
        Ok(Some(t)) => tasks.push(t),
        Ok(None) => {}
        Err(e) => {
            let _ = shutdown_tx.send(true);
            return Err(e);
        }
    }
    if cfg.scan.enabled {
        tasks.push(tokio::spawn(
            scan_hub.clone().scheduler(shutdown_rx.clone()),
        ));
    }
    tasks.push(tokio::spawn(
        scan_hub.vulns.clone().poller(shutdown_rx.clone()),
    ));

    let app = Router::new()
        .merge(api::router())
        .route("/", get(web::index))
        .route("/login", get(web::login_get).post(web::login_post))
        .route("/incidents/{id}", get(web::incident_page))
        .route("/search", get(web_search::search_page))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .nest_service("/taxii2", taxii::service(state.clone()))
        .with_state(state.clone());
    let mut http_shutdown = shutdown_rx.clone();
    tasks.push(tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = http_shutdown.wait_for(|stop| *stop).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP server failed");
        }
    }));
    tracing::info!(%addr, database = store.backend_name(), eventlog = %cfg.eventlog.engine, "ward is listening");
    Ok(RunningServer {
        addr,
        data_dir,
        admin_token,
        state,
        shutdown: shutdown_tx,
        tasks,
        engine: log_engine,
    })
}

async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.registry.render() + &state.intake.render_prometheus(),
    )
}

fn register_log_gauges(registry: &Registry, log: Arc<dyn EventLog>) {
    let l = log.clone();
    registry.gauge_fn(
        "ward_eventlog_committed_offset",
        "Events durably stored so far",
        &[],
        move || l.stats().committed_offset as f64,
    );
    let l = log.clone();
    registry.gauge_fn(
        "ward_eventlog_bytes",
        "Bytes of the event log on disk (or in the JetStream stream)",
        &[],
        move || l.stats().bytes_on_disk as f64,
    );
    let l = log.clone();
    registry.gauge_fn(
        "ward_eventlog_syncs",
        "fdatasync calls (group commits)",
        &[],
        move || l.stats().syncs as f64,
    );
    registry.gauge_fn(
        "ward_eventlog_retention_deleted_records",
        "Events removed by retention",
        &[],
        move || log.stats().records_deleted_by_retention as f64,
    );
}

async fn retention(log: Arc<EmbeddedLog>, cfg: Config, mut shutdown: watch::Receiver<bool>) {
    let max_age = Duration::from_secs(cfg.eventlog.retention_max_age_secs);
    let max_bytes = cfg.eventlog.retention_max_bytes;
    loop {
        let l = log.clone();
        match tokio::task::spawn_blocking(move || l.apply_retention(max_age, max_bytes)).await {
            Ok(Err(e)) => tracing::error!(error = %e, "retention pass failed"),
            Err(e) => tracing::error!(error = %e, "retention task failed"),
            Ok(Ok(_)) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
