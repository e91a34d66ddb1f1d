//! Sigma correlation rules and the stateful [`Correlator`].
//!
//! Types: `event_count`, `value_count`, `temporal`, `temporal_ordered`,
//! `value_sum`, `value_avg`, `value_percentile`; with `group-by`,
//! `aliases`, chaining (a correlation may reference another correlation)
//! and `generate`.
//!
//! * Windows **slide**: every event carries its own time; a group's window
//!   holds the entries of the last `timespan` before the newest event seen
//!   for that group. They are not clocked buckets.
//! * A correlation fires when its condition holds after an event is added;
//!   the group's window is then cleared, so one burst yields one alert.
//! * State is kept per group key, under hard bounds
//!   ([`CorrelatorLimits`]): least-recently-updated groups are evicted when
//!   the number of groups or entries exceeds them, and the evictions are
//!   counted in [`CorrelatorStats`].
//! * [`Correlator::snapshot`] / [`Correlator::restore`] save and load the
//!   state (serde), so correlation survives a restart.
//! * By default state is per organisation (the organisation is part of the
//!   group key). A correlation with the ward extension `scope: federation`
//!   groups across organisations; the pseudo-field `ward.org` (the
//!   organisation of an event) can then be counted with `value_count`, e.g.
//!   "the same destination IP at 5 organisations within 10 minutes".

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rule::{cerr, parse_meta, CompileError, RuleMeta};
use crate::yaml::{Node, Value as Y};
use crate::{Detection, Engine, MatchedField};

/// The correlation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
    ValuePercentile,
}

/// Comparison of a correlation condition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CondOp {
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
    Eq(f64),
    Neq(f64),
}

impl CondOp {
    fn holds(&self, v: f64) -> bool {
        match *self {
            CondOp::Gt(x) => v > x,
            CondOp::Gte(x) => v >= x,
            CondOp::Lt(x) => v < x,
            CondOp::Lte(x) => v <= x,
            CondOp::Eq(x) => v == x,
            CondOp::Neq(x) => v != x,
        }
    }
}

/// Who shares a correlation's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Per organisation (default).
    Organisation,
    /// Across organisations (ward extension `scope: federation`).
    Federation,
}

/// A compiled correlation rule.
#[derive(Debug, Clone)]
pub struct CorrelationRule {
    pub meta: RuleMeta,
    pub kind: CorrelationType,
    /// Referenced rules, as written (id or name).
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan_ms: i64,
    pub ops: Vec<CondOp>,
    pub field: Option<String>,
    /// alias → (rule reference → field)
    pub aliases: Vec<(String, Vec<(String, String)>)>,
    pub generate: bool,
    pub scope: Scope,
}

pub(crate) fn parse_timespan(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().ok()?;
    let mult = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "M" => 30 * 86_400_000,
        "y" => 365 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(mult).filter(|v| *v > 0)
}

fn num(n: &Node) -> Option<f64> {
    match n.value {
        Y::Int(i) => Some(i as f64),
        Y::Float(f) => Some(f),
        _ => None,
    }
}

