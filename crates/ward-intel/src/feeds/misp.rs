//! MISP formats: the feed's `manifest.json` (event index), event JSON
//! (`{"Event": {...}}` with attributes and objects), the feed's `hashes.csv` (MD5 of
//! every attribute value → event uuid, for cheap "is this value in the feed?"), MISP's
//! CSV export, and freetext (the "freetext import" of analysts pasting a report).

use std::collections::HashMap;

use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{IntelError, Result};
use crate::feeds::IndicatorRecord;
use crate::observable::Observable;
use crate::policy::Distribution;
use crate::stix::Timestamp;
use crate::tlp::Tlp;

/// One entry of a feed's `manifest.json` (keyed by event uuid).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ManifestEntry {
    #[serde(default)]
    pub info: String,
    #[serde(default)]
    pub date: String,
    #[serde(default, deserialize_with = "num_or_str")]
    pub threat_level_id: u64,
    #[serde(default, deserialize_with = "num_or_str")]
    pub analysis: u64,
    #[serde(default, deserialize_with = "num_or_str")]
    pub timestamp: u64,
    #[serde(rename = "Orgc", default)]
    pub orgc: Option<Org>,
    #[serde(rename = "Tag", default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Org {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub uuid: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tag {
    pub name: String,
    #[serde(default)]
    pub colour: Option<String>,
}

fn num_or_str<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom("negative number")),
        Value::String(s) if s.is_empty() => Ok(0),
        Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        Value::Null => Ok(0),
        other => Err(serde::de::Error::custom(format!(
            "expected number, got {other}"
        ))),
    }
}

fn bool_or_str<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::String(s) => matches!(s.as_str(), "1" | "true" | "True"),
        Value::Number(n) => n.as_u64() == Some(1),
        _ => false,
    })
}

/// Parses `manifest.json`; returns entries sorted by uuid.
pub fn parse_manifest(bytes: &[u8]) -> Result<Vec<(String, ManifestEntry)>> {
    let m: HashMap<String, ManifestEntry> =
        serde_json::from_slice(bytes).map_err(|e| IntelError::json("MISP manifest.json", e))?;
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

/// Events in a manifest newer than a cursor (the previous run's max timestamp):
/// what an incremental pull must fetch.
pub fn manifest_changed_since(manifest: &[(String, ManifestEntry)], cursor: u64) -> Vec<&str> {
    manifest
        .iter()
        .filter(|(_, e)| e.timestamp > cursor)
        .map(|(u, _)| u.as_str())
        .collect()
}

/// A MISP attribute.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Attribute {
    #[serde(default)]
    pub uuid: String,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub category: String,
    pub value: String,
    #[serde(default, deserialize_with = "bool_or_str")]
    pub to_ids: bool,
    #[serde(default)]
    pub comment: String,
    #[serde(default, deserialize_with = "num_or_str")]
    pub timestamp: u64,
    #[serde(default)]
    pub distribution: Option<Value>,
    #[serde(rename = "Tag", default)]
    pub tags: Vec<Tag>,
    #[serde(default, deserialize_with = "bool_or_str")]
    pub deleted: bool,
}

/// A MISP object (a group of attributes).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MispObject {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "Attribute", default)]
    pub attributes: Vec<Attribute>,
}

/// A MISP event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    pub uuid: String,
    #[serde(default)]
    pub info: String,
    #[serde(default)]
    pub date: String,
    #[serde(default, deserialize_with = "num_or_str")]
    pub threat_level_id: u64,
    #[serde(default, deserialize_with = "num_or_str")]
    pub analysis: u64,
    #[serde(default, deserialize_with = "num_or_str")]
    pub distribution: u64,
    #[serde(default, deserialize_with = "num_or_str")]
    pub timestamp: u64,
    #[serde(rename = "Orgc", default)]
    pub orgc: Option<Org>,
    #[serde(rename = "Tag", default)]
    pub tags: Vec<Tag>,
    #[serde(rename = "Attribute", default)]
    pub attributes: Vec<Attribute>,
    #[serde(rename = "Object", default)]
    pub objects: Vec<MispObject>,
}

#[derive(Deserialize)]
struct EventEnvelope {
    #[serde(rename = "Event")]
    event: Event,
}

/// Parses an event file (`{"Event": {...}}`).
pub fn parse_event(bytes: &[u8]) -> Result<Event> {
    serde_json::from_slice::<EventEnvelope>(bytes)
        .map(|e| e.event)
        .map_err(|e| IntelError::json("MISP event", e))
}

