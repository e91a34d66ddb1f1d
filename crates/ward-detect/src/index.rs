//! The rule index: which rules can possibly match an event.
//!
//! For every rule the compiler derives a *trigger set*: literal strings tied
//! to fields such that, if the rule matches, at least one of them occurs in
//! the (case-folded) value of its field. It is computed over the condition:
//!
//! * a field entry `Field|contains: [a, b]` needs `a` or `b` in `Field`
//!   (prefix, suffix and `*`-glob tests need their longest literal; an exact
//!   test needs the whole value to equal its literal; with `all`, any one
//!   value's literals are necessary);
//! * a map (AND of entries) needs the trigger set of any one entry — the
//!   most selective is chosen (exact values first, then the longest
//!   shortest literal, then the fewest literals);
//! * a list of maps / `or` / `1 of` needs the union of its parts' sets, and
//!   has none if any part has none;
//! * `and` needs the set of any one operand (the most selective);
//! * `not`, regular expressions, numeric, CIDR, null/exists tests give no
//!   set; keyword literals form a set over any field ([`ANY_FIELD`]).
//!
//! Rules with no trigger set are evaluated on every event of their logsource.
//! Per field, exact literals go into a hash map of whole folded values and
//! the others into one Aho-Corasick automaton; at run time each such field
//! present in the event is looked up and scanned once, and only the rules
//! whose literals were found (and that routing lets see the event) are
//! evaluated. The filter never drops a rule that would match: it only skips
//! rules whose necessary literal is absent (`tests/index_exact.rs` compares
//! against brute force over the whole EVTX corpus).

use std::collections::HashMap;

use aho_corasick::AhoCorasick;
use rustc_hash::FxHashMap;

use crate::pattern::{StrTest, ValueTest};
use crate::rule::{CompiledRule, Cond, FieldCond, FieldKind, Selection};

/// A necessary literal: `lit` occurs in field `field`'s folded value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Atom {
    field: u32,
    lit: String,
    /// The whole (folded) value must equal `lit` (looked up in a hash map
    /// rather than searched for).
    exact: bool,
}

type Atoms = Vec<Atom>;

/// Selectivity of a trigger set: whole-value (exact) literals first — a
/// short exact `EventID: 517` is rarer than `security` anywhere in a
/// provider name — then the longest shortest literal, then the fewest.
fn score(a: &Atoms) -> (bool, usize, std::cmp::Reverse<usize>) {
    let min_len = a.iter().map(|x| x.lit.len()).min().unwrap_or(0);
    let exact = a.iter().all(|x| x.exact);
    (exact, min_len.min(8), std::cmp::Reverse(a.len()))
}

fn best(options: impl Iterator<Item = Option<Atoms>>) -> Option<Atoms> {
    options.flatten().max_by_key(score)
}

