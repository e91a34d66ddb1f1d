//! The STIX 2.1 object model: the twelve object types ward stores, with every
//! property the spec defines for them typed and every other property kept
//! verbatim in `extra` (so nothing a producer sent is lost on re-export),
//! plus deterministic ids so the same thing merges instead of duplicating.

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{IntelError, Result};
use crate::tlp::Tlp;

/// The namespace STIX 2.1 (section 2.9) fixes for UUIDv5 ids of cyber-observable objects.
pub const STIX_SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00abedb4_aa42_466c_9c01_fed23315a9b7);

/// ward's own UUIDv5 namespace for SDOs whose identity is their content (an
/// indicator is identified by its pattern, a vulnerability by its CVE id), so a
/// second feed carrying the same thing merges into the first.
pub const WARD_SDO_NAMESPACE: Uuid = Uuid::from_u128(0x6e1f_4a43_0c5a_5d6e_9a51_7761_7264_0001);

/// A STIX timestamp: RFC 3339 in UTC with `Z`, written with at least millisecond precision
/// (the spec requires it for `created`/`modified`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Now, truncated to milliseconds.
    pub fn now() -> Self {
        let now = Utc::now();
        let ms = now.nanosecond() / 1_000_000 * 1_000_000;
        Timestamp(now.with_nanosecond(ms).unwrap_or(now))
    }

    /// Parses an RFC 3339 timestamp (any offset, converted to UTC).
    pub fn parse(s: &str) -> Result<Self> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| Timestamp(d.with_timezone(&Utc)))
            .map_err(|e| IntelError::Value {
                kind: "timestamp",
                value: s.to_string(),
                message: e.to_string(),
            })
    }

    /// Formats as STIX wants it.
    pub fn to_stix(&self) -> String {
        let ns = self.0.nanosecond() % 1_000_000_000;
        let fmt = if ns % 1_000_000 == 0 {
            SecondsFormat::Millis
        } else if ns % 1_000 == 0 {
            SecondsFormat::Micros
        } else {
            SecondsFormat::Nanos
        };
        self.0.to_rfc3339_opts(fmt, true)
    }

    /// Seconds since the Unix epoch.
    pub fn unix(&self) -> i64 {
        self.0.timestamp()
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_stix())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an RFC 3339 timestamp")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> std::result::Result<Timestamp, E> {
                Timestamp::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Properties every STIX domain/relationship/meta object shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Common {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default = "default_spec_version")]
    pub spec_version: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub revoked: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// 0–100 (STIX 2.1 appendix A scale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_references: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub object_marking_refs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub granular_markings: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Map<String, Value>>,
}

fn default_spec_version() -> String {
    "2.1".to_string()
}

/// Collects the common properties while a typed object is read key by key (faster than
/// serde's `flatten`, which buffers every property first).
#[derive(Default)]
#[doc(hidden)]
pub struct CommonBuilder {
    type_: Option<String>,
    spec_version: Option<String>,
    id: Option<String>,
    created_by_ref: Option<String>,
    created: Option<Timestamp>,
    modified: Option<Timestamp>,
    revoked: Option<bool>,
    labels: Option<Vec<String>>,
    confidence: Option<u8>,
    lang: Option<String>,
    external_references: Option<Vec<Value>>,
    object_marking_refs: Option<Vec<String>>,
    granular_markings: Option<Vec<Value>>,
    extensions: Option<Map<String, Value>>,
}

