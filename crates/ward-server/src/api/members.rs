//! Organisations, their API keys and contacts, and users.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use ward_model::records::{ApiKey, Contact, MetaFilter, Organisation, User};
use ward_model::{OdsCode, OrgKind, Role};
use ward_storage::NewContact;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

fn parse_ods(raw: &str) -> ApiResult<OdsCode> {
    raw.parse().map_err(|e: ward_model::InvalidOdsCode| {
        ApiError::bad_request("invalid_ods_code", e.to_string())
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    #[schema(example = "RJ1")]
    pub ods_code: String,
    pub name: String,
    #[schema(value_type = String, example = "acute_trust")]
    pub kind: String,
    #[schema(example = "London")]
    pub region: String,
}

/// List organisations (central analysts see all; others their own).
#[utoipa::path(get, path = "/api/v1/organisations", tag = "members",
    responses((status = 200, body = Vec<Organisation>)), security(("bearer" = [])))]
pub async fn list_orgs(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Vec<Organisation>>> {
    let orgs = state.store.list_orgs().await?;
    Ok(Json(
        orgs.into_iter()
            .filter(|o| p.can_read_org(&o.ods_code))
            .collect(),
    ))
}

/// Register a member organisation (central analysts only).
#[utoipa::path(post, path = "/api/v1/organisations", tag = "members", request_body = CreateOrg,
    responses((status = 201, body = Organisation), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_org(
    State(state): State<AppState>,
    p: Principal,
    Json(req): Json<CreateOrg>,
) -> ApiResult<(StatusCode, Json<Organisation>)> {
    p.require_central()?;
    let code = parse_ods(&req.ods_code)?;
    let kind: OrgKind = req.kind.parse().map_err(|e: ward_model::UnknownName| {
        ApiError::bad_request("invalid_kind", e.to_string())
    })?;
    if req.name.trim().is_empty() || req.region.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "name and region must not be empty",
        ));
    }
    let org = state
        .store
        .create_org(&code, req.name.trim(), kind, req.region.trim())
        .await?;
    Ok((StatusCode::CREATED, Json(org)))
}

/// One organisation.
#[utoipa::path(get, path = "/api/v1/organisations/{ods}", tag = "members",
    params(("ods" = String, Path, description = "ODS code")),
    responses((status = 200, body = Organisation), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get_org(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
) -> ApiResult<Json<Organisation>> {
    let code = parse_ods(&ods)?;
    if !p.can_read_org(&code) {
        return Err(ApiError::not_found(format!(
            "organisation {code} not found"
        )));
    }
    state
        .store
        .get_org(&code)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("organisation {code} not found")))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// What the key is for, e.g. "firewall syslog forwarder".
    pub label: String,
}

/// A new key. `secret` is shown this once and never stored.
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: String,
}

/// Create an API key for an organisation's systems (analysts, or the organisation's lead).
#[utoipa::path(post, path = "/api/v1/organisations/{ods}/keys", tag = "members", request_body = CreateKey,
    params(("ods" = String, Path, description = "ODS code")),
    responses((status = 201, body = CreatedKey), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
    Json(req): Json<CreateKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let code = parse_ods(&ods)?;
    if !p.can_manage_org(&code) {
        return Err(ApiError::forbidden(format!(
            "you may not create keys for {code}"
        )));
    }
    let (key, secret) = state.store.create_api_key(&code, req.label.trim()).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key, secret })))
}

/// List an organisation's keys (never their secrets).
#[utoipa::path(get, path = "/api/v1/organisations/{ods}/keys", tag = "members",
    params(("ods" = String, Path, description = "ODS code")),
    responses((status = 200, body = Vec<ApiKey>)), security(("bearer" = [])))]
pub async fn list_keys(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
) -> ApiResult<Json<Vec<ApiKey>>> {
    let code = parse_ods(&ods)?;
    if !p.can_manage_org(&code) {
        return Err(ApiError::forbidden(format!(
            "you may not list keys of {code}"
        )));
    }
    Ok(Json(state.store.list_api_keys(&code).await?))
}

