//! A minimal DER reader for X.509 certificates: validity, subject and issuer
//! (raw and common name), subject alternative names, public key type and
//! size, signature algorithm. Enough to judge expiry, self-signing, name
//! match and key strength; it verifies no signatures.

use std::net::IpAddr;

use serde::Serialize;

use super::ParseError;
use crate::time::Timestamp;

/// A DER TLV: tag, contents, and total encoded length.
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
    len: usize,
}

fn err(offset: usize, what: &'static str) -> ParseError {
    ParseError {
        protocol: "x509",
        offset,
        what,
    }
}

fn tlv(b: &[u8], at: usize) -> Result<Tlv<'_>, ParseError> {
    let tag = *b.first().ok_or(err(at, "a DER tag"))?;
    if tag & 0x1F == 0x1F {
        return Err(err(at, "a single-byte DER tag"));
    }
    let l0 = *b.get(1).ok_or(err(at + 1, "a DER length"))?;
    let (len, hdr) = if l0 < 0x80 {
        (usize::from(l0), 2)
    } else {
        let n = usize::from(l0 & 0x7F);
        if n == 0 || n > 4 {
            return Err(err(at + 1, "a definite DER length of at most 4 bytes"));
        }
        let bytes = b.get(2..2 + n).ok_or(err(at + 2, "DER length bytes"))?;
        (
            bytes.iter().fold(0usize, |a, &x| (a << 8) | usize::from(x)),
            2 + n,
        )
    };
    let end = hdr
        .checked_add(len)
        .ok_or(err(at, "a DER length that fits"))?;
    let body = b
        .get(hdr..end)
        .ok_or(err(at + hdr, "DER contents within the buffer"))?;
    Ok(Tlv {
        tag,
        body,
        len: end,
    })
}

/// Iterates the TLVs of a constructed value.
fn children(b: &[u8], base: usize) -> Result<Vec<(usize, Tlv<'_>)>, ParseError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let t = tlv(&b[pos..], base + pos)?;
        out.push((base + pos, t));
        pos += t.len;
        if out.len() > 10_000 {
            return Err(err(base + pos, "fewer than 10000 elements"));
        }
    }
    Ok(out)
}

fn expect<'a>(
    kids: &[(usize, Tlv<'a>)],
    i: usize,
    tag: u8,
    what: &'static str,
) -> Result<Tlv<'a>, ParseError> {
    match kids.get(i) {
        Some((_, t)) if t.tag == tag => Ok(*t),
        Some((off, _)) => Err(err(*off, what)),
        None => Err(err(0, what)),
    }
}

/// Public key algorithm and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicKeyInfo {
    /// `rsa`, `ec`, `ed25519`, `ed448`, `dsa` or the dotted OID.
    pub algorithm: String,
    /// Size in bits (RSA modulus, DSA p, curve size); 0 when unknown.
    pub bits: u32,
    /// Named curve for EC keys.
    pub curve: Option<String>,
}

/// The fields of a certificate that the TLS checks judge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// Subject common name, if any.
    pub subject_cn: Option<String>,
    /// Issuer common name, if any.
    pub issuer_cn: Option<String>,
    /// Subject and issuer are byte-identical (self-issued).
    pub self_issued: bool,
    /// notBefore.
    pub not_before: Timestamp,
    /// notAfter.
    pub not_after: Timestamp,
    /// DNS names from subjectAltName.
    pub dns_names: Vec<String>,
    /// IP addresses from subjectAltName.
    pub ip_addresses: Vec<IpAddr>,
    /// Public key.
    pub public_key: PublicKeyInfo,
    /// Signature algorithm (`sha256WithRSAEncryption`, … or the dotted OID).
    pub signature_algorithm: String,
    /// Serial number, hex.
    pub serial_hex: String,
}

/// Dotted form of a DER OID.
pub fn oid_to_string(b: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    for (i, &x) in b.iter().enumerate() {
        v = (v << 7) | u64::from(x & 0x7F);
        if x & 0x80 == 0 {
            if parts.is_empty() {
                let first = (v / 40).min(2);
                parts.push(first);
                parts.push(v - first * 40);
            } else {
                parts.push(v);
            }
            v = 0;
        }
        if i > 64 {
            break;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn sig_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "ED25519",
        "1.3.101.113" => "ED448",
        other => return other.to_string(),
    }
    .to_string()
}

fn parse_time(t: Tlv<'_>, off: usize) -> Result<Timestamp, ParseError> {
    let s = std::str::from_utf8(t.body).map_err(|_| err(off, "an ASCII time"))?;
    let digits = |r: std::ops::Range<usize>| -> Result<u32, ParseError> {
        s.get(r)
            .and_then(|x| x.parse().ok())
            .ok_or(err(off, "time digits"))
    };
    let (y, rest) = match t.tag {
        0x17 => {
            let yy = digits(0..2)? as i64;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, 2)
        }
        0x18 => (i64::from(digits(0..4)?), 4),
        _ => return Err(err(off, "UTCTime or GeneralizedTime")),
    };
    let mo = digits(rest..rest + 2)?;
    let d = digits(rest + 2..rest + 4)?;
    let h = digits(rest + 4..rest + 6)?;
    let mi = digits(rest + 6..rest + 8)?;
    let sec = digits(rest + 8..rest + 10).unwrap_or(0);
    Timestamp::from_ymd_hms(y, mo, d, h, mi, sec).ok_or(err(off, "a valid calendar time"))
}

