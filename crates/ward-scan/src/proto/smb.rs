//! SMB1 and SMB2 messages for dialect enumeration, the MS17-010 safe check
//! and the DoublePulsar probe. Builders produce complete NetBIOS-framed
//! requests; parsers take one NetBIOS payload (without the 4-byte header).

use super::{ascii_z, utf16le_z, ParseError, Reader};

/// SMB1 command codes used here.
pub mod cmd {
    /// SMB_COM_NEGOTIATE.
    pub const NEGOTIATE: u8 = 0x72;
    /// SMB_COM_SESSION_SETUP_ANDX.
    pub const SESSION_SETUP_ANDX: u8 = 0x73;
    /// SMB_COM_TREE_CONNECT_ANDX.
    pub const TREE_CONNECT_ANDX: u8 = 0x75;
    /// SMB_COM_TRANSACTION.
    pub const TRANSACTION: u8 = 0x25;
    /// SMB_COM_TRANSACTION2.
    pub const TRANSACTION2: u8 = 0x32;
}

/// NT status codes the checks interpret.
pub mod status {
    /// STATUS_SUCCESS.
    pub const SUCCESS: u32 = 0;
    /// STATUS_INSUFF_SERVER_RESOURCES: MS17-010 not patched.
    pub const INSUFF_SERVER_RESOURCES: u32 = 0xC000_0205;
    /// STATUS_ACCESS_DENIED.
    pub const ACCESS_DENIED: u32 = 0xC000_0022;
    /// STATUS_INVALID_HANDLE.
    pub const INVALID_HANDLE: u32 = 0xC000_0008;
    /// STATUS_NOT_IMPLEMENTED (DoublePulsar's reply status).
    pub const NOT_IMPLEMENTED: u32 = 0xC000_0002;
    /// STATUS_MORE_PROCESSING_REQUIRED.
    pub const MORE_PROCESSING_REQUIRED: u32 = 0xC000_0016;
}

/// The multiplex id DoublePulsar answers with (request MID 65 + 16).
pub const DOUBLEPULSAR_MID: u16 = 81;
/// The multiplex id of the DoublePulsar probe request.
pub const DOUBLEPULSAR_REQUEST_MID: u16 = 65;

// flags2: long names | NT status codes. Neither Unicode nor extended
// security: the MS17-010 check logs in anonymously without NTLMSSP, exactly
// as the published checkers do, and ASCII strings keep requests simple.
const FLAGS2: u16 = 0x4001;
const FLAGS: u8 = 0x18;
const PID: u16 = 0xFEFF;

/// SMB2 dialect revisions, in the order nmap lists them.
pub const SMB2_DIALECTS: [u16; 5] = [0x0202, 0x0210, 0x0300, 0x0302, 0x0311];

/// nmap's name for an SMB2 dialect (`0x0202` → `2.0.2`, `0x0210` → `2.1`).
pub fn smb2_dialect_name(d: u16) -> String {
    let (a, b, c) = ((d >> 8) & 0xF, (d >> 4) & 0xF, d & 0xF);
    if c == 0 {
        format!("{a}.{b}")
    } else {
        format!("{a}.{b}.{c}")
    }
}

/// Wraps an SMB payload in a NetBIOS session message header.
pub fn netbios(payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut v = Vec::with_capacity(payload.len() + 4);
    v.push(0);
    v.extend_from_slice(&n.to_be_bytes()[1..]);
    v.extend_from_slice(payload);
    v
}

