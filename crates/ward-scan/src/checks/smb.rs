//! SMB checks over the network: dialect enumeration (as nmap's
//! `smb-protocols`), signing, the MS17-010 safe check (as nmap's
//! `smb-vuln-ms17-010`) and the DoublePulsar probe.

use std::net::SocketAddr;

use serde::Serialize;
use tokio::net::TcpStream;

use crate::finding::hex;
use crate::net::{Connector, ProbeError};
use crate::proto::smb::{self, SmbKind};

/// Largest NetBIOS payload accepted from a target.
const MAX_FRAME: usize = 256 * 1024;

/// Sends one framed request and reads one framed reply payload.
async fn exchange(
    conn: &Connector,
    s: &mut TcpStream,
    addr: SocketAddr,
    req: &[u8],
    stage: &'static str,
) -> Result<Vec<u8>, ProbeError> {
    conn.send(s, addr, req, stage).await?;
    // A peer sending nothing but keep-alives must not hold us forever.
    for _ in 0..16 {
        let mut h = [0u8; 4];
        conn.recv_exact(s, addr, &mut h, stage).await?;
        let (ty, len) = smb::parse_netbios_header(&h);
        if len > MAX_FRAME {
            return Err(ProbeError::TooLarge {
                address: addr,
                len,
                max: MAX_FRAME,
            });
        }
        let mut p = vec![0u8; len];
        conn.recv_exact(s, addr, &mut p, stage).await?;
        // 0x85 is a NetBIOS keep-alive; anything but a session message is skipped.
        if ty == 0 {
            return Ok(p);
        }
    }
    Err(ProbeError::Timeout {
        address: addr,
        stage,
    })
}

/// Signing as negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signing {
    /// The server requires signed messages.
    Required,
    /// The server signs if the client asks.
    Enabled,
    /// The server does not sign.
    Disabled,
}

impl Signing {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Signing::Required => "required",
            Signing::Enabled => "enabled",
            Signing::Disabled => "disabled",
        }
    }
}

/// What an SMB1 NEGOTIATE offering only `NT LM 0.12` got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Smb1Outcome {
    /// SMBv1 accepted (SMB1 reply, WordCount 17, dialect index 0).
    pub accepted: bool,
    /// Human-readable reason for the verdict.
    pub detail: String,
    /// WordCount of the SMB1 reply, if one came.
    pub word_count: Option<u8>,
    /// Dialect index of the SMB1 reply, if one came.
    pub dialect_index: Option<u16>,
    /// SecurityMode byte (0x04 signing enabled, 0x08 required).
    pub security_mode: Option<u8>,
    /// Domain name announced (non-extended security form).
    pub domain: Option<String>,
    /// Server name announced.
    pub server: Option<String>,
    /// Raw reply payload, hex.
    pub reply_hex: Option<String>,
}

/// Dialect enumeration result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmbDialects {
    /// SMB1 outcome.
    pub smb1: Smb1Outcome,
    /// Accepted SMB2/3 dialects, as revision codes, ascending.
    pub smb2: Vec<u16>,
    /// Signing, from the highest SMB2 dialect (or SMB1 if no SMB2).
    pub signing: Option<Signing>,
    /// SMB2 SecurityMode of the highest dialect.
    pub smb2_security_mode: Option<u16>,
    /// Hex of the SMB2 reply for the highest dialect.
    pub smb2_reply_hex: Option<String>,
}

impl SmbDialects {
    /// Dialect list in nmap `smb-protocols` form.
    pub fn nmap_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.smb1.accepted {
            v.push("NT LM 0.12 (SMBv1) [dangerous, but default]".to_string());
        }
        v.extend(self.smb2.iter().map(|d| smb::smb2_dialect_name(*d)));
        v
    }

    /// Highest SMB2 dialect.
    pub fn max_smb2(&self) -> Option<u16> {
        self.smb2.iter().copied().max()
    }
}

