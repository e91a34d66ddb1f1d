//! Secrets handed to members and people. Each is 256 random bits, shown once and stored only as
//! a SHA-256 hash: a slow password hash buys nothing for secrets this long, and a plain hash
//! lets ingest authenticate every request with one indexed lookup.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

fn random_256() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new organisation API key: (key id, secret). The secret embeds the id so a leaked secret
/// can be traced to its key in logs without revealing it.
pub fn new_api_key_secret() -> (String, String) {
    let mut id_bytes = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut id_bytes);
    let id = format!("k{}", hex::encode(id_bytes));
    let secret = format!("wk_{id}_{}", random_256());
    (id, secret)
}

/// A new personal token for a user.
pub fn new_user_token() -> String {
    format!("wu_{}", random_256())
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_carry_256_bits_and_hash_stably() {
        let (id, secret) = new_api_key_secret();
        let random_part = secret.strip_prefix(&format!("wk_{id}_")).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(random_part).unwrap().len(), 32);
        assert_ne!(new_user_token(), new_user_token());
        assert_eq!(hash_token("a"), hash_token("a"));
        assert_eq!(hash_token("a").len(), 64);
    }
}