impl CommonBuilder {
    /// Takes the value for `key` if it is a common property.
    pub fn take<'de, A: serde::de::MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> std::result::Result<bool, A::Error> {
        match key {
            "type" => self.type_ = map.next_value()?,
            "spec_version" => self.spec_version = map.next_value()?,
            "id" => self.id = map.next_value()?,
            "created_by_ref" => self.created_by_ref = map.next_value()?,
            "created" => self.created = map.next_value()?,
            "modified" => self.modified = map.next_value()?,
            "revoked" => self.revoked = map.next_value()?,
            "labels" => self.labels = map.next_value()?,
            "confidence" => self.confidence = map.next_value()?,
            "lang" => self.lang = map.next_value()?,
            "external_references" => self.external_references = map.next_value()?,
            "object_marking_refs" => self.object_marking_refs = map.next_value()?,
            "granular_markings" => self.granular_markings = map.next_value()?,
            "extensions" => self.extensions = map.next_value()?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub fn build<E: serde::de::Error>(self) -> std::result::Result<Common, E> {
        Ok(Common {
            type_: self.type_.ok_or_else(|| E::missing_field("type"))?,
            spec_version: self.spec_version.unwrap_or_else(default_spec_version),
            id: self.id.ok_or_else(|| E::missing_field("id"))?,
            created_by_ref: self.created_by_ref,
            created: self.created,
            modified: self.modified,
            revoked: self.revoked.unwrap_or(false),
            labels: self.labels.unwrap_or_default(),
            confidence: self.confidence,
            lang: self.lang,
            external_references: self.external_references.unwrap_or_default(),
            object_marking_refs: self.object_marking_refs.unwrap_or_default(),
            granular_markings: self.granular_markings.unwrap_or_default(),
            extensions: self.extensions,
        })
    }
}

impl Common {
    /// A fresh common block with `created = modified = now`.
    pub fn new(type_: &str, id: String) -> Self {
        let now = Timestamp::now();
        Common {
            type_: type_.to_string(),
            spec_version: "2.1".into(),
            id,
            created_by_ref: None,
            created: Some(now),
            modified: Some(now),
            revoked: false,
            labels: Vec::new(),
            confidence: None,
            lang: None,
            external_references: Vec::new(),
            object_marking_refs: Vec::new(),
            granular_markings: Vec::new(),
            extensions: None,
        }
    }