/// Compile a correlation document (references unresolved).
pub fn compile_correlation(doc: &Node, fallback_id: &str) -> Result<CorrelationRule, CompileError> {
    let meta = parse_meta(doc, fallback_id)?;
    let c = doc
        .get("correlation")
        .ok_or_else(|| cerr(doc.line, "bad-correlation", "missing correlation section"))?;
    if c.as_map().is_none() {
        return Err(cerr(
            c.line,
            "bad-correlation",
            "correlation must be a mapping",
        ));
    }
    let kind_node = c
        .get("type")
        .ok_or_else(|| cerr(c.line, "bad-correlation", "correlation has no type"))?;
    let kind = match kind_node.as_str() {
        Some("event_count") => CorrelationType::EventCount,
        Some("value_count") => CorrelationType::ValueCount,
        Some("temporal") => CorrelationType::Temporal,
        Some("temporal_ordered") => CorrelationType::TemporalOrdered,
        Some("value_sum") => CorrelationType::ValueSum,
        Some("value_avg") => CorrelationType::ValueAvg,
        Some("value_percentile") => CorrelationType::ValuePercentile,
        other => {
            return Err(cerr(
                kind_node.line,
                "bad-correlation",
                format!("unknown correlation type {other:?}"),
            ))
        }
    };
    let rules = match c.get("rules") {
        Some(n) => crate::rule::string_list(n, "correlation rules")?,
        None => Vec::new(),
    };
    if rules.is_empty() {
        return Err(cerr(
            c.line,
            "bad-correlation",
            "correlation references no rules",
        ));
    }
    let group_by = match c.get("group-by") {
        Some(n) => crate::rule::string_list(n, "group-by")?,
        None => Vec::new(),
    };
    let ts = c
        .get("timespan")
        .or_else(|| c.get("timeframe"))
        .ok_or_else(|| cerr(c.line, "bad-correlation", "correlation has no timespan"))?;
    let timespan_ms = ts
        .as_scalar_string()
        .and_then(|s| parse_timespan(&s))
        .ok_or_else(|| {
            cerr(
                ts.line,
                "bad-correlation",
                "timespan must look like 30s, 5m, 1h, 1d",
            )
        })?;
    let mut ops = Vec::new();
    let mut field = None;
    if let Some(cond) = c.get("condition") {
        let m = cond
            .as_map()
            .ok_or_else(|| cerr(cond.line, "bad-correlation", "condition must be a mapping"))?;
        for (k, v) in m {
            let key = k.as_str().unwrap_or("");
            let op = match key {
                "field" => {
                    field = Some(v.as_scalar_string().ok_or_else(|| {
                        cerr(
                            v.line,
                            "bad-correlation",
                            "condition field must be a field name",
                        )
                    })?);
                    continue;
                }
                "gt" => CondOp::Gt,
                "gte" => CondOp::Gte,
                "lt" => CondOp::Lt,
                "lte" => CondOp::Lte,
                "eq" => CondOp::Eq,
                "neq" => CondOp::Neq,
                other => {
                    return Err(cerr(
                        k.line,
                        "bad-correlation",
                        format!("unknown condition operator {other:?}"),
                    ))
                }
            };
            let n = num(v)
                .ok_or_else(|| cerr(v.line, "bad-correlation", "condition needs a number"))?;
            ops.push(op(n));
        }
    }
    let needs_cond = !matches!(
        kind,
        CorrelationType::Temporal | CorrelationType::TemporalOrdered
    );
    if needs_cond && ops.is_empty() {
        return Err(cerr(
            c.line,
            "bad-correlation",
            "this correlation type needs a condition",
        ));
    }
    let needs_field = matches!(
        kind,
        CorrelationType::ValueCount
            | CorrelationType::ValueSum
            | CorrelationType::ValueAvg
            | CorrelationType::ValuePercentile
    );
    if needs_field && field.is_none() {
        return Err(cerr(
            c.line,
            "bad-correlation",
            "this correlation type needs condition.field",
        ));
    }
    let mut aliases = Vec::new();
    if let Some(a) = c.get("aliases") {
        let m = a
            .as_map()
            .ok_or_else(|| cerr(a.line, "bad-correlation", "aliases must be a mapping"))?;
        for (k, v) in m {
            let alias = k
                .as_scalar_string()
                .ok_or_else(|| cerr(k.line, "bad-correlation", "alias names must be strings"))?;
            let vm = v
                .as_map()
                .ok_or_else(|| cerr(v.line, "bad-correlation", "an alias maps rules to fields"))?;
            let mut per_rule = Vec::new();
            for (rk, rv) in vm {
                let r = rk.as_scalar_string().unwrap_or_default();
                let f = rv.as_scalar_string().ok_or_else(|| {
                    cerr(rv.line, "bad-correlation", "alias target must be a field")
                })?;
                per_rule.push((r, f));
            }
            aliases.push((alias, per_rule));
        }
    }
    let generate = match c.get("generate").or_else(|| doc.get("generate")) {
        None => false,
        Some(n) => match n.value {
            Y::Bool(b) => b,
            _ => {
                return Err(cerr(
                    n.line,
                    "bad-correlation",
                    "generate must be true or false",
                ))
            }
        },
    };
    let scope = match doc.get("scope") {
        None => Scope::Organisation,
        Some(n) => match n.as_str() {
            Some("organisation" | "organization") => Scope::Organisation,
            Some("federation") => Scope::Federation,
            _ => {
                return Err(cerr(
                    n.line,
                    "bad-correlation",
                    "scope must be organisation or federation",
                ))
            }
        },
    };
    Ok(CorrelationRule {
        meta,
        kind,
        rules,
        group_by,
        timespan_ms,
        ops,
        field,
        aliases,
        generate,
        scope,
    })
}

