//! Sigma meta filters (`mf_*.yml`): per-organisation tuning without editing
//! upstream rules.
//!
//! A filter document (Sigma v2 "filter" rule):
//!
//! ```yaml
//! title: Our backup server runs vssadmin
//! id: mf-backup-vss
//! logsource: {product: windows, category: process_creation}
//! filter:
//!   rules: [c947b146-0abc-4c87-9c64-b17e9d7274a8]   # ids or names; absent = every rule of the logsource
//!   selection:
//!     Computer: BACKUP01
//!   condition: not selection
//! ```
//!
//! A rule's detection is kept only if every filter that applies to the rule
//! evaluates true on the event (Sigma: `rule condition and filter
//! condition`). Each organisation has its own [`FilterSet`]; the server
//! stores them and passes the right one to [`Engine::evaluate_for_org`].

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::rule::CompiledRule;
use crate::yaml::{Node, Value as Y};
use crate::{Detection, Engine, EngineConfig, Logsource, RuleLoadError};

#[derive(Debug, Clone)]
struct FilterMeta {
    id: String,
    /// Canonical rule ids; empty = all rules the logsource covers.
    rules: Vec<String>,
    logsource: Logsource,
}

/// One organisation's compiled filters.
#[derive(Debug)]
pub struct FilterSet {
    /// The filter conditions compiled as rules (routing off: every filter
    /// is evaluated on every event its rules matched).
    engine: Engine,
    filters: Vec<FilterMeta>,
}

/// A detection a filter removed.
#[derive(Debug, Clone)]
pub struct Suppressed {
    pub detection: Detection,
    pub filter_id: String,
}

fn filter_to_rule(doc: &Node) -> Result<(Node, Vec<String>), RuleLoadError> {
    let err = |line: usize, code: &'static str, m: &str| RuleLoadError {
        file: PathBuf::new(),
        line: Some(line),
        code,
        message: m.to_string(),
    };
    let f = doc
        .get("filter")
        .ok_or_else(|| err(doc.line, "not-a-filter", "document has no filter section"))?;
    let entries = f
        .as_map()
        .ok_or_else(|| err(f.line, "bad-filter", "filter must be a mapping"))?;
    let mut rules = Vec::new();
    let mut det = Vec::new();
    for (k, v) in entries {
        if k.as_str() == Some("rules") {
            rules = crate::rule::string_list(v, "filter rules")
                .map_err(|e| err(e.line, e.code, &e.message))?;
        } else {
            det.push((k.clone(), v.clone()));
        }
    }
    // Re-shape as a rule: same metadata, the filter's selections as detection.
    let mut m: Vec<(Node, Node)> = doc
        .as_map()
        .unwrap_or_default()
        .iter()
        .filter(|(k, _)| k.as_str() != Some("filter"))
        .cloned()
        .collect();
    let key = Node {
        line: f.line,
        value: Y::Str("detection".into()),
    };
    m.push((
        key,
        Node {
            line: f.line,
            value: Y::Map(det),
        },
    ));
    Ok((
        Node {
            line: doc.line,
            value: Y::Map(m),
        },
        rules,
    ))
}

impl FilterSet {
    /// An empty set (no tuning).
    pub fn empty() -> FilterSet {
        FilterSet::from_sources(&Engine::empty(), &[]).0
    }

    /// Compile filters; references are resolved against `base`'s rules.
    pub fn from_sources(
        base: &Engine,
        sources: &[(String, String)],
    ) -> (FilterSet, Vec<RuleLoadError>) {
        let mut errors = Vec::new();
        let mut fields = crate::rule::FieldTable::default();
        let mut compiled: Vec<CompiledRule> = Vec::new();
        let mut metas = Vec::new();
        for (name, text) in sources {
            let file = PathBuf::from(name);
            let docs = match crate::yaml::parse_documents(text) {
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
            for (i, doc) in docs.iter().enumerate() {
                let with_file = |mut e: RuleLoadError| {
                    e.file = file.clone();
                    e
                };
                let (rule_doc, refs) = match filter_to_rule(doc) {
                    Ok(x) => x,
                    Err(e) => {
                        errors.push(with_file(e));
                        continue;
                    }
                };
                let fallback = format!("{}#{i}", file.display());
                let r = match crate::rule::compile_rule(
                    &rule_doc,
                    &fallback,
                    &mut fields,
                    &Default::default(),
                ) {
                    Ok(r) => r,
                    Err(e) => {
                        errors.push(RuleLoadError {
                            file: file.clone(),
                            line: Some(e.line),
                            code: e.code,
                            message: e.message,
                        });
                        continue;
                    }
                };
                let mut canon = Vec::new();
                let mut missing = Vec::new();
                for reference in &refs {
                    match base.resolve_rule(reference) {
                        Some(id) => canon.push(id),
                        None => missing.push(reference.clone()),
                    }
                }
                if !missing.is_empty() {
                    errors.push(RuleLoadError {
                        file: file.clone(),
                        line: doc.get("filter").map(|n| n.line),
                        code: "unresolved-rule-reference",
                        message: format!(
                            "filter '{}' references rules that are not loaded: {}",
                            r.meta.title,
                            missing.join(", ")
                        ),
                    });
                    continue;
                }
                metas.push(FilterMeta {
                    id: r.meta.id.clone(),
                    rules: canon,
                    logsource: r.meta.logsource.clone(),
                });
                compiled.push(r);
            }
        }
        let cfg = EngineConfig {
            routing: false,
            ..EngineConfig::default()
        };
        let engine = Engine::build(compiled, fields, &cfg);
        (
            FilterSet {
                engine,
                filters: metas,
            },
            errors,
        )
    }

    /// Load every `*.yml`/`*.yaml` filter under `dir` (or the file `dir`).
    pub fn load_dir(base: &Engine, dir: &Path) -> (FilterSet, Vec<RuleLoadError>) {
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        crate::collect_sources(dir, &mut sources, &mut errors);
        let (set, mut e) = FilterSet::from_sources(base, &sources);
        errors.append(&mut e);
        (set, errors)
    }

    pub fn len(&self) -> usize {
        self.filters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// Split detections into kept and suppressed.
    pub fn apply(
        &self,
        base: &Engine,
        event: &Value,
        detections: Vec<Detection>,
    ) -> (Vec<Detection>, Vec<Suppressed>) {
        if self.filters.is_empty() || detections.is_empty() {
            return (detections, Vec::new());
        }
        // Filters whose condition holds on this event.
        let passing: Vec<String> = self
            .engine
            .evaluate(event)
            .into_iter()
            .map(|d| d.rule_id)
            .collect();
        let mut kept = Vec::new();
        let mut suppressed = Vec::new();
        for d in detections {
            let rule_ls = base.rule_logsource(&d.rule_id);
            let failing = self.filters.iter().find(|f| {
                let applies = if f.rules.is_empty() {
                    rule_ls.is_some_and(|ls| f.logsource.accepts(ls))
                } else {
                    f.rules.iter().any(|r| r == &d.rule_id)
                };
                applies && !passing.contains(&f.id)
            });
            match failing {
                Some(f) => suppressed.push(Suppressed {
                    detection: d,
                    filter_id: f.id.clone(),
                }),
                None => kept.push(d),
            }
        }
        (kept, suppressed)
    }
}
