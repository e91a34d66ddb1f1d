//! ward's one internal event model, shaped after [OCSF](https://schema.ocsf.io).
//!
//! Every record a member sends — a syslog line, a Windows event, a Suricata
//! alert — becomes one [`Event`]:
//!
//! * an [`EventClass`] and [`Activity`] (OCSF class and activity ids);
//! * common fields: [`Timestamp`], organisation, [`Host`], [`User`], source
//!   and destination [`Endpoint`]s, [`Process`], [`File`], [`Url`], DNS
//!   [`Dns`], network [`Network`] details and a detection [`Finding`];
//! * [`Observables`] ([`Observables::iter`] with [`ObservableKind`]): typed lists of IP addresses, domains, URLs, file hashes,
//!   user names and e-mail addresses, for indexing and indicator matching;
//! * the [`Original`] record beside the model, because Sigma rules match the
//!   original field names;
//! * a [`ParseStatus`]: a record that did not parse is still an event, kept
//!   raw and tagged with why.
//!
//! [`Event::to_ecs`] gives an Elastic Common Schema–named view for analysts.
//! The crate is pure types: no I/O.
//!
//! ```
//! use ward_event::{Event, EventClass, Activity, Endpoint, Timestamp};
//!
//! let mut ev = Event::new(EventClass::NetworkActivity, Activity::Traffic, "zeek.conn", "{}");
//! ev.time = Some(Timestamp::parse_iso8601("2024-05-01T10:00:00Z", true).unwrap());
//! ev.src = Some(Endpoint::ip("10.0.0.5".parse().unwrap()).with_port(49152));
//! ev.dst = Some(Endpoint::ip("203.0.113.7".parse().unwrap()).with_port(445));
//! ev.collect_observables();
//! assert_eq!(ev.observables.ips.len(), 2);
//! let ecs = ev.to_ecs();
//! assert_eq!(ecs["destination"]["port"], 445);
//! assert_eq!(ecs["event"]["category"][0], "network");
//! ```

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

mod ecs;
pub mod time;

pub use time::{TimeError, Timestamp};

/// OCSF event class. The numeric id is [`EventClass::uid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventClass {
    /// OCSF 0: Base Event — anything that fits no more specific class.
    BaseEvent,
    /// OCSF 1001: File System Activity.
    FileSystemActivity,
    /// OCSF 1005: Module Activity (image/DLL load).
    ModuleActivity,
    /// OCSF 1006: Scheduled Job Activity.
    ScheduledJobActivity,
    /// OCSF 1007: Process Activity.
    ProcessActivity,
    /// OCSF 201001: Registry Key Activity (Windows extension).
    RegistryKeyActivity,
    /// OCSF 2004: Detection Finding (IDS alerts, Zeek notices, threat logs).
    DetectionFinding,
    /// OCSF 3001: Account Change.
    AccountChange,
    /// OCSF 3002: Authentication.
    Authentication,
    /// OCSF 4001: Network Activity (flows, connections, firewall decisions).
    NetworkActivity,
    /// OCSF 4002: HTTP Activity.
    HttpActivity,
    /// OCSF 4003: DNS Activity.
    DnsActivity,
    /// OCSF 4006: SMB Activity.
    SmbActivity,
    /// OCSF 1003: Kernel Activity (auditd syscalls and the like).
    KernelActivity,
}

impl EventClass {
    /// The OCSF `class_uid`.
    pub fn uid(self) -> u32 {
        match self {
            EventClass::BaseEvent => 0,
            EventClass::FileSystemActivity => 1001,
            EventClass::KernelActivity => 1003,
            EventClass::ModuleActivity => 1005,
            EventClass::ScheduledJobActivity => 1006,
            EventClass::ProcessActivity => 1007,
            EventClass::RegistryKeyActivity => 201_001,
            EventClass::DetectionFinding => 2004,
            EventClass::AccountChange => 3001,
            EventClass::Authentication => 3002,
            EventClass::NetworkActivity => 4001,
            EventClass::HttpActivity => 4002,
            EventClass::DnsActivity => 4003,
            EventClass::SmbActivity => 4006,
        }
    }

