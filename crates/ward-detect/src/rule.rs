//! Sigma rule compiler: YAML document → [`CompiledRule`].
//!
//! Anything the engine cannot evaluate exactly is refused with a
//! [`RuleLoadError`](crate::RuleLoadError) naming the line; nothing is
//! dropped or half-evaluated.

use std::collections::HashMap;

use crate::condition::{self, CondExpr, Quantity};
use crate::pattern::{self, CmpOp, GTok, StrTest, TimePart, ValueTest};
use crate::routing::Logsource;
use crate::yaml::{Node, Value as Y};
use crate::Level;

/// A compile error before the file name is attached.
#[derive(Debug, Clone)]
pub struct CompileError {
    pub line: usize,
    pub code: &'static str,
    pub message: String,
}

pub(crate) fn cerr(line: usize, code: &'static str, message: impl Into<String>) -> CompileError {
    CompileError {
        line,
        code,
        message: message.into(),
    }
}

/// Interned field names shared by all rules of an engine.
#[derive(Debug, Default, Clone)]
pub struct FieldTable {
    pub ids: rustc_hash::FxHashMap<String, u32>,
    pub names: Vec<String>,
}

impl FieldTable {
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.ids.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), i);
        i
    }
}

/// Placeholder values for the `expand` modifier.
pub type Placeholders = HashMap<String, Vec<String>>;

/// What a field condition tests.
#[derive(Debug, Clone)]
pub enum FieldKind {
    /// Each inner list is one rule value (its variants, OR-ed); the outer
    /// list is OR-ed, or AND-ed when `all`.
    Values {
        values: Vec<Vec<ValueTest>>,
        all: bool,
    },
    /// A field-less entry (`'|all': [...]`): keywords over every value.
    Keywords {
        values: Vec<Vec<ValueTest>>,
        all: bool,
    },
    /// `Field: null` — the field is absent or null.
    Null,
    /// `Field|exists: true/false`.
    Exists(bool),
    /// `Field|fieldref: Other` (with an optional startswith/endswith/contains).
    FieldRef {
        others: Vec<u32>,
        mode: RefMode,
        cased: bool,
        all: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefMode {
    Equal,
    Prefix,
    Suffix,
    Contains,
}

/// One `Field|mods: values` entry.
#[derive(Debug, Clone)]
pub struct FieldCond {
    pub field: u32,
    pub kind: FieldKind,
    /// `neq`: the entry is negated.
    pub negate: bool,
}

/// A search identifier's definition.
#[derive(Debug, Clone)]
pub enum Selection {
    /// OR of AND-maps.
    Maps(Vec<Vec<FieldCond>>),
    /// Keyword search over every value of the event.
    Keywords {
        values: Vec<Vec<ValueTest>>,
        all: bool,
    },
}

/// A condition with identifiers resolved to selection indices.
#[derive(Debug, Clone)]
pub enum Cond {
    Sel(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    AtLeast(usize, Vec<usize>),
}

/// Rule metadata carried into detections.
#[derive(Debug, Clone)]
pub struct RuleMeta {
    pub id: String,
    pub title: String,
    pub author: Option<String>,
    pub level: Level,
    pub tags: Vec<String>,
    pub logsource: Logsource,
    pub status: Option<String>,
    pub name: Option<String>,
}

/// A compiled detection rule.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub meta: RuleMeta,
    pub selection_names: Vec<String>,
    pub selections: Vec<Selection>,
    pub cond: Cond,
    /// Selections reached without negation (their fields are reported).
    pub positive: Vec<usize>,
}

const KNOWN_MODIFIERS: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "all",
    "re",
    "i",
    "m",
    "s",
    "exists",
    "cased",
    "neq",
    "windash",
    "base64",
    "base64offset",
    "utf16le",
    "utf16be",
    "utf16",
    "wide",
    "lt",
    "lte",
    "gt",
    "gte",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "year",
    "cidr",
    "expand",
    "fieldref",
];

pub(crate) fn parse_level(n: Option<&Node>) -> Result<Level, CompileError> {
    let Some(n) = n else {
        // Sigma makes `level` optional; an unlevelled rule is treated as
        // medium (documented in docs/detection.md).
        return Ok(Level::Medium);
    };
    match n.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("informational") => Ok(Level::Informational),
        Some("low") => Ok(Level::Low),
        Some("medium") => Ok(Level::Medium),
        Some("high") => Ok(Level::High),
        Some("critical") => Ok(Level::Critical),
        _ => Err(cerr(
            n.line,
            "bad-level",
            "level must be informational, low, medium, high or critical",
        )),
    }
}

