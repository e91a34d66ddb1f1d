//! The scanner inside ward: runs of `ward_scan::Scanner` against members' stored scopes, with
//! a bounded number of runs at once, per-run cancellation, scheduled runs, and what a run's
//! findings cause — the findings table's lifecycle (through `ward_scan::reconcile`), incidents
//! for severe findings (through the same `IncidentGrouper` and outbox as detections), and
//! facts for the member's estate (`smbv1 = enabled`, the announced OS).
//!
//! Rates: the scanner's global bucket lives in one `Scanner`, and a scanner reports progress to
//! one callback, so every run gets its own scanner with `global_rate_per_sec /
//! max_concurrent_runs`; the runs together therefore never exceed the configured global cap.
//! Runs of one member are serialised, so the per-member rate holds across runs too.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};
use ward_alerting::{IncidentGrouper, IncidentPolicy, RuleHit};
use ward_config::ScanConfig;
use ward_model::clock::now_ms;
use ward_scan::checks::portscan::PortSpec;
use ward_scan::{
    CancellationToken, Check, Finding, FindingKey, Progress, ScanRequest, Scanner, Scope,
    ServicePorts,
};
use ward_storage::{
    FindingIdentity, NewRefusal, ObservedFinding, ScanRunRecord, ScanScopeRecord, Store, StoreError,
};
use ward_telemetry::Registry;

use crate::vulns::VulnService;

/// When a scope is scanned without anyone asking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Every N seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_secs: Option<u64>,
    /// Every day at `HH:MM` UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_at: Option<String>,
    /// Ports of the scheduled scans (default: the top 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<PortSpec>,
}