/// Offers SMB1 `NT LM 0.12` alone and judges the reply.
pub async fn probe_smb1(conn: &Connector, addr: SocketAddr) -> Result<Smb1Outcome, ProbeError> {
    let mut out = Smb1Outcome {
        accepted: false,
        detail: String::new(),
        word_count: None,
        dialect_index: None,
        security_mode: None,
        domain: None,
        server: None,
        reply_hex: None,
    };
    let mut s = conn.connect(addr).await?;
    let reply = match exchange(
        conn,
        &mut s,
        addr,
        &smb::smb1_negotiate_request(),
        "smb1 negotiate",
    )
    .await
    {
        Ok(r) => r,
        Err(ProbeError::Closed { .. }) => {
            out.detail = "connection closed after SMB1 NEGOTIATE (SMBv1 refused)".into();
            return Ok(out);
        }
        Err(ProbeError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::ConnectionReset =>
        {
            out.detail = "connection reset after SMB1 NEGOTIATE (SMBv1 refused)".into();
            return Ok(out);
        }
        Err(e) => return Err(e),
    };
    out.reply_hex = Some(hex(&reply[..reply.len().min(512)]));
    match smb::smb_kind(&reply) {
        SmbKind::Smb2 => {
            out.detail = "SMB2 reply to an SMB1 NEGOTIATE (SMBv1 refused)".into();
        }
        SmbKind::Other => {
            out.detail = "non-SMB reply to SMB1 NEGOTIATE".into();
        }
        SmbKind::Smb1 => {
            let n = smb::parse_smb1_negotiate(&reply).map_err(|source| ProbeError::Parse {
                address: addr,
                source,
            })?;
            out.word_count = Some(n.word_count);
            out.dialect_index = Some(n.dialect_index);
            out.accepted = n.smb1_accepted();
            if out.accepted {
                out.security_mode = Some(n.security_mode);
                out.domain = Some(n.domain).filter(|d| !d.is_empty());
                out.server = Some(n.server).filter(|d| !d.is_empty());
                out.detail =
                    "SMB1 reply, word count 17, dialect index 0 (NT LM 0.12 accepted)".into();
            } else {
                out.detail = format!(
                    "SMB1 reply with word count {} and dialect index {:#06x} (SMBv1 refused)",
                    n.word_count, n.dialect_index
                );
            }
        }
    }
    Ok(out)
}

/// Offers one SMB2 dialect; returns the parsed reply when it is accepted.
pub async fn probe_smb2_dialect(
    conn: &Connector,
    addr: SocketAddr,
    dialect: u16,
) -> Result<Option<(smb::Smb2Negotiate, Vec<u8>)>, ProbeError> {
    let mut s = conn.connect(addr).await?;
    let mut guid = *b"ward-scan-guid-0";
    guid[15] = dialect as u8;
    let reply = match exchange(
        conn,
        &mut s,
        addr,
        &smb::smb2_negotiate_request(&[dialect], guid),
        "smb2 negotiate",
    )
    .await
    {
        Ok(r) => r,
        Err(ProbeError::Closed { .. }) => return Ok(None),
        Err(ProbeError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::ConnectionReset =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    if smb::smb_kind(&reply) != SmbKind::Smb2 {
        return Ok(None);
    }
    let n = smb::parse_smb2_negotiate(&reply).map_err(|source| ProbeError::Parse {
        address: addr,
        source,
    })?;
    Ok((n.status == 0 && n.dialect == dialect).then_some((n, reply)))
}

/// Enumerates dialects: SMB1 once, then one NEGOTIATE per SMB2/3 dialect,
/// each on a fresh connection (as nmap's `smb-protocols`).
pub async fn enumerate_dialects(
    conn: &Connector,
    addr: SocketAddr,
) -> Result<SmbDialects, ProbeError> {
    let smb1 = probe_smb1(conn, addr).await?;
    let mut smb2 = Vec::new();
    let mut best: Option<(smb::Smb2Negotiate, Vec<u8>)> = None;
    for d in smb::SMB2_DIALECTS {
        if let Some(r) = probe_smb2_dialect(conn, addr, d).await? {
            smb2.push(d);
            best = Some(r);
        }
    }
    let (signing, smb2_security_mode, smb2_reply_hex) = match &best {
        Some((n, raw)) => {
            let s = if n.security_mode & 0x02 != 0 {
                Signing::Required
            } else if n.security_mode & 0x01 != 0 {
                Signing::Enabled
            } else {
                Signing::Disabled
            };
            (
                Some(s),
                Some(n.security_mode),
                Some(hex(&raw[..raw.len().min(512)])),
            )
        }
        None => {
            let s = smb1.security_mode.map(|m| {
                if m & 0x08 != 0 {
                    Signing::Required
                } else if m & 0x04 != 0 {
                    Signing::Enabled
                } else {
                    Signing::Disabled
                }
            });
            (s, None, None)
        }
    };
    Ok(SmbDialects {
        smb1,
        smb2,
        signing,
        smb2_security_mode,
        smb2_reply_hex,
    })
}

/// The MS17-010 verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ms17010Verdict {
    /// STATUS_INSUFF_SERVER_RESOURCES to PeekNamedPipe on FID 0.
    Vulnerable,
    /// STATUS_ACCESS_DENIED or STATUS_INVALID_HANDLE.
    Patched,
    /// Anything else, or a step before the transaction failed.
    Unknown,
}

/// MS17-010 check result with the evidence of each step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ms17010Report {
    /// Verdict.
    pub verdict: Ms17010Verdict,
    /// Furthest step reached: negotiate, session_setup, tree_connect, transaction.
    pub reached: &'static str,
    /// Why, in words.
    pub detail: String,
    /// NT status of the transaction reply.
    pub transaction_status: Option<u32>,
    /// NativeOS from the session setup reply.
    pub native_os: Option<String>,
    /// NativeLanMan from the session setup reply.
    pub native_lanman: Option<String>,
    /// DoublePulsar result, when probed: `Some(true)` = implant present.
    pub double_pulsar: Option<bool>,
    /// Multiplex id of the DoublePulsar reply.
    pub double_pulsar_mid: Option<u16>,
    /// Hex of the transaction reply.
    pub transaction_reply_hex: Option<String>,
    /// Hex of the DoublePulsar reply.
    pub double_pulsar_reply_hex: Option<String>,
}

/// Runs the MS17-010 safe check against `addr`, optionally followed by the
/// DoublePulsar probe on the same session. `host` is written in the tree
/// path (`\\host\IPC$`).
pub async fn check_ms17_010(
    conn: &Connector,
    addr: SocketAddr,
    host: &str,
    double_pulsar: bool,
) -> Result<Ms17010Report, ProbeError> {
    let mut rep = Ms17010Report {
        verdict: Ms17010Verdict::Unknown,
        reached: "negotiate",
        detail: String::new(),
        transaction_status: None,
        native_os: None,
        native_lanman: None,
        double_pulsar: None,
        double_pulsar_mid: None,
        transaction_reply_hex: None,
        double_pulsar_reply_hex: None,
    };
    let parse_err = |source| ProbeError::Parse {
        address: addr,
        source,
    };
    let mut s = conn.connect(addr).await?;
    let neg = match exchange(
        conn,
        &mut s,
        addr,
        &smb::smb1_negotiate_request(),
        "ms17-010 negotiate",
    )
    .await
    {
        Ok(r) => r,
        Err(ProbeError::Closed { .. }) => {
            rep.detail = "SMB1 not offered: connection closed after NEGOTIATE".into();
            return Ok(rep);
        }
        Err(e) => return Err(e),
    };
    if smb::smb_kind(&neg) != SmbKind::Smb1
        || !smb::parse_smb1_negotiate(&neg)
            .map_err(parse_err)?
            .smb1_accepted()
    {
        rep.detail = "SMB1 NT LM 0.12 not accepted; MS17-010 needs SMBv1".into();
        return Ok(rep);
    }
    rep.reached = "session_setup";
    let ss = exchange(
        conn,
        &mut s,
        addr,
        &smb::smb1_anonymous_session_setup_request(),
        "ms17-010 session setup",
    )
    .await?;
    let ss = smb::parse_smb1_session_setup(&ss).map_err(parse_err)?;
    rep.native_os = Some(ss.native_os.clone()).filter(|x| !x.is_empty());
    rep.native_lanman = Some(ss.native_lanman.clone()).filter(|x| !x.is_empty());
    if ss.status != smb::status::SUCCESS {
        rep.detail = format!(
            "anonymous session setup refused with status {:#010x}",
            ss.status
        );
        return Ok(rep);
    }
    rep.reached = "tree_connect";
    let tc = exchange(
        conn,
        &mut s,
        addr,
        &smb::smb1_tree_connect_ipc_request(host, ss.uid),
        "ms17-010 tree connect",
    )
    .await?;
    let tc = smb::parse_smb1(&tc).map_err(parse_err)?;
    if tc.header.status != smb::status::SUCCESS {
        rep.detail = format!(
            "tree connect to IPC$ refused with status {:#010x}",
            tc.header.status
        );
        return Ok(rep);
    }
    let (tid, uid) = (tc.header.tid, ss.uid);
    rep.reached = "transaction";
    let tr = exchange(
        conn,
        &mut s,
        addr,
        &smb::smb1_peek_named_pipe_fid0_request(tid, uid),
        "ms17-010 transaction",
    )
    .await?;
    rep.transaction_reply_hex = Some(hex(&tr[..tr.len().min(512)]));
    let st = smb::parse_smb1(&tr).map_err(parse_err)?.header.status;
    rep.transaction_status = Some(st);
    (rep.verdict, rep.detail) = match st {
        smb::status::INSUFF_SERVER_RESOURCES => (
            Ms17010Verdict::Vulnerable,
            "PeekNamedPipe on FID 0 answered STATUS_INSUFF_SERVER_RESOURCES (0xc0000205): MS17-010 not patched".into(),
        ),
        smb::status::ACCESS_DENIED | smb::status::INVALID_HANDLE => (
            Ms17010Verdict::Patched,
            format!("PeekNamedPipe on FID 0 answered {:#010x} ({}): patched", st, if st == smb::status::ACCESS_DENIED { "STATUS_ACCESS_DENIED" } else { "STATUS_INVALID_HANDLE" }),
        ),
        other => (Ms17010Verdict::Unknown, format!("PeekNamedPipe on FID 0 answered {other:#010x}: could not determine")),
    };
    if double_pulsar {
        let dp = exchange(
            conn,
            &mut s,
            addr,
            &smb::smb1_doublepulsar_probe_request(tid, uid),
            "doublepulsar probe",
        )
        .await?;
        rep.double_pulsar_reply_hex = Some(hex(&dp[..dp.len().min(512)]));
        let m = smb::parse_smb1(&dp).map_err(parse_err)?;
        rep.double_pulsar_mid = Some(m.header.mid);
        rep.double_pulsar = Some(m.header.mid == smb::DOUBLEPULSAR_MID);
    }
    Ok(rep)
}