    /// The OCSF `class_name`.
    pub fn name(self) -> &'static str {
        match self {
            EventClass::BaseEvent => "Base Event",
            EventClass::FileSystemActivity => "File System Activity",
            EventClass::KernelActivity => "Kernel Activity",
            EventClass::ModuleActivity => "Module Activity",
            EventClass::ScheduledJobActivity => "Scheduled Job Activity",
            EventClass::ProcessActivity => "Process Activity",
            EventClass::RegistryKeyActivity => "Registry Key Activity",
            EventClass::DetectionFinding => "Detection Finding",
            EventClass::AccountChange => "Account Change",
            EventClass::Authentication => "Authentication",
            EventClass::NetworkActivity => "Network Activity",
            EventClass::HttpActivity => "HTTP Activity",
            EventClass::DnsActivity => "DNS Activity",
            EventClass::SmbActivity => "SMB Activity",
        }
    }

    /// The OCSF `category_uid` the class belongs to.
    pub fn category_uid(self) -> u32 {
        match self.uid() {
            0 => 0,
            201_001 => 1,
            n => n / 1000,
        }
    }
}

/// What happened, in the class's own terms. OCSF numbers activities per
/// class; [`Activity::id`] resolves the number for a given class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// Not known.
    Unknown,
    /// Created (file, process, account, registry key, finding).
    Create,
    /// Read or accessed.
    Read,
    /// Modified.
    Update,
    /// Deleted.
    Delete,
    /// Renamed.
    Rename,
    /// Process launched.
    Launch,
    /// Process terminated.
    Terminate,
    /// Module loaded.
    Load,
    /// Remote thread / memory injection into another process.
    Inject,
    /// Logon.
    Logon,
    /// Logoff.
    Logoff,
    /// Kerberos or other authentication ticket request.
    AuthenticationTicket,
    /// Connection opened.
    Open,
    /// Connection closed.
    Close,
    /// Connection refused / blocked.
    Refuse,
    /// Traffic summary (flow record).
    Traffic,
    /// DNS query.
    Query,
    /// DNS response.
    Response,
    /// HTTP request (see [`Http::method`] for the verb).
    HttpRequest,
    /// Password changed or reset.
    PasswordChange,
    /// Account enabled.
    Enable,
    /// Account disabled.
    Disable,
    /// Anything else the class knows.
    Other,
}

