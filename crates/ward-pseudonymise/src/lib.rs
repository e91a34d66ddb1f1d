//! Patient identifiers never stored readable.
//!
//! [`Pseudonymiser`] replaces, in text, JSON and [`ward_event::Event`]s:
//!
//! * NHS numbers — ten digits, contiguous or `943 476 5919` / `943-476-5919`,
//!   **valid under Modulus 11** (invalid ten-digit numbers are left alone);
//! * UK postcodes (area checked against the real list);
//! * dates of birth in clinical context (`DOB: 01/02/1960`, `date of birth`,
//!   `born`), and any value of a key such as `dob` or `date_of_birth`;
//! * e-mail addresses and UK phone numbers in free text;
//! * configured extra regular expressions.
//!
//! Each becomes a keyed token, `<kind>:tok_<20 hex>` — the first 80 bits of
//! HMAC-SHA-256 under the federation secret of `kind:normalised value` — so
//! the same identifier gives the same token across events and members and
//! still correlates, but cannot be read or brute-forced without the secret.
//! What is scanned is [`Config`]; the defaults scan everything.
//!
//! ```
//! use ward_pseudonymise::{Config, Counts, Pseudonymiser};
//!
//! let p = Pseudonymiser::new(b"federation-secret-at-least-16-bytes", &Config::default()).unwrap();
//! let mut counts = Counts::default();
//! let out = p.pseudonymise_str("Patient 943 476 5919 (order 1234567890) DOB: 01/02/1960", &mut counts);
//! assert!(!out.contains("943 476 5919"));
//! assert!(out.contains("order 1234567890"));
//! assert!(out.contains("nhs:tok_"));
//! assert!(out.contains("dob:tok_"));
//! assert_eq!(counts.nhs, 1);
//! // Same number, other spelling: same token.
//! let again = p.pseudonymise_str("9434765919", &mut counts);
//! assert!(out.contains(again.as_ref()));
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use ward_event::Event;

pub mod bench;
pub mod scan;

pub use bench::{bench_pseudonymise, PseudoBenchReport};
pub use scan::Match;

/// Kinds of identifier, each with its token prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// NHS number (Modulus 11 valid).
    Nhs,
    /// UK postcode.
    Postcode,
    /// Date of birth.
    Dob,
    /// E-mail address.
    Email,
    /// Telephone number.
    Phone,
}

impl Kind {
    /// Token prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Nhs => "nhs",
            Kind::Postcode => "postcode",
            Kind::Dob => "dob",
            Kind::Email => "email",
            Kind::Phone => "phone",
        }
    }
}

/// An extra pattern to pseudonymise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraPattern {
    /// Token prefix, e.g. `mrn` gives `mrn:tok_…`. Lower-case letters,
    /// digits and `_` only.
    pub name: String,
    /// Regular expression (Rust `regex` syntax). If it has a capture group,
    /// only group 1 is replaced; otherwise the whole match.
    pub pattern: String,
}

/// What to scan. Every detector is on by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Configuration format version (1).
    pub version: u32,
    /// Replace Modulus 11–valid NHS numbers.
    pub nhs_numbers: bool,
    /// Replace UK postcodes.
    pub postcodes: bool,
    /// Replace dates of birth in clinical context.
    pub dates_of_birth: bool,
    /// Replace e-mail addresses.
    pub emails: bool,
    /// Replace UK phone numbers.
    pub phone_numbers: bool,
    /// Extra patterns.
    pub extra_patterns: Vec<ExtraPattern>,
    /// JSON keys (case-insensitive) whose whole string value is an identifier
    /// of the given kind, whatever it looks like (`"dob": "1960-02-01"`).
    pub identifier_keys: BTreeMap<String, Kind>,
    /// JSON keys (case-insensitive) whose values are not scanned at all.
    /// Empty by default: skipping is an explicit decision.
    pub skip_keys: Vec<String>,
    /// Literal text that, immediately before a ten-digit match, marks it as
    /// a known machine identifier rather than an NHS number (FortiGate
    /// `logid=`, session ids, epoch-second fields). Matched exactly.
    pub nhs_ignore_after: Vec<String>,
}

