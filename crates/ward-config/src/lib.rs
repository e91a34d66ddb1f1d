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
    pub pseudonymise: PseudonymiseConfig,
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
            pseudonymise: PseudonymiseConfig::default(),
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
    pub segment_bytes: u64,
    /// Closed segments older than this are deleted. 0 keeps them forever.
    pub retention_max_age_secs: u64,
    /// Oldest closed segments are deleted while the log is larger than this. 0 means no limit.
    pub retention_max_bytes: u64,
}

impl Default for EventLogConfig {
    fn default() -> Self {
        EventLogConfig {
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
    }

    #[test]
    fn database_url_defaults_to_sqlite_in_data_dir() {
        let cfg = Config::default();
        assert!(cfg
            .database_url()
            .starts_with("sqlite://./ward-data/ward.db"));
    }
}
