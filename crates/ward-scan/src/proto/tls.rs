//! Hand-crafted TLS ClientHellos (SSL 3.0 to TLS 1.3) and a parser for the
//! server's first flight: ServerHello, Certificate, alerts. Enough to learn
//! which versions and ciphers a server accepts and to read its certificate
//! chain (TLS ≤ 1.2, where it travels in clear) without a TLS library.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{ParseError, Reader};

/// A protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TlsVersion {
    /// SSL 3.0.
    #[serde(rename = "SSLv3")]
    Ssl3,
    /// TLS 1.0.
    #[serde(rename = "TLSv1.0")]
    Tls10,
    /// TLS 1.1.
    #[serde(rename = "TLSv1.1")]
    Tls11,
    /// TLS 1.2.
    #[serde(rename = "TLSv1.2")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "TLSv1.3")]
    Tls13,
}

impl TlsVersion {
    /// All versions, oldest first.
    pub const ALL: [TlsVersion; 5] = [
        TlsVersion::Ssl3,
        TlsVersion::Tls10,
        TlsVersion::Tls11,
        TlsVersion::Tls12,
        TlsVersion::Tls13,
    ];

    /// Wire value.
    pub fn wire(self) -> u16 {
        match self {
            TlsVersion::Ssl3 => 0x0300,
            TlsVersion::Tls10 => 0x0301,
            TlsVersion::Tls11 => 0x0302,
            TlsVersion::Tls12 => 0x0303,
            TlsVersion::Tls13 => 0x0304,
        }
    }

    /// From a wire value.
    pub fn from_wire(v: u16) -> Option<Self> {
        TlsVersion::ALL.into_iter().find(|t| t.wire() == v)
    }

    /// Whether the version is deprecated (RFC 8996, RFC 7568).
    pub fn is_deprecated(self) -> bool {
        self < TlsVersion::Tls12
    }

    /// Display name, as OpenSSL and nmap write it.
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Ssl3 => "SSLv3",
            TlsVersion::Tls10 => "TLSv1.0",
            TlsVersion::Tls11 => "TLSv1.1",
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a cipher suite is weak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weakness {
    /// No encryption.
    Null,
    /// Export-grade (40/56-bit) keys.
    Export,
    /// Anonymous key exchange: no server authentication.
    Anonymous,
    /// RC4 (RFC 7465).
    Rc4,
    /// Single DES.
    Des,
    /// Triple DES (64-bit block, Sweet32).
    TripleDes,
}

/// A cipher suite: id, OpenSSL-style name, weakness if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipherSuite {
    /// IANA id.
    pub id: u16,
    /// OpenSSL name.
    pub name: &'static str,
    /// Why it is weak; `None` for acceptable suites.
    pub weakness: Option<Weakness>,
}

const fn cs(id: u16, name: &'static str, weakness: Option<Weakness>) -> CipherSuite {
    CipherSuite { id, name, weakness }
}

use Weakness::*;

