//! The TAXII 2.1 server under `/taxii2/`, backed by the store.
//!
//! Members authenticate with their organisation's API key (HTTP Basic password or Bearer)
//! or a person's token; every page is one store query with the TLP × distribution × role
//! filter inside it, and each object is checked again with `ward_intel::policy::can_read`
//! before it leaves (a disagreement is counted and the object withheld). POSTed objects
//! go through the same publication path as the API (store, live matching, retro-hunt).

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{Request, Uri};
use chrono::DateTime;
use serde_json::{json, Value};
use tower::ServiceExt;
use ward_intel::feeds::stix_bundle::import_objects;
use ward_intel::policy::{can_read, Role};
use ward_intel::stix::{StixObject, Timestamp};
use ward_intel::taxii::server::{
    router, taxii_time, Credential, ObjectFilter, Page, TaxiiBackend, TaxiiError,
    MAX_CONTENT_LENGTH,
};
use ward_intel::taxii::{
    ApiRoot, Collection, Discovery, ManifestRecord, Status, STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE,
};
use ward_intel::tlp::Tlp;
use ward_storage::intel::{IntelCollection, ObjectQuery, StoredIntelObject, VersionSel};

use crate::intel::{
    access_meta, caller, IntelCaller, API_ROOT, DEFAULT_COLLECTION, DEFAULT_COLLECTION_ALIAS,
};
use crate::state::AppState;

/// The store-backed backend.
pub struct StoreBackend {
    pub state: AppState,
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::CentralAnalyst => "central_analyst",
        Role::OrgLead => "org_lead",
        Role::OrgViewer => "org_viewer",
        Role::MemberSystem => "member_system",
    }
}

/// Creates the default collection if it is missing.
pub async fn ensure_collections(
    store: &ward_storage::Store,
) -> Result<(), ward_storage::StoreError> {
    if store
        .list_intel_collections(API_ROOT)
        .await?
        .iter()
        .any(|c| c.id == DEFAULT_COLLECTION)
    {
        return Ok(());
    }
    store
        .upsert_intel_collection(&IntelCollection {
            id: DEFAULT_COLLECTION.into(),
            api_root: API_ROOT.into(),
            title: "ward indicators".into(),
            description: Some(
                "Indicators and related STIX objects shared through ward; each reader sees what TLP and distribution allow".into(),
            ),
            alias: Some(DEFAULT_COLLECTION_ALIAS.into()),
            write_roles: vec![
                "central_analyst".into(),
                "org_lead".into(),
                "member_system".into(),
            ],
        })
        .await
}

fn store_err(e: impl std::fmt::Display) -> TaxiiError {
    tracing::error!(error = %e, "TAXII store error");
    TaxiiError::new(500, "Internal Server Error", "the state store failed")
}

fn micros_ts(us: i64) -> Timestamp {
    Timestamp(DateTime::from_timestamp_micros(us).unwrap_or_default())
}

impl StoreBackend {
    async fn collection(&self, id: &str) -> Result<IntelCollection, TaxiiError> {
        self.state
            .store
            .list_intel_collections(API_ROOT)
            .await
            .map_err(store_err)?
            .into_iter()
            .find(|c| c.id == id || c.alias.as_deref() == Some(id))
            .ok_or_else(|| TaxiiError::not_found("collection"))
    }

    fn check_root(root: &str) -> Result<(), TaxiiError> {
        if root == API_ROOT {
            Ok(())
        } else {
            Err(TaxiiError::not_found("API root"))
        }
    }