pub(crate) fn string_list(n: &Node, what: &str) -> Result<Vec<String>, CompileError> {
    match &n.value {
        Y::Seq(items) => items
            .iter()
            .map(|i| {
                i.as_scalar_string().ok_or_else(|| {
                    cerr(
                        i.line,
                        "bad-field",
                        format!("{what} must be a list of strings"),
                    )
                })
            })
            .collect(),
        Y::Null => Ok(Vec::new()),
        _ => n.as_scalar_string().map(|s| vec![s]).ok_or_else(|| {
            cerr(
                n.line,
                "bad-field",
                format!("{what} must be a list of strings"),
            )
        }),
    }
}

pub(crate) fn parse_logsource(doc: &Node) -> Result<Logsource, CompileError> {
    let mut ls = Logsource::default();
    let Some(n) = doc.get("logsource") else {
        return Ok(ls);
    };
    let m = n
        .as_map()
        .ok_or_else(|| cerr(n.line, "bad-logsource", "logsource must be a mapping"))?;
    for (k, v) in m {
        let val = || {
            v.as_scalar_string()
                .ok_or_else(|| cerr(v.line, "bad-logsource", "logsource values must be strings"))
        };
        match k.as_str() {
            Some("product") => ls.product = Some(val()?),
            Some("service") => ls.service = Some(val()?),
            Some("category") => ls.category = Some(val()?),
            // definition and custom keys are documentation only.
            _ => {}
        }
    }
    Ok(ls)
}

pub(crate) fn parse_meta(doc: &Node, fallback_id: &str) -> Result<RuleMeta, CompileError> {
    let title = doc
        .get("title")
        .and_then(Node::as_scalar_string)
        .ok_or_else(|| cerr(doc.line, "missing-title", "rule has no title"))?;
    let id = doc
        .get("id")
        .and_then(Node::as_scalar_string)
        .unwrap_or_else(|| fallback_id.to_string());
    let author = doc.get("author").and_then(Node::as_scalar_string);
    let tags = match doc.get("tags") {
        Some(t) => string_list(t, "tags")?,
        None => Vec::new(),
    };
    Ok(RuleMeta {
        id,
        title,
        author,
        level: parse_level(doc.get("level"))?,
        tags,
        logsource: parse_logsource(doc)?,
        status: doc.get("status").and_then(Node::as_scalar_string),
        name: doc.get("name").and_then(Node::as_scalar_string),
    })
}

