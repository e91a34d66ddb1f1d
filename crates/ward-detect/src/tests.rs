//! Unit tests: every modifier and condition form, the three event layouts,
//! routing and load errors.

use super::*;
use serde_json::json;

fn engine_with(detection: &str, logsource: &str) -> Engine {
    let text = format!(
        "title: T\nid: test-rule\nauthor: A\nlevel: high\ntags: [attack.t1059]\nlogsource: {logsource}\ndetection:\n{detection}\n"
    );
    let r = Engine::from_sources(&[("t.yml".into(), text)], &EngineConfig::default());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.loaded, 1);
    r.engine
}

/// A rule with no logsource sees every event.
fn eng(detection: &str) -> Engine {
    engine_with(detection, "{}")
}

fn hits(e: &Engine, ev: Value) -> bool {
    !e.evaluate(&ev).is_empty()
}

fn load_err(detection: &str) -> RuleLoadError {
    let text = format!("title: T\nid: x\nlogsource: {{}}\ndetection:\n{detection}\n");
    let r = Engine::from_sources(&[("bad.yml".into(), text)], &EngineConfig::default());
    assert_eq!(r.loaded, 0, "rule unexpectedly loaded");
    r.errors.into_iter().next().unwrap()
}

#[test]
fn plain_value_is_case_insensitive_exact() {
    let e = eng("  sel: {Image: 'C:\\Windows\\cmd.exe'}\n  condition: sel");
    assert!(hits(&e, json!({"Image": "c:\\windows\\CMD.EXE"})));
    assert!(!hits(&e, json!({"Image": "c:\\windows\\cmd.exe2"})));
    assert!(!hits(&e, json!({"Other": "c:\\windows\\cmd.exe"})));
}

#[test]
fn contains_startswith_endswith() {
    let e = eng("  sel:\n    CommandLine|contains: 'mimikatz'\n    Image|startswith: 'C:\\Users\\'\n    ParentImage|endswith: '\\explorer.exe'\n  condition: sel");
    let ev = json!({"CommandLine": "run MimiKatz now", "Image": "c:\\users\\bob\\a.exe", "ParentImage": "C:\\Windows\\Explorer.EXE"});
    assert!(hits(&e, ev));
    let ev = json!({"CommandLine": "run MimiKatz now", "Image": "D:\\users\\bob\\a.exe", "ParentImage": "C:\\Windows\\Explorer.EXE"});
    assert!(!hits(&e, ev));
}

#[test]
fn value_lists_or_and_all() {
    let e = eng(
        "  sel:\n    CommandLine|contains:\n      - ' -enc '\n      - ' -e '\n  condition: sel",
    );
    assert!(hits(&e, json!({"CommandLine": "powershell -e abc"})));
    assert!(!hits(&e, json!({"CommandLine": "powershell -x abc"})));
    let e = eng(
        "  sel:\n    CommandLine|contains|all:\n      - 'net'\n      - 'user'\n  condition: sel",
    );
    assert!(hits(&e, json!({"CommandLine": "net user /add"})));
    assert!(!hits(&e, json!({"CommandLine": "net group"})));
}

#[test]
fn list_of_maps_is_or() {
    let e = eng("  sel:\n    - Image|endswith: '\\a.exe'\n    - Image|endswith: '\\b.exe'\n      User: bob\n  condition: sel");
    assert!(hits(&e, json!({"Image": "x\\a.exe"})));
    assert!(hits(&e, json!({"Image": "x\\b.exe", "User": "BOB"})));
    assert!(!hits(&e, json!({"Image": "x\\b.exe", "User": "alice"})));
}

#[test]
fn numbers_match_numbers_and_strings() {
    let e = eng("  sel: {EventID: [4624, 4625]}\n  condition: sel");
    assert!(hits(&e, json!({"EventID": 4625})));
    assert!(hits(&e, json!({"EventID": "4624"})));
    assert!(!hits(&e, json!({"EventID": 46240})));
}