    /// One page: the store filters; `can_read` double-checks each object.
    async fn page(
        &self,
        p: &IntelCaller,
        root: &str,
        collection: &str,
        f: &ObjectFilter,
        force: Option<(Vec<String>, Vec<VersionSel>)>,
    ) -> Result<Page<StoredIntelObject>, TaxiiError> {
        Self::check_root(root)?;
        let c = self.collection(collection).await?;
        let max = self.state.cfg.intel.taxii_max_page.max(1);
        let limit = f.limit.unwrap_or(max).min(max);
        let mut after = f.added_after.map(|t| t.0.timestamp_micros());
        if let Some(n) = &f.next {
            let cursor: i64 = n
                .parse()
                .map_err(|_| TaxiiError::bad_request("bad next token"))?;
            after = Some(after.map_or(cursor, |a| a.max(cursor)));
        }
        let mut versions = Vec::new();
        for v in &f.match_version {
            versions.push(match v.as_str() {
                "last" => VersionSel::Last,
                "first" => VersionSel::First,
                "all" => VersionSel::All,
                ts => VersionSel::At(
                    Timestamp::parse(ts)
                        .map_err(|_| {
                            TaxiiError::bad_request(format!(
                                "match[version] {ts:?} is not a timestamp"
                            ))
                        })?
                        .0
                        .timestamp_millis(),
                ),
            });
        }
        let (ids, versions) = match force {
            Some((ids, v)) => (ids, v),
            None => (f.match_id.clone(), versions),
        };
        let q = ObjectQuery {
            collection_id: c.id,
            added_after_us: after,
            ids,
            types: f.match_type.clone(),
            versions,
            spec_versions: f.match_spec_version.clone(),
            limit,
        };
        let (items, more) = self
            .state
            .store
            .query_intel_objects(&p.reader, &q)
            .await
            .map_err(store_err)?;
        let last = items.last().map(|o| o.date_added);
        let first = items.first().map(|o| o.date_added);
        let mut out = Vec::with_capacity(items.len());
        for o in items {
            if can_read(&p.viewer, &access_meta(&o.access)) {
                out.push(o);
            } else {
                self.state.intel.denied.inc();
                tracing::error!(id = %o.stix_id, "store returned an object the policy refuses; withheld");
            }
        }
        Ok(Page {
            items: out,
            more,
            next: if more {
                last.map(|l| l.to_string())
            } else {
                None
            },
            date_added_first: first.map(micros_ts),
            date_added_last: last.map(micros_ts),
        })
    }
}

fn map_page<T>(p: Page<StoredIntelObject>, f: impl Fn(StoredIntelObject) -> T) -> Page<T> {
    Page {
        items: p.items.into_iter().map(f).collect(),
        more: p.more,
        next: p.next,
        date_added_first: p.date_added_first,
        date_added_last: p.date_added_last,
    }
}

impl TaxiiBackend for StoreBackend {
    type Principal = IntelCaller;

    async fn authenticate(&self, cred: &Credential) -> Option<IntelCaller> {
        let token = match cred {
            Credential::Basic { password, .. } => password,
            Credential::Bearer(t) => t,
        };
        let principal = crate::auth::authenticate(&self.state, token).await.ok()??;
        caller(&self.state.store, &self.state.cfg.intel, principal)
            .await
            .ok()
    }

    async fn discovery(&self, _p: &IntelCaller) -> Result<Discovery, TaxiiError> {
        Ok(Discovery {
            title: "ward TAXII 2.1".into(),
            description: Some(
                "Threat intelligence shared by the national centre and its members".into(),
            ),
            contact: None,
            default: Some(format!("/taxii2/{API_ROOT}/")),
            api_roots: vec![format!("/taxii2/{API_ROOT}/")],
        })
    }

    async fn api_root(&self, _p: &IntelCaller, root: &str) -> Result<ApiRoot, TaxiiError> {
        Self::check_root(root)?;
        Ok(ApiRoot {
            title: "ward".into(),
            description: None,
            versions: vec![TAXII_MEDIA_TYPE.into()],
            max_content_length: MAX_CONTENT_LENGTH as u64,
        })
    }

