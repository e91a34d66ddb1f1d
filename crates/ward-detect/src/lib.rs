//! ward-detect: a Sigma detection engine.
//!
//! Main types:
//! * [`Engine`] — compiled, immutable, `Send + Sync` rule set; built by
//!   [`Engine::load_dir`] or [`Engine::from_sources`], which return a
//!   [`LoadReport`] holding the engine and every [`RuleLoadError`] (rules are
//!   refused loudly, never silently dropped).
//! * [`Engine::evaluate`] — match one JSON event (flat Sigma names,
//!   evtx_dump `Event.System/EventData`, or Winlogbeat/ECS) against the
//!   rules of its logsource, returning [`Detection`]s.
//! * [`EngineConfig`] — routing on/off, the logsource mapping
//!   ([`LogsourceConfig`]) and `expand` placeholders.
//! * [`Correlator`] — stateful Sigma correlation rules (sliding windows,
//!   bounded per-group state, [`Correlator::snapshot`]/[`Correlator::restore`]).
//! * [`FilterSet`] — one organisation's Sigma meta filters, applied by
//!   [`Engine::evaluate_for_org`].
//! * [`read_evtx`], [`hunt()`] — EVTX reading and offline hunting;
//!   [`check_dir`] for `ward rules check`; [`bench_detect`] for
//!   `ward bench detect`.
//!
//! The design (routing, the required-literal index, correlation state) is
//! written up in `docs/detection.md`.
//!
//! ```
//! use ward_detect::{Engine, EngineConfig, Level};
//! let rule = r#"
//! title: Whoami
//! id: 11111111-2222-3333-4444-555555555555
//! logsource: {product: windows, category: process_creation}
//! detection:
//!   sel: {Image|endswith: '\whoami.exe'}
//!   condition: sel
//! level: high
//! "#;
//! let report = Engine::from_sources(&[("whoami.yml".into(), rule.into())], &EngineConfig::default());
//! assert!(report.errors.is_empty());
//! let ev = serde_json::json!({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1,
//!                             "Image": "C:\\Windows\\System32\\WHOAMI.EXE"});
//! let hits = report.engine.evaluate(&ev);
//! assert_eq!(hits[0].level, Level::High);
//! ```

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;

use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub mod bench;
pub mod condition;
pub mod correlation;
pub mod event;
pub mod evtx;
pub mod filters;
pub mod hunt;
pub mod index;
pub mod legacy;
pub mod pattern;
pub mod routing;
pub mod rule;
pub mod timeparts;
pub mod yaml;

pub use bench::{bench_detect, BenchReport};
pub use correlation::{
    CorrelationAlert, CorrelationRule, CorrelationType, Correlator, CorrelatorLimits,
    CorrelatorState, CorrelatorStats, Scope,
};
pub use evtx::{read_evtx, EvtxReadError, EvtxReader};
pub use filters::{FilterSet, Suppressed};
pub use hunt::{hunt, HuntFormat, HuntHit, HuntProgress, HuntSummary};
pub use routing::{Logsource, LogsourceConfig};
use rule::{CompiledRule, Cond, FieldCond, FieldKind, FieldTable, RefMode, Selection};

/// Severity of a rule, in Sigma's order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        })
    }
}

/// One field that took part in a match, with the event's value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MatchedField {
    pub field: String,
    pub value: String,
}

/// A rule that matched an event.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Detection {
    pub rule_id: String,
    pub title: String,
    /// The rule's author (the Detection Rule License requires it be kept).
    pub author: Option<String>,
    pub level: Level,
    /// Tags as written in the rule (ATT&CK tags are `attack.*`).
    pub tags: Vec<String>,
    pub matched_fields: Vec<MatchedField>,
}

/// Work done for one event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvalStats {
    /// Rules of the event's logsource.
    pub routed: usize,
    /// Of those, rules the index could not rule out (fully evaluated).
    pub candidates: usize,
}

/// A rule that could not be loaded: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub struct RuleLoadError {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// Stable code (e.g. `unknown-modifier`, `bad-condition`).
    pub code: &'static str,
    pub message: String,
}

impl fmt::Display for RuleLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(
                f,
                "{}:{}: [{}] {}",
                self.file.display(),
                l,
                self.code,
                self.message
            ),
            None => write!(
                f,
                "{}: [{}] {}",
                self.file.display(),
                self.code,
                self.message
            ),
        }
    }
}

/// How an [`Engine`] is built.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Route events to the rules of their logsource (on by default). Off,
    /// every rule sees every event.
    pub routing: bool,
    /// The logsource mapping; the shipped default when `None`.
    pub logsources: Option<LogsourceConfig>,
    /// Values for `%name%` placeholders of the `expand` modifier.
    pub placeholders: HashMap<String, Vec<String>>,
    /// Use the rule index (on by default). Off, every routed rule is fully
    /// evaluated — slower, same results; for checking the index.
    pub index: bool,
    /// Load only rules whose logsource product is one of these (e.g.
    /// `["windows"]`); the others are counted in `LoadReport::skipped`.
    pub products: Option<Vec<String>>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            routing: true,
            logsources: None,
            placeholders: HashMap::new(),
            products: None,
            index: true,
        }
    }
}

