//! ward's configuration: one typed [`Config`], read from `ward.toml` and `WARD_…` variables.
//!
//! Precedence, lowest first: built-in defaults, the file, then environment variables. A nested
//! key is addressed with a double underscore: `http.listen` is `WARD_HTTP__LISTEN`,
//! `database.url` is `WARD_DATABASE__URL`. Unknown keys in the file are errors, so a typo never
//! silently leaves a default in force.
//!
//! ```
//! let cfg = ward_config::Config::load(None, std::iter::empty()).unwrap();
//! assert_eq!(cfg.http.listen, "127.0.0.1:8080");
//! assert_eq!(cfg.data_dir, std::path::PathBuf::from("./ward-data"));
//! ```

use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The commented `ward.toml` that `ward init` writes. Kept beside the structs it documents and
/// tested to parse to exactly [`Config::default`].
pub const TEMPLATE: &str = include_str!("ward.toml");

/// Environment variables with the `WARD_` prefix that are not configuration keys: they
/// configure the CLI itself and must not trip `deny_unknown_fields`.
const NON_CONFIG_ENV: &[&str] = &[
    "token",
    "url",
    "config",
    "log",
    "python",
    "shared_data",
    "venv",
    "bless",
];

/// Prefixes of `WARD_…` variables that belong to the test suite, never to a server.
const NON_CONFIG_ENV_PREFIXES: &[&str] = &["test_"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration error: {0}")]
    Invalid(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} already exists; refusing to overwrite it")]
    Exists { path: PathBuf },
}

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        // figment's message names the key and the source (file or env var) that was wrong.
        ConfigError::Invalid(e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Schema version of this file; lets later releases migrate old files.
    pub version: u32,
    /// Where the event log, the SQLite database and the admin token live.
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub eventlog: EventLogConfig,
    pub ingest: IngestConfig,
    pub detection: DetectionConfig,
    pub incidents: IncidentConfig,
    pub notify: NotifyConfig,
    pub escalation: EscalationConfig,
    pub smtp: SmtpConfig,
    pub webhooks: WebhooksConfig,
    pub pseudonymise: PseudonymiseConfig,
    pub advisories: AdvisoryConfig,
    pub syslog: SyslogConfig,
    pub scan: ScanConfig,
    pub vulns: VulnsConfig,
    pub intel: IntelConfig,
    pub search: SearchConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: 1,
            data_dir: PathBuf::from("./ward-data"),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            eventlog: EventLogConfig::default(),
            ingest: IngestConfig::default(),
            detection: DetectionConfig::default(),
            incidents: IncidentConfig::default(),
            notify: NotifyConfig::default(),
            escalation: EscalationConfig::default(),
            smtp: SmtpConfig::default(),
            webhooks: WebhooksConfig::default(),
            pseudonymise: PseudonymiseConfig::default(),
            advisories: AdvisoryConfig::default(),
            syslog: SyslogConfig::default(),
            scan: ScanConfig::default(),
            vulns: VulnsConfig::default(),
            intel: IntelConfig::default(),
            search: SearchConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: String,
    /// The address people and member systems use to reach this server (for links in messages).
    pub public_url: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`. Empty means SQLite at `<data_dir>/ward.db`.
    pub url: String,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            max_connections: 8,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventLogConfig {
    /// `embedded` (files in the data directory) or `jetstream` (a NATS JetStream stream,
    /// shared by several ward nodes).
    pub engine: String,
    pub segment_bytes: u64,
    /// Closed segments older than this are deleted. 0 keeps them forever.
    pub retention_max_age_secs: u64,
    /// Oldest closed segments are deleted while the log is larger than this. 0 means no limit.
    pub retention_max_bytes: u64,
    /// The NATS server, for `engine = "jetstream"`.
    pub nats_url: String,
    pub nats_stream: String,
    pub nats_subject: String,
    /// Copies kept by a JetStream cluster.
    pub nats_replicas: u32,
}

impl Default for EventLogConfig {
    fn default() -> Self {
        EventLogConfig {
            engine: "embedded".into(),
            nats_url: "nats://127.0.0.1:4222".into(),
            nats_stream: "WARD_EVENTS".into(),
            nats_subject: "ward.events".into(),
            nats_replicas: 1,
            segment_bytes: 128 * 1024 * 1024,
            retention_max_age_secs: 30 * 86_400,
            retention_max_bytes: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest request body accepted, before decompression.
    pub max_body_bytes: u64,
    /// Largest body after gzip decompression (guards against decompression bombs).
    pub max_decompressed_bytes: u64,
    /// Largest single event (one NDJSON line).
    pub max_event_bytes: u64,
    /// Bytes of accepted-but-not-yet-durable batches held in memory; beyond it senders get 429.
    pub max_in_flight_bytes: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_body_bytes: 16 * 1024 * 1024,
            max_decompressed_bytes: 64 * 1024 * 1024,
            max_event_bytes: 1024 * 1024,
            max_in_flight_bytes: 256 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectionConfig {
    pub enabled: bool,
    /// Extra Sigma rules (a directory or a file) loaded beside ward's built-in rules.
    pub rules_dir: Option<PathBuf>,
    /// Load ward's built-in rules (the outbreak rules the demo uses).
    pub builtin_rules: bool,
    /// Events taken from the log per detection transaction.
    pub batch_events: usize,
    /// Replaces the shipped logsource mapping (which events each rule's logsource sees,
    /// and field names between Sysmon, Security 4688 and shipper layouts).
    pub logsources_file: Option<PathBuf>,
    /// Values of `%name%` placeholders for the `expand` modifier, e.g.
    /// `domain_controllers = ["DC01", "DC02"]`.
    pub placeholders: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            enabled: true,
            rules_dir: None,
            builtin_rules: true,
            batch_events: 2048,
            logsources_file: None,
            placeholders: std::collections::BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentConfig {
    /// Detections of one rule on one host of one organisation join an open incident if it saw
    /// a detection within this window.
    pub local_window_secs: u64,
    /// The same rule at `national_min_orgs` organisations within this window opens a national
    /// incident linking them.
    pub national_window_secs: u64,
    pub national_min_orgs: usize,
}

impl Default for IncidentConfig {
    fn default() -> Self {
        IncidentConfig {
            local_window_secs: 3600,
            national_window_secs: 600,
            national_min_orgs: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// `log` (default: messages are written to the server log) or `govuk_notify`.
    pub provider: String,
    /// GOV.UK Notify API key, `{key_name}-{service_id}-{secret}`.
    pub api_key: Option<String>,
    pub base_url: String,
    pub sms_template_id: Option<String>,
    pub email_template_id: Option<String>,
    /// How often the dispatcher looks for due messages when nothing woke it.
    pub poll_interval_ms: u64,
    pub max_attempts: u32,
    /// How often received texts are read for `ACK INC-…` replies (GOV.UK Notify only).
    pub inbound_poll_ms: u64,
    /// `notify` (default: e-mail through the provider above) or `smtp` (through `[smtp]`).
    pub email_via: String,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            provider: "log".into(),
            api_key: None,
            base_url: "https://api.notifications.service.gov.uk".into(),
            sms_template_id: None,
            email_template_id: None,
            poll_interval_ms: 1000,
            max_attempts: 8,
            inbound_poll_ms: 30_000,
            email_via: "notify".into(),
        }
    }
}

/// Chasing unacknowledged incidents (see `ward_alerting::escalation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationConfig {
    pub enabled: bool,
    /// How often due escalation steps are looked for.
    pub tick_ms: u64,
    /// How long the signed acknowledgement link in a message stays valid.
    pub ack_link_ttl_secs: u64,
    /// A chase message not delivered this long after it was written fails over to the
    /// contact's next channel; 0 fails over only when it fails.
    pub delivery_deadline_secs: u64,
    /// Bearer token GOV.UK Notify presents on its callbacks; callbacks are refused without one.
    pub callback_token: Option<String>,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        EscalationConfig {
            enabled: true,
            tick_ms: 1000,
            ack_link_ttl_secs: 86_400,
            delivery_deadline_secs: 900,
            callback_token: None,
        }
    }
}