/// Compile the detection part of a rule document.
pub fn compile_rule(
    doc: &Node,
    fallback_id: &str,
    fields: &mut FieldTable,
    placeholders: &Placeholders,
) -> Result<CompiledRule, CompileError> {
    let meta = parse_meta(doc, fallback_id)?;
    let det = doc.get("detection").ok_or_else(|| {
        cerr(
            doc.line,
            "missing-detection",
            "rule has no detection section",
        )
    })?;
    let dm = det
        .as_map()
        .ok_or_else(|| cerr(det.line, "bad-detection", "detection must be a mapping"))?;
    let mut names = Vec::new();
    let mut selections = Vec::new();
    let mut cond_node = None;
    for (k, v) in dm {
        let key = k.as_scalar_string().ok_or_else(|| {
            cerr(
                k.line,
                "bad-detection",
                "search identifiers must be strings",
            )
        })?;
        match key.as_str() {
            "condition" => cond_node = Some(v),
            // A bare timeframe without aggregation does not change matching.
            "timeframe" => {}
            _ => {
                let sel = compile_selection(v, fields, placeholders)?;
                names.push(key);
                selections.push(sel);
            }
        }
    }
    let cond_node = cond_node
        .ok_or_else(|| cerr(det.line, "missing-condition", "detection has no condition"))?;
    let cond_strings: Vec<(usize, String)> = match &cond_node.value {
        Y::Seq(items) => items
            .iter()
            .map(|i| {
                i.as_scalar_string()
                    .map(|s| (i.line, s))
                    .ok_or_else(|| cerr(i.line, "bad-condition", "condition must be a string"))
            })
            .collect::<Result<_, _>>()?,
        _ => vec![(
            cond_node.line,
            cond_node.as_scalar_string().ok_or_else(|| {
                cerr(
                    cond_node.line,
                    "bad-condition",
                    "condition must be a string",
                )
            })?,
        )],
    };
    if cond_strings.is_empty() {
        return Err(cerr(
            cond_node.line,
            "bad-condition",
            "empty condition list",
        ));
    }
    let mut conds = Vec::new();
    for (line, s) in &cond_strings {
        let lower = s.to_ascii_lowercase();
        if lower.contains("count(") || lower.contains(" near ") {
            return Err(cerr(
                *line,
                "legacy-aggregation",
                format!(
                    "condition {s:?} uses a legacy Sigma aggregation; \
                     write a correlation rule instead"
                ),
            ));
        }
        if lower.starts_with("write ") || lower.contains("-> alert") {
            return Err(cerr(
                *line,
                "pseudo-condition",
                format!("condition {s:?} is pseudo-code, not a Sigma condition"),
            ));
        }
        let expr = condition::parse_condition(s).map_err(|e| {
            let code = if e.message.contains("aggregation") {
                "legacy-aggregation"
            } else {
                "bad-condition"
            };
            cerr(*line, code, format!("condition {s:?}: {e}"))
        })?;
        conds.push(resolve(&expr, &names, *line)?);
    }
    let cond = if conds.len() == 1 {
        conds.remove(0)
    } else {
        Cond::Or(conds)
    };
    let mut positive = Vec::new();
    collect_positive(&cond, false, &mut positive);
    positive.sort_unstable();
    positive.dedup();
    Ok(CompiledRule {
        meta,
        selection_names: names,
        selections,
        cond,
        positive,
    })
}

fn collect_positive(c: &Cond, negated: bool, out: &mut Vec<usize>) {
    match c {
        Cond::Sel(i) => {
            if !negated {
                out.push(*i)
            }
        }
        Cond::Not(inner) => collect_positive(inner, !negated, out),
        Cond::And(v) | Cond::Or(v) => v.iter().for_each(|x| collect_positive(x, negated, out)),
        Cond::AtLeast(_, v) => {
            if !negated {
                out.extend(v)
            }
        }
    }
}

fn resolve(e: &CondExpr, names: &[String], line: usize) -> Result<Cond, CompileError> {
    Ok(match e {
        CondExpr::Ident(n) => Cond::Sel(names.iter().position(|x| x == n).ok_or_else(|| {
            cerr(
                line,
                "unknown-identifier",
                format!("condition names {n:?}, which the detection does not define"),
            )
        })?),
        CondExpr::Not(i) => Cond::Not(Box::new(resolve(i, names, line)?)),
        CondExpr::And(v) => Cond::And(
            v.iter()
                .map(|x| resolve(x, names, line))
                .collect::<Result<_, _>>()?,
        ),
        CondExpr::Or(v) => Cond::Or(
            v.iter()
                .map(|x| resolve(x, names, line))
                .collect::<Result<_, _>>()?,
        ),
        CondExpr::Of(q, pat) => {
            let idx: Vec<usize> = names
                .iter()
                .enumerate()
                .filter(|(_, n)| match pat {
                    // `them` leaves out identifiers starting with `_`.
                    None => !n.starts_with('_'),
                    Some(p) => condition::ident_matches(p, n),
                })
                .map(|(i, _)| i)
                .collect();
            if idx.is_empty() {
                return Err(cerr(
                    line,
                    "unknown-identifier",
                    format!(
                        "'{}' matches no search identifier",
                        pat.as_deref().unwrap_or("them")
                    ),
                ));
            }
            match q {
                Quantity::All => Cond::And(idx.into_iter().map(Cond::Sel).collect()),
                Quantity::AtLeast(n) => Cond::AtLeast(*n, idx),
            }
        }
    })
}