/// The result of loading rules: the engine plus every refusal.
#[derive(Debug)]
pub struct LoadReport {
    pub engine: Engine,
    pub errors: Vec<RuleLoadError>,
    /// Number of rules loaded.
    pub loaded: usize,
    /// Rules left out by `EngineConfig::products`.
    pub skipped: usize,
}

/// A compiled rule set. Immutable after build; share it with `Arc`.
#[derive(Debug)]
pub struct Engine {
    rules: Vec<CompiledRule>,
    fields: FieldTable,
    lower_ids: FxHashMap<String, u32>,
    routing: bool,
    logsources: LogsourceConfig,
    router: routing::CompiledRouter,
    /// For each configured source, the bitset of rules that accept it.
    rules_by_source: Vec<Vec<u64>>,
    /// Rules with no logsource at all: they see every event.
    unrestricted: Vec<u32>,
    /// Rules no configured source reaches (only events naming their
    /// logsource explicitly reach them).
    unrouted: Vec<u32>,
    /// Per source: (Sigma field id, event field id) aliases.
    source_aliases: Vec<Vec<(u32, u32)>>,
    global_aliases: Vec<(u32, Vec<u32>)>,
    index: index::RuleIndex,
    pub(crate) correlations: Vec<CorrelationRule>,
    /// Canonical rule id → (correlation index, position in its `rules`).
    corr_by_rule: HashMap<String, Vec<(u32, u16)>>,
    /// Rules referenced only by correlations with `generate: false`.
    non_generating: std::collections::HashSet<String>,
}

fn collect_rule_files(dir: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<RuleLoadError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(RuleLoadError {
                file: dir.to_path_buf(),
                line: None,
                code: "io",
                message: format!("cannot read directory: {e}"),
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect_rule_files(&p, out, errors);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
            out.push(p);
        }
    }
}

/// Read every rule file under `dir` (or the file `dir`) as `(path, text)`.
pub(crate) fn collect_sources(
    dir: &Path,
    sources: &mut Vec<(String, String)>,
    errors: &mut Vec<RuleLoadError>,
) {
    let mut files = Vec::new();
    if dir.is_file() {
        files.push(dir.to_path_buf());
    } else {
        collect_rule_files(dir, &mut files, errors);
    }
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(t) => sources.push((f.display().to_string(), t)),
            Err(e) => errors.push(RuleLoadError {
                file: f,
                line: None,
                code: "io",
                message: format!("cannot read file: {e}"),
            }),
        }
    }
}

impl Engine {
    /// Load every `*.yml` / `*.yaml` under `dir` (recursively), or the one
    /// file `dir` names.
    pub fn load_dir(dir: &Path, cfg: &EngineConfig) -> LoadReport {
        let mut errors = Vec::new();
        let mut sources = Vec::new();
        collect_sources(dir, &mut sources, &mut errors);
        let mut report = Self::from_sources(&sources, cfg);
        errors.append(&mut report.errors);
        report.errors = errors;
        report
    }

