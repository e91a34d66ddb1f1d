//! Synthetic but realistic material for the demo, the tests and the benchmarks.
//!
//! - [`federation`]: member organisations across NHS England regions, each with contacts whose
//!   phone numbers are in Ofcom's range reserved for drama (07700 900000–900999), so nothing
//!   here can text a real person.
//! - [`outbreak`]: a WannaCry-style worm moving over SMBv1 from trust to trust, as the events
//!   members' Sysmon, Windows Security auditing and network sensors would send, mixed with
//!   ordinary activity. Three event layouts appear, as they do in real federations: flattened
//!   Sysmon, evtx_dump-style Security events and Winlogbeat JSON, plus Suricata EVE alerts.
//! - [`bench_event`]: about 600 bytes of ordinary Sysmon telemetry, for load tests.
//!
//! ```
//! let orgs = ward_scenario::federation();
//! let events = ward_scenario::outbreak(&orgs, 42);
//! let infected: std::collections::BTreeSet<_> = events.iter().filter(|e| e.malicious).map(|e| e.org.clone()).collect();
//! assert!(infected.len() >= 4);
//! ```

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use ward_model::OrgKind;

/// A synthetic member. Codes use the `Z` prefix, which no real NHS trust or practice uses.
#[derive(Debug, Clone)]
pub struct SyntheticOrg {
    pub ods_code: String,
    pub name: String,
    pub kind: OrgKind,
    pub region: String,
    pub domain: String,
    pub contacts: Vec<SyntheticContact>,
}

#[derive(Debug, Clone)]
pub struct SyntheticContact {
    pub name: String,
    pub phone: String,
    pub email: String,
    pub role: String,
}

/// One event to send: which member sends it, after how long, and the JSON it sends.
#[derive(Debug, Clone)]
pub struct ScenarioEvent {
    pub org: String,
    pub delay_ms: u64,
    pub event: Value,
    /// Part of the attack (for tests to check detection against).
    pub malicious: bool,
}

const MEMBERS: &[(&str, &str, OrgKind, &str)] = &[
    (
        "ZA1",
        "Northgate Hospitals NHS Foundation Trust",
        OrgKind::AcuteTrust,
        "London",
    ),
    (
        "ZA2",
        "Thames Valley Mental Health NHS Trust",
        OrgKind::MentalHealthTrust,
        "South East",
    ),
    (
        "ZA3",
        "Severnside University Hospitals NHS Trust",
        OrgKind::AcuteTrust,
        "South West",
    ),
    (
        "ZA4",
        "Peak and Trent Hospitals NHS Trust",
        OrgKind::AcuteTrust,
        "Midlands",
    ),
    (
        "ZA5",
        "Fenland Acute Hospitals NHS Trust",
        OrgKind::AcuteTrust,
        "East of England",
    ),
    (
        "ZA6",
        "Mersey Bay Teaching Hospitals NHS Trust",
        OrgKind::AcuteTrust,
        "North West",
    ),
    (
        "ZA7",
        "Pennine Moors Hospitals NHS Foundation Trust",
        OrgKind::AcuteTrust,
        "North East and Yorkshire",
    ),
    (
        "ZB1",
        "Northern Counties Ambulance Service NHS Trust",
        OrgKind::AmbulanceTrust,
        "North East and Yorkshire",
    ),
    (
        "Z81001",
        "Riverside Surgery",
        OrgKind::GpPractice,
        "North East and Yorkshire",
    ),
    (
        "Z82002",
        "Market Street Medical Centre",
        OrgKind::GpPractice,
        "London",
    ),
    (
        "Z83003",
        "Orchard Lane Health Centre",
        OrgKind::GpPractice,
        "South West",
    ),
    (
        "ZC1",
        "Central and Western Commissioning Support Unit",
        OrgKind::Csu,
        "Midlands",
    ),
];

/// The demo federation: twelve members across seven regions.
pub fn federation() -> Vec<SyntheticOrg> {
    MEMBERS
        .iter()
        .enumerate()
        .map(|(i, (code, name, kind, region))| {
            let domain = format!("{}.nhs.example", code.to_ascii_lowercase());
            let contacts = vec![
                SyntheticContact {
                    name: format!("{code} on-call security lead"),
                    phone: format!("07700 900{:03}", 100 + i * 2),
                    email: format!("security.lead@{domain}"),
                    role: "security_lead".into(),
                },
                SyntheticContact {
                    name: format!("{code} deputy security lead"),
                    phone: format!("07700 900{:03}", 101 + i * 2),
                    email: format!("deputy@{domain}"),
                    role: "deputy".into(),
                },
            ];
            SyntheticOrg {
                ods_code: (*code).into(),
                name: (*name).into(),
                kind: *kind,
                region: (*region).into(),
                domain,
                contacts,
            }
        })
        .collect()
}

fn host(org: &SyntheticOrg, rng: &mut StdRng) -> String {
    format!("WS-{:04}.{}", rng.gen_range(1..4000), org.domain)
}

