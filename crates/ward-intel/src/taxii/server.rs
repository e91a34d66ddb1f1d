//! A TAXII 2.1 server as an axum [`Router`], generic over a [`TaxiiBackend`] that the
//! store implements (the lead's PostgreSQL/SQLite store; [`MemoryBackend`] here for
//! tests, benchmarks and a single node without a database).
//!
//! Routes: `/taxii2/` (discovery), `/{root}/`, `/{root}/collections/`,
//! `/{root}/collections/{id}/`, `…/objects/` (GET with `added_after`, `limit`, `next`,
//! `match[id|type|version|spec_version]`; POST → 202 + status), `…/objects/{object_id}/`,
//! `…/objects/{object_id}/versions/`, `…/manifest/`, `/{root}/status/{id}/`.
//! Media types follow the spec (`application/taxii+json;version=2.1`, 406 on a wrong
//! `Accept`, 415 on a wrong `Content-Type`), pages carry `X-TAXII-Date-Added-First`/
//! `-Last`, and errors are TAXII error resources. Credentials (HTTP Basic with the API
//! key as password, or Bearer) are handed to the backend, which returns a principal;
//! every read is then filtered by the backend ([`MemoryBackend`] applies
//! [`crate::policy::can_read`] to each object).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering as AtomicOrdering};
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{
    ApiRoot, Collection, Discovery, Envelope, Manifest, ManifestRecord, Status, Versions,
    STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE,
};
use crate::policy::{can_read, AccessMeta, Distribution, Role, Viewer};
use crate::stix::Timestamp;
use crate::tlp::Tlp;

/// Credentials from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Basic { user: String, password: String },
    Bearer(String),
}

/// A TAXII error resource with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxiiError {
    pub status: u16,
    pub title: String,
    pub description: String,
}

impl TaxiiError {
    pub fn new(status: u16, title: &str, description: impl Into<String>) -> Self {
        TaxiiError {
            status,
            title: title.into(),
            description: description.into(),
        }
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            404,
            "Not Found",
            format!("{what} does not exist or is not visible to you"),
        )
    }
    pub fn forbidden(what: &str) -> Self {
        Self::new(403, "Forbidden", what.to_string())
    }
    pub fn bad_request(what: impl Into<String>) -> Self {
        Self::new(400, "Bad Request", what)
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"title": self.title, "description": self.description, "http_status": self.status.to_string()});
        let mut r = (status, body.to_string()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(TAXII_MEDIA_TYPE),
        );
        if self.status == 401 {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ward TAXII\", Bearer"),
            );
        }
        r
    }
}

/// Filters for objects, manifest and versions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectFilter {
    pub added_after: Option<Timestamp>,
    pub limit: Option<usize>,
    pub next: Option<String>,
    pub match_id: Vec<String>,
    pub match_type: Vec<String>,
    /// `last` (the default), `first`, `all`, or version timestamps.
    pub match_version: Vec<String>,
    pub match_spec_version: Vec<String>,
}

impl ObjectFilter {
    /// Parses the query string.
    pub fn from_query(q: &[(String, String)]) -> Result<Self, TaxiiError> {
        let mut f = ObjectFilter::default();
        let list = |v: &str| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        };
        for (k, v) in q {
            match k.as_str() {
                "added_after" => {
                    f.added_after = Some(Timestamp::parse(v).map_err(|_| {
                        TaxiiError::bad_request(format!("added_after {v:?} is not a timestamp"))
                    })?)
                }
                "limit" => {
                    let n: usize = v.parse().map_err(|_| {
                        TaxiiError::bad_request(format!("limit {v:?} is not a number"))
                    })?;
                    if n == 0 {
                        return Err(TaxiiError::bad_request("limit must be positive"));
                    }
                    f.limit = Some(n);
                }
                "next" => f.next = Some(v.clone()),
                "match[id]" => f.match_id.extend(list(v)),
                "match[type]" => f.match_type.extend(list(v)),
                "match[version]" => f.match_version.extend(list(v)),
                "match[spec_version]" => f.match_spec_version.extend(list(v)),
                _ => {}
            }
        }
        Ok(f)
    }
}