    /// Load rules from `(name, yaml text)` pairs (e.g. rules embedded in the
    /// binary).
    pub fn from_sources(sources: &[(String, String)], cfg: &EngineConfig) -> LoadReport {
        let mut fields = FieldTable::default();
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        let mut seen_ids: HashMap<String, PathBuf> = HashMap::new();
        let mut skipped = 0;
        let mut pending: Vec<(PathBuf, usize, CorrelationRule)> = Vec::new();
        for (name, text) in sources {
            let file = PathBuf::from(name);
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| name.clone());
            let docs = match yaml::parse_documents(text) {
                Ok(d) => d,
                Err(e) => {
                    errors.push(RuleLoadError {
                        file,
                        line: Some(e.line),
                        code: "yaml-syntax",
                        message: e.message,
                    });
                    continue;
                }
            };
            // Legacy multi-document collections: refused as a whole, once.
            if let Some(a) = docs.iter().find_map(|d| d.get("action")) {
                errors.push(RuleLoadError {
                    file,
                    line: Some(a.line),
                    code: "rule-collection",
                    message: format!(
                        "legacy rule collection (action: {}) of {} documents is not supported; \
                         split it into standalone rules",
                        a.as_scalar_string().unwrap_or_default(),
                        docs.len()
                    ),
                });
                continue;
            }
            for (i, doc) in docs.iter().enumerate() {
                let fallback = if docs.len() > 1 {
                    format!("{stem}#{i}")
                } else {
                    stem.clone()
                };
                // Legacy `| count() by … > n` aggregations become a base rule
                // plus a correlation (or are refused, saying why).
                let translated_base;
                let doc = match legacy::translate(doc, &fallback) {
                    None => doc,
                    Some(Err(e)) => {
                        errors.push(RuleLoadError {
                            file: file.clone(),
                            line: Some(e.line),
                            code: e.code,
                            message: e.message,
                        });
                        continue;
                    }
                    Some(Ok(t)) => {
                        pending.push((file.clone(), doc.line, t.correlation));
                        translated_base = t.base;
                        &translated_base
                    }
                };
                if doc.get("correlation").is_some() {
                    match correlation::compile_correlation(doc, &fallback) {
                        Ok(c) => pending.push((file.clone(), doc.line, c)),
                        Err(e) => errors.push(RuleLoadError {
                            file: file.clone(),
                            line: Some(e.line),
                            code: e.code,
                            message: e.message,
                        }),
                    }
                    continue;
                }
                match compile_document(doc, &fallback, &mut fields, cfg) {
                    Ok(r) if !product_wanted(&r, cfg) => skipped += 1,
                    Ok(r) => {
                        if let Some(prev) = seen_ids.get(&r.meta.id) {
                            errors.push(RuleLoadError {
                                file: file.clone(),
                                line: doc.get("id").map(|n| n.line),
                                code: "duplicate-id",
                                message: format!(
                                    "rule id {} is already used by {}",
                                    r.meta.id,
                                    prev.display()
                                ),
                            });
                            continue;
                        }
                        seen_ids.insert(r.meta.id.clone(), file.clone());
                        rules.push(r);
                    }
                    Err(e) => errors.push(RuleLoadError {
                        file: file.clone(),
                        line: if e.line == 0 { None } else { Some(e.line) },
                        code: e.code,
                        message: e.message,
                    }),
                }
            }
        }
        let correlations = resolve_correlations(&rules, pending, &mut seen_ids, &mut errors);
        for c in &correlations {
            for f in c.group_by.iter().chain(c.field.iter()) {
                fields.intern(f);
            }
            for (_, per_rule) in &c.aliases {
                for (_, f) in per_rule {
                    fields.intern(f);
                }
            }
        }
        let loaded = rules.len() + correlations.len();
        let mut engine = Engine::build(rules, fields, cfg);
        engine.set_correlations(correlations);
        LoadReport {
            engine,
            errors,
            loaded,
            skipped,
        }
    }

    fn build(rules: Vec<CompiledRule>, mut fields: FieldTable, cfg: &EngineConfig) -> Engine {
        let logsources = cfg.logsources.clone().unwrap_or_default();
        let mut rules_by_source = vec![Vec::new(); logsources.sources.len()];
        let mut unrestricted = Vec::new();
        let mut unrouted = Vec::new();
        for (ri, r) in rules.iter().enumerate() {
            let ls = &r.meta.logsource;
            if ls.is_empty() {
                unrestricted.push(ri as u32);
                continue;
            }
            let mut any = false;
            for (si, s) in logsources.sources.iter().enumerate() {
                if ls.accepts(&s.logsource) {
                    rules_by_source[si].push(ri as u32);
                    any = true;
                }
            }
            if !any {
                unrouted.push(ri as u32);
            }
        }
        let source_aliases = logsources
            .sources
            .iter()
            .map(|s| {
                s.fields
                    .iter()
                    .map(|(sigma, theirs)| (fields.intern(sigma), fields.intern(theirs)))
                    .collect()
            })
            .collect();
        let global_aliases = logsources
            .field_aliases
            .iter()
            .map(|(sigma, alts)| {
                (
                    fields.intern(sigma),
                    alts.iter().map(|a| fields.intern(a)).collect(),
                )
            })
            .collect();
        let router = routing::CompiledRouter::new(&logsources, &mut |n| fields.intern(n));
        let words = rules.len().div_ceil(64);
        let rules_by_source = rules_by_source
            .into_iter()
            .map(|rs: Vec<u32>| {
                let mut b = vec![0u64; words];
                for r in rs {
                    b[r as usize / 64] |= 1 << (r % 64);
                }
                b
            })
            .collect();
        let lower_ids = fields
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.replace(' ', "").to_lowercase(), i as u32))
            .collect();
        let correlations = Vec::new();
        let corr_by_rule = HashMap::new();
        let non_generating = Default::default();
        let index = if cfg.index {
            index::RuleIndex::build(&rules)
        } else {
            index::RuleIndex::unindexed(rules.len())
        };
        Engine {
            correlations,
            corr_by_rule,
            non_generating,
            index,
            rules,
            fields,
            lower_ids,
            routing: cfg.routing,
            logsources,
            rules_by_source,
            unrestricted,
            unrouted,
            router,
            source_aliases,
            global_aliases,
        }
    }

    fn set_correlations(&mut self, correlations: Vec<CorrelationRule>) {
        // References were resolved to canonical ids by resolve_correlations.
        let mut by_rule: HashMap<String, Vec<(u32, u16)>> = HashMap::new();
        let mut generating = std::collections::HashSet::new();
        let mut referenced = std::collections::HashSet::new();
        for (ci, c) in correlations.iter().enumerate() {
            for (ri, r) in c.rules.iter().enumerate() {
                by_rule
                    .entry(r.clone())
                    .or_default()
                    .push((ci as u32, ri as u16));
                referenced.insert(r.clone());
                if c.generate {
                    generating.insert(r.clone());
                }
            }
        }
        self.non_generating = referenced.difference(&generating).cloned().collect();
        self.corr_by_rule = by_rule;
        self.correlations = correlations;
    }

    /// An engine with no rules.
    pub fn empty() -> Engine {
        Engine::build(Vec::new(), FieldTable::default(), &EngineConfig::default())
    }

    /// The canonical id of a rule or correlation named by id or `name`.
    pub fn resolve_rule(&self, reference: &str) -> Option<String> {
        self.rules
            .iter()
            .map(|r| &r.meta)
            .chain(self.correlations.iter().map(|c| &c.meta))
            .find(|m| m.id == reference || m.name.as_deref() == Some(reference))
            .map(|m| m.id.clone())
    }

    /// The logsource of a loaded rule.
    pub fn rule_logsource(&self, rule_id: &str) -> Option<&Logsource> {
        self.rules
            .iter()
            .map(|r| &r.meta)
            .chain(self.correlations.iter().map(|c| &c.meta))
            .find(|m| m.id == rule_id)
            .map(|m| &m.logsource)
    }

    /// [`Engine::evaluate`], then an organisation's meta filters: the
    /// detections that survive its tuning.
    pub fn evaluate_for_org(&self, event: &Value, filters: &FilterSet) -> Vec<Detection> {
        filters.apply(self, event, self.evaluate(event)).0
    }

    /// The loaded correlation rules.
    pub fn correlations(&self) -> &[CorrelationRule] {
        &self.correlations
    }

    /// Does this rule raise alerts of its own? `false` for rules referenced
    /// only by correlations without `generate: true`: their detections
    /// feed the [`Correlator`] but are not alerts.
    pub fn generates(&self, rule_id: &str) -> bool {
        !self.non_generating.contains(rule_id)
    }

    pub(crate) fn correlations_for(&self, rule_id: &str, _name: Option<&str>) -> Vec<(u32, u16)> {
        self.corr_by_rule.get(rule_id).cloned().unwrap_or_default()
    }

    /// Values of the named fields in an event (Sigma names, resolved
    /// through routing aliases; `ward.org` is the organisation).
    pub fn field_values(&self, event: &Value, names: &[String], org: &str) -> Vec<Option<String>> {
        let flat = event::flatten(event);
        let mut ctx = Ctx::new(self, flat);
        let mut sources = Vec::new();
        self.router.route(|f| ctx.value(f), &mut sources);
        ctx.apply_aliases(&sources);
        names
            .iter()
            .map(|n| {
                if n == "ward.org" {
                    return Some(org.to_string());
                }
                let id = self.fields.ids.get(n.as_str())?;
                let t = ctx.field_texts(*id)?;
                t.orig.first().map(|s| s.to_string())
            })
            .collect()
    }

    /// The logsource routing table in force.
    pub fn logsources(&self) -> &LogsourceConfig {
        &self.logsources
    }

    /// Number of loaded rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len() + self.correlations.len()
    }

    /// Ids of the rules whose logsource no configured source reaches; they
    /// only see events that name their logsource explicitly
    /// (`logsource.product` / `.service` / `.category` fields).
    pub fn unrouted_rules(&self) -> Vec<&str> {
        self.unrouted
            .iter()
            .map(|&i| self.rules[i as usize].meta.id.as_str())
            .collect()
    }

    /// Match one event against the stateless rules of its logsource.
    pub fn evaluate(&self, event: &Value) -> Vec<Detection> {
        self.evaluate_with_stats(event).0
    }

    /// [`Engine::evaluate`], also saying how much work the index saved.
    pub fn evaluate_with_stats(&self, event: &Value) -> (Vec<Detection>, EvalStats) {
        let flat = event::flatten(event);
        let mut ctx = Ctx::new(self, flat);
        let mut sources = Vec::new();
        if self.routing {
            self.router.route(|f| ctx.value(f), &mut sources);
        }
        ctx.apply_aliases(&sources);
        let n = self.rules.len();
        let words = n.div_ceil(64);
        // Rules routing lets see this event.
        let mut routed = vec![0u64; words];
        let set = |b: &mut [u64], i: u32| b[i as usize / 64] |= 1 << (i % 64);
        let get = |b: &[u64], i: u32| b[i as usize / 64] & (1 << (i % 64)) != 0;
        if self.routing {
            for &r in &self.unrestricted {
                set(&mut routed, r);
            }
            for &s in &sources {
                for (w, b) in routed.iter_mut().zip(&self.rules_by_source[s]) {
                    *w |= b;
                }
            }
            if let Some(hint) = explicit_logsource(&ctx.flat) {
                for (ri, r) in self.rules.iter().enumerate() {
                    if !r.meta.logsource.is_empty() && r.meta.logsource.accepts(&hint) {
                        set(&mut routed, ri as u32);
                    }
                }
            }
        } else {
            for ri in 0..n as u32 {
                set(&mut routed, ri);
            }
        }
        // Candidates: routed rules whose trigger literal occurs, plus routed
        // rules without triggers.
        let mut cand = vec![0u64; words];
        for fi in &self.index.fields {
            let slot = ctx.slots[fi.field as usize];
            if slot != 0 {
                ctx.scan_texts(slot as usize - 1, |hay| {
                    fi.scan(hay, |r| {
                        if get(&routed, r) {
                            set(&mut cand, r)
                        }
                    })
                });
            }
        }
        if let Some(kw) = &self.index.keywords {
            let wanted = routed
                .iter()
                .zip(&self.index.keyword_rules)
                .any(|(a, b)| a & b != 0);
            if wanted {
                // One scan over all values, folded and joined by NUL (no
                // keyword literal contains NUL, so none spans two values).
                let hay = ctx.keyword_haystack();
                kw.scan(&hay, |r| {
                    if get(&routed, r) {
                        set(&mut cand, r)
                    }
                });
            }
        }
        for &r in &self.index.always {
            if get(&routed, r) {
                set(&mut cand, r);
            }
        }
        let stats = EvalStats {
            routed: routed.iter().map(|w| w.count_ones() as usize).sum(),
            candidates: cand.iter().map(|w| w.count_ones() as usize).sum(),
        };
        let mut out = Vec::new();
        for (w, &bits) in cand.iter().enumerate() {
            let mut b = bits;
            while b != 0 {
                let ri = w * 64 + b.trailing_zeros() as usize;
                b &= b - 1;
                let rule = &self.rules[ri];
                if ctx.rule_matches(rule) {
                    out.push(ctx.detection(rule));
                }
            }
        }
        (out, stats)
    }

    /// Ids of the rules without a trigger set (evaluated on every event of
    /// their logsource).
    pub fn unindexed_rules(&self) -> Vec<&str> {
        self.index
            .always
            .iter()
            .map(|&i| self.rules[i as usize].meta.id.as_str())
            .collect()
    }

    #[doc(hidden)]
    pub fn debug_index(&self) -> String {
        let mut out = String::new();
        for f in self.index.fields.iter().chain(self.index.keywords.iter()) {
            let name = self
                .fields
                .names
                .get(f.field as usize)
                .map_or("<keywords>", |s| s.as_str());
            out.push_str(&format!("{name}: {}\n", f.describe()));
        }
        out
    }

    /// (rules with a trigger set, rules evaluated on every routed event,
    /// fields with an automaton) — for the docs and benchmarks.
    pub fn index_stats(&self) -> (usize, usize, usize) {
        (
            self.index.indexed,
            self.index.always.len(),
            self.index.fields.len(),
        )
    }
}

