//! Traffic Light Protocol 2.0 and its official STIX 2.1 marking-definition ids.

use serde::{Deserialize, Serialize};

/// A TLP 2.0 label. Ordered from least to most restrictive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tlp {
    /// TLP:CLEAR (TLP 1.0's WHITE is read as CLEAR).
    #[serde(rename = "CLEAR", alias = "WHITE")]
    Clear,
    #[serde(rename = "GREEN")]
    Green,
    #[serde(rename = "AMBER")]
    Amber,
    #[serde(rename = "AMBER+STRICT")]
    AmberStrict,
    #[serde(rename = "RED")]
    Red,
}

/// The TLP 2.0 extension definition id used by the official TLP 2.0 marking definitions.
pub const TLP2_EXTENSION_ID: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

impl Tlp {
    /// All labels, least restrictive first.
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// The label as written after `TLP:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "CLEAR",
            Tlp::Green => "GREEN",
            Tlp::Amber => "AMBER",
            Tlp::AmberStrict => "AMBER+STRICT",
            Tlp::Red => "RED",
        }
    }

    /// The official TLP 2.0 STIX marking-definition id (FIRST / OASIS TLP 2.0 extension).
    pub fn marking_id(self) -> &'static str {
        match self {
            Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
            Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        }
    }

    /// Reads a marking-definition id: TLP 2.0 ids and the STIX 2.1 spec's TLP 1.0 ids
    /// (WHITE becomes CLEAR).
    pub fn from_marking_id(id: &str) -> Option<Tlp> {
        Some(match id {
            "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
            | "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9" => Tlp::Clear,
            "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
            | "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da" => Tlp::Green,
            "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
            | "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82" => Tlp::Amber,
            "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003" => Tlp::AmberStrict,
            "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
            | "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed" => Tlp::Red,
            _ => return None,
        })
    }

    /// Parses `TLP:AMBER+STRICT`, `amber+strict`, `tlp:white`, … (MISP tags use lower case).
    pub fn parse(s: &str) -> Option<Tlp> {
        let t = s.trim();
        let t = t
            .strip_prefix("TLP:")
            .or_else(|| t.strip_prefix("tlp:"))
            .unwrap_or(t);
        Some(match t.to_ascii_uppercase().as_str() {
            "CLEAR" | "WHITE" => Tlp::Clear,
            "GREEN" => Tlp::Green,
            "AMBER" => Tlp::Amber,
            "AMBER+STRICT" => Tlp::AmberStrict,
            "RED" => Tlp::Red,
            _ => return None,
        })
    }

    /// The most restrictive TLP among a set of marking refs (objects may carry several).
    pub fn from_marking_refs<'a>(refs: impl IntoIterator<Item = &'a str>) -> Option<Tlp> {
        refs.into_iter().filter_map(Tlp::from_marking_id).max()
    }

    /// The official TLP 2.0 marking-definition object, as published by the
    /// TLP 2.0 STIX extension.
    pub fn marking_definition(self) -> serde_json::Value {
        serde_json::json!({
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": self.marking_id(),
            "created": "2022-10-01T00:00:00.000Z",
            "name": format!("TLP:{}", self.as_str()),
            "extensions": {
                TLP2_EXTENSION_ID: {
                    "extension_type": "property-extension",
                    "tlp_2_0": self.as_str().to_ascii_lowercase()
                }
            }
        })
    }
}

impl std::fmt::Display for Tlp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TLP:{}", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_is_clear_and_ids_round_trip() {
        assert_eq!(Tlp::parse("tlp:white"), Some(Tlp::Clear));
        assert_eq!(Tlp::parse("TLP:AMBER+STRICT"), Some(Tlp::AmberStrict));
        assert_eq!(
            Tlp::from_marking_id("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"),
            Some(Tlp::Clear)
        );
        for t in Tlp::ALL {
            assert_eq!(Tlp::from_marking_id(t.marking_id()), Some(t));
        }
        let v: Tlp = serde_json::from_str("\"WHITE\"").unwrap();
        assert_eq!(v, Tlp::Clear);
        assert_eq!(
            Tlp::from_marking_refs([Tlp::Green.marking_id(), Tlp::Red.marking_id()]),
            Some(Tlp::Red)
        );
    }
}
