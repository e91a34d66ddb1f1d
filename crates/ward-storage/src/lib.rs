//! ward's state store: one schema and one set of queries for SQLite and PostgreSQL.
//!
//! [`Store::connect`] takes a `sqlite://…` or `postgres://…` URL, applies the versioned
//! migrations for that engine (`migrations/sqlite`, `migrations/postgres`, same numbers, same
//! tables) and returns a handle. All queries use `$n` placeholders and portable types (times are
//! epoch milliseconds), so the code paths are identical on both engines and the test suite runs
//! every storage test against both.
//!
//! [`DetectionTx`] is the unit of work of the detection consumer: detections, the incidents they
//! open or extend, the outbox messages announcing them and the consumer's new log offset are
//! committed together, so a crash can neither lose nor repeat any of them.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ward_storage::StoreError> {
//! use ward_model::{OrgKind, OdsCode};
//! let store = ward_storage::Store::connect("sqlite::memory:", 1).await?;
//! let code: OdsCode = "RJ1".parse().unwrap();
//! store.create_org(&code, "Guy's and St Thomas'", OrgKind::AcuteTrust, "London").await?;
//! let (key, secret) = store.create_api_key(&code, "firewall").await?;
//! assert_eq!(store.authenticate_key(&secret).await?.map(|k| k.0), Some(code));
//! # let _ = key; Ok(()) }
//! ```

mod advisories;
mod contact_channels;
mod escalation;
pub mod intel;
mod scan;
pub mod search;
mod secrets;
mod sources;
mod store;
mod tx;

pub use advisories::{AdvisoryMessage, RecipientAction};
pub use escalation::{
    ChaseCandidate, ChaseMessage, FailoverCandidate, NewChase, NewPolicy, SettledChase,
    DELIVERY_STATUSES, FINAL_DELIVERY_STATUSES,
};
pub use scan::{
    AdvisoryDraftRecord, AppliedFindings, AssetRecord, FindingFilter, FindingIdentity,
    FindingRecord, NewRefusal, ObservedFinding, ScanRefusalRecord, ScanRunRecord, ScanScopeRecord,
    ScopeAuditEntry,
};
pub use search::{
    Cursor, EventIndex, IndexedEvent, ObservableQuery, RetroHit, SearchHit, SearchPage, SearchQuery,
};
pub use secrets::{hash_token, new_api_key_secret, new_user_token};
pub use sources::{LogSource, SourceKind};
pub use store::{NewContact, OutboxUpdate, Store};
pub use tx::{DetectionTx, NewDetection, NewIncident, NewOutbox, OpenIncident};

/// Errors from the store. `Conflict` and `NotFound` are the caller's fault and map to 4xx.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("stored value is invalid: {0}")]
    Invalid(String),
    #[error("unsupported database URL {0:?}: expected sqlite://… or postgres://…")]
    UnsupportedUrl(String),
}

impl StoreError {
    /// Turns a unique-constraint violation into [`StoreError::Conflict`] naming `what`.
    pub(crate) fn conflict_on_unique(e: sqlx::Error, what: impl Into<String>) -> StoreError {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return StoreError::Conflict(what.into());
            }
        }
        StoreError::Database(e)
    }
}