#[test]
fn regex_and_flags() {
    let e = eng("  sel: {CommandLine|re: '^abc\\d+$'}\n  condition: sel");
    assert!(hits(&e, json!({"CommandLine": "abc123"})));
    // Regular expressions are case-sensitive by default.
    assert!(!hits(&e, json!({"CommandLine": "ABC123"})));
    let e = eng("  sel: {CommandLine|re|i: '^abc'}\n  condition: sel");
    assert!(hits(&e, json!({"CommandLine": "ABC"})));
    let e = eng("  sel: {CommandLine|re|m: '^second$'}\n  condition: sel");
    assert!(hits(&e, json!({"CommandLine": "first\nsecond"})));
    let e = eng("  sel: {CommandLine|re|s: 'a.b'}\n  condition: sel");
    assert!(hits(&e, json!({"CommandLine": "a\nb"})));
    // Look-around needs the backtracking engine.
    let e = eng("  sel: {CommandLine|re: 'a(?!b)'}\n  condition: sel");
    assert!(hits(&e, json!({"CommandLine": "ac"})));
    assert!(!hits(&e, json!({"CommandLine": "ab"})));
}

#[test]
fn cased_exists_neq() {
    let e = eng("  sel: {Image|cased|endswith: 'A.exe'}\n  condition: sel");
    assert!(hits(&e, json!({"Image": "xA.exe"})));
    assert!(!hits(&e, json!({"Image": "xa.exe"})));
    let e = eng("  sel: {Image|exists: true}\n  condition: sel");
    assert!(hits(&e, json!({"Image": ""})));
    assert!(!hits(&e, json!({"Other": 1})));
    let e = eng("  sel: {Image|exists: false}\n  condition: sel");
    assert!(hits(&e, json!({"Other": 1})));
    let e = eng("  sel: {User|neq: bob}\n  condition: sel");
    assert!(hits(&e, json!({"User": "alice"})));
    assert!(!hits(&e, json!({"User": "Bob"})));
}

#[test]
fn null_and_empty() {
    let e = eng("  sel: {Image: x}\n  f: {User: null}\n  condition: sel and f");
    assert!(hits(&e, json!({"Image": "x"})));
    assert!(hits(&e, json!({"Image": "x", "User": null})));
    assert!(!hits(&e, json!({"Image": "x", "User": "bob"})));
    let e = eng("  sel: {User: ''}\n  condition: sel");
    assert!(hits(&e, json!({"User": ""})));
    assert!(!hits(&e, json!({"User": "a"})));
    assert!(!hits(&e, json!({})));
}

#[test]
fn windash_modifier() {
    let e = eng("  sel: {CommandLine|contains|windash: ' -encodedcommand '}\n  condition: sel");
    assert!(hits(&e, json!({"CommandLine": "ps /encodedcommand x"})));
    assert!(hits(
        &e,
        json!({"CommandLine": "ps \u{2014}encodedcommand x"})
    ));
    assert!(hits(&e, json!({"CommandLine": "ps -EncodedCommand x"})));
    assert!(!hits(&e, json!({"CommandLine": "ps +encodedcommand x"})));
}

#[test]
fn base64_modifiers() {
    let e = eng("  sel: {CommandLine|base64offset|contains: '/bin/bash'}\n  condition: sel");
    // base64("xx/bin/bash -i") contains one of the offset encodings.
    assert!(hits(
        &e,
        json!({"CommandLine": "echo eHgvYmluL2Jhc2ggLWk= | base64 -d"})
    ));
    assert!(!hits(
        &e,
        json!({"CommandLine": "echo aGVsbG8= | base64 -d"})
    ));
    let e = eng("  sel: {CommandLine|base64: 'hi'}\n  condition: sel");
    assert!(hits(&e, json!({"CommandLine": "aGk="})));
    let e = eng("  sel: {CommandLine|wide|base64offset|contains: 'ping'}\n  condition: sel");
    // base64(utf16le("ping")) = cABpAG4AZwA=
    assert!(hits(&e, json!({"CommandLine": "-enc cABpAG4AZwA="})));
    let e = eng("  sel: {CommandLine|utf16be|base64: 'a'}\n  condition: sel");
    assert!(hits(&e, json!({"CommandLine": "AGE="})));
    let e = eng("  sel: {CommandLine|utf16|base64: 'a'}\n  condition: sel");
    assert!(hits(&e, json!({"CommandLine": "//5hAA=="})));
}

#[test]
fn numeric_comparisons() {
    let e = eng("  sel: {Size|gt: 100, Count|lte: 5}\n  condition: sel");
    assert!(hits(&e, json!({"Size": 101, "Count": "5"})));
    assert!(!hits(&e, json!({"Size": 100, "Count": 5})));
    let e = eng("  sel: {Size|lt: 10}\n  f: {Size|gte: 3}\n  condition: sel and f");
    assert!(hits(&e, json!({"Size": 3})));
    assert!(!hits(&e, json!({"Size": "abc"})));
}

