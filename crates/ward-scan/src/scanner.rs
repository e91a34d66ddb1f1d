//! The [`Scanner`]: authorises targets against a [`Scope`], runs the checks
//! the scope allows at the rates it allows, reports progress, stops when
//! cancelled, and turns check reports into [`Finding`]s.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::checks::http::{AdminPaths, HttpReport};
use crate::checks::portscan::{self, PortScanConfig, PortScanResult, PortSpec};
use crate::checks::rdp::RdpReport;
use crate::checks::smb::{Ms17010Report, Ms17010Verdict, SmbDialects};
use crate::checks::tls::TlsReport;
use crate::eol::{Confidence, EolMatch, EolTable};
use crate::finding::{Evidence, Finding, Severity};
use crate::net::{Connector, ProbeError};
use crate::proto::tls::{TlsVersion, Weakness};
use crate::proto::x509::CertInfo;
use crate::rate::{RateLimiter, UNLIMITED};
use crate::scope::{AuthorisedTarget, Check, RefusalReason, Scope, ScopeRefusal};
use crate::time::Timestamp;

/// Which ports each service check is run on (when open).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePorts {
    /// SMB (direct TCP).
    pub smb: Vec<u16>,
    /// RDP.
    pub rdp: Vec<u16>,
    /// TLS.
    pub tls: Vec<u16>,
    /// Plain HTTP.
    pub http: Vec<u16>,
}

impl Default for ServicePorts {
    fn default() -> Self {
        ServicePorts {
            smb: vec![445],
            rdp: vec![3389],
            tls: vec![443, 8443, 636, 993, 995, 465, 5986, 9443, 4443, 7443, 10250],
            http: vec![80, 8080, 8000, 8008, 8081, 8888, 9000, 9090, 7001, 8161],
        }
    }
}

/// What to scan within a scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRequest {
    /// Targets (addresses or names); empty means every target the scope registers.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Ports for the port scan.
    pub ports: PortSpec,
    /// Checks wanted; `None` means all the scope allows.
    #[serde(default)]
    pub checks: Option<BTreeSet<Check>>,
}

/// Scan phase, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Checking targets against the scope.
    Authorising,
    /// Probing.
    Scanning,
    /// Finished (or cancelled).
    Done,
}

/// A progress snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Phase.
    pub phase: Phase,
    /// Targets authorised.
    pub targets_total: u64,
    /// Targets finished.
    pub targets_done: u64,
    /// Ports to probe, over all targets.
    pub ports_total: u64,
    /// Ports decided.
    pub ports_done: u64,
    /// Open ports found.
    pub open_ports: u64,
    /// Findings so far.
    pub findings: u64,
    /// Targets refused.
    pub refusals: u64,
}

/// Progress callback type.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

#[derive(Debug, Default)]
struct Counters {
    targets_total: AtomicU64,
    targets_done: AtomicU64,
    ports_total: AtomicU64,
    ports_done: Arc<AtomicU64>,
    open_ports: AtomicU64,
    findings: AtomicU64,
    refusals: AtomicU64,
}

impl Counters {
    fn snapshot(&self, phase: Phase) -> Progress {
        Progress {
            phase,
            targets_total: self.targets_total.load(Ordering::Relaxed),
            targets_done: self.targets_done.load(Ordering::Relaxed),
            ports_total: self.ports_total.load(Ordering::Relaxed),
            ports_done: self.ports_done.load(Ordering::Relaxed),
            open_ports: self.open_ports.load(Ordering::Relaxed),
            findings: self.findings.load(Ordering::Relaxed),
            refusals: self.refusals.load(Ordering::Relaxed),
        }
    }
}

/// A check that failed on a host (the scan goes on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckError {
    /// Address.
    pub address: IpAddr,
    /// Port, if any.
    pub port: Option<u16>,
    /// Check.
    pub check: Check,
    /// Stable code.
    pub code: String,
    /// Message.
    pub message: String,
}

/// Everything learned about one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostReport {
    /// Target as requested.
    pub target: String,
    /// Host name, if the target was a name.
    pub host_name: Option<String>,
    /// Address.
    pub address: IpAddr,
    /// Port scan.
    pub ports: PortScanResult,
    /// SMB dialects, per SMB port.
    pub smb: Vec<(u16, SmbDialects)>,
    /// MS17-010, per SMB port.
    pub ms17_010: Vec<(u16, Ms17010Report)>,
    /// RDP, per RDP port.
    pub rdp: Vec<(u16, RdpReport)>,
    /// TLS, per TLS port.
    pub tls: Vec<(u16, TlsReport)>,
    /// HTTP, per HTTP port.
    pub http: Vec<(u16, HttpReport)>,
    /// End-of-life matches.
    pub eol: Vec<EolMatch>,
    /// Checks that failed.
    pub errors: Vec<CheckError>,
    /// Scan start and end.
    pub started_at: Timestamp,
    /// End.
    pub finished_at: Timestamp,
}

/// The result of [`Scanner::run`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanReport {
    /// Scope.
    pub scope_id: String,
    /// Member ODS code.
    pub member: String,
    /// Start.
    pub started_at: Timestamp,
    /// End.
    pub finished_at: Timestamp,
    /// Stopped by cancellation (results are partial).
    pub cancelled: bool,
    /// Checks that ran (requested ∩ allowed).
    pub checks: BTreeSet<Check>,
    /// Ports requested.
    pub ports: PortSpec,
    /// Per-address reports.
    pub hosts: Vec<HostReport>,
    /// Findings from all hosts.
    pub findings: Vec<Finding>,
    /// Targets (or checks) refused by the scope.
    pub refusals: Vec<ScopeRefusal>,
    /// Scope ranges too large to enumerate (more than
    /// [`crate::scope::MAX_HOSTS_PER_CIDR`] addresses); split them to scan them.
    pub skipped_ranges: Vec<crate::scope::Cidr>,
}