    /// The TLP of the object (most restrictive of its markings), if it has one.
    pub fn tlp(&self) -> Option<Tlp> {
        Tlp::from_marking_refs(self.object_marking_refs.iter().map(String::as_str))
    }
}

macro_rules! stix_struct {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct $name {
            #[serde(flatten)]
            pub common: Common,
            $(
                $(#[$fm])*
                #[serde(default, skip_serializing_if = "crate::stix::Empty::is_empty")]
                pub $field: $ty,
            )*
            /// Properties this model does not name (custom `x_` properties, newer spec
            /// additions), kept verbatim.
            #[serde(flatten)]
            pub extra: Map<String, Value>,
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a STIX ", stringify!($name), " object"))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<$name, A::Error> {
                        let mut common = CommonBuilder::default();
                        $(let mut $field: $ty = Default::default();)*
                        let mut extra = Map::new();
                        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                            if common.take(&key, &mut map)? {
                                continue;
                            }
                            $(
                                if key == stringify!($field).trim_end_matches('_') {
                                    $field = map.next_value()?;
                                    continue;
                                }
                            )*
                            extra.insert(key.into_owned(), map.next_value()?);
                        }
                        Ok($name { common: common.build()?, $($field,)* extra })
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

/// "Is this property absent?" for skip_serializing_if over Option and Vec.
pub trait Empty {
    fn is_empty(&self) -> bool;
}
impl<T> Empty for Option<T> {
    fn is_empty(&self) -> bool {
        self.is_none()
    }
}
impl<T> Empty for Vec<T> {
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
}

stix_struct!(
    /// `indicator`: a pattern that detects something.
    Indicator {
        name: Option<String>,
        description: Option<String>,
        indicator_types: Vec<String>,
        pattern: Option<String>,
        pattern_type: Option<String>,
        pattern_version: Option<String>,
        valid_from: Option<Timestamp>,
        valid_until: Option<Timestamp>,
        kill_chain_phases: Vec<Value>,
    }
);
stix_struct!(
    /// `observed-data`.
    ObservedData {
        first_observed: Option<Timestamp>,
        last_observed: Option<Timestamp>,
        number_observed: Option<u64>,
        object_refs: Vec<String>,
        objects: Option<Map<String, Value>>,
    }
);
stix_struct!(
    /// `malware`.
    Malware {
        name: Option<String>,
        description: Option<String>,
        malware_types: Vec<String>,
        is_family: Option<bool>,
        aliases: Vec<String>,
        kill_chain_phases: Vec<Value>,
    }
);
stix_struct!(
    /// `threat-actor`.
    ThreatActor {
        name: Option<String>,
        description: Option<String>,
        threat_actor_types: Vec<String>,
        aliases: Vec<String>,
    }
);
stix_struct!(
    /// `campaign`.
    Campaign {
        name: Option<String>,
        description: Option<String>,
        aliases: Vec<String>,
        first_seen: Option<Timestamp>,
        last_seen: Option<Timestamp>,
        objective: Option<String>,
    }
);
stix_struct!(
    /// `attack-pattern` (MITRE ATT&CK techniques arrive as these).
    AttackPattern {
        name: Option<String>,
        description: Option<String>,
        aliases: Vec<String>,
        kill_chain_phases: Vec<Value>,
    }
);
stix_struct!(
    /// `vulnerability`.
    Vulnerability {
        name: Option<String>,
        description: Option<String>,
    }
);
stix_struct!(
    /// `sighting`: somebody saw the referenced indicator/object.
    Sighting {
        sighting_of_ref: Option<String>,
        first_seen: Option<Timestamp>,
        last_seen: Option<Timestamp>,
        count: Option<u64>,
        observed_data_refs: Vec<String>,
        where_sighted_refs: Vec<String>,
        summary: Option<bool>,
        description: Option<String>,
    }
);
stix_struct!(
    /// `note`. ward records a false-positive report as a note labelled
    /// `false-positive` whose `object_refs` names the indicator.
    Note {
        #[serde(rename = "abstract")]
        abstract_: Option<String>,
        content: Option<String>,
        authors: Vec<String>,
        object_refs: Vec<String>,
    }
);
stix_struct!(
    /// `report`.
    Report {
        name: Option<String>,
        description: Option<String>,
        report_types: Vec<String>,
        published: Option<Timestamp>,
        object_refs: Vec<String>,
    }
);
stix_struct!(
    /// `relationship`.
    Relationship {
        relationship_type: Option<String>,
        description: Option<String>,
        source_ref: Option<String>,
        target_ref: Option<String>,
        start_time: Option<Timestamp>,
        stop_time: Option<Timestamp>,
    }
);
stix_struct!(
    /// `marking-definition` (TLP 1.0 statement-style and TLP 2.0 extension-style).
    MarkingDefinition {
        name: Option<String>,
        definition_type: Option<String>,
        definition: Option<Value>,
    }
);

/// Any STIX object. Types ward does not model (identity, SCOs, …) are kept as raw JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StixObject {
    Indicator(Indicator),
    ObservedData(ObservedData),
    Malware(Malware),
    ThreatActor(ThreatActor),
    Campaign(Campaign),
    AttackPattern(AttackPattern),
    Vulnerability(Vulnerability),
    Sighting(Sighting),
    Note(Note),
    Report(Report),
    Relationship(Relationship),
    MarkingDefinition(MarkingDefinition),
    Other(Map<String, Value>),
}

impl StixObject {
    /// Reads one object from JSON, dispatching on its `type`.
    pub fn from_value(v: Value) -> Result<Self> {
        let ty = v
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| IntelError::field("STIX object", "type", "missing or not a string"))?
            .to_string();
        if v.get("id").and_then(Value::as_str).is_none() {
            return Err(IntelError::field(
                format!("STIX {ty}"),
                "id",
                "missing or not a string",
            ));
        }
        let what = |ty: &str| format!("STIX {ty}");
        let o = match ty.as_str() {
            "indicator" => StixObject::Indicator(
                serde_json::from_value(v).map_err(|e| IntelError::json(what(&ty), e))?,
            ),
            "observed-data" => StixObject::ObservedData(
                serde_json::from_value(v).map_err(|e| IntelError::json(what(&ty), e))?,
            ),
            "malware" => StixObject::Malware(
                serde_json::from_value(v).map_err(|e| IntelError::json(what(&ty), e))?,
            ),
            "threat-actor" => StixObject::ThreatActor(
                serde_json::from_value(v).map_err(|e| IntelError::json(what(&ty), e))?,
            ),
            "campaign" => StixObject::Campaign(
                serde_json::from_value(v).map_err(|e| IntelError::json(what(&ty), e))?,
            ),
            "attack-pattern" => StixObject::AttackPattern(
                serde_json::from_value(v).map_err(|e| IntelError::json(what(&ty), e))?,
            ),
            "vulnerability" => StixObject::Vulnerability(
                serde_json::from_value(v).map_err(|e| IntelError::json(what(&ty), e))?,
            ),
            "sighting" => StixObject::Sighting(
                serde_json::from_value(v).map_err(|e| IntelError::json(what(&ty), e))?,
            ),
            "note" => StixObject::Note(
                serde_json::from_value(v).map_err(|e| IntelError::json(what(&ty), e))?,
            ),
            "report" => StixObject::Report(
                serde_json::from_value(v).map_err(|e| IntelError::json(what(&ty), e))?,
            ),
            "relationship" => StixObject::Relationship(
                serde_json::from_value(v).map_err(|e| IntelError::json(what(&ty), e))?,
            ),
            "marking-definition" => StixObject::MarkingDefinition(
                serde_json::from_value(v).map_err(|e| IntelError::json(what(&ty), e))?,
            ),
            _ => match v {
                Value::Object(m) => StixObject::Other(m),
                _ => unreachable_object(),
            },
        };
        Ok(o)
    }

    /// Reads one object straight from JSON text (no intermediate `Value` tree).
    pub fn from_json_str(s: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct Peek<'a> {
            #[serde(rename = "type", borrow)]
            type_: Option<std::borrow::Cow<'a, str>>,
        }
        let peek: Peek<'_> =
            serde_json::from_str(s).map_err(|e| IntelError::json("STIX object", e))?;
        let ty = peek
            .type_
            .ok_or_else(|| IntelError::field("STIX object", "type", "missing or not a string"))?;
        let what = || format!("STIX {ty}");
        macro_rules! typed {
            ($v:ident) => {
                StixObject::$v(serde_json::from_str(s).map_err(|e| IntelError::json(what(), e))?)
            };
        }
        Ok(match ty.as_ref() {
            "indicator" => typed!(Indicator),
            "observed-data" => typed!(ObservedData),
            "malware" => typed!(Malware),
            "threat-actor" => typed!(ThreatActor),
            "campaign" => typed!(Campaign),
            "attack-pattern" => typed!(AttackPattern),
            "vulnerability" => typed!(Vulnerability),
            "sighting" => typed!(Sighting),
            "note" => typed!(Note),
            "report" => typed!(Report),
            "relationship" => typed!(Relationship),
            "marking-definition" => typed!(MarkingDefinition),
            _ => {
                let m: Map<String, Value> =
                    serde_json::from_str(s).map_err(|e| IntelError::json(what(), e))?;
                if m.get("id").and_then(Value::as_str).is_none() {
                    return Err(IntelError::field(what(), "id", "missing or not a string"));
                }
                StixObject::Other(m)
            }
        })
    }