#[test]
fn time_part_modifiers() {
    let e = eng("  sel: {UtcTime|hour: 3, UtcTime|month: 11}\n  condition: sel");
    assert!(hits(&e, json!({"UtcTime": "2025-11-26 03:11:27.908"})));
    assert!(!hits(&e, json!({"UtcTime": "2025-11-26 04:11:27.908"})));
    for (m, v) in [("minute", 11), ("day", 26), ("week", 48), ("year", 2025)] {
        let e = eng(&format!("  sel: {{UtcTime|{m}: {v}}}\n  condition: sel"));
        assert!(hits(&e, json!({"UtcTime": "2025-11-26T03:11:27Z"})), "{m}");
    }
}

#[test]
fn cidr_modifier() {
    let e = eng("  sel: {DestinationIp|cidr: ['10.0.0.0/8', 'fd00::/8']}\n  condition: sel");
    assert!(hits(&e, json!({"DestinationIp": "10.9.8.7"})));
    assert!(hits(&e, json!({"DestinationIp": "fd12::1"})));
    assert!(!hits(&e, json!({"DestinationIp": "192.168.1.1"})));
    assert!(!hits(&e, json!({"DestinationIp": "not an ip"})));
}

#[test]
fn expand_with_configured_placeholders() {
    let text = "title: T\nid: e\nlogsource: {}\ndetection:\n  sel: {User|expand: '%admins%'}\n  condition: sel\n";
    let r = Engine::from_sources(&[("e.yml".into(), text.into())], &EngineConfig::default());
    assert_eq!(r.errors[0].code, "unconfigured-placeholder");
    assert_eq!(r.errors[0].line, Some(5));
    let mut cfg = EngineConfig::default();
    cfg.placeholders
        .insert("admins".into(), vec!["root".into(), "admin*".into()]);
    let r = Engine::from_sources(&[("e.yml".into(), text.into())], &cfg);
    assert!(r.errors.is_empty());
    assert!(hits(&r.engine, json!({"User": "administrator"})));
    assert!(hits(&r.engine, json!({"User": "root"})));
    assert!(!hits(&r.engine, json!({"User": "bob"})));
}

#[test]
fn fieldref_modifier() {
    let e = eng("  sel: {SourceUser|fieldref: TargetUser}\n  condition: sel");
    assert!(hits(&e, json!({"SourceUser": "Bob", "TargetUser": "bob"})));
    assert!(!hits(
        &e,
        json!({"SourceUser": "bob", "TargetUser": "alice"})
    ));
    assert!(!hits(&e, json!({"SourceUser": "bob"})));
    let e = eng("  sel: {Path|fieldref|startswith: Dir}\n  condition: sel");
    assert!(hits(&e, json!({"Path": "c:\\a\\b", "Dir": "c:\\a"})));
}

#[test]
fn keywords() {
    let e = eng("  keywords:\n    - 'mimikatz'\n    - 'sekurlsa::*'\n  condition: keywords");
    assert!(hits(&e, json!({"Message": "running MIMIKATZ.exe"})));
    assert!(hits(&e, json!({"Message": "sekurlsa::logonpasswords"})));
    assert!(!hits(&e, json!({"Message": "x sekurlsa::logonpasswords"})));
    assert!(!hits(&e, json!({"Message": "benign"})));
}

#[test]
fn conditions_all_forms() {
    let d = "  sel_a: {A: 1}\n  sel_b: {B: 1}\n  filter_c: {C: 1}\n  _hidden: {D: 1}\n";
    let e = eng(&format!("{d}  condition: 1 of sel_* and not filter_c"));
    assert!(hits(&e, json!({"A": 1})));
    assert!(!hits(&e, json!({"A": 1, "C": 1})));
    let e = eng(&format!("{d}  condition: all of sel_*"));
    assert!(!hits(&e, json!({"A": 1})));
    assert!(hits(&e, json!({"A": 1, "B": 1})));
    let e = eng(&format!("{d}  condition: 2 of them"));
    assert!(hits(&e, json!({"A": 1, "C": 1})));
    assert!(!hits(&e, json!({"A": 1, "D": 1})));
    // `them` leaves out identifiers starting with an underscore.
    let e = eng(&format!("{d}  condition: all of them"));
    assert!(hits(&e, json!({"A": 1, "B": 1, "C": 1})));
    let e = eng(&format!(
        "{d}  condition: (sel_a or sel_b) and not (filter_c or _hidden)"
    ));
    assert!(hits(&e, json!({"B": 1})));
    assert!(!hits(&e, json!({"B": 1, "D": 1})));
    let e = eng(&format!("{d}  condition:\n    - sel_a\n    - sel_b"));
    assert!(hits(&e, json!({"B": 1})));
}