/// Suites ward knows by name. Strong ones are offered in version probes so
/// that a server is never refused merely for lack of a common cipher.
pub const CIPHER_SUITES: &[CipherSuite] = &[
    cs(0xC02F, "ECDHE-RSA-AES128-GCM-SHA256", None),
    cs(0xC030, "ECDHE-RSA-AES256-GCM-SHA384", None),
    cs(0xC02B, "ECDHE-ECDSA-AES128-GCM-SHA256", None),
    cs(0xC02C, "ECDHE-ECDSA-AES256-GCM-SHA384", None),
    cs(0xCCA8, "ECDHE-RSA-CHACHA20-POLY1305", None),
    cs(0xCCA9, "ECDHE-ECDSA-CHACHA20-POLY1305", None),
    cs(0x009E, "DHE-RSA-AES128-GCM-SHA256", None),
    cs(0x009F, "DHE-RSA-AES256-GCM-SHA384", None),
    cs(0xC027, "ECDHE-RSA-AES128-SHA256", None),
    cs(0xC028, "ECDHE-RSA-AES256-SHA384", None),
    cs(0xC013, "ECDHE-RSA-AES128-SHA", None),
    cs(0xC014, "ECDHE-RSA-AES256-SHA", None),
    cs(0xC009, "ECDHE-ECDSA-AES128-SHA", None),
    cs(0xC00A, "ECDHE-ECDSA-AES256-SHA", None),
    cs(0x0067, "DHE-RSA-AES128-SHA256", None),
    cs(0x006B, "DHE-RSA-AES256-SHA256", None),
    cs(0x0033, "DHE-RSA-AES128-SHA", None),
    cs(0x0039, "DHE-RSA-AES256-SHA", None),
    cs(0x009C, "AES128-GCM-SHA256", None),
    cs(0x009D, "AES256-GCM-SHA384", None),
    cs(0x003C, "AES128-SHA256", None),
    cs(0x003D, "AES256-SHA256", None),
    cs(0x002F, "AES128-SHA", None),
    cs(0x0035, "AES256-SHA", None),
    cs(0x0041, "CAMELLIA128-SHA", None),
    cs(0x0084, "CAMELLIA256-SHA", None),
    cs(0x0001, "NULL-MD5", Some(Null)),
    cs(0x0002, "NULL-SHA", Some(Null)),
    cs(0x003B, "NULL-SHA256", Some(Null)),
    cs(0xC006, "ECDHE-ECDSA-NULL-SHA", Some(Null)),
    cs(0xC010, "ECDHE-RSA-NULL-SHA", Some(Null)),
    cs(0x0003, "EXP-RC4-MD5", Some(Export)),
    cs(0x0006, "EXP-RC2-CBC-MD5", Some(Export)),
    cs(0x0008, "EXP-DES-CBC-SHA", Some(Export)),
    cs(0x0011, "EXP-EDH-DSS-DES-CBC-SHA", Some(Export)),
    cs(0x0014, "EXP-EDH-RSA-DES-CBC-SHA", Some(Export)),
    cs(0x0018, "ADH-RC4-MD5", Some(Anonymous)),
    cs(0x001B, "ADH-DES-CBC3-SHA", Some(Anonymous)),
    cs(0x0034, "ADH-AES128-SHA", Some(Anonymous)),
    cs(0x003A, "ADH-AES256-SHA", Some(Anonymous)),
    cs(0x006C, "ADH-AES128-SHA256", Some(Anonymous)),
    cs(0x006D, "ADH-AES256-SHA256", Some(Anonymous)),
    cs(0x00A6, "ADH-AES128-GCM-SHA256", Some(Anonymous)),
    cs(0x00A7, "ADH-AES256-GCM-SHA384", Some(Anonymous)),
    cs(0xC015, "AECDH-NULL-SHA", Some(Anonymous)),
    cs(0xC016, "AECDH-RC4-SHA", Some(Anonymous)),
    cs(0xC017, "AECDH-DES-CBC3-SHA", Some(Anonymous)),
    cs(0xC018, "AECDH-AES128-SHA", Some(Anonymous)),
    cs(0xC019, "AECDH-AES256-SHA", Some(Anonymous)),
    cs(0x0004, "RC4-MD5", Some(Rc4)),
    cs(0x0005, "RC4-SHA", Some(Rc4)),
    cs(0xC007, "ECDHE-ECDSA-RC4-SHA", Some(Rc4)),
    cs(0xC011, "ECDHE-RSA-RC4-SHA", Some(Rc4)),
    cs(0x0009, "DES-CBC-SHA", Some(Des)),
    cs(0x0012, "EDH-DSS-DES-CBC-SHA", Some(Des)),
    cs(0x0015, "EDH-RSA-DES-CBC-SHA", Some(Des)),
    cs(0x000A, "DES-CBC3-SHA", Some(TripleDes)),
    cs(0x0013, "EDH-DSS-DES-CBC3-SHA", Some(TripleDes)),
    cs(0x0016, "EDH-RSA-DES-CBC3-SHA", Some(TripleDes)),
    cs(0xC008, "ECDHE-ECDSA-DES-CBC3-SHA", Some(TripleDes)),
    cs(0xC012, "ECDHE-RSA-DES-CBC3-SHA", Some(TripleDes)),
];