fn compile_selection(
    v: &Node,
    fields: &mut FieldTable,
    ph: &Placeholders,
) -> Result<Selection, CompileError> {
    match &v.value {
        Y::Map(entries) => Ok(Selection::Maps(vec![compile_map(entries, fields, ph)?])),
        Y::Seq(items) if items.is_empty() => {
            Err(cerr(v.line, "bad-detection", "empty search identifier"))
        }
        Y::Seq(items) => {
            if items.iter().all(|i| matches!(i.value, Y::Map(_))) {
                let mut maps = Vec::new();
                for i in items {
                    if let Y::Map(e) = &i.value {
                        maps.push(compile_map(e, fields, ph)?);
                    }
                }
                Ok(Selection::Maps(maps))
            } else if items
                .iter()
                .all(|i| !matches!(i.value, Y::Map(_) | Y::Seq(_)))
            {
                let values = items
                    .iter()
                    .map(|i| keyword_tests(i, &[], ph))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Selection::Keywords { values, all: false })
            } else {
                Err(cerr(
                    v.line,
                    "bad-detection",
                    "a search identifier list must hold only maps or only keywords",
                ))
            }
        }
        Y::Null => Err(cerr(v.line, "bad-detection", "empty search identifier")),
        _ => Ok(Selection::Keywords {
            values: vec![keyword_tests(v, &[], ph)?],
            all: false,
        }),
    }
}

fn keyword_tests(
    v: &Node,
    mods: &[String],
    ph: &Placeholders,
) -> Result<Vec<ValueTest>, CompileError> {
    // Keywords without wildcards are substring searches over the event's
    // values (as in every Sigma backend's full-text search).
    let has_mode = mods
        .iter()
        .any(|m| matches!(m.as_str(), "contains" | "startswith" | "endswith" | "re"));
    let mut m: Vec<String> = mods.to_vec();
    if !has_mode {
        if let Some(s) = v.as_str() {
            if !pattern::tokenize(s)
                .iter()
                .any(|t| !matches!(t, GTok::Lit(_)))
            {
                m.push("contains".into());
            }
        } else {
            m.push("contains".into());
        }
    }
    string_tests(v, &m, ph)
}

fn compile_map(
    entries: &[(Node, Node)],
    fields: &mut FieldTable,
    ph: &Placeholders,
) -> Result<Vec<FieldCond>, CompileError> {
    let mut out = Vec::new();
    if entries.is_empty() {
        return Err(cerr(0, "bad-detection", "empty field map"));
    }
    for (k, v) in entries {
        let key = k
            .as_scalar_string()
            .ok_or_else(|| cerr(k.line, "bad-detection", "field names must be strings"))?;
        out.push(compile_field(&key, k.line, v, fields, ph)?);
    }
    Ok(out)
}