/// Parses a NetBIOS session header, returning (type, payload length).
pub fn parse_netbios_header(h: &[u8; 4]) -> (u8, usize) {
    let len = (usize::from(h[1] & 1) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
    (h[0], len)
}

fn smb1_header(command: u8, tid: u16, uid: u16, mid: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(32);
    h.extend_from_slice(b"\xffSMB");
    h.push(command);
    h.extend_from_slice(&0u32.to_le_bytes()); // status
    h.push(FLAGS);
    h.extend_from_slice(&FLAGS2.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes()); // PIDHigh
    h.extend_from_slice(&[0u8; 8]); // SecurityFeatures
    h.extend_from_slice(&0u16.to_le_bytes()); // Reserved
    h.extend_from_slice(&tid.to_le_bytes());
    h.extend_from_slice(&PID.to_le_bytes());
    h.extend_from_slice(&uid.to_le_bytes());
    h.extend_from_slice(&mid.to_le_bytes());
    h
}

fn smb1_message(command: u8, tid: u16, uid: u16, mid: u16, words: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut m = smb1_header(command, tid, uid, mid);
    m.push((words.len() / 2) as u8);
    m.extend_from_slice(words);
    m.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    m.extend_from_slice(bytes);
    netbios(&m)
}

/// SMB1 NEGOTIATE offering only `NT LM 0.12`.
pub fn smb1_negotiate_request() -> Vec<u8> {
    smb1_message(cmd::NEGOTIATE, 0, 0, 0, &[], b"\x02NT LM 0.12\x00")
}

/// Anonymous SESSION_SETUP_ANDX (pre-NTLMSSP form, WordCount 13, empty
/// passwords and account).
pub fn smb1_anonymous_session_setup_request() -> Vec<u8> {
    let mut w = Vec::new();
    w.extend_from_slice(&[0xFF, 0x00]); // AndXCommand none, reserved
    w.extend_from_slice(&0u16.to_le_bytes()); // AndXOffset
    w.extend_from_slice(&4356u16.to_le_bytes()); // MaxBufferSize
    w.extend_from_slice(&10u16.to_le_bytes()); // MaxMpxCount
    w.extend_from_slice(&0u16.to_le_bytes()); // VcNumber
    w.extend_from_slice(&0u32.to_le_bytes()); // SessionKey
    w.extend_from_slice(&0u16.to_le_bytes()); // OEMPasswordLen
    w.extend_from_slice(&0u16.to_le_bytes()); // UnicodePasswordLen
    w.extend_from_slice(&0u32.to_le_bytes()); // Reserved
    w.extend_from_slice(&0x0000_0050u32.to_le_bytes()); // CAP_NT_SMBS | CAP_STATUS32
    let b = b"\x00\x00ward\x00ward\x00"; // account "", domain "", NativeOS, NativeLanMan
    smb1_message(cmd::SESSION_SETUP_ANDX, 0, 0, 0, &w, b)
}

/// TREE_CONNECT_ANDX to `\\host\IPC$`.
pub fn smb1_tree_connect_ipc_request(host: &str, uid: u16) -> Vec<u8> {
    let mut w = Vec::new();
    w.extend_from_slice(&[0xFF, 0x00]);
    w.extend_from_slice(&0u16.to_le_bytes());
    w.extend_from_slice(&0u16.to_le_bytes()); // Flags
    w.extend_from_slice(&1u16.to_le_bytes()); // PasswordLength
    let mut b = vec![0u8]; // empty password
    b.extend_from_slice(format!("\\\\{host}\\IPC$").as_bytes());
    b.push(0);
    b.extend_from_slice(b"?????\x00");
    smb1_message(cmd::TREE_CONNECT_ANDX, 0, uid, 0, &w, &b)
}

/// SMB_COM_TRANSACTION PeekNamedPipe on FID 0 (the MS17-010 probe).
pub fn smb1_peek_named_pipe_fid0_request(tid: u16, uid: u16) -> Vec<u8> {
    let mut w = Vec::new();
    w.extend_from_slice(&0u16.to_le_bytes()); // TotalParameterCount
    w.extend_from_slice(&0u16.to_le_bytes()); // TotalDataCount
    w.extend_from_slice(&0xFFFFu16.to_le_bytes()); // MaxParameterCount
    w.extend_from_slice(&0xFFFFu16.to_le_bytes()); // MaxDataCount
    w.extend_from_slice(&[0, 0]); // MaxSetupCount, Reserved1
    w.extend_from_slice(&0u16.to_le_bytes()); // Flags
    w.extend_from_slice(&0u32.to_le_bytes()); // Timeout
    w.extend_from_slice(&0u16.to_le_bytes()); // Reserved2
    w.extend_from_slice(&0u16.to_le_bytes()); // ParameterCount
    w.extend_from_slice(&0x4Au16.to_le_bytes()); // ParameterOffset
    w.extend_from_slice(&0u16.to_le_bytes()); // DataCount
    w.extend_from_slice(&0x4Au16.to_le_bytes()); // DataOffset
    w.extend_from_slice(&[2, 0]); // SetupCount, Reserved3
    w.extend_from_slice(&0x0023u16.to_le_bytes()); // PeekNamedPipe
    w.extend_from_slice(&0u16.to_le_bytes()); // FID 0
    smb1_message(cmd::TRANSACTION, tid, uid, 64, &w, b"\\PIPE\\\x00")
}

/// TRANS2 SESSION_SETUP with multiplex id 65 (the DoublePulsar probe).
pub fn smb1_doublepulsar_probe_request(tid: u16, uid: u16) -> Vec<u8> {
    let mut w = Vec::new();
    w.extend_from_slice(&12u16.to_le_bytes()); // TotalParameterCount
    w.extend_from_slice(&0u16.to_le_bytes()); // TotalDataCount
    w.extend_from_slice(&1u16.to_le_bytes()); // MaxParameterCount
    w.extend_from_slice(&0u16.to_le_bytes()); // MaxDataCount
    w.extend_from_slice(&[0, 0]); // MaxSetupCount, Reserved1
    w.extend_from_slice(&0u16.to_le_bytes()); // Flags
    w.extend_from_slice(&0x0134_ee00u32.to_le_bytes()); // Timeout
    w.extend_from_slice(&0u16.to_le_bytes()); // Reserved2
    w.extend_from_slice(&12u16.to_le_bytes()); // ParameterCount
    w.extend_from_slice(&66u16.to_le_bytes()); // ParameterOffset
    w.extend_from_slice(&0u16.to_le_bytes()); // DataCount
    w.extend_from_slice(&78u16.to_le_bytes()); // DataOffset
    w.extend_from_slice(&[1, 0]); // SetupCount, Reserved3
    w.extend_from_slice(&0x000Eu16.to_le_bytes()); // TRANS2_SESSION_SETUP
    let b = [0u8; 13]; // pad + 12 parameter bytes
    smb1_message(
        cmd::TRANSACTION2,
        tid,
        uid,
        DOUBLEPULSAR_REQUEST_MID,
        &w,
        &b,
    )
}

/// The fixed SMB1 header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Smb1Header {
    /// Command.
    pub command: u8,
    /// NT status.
    pub status: u32,
    /// Flags.
    pub flags: u8,
    /// Flags2.
    pub flags2: u16,
    /// Tree id.
    pub tid: u16,
    /// Process id (low).
    pub pid: u16,
    /// User id.
    pub uid: u16,
    /// Multiplex id.
    pub mid: u16,
}