/// A fired correlation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CorrelationAlert {
    /// The alert as a detection of the correlation rule; `matched_fields`
    /// holds the group-by values.
    pub detection: Detection,
    pub kind: CorrelationType,
    /// The organisation, or `None` for a federation-scope correlation.
    pub org: Option<String>,
    /// Organisations whose events are in the window.
    pub orgs: Vec<String>,
    /// The value the condition was tested on (count, sum, …); for temporal
    /// types the number of referenced rules seen.
    pub value: f64,
    pub first_ms: i64,
    pub last_ms: i64,
}

/// Hard bounds on correlation state.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct CorrelatorLimits {
    /// Most groups kept across all correlations.
    pub max_groups: usize,
    /// Most window entries kept across all groups.
    pub max_entries: usize,
    /// Most entries in one group's window (oldest dropped first).
    pub max_entries_per_group: usize,
}

impl Default for CorrelatorLimits {
    fn default() -> Self {
        // About 100 bytes per entry: ~100 MB at the defaults.
        CorrelatorLimits {
            max_groups: 200_000,
            max_entries: 1_000_000,
            max_entries_per_group: 10_000,
        }
    }
}

/// Counters of a correlator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrelatorStats {
    pub groups: usize,
    pub entries: usize,
    /// Groups dropped to respect `max_groups` / `max_entries`.
    pub evicted_groups: u64,
    /// Entries dropped to respect `max_entries_per_group` or as part of an
    /// evicted group.
    pub evicted_entries: u64,
    pub alerts: u64,
    /// Events skipped because a group-by field was missing.
    pub missing_group_field: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    t: i64,
    /// Index of the referenced rule (temporal types).
    rule: u16,
    /// Field value (value_* types).
    value: Option<String>,
    org: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Group {
    entries: VecDeque<Entry>,
    seq: u64,
}

/// Serializable correlation state (see [`Correlator::snapshot`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CorrelatorState {
    pub version: u32,
    /// correlation id → group key → entries
    groups: BTreeMap<String, BTreeMap<String, Vec<Entry>>>,
    pub stats: CorrelatorStats,
}

/// A snapshot could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("[correlator-state-version] snapshot version {0} is not supported (expected 1)")]
    Version(u32),
}

/// Stateful correlation engine: feed it every event's detections.
#[derive(Debug)]
pub struct Correlator {
    engine: Arc<Engine>,
    limits: CorrelatorLimits,
    groups: HashMap<(u32, String), Group>,
    lru: BTreeMap<u64, (u32, String)>,
    seq: u64,
    stats: CorrelatorStats,
}

const KEY_SEP: char = '\u{1f}';
const MAX_CHAIN: usize = 8;

impl Correlator {
    /// A correlator over `engine`'s correlation rules, with empty state.
    pub fn new(engine: Arc<Engine>, limits: CorrelatorLimits) -> Self {
        Correlator {
            engine,
            limits,
            groups: HashMap::new(),
            lru: BTreeMap::new(),
            seq: 0,
            stats: CorrelatorStats::default(),
        }
    }

    pub fn stats(&self) -> CorrelatorStats {
        let mut s = self.stats;
        s.groups = self.groups.len();
        s
    }

    /// Feed one event of organisation `org`, at `event_time_ms`, with the
    /// detections [`Engine::evaluate`] gave for it. Returns the
    /// correlations that fired.
    pub fn process(
        &mut self,
        org: &str,
        event_time_ms: i64,
        event: &Value,
        detections: &[Detection],
    ) -> Vec<CorrelationAlert> {
        let mut out = Vec::new();
        if self.engine.correlations.is_empty() {
            return out;
        }
        // (referenced rule id, depth)
        let mut queue: Vec<(String, Option<String>, usize)> = detections
            .iter()
            .map(|d| (d.rule_id.clone(), None, 0))
            .collect();
        while let Some((rule_id, rule_name, depth)) = queue.pop() {
            if depth > MAX_CHAIN {
                continue;
            }
            let idxs: Vec<(u32, u16)> =
                self.engine.correlations_for(&rule_id, rule_name.as_deref());
            for (ci, ri) in idxs {
                if let Some(alert) = self.feed(ci, ri, org, event_time_ms, event) {
                    let c = &self.engine.correlations[ci as usize];
                    queue.push((c.meta.id.clone(), c.meta.name.clone(), depth + 1));
                    out.push(alert);
                }
            }
        }
        out
    }