fn compile_field(
    key: &str,
    line: usize,
    v: &Node,
    fields: &mut FieldTable,
    ph: &Placeholders,
) -> Result<FieldCond, CompileError> {
    let mut parts = key.split('|');
    let name = parts.next().unwrap_or("").to_string();
    let mods: Vec<String> = parts.map(|m| m.trim().to_ascii_lowercase()).collect();
    for m in &mods {
        if !KNOWN_MODIFIERS.contains(&m.as_str()) {
            return Err(cerr(
                line,
                "unknown-modifier",
                format!("unknown modifier '{m}' in '{key}'"),
            ));
        }
    }
    let has = |m: &str| mods.iter().any(|x| x == m);
    let field = fields.intern(&name);
    if name.is_empty() {
        // `'|all': [a, b]` — a keyword search with modifiers.
        for m in &mods {
            if matches!(m.as_str(), "exists" | "fieldref" | "neq" | "expand") {
                return Err(cerr(
                    line,
                    "bad-modifier",
                    format!("'{m}' needs a field name"),
                ));
            }
        }
        let value_mods: Vec<String> = mods.iter().filter(|m| *m != "all").cloned().collect();
        let items: Vec<&Node> = match &v.value {
            Y::Seq(items) => items.iter().collect(),
            _ => vec![v],
        };
        let values = items
            .iter()
            .map(|i| keyword_tests(i, &value_mods, ph))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(FieldCond {
            field,
            kind: FieldKind::Keywords {
                values,
                all: has("all"),
            },
            negate: false,
        });
    }
    let negate = has("neq");
    let items: Vec<&Node> = match &v.value {
        Y::Seq(items) => items.iter().collect(),
        _ => vec![v],
    };
    if items.is_empty() {
        return Err(cerr(
            v.line,
            "bad-value",
            format!("'{key}' has an empty value list"),
        ));
    }
    if let Some(i) = items
        .iter()
        .find(|i| matches!(i.value, Y::Map(_) | Y::Seq(_)))
    {
        return Err(cerr(
            i.line,
            "bad-value",
            format!("'{key}': values must be scalars"),
        ));
    }

    if has("exists") {
        if mods.len() != 1 {
            return Err(cerr(
                line,
                "bad-modifier",
                "'exists' cannot be combined with other modifiers",
            ));
        }
        let Y::Bool(b) = v.value else {
            return Err(cerr(v.line, "bad-value", "'exists' takes true or false"));
        };
        return Ok(FieldCond {
            field,
            kind: FieldKind::Exists(b),
            negate: false,
        });
    }
    if has("fieldref") {
        let mode = if has("contains") {
            RefMode::Contains
        } else if has("startswith") {
            RefMode::Prefix
        } else if has("endswith") {
            RefMode::Suffix
        } else {
            RefMode::Equal
        };
        for m in &mods {
            if !matches!(
                m.as_str(),
                "fieldref" | "contains" | "startswith" | "endswith" | "all" | "cased" | "neq"
            ) {
                return Err(cerr(
                    line,
                    "bad-modifier",
                    format!("'{m}' cannot be combined with 'fieldref'"),
                ));
            }
        }
        let others = items
            .iter()
            .map(|i| {
                i.as_scalar_string()
                    .map(|s| fields.intern(&s))
                    .ok_or_else(|| cerr(i.line, "bad-value", "fieldref takes field names"))
            })
            .collect::<Result<_, _>>()?;
        return Ok(FieldCond {
            field,
            kind: FieldKind::FieldRef {
                others,
                mode,
                cased: has("cased"),
                all: has("all"),
            },
            negate,
        });
    }
    // `Field: null` (alone, no modifiers that need a value).
    if items.len() == 1 && items[0].is_null() {
        return Ok(FieldCond {
            field,
            kind: FieldKind::Null,
            negate,
        });
    }
    let mut values = Vec::new();
    for i in &items {
        if i.is_null() {
            return Err(cerr(
                i.line,
                "bad-value",
                format!("'{key}': null inside a value list is ambiguous; use a separate selection"),
            ));
        }
        values.push(string_tests(i, &mods, ph)?);
    }
    Ok(FieldCond {
        field,
        kind: FieldKind::Values {
            values,
            all: has("all"),
        },
        negate,
    })
}