/// One SMB1 message split into header, parameter words and data bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smb1Message<'a> {
    /// Header.
    pub header: Smb1Header,
    /// WordCount.
    pub word_count: u8,
    /// Parameter words (2 × WordCount bytes).
    pub words: &'a [u8],
    /// Data bytes (ByteCount bytes, or fewer if the message is short and the
    /// server lied; clamped to what was received).
    pub bytes: &'a [u8],
}

/// What kind of SMB message a NetBIOS payload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmbKind {
    /// `\xFFSMB`.
    Smb1,
    /// `\xFESMB`.
    Smb2,
    /// Anything else.
    Other,
}

/// Classifies a payload by its protocol id.
pub fn smb_kind(p: &[u8]) -> SmbKind {
    match p.get(..4) {
        Some(b"\xffSMB") => SmbKind::Smb1,
        Some(b"\xfeSMB") => SmbKind::Smb2,
        _ => SmbKind::Other,
    }
}

/// Parses an SMB1 message.
pub fn parse_smb1(p: &[u8]) -> Result<Smb1Message<'_>, ParseError> {
    let mut r = Reader::new("smb1", p);
    if r.take(4, "protocol id")? != b"\xffSMB" {
        return Err(ParseError {
            protocol: "smb1",
            offset: 0,
            what: "\\xFFSMB protocol id",
        });
    }
    let command = r.u8("command")?;
    let status = r.u32le("status")?;
    let flags = r.u8("flags")?;
    let flags2 = r.u16le("flags2")?;
    r.take(12, "pid high, security features, reserved")?;
    let tid = r.u16le("tid")?;
    let pid = r.u16le("pid")?;
    let uid = r.u16le("uid")?;
    let mid = r.u16le("mid")?;
    let header = Smb1Header {
        command,
        status,
        flags,
        flags2,
        tid,
        pid,
        uid,
        mid,
    };
    // Error replies may carry WordCount 0 and ByteCount 0, or even stop after
    // the header; treat a bare header as an empty body.
    if r.remaining() == 0 {
        return Ok(Smb1Message {
            header,
            word_count: 0,
            words: &[],
            bytes: &[],
        });
    }
    let word_count = r.u8("word count")?;
    let words = r.take(usize::from(word_count) * 2, "parameter words")?;
    let bytes = if r.remaining() >= 2 {
        let n = usize::from(r.u16le("byte count")?);
        let rest = r.rest();
        &rest[..n.min(rest.len())]
    } else {
        &[]
    };
    Ok(Smb1Message {
        header,
        word_count,
        words,
        bytes,
    })
}