#[test]
fn three_event_layouts_and_routing() {
    let e = engine_with(
        "  sel: {Image|endswith: '\\whoami.exe'}\n  condition: sel",
        "{product: windows, category: process_creation}",
    );
    let flat = json!({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Image": "C:\\x\\whoami.exe"});
    let evtx = json!({"Event": {"System": {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1},
                               "EventData": {"Image": "C:\\x\\whoami.exe"}}});
    let wlb = json!({"winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": 1,
                                "event_data": {"Image": "C:\\x\\whoami.exe"}}});
    // Security 4688 names the image NewProcessName.
    let sec = json!({"Event": {"System": {"Channel": "Security", "EventID": 4688},
                              "EventData": {"NewProcessName": "C:\\x\\whoami.exe"}}});
    // ECS layout from an agent that names the process image process.executable.
    let ecs = json!({"winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": 1},
                     "process": {"executable": "C:\\x\\whoami.exe"}});
    for ev in [flat, evtx, wlb, sec, ecs] {
        let d = e.evaluate(&ev);
        assert_eq!(d.len(), 1, "{ev}");
        assert_eq!(d[0].rule_id, "test-rule");
        assert_eq!(d[0].author.as_deref(), Some("A"));
        assert_eq!(d[0].tags, vec!["attack.t1059"]);
        assert_eq!(d[0].matched_fields[0].field, "Image");
        assert_eq!(d[0].matched_fields[0].value, "C:\\x\\whoami.exe");
    }
    // Routing: a Sysmon network event with the same field is not this rule's.
    let other = json!({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 3, "Image": "C:\\x\\whoami.exe"});
    assert!(e.evaluate(&other).is_empty());
    // ... unless routing is off.
    let text = "title: T\nid: r\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel: {Image|endswith: '\\whoami.exe'}\n  condition: sel\n";
    let cfg = EngineConfig {
        routing: false,
        ..EngineConfig::default()
    };
    let r = Engine::from_sources(&[("r.yml".into(), text.into())], &cfg);
    assert_eq!(r.engine.evaluate(&other).len(), 1);
}

#[test]
fn non_windows_routing_and_explicit_logsource() {
    let e = engine_with(
        "  sel: {alert.signature|contains: 'ETERNALBLUE'}\n  condition: sel",
        "{product: suricata, category: ids}",
    );
    assert!(hits(
        &e,
        json!({"event_type": "alert", "alert": {"signature": "ET EXPLOIT ETERNALBLUE probe"}})
    ));
    assert!(!hits(
        &e,
        json!({"event_type": "dns", "alert": {"signature": "ETERNALBLUE"}})
    ));
    let e = engine_with(
        "  sel: {exe: '/usr/bin/nc'}\n  condition: sel",
        "{product: linux, service: syslog}",
    );
    assert!(hits(
        &e,
        json!({"logsource": {"product": "linux", "service": "syslog"}, "exe": "/usr/bin/nc"})
    ));
    assert!(!hits(&e, json!({"exe": "/usr/bin/nc"})));
    assert_eq!(e.unrouted_rules(), vec!["test-rule"]);
}

#[test]
fn load_errors_carry_line_and_code() {
    let err = load_err("  sel: {Image|bogus: x}\n  condition: sel");
    assert_eq!(err.code, "unknown-modifier");
    assert_eq!(err.line, Some(5));
    assert!(
        err.to_string().starts_with("bad.yml:5: [unknown-modifier]"),
        "{err}"
    );
    let err = load_err("  sel: {Image: x}\n  condition: sel and nosuch");
    assert_eq!(err.code, "unknown-identifier");
    assert_eq!(err.line, Some(6));
    let err = load_err("  sel: {Image: x}\n  condition: sel | count() > 5");
    assert_eq!(err.code, "legacy-aggregation");
    let err = load_err("  sel: {Image|re: '(unclosed'}\n  condition: sel");
    assert_eq!(err.code, "bad-regex");
    let err = load_err("  sel: {Image: x}");
    assert_eq!(err.code, "missing-condition");
    let r = Engine::from_sources(
        &[("y.yml".into(), "a: [\n".into())],
        &EngineConfig::default(),
    );
    assert_eq!(r.errors[0].code, "yaml-syntax");
}

#[test]
fn engine_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Engine>();
}

