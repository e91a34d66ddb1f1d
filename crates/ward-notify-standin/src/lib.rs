//! A faithful stand-in for the GOV.UK Notify API, for ward's tests, demo and benchmarks.
//!
//! GOV.UK Notify cannot be reached from a test machine, so this crate serves its published
//! contract on a local port:
//!
//! - `POST /v2/notifications/sms` and `/email` with templates and personalisation;
//!   `GET /v2/notifications/{id}`; `GET /v2/notifications` with `template_type`, `status`,
//!   `reference` and `older_than` paging; `GET /v2/received-text-messages`.
//! - JWT checks exactly as Notify makes them ([`auth`]): HS256, `iss` = service id, `iat`
//!   within ±30 s, the documented `AuthError` messages.
//! - Error bodies `{"status_code": N, "errors": [{"error": ..., "message": ...}]}`.
//! - The rate limit (a token bucket per service and key type, as Notify keys it: 1,000
//!   burst, 50/s, reported as 3,000 per minute, `RateLimitError`) and the daily limit (`TooManyRequestsError`).
//! - Test-key behaviour: `07700900003` → `temporary-failure`, `07700900002` →
//!   `permanent-failure`, every other number `delivered`; status progression
//!   `created` → `sending` → `pending` → final; delivery-status and received-text callbacks
//!   with a bearer token, retried every 5 (simulated) minutes up to 5 times.
//! - Fault injection (5xx, 429, timeouts, lost replies) for a period of simulated time, and
//!   a [`clock::SimClock`] that tests advance, through [`StandinHandle`] or `/_standin/...`.
//!
//! Main types: [`StandinConfig`], [`StandinHandle`] (from [`serve`] or [`bind`]),
//! [`FaultKind`], [`Status`], [`Notification`].
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use ward_notify_standin::{bind, StandinConfig};
//! let standin = bind("127.0.0.1:0", StandinConfig::default()).await.unwrap();
//! let key = standin.api_key("ward-test").unwrap(); // `{name}-{service_id}-{secret}`
//! assert!(key.starts_with("ward-test-"));
//! // Unauthenticated requests get Notify's own 401 body.
//! let resp = reqwest::get(format!("{}/v2/notifications", standin.base_url())).await.unwrap();
//! assert_eq!(resp.status(), 401);
//! let body: serde_json::Value = resp.json().await.unwrap();
//! assert_eq!(body["errors"][0]["error"], "AuthError");
//! standin.shutdown().await;
//! # });
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod auth;
pub mod clock;
pub mod config;
mod http;
pub mod state;
pub mod validate;

pub use config::{
    CallbackConfig, CallbackStatuses, CallbackTarget, KeyConfig, KeyType, ProgressionConfig,
    RateLimitConfig, StandinConfig, TemplateConfig, TemplateType,
};
pub use state::{CallbackRecord, Fault, FaultKind, Notification, ReceivedText, Stats, Status};

use clock::SimClock;
use state::State;

/// Errors starting the stand-in.
#[derive(Debug, thiserror::Error)]
pub enum StandinError {
    #[error("NS001 invalid stand-in configuration at `{field}`: {reason}")]
    Config { field: String, reason: String },
    #[error("NS002 could not listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("NS003 HTTP client for callbacks could not be built: {0}")]
    Http(String),
}

/// Called with every accepted send as it is accepted (benchmarks timestamp arrivals with it).
pub type SendHook = Arc<dyn Fn(&state::Accepted) + Send + Sync>;

pub(crate) struct Inner {
    state: Mutex<State>,
    pub(crate) on_accept: Mutex<Option<SendHook>>,
    pub(crate) clock: SimClock,
    pub(crate) hold: Duration,
    tick: Duration,
    http: reqwest::Client,
}

impl Inner {
    /// Locks the state. A panic while holding the lock only happens on a bug; the data is
    /// still consistent enough for a test double, so poisoning is ignored.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn advance(&self, by: Duration) {
        self.clock.advance(by);
        let now = self.clock.now();
        self.state().progress(now);
    }

    pub(crate) fn inject_fault(&self, kind: FaultKind, lasting: Duration) -> Fault {
        let f = Fault {
            kind,
            until: self.clock.now() + state::chrono_dur(lasting),
        };
        self.state().faults.push(f.clone());
        f
    }

    pub(crate) fn set_outcome(&self, recipient: &str, status: Status) {
        let key = validate::validate_phone(recipient, true)
            .unwrap_or_else(|_| recipient.trim().to_lowercase());
        self.state().outcomes.insert(key, status);
    }
}

/// A running stand-in. Dropping it stops the server.
pub struct StandinHandle {
    inner: Arc<Inner>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for StandinHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Binds `addr` (e.g. `127.0.0.1:0`) and serves.
pub async fn bind(addr: &str, config: StandinConfig) -> Result<StandinHandle, StandinError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StandinError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    serve(listener, config).await
}

/// Serves the stand-in on `listener` in background tasks; returns at once with the handle.
pub async fn serve(
    listener: TcpListener,
    config: StandinConfig,
) -> Result<StandinHandle, StandinError> {
    config.validate()?;
    let addr = listener.local_addr().map_err(|source| StandinError::Bind {
        addr: "listener".into(),
        source,
    })?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(config.callbacks.timeout_ms.max(1)))
        .build()
        .map_err(|e| StandinError::Http(e.to_string()))?;
    let inner = Arc::new(Inner {
        hold: Duration::from_millis(config.timeout_fault_hold_ms),
        tick: Duration::from_millis(config.tick_ms.max(1)),
        state: Mutex::new(State::new(config)),
        on_accept: Mutex::new(None),
        clock: SimClock::new(),
        http,
    });
    let (tx, rx) = oneshot::channel::<()>();
    let app = http::router(inner.clone());
    let server = tokio::spawn(async move {
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "notify stand-in server stopped");
        }
    });
    let ticker = tokio::spawn(run_ticker(inner.clone()));
    let callbacks = tokio::spawn(run_callbacks(inner.clone()));
    tracing::info!(%addr, "GOV.UK Notify stand-in listening");
    Ok(StandinHandle {
        inner,
        addr,
        shutdown: Some(tx),
        tasks: vec![server, ticker, callbacks],
    })
}