fn union(parts: impl Iterator<Item = Option<Atoms>>) -> Option<Atoms> {
    let mut out = Vec::new();
    for p in parts {
        out.extend(p?);
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

fn test_literal(t: &ValueTest) -> Option<(String, bool)> {
    match t {
        ValueTest::Str { test, cased } => match test {
            StrTest::Any => None,
            _ => test
                .required_literal()
                .filter(|l| !l.is_empty())
                // Folding a cased non-ASCII literal and the value separately
                // could disagree (final sigma): no trigger then.
                .filter(|l| !*cased || l.is_ascii())
                .map(|l| (l.to_lowercase(), matches!(test, StrTest::Exact(_)))),
        },
        _ => None,
    }
}

/// Pseudo field id of keyword (field-less) literals: they may occur in any
/// field.
pub const ANY_FIELD: u32 = u32::MAX;

fn field_atoms(fc: &FieldCond) -> Option<Atoms> {
    if fc.negate {
        return None;
    }
    match &fc.kind {
        FieldKind::Values { values, all } => values_atoms(fc.field, values, *all),
        FieldKind::Keywords { values, all } => values_atoms(ANY_FIELD, values, *all),
        _ => None,
    }
}

fn values_atoms(field: u32, values: &[Vec<ValueTest>], all: bool) -> Option<Atoms> {
    // Keyword values are scanned in one NUL-joined haystack: a literal
    // holding NUL could span two values, so it cannot be a trigger.
    let usable = |l: &(String, bool)| field != ANY_FIELD || !l.0.contains('\0');
    // Each rule value: any of its variants may match, so all variants need
    // a literal.
    let per_value: Vec<Option<Vec<(String, bool)>>> = values
        .iter()
        .map(|variants| {
            variants
                .iter()
                .map(|t| test_literal(t).filter(usable))
                .collect::<Option<Vec<_>>>()
        })
        .collect();
    let to_atoms = |lits: Vec<(String, bool)>| -> Atoms {
        lits.into_iter()
            .map(|(lit, exact)| Atom {
                field,
                lit,
                // Keyword literals are searched in a joined haystack.
                exact: exact && field != ANY_FIELD,
            })
            .collect()
    };
    if all {
        // Every value must match: any one value's literals are necessary.
        per_value
            .into_iter()
            .flatten()
            .map(to_atoms)
            .max_by_key(score)
    } else {
        let mut lits = Vec::new();
        for v in per_value {
            lits.extend(v?);
        }
        if lits.is_empty() {
            None
        } else {
            Some(to_atoms(lits))
        }
    }
}

fn selection_atoms(s: &Selection) -> Option<Atoms> {
    match s {
        Selection::Maps(maps) => union(maps.iter().map(|m| best(m.iter().map(field_atoms)))),
        Selection::Keywords { values, all } => values_atoms(ANY_FIELD, values, *all),
    }
}

fn cond_atoms(rule: &CompiledRule, c: &Cond) -> Option<Atoms> {
    match c {
        Cond::Sel(i) => selection_atoms(&rule.selections[*i]),
        Cond::Not(_) => None,
        Cond::And(v) => best(v.iter().map(|x| cond_atoms(rule, x))),
        Cond::Or(v) => union(v.iter().map(|x| cond_atoms(rule, x))),
        Cond::AtLeast(_, v) => union(v.iter().map(|&i| selection_atoms(&rule.selections[i]))),
    }
}

/// A field's literals while building: literal → pattern id, patterns, and
/// the rules of each pattern.
type Literals = (HashMap<String, usize>, Vec<String>, Vec<Vec<u32>>);

/// Give each literal the rules of every literal it contains (itself
/// included): finding the literal implies finding those.
fn close_over_substrings(pats: &[String], rules_of: Vec<Vec<u32>>) -> Vec<Vec<u32>> {
    let Ok(ac) = AhoCorasick::new(pats) else {
        return rules_of;
    };
    let mut out = rules_of.clone();
    for (i, p) in pats.iter().enumerate() {
        for m in ac.find_overlapping_iter(p) {
            let j = m.pattern().as_usize();
            if j != i {
                out[i].extend_from_slice(&rules_of[j]);
            }
        }
        out[i].sort_unstable();
        out[i].dedup();
    }
    out
}

/// One field's automaton.
#[derive(Debug)]
pub struct FieldIndex {
    pub field: u32,
    /// Literals to find inside the value (none: only exact literals).
    ac: Option<AhoCorasick>,
    /// Pattern id → rules triggered by it.
    pat_rules: Vec<Vec<u32>>,
    /// Whole folded value → rules triggered by it.
    exact: FxHashMap<String, Vec<u32>>,
}

/// The per-field automata and the rules that must always be evaluated.
#[derive(Debug, Default)]
pub struct RuleIndex {
    pub fields: Vec<FieldIndex>,
    /// Keyword literals, scanned over every field of the event.
    pub keywords: Option<FieldIndex>,
    /// Bitset of the rules with keyword triggers (the keyword scan is only
    /// run when one of them is routed to the event).
    pub keyword_rules: Vec<u64>,
    /// Rules without a trigger set.
    pub always: Vec<u32>,
    /// Number of rules with a trigger set.
    pub indexed: usize,
}

impl RuleIndex {
    /// No index: every rule is always evaluated.
    pub fn unindexed(n: usize) -> RuleIndex {
        RuleIndex {
            always: (0..n as u32).collect(),
            keyword_rules: vec![0; n.div_ceil(64)],
            ..RuleIndex::default()
        }
    }

    pub fn build(rules: &[CompiledRule]) -> RuleIndex {
        let mut always = Vec::new();
        // field → (literal → pattern id), pattern rules
        let mut per_field: HashMap<u32, Literals> = HashMap::new();
        let mut exact: HashMap<u32, FxHashMap<String, Vec<u32>>> = HashMap::new();
        let mut indexed = 0;
        for (ri, r) in rules.iter().enumerate() {
            let ri = ri as u32;
            match cond_atoms(r, &r.cond) {
                None => always.push(ri),
                Some(atoms) => {
                    indexed += 1;
                    for a in atoms {
                        if a.exact {
                            let rs = exact.entry(a.field).or_default().entry(a.lit).or_default();
                            if rs.last() != Some(&ri) {
                                rs.push(ri);
                            }
                            continue;
                        }
                        let (ids, pats, rules_of) = per_field.entry(a.field).or_default();
                        let id = *ids.entry(a.lit.clone()).or_insert_with(|| {
                            pats.push(a.lit.clone());
                            rules_of.push(Vec::new());
                            pats.len() - 1
                        });
                        if rules_of[id].last() != Some(&ri) {
                            rules_of[id].push(ri);
                        }
                    }
                }
            }
        }
        let mut fields = Vec::new();
        let mut keys: Vec<u32> = per_field.keys().chain(exact.keys()).copied().collect();
        keys.sort_unstable();
        keys.dedup();
        for f in keys {
            let exact_map = exact.remove(&f).unwrap_or_default();
            let (_, pats, rules_of) = per_field.remove(&f).unwrap_or_default();
            if pats.is_empty() {
                fields.push(FieldIndex {
                    field: f,
                    ac: None,
                    pat_rules: Vec::new(),
                    exact: exact_map,
                });
                continue;
            }
            // A DFA scans fastest; its memory grows with the literal set.
            // Large sets (hash lists) get a contiguous NFA: a DFA for them
            // costs tens of MB for little speed.
            let kind = if pats.len() <= 2_000 {
                aho_corasick::AhoCorasickKind::DFA
            } else {
                aho_corasick::AhoCorasickKind::ContiguousNFA
            };
            let built = AhoCorasick::builder()
                .kind(Some(kind))
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(&pats)
                .or_else(|_| {
                    AhoCorasick::builder()
                        .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                        .build(&pats)
                });
            match built {
                Ok(ac) => fields.push(FieldIndex {
                    field: f,
                    ac: Some(ac),
                    pat_rules: close_over_substrings(&pats, rules_of),
                    exact: exact_map,
                }),
                // Cannot happen for in-memory literal sets of this size;
                // if it did, the rules fall back to always-evaluated.
                Err(_) => {
                    for rs in rules_of.into_iter().chain(exact_map.into_values()) {
                        always.extend(rs);
                    }
                }
            }
        }
        always.sort_unstable();
        always.dedup();
        let mut keyword_rules = vec![0u64; rules.len().div_ceil(64)];
        let keywords = match fields.iter().position(|f| f.field == ANY_FIELD) {
            Some(i) => {
                let k = fields.remove(i);
                for rs in k.pat_rules.iter().chain(k.exact.values()) {
                    for &r in rs {
                        keyword_rules[r as usize / 64] |= 1 << (r % 64);
                    }
                }
                Some(k)
            }
            None => None,
        };
        RuleIndex {
            keywords,
            keyword_rules,
            fields,
            always,
            indexed,
        }
    }
}

impl FieldIndex {
    /// Automaton kind, pattern count and heap size.
    pub fn describe(&self) -> String {
        match &self.ac {
            Some(ac) => format!(
                "{:?} {} patterns {} bytes, {} exact values",
                ac.kind(),
                ac.patterns_len(),
                ac.memory_usage(),
                self.exact.len()
            ),
            None => format!("{} exact values", self.exact.len()),
        }
    }

    /// Report every rule whose literal occurs in `hay` (already folded).
    /// The automata are case-sensitive over folded text: that keeps their
    /// rare-byte prefilter effective (an ASCII case-insensitive automaton
    /// measured 2.4 times slower here).
    pub fn scan(&self, hay: &str, mut hit: impl FnMut(u32)) {
        // Leftmost-longest search restarted one byte after each match
        // start: every start position holding a literal is visited, and
        // the literal reported there is the longest one, whose rule list
        // includes the rules of every literal it contains. Exact, and it
        // lets the automaton use its prefilters (overlapping search
        // cannot).
        if let Some(rs) = self.exact.get(hay) {
            for &r in rs {
                hit(r);
            }
        }
        let Some(ac) = &self.ac else {
            return;
        };
        let mut pos = 0;
        while pos < hay.len() {
            let input = aho_corasick::Input::new(hay).span(pos..hay.len());
            let Some(m) = ac.find(input) else {
                break;
            };
            for &r in &self.pat_rules[m.pattern().as_usize()] {
                hit(r);
            }
            pos = m.start() + 1;
        }
    }
}
