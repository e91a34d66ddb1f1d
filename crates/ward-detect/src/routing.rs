//! Logsource routing: which Sigma logsources an event belongs to, and the
//! field-name mapping between layouts (Sysmon / Security 4688 / ECS).
//!
//! The mapping is data: [`LogsourceConfig::default`] is `data/logsources.yml`
//! shipped in the crate; users load their own with
//! [`LogsourceConfig::from_yaml`]. See `docs/detection.md` for the table.
//!
//! Besides the configured sources, an event may name its logsource
//! explicitly with `logsource.product` / `logsource.service` /
//! `logsource.category` fields (a top-level `"logsource": {...}` object),
//! which is how collectors that already know what they send (syslog, auditd,
//! a proxy) route without a config change.

use std::collections::HashMap;

use crate::event::{texts, Flat};
use crate::yaml::{self, Node, Value as Y};

/// A Sigma logsource triple; `None` = not specified.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Logsource {
    pub product: Option<String>,
    pub service: Option<String>,
    pub category: Option<String>,
}

impl Logsource {
    /// Does a rule with logsource `self` accept events of source `src`?
    pub fn accepts(&self, src: &Logsource) -> bool {
        fn ok(rule: &Option<String>, src: &Option<String>) -> bool {
            match (rule, src) {
                (None, _) => true,
                (Some(r), Some(s)) => r.eq_ignore_ascii_case(s),
                (Some(_), None) => false,
            }
        }
        ok(&self.product, &src.product)
            && ok(&self.service, &src.service)
            && ok(&self.category, &src.category)
    }

    pub fn is_empty(&self) -> bool {
        self.product.is_none() && self.service.is_none() && self.category.is_none()
    }
}

impl std::fmt::Display for Logsource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "product={} service={} category={}",
            self.product.as_deref().unwrap_or("*"),
            self.service.as_deref().unwrap_or("*"),
            self.category.as_deref().unwrap_or("*")
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) enum When {
    Present,
    OneOf(Vec<String>),
}

/// One configured source.
#[derive(Debug, Clone)]
pub struct Source {
    pub logsource: Logsource,
    pub(crate) when: Vec<(String, When)>,
    /// Sigma field name -> the event's name for it.
    pub fields: Vec<(String, String)>,
}

/// The routing configuration.
#[derive(Debug, Clone)]
pub struct LogsourceConfig {
    pub sources: Vec<Source>,
    /// Sigma field name -> alternative names, tried in order.
    pub field_aliases: Vec<(String, Vec<String>)>,
    by_channel: HashMap<String, Vec<usize>>,
    generic: Vec<usize>,
}

/// A configuration error, with its line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ConfigError {
    pub line: usize,
    pub message: String,
}

const DEFAULT_YAML: &str = include_str!("../data/logsources.yml");

impl Default for LogsourceConfig {
    fn default() -> Self {
        // The shipped file is tested (`default_config_parses`); fall back to
        // an empty configuration rather than panic if it were ever broken.
        Self::from_yaml(DEFAULT_YAML).unwrap_or_else(|_| LogsourceConfig {
            sources: Vec::new(),
            field_aliases: Vec::new(),
            by_channel: HashMap::new(),
            generic: Vec::new(),
        })
    }
}

fn cerr(line: usize, m: impl Into<String>) -> ConfigError {
    ConfigError {
        line,
        message: m.into(),
    }
}

fn scalar_list(n: &Node) -> Result<Vec<String>, ConfigError> {
    match &n.value {
        Y::Seq(items) => items
            .iter()
            .map(|i| {
                i.as_scalar_string()
                    .ok_or_else(|| cerr(i.line, "expected a scalar"))
            })
            .collect(),
        _ => Ok(vec![n
            .as_scalar_string()
            .ok_or_else(|| cerr(n.line, "expected a scalar or list"))?]),
    }
}