/// Resolve correlation references (rule ids or names, of rules or other
/// correlations) to canonical ids; refuse correlations whose references do
/// not resolve or that form a cycle.
fn resolve_correlations(
    rules: &[CompiledRule],
    pending: Vec<(PathBuf, usize, CorrelationRule)>,
    seen_ids: &mut HashMap<String, PathBuf>,
    errors: &mut Vec<RuleLoadError>,
) -> Vec<CorrelationRule> {
    let mut known: HashMap<String, String> = HashMap::new();
    for r in rules {
        known.insert(r.meta.id.clone(), r.meta.id.clone());
        if let Some(n) = &r.meta.name {
            known.insert(n.clone(), r.meta.id.clone());
        }
    }
    for (_, _, c) in &pending {
        known.insert(c.meta.id.clone(), c.meta.id.clone());
        if let Some(n) = &c.meta.name {
            known.insert(n.clone(), c.meta.id.clone());
        }
    }
    let mut ok: Vec<(PathBuf, usize, CorrelationRule)> = Vec::new();
    for (file, line, mut c) in pending {
        if let Some(prev) = seen_ids.get(&c.meta.id) {
            errors.push(RuleLoadError {
                file,
                line: Some(line),
                code: "duplicate-id",
                message: format!(
                    "rule id {} is already used by {}",
                    c.meta.id,
                    prev.display()
                ),
            });
            continue;
        }
        let missing: Vec<String> = c
            .rules
            .iter()
            .filter(|r| !known.contains_key(*r))
            .cloned()
            .collect();
        if !missing.is_empty() {
            errors.push(RuleLoadError {
                file,
                line: Some(line),
                code: "unresolved-rule-reference",
                message: format!(
                    "correlation '{}' references rules that are not loaded: {}",
                    c.meta.title,
                    missing.join(", ")
                ),
            });
            continue;
        }
        // Aliases name rules as written; map them to canonical ids too.
        for (_, per_rule) in &mut c.aliases {
            for (r, _) in per_rule.iter_mut() {
                if let Some(id) = known.get(r) {
                    *r = id.clone();
                }
            }
        }
        c.rules = c.rules.iter().map(|r| known[r].clone()).collect();
        seen_ids.insert(c.meta.id.clone(), file.clone());
        ok.push((file, line, c));
    }
    // Cycles between correlations.
    let ids: HashMap<String, usize> = ok
        .iter()
        .enumerate()
        .map(|(i, (_, _, c))| (c.meta.id.clone(), i))
        .collect();
    let mut bad = vec![false; ok.len()];
    for (start, is_bad) in bad.iter_mut().enumerate() {
        let mut stack = vec![(start, 0usize)];
        let mut seen = vec![false; ok.len()];
        while let Some((i, depth)) = stack.pop() {
            if depth > ok.len() {
                break;
            }
            for r in &ok[i].2.rules {
                if let Some(&j) = ids.get(r) {
                    if j == start {
                        *is_bad = true;
                    } else if !seen[j] {
                        seen[j] = true;
                        stack.push((j, depth + 1));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for ((file, line, c), is_bad) in ok.into_iter().zip(bad) {
        if is_bad {
            errors.push(RuleLoadError {
                file,
                line: Some(line),
                code: "correlation-cycle",
                message: format!(
                    "correlation '{}' references itself through its rules",
                    c.meta.title
                ),
            });
            seen_ids.remove(&c.meta.id);
        } else {
            out.push(c);
        }
    }
    out
}

fn product_wanted(r: &CompiledRule, cfg: &EngineConfig) -> bool {
    match (&cfg.products, &r.meta.logsource.product) {
        (None, _) => true,
        (Some(want), Some(p)) => want.iter().any(|w| w.eq_ignore_ascii_case(p)),
        (Some(_), None) => false,
    }
}

/// The logsource an event names itself, if any.
fn explicit_logsource(flat: &event::Flat<'_>) -> Option<Logsource> {
    let get = |k: &str| flat.get(k).and_then(Value::as_str).map(str::to_string);
    let ls = Logsource {
        product: get("logsource.product"),
        service: get("logsource.service"),
        category: get("logsource.category"),
    };
    if ls.is_empty() {
        None
    } else {
        Some(ls)
    }
}

fn compile_document(
    doc: &yaml::Node,
    fallback_id: &str,
    fields: &mut FieldTable,
    cfg: &EngineConfig,
) -> Result<CompiledRule, rule::CompileError> {
    if doc.as_map().is_none() {
        return Err(rule::cerr(
            doc.line,
            "not-a-rule",
            "document is not a mapping",
        ));
    }
    if doc.get("filter").is_some() {
        return Err(rule::cerr(
            doc.line,
            "filter-in-rule-set",
            "this is a meta filter: load it per organisation with FilterSet, not as a rule",
        ));
    }
    rule::compile_rule(doc, fallback_id, fields, &cfg.placeholders)
}

/// Text forms of one event field, original and case-folded.
struct Texts<'a> {
    orig: SmallVec<[Cow<'a, str>; 1]>,
    /// Case-folded forms; `None` when folding changes nothing.
    folded: SmallVec<[Option<String>; 1]>,
}

impl Texts<'_> {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.orig.iter().zip(&self.folded).map(|(o, f)| {
            let o: &str = o;
            (o, f.as_deref().unwrap_or(o))
        })
    }
}

fn fold(s: &str) -> Option<String> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Some(s.to_ascii_lowercase())
        } else {
            None
        }
    } else {
        let l = s.to_lowercase();
        if l == s {
            None
        } else {
            Some(l)
        }
    }
}