impl ScanReport {
    /// Which [`Check`] produced a finding check id (`smb.v1` → `Smb`).
    pub fn check_of(check_id: &str) -> Option<Check> {
        let c = match check_id {
            "smb.ms17_010" => Check::Ms17010,
            "smb.doublepulsar" => Check::DoublePulsar,
            _ => match check_id.split('.').next()? {
                "port" => Check::PortScan,
                "smb" => Check::Smb,
                "rdp" => Check::Rdp,
                "tls" => Check::Tls,
                "eol" => Check::Eol,
                "http" => Check::Http,
                _ => return None,
            },
        };
        Some(c)
    }

    /// Whether this scan looked where `key` was found, so that not seeing it
    /// again means it is gone: the address was scanned to the end (not
    /// cancelled, window still open), the check ran, and the port (if any)
    /// was among those probed. Use with [`crate::Reconciliation::retain_covered`].
    pub fn covers(&self, key: &crate::FindingKey) -> bool {
        let Some(check) = Self::check_of(&key.check) else {
            return false;
        };
        if key.member != self.member || !self.checks.contains(&check) {
            return false;
        }
        let Some(h) = self.hosts.iter().find(|h| h.address == key.address) else {
            return false;
        };
        if h.errors
            .iter()
            .any(|e| e.code == "SCAN-N002" || e.code == "SCAN-N003")
        {
            return false;
        }
        match key.port {
            Some(p) if self.checks.contains(&Check::PortScan) => match &self.ports {
                PortSpec::Full => true,
                spec => spec.ports().contains(&p),
            },
            _ => true,
        }
    }
}

/// Builds a [`Scanner`].
#[derive(Clone)]
pub struct ScannerBuilder {
    rate_per_target: u32,
    rate_per_member: u32,
    global_rate: u32,
    max_parallel_hosts: usize,
    port_scan: PortScanConfig,
    probe_timeout: Duration,
    service_ports: ServicePorts,
    eol: EolTable,
    admin_paths: AdminPaths,
    double_pulsar: bool,
    rdp_any_port: bool,
    cancel: CancellationToken,
    progress: Option<ProgressFn>,
    progress_interval: Duration,
}

impl Default for ScannerBuilder {
    fn default() -> Self {
        ScannerBuilder {
            rate_per_target: 1000,
            rate_per_member: 5000,
            global_rate: 20_000,
            max_parallel_hosts: 8,
            port_scan: PortScanConfig::default(),
            probe_timeout: Duration::from_secs(5),
            service_ports: ServicePorts::default(),
            eol: EolTable::builtin(),
            admin_paths: AdminPaths::builtin(),
            double_pulsar: true,
            rdp_any_port: true,
            cancel: CancellationToken::new(),
            progress: None,
            progress_interval: Duration::from_millis(100),
        }
    }
}

impl ScannerBuilder {
    /// Connection attempts per second to one target (the scope's own limit
    /// applies too; the lower wins). [`UNLIMITED`] disables the limit.
    pub fn rate_per_target(mut self, per_sec: u32) -> Self {
        self.rate_per_target = per_sec;
        self
    }
    /// Connection attempts per second to one member, all targets together.
    pub fn rate_per_member(mut self, per_sec: u32) -> Self {
        self.rate_per_member = per_sec;
        self
    }
    /// Global cap, all members together.
    pub fn global_rate(mut self, per_sec: u32) -> Self {
        self.global_rate = per_sec;
        self
    }
    /// Addresses scanned at once.
    pub fn max_parallel_hosts(mut self, n: usize) -> Self {
        self.max_parallel_hosts = n.max(1);
        self
    }
    /// Port scan tuning.
    pub fn port_scan(mut self, cfg: PortScanConfig) -> Self {
        self.port_scan = cfg;
        self
    }
    /// Timeout for each step of the service checks.
    pub fn probe_timeout(mut self, t: Duration) -> Self {
        self.probe_timeout = t;
        self
    }
    /// Which ports each service check runs on.
    pub fn service_ports(mut self, p: ServicePorts) -> Self {
        self.service_ports = p;
        self
    }
    /// End-of-life table.
    pub fn eol_table(mut self, t: EolTable) -> Self {
        self.eol = t;
        self
    }
    /// Admin interface list.
    pub fn admin_paths(mut self, p: AdminPaths) -> Self {
        self.admin_paths = p;
        self
    }
    /// Whether to send the DoublePulsar probe when the scope allows it.
    pub fn double_pulsar(mut self, on: bool) -> Self {
        self.double_pulsar = on;
        self
    }
    /// Whether to look for RDP on every open port that is silent and not
    /// one of the other services' ports (so RDP moved off 3389 is found).
    pub fn rdp_on_any_port(mut self, on: bool) -> Self {
        self.rdp_any_port = on;
        self
    }
    /// Use this cancellation token (e.g. one shared with `ward scan cancel`).
    pub fn cancel_token(mut self, t: CancellationToken) -> Self {
        self.cancel = t;
        self
    }
    /// Progress callback, called every `interval` and once at the end.
    pub fn on_progress(
        mut self,
        f: impl Fn(&Progress) + Send + Sync + 'static,
        interval: Duration,
    ) -> Self {
        self.progress = Some(Arc::new(f));
        self.progress_interval = interval;
        self
    }
    /// Builds the scanner.
    pub fn build(self) -> Scanner {
        Scanner {
            global: Arc::new(RateLimiter::new(self.global_rate)),
            members: Mutex::new(HashMap::new()),
            cfg: self,
        }
    }
}

