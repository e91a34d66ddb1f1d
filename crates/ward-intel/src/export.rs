//! Exports for members' tools: a STIX 2.1 bundle (valid under `stix2-validator
//! --strict`), a MISP event (JSON), CSV, and plain one-value-per-line lists by type for
//! firewalls and DNS blocklists. Callers pass only records the reader may see
//! ([`crate::policy::can_read`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use uuid::Uuid;

use crate::feeds::IndicatorRecord;
use crate::observable::ObservableKind;
use crate::stix::{content_id, StixObject, Timestamp};
use crate::tlp::Tlp;

/// Who the export says produced it.
#[derive(Debug, Clone)]
pub struct Producer {
    pub name: String,
    /// `identity--<uuid>`; derived from the name when `None`.
    pub identity_id: Option<String>,
}

impl Default for Producer {
    fn default() -> Self {
        Producer {
            name: "ward national cyber security service".into(),
            identity_id: None,
        }
    }
}

impl Producer {
    pub fn id(&self) -> String {
        self.identity_id
            .clone()
            .unwrap_or_else(|| content_id("identity", &self.name))
    }

    fn identity(&self) -> Value {
        json!({
            "type": "identity", "spec_version": "2.1", "id": self.id(),
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "name": self.name, "identity_class": "organization"
        })
    }
}

/// Builds a STIX 2.1 bundle: one indicator per indicator id (its values ORed into
/// one pattern), with the TLP 2.0 marking definitions used and the producer identity,
/// plus any other objects given.
pub fn stix_bundle(
    records: &[IndicatorRecord],
    others: &[StixObject],
    producer: &Producer,
) -> Value {
    let mut by_id: BTreeMap<&str, Vec<&IndicatorRecord>> = BTreeMap::new();
    for r in records {
        by_id.entry(r.id.as_str()).or_default().push(r);
    }
    let mut tlps: BTreeSet<Tlp> = BTreeSet::new();
    let mut objects = vec![producer.identity()];
    let mut indicators = Vec::new();
    for (id, rs) in by_id {
        let first = rs[0];
        let mut values: Vec<String> = rs.iter().map(|r| r.observable.to_stix_pattern()).collect();
        values.sort();
        values.dedup();
        let tlp = rs.iter().map(|r| r.tlp).max().unwrap_or(Tlp::Clear);
        tlps.insert(tlp);
        let created = first.valid_from.to_stix();
        let modified = rs
            .iter()
            .filter_map(|r| r.last_seen)
            .max()
            .map(|t| t.max(first.valid_from))
            .unwrap_or(first.valid_from);
        let name = first
            .name
            .clone()
            .unwrap_or_else(|| first.observable.to_string());
        let mut o = json!({
            "type": "indicator", "spec_version": "2.1", "id": id,
            "created": created, "modified": modified.to_stix(),
            "created_by_ref": producer.id(),
            "name": name,
            "indicator_types": ["malicious-activity"],
            "pattern": values.join(" OR "), "pattern_type": "stix", "pattern_version": "2.1",
            "valid_from": first.valid_from.to_stix(),
            "confidence": first.confidence.min(100),
            "object_marking_refs": [tlp.marking_id()],
        });
        // Strict validation wants both name and description.
        let description = first.description.clone().unwrap_or_else(|| {
            let vals: Vec<String> = rs.iter().map(|r| r.observable.to_string()).collect();
            format!("{} (source: {})", vals.join(", "), first.source)
        });
        o["description"] = json!(description);
        if let Some(u) = first.valid_until.filter(|u| *u > first.valid_from) {
            o["valid_until"] = json!(u.to_stix());
        }
        let labels: BTreeSet<&str> = rs
            .iter()
            .flat_map(|r| r.labels.iter().map(String::as_str))
            .collect();
        if !labels.is_empty() {
            o["labels"] = json!(labels);
        }
        indicators.push(o);
    }
    for t in tlps {
        objects.push(t.marking_definition());
    }
    for o in others {
        if let Some(t) = o.tlp() {
            if !objects.iter().any(|x| x["id"] == t.marking_id()) {
                objects.push(t.marking_definition());
            }
        }
    }
    objects.extend(indicators);
    objects.extend(others.iter().map(StixObject::to_value));
    json!({ "type": "bundle", "id": format!("bundle--{}", Uuid::new_v4()), "objects": objects })
}