/// Revoke a key at once.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "members",
    params(("id" = String, Path, description = "key id")),
    responses((status = 200, body = ApiKey), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiKey>> {
    let Some(key) = state.store.get_api_key(&id).await? else {
        return Err(ApiError::not_found(format!("API key {id} not found")));
    };
    if !p.can_manage_org(&key.org_code) {
        return Err(ApiError::forbidden(format!(
            "you may not revoke keys of {}",
            key.org_code
        )));
    }
    Ok(Json(state.store.revoke_api_key(&id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContact {
    pub name: String,
    /// UK mobile number; stored in E.164 form.
    pub phone: Option<String>,
    pub email: Option<String>,
    /// e.g. security_lead, deputy, director, on_call.
    #[serde(default = "default_contact_role")]
    pub role: String,
    /// http(s) URL that receives the contact's messages (see `PUT /api/v1/contacts/{id}/channels`).
    pub webhook_url: Option<String>,
    /// `json` (default), `teams` or `slack`.
    pub webhook_format: Option<String>,
    /// HMAC-SHA-256 key of the webhook's signatures.
    pub webhook_secret: Option<String>,
    /// Channel names in order of preference, e.g. `["webhook", "sms", "email"]`.
    #[serde(default)]
    pub channels: Vec<String>,
}

fn default_contact_role() -> String {
    "security_lead".into()
}

/// Add a person to tell about the organisation's incidents.
#[utoipa::path(post, path = "/api/v1/organisations/{ods}/contacts", tag = "members", request_body = CreateContact,
    params(("ods" = String, Path, description = "ODS code")),
    responses((status = 201, body = Contact), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_contact(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
    Json(req): Json<CreateContact>,
) -> ApiResult<(StatusCode, Json<Contact>)> {
    let code = parse_ods(&ods)?;
    if !p.can_manage_org(&code) {
        return Err(ApiError::forbidden(format!(
            "you may not change contacts of {code}"
        )));
    }
    let phone =
        match req
            .phone
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(raw) => Some(ward_channels::phone::normalise_uk_mobile(raw).map_err(|e| {
                ApiError::bad_request("invalid_phone", format!("phone {raw:?}: {e}"))
            })?),
            None => None,
        };
    let email = req
        .email
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty());
    if let Some(e) = &email {
        if !e.contains('@') || e.starts_with('@') || e.ends_with('@') {
            return Err(ApiError::bad_request(
                "invalid_email",
                format!("email {e:?} is not an address"),
            ));
        }
    }
    // Checked before the contact exists, so a bad webhook leaves no half-made contact.
    let wanted = super::contact_channels::SetContactChannels {
        webhook_url: req.webhook_url,
        webhook_format: req.webhook_format,
        webhook_secret: req.webhook_secret,
        channels: req.channels,
    };
    let channels = (!wanted.is_empty())
        .then(|| wanted.validate(0))
        .transpose()?;
    let contact = state
        .store
        .add_contact(
            &code,
            NewContact {
                name: req.name,
                phone,
                email,
                role: req.role,
            },
        )
        .await?;
    if let Some(mut ch) = channels {
        ch.contact_id = contact.id;
        state.store.set_contact_channels(&ch).await?;
    }
    Ok((StatusCode::CREATED, Json(contact)))
}

/// An organisation's contacts.
#[utoipa::path(get, path = "/api/v1/organisations/{ods}/contacts", tag = "members",
    params(("ods" = String, Path, description = "ODS code")),
    responses((status = 200, body = Vec<Contact>)), security(("bearer" = [])))]
pub async fn list_contacts(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
) -> ApiResult<Json<Vec<Contact>>> {
    let code = parse_ods(&ods)?;
    if !p.can_read_org(&code) || matches!(p, Principal::Member { .. }) {
        return Err(ApiError::forbidden(format!(
            "you may not read contacts of {code}"
        )));
    }
    Ok(Json(state.store.list_contacts(&code).await?))
}

/// Remove a contact.
#[utoipa::path(delete, path = "/api/v1/contacts/{id}", tag = "members",
    params(("id" = i64, Path, description = "contact id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn delete_contact(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let Some(c) = state.store.get_contact(id).await? else {
        return Err(ApiError::not_found(format!("contact {id} not found")));
    };
    if !p.can_manage_org(&c.org_code) {
        return Err(ApiError::forbidden(format!(
            "you may not change contacts of {}",
            c.org_code
        )));
    }
    state.store.delete_contact(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub name: String,
    pub email: String,
    #[schema(value_type = String, example = "org_lead")]
    pub role: String,
    /// Required for org_lead and org_viewer; absent for central_analyst.
    pub org_code: Option<String>,
}

/// A new user. `token` is their personal API token, shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedUser {
    pub user: User,
    pub token: String,
}

/// Add a person (central analysts only).
#[utoipa::path(post, path = "/api/v1/users", tag = "members", request_body = CreateUser,
    responses((status = 201, body = CreatedUser), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_user(
    State(state): State<AppState>,
    p: Principal,
    Json(req): Json<CreateUser>,
) -> ApiResult<(StatusCode, Json<CreatedUser>)> {
    p.require_central()?;
    let role: Role = req.role.parse().map_err(|e: ward_model::UnknownName| {
        ApiError::bad_request("invalid_role", e.to_string())
    })?;
    let org = req.org_code.as_deref().map(parse_ods).transpose()?;
    if !req.email.contains('@') {
        return Err(ApiError::bad_request(
            "invalid_email",
            format!("email {:?} is not an address", req.email),
        ));
    }
    let (user, token) = state
        .store
        .create_user(req.name.trim(), req.email.trim(), role, org.as_ref())
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedUser { user, token })))
}