/// The fields of an SMB1 NEGOTIATE response that the checks use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smb1Negotiate {
    /// NT status from the header.
    pub status: u32,
    /// WordCount (17 for the NT LM 0.12 form).
    pub word_count: u8,
    /// Index of the selected dialect; 0xFFFF means none.
    pub dialect_index: u16,
    /// SecurityMode (0x04 signing enabled, 0x08 required); 0 if absent.
    pub security_mode: u8,
    /// Server capabilities; 0 if absent.
    pub capabilities: u32,
    /// Server time (FILETIME); 0 if absent.
    pub system_time: u64,
    /// Domain name from the non-extended form, when present.
    pub domain: String,
    /// Server name from the non-extended form, when present.
    pub server: String,
}

impl Smb1Negotiate {
    /// SMBv1 accepted: WordCount 17 and dialect index 0 (our only dialect).
    pub fn smb1_accepted(&self) -> bool {
        self.word_count == 17 && self.dialect_index == 0
    }
}

/// Parses an SMB1 NEGOTIATE response.
pub fn parse_smb1_negotiate(p: &[u8]) -> Result<Smb1Negotiate, ParseError> {
    let m = parse_smb1(p)?;
    let mut r = Reader::new("smb1", m.words);
    let dialect_index = if m.word_count >= 1 {
        r.u16le("dialect index")?
    } else {
        0xFFFF
    };
    let mut n = Smb1Negotiate {
        status: m.header.status,
        word_count: m.word_count,
        dialect_index,
        security_mode: 0,
        capabilities: 0,
        system_time: 0,
        domain: String::new(),
        server: String::new(),
    };
    if m.word_count == 17 {
        n.security_mode = r.u8("security mode")?;
        r.take(2 + 2 + 4 + 4 + 4, "max mpx, vcs, buffer, raw, session key")?;
        n.capabilities = r.u32le("capabilities")?;
        n.system_time = r.u64le("system time")?;
        r.take(2, "time zone")?;
        let challenge_len = usize::from(r.u8("challenge length")?);
        const CAP_EXTENDED_SECURITY: u32 = 0x8000_0000;
        if n.capabilities & CAP_EXTENDED_SECURITY == 0 && m.bytes.len() >= challenge_len {
            let rest = &m.bytes[challenge_len..];
            // Samba answers in UTF-16 whenever it has CAP_UNICODE, even to a
            // client that did not set SMB_FLAGS2_UNICODE; look at the bytes.
            const CAP_UNICODE: u32 = 0x0000_0004;
            let unicode = m.header.flags2 & 0x8000 != 0
                || (n.capabilities & CAP_UNICODE != 0
                    && rest.len() >= 2
                    && rest[0] != 0
                    && rest[1] == 0);
            let (dom, used) = if unicode {
                utf16le_z(rest)
            } else {
                ascii_z(rest)
            };
            n.domain = dom;
            let rest2 = &rest[used.min(rest.len())..];
            n.server = if unicode {
                utf16le_z(rest2).0
            } else {
                ascii_z(rest2).0
            };
        }
    }
    Ok(n)
}

/// Fields of an SMB1 SESSION_SETUP_ANDX response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smb1SessionSetup {
    /// NT status.
    pub status: u32,
    /// User id assigned.
    pub uid: u16,
    /// Action word (bit 0: logged in as guest).
    pub action: u16,
    /// NativeOS string, e.g. `Windows 7 Professional 7601 Service Pack 1`.
    pub native_os: String,
    /// NativeLanMan string.
    pub native_lanman: String,
    /// Primary domain.
    pub primary_domain: String,
}

