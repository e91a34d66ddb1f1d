//! Recipient validation and template rendering, as Notify does them.
//!
//! Phone numbers follow `notifications-utils`' `validate_phone_number`, including its
//! character-set `lstrip` of `0` and `44`; e-mail addresses its `validate_email_address`;
//! templates its `((placeholder))` and `((placeholder??conditional text))` syntax with
//! case-, space-, underscore- and hyphen-insensitive names.

use serde_json::{Map, Value};

/// Notify's phone-number faults (the message follows `phone_number `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneFault {
    LettersOrSymbols,
    NotUkMobile,
    TooManyDigits,
    NotEnoughDigits,
    NotValidCountryPrefix,
}

impl PhoneFault {
    pub fn message(&self) -> &'static str {
        match self {
            PhoneFault::LettersOrSymbols => "Must not contain letters or symbols",
            PhoneFault::NotUkMobile => "Not a UK mobile number",
            PhoneFault::TooManyDigits => "Too many digits",
            PhoneFault::NotEnoughDigits => "Not enough digits",
            PhoneFault::NotValidCountryPrefix => "Not a valid country prefix",
        }
    }
}

fn normalise_phone(number: &str) -> Result<String, PhoneFault> {
    let mut digits = String::with_capacity(number.len());
    for c in number.chars() {
        if c.is_whitespace() || matches!(c, '(' | ')' | '-' | '+') {
            continue;
        }
        if !c.is_ascii_digit() {
            return Err(PhoneFault::LettersOrSymbols);
        }
        digits.push(c);
    }
    Ok(digits.trim_start_matches('0').to_string())
}

fn is_uk(number: &str) -> bool {
    let stripped: String = number
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '(' | ')' | '-'))
        .collect();
    if stripped.starts_with('0') && !stripped.starts_with("00") {
        return true;
    }
    let n = stripped.trim_start_matches('+').trim_start_matches('0');
    n.starts_with("447") || (n.starts_with('7') && n.len() == 10)
}

/// Validates like Notify; returns the normalised number (`447…` for UK numbers).
pub fn validate_phone(number: &str, international: bool) -> Result<String, PhoneFault> {
    if !international || is_uk(number) {
        let n = normalise_phone(number)?;
        // Python's str.lstrip("44") strips a *set* of characters; kept for fidelity.
        let n = n.trim_start_matches('4').trim_start_matches('0');
        if !n.starts_with('7') {
            return Err(PhoneFault::NotUkMobile);
        }
        return match n.len() {
            10 => Ok(format!("44{n}")),
            l if l > 10 => Err(PhoneFault::TooManyDigits),
            _ => Err(PhoneFault::NotEnoughDigits),
        };
    }
    let n = normalise_phone(number)?;
    if n.len() < 8 {
        return Err(PhoneFault::NotEnoughDigits);
    }
    if n.len() > 15 {
        return Err(PhoneFault::TooManyDigits);
    }
    // Country codes never start with 0; a full prefix table is beyond a stand-in.
    if n.starts_with('0') {
        return Err(PhoneFault::NotValidCountryPrefix);
    }
    Ok(n)
}

/// True when the normalised number is UK (else the SMS ends `sent`, not `delivered`).
pub fn is_uk_normalised(n: &str) -> bool {
    n.starts_with("447")
}

/// `notifications-utils`' e-mail check: a permissive local part, a dotted host name whose
/// labels are letters, digits and inner hyphens, and a TLD that is not all digits.
pub fn validate_email(address: &str) -> bool {
    let address = address.trim();
    if address.len() > 320 || address.contains("..") {
        return false;
    }
    let Some((local, host)) = address.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c));
    if !local_ok || host.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !labels.iter().all(label_ok) {
        return false;
    }
    let tld = labels[labels.len() - 1];
    tld.len() >= 2 && !tld.chars().all(|c| c.is_ascii_digit())
}

/// Notify's insensitive key: lower case without spaces, underscores or hyphens.
pub fn insensitive_key(k: &str) -> String {
    k.chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Placeholder {
    name: String,
    conditional: Option<String>,
}

/// Placeholders in order of first appearance.
fn placeholders(text: &str) -> Vec<(usize, usize, Placeholder)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(start) = text[i..].find("((") {
        let s = i + start;
        let Some(len) = text[s + 2..].find("))") else {
            break;
        };
        let inner = &text[s + 2..s + 2 + len];
        let e = s + 2 + len + 2;
        if inner.is_empty() || inner.contains('(') || inner.contains('\n') {
            i = s + 2;
            continue;
        }
        let ph = match inner.split_once("??") {
            Some((n, body)) => Placeholder {
                name: n.to_string(),
                conditional: Some(body.to_string()),
            },
            None => Placeholder {
                name: inner.to_string(),
                conditional: None,
            },
        };
        out.push((s, e, ph));
        i = e;
    }
    out
}