/// An SMTP relay for e-mail (used when `notify.email_via = "smtp"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: Option<String>,
    pub port: u16,
    /// `starttls` (required, never falls back), `tls` (implicit, port 465) or `none`
    /// (loopback relays only).
    pub security: String,
    /// `From:` mailbox, e.g. `ward alerts <alerts@ward.example>`.
    pub from: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// PEM file of an extra CA to trust (an internal relay's).
    pub ca_file: Option<PathBuf>,
    pub pool_size: u32,
    pub timeout_ms: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: None,
            port: 587,
            security: "starttls".into(),
            from: "ward alerts <alerts@ward.invalid>".into(),
            username: None,
            password: None,
            ca_file: None,
            pool_size: 4,
            timeout_ms: 15_000,
        }
    }
}

/// Contacts' webhooks (URL, format and secret are per contact).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    pub enabled: bool,
    pub timeout_ms: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            enabled: true,
            timeout_ms: 10_000,
        }
    }
}

/// Patient identifiers (NHS numbers, postcodes, dates of birth, e-mail addresses and phone
/// numbers) are replaced by keyed tokens before anything is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PseudonymiseConfig {
    pub enabled: bool,
    /// File holding the federation's secret (hex). Default: `<data_dir>/pseudonymise.key`,
    /// created at first start. Every node of a federation must share it for tokens to match.
    pub secret_file: Option<PathBuf>,
}