/// The observables a MISP attribute carries (composite types like `domain|ip` and
/// `filename|sha256` give the parts ward matches). Unmatched types give none.
pub fn attribute_observables(type_: &str, value: &str) -> Vec<Observable> {
    let part = |i: usize| value.split('|').nth(i).unwrap_or("");
    let one = |r: Result<Observable>| r.ok().into_iter().collect::<Vec<_>>();
    match type_ {
        "ip-src" | "ip-dst" => one(Observable::ip(value)),
        "ip-src|port" | "ip-dst|port" => one(Observable::ip(part(0))),
        "domain" | "hostname" => one(Observable::domain(value)),
        "domain|ip" => {
            let mut v = one(Observable::domain(part(0)));
            v.extend(one(Observable::ip(part(1))));
            v
        }
        "hostname|port" => one(Observable::domain(part(0))),
        "url" | "link" => one(Observable::url(value)),
        "md5" | "sha1" | "sha256" => one(Observable::hash(value)),
        "filename|md5" | "filename|sha1" | "filename|sha256" => one(Observable::hash(part(1))),
        "email" | "email-src" | "email-dst" | "target-email" | "email-reply-to" => {
            one(Observable::email(value))
        }
        _ => Vec::new(),
    }
}

fn tags_tlp(tags: &[Tag]) -> Option<Tlp> {
    tags.iter().filter_map(|t| Tlp::parse(&t.name)).max()
}

/// MISP threat level (1 high … 4 undefined) → a STIX-style confidence.
fn confidence(threat_level: u64) -> u8 {
    match threat_level {
        1 => 85,
        2 => 70,
        3 => 50,
        _ => 40,
    }
}

/// Indicators from an event: attributes with `to_ids` set (MISP's "use for detection"
/// flag) and a matched type, including those inside objects. Deleted attributes are skipped.
pub fn event_indicators(ev: &Event, source: &str) -> Vec<IndicatorRecord> {
    let ev_tlp = tags_tlp(&ev.tags);
    let dist = Distribution::from_misp(ev.distribution.min(255) as u8, None)
        .unwrap_or(Distribution::OwnOrg);
    let attrs = ev
        .attributes
        .iter()
        .chain(ev.objects.iter().flat_map(|o| o.attributes.iter()));
    let mut out = Vec::new();
    for a in attrs {
        if !a.to_ids || a.deleted {
            continue;
        }
        let ts = if a.timestamp > 0 {
            a.timestamp
        } else {
            ev.timestamp
        };
        let valid_from = chrono::DateTime::from_timestamp(ts as i64, 0)
            .map(Timestamp)
            .unwrap_or_else(Timestamp::now);
        for o in attribute_observables(&a.type_, &a.value) {
            let mut r = IndicatorRecord::from_value(o, source, valid_from);
            r.name = Some(ev.info.clone());
            if !a.comment.is_empty() {
                r.description = Some(a.comment.clone());
            }
            r.tlp = tags_tlp(&a.tags).or(ev_tlp).unwrap_or(Tlp::Clear);
            r.distribution = dist;
            r.confidence = confidence(ev.threat_level_id);
            r.labels = ev
                .tags
                .iter()
                .chain(&a.tags)
                .map(|t| t.name.clone())
                .collect();
            r.labels.push(format!("misp-event:{}", ev.uuid));
            out.push(r);
        }
    }
    out
}

/// A feed's `hashes.csv`: MD5 of each attribute value → event uuids.
#[derive(Debug, Default)]
pub struct FeedHashes {
    map: HashMap<[u8; 16], Vec<String>>,
}