impl Activity {
    /// The OCSF `activity_id` of this activity within `class`.
    pub fn id(self, class: EventClass) -> u32 {
        use Activity as A;
        use EventClass as C;
        match (class, self) {
            (_, A::Unknown) => 0,
            (_, A::Other) => 99,
            (C::FileSystemActivity, A::Create) => 1,
            (C::FileSystemActivity, A::Read) => 2,
            (C::FileSystemActivity, A::Update) => 3,
            (C::FileSystemActivity, A::Delete) => 4,
            (C::FileSystemActivity, A::Rename) => 5,
            (C::ProcessActivity, A::Launch) => 1,
            (C::ProcessActivity, A::Terminate) => 2,
            (C::ProcessActivity, A::Read) => 3,
            (C::ProcessActivity, A::Inject) => 4,
            (C::ModuleActivity, A::Load) => 1,
            (C::RegistryKeyActivity, A::Create) => 1,
            (C::RegistryKeyActivity, A::Read) => 2,
            (C::RegistryKeyActivity, A::Update) => 3,
            (C::RegistryKeyActivity, A::Delete) => 4,
            (C::RegistryKeyActivity, A::Rename) => 5,
            (C::ScheduledJobActivity, A::Create) => 1,
            (C::ScheduledJobActivity, A::Update) => 2,
            (C::ScheduledJobActivity, A::Delete) => 3,
            (C::ScheduledJobActivity, A::Enable) => 4,
            (C::ScheduledJobActivity, A::Disable) => 5,
            (C::DetectionFinding, A::Create) => 1,
            (C::DetectionFinding, A::Update) => 2,
            (C::AccountChange, A::Create) => 1,
            (C::AccountChange, A::Enable) => 2,
            (C::AccountChange, A::PasswordChange) => 3,
            (C::AccountChange, A::Delete) => 6,
            (C::AccountChange, A::Disable) => 5,
            (C::Authentication, A::Logon) => 1,
            (C::Authentication, A::Logoff) => 2,
            (C::Authentication, A::AuthenticationTicket) => 3,
            (C::NetworkActivity, A::Open) => 1,
            (C::NetworkActivity, A::Close) => 2,
            (C::NetworkActivity, A::Refuse) => 5,
            (C::NetworkActivity, A::Traffic) => 6,
            (C::HttpActivity, A::HttpRequest) => 99,
            (C::DnsActivity, A::Query) => 1,
            (C::DnsActivity, A::Response) => 2,
            (C::DnsActivity, A::Traffic) => 6,
            (C::SmbActivity, A::Read) => 1,
            (C::SmbActivity, A::Update) => 2,
            (C::SmbActivity, A::Open) => 5,
            (C::SmbActivity, A::Delete) => 6,
            (C::SmbActivity, A::Traffic) => 99,
            (C::KernelActivity, A::Create) => 1,
            (C::KernelActivity, A::Read) => 2,
            (C::KernelActivity, A::Delete) => 3,
            _ => 99,
        }
    }
}

/// OCSF `severity_id`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// 0
    #[default]
    Unknown,
    /// 1
    Informational,
    /// 2
    Low,
    /// 3
    Medium,
    /// 4
    High,
    /// 5
    Critical,
    /// 6
    Fatal,
}

impl Severity {
    /// OCSF `severity_id`.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// From a syslog severity (0 emergency … 7 debug).
    pub fn from_syslog(sev: u8) -> Severity {
        match sev {
            0 => Severity::Fatal,
            1 => Severity::Critical,
            2 => Severity::High,
            3 => Severity::Medium,
            4 => Severity::Low,
            _ => Severity::Informational,
        }
    }
}

/// Whether the action the event describes succeeded (OCSF `status_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Succeeded.
    Success,
    /// Failed.
    Failure,
}

/// What a control did with the traffic or action (OCSF `disposition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Allowed through.
    Allowed,
    /// Blocked / denied (the sender may have been told).
    Blocked,
    /// Dropped silently.
    Dropped,
    /// Reset.
    Reset,
    /// Only detected/logged.
    Detected,
}

/// A host that reported or is described by the event (OCSF `device`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// Host name as reported (FQDN or short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// An address of the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// Operating system or product that emitted the record (e.g. `FortiGate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

/// A user (OCSF `user` / `actor.user`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Account name without domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Windows domain or realm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// SID or numeric uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// A network endpoint (OCSF `src_endpoint` / `dst_endpoint`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// Port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Host name, when the record names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Interface or zone the traffic used on this side (firewalls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Address after NAT, when the firewall says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_ip: Option<IpAddr>,
    /// Port after NAT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_port: Option<u16>,
}

impl Endpoint {
    /// An endpoint known by its address only.
    pub fn ip(ip: IpAddr) -> Endpoint {
        Endpoint {
            ip: Some(ip),
            ..Endpoint::default()
        }
    }

    /// Builder: set the port.
    pub fn with_port(mut self, port: u16) -> Endpoint {
        self.port = Some(port);
        self
    }
}

/// A process (OCSF `process`), with its parent flattened in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// Process id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    /// Full path of the executable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Executable name (last path component).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd_line: Option<String>,
    /// Sysmon ProcessGuid or similar unique id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Parent process id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_pid: Option<u64>,
    /// Parent executable path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_path: Option<String>,
    /// Parent command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_cmd_line: Option<String>,
}