fn common_name(name: &[u8], base: usize) -> Result<Option<String>, ParseError> {
    for (off, rdn) in children(name, base)? {
        for (off2, atv) in children(rdn.body, off)? {
            let kids = children(atv.body, off2)?;
            let oid = expect(&kids, 0, 0x06, "attribute type OID")?;
            if oid.body == [0x55, 0x04, 0x03] {
                if let Some((_, v)) = kids.get(1) {
                    let s = if v.tag == 0x1E {
                        // BMPString: UTF-16BE.
                        let units: Vec<u16> = v
                            .body
                            .chunks_exact(2)
                            .map(|c| u16::from_be_bytes([c[0], c[1]]))
                            .collect();
                        String::from_utf16_lossy(&units)
                    } else {
                        String::from_utf8_lossy(v.body).into_owned()
                    };
                    return Ok(Some(s));
                }
            }
        }
    }
    Ok(None)
}

fn integer_bits(b: &[u8]) -> u32 {
    let b = match b.iter().position(|&x| x != 0) {
        Some(i) => &b[i..],
        None => return 0,
    };
    (b.len() as u32 - 1) * 8 + (8 - b[0].leading_zeros())
}

fn public_key(spki: &[u8], base: usize) -> Result<PublicKeyInfo, ParseError> {
    let kids = children(spki, base)?;
    let alg = expect(&kids, 0, 0x30, "AlgorithmIdentifier")?;
    let key = expect(&kids, 1, 0x03, "subjectPublicKey BIT STRING")?;
    let alg_kids = children(alg.body, kids[0].0)?;
    let oid = oid_to_string(expect(&alg_kids, 0, 0x06, "algorithm OID")?.body);
    let param = alg_kids.get(1).map(|(_, t)| *t);
    let key_bytes = key.body.get(1..).unwrap_or(&[]);
    Ok(match oid.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            let seq = tlv(key_bytes, kids[1].0)?;
            let ints = children(seq.body, kids[1].0)?;
            let n = expect(&ints, 0, 0x02, "RSA modulus")?;
            PublicKeyInfo {
                algorithm: "rsa".into(),
                bits: integer_bits(n.body),
                curve: None,
            }
        }
        "1.2.840.10045.2.1" => {
            let curve = param
                .filter(|p| p.tag == 0x06)
                .map(|p| oid_to_string(p.body))
                .unwrap_or_default();
            let (name, bits) = match curve.as_str() {
                "1.2.840.10045.3.1.7" => ("prime256v1", 256),
                "1.3.132.0.34" => ("secp384r1", 384),
                "1.3.132.0.35" => ("secp521r1", 521),
                "1.2.840.10045.3.1.1" => ("prime192v1", 192),
                "1.3.132.0.33" => ("secp224r1", 224),
                "1.3.132.0.10" => ("secp256k1", 256),
                _ => ("unknown", 0),
            };
            PublicKeyInfo {
                algorithm: "ec".into(),
                bits,
                curve: Some(if bits == 0 { curve } else { name.to_string() }),
            }
        }
        "1.3.101.112" => PublicKeyInfo {
            algorithm: "ed25519".into(),
            bits: 256,
            curve: None,
        },
        "1.3.101.113" => PublicKeyInfo {
            algorithm: "ed448".into(),
            bits: 456,
            curve: None,
        },
        "1.2.840.10040.4.1" => {
            let bits = match param {
                Some(p) if p.tag == 0x30 => children(p.body, 0)?
                    .first()
                    .map(|(_, t)| integer_bits(t.body))
                    .unwrap_or(0),
                _ => 0,
            };
            PublicKeyInfo {
                algorithm: "dsa".into(),
                bits,
                curve: None,
            }
        }
        _ => PublicKeyInfo {
            algorithm: oid,
            bits: 0,
            curve: None,
        },
    })
}

