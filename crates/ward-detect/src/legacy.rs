//! Translation of legacy Sigma 1 aggregations into correlation rules.
//!
//! `condition: <expr> | count() [by g] > n` (with a `timeframe`) becomes a
//! base rule with `condition: <expr>` plus an `event_count` correlation over
//! it; `count(f)` becomes `value_count`, `sum(f)` `value_sum`, `avg(f)`
//! `value_avg`. Only `>` and `>=` thresholds are translated: `<` ("fewer than
//! n") needs a closed window, which a sliding correlation does not give, and
//! `near` has no exact correlation equivalent; those stay refused.

use crate::correlation::{CondOp, CorrelationRule, CorrelationType, Scope};
use crate::rule::{cerr, parse_meta, CompileError};
use crate::yaml::{Node, Value as Y};

/// A translated rule: the base rule document and its correlation.
pub struct Translated {
    pub base: Node,
    pub correlation: CorrelationRule,
}

fn replace_key(map: &Node, key: &str, value: Node) -> Node {
    let Y::Map(entries) = &map.value else {
        return map.clone();
    };
    let mut out: Vec<(Node, Node)> = entries
        .iter()
        .filter(|(k, _)| k.as_str() != Some(key))
        .cloned()
        .collect();
    out.push((
        Node {
            line: value.line,
            value: Y::Str(key.to_string()),
        },
        value,
    ));
    Node {
        line: map.line,
        value: Y::Map(out),
    }
}

/// `Some(Ok)` when the document uses a translatable legacy aggregation,
/// `Some(Err)` when it uses one that cannot be translated, `None` when it
/// has no aggregation.
pub fn translate(doc: &Node, fallback_id: &str) -> Option<Result<Translated, CompileError>> {
    let det = doc.get("detection")?;
    let cond = det.get("condition")?;
    let text = cond.as_str()?;
    let (expr, agg) = text.split_once('|')?;
    let line = cond.line;
    let refuse = |m: String| Some(Err(cerr(line, "legacy-aggregation", m)));
    let agg = agg.trim();
    let re = regex::Regex::new(
        r"^(count|sum|avg)\(\s*([\w.\-]*)\s*\)\s*(?:by\s+([\w.\-]+(?:\s*,\s*[\w.\-]+)*))?\s*(>=|>|<=|<|==|=)\s*(\d+(?:\.\d+)?)\s*$",
    )
    .ok()?;
    let Some(c) = re.captures(agg) else {
        return refuse(format!(
            "condition {text:?} uses a legacy Sigma aggregation that has no correlation \
             equivalent; write a correlation rule instead"
        ));
    };
    let func = &c[1];
    let field = c.get(2).map(|m| m.as_str()).filter(|s| !s.is_empty());
    let group_by: Vec<String> = c
        .get(3)
        .map(|m| {
            m.as_str()
                .split(',')
                .map(|s| s.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    let n: f64 = c[5].parse().ok()?;
    let op = match &c[4] {
        ">" => CondOp::Gt(n),
        ">=" => CondOp::Gte(n),
        other => {
            return refuse(format!(
                "condition {text:?}: a '{other}' threshold needs a closed window, which a \
                 sliding correlation does not give; write a correlation rule instead"
            ))
        }
    };
    let kind = match (func, field) {
        ("count", None) => CorrelationType::EventCount,
        ("count", Some(_)) => CorrelationType::ValueCount,
        ("sum", Some(_)) => CorrelationType::ValueSum,
        ("avg", Some(_)) => CorrelationType::ValueAvg,
        _ => return refuse(format!("condition {text:?}: {func}() needs a field")),
    };
    let timeframe = det
        .get("timeframe")
        .or_else(|| doc.get("timeframe"))
        .and_then(Node::as_scalar_string);
    let Some(timespan_ms) = timeframe
        .as_deref()
        .and_then(crate::correlation::parse_timespan)
    else {
        return refuse(format!(
            "condition {text:?} aggregates without a timeframe; write a correlation rule instead"
        ));
    };
    let meta = match parse_meta(doc, fallback_id) {
        Ok(m) => m,
        Err(e) => return Some(Err(e)),
    };
    let base_id = format!("{}-base", meta.id);
    let new_cond = Node {
        line,
        value: Y::Str(expr.trim().to_string()),
    };
    let det2 = replace_key(det, "condition", new_cond);
    let mut base = replace_key(doc, "detection", det2);
    base = replace_key(
        &base,
        "id",
        Node {
            line: doc.line,
            value: Y::Str(base_id.clone()),
        },
    );
    base = replace_key(
        &base,
        "title",
        Node {
            line: doc.line,
            value: Y::Str(format!("{} (event)", meta.title)),
        },
    );
    Some(Ok(Translated {
        base,
        correlation: CorrelationRule {
            meta,
            kind,
            rules: vec![base_id],
            group_by,
            timespan_ms,
            ops: vec![op],
            field: field.map(str::to_string),
            aliases: Vec::new(),
            generate: false,
            scope: Scope::Organisation,
        },
    }))
}