impl LogsourceConfig {
    /// The default configuration's YAML text (to print or copy and edit).
    pub fn default_yaml() -> &'static str {
        DEFAULT_YAML
    }

    /// Parse a routing configuration.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let docs = yaml::parse_documents(text).map_err(|e| cerr(e.line, e.message))?;
        let root = docs
            .first()
            .ok_or_else(|| cerr(1, "empty logsource configuration"))?;
        let map = root
            .as_map()
            .ok_or_else(|| cerr(root.line, "expected a mapping at top level"))?;
        let mut sources = Vec::new();
        let mut field_aliases = Vec::new();
        for (k, v) in map {
            match k.as_str() {
                Some("version") => {
                    if v.value != Y::Int(1) {
                        return Err(cerr(v.line, "unsupported version (expected 1)"));
                    }
                }
                Some("field_aliases") => {
                    let m = v
                        .as_map()
                        .ok_or_else(|| cerr(v.line, "field_aliases must be a mapping"))?;
                    for (fk, fv) in m {
                        let name = fk
                            .as_scalar_string()
                            .ok_or_else(|| cerr(fk.line, "expected a field name"))?;
                        field_aliases.push((name, scalar_list(fv)?));
                    }
                }
                Some("sources") => {
                    let Y::Seq(items) = &v.value else {
                        return Err(cerr(v.line, "sources must be a list"));
                    };
                    for it in items {
                        sources.push(parse_source(it)?);
                    }
                }
                _ => {
                    return Err(cerr(
                        k.line,
                        format!("unknown key {:?}", k.as_scalar_string().unwrap_or_default()),
                    ))
                }
            }
        }
        let mut by_channel: HashMap<String, Vec<usize>> = HashMap::new();
        let mut generic = Vec::new();
        for (i, s) in sources.iter().enumerate() {
            match s.when.iter().find(|(f, _)| f == "Channel") {
                Some((_, When::OneOf(chans))) => {
                    for c in chans {
                        by_channel.entry(c.clone()).or_default().push(i);
                    }
                }
                _ => generic.push(i),
            }
        }
        Ok(LogsourceConfig {
            sources,
            field_aliases,
            by_channel,
            generic,
        })
    }

    /// The indices of the sources an event belongs to.
    pub fn route(&self, flat: &Flat<'_>, out: &mut Vec<usize>) {
        out.clear();
        if let Some(ch) = flat.get("Channel").and_then(serde_json::Value::as_str) {
            let lower = ch.to_lowercase();
            if let Some(idx) = self.by_channel.get(&lower) {
                for &i in idx {
                    if self.sources[i].matches(flat) {
                        out.push(i);
                    }
                }
            }
        }
        for &i in &self.generic {
            if self.sources[i].matches(flat) {
                out.push(i);
            }
        }
    }
}

impl Source {
    fn matches(&self, flat: &Flat<'_>) -> bool {
        self.when.iter().all(|(field, w)| {
            let Some(v) = flat.get(field) else {
                return false;
            };
            match w {
                When::Present => !v.is_null(),
                When::OneOf(vals) => texts(v)
                    .iter()
                    .any(|t| vals.iter().any(|x| x.eq_ignore_ascii_case(t))),
            }
        })
    }
}