/// Hash algorithm of a [`FileHash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgorithm {
    /// MD5 (32 hex).
    Md5,
    /// SHA-1 (40 hex).
    Sha1,
    /// SHA-256 (64 hex).
    Sha256,
    /// SHA-512 (128 hex).
    Sha512,
    /// Windows import hash (MD5-sized).
    Imphash,
}

impl HashAlgorithm {
    /// Lower-case name as used in ECS (`file.hash.<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "md5",
            HashAlgorithm::Sha1 => "sha1",
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sha512 => "sha512",
            HashAlgorithm::Imphash => "imphash",
        }
    }

    /// Guess the algorithm from a hex digest's length.
    pub fn from_hex_len(len: usize) -> Option<HashAlgorithm> {
        match len {
            32 => Some(HashAlgorithm::Md5),
            40 => Some(HashAlgorithm::Sha1),
            64 => Some(HashAlgorithm::Sha256),
            128 => Some(HashAlgorithm::Sha512),
            _ => None,
        }
    }
}

/// A file digest, lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileHash {
    /// Algorithm.
    pub algorithm: HashAlgorithm,
    /// Lower-case hex digest.
    pub value: String,
}

impl FileHash {
    /// A hash if `hex` is hexadecimal of a known length (normalised to lower case).
    pub fn from_hex(hex: &str) -> Option<FileHash> {
        let hex = hex.trim();
        let algorithm = HashAlgorithm::from_hex_len(hex.len())?;
        hex.bytes()
            .all(|b| b.is_ascii_hexdigit())
            .then(|| FileHash {
                algorithm,
                value: hex.to_ascii_lowercase(),
            })
    }
}

/// A file (OCSF `file`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// Full path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// File name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Digests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<FileHash>,
}

/// A URL (OCSF `url`), split as far as the record allows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Url {
    /// The whole URL as seen (may be only a path for access logs).
    pub full: String,
    /// Host name part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Path part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Query string without `?`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

impl Url {
    /// Split a URL or request target into its parts without allocating more
    /// than the parts themselves.
    pub fn parse(full: &str, host_hint: Option<&str>) -> Url {
        let (mut hostname, rest) = match full.find("://") {
            Some(i) => {
                let after = &full[i + 3..];
                let end = after.find(['/', '?', '#']).unwrap_or(after.len());
                let authority = &after[..end];
                let host = authority.rsplit('@').next().unwrap_or(authority);
                let host = match host.strip_prefix('[') {
                    Some(v6) => v6.split(']').next().unwrap_or(v6),
                    None => host.split(':').next().unwrap_or(host),
                };
                (Some(host.to_ascii_lowercase()), &after[end..])
            }
            None => (None, full),
        };
        if hostname.as_deref().is_none_or(str::is_empty) {
            hostname = host_hint
                .filter(|h| !h.is_empty() && *h != "-")
                .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase());
        }
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (rest, None),
        };
        Url {
            full: full.to_string(),
            hostname,
            path: (!path.is_empty()).then(|| path.to_string()),
            query,
        }
    }
}

/// HTTP request/response details (OCSF `http_request`/`http_response`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Http {
    /// Method (`GET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Response status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// User-Agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Referer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// Response body bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_bytes: Option<u64>,
    /// Protocol version (`HTTP/1.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// DNS details (OCSF `query` / `answers`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// Queried name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Query type (`A`, `AAAA`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qtype: Option<String>,
    /// Response code (`NOERROR`, `NXDOMAIN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcode: Option<String>,
    /// Answer data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<String>,
}