    async fn collections(
        &self,
        p: &IntelCaller,
        root: &str,
    ) -> Result<Vec<Collection>, TaxiiError> {
        Self::check_root(root)?;
        let role = role_name(p.role());
        Ok(self
            .state
            .store
            .list_intel_collections(API_ROOT)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|c| Collection {
                can_write: c.write_roles.iter().any(|r| r == role),
                id: c.id,
                title: c.title,
                description: c.description,
                alias: c.alias,
                can_read: true,
                media_types: vec![STIX_MEDIA_TYPE.into()],
            })
            .collect())
    }

    async fn objects(
        &self,
        p: &IntelCaller,
        root: &str,
        collection: &str,
        f: &ObjectFilter,
    ) -> Result<Page<Value>, TaxiiError> {
        let page = self.page(p, root, collection, f, None).await?;
        Ok(map_page(page, |o| {
            serde_json::from_str(&o.object).unwrap_or_else(|_| json!({"id": o.stix_id}))
        }))
    }

    async fn manifest(
        &self,
        p: &IntelCaller,
        root: &str,
        collection: &str,
        f: &ObjectFilter,
    ) -> Result<Page<ManifestRecord>, TaxiiError> {
        let page = self.page(p, root, collection, f, None).await?;
        Ok(map_page(page, |o| ManifestRecord {
            id: o.stix_id,
            date_added: taxii_time(&micros_ts(o.date_added)),
            version: o.version,
            media_type: Some(STIX_MEDIA_TYPE.into()),
        }))
    }

    async fn versions(
        &self,
        p: &IntelCaller,
        root: &str,
        collection: &str,
        object_id: &str,
        f: &ObjectFilter,
    ) -> Result<Page<String>, TaxiiError> {
        let page = self
            .page(
                p,
                root,
                collection,
                f,
                Some((vec![object_id.to_string()], vec![VersionSel::All])),
            )
            .await?;
        Ok(map_page(page, |o| o.version))
    }

    async fn add_objects(
        &self,
        p: &IntelCaller,
        root: &str,
        collection: &str,
        objects: Vec<Value>,
    ) -> Result<Status, TaxiiError> {
        Self::check_root(root)?;
        let c = self.collection(collection).await?;
        if c.id != DEFAULT_COLLECTION || !c.write_roles.iter().any(|r| r == role_name(p.role())) {
            return Err(TaxiiError::forbidden(
                "you may not write to this collection",
            ));
        }
        let total = objects.len() as u64;
        let mut successes = Vec::new();
        let mut failures = Vec::new();
        let mut good = Vec::new();
        let mut parsed = Vec::new();
        for o in objects {
            let id = o
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if o.get("spec_version").and_then(Value::as_str) != Some("2.1") {
                failures.push(json!({"id": id, "message": "object needs spec_version 2.1"}));
                continue;
            }
            match StixObject::from_value(o.clone()) {
                Ok(s) => {
                    successes.push(json!({"id": id, "version": s.modified().map(|t| t.to_stix())}));
                    parsed.push(s);
                    good.push(o);
                }
                Err(e) => failures.push(json!({"id": id, "message": e.to_string()})),
            }
        }
        let dist = p.default_distribution();
        let tlp_of = |v: &Value| {
            v.get("object_marking_refs")
                .and_then(Value::as_array)
                .and_then(|a| Tlp::from_marking_refs(a.iter().filter_map(Value::as_str)))
                .unwrap_or(Tlp::Amber)
        };
        let import = import_objects(parsed, &format!("taxii:{}", p.owner), Tlp::Amber);
        let publisher = self.state.intel_publisher.clone();
        publisher
            .publish(
                &good,
                &import.indicators,
                |v| p.access(tlp_of(v), dist),
                |r| p.access(r.tlp, dist),
            )
            .await
            .map_err(|e| TaxiiError::new(e.status.as_u16(), "Error", e.message))?;
        let st = Status {
            id: uuid::Uuid::new_v4().to_string(),
            status: "complete".into(),
            request_timestamp: Some(taxii_time(&Timestamp::now())),
            total_count: total,
            success_count: successes.len() as u64,
            successes,
            failure_count: failures.len() as u64,
            failures,
            pending_count: 0,
            pendings: Vec::new(),
        };
        let body = serde_json::to_string(&st).map_err(store_err)?;
        self.state
            .store
            .put_taxii_status(&st.id, root, &p.owner, &body)
            .await
            .map_err(store_err)?;
        Ok(st)
    }

    async fn status(&self, p: &IntelCaller, root: &str, id: &str) -> Result<Status, TaxiiError> {
        Self::check_root(root)?;
        let (owner, body) = self
            .state
            .store
            .get_taxii_status(root, id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| TaxiiError::not_found("status"))?;
        if owner != p.owner && p.role() != Role::CentralAnalyst {
            return Err(TaxiiError::not_found("status"));
        }
        serde_json::from_str(&body).map_err(store_err)
    }
}

/// The TAXII service to nest at `/taxii2`: the library's router expects discovery at
/// `/taxii2/` and API roots at `/{root}/`, so the prefix axum strips is put back for
/// discovery and the API roots are served as `/taxii2/{root}/`.
pub fn service(
    state: AppState,
) -> impl tower::Service<
    Request<Body>,
    Response = axum::response::Response,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + Sync
       + 'static {
    let inner = router(std::sync::Arc::new(StoreBackend { state }));
    inner.map_request(|mut req: Request<Body>| {
        if req.uri().path() == "/" || req.uri().path().is_empty() {
            let pq = match req.uri().query() {
                Some(q) => format!("/taxii2/?{q}"),
                None => "/taxii2/".to_string(),
            };
            if let Ok(uri) = pq.parse::<Uri>() {
                *req.uri_mut() = uri;
            }
        }
        req
    })
}