fn parse_source(n: &Node) -> Result<Source, ConfigError> {
    let m = n
        .as_map()
        .ok_or_else(|| cerr(n.line, "a source must be a mapping"))?;
    let mut ls = Logsource::default();
    let mut when = Vec::new();
    let mut fields = Vec::new();
    for (k, v) in m {
        match k.as_str() {
            Some("product") => ls.product = v.as_scalar_string(),
            Some("service") => ls.service = v.as_scalar_string(),
            Some("category") => ls.category = v.as_scalar_string(),
            Some("when") => {
                let wm = v
                    .as_map()
                    .ok_or_else(|| cerr(v.line, "when must be a mapping"))?;
                for (wk, wv) in wm {
                    let f = wk
                        .as_scalar_string()
                        .ok_or_else(|| cerr(wk.line, "expected a field name"))?;
                    let vals = scalar_list(wv)?;
                    let w = if vals.len() == 1 && vals[0] == "*" {
                        When::Present
                    } else {
                        When::OneOf(vals.into_iter().map(|s| s.to_lowercase()).collect())
                    };
                    when.push((f, w));
                }
            }
            Some("fields") => {
                let fm = v
                    .as_map()
                    .ok_or_else(|| cerr(v.line, "fields must be a mapping"))?;
                for (fk, fv) in fm {
                    let a = fk
                        .as_scalar_string()
                        .ok_or_else(|| cerr(fk.line, "expected a field name"))?;
                    let b = fv
                        .as_scalar_string()
                        .ok_or_else(|| cerr(fv.line, "expected a field name"))?;
                    fields.push((a, b));
                }
            }
            _ => {
                return Err(cerr(
                    k.line,
                    format!(
                        "unknown source key {:?}",
                        k.as_scalar_string().unwrap_or_default()
                    ),
                ))
            }
        }
    }
    if ls.is_empty() {
        return Err(cerr(
            n.line,
            "a source needs a product, service or category",
        ));
    }
    if when.is_empty() {
        return Err(cerr(n.line, "a source needs at least one 'when' condition"));
    }
    Ok(Source {
        logsource: ls,
        when,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::flatten;
    use serde_json::json;

    #[test]
    fn default_config_parses() {
        let c = LogsourceConfig::from_yaml(DEFAULT_YAML).unwrap();
        assert!(c.sources.len() > 60);
    }

    fn routed(ev: serde_json::Value) -> Vec<Logsource> {
        let c = LogsourceConfig::default();
        let mut out = Vec::new();
        c.route(&flatten(&ev), &mut out);
        out.into_iter()
            .map(|i| c.sources[i].logsource.clone())
            .collect()
    }

    #[test]
    fn sysmon_and_security_process_creation() {
        let r = routed(json!({"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1}));
        let pc = Logsource {
            product: Some("windows".into()),
            service: None,
            category: Some("process_creation".into()),
        };
        assert!(r.iter().any(|s| pc.accepts(s)));
        let r = routed(json!({"Event":{"System":{"Channel":"Security","EventID":4688}}}));
        assert!(r.iter().any(|s| pc.accepts(s)));
        let r = routed(json!({"winlog":{"channel":"Security","event_id":4624}}));
        assert!(!r.iter().any(|s| pc.accepts(s)));
        let sec = Logsource {
            product: Some("windows".into()),
            service: Some("security".into()),
            category: None,
        };
        assert!(r.iter().any(|s| sec.accepts(s)));
    }

    #[test]
    fn non_windows_by_own_fields() {
        let r = routed(json!({"event_type":"alert","src_ip":"1.2.3.4"}));
        assert_eq!(r[0].product.as_deref(), Some("suricata"));
        let r = routed(json!({"_path":"dns","query":"x"}));
        assert_eq!(r[0].category.as_deref(), Some("dns"));
    }

    #[test]
    fn bad_config_names_line() {
        let e = LogsourceConfig::from_yaml("version: 1\nsources:\n  - {product: x}\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(LogsourceConfig::from_yaml("version: 2\n").is_err());
    }
}

/// The routing table compiled against an engine's field ids, so that routing
/// reads the event's field slots instead of searching by name.
#[derive(Debug, Default)]
pub(crate) struct CompiledRouter {
    channel_field: u32,
    by_channel: rustc_hash::FxHashMap<String, Vec<usize>>,
    generic: Vec<usize>,
    /// Per source: (field id, expected values; numbers pre-parsed).
    when: Vec<Vec<(u32, CompiledWhen)>>,
}

#[derive(Debug)]
pub(crate) enum CompiledWhen {
    Present,
    OneOf(Vec<(String, Option<i64>)>),
}

impl CompiledRouter {
    pub(crate) fn new(cfg: &LogsourceConfig, intern: &mut dyn FnMut(&str) -> u32) -> Self {
        let when = cfg
            .sources
            .iter()
            .map(|s| {
                s.when
                    .iter()
                    .map(|(f, w)| {
                        let w = match w {
                            When::Present => CompiledWhen::Present,
                            When::OneOf(v) => CompiledWhen::OneOf(
                                v.iter()
                                    .map(|x| (x.clone(), x.parse::<i64>().ok()))
                                    .collect(),
                            ),
                        };
                        (intern(f), w)
                    })
                    .collect()
            })
            .collect();
        CompiledRouter {
            channel_field: intern("Channel"),
            by_channel: cfg
                .by_channel
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            generic: cfg.generic.clone(),
            when,
        }
    }

    /// Route an event whose fields are read through `get`.
    pub(crate) fn route<'v>(
        &self,
        get: impl Fn(u32) -> Option<&'v serde_json::Value>,
        out: &mut Vec<usize>,
    ) {
        out.clear();
        if let Some(ch) = get(self.channel_field).and_then(serde_json::Value::as_str) {
            let hit = match self.by_channel.get(ch) {
                Some(h) => Some(h),
                None => self.by_channel.get(&ch.to_lowercase()),
            };
            if let Some(idx) = hit {
                for &i in idx {
                    if self.matches(i, &get) {
                        out.push(i);
                    }
                }
            }
        }
        for &i in &self.generic {
            if self.matches(i, &get) {
                out.push(i);
            }
        }
    }

    fn matches<'v>(&self, i: usize, get: &impl Fn(u32) -> Option<&'v serde_json::Value>) -> bool {
        self.when[i].iter().all(|(f, w)| {
            let Some(v) = get(*f) else {
                return false;
            };
            match w {
                CompiledWhen::Present => !v.is_null(),
                CompiledWhen::OneOf(vals) => one_of(v, vals),
            }
        })
    }
}

fn one_of(v: &serde_json::Value, vals: &[(String, Option<i64>)]) -> bool {
    match v {
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => vals.iter().any(|(_, x)| *x == Some(i)),
            None => {
                let t = n.to_string();
                vals.iter().any(|(s, _)| s == &t)
            }
        },
        serde_json::Value::String(t) => vals
            .iter()
            .any(|(s, _)| s.eq_ignore_ascii_case(t) || (!t.is_ascii() && s == &t.to_lowercase())),
        serde_json::Value::Bool(b) => vals
            .iter()
            .any(|(s, _)| s == if *b { "true" } else { "false" }),
        serde_json::Value::Array(a) => a.iter().any(|x| one_of(x, vals)),
        _ => false,
    }
}