/// Network-level details (OCSF `connection_info`, `traffic`, `tls`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Transport protocol, lower case (`tcp`, `udp`, `icmp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// Application protocol, lower case (`smb`, `http`, `dns`, `tls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Bytes sent by the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_out: Option<u64>,
    /// Bytes sent by the destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_in: Option<u64>,
    /// Packets in both directions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packets: Option<u64>,
    /// Flow / connection id (Suricata `flow_id`, Zeek `uid`, session id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<String>,
    /// Flow direction as the sensor reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// TLS server name (SNI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_sni: Option<String>,
    /// TLS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    /// Certificate subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_subject: Option<String>,
    /// JA3 client fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ja3: Option<String>,
    /// Firewall rule / policy name or id that matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// A detection made by the sending device (IDS alert, threat log, notice).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Rule / signature title.
    pub title: String,
    /// Rule id (Suricata `signature_id`, Palo Alto threat id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// Observables extracted into typed, de-duplicated lists. These are what the
/// observable index stores and what indicators are matched against.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observables {
    /// IP addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpAddr>,
    /// Domain names, lower case, without trailing dot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    /// URLs as seen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// File hashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<FileHash>,
    /// User names (without domain).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// E-mail addresses, lower case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
}

/// The kind of an observable, for indexing and indicator matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObservableKind {
    /// IP address.
    Ip,
    /// Domain name.
    Domain,
    /// URL.
    Url,
    /// File hash (any algorithm).
    Hash,
    /// User name.
    User,
    /// E-mail address.
    Email,
}

impl ObservableKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ObservableKind::Ip => "ip",
            ObservableKind::Domain => "domain",
            ObservableKind::Url => "url",
            ObservableKind::Hash => "hash",
            ObservableKind::User => "user",
            ObservableKind::Email => "email",
        }
    }
}

impl Observables {
    /// Every observable as (kind, canonical text): IPs in their standard
    /// form, domains and e-mails lower case, hashes lower-case hex. This is
    /// what an observable index stores and an indicator lookup compares.
    pub fn iter(&self) -> impl Iterator<Item = (ObservableKind, std::borrow::Cow<'_, str>)> + '_ {
        use std::borrow::Cow;
        let ips = self
            .ips
            .iter()
            .map(|i| (ObservableKind::Ip, Cow::Owned(i.to_string())));
        let domains = self
            .domains
            .iter()
            .map(|d| (ObservableKind::Domain, Cow::Borrowed(d.as_str())));
        let urls = self
            .urls
            .iter()
            .map(|u| (ObservableKind::Url, Cow::Borrowed(u.as_str())));
        let hashes = self
            .hashes
            .iter()
            .map(|h| (ObservableKind::Hash, Cow::Borrowed(h.value.as_str())));
        let users = self
            .users
            .iter()
            .map(|u| (ObservableKind::User, Cow::Borrowed(u.as_str())));
        let emails = self
            .emails
            .iter()
            .map(|e| (ObservableKind::Email, Cow::Borrowed(e.as_str())));
        ips.chain(domains)
            .chain(urls)
            .chain(hashes)
            .chain(users)
            .chain(emails)
    }

    /// Add an IP address once.
    pub fn add_ip(&mut self, ip: IpAddr) {
        if !self.ips.contains(&ip) {
            self.ips.push(ip);
        }
    }

    /// Add a domain once (normalised: lower case, no trailing dot). Values
    /// that are IP literals go to [`Observables::ips`] instead; values that
    /// are not plausible names are ignored.
    pub fn add_domain(&mut self, d: &str) {
        let d = d.trim().trim_end_matches('.');
        if d.is_empty() || d == "-" {
            return;
        }
        if let Ok(ip) = d.parse::<IpAddr>() {
            self.add_ip(ip);
            return;
        }
        if !d.contains('.')
            || !d
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return;
        }
        if !self.domains.iter().any(|x| x.eq_ignore_ascii_case(d)) {
            self.domains.push(d.to_ascii_lowercase());
        }
    }

    /// Add a URL once.
    pub fn add_url(&mut self, u: &str) {
        if !u.is_empty() && u != "-" && !self.urls.iter().any(|x| x == u) {
            self.urls.push(u.to_string());
        }
    }

    /// Add a hash once.
    pub fn add_hash(&mut self, h: FileHash) {
        if !self.hashes.contains(&h) {
            self.hashes.push(h);
        }
    }