    /// The common block, for modelled types.
    pub fn common(&self) -> Option<&Common> {
        Some(match self {
            StixObject::Indicator(o) => &o.common,
            StixObject::ObservedData(o) => &o.common,
            StixObject::Malware(o) => &o.common,
            StixObject::ThreatActor(o) => &o.common,
            StixObject::Campaign(o) => &o.common,
            StixObject::AttackPattern(o) => &o.common,
            StixObject::Vulnerability(o) => &o.common,
            StixObject::Sighting(o) => &o.common,
            StixObject::Note(o) => &o.common,
            StixObject::Report(o) => &o.common,
            StixObject::Relationship(o) => &o.common,
            StixObject::MarkingDefinition(o) => &o.common,
            StixObject::Other(_) => return None,
        })
    }

    /// The object's `id`.
    pub fn id(&self) -> &str {
        match self {
            StixObject::Other(m) => m.get("id").and_then(Value::as_str).unwrap_or(""),
            o => o.common().map(|c| c.id.as_str()).unwrap_or(""),
        }
    }

    /// The object's `type`.
    pub fn type_name(&self) -> &str {
        match self {
            StixObject::Other(m) => m.get("type").and_then(Value::as_str).unwrap_or(""),
            o => o.common().map(|c| c.type_.as_str()).unwrap_or(""),
        }
    }