/// Build the tests for one rule value under a modifier chain.
fn string_tests(
    v: &Node,
    mods: &[String],
    ph: &Placeholders,
) -> Result<Vec<ValueTest>, CompileError> {
    let has = |m: &str| mods.iter().any(|x| x == m);
    let line = v.line;

    // Numeric comparisons.
    for (m, op) in [
        ("lt", CmpOp::Lt),
        ("lte", CmpOp::Lte),
        ("gt", CmpOp::Gt),
        ("gte", CmpOp::Gte),
    ] {
        if has(m) {
            let n = match v.value {
                Y::Int(i) => i as f64,
                Y::Float(f) => f,
                _ => return Err(cerr(line, "bad-value", format!("'{m}' needs a number"))),
            };
            return Ok(vec![ValueTest::Num(op, n)]);
        }
    }
    for (m, part) in [
        ("minute", TimePart::Minute),
        ("hour", TimePart::Hour),
        ("day", TimePart::Day),
        ("week", TimePart::Week),
        ("month", TimePart::Month),
        ("year", TimePart::Year),
    ] {
        if has(m) {
            let Y::Int(n) = v.value else {
                return Err(cerr(line, "bad-value", format!("'{m}' needs an integer")));
            };
            return Ok(vec![ValueTest::Time(part, n)]);
        }
    }
    if has("cidr") {
        let s = v
            .as_scalar_string()
            .ok_or_else(|| cerr(line, "bad-value", "'cidr' needs a network"))?;
        let c = pattern::Cidr::parse(&s)
            .ok_or_else(|| cerr(line, "bad-value", format!("'{s}' is not a CIDR network")))?;
        return Ok(vec![ValueTest::Cidr(c)]);
    }
    let raw = match &v.value {
        Y::Str(s) => s.clone(),
        Y::Int(i) => i.to_string(),
        Y::Float(f) => f.to_string(),
        Y::Bool(b) => b.to_string(),
        _ => return Err(cerr(line, "bad-value", "expected a scalar value")),
    };
    if has("re") {
        for m in mods {
            if !matches!(m.as_str(), "re" | "i" | "m" | "s" | "all" | "neq") {
                return Err(cerr(
                    line,
                    "bad-modifier",
                    format!("'{m}' cannot be combined with 're'"),
                ));
            }
        }
        let mut flags = String::new();
        for f in ["i", "m", "s"] {
            if has(f) {
                flags.push_str(f);
            }
        }
        let src = if flags.is_empty() {
            raw.clone()
        } else {
            format!("(?{flags}){raw}")
        };
        let test = match regex::RegexBuilder::new(&src).size_limit(1 << 22).build() {
            Ok(r) => StrTest::Regex(r),
            Err(e1) => match fancy_regex::RegexBuilder::new(&src)
                .backtrack_limit(100_000)
                .build()
            {
                Ok(r) => StrTest::Fancy(Box::new(r)),
                Err(_) => {
                    return Err(cerr(
                        line,
                        "bad-regex",
                        format!("regular expression {raw:?}: {e1}"),
                    ))
                }
            },
        };
        return Ok(vec![ValueTest::Str { test, cased: true }]);
    }
    for f in ["i", "m", "s"] {
        if has(f) {
            return Err(cerr(
                line,
                "bad-modifier",
                format!("'{f}' is a flag of 're' only"),
            ));
        }
    }
    let cased = has("cased");

    // Stage 1: placeholder expansion → list of strings (still wildcard syntax).
    let mut strings = if has("expand") {
        expand(&raw, ph, line)?
    } else {
        vec![raw]
    };
    // Stage 2: windash variants.
    if has("windash") {
        strings = strings
            .iter()
            .flat_map(|s| pattern::windash_variants(s))
            .collect();
    }
    // Stage 3: encodings, applied in the order written. Encoded values are
    // literal (wildcards inside an encoded value cannot survive encoding).
    let mut token_lists: Vec<Vec<GTok>> = strings.iter().map(|s| pattern::tokenize(s)).collect();
    let mut encoded = false;
    let mut bytes: Vec<Vec<u8>> = Vec::new();
    for m in mods {
        match m.as_str() {
            "wide" | "utf16le" | "utf16be" | "utf16" => {
                let src: Vec<String> = if encoded {
                    return Err(cerr(
                        line,
                        "bad-modifier",
                        format!("'{m}' must come before base64 modifiers"),
                    ));
                } else if bytes.is_empty() {
                    token_lists
                        .iter()
                        .map(|t| pattern::literal_text(t))
                        .collect()
                } else {
                    return Err(cerr(line, "bad-modifier", format!("'{m}' applied twice")));
                };
                bytes = src
                    .iter()
                    .map(|s| match m.as_str() {
                        "utf16be" => pattern::utf16be(s),
                        "utf16" => pattern::utf16_bom(s),
                        _ => pattern::utf16le(s),
                    })
                    .collect();
            }
            "base64" | "base64offset" => {
                if encoded {
                    return Err(cerr(line, "bad-modifier", "base64 applied twice"));
                }
                let src: Vec<Vec<u8>> = if bytes.is_empty() {
                    token_lists
                        .iter()
                        .map(|t| pattern::literal_text(t).into_bytes())
                        .collect()
                } else {
                    std::mem::take(&mut bytes)
                };
                let enc: Vec<String> = if m == "base64" {
                    src.iter().map(|b| pattern::base64_plain(b)).collect()
                } else {
                    src.iter()
                        .flat_map(|b| pattern::base64_offsets(b))
                        .collect()
                };
                token_lists = enc.into_iter().map(|s| vec![GTok::Lit(s)]).collect();
                encoded = true;
            }
            _ => {}
        }
    }
    if !bytes.is_empty() {
        return Err(cerr(
            line,
            "bad-modifier",
            "utf16/wide must be followed by base64 or base64offset (event values are text)",
        ));
    }
    // base64 output is case-sensitive by nature.
    let cased = cased || encoded;
    let contains = has("contains");
    let starts = has("startswith");
    let ends = has("endswith");
    if [contains, starts, ends].iter().filter(|b| **b).count() > 1 {
        return Err(cerr(
            line,
            "bad-modifier",
            "only one of contains/startswith/endswith may be used",
        ));
    }
    let mut out = Vec::new();
    for mut toks in token_lists {
        if (contains || ends) && toks.first() != Some(&GTok::Star) {
            toks.insert(0, GTok::Star);
        }
        if (contains || starts) && toks.last() != Some(&GTok::Star) {
            toks.push(GTok::Star);
        }
        if !cased {
            for t in &mut toks {
                if let GTok::Lit(l) = t {
                    *l = l.to_lowercase();
                }
            }
        }
        let test = StrTest::from_tokens(&toks).map_err(|e| cerr(line, "bad-value", e))?;
        out.push(ValueTest::Str { test, cased });
    }
    Ok(out)
}

fn expand(raw: &str, ph: &Placeholders, line: usize) -> Result<Vec<String>, CompileError> {
    let mut out = vec![String::new()];
    let mut rest = raw;
    while let Some(start) = rest.find('%') {
        let Some(len) = rest[start + 1..].find('%') else {
            break;
        };
        let name = &rest[start + 1..start + 1 + len];
        let values = ph.get(name).ok_or_else(|| {
            cerr(
                line,
                "unconfigured-placeholder",
                format!("placeholder %{name}% is not configured (EngineConfig::placeholders)"),
            )
        })?;
        let prefix = &rest[..start];
        let mut next = Vec::with_capacity(out.len() * values.len());
        for o in &out {
            for v in values {
                next.push(format!("{o}{prefix}{v}"));
            }
        }
        out = next;
        rest = &rest[start + 2 + len..];
    }
    for o in &mut out {
        o.push_str(rest);
    }
    Ok(out)
}