/// Decimal digits of `u` without the formatting machinery (hot path).
fn push_u64(out: &mut String, mut u: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

/// Case-fold a field name into `buf` without allocating, dropping spaces
/// (Windows Defender writes `Threat Name` where Sigma says `ThreatName`).
/// `None` for names longer than the buffer or not ASCII.
fn fold_name<'b>(name: &str, buf: &'b mut [u8; 64]) -> Option<&'b str> {
    let mut n = 0;
    for b in name.bytes() {
        if b == b' ' {
            continue;
        }
        if !b.is_ascii() || n == buf.len() {
            return None;
        }
        buf[n] = b.to_ascii_lowercase();
        n += 1;
    }
    std::str::from_utf8(&buf[..n]).ok()
}

/// Per-event evaluation state.
struct Ctx<'e, 'a> {
    engine: &'e Engine,
    flat: event::Flat<'a>,
    /// Field id → index + 1 into `flat.fields` (0 = absent).
    slots: Vec<u32>,
    texts: Vec<OnceCell<Texts<'a>>>,
}

impl<'e, 'a> Ctx<'e, 'a> {
    fn new(engine: &'e Engine, flat: event::Flat<'a>) -> Self {
        let mut slots = vec![0u32; engine.fields.names.len()];
        for (i, (name, _)) in flat.fields.iter().enumerate() {
            // Exact name first, then case-insensitively; Windows Defender
            // and others write "Threat Name" where Sigma says ThreatName.
            let id = engine.fields.ids.get(name.as_ref()).or_else(|| {
                let mut buf = [0u8; 64];
                let folded = fold_name(name, &mut buf)?;
                engine.lower_ids.get(folded)
            });
            if let Some(&id) = id {
                if slots[id as usize] == 0 {
                    slots[id as usize] = i as u32 + 1;
                }
            }
        }
        let texts = (0..flat.fields.len()).map(|_| OnceCell::new()).collect();
        Ctx {
            engine,
            flat,
            slots,
            texts,
        }
    }

