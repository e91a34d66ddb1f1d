//! The words people receive. SMS bodies stay within three SMS fragments (459 characters).

use ward_model::Severity;

use crate::grouping::RuleHit;

pub(crate) struct Announcement {
    kind: Kind,
    severity: Severity,
    rule_title: String,
    org: String,
    host: Option<String>,
    orgs: Vec<String>,
}

enum Kind {
    Local,
    National,
    Joined,
}

impl Announcement {
    pub(crate) fn local(hit: &RuleHit, severity: Severity) -> Self {
        Self::new(Kind::Local, hit, severity, Vec::new())
    }
    pub(crate) fn national(hit: &RuleHit, severity: Severity, orgs: &[String]) -> Self {
        Self::new(Kind::National, hit, severity, orgs.to_vec())
    }
    pub(crate) fn joined(hit: &RuleHit, severity: Severity) -> Self {
        Self::new(Kind::Joined, hit, severity, Vec::new())
    }
    fn new(kind: Kind, hit: &RuleHit, severity: Severity, orgs: Vec<String>) -> Self {
        Announcement {
            kind,
            severity,
            rule_title: hit.rule_title.clone(),
            org: hit.org.clone(),
            host: hit.host.clone(),
            orgs,
        }
    }

    pub(crate) fn subject(&self, incident_id: i64) -> String {
        let sev = self.severity.as_str().to_uppercase();
        match self.kind {
            Kind::Local => format!(
                "[ward {sev}] INC-{incident_id}: {} at {}",
                self.rule_title, self.org
            ),
            Kind::National | Kind::Joined => {
                format!(
                    "[ward {sev}] NATIONAL INC-{incident_id}: {}",
                    self.rule_title
                )
            }
        }
    }
}

pub(crate) fn sms_body(a: &Announcement, incident_id: i64, link: &str) -> String {
    let sev = a.severity.as_str().to_uppercase();
    let text = match a.kind {
        Kind::Local => format!(
            "ward {sev}: {} at {}{}. Incident INC-{incident_id}. Act now and acknowledge: {link}",
            a.rule_title,
            a.org,
            a.host.as_deref().map(|h| format!(" on {h}")).unwrap_or_default()
        ),
        Kind::National => format!(
            "ward {sev} NATIONAL incident INC-{incident_id}: {} seen at {} organisations ({}). Yours is affected. Acknowledge: {link}",
            a.rule_title,
            a.orgs.len(),
            a.orgs.join(", ")
        ),
        Kind::Joined => format!(
            "ward {sev} NATIONAL incident INC-{incident_id}: {} now seen at {}. Acknowledge: {link}",
            a.rule_title, a.org
        ),
    };
    truncate_chars(&text, 459)
}

pub(crate) fn email_body(a: &Announcement, incident_id: i64, link: &str) -> String {
    let mut body = sms_body(a, incident_id, link);
    body.push_str(
        "\n\nThis message was sent by ward, the federation's security monitoring service. ",
    );
    body.push_str("Open the incident to see the detections, the hosts and the evidence.");
    body
}

fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// A unique reference per message, sent to Notify so a retried send can be recognised.
pub(crate) fn new_reference(incident_id: i64) -> String {
    format!(
        "ward-inc{incident_id}-{}",
        hex::encode(rand::random::<[u8; 8]>())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_fits_three_fragments() {
        let long = "x".repeat(1000);
        assert_eq!(truncate_chars(&long, 459).chars().count(), 459);
        assert_eq!(truncate_chars("short", 459), "short");
    }
}