/// Advances statuses every `tick_ms`.
async fn run_ticker(inner: Arc<Inner>) {
    loop {
        tokio::time::sleep(inner.tick).await;
        let now = inner.clock.now();
        inner.state().progress(now);
    }
}

/// Sends due callbacks one at a time, in the order they were queued, so a receiver sees a
/// notification's statuses in order. A failed attempt is rescheduled, not waited for.
async fn run_callbacks(inner: Arc<Inner>) {
    loop {
        tokio::time::sleep(inner.tick).await;
        let due = {
            let now = inner.clock.now();
            inner.state().due_callbacks(now)
        };
        for cb in due {
            let res = inner
                .http
                .post(&cb.target.url)
                .bearer_auth(&cb.target.bearer_token)
                .json(&cb.payload)
                .send()
                .await;
            let result = match res {
                Ok(r) => Ok(r.status().as_u16()),
                Err(e) => Err(e.to_string()),
            };
            let now = inner.clock.now();
            inner.state().callback_done(cb.id, result, now);
        }
    }
}

impl StandinHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, to give clients as their Notify base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The full API key of the named key (`ward-live`, `ward-team`, `ward-test` by default).
    pub fn api_key(&self, name: &str) -> Option<String> {
        self.inner.state().config.api_key(name)
    }

    /// A human summary for `ward notify-standin`: base URL, service, keys and templates.
    pub fn describe(&self) -> String {
        let cfg = self.config();
        let mut out = format!(
            "GOV.UK Notify stand-in at {}\nservice {} ({})\n",
            self.base_url(),
            cfg.service_id,
            cfg.service_name
        );
        for k in &cfg.keys {
            if let Some(full) = cfg.api_key(&k.name) {
                out.push_str(&format!(
                    "api key ({}): {full}\n",
                    k.key_type.upper().to_lowercase()
                ));
            }
        }
        for t in &cfg.templates {
            out.push_str(&format!(
                "{} template {}: {}\n",
                t.template_type.as_str(),
                t.id,
                t.name
            ));
        }
        out.push_str(&format!(
            "admin API: {}/_standin/ (faults, clock, received texts)\n",
            self.base_url()
        ));
        out
    }

    pub fn config(&self) -> StandinConfig {
        self.inner.state().config.clone()
    }

    /// Simulated now.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Advances simulated time and applies due status changes at once.
    pub fn advance(&self, by: Duration) {
        self.inner.advance(by);
    }

    /// Makes `/v2` requests fail this way for `lasting` simulated time.
    pub fn inject_fault(&self, kind: FaultKind, lasting: Duration) -> Fault {
        self.inner.inject_fault(kind, lasting)
    }

    pub fn clear_faults(&self) {
        self.inner.state().faults.clear();
    }

    /// A text arrives from `user_number` (e.g. `ACK INC-42`); queues the inbound callback.
    pub fn receive_text(&self, user_number: &str, content: &str) -> ReceivedText {
        let now = self.inner.clock.now();
        self.inner.state().receive_text(user_number, content, now)
    }

    /// Forces the final status of future sends to `recipient` (any key type).
    pub fn set_outcome(&self, recipient: &str, status: Status) {
        self.inner.set_outcome(recipient, status);
    }

    /// Calls `hook` with every send the stand-in accepts, in real time as it arrives.
    pub fn on_accept(&self, hook: SendHook) {
        *self
            .inner
            .on_accept
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// Replaces the callback settings.
    pub fn set_callbacks(&self, callbacks: CallbackConfig) {
        self.inner.state().callbacks = callbacks;
    }

    /// Every stored notification, oldest first.
    pub fn notifications(&self) -> Vec<Notification> {
        self.inner.state().notifications.clone()
    }

    /// Stored notifications carrying `reference` (to prove nothing was sent twice).
    pub fn notifications_with_reference(&self, reference: &str) -> Vec<Notification> {
        self.inner
            .state()
            .notifications
            .iter()
            .filter(|n| n.reference.as_deref() == Some(reference))
            .cloned()
            .collect()
    }

    pub fn callback_log(&self) -> Vec<CallbackRecord> {
        self.inner.state().callback_log.clone()
    }

    /// Callbacks still waiting for a (re)try.
    pub fn pending_callbacks(&self) -> usize {
        self.inner.state().pending_callbacks.len()
    }

    pub fn stats(&self) -> Stats {
        let now = self.inner.clock.now();
        self.inner.state().stats(now)
    }

    /// Waits (real time, up to `timeout`) until every notification is final and every
    /// callback delivered or abandoned. Returns whether that happened.
    pub async fn settle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let done = {
                let st = self.inner.state();
                st.notifications.iter().all(|n| n.status.is_final())
                    && st.pending_callbacks.is_empty()
            };
            if done {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Runs until the server stops (for `ward notify-standin`).
    pub async fn wait(mut self) {
        if let Some(server) = self.tasks.first_mut() {
            let _ = server.await;
        }
    }

    /// Stops the server gracefully.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        for t in self.tasks.iter().skip(1) {
            t.abort();
        }
        if let Some(server) = self.tasks.first_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
    }
}
