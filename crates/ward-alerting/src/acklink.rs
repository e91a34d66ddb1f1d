//! Signed acknowledgement links: the link in a message acknowledges one target in one
//! contact's name, until it expires, and cannot be forged or altered without the key.
//!
//! A token is `{kind}.{target_id}.{contact_id}.{expires_at}.{hmac}`, the HMAC-SHA-256 of the
//! rest under the server's key, in hex. Everything in it is URL-safe.

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a valid link says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckClaim {
    /// `incident` or `advisory`.
    pub kind: String,
    pub target_id: i64,
    pub contact_id: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckLinkError {
    #[error("the acknowledgement link is malformed")]
    Malformed,
    #[error("the acknowledgement link's signature does not match: it was altered or is not ours")]
    BadSignature,
    #[error("the acknowledgement link expired at {0}; acknowledge in ward or by SMS instead")]
    Expired(String),
}

/// Signs and checks acknowledgement links with one secret key.
pub struct AckSigner {
    key: Vec<u8>,
}

impl AckSigner {
    pub fn new(key: &[u8]) -> Self {
        AckSigner { key: key.to_vec() }
    }

    /// Reads the key from `path` (hex), creating it (256 random bits, mode 0600) when absent.
    pub fn load_or_create(path: &Path) -> std::io::Result<AckSigner> {
        if !path.exists() {
            let key: [u8; 32] = rand::random();
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            use std::io::Write;
            let mut f = opts.open(path)?;
            f.write_all(hex::encode(key).as_bytes())?;
            f.sync_all()?;
        }
        let text = std::fs::read_to_string(path)?;
        let key = hex::decode(text.trim()).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: not a hex key: {e}", path.display()),
            )
        })?;
        if key.len() < 16 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: the key is shorter than 128 bits", path.display()),
            ));
        }
        Ok(AckSigner { key })
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        // HMAC takes a key of any length.
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| {
            HmacSha256::new_from_slice(b"unreachable: hmac accepts any key length")
                .expect("hmac key")
        });
        mac.update(payload.as_bytes());
        mac
    }

    pub fn sign(&self, claim: &AckClaim) -> String {
        let payload = format!(
            "{}.{}.{}.{}",
            claim.kind, claim.target_id, claim.contact_id, claim.expires_at
        );
        let tag = hex::encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// Checks the signature (in constant time) and then the expiry.
    pub fn verify(&self, token: &str, now: i64) -> Result<AckClaim, AckLinkError> {
        let (payload, tag) = token.rsplit_once('.').ok_or(AckLinkError::Malformed)?;
        let tag = hex::decode(tag).map_err(|_| AckLinkError::Malformed)?;
        self.mac(payload)
            .verify_slice(&tag)
            .map_err(|_| AckLinkError::BadSignature)?;
        let parts: Vec<&str> = payload.split('.').collect();
        let [kind, target, contact, expires] = parts.as_slice() else {
            return Err(AckLinkError::Malformed);
        };
        let claim = AckClaim {
            kind: kind.to_string(),
            target_id: target.parse().map_err(|_| AckLinkError::Malformed)?,
            contact_id: contact.parse().map_err(|_| AckLinkError::Malformed)?,
            expires_at: expires.parse().map_err(|_| AckLinkError::Malformed)?,
        };
        if now >= claim.expires_at {
            return Err(AckLinkError::Expired(ward_model::clock::rfc3339(
                claim.expires_at,
            )));
        }
        Ok(claim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> AckClaim {
        AckClaim {
            kind: "incident".into(),
            target_id: 42,
            contact_id: 7,
            expires_at: 1_000,
        }
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let s = AckSigner::new(b"0123456789abcdef0123456789abcdef");
        let token = s.sign(&claim());
        assert_eq!(s.verify(&token, 999), Ok(claim()));
        assert!(matches!(
            s.verify(&token, 1_000),
            Err(AckLinkError::Expired(_))
        ));
    }

    #[test]
    fn altered_or_foreign_links_are_refused() {
        let s = AckSigner::new(b"0123456789abcdef0123456789abcdef");
        let token = s.sign(&claim());
        let altered = token.replacen("incident.42", "incident.43", 1);
        assert_eq!(s.verify(&altered, 0), Err(AckLinkError::BadSignature));
        let later = token.replacen(".1000.", ".9999999.", 1);
        assert_eq!(s.verify(&later, 0), Err(AckLinkError::BadSignature));
        let other = AckSigner::new(b"another key, another server......");
        assert_eq!(other.verify(&token, 0), Err(AckLinkError::BadSignature));
        assert_eq!(s.verify("nonsense", 0), Err(AckLinkError::Malformed));
        assert_eq!(s.verify("a.b.zz", 0), Err(AckLinkError::Malformed));
    }

    #[test]
    fn keys_are_created_once_and_reread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ack.key");
        let a = AckSigner::load_or_create(&path).unwrap();
        let b = AckSigner::load_or_create(&path).unwrap();
        let token = a.sign(&claim());
        assert_eq!(b.verify(&token, 0), Ok(claim()));
    }
}