/// Parses an SMB1 SESSION_SETUP_ANDX response (non-extended form).
pub fn parse_smb1_session_setup(p: &[u8]) -> Result<Smb1SessionSetup, ParseError> {
    let m = parse_smb1(p)?;
    let mut r = Reader::new("smb1", m.words);
    let action = if m.word_count >= 3 {
        r.take(4, "andx")?;
        r.u16le("action")?
    } else {
        0
    };
    let unicode = m.header.flags2 & 0x8000 != 0;
    let mut strings = Vec::new();
    let mut rest = m.bytes;
    if unicode {
        // Unicode strings are 2-byte aligned relative to the SMB header; the
        // data bytes start at 32 + 1 + 2*wc + 2, which is odd when wc is even.
        let start = 32 + 1 + 2 * usize::from(m.word_count) + 2;
        if start % 2 == 1 && !rest.is_empty() {
            rest = &rest[1..];
        }
    }
    for _ in 0..3 {
        let (s, used) = if unicode {
            utf16le_z(rest)
        } else {
            ascii_z(rest)
        };
        strings.push(s);
        rest = &rest[used.min(rest.len())..];
    }
    let mut it = strings.into_iter();
    Ok(Smb1SessionSetup {
        status: m.header.status,
        uid: m.header.uid,
        action,
        native_os: it.next().unwrap_or_default(),
        native_lanman: it.next().unwrap_or_default(),
        primary_domain: it.next().unwrap_or_default(),
    })
}

/// SMB2 NEGOTIATE offering exactly `dialects`. When 3.1.1 is offered the
/// request carries the pre-authentication integrity and encryption contexts
/// that 3.1.1 servers require.
pub fn smb2_negotiate_request(dialects: &[u16], client_guid: [u8; 16]) -> Vec<u8> {
    let mut m = Vec::with_capacity(200);
    m.extend_from_slice(b"\xfeSMB");
    m.extend_from_slice(&64u16.to_le_bytes()); // StructureSize
    m.extend_from_slice(&0u16.to_le_bytes()); // CreditCharge
    m.extend_from_slice(&0u32.to_le_bytes()); // Status
    m.extend_from_slice(&0u16.to_le_bytes()); // Command NEGOTIATE
    m.extend_from_slice(&1u16.to_le_bytes()); // CreditRequest
    m.extend_from_slice(&0u32.to_le_bytes()); // Flags
    m.extend_from_slice(&0u32.to_le_bytes()); // NextCommand
    m.extend_from_slice(&0u64.to_le_bytes()); // MessageId
    m.extend_from_slice(&0u32.to_le_bytes()); // Reserved
    m.extend_from_slice(&0u32.to_le_bytes()); // TreeId
    m.extend_from_slice(&0u64.to_le_bytes()); // SessionId
    m.extend_from_slice(&[0u8; 16]); // Signature
    let has_311 = dialects.contains(&0x0311);
    m.extend_from_slice(&36u16.to_le_bytes()); // StructureSize
    m.extend_from_slice(&(dialects.len() as u16).to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes()); // SecurityMode: signing enabled
    m.extend_from_slice(&0u16.to_le_bytes()); // Reserved
    m.extend_from_slice(&0u32.to_le_bytes()); // Capabilities
    m.extend_from_slice(&client_guid);
    let ctx_off_pos = m.len();
    m.extend_from_slice(&0u32.to_le_bytes()); // NegotiateContextOffset
    m.extend_from_slice(&0u16.to_le_bytes()); // NegotiateContextCount
    m.extend_from_slice(&0u16.to_le_bytes()); // Reserved2
    for d in dialects {
        m.extend_from_slice(&d.to_le_bytes());
    }
    if has_311 {
        while m.len() % 8 != 0 {
            m.push(0);
        }
        let off = m.len() as u32;
        m[ctx_off_pos..ctx_off_pos + 4].copy_from_slice(&off.to_le_bytes());
        m[ctx_off_pos + 4..ctx_off_pos + 6].copy_from_slice(&2u16.to_le_bytes());
        // SMB2_PREAUTH_INTEGRITY_CAPABILITIES: SHA-512, 32-byte salt.
        let mut pre = Vec::new();
        pre.extend_from_slice(&1u16.to_le_bytes());
        pre.extend_from_slice(&32u16.to_le_bytes());
        pre.extend_from_slice(&1u16.to_le_bytes());
        pre.extend_from_slice(&client_guid);
        pre.extend_from_slice(&client_guid);
        push_context(&mut m, 1, &pre);
        while m.len() % 8 != 0 {
            m.push(0);
        }
        // SMB2_ENCRYPTION_CAPABILITIES: AES-128-GCM, AES-128-CCM.
        let mut enc = Vec::new();
        enc.extend_from_slice(&2u16.to_le_bytes());
        enc.extend_from_slice(&2u16.to_le_bytes());
        enc.extend_from_slice(&1u16.to_le_bytes());
        push_context(&mut m, 2, &enc);
    }
    netbios(&m)
}

