//! The pseudonymisation proof: a corpus of records in every ingest format,
//! seeded with Modulus 11–valid NHS numbers (contiguous, spaced, hyphenated,
//! in JSON strings and numbers, URLs, CEF extensions, syslog bodies) and with
//! invalid ten-digit numbers. After parsing and pseudonymising, the stored
//! form of every event (model, original record, ECS view) must contain no
//! valid number in any spelling, and every invalid number unchanged.

use ward_event::Event;
use ward_formats::{parse_or_raw_with, Options};
use ward_pseudonymise::{Config, Counts, Pseudonymiser};

/// Independent Modulus 11 implementation (not the crate's).
fn check_digit(d: &[u32]) -> Option<u32> {
    let s: u32 = d.iter().zip((2..=10).rev()).map(|(x, w)| x * w).sum();
    match 11 - s % 11 {
        11 => Some(0),
        10 => None,
        c => Some(c),
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn digits(&mut self, n: usize) -> Vec<u32> {
        (0..n).map(|_| (self.next() % 10) as u32).collect()
    }
}

fn valid(r: &mut Rng) -> String {
    loop {
        let mut d = r.digits(9);
        if d[0] == 0 {
            continue;
        }
        if let Some(c) = check_digit(&d) {
            d.push(c);
            return d.iter().map(|x| x.to_string()).collect();
        }
    }
}

fn invalid(r: &mut Rng) -> String {
    loop {
        let mut d = r.digits(9);
        if d[0] == 0 {
            continue;
        }
        let wrong = match check_digit(&d) {
            None => (r.next() % 10) as u32, // check digit would be 10: always invalid
            Some(c) => (c + 1 + (r.next() % 9) as u32) % 10,
        };
        d.push(wrong);
        return d.iter().map(|x| x.to_string()).collect();
    }
}

fn spaced(n: &str, sep: &str) -> String {
    format!("{}{sep}{}{sep}{}", &n[..3], &n[3..6], &n[6..])
}

fn records(v: &str, inv: &str) -> Vec<String> {
    let sp = spaced(v, " ");
    let hy = spaced(v, "-");
    let inv_sp = spaced(inv, " ");
    vec![
        format!("<13>1 2024-05-01T10:00:00Z ehr-app01 pas 4411 - - Referral for NHS {v} received, order {inv}"),
        format!("<13>May  1 10:00:00 ehr01 pas[1]: patient {sp} discharged; ref {inv_sp}"),
        format!("<14>1 2024-05-01T10:00:00Z ehr-app01 pas - - [meta@32473 patient=\"{hy}\" order=\"{inv}\"] viewed"),
        format!("CEF:0|EHR|PAS|1|100|Record viewed|3|suser=jbloggs msg=NHS number {v} viewed order {inv} cs1Label=Patient cs1={hy}"),
        format!("LEEF:1.0|EHR|PAS|1|200|usrName=jbloggs\tmsg=opened {sp}\torder={inv}"),
        format!(r#"{{"@timestamp":"2024-05-01T10:00:00Z","message":"Audit {v}","winlog":{{"channel":"Application","computer_name":"EHR01","event_id":1000,"provider_name":"EHR","event_data":{{"PatientId":"{v}","Order":"{inv}","Num":{v}}}}}}}"#),
        format!(r#"{{"timestamp":"2024-05-01T10:30:02.551234+0000","event_type":"http","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","http":{{"hostname":"ehr.trust.nhs.uk","url":"/api/patients/{v}/record?nhs={v}&order={inv}","http_method":"GET","status":200}}}}"#),
        format!(r#"{{"_path":"http","ts":1714559402.5,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":80,"method":"GET","host":"ehr","uri":"/p/{v}?o={inv}"}}"#),
        format!(r#"10.0.0.1 - - [01/May/2024:10:30:02 +0100] "GET /patients?nhs={v}&order={inv} HTTP/1.1" 200 10 "https://ehr/?q={sp}" "agent {hy}""#),
        format!("<14>May  1 10:00:00 gw kernel: [1.2] DROP {v} IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=1 DPT=2"),
        format!("type=USER_CMD msg=audit(1714554000.123:1): pid=1 uid=0 msg='cwd=\"/tmp\" cmd=\"lookup {v} {inv}\" res=success'"),
        format!("free text that matches no parser: {v} / {sp} / {inv}"),
    ]
}

#[test]
fn no_valid_nhs_number_survives_and_invalid_ones_are_untouched() {
    let p = Pseudonymiser::new(b"proof-test-federation-secret", &Config::default()).unwrap();
    let opts = Options::default();
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut counts = Counts::default();
    let mut checked = 0;
    for _ in 0..150 {
        let v = valid(&mut r);
        let inv = invalid(&mut r);
        for rec in records(&v, &inv) {
            let mut ev: Event = parse_or_raw_with(None, &rec, &opts);
            let before = ev.original.raw.clone();
            p.pseudonymise_event(&mut ev, &mut counts);
            let stored = format!(
                "{}\n{}",
                serde_json::to_string(&ev).unwrap(),
                serde_json::to_string(&ev.to_ecs()).unwrap()
            );
            for form in [v.clone(), spaced(&v, " "), spaced(&v, "-")] {
                assert!(
                    !stored.contains(&form),
                    "valid NHS number {form} survived in {stored}"
                );
            }
            if before.contains(&inv) {
                assert!(
                    ev.original.raw.contains(&inv),
                    "invalid number {inv} was altered in {}",
                    ev.original.raw
                );
            }
            let inv_sp = spaced(&inv, " ");
            if before.contains(&inv_sp) {
                assert!(
                    ev.original.raw.contains(&inv_sp),
                    "invalid {inv_sp} altered"
                );
            }
            assert!(
                ev.original.raw.contains("nhs:tok_"),
                "no token in {}",
                ev.original.raw
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 150 * 12);
    assert!(
        counts.nhs >= 150 * 12,
        "replacements counted: {}",
        counts.nhs
    );
}

#[test]
fn same_number_same_token_across_formats() {
    let p = Pseudonymiser::new(b"proof-test-federation-secret", &Config::default()).unwrap();
    let mut c = Counts::default();
    let a = p
        .pseudonymise_str("patient 943 476 5919", &mut c)
        .into_owned();
    let b = p
        .pseudonymise_str("nhs=9434765919&x=1", &mut c)
        .into_owned();
    let tok = a.strip_prefix("patient ").unwrap();
    assert!(b.contains(tok), "{a} vs {b}");
}

#[test]
fn fortigate_logid_is_kept_everywhere() {
    let p = Pseudonymiser::new(b"proof-test-federation-secret", &Config::default()).unwrap();
    let rec = r#"<185>date=2024-05-01 time=10:05:11 devname="FGT60F" devid="FGT60FTK21000001" logid="0419016384" type="utm" subtype="ips" level="alert" srcip=10.0.0.1 dstip=10.0.0.2 attack="X" msg="patient 9434765919""#;
    let mut ev = parse_or_raw_with(None, rec, &Options::default());
    let mut c = Counts::default();
    p.pseudonymise_event(&mut ev, &mut c);
    assert_eq!(ev.type_name.as_deref(), Some("0419016384"));
    assert!(ev.original.raw.contains(r#"logid="0419016384""#));
    assert_eq!(ev.original.fields.as_ref().unwrap()["logid"], "0419016384");
    let stored = serde_json::to_string(&ev).unwrap();
    assert!(!stored.contains("9434765919"));
}