/// TLS 1.3 suites.
pub const TLS13_SUITES: [u16; 3] = [0x1301, 0x1302, 0x1303];

/// Looks a suite up by id.
pub fn cipher_suite(id: u16) -> Option<&'static CipherSuite> {
    CIPHER_SUITES.iter().find(|c| c.id == id)
}

/// Every known suite id (strong and weak), for version probes.
pub fn all_suite_ids() -> Vec<u16> {
    CIPHER_SUITES.iter().map(|c| c.id).collect()
}

/// Every weak suite id.
pub fn weak_suite_ids() -> Vec<u16> {
    CIPHER_SUITES
        .iter()
        .filter(|c| c.weakness.is_some())
        .map(|c| c.id)
        .collect()
}

fn ext(out: &mut Vec<u8>, ty: u16, data: &[u8]) {
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

fn u16_list(items: &[u16], len_bytes: usize) -> Vec<u8> {
    let mut v = Vec::new();
    let n = items.len() * 2;
    if len_bytes == 2 {
        v.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        v.push(n as u8);
    }
    for i in items {
        v.extend_from_slice(&i.to_be_bytes());
    }
    v
}

/// Builds a ClientHello record offering exactly `version` and `suites`. For
/// TLS 1.3 the legacy version is 1.2 and `supported_versions` carries 1.3
/// only; the key share is the X25519 base point, which is a valid public
/// value and is all a server needs to answer with its ServerHello.
pub fn client_hello(version: TlsVersion, suites: &[u16], sni: Option<&str>) -> Vec<u8> {
    let legacy = version.min(TlsVersion::Tls12).wire();
    let mut body = Vec::new();
    body.extend_from_slice(&legacy.to_be_bytes());
    // Deterministic "random": the probe needs no secrecy, and fixed bytes
    // keep requests reproducible in captures.
    body.extend_from_slice(b"ward-scan ward-scan ward-scan ws");
    body.push(0); // session id
    let mut suites = suites.to_vec();
    if version == TlsVersion::Tls13 {
        suites = TLS13_SUITES.to_vec();
    } else if version != TlsVersion::Ssl3 {
        suites.push(0x00FF); // TLS_EMPTY_RENEGOTIATION_INFO_SCSV
    }
    body.extend_from_slice(&u16_list(&suites, 2));
    body.extend_from_slice(&[1, 0]); // compression: null
    if version != TlsVersion::Ssl3 {
        let mut e = Vec::new();
        if let Some(name) = sni.filter(|n| n.parse::<std::net::IpAddr>().is_err()) {
            let mut d = Vec::new();
            let n = name.as_bytes();
            d.extend_from_slice(&((n.len() + 3) as u16).to_be_bytes());
            d.push(0);
            d.extend_from_slice(&(n.len() as u16).to_be_bytes());
            d.extend_from_slice(n);
            ext(&mut e, 0x0000, &d);
        }
        ext(
            &mut e,
            0x000A,
            &u16_list(&[0x001D, 0x0017, 0x0018, 0x0019], 2),
        );
        ext(&mut e, 0x000B, &[1, 0]); // ec_point_formats: uncompressed
        let sigalgs = [
            0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201,
        ];
        if version >= TlsVersion::Tls12 {
            ext(&mut e, 0x000D, &u16_list(&sigalgs, 2));
        }
        if version == TlsVersion::Tls13 {
            ext(&mut e, 0x002B, &[2, 0x03, 0x04]); // supported_versions: 1.3
            ext(&mut e, 0x002D, &[1, 1]); // psk_key_exchange_modes: psk_dhe_ke
            let mut ks = Vec::new();
            ks.extend_from_slice(&36u16.to_be_bytes());
            ks.extend_from_slice(&0x001Du16.to_be_bytes());
            ks.extend_from_slice(&32u16.to_be_bytes());
            let mut point = [0u8; 32];
            point[0] = 9;
            ks.extend_from_slice(&point);
            ext(&mut e, 0x0033, &ks);
        }
        body.extend_from_slice(&(e.len() as u16).to_be_bytes());
        body.extend_from_slice(&e);
    }
    let mut hs = vec![1u8];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let record_version = if version == TlsVersion::Ssl3 {
        0x0300u16
    } else {
        0x0301
    };
    let mut rec = vec![22u8];
    rec.extend_from_slice(&record_version.to_be_bytes());
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// The interesting parts of a ServerHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The version in effect: `supported_versions` if present, else the
    /// legacy version field.
    pub version: u16,
    /// Chosen cipher suite.
    pub cipher: u16,
    /// This is a HelloRetryRequest (TLS 1.3).
    pub retry_request: bool,
}

/// What the server sent before we stopped reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFlight {
    /// A fatal (or any) alert: (level, description).
    pub alert: Option<(u8, u8)>,
    /// The ServerHello.
    pub server_hello: Option<ServerHello>,
    /// The DER certificates of the Certificate message (TLS ≤ 1.2).
    pub certificates: Option<Vec<Vec<u8>>>,
    /// ServerHelloDone was seen: nothing more in clear will come.
    pub hello_done: bool,
    /// The bytes were not TLS at all (e.g. a plain-text banner).
    pub not_tls: bool,
}

