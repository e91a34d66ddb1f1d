//! ward's alerting stage: from rule matches to people told.
//!
//! - [`IncidentGrouper`] turns each [`RuleHit`] into an incident inside the detection consumer's
//!   transaction: a *local* incident per (rule, organisation, host) within a window, and a
//!   *national* incident when the same rule fires at several organisations within another
//!   window. Each opened incident writes outbox messages for the organisation's contacts in
//!   the same transaction, so an incident is never announced twice nor lost.
//! - [`Dispatcher`] sends due outbox messages through [`ward_channels::Channel`]s, records every
//!   attempt with its outcome and timing, and retries with backoff.
//!
//! ```
//! use ward_alerting::IncidentPolicy;
//! let policy = IncidentPolicy::default();
//! assert_eq!(policy.national_min_orgs, 3);
//! ```

pub mod acklink;
mod acks;
pub mod advisories;
mod dispatch;
pub mod escalation;
mod grouping;
mod messages;
pub mod rota;
pub mod silence;

pub use acks::{acknowledge_text, SmsAcks};
pub use dispatch::{ChannelSet, Dispatcher, DispatcherConfig};
pub use escalation::{EscalationConfig, Escalator, TickReport};
pub use grouping::{GroupOutcome, IncidentGrouper, IncidentPolicy, RuleHit};

#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    #[error(transparent)]
    Store(#[from] ward_storage::StoreError),
}