impl Default for Config {
    fn default() -> Config {
        let keys = [
            ("dob", Kind::Dob),
            ("date_of_birth", Kind::Dob),
            ("dateofbirth", Kind::Dob),
            ("birthdate", Kind::Dob),
            ("birth_date", Kind::Dob),
            ("postcode", Kind::Postcode),
            ("post_code", Kind::Postcode),
            ("email", Kind::Email),
            ("email_address", Kind::Email),
            ("phone", Kind::Phone),
            ("telephone", Kind::Phone),
            ("mobile", Kind::Phone),
        ];
        Config {
            version: 1,
            nhs_numbers: true,
            postcodes: true,
            dates_of_birth: true,
            emails: true,
            phone_numbers: true,
            extra_patterns: Vec::new(),
            identifier_keys: keys.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            skip_keys: Vec::new(),
            nhs_ignore_after: [
                "logid=\"",
                "logid=",
                "devid=",
                "sessionid=",
                "eventtime=",
                "\"ts\":",
                "\"flow_id\":",
                "EventRecordID\":",
            ]
            .iter()
            .map(|x| x.to_string())
            .collect(),
        }
    }
}

/// Configuration problems.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The secret is too short to be a key.
    #[error("WP0001: the pseudonymisation secret must be at least 16 bytes, got {0}")]
    SecretTooShort(usize),
    /// An extra pattern does not compile.
    #[error("WP0002: extra pattern {name:?} is not a valid regular expression: {reason}")]
    BadPattern {
        /// Pattern name.
        name: String,
        /// Compiler message.
        reason: String,
    },
    /// An extra pattern name is not usable as a token prefix.
    #[error("WP0003: extra pattern name {0:?} must be lower-case letters, digits or '_'")]
    BadName(String),
    /// Unsupported configuration version.
    #[error("WP0004: unsupported pseudonymisation config version {0} (expected 1)")]
    Version(u32),
}

/// How many identifiers of each kind were replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// NHS numbers.
    pub nhs: u64,
    /// Postcodes.
    pub postcode: u64,
    /// Dates of birth.
    pub dob: u64,
    /// E-mail addresses.
    pub email: u64,
    /// Phone numbers.
    pub phone: u64,
    /// Extra patterns.
    pub custom: u64,
}

impl Counts {
    /// All replacements.
    pub fn total(&self) -> u64 {
        self.nhs + self.postcode + self.dob + self.email + self.phone + self.custom
    }

    fn add(&mut self, kind: Option<Kind>) {
        match kind {
            Some(Kind::Nhs) => self.nhs += 1,
            Some(Kind::Postcode) => self.postcode += 1,
            Some(Kind::Dob) => self.dob += 1,
            Some(Kind::Email) => self.email += 1,
            Some(Kind::Phone) => self.phone += 1,
            None => self.custom += 1,
        }
    }
}

/// The date in a date-of-birth context. Group 1 is the date.
const DOB_PATTERN: &str = r#"(?i)\b(?:d\.?o\.?b\.?|date[ _-]*of[ _-]*birth|birth[ _-]*date|born(?: on)?)["']?[ \t]*[:=]?[ \t]*["']?[ \t]*(\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}|\d{1,2}(?:st|nd|rd|th)?[ ](?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?[ ]\d{4})\b"#;

/// Spans of tokens already in `text` (`<prefix>:tok_<20 hex>`).
fn token_spans(text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for k in memchr::memmem::find_iter(text, b":tok_") {
        let mut s = k;
        while s > 0
            && (text[s - 1].is_ascii_lowercase()
                || text[s - 1].is_ascii_digit()
                || text[s - 1] == b'_')
        {
            s -= 1;
        }
        let hex_start = k + 5;
        let mut e = hex_start;
        while e < text.len() && e - hex_start < 20 && text[e].is_ascii_hexdigit() {
            e += 1;
        }
        if s < k && e - hex_start == 20 {
            out.push((s, e));
        }
    }
    out
}

/// Replaces identifiers with keyed tokens. Cheap to share (`&self`
/// everywhere); build one per federation secret.
#[derive(Debug, Clone)]
pub struct Pseudonymiser {
    mac: Hmac<Sha256>,
    cfg: Config,
    dob: Option<regex::bytes::Regex>,
    extra: Vec<(String, regex::bytes::Regex)>,
    identifier_keys: BTreeMap<String, Kind>,
    skip_keys: Vec<String>,
}