fn push_context(m: &mut Vec<u8>, ty: u16, data: &[u8]) {
    m.extend_from_slice(&ty.to_le_bytes());
    m.extend_from_slice(&(data.len() as u16).to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes());
    m.extend_from_slice(data);
}

/// Fields of an SMB2 NEGOTIATE response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smb2Negotiate {
    /// NT status.
    pub status: u32,
    /// Command (0 for NEGOTIATE).
    pub command: u16,
    /// SecurityMode: 0x01 signing enabled, 0x02 signing required.
    pub security_mode: u16,
    /// Selected dialect revision.
    pub dialect: u16,
    /// Server GUID.
    pub server_guid: [u8; 16],
    /// Capabilities.
    pub capabilities: u32,
    /// Server time (FILETIME).
    pub system_time: u64,
}

/// Parses an SMB2 NEGOTIATE response. An error response (status ≠ 0, short
/// body) parses with `dialect = 0`.
pub fn parse_smb2_negotiate(p: &[u8]) -> Result<Smb2Negotiate, ParseError> {
    let mut r = Reader::new("smb2", p);
    if r.take(4, "protocol id")? != b"\xfeSMB" {
        return Err(ParseError {
            protocol: "smb2",
            offset: 0,
            what: "\\xFESMB protocol id",
        });
    }
    let hdr_size = r.u16le("structure size")?;
    if hdr_size != 64 {
        return Err(r.err("header structure size 64"));
    }
    r.take(2, "credit charge")?;
    let status = r.u32le("status")?;
    let command = r.u16le("command")?;
    r.take(64 - 14, "rest of header")?;
    let mut n = Smb2Negotiate {
        status,
        command,
        security_mode: 0,
        dialect: 0,
        server_guid: [0; 16],
        capabilities: 0,
        system_time: 0,
    };
    if status != 0 {
        return Ok(n);
    }
    let size = r.u16le("negotiate structure size")?;
    if size != 65 {
        return Err(r.err("negotiate response structure size 65"));
    }
    n.security_mode = r.u16le("security mode")?;
    n.dialect = r.u16le("dialect revision")?;
    r.take(2, "negotiate context count")?;
    n.server_guid.copy_from_slice(r.take(16, "server guid")?);
    n.capabilities = r.u32le("capabilities")?;
    r.take(12, "max transact/read/write")?;
    n.system_time = r.u64le("system time")?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_names_match_nmap() {
        let names: Vec<_> = SMB2_DIALECTS
            .iter()
            .map(|d| smb2_dialect_name(*d))
            .collect();
        assert_eq!(names, ["2.0.2", "2.1", "3.0", "3.0.2", "3.1.1"]);
    }

    #[test]
    fn requests_have_documented_layout() {
        let n = smb1_negotiate_request();
        assert_eq!(&n[4..8], b"\xffSMB");
        assert_eq!(n[8], 0x72);
        assert_eq!(parse_netbios_header(&[0, 0, 0, 47]).1, 47);
        assert_eq!(n.len() - 4, 32 + 1 + 2 + 12);
        let t = smb1_peek_named_pipe_fid0_request(7, 9);
        let m = parse_smb1(&t[4..]).unwrap();
        assert_eq!(m.word_count, 16);
        assert_eq!((m.header.tid, m.header.uid), (7, 9));
        // ParameterOffset must point at the end of the message (0x4A).
        assert_eq!(t.len() - 4, 0x4A);
        let d = smb1_doublepulsar_probe_request(1, 2);
        let m = parse_smb1(&d[4..]).unwrap();
        assert_eq!(m.header.mid, 65);
        assert_eq!(32 + 1 + 30 + 2 + 1, 66);
        let s = smb2_negotiate_request(&[0x0311], [1; 16]);
        let ctx_off = u32::from_le_bytes([
            s[4 + 64 + 28],
            s[4 + 64 + 29],
            s[4 + 64 + 30],
            s[4 + 64 + 31],
        ]);
        assert_eq!(ctx_off % 8, 0);
        assert_eq!(ctx_off, 104);
    }
}