/// Parses a DER certificate.
pub fn parse_certificate(der: &[u8]) -> Result<CertInfo, ParseError> {
    let cert = tlv(der, 0)?;
    if cert.tag != 0x30 {
        return Err(err(0, "Certificate SEQUENCE"));
    }
    let top = children(cert.body, 0)?;
    let tbs = expect(&top, 0, 0x30, "TBSCertificate SEQUENCE")?;
    let sig_alg = expect(&top, 1, 0x30, "signatureAlgorithm")?;
    let sig_kids = children(sig_alg.body, top[1].0)?;
    let signature_algorithm = sig_name(&oid_to_string(
        expect(&sig_kids, 0, 0x06, "signature OID")?.body,
    ));
    let base = top[0].0;
    let f = children(tbs.body, base)?;
    // Optional [0] EXPLICIT version shifts every later field by one.
    let o = usize::from(f.first().is_some_and(|(_, t)| t.tag == 0xA0));
    let serial = expect(&f, o, 0x02, "serialNumber")?;
    let issuer = expect(&f, o + 2, 0x30, "issuer Name")?;
    let validity = expect(&f, o + 3, 0x30, "validity")?;
    let subject = expect(&f, o + 4, 0x30, "subject Name")?;
    let spki = expect(&f, o + 5, 0x30, "subjectPublicKeyInfo")?;
    let v = children(validity.body, f[o + 3].0)?;
    let (nb_off, nb) = *v.first().ok_or(err(f[o + 3].0, "notBefore"))?;
    let (na_off, na) = *v.get(1).ok_or(err(f[o + 3].0, "notAfter"))?;
    let mut info = CertInfo {
        subject_cn: common_name(subject.body, f[o + 4].0)?,
        issuer_cn: common_name(issuer.body, f[o + 2].0)?,
        self_issued: issuer.body == subject.body,
        not_before: parse_time(nb, nb_off)?,
        not_after: parse_time(na, na_off)?,
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
        public_key: public_key(spki.body, f[o + 5].0)?,
        signature_algorithm,
        serial_hex: crate::finding::hex(serial.body),
    };
    for (off, t) in f.iter().skip(o + 6) {
        if t.tag != 0xA3 {
            continue;
        }
        let exts = tlv(t.body, *off)?;
        for (eoff, e) in children(exts.body, *off)? {
            let ek = children(e.body, eoff)?;
            let oid = expect(&ek, 0, 0x06, "extension OID")?;
            if oid.body != [0x55, 0x1D, 0x11] {
                continue;
            }
            let Some((voff, val)) = ek.iter().find(|(_, t)| t.tag == 0x04) else {
                continue;
            };
            let names = tlv(val.body, *voff)?;
            for (_, gn) in children(names.body, *voff)? {
                match gn.tag {
                    0x82 => info
                        .dns_names
                        .push(String::from_utf8_lossy(gn.body).into_owned()),
                    0x87 => match gn.body.len() {
                        4 => {
                            let a: [u8; 4] = gn.body.try_into().map_err(|_| err(*voff, "IPv4"))?;
                            info.ip_addresses.push(IpAddr::from(a));
                        }
                        16 => {
                            let a: [u8; 16] = gn.body.try_into().map_err(|_| err(*voff, "IPv6"))?;
                            info.ip_addresses.push(IpAddr::from(a));
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
    }
    Ok(info)
}

/// Whether `host` matches a certificate name pattern (RFC 6125: a wildcard
/// stands for exactly one whole left-most label).
pub fn name_matches(pattern: &str, host: &str) -> bool {
    let p = pattern.trim_end_matches('.').to_ascii_lowercase();
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    match p.strip_prefix("*.") {
        Some(rest) => match h.split_once('.') {
            Some((first, hrest)) => !first.is_empty() && hrest == rest && rest.contains('.'),
            None => false,
        },
        None => p == h,
    }
}

impl CertInfo {
    /// Whether the certificate is valid for `host` (a DNS name or an
    /// address). Subject alternative names take precedence over the CN.
    pub fn matches_host(&self, host: &str) -> bool {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.ip_addresses.contains(&ip);
        }
        if !self.dns_names.is_empty() {
            return self.dns_names.iter().any(|n| name_matches(n, host));
        }
        self.subject_cn
            .as_deref()
            .is_some_and(|cn| name_matches(cn, host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(name_matches("*.nhs.example", "www.nhs.example"));
        assert!(!name_matches("*.nhs.example", "a.b.nhs.example"));
        assert!(!name_matches("*.example", "www.example"));
        assert!(name_matches("LOCALHOST", "localhost"));
        assert_eq!(
            oid_to_string(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B]),
            "1.2.840.113549.1.1.11"
        );
        assert_eq!(integer_bits(&[0x00, 0x80, 0x00]), 16);
        assert!(parse_certificate(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
