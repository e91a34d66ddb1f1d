//! Silences: which stored detections open and notify nothing.
//!
//! A silence is a list of `field = value` matchers that must all hold, limited to one
//! organisation or federation-wide, with an expiry. Matching is exact (case-insensitive for
//! organisation codes and host names, which people type in any case).

use serde_json::Value;
use ward_model::escalation::{Silence, SilenceMatcher};

use crate::grouping::RuleHit;

/// Fields a matcher may name, besides `event.<dotted path>` into the event itself.
pub const SILENCE_FIELDS: &[&str] = &["rule_id", "rule_title", "org", "host", "level", "tag"];

/// Checks matchers before they are stored; the error names the bad one.
pub fn validate_matchers(matchers: &[SilenceMatcher]) -> Result<(), String> {
    if matchers.is_empty() {
        return Err("a silence needs at least one matcher".into());
    }
    for (i, m) in matchers.iter().enumerate() {
        let known = SILENCE_FIELDS.contains(&m.field.as_str())
            || m.field
                .strip_prefix("event.")
                .is_some_and(|p| !p.is_empty());
        if !known {
            return Err(format!(
                "matchers[{i}].field {:?}; expected one of {} or event.<path>",
                m.field,
                SILENCE_FIELDS.join(", ")
            ));
        }
        if m.value.is_empty() {
            return Err(format!("matchers[{i}].value is empty"));
        }
    }
    Ok(())
}

/// The first silence that catches `hit`, if any. Expiry is the caller's filter.
pub fn matching_silence<'a>(silences: &'a [Silence], hit: &RuleHit) -> Option<&'a Silence> {
    let mut event: Option<Value> = None;
    silences.iter().find(|s| {
        if let Some(org) = &s.org_code {
            if !org.as_str().eq_ignore_ascii_case(&hit.org) {
                return false;
            }
        }
        !s.matchers.is_empty() && s.matchers.iter().all(|m| matches(m, hit, &mut event))
    })
}

fn matches(m: &SilenceMatcher, hit: &RuleHit, event: &mut Option<Value>) -> bool {
    match m.field.as_str() {
        "rule_id" => hit.rule_id == m.value,
        "rule_title" => hit.rule_title == m.value,
        "org" => hit.org.eq_ignore_ascii_case(&m.value),
        "host" => hit
            .host
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(&m.value)),
        "level" => hit.level.as_str() == m.value,
        "tag" => hit.tags.iter().any(|t| t == &m.value),
        field => {
            let Some(path) = field.strip_prefix("event.") else {
                return false;
            };
            // Parsed once per hit, and only when a matcher looks inside the event.
            let ev = event.get_or_insert_with(|| {
                serde_json::from_str(&hit.event_json).unwrap_or(Value::Null)
            });
            let mut v = &*ev;
            for key in path.split('.') {
                match v.get(key) {
                    Some(next) => v = next,
                    None => return false,
                }
            }
            match v {
                Value::String(s) => *s == m.value,
                Value::Number(n) => n.to_string() == m.value,
                Value::Bool(b) => b.to_string() == m.value,
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_model::Level;

    fn hit() -> RuleHit {
        RuleHit {
            event_offset: 1,
            org: "RJ1".into(),
            received_at_ms: 0,
            host: Some("PC1".into()),
            event_json:
                r#"{"Image":"C:\\Windows\\tasksche.exe","EventID":1,"User":{"Name":"svc_backup"}}"#
                    .into(),
            rule_id: "r-1".into(),
            rule_title: "WannaCry".into(),
            rule_author: None,
            level: Level::Critical,
            tags: vec!["attack.t1486".into()],
            matched_fields: serde_json::json!({}),
        }
    }

    fn silence(org: Option<&str>, m: &[(&str, &str)]) -> Silence {
        Silence {
            id: 7,
            org_code: org.map(|o| o.parse().unwrap()),
            matchers: m
                .iter()
                .map(|(f, v)| SilenceMatcher {
                    field: f.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            reason: "test".into(),
            author: "a".into(),
            created_at: 0,
            expires_at: i64::MAX,
        }
    }

    #[test]
    fn every_matcher_must_hold() {
        let h = hit();
        let both = [silence(None, &[("rule_id", "r-1"), ("host", "pc1")])];
        assert_eq!(matching_silence(&both, &h).map(|s| s.id), Some(7));
        let wrong_host = [silence(None, &[("rule_id", "r-1"), ("host", "pc2")])];
        assert!(matching_silence(&wrong_host, &h).is_none());
    }

    #[test]
    fn organisation_limits_a_silence() {
        let h = hit();
        assert!(matching_silence(&[silence(Some("RJ2"), &[("rule_id", "r-1")])], &h).is_none());
        assert!(matching_silence(&[silence(Some("rj1"), &[("rule_id", "r-1")])], &h).is_some());
    }

    #[test]
    fn any_event_field_by_path() {
        let h = hit();
        let s = [silence(
            None,
            &[("event.User.Name", "svc_backup"), ("event.EventID", "1")],
        )];
        assert!(matching_silence(&s, &h).is_some());
        let s = [silence(None, &[("event.User.Name", "someone_else")])];
        assert!(matching_silence(&s, &h).is_none());
        let s = [silence(None, &[("event.Missing.Path", "x")])];
        assert!(matching_silence(&s, &h).is_none());
    }

    #[test]
    fn validation_names_the_bad_matcher() {
        let bad = [SilenceMatcher {
            field: "colour".into(),
            value: "red".into(),
        }];
        let err = validate_matchers(&bad).unwrap_err();
        assert!(err.contains("matchers[0].field"), "{err}");
        assert!(validate_matchers(&[]).is_err());
        let ok = [SilenceMatcher {
            field: "event.Image".into(),
            value: "x".into(),
        }];
        assert!(validate_matchers(&ok).is_ok());
    }
}