/// Placeholder names the personalisation lacks, in template order, without repeats.
pub fn missing_personalisation(
    texts: &[&str],
    personalisation: &Map<String, Value>,
) -> Vec<String> {
    let have: std::collections::HashSet<String> = personalisation
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, _)| insensitive_key(k))
        .collect();
    let mut missing: Vec<String> = Vec::new();
    for t in texts {
        for (_, _, ph) in placeholders(t) {
            let k = insensitive_key(&ph.name);
            if !have.contains(&k) && !missing.iter().any(|m| insensitive_key(m) == k) {
                missing.push(ph.name.clone());
            }
        }
    }
    missing
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().map(|f| f != 0.0).unwrap_or(false),
        Value::String(s) => matches!(
            s.trim().to_lowercase().as_str(),
            "yes" | "y" | "true" | "t" | "1"
        ),
        _ => false,
    }
}

fn render_value(v: &Value, email: bool) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) if email => {
            let lines: Vec<String> = items
                .iter()
                .map(|i| format!("* {}", render_value(i, false)))
                .collect();
            format!("\n\n{}\n", lines.join("\n"))
        }
        Value::Array(items) => items
            .iter()
            .map(|i| render_value(i, false))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Replaces every placeholder; call after [`missing_personalisation`] found none.
pub fn render(text: &str, personalisation: &Map<String, Value>, email: bool) -> String {
    let values: std::collections::HashMap<String, &Value> = personalisation
        .iter()
        .map(|(k, v)| (insensitive_key(k), v))
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (s, e, ph) in placeholders(text) {
        out.push_str(&text[last..s]);
        let v = values.get(&insensitive_key(&ph.name)).copied();
        match (&ph.conditional, v) {
            (Some(body), Some(v)) if truthy(v) => out.push_str(body),
            (Some(_), _) => {}
            (None, Some(v)) => out.push_str(&render_value(v, email)),
            (None, None) => out.push_str(&text[s..e]),
        }
        last = e;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn phone_like_notify() {
        assert_eq!(
            validate_phone("07700 900123", false).unwrap(),
            "447700900123"
        );
        assert_eq!(
            validate_phone("+44 7700 900123", false).unwrap(),
            "447700900123"
        );
        assert_eq!(
            validate_phone("(07700)-900123", false).unwrap(),
            "447700900123"
        );
        assert_eq!(
            validate_phone("07700a00123", false),
            Err(PhoneFault::LettersOrSymbols)
        );
        assert_eq!(
            validate_phone("020 7946 0000", false),
            Err(PhoneFault::NotUkMobile)
        );
        assert_eq!(
            validate_phone("077009001234", false),
            Err(PhoneFault::TooManyDigits)
        );
        assert_eq!(
            validate_phone("0770090012", false),
            Err(PhoneFault::NotEnoughDigits)
        );
        assert_eq!(
            validate_phone("+33 6 12 34 56 78", false),
            Err(PhoneFault::NotUkMobile)
        );
        assert_eq!(
            validate_phone("+33 6 12 34 56 78", true).unwrap(),
            "33612345678"
        );
        assert_eq!(
            validate_phone("+1 2", true),
            Err(PhoneFault::NotEnoughDigits)
        );
    }

    #[test]
    fn email_like_notify() {
        assert!(validate_email("lead@nhs.net"));
        assert!(validate_email("first.o'last+tag@trust.nhs.uk"));
        assert!(!validate_email("lead@nhs"));
        assert!(!validate_email("lead@@nhs.net"));
        assert!(!validate_email("le ad@nhs.net"));
        assert!(!validate_email("lead@nhs..net"));
        assert!(!validate_email("lead@-nhs.net"));
        assert!(!validate_email("lead@nhs.123"));
    }

    #[test]
    fn templates_render_and_report_missing() {
        let p = json!({"First Name": "Amala", "show": "yes", "docs": ["a", "b"]});
        let p = p.as_object().unwrap();
        let t = "Hi ((first_name))((show?? - see below)) ((docs))";
        assert!(missing_personalisation(&[t], p).is_empty());
        assert_eq!(render(t, p, false), "Hi Amala - see below a, b");
        assert_eq!(render("((docs))", p, true), "\n\n* a\n* b\n");
        let m = missing_personalisation(&["((a)) ((b)) ((a))", "((c))"], p);
        assert_eq!(m, vec!["a", "b", "c"]);
        assert_eq!(render("no (( placeholders", p, false), "no (( placeholders");
    }
}