impl Default for PseudonymiseConfig {
    fn default() -> Self {
        PseudonymiseConfig {
            enabled: true,
            secret_file: None,
        }
    }
}

/// Deadlines for members' answers to advisories (High Severity Alerts) and how often ward
/// chases them. Fractions are allowed (drills and tests use seconds: 0.001 hours is 3.6 s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdvisoryConfig {
    /// Time to acknowledge and say whether an advisory applies, from publication.
    pub ack_hours: f64,
    /// Longest gap between updates while remediation is under way.
    pub update_days: f64,
    /// Time to remediate and close, from publication.
    pub remediation_days: f64,
    /// How often due and overdue steps are looked for and chased.
    pub chase_interval_ms: u64,
}

impl Default for AdvisoryConfig {
    fn default() -> Self {
        AdvisoryConfig {
            ack_hours: 48.0,
            update_days: 3.0,
            remediation_days: 14.0,
            chase_interval_ms: 60_000,
        }
    }
}

/// The authorised weakness scanner run by the server (`ward scan run`, scheduled scans).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    pub enabled: bool,
    /// Scans running at once; further runs wait (queued) for a slot.
    pub max_concurrent_runs: usize,
    /// Connection attempts per second, all scans of this server together.
    pub global_rate_per_sec: u32,
    /// Per member, all its scans together (a scope's own max rate applies too; lower wins).
    pub rate_per_member: u32,
    /// Per target address.
    pub rate_per_target: u32,
    /// Timeout of each step of the service checks.
    pub probe_timeout_ms: u64,
    /// How often scheduled scans and expired risk acceptances are looked for.
    pub scheduler_tick_ms: u64,
    /// How often a running scan's progress is published (API and `ward scan run`).
    pub progress_interval_ms: u64,
    /// Ports the service checks run on when open.
    pub smb_ports: Vec<u16>,
    pub rdp_ports: Vec<u16>,
    pub tls_ports: Vec<u16>,
    pub http_ports: Vec<u16>,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            enabled: true,
            max_concurrent_runs: 2,
            global_rate_per_sec: 2000,
            rate_per_member: 1000,
            rate_per_target: 500,
            probe_timeout_ms: 5000,
            scheduler_tick_ms: 5000,
            progress_interval_ms: 250,
            smb_ports: vec![445],
            rdp_ports: vec![3389],
            tls_ports: vec![443, 8443, 636, 993, 995, 465, 5986, 9443, 4443, 7443, 10250],
            http_ports: vec![80, 8080, 8000, 8008, 8081, 8888, 9000, 9090, 7001, 8161],
        }
    }
}