fn sha256ish(rng: &mut StdRng) -> String {
    (0..32)
        .map(|_| format!("{:02X}", rng.gen::<u8>()))
        .collect()
}

fn sysmon_process(
    org: &SyntheticOrg,
    computer: &str,
    image: &str,
    cmd: &str,
    parent: &str,
    rng: &mut StdRng,
) -> Value {
    json!({
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Provider_Name": "Microsoft-Windows-Sysmon",
        "EventID": 1,
        "Computer": computer,
        "UtcTime": "2026-11-28 03:12:44.120",
        "ProcessGuid": format!("{{{:08x}-6a1e-6745-0b00-000000003a00}}", rng.gen::<u32>()),
        "ProcessId": rng.gen_range(1000..60000),
        "Image": image,
        "CommandLine": cmd,
        "CurrentDirectory": "C:\\Windows\\system32\\",
        "User": format!("{}\\svc-clinical", org.ods_code),
        "IntegrityLevel": "System",
        "Hashes": format!("SHA256={}", sha256ish(rng)),
        "ParentImage": parent,
        "ParentCommandLine": parent,
    })
}

fn security_4688(computer: &str, image: &str, cmd: &str, parent: &str, rng: &mut StdRng) -> Value {
    json!({
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}},
                "EventID": 4688,
                "Channel": "Security",
                "Computer": computer,
                "TimeCreated": {"#attributes": {"SystemTime": "2026-11-28T03:12:44.1200000Z"}}
            },
            "EventData": {
                "SubjectUserName": "SYSTEM",
                "NewProcessId": format!("0x{:x}", rng.gen_range(0x400..0xffff)),
                "NewProcessName": image,
                "CommandLine": cmd,
                "ParentProcessName": parent,
                "TokenElevationType": "%%1936"
            }
        }
    })
}

fn winlogbeat_file_create(computer: &str, image: &str, target: &str) -> Value {
    json!({
        "@timestamp": "2026-11-28T03:13:02.004Z",
        "winlog": {
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "provider_name": "Microsoft-Windows-Sysmon",
            "event_id": 11,
            "computer_name": computer,
            "event_data": {
                "Image": image,
                "TargetFilename": target,
                "CreationUtcTime": "2026-11-28 03:13:02.004"
            }
        },
        "host": {"name": computer}
    })
}

fn suricata_alert(org: &SyntheticOrg, src: &str, dst: &str, signature: &str, sid: u64) -> Value {
    json!({
        "timestamp": "2026-11-28T03:12:40.551234+0000",
        "flow_id": 1_284_112_377_882_332u64,
        "in_iface": "eth1",
        "event_type": "alert",
        "src_ip": src,
        "src_port": 49_211,
        "dest_ip": dst,
        "dest_port": 445,
        "proto": "TCP",
        "alert": {
            "action": "allowed",
            "gid": 1,
            "signature_id": sid,
            "rev": 3,
            "signature": signature,
            "category": "Attempted Administrator Privilege Gain",
            "severity": 1
        },
        "host": format!("sensor-01.{}", org.domain)
    })
}

fn benign(org: &SyntheticOrg, rng: &mut StdRng) -> Value {
    let computer = host(org, rng);
    match rng.gen_range(0..4) {
        0 => sysmon_process(
            org,
            &computer,
            "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
            "\"chrome.exe\" --type=renderer --lang=en-GB",
            "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
            rng,
        ),
        1 => security_4688(
            &computer,
            "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
            "\"OUTLOOK.EXE\" /recycle",
            "C:\\Windows\\explorer.exe",
            rng,
        ),
        2 => json!({
            "ts": 1_795_834_364.11,
            "uid": format!("C{:016x}", rng.gen::<u64>()),
            "id.orig_h": format!("10.{}.{}.{}", rng.gen_range(0..255), rng.gen_range(0..255), rng.gen_range(1..255)),
            "id.orig_p": rng.gen_range(1024..65535),
            "id.resp_h": "10.0.0.53",
            "id.resp_p": 53,
            "proto": "udp",
            "service": "dns",
            "duration": 0.0012,
            "conn_state": "SF",
            "_path": "conn"
        }),
        _ => winlogbeat_file_create(
            &computer,
            "C:\\Windows\\System32\\svchost.exe",
            "C:\\Windows\\Temp\\MpCmdRun.log",
        ),
    }
}