/// List users (central analysts only).
#[utoipa::path(get, path = "/api/v1/users", tag = "members",
    responses((status = 200, body = Vec<User>)), security(("bearer" = [])))]
pub async fn list_users(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Vec<User>>> {
    p.require_central()?;
    Ok(Json(state.store.list_users().await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFilter {
    /// A name for people, e.g. "backup server runs vssadmin".
    pub name: String,
    /// The Sigma meta filter document (YAML with a `filter:` section).
    pub yaml: String,
}

/// Add a meta filter that tunes this organisation's detections. It is compiled against the
/// loaded rules first; a filter that does not compile is refused with its line and reason.
#[utoipa::path(post, path = "/api/v1/organisations/{ods}/filters", tag = "members", request_body = CreateFilter,
    params(("ods" = String, Path, description = "ODS code")),
    responses((status = 201, body = MetaFilter), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_filter(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
    Json(req): Json<CreateFilter>,
) -> ApiResult<(StatusCode, Json<MetaFilter>)> {
    let code = parse_ods(&ods)?;
    if !p.can_manage_org(&code) {
        return Err(ApiError::forbidden(format!(
            "you may not change filters of {code}"
        )));
    }
    let (_, errors) = ward_detect::FilterSet::from_sources(
        &state.engine,
        &[(req.name.clone(), req.yaml.clone())],
    );
    if !errors.is_empty() {
        let messages: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        return Err(ApiError {
            details: Some(Box::new(serde_json::json!({ "errors": messages }))),
            ..ApiError::bad_request(
                "invalid_filter",
                format!("the filter does not compile: {}", messages.join("; ")),
            )
        });
    }
    let filter = state
        .store
        .add_filter(&code, req.name.trim(), &req.yaml)
        .await?;
    Ok((StatusCode::CREATED, Json(filter)))
}

/// An organisation's meta filters.
#[utoipa::path(get, path = "/api/v1/organisations/{ods}/filters", tag = "members",
    params(("ods" = String, Path, description = "ODS code")),
    responses((status = 200, body = Vec<MetaFilter>)), security(("bearer" = [])))]
pub async fn list_filters(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
) -> ApiResult<Json<Vec<MetaFilter>>> {
    let code = parse_ods(&ods)?;
    if !p.can_read_org(&code) || matches!(p, Principal::Member { .. }) {
        return Err(ApiError::forbidden(format!(
            "you may not read filters of {code}"
        )));
    }
    Ok(Json(state.store.list_filters(Some(&code)).await?))
}

/// Remove a meta filter.
#[utoipa::path(delete, path = "/api/v1/filters/{id}", tag = "members",
    params(("id" = i64, Path, description = "filter id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn delete_filter(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let Some(f) = state.store.get_filter(id).await? else {
        return Err(ApiError::not_found(format!("filter {id} not found")));
    };
    if !p.can_manage_org(&f.org_code) {
        return Err(ApiError::forbidden(format!(
            "you may not change filters of {}",
            f.org_code
        )));
    }
    state.store.delete_filter(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