    /// `modified` (or `created`), used to pick the newest version when merging.
    pub fn modified(&self) -> Option<Timestamp> {
        match self {
            StixObject::Other(m) => m
                .get("modified")
                .or_else(|| m.get("created"))
                .and_then(Value::as_str)
                .and_then(|s| Timestamp::parse(s).ok()),
            o => o.common().and_then(|c| c.modified.or(c.created)),
        }
    }

    /// The object's TLP from its markings.
    pub fn tlp(&self) -> Option<Tlp> {
        match self {
            StixObject::Other(m) => m
                .get("object_marking_refs")
                .and_then(Value::as_array)
                .and_then(|a| Tlp::from_marking_refs(a.iter().filter_map(Value::as_str))),
            o => o.common().and_then(Common::tlp),
        }
    }

    /// Serialises to JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

// Only reachable if serde_json hands us a non-object after we read `type` from it, which
// it cannot; kept as a function so the match stays total without a panic path.
fn unreachable_object() -> StixObject {
    StixObject::Other(Map::new())
}

impl<'de> Deserialize<'de> for StixObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        StixObject::from_value(v).map_err(serde::de::Error::custom)
    }
}

/// A STIX 2.1 bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    #[serde(rename = "type")]
    pub type_: String,
    pub id: String,
    #[serde(default)]
    pub objects: Vec<StixObject>,
}

impl Bundle {
    /// A new bundle with a random id.
    pub fn new(objects: Vec<StixObject>) -> Self {
        Bundle {
            type_: "bundle".into(),
            id: format!("bundle--{}", Uuid::new_v4()),
            objects,
        }
    }

    /// Parses a bundle; objects that fail to parse are reported with their index.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        #[derive(Deserialize)]
        struct Raw<'a> {
            #[serde(rename = "type", borrow)]
            type_: std::borrow::Cow<'a, str>,
            #[serde(default, borrow)]
            id: Option<std::borrow::Cow<'a, str>>,
            #[serde(default, borrow)]
            objects: Vec<&'a serde_json::value::RawValue>,
        }
        let raw: Raw<'_> =
            serde_json::from_slice(bytes).map_err(|e| IntelError::json("STIX bundle", e))?;
        if raw.type_ != "bundle" {
            return Err(IntelError::field(
                "STIX bundle",
                "type",
                "is not \"bundle\"",
            ));
        }
        let mut out = Vec::with_capacity(raw.objects.len());
        for (i, o) in raw.objects.iter().enumerate() {
            out.push(
                StixObject::from_json_str(o.get()).map_err(|e| IntelError::Field {
                    what: "STIX bundle".into(),
                    field: format!("objects[{i}]"),
                    message: e.to_string(),
                })?,
            );
        }
        Ok(Bundle {
            type_: "bundle".into(),
            id: raw
                .id
                .map(|c| c.into_owned())
                .unwrap_or_else(|| "bundle--00000000-0000-4000-8000-000000000000".into()),
            objects: out,
        })
    }

    /// The slower reference path through `serde_json::Value` (kept for comparison in tests).
    pub fn parse_via_value(bytes: &[u8]) -> Result<Self> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| IntelError::json("STIX bundle", e))?;
        let Value::Object(mut m) = v else {
            return Err(IntelError::field(
                "STIX bundle",
                "type",
                "top level is not an object",
            ));
        };
        if m.get("type").and_then(Value::as_str) != Some("bundle") {
            return Err(IntelError::field(
                "STIX bundle",
                "type",
                "is not \"bundle\"",
            ));
        }
        let id = m
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("bundle--00000000-0000-4000-8000-000000000000")
            .to_string();
        let objects = match m.remove("objects") {
            Some(Value::Array(a)) => a,
            None => Vec::new(),
            Some(_) => {
                return Err(IntelError::field(
                    "STIX bundle",
                    "objects",
                    "is not an array",
                ))
            }
        };
        let mut out = Vec::with_capacity(objects.len());
        for (i, o) in objects.into_iter().enumerate() {
            out.push(StixObject::from_value(o).map_err(|e| IntelError::Field {
                what: "STIX bundle".into(),
                field: format!("objects[{i}]"),
                message: e.to_string(),
            })?);
        }
        Ok(Bundle {
            type_: "bundle".into(),
            id,
            objects: out,
        })
    }
}