    fn feed(
        &mut self,
        ci: u32,
        ri: u16,
        org: &str,
        t: i64,
        event: &Value,
    ) -> Option<CorrelationAlert> {
        let engine = Arc::clone(&self.engine);
        let c = &engine.correlations[ci as usize];
        let rule_ref = &c.rules[ri as usize];
        // Group key from group-by fields (through aliases for this rule).
        let mut names: Vec<String> = c
            .group_by
            .iter()
            .map(|g| alias_field(c, g, rule_ref).unwrap_or(g).to_string())
            .collect();
        let value_field = c
            .field
            .as_ref()
            .map(|f| alias_field(c, f, rule_ref).unwrap_or(f).to_string());
        if let Some(f) = &value_field {
            names.push(f.clone());
        }
        let values = engine.field_values(event, &names, org);
        let mut key = String::new();
        if c.scope == Scope::Organisation {
            key.push_str(org);
            key.push(KEY_SEP);
        }
        let mut matched = Vec::new();
        for (g, v) in c.group_by.iter().zip(&values) {
            let Some(v) = v else {
                self.stats.missing_group_field += 1;
                return None;
            };
            key.push_str(v);
            key.push(KEY_SEP);
            matched.push(MatchedField {
                field: g.clone(),
                value: v.clone(),
            });
        }
        let value = if value_field.is_some() {
            values.last().cloned().flatten()
        } else {
            None
        };
        if value_field.is_some() && value.is_none() {
            // value_* types need the field; the event does not count.
            return None;
        }
        self.seq += 1;
        let seq = self.seq;
        let gk = (ci, key);
        let group = self.groups.entry(gk.clone()).or_default();
        if group.seq != 0 {
            self.lru.remove(&group.seq);
        }
        group.seq = seq;
        self.lru.insert(seq, gk.clone());
        // Insert in time order (events may arrive slightly out of order).
        let entry = Entry {
            t,
            rule: ri,
            value,
            org: org.to_string(),
        };
        let pos = group.entries.partition_point(|e| e.t <= t);
        group.entries.insert(pos, entry);
        self.stats.entries += 1;
        // Slide: drop entries older than the newest minus the timespan.
        let newest = group.entries.back().map_or(t, |e| e.t);
        while group
            .entries
            .front()
            .is_some_and(|e| e.t < newest - c.timespan_ms)
        {
            group.entries.pop_front();
            self.stats.entries -= 1;
        }
        while group.entries.len() > self.limits.max_entries_per_group {
            group.entries.pop_front();
            self.stats.entries -= 1;
            self.stats.evicted_entries += 1;
        }
        let fired = evaluate(c, &group.entries, t);
        let alert = fired.map(|value| {
            let mut orgs: Vec<String> = group.entries.iter().map(|e| e.org.clone()).collect();
            orgs.sort();
            orgs.dedup();
            let first_ms = group.entries.front().map_or(t, |e| e.t);
            let last_ms = group.entries.back().map_or(t, |e| e.t);
            self.stats.entries -= group.entries.len();
            group.entries.clear();
            self.stats.alerts += 1;
            CorrelationAlert {
                detection: Detection {
                    rule_id: c.meta.id.clone(),
                    title: c.meta.title.clone(),
                    author: c.meta.author.clone(),
                    level: c.meta.level,
                    tags: c.meta.tags.clone(),
                    matched_fields: matched,
                },
                kind: c.kind,
                org: (c.scope == Scope::Organisation).then(|| org.to_string()),
                orgs,
                value,
                first_ms,
                last_ms,
            }
        });
        if self.groups.get(&gk).is_some_and(|g| g.entries.is_empty()) {
            if let Some(g) = self.groups.remove(&gk) {
                self.lru.remove(&g.seq);
            }
        }
        self.enforce_limits();
        alert
    }

    fn enforce_limits(&mut self) {
        while self.groups.len() > self.limits.max_groups
            || self.stats.entries > self.limits.max_entries
        {
            let Some((_, key)) = self.lru.pop_first() else {
                break;
            };
            if let Some(g) = self.groups.remove(&key) {
                self.stats.entries -= g.entries.len();
                self.stats.evicted_entries += g.entries.len() as u64;
                self.stats.evicted_groups += 1;
            }
        }
    }

    /// The whole state, to persist (serde) and [`Correlator::restore`]
    /// after a restart.
    pub fn snapshot(&self) -> CorrelatorState {
        let mut groups: BTreeMap<String, BTreeMap<String, Vec<Entry>>> = BTreeMap::new();
        // In LRU order so that restore keeps recency.
        for (ci, key) in self.lru.values() {
            if let Some(g) = self.groups.get(&(*ci, key.clone())) {
                let id = self.engine.correlations[*ci as usize].meta.id.clone();
                groups
                    .entry(id)
                    .or_default()
                    .insert(key.clone(), g.entries.iter().cloned().collect());
            }
        }
        CorrelatorState {
            version: 1,
            groups,
            stats: self.stats(),
        }
    }