impl FeedHashes {
    /// Parses `hashes.csv` (`md5,event_uuid` per line).
    pub fn parse(text: &str) -> Result<Self> {
        let mut map: HashMap<[u8; 16], Vec<String>> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (h, u) = line.split_once(',').ok_or_else(|| IntelError::Csv {
                line: i as u64 + 1,
                message: "expected md5,event_uuid".into(),
            })?;
            let Ok(Observable::Md5(h)) = Observable::hash(h) else {
                return Err(IntelError::Csv {
                    line: i as u64 + 1,
                    message: format!("{h:?} is not an MD5"),
                });
            };
            map.entry(h).or_default().push(u.trim().to_string());
        }
        Ok(FeedHashes { map })
    }

    /// Events holding this exact attribute value.
    pub fn events_for_value(&self, value: &str) -> &[String] {
        let d: [u8; 16] = Md5::digest(value.as_bytes()).into();
        self.map.get(&d).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// MISP's CSV export (`uuid,event_id,category,type,value,comment,to_ids,date,…`):
/// header names are looked up, so column order and extra columns do not matter.
pub fn parse_csv(
    bytes: &[u8],
    source: &str,
    only_to_ids: bool,
) -> Result<(Vec<IndicatorRecord>, u64)> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let headers = rdr
        .headers()
        .map_err(|e| IntelError::Csv {
            line: 1,
            message: e.to_string(),
        })?
        .clone();
    let col = |n: &str| headers.iter().position(|h| h.trim() == n);
    let (Some(ti), Some(vi)) = (col("type"), col("value")) else {
        return Err(IntelError::Csv {
            line: 1,
            message: "header lacks \"type\" and \"value\" columns".into(),
        });
    };
    let (ids_i, date_i, uuid_i, comment_i, tag_i) = (
        col("to_ids"),
        col("date"),
        col("uuid"),
        col("comment"),
        col("attribute_tag"),
    );
    let mut out = Vec::new();
    let mut skipped = 0;
    for (n, rec) in rdr.records().enumerate() {
        let line = n as u64 + 2;
        let rec = rec.map_err(|e| IntelError::Csv {
            line,
            message: e.to_string(),
        })?;
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("");
        if only_to_ids && ids_i.is_some() && !matches!(get(ids_i), "1" | "True" | "true") {
            skipped += 1;
            continue;
        }
        let date = get(date_i);
        // MISP writes YYYYMMDD; other exports use ISO dates or epoch seconds.
        let day = chrono::NaiveDate::parse_from_str(date, "%Y%m%d")
            .or_else(|_| chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d"))
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| Timestamp(d.and_utc()));
        let valid_from = day
            .or_else(|| {
                date.parse::<i64>()
                    .ok()
                    .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                    .map(Timestamp)
            })
            .unwrap_or_else(Timestamp::now);
        let obs = attribute_observables(get(Some(ti)), get(Some(vi)));
        if obs.is_empty() {
            skipped += 1;
        }
        for o in obs {
            let mut r = IndicatorRecord::from_value(o, source, valid_from);
            let c = get(comment_i);
            if !c.is_empty() {
                r.description = Some(c.to_string());
            }
            let tags: Vec<&str> = get(tag_i)
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect();
            r.tlp = tags
                .iter()
                .filter_map(|t| Tlp::parse(t))
                .max()
                .unwrap_or(Tlp::Clear);
            r.labels = tags.iter().map(|t| t.to_string()).collect();
            if !get(uuid_i).is_empty() {
                r.labels.push(format!("misp-attribute:{}", get(uuid_i)));
            }
            out.push(r);
        }
    }
    Ok((out, skipped))
}

/// Undoes the usual defanging: `hxxp`, `[.]`, `(.)`, `[dot]`, `[@]`, `[at]`, `[:]`.
pub fn refang(s: &str) -> String {
    let mut t = s.to_string();
    for (a, b) in [
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
        ("[dot]", "."),
        ("(dot)", "."),
        (" dot ", "."),
        ("[@]", "@"),
        ("[at]", "@"),
        ("(at)", "@"),
        ("[:]", ":"),
        ("[://]", "://"),
    ] {
        t = t.replace(a, b);
    }
    let re = ["hxxps://", "hxxp://", "hXXps://", "hXXp://", "fxp://"];
    let to = ["https://", "http://", "https://", "http://", "ftp://"];
    for (a, b) in re.iter().zip(to) {
        t = t.replace(a, b);
    }
    t
}

/// File extensions that look like TLDs in prose ("evil.exe") and must not become domains.
const NOT_TLDS: &[&str] = &[
    "exe", "dll", "sys", "bat", "cmd", "ps1", "vbs", "js", "jar", "zip", "rar", "7z", "doc",
    "docx", "xls", "xlsx", "ppt", "pdf", "txt", "log", "tmp", "dat", "bin", "png", "jpg", "gif",
    "lnk", "hta", "msi", "iso", "py", "sh", "json", "xml", "html", "htm", "php", "aspx", "eml",
];