    /// Fill Sigma names the event lacks from their per-source and global
    /// aliases (Security 4688 `NewProcessName` → `Image`, ECS names).
    fn apply_aliases(&mut self, sources: &[usize]) {
        let engine = self.engine;
        let slots = &mut self.slots;
        for &s in sources {
            for &(sigma, theirs) in &engine.source_aliases[s] {
                if slots[sigma as usize] == 0 {
                    slots[sigma as usize] = slots[theirs as usize];
                }
            }
        }
        for (sigma, alts) in &engine.global_aliases {
            if slots[*sigma as usize] == 0 {
                if let Some(&a) = alts.iter().find(|&&a| slots[a as usize] != 0) {
                    slots[*sigma as usize] = slots[a as usize];
                }
            }
        }
    }

    fn value(&self, field: u32) -> Option<&'a Value> {
        let s = self.slots[field as usize];
        if s == 0 {
            None
        } else {
            Some(self.flat.fields[s as usize - 1].1)
        }
    }

    fn texts_at(&self, idx: usize) -> &Texts<'a> {
        self.texts[idx].get_or_init(|| {
            let orig = event::texts(self.flat.fields[idx].1);
            let folded = orig.iter().map(|s| fold(s)).collect();
            Texts { orig, folded }
        })
    }

    /// Every scalar value of the event, case-folded, joined by NUL.
    fn keyword_haystack(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(2048);
        fn push(out: &mut String, v: &Value, top: bool) {
            match v {
                Value::String(s) => {
                    if s.is_ascii() {
                        let start = out.len();
                        out.push_str(s);
                        out[start..].make_ascii_lowercase();
                    } else {
                        out.push_str(&s.to_lowercase());
                    }
                    out.push('\0');
                }
                Value::Number(n) => {
                    match n.as_u64() {
                        Some(u) => push_u64(out, u),
                        None => {
                            let _ = write!(out, "{n}");
                        }
                    }
                    out.push('\0');
                }
                Value::Bool(b) => {
                    out.push_str(if *b { "true\0" } else { "false\0" });
                }
                Value::Array(a) if top => a.iter().for_each(|x| push(out, x, false)),
                _ => {}
            }
        }
        for (_, v) in &self.flat.fields {
            push(&mut out, v, true);
        }
        out
    }

    /// Hand the index each case-folded text of a field.
    fn scan_texts(&self, idx: usize, mut f: impl FnMut(&str)) {
        match self.flat.fields[idx].1 {
            Value::Null | Value::Object(_) => {}
            _ => {
                for (_, l) in self.texts_at(idx).pairs() {
                    f(l)
                }
            }
        }
    }

    fn field_texts(&self, field: u32) -> Option<&Texts<'a>> {
        let s = self.slots[field as usize];
        if s == 0 {
            None
        } else {
            Some(self.texts_at(s as usize - 1))
        }
    }

    fn rule_matches(&self, rule: &CompiledRule) -> bool {
        let n = rule.selections.len();
        if n <= 32 {
            let mut memo = [None; 32];
            self.eval(rule, &rule.cond, &mut memo[..n])
        } else {
            let mut memo = vec![None; n];
            self.eval(rule, &rule.cond, &mut memo)
        }
    }

    fn eval(&self, rule: &CompiledRule, c: &Cond, memo: &mut [Option<bool>]) -> bool {
        match c {
            Cond::Sel(i) => self.sel(rule, *i, memo),
            Cond::Not(inner) => !self.eval(rule, inner, memo),
            Cond::And(v) => v.iter().all(|x| self.eval(rule, x, memo)),
            Cond::Or(v) => v.iter().any(|x| self.eval(rule, x, memo)),
            Cond::AtLeast(n, v) => {
                let mut count = 0;
                for &i in v {
                    if self.sel(rule, i, memo) {
                        count += 1;
                        if count >= *n {
                            return true;
                        }
                    }
                }
                false
            }
        }
    }

    fn sel(&self, rule: &CompiledRule, i: usize, memo: &mut [Option<bool>]) -> bool {
        if let Some(b) = memo[i] {
            return b;
        }
        let b = self.selection(&rule.selections[i]).is_some();
        memo[i] = Some(b);
        b
    }

    /// Some(index of the matching map) when the selection matches.
    fn selection(&self, s: &Selection) -> Option<usize> {
        match s {
            Selection::Maps(maps) => maps
                .iter()
                .position(|m| m.iter().all(|fc| self.field_cond(fc))),
            Selection::Keywords { values, all } => self.keywords(values, *all).then_some(0),
        }
    }

    fn keywords(&self, values: &[Vec<pattern::ValueTest>], all: bool) -> bool {
        let hit = |tests: &Vec<pattern::ValueTest>| {
            (0..self.flat.fields.len()).any(|idx| {
                let t = self.texts_at(idx);
                t.pairs()
                    .any(|(o, l)| tests.iter().any(|vt| vt.is_match(o, l)))
            })
        };
        if all {
            values.iter().all(hit)
        } else {
            values.iter().any(hit)
        }
    }

    fn field_cond(&self, fc: &FieldCond) -> bool {
        let r = match &fc.kind {
            FieldKind::Keywords { values, all } => self.keywords(values, *all),
            FieldKind::Null => self.value(fc.field).is_none_or(Value::is_null),
            FieldKind::Exists(want) => self.value(fc.field).is_some_and(|v| !v.is_null()) == *want,
            FieldKind::Values { values, all } => match self.field_texts(fc.field) {
                None => false,
                Some(t) => {
                    let hit = |tests: &Vec<pattern::ValueTest>| {
                        t.pairs()
                            .any(|(o, l)| tests.iter().any(|vt| vt.is_match(o, l)))
                    };
                    if *all {
                        values.iter().all(hit)
                    } else {
                        values.iter().any(hit)
                    }
                }
            },
            FieldKind::FieldRef {
                others,
                mode,
                cased,
                all,
            } => match self.field_texts(fc.field) {
                None => false,
                Some(t) => {
                    let hit = |other: &u32| {
                        let Some(o) = self.field_texts(*other) else {
                            return false;
                        };
                        let pick = |t: &Texts<'_>| -> Vec<String> {
                            t.pairs()
                                .map(|(o, l)| if *cased { o } else { l }.to_string())
                                .collect()
                        };
                        let (mine, theirs) = (pick(t), pick(o));
                        mine.iter().any(|m| {
                            theirs.iter().any(|x| match mode {
                                RefMode::Equal => m == x,
                                RefMode::Prefix => m.starts_with(x),
                                RefMode::Suffix => m.ends_with(x),
                                RefMode::Contains => m.contains(x),
                            })
                        })
                    };
                    if *all {
                        others.iter().all(hit)
                    } else {
                        others.iter().any(hit)
                    }
                }
            },
        };
        r != fc.negate
    }

    fn detection(&self, rule: &CompiledRule) -> Detection {
        let mut matched = Vec::new();
        for &si in &rule.positive {
            let Selection::Maps(maps) = &rule.selections[si] else {
                continue;
            };
            let Some(mi) = self.selection(&rule.selections[si]) else {
                continue;
            };
            for fc in &maps[mi] {
                if fc.negate
                    || matches!(
                        fc.kind,
                        FieldKind::Null | FieldKind::Exists(false) | FieldKind::Keywords { .. }
                    )
                {
                    continue;
                }
                if let Some(t) = self.field_texts(fc.field) {
                    let name = &self.engine.fields.names[fc.field as usize];
                    if matched.iter().any(|m: &MatchedField| &m.field == name) {
                        continue;
                    }
                    matched.push(MatchedField {
                        field: name.clone(),
                        value: t.orig.join(", "),
                    });
                }
            }
        }
        Detection {
            rule_id: rule.meta.id.clone(),
            title: rule.meta.title.clone(),
            author: rule.meta.author.clone(),
            level: rule.meta.level,
            tags: rule.meta.tags.clone(),
            matched_fields: matched,
        }
    }
}

/// The time of an event in Unix milliseconds, from the first of
/// `TimeCreated_SystemTime` (EVTX), `@timestamp` (ECS), `timestamp`,
/// `UtcTime` (Sysmon) or `ts` (Zeek, epoch seconds with fraction) that parses.
pub fn event_time_ms(event: &Value) -> Option<i64> {
    let flat = event::flatten(event);
    [
        "TimeCreated_SystemTime",
        "@timestamp",
        "timestamp",
        "UtcTime",
        "ts",
    ]
    .iter()
    .find_map(|n| match flat.get(n)? {
        Value::String(s) => timeparts::parse_epoch_ms(s),
        Value::Number(n) => n.as_f64().map(|f| {
            if f > 1e11 {
                f as i64
            } else {
                (f * 1000.0) as i64
            }
        }),
        _ => None,
    })
}

/// Check every rule under `dir` (or the one file): the refusals, empty when
/// all load. Used by `ward rules check`.
pub fn check_dir(dir: &Path) -> Vec<RuleLoadError> {
    Engine::load_dir(dir, &EngineConfig::default()).errors
}

#[cfg(test)]
mod tests;