impl ServerFlight {
    /// Whether reading can stop: an alert, a non-TLS reply, a TLS 1.3
    /// ServerHello (the rest is encrypted), or ServerHelloDone.
    pub fn is_complete(&self) -> bool {
        self.alert.is_some()
            || self.not_tls
            || self.hello_done
            || self
                .server_hello
                .as_ref()
                .is_some_and(|h| h.version == 0x0304 || h.retry_request)
    }
}

const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// Parses as much of a server's first flight as `buf` holds. Incomplete
/// trailing records are ignored (call again with more bytes).
pub fn parse_server_flight(buf: &[u8]) -> Result<ServerFlight, ParseError> {
    let mut flight = ServerFlight::default();
    let mut r = Reader::new("tls", buf);
    let mut hs = Vec::new();
    while r.remaining() >= 5 {
        let start = r.pos();
        let ty = r.u8("record type")?;
        let ver = r.u16be("record version")?;
        let len = usize::from(r.u16be("record length")?);
        if !(20..=24).contains(&ty) || ver >> 8 != 3 || len > 18_432 {
            if start == 0 {
                flight.not_tls = true;
                return Ok(flight);
            }
            return Err(ParseError {
                protocol: "tls",
                offset: start,
                what: "a TLS record header",
            });
        }
        if r.remaining() < len {
            break;
        }
        let frag = r.take(len, "record fragment")?;
        match ty {
            21 if frag.len() >= 2 => {
                flight.alert = Some((frag[0], frag[1]));
                break;
            }
            22 => hs.extend_from_slice(frag),
            // ChangeCipherSpec (TLS 1.3 middlebox compatibility) and
            // anything encrypted after it are not ours to read.
            _ => break,
        }
    }
    parse_handshake_messages(&hs, &mut flight)?;
    Ok(flight)
}

fn parse_handshake_messages(hs: &[u8], flight: &mut ServerFlight) -> Result<(), ParseError> {
    let mut r = Reader::new("tls", hs);
    while r.remaining() >= 4 {
        let ty = r.u8("handshake type")?;
        let len = r.u24be("handshake length")? as usize;
        if r.remaining() < len {
            break;
        }
        let body = r.take(len, "handshake body")?;
        match ty {
            2 => {
                flight.server_hello = Some(parse_server_hello(body)?);
                if flight
                    .server_hello
                    .as_ref()
                    .is_some_and(|h| h.version == 0x0304)
                {
                    // Everything after a TLS 1.3 ServerHello is encrypted.
                    break;
                }
            }
            11 => flight.certificates = Some(parse_certificate_list(body)?),
            14 => flight.hello_done = true,
            _ => {}
        }
    }
    Ok(())
}