/// Runs scans. Cheap to share (`Arc<Scanner>`); one global rate cap and one
/// bucket per member are kept across all scans it runs.
pub struct Scanner {
    cfg: ScannerBuilder,
    global: Arc<RateLimiter>,
    members: Mutex<HashMap<String, Arc<RateLimiter>>>,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("global_rate", &self.cfg.global_rate)
            .finish_non_exhaustive()
    }
}

fn min_rate(a: u32, b: u32) -> u32 {
    a.min(b).max(1)
}

impl Scanner {
    /// A builder with defaults.
    pub fn builder() -> ScannerBuilder {
        ScannerBuilder::default()
    }

    /// The token that stops every scan of this scanner at once.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cfg.cancel.clone()
    }

    /// Stops every running scan now.
    pub fn cancel(&self) {
        self.cfg.cancel.cancel();
    }

    fn member_limiter(&self, member: &str, scope_rate: u32) -> Arc<RateLimiter> {
        let mut m = self.members.lock().unwrap_or_else(|p| p.into_inner());
        let rate = min_rate(self.cfg.rate_per_member, scope_rate);
        let e = m
            .entry(member.to_string())
            .or_insert_with(|| Arc::new(RateLimiter::new(rate)));
        if e.rate_per_sec() != rate {
            *e = Arc::new(RateLimiter::new(rate));
        }
        e.clone()
    }

    /// A connector for one authorised target, with this scanner's limits
    /// and cancellation token (for calling the checks directly).
    pub fn connector(&self, target: &AuthorisedTarget) -> Connector {
        let limiter = self.target_limiter(target);
        self.connector_with(target, limiter, self.cfg.cancel.clone())
    }

    fn target_limiter(&self, target: &AuthorisedTarget) -> Arc<RateLimiter> {
        Arc::new(RateLimiter::new(min_rate(
            self.cfg.rate_per_target,
            target.max_rate_per_sec(),
        )))
    }

    fn connector_with(
        &self,
        target: &AuthorisedTarget,
        target_limiter: Arc<RateLimiter>,
        cancel: CancellationToken,
    ) -> Connector {
        let limits = vec![
            target_limiter,
            self.member_limiter(target.member(), target.max_rate_per_sec()),
            self.global.clone(),
        ];
        Connector::new(target, limits, cancel, self.cfg.probe_timeout)
    }

    /// Authorises every target of `req` against `scope` (resolving names off
    /// the async runtime), then scans the authorised ones. Stops when the
    /// scanner's token is cancelled ([`Scanner::cancel`]).
    pub async fn run(&self, scope: &Scope, req: &ScanRequest) -> ScanReport {
        self.run_cancellable(scope, req, self.cfg.cancel.child_token())
            .await
    }

    /// As [`Scanner::run`], with a token for this scan alone (`ward scan
    /// cancel <id>`); cancelling the scanner's own token stops it too only
    /// if `cancel` is a child of it (`scanner.cancel_token().child_token()`).
    pub async fn run_cancellable(
        &self,
        scope: &Scope,
        req: &ScanRequest,
        cancel: CancellationToken,
    ) -> ScanReport {
        let started_at = Timestamp::now();
        let counters = Arc::new(Counters::default());
        let phase = Arc::new(Mutex::new(Phase::Authorising));
        let ticker = self.cfg.progress.clone().map(|cb| {
            let (counters, phase, every) =
                (counters.clone(), phase.clone(), self.cfg.progress_interval);
            tokio::spawn(async move {
                let mut iv = tokio::time::interval(every);
                loop {
                    iv.tick().await;
                    let p = *phase.lock().unwrap_or_else(|e| e.into_inner());
                    cb(&counters.snapshot(p));
                }
            })
        });

        let wanted: BTreeSet<Check> = req
            .checks
            .clone()
            .unwrap_or_else(|| scope.allowed_checks.clone());
        let mut refusals = Vec::new();
        for c in wanted.difference(&scope.allowed_checks) {
            refusals.push(ScopeRefusal {
                scope_id: scope.id.clone(),
                member: scope.member.clone(),
                target: "*".into(),
                at: started_at,
                reason: RefusalReason::CheckNotAllowed { check: *c },
            });
        }
        let checks: BTreeSet<Check> = wanted
            .intersection(&scope.allowed_checks)
            .copied()
            .collect();
        let (targets, skipped_ranges) = if req.targets.is_empty() {
            scope.targets()
        } else {
            (req.targets.clone(), Vec::new())
        };

        let mut authorised = Vec::new();
        let shared_scope = Arc::new(scope.clone());
        for t in targets {
            let now = Timestamp::now();
            let literal = t.trim().trim_start_matches('[').trim_end_matches(']');
            // Addresses need no resolver; names go to a blocking thread
            // because getaddrinfo may wait on DNS.
            #[allow(clippy::result_large_err)]
            let r = if literal.parse::<IpAddr>().is_ok() {
                Ok(scope.authorise(&t, now))
            } else {
                let (s, t2) = (shared_scope.clone(), t.clone());
                tokio::task::spawn_blocking(move || s.authorise(&t2, now)).await
            };
            match r {
                Ok(Ok(a)) => authorised.push(a),
                Ok(Err(refusal)) => refusals.push(refusal),
                Err(e) => refusals.push(ScopeRefusal {
                    scope_id: scope.id.clone(),
                    member: scope.member.clone(),
                    target: t,
                    at: now,
                    reason: RefusalReason::ResolutionFailed {
                        detail: e.to_string(),
                    },
                }),
            }
        }
        counters
            .refusals
            .store(refusals.len() as u64, Ordering::Relaxed);
        *phase.lock().unwrap_or_else(|e| e.into_inner()) = Phase::Scanning;

        let ports = self.ports_for(&req.ports, &checks);
        // One rate bucket per authorised target, shared by its addresses.
        let jobs: Vec<(AuthorisedTarget, Arc<RateLimiter>, IpAddr)> = authorised
            .iter()
            .flat_map(|a| {
                let limiter = self.target_limiter(a);
                a.addresses()
                    .iter()
                    .map(move |ip| (a.clone(), limiter.clone(), *ip))
            })
            .collect();
        counters
            .targets_total
            .store(jobs.len() as u64, Ordering::Relaxed);
        counters
            .ports_total
            .store((jobs.len() * ports.len()) as u64, Ordering::Relaxed);

        let cancelled = AtomicBool::new(false);
        let mut hosts = Vec::new();
        let mut findings = Vec::new();
        // Hosts run concurrently on this task, at most `max_parallel_hosts`
        // at a time; `scan_host` borrows the scanner, so no spawning.
        let results = run_bounded(jobs, self.cfg.max_parallel_hosts, |(a, limiter, ip)| {
            let (counters, checks, ports, cancelled, cancel) =
                (&counters, &checks, &ports, &cancelled, &cancel);
            async move {
                if cancel.is_cancelled() {
                    cancelled.store(true, Ordering::Relaxed);
                    return None;
                }
                let conn = self.connector_with(&a, limiter, cancel.clone());
                let (host, fs, was_cancelled) =
                    self.scan_host(&a, &conn, ip, ports, checks, counters).await;
                if was_cancelled {
                    cancelled.store(true, Ordering::Relaxed);
                }
                counters.targets_done.fetch_add(1, Ordering::Relaxed);
                Some((host, fs))
            }
        })
        .await;
        for (h, fs) in results.into_iter().flatten() {
            hosts.push(h);
            findings.extend(fs);
        }
        *phase.lock().unwrap_or_else(|e| e.into_inner()) = Phase::Done;
        if let Some(t) = ticker {
            t.abort();
        }
        if let Some(cb) = &self.cfg.progress {
            cb(&counters.snapshot(Phase::Done));
        }
        ScanReport {
            scope_id: scope.id.clone(),
            member: scope.member.clone(),
            started_at,
            finished_at: Timestamp::now(),
            cancelled: cancelled.load(Ordering::Relaxed) || cancel.is_cancelled(),
            checks,
            ports: req.ports.clone(),
            hosts,
            findings,
            refusals,
            skipped_ranges,
        }
    }

    fn ports_for(&self, spec: &PortSpec, checks: &BTreeSet<Check>) -> Vec<u16> {
        if checks.contains(&Check::PortScan) {
            return spec.ports();
        }
        // Without consent to a port scan, touch only the service ports of
        // the checks that were allowed.
        let sp = &self.cfg.service_ports;
        let mut v = Vec::new();
        if checks.contains(&Check::Smb) || checks.contains(&Check::Ms17010) {
            v.extend(&sp.smb);
        }
        if checks.contains(&Check::Rdp) {
            v.extend(&sp.rdp);
        }
        if checks.contains(&Check::Tls) {
            v.extend(&sp.tls);
        }
        if checks.contains(&Check::Http) {
            v.extend(&sp.http);
        }
        PortSpec::List(v).ports()
    }

    async fn scan_host(
        &self,
        a: &AuthorisedTarget,
        conn: &Connector,
        ip: IpAddr,
        ports: &[u16],
        checks: &BTreeSet<Check>,
        counters: &Counters,
    ) -> (HostReport, Vec<Finding>, bool) {
        let mut h = HostReport {
            target: a.target().to_string(),
            host_name: a.host_name().map(str::to_string),
            address: ip,
            ports: PortScanResult::default(),
            smb: vec![],
            ms17_010: vec![],
            rdp: vec![],
            tls: vec![],
            http: vec![],
            eol: vec![],
            errors: vec![],
            started_at: Timestamp::now(),
            finished_at: Timestamp::now(),
        };
        let mut cancelled = false;
        let stop = |e: &ProbeError| {
            matches!(
                e,
                ProbeError::Cancelled
                    | ProbeError::WindowEnded { .. }
                    | ProbeError::NotAuthorised { .. }
            )
        };
        let err = |check, port, e: &ProbeError| CheckError {
            address: ip,
            port,
            check,
            code: e.code().to_string(),
            message: e.to_string(),
        };
        match portscan::scan_ports(
            conn,
            ip,
            ports,
            &self.cfg.port_scan,
            counters.ports_done.clone(),
        )
        .await
        {
            Ok(r) => h.ports = r,
            Err(e) => {
                cancelled = matches!(e, ProbeError::Cancelled);
                h.errors.push(err(Check::PortScan, None, &e));
                h.finished_at = Timestamp::now();
                let fs = self.findings_for(a, &h, checks);
                return (h, fs, cancelled);
            }
        }
        counters
            .open_ports
            .fetch_add(h.ports.open.len() as u64, Ordering::Relaxed);
        let open: BTreeSet<u16> = h.ports.open_ports().into_iter().collect();
        let sp = &self.cfg.service_ports;
        let host_str = a
            .host_name()
            .map(str::to_string)
            .unwrap_or_else(|| ip.to_string());
        'checks: {
            for &p in sp.smb.iter().filter(|p| open.contains(p)) {
                let addr = SocketAddr::new(ip, p);
                if checks.contains(&Check::Smb) {
                    match crate::checks::smb::enumerate_dialects(conn, addr).await {
                        Ok(r) => h.smb.push((p, r)),
                        Err(e) => {
                            h.errors.push(err(Check::Smb, Some(p), &e));
                            if stop(&e) {
                                cancelled = matches!(e, ProbeError::Cancelled);
                                break 'checks;
                            }
                        }
                    }
                }
                if checks.contains(&Check::Ms17010) {
                    let dp = self.cfg.double_pulsar && checks.contains(&Check::DoublePulsar);
                    match crate::checks::smb::check_ms17_010(conn, addr, &ip.to_string(), dp).await
                    {
                        Ok(r) => h.ms17_010.push((p, r)),
                        Err(e) => {
                            h.errors.push(err(Check::Ms17010, Some(p), &e));
                            if stop(&e) {
                                cancelled = matches!(e, ProbeError::Cancelled);
                                break 'checks;
                            }
                        }
                    }
                }
            }
            if checks.contains(&Check::Rdp) {
                let mut rdp_ports: Vec<u16> = sp
                    .rdp
                    .iter()
                    .copied()
                    .filter(|p| open.contains(p))
                    .collect();
                if self.cfg.rdp_any_port {
                    let known: BTreeSet<u16> = sp
                        .smb
                        .iter()
                        .chain(&sp.rdp)
                        .chain(&sp.tls)
                        .chain(&sp.http)
                        .copied()
                        .collect();
                    for p in h
                        .ports
                        .open
                        .iter()
                        .filter(|p| p.banner.is_none() && !known.contains(&p.port))
                    {
                        match crate::checks::rdp::detect(conn, SocketAddr::new(ip, p.port)).await {
                            Ok(true) => rdp_ports.push(p.port),
                            Ok(false) => {}
                            Err(e) => {
                                cancelled = matches!(e, ProbeError::Cancelled);
                                h.errors.push(err(Check::Rdp, Some(p.port), &e));
                                break 'checks;
                            }
                        }
                    }
                }
                for &p in &rdp_ports {
                    match crate::checks::rdp::check_rdp(conn, SocketAddr::new(ip, p)).await {
                        Ok(r) => h.rdp.push((p, r)),
                        Err(e) => {
                            h.errors.push(err(Check::Rdp, Some(p), &e));
                            if stop(&e) {
                                cancelled = matches!(e, ProbeError::Cancelled);
                                break 'checks;
                            }
                        }
                    }
                }
            }
            if checks.contains(&Check::Tls) {
                for &p in sp.tls.iter().filter(|p| open.contains(p)) {
                    match crate::checks::tls::scan_tls(conn, SocketAddr::new(ip, p), a.host_name())
                        .await
                    {
                        Ok(r) => h.tls.push((p, r)),
                        Err(e) => {
                            h.errors.push(err(Check::Tls, Some(p), &e));
                            if stop(&e) {
                                cancelled = matches!(e, ProbeError::Cancelled);
                                break 'checks;
                            }
                        }
                    }
                }
            }
            if checks.contains(&Check::Http) {
                for &p in sp.http.iter().filter(|p| open.contains(p)) {
                    match crate::checks::http::check_http(
                        conn,
                        SocketAddr::new(ip, p),
                        &host_str,
                        &self.cfg.admin_paths,
                    )
                    .await
                    {
                        Ok(r) => h.http.push((p, r)),
                        Err(e) => {
                            h.errors.push(err(Check::Http, Some(p), &e));
                            if stop(&e) {
                                cancelled = matches!(e, ProbeError::Cancelled);
                                break 'checks;
                            }
                        }
                    }
                }
            }
        }
        if checks.contains(&Check::Eol) {
            h.eol = self.eol_matches(&h, Timestamp::now());
        }
        h.finished_at = Timestamp::now();
        let fs = self.findings_for(a, &h, checks);
        counters
            .findings
            .fetch_add(fs.len() as u64, Ordering::Relaxed);
        (h, fs, cancelled)
    }

    fn eol_matches(&self, h: &HostReport, now: Timestamp) -> Vec<EolMatch> {
        let t = &self.cfg.eol;
        let mut out = Vec::new();
        for (_, m) in &h.ms17_010 {
            if let Some(os) = &m.native_os {
                out.extend(t.match_text(os, "smb.native_os", now));
            }
            if let Some(lm) = &m.native_lanman {
                out.extend(t.match_text(lm, "smb.native_lanman", now));
            }
        }
        for (_, d) in &h.smb {
            let names: Vec<String> = d
                .smb2
                .iter()
                .map(|x| crate::proto::smb::smb2_dialect_name(*x))
                .collect();
            out.extend(t.match_smb(d.smb1.accepted, &names, now));
        }
        for (_, r) in &h.rdp {
            if r.legacy {
                out.extend(t.match_rdp_legacy(now));
            }
        }
        for (_, r) in &h.http {
            for v in [&r.server, &r.powered_by].into_iter().flatten() {
                out.extend(t.match_text(v, "http.server", now));
            }
        }
        for p in &h.ports.open {
            if let Some(b) = &p.banner {
                out.extend(t.match_text(b, "banner", now));
            }
        }
        // One match per product: keep the most confident.
        out.sort_by_key(|m| (m.entry.id.clone(), m.confidence != Confidence::Announced));
        out.dedup_by(|a, b| a.entry.id == b.entry.id);
        out
    }

    fn findings_for(
        &self,
        a: &AuthorisedTarget,
        h: &HostReport,
        checks: &BTreeSet<Check>,
    ) -> Vec<Finding> {
        let now = h.finished_at;
        let mut out = Vec::new();
        let mut push = |port: Option<u16>,
                        check: &str,
                        subject: String,
                        title: String,
                        severity: Severity,
                        evidence: Evidence| {
            out.push(Finding {
                member: a.member().to_string(),
                scope_id: a.scope_id().to_string(),
                host: a.target().to_string(),
                address: h.address,
                port,
                check: check.to_string(),
                subject,
                title,
                severity,
                evidence,
                observed_at: now,
            });
        };
        if checks.contains(&Check::PortScan) {
            for p in &h.ports.open {
                let mut ev = Evidence::new(format!("tcp/{} open", p.port))
                    .field("state", "open")
                    .field("attempts", p.attempts);
                if let Some(rtt) = p.rtt_us {
                    ev = ev.field("rtt_us", rtt);
                }
                if let Some(b) = &p.banner {
                    ev = ev.field("banner", b);
                    ev.bytes_hex = p.banner_hex.clone();
                }
                push(
                    Some(p.port),
                    "port.open",
                    String::new(),
                    format!("Open port {}/tcp", p.port),
                    Severity::Info,
                    ev,
                );
            }
        }
        for (port, d) in &h.smb {
            let p = Some(*port);
            push(
                p,
                "smb.exposed",
                String::new(),
                "SMB service reachable".into(),
                Severity::Medium,
                Evidence::new(format!("SMB answered on tcp/{port}"))
                    .field("dialects", d.nmap_names().join(", ")),
            );
            if d.smb1.accepted {
                let mut ev = Evidence::new(d.smb1.detail.clone())
                    .field("word_count", d.smb1.word_count.unwrap_or(0))
                    .field("dialect_index", d.smb1.dialect_index.unwrap_or(0xFFFF));
                ev.bytes_hex = d.smb1.reply_hex.clone();
                push(
                    p,
                    "smb.v1",
                    String::new(),
                    "SMBv1 enabled".into(),
                    Severity::High,
                    ev,
                );
            }
            let mut ev = Evidence::new(d.nmap_names().join(", "));
            for name in d.nmap_names() {
                ev = ev.field(name, "accepted");
            }
            push(
                p,
                "smb.dialects",
                String::new(),
                "SMB dialects".into(),
                Severity::Info,
                ev,
            );
            if let Some(s) = d.signing {
                if s != crate::checks::smb::Signing::Required {
                    let mut ev = Evidence::new(format!("message signing {}", s.as_str()))
                        .field("signing", s.as_str());
                    if let Some(m) = d.smb2_security_mode {
                        ev = ev.field("smb2_security_mode", format!("{m:#06x}"));
                    }
                    ev.bytes_hex = d.smb2_reply_hex.clone();
                    push(
                        p,
                        "smb.signing_not_required",
                        String::new(),
                        "SMB signing not required".into(),
                        Severity::Medium,
                        ev,
                    );
                }
            }
        }
        for (port, m) in &h.ms17_010 {
            let p = Some(*port);
            let base = |s: &str| {
                let mut ev = Evidence::new(s.to_string()).field("reached", m.reached);
                if let Some(st) = m.transaction_status {
                    ev = ev.field("transaction_status", format!("{st:#010x}"));
                }
                if let Some(os) = &m.native_os {
                    ev = ev.field("native_os", os);
                }
                ev
            };
            if m.verdict == Ms17010Verdict::Vulnerable {
                let mut ev = base(&m.detail);
                ev.bytes_hex = m.transaction_reply_hex.clone();
                push(
                    p,
                    "smb.ms17_010",
                    String::new(),
                    "MS17-010 (EternalBlue) not patched".into(),
                    Severity::Critical,
                    ev,
                );
            }
            if m.double_pulsar == Some(true) {
                let mut ev = base("TRANS2 SESSION_SETUP answered with multiplex id 81: DoublePulsar implant present").field("multiplex_id", m.double_pulsar_mid.unwrap_or(0));
                ev.bytes_hex = m.double_pulsar_reply_hex.clone();
                push(
                    p,
                    "smb.doublepulsar",
                    String::new(),
                    "DoublePulsar implant detected".into(),
                    Severity::Critical,
                    ev,
                );
            }
        }
        for (port, r) in &h.rdp {
            let p = Some(*port);
            let ev = || {
                let mut e = Evidence::new(format!(
                    "RDP negotiation: rdp-only {}, ssl-only {}, hybrid {}",
                    r.rdp_only, r.ssl_only, r.hybrid
                ))
                .field("standard_rdp_accepted", r.standard_rdp_accepted)
                .field("ssl_accepted", r.ssl_accepted)
                .field("hybrid_supported", r.hybrid_supported)
                .field("nla_enforced", r.nla_enforced);
                e.bytes_hex = r.confirm_hex.clone();
                e
            };
            push(
                p,
                "rdp.exposed",
                String::new(),
                "RDP exposed".into(),
                Severity::Medium,
                ev(),
            );
            if !r.nla_enforced {
                push(
                    p,
                    "rdp.nla_not_enforced",
                    String::new(),
                    "RDP exposed, NLA not enforced".into(),
                    Severity::High,
                    ev(),
                );
            }
            if r.standard_rdp_accepted {
                push(
                    p,
                    "rdp.standard_security",
                    String::new(),
                    "RDP accepts Standard RDP Security".into(),
                    Severity::Medium,
                    ev(),
                );
            }
            if let Some(c) = &r.certificate {
                for (check, subject, title, sev, e) in cert_findings(c, a.host_name(), now) {
                    push(p, check, subject, title, sev, e);
                }
            }
        }
        for (port, r) in &h.tls {
            let p = Some(*port);
            if r.not_tls {
                continue;
            }
            let versions: Vec<&str> = r.versions.iter().map(|v| v.name()).collect();
            push(
                p,
                "tls.versions",
                String::new(),
                "TLS versions".into(),
                Severity::Info,
                Evidence::new(versions.join(", ")),
            );
            for v in r.versions.iter().filter(|v| v.is_deprecated()) {
                let sev = if *v == TlsVersion::Ssl3 {
                    Severity::High
                } else {
                    Severity::Medium
                };
                push(
                    p,
                    "tls.deprecated_protocol",
                    v.name().to_string(),
                    format!("Deprecated protocol {v} accepted"),
                    sev,
                    Evidence::new(format!(
                        "ServerHello for {v} in reply to a {v}-only ClientHello"
                    ))
                    .field("version", v.name()),
                );
            }
            for w in &r.weak_ciphers {
                let sev = match w.weakness {
                    Weakness::Null | Weakness::Export | Weakness::Anonymous => Severity::High,
                    Weakness::Rc4 | Weakness::Des => Severity::Medium,
                    Weakness::TripleDes => Severity::Low,
                };
                let vs: Vec<&str> = w.versions.iter().map(|v| v.name()).collect();
                push(
                    p,
                    "tls.weak_cipher",
                    w.name.clone(),
                    format!("Weak cipher suite {}", w.name),
                    sev,
                    Evidence::new(format!(
                        "server chose {} ({:#06x}) when offered only weak suites",
                        w.name, w.id
                    ))
                    .field("cipher", &w.name)
                    .field("weakness", format!("{:?}", w.weakness))
                    .field("versions", vs.join(", ")),
                );
            }
            if let Some(c) = &r.certificate {
                for (check, subject, title, sev, mut e) in cert_findings(c, a.host_name(), now) {
                    if e.bytes_hex.is_none() {
                        e.bytes_hex = r.certificate_hex.clone();
                    }
                    push(p, check, subject, title, sev, e);
                }
            }
        }
        for (port, r) in &h.http {
            let p = Some(*port);
            let mut ev =
                Evidence::new(format!("GET / answered {}", r.status)).field("status", r.status);
            if let Some(s) = &r.server {
                ev = ev.field("server", s);
            }
            if let Some(s) = &r.powered_by {
                ev = ev.field("x_powered_by", s);
            }
            if let Some(t) = &r.title {
                ev = ev.field("title", t);
            }
            push(
                p,
                "http.server",
                String::new(),
                format!(
                    "HTTP server {}",
                    r.server.as_deref().unwrap_or("(no Server header)")
                ),
                Severity::Info,
                ev,
            );
            for ad in &r.admin {
                let mut ev = Evidence::new(format!("GET {} answered {}", ad.path, ad.status))
                    .field("status", ad.status)
                    .field("interface", &ad.name);
                if let Some(t) = &ad.title {
                    ev = ev.field("title", t);
                }
                push(
                    p,
                    "http.admin_interface",
                    ad.path.clone(),
                    format!("Exposed admin interface: {}", ad.name),
                    Severity::Medium,
                    ev,
                );
            }
        }
        for m in &h.eol {
            let sev = if m.confidence == Confidence::Announced {
                Severity::High
            } else {
                Severity::Medium
            };
            push(
                None,
                "eol.os",
                m.entry.id.clone(),
                format!("End-of-life system: {}", m.entry.name),
                sev,
                Evidence::new(format!(
                    "{} ({:?}) from {}",
                    m.observed, m.confidence, m.source
                ))
                .field("end_of_life", m.entry.end_of_life)
                .field("source", &m.source)
                .field("observed", &m.observed),
            );
        }
        out
    }
}