/// Syslog listeners (RFC 5426 UDP, RFC 6587 TCP, RFC 5425 TLS). All off by default; each runs
/// when its address is set. Senders are identified by the log sources registered per member
/// (`ward source add`): a client certificate on TLS, else the source network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    /// UDP address, e.g. "0.0.0.0:514".
    pub udp_listen: Option<String>,
    /// Plain TCP address (octet-counted and LF-terminated framing both accepted).
    pub tcp_listen: Option<String>,
    /// TLS address, e.g. "0.0.0.0:6514"; needs tls_cert_file and tls_key_file.
    pub tls_listen: Option<String>,
    /// Server certificate chain (PEM).
    pub tls_cert_file: Option<PathBuf>,
    /// Server private key (PEM).
    pub tls_key_file: Option<PathBuf>,
    /// CA that issues members' client certificates (PEM). Without it no client certificate is
    /// asked for and TLS senders are identified by source network.
    pub tls_client_ca_file: Option<PathBuf>,
    /// Refuse TLS clients without a certificate (when a client CA is set).
    pub tls_require_client_cert: bool,
    /// Largest message accepted, in bytes (RFC 5425 requires at least 2048).
    pub max_message_bytes: u64,
    /// Sustained messages per second allowed per member.
    pub rate_per_member: f64,
    /// Burst allowance per member, in messages.
    pub burst_per_member: f64,
    /// Most simultaneous TCP and TLS connections.
    pub max_connections: u64,
    /// How long a full pipeline may hold a batch before it is dropped, counted.
    pub backpressure_wait_ms: u64,
    /// How often the registered log sources are checked for changes.
    pub sources_refresh_ms: u64,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            udp_listen: None,
            tcp_listen: None,
            tls_listen: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            tls_require_client_cert: true,
            max_message_bytes: 65536,
            rate_per_member: 50000.0,
            burst_per_member: 200000.0,
            max_connections: 10000,
            backpressure_wait_ms: 5000,
            sources_refresh_ms: 2000,
        }
    }
}

/// Vulnerability feeds matched against members' estates. Each feed can also be pushed with
/// `ward estate pull FEED PATH_OR_URL`; a URL configured here is pulled by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VulnsConfig {
    /// CISA KEV catalogue URL, e.g.
    /// https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json
    pub kev_url: Option<String>,
    /// How often the KEV URL is pulled; a new entry yields a draft alert after the next pull.
    pub kev_interval_secs: u64,
    /// How often the feed scheduler wakes up to see whether a pull is due.
    pub tick_ms: u64,
}

impl Default for VulnsConfig {
    fn default() -> Self {
        VulnsConfig {
            kev_url: None,
            kev_interval_secs: 3600,
            tick_ms: 10_000,
        }
    }
}

/// Threat intelligence: indicator matching, retro-hunt, feeds and the TAXII 2.1 server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntelConfig {
    /// Check every event's observables against the indicators as it arrives.
    pub live_matching: bool,
    /// When indicators arrive, search this many days of past events for them (0 = off).
    pub retro_hunt_days: u32,
    /// How often the server picks up indicators added by other nodes or feeds (ms).
    pub refresh_ms: u64,
    /// How often the feed scheduler looks for due connectors (seconds).
    pub scheduler_secs: u64,
    /// Directory of extra MISP warninglists (`list.json` files, e.g. a clone of
    /// MISP/misp-warninglists/lists); the shipped lists are always loaded.
    pub warninglists_dir: Option<PathBuf>,
    /// Owner recorded for indicators central analysts publish.
    pub national_org: String,
    /// Largest TAXII page.
    pub taxii_max_page: usize,
}

impl Default for IntelConfig {
    fn default() -> Self {
        IntelConfig {
            live_matching: true,
            retro_hunt_days: 30,
            refresh_ms: 2000,
            scheduler_secs: 30,
            warninglists_dir: None,
            national_org: "NATIONAL".into(),
            taxii_max_page: 1000,
        }
    }
}