    /// Add a user name once (domain prefix `DOM\` and `@realm` suffix kept
    /// off: the name is what correlates across sources).
    pub fn add_user(&mut self, u: &str) {
        let u = u.trim();
        let u = u.rsplit('\\').next().unwrap_or(u);
        if u.is_empty() || u == "-" || u == "(unknown)" {
            return;
        }
        if u.contains('@') && u.contains('.') {
            self.add_email(u);
        }
        if !self.users.iter().any(|x| x == u) {
            self.users.push(u.to_string());
        }
    }

    /// Add an e-mail address once (lower case).
    pub fn add_email(&mut self, e: &str) {
        let e = e.trim();
        if e.contains('@') && !self.emails.iter().any(|x| x.eq_ignore_ascii_case(e)) {
            self.emails.push(e.to_ascii_lowercase());
        }
    }

    /// True when no list holds anything.
    pub fn is_empty(&self) -> bool {
        self.ips.is_empty()
            && self.domains.is_empty()
            && self.urls.is_empty()
            && self.hashes.is_empty()
            && self.users.is_empty()
            && self.emails.is_empty()
    }
}

/// The record as it arrived, kept beside the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Original {
    /// Format id of the parser that produced the event (`suricata.eve`,
    /// `syslog.rfc5424`, `windows.evtx_json`…), or `raw` when none did.
    pub format: String,
    /// The record text exactly as received (lossily decoded as UTF-8).
    pub raw: String,
    /// Field names and values as the source names them, for Sigma. For JSON
    /// formats this is `None` and [`Original::fields`] parses `raw` on demand
    /// (ingest stays fast; detection pays only when it looks). Key–value and
    /// Windows formats fill it (Windows flattened the way Sigma expects:
    /// `EventID`, `Channel`, and the `EventData` names at top level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Map<String, Value>>,
}

impl Original {
    /// The original field map: the stored one, or `raw` parsed as a JSON object.
    pub fn fields(&self) -> Option<std::borrow::Cow<'_, Map<String, Value>>> {
        if let Some(f) = &self.fields {
            return Some(std::borrow::Cow::Borrowed(f));
        }
        match serde_json::from_str::<Value>(&self.raw) {
            Ok(Value::Object(m)) => Some(std::borrow::Cow::Owned(m)),
            _ => None,
        }
    }
}

/// Whether the record was understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ParseStatus {
    /// Parsed into the model.
    Parsed,
    /// Not parsed: kept raw. `code` is the parser's stable error code
    /// (e.g. `WF0101`), `reason` says what was wrong and where.
    Raw {
        /// Stable error code.
        code: String,
        /// Human-readable reason, with the position.
        reason: String,
    },
}

/// One event in ward's model. See the crate documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// OCSF class.
    pub class: EventClass,
    /// OCSF activity within the class.
    pub activity: Activity,
    /// When it happened, per the record (not when ward received it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Timestamp>,
    /// Member organisation (ODS code), set by ingest, never by the parser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// Severity.
    #[serde(default)]
    pub severity: Severity,
    /// Outcome of the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// What a control did (firewall/IDS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Disposition>,
    /// Source-specific event type/code (`4624`, `alert`, `TRAFFIC`, `SYSCALL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The host that reported the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Host>,
    /// The user the event is about (target user for logons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// Source endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<Endpoint>,
    /// Destination endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<Endpoint>,
    /// Network details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// Process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    /// File.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    /// URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    /// HTTP details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<Http>,
    /// DNS details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Dns>,
    /// A detection made by the sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<Finding>,
    /// Observables.
    #[serde(default, skip_serializing_if = "Observables::is_empty")]
    pub observables: Observables,
    /// The original record.
    pub original: Original,
    /// Parsed, or raw with why.
    pub parse_status: ParseStatus,
}

