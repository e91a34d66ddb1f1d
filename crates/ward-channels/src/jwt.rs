//! GOV.UK Notify API keys and the JWT built from them.
//!
//! A Notify API key is `{key_name}-{service_id}-{secret}` where both ids are UUIDs (the key
//! name may itself contain hyphens, so the ids are taken from the end, as the official
//! clients do). Each request carries `Authorization: Bearer <jwt>`, an HS256 token with
//! header `{"typ":"JWT","alg":"HS256"}` and claims `iss` = service id, `iat` = now in epoch
//! seconds, signed with the secret (its text form, as the official clients use it).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::ChannelError;

/// A parsed Notify API key. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub key_name: String,
    pub service_id: Uuid,
    secret: String,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("key_name", &self.key_name)
            .field("service_id", &self.service_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl ApiKey {
    /// Parses `{key_name}-{service_id uuid}-{secret uuid}`.
    pub fn parse(key: &str) -> Result<Self, ChannelError> {
        let key = key.trim();
        // 36 (service id) + 1 + 36 (secret) = 73 characters at the end, after "name-".
        if !key.is_ascii() || key.len() < 75 {
            return Err(ChannelError::InvalidApiKey(format!(
                "expected `{{key_name}}-{{service_id}}-{{secret}}` with two UUIDs, got {} characters",
                key.len()
            )));
        }
        let (head, secret) = key.split_at(key.len() - 36);
        let head = head.strip_suffix('-').ok_or_else(|| {
            ChannelError::InvalidApiKey("missing `-` before the secret".to_string())
        })?;
        let (name, service) = head.split_at(head.len() - 36);
        let name = name.strip_suffix('-').ok_or_else(|| {
            ChannelError::InvalidApiKey("missing `-` before the service id".to_string())
        })?;
        if name.is_empty() {
            return Err(ChannelError::InvalidApiKey("empty key name".to_string()));
        }
        let service_id = Uuid::parse_str(service).map_err(|e| {
            ChannelError::InvalidApiKey(format!(
                "service id (characters -73..-37) is not a UUID: {e}"
            ))
        })?;
        Uuid::parse_str(secret).map_err(|e| {
            ChannelError::InvalidApiKey(format!("secret (last 36 characters) is not a UUID: {e}"))
        })?;
        Ok(ApiKey {
            key_name: name.to_string(),
            service_id,
            secret: secret.to_string(),
        })
    }

    /// The signing secret (the last UUID of the key, as text).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Builds the bearer token for a request issued at `iat` (epoch seconds).
    pub fn token_at(&self, iat: i64) -> String {
        create_jwt_token(&self.secret, &self.service_id.to_string(), iat)
    }

    /// Builds the bearer token for a request issued now.
    pub fn token_now(&self) -> String {
        self.token_at(epoch_seconds())
    }
}

/// Current time in whole epoch seconds.
pub fn epoch_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// HS256 JWT with `iss` and `iat` claims, as Notify's `create_jwt_token`.
pub fn create_jwt_token(secret: &str, issuer: &str, iat: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
    let claims = serde_json::json!({ "iss": issuer, "iat": iat });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{claims}");
    let sig = hmac_sha256(secret.as_bytes(), signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cold]
fn unreachable_hmac() -> ! {
    panic!("HMAC-SHA-256 accepts keys of every length")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "my-test-key-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0";

    #[test]
    fn parses_key_with_hyphenated_name() {
        let k = ApiKey::parse(KEY).unwrap();
        assert_eq!(k.key_name, "my-test-key");
        assert_eq!(
            k.service_id.to_string(),
            "26785a09-ab16-4eb0-8407-a37497a57506"
        );
        assert_eq!(k.secret(), "3d844edf-8d35-48ac-975b-e847b4f122b0");
        assert!(!format!("{k:?}").contains("3d844edf"));
    }

    #[test]
    fn refuses_malformed_keys() {
        assert!(ApiKey::parse("short").is_err());
        assert!(ApiKey::parse(&KEY.replace("-ab16-", "xab16-")).is_err());
        assert!(ApiKey::parse(&KEY[12..]).is_err()); // no name
        let bad_secret = format!("{}zzzzzzzz", &KEY[..KEY.len() - 8]);
        assert!(ApiKey::parse(&bad_secret).is_err());
    }

    #[test]
    fn token_has_expected_structure() {
        let k = ApiKey::parse(KEY).unwrap();
        let t = k.token_at(1_700_000_000);
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "26785a09-ab16-4eb0-8407-a37497a57506");
        assert_eq!(claims["iat"], 1_700_000_000);
        let sig = hmac_sha256(
            k.secret().as_bytes(),
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
        );
        assert_eq!(URL_SAFE_NO_PAD.encode(sig), parts[2]);
    }
}