/// The event search index: events by organisation and time, observables by value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Index every stored event (needed by `ward search`, the search page and retro-hunts).
    pub enabled: bool,
    /// Events taken from the log per index transaction.
    pub batch_events: usize,
    /// Days an event stays searchable, for organisations without their own setting.
    pub retention_days: u32,
    /// Per-organisation retention in days, by ODS code (overrides `retention_days`).
    pub retention_days_by_org: std::collections::BTreeMap<String, u32>,
    /// How often the index is pruned to the retention, in seconds.
    pub prune_interval_secs: u64,
    /// Most candidate records one free-text search reads before answering with a cursor.
    pub text_scan_limit: usize,
    /// Where the index lives. Empty: its own SQLite file `<data_dir>/search.db` when the state
    /// is on SQLite (so indexing never holds the write lock that alerting needs), the state's
    /// own database when that is PostgreSQL.
    pub database_url: String,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            enabled: true,
            batch_events: 2048,
            retention_days: 90,
            retention_days_by_org: std::collections::BTreeMap::new(),
            prune_interval_secs: 3600,
            text_scan_limit: 50_000,
            database_url: String::new(),
        }
    }
}

impl Config {
    /// Loads defaults, then `file` if given (it must exist), then `WARD_…` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "configuration file {} does not exist (run `ward init` to write one)",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        let vars: Vec<(String, String)> = env
            .into_iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("WARD_")?.to_ascii_lowercase();
                let ours = !NON_CONFIG_ENV.contains(&key.as_str())
                    && !NON_CONFIG_ENV_PREFIXES.iter().any(|p| key.starts_with(p));
                ours.then_some((key, v))
            })
            .collect();
        // The pairs are passed in rather than read by figment's `Env` so tests and the CLI can
        // supply their own environment.
        for (key, value) in vars {
            let path = key.replace("__", ".");
            let parsed: figment::value::Value = parse_env_value(&value);
            fig = fig.merge((path, parsed));
        }
        let cfg: Config = fig.extract()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Loads from the process environment.
    pub fn load_from_process(file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load(file, std::env::vars())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.version != 1 {
            return Err(ConfigError::Invalid(format!(
                "version = {} is not supported; this ward reads version 1",
                self.version
            )));
        }
        if !matches!(self.notify.provider.as_str(), "log" | "govuk_notify") {
            return Err(ConfigError::Invalid(format!(
                "notify.provider = {:?}; expected \"log\" or \"govuk_notify\"",
                self.notify.provider
            )));
        }
        if !matches!(self.eventlog.engine.as_str(), "embedded" | "jetstream") {
            return Err(ConfigError::Invalid(format!(
                "eventlog.engine = {:?}; expected \"embedded\" or \"jetstream\"",
                self.eventlog.engine
            )));
        }
        match self.notify.email_via.as_str() {
            "notify" => {}
            "smtp" if self.smtp.host.is_some() => {}
            "smtp" => {
                return Err(ConfigError::Invalid(
                    "notify.email_via = \"smtp\" needs smtp.host".into(),
                ))
            }
            other => {
                return Err(ConfigError::Invalid(format!(
                    "notify.email_via = {other:?}; expected \"notify\" or \"smtp\""
                )))
            }
        }
        if !matches!(self.smtp.security.as_str(), "starttls" | "tls" | "none") {
            return Err(ConfigError::Invalid(format!(
                "smtp.security = {:?}; expected \"starttls\", \"tls\" or \"none\"",
                self.smtp.security
            )));
        }
        if self.notify.provider == "govuk_notify" && self.notify.api_key.is_none() {
            return Err(ConfigError::Invalid(
                "notify.provider = \"govuk_notify\" needs notify.api_key".into(),
            ));
        }
        if self.incidents.national_min_orgs < 2 {
            return Err(ConfigError::Invalid(
                "incidents.national_min_orgs must be at least 2".into(),
            ));
        }
        let a = &self.advisories;
        for (name, v) in [
            ("ack_hours", a.ack_hours),
            ("update_days", a.update_days),
            ("remediation_days", a.remediation_days),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(ConfigError::Invalid(format!(
                    "advisories.{name} = {v}; it must be a positive number"
                )));
            }
        }
        if self.syslog.max_message_bytes < 2048 {
            return Err(ConfigError::Invalid(
                "syslog.max_message_bytes must be at least 2048 (RFC 5425)".into(),
            ));
        }
        if self.syslog.tls_listen.is_some()
            && (self.syslog.tls_cert_file.is_none() || self.syslog.tls_key_file.is_none())
        {
            return Err(ConfigError::Invalid(
                "syslog.tls_listen needs syslog.tls_cert_file and syslog.tls_key_file".into(),
            ));
        }
        if !(self.syslog.rate_per_member > 0.0 && self.syslog.burst_per_member >= 1.0) {
            return Err(ConfigError::Invalid(
                "syslog.rate_per_member must be above 0 and syslog.burst_per_member at least 1"
                    .into(),
            ));
        }
        if self.detection.batch_events == 0 {
            return Err(ConfigError::Invalid(
                "detection.batch_events must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The database URL in force: the configured one, or SQLite inside the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("ward.db").display()
            )
        } else {
            self.database.url.clone()
        }
    }

    /// The search index's database URL in force (see [`SearchConfig::database_url`]).
    pub fn search_database_url(&self) -> String {
        if !self.search.database_url.is_empty() {
            return self.search.database_url.clone();
        }
        let main = self.database_url();
        if main.starts_with("sqlite:") {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("search.db").display()
            )
        } else {
            main
        }
    }

    pub fn eventlog_dir(&self) -> PathBuf {
        self.data_dir.join("eventlog")
    }

    /// Writes the commented template to `path`, refusing to overwrite an existing file.
    pub fn write_template(path: &Path) -> Result<(), ConfigError> {
        if path.exists() {
            return Err(ConfigError::Exists {
                path: path.to_path_buf(),
            });
        }
        std::fs::write(path, TEMPLATE).map_err(|source| ConfigError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Environment values are strings; read them as TOML scalars so `WARD_DETECTION__ENABLED=false`
/// is a boolean and `WARD_HTTP__LISTEN=0.0.0.0:80` stays a string.
fn parse_env_value(raw: &str) -> figment::value::Value {
    let doc = format!("v = {raw}");
    if let Ok(table) = doc.parse::<toml::Table>() {
        if let Some(v) = table.get("v") {
            if let Ok(value) = figment::value::Value::serialize(v) {
                return value;
            }
        }
    }
    figment::value::Value::from(raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn template_parses_to_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ward.toml");
        Config::write_template(&path).unwrap();
        let cfg = Config::load(Some(&path), env(&[])).unwrap();
        assert_eq!(cfg, Config::default());
        assert!(matches!(
            Config::write_template(&path),
            Err(ConfigError::Exists { .. })
        ));
    }

    #[test]
    fn environment_overrides_file_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ward.toml");
        std::fs::write(&path, "[http]\nlisten = \"127.0.0.1:9000\"\n").unwrap();
        let cfg = Config::load(
            Some(&path),
            env(&[
                ("WARD_DETECTION__ENABLED", "false"),
                ("WARD_INCIDENTS__NATIONAL_MIN_ORGS", "5"),
                ("WARD_DATA_DIR", "/tmp/x"),
                ("WARD_TOKEN", "not-config"),
                ("WARD_TEST_POSTGRES_URL", "postgres://x"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.http.listen, "127.0.0.1:9000");
        assert!(!cfg.detection.enabled);
        assert_eq!(cfg.incidents.national_min_orgs, 5);
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/x"));
        let cfg = Config::load(Some(&path), env(&[("WARD_HTTP__LISTEN", "0.0.0.0:80")])).unwrap();
        assert_eq!(cfg.http.listen, "0.0.0.0:80");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ward.toml");
        std::fs::write(&path, "[http]\nlisten_addr = \"x\"\n").unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(err.contains("listen_addr"), "{err}");
        let err = Config::load(None, env(&[("WARD_NOTIFY__PROVIDER", "pigeon")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("pigeon"), "{err}");
        let err = Config::load(None, env(&[("WARD_EVENTLOG__SEGMENT_BYTES", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("segment_bytes"), "{err}");
        let err = Config::load(None, env(&[("WARD_EVENTLOG__ENGINE", "kafka")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("eventlog.engine") && err.contains("kafka"),
            "{err}"
        );
    }

    #[test]
    fn database_url_defaults_to_sqlite_in_data_dir() {
        let cfg = Config::default();
        assert!(cfg
            .database_url()
            .starts_with("sqlite://./ward-data/ward.db"));
    }
}
