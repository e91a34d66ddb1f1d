//! TAXII 2.1: the resource types, a [`client::TaxiiClient`], and an axum
//! [`server`] generic over a [`server::TaxiiBackend`].

pub mod client;
pub mod server;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The TAXII 2.1 media type (for `Accept` and `Content-Type`).
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// The STIX 2.1 media type collections advertise.
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";

/// Server discovery resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default)]
    pub api_roots: Vec<String>,
}

/// API root resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiRoot {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub versions: Vec<String>,
    pub max_content_length: u64,
}

/// Collection resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    pub can_read: bool,
    pub can_write: bool,
    #[serde(default)]
    pub media_types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collections {
    #[serde(default)]
    pub collections: Vec<Collection>,
}

/// Envelope of objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Envelope {
    #[serde(default)]
    pub more: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default)]
    pub objects: Vec<Value>,
}

/// A manifest record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub id: String,
    pub date_added: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Manifest {
    #[serde(default)]
    pub more: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default)]
    pub objects: Vec<ManifestRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Versions {
    #[serde(default)]
    pub more: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default)]
    pub versions: Vec<String>,
}

/// Status resource for an add-objects request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub id: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timestamp: Option<String>,
    pub total_count: u64,
    pub success_count: u64,
    #[serde(default)]
    pub successes: Vec<Value>,
    pub failure_count: u64,
    #[serde(default)]
    pub failures: Vec<Value>,
    pub pending_count: u64,
    #[serde(default)]
    pub pendings: Vec<Value>,
}