impl Pseudonymiser {
    /// Build from the federation secret and a configuration.
    pub fn new(secret: &[u8], config: &Config) -> Result<Pseudonymiser, ConfigError> {
        if secret.len() < 16 {
            return Err(ConfigError::SecretTooShort(secret.len()));
        }
        if config.version != 1 {
            return Err(ConfigError::Version(config.version));
        }
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .map_err(|_| ConfigError::SecretTooShort(secret.len()))?;
        let dob = if config.dates_of_birth {
            Some(
                regex::bytes::Regex::new(DOB_PATTERN).map_err(|e| ConfigError::BadPattern {
                    name: "dob".into(),
                    reason: e.to_string(),
                })?,
            )
        } else {
            None
        };
        let mut extra = Vec::new();
        for p in &config.extra_patterns {
            if p.name.is_empty()
                || !p
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(ConfigError::BadName(p.name.clone()));
            }
            let re = regex::bytes::Regex::new(&p.pattern).map_err(|e| ConfigError::BadPattern {
                name: p.name.clone(),
                reason: e.to_string(),
            })?;
            extra.push((p.name.clone(), re));
        }
        Ok(Pseudonymiser {
            mac,
            cfg: config.clone(),
            dob,
            extra,
            identifier_keys: config
                .identifier_keys
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), *v))
                .collect(),
            skip_keys: config
                .skip_keys
                .iter()
                .map(|k| k.to_ascii_lowercase())
                .collect(),
        })
    }

    /// The token for an already-normalised value of a kind (prefix).
    pub fn token(&self, prefix: &str, normalised: &str) -> String {
        let mut m = self.mac.clone();
        m.update(prefix.as_bytes());
        m.update(b":");
        m.update(normalised.as_bytes());
        let digest = m.finalize().into_bytes();
        let mut out = String::with_capacity(prefix.len() + 25);
        out.push_str(prefix);
        out.push_str(":tok_");
        for b in &digest[..10] {
            out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        out
    }

    /// Find every identifier in `text`, non-overlapping, in order.
    pub fn scan(&self, text: &[u8]) -> Vec<Match> {
        self.scan_inner(text, true)
    }

    fn scan_inner(&self, text: &[u8], nhs: bool) -> Vec<Match> {
        let mut m = Vec::new();
        // Cheap gates first: most log text has no '@', few digit runs.
        let has_digit = text.iter().any(u8::is_ascii_digit);
        if self.cfg.emails && memchr::memchr(b'@', text).is_some() {
            scan::emails(text, &mut m);
        }
        if has_digit {
            if self.cfg.nhs_numbers && nhs {
                let before = m.len();
                scan::nhs_numbers(text, &mut m);
                if !self.cfg.nhs_ignore_after.is_empty() {
                    let ignore = &self.cfg.nhs_ignore_after;
                    let mut k = before;
                    while k < m.len() {
                        let head = &text[..m[k].start];
                        if ignore.iter().any(|p| head.ends_with(p.as_bytes())) {
                            m.remove(k);
                        } else {
                            k += 1;
                        }
                    }
                }
            }
            if self.cfg.phone_numbers {
                scan::phones(text, &mut m);
            }
            if self.cfg.postcodes {
                scan::postcodes(text, &mut m);
            }
            if let Some(re) = &self.dob {
                for c in re.captures_iter(text) {
                    if let Some(g) = c.get(1) {
                        m.push(Match {
                            start: g.start(),
                            end: g.end(),
                            kind: Some(Kind::Dob),
                            custom: 0,
                            normalised: String::from_utf8_lossy(g.as_bytes()).to_ascii_lowercase(),
                        });
                    }
                }
            }
        }
        for (i, (_, re)) in self.extra.iter().enumerate() {
            for c in re.captures_iter(text) {
                let Some(g) = c.get(1).or_else(|| c.get(0)) else {
                    continue;
                };
                if g.start() == g.end() {
                    continue;
                }
                m.push(Match {
                    start: g.start(),
                    end: g.end(),
                    kind: None,
                    custom: i,
                    normalised: String::from_utf8_lossy(g.as_bytes()).into_owned(),
                });
            }
        }
        // Never match into an existing token (`nhs:tok_…`): a token next to
        // an `@` would otherwise read as an e-mail local part on a second
        // pass, and pseudonymisation must be idempotent.
        if !m.is_empty() && memchr::memmem::find(text, b":tok_").is_some() {
            let spans = token_spans(text);
            m.retain(|x| !spans.iter().any(|&(s, e)| x.start < e && s < x.end));
        }
        if m.len() > 1 {
            // Earliest first, then longest: an e-mail whose local part is an
            // NHS number replaces the whole address (the number goes too).
            m.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
            let mut kept: Vec<Match> = Vec::with_capacity(m.len());
            for x in m {
                match kept.last_mut() {
                    Some(last) if x.start < last.end => {
                        // Overlap: extend to cover both so nothing of either
                        // survives; keep the first one's kind.
                        if x.end > last.end {
                            last.end = x.end;
                        }
                    }
                    _ => kept.push(x),
                }
            }
            m = kept;
        }
        m
    }

    fn token_for(&self, m: &Match) -> String {
        match m.kind {
            Some(k) => self.token(k.prefix(), &m.normalised),
            None => self.token(&self.extra[m.custom].0, &m.normalised),
        }
    }

    /// Pseudonymise bytes. Returns the input unchanged (borrowed) when it
    /// holds no identifier.
    pub fn pseudonymise_bytes<'a>(&self, text: &'a [u8], counts: &mut Counts) -> Cow<'a, [u8]> {
        self.replace(text, self.scan(text), counts)
    }

    fn replace<'a>(
        &self,
        text: &'a [u8],
        matches: Vec<Match>,
        counts: &mut Counts,
    ) -> Cow<'a, [u8]> {
        if matches.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = Vec::with_capacity(text.len() + matches.len() * 16);
        let mut at = 0;
        for m in &matches {
            out.extend_from_slice(&text[at..m.start]);
            out.extend_from_slice(self.token_for(m).as_bytes());
            counts.add(m.kind);
            at = m.end;
        }
        out.extend_from_slice(&text[at..]);
        Cow::Owned(out)
    }

    /// Pseudonymise a string.
    pub fn pseudonymise_str<'a>(&self, text: &'a str, counts: &mut Counts) -> Cow<'a, str> {
        match self.pseudonymise_bytes(text.as_bytes(), counts) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Matches start and end on ASCII bytes and tokens are ASCII, so
            // the result is valid UTF-8; the lossy conversion never replaces.
            Cow::Owned(v) => Cow::Owned(
                String::from_utf8(v)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
        }
    }

    /// Pseudonymise a `String` in place.
    pub fn pseudonymise_string(&self, s: &mut String, counts: &mut Counts) {
        if let Cow::Owned(new) = self.pseudonymise_str(s, counts) {
            *s = new;
        }
    }

    fn opt(&self, s: &mut Option<String>, c: &mut Counts) {
        if let Some(s) = s {
            self.pseudonymise_string(s, c);
        }
    }

    /// Pseudonymise every string leaf of a JSON value (keys are left alone).
    /// Values of [`Config::identifier_keys`] are tokenised whole; values of
    /// [`Config::skip_keys`] are not scanned.
    pub fn pseudonymise_value(&self, v: &mut Value, counts: &mut Counts) {
        match v {
            Value::String(s) => self.pseudonymise_string(s, counts),
            // An NHS number written as a JSON number (`"nhs": 9434765919`).
            Value::Number(n) if n.is_u64() && self.cfg.nhs_numbers => {
                let text = n.to_string();
                if let Cow::Owned(t) = self.pseudonymise_str(&text, counts) {
                    *v = Value::String(t);
                }
            }
            Value::Array(a) => a
                .iter_mut()
                .for_each(|x| self.pseudonymise_value(x, counts)),
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    let lk = k.to_ascii_lowercase();
                    if self.skip_keys.contains(&lk) {
                        continue;
                    }
                    // `logid: "0419016384"` is a machine id exactly as
                    // `logid=0419016384` is in text.
                    if let Value::String(text) = x {
                        let keyed = |p: &String| {
                            p.len() == k.len() + 1 && p.starts_with(k.as_str()) && p.ends_with('=')
                        };
                        if self.cfg.nhs_ignore_after.iter().any(keyed) {
                            let m = self.scan_inner(text.as_bytes(), false);
                            if let Cow::Owned(v) = self.replace(text.as_bytes(), m, counts) {
                                *text = String::from_utf8_lossy(&v).into_owned();
                            }
                            continue;
                        }
                    }
                    if let Some(kind) = self.identifier_keys.get(&lk) {
                        if let Value::String(s) = x {
                            if !s.is_empty() && !s.contains(":tok_") {
                                let norm = s.trim().to_ascii_lowercase();
                                *s = self.token(kind.prefix(), &norm);
                                counts.add(Some(*kind));
                                continue;
                            }
                        }
                    }
                    self.pseudonymise_value(x, counts);
                }
            }
            _ => {}
        }
    }

    /// Pseudonymise every free-text field of an event, its original record
    /// (raw text and field map) and its e-mail, URL, user and domain
    /// observables. `counts` counts replacements: an identifier that appears
    /// in both the raw record and a model field counts twice.
    pub fn pseudonymise_event(&self, ev: &mut Event, counts: &mut Counts) {
        let d = counts;
        self.pseudonymise_string(&mut ev.original.raw, d);
        if let Some(f) = &mut ev.original.fields {
            let mut obj = Value::Object(std::mem::take(f));
            self.pseudonymise_value(&mut obj, d);
            if let Value::Object(m) = obj {
                *f = m;
            }
        }
        // A source event code that survives verbatim in the pseudonymised
        // record was judged in context (e.g. FortiGate `logid=`), so it is
        // not re-judged without that context.
        if let Some(t) = &mut ev.type_name {
            if !ev.original.raw.contains(t.as_str()) {
                self.pseudonymise_string(t, d);
            }
        }
        self.opt(&mut ev.message, d);
        if let Some(h) = &mut ev.host {
            self.opt(&mut h.hostname, d);
        }
        if let Some(u) = &mut ev.user {
            self.opt(&mut u.name, d);
            self.opt(&mut u.domain, d);
        }
        for ep in [&mut ev.src, &mut ev.dst].into_iter().flatten() {
            self.opt(&mut ep.hostname, d);
        }
        if let Some(p) = &mut ev.process {
            self.opt(&mut p.path, d);
            self.opt(&mut p.name, d);
            self.opt(&mut p.cmd_line, d);
            self.opt(&mut p.parent_path, d);
            self.opt(&mut p.parent_cmd_line, d);
        }
        if let Some(f) = &mut ev.file {
            self.opt(&mut f.path, d);
            self.opt(&mut f.name, d);
        }
        if let Some(u) = &mut ev.url {
            self.pseudonymise_string(&mut u.full, d);
            self.opt(&mut u.path, d);
            self.opt(&mut u.query, d);
            self.opt(&mut u.hostname, d);
        }
        if let Some(h) = &mut ev.http {
            self.opt(&mut h.user_agent, d);
            self.opt(&mut h.referrer, d);
        }
        if let Some(x) = &mut ev.dns {
            self.opt(&mut x.query, d);
            x.answers
                .iter_mut()
                .for_each(|a| self.pseudonymise_string(a, d));
        }
        if let Some(n) = &mut ev.network {
            self.opt(&mut n.rule, d);
            self.opt(&mut n.tls_subject, d);
        }
        if let Some(f) = &mut ev.finding {
            self.pseudonymise_string(&mut f.title, d);
        }
        let o = &mut ev.observables;
        o.urls
            .iter_mut()
            .for_each(|x| self.pseudonymise_string(x, d));
        o.users
            .iter_mut()
            .for_each(|x| self.pseudonymise_string(x, d));
        o.emails
            .iter_mut()
            .for_each(|x| self.pseudonymise_string(x, d));
        o.domains
            .iter_mut()
            .for_each(|x| self.pseudonymise_string(x, d));
        if let ward_event::ParseStatus::Raw { reason, .. } = &mut ev.parse_status {
            self.pseudonymise_string(reason, d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Pseudonymiser {
        Pseudonymiser::new(b"0123456789abcdef-test-secret", &Config::default()).unwrap()
    }

    #[test]
    fn tokens_are_keyed_and_stable() {
        let a = p().token("nhs", "9434765919");
        assert_eq!(a, p().token("nhs", "9434765919"));
        assert!(a.starts_with("nhs:tok_") && a.len() == 8 + 20);
        let other = Pseudonymiser::new(b"another-secret-of-16+bytes", &Config::default()).unwrap();
        assert_ne!(a, other.token("nhs", "9434765919"));
    }

    #[test]
    fn idempotent() {
        let mut c = Counts::default();
        let s = "NHS 943 476 5919 at LS1 4AP, tel 07700 900123, j.bloggs@nhs.net, DOB 01/02/1960";
        let once = p().pseudonymise_str(s, &mut c).into_owned();
        assert_eq!(c.total(), 5, "{once}");
        let twice = p().pseudonymise_str(&once, &mut c);
        assert_eq!(once, twice);
        assert_eq!(c.total(), 5);
    }

    #[test]
    fn json_keys_and_leaves() {
        let mut v = serde_json::json!({
            "dob": "1960-02-01",
            "note": "patient 9434765919",
            "9434765919": "keys stay",
            "list": ["SW1A 1AA", 42],
        });
        let mut c = Counts::default();
        p().pseudonymise_value(&mut v, &mut c);
        assert!(v["dob"].as_str().unwrap().starts_with("dob:tok_"));
        assert!(v["note"].as_str().unwrap().starts_with("patient nhs:tok_"));
        assert_eq!(v["9434765919"], "keys stay");
        assert!(v["list"][0].as_str().unwrap().starts_with("postcode:tok_"));
        assert_eq!(c.total(), 3);
    }

    #[test]
    fn config_errors() {
        assert!(matches!(
            Pseudonymiser::new(b"short", &Config::default()),
            Err(ConfigError::SecretTooShort(5))
        ));
        let mut cfg = Config::default();
        cfg.extra_patterns.push(ExtraPattern {
            name: "mrn".into(),
            pattern: "(".into(),
        });
        assert!(matches!(
            Pseudonymiser::new(b"0123456789abcdef", &cfg),
            Err(ConfigError::BadPattern { .. })
        ));
        let cfg: Result<Config, _> = serde_json::from_str(r#"{"nhs_numbers": true, "typo": 1}"#);
        assert!(cfg.is_err());
    }

    #[test]
    fn extra_patterns_with_group() {
        let cfg = Config {
            extra_patterns: vec![ExtraPattern {
                name: "mrn".into(),
                pattern: r"MRN[: ]+([A-Z]\d{7})".into(),
            }],
            ..Config::default()
        };
        let p = Pseudonymiser::new(b"0123456789abcdef", &cfg).unwrap();
        let mut c = Counts::default();
        let out = p.pseudonymise_str("seen MRN: K1234567 today", &mut c);
        assert!(out.starts_with("seen MRN: mrn:tok_"), "{out}");
        assert_eq!(c.custom, 1);
    }

    #[test]
    fn machine_identifiers_after_known_keys_are_not_nhs_numbers() {
        let mut c = Counts::default();
        // 0419016384 is Modulus 11-valid, but a FortiGate log id here.
        let s = r#"logid="0419016384" type="utm" note=9434765919"#;
        let out = p().pseudonymise_str(s, &mut c);
        assert!(out.starts_with(r#"logid="0419016384""#), "{out}");
        assert!(!out.contains("9434765919"));
        assert_eq!(c.nhs, 1);
        let mut v = serde_json::json!({"logid": "0419016384", "other": "0419016384"});
        p().pseudonymise_value(&mut v, &mut c);
        assert_eq!(v["logid"], "0419016384");
        assert_ne!(v["other"], "0419016384");
    }

    #[test]
    fn disabled_detectors_leave_text() {
        let cfg = Config {
            postcodes: false,
            ..Config::default()
        };
        let p = Pseudonymiser::new(b"0123456789abcdef", &cfg).unwrap();
        let mut c = Counts::default();
        assert_eq!(p.pseudonymise_str("LS1 4AP", &mut c), "LS1 4AP");
    }
}
