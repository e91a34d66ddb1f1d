//! RDP connection initiation: the X.224 Connection Request carrying an
//! RDP_NEG_REQ, and the Connection Confirm carrying RDP_NEG_RSP or
//! RDP_NEG_FAILURE (MS-RDPBCGR 2.2.1.1 and 2.2.1.2).

use super::{ParseError, Reader};

/// Standard RDP Security (no TLS).
pub const PROTOCOL_RDP: u32 = 0;
/// TLS.
pub const PROTOCOL_SSL: u32 = 1;
/// CredSSP (NLA), which implies TLS.
pub const PROTOCOL_HYBRID: u32 = 2;
/// RDSTLS.
pub const PROTOCOL_RDSTLS: u32 = 4;
/// CredSSP with Early User Authorization Result.
pub const PROTOCOL_HYBRID_EX: u32 = 8;

/// Builds a TPKT + X.224 Connection Request with an RDP_NEG_REQ asking for
/// `requested` protocols.
pub fn x224_connection_request(requested: u32) -> Vec<u8> {
    let cookie = b"Cookie: mstshash=ward\r\n";
    let neg = {
        let mut n = vec![0x01, 0x00, 0x08, 0x00];
        n.extend_from_slice(&requested.to_le_bytes());
        n
    };
    // X.224 CR: LI, CR-CDT 0xE0, DST-REF, SRC-REF, class 0.
    let li = (6 + cookie.len() + neg.len()) as u8;
    let mut x = vec![li, 0xE0, 0, 0, 0, 0, 0];
    x.extend_from_slice(cookie);
    x.extend_from_slice(&neg);
    let total = (4 + x.len()) as u16;
    let mut t = vec![3, 0];
    t.extend_from_slice(&total.to_be_bytes());
    t.extend_from_slice(&x);
    t
}

/// What the server answered in the Connection Confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegResult {
    /// RDP_NEG_RSP: the server selected this protocol.
    Selected {
        /// Selected protocol (`PROTOCOL_*`).
        protocol: u32,
        /// Response flags.
        flags: u8,
    },
    /// RDP_NEG_FAILURE with this code (1 SSL required, 2 SSL not allowed,
    /// 3 cert not on server, 4 inconsistent flags, 5 HYBRID required,
    /// 6 SSL with user auth required).
    Failure {
        /// Failure code.
        code: u32,
    },
    /// A Connection Confirm with no negotiation data: a legacy server that
    /// only speaks Standard RDP Security.
    Legacy,
}

/// Human-readable name of an RDP_NEG_FAILURE code.
pub fn failure_name(code: u32) -> &'static str {
    match code {
        1 => "SSL_REQUIRED_BY_SERVER",
        2 => "SSL_NOT_ALLOWED_BY_SERVER",
        3 => "SSL_CERT_NOT_ON_SERVER",
        4 => "INCONSISTENT_FLAGS",
        5 => "HYBRID_REQUIRED_BY_SERVER",
        6 => "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER",
        _ => "UNKNOWN",
    }
}

/// Length of a TPKT packet from its 4-byte header, when it is one.
pub fn tpkt_length(h: &[u8; 4]) -> Option<usize> {
    if h[0] != 3 {
        return None;
    }
    let n = usize::from(u16::from_be_bytes([h[2], h[3]]));
    (n >= 4).then_some(n)
}

/// Parses a TPKT-framed X.224 Connection Confirm.
pub fn parse_connection_confirm(p: &[u8]) -> Result<NegResult, ParseError> {
    let mut r = Reader::new("x224", p);
    if r.u8("TPKT version")? != 3 {
        return Err(r.err("TPKT version 3"));
    }
    r.u8("TPKT reserved")?;
    let len = usize::from(r.u16be("TPKT length")?);
    if len < 11 || len > p.len() {
        return Err(r.err("TPKT length covering an X.224 header"));
    }
    let li = usize::from(r.u8("X.224 length indicator")?);
    let code = r.u8("X.224 TPDU code")?;
    if code & 0xF0 != 0xD0 {
        return Err(r.err("X.224 Connection Confirm (0xD0)"));
    }
    r.take(5, "X.224 refs and class")?;
    // LI counts the bytes after itself: 6 fixed, then variable data.
    if li < 6 || 5 + li > len {
        return Err(r.err("consistent X.224 length indicator"));
    }
    if li - 6 < 8 {
        return Ok(NegResult::Legacy);
    }
    let ty = r.u8("negotiation type")?;
    let flags = r.u8("negotiation flags")?;
    let nlen = r.u16le("negotiation length")?;
    if nlen != 8 {
        return Err(r.err("negotiation length 8"));
    }
    let v = r.u32le("negotiation value")?;
    match ty {
        2 => Ok(NegResult::Selected { protocol: v, flags }),
        3 => Ok(NegResult::Failure { code: v }),
        _ => Err(r.err("RDP_NEG_RSP (2) or RDP_NEG_FAILURE (3)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_confirm() {
        let cr = x224_connection_request(PROTOCOL_SSL | PROTOCOL_HYBRID);
        assert_eq!(usize::from(u16::from_be_bytes([cr[2], cr[3]])), cr.len());
        assert_eq!(usize::from(cr[4]) + 5, cr.len());
        let cc = [
            3, 0, 0, 19, 14, 0xD0, 0, 0, 0x12, 0x34, 0, 2, 0x1f, 8, 0, 2, 0, 0, 0,
        ];
        assert_eq!(
            parse_connection_confirm(&cc).unwrap(),
            NegResult::Selected {
                protocol: 2,
                flags: 0x1f
            }
        );
        let fail = [3, 0, 0, 19, 14, 0xD0, 0, 0, 0, 0, 0, 3, 0, 8, 0, 5, 0, 0, 0];
        assert_eq!(
            parse_connection_confirm(&fail).unwrap(),
            NegResult::Failure { code: 5 }
        );
        let legacy = [3, 0, 0, 11, 6, 0xD0, 0, 0, 0, 0, 0];
        assert_eq!(
            parse_connection_confirm(&legacy).unwrap(),
            NegResult::Legacy
        );
        assert!(parse_connection_confirm(&[3, 0, 0, 5, 1]).is_err());
    }
}
