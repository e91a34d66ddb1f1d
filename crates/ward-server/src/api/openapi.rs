use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    escalation, estate, events, incidents, intel, members, scan, search, sources, status, uploads,
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An organisation API key (wk_…) for member systems, or a personal token (wu_…)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "ward API", description = "National security monitoring and alerting for a federation of health and care organisations.", license(name = "Apache-2.0 OR MIT")),
    paths(
        events::post_events,
        members::list_orgs, members::create_org, members::get_org,
        members::create_key, members::list_keys, members::revoke_key,
        members::create_contact, members::list_contacts, members::delete_contact,
        members::create_filter, members::list_filters, members::delete_filter,
        members::create_user, members::list_users,
        incidents::list_detections, incidents::list_incidents, incidents::get_incident,
        incidents::change_status,
        incidents::list_notifications,
        status::status,
        escalation::list_policies, escalation::create_policy, escalation::delete_policy,
        escalation::list_rotas, escalation::create_rota, escalation::create_override, escalation::on_call,
        escalation::list_silences, escalation::create_silence, escalation::expire_silence,
        escalation::get_triage, escalation::set_triage, escalation::list_chases, escalation::acknowledge,
        escalation::delivery_status_callback, escalation::received_text_callback,
        sources::list_sources, sources::add_source, sources::delete_source,
        sources::get_retention, sources::set_retention,
        uploads::upload, uploads::intake,
        scan::list_scopes, scan::create_scope, scan::get_scope, scan::update_scope, scan::delete_scope,
        scan::scope_audit, scan::start_run, scan::list_runs, scan::get_run, scan::cancel_run,
        scan::list_findings, scan::set_finding_status,
        estate::list_assets, estate::add_assets, estate::import_csv, estate::org_exposures,
        estate::national_exposures, estate::list_feeds, estate::pull_feed, estate::list_drafts,
        intel::submit_indicators, intel::list_indicators, intel::get_indicator,
        intel::report_sighting, intel::report_false_positive, intel::export_indicators,
        intel::warninglists,
        crate::intel_feeds::list_feeds, crate::intel_feeds::add_feed, crate::intel_feeds::run_feed_now,
        search::search, search::retro_search,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    modifiers(&BearerAuth),
    tags(
        (name = "events", description = "Sending telemetry"),
        (name = "members", description = "Organisations, keys, contacts and users"),
        (name = "incidents", description = "Detections, incidents and notifications"),
        (name = "status", description = "The pipeline"),
        (name = "escalation", description = "Escalation policies, on-call rotas, silences, triage, acknowledgement and Notify callbacks"),
        (name = "scan", description = "Authorised scanning: scopes, runs, findings"),
        (name = "estate", description = "Members' estates, vulnerability feeds and exposures"),
        (name = "intel", description = "Threat intelligence: indicators, sightings, exports, feeds (TAXII 2.1 is served at /taxii2/)"),
        (name = "search", description = "Event search and retro-hunt"),
    )
)]
pub struct ApiDoc;

pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    let mut doc = ApiDoc::openapi();
    doc.merge(<super::advisories::AdvisoriesDoc as OpenApi>::openapi());
    doc.merge(<super::contact_channels::ContactChannelsDoc as OpenApi>::openapi());
    doc.merge(<super::advisory_chases::AdvisoryChasesDoc as OpenApi>::openapi());
    Json(doc)
}