/// MISP-style freetext import: refang, split into tokens, keep what parses as an
/// observable. Returns unique values in order of first appearance.
pub fn freetext(text: &str) -> Vec<Observable> {
    let t = refang(text);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for tok in t
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '"' | '<' | '>' | '|' | '\''))
    {
        let tok = tok.trim_matches(|c: char| {
            matches!(c, '(' | ')' | '[' | ']' | '{' | '}' | '.' | ':' | '!' | '?')
        });
        if tok.len() < 4 {
            continue;
        }
        let Some(o) = Observable::guess(tok) else {
            continue;
        };
        if let Observable::Domain(d) = &o {
            let tld = d.rsplit('.').next().unwrap_or("");
            if NOT_TLDS.contains(&tld)
                || !tld.bytes().all(|c| c.is_ascii_alphabetic())
                || tld.len() < 2
            {
                continue;
            }
        }
        if seen.insert(o.clone()) {
            out.push(o);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/misp")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn manifest_and_incremental_cursor() {
        let m = parse_manifest(&fixture("manifest.json")).unwrap();
        assert_eq!(m.len(), 2);
        let (uuid, e) = &m[0];
        assert_eq!(uuid, "5a0f5d6e-0b1c-4f5e-9f2a-2b6f1c9d0a11");
        assert_eq!(e.orgc.as_ref().unwrap().name, "CIRCL");
        assert_eq!(e.threat_level_id, 1);
        assert_eq!(
            manifest_changed_since(&m, 1_494_000_000),
            vec!["5a0f5d6e-0b1c-4f5e-9f2a-2b6f1c9d0a11"]
        );
        assert!(parse_manifest(b"[1,2]").is_err());
    }

    #[test]
    fn event_attributes_and_objects_become_indicators() {
        let ev = parse_event(&fixture("5a0f5d6e-0b1c-4f5e-9f2a-2b6f1c9d0a11.json")).unwrap();
        let r = event_indicators(&ev, "misp-test");
        let vals: Vec<String> = r.iter().map(|r| r.observable.value()).collect();
        // to_ids=false comment attribute and the deleted one are not indicators.
        assert!(vals.contains(
            &"ed01ebfbc9eb5bbea545af4d01bf5f1071661840480439c6e5babe8e080e41aa".to_string()
        ));
        assert!(vals.contains(&"iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea.com".to_string()));
        assert!(vals.contains(&"197.231.221.211".to_string()));
        assert!(
            vals.contains(&"db349b97c37d22f5ea1d1841e3c89eb4".to_string()),
            "object attribute"
        );
        assert!(
            !vals.iter().any(|v| v.contains("192.0.2.99")),
            "deleted attribute imported"
        );
        assert_eq!(r.len(), 5, "{vals:?}");
        assert!(r.iter().all(|r| r.tlp == Tlp::Green && r.confidence == 85));
        assert_eq!(r[0].distribution, Distribution::All);
    }

    #[test]
    fn hashes_csv_lookup() {
        let h = FeedHashes::parse(std::str::from_utf8(&fixture("hashes.csv")).unwrap()).unwrap();
        assert_eq!(
            h.events_for_value("197.231.221.211"),
            ["5a0f5d6e-0b1c-4f5e-9f2a-2b6f1c9d0a11"]
        );
        assert!(h.events_for_value("198.51.100.200").is_empty());
        let e = FeedHashes::parse("nothex,abc\n").unwrap_err();
        assert_eq!(e.code(), "I006");
    }

    #[test]
    fn misp_csv_export() {
        let (r, skipped) = parse_csv(&fixture("attributes.csv"), "csv", true).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(skipped, 2);
        assert_eq!(r[0].observable.value(), "197.231.221.211");
        assert_eq!(r[0].tlp, Tlp::Amber);
        assert_eq!(r[0].valid_from.to_stix(), "2017-05-12T00:00:00.000Z");
        assert!(parse_csv(b"a,b\n1,2\n", "csv", true).is_err());
    }

    #[test]
    fn freetext_refangs_and_filters() {
        let text =
            "WannaCry kill switch: hxxp://www[.]iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea[.]com \
            C2 197.231.221[.]211, dropper mssecsvc.exe (md5 DB349B97C37D22F5EA1D1841E3C89EB4); \
            reply to wanna[at]decryptor[.]example. Also see 'mssecsvc.exe'.";
        let v = freetext(text);
        let s: Vec<String> = v.iter().map(|o| o.to_string()).collect();
        assert_eq!(
            s,
            [
                "url:http://www.iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea.com/",
                "ipv4:197.231.221.211",
                "md5:db349b97c37d22f5ea1d1841e3c89eb4",
                "email:wanna@decryptor.example",
            ]
        );
    }
}
