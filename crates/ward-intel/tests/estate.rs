//! Estate matching end to end on real KEV, NVD, OSV and CSAF data.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ward_intel::estate::{parse_assets_csv, Asset, MatchConfidence, Software, VulnDb};
use ward_intel::feeds::csaf::CsafAdvisory;
use ward_intel::feeds::kev::KevCatalog;
use ward_intel::feeds::nvd::CveResponse;
use ward_intel::feeds::osv::OsvRecord;

fn shared() -> PathBuf {
    std::env::var_os("WARD_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

fn db() -> VulnDb {
    let mut db = VulnDb::new();
    let env = CveResponse::parse(
        &std::fs::read(shared().join("nvd/nvd-api2-envelope-subset.json")).unwrap(),
    )
    .unwrap();
    for v in env.vulnerabilities {
        db.add_nvd(v.cve);
    }
    db.set_kev(
        &KevCatalog::parse(
            &std::fs::read(shared().join("kev/known_exploited_vulnerabilities.json")).unwrap(),
        )
        .unwrap(),
    );
    for f in [
        "full_ranges.osv.json",
        "equals_with_patch.osv.json",
        "equals_no_patch.osv.json",
        "greater_than_equals_no_patch.osv.json",
    ] {
        db.add_osv(
            OsvRecord::parse(&std::fs::read(shared().join("osv").join(f)).unwrap()).unwrap(),
        );
    }
    for f in ["bsi-2022-0001.json", "cisco-sa-20180328-smi2.json"] {
        db.add_csaf(
            CsafAdvisory::parse(&std::fs::read(shared().join("csaf/examples").join(f)).unwrap())
                .unwrap(),
        );
    }
    db
}

fn win7(org: &str, id: &str, smbv1: bool, patches: &[&str]) -> Asset {
    Asset {
        org: org.into(),
        asset_id: id.into(),
        hostname: Some(format!("{id}.nhs.example")),
        os_name: Some("Windows 7".into()),
        os_version: Some("6.1.7601".into()),
        os_patch_level: Some("SP1".into()),
        patches: patches.iter().map(|s| s.to_string()).collect(),
        software: vec![],
        attributes: if smbv1 {
            BTreeMap::from([("smbv1".to_string(), "enabled".to_string())])
        } else {
            BTreeMap::new()
        },
    }
}

#[test]
fn eternalblue_flagged_on_unpatched_windows7_with_smbv1() {
    let db = db();
    let exposed = db.asset_exposures(&win7("RXA", "pc-001", true, &[]));
    let eb = exposed
        .iter()
        .find(|e| e.cve == "CVE-2017-0144")
        .expect("CVE-2017-0144 not flagged");
    assert_eq!(eb.matched, "smbv1=enabled");
    assert_eq!(eb.source, "nvd");
    assert_eq!(eb.confidence, MatchConfidence::ExactCpe);
    assert!(eb.in_kev && eb.kev_ransomware);
    assert_eq!(eb.cvss, Some(8.8));
    // Patched (MS17-010 security-only update for Windows 7) → not exposed.
    assert!(db
        .asset_exposures(&win7("RXA", "pc-002", true, &["KB4012212"]))
        .iter()
        .all(|e| e.cve != "CVE-2017-0144"));
    // SMBv1 off → the AND configuration fails → not exposed.
    assert!(db
        .asset_exposures(&win7("RXA", "pc-003", false, &[]))
        .iter()
        .all(|e| e.cve != "CVE-2017-0144"));
    // Windows 7 SP1 is in CVE-2019-0708 (BlueKeep) directly.
    assert!(exposed.iter().any(|e| e.cve == "CVE-2019-0708" && e.in_kev));
    // A Linux host is not.
    let linux = Asset {
        os_name: Some("Ubuntu".into()),
        os_patch_level: None,
        ..win7("RXA", "srv-1", true, &[])
    };
    let l = db.asset_exposures(&Asset {
        attributes: BTreeMap::new(),
        ..linux
    });
    assert!(l.is_empty(), "{l:?}");
}

#[test]
fn nvd_version_ranges_and_non_semver_citrix() {
    let db = db();
    let cpe = |s: &str| Software {
        cpe: Some(s.into()),
        purl: None,
        vendor: None,
        name: None,
        version: None,
    };
    let host = |sw: Vec<Software>| Asset {
        software: sw,
        os_name: None,
        os_patch_level: None,
        attributes: BTreeMap::new(),
        ..win7("RXB", "adc-1", false, &[])
    };
    // CVE-2023-4966 (Citrix Bleed): NetScaler ADC 13.1 from 13.1 before 13.1-49.15.
    let vuln = db.asset_exposures(&host(vec![cpe(
        "cpe:2.3:a:citrix:netscaler_application_delivery_controller:13.1-49.13:*:*:*:*:*:*:*",
    )]));
    assert!(vuln.iter().any(|e| e.cve == "CVE-2023-4966"), "{vuln:?}");
    let fixed = db.asset_exposures(&host(vec![cpe(
        "cpe:2.3:a:citrix:netscaler_application_delivery_controller:13.1-49.15:*:*:*:*:*:*:*",
    )]));
    assert!(fixed.iter().all(|e| e.cve != "CVE-2023-4966"), "{fixed:?}");
}

#[test]
fn purl_osv_and_csaf_matches_are_exact() {
    let db = db();
    let sw = |p: &str| Software {
        cpe: None,
        purl: Some(p.into()),
        vendor: None,
        name: None,
        version: None,
    };
    let a = Asset {
        software: vec![
            sw("pkg:maven/com.typesafe.akka/akka-actor_2.12@2.5.15"),
            sw("pkg:npm/mixin-deep@1.3.1"),
            sw("pkg:npm/mixin-deep@2.0.1"),
        ],
        os_name: None,
        os_patch_level: None,
        attributes: BTreeMap::new(),
        ..win7("RXC", "app-1", false, &[])
    };
    let e = db.asset_exposures(&a);
    let akka = e.iter().find(|e| e.cve == "CVE-2018-16115").unwrap();
    assert_eq!(akka.confidence, MatchConfidence::ExactPurl);
    assert_eq!(akka.source, "osv:GHSA-mr95-9rr4-668f");
    assert!(e
        .iter()
        .any(|e| e.cve == "CVE-2019-10746" && e.matched == "pkg:npm/mixin-deep@1.3.1"));
    // CSAF CPE (2.2 URI form) product in known_affected.
    let c = Asset {
        software: vec![Software {
            cpe: Some("cpe:2.3:a:csaf-tools:cvrf-csaf-converter:1.0.0-dev1:*:*:*:*:*:*:*".into()),
            purl: None,
            vendor: None,
            name: None,
            version: None,
        }],
        ..a.clone()
    };
    let e = db.asset_exposures(&c);
    assert!(e.iter().any(|e| e.source == "csaf:BSI-2022-0001"), "{e:?}");
}

#[test]
fn national_ransomware_kev_view_and_csv_import() {
    let db = db();
    let csv =
        "org,asset_id,hostname,os_name,os_version,os_patch_level,software,patches,attributes\n\
        RXA,pc-001,pc1,Windows 7,6.1.7601,SP1,,,smbv1=enabled\n\
        RXA,pc-002,pc2,Windows 7,6.1.7601,SP1,,KB4012215,smbv1=enabled\n\
        Y01234,gp-1,gp1,Windows 7,6.1.7601,SP1,,KB4012212,smbv1=enabled\n\
        RXD,app-1,app1,,,,pkg:npm/mixin-deep@1.3.1,,\n";
    let assets = parse_assets_csv(csv.as_bytes()).unwrap();
    assert_eq!(assets.len(), 4);
    assert_eq!(assets[0].attributes["smbv1"], "enabled");
    let view = db.ransomware_kev_exposed(&assets, MatchConfidence::PartialCpe);
    // RXA's pc-001 is exposed to EternalBlue; the GP practice patched; RXD's npm
    // package is not in KEV.
    assert!(view["RXA"]
        .iter()
        .any(|e| e.asset_id == "pc-001" && e.cve == "CVE-2017-0144"));
    assert!(view["RXA"]
        .iter()
        .all(|e| e.asset_id != "pc-002" || e.cve != "CVE-2017-0144"));
    assert!(!view.contains_key("RXD"));
    assert!(view
        .get("Y01234")
        .is_none_or(|v| v.iter().all(|e| e.cve != "CVE-2017-0144")));
    let targets = db.exposed_to(&assets, "CVE-2017-0144");
    assert_eq!(targets.keys().collect::<Vec<_>>(), ["RXA"]);
    assert!(parse_assets_csv(b"org,asset_id,software\nA,b,notacpe\n").is_err());

    // A new KEV entry (here: EternalBlue removed from "yesterday's" catalogue) gives one
    // draft alert targeted at exactly the exposed member.
    let kev = KevCatalog::parse(
        &std::fs::read(shared().join("kev/known_exploited_vulnerabilities.json")).unwrap(),
    )
    .unwrap();
    let mut yesterday = kev.clone();
    yesterday
        .vulnerabilities
        .retain(|e| e.cve_id != "CVE-2017-0144");
    let drafts = db.kev_alert_drafts(&kev, &yesterday, &assets);
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0].kev.cve_id, "CVE-2017-0144");
    assert_eq!(drafts[0].targets.keys().collect::<Vec<_>>(), ["RXA"]);
    assert!(db.kev_alert_drafts(&kev, &kev, &assets).is_empty());

    // KEV's fuzzy fallback: a KEV product with no NVD record here, named by an inventory.
    let fuzzy = Asset {
        software: vec![Software {
            cpe: None,
            purl: None,
            vendor: Some("Git".into()),
            name: Some("Git".into()),
            version: Some("2.49.0".into()),
        }],
        os_name: None,
        os_patch_level: None,
        attributes: BTreeMap::new(),
        ..win7("RXE", "dev-1", false, &[])
    };
    let e = db.asset_exposures(&fuzzy);
    let git = e.iter().find(|e| e.cve == "CVE-2025-48384").unwrap();
    assert_eq!(git.confidence, MatchConfidence::Fuzzy);
    assert_eq!(git.source, "kev");
}