impl Event {
    /// A parsed event of the given class with only the original record set.
    pub fn new(
        class: EventClass,
        activity: Activity,
        format: &str,
        raw: impl Into<String>,
    ) -> Event {
        Event {
            class,
            activity,
            time: None,
            org: None,
            severity: Severity::Unknown,
            outcome: None,
            disposition: None,
            type_name: None,
            message: None,
            host: None,
            user: None,
            src: None,
            dst: None,
            network: None,
            process: None,
            file: None,
            url: None,
            http: None,
            dns: None,
            finding: None,
            observables: Observables::default(),
            original: Original {
                format: format.to_string(),
                raw: raw.into(),
                fields: None,
            },
            parse_status: ParseStatus::Parsed,
        }
    }

    /// A record that did not parse: a [`EventClass::BaseEvent`] carrying the
    /// raw text and why. Never drop a record; make one of these.
    pub fn raw(format: &str, raw: impl Into<String>, code: &str, reason: String) -> Event {
        let mut ev = Event::new(EventClass::BaseEvent, Activity::Unknown, format, raw);
        ev.parse_status = ParseStatus::Raw {
            code: code.to_string(),
            reason,
        };
        ev
    }

    /// True when the record parsed.
    pub fn is_parsed(&self) -> bool {
        self.parse_status == ParseStatus::Parsed
    }

    /// Mutable access to the host, created empty if absent.
    pub fn host_mut(&mut self) -> &mut Host {
        self.host.get_or_insert_with(Host::default)
    }
    /// Mutable access to the user, created empty if absent.
    pub fn user_mut(&mut self) -> &mut User {
        self.user.get_or_insert_with(User::default)
    }
    /// Mutable access to the source endpoint, created empty if absent.
    pub fn src_mut(&mut self) -> &mut Endpoint {
        self.src.get_or_insert_with(Endpoint::default)
    }
    /// Mutable access to the destination endpoint, created empty if absent.
    pub fn dst_mut(&mut self) -> &mut Endpoint {
        self.dst.get_or_insert_with(Endpoint::default)
    }
    /// Mutable access to network details, created empty if absent.
    pub fn network_mut(&mut self) -> &mut Network {
        self.network.get_or_insert_with(Network::default)
    }
    /// Mutable access to the process, created empty if absent.
    pub fn process_mut(&mut self) -> &mut Process {
        self.process.get_or_insert_with(Process::default)
    }
    /// Mutable access to the file, created empty if absent.
    pub fn file_mut(&mut self) -> &mut File {
        self.file.get_or_insert_with(File::default)
    }
    /// Mutable access to HTTP details, created empty if absent.
    pub fn http_mut(&mut self) -> &mut Http {
        self.http.get_or_insert_with(Http::default)
    }
    /// Mutable access to DNS details, created empty if absent.
    pub fn dns_mut(&mut self) -> &mut Dns {
        self.dns.get_or_insert_with(Dns::default)
    }

    /// Fill [`Event::observables`] from the common fields (addresses, user,
    /// URL, DNS query and answers, TLS SNI, file hashes). Parsers call this
    /// last; they may add format-specific observables before or after.
    pub fn collect_observables(&mut self) {
        let o = &mut self.observables;
        for ep in [&self.src, &self.dst].into_iter().flatten() {
            if let Some(ip) = ep.ip {
                o.add_ip(ip);
            }
            if let Some(ip) = ep.nat_ip {
                o.add_ip(ip);
            }
            if let Some(h) = &ep.hostname {
                o.add_domain(h);
            }
        }
        if let Some(h) = &self.host {
            if let Some(ip) = h.ip {
                o.add_ip(ip);
            }
        }
        if let Some(u) = self.user.as_ref().and_then(|u| u.name.as_deref()) {
            o.add_user(u);
        }
        if let Some(u) = &self.url {
            if u.full.contains("://") {
                o.add_url(&u.full);
            } else if let Some(h) = &u.hostname {
                // An access-log request target only becomes a URL with its host.
                o.add_url(&format!("http://{h}{}", u.full));
            }
            if let Some(h) = &u.hostname {
                o.add_domain(h);
            }
        }
        if let Some(d) = &self.dns {
            if let Some(q) = &d.query {
                o.add_domain(q);
            }
            for a in &d.answers {
                match a.parse::<IpAddr>() {
                    Ok(ip) => o.add_ip(ip),
                    Err(_) => o.add_domain(a),
                }
            }
        }
        if let Some(sni) = self.network.as_ref().and_then(|n| n.tls_sni.as_deref()) {
            o.add_domain(sni);
        }
        if let Some(f) = &self.file {
            for h in &f.hashes {
                o.add_hash(h.clone());
            }
        }
    }

