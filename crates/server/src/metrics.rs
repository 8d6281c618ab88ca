//! Prometheus metrics: the process's registry, the one-line recording calls the hub, the
//! commit queue, alerts, the outbox and login use, and the `/metrics` listener, which
//! runs on an address of its own (`metrics.listen`), never on the public one.
//!
//! Counters and histograms are recorded where things happen. Gauges that describe state
//! the server already keeps (open sync sessions, the document cache, the outbox) are read
//! when Prometheus scrapes, so no call site can forget to lower them.
//!
//! The registry is process-wide: in production one process is one server. Tests that run
//! several servers in one process share it, so they compare counters before and after.

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::entity::notification_outbox;
use crate::hub::Hub;
use crate::outbox::Outcome;
use crate::state::AppState;

/// `[metrics]` in the config file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where `/metrics` is served, e.g. `0.0.0.0:9464` in a container or `127.0.0.1:9464`
    /// on a host. Unset (the default): no metrics listener. Never the public `listen`
    /// address: the figures describe the whole service and are not for its users.
    pub listen: Option<SocketAddr>,
}

/// Every instrument, registered once in [`registry`].
struct Instruments {
    registry: Registry,
    sync_sessions_open: IntGauge,
    sync_messages: IntCounterVec,
    sync_bytes: IntCounterVec,
    commit_batch_size: Histogram,
    commit_seconds: Histogram,
    documents_cached: IntGauge,
    document_cache_bytes: IntGauge,
    alerts_opened: IntCounterVec,
    outbox_rows: IntGaugeVec,
    delivery_failures: IntCounterVec,
    deliveries_sent: IntCounterVec,
    login_failures: IntCounterVec,
    password_hashes_waiting: IntGauge,
    scrape_errors: IntCounter,
}

/// Registers an instrument; the names and options below are constants, so a failure here
/// is a programming error caught by the first test that touches metrics.
fn register<T: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    made: prometheus::Result<T>,
) -> T {
    #[allow(clippy::expect_used)]
    let metric = made.expect("metric options are constants");
    #[allow(clippy::expect_used)]
    registry
        .register(Box::new(metric.clone()))
        .expect("each metric is registered once");
    metric
}

static INSTRUMENTS: LazyLock<Instruments> =
    LazyLock::new(|| {
        let r = Registry::new();
        let secs = vec![
            0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        let sizes = vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
        Instruments {
        sync_sessions_open: register(
            &r,
            IntGauge::new("paindiary_sync_sessions_open", "Open sync WebSocket sessions."),
        ),
        sync_messages: register(
            &r,
            IntCounterVec::new(
                Opts::new("paindiary_sync_messages_total", "Sync protocol frames, by direction."),
                &["direction"],
            ),
        ),
        sync_bytes: register(
            &r,
            IntCounterVec::new(
                Opts::new("paindiary_sync_bytes_total", "Sync protocol frame bytes, by direction."),
                &["direction"],
            ),
        ),
        commit_batch_size: register(
            &r,
            Histogram::with_opts(
                HistogramOpts::new(
                    "paindiary_commit_batch_size",
                    "Sync requests written by one group commit.",
                )
                .buckets(sizes),
            ),
        ),
        commit_seconds: register(
            &r,
            Histogram::with_opts(
                HistogramOpts::new(
                    "paindiary_commit_duration_seconds",
                    "Time to write one group commit (transaction, projection, alert evaluation).",
                )
                .buckets(secs),
            ),
        ),
        documents_cached: register(
            &r,
            IntGauge::new("paindiary_documents_cached", "Documents in the sync hub's cache."),
        ),
        document_cache_bytes: register(
            &r,
            IntGauge::new(
                "paindiary_document_cache_bytes",
                "Estimated memory of the cached documents (against sync.memory_budget_bytes).",
            ),
        ),
        alerts_opened: register(
            &r,
            IntCounterVec::new(
                Opts::new("paindiary_alerts_opened_total", "Alerts opened, by rule."),
                &["rule"],
            ),
        ),
        outbox_rows: register(
            &r,
            IntGaugeVec::new(
                Opts::new(
                    "paindiary_outbox_rows",
                    "Notification outbox rows waiting to be sent (pending) or dead-lettered \
                     (dead); the database's count, the same on every replica.",
                ),
                &["status"],
            ),
        ),
        delivery_failures: register(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "paindiary_delivery_failures_total",
                    "Failed delivery attempts, by channel, outcome (transient or permanent) \
                     and classified reason.",
                ),
                &["channel", "outcome", "reason"],
            ),
        ),
        deliveries_sent: register(
            &r,
            IntCounterVec::new(
                Opts::new("paindiary_deliveries_sent_total", "Deliveries sent, by channel."),
                &["channel"],
            ),
        ),
        login_failures: register(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "paindiary_login_failures_total",
                    "Refused logins: wrong email or password, or rate limited.",
                ),
                &["reason"],
            ),
        ),
        password_hashes_waiting: register(
            &r,
            IntGauge::new(
                "paindiary_password_hashes_waiting",
                "Password hashes (login, enrolment) waiting for the hashing budget.",
            ),
        ),
        scrape_errors: register(
            &r,
            IntCounter::new(
                "paindiary_metrics_scrape_errors_total",
                "Scrapes that could not read a database gauge (the rest was served).",
            ),
        ),
        registry: r,
    }
    });

