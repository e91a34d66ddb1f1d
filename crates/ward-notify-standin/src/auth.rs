//! Notify's request authentication, check for check and message for message.
//!
//! Order and messages follow the Notify API's `requires_auth` and the official client's
//! `decode_jwt_token` (PyJWT with a 30 s leeway): the header, the bearer scheme, the
//! unverified issuer, the service, then each of the service's keys: algorithm, signature,
//! `iss`/`iat` present, `iat` within ±30 s of now, revocation.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// Notify's generic token message.
pub const GENERAL_TOKEN_ERROR_MESSAGE: &str = "Invalid token: make sure your API token matches the example at https://docs.notifications.service.gov.uk/rest-api.html#authorisation-header";
/// The message for an `iat` more than 30 s from now (either way).
pub const CLOCK_ERROR_MESSAGE: &str =
    "Error: Your system clock must be accurate to within 30 seconds";
/// Allowed clock skew in seconds.
pub const TOKEN_BOUND_SECS: i64 = 30;

/// An authentication refusal: HTTP status and Notify's message (error type `AuthError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    pub status: u16,
    pub message: String,
}

fn fail(status: u16, message: &str) -> AuthFailure {
    AuthFailure {
        status,
        message: message.to_string(),
    }
}

/// A key as the verifier sees it.
pub struct KeyView<'a> {
    pub secret: &'a str,
    pub revoked: bool,
}

/// Verifies an `Authorization` header for `service_id`; returns the index of the key that
/// signed it.
pub fn authenticate(
    header: Option<&str>,
    service_id: Uuid,
    keys: &[KeyView<'_>],
    now_secs: i64,
) -> Result<usize, AuthFailure> {
    let Some(header) = header else {
        return Err(fail(
            401,
            "Unauthorized: authentication token must be provided",
        ));
    };
    // Notify compares `auth_header[:7].title()` with "Bearer ".
    let scheme_ok = header
        .get(..7)
        .map(|s| s.eq_ignore_ascii_case("bearer "))
        .unwrap_or(false);
    if !scheme_ok {
        return Err(fail(
            401,
            "Unauthorized: authentication bearer scheme must be used",
        ));
    }
    let token = &header[7..];
    let parsed = ParsedToken::parse(token).ok_or_else(|| fail(403, GENERAL_TOKEN_ERROR_MESSAGE))?;
    let iss = match parsed.claims.get("iss") {
        None => return Err(fail(403, "Invalid token: iss field not provided")),
        Some(v) => v,
    };
    let issuer = match iss.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
        Some(u) => u,
        None => {
            return Err(fail(
                403,
                "Invalid token: service id is not the right data type",
            ))
        }
    };
    if issuer != service_id {
        return Err(fail(403, "Invalid token: service not found"));
    }
    if keys.is_empty() {
        return Err(fail(403, "Invalid token: service has no API keys"));
    }
    for (i, key) in keys.iter().enumerate() {
        match parsed.check_with(key.secret, now_secs) {
            KeyCheck::Ok => {
                if key.revoked {
                    return Err(fail(403, "Invalid token: API key revoked"));
                }
                return Ok(i);
            }
            KeyCheck::NotThisKey => continue,
            KeyCheck::Fatal(f) => return Err(f),
        }
    }
    Err(fail(403, "Invalid token: API key not found"))
}

struct ParsedToken<'a> {
    header: Value,
    claims: serde_json::Map<String, Value>,
    signing_input: &'a str,
    signature: Vec<u8>,
}

enum KeyCheck {
    Ok,
    NotThisKey,
    Fatal(AuthFailure),
}

impl<'a> ParsedToken<'a> {
    fn parse(token: &'a str) -> Option<Self> {
        let mut parts = token.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&b64(h)?).ok()?;
        if !header.is_object() {
            return None;
        }
        let claims = match serde_json::from_slice::<Value>(&b64(c)?).ok()? {
            Value::Object(m) => m,
            _ => return None,
        };
        let signature = b64(s)?;
        Some(ParsedToken {
            header,
            claims,
            signing_input: &token[..h.len() + 1 + c.len()],
            signature,
        })
    }

    fn check_with(&self, secret: &str, now: i64) -> KeyCheck {
        // PyJWT checks the algorithm before the signature.
        if self.header.get("alg").and_then(Value::as_str) != Some("HS256") {
            return KeyCheck::Fatal(fail(403, "Invalid token: algorithm used is not HS256"));
        }
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return KeyCheck::NotThisKey;
        };
        mac.update(self.signing_input.as_bytes());
        let expected = mac.finalize().into_bytes();
        if !bool::from(expected.as_slice().ct_eq(&self.signature)) {
            return KeyCheck::NotThisKey;
        }
        // Registered claims PyJWT validates. A present but non-integer iat is "invalid iat"
        // which Notify reports as the clock error.
        if let Some(iat) = self.claims.get("iat") {
            let Some(iat) = iat.as_i64() else {
                return KeyCheck::Fatal(fail(403, CLOCK_ERROR_MESSAGE));
            };
            if iat > now + TOKEN_BOUND_SECS {
                return KeyCheck::Fatal(fail(403, CLOCK_ERROR_MESSAGE));
            }
        }
        if let Some(exp) = self.claims.get("exp") {
            match exp.as_i64() {
                Some(exp) if exp + TOKEN_BOUND_SECS > now => {}
                _ => return KeyCheck::Fatal(fail(403, CLOCK_ERROR_MESSAGE)),
            }
        }
        if self.claims.contains_key("aud") {
            // PyJWT refuses an audience nobody asked for: a generic token error.
            return KeyCheck::Fatal(fail(403, GENERAL_TOKEN_ERROR_MESSAGE));
        }
        // Notify's own checks: missing iss/iat are decode errors, so the next key is tried.
        if !self.claims.contains_key("iss") {
            return KeyCheck::NotThisKey;
        }
        let Some(iat) = self.claims.get("iat").and_then(Value::as_i64) else {
            return KeyCheck::NotThisKey;
        };
        if now > iat + TOKEN_BOUND_SECS || iat > now + TOKEN_BOUND_SECS {
            return KeyCheck::Fatal(fail(403, CLOCK_ERROR_MESSAGE));
        }
        KeyCheck::Ok
    }
}

