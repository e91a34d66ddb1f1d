use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;
use ward_channels::webhook::WebhookChannel;
use ward_channels::{
    Channel, DeliveryOutcome, LogChannel, OutboundMessage, Recipient, WebhookFormat,
};
use ward_model::clock::now_ms;
use ward_model::records::Notification;
use ward_storage::{OutboxUpdate, Store};
use ward_telemetry::Registry;

use crate::AlertingError;

/// Called at start-up with the reference of every message still pending: any of them may have
/// been in flight when the process died, so the provider must be asked before sending again.
pub type MarkUncertain = Arc<dyn Fn(&str) + Send + Sync>;

/// The channel used for each outbox channel name.
#[derive(Clone)]
pub struct ChannelSet {
    pub sms: Arc<dyn Channel>,
    pub email: Arc<dyn Channel>,
    /// Posts `webhook` rows, signed with the contact's own secret; `None`: webhook rows fail
    /// permanently (and a chase fails over to the contact's next channel).
    pub webhook: Option<Arc<WebhookChannel>>,
    pub mark_uncertain: Option<MarkUncertain>,
}

impl ChannelSet {
    /// Every message goes to the server log: the offline default.
    pub fn log_only() -> Self {
        ChannelSet {
            sms: Arc::new(LogChannel),
            email: Arc::new(LogChannel),
            webhook: None,
            mark_uncertain: None,
        }
    }

    fn route(&self, n: &Notification) -> Option<(Arc<dyn Channel>, Recipient)> {
        match n.channel.as_str() {
            "sms" => Some((self.sms.clone(), Recipient::Phone(n.destination.clone()))),
            "email" => Some((self.email.clone(), Recipient::Email(n.destination.clone()))),
            _ => None,
        }
    }

    /// Sends a `webhook` row: the URL is the row's destination, the format and the secret are
    /// the contact's as stored now (a secret rotated between retries takes effect at once).
    async fn send_webhook(&self, store: &Store, n: &Notification) -> DeliveryOutcome {
        let Some(webhook) = &self.webhook else {
            return DeliveryOutcome::Permanent {
                reason: "webhooks are not enabled on this server".into(),
            };
        };
        let settings = match n.contact_id {
            Some(id) => match store.contact_channels(id).await {
                Ok(s) => s,
                Err(e) => {
                    return DeliveryOutcome::Retryable {
                        reason: format!("cannot read contact {id}'s webhook settings: {e}"),
                        retry_after: None,
                    }
                }
            },
            None => None,
        };
        let format = match settings.as_ref().map(|s| s.webhook_format.as_str()) {
            Some("teams") => WebhookFormat::Teams,
            Some("slack") => WebhookFormat::Slack,
            _ => WebhookFormat::Json,
        };
        let msg = OutboundMessage::new(
            n.reference.clone(),
            Recipient::Webhook {
                url: n.destination.clone(),
                format,
            },
            n.subject.clone(),
            n.body.clone(),
        );
        let secret = settings.as_ref().and_then(|s| s.webhook_secret.as_deref());
        webhook.send_with_secret(&msg, secret).await
    }
}

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    pub poll_interval: Duration,
    pub max_attempts: u32,
    /// Messages sent at once.
    pub concurrency: usize,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            poll_interval: Duration::from_secs(1),
            max_attempts: 8,
            concurrency: 32,
        }
    }
}