impl Schedule {
    pub fn validate(&self) -> Result<(), String> {
        match (&self.every_secs, &self.daily_at) {
            (Some(_), Some(_)) => Err("a schedule has every_secs or daily_at, not both".into()),
            (None, None) => Err("a schedule needs every_secs or daily_at".into()),
            (Some(0), _) => Err("every_secs must be at least 1".into()),
            (None, Some(t)) => parse_hhmm(t).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// The first run strictly after `now` (epoch ms).
    pub fn next_after(&self, now: i64) -> Option<i64> {
        if let Some(s) = self.every_secs {
            return Some(now.saturating_add(i64::try_from(s).ok()?.saturating_mul(1000)));
        }
        let (h, m) = parse_hhmm(self.daily_at.as_deref()?).ok()?;
        let day = 86_400_000;
        let start_of_day = now.div_euclid(day) * day;
        let at = start_of_day + (h * 3600 + m * 60) * 1000;
        Some(if at > now { at } else { at + day })
    }
}

fn parse_hhmm(s: &str) -> Result<(i64, i64), String> {
    let bad = || format!("daily_at {s:?}: expected HH:MM (UTC), e.g. 02:30");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let h: i64 = h.parse().map_err(|_| bad())?;
    let m: i64 = m.parse().map_err(|_| bad())?;
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return Err(bad());
    }
    Ok((h, m))
}

/// Parses and checks a stored or submitted scope specification.
pub fn parse_scope(spec: &Value) -> Result<Scope, String> {
    let scope: Scope =
        serde_json::from_value(spec.clone()).map_err(|e| format!("scope specification: {e}"))?;
    scope
        .validate()
        .map_err(|e| format!("scope {}: {e}", scope.id))?;
    Ok(scope)
}

/// What a finding check means for incidents: severe ones open an incident through the
/// alerting path.
pub fn incident_rule(check: &str) -> Option<(&'static str, &'static str, ward_model::Level)> {
    use ward_model::Level;
    Some(match check {
        "smb.v1" => ("scan:smbv1", "SMBv1 enabled (scanner)", Level::High),
        "smb.ms17_010" => (
            "scan:ms17_010",
            "MS17-010 (EternalBlue) not patched (scanner)",
            Level::Critical,
        ),
        "smb.doublepulsar" => (
            "scan:doublepulsar",
            "DoublePulsar implant answering (scanner)",
            Level::Critical,
        ),
        "rdp.nla_not_enforced" => (
            "scan:rdp_nla",
            "RDP exposed without NLA (scanner)",
            Level::High,
        ),
        _ => return None,
    })
}

struct LiveRun {
    token: CancellationToken,
    progress: Arc<Mutex<Option<Progress>>>,
}

/// Everything the scanner and the estate need on the server. One per server.
pub struct ScanHub {
    store: Store,
    cfg: ScanConfig,
    grouper: IncidentGrouper,
    slots: Arc<Semaphore>,
    live: Mutex<HashMap<i64, LiveRun>>,
    members: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    registry: Arc<Registry>,
    pub vulns: Arc<VulnService>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ScanHub {
    pub fn new(
        store: Store,
        cfg: &ward_config::Config,
        policy: IncidentPolicy,
        registry: Arc<Registry>,
    ) -> Arc<ScanHub> {
        let vulns = Arc::new(VulnService::new(
            store.clone(),
            cfg.vulns.clone(),
            registry.clone(),
        ));
        Arc::new(ScanHub {
            store,
            cfg: cfg.scan.clone(),
            grouper: IncidentGrouper::new(policy),
            slots: Arc::new(Semaphore::new(cfg.scan.max_concurrent_runs.max(1))),
            live: Mutex::new(HashMap::new()),
            members: Mutex::new(HashMap::new()),
            registry,
            vulns,
        })
    }

    pub fn enabled(&self) -> bool {
        self.cfg.enabled
    }

    fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> ward_telemetry::Counter {
        self.registry.counter(name, help, labels)
    }

    /// Live progress of a running scan.
    pub fn live_progress(&self, run_id: i64) -> Option<Progress> {
        lock(&self.live)
            .get(&run_id)
            .and_then(|r| lock(&r.progress).clone())
    }

    /// Whether a run of `scope_id` is queued or running in this process.
    async fn scope_busy(&self, scope_id: &str) -> bool {
        let ids: Vec<i64> = lock(&self.live).keys().copied().collect();
        for id in ids {
            if let Ok(Some(r)) = self.store.get_scan_run(id).await {
                if r.scope_id == scope_id {
                    return true;
                }
            }
        }
        false
    }

    /// Records a run and starts it in the background.
    pub async fn start_run(
        self: &Arc<Self>,
        scope_rec: &ScanScopeRecord,
        req: ScanRequest,
        trigger: &str,
        actor: &str,
    ) -> Result<ScanRunRecord, StoreError> {
        let scope = parse_scope(&scope_rec.spec).map_err(StoreError::Invalid)?;
        let request = serde_json::to_value(&req).unwrap_or(Value::Null);
        let run = self
            .store
            .create_scan_run(scope_rec, trigger, actor, &request, now_ms())
            .await?;
        self.counter(
            "ward_scan_runs_total",
            "Scan runs started",
            &[(
                "trigger",
                if trigger == "schedule" {
                    "schedule"
                } else {
                    "manual"
                },
            )],
        )
        .inc();
        let token = CancellationToken::new();
        let progress = Arc::new(Mutex::new(None));
        lock(&self.live).insert(
            run.id,
            LiveRun {
                token: token.clone(),
                progress: progress.clone(),
            },
        );
        let hub = self.clone();
        let run2 = run.clone();
        tokio::spawn(async move {
            let id = run2.id;
            if let Err(e) = hub.execute(&run2, scope, req, token, progress).await {
                tracing::error!(run = id, error = %e, "scan run failed");
                hub.counter("ward_scan_runs_failed_total", "Scan runs that failed", &[])
                    .inc();
                let _ = hub
                    .store
                    .finish_scan_run(id, "failed", now_ms(), None, None, Some(&e.to_string()))
                    .await;
            }
            lock(&hub.live).remove(&id);
        });
        Ok(run)
    }

    /// Cancels a queued or running scan at once; false when it is not running here.
    pub fn cancel(&self, run_id: i64) -> bool {
        match lock(&self.live).get(&run_id) {
            Some(r) => {
                r.token.cancel();
                true
            }
            None => false,
        }
    }

    fn member_lock(&self, org: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.members)
            .entry(org.to_string())
            .or_default()
            .clone()
    }

    fn scanner(&self, token: CancellationToken, slot: Arc<Mutex<Option<Progress>>>) -> Scanner {
        let share = u32::try_from(self.cfg.max_concurrent_runs.max(1)).unwrap_or(u32::MAX);
        Scanner::builder()
            .global_rate((self.cfg.global_rate_per_sec / share).max(1))
            .rate_per_member(self.cfg.rate_per_member.max(1))
            .rate_per_target(self.cfg.rate_per_target.max(1))
            .probe_timeout(Duration::from_millis(self.cfg.probe_timeout_ms.max(1)))
            .service_ports(ServicePorts {
                smb: self.cfg.smb_ports.clone(),
                rdp: self.cfg.rdp_ports.clone(),
                tls: self.cfg.tls_ports.clone(),
                http: self.cfg.http_ports.clone(),
            })
            .cancel_token(token)
            .on_progress(
                move |p| *lock(&slot) = Some(p.clone()),
                Duration::from_millis(self.cfg.progress_interval_ms.max(10)),
            )
            .build()
    }