fn b64(s: &str) -> Option<Vec<u8>> {
    // PyJWT accepts padded or unpadded base64url.
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

/// Builds an HS256 token (used by the stand-in's own tests and callers that need one).
pub fn sign(claims: &Value, secret: &str, alg: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"typ":"JWT","alg":"{alg}"}}"#));
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{claims}");
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return input, // unreachable: HMAC takes any key length
    };
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SVC: &str = "26785a09-ab16-4eb0-8407-a37497a57506";
    const SECRET: &str = "3d844edf-8d35-48ac-975b-e847b4f122b0";
    const NOW: i64 = 1_800_000_000;

    fn run(header: Option<&str>) -> Result<usize, AuthFailure> {
        let keys = [
            KeyView {
                secret: "other-secret",
                revoked: false,
            },
            KeyView {
                secret: SECRET,
                revoked: false,
            },
        ];
        authenticate(header, Uuid::parse_str(SVC).unwrap(), &keys, NOW)
    }

    fn bearer(claims: Value, secret: &str, alg: &str) -> String {
        format!("Bearer {}", sign(&claims, secret, alg))
    }

    #[test]
    fn accepts_valid_and_picks_key() {
        let h = bearer(json!({"iss": SVC, "iat": NOW - 29}), SECRET, "HS256");
        assert_eq!(run(Some(&h)), Ok(1));
        let h = h.replacen("Bearer", "bearer", 1);
        assert_eq!(run(Some(&h)), Ok(1));
    }

    #[test]
    fn refuses_with_notify_messages() {
        let msg = |h: &str| run(Some(h)).unwrap_err();
        assert_eq!(run(None).unwrap_err().status, 401);
        assert_eq!(
            msg("Basic abc").message,
            "Unauthorized: authentication bearer scheme must be used"
        );
        assert_eq!(msg("Bearer 1234").message, GENERAL_TOKEN_ERROR_MESSAGE);
        assert_eq!(
            msg(&bearer(json!({"iat": NOW}), SECRET, "HS256")).message,
            "Invalid token: iss field not provided"
        );
        assert_eq!(
            msg(&bearer(json!({"iss": "x", "iat": NOW}), SECRET, "HS256")).message,
            "Invalid token: service id is not the right data type"
        );
        assert_eq!(
            msg(&bearer(
                json!({"iss": Uuid::new_v4().to_string(), "iat": NOW}),
                SECRET,
                "HS256"
            ))
            .message,
            "Invalid token: service not found"
        );
        assert_eq!(
            msg(&bearer(json!({"iss": SVC, "iat": NOW}), "wrong", "HS256")).message,
            "Invalid token: API key not found"
        );
        assert_eq!(
            msg(&bearer(
                json!({"iss": SVC, "iat": NOW - 31}),
                SECRET,
                "HS256"
            ))
            .message,
            CLOCK_ERROR_MESSAGE
        );
        assert_eq!(
            msg(&bearer(
                json!({"iss": SVC, "iat": NOW + 31}),
                SECRET,
                "HS256"
            ))
            .message,
            CLOCK_ERROR_MESSAGE
        );
        assert_eq!(
            msg(&bearer(json!({"iss": SVC}), SECRET, "HS256")).message,
            "Invalid token: API key not found"
        );
        assert_eq!(
            msg(&bearer(json!({"iss": SVC, "iat": NOW}), SECRET, "HS512")).message,
            "Invalid token: algorithm used is not HS256"
        );
        assert_eq!(
            msg(&bearer(
                json!({"iss": SVC, "iat": NOW, "aud": "x"}),
                SECRET,
                "HS256"
            ))
            .message,
            GENERAL_TOKEN_ERROR_MESSAGE
        );
    }

    #[test]
    fn revoked_key_is_refused() {
        let keys = [KeyView {
            secret: SECRET,
            revoked: true,
        }];
        let h = bearer(json!({"iss": SVC, "iat": NOW}), SECRET, "HS256");
        let e = authenticate(Some(&h), Uuid::parse_str(SVC).unwrap(), &keys, NOW).unwrap_err();
        assert_eq!(e.message, "Invalid token: API key revoked");
    }
}
