//! ward's shared vocabulary, with no I/O: the types every stage agrees on.
//!
//! - [`OdsCode`]: an NHS Organisation Data Service code, the key of every member.
//! - [`OrgKind`], [`Role`]: who a member is and what a person may see.
//! - [`Level`] and [`Severity`]: a Sigma rule's level and the incident severity (1–4) it maps to.
//! - [`clock`]: milliseconds since the Unix epoch, the one time unit ward stores.
//!
//! ```
//! use ward_model::{OdsCode, Level, Severity};
//! let code: OdsCode = "rj1".parse().unwrap();
//! assert_eq!(code.as_str(), "RJ1");
//! assert_eq!(Severity::from(Level::Critical), Severity::Critical);
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub mod advisory;
pub mod channels;
pub mod clock;
pub mod escalation;
pub mod records;

/// An NHS ODS organisation code such as `RJ1` (a trust) or `A81001` (a GP practice).
///
/// Stored upper-case. ODS codes are 3 to 10 ASCII letters and digits; anything else is refused
/// so that a code is always safe to put in a path, a log line or a metric label.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "RJ1")]
pub struct OdsCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ODS code {0:?}: expected 3 to 10 letters and digits, such as RJ1 or A81001")]
pub struct InvalidOdsCode(pub String);

impl OdsCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for OdsCode {
    type Err = InvalidOdsCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let ok =
            (3..=10).contains(&trimmed.len()) && trimmed.bytes().all(|b| b.is_ascii_alphanumeric());
        if ok {
            Ok(OdsCode(trimmed.to_ascii_uppercase()))
        } else {
            Err(InvalidOdsCode(s.to_string()))
        }
    }
}

impl TryFrom<String> for OdsCode {
    type Error = InvalidOdsCode;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<OdsCode> for String {
    fn from(c: OdsCode) -> String {
        c.0
    }
}

impl fmt::Display for OdsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares a closed set of snake_case names, with parsing that lists the accepted values.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName {
                        what: $what,
                        given: s.to_string(),
                        expected: vec![$($text),+],
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A name that is not one of a closed set; the message lists what would have been accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?}; expected one of: {}", expected.join(", "))]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    pub expected: Vec<&'static str>,
}

named_enum!(
    /// What kind of member an organisation is.
    OrgKind, "organisation kind", {
        AcuteTrust => "acute_trust",
        MentalHealthTrust => "mental_health_trust",
        AmbulanceTrust => "ambulance_trust",
        CommunityTrust => "community_trust",
        GpPractice => "gp_practice",
        Csu => "csu",
        Icb => "icb",
        Central => "central",
        Other => "other",
    }
);

named_enum!(
    /// What a person may see and do.
    ///
    /// A central analyst sees every member; leads and viewers see only their own organisation,
    /// and only a lead may change it (contacts, keys).
    Role, "role", {
        CentralAnalyst => "central_analyst",
        OrgLead => "org_lead",
        OrgViewer => "org_viewer",
    }
);

impl Role {
    pub fn is_central(self) -> bool {
        matches!(self, Role::CentralAnalyst)
    }
}

named_enum!(
    /// A Sigma rule's `level`.
    Level, "level", {
        Informational => "informational",
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
);

/// Incident severity on TheHive's 1–4 scale, derived from the rule level.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low = 1,
    Medium = 2,
    High = 3,
    Critical = 4,
}

impl Severity {
    pub fn as_i64(self) -> i64 {
        self as i64
    }
    pub fn from_i64(n: i64) -> Option<Severity> {
        match n {
            1 => Some(Severity::Low),
            2 => Some(Severity::Medium),
            3 => Some(Severity::High),
            4 => Some(Severity::Critical),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl From<Level> for Severity {
    fn from(level: Level) -> Severity {
        match level {
            Level::Informational | Level::Low => Severity::Low,
            Level::Medium => Severity::Medium,
            Level::High => Severity::High,
            Level::Critical => Severity::Critical,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ods_codes_are_normalised_and_validated() {
        assert_eq!("a81001".parse::<OdsCode>().unwrap().as_str(), "A81001");
        assert!("R1".parse::<OdsCode>().is_err());
        assert!("RJ1/../x".parse::<OdsCode>().is_err());
        assert!("ABCDEFGHIJK".parse::<OdsCode>().is_err());
    }

    #[test]
    fn unknown_names_list_the_accepted_values() {
        let err = "hospital".parse::<OrgKind>().unwrap_err();
        assert!(err.to_string().contains("acute_trust"), "{err}");
        assert_eq!(
            "GP practice".parse::<OrgKind>().unwrap(),
            OrgKind::GpPractice
        );
        assert_eq!("org-lead".parse::<Role>().unwrap(), Role::OrgLead);
    }

    #[test]
    fn incident_lifecycle_moves_forward_or_to_false_positive() {
        use crate::records::incident_transition_allowed as ok;
        assert!(ok("new", "acknowledged"));
        assert!(ok("new", "resolved"), "steps may be skipped");
        assert!(ok("contained", "resolved"));
        assert!(ok("investigating", "false_positive"));
        assert!(!ok("acknowledged", "new"), "no going back");
        assert!(!ok("resolved", "investigating"), "closed stays closed");
        assert!(!ok("false_positive", "acknowledged"));
        assert!(!ok("new", "new"));
        assert!(!ok("new", "bogus"));
    }

    #[test]
    fn severity_follows_level() {
        assert_eq!(Severity::from(Level::Informational), Severity::Low);
        assert_eq!(Severity::from(Level::High), Severity::High);
        assert_eq!(
            Severity::from_i64(Severity::Medium.as_i64()),
            Some(Severity::Medium)
        );
        assert_eq!(Severity::from_i64(9), None);
    }
}