/// Sends due outbox messages and records what happened to each.
pub struct Dispatcher {
    store: Store,
    channels: ChannelSet,
    cfg: DispatcherConfig,
    wake: Arc<Notify>,
    registry: Arc<Registry>,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        channels: ChannelSet,
        cfg: DispatcherConfig,
        registry: Arc<Registry>,
    ) -> Self {
        Dispatcher {
            store,
            channels,
            cfg,
            wake: Arc::new(Notify::new()),
            registry,
        }
    }

    /// Notify this to have the dispatcher look at the outbox now rather than at its next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Sends every message due now. Returns how many attempts were made.
    pub async fn run_once(&self) -> Result<usize, AlertingError> {
        let mut total = 0;
        loop {
            let due = self.store.due_outbox(now_ms(), 256).await?;
            if due.is_empty() {
                return Ok(total);
            }
            total += due.len();
            let limit = Arc::new(Semaphore::new(self.cfg.concurrency.max(1)));
            let mut tasks = JoinSet::new();
            for n in due {
                let Ok(permit) = limit.clone().acquire_owned().await else {
                    break;
                };
                let store = self.store.clone();
                let channels = self.channels.clone();
                let max_attempts = self.cfg.max_attempts;
                let registry = self.registry.clone();
                tasks.spawn(async move {
                    let _permit = permit;
                    deliver(&store, &channels, &n, max_attempts, &registry).await
                });
            }
            while let Some(done) = tasks.join_next().await {
                match done {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "dispatcher: cannot record attempt"),
                    Err(e) => tracing::error!(error = %e, "dispatcher: send task failed"),
                }
            }
        }
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        if let Some(mark) = &self.channels.mark_uncertain {
            match self.store.due_outbox(i64::MAX, i64::MAX).await {
                Ok(pending) => {
                    for n in &pending {
                        mark(&n.reference);
                    }
                    if !pending.is_empty() {
                        tracing::info!(count = pending.len(), "dispatcher: pending messages will be checked with the provider before sending");
                    }
                }
                Err(e) => tracing::error!(error = %e, "dispatcher: cannot list pending messages"),
            }
        }
        loop {
            if let Err(e) = self.run_once().await {
                tracing::error!(error = %e, "dispatcher pass failed; retrying");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.cfg.poll_interval) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

fn backoff(attempt: i64, hint: Option<Duration>) -> Duration {
    if let Some(h) = hint {
        return h;
    }
    let base = 1u64 << attempt.clamp(0, 8);
    let jitter = rand::random::<u64>() % 500;
    Duration::from_millis((base * 1000).min(300_000) + jitter)
}

async fn deliver(
    store: &Store,
    channels: &ChannelSet,
    n: &Notification,
    max_attempts: u32,
    registry: &Registry,
) -> Result<(), AlertingError> {
    let started = Instant::now();
    let attempted_at = now_ms();
    let outcome = match channels.route(n) {
        None if n.channel == "webhook" => channels.send_webhook(store, n).await,
        Some((channel, recipient)) => {
            let msg = OutboundMessage::new(
                n.reference.clone(),
                recipient,
                n.subject.clone(),
                n.body.clone(),
            );
            channel.send(&msg).await
        }
        None => DeliveryOutcome::Permanent {
            reason: format!("no channel configured for {:?}", n.channel),
        },
    };
    let duration_ms = started.elapsed().as_millis() as i64;
    let attempt_no = n.attempts + 1;
    let (new_status, next_attempt_at, http_status, provider_id, detail) = match &outcome {
        DeliveryOutcome::Accepted {
            provider_id,
            http_status,
            detail,
        } => (
            "sent",
            attempted_at,
            http_status.map(i64::from),
            provider_id.clone(),
            detail.clone(),
        ),
        DeliveryOutcome::Retryable {
            reason,
            retry_after,
        } => {
            let give_up = attempt_no >= max_attempts as i64;
            let next = attempted_at + backoff(attempt_no, *retry_after).as_millis() as i64;
            (
                if give_up { "failed" } else { "pending" },
                next,
                None,
                None,
                reason.clone(),
            )
        }
        DeliveryOutcome::Permanent { reason } => {
            ("failed", attempted_at, None, None, reason.clone())
        }
    };
    registry
        .counter(
            "ward_notifications_attempts_total",
            "Delivery attempts by channel and outcome",
            &[("channel", &n.channel), ("outcome", outcome.as_str())],
        )
        .inc();
    if new_status == "failed" {
        tracing::warn!(reference = %n.reference, channel = %n.channel, %detail, "notification failed for good");
    }
    store
        .record_attempt(&OutboxUpdate {
            outbox_id: n.id,
            attempted_at,
            duration_ms,
            outcome: outcome.as_str().to_string(),
            http_status,
            detail,
            provider_id,
            new_status: new_status.to_string(),
            next_attempt_at,
        })
        .await?;
    Ok(())
}