/// One page of results from the backend.
#[derive(Debug, Clone, Default)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
    pub next: Option<String>,
    pub date_added_first: Option<Timestamp>,
    pub date_added_last: Option<Timestamp>,
}

/// What the store implements. Every method gets the authenticated principal and must
/// return only what that principal may see (a page is one indexed query in a real store).
pub trait TaxiiBackend: Send + Sync + 'static {
    type Principal: Send + Sync + 'static;

    /// Resolves credentials (API key as Basic password or Bearer token).
    fn authenticate(
        &self,
        cred: &Credential,
    ) -> impl Future<Output = Option<Self::Principal>> + Send;
    fn discovery(
        &self,
        p: &Self::Principal,
    ) -> impl Future<Output = Result<Discovery, TaxiiError>> + Send;
    fn api_root(
        &self,
        p: &Self::Principal,
        root: &str,
    ) -> impl Future<Output = Result<ApiRoot, TaxiiError>> + Send;
    fn collections(
        &self,
        p: &Self::Principal,
        root: &str,
    ) -> impl Future<Output = Result<Vec<Collection>, TaxiiError>> + Send;
    fn objects(
        &self,
        p: &Self::Principal,
        root: &str,
        collection: &str,
        f: &ObjectFilter,
    ) -> impl Future<Output = Result<Page<Value>, TaxiiError>> + Send;
    fn manifest(
        &self,
        p: &Self::Principal,
        root: &str,
        collection: &str,
        f: &ObjectFilter,
    ) -> impl Future<Output = Result<Page<ManifestRecord>, TaxiiError>> + Send;
    fn versions(
        &self,
        p: &Self::Principal,
        root: &str,
        collection: &str,
        object_id: &str,
        f: &ObjectFilter,
    ) -> impl Future<Output = Result<Page<String>, TaxiiError>> + Send;
    fn add_objects(
        &self,
        p: &Self::Principal,
        root: &str,
        collection: &str,
        objects: Vec<Value>,
    ) -> impl Future<Output = Result<Status, TaxiiError>> + Send;
    fn status(
        &self,
        p: &Self::Principal,
        root: &str,
        id: &str,
    ) -> impl Future<Output = Result<Status, TaxiiError>> + Send;
}

/// `date_added` as TAXII writes it (microseconds).
pub fn taxii_time(t: &Timestamp) -> String {
    t.0.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn taxii_json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let mut r = (status, serde_json::to_string(body).unwrap_or_default()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(TAXII_MEDIA_TYPE),
    );
    r
}

fn with_date_headers<T>(mut r: Response, page: &Page<T>) -> Response {
    for (name, t) in [
        ("x-taxii-date-added-first", &page.date_added_first),
        ("x-taxii-date-added-last", &page.date_added_last),
    ] {
        if let Some(v) = t
            .as_ref()
            .and_then(|t| HeaderValue::from_str(&taxii_time(t)).ok())
        {
            r.headers_mut().insert(name, v);
        }
    }
    r
}

/// The Accept header must ask for TAXII 2.1 JSON.
fn check_accept(h: &HeaderMap) -> Result<(), TaxiiError> {
    let ok = h
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| {
            a.split(',').any(|m| {
                let m = m.trim().replace(' ', "").to_ascii_lowercase();
                m == "application/taxii+json;version=2.1"
                    || m == "application/taxii+json"
                    || m.starts_with("application/taxii+json;version=2.1;")
            })
        });
    if ok {
        Ok(())
    } else {
        Err(TaxiiError::new(
            406,
            "Not Acceptable",
            format!("Accept must be {TAXII_MEDIA_TYPE}"),
        ))
    }
}

fn credential(h: &HeaderMap) -> Option<Credential> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(Credential::Bearer(rest.trim().to_string()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        return Some(Credential::Basic {
            user: u.to_string(),
            password: p.to_string(),
        });
    }
    None
}

async fn principal<B: TaxiiBackend>(b: &B, h: &HeaderMap) -> Result<B::Principal, TaxiiError> {
    check_accept(h)?;
    let cred = credential(h).ok_or_else(|| {
        TaxiiError::new(
            401,
            "Unauthorized",
            "credentials required (Basic or Bearer)",
        )
    })?;
    b.authenticate(&cred)
        .await
        .ok_or_else(|| TaxiiError::new(401, "Unauthorized", "credentials not recognised"))
}

