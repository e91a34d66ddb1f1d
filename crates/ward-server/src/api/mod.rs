//! The versioned HTTP API under `/api/v1`. Everything the CLI and the web page do goes through
//! these routes.

pub mod advisories;
pub mod advisory_chases;
pub mod contact_channels;
pub mod escalation;
pub mod estate;
pub mod events;
pub mod incidents;
pub mod intel;
pub mod members;
pub mod openapi;
pub mod scan;
pub mod search;
pub mod sources;
pub mod status;
pub mod uploads;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(search::routes())
        .route("/api/v1/events", post(events::post_events))
        .route(
            "/api/v1/organisations",
            get(members::list_orgs).post(members::create_org),
        )
        .route("/api/v1/organisations/{ods}", get(members::get_org))
        .route(
            "/api/v1/organisations/{ods}/keys",
            get(members::list_keys).post(members::create_key),
        )
        .route("/api/v1/keys/{id}", delete(members::revoke_key))
        .route(
            "/api/v1/organisations/{ods}/contacts",
            get(members::list_contacts).post(members::create_contact),
        )
        .route("/api/v1/contacts/{id}", delete(members::delete_contact))
        .route(
            "/api/v1/organisations/{ods}/filters",
            get(members::list_filters).post(members::create_filter),
        )
        .route("/api/v1/filters/{id}", delete(members::delete_filter))
        .route(
            "/api/v1/users",
            get(members::list_users).post(members::create_user),
        )
        .route("/api/v1/detections", get(incidents::list_detections))
        .route("/api/v1/incidents", get(incidents::list_incidents))
        .route("/api/v1/incidents/{id}", get(incidents::get_incident))
        .route(
            "/api/v1/incidents/{id}/status",
            post(incidents::change_status),
        )
        .route("/api/v1/notifications", get(incidents::list_notifications))
        .route("/api/v1/status", get(status::status))
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .merge(escalation::routes())
        .merge(advisories::routes())
        .merge(sources::routes())
        .merge(uploads::routes())
        .merge(scan::routes())
        .merge(estate::routes())
        .merge(intel::routes())
        .merge(contact_channels::routes())
        .merge(advisory_chases::routes())
}
