//! A contact's channels beyond phone and e-mail: a webhook (URL, format, HMAC secret) and the
//! order in which the contact is reached (`/api/v1/contacts/{id}/channels`).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};
use ward_model::channels::{
    validate_channels, ContactChannels, ContactChannelsView, WEBHOOK_FORMATS,
};
use ward_model::clock::now_ms;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    paths(get_channels, set_channels),
    components(schemas(ContactChannelsView, SetContactChannels)),
    tags((name = "members", description = "Organisations, keys, contacts and users")),
)]
pub struct ContactChannelsDoc;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/contacts/{id}/channels",
        get(get_channels).put(set_channels),
    )
}

/// A contact's webhook and channel preference (also accepted by `POST …/contacts`).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetContactChannels {
    /// http(s) URL that receives the contact's messages as a POST.
    pub webhook_url: Option<String>,
    /// `json` (default), `teams` or `slack`.
    pub webhook_format: Option<String>,
    /// HMAC-SHA-256 key for `X-Ward-Signature`; omitted: requests are unsigned.
    pub webhook_secret: Option<String>,
    /// Channel names in order of preference, e.g. `["webhook", "sms", "email"]`.
    #[serde(default)]
    pub channels: Vec<String>,
}

impl SetContactChannels {
    pub fn is_empty(&self) -> bool {
        self.webhook_url.is_none()
            && self.webhook_format.is_none()
            && self.webhook_secret.is_none()
            && self.channels.is_empty()
    }

    /// Checks the request and turns it into what is stored; errors name the field.
    pub fn validate(self, contact_id: i64) -> ApiResult<ContactChannels> {
        let url = self
            .webhook_url
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty());
        if let Some(u) = &url {
            if !(u.starts_with("https://") || u.starts_with("http://")) || u.len() > 2048 {
                return Err(ApiError::bad_request(
                    "invalid_webhook_url",
                    format!("webhook_url {u:?} is not an http(s) URL"),
                ));
            }
        }
        let format = self.webhook_format.unwrap_or_else(|| "json".into());
        if !WEBHOOK_FORMATS.contains(&format.as_str()) {
            return Err(ApiError::bad_request(
                "invalid_webhook_format",
                format!(
                    "webhook_format {format:?}; expected {}",
                    WEBHOOK_FORMATS.join(", ")
                ),
            ));
        }
        let secret = self.webhook_secret.filter(|s| !s.is_empty());
        if secret.is_some() && url.is_none() {
            return Err(ApiError::bad_request(
                "invalid_webhook_secret",
                "webhook_secret given without webhook_url",
            ));
        }
        validate_channels(&self.channels)
            .map_err(|e| ApiError::bad_request("invalid_channels", e))?;
        if self.channels.iter().any(|c| c == "webhook") && url.is_none() {
            return Err(ApiError::bad_request(
                "invalid_channels",
                "channels names webhook but no webhook_url is set",
            ));
        }
        Ok(ContactChannels {
            contact_id,
            webhook_url: url,
            webhook_format: format,
            webhook_secret: secret,
            channels: self.channels,
            updated_at: now_ms(),
        })
    }
}

fn empty(contact_id: i64) -> ContactChannelsView {
    ContactChannelsView {
        contact_id,
        webhook_url: None,
        webhook_format: "json".into(),
        webhook_signed: false,
        channels: Vec::new(),
        updated_at: 0,
    }
}

/// A contact's webhook and channel preference (the secret is never shown).
#[utoipa::path(get, path = "/api/v1/contacts/{id}/channels", tag = "members",
    params(("id" = i64, Path, description = "contact id")),
    responses((status = 200, body = ContactChannelsView), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get_channels(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> ApiResult<Json<ContactChannelsView>> {
    let Some(c) = state.store.get_contact(id).await? else {
        return Err(ApiError::not_found(format!("contact {id} not found")));
    };
    if !p.can_read_org(&c.org_code) {
        return Err(ApiError::forbidden(format!(
            "you may not read contacts of {}",
            c.org_code
        )));
    }
    let stored = state.store.contact_channels(id).await?;
    Ok(Json(
        stored
            .as_ref()
            .map(ContactChannelsView::from)
            .unwrap_or_else(|| empty(id)),
    ))
}

/// Replace a contact's webhook and channel preference.
#[utoipa::path(put, path = "/api/v1/contacts/{id}/channels", tag = "members",
    request_body = SetContactChannels,
    params(("id" = i64, Path, description = "contact id")),
    responses((status = 200, body = ContactChannelsView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn set_channels(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    Json(req): Json<SetContactChannels>,
) -> ApiResult<Json<ContactChannelsView>> {
    let Some(c) = state.store.get_contact(id).await? else {
        return Err(ApiError::not_found(format!("contact {id} not found")));
    };
    if !p.can_manage_org(&c.org_code) {
        return Err(ApiError::forbidden(format!(
            "you may not change contacts of {}",
            c.org_code
        )));
    }
    let settings = req.validate(id)?;
    state.store.set_contact_channels(&settings).await?;
    Ok(Json(ContactChannelsView::from(&settings)))
}
