//! STIX 2.1 bundles (files, URLs, TAXII envelopes) → [`IndicatorRecord`]s.

use std::collections::HashMap;

use crate::error::IntelError;
use crate::feeds::IndicatorRecord;
use crate::pattern::parse_pattern;
use crate::policy::Distribution;
use crate::stix::{Bundle, StixObject, Timestamp};
use crate::tlp::Tlp;

/// What an import of STIX objects yielded.
#[derive(Debug, Default)]
pub struct StixImport {
    pub indicators: Vec<IndicatorRecord>,
    /// Sightings per indicator id (sum of `count`, latest `last_seen`).
    pub sightings: HashMap<String, (u32, Option<Timestamp>)>,
    /// Indicator ids with a false-positive note against them.
    pub false_positives: HashMap<String, u32>,
    /// Indicators that were skipped, with why (pattern outside the subset, revoked, …).
    pub skipped: Vec<(String, IntelError)>,
    /// Every object, for the store.
    pub objects: Vec<StixObject>,
}

/// Extracts indicators, sightings and false-positive notes from STIX objects, and
/// applies sightings/false positives to the indicators in the same import.
pub fn import_objects(objects: Vec<StixObject>, source: &str, default_tlp: Tlp) -> StixImport {
    let mut out = StixImport::default();
    for o in &objects {
        match o {
            StixObject::Indicator(i) => {
                if i.common.revoked {
                    out.skipped.push((
                        i.common.id.clone(),
                        IntelError::field("indicator", "revoked", "is true"),
                    ));
                    continue;
                }
                if i.pattern_type.as_deref().is_some_and(|t| t != "stix") {
                    out.skipped.push((
                        i.common.id.clone(),
                        IntelError::field("indicator", "pattern_type", "is not \"stix\""),
                    ));
                    continue;
                }
                let Some(p) = i.pattern.as_deref() else {
                    out.skipped.push((
                        i.common.id.clone(),
                        IntelError::field("indicator", "pattern", "missing"),
                    ));
                    continue;
                };
                match parse_pattern(p) {
                    Ok(values) => {
                        let valid_from = i
                            .valid_from
                            .or(i.common.created)
                            .unwrap_or_else(Timestamp::now);
                        for v in values {
                            let mut r = IndicatorRecord::with_id(
                                i.common.id.clone(),
                                v,
                                source,
                                valid_from,
                            );
                            r.name = i.name.clone();
                            r.description = i.description.clone();
                            r.tlp = i.common.tlp().unwrap_or(default_tlp);
                            r.distribution = Distribution::All;
                            r.confidence = i.common.confidence.unwrap_or(50).min(100);
                            r.valid_until = i.valid_until;
                            r.labels = i
                                .indicator_types
                                .iter()
                                .chain(&i.common.labels)
                                .cloned()
                                .collect();
                            out.indicators.push(r);
                        }
                    }
                    Err(e) => out.skipped.push((i.common.id.clone(), e)),
                }
            }
            StixObject::Sighting(s) => {
                if let Some(of) = &s.sighting_of_ref {
                    let e = out.sightings.entry(of.clone()).or_insert((0, None));
                    e.0 += s.count.unwrap_or(1).min(u32::MAX as u64) as u32;
                    let seen = s.last_seen.or(s.first_seen).or(s.common.created);
                    e.1 = e.1.max(seen);
                }
            }
            StixObject::Note(n) if n.common.labels.iter().any(|l| l == "false-positive") => {
                for r in &n.object_refs {
                    *out.false_positives.entry(r.clone()).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    for r in &mut out.indicators {
        if let Some((n, seen)) = out.sightings.get(&r.id) {
            r.sightings += n;
            r.last_seen = r.last_seen.max(*seen);
        }
        if let Some(n) = out.false_positives.get(&r.id) {
            r.false_positives += n;
        }
    }
    out.objects = objects;
    out
}

/// Parses a bundle's bytes and imports it.
pub fn import_bundle(bytes: &[u8], source: &str, default_tlp: Tlp) -> crate::Result<StixImport> {
    let b = Bundle::parse(bytes)?;
    Ok(import_objects(b.objects, source, default_tlp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medallion_seed_collection_imports() {
        let raw = std::fs::read(
            crate::test_support::shared_data().join("taxii/medallion_default_data.json"),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        let coll = v["trustgroup1"]["collections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "91a7b528-80eb-42ed-a74d-c6fbd5a26116")
            .unwrap();
        let objs: Vec<StixObject> = coll["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| StixObject::from_value(o.clone()).unwrap())
            .collect();
        let n = objs.len();
        let imp = import_objects(objs, "medallion", Tlp::Green);
        assert_eq!(imp.objects.len(), n);
        assert!(!imp.indicators.is_empty());
        assert!(imp.skipped.is_empty(), "{:?}", imp.skipped);
        let sha = imp
            .indicators
            .iter()
            .find(|r| r.observable.value().starts_with("ef537f25"))
            .unwrap();
        assert!(sha.id.starts_with("indicator--"));
        assert_eq!(sha.tlp, Tlp::Green);
    }

    #[test]
    fn sightings_and_false_positive_notes_apply() {
        let b = serde_json::json!({"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[
          {"type":"indicator","spec_version":"2.1","id":"indicator--a932fcc6-e032-476c-826f-cb970a5a1ade","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z",
           "pattern":"[domain-name:value = 'nhs-payroll.example'] OR [url:value = 'http://nhs-payroll.example/login']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","confidence":85,
           "object_marking_refs":[Tlp::Amber.marking_id()]},
          {"type":"indicator","spec_version":"2.1","id":"indicator--b932fcc6-e032-476c-826f-cb970a5a1ade","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z",
           "pattern":"[process:name = 'x.exe']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"},
          {"type":"sighting","spec_version":"2.1","id":"sighting--ee20065d-2555-424f-ad9e-0f8fd4a1bd4f","created":"2026-01-02T00:00:00.000Z","modified":"2026-01-02T00:00:00.000Z",
           "sighting_of_ref":"indicator--a932fcc6-e032-476c-826f-cb970a5a1ade","count":3,"last_seen":"2026-01-05T00:00:00Z"},
          {"type":"note","spec_version":"2.1","id":"note--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061","created":"2026-01-03T00:00:00.000Z","modified":"2026-01-03T00:00:00.000Z",
           "labels":["false-positive"],"content":"our own payroll test site","object_refs":["indicator--a932fcc6-e032-476c-826f-cb970a5a1ade"]}
        ]});
        let imp = import_bundle(b.to_string().as_bytes(), "t", Tlp::Clear).unwrap();
        assert_eq!(imp.indicators.len(), 2);
        assert_eq!(imp.skipped.len(), 1);
        for r in &imp.indicators {
            assert_eq!(r.tlp, Tlp::Amber);
            assert_eq!(r.confidence, 85);
            assert_eq!(r.sightings, 3);
            assert_eq!(r.false_positives, 1);
            assert_eq!(r.last_seen.unwrap().to_stix(), "2026-01-05T00:00:00.000Z");
        }
    }
}