/// A MISP event (`{"Event": {...}}`) with one `to_ids` attribute per value.
pub fn misp_event(records: &[IndicatorRecord], info: &str, producer: &Producer) -> Value {
    let now = Timestamp::now();
    let tlp = records.iter().map(|r| r.tlp).max().unwrap_or(Tlp::Clear);
    let attrs: Vec<Value> = records
        .iter()
        .map(|r| {
            let kind = r.observable.kind();
            json!({
                "uuid": Uuid::new_v5(&crate::stix::WARD_SDO_NAMESPACE, format!("{}|{}", r.id, r.observable).as_bytes()).to_string(),
                "type": kind.misp_type(),
                "category": match kind {
                    ObservableKind::Md5 | ObservableKind::Sha1 | ObservableKind::Sha256 => "Payload delivery",
                    _ => "Network activity",
                },
                "value": r.observable.value(),
                "to_ids": true,
                "comment": r.description.clone().unwrap_or_default(),
                "timestamp": r.valid_from.unix().to_string(),
                "distribution": "5",
                "Tag": [{"name": format!("tlp:{}", r.tlp.as_str().to_ascii_lowercase())}],
            })
        })
        .collect();
    json!({
        "Event": {
            "uuid": Uuid::new_v4().to_string(),
            "info": info,
            "date": now.0.format("%Y-%m-%d").to_string(),
            "threat_level_id": "2",
            "analysis": "2",
            "distribution": "1",
            "published": true,
            "timestamp": now.unix().to_string(),
            "Orgc": {"name": producer.name},
            "Tag": [{"name": format!("tlp:{}", tlp.as_str().to_ascii_lowercase())}],
            "Attribute": attrs,
        }
    })
}

/// CSV with a header: `type,value,tlp,confidence,valid_from,valid_until,indicator_id,name`.
pub fn csv(records: &[IndicatorRecord]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail; errors would only come from the sink.
    let _ = w.write_record([
        "type",
        "value",
        "tlp",
        "confidence",
        "valid_from",
        "valid_until",
        "indicator_id",
        "name",
    ]);
    for r in records {
        let _ = w.write_record([
            r.observable.kind().as_str(),
            &r.observable.value(),
            r.tlp.as_str(),
            &r.confidence.to_string(),
            &r.valid_from.to_stix(),
            &r.valid_until.map(|t| t.to_stix()).unwrap_or_default(),
            &r.id,
            r.name.as_deref().unwrap_or(""),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// One value per line for one kind, sorted and deduplicated (firewall address lists,
/// DNS response-policy blocklists, hash blocklists). Only indicators valid at `now`.
pub fn plain_list(records: &[IndicatorRecord], kind: ObservableKind, now: i64) -> String {
    let set: BTreeSet<String> = records
        .iter()
        .filter(|r| r.observable.kind() == kind)
        .filter(|r| {
            r.false_positives == 0
                && r.valid_from.unix() <= now
                && r.valid_until.is_none_or(|u| u.unix() > now)
        })
        .map(|r| r.observable.value())
        .collect();
    let mut s = String::new();
    for v in set {
        s.push_str(&v);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observable::Observable;

    #[test]
    fn csv_and_plain_lists() {
        let t = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let mut a = IndicatorRecord::from_value(Observable::ipv4("203.0.113.5").unwrap(), "s", t);
        a.name = Some("C2, \"quoted\"".into());
        let b = IndicatorRecord::from_value(Observable::ipv4("198.51.100.0/24").unwrap(), "s", t);
        let mut c =
            IndicatorRecord::from_value(Observable::domain("evil.example").unwrap(), "s", t);
        c.valid_until = Some(Timestamp::parse("2026-01-02T00:00:00Z").unwrap());
        let recs = vec![a.clone(), b, c, a];
        assert_eq!(
            plain_list(&recs, ObservableKind::Ipv4, t.unix() + 10),
            "198.51.100.0/24\n203.0.113.5\n"
        );
        assert_eq!(
            plain_list(&recs, ObservableKind::Domain, t.unix() + 10),
            "evil.example\n"
        );
        assert_eq!(
            plain_list(&recs, ObservableKind::Domain, t.unix() + 2 * 86_400),
            ""
        );
        let out = csv(&recs);
        let mut r = ::csv::Reader::from_reader(out.as_bytes());
        let rows: Vec<::csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(&rows[0][7], "C2, \"quoted\"");
        let ev = misp_event(&recs, "test", &Producer::default());
        // The MISP export parses back with ward's own MISP reader.
        let back = crate::feeds::misp::parse_event(ev.to_string().as_bytes()).unwrap();
        assert_eq!(crate::feeds::misp::event_indicators(&back, "x").len(), 4);
    }
}