    async fn execute(
        &self,
        run: &ScanRunRecord,
        scope: Scope,
        req: ScanRequest,
        token: CancellationToken,
        progress: Arc<Mutex<Option<Progress>>>,
    ) -> Result<(), StoreError> {
        let member = self.member_lock(&run.org_code);
        let waited = async {
            let m = member.lock_owned().await;
            let p = self.slots.clone().acquire_owned().await;
            (m, p)
        };
        let _held = tokio::select! {
            held = waited => held,
            _ = token.cancelled() => {
                self.store.finish_scan_run(run.id, "cancelled", now_ms(), None, Some(&json!({"cancelled_before_start": true})), None).await?;
                return Ok(());
            }
        };
        self.store.mark_scan_run_running(run.id, now_ms()).await?;
        let scanner = self.scanner(token.clone(), progress.clone());
        let report = scanner.run(&scope, &req).await;
        let now = now_ms();

        // Refusals are part of the record: what was asked for and why it was not touched.
        let refusals: Vec<NewRefusal> = report
            .refusals
            .iter()
            .map(|r| NewRefusal {
                target: r.target.clone(),
                code: r.reason.code().to_string(),
                reason: r.reason.to_string(),
                at: r.at.0.saturating_mul(1000),
            })
            .collect();
        for r in &refusals {
            self.counter(
                "ward_scan_refusals_total",
                "Scan targets refused before any packet, by refusal code",
                &[("code", &r.code)],
            )
            .inc();
        }
        self.store.record_scan_refusals(run, &refusals).await?;

        let previous: Vec<FindingKey> = self
            .store
            .unfixed_finding_identities(&run.org_code)
            .await?
            .into_iter()
            .filter_map(|i| {
                Some(FindingKey {
                    member: run.org_code.clone(),
                    address: i.address.parse().ok()?,
                    port: i.port,
                    check: i.check,
                    subject: i.subject,
                })
            })
            .collect();
        let mut rec = ward_scan::reconcile(&previous, &report.findings);
        rec.retain_covered(|k| report.covers(k));
        let observed = |f: &Finding| ObservedFinding {
            scope_id: f.scope_id.clone(),
            host: f.host.clone(),
            identity: identity_of(&f.key()),
            title: f.title.clone(),
            severity: f.severity.as_str().to_string(),
            evidence: serde_json::to_value(&f.evidence).unwrap_or(Value::Null),
            observed_at: f.observed_at.0.saturating_mul(1000),
        };
        let new: Vec<ObservedFinding> = rec.new.iter().map(observed).collect();
        let again: Vec<ObservedFinding> = rec.seen_again.iter().map(observed).collect();
        let closed: Vec<FindingIdentity> = rec.closed.iter().map(identity_of).collect();
        let applied = self
            .store
            .apply_scan_findings(&run.org_code, run.id, now, &new, &again, &closed)
            .await?;
        self.counter(
            "ward_scan_findings_opened_total",
            "Findings opened by scans",
            &[],
        )
        .add(applied.opened.len() as u64);
        self.counter(
            "ward_scan_findings_fixed_total",
            "Findings closed as fixed by a re-scan",
            &[],
        )
        .add(applied.fixed as u64);

        let mut incidents = Vec::new();
        for f in &applied.opened {
            let Some((rule_id, rule_title, level)) = incident_rule(&f.check) else {
                continue;
            };
            let hit = RuleHit {
                event_offset: 0,
                org: f.org_code.clone(),
                received_at_ms: now,
                host: Some(f.host.clone()),
                event_json: serde_json::to_string(f).unwrap_or_default(),
                rule_id: rule_id.to_string(),
                rule_title: rule_title.to_string(),
                rule_author: Some("ward scan".into()),
                level,
                tags: vec!["ward.scan".into(), f.check.clone()],
                matched_fields: json!({"check": f.check, "address": f.address, "port": f.port, "finding_id": f.id}),
            };
            let mut tx = self.store.begin_detection_tx().await?;
            let outcome = self.grouper.apply(&mut tx, &hit, now).await.map_err(|e| {
                StoreError::Invalid(format!("opening the incident for finding {}: {e}", f.id))
            })?;
            tx.commit().await?;
            self.store
                .set_finding_incident(f.id, outcome.local_incident)
                .await?;
            incidents.push(outcome.local_incident);
            self.counter(
                "ward_scan_incidents_total",
                "Severe scan findings that opened or joined an incident",
                &[("rule", rule_id)],
            )
            .inc();
        }

        let facts = estate_facts(&report);
        let assets_updated = self.vulns.apply_scan_facts(&run.org_code, &facts).await?;

        let cancelled = token.is_cancelled() || report.cancelled;
        let status = if cancelled {
            "cancelled"
        } else if report.hosts.is_empty() && !report.refusals.is_empty() {
            "refused"
        } else {
            "done"
        };
        let summary = json!({
            "hosts": report.hosts.len(),
            "findings": report.findings.len(),
            "opened": applied.opened.len(),
            "seen_again": applied.seen_again,
            "fixed": applied.fixed,
            "refusals": refusals.iter().map(|r| json!({"target": r.target, "code": r.code, "reason": r.reason})).collect::<Vec<_>>(),
            "incidents": incidents,
            "assets_updated": assets_updated,
            "skipped_ranges": report.skipped_ranges.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "cancelled": cancelled,
            "started_at": report.started_at.to_string(),
            "finished_at": report.finished_at.to_string(),
        });
        let last = lock(&progress)
            .clone()
            .and_then(|p| serde_json::to_value(p).ok());
        self.store
            .finish_scan_run(
                run.id,
                status,
                now_ms(),
                last.as_ref(),
                Some(&summary),
                None,
            )
            .await?;
        Ok(())
    }

