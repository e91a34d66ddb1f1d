//! End-of-life detection: OS and product strings seen on the wire matched
//! against a table shipped as data (`data/eol.json`) and replaceable by
//! configuration.
//!
//! Three kinds of signal are used, in decreasing confidence: strings the
//! target announces (SMB NativeOS, HTTP `Server`, banners, or the member's
//! registered estate), and negotiation behaviour that only old systems show
//! (SMB1 with no SMB2 at all, an SMB2 ceiling of 2.0.2 or 2.1, RDP without
//! negotiation data).

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// One end-of-life product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EolEntry {
    /// Stable id, e.g. `windows-7`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// First day without security updates.
    pub end_of_life: Timestamp,
    /// Case-insensitive substrings that identify it in announced strings.
    #[serde(default)]
    pub match_any: Vec<String>,
    /// SMB2 ceilings (nmap dialect names) that identify it (inferred).
    #[serde(default)]
    pub smb_max_dialect: Vec<String>,
    /// SMB1 accepted and no SMB2 dialect at all identifies it (inferred).
    #[serde(default)]
    pub smb1_only: bool,
    /// RDP without negotiation data identifies it (inferred).
    #[serde(default)]
    pub rdp_legacy: bool,
}

/// The table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EolTable {
    /// Format version; 1.
    pub version: u32,
    /// Entries.
    pub entries: Vec<EolEntry>,
}

/// Error loading a table.
#[derive(Debug, thiserror::Error)]
#[error("SCAN-E030 end-of-life table: {0}")]
pub struct EolTableError(String);

/// How a match was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// The target named itself.
    Announced,
    /// Inferred from protocol behaviour.
    Inferred,
}

/// A match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EolMatch {
    /// The entry.
    pub entry: EolEntry,
    /// How sure.
    pub confidence: Confidence,
    /// The observation that matched (string or behaviour).
    pub observed: String,
    /// Where it came from (`smb.native_os`, `http.server`, `banner`, ...).
    pub source: String,
}

impl EolTable {
    /// The table shipped with ward.
    pub fn builtin() -> Self {
        // The shipped file is tested to parse; an empty table is the safe
        // fallback should an edit break it.
        Self::from_json(include_str!("../data/eol.json")).unwrap_or(EolTable {
            version: 1,
            entries: Vec::new(),
        })
    }

    /// Parses a JSON table.
    pub fn from_json(s: &str) -> Result<Self, EolTableError> {
        let t: EolTable = serde_json::from_str(s)
            .map_err(|e| EolTableError(format!("line {} column {}: {e}", e.line(), e.column())))?;
        if t.version != 1 {
            return Err(EolTableError(format!("unsupported version {}", t.version)));
        }
        Ok(t)
    }

    fn past(e: &EolEntry, now: Timestamp) -> bool {
        e.end_of_life <= now
    }

    /// Entries (already past end of life at `now`) whose strings occur in `text`.
    pub fn match_text(&self, text: &str, source: &str, now: Timestamp) -> Vec<EolMatch> {
        let lower = text.to_ascii_lowercase();
        self.entries
            .iter()
            .filter(|e| Self::past(e, now))
            .filter(|e| {
                e.match_any
                    .iter()
                    .any(|m| !m.is_empty() && lower.contains(&m.to_ascii_lowercase()))
            })
            .map(|e| EolMatch {
                entry: e.clone(),
                confidence: Confidence::Announced,
                observed: text.to_string(),
                source: source.to_string(),
            })
            .collect()
    }

    /// Entries inferred from SMB negotiation.
    pub fn match_smb(&self, smb1: bool, smb2_names: &[String], now: Timestamp) -> Vec<EolMatch> {
        let max = smb2_names.last();
        self.entries
            .iter()
            .filter(|e| Self::past(e, now))
            .filter_map(|e| {
                if e.smb1_only && smb1 && smb2_names.is_empty() {
                    return Some(EolMatch {
                        entry: e.clone(),
                        confidence: Confidence::Inferred,
                        observed: "SMB1 accepted, no SMB2 dialect".into(),
                        source: "smb.dialects".into(),
                    });
                }
                let m = max?;
                e.smb_max_dialect.contains(m).then(|| EolMatch {
                    entry: e.clone(),
                    confidence: Confidence::Inferred,
                    observed: format!("highest SMB dialect {m}"),
                    source: "smb.dialects".into(),
                })
            })
            .collect()
    }

    /// Entries inferred from an RDP server that sent no negotiation data.
    pub fn match_rdp_legacy(&self, now: Timestamp) -> Vec<EolMatch> {
        self.entries
            .iter()
            .filter(|e| Self::past(e, now) && e.rdp_legacy)
            .map(|e| EolMatch {
                entry: e.clone(),
                confidence: Confidence::Inferred,
                observed: "RDP Connection Confirm without negotiation data".into(),
                source: "rdp.negotiation".into(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_parses_and_matches() {
        let t = EolTable::from_json(include_str!("../data/eol.json")).unwrap();
        assert!(t.entries.len() >= 8);
        let now = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let m = t.match_text(
            "Windows 7 Professional 7601 Service Pack 1",
            "smb.native_os",
            now,
        );
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].entry.id, "windows-7");
        assert!(t
            .match_text("Samba 4.17.12-Debian", "smb.native_os", now)
            .is_empty());
        let m = t.match_text("Microsoft-IIS/6.0", "http.server", now);
        assert_eq!(m[0].entry.id, "windows-server-2003");
        // Windows 10 was not yet end of life in 2024.
        let then = Timestamp::parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        assert!(t.match_text("Windows 10 Pro 19045", "x", then).is_empty());
        assert_eq!(
            t.match_smb(true, &[], now)[0].entry.id,
            "windows-server-2003"
        );
        assert!(t
            .match_smb(true, &["2.0.2".into(), "3.1.1".into()], now)
            .is_empty());
        assert_eq!(
            t.match_smb(false, &["2.0.2".into(), "2.1".into()], now)[0]
                .entry
                .id,
            "windows-7"
        );
        assert_eq!(t.match_rdp_legacy(now)[0].entry.id, "windows-xp");
    }
}