/// Parses a ServerHello body (after the 4-byte handshake header).
pub fn parse_server_hello(body: &[u8]) -> Result<ServerHello, ParseError> {
    let mut r = Reader::new("tls", body);
    let legacy = r.u16be("server version")?;
    let random = r.take(32, "server random")?;
    let sid_len = usize::from(r.u8("session id length")?);
    r.take(sid_len, "session id")?;
    let cipher = r.u16be("cipher suite")?;
    r.u8("compression method")?;
    let mut version = legacy;
    if r.remaining() >= 2 {
        let ext_len = usize::from(r.u16be("extensions length")?);
        let exts = r.take(ext_len, "extensions")?;
        let mut e = Reader::new("tls", exts);
        while e.remaining() >= 4 {
            let ty = e.u16be("extension type")?;
            let len = usize::from(e.u16be("extension length")?);
            let data = e.take(len, "extension data")?;
            if ty == 0x002B && data.len() == 2 {
                version = u16::from_be_bytes([data[0], data[1]]);
            }
        }
    }
    Ok(ServerHello {
        version,
        cipher,
        retry_request: random == HRR_RANDOM,
    })
}

/// Parses a TLS ≤ 1.2 Certificate body into DER certificates.
pub fn parse_certificate_list(body: &[u8]) -> Result<Vec<Vec<u8>>, ParseError> {
    let mut r = Reader::new("tls", body);
    let total = r.u24be("certificate list length")? as usize;
    let list = r.take(total, "certificate list")?;
    let mut l = Reader::new("tls", list);
    let mut out = Vec::new();
    while l.remaining() >= 3 {
        let n = l.u24be("certificate length")? as usize;
        out.push(l.take(n, "certificate")?.to_vec());
    }
    Ok(out)
}

/// TLS alert description names for evidence.
pub fn alert_name(d: u8) -> &'static str {
    match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        40 => "handshake_failure",
        47 => "illegal_parameter",
        50 => "decode_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        109 => "missing_extension",
        112 => "unrecognized_name",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trip_shape() {
        for v in TlsVersion::ALL {
            let h = client_hello(v, &all_suite_ids(), Some("localhost"));
            assert_eq!(h[0], 22);
            assert_eq!(usize::from(u16::from_be_bytes([h[3], h[4]])) + 5, h.len());
            assert_eq!(h[5], 1);
        }
        // A synthetic ServerHello + Certificate + ServerHelloDone flight.
        let mut sh = vec![0x03, 0x03];
        sh.extend_from_slice(&[7u8; 32]);
        sh.push(0);
        sh.extend_from_slice(&0xC02Fu16.to_be_bytes());
        sh.push(0);
        let mut hs = vec![2, 0, 0, sh.len() as u8];
        hs.extend_from_slice(&sh);
        hs.extend_from_slice(&[11, 0, 0, 9, 0, 0, 6, 0, 0, 3, 0x30, 0x01, 0x00]);
        hs.extend_from_slice(&[14, 0, 0, 0]);
        let mut rec = vec![22, 3, 3];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        let f = parse_server_flight(&rec).unwrap();
        assert_eq!(f.server_hello.unwrap().cipher, 0xC02F);
        assert_eq!(f.certificates.unwrap(), vec![vec![0x30, 0x01, 0x00]]);
        assert!(f.hello_done);
        let alert = parse_server_flight(&[21, 3, 3, 0, 2, 2, 70]).unwrap();
        assert_eq!(alert.alert, Some((2, 70)));
        assert!(parse_server_flight(b"SSH-2.0-OpenSSH\r\n").unwrap().not_tls);
    }
}