    /// Starts due scheduled scans and reopens expired risk acceptances, until shutdown.
    pub async fn scheduler(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let tick = Duration::from_millis(self.cfg.scheduler_tick_ms.max(100));
        loop {
            if let Err(e) = self.schedule_once().await {
                tracing::error!(error = %e, "scan scheduler pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.changed() => {
                    for r in lock(&self.live).values() {
                        r.token.cancel();
                    }
                    return;
                }
            }
        }
    }

    async fn schedule_once(self: &Arc<Self>) -> Result<(), StoreError> {
        let now = now_ms();
        self.store.expire_risk_acceptances(now).await?;
        for scope in self.store.due_scan_scopes(now).await? {
            let schedule: Option<Schedule> = scope
                .schedule
                .clone()
                .and_then(|s| serde_json::from_value(s).ok());
            let next = schedule.as_ref().and_then(|s| s.next_after(now));
            self.store.set_scope_next_run(&scope.id, next).await?;
            if self.scope_busy(&scope.id).await {
                self.counter(
                    "ward_scan_schedule_skipped_total",
                    "Scheduled scans skipped because the previous run of the scope was still going",
                    &[],
                )
                .inc();
                continue;
            }
            let ports = schedule.and_then(|s| s.ports).unwrap_or(PortSpec::Top(100));
            let req = ScanRequest {
                targets: vec![],
                ports,
                checks: None,
            };
            if let Err(e) = self.start_run(&scope, req, "schedule", "scheduler").await {
                tracing::error!(scope = %scope.id, error = %e, "scheduled scan not started");
            }
        }
        Ok(())
    }
}

fn identity_of(k: &FindingKey) -> FindingIdentity {
    FindingIdentity {
        address: k.address.to_string(),
        port: k.port,
        check: k.check.clone(),
        subject: k.subject.clone(),
    }
}

/// What a scan says about one host, for the member's estate.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostFacts {
    pub address: String,
    pub host: String,
    pub attributes: BTreeMap<String, String>,
    pub os_name: Option<String>,
    pub os_patch_level: Option<String>,
}

/// Facts from the hosts a scan looked at to the end (cancelled hosts say nothing).
pub fn estate_facts(report: &ward_scan::ScanReport) -> Vec<HostFacts> {
    let mut out = Vec::new();
    for h in &report.hosts {
        if h.errors
            .iter()
            .any(|e| e.code == "SCAN-N002" || e.code == "SCAN-N003")
        {
            continue;
        }
        let mine: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.address == h.address)
            .collect();
        let has = |c: &str| mine.iter().any(|f| f.check == c);
        let mut facts = HostFacts {
            address: h.address.to_string(),
            host: h.host_name.clone().unwrap_or_else(|| h.target.clone()),
            ..HostFacts::default()
        };
        let a = &mut facts.attributes;
        a.insert("address".into(), h.address.to_string());
        let smb_spoken = !h.smb.is_empty() || has("smb.v1") || has("smb.dialects");
        if report.checks.contains(&Check::Smb) && smb_spoken {
            let v = if has("smb.v1") { "enabled" } else { "disabled" };
            a.insert("smbv1".into(), v.into());
        }
        if has("smb.ms17_010") {
            a.insert("ms17_010".into(), "vulnerable".into());
        }
        if has("smb.doublepulsar") {
            a.insert("doublepulsar".into(), "detected".into());
        }
        if has("rdp.nla_not_enforced") {
            a.insert("rdp_nla".into(), "not_enforced".into());
        } else if has("rdp.exposed") {
            a.insert("rdp_nla".into(), "enforced".into());
        }
        let open: Vec<String> = h.ports.open.iter().map(|p| p.port.to_string()).collect();
        if !open.is_empty() {
            a.insert("open_ports".into(), open.join(" "));
        }
        if let Some(eol) = mine.iter().find(|f| f.check == "eol.os") {
            if let Some(seen) = eol.evidence.fields.get("observed") {
                a.insert("os_announced".into(), seen.clone());
                let (name, sp) = windows_release(seen);
                facts.os_name = name;
                facts.os_patch_level = sp;
            }
            a.insert("eol".into(), eol.subject.clone());
        }
        out.push(facts);
    }
    out
}