fn query(q: Option<String>) -> Result<ObjectFilter, TaxiiError> {
    let pairs: Vec<(String, String)> = match q {
        Some(q) => serde_urlencoded::from_str(&q)
            .map_err(|e| TaxiiError::bad_request(format!("query string: {e}")))?,
        None => Vec::new(),
    };
    ObjectFilter::from_query(&pairs)
}

type S<B> = State<Arc<B>>;

async fn h_discovery<B: TaxiiBackend>(
    State(b): S<B>,
    h: HeaderMap,
) -> Result<Response, TaxiiError> {
    let p = principal(&*b, &h).await?;
    Ok(taxii_json(StatusCode::OK, &b.discovery(&p).await?))
}

async fn h_root<B: TaxiiBackend>(
    State(b): S<B>,
    Path(root): Path<String>,
    h: HeaderMap,
) -> Result<Response, TaxiiError> {
    let p = principal(&*b, &h).await?;
    Ok(taxii_json(StatusCode::OK, &b.api_root(&p, &root).await?))
}

async fn h_collections<B: TaxiiBackend>(
    State(b): S<B>,
    Path(root): Path<String>,
    h: HeaderMap,
) -> Result<Response, TaxiiError> {
    let p = principal(&*b, &h).await?;
    Ok(taxii_json(
        StatusCode::OK,
        &json!({"collections": b.collections(&p, &root).await?}),
    ))
}

async fn h_collection<B: TaxiiBackend>(
    State(b): S<B>,
    Path((root, id)): Path<(String, String)>,
    h: HeaderMap,
) -> Result<Response, TaxiiError> {
    let p = principal(&*b, &h).await?;
    let c = b
        .collections(&p, &root)
        .await?
        .into_iter()
        .find(|c| c.id == id || c.alias.as_deref() == Some(&id));
    Ok(taxii_json(
        StatusCode::OK,
        &c.ok_or_else(|| TaxiiError::not_found("collection"))?,
    ))
}