/// How long a scrape waits for an outbox count (a database under stress must not hold
/// scrapes past Prometheus' own 10 s timeout); the other figures are served regardless.
const OUTBOX_COUNT_TIMEOUT: Duration = Duration::from_secs(3);

fn instruments() -> &'static Instruments {
    &INSTRUMENTS
}

/// A sync frame arrived from a peer (`bytes` long).
pub fn sync_frame_received(bytes: usize) {
    let m = instruments();
    m.sync_messages.with_label_values(&["in"]).inc();
    m.sync_bytes.with_label_values(&["in"]).inc_by(bytes as u64);
}

/// The join frame arrived (counted like [`sync_frame_received`]); returns it unchanged so
/// the call fits where the frame is decoded.
pub fn join_received(frame: &[u8]) -> &[u8] {
    sync_frame_received(frame.len());
    frame
}

/// A sync frame was written to a peer (`bytes` long).
pub fn sync_frame_sent(bytes: usize) {
    let m = instruments();
    m.sync_messages.with_label_values(&["out"]).inc();
    m.sync_bytes
        .with_label_values(&["out"])
        .inc_by(bytes as u64);
}

/// Times one group commit: created when the batch is taken, records the batch's size and
/// the elapsed time when dropped (so one line at the start of the batch covers every exit).
#[derive(Debug)]
pub struct CommitTimer {
    members: usize,
    started: Instant,
}

impl CommitTimer {
    /// Starts timing a batch of `members` requests.
    pub fn start(members: usize) -> Self {
        Self {
            members,
            started: Instant::now(),
        }
    }
}

impl Drop for CommitTimer {
    fn drop(&mut self) {
        let m = instruments();
        m.commit_batch_size.observe(self.members as f64);
        m.commit_seconds
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// An alert of `rule` was opened (counted inside the evaluating transaction, so a batch
/// that rolls back afterwards has still counted it; that is rare and only inflates).
pub fn alert_opened(rule: &str) {
    instruments().alerts_opened.with_label_values(&[rule]).inc();
}

/// A delivery attempt on `channel` ended with `outcome`.
pub fn delivery_attempted(channel: &str, outcome: &Outcome) {
    let m = instruments();
    match outcome.detail() {
        None => m.deliveries_sent.with_label_values(&[channel]).inc(),
        Some(detail) => m
            .delivery_failures
            .with_label_values(&[channel, outcome.code(), failure_reason(detail)])
            .inc(),
    }
}

/// The classification without the peer's reply text ("smtp rejected permanently: 550 ..."
/// becomes "smtp rejected permanently"), so label values stay few.
fn failure_reason(detail: &str) -> &str {
    detail.split(':').next().unwrap_or(detail).trim()
}

/// A login was refused; `reason` is `bad_credentials` or `rate_limited`.
pub fn login_failed(reason: &'static str) {
    instruments()
        .login_failures
        .with_label_values(&[reason])
        .inc();
}

/// Counts one password hash waiting for the hashing budget while it lives: hold it from
/// queueing until the hash may start.
#[derive(Debug)]
pub struct PasswordHashWaiting(());

impl PasswordHashWaiting {
    /// Counts one more waiting hash.
    pub fn enter() -> Self {
        instruments().password_hashes_waiting.inc();
        Self(())
    }
}

impl Drop for PasswordHashWaiting {
    fn drop(&mut self) {
        instruments().password_hashes_waiting.dec();
    }
}

/// Reads the scrape-time gauges and renders every metric in Prometheus' text format.
pub async fn render(state: &AppState, hub: &Hub) -> String {
    let m = instruments();
    m.sync_sessions_open.set(gauge(hub.live_connections()));
    m.documents_cached.set(gauge(hub.cached_documents()));
    m.document_cache_bytes.set(gauge(hub.cached_bytes()));
    for status in ["pending", "dead"] {
        let count = notification_outbox::Entity::find()
            .filter(notification_outbox::Column::Status.eq(status))
            .count(&state.db);
        match tokio::time::timeout(OUTBOX_COUNT_TIMEOUT, count).await {
            Ok(Ok(n)) => m.outbox_rows.with_label_values(&[status]).set(gauge(n)),
            Ok(Err(e)) => {
                m.scrape_errors.inc();
                tracing::warn!(error = %e, "metrics: cannot count the outbox");
            }
            Err(_) => {
                m.scrape_errors.inc();
                tracing::warn!("metrics: counting the outbox timed out");
            }
        }
    }
    let mut text = String::new();
    if let Err(e) = TextEncoder::new().encode_utf8(&m.registry.gather(), &mut text) {
        tracing::warn!(error = %e, "metrics: cannot encode");
    }
    text
}

fn gauge(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

async fn scrape(State((state, hub)): State<(AppState, Hub)>) -> Response {
    let body = render(&state, &hub).await;
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, TextEncoder::new().format_type())],
        body,
    )
        .into_response()
}

/// The metrics listener's routes: `GET /metrics` only.
pub fn router(state: AppState, hub: Hub) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state((state, hub))
}

/// Binds `metrics.listen` (if set) and serves [`router`] on it in a task, which the
/// caller aborts when the server stops. Logs `metrics listening` with the bound address.
pub async fn spawn_listener(
    state: &AppState,
    hub: &Hub,
) -> std::io::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(addr) = state.config.metrics.listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr).await?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics listening");
    }
    let router = router(state.clone(), hub.clone());
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    })))
}
