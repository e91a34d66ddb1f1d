//! Report formats: JSON, CSV, and nmap-style XML.
//!
//! The XML follows nmap's `nmaprun` DTD (version 1.05) so that nmap tooling
//! (`ndiff`, `nmap.xsl`, importers that read nmap XML) can read ward's scans.
//! Findings appear as `<script>` elements (`ward-<check>`), per port or in
//! `<hostscript>`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::finding::Finding;
use crate::scanner::ScanReport;

/// The report as pretty-printed JSON.
pub fn to_json(report: &ScanReport) -> String {
    // Serialising plain data structures cannot fail; an empty object is a
    // defensive fallback rather than a panic.
    serde_json::to_string_pretty(report).unwrap_or_else(|_| "{}".into())
}

fn csv_field(s: &str) -> String {
    // Spreadsheet formula injection: a cell starting with = + - @ is
    // neutralised with a leading apostrophe (OWASP's advice).
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Findings as CSV (RFC 4180, header row first).
pub fn findings_to_csv(findings: &[Finding]) -> String {
    let mut out = String::from("member,scope_id,host,address,port,check,subject,severity,title,summary,fields,bytes_hex,observed_at\r\n");
    for f in findings {
        let fields = serde_json::to_string(&f.evidence.fields).unwrap_or_default();
        let row = [
            f.member.clone(),
            f.scope_id.clone(),
            f.host.clone(),
            f.address.to_string(),
            f.port.map(|p| p.to_string()).unwrap_or_default(),
            f.check.clone(),
            f.subject.clone(),
            f.severity.to_string(),
            f.title.clone(),
            f.evidence.summary.clone(),
            fields,
            f.evidence.bytes_hex.clone().unwrap_or_default(),
            f.observed_at.to_string(),
        ];
        let cells: Vec<String> = row.iter().map(|c| csv_field(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Escapes text for an XML attribute or element.
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\n' => o.push_str("&#xa;"),
            c if (c as u32) < 0x20 && c != '\t' => {}
            c => o.push(c),
        }
    }
    o
}

/// TCP service names by port, for the XML `<service>` element.
#[derive(Debug, Clone, Default)]
pub struct ServiceNames(HashMap<u16, String>);

impl ServiceNames {
    /// A small built-in table of well-known names.
    pub fn builtin() -> Self {
        let t: &[(u16, &str)] = &[
            (21, "ftp"),
            (22, "ssh"),
            (23, "telnet"),
            (25, "smtp"),
            (53, "domain"),
            (80, "http"),
            (88, "kerberos-sec"),
            (110, "pop3"),
            (111, "rpcbind"),
            (135, "msrpc"),
            (139, "netbios-ssn"),
            (143, "imap"),
            (389, "ldap"),
            (443, "https"),
            (445, "microsoft-ds"),
            (465, "smtps"),
            (587, "submission"),
            (636, "ldapssl"),
            (993, "imaps"),
            (995, "pop3s"),
            (1433, "ms-sql-s"),
            (3306, "mysql"),
            (3389, "ms-wbt-server"),
            (5432, "postgresql"),
            (5900, "vnc"),
            (5985, "wsman"),
            (5986, "wsmans"),
            (6379, "redis"),
            (8080, "http-proxy"),
            (8443, "https-alt"),
        ];
        ServiceNames(t.iter().map(|(p, n)| (*p, n.to_string())).collect())
    }

    /// Loads nmap's own `nmap-services` file (e.g.
    /// `/usr/share/nmap/nmap-services`), so names match nmap's exactly.
    pub fn from_nmap_services(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let mut m = HashMap::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut it = line.split_whitespace();
            let (Some(name), Some(pp)) = (it.next(), it.next()) else {
                continue;
            };
            let Some((port, proto)) = pp.split_once('/') else {
                continue;
            };
            if proto != "tcp" {
                continue;
            }
            if let Ok(p) = port.parse::<u16>() {
                m.entry(p).or_insert_with(|| name.to_string());
            }
        }
        Ok(ServiceNames(m))
    }

    /// Name for a port, if known.
    pub fn get(&self, port: u16) -> Option<&str> {
        self.0.get(&port).map(String::as_str)
    }
}

fn timestr(t: crate::time::Timestamp) -> String {
    t.to_string()
}

/// The report as nmap-style XML.
pub fn to_nmap_xml(report: &ScanReport, services: &ServiceNames) -> String {
    let mut x = String::new();
    let ports = report.ports.ports();
    let services_attr = compress_ports(&ports);
    let _ = writeln!(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = writeln!(x, "<!DOCTYPE nmaprun>");
    let _ = writeln!(
        x,
        "<nmaprun scanner=\"ward\" args=\"ward scan run {}\" start=\"{}\" startstr=\"{}\" version=\"{}\" xmloutputversion=\"1.05\">",
        xml_escape(&report.scope_id),
        report.started_at.0,
        timestr(report.started_at),
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        x,
        "<scaninfo type=\"connect\" protocol=\"tcp\" numservices=\"{}\" services=\"{}\"/>",
        ports.len(),
        services_attr
    );
    let _ = writeln!(x, "<verbose level=\"0\"/>\n<debugging level=\"0\"/>");
    let mut up = 0;
    for h in &report.hosts {
        up += 1;
        let _ = writeln!(x, "<host starttime=\"{}\" endtime=\"{}\"><status state=\"up\" reason=\"user-set\" reason_ttl=\"0\"/>", h.started_at.0, h.finished_at.0);
        let ty = if h.address.is_ipv4() { "ipv4" } else { "ipv6" };
        let _ = writeln!(x, "<address addr=\"{}\" addrtype=\"{ty}\"/>", h.address);
        let _ = write!(x, "<hostnames>");
        if let Some(n) = &h.host_name {
            let _ = write!(
                x,
                "\n<hostname name=\"{}\" type=\"user\"/>\n",
                xml_escape(n)
            );
        }
        let _ = writeln!(x, "</hostnames>");
        let _ = write!(x, "<ports>");
        let list_closed =
            !h.ports.closed_ports.is_empty() && h.ports.closed_ports.len() == h.ports.closed;
        if h.ports.closed > 0 && !list_closed {
            let _ = writeln!(
                x,
                "<extraports state=\"closed\" count=\"{}\">",
                h.ports.closed
            );
            let _ = writeln!(
                x,
                "<extrareasons reason=\"conn-refused\" count=\"{}\"/>",
                h.ports.closed
            );
            let _ = writeln!(x, "</extraports>");
        }
        let host_findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.address == h.address && f.check != "port.open")
            .collect();
        let closed_results: Vec<crate::checks::portscan::PortResult> = if list_closed {
            h.ports
                .closed_ports
                .iter()
                .map(|&port| crate::checks::portscan::PortResult {
                    address: h.address,
                    port,
                    state: crate::checks::portscan::PortState::Closed,
                    rtt_us: None,
                    attempts: 1,
                    banner: None,
                    banner_hex: None,
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut all: Vec<&crate::checks::portscan::PortResult> = h
            .ports
            .open
            .iter()
            .chain(h.ports.filtered.iter())
            .chain(closed_results.iter())
            .collect();
        all.sort_by_key(|p| p.port);
        for p in all {
            let _ = write!(x, "<port protocol=\"tcp\" portid=\"{}\"><state state=\"{}\" reason=\"{}\" reason_ttl=\"0\"/>", p.port, p.state.as_str(), p.state.nmap_reason());
            if let Some(name) = services.get(p.port) {
                let _ = write!(
                    x,
                    "<service name=\"{}\" method=\"table\" conf=\"3\"/>",
                    xml_escape(name)
                );
            }
            if let Some(b) = &p.banner {
                let _ = write!(x, "<script id=\"banner\" output=\"{}\"/>", xml_escape(b));
            }
            for f in host_findings.iter().filter(|f| f.port == Some(p.port)) {
                let _ = write!(
                    x,
                    "<script id=\"ward-{}\" output=\"{}\"/>",
                    xml_escape(&f.check),
                    xml_escape(&script_output(f))
                );
            }
            let _ = writeln!(x, "</port>");
        }
        let _ = writeln!(x, "</ports>");
        let hs: Vec<&&Finding> = host_findings.iter().filter(|f| f.port.is_none()).collect();
        if !hs.is_empty() {
            let _ = write!(x, "<hostscript>");
            for f in hs {
                let _ = write!(
                    x,
                    "<script id=\"ward-{}\" output=\"{}\"/>",
                    xml_escape(&f.check),
                    xml_escape(&script_output(f))
                );
            }
            let _ = writeln!(x, "</hostscript>");
        }
        let _ = writeln!(x, "</host>");
    }
    let elapsed = (report.finished_at.0 - report.started_at.0).max(0);
    let _ = writeln!(
        x,
        "<runstats><finished time=\"{}\" timestr=\"{}\" summary=\"ward done at {}; {} IP address ({} host up) scanned in {} seconds\" elapsed=\"{}\" exit=\"{}\"/><hosts up=\"{up}\" down=\"0\" total=\"{up}\"/>\n</runstats>\n</nmaprun>",
        report.finished_at.0,
        timestr(report.finished_at),
        timestr(report.finished_at),
        report.hosts.len(),
        up,
        elapsed,
        elapsed,
        if report.cancelled { "error" } else { "success" }
    );
    x
}

fn script_output(f: &Finding) -> String {
    let mut s = format!("{} [{}]", f.title, f.severity);
    if !f.subject.is_empty() {
        let _ = write!(s, " {}", f.subject);
    }
    if !f.evidence.summary.is_empty() {
        let _ = write!(s, ": {}", f.evidence.summary);
    }
    s
}

/// `1-1024,3389` style list, as nmap writes `services`.
pub fn compress_ports(ports: &[u16]) -> String {
    let mut v = ports.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end + 1 {
            i += 1;
            end = v[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_neutralises() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(compress_ports(&[5, 1, 2, 3, 9]), "1-3,5,9");
        assert_eq!(xml_escape("<a&\"'>"), "&lt;a&amp;&quot;&apos;&gt;");
    }
}