type CertFinding = (&'static str, String, String, Severity, Evidence);

/// Findings about a certificate: expiry, self-signing, name, key, signature.
pub fn cert_findings(c: &CertInfo, host_name: Option<&str>, now: Timestamp) -> Vec<CertFinding> {
    let base = || {
        Evidence::new(String::new())
            .field("subject_cn", c.subject_cn.as_deref().unwrap_or(""))
            .field("issuer_cn", c.issuer_cn.as_deref().unwrap_or(""))
            .field("not_before", c.not_before)
            .field("not_after", c.not_after)
            .field(
                "key",
                format!("{} {}", c.public_key.algorithm, c.public_key.bits),
            )
            .field("serial", &c.serial_hex)
    };
    let with = |s: String| {
        let mut e = base();
        e.summary = s;
        e
    };
    let mut out: Vec<CertFinding> = Vec::new();
    if c.not_after < now {
        out.push((
            "tls.cert_expired",
            String::new(),
            "Certificate expired".into(),
            Severity::High,
            with(format!("notAfter {} is in the past", c.not_after)),
        ));
    } else if c.not_after.0 - now.0 < 30 * 86_400 {
        out.push((
            "tls.cert_expiring",
            String::new(),
            "Certificate expires within 30 days".into(),
            Severity::Low,
            with(format!("notAfter {}", c.not_after)),
        ));
    }
    if c.not_before > now {
        out.push((
            "tls.cert_not_yet_valid",
            String::new(),
            "Certificate not yet valid".into(),
            Severity::Medium,
            with(format!("notBefore {} is in the future", c.not_before)),
        ));
    }
    if c.self_issued {
        out.push((
            "tls.cert_self_signed",
            String::new(),
            "Self-signed certificate".into(),
            Severity::Medium,
            with("issuer equals subject".into()),
        ));
    }
    if let Some(h) = host_name {
        if !c.matches_host(h) {
            out.push((
                "tls.cert_name_mismatch",
                String::new(),
                format!("Certificate does not match {h}"),
                Severity::Medium,
                with(format!(
                    "{h} not in SAN {:?} / CN {:?}",
                    c.dns_names, c.subject_cn
                ))
                .field("host", h),
            ));
        }
    }
    let k = &c.public_key;
    let weak_key = match k.algorithm.as_str() {
        "rsa" | "dsa" => k.bits > 0 && k.bits < 2048,
        "ec" => k.bits > 0 && k.bits < 224,
        _ => false,
    };
    if weak_key {
        out.push((
            "tls.cert_weak_key",
            String::new(),
            format!("Weak {} key ({} bits)", k.algorithm, k.bits),
            Severity::High,
            with(format!("{} key of {} bits", k.algorithm, k.bits)),
        ));
    }
    if c.signature_algorithm.starts_with("md5")
        || c.signature_algorithm.contains("SHA1")
        || c.signature_algorithm.starts_with("sha1")
    {
        out.push((
            "tls.cert_weak_signature",
            String::new(),
            format!("Weak signature algorithm {}", c.signature_algorithm),
            Severity::Medium,
            with(c.signature_algorithm.clone()),
        ));
    }
    out
}

/// Runs `make(job)` for every job, at most `limit` at once, on the current
/// task. Results come back in completion order.
async fn run_bounded<J, F, Fut>(jobs: Vec<J>, limit: usize, mut make: F) -> Vec<Fut::Output>
where
    F: FnMut(J) -> Fut,
    Fut: std::future::Future,
{
    let mut iter = jobs.into_iter();
    let mut active: Vec<std::pin::Pin<Box<Fut>>> = Vec::new();
    let mut out = Vec::new();
    std::future::poll_fn(|cx| loop {
        while active.len() < limit.max(1) {
            match iter.next() {
                Some(j) => active.push(Box::pin(make(j))),
                None => break,
            }
        }
        if active.is_empty() {
            return std::task::Poll::Ready(());
        }
        let mut progressed = false;
        let mut i = 0;
        while i < active.len() {
            if let std::task::Poll::Ready(v) = active[i].as_mut().poll(cx) {
                out.push(v);
                drop(active.swap_remove(i));
                progressed = true;
            } else {
                i += 1;
            }
        }
        if !progressed {
            return std::task::Poll::Pending;
        }
    })
    .await;
    out
}

/// Re-exported for callers that want "no limit".
pub const NO_RATE_LIMIT: u32 = UNLIMITED;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::x509::PublicKeyInfo;

    #[test]
    fn check_ids_map_to_checks() {
        assert_eq!(ScanReport::check_of("smb.v1"), Some(Check::Smb));
        assert_eq!(ScanReport::check_of("smb.ms17_010"), Some(Check::Ms17010));
        assert_eq!(
            ScanReport::check_of("smb.doublepulsar"),
            Some(Check::DoublePulsar)
        );
        assert_eq!(ScanReport::check_of("port.open"), Some(Check::PortScan));
        assert_eq!(ScanReport::check_of("tls.cert_expired"), Some(Check::Tls));
        assert_eq!(ScanReport::check_of("nonsense"), None);
    }

    #[test]
    fn certificate_judgements() {
        let now = Timestamp(2_000_000_000);
        let mut c = CertInfo {
            subject_cn: Some("www.rxh.example".into()),
            issuer_cn: Some("Some CA".into()),
            self_issued: false,
            not_before: Timestamp(now.0 - 86_400),
            not_after: Timestamp(now.0 + 90 * 86_400),
            dns_names: vec!["www.rxh.example".into()],
            ip_addresses: vec![],
            public_key: PublicKeyInfo {
                algorithm: "rsa".into(),
                bits: 2048,
                curve: None,
            },
            signature_algorithm: "sha256WithRSAEncryption".into(),
            serial_hex: "01".into(),
        };
        assert!(cert_findings(&c, Some("www.rxh.example"), now).is_empty());
        c.not_after = Timestamp(now.0 + 5 * 86_400);
        c.public_key = PublicKeyInfo {
            algorithm: "ec".into(),
            bits: 192,
            curve: Some("prime192v1".into()),
        };
        let ids: Vec<&str> = cert_findings(&c, Some("mail.rxh.example"), now)
            .iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(
            ids,
            [
                "tls.cert_expiring",
                "tls.cert_name_mismatch",
                "tls.cert_weak_key"
            ]
        );
    }
}