/// `Windows 7 Professional 7601 Service Pack 1` → (`Windows 7`, `SP1`): the names the
/// estate matcher maps to NVD's Windows CPEs.
pub fn windows_release(announced: &str) -> (Option<String>, Option<String>) {
    const RELEASES: &[&str] = &[
        "Windows Server 2008 R2",
        "Windows Server 2012 R2",
        "Windows Server 2003",
        "Windows Server 2008",
        "Windows Server 2012",
        "Windows Server 2016",
        "Windows XP",
        "Windows Vista",
        "Windows 7",
        "Windows 8.1",
        "Windows 10",
    ];
    let lower = announced.to_ascii_lowercase();
    let name = RELEASES
        .iter()
        .find(|r| lower.contains(&r.to_ascii_lowercase()))
        .map(|s| s.to_string());
    let sp = lower.find("service pack ").and_then(|i| {
        let n: String = lower[i + 13..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        (!n.is_empty()).then(|| format!("SP{n}"))
    });
    (name, sp)
}

/// Parses a port list such as `22,80,8000-8100`.
pub fn parse_port_list(s: &str) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("port list {s:?}: {part:?} is not a port or a range a-b (1-65535)");
        match part.split_once('-') {
            Some((a, b)) => {
                let a: u16 = a.trim().parse().map_err(|_| bad())?;
                let b: u16 = b.trim().parse().map_err(|_| bad())?;
                if a == 0 || b < a {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => {
                let p: u16 = part.parse().map_err(|_| bad())?;
                if p == 0 {
                    return Err(bad());
                }
                out.push(p);
            }
        }
    }
    if out.is_empty() {
        return Err(format!("port list {s:?} is empty"));
    }
    Ok(out)
}

/// The address a finding identity names, for sorting and XML.
pub fn address_of(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_compute_the_next_run() {
        let every = Schedule {
            every_secs: Some(60),
            daily_at: None,
            ports: None,
        };
        assert_eq!(every.next_after(1_000), Some(61_000));
        let daily = Schedule {
            every_secs: None,
            daily_at: Some("02:30".into()),
            ports: None,
        };
        let day = 86_400_000;
        // 01:00 on day 10 → 02:30 the same day; 03:00 → 02:30 the next day.
        assert_eq!(
            daily.next_after(10 * day + 3_600_000),
            Some(10 * day + 9_000_000)
        );
        assert_eq!(
            daily.next_after(10 * day + 10_800_000),
            Some(11 * day + 9_000_000)
        );
        assert!(Schedule {
            daily_at: Some("25:00".into()),
            ..daily.clone()
        }
        .validate()
        .is_err());
        assert!(Schedule {
            every_secs: Some(5),
            ..daily
        }
        .validate()
        .is_err());
    }

    #[test]
    fn announced_windows_names_map_to_releases() {
        assert_eq!(
            windows_release("Windows 7 Professional 7601 Service Pack 1"),
            (Some("Windows 7".into()), Some("SP1".into()))
        );
        assert_eq!(
            windows_release("Windows Server 2008 R2 Standard 7600"),
            (Some("Windows Server 2008 R2".into()), None)
        );
        assert_eq!(windows_release("Samba 4.17"), (None, None));
    }

    #[test]
    fn port_lists() {
        assert_eq!(
            parse_port_list("22, 80,8000-8002").unwrap(),
            vec![22, 80, 8000, 8001, 8002]
        );
        assert!(parse_port_list("0").is_err());
        assert!(parse_port_list("9-3").is_err());
        assert!(parse_port_list("http").is_err());
    }
}