async fn h_objects<B: TaxiiBackend>(
    State(b): S<B>,
    Path((root, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    h: HeaderMap,
) -> Result<Response, TaxiiError> {
    let p = principal(&*b, &h).await?;
    let f = query(q)?;
    let page = b.objects(&p, &root, &id, &f).await?;
    let env = Envelope {
        more: page.more,
        next: page.next.clone(),
        objects: page.items.clone(),
    };
    Ok(with_date_headers(taxii_json(StatusCode::OK, &env), &page))
}

async fn h_add<B: TaxiiBackend>(
    State(b): S<B>,
    Path((root, id)): Path<(String, String)>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, TaxiiError> {
    let p = principal(&*b, &h).await?;
    let ct = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .replace(' ', "")
        .to_ascii_lowercase();
    if ct != "application/taxii+json;version=2.1" {
        return Err(TaxiiError::new(
            415,
            "Unsupported Media Type",
            format!("Content-Type must be {TAXII_MEDIA_TYPE}"),
        ));
    }
    let env: Envelope = serde_json::from_slice(&body)
        .map_err(|e| TaxiiError::bad_request(format!("envelope: {e}")))?;
    let st = b.add_objects(&p, &root, &id, env.objects).await?;
    Ok(taxii_json(StatusCode::ACCEPTED, &st))
}

async fn h_object<B: TaxiiBackend>(
    State(b): S<B>,
    Path((root, id, object_id)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    h: HeaderMap,
) -> Result<Response, TaxiiError> {
    let p = principal(&*b, &h).await?;
    let mut f = query(q)?;
    f.match_id = vec![object_id];
    let page = b.objects(&p, &root, &id, &f).await?;
    if page.items.is_empty() {
        return Err(TaxiiError::not_found("object"));
    }
    let env = Envelope {
        more: page.more,
        next: page.next.clone(),
        objects: page.items.clone(),
    };
    Ok(with_date_headers(taxii_json(StatusCode::OK, &env), &page))
}

async fn h_versions<B: TaxiiBackend>(
    State(b): S<B>,
    Path((root, id, object_id)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    h: HeaderMap,
) -> Result<Response, TaxiiError> {
    let p = principal(&*b, &h).await?;
    let f = query(q)?;
    let page = b.versions(&p, &root, &id, &object_id, &f).await?;
    if page.items.is_empty() {
        return Err(TaxiiError::not_found("object"));
    }
    let v = Versions {
        more: page.more,
        next: page.next.clone(),
        versions: page.items.clone(),
    };
    Ok(with_date_headers(taxii_json(StatusCode::OK, &v), &page))
}

async fn h_manifest<B: TaxiiBackend>(
    State(b): S<B>,
    Path((root, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    h: HeaderMap,
) -> Result<Response, TaxiiError> {
    let p = principal(&*b, &h).await?;
    let f = query(q)?;
    let page = b.manifest(&p, &root, &id, &f).await?;
    let m = Manifest {
        more: page.more,
        next: page.next.clone(),
        objects: page.items.clone(),
    };
    Ok(with_date_headers(taxii_json(StatusCode::OK, &m), &page))
}

async fn h_status<B: TaxiiBackend>(
    State(b): S<B>,
    Path((root, id)): Path<(String, String)>,
    h: HeaderMap,
) -> Result<Response, TaxiiError> {
    let p = principal(&*b, &h).await?;
    Ok(taxii_json(StatusCode::OK, &b.status(&p, &root, &id).await?))
}

/// Largest POST body the router accepts; API roots should advertise it as
/// `max_content_length`.
pub const MAX_CONTENT_LENGTH: usize = 10 * 1024 * 1024;

/// The TAXII 2.1 router. Mount it at the server root (discovery is `/taxii2/`).
pub fn router<B: TaxiiBackend>(backend: Arc<B>) -> Router {
    Router::new()
        .route("/taxii2/", get(h_discovery::<B>))
        .route("/{root}/", get(h_root::<B>))
        .route("/{root}/collections/", get(h_collections::<B>))
        .route("/{root}/collections/{id}/", get(h_collection::<B>))
        .route(
            "/{root}/collections/{id}/objects/",
            get(h_objects::<B>).post(h_add::<B>),
        )
        .route(
            "/{root}/collections/{id}/objects/{object_id}/",
            get(h_object::<B>),
        )
        .route(
            "/{root}/collections/{id}/objects/{object_id}/versions/",
            get(h_versions::<B>),
        )
        .route("/{root}/collections/{id}/manifest/", get(h_manifest::<B>))
        .route("/{root}/status/{id}/", get(h_status::<B>))
        // taxii2-client builds the status URL without the trailing slash.
        .route("/{root}/status/{id}", get(h_status::<B>))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_CONTENT_LENGTH))
        .with_state(backend)
}

// ---------------------------------------------------------------------------------------
// In-memory backend.

/// One stored object version.
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub id: String,
    pub type_: String,
    pub spec_version: String,
    /// `modified` (or `created`, or `date_added` for objects without either).
    pub version: Timestamp,
    pub date_added: Timestamp,
    pub access: AccessMeta,
    pub object: Arc<Value>,
}

/// A collection of the memory backend.
pub struct MemCollection {
    pub info: Collection,
    /// Roles that may POST.
    pub write_roles: Vec<Role>,
    data: RwLock<CollData>,
}

#[derive(Default)]
struct CollData {
    /// Sorted by (date_added, version, id): the paging key.
    objects: Vec<StoredObject>,
    /// First and last version per object id, maintained on insert so `match[version]`
    /// costs nothing per page.
    versions: HashMap<String, (Timestamp, Timestamp)>,
}

impl MemCollection {
    pub fn new(id: &str, title: &str, write_roles: Vec<Role>) -> Self {
        MemCollection {
            info: Collection {
                id: id.into(),
                title: title.into(),
                description: None,
                alias: None,
                can_read: true,
                can_write: false,
                media_types: vec![STIX_MEDIA_TYPE.into()],
            },
            write_roles,
            data: RwLock::new(CollData::default()),
        }
    }
}

/// An in-memory TAXII store: API keys → [`Viewer`]s, objects with [`AccessMeta`].
pub struct MemoryBackend {
    pub discovery: Discovery,
    pub roots: BTreeMap<String, (ApiRoot, Vec<MemCollection>)>,
    pub keys: HashMap<String, Viewer>,
    pub max_page: usize,
    /// Community used for objects members POST.
    statuses: RwLock<HashMap<String, Status>>,
    last_added_us: AtomicI64,
}

fn version_of(o: &Value) -> Option<Timestamp> {
    o.get("modified")
        .or_else(|| o.get("created"))
        .and_then(Value::as_str)
        .and_then(|s| Timestamp::parse(s).ok())
}

fn cursor(o: &StoredObject) -> String {
    format!(
        "{}_{}_{}",
        o.date_added.0.timestamp_micros(),
        o.version.0.timestamp_micros(),
        o.id
    )
}

fn parse_cursor(s: &str) -> Option<(i64, i64, String)> {
    let mut it = s.splitn(3, '_');
    Some((
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.to_string(),
    ))
}

impl MemoryBackend {
    pub fn new(title: &str, max_page: usize) -> Self {
        MemoryBackend {
            discovery: Discovery {
                title: title.into(),
                description: None,
                contact: None,
                default: None,
                api_roots: Vec::new(),
            },
            roots: BTreeMap::new(),
            keys: HashMap::new(),
            max_page: max_page.max(1),
            statuses: RwLock::new(HashMap::new()),
            last_added_us: AtomicI64::new(0),
        }
    }

    /// Adds an API root (its URL path segment is `name`).
    pub fn add_root(&mut self, name: &str, title: &str, collections: Vec<MemCollection>) {
        let info = ApiRoot {
            title: title.into(),
            description: None,
            versions: vec![TAXII_MEDIA_TYPE.into()],
            max_content_length: MAX_CONTENT_LENGTH as u64,
        };
        self.discovery.api_roots.push(format!("/{name}/"));
        if self.discovery.default.is_none() {
            self.discovery.default = Some(format!("/{name}/"));
        }
        self.roots.insert(name.to_string(), (info, collections));
    }

    /// A strictly increasing `date_added` (microseconds), so paging keys never tie.
    fn next_added(&self) -> Timestamp {
        let now = Utc::now().timestamp_micros();
        let mut prev = self.last_added_us.load(AtomicOrdering::SeqCst);
        loop {
            let v = now.max(prev + 1);
            match self.last_added_us.compare_exchange(
                prev,
                v,
                AtomicOrdering::SeqCst,
                AtomicOrdering::SeqCst,
            ) {
                Ok(_) => return Timestamp(DateTime::from_timestamp_micros(v).unwrap_or_default()),
                Err(p) => prev = p,
            }
        }
    }

    fn coll(&self, root: &str, id: &str) -> Result<&MemCollection, TaxiiError> {
        let (_, cs) = self
            .roots
            .get(root)
            .ok_or_else(|| TaxiiError::not_found("API root"))?;
        cs.iter()
            .find(|c| c.info.id == id || c.info.alias.as_deref() == Some(id))
            .ok_or_else(|| TaxiiError::not_found("collection"))
    }

    /// Stores an object (seed data, the store's own publications); `date_added` now.
    pub fn insert(
        &self,
        root: &str,
        collection: &str,
        object: Value,
        access: AccessMeta,
    ) -> Result<Timestamp, TaxiiError> {
        let c = self.coll(root, collection)?;
        let id = object
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| TaxiiError::bad_request("object without id"))?
            .to_string();
        let type_ = object
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let spec_version = object
            .get("spec_version")
            .and_then(Value::as_str)
            .unwrap_or("2.1")
            .to_string();
        let date_added = self.next_added();
        let version = version_of(&object).unwrap_or(date_added);
        let mut data = c.data.write().unwrap_or_else(|p| p.into_inner());
        let e = data
            .versions
            .entry(id.clone())
            .or_insert((version, version));
        e.0 = e.0.min(version);
        e.1 = e.1.max(version);
        let so = StoredObject {
            id,
            type_,
            spec_version,
            version,
            date_added,
            access,
            object: Arc::new(object),
        };
        // date_added only grows, so appending keeps the order.
        data.objects.push(so);
        Ok(date_added)
    }

    /// The filtered, policy-checked view of a collection, from the page cursor on.
    fn select<'a, T>(
        &self,
        data: &'a CollData,
        viewer: &Viewer,
        f: &ObjectFilter,
        extra: impl Fn(&StoredObject) -> bool,
        map: impl Fn(&'a StoredObject) -> T,
    ) -> Result<Page<T>, TaxiiError> {
        let objs = &data.objects;
        let limit = f.limit.unwrap_or(self.max_page).min(self.max_page);
        let start = match &f.next {
            Some(n) => {
                let (a, v, id) =
                    parse_cursor(n).ok_or_else(|| TaxiiError::bad_request("bad next token"))?;
                // Binary search on the sort key: the position after the cursor.
                objs.partition_point(|o| {
                    (
                        o.date_added.0.timestamp_micros(),
                        o.version.0.timestamp_micros(),
                        o.id.as_str(),
                    ) <= (a, v, id.as_str())
                })
            }
            None => match f.added_after {
                Some(t) => objs.partition_point(|o| o.date_added <= t),
                None => 0,
            },
        };
        // First/last are over all versions of an object, visible or not: a reader who
        // may not see the latest version sees none rather than a stale one.
        let versions = if f.match_version.is_empty() {
            vec!["last".to_string()]
        } else {
            f.match_version.clone()
        };
        let want_all = versions.iter().any(|v| v == "all");
        let spec_ok = |o: &StoredObject| {
            f.match_spec_version.is_empty() || f.match_spec_version.contains(&o.spec_version)
        };
        let version_ok = |o: &StoredObject| {
            want_all
                || versions.iter().any(|v| match v.as_str() {
                    "last" => data.versions.get(&o.id).map(|v| v.1) == Some(o.version),
                    "first" => data.versions.get(&o.id).map(|v| v.0) == Some(o.version),
                    ts => Timestamp::parse(ts).is_ok_and(|t| t == o.version),
                })
        };
        let mut page = Page {
            items: Vec::new(),
            more: false,
            next: None,
            date_added_first: None,
            date_added_last: None,
        };
        let mut last: Option<&StoredObject> = None;
        for o in &objs[start..] {
            if !can_read(viewer, &o.access)
                || (!f.match_id.is_empty() && !f.match_id.contains(&o.id))
                || (!f.match_type.is_empty() && !f.match_type.contains(&o.type_))
                || !spec_ok(o)
                || !version_ok(o)
                || !extra(o)
            {
                continue;
            }
            if page.items.len() == limit {
                page.more = true;
                break;
            }
            page.date_added_first.get_or_insert(o.date_added);
            page.date_added_last = Some(o.date_added);
            page.items.push(map(o));
            last = Some(o);
        }
        if page.more {
            page.next = last.map(cursor);
        }
        Ok(page)
    }

    fn viewer(&self, p: &Viewer) -> Viewer {
        p.clone()
    }
}

impl TaxiiBackend for MemoryBackend {
    type Principal = Viewer;

    async fn authenticate(&self, cred: &Credential) -> Option<Viewer> {
        let key = match cred {
            Credential::Basic { password, .. } => password,
            Credential::Bearer(t) => t,
        };
        self.keys.get(key).cloned()
    }

    async fn discovery(&self, _p: &Viewer) -> Result<Discovery, TaxiiError> {
        Ok(self.discovery.clone())
    }

    async fn api_root(&self, _p: &Viewer, root: &str) -> Result<ApiRoot, TaxiiError> {
        self.roots
            .get(root)
            .map(|r| r.0.clone())
            .ok_or_else(|| TaxiiError::not_found("API root"))
    }

    async fn collections(&self, p: &Viewer, root: &str) -> Result<Vec<Collection>, TaxiiError> {
        let (_, cs) = self
            .roots
            .get(root)
            .ok_or_else(|| TaxiiError::not_found("API root"))?;
        Ok(cs
            .iter()
            .map(|c| Collection {
                can_read: true,
                can_write: c.write_roles.contains(&p.role),
                ..c.info.clone()
            })
            .collect())
    }

    async fn objects(
        &self,
        p: &Viewer,
        root: &str,
        collection: &str,
        f: &ObjectFilter,
    ) -> Result<Page<Value>, TaxiiError> {
        let c = self.coll(root, collection)?;
        let data = c.data.read().unwrap_or_else(|e| e.into_inner());
        self.select(&data, &self.viewer(p), f, |_| true, |o| (*o.object).clone())
    }

    async fn manifest(
        &self,
        p: &Viewer,
        root: &str,
        collection: &str,
        f: &ObjectFilter,
    ) -> Result<Page<ManifestRecord>, TaxiiError> {
        let c = self.coll(root, collection)?;
        let data = c.data.read().unwrap_or_else(|e| e.into_inner());
        self.select(
            &data,
            p,
            f,
            |_| true,
            |o| ManifestRecord {
                id: o.id.clone(),
                date_added: taxii_time(&o.date_added),
                version: o.version.to_stix(),
                media_type: Some(STIX_MEDIA_TYPE.into()),
            },
        )
    }

    async fn versions(
        &self,
        p: &Viewer,
        root: &str,
        collection: &str,
        object_id: &str,
        f: &ObjectFilter,
    ) -> Result<Page<String>, TaxiiError> {
        let c = self.coll(root, collection)?;
        let data = c.data.read().unwrap_or_else(|e| e.into_inner());
        let f = ObjectFilter {
            match_id: vec![object_id.to_string()],
            match_version: vec!["all".into()],
            ..f.clone()
        };
        self.select(&data, p, &f, |_| true, |o| o.version.to_stix())
    }

    async fn add_objects(
        &self,
        p: &Viewer,
        root: &str,
        collection: &str,
        objects: Vec<Value>,
    ) -> Result<Status, TaxiiError> {
        let c = self.coll(root, collection)?;
        if !c.write_roles.contains(&p.role) {
            return Err(TaxiiError::forbidden(
                "you may not write to this collection",
            ));
        }
        let mut successes = Vec::new();
        let mut failures = Vec::new();
        let total = objects.len() as u64;
        for o in objects {
            let id = o.get("id").and_then(Value::as_str).map(String::from);
            let version = version_of(&o).map(|t| t.to_stix());
            let valid = id.is_some()
                && o.get("type").and_then(Value::as_str).is_some()
                && o.get("spec_version").and_then(Value::as_str) == Some("2.1");
            if !valid {
                failures.push(json!({"id": id.unwrap_or_default(), "message": "object needs id, type and spec_version 2.1"}));
                continue;
            }
            let tlp = o
                .get("object_marking_refs")
                .and_then(Value::as_array)
                .and_then(|a| Tlp::from_marking_refs(a.iter().filter_map(Value::as_str)))
                .unwrap_or(Tlp::Amber);
            let access = AccessMeta {
                owner_org: p.org.clone(),
                tlp,
                // The national centre publishes to everyone; a member shares with its
                // community unless the store says otherwise.
                distribution: if p.role == Role::CentralAnalyst {
                    Distribution::All
                } else {
                    Distribution::Community
                },
                community: p.communities.first().cloned().unwrap_or_default(),
                connected: Vec::new(),
            };
            let idv = id.clone().unwrap_or_default();
            match self.insert(root, collection, o, access) {
                Ok(_) => successes.push(json!({"id": idv, "version": version})),
                Err(e) => failures.push(json!({"id": idv, "message": e.description})),
            }
        }
        let st = Status {
            id: uuid::Uuid::new_v4().to_string(),
            status: "complete".into(),
            request_timestamp: Some(taxii_time(&Timestamp(Utc::now()))),
            total_count: total,
            success_count: successes.len() as u64,
            successes,
            failure_count: failures.len() as u64,
            failures,
            pending_count: 0,
            pendings: Vec::new(),
        };
        self.statuses
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(format!("{root}/{}", st.id), st.clone());
        Ok(st)
    }

    async fn status(&self, _p: &Viewer, root: &str, id: &str) -> Result<Status, TaxiiError> {
        self.statuses
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&format!("{root}/{id}"))
            .cloned()
            .ok_or_else(|| TaxiiError::not_found("status"))
    }
}