    /// The ECS-named view (`@timestamp`, `event.*`, `source.*`, …) for analysts.
    pub fn to_ecs(&self) -> Value {
        ecs::to_ecs(self)
    }

    /// The OCSF envelope numbers: `class_uid`, `category_uid`,
    /// `activity_id`, `type_uid`, `severity_id`.
    pub fn ocsf_ids(&self) -> Value {
        let class_uid = self.class.uid();
        let activity_id = self.activity.id(self.class);
        json!({
            "class_uid": class_uid,
            "class_name": self.class.name(),
            "category_uid": self.class.category_uid(),
            "activity_id": activity_id,
            "type_uid": u64::from(class_uid) * 100 + u64::from(activity_id),
            "severity_id": self.severity.id(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_round_trip() {
        let mut ev = Event::new(
            EventClass::DnsActivity,
            Activity::Query,
            "zeek.dns",
            "{\"query\":\"Example.COM.\"}",
        );
        ev.dns_mut().query = Some("Example.COM.".into());
        ev.dns_mut().answers = vec!["93.184.216.34".into(), "cdn.example.net".into()];
        ev.collect_observables();
        assert_eq!(
            ev.observables.domains,
            vec!["example.com", "cdn.example.net"]
        );
        assert_eq!(
            ev.observables.ips,
            vec!["93.184.216.34".parse::<IpAddr>().unwrap()]
        );
        let s = serde_json::to_string(&ev).unwrap();
        let back: Event = serde_json::from_str(&s).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn raw_event_keeps_reason() {
        let ev = Event::raw(
            "cef",
            "CEF:garbage",
            "WF0401",
            "bad header at byte 4".into(),
        );
        assert!(!ev.is_parsed());
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["parse_status"]["status"], "raw");
        assert_eq!(v["parse_status"]["code"], "WF0401");
        assert_eq!(ev.to_ecs()["ward"]["parse_status"], "raw");
    }

    #[test]
    fn ocsf_ids() {
        let ev = Event::new(EventClass::Authentication, Activity::Logon, "x", "");
        let ids = ev.ocsf_ids();
        assert_eq!(ids["type_uid"], 300_201);
        assert_eq!(ids["category_uid"], 3);
    }

    #[test]
    fn url_split() {
        let u = Url::parse("https://user@Example.org:8443/a/b?x=1", None);
        assert_eq!(u.hostname.as_deref(), Some("example.org"));
        assert_eq!(u.path.as_deref(), Some("/a/b"));
        assert_eq!(u.query.as_deref(), Some("x=1"));
        let u = Url::parse("/index.php?id=1", Some("www.nhs.test:80"));
        assert_eq!(u.hostname.as_deref(), Some("www.nhs.test"));
    }

    #[test]
    fn hashes_and_users() {
        assert!(FileHash::from_hex("zz").is_none());
        let h = FileHash::from_hex("DB349B97C37D22F5EA1D1841E3C89EB4").unwrap();
        assert_eq!(h.algorithm, HashAlgorithm::Md5);
        assert_eq!(h.value, "db349b97c37d22f5ea1d1841e3c89eb4");
        let mut o = Observables::default();
        o.add_user("NHSTRUST\\jsmith");
        o.add_user("-");
        assert_eq!(o.users, vec!["jsmith"]);
    }
}