    /// Rebuild a correlator from a snapshot. State of correlations no longer
    /// loaded is dropped and counted as evicted.
    pub fn restore(
        engine: Arc<Engine>,
        limits: CorrelatorLimits,
        state: CorrelatorState,
    ) -> Result<Self, RestoreError> {
        if state.version != 1 {
            return Err(RestoreError::Version(state.version));
        }
        let mut c = Correlator::new(Arc::clone(&engine), limits);
        c.stats = state.stats;
        c.stats.entries = 0;
        for (id, groups) in state.groups {
            let Some(ci) = engine.correlations.iter().position(|r| r.meta.id == id) else {
                c.stats.evicted_groups += groups.len() as u64;
                c.stats.evicted_entries += groups.values().map(|g| g.len() as u64).sum::<u64>();
                continue;
            };
            for (key, entries) in groups {
                c.seq += 1;
                c.stats.entries += entries.len();
                let gk = (ci as u32, key);
                c.lru.insert(c.seq, gk.clone());
                c.groups.insert(
                    gk,
                    Group {
                        entries: entries.into(),
                        seq: c.seq,
                    },
                );
            }
        }
        c.enforce_limits();
        Ok(c)
    }
}

fn alias_field<'a>(c: &'a CorrelationRule, name: &str, rule_ref: &str) -> Option<&'a str> {
    let (_, per_rule) = c.aliases.iter().find(|(a, _)| a == name)?;
    per_rule
        .iter()
        .find(|(r, _)| r == rule_ref)
        .map(|(_, f)| f.as_str())
}

/// Condition value when the correlation fires, else `None`.
fn evaluate(c: &CorrelationRule, entries: &VecDeque<Entry>, now: i64) -> Option<f64> {
    let holds = |v: f64| c.ops.iter().all(|op| op.holds(v));
    match c.kind {
        CorrelationType::EventCount => {
            let n = entries.len() as f64;
            holds(n).then_some(n)
        }
        CorrelationType::ValueCount => {
            let mut vals: Vec<&str> = entries.iter().filter_map(|e| e.value.as_deref()).collect();
            vals.sort_unstable();
            vals.dedup();
            let n = vals.len() as f64;
            holds(n).then_some(n)
        }
        CorrelationType::ValueSum | CorrelationType::ValueAvg => {
            let nums: Vec<f64> = entries
                .iter()
                .filter_map(|e| {
                    e.value
                        .as_deref()
                        .and_then(|v| v.trim().parse::<f64>().ok())
                })
                .collect();
            if nums.is_empty() {
                return None;
            }
            let sum: f64 = nums.iter().sum();
            let v = if c.kind == CorrelationType::ValueSum {
                sum
            } else {
                sum / nums.len() as f64
            };
            holds(v).then_some(v)
        }
        CorrelationType::ValuePercentile => {
            // Percentage of the window's events that carry the newest
            // event's value: "this value is rarer than N%".
            let newest = entries
                .iter()
                .rev()
                .find(|e| e.t == now)?
                .value
                .as_deref()?;
            let same = entries
                .iter()
                .filter(|e| e.value.as_deref() == Some(newest))
                .count();
            let pct = 100.0 * same as f64 / entries.len() as f64;
            holds(pct).then_some(pct)
        }
        CorrelationType::Temporal => {
            let n = c.rules.len();
            let mut seen = vec![false; n];
            for e in entries {
                if let Some(s) = seen.get_mut(e.rule as usize) {
                    *s = true;
                }
            }
            let k = seen.iter().filter(|s| **s).count();
            (k == n && (c.ops.is_empty() || holds(k as f64))).then_some(k as f64)
        }
        CorrelationType::TemporalOrdered => {
            // Is there a subsequence rule 0, 1, …, n-1 in time order (the
            // entries are time-sorted and all within the timespan)?
            let n = c.rules.len();
            let mut next = 0usize;
            for e in entries {
                if e.rule as usize == next {
                    next += 1;
                    if next == n {
                        break;
                    }
                }
            }
            (next == n).then_some(n as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("5m"), Some(300_000));
        assert_eq!(parse_timespan("1d"), Some(86_400_000));
        assert_eq!(parse_timespan("30s"), Some(30_000));
        assert_eq!(parse_timespan("m"), None);
        assert_eq!(parse_timespan("0s"), None);
        assert_eq!(parse_timespan("5x"), None);
    }
}