/// The attack as one infected host of `org` would report it.
fn infection(org: &SyntheticOrg, rng: &mut StdRng) -> Vec<Value> {
    let computer = host(org, rng);
    let ip = format!(
        "10.{}.{}.{}",
        rng.gen_range(0..255),
        rng.gen_range(0..255),
        rng.gen_range(1..255)
    );
    let target = format!(
        "10.{}.{}.{}",
        rng.gen_range(0..255),
        rng.gen_range(0..255),
        rng.gen_range(1..255)
    );
    vec![
        suricata_alert(
            org,
            &ip,
            &target,
            "ET EXPLOIT Possible ETERNALBLUE Exploit M2 MS17-010",
            2_024_297,
        ),
        sysmon_process(
            org,
            &computer,
            "C:\\Windows\\mssecsvc.exe",
            "C:\\Windows\\mssecsvc.exe -m security",
            "C:\\Windows\\System32\\services.exe",
            rng,
        ),
        sysmon_process(
            org,
            &computer,
            "C:\\Windows\\tasksche.exe",
            "C:\\Windows\\tasksche.exe /i",
            "C:\\Windows\\mssecsvc.exe",
            rng,
        ),
        security_4688(
            &computer,
            "C:\\Windows\\System32\\icacls.exe",
            "icacls . /grant Everyone:F /T /C /Q",
            "C:\\ProgramData\\wnry\\tasksche.exe",
            rng,
        ),
        security_4688(
            &computer,
            "C:\\Windows\\System32\\vssadmin.exe",
            "vssadmin delete shadows /all /quiet",
            "C:\\Windows\\System32\\cmd.exe",
            rng,
        ),
        winlogbeat_file_create(
            &computer,
            "C:\\ProgramData\\wnry\\tasksche.exe",
            "C:\\Users\\Public\\Documents\\theatre-list.xlsx.WNCRY",
        ),
        sysmon_process(
            org,
            &computer,
            "C:\\ProgramData\\wnry\\@WanaDecryptor@.exe",
            "@WanaDecryptor@.exe",
            "C:\\ProgramData\\wnry\\tasksche.exe",
            rng,
        ),
    ]
}

/// The outbreak: patient zero at ZA1, then ZA3, ZA6, ZA5 and the practice Z82002, each a
/// second or so after the last, over a steady background of ordinary events from everyone.
pub fn outbreak(orgs: &[SyntheticOrg], seed: u64) -> Vec<ScenarioEvent> {
    let mut rng = StdRng::seed_from_u64(seed);
    let spread = ["ZA1", "ZA3", "ZA6", "ZA5", "Z82002"];
    let mut events = Vec::new();
    for round in 0..12u64 {
        for org in orgs {
            for _ in 0..5 {
                events.push(ScenarioEvent {
                    org: org.ods_code.clone(),
                    delay_ms: round * 500 + rng.gen_range(0..500),
                    event: benign(org, &mut rng),
                    malicious: false,
                });
            }
        }
    }
    for (step, code) in spread.iter().enumerate() {
        let Some(org) = orgs.iter().find(|o| o.ods_code == *code) else {
            continue;
        };
        for (i, ev) in infection(org, &mut rng).into_iter().enumerate() {
            events.push(ScenarioEvent {
                org: org.ods_code.clone(),
                delay_ms: 500 + step as u64 * 1000 + i as u64 * 40,
                event: ev,
                malicious: true,
            });
        }
    }
    events.sort_by_key(|e| e.delay_ms);
    events
}

/// An ordinary ~600-byte Sysmon process-creation event, varied by `i`.
pub fn bench_event(i: u64) -> Value {
    json!({
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Provider_Name": "Microsoft-Windows-Sysmon",
        "EventID": 1,
        "Computer": format!("WS-{:04}.za1.nhs.example", i % 4000),
        "UtcTime": "2026-11-28 03:12:44.120",
        "ProcessGuid": format!("{{{:08x}-6a1e-6745-0b00-000000003a00}}", i),
        "ProcessId": 1000 + i % 50000,
        "Image": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
        "CommandLine": format!("\"WINWORD.EXE\" /n \"\\\\fs01\\clinical\\letters\\discharge-{i}.docx\""),
        "CurrentDirectory": "C:\\Users\\jsmith\\Documents\\",
        "User": "ZA1\\jsmith",
        "IntegrityLevel": "Medium",
        "Hashes": "SHA256=3F1C0E2B8A4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D6E7",
        "ParentImage": "C:\\Windows\\explorer.exe",
        "ParentCommandLine": "C:\\Windows\\Explorer.EXE"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbreak_is_deterministic_and_spreads_across_regions() {
        let orgs = federation();
        let a = outbreak(&orgs, 7);
        let b = outbreak(&orgs, 7);
        assert_eq!(a.len(), b.len());
        assert_eq!(a[10].event, b[10].event);
        let regions: std::collections::BTreeSet<_> = a
            .iter()
            .filter(|e| e.malicious)
            .filter_map(|e| orgs.iter().find(|o| o.ods_code == e.org))
            .map(|o| o.region.clone())
            .collect();
        assert!(regions.len() >= 4, "{regions:?}");
        assert!(a.windows(2).all(|w| w[0].delay_ms <= w[1].delay_ms));
    }

    #[test]
    fn contacts_use_the_drama_number_range() {
        for org in federation() {
            assert!(org.ods_code.parse::<ward_model::OdsCode>().is_ok());
            for c in org.contacts {
                assert!(c.phone.starts_with("07700 900"), "{}", c.phone);
            }
        }
    }

    #[test]
    fn bench_events_are_about_600_bytes() {
        let len = serde_json::to_vec(&bench_event(123_456)).unwrap().len();
        assert!((550..700).contains(&len), "{len}");
    }
}