#[test]
fn detection_serializes_level_lowercase() {
    let e = eng("  sel: {A: 1}\n  condition: sel");
    let d = e.evaluate(&json!({"A": 1}));
    let j = serde_json::to_value(&d[0]).unwrap();
    assert_eq!(j["level"], "high");
    let back: Detection = serde_json::from_value(j).unwrap();
    assert_eq!(back.rule_id, "test-rule");
}

#[test]
fn fieldless_all_keywords_in_a_map() {
    let e = eng("  keywords:\n    '|all':\n      - 'BGP'\n      - 'MD5'\n  condition: keywords");
    assert!(hits(&e, json!({"msg": "bgp session md5 failed"})));
    assert!(hits(&e, json!({"a": "BGP", "b": "md5"})));
    assert!(!hits(&e, json!({"msg": "bgp session up"})));
}

#[test]
fn meta_filters_per_organisation() {
    let rules = "title: Shadow copy delete\nid: vss\nname: vss_delete\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel: {CommandLine|contains: 'delete shadows'}\n  condition: sel\n---\ntitle: Whoami\nid: whoami\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel: {Image|endswith: '\\whoami.exe'}\n  condition: sel\n";
    let r = Engine::from_sources(&[("r.yml".into(), rules.into())], &EngineConfig::default());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let e = r.engine;
    let mf = "title: Backup server\nid: mf-backup\nlogsource: {product: windows, category: process_creation}\nfilter:\n  rules: [vss_delete]\n  selection:\n    Computer: BACKUP01\n  condition: not selection\n---\ntitle: Admin box\nid: mf-admin\nlogsource: {product: windows, category: process_creation}\nfilter:\n  selection:\n    Computer|startswith: ADM\n  condition: not selection\n";
    let (set, errs) = FilterSet::from_sources(&e, &[("mf_org.yml".into(), mf.into())]);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(set.len(), 2);
    let ev = |host: &str, cmd: &str, img: &str| {
        json!({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Computer": host,
               "CommandLine": cmd, "Image": img})
    };
    let ids = |d: Vec<Detection>| d.into_iter().map(|d| d.rule_id).collect::<Vec<_>>();
    // On the backup server, vss deletion is tuned out; whoami is not.
    let backup = ev(
        "BACKUP01",
        "vssadmin delete shadows /all",
        "c:\\w\\whoami.exe",
    );
    assert_eq!(ids(e.evaluate(&backup)), vec!["vss", "whoami"]);
    assert_eq!(ids(e.evaluate_for_org(&backup, &set)), vec!["whoami"]);
    let (_, suppressed) = set.apply(&e, &backup, e.evaluate(&backup));
    assert_eq!(suppressed[0].filter_id, "mf-backup");
    // The logsource-wide filter mutes everything from ADM* hosts.
    let adm = ev("ADM7", "vssadmin delete shadows /all", "c:\\w\\whoami.exe");
    assert!(e.evaluate_for_org(&adm, &set).is_empty());
    // Another organisation without filters sees everything.
    let elsewhere = FilterSet::empty();
    assert_eq!(
        ids(e.evaluate_for_org(&backup, &elsewhere)),
        vec!["vss", "whoami"]
    );
    // Unknown rule references are refused.
    let bad = "title: X\nid: mf-x\nlogsource: {product: windows}\nfilter:\n  rules: [nope]\n  sel: {A: 1}\n  condition: not sel\n";
    let (_, errs) = FilterSet::from_sources(&e, &[("mf_bad.yml".into(), bad.into())]);
    assert_eq!(errs[0].code, "unresolved-rule-reference");
    assert_eq!(errs[0].line, Some(5)); // the filter's `rules:` line
                                       // A filter in a rule directory is refused, pointing at FilterSet.
    let r = Engine::from_sources(&[("mf.yml".into(), mf.into())], &EngineConfig::default());
    assert_eq!(r.errors[0].code, "filter-in-rule-set");
}

#[test]
fn event_times() {
    let evtx = json!({"Event": {"System": {"TimeCreated": {"#attributes": {"SystemTime": "2021-04-22T08:50:53.614492Z"}}}}});
    assert_eq!(event_time_ms(&evtx), Some(1_619_081_453_614));
    assert_eq!(
        event_time_ms(&json!({"ts": 1_619_081_453.5})),
        Some(1_619_081_453_500)
    );
    assert_eq!(
        event_time_ms(&json!({"@timestamp": "2021-04-22T08:50:53Z"})),
        Some(1_619_081_453_000)
    );
    assert_eq!(event_time_ms(&json!({"x": 1})), None);
}
