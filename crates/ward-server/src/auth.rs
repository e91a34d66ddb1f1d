//! Who is calling. Member systems present their organisation's API key; people present their
//! personal token (or the session cookie the web page sets from it).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ward_model::records::User;
use ward_model::{OdsCode, Role};

use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "ward_session";

#[derive(Debug, Clone)]
pub enum Principal {
    /// A member system, by its organisation's API key.
    Member {
        org: OdsCode,
        key_id: String,
    },
    Person(User),
}

impl Principal {
    /// Central analysts see everything; everyone else only their own organisation.
    pub fn can_read_org(&self, org: &OdsCode) -> bool {
        match self {
            Principal::Person(u) if u.role.is_central() => true,
            Principal::Person(u) => u.org_code.as_ref() == Some(org),
            Principal::Member { org: own, .. } => own == org,
        }
    }

    /// Leads may change their own organisation (contacts, keys); analysts any.
    pub fn can_manage_org(&self, org: &OdsCode) -> bool {
        match self {
            Principal::Person(u) if u.role.is_central() => true,
            Principal::Person(u) => u.role == Role::OrgLead && u.org_code.as_ref() == Some(org),
            Principal::Member { .. } => false,
        }
    }

    pub fn is_central(&self) -> bool {
        matches!(self, Principal::Person(u) if u.role.is_central())
    }

    /// The organisation whose data a non-central caller is limited to.
    pub fn org_scope(&self) -> Option<&OdsCode> {
        match self {
            Principal::Person(u) if u.role.is_central() => None,
            Principal::Person(u) => u.org_code.as_ref(),
            Principal::Member { org, .. } => Some(org),
        }
    }

    pub fn require_central(&self) -> Result<(), ApiError> {
        if self.is_central() {
            Ok(())
        } else {
            Err(ApiError::forbidden("only central analysts may do this"))
        }
    }
}

/// The credential in a request: `Authorization: Bearer …`, HTTP Basic (the secret as the
/// password, for tools that only speak Basic) or the web session cookie.
pub fn credential(headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        {
            return Some(token.trim().to_string());
        }
        if let Some(b64) = value.strip_prefix("Basic ") {
            let decoded = STANDARD.decode(b64.trim()).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (_, password) = text.split_once(':')?;
            return Some(password.to_string());
        }
    }
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies.split(';').find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        (name == SESSION_COOKIE).then(|| value.to_string())
    })
}

pub async fn authenticate(state: &AppState, token: &str) -> Result<Option<Principal>, ApiError> {
    if token.starts_with("wk_") {
        return Ok(state
            .store
            .authenticate_key(token)
            .await?
            .map(|(org, key_id)| Principal::Member { org, key_id }));
    }
    Ok(state
        .store
        .authenticate_user(token)
        .await?
        .map(Principal::Person))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = credential(&parts.headers) else {
            return Err(ApiError::unauthorized(
                "no credential: send `Authorization: Bearer <key or token>`",
            ));
        };
        authenticate(state, &token)
            .await?
            .ok_or_else(|| ApiError::unauthorized("the key or token is unknown or revoked"))
    }
}