/// RFC 8785-style canonical JSON (sorted keys, no whitespace), which STIX uses as the
/// input to UUIDv5 ids of observables.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            // RFC 8785 sorts by UTF-16 code units; for the ASCII keys STIX uses that is byte order.
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write_canonical(&m[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The deterministic id of a cyber-observable: `type--UUIDv5(STIX namespace,
/// canonical JSON of its id-contributing properties)`, as STIX 2.1 section 2.9 defines.
pub fn sco_id(type_: &str, contributing: &Value) -> String {
    let name = canonical_json(contributing);
    format!(
        "{type_}--{}",
        Uuid::new_v5(&STIX_SCO_NAMESPACE, name.as_bytes())
    )
}

/// The deterministic id of an SDO identified by its content (for an indicator, its
/// pattern; for a vulnerability, its CVE id), so the same thing from two feeds merges.
///
/// STIX 2.1 says SDO ids SHOULD be UUIDv4 (and `stix2-validator --strict` enforces
/// it), so the name-based SHA-1 digest of UUIDv5 is stamped with the version-4 and
/// RFC 4122 variant bits: 122 hash bits are as good as 122 random ones, and the id
/// stays reproducible.
pub fn content_id(type_: &str, key: &str) -> String {
    let name = format!("{type_}|{key}");
    let mut b = *Uuid::new_v5(&WARD_SDO_NAMESPACE, name.as_bytes()).as_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    format!("{type_}--{}", Uuid::from_bytes(b))
}

/// Picks the hash STIX uses as the id-contributing one for a `file` (MD5, then SHA-1,
/// then SHA-256, then SHA-512, then the first present), as the reference library does.
pub fn file_id_hashes(hashes: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for k in ["MD5", "SHA-1", "SHA-256", "SHA-512"] {
        if let Some(v) = hashes.get(k) {
            out.insert(k.to_string(), v.clone());
            return out;
        }
    }
    if let Some((k, v)) = hashes.iter().next() {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// Merges an incoming version of an object into a store keyed by id: the newer
/// `modified` wins; returns whether the incoming one was taken.
pub fn newer_wins(existing: &StixObject, incoming: &StixObject) -> bool {
    match (existing.modified(), incoming.modified()) {
        (Some(a), Some(b)) => b > a,
        (None, Some(_)) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> std::path::PathBuf {
        crate::test_support::shared_data()
    }

    #[test]
    fn sco_ids_match_stix_reference_algorithm() {
        // Cross-checked with Python: uuid.uuid5(UUID("00abedb4-aa42-466c-9c01-fed23315a9b7"),
        // '{"value":"198.51.100.3"}').
        let id = sco_id("ipv4-addr", &serde_json::json!({"value": "198.51.100.3"}));
        assert_eq!(id, "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4");
        // Key order must not matter.
        let a = canonical_json(&serde_json::json!({"b": 1, "a": {"d": [1, 2], "c": "x"}}));
        assert_eq!(a, r#"{"a":{"c":"x","d":[1,2]},"b":1}"#);
        assert_eq!(
            content_id("indicator", "[ipv4-addr:value = '1.2.3.4']"),
            content_id("indicator", "[ipv4-addr:value = '1.2.3.4']")
        );
        assert_ne!(content_id("indicator", "a"), content_id("indicator", "b"));
        let u = Uuid::parse_str(content_id("indicator", "a").trim_start_matches("indicator--"))
            .unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn medallion_seed_objects_round_trip_without_loss() {
        let raw = std::fs::read(shared().join("taxii/medallion_default_data.json")).unwrap();
        let v: Value = serde_json::from_slice(&raw).unwrap();
        let mut n = 0;
        for root in ["api1", "api2", "trustgroup1"] {
            for c in v[root]["collections"].as_array().unwrap() {
                for o in c["objects"].as_array().unwrap() {
                    let parsed = StixObject::from_value(o.clone()).unwrap();
                    assert_eq!(parsed.id(), o["id"].as_str().unwrap());
                    // Every property survives a round trip, modulo timestamp re-formatting.
                    let back = parsed.to_value();
                    for (k, val) in o.as_object().unwrap() {
                        let b = &back[k];
                        if val.is_string() && Timestamp::parse(val.as_str().unwrap()).is_ok() {
                            assert_eq!(
                                Timestamp::parse(val.as_str().unwrap()).unwrap(),
                                Timestamp::parse(b.as_str().unwrap()).unwrap(),
                                "{k}"
                            );
                        } else {
                            assert_eq!(val, b, "property {k} of {}", parsed.id());
                        }
                    }
                    n += 1;
                }
            }
        }
        assert!(n >= 8, "only {n} objects");
    }

    #[test]
    fn unknown_properties_are_preserved() {
        let v = serde_json::json!({
            "type": "indicator", "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z",
            "pattern": "[ipv4-addr:value = '10.0.0.1']", "pattern_type": "stix",
            "valid_from": "2016-01-01T00:00:00Z",
            "x_acme_score": 7, "object_marking_refs": [Tlp::Amber.marking_id()]
        });
        let o = StixObject::from_value(v).unwrap();
        let StixObject::Indicator(i) = &o else {
            panic!("not an indicator")
        };
        assert_eq!(i.extra["x_acme_score"], 7);
        assert_eq!(o.tlp(), Some(Tlp::Amber));
        assert_eq!(o.to_value()["x_acme_score"], 7);
        assert_eq!(o.to_value()["valid_from"], "2016-01-01T00:00:00.000Z");
    }

    #[test]
    fn fast_and_value_paths_agree() {
        let raw = std::fs::read(shared().join("taxii/medallion_default_data.json")).unwrap();
        let v: Value = serde_json::from_slice(&raw).unwrap();
        let objs: Vec<Value> = ["api1", "api2", "trustgroup1"]
            .iter()
            .flat_map(|r| v[r]["collections"].as_array().unwrap().iter())
            .flat_map(|c| c["objects"].as_array().unwrap().iter().cloned())
            .collect();
        let b =
            serde_json::json!({"type": "bundle", "id": "bundle--1", "objects": objs}).to_string();
        let fast = Bundle::parse(b.as_bytes()).unwrap();
        let slow = Bundle::parse_via_value(b.as_bytes()).unwrap();
        assert!(!fast.objects.is_empty());
        assert_eq!(fast, slow);
        let e = Bundle::parse(br#"{"type":"bundle","id":"bundle--1","objects":[{"type":"malware","id":"malware--1","name":5}]}"#).unwrap_err();
        assert!(e.to_string().contains("objects[0]"), "{e}");
    }

    #[test]
    fn bundle_errors_name_the_object() {
        let e = Bundle::parse(
            br#"{"type":"bundle","id":"bundle--1","objects":[{"type":"indicator"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.code(), "I007");
        assert!(e.to_string().contains("objects[0]"), "{e}");
    }
}
