//! The delivery worker: claims due outbox rows under a lease, sends them, records each
//! attempt and its outcome, and schedules retries with exponential backoff and jitter.
//!
//! Claiming: on PostgreSQL one `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP
//! LOCKED)` sets `claimed_until = now + lease`, so replicas never claim the same row; on
//! SQLite the same conditional UPDATE is atomic because SQLite has one writer. Recording
//! is fenced by that lease value: a worker whose lease expired (and whose row another
//! worker claimed) records its attempt but does not overwrite the row's state.
//!
//! Crash safety: a worker that dies after sending and before recording leaves the row
//! `pending` with a lease that expires; the row is then sent once more, with the same
//! idempotency key (`Message-ID`, `Idempotency-Key`) so the receiver can drop it.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use futures_util::future::join_all;
use paindiary_notifier::render::{self, AlertMessageKind, AlertPayload, DigestPayload};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr,
    EntityTrait, QueryFilter, Statement, TransactionTrait,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::channels::Outcome;
use crate::entity::{clinic_notification_settings, delivery_attempts, notification_outbox};
use crate::state::AppState;

/// A row this worker holds under a lease until `lease_until`.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The row as claimed.
    pub row: notification_outbox::Model,
    /// The lease this worker set; recording is fenced by it.
    pub lease_until: DateTime<Utc>,
}

/// What one [`drain_once`] round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Rows claimed.
    pub claimed: usize,
    /// Accepted by the receiver.
    pub sent: usize,
    /// Failed transiently and scheduled again.
    pub retrying: usize,
    /// Given up (permanent failure or attempts exhausted).
    pub dead: usize,
}

/// Claims up to `delivery.batch_size` rows due at `now`.
pub async fn claim_due(state: &AppState, now: DateTime<Utc>) -> Result<Vec<Claimed>, DbErr> {
    let cfg = &state.config.delivery;
    let lease_until = now + cfg.lease();
    let limit = i64::try_from(cfg.batch_size.max(1)).unwrap_or(i64::MAX);
    let backend = state.db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "UPDATE notification_outbox SET claimed_until = $1 WHERE id IN (\
             SELECT id FROM notification_outbox WHERE status = 'pending' \
             AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $3) \
             ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING *"
        }
        _ => {
            "UPDATE notification_outbox SET claimed_until = ? WHERE id IN (\
             SELECT id FROM notification_outbox WHERE status = 'pending' \
             AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until < ?) \
             ORDER BY next_attempt_at LIMIT ?) RETURNING *"
        }
    };
    let stmt = Statement::from_sql_and_values(
        backend,
        sql,
        [lease_until.into(), now.into(), now.into(), limit.into()],
    );
    let rows = notification_outbox::Entity::find()
        .from_raw_sql(stmt)
        .all(&state.db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| Claimed { row, lease_until })
        .collect())
}

/// Renders and sends one claimed row; records nothing (see [`record`]).
pub async fn send(state: &AppState, claimed: &Claimed, now: DateTime<Utc>) -> Outcome {
    let row = &claimed.row;
    // The clinic's current choice wins over the one frozen in the payload: a clinic that
    // opted out of details since the row was written gets none.
    let settings = match clinic_notification_settings::Entity::find_by_id(row.clinic_id)
        .one(&state.db)
        .await
    {
        Ok(s) => s,
        Err(_) => return Outcome::Transient("database unavailable".to_owned()),
    };
    let clinic_details = settings.as_ref().is_some_and(|s| s.include_details);
    let public_url = &state.config.public_url;
    let outbox = &state.outbox;
    if row.kind == "reminder" {
        return crate::reminders::deliver(state, row, now).await;
    }
    let message_kind = match row.kind.as_str() {
        "alert_opened" => Some(AlertMessageKind::Opened),
        "alert_repeat" => Some(AlertMessageKind::Repeat),
        "alert_escalated" => Some(AlertMessageKind::Escalated),
        "digest" => None,
        _ => return Outcome::Permanent("unknown delivery kind".to_owned()),
    };
    match (row.channel.as_str(), message_kind) {
        ("email", Some(kind)) => {
            let Ok(alert) = serde_json::from_str::<AlertPayload>(&row.payload) else {
                return Outcome::Permanent("payload does not match the contract".to_owned());
            };
            let link = render::dashboard_link(public_url, &alert.dashboard_path);
            let details = clinic_details && alert.include_details;
            let email = render::alert_email(&alert, kind, &link, details);
            outbox
                .send_email(
                    &row.recipient,
                    render::message_id(&row.idempotency_key),
                    email,
                    now,
                )
                .await
        }
        ("email", None) => {
            let Ok(digest) = serde_json::from_str::<DigestPayload>(&row.payload) else {
                return Outcome::Permanent("payload does not match the contract".to_owned());
            };
            let details = clinic_details && digest.include_details;
            let email = render::digest_email(
                &digest,
                |path| render::dashboard_link(public_url, path),
                details,
            );
            outbox
                .send_email(
                    &row.recipient,
                    render::message_id(&row.idempotency_key),
                    email,
                    now,
                )
                .await
        }
        ("webhook", Some(_)) => {
            let Some(secret) = settings.as_ref().and_then(|s| s.webhook_secret.as_deref()) else {
                return Outcome::Permanent("webhook secret not configured".to_owned());
            };
            let Ok(alert) = serde_json::from_str::<AlertPayload>(&row.payload) else {
                return Outcome::Permanent("payload does not match the contract".to_owned());
            };
            let link = render::dashboard_link(public_url, &alert.dashboard_path);
            let details = clinic_details && alert.include_details;
            let body = render::alert_webhook_body(&row.kind, row.id, &alert, &link, details);
            let Ok(body) = serde_json::to_vec(&body) else {
                return Outcome::Permanent("cannot encode the webhook body".to_owned());
            };
            outbox
                .send_webhook(
                    &row.recipient,
                    secret.as_bytes(),
                    &row.idempotency_key,
                    body,
                    now,
                )
                .await
        }
        _ => Outcome::Permanent("channel not supported for this kind".to_owned()),
    }
}

/// The wait before the next attempt after `attempts` failed ones: `base * 2^(attempts-1)`
/// capped at the maximum, then scaled by a jitter factor in [0.5, 1) so that rows that
/// failed together (a relay outage) do not all come back at the same instant.
pub fn backoff(base_secs: i64, max_secs: i64, attempts: i32, jitter: f64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = base_secs
        .max(1)
        .saturating_mul(1_i64 << exponent)
        .min(max_secs.max(1));
    let millis = (full as f64 * 1000.0 * (0.5 + 0.5 * jitter.clamp(0.0, 1.0))) as i64;
    Duration::milliseconds(millis.max(1))
}

/// Records an attempt and its outcome in one transaction. Returns the row's new status,
/// or `None` when the lease had been lost (the attempt is still logged).
pub async fn record(
    state: &AppState,
    claimed: &Claimed,
    outcome: &Outcome,
    now: DateTime<Utc>,
    took: std::time::Duration,
) -> Result<Option<&'static str>, DbErr> {
    let cfg = &state.config.delivery;
    let row = &claimed.row;
    let attempts = row.attempts.saturating_add(1);
    let (status, next_attempt_at) = match outcome {
        Outcome::Sent => ("sent", row.next_attempt_at),
        Outcome::Permanent(_) => ("dead", row.next_attempt_at),
        Outcome::Transient(_) if attempts >= cfg.max_attempts => ("dead", row.next_attempt_at),
        Outcome::Transient(_) => (
            "pending",
            now + backoff(
                cfg.backoff_base_secs,
                cfg.backoff_max_secs,
                attempts,
                rand::random::<f64>(),
            ),
        ),
    };
    let detail = outcome.detail().map(str::to_owned);
    let txn = state.db.begin().await?;
    let updated = notification_outbox::Entity::update_many()
        .col_expr(notification_outbox::Column::Status, Expr::value(status))
        .col_expr(notification_outbox::Column::Attempts, Expr::value(attempts))
        .col_expr(
            notification_outbox::Column::NextAttemptAt,
            Expr::value(next_attempt_at),
        )
        .col_expr(
            notification_outbox::Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            notification_outbox::Column::LastError,
            Expr::value(detail.clone()),
        )
        .col_expr(
            notification_outbox::Column::SentAt,
            Expr::value((status == "sent").then_some(now)),
        )
        .filter(notification_outbox::Column::Id.eq(row.id))
        .filter(notification_outbox::Column::Status.eq("pending"))
        .filter(notification_outbox::Column::ClaimedUntil.eq(claimed.lease_until))
        .exec(&txn)
        .await?;
    delivery_attempts::ActiveModel {
        id: Set(Uuid::now_v7()),
        outbox_id: Set(row.id),
        at: Set(now),
        outcome: Set(outcome.code().to_owned()),
        detail: Set(detail.clone()),
        duration_ms: Set(i32::try_from(took.as_millis()).unwrap_or(i32::MAX)),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    let kept = updated.rows_affected > 0;
    crate::metrics::delivery_attempted(&row.channel, outcome);
    // Operators see the classification and the reply code, never the message.
    match (outcome, kept) {
        (_, false) => tracing::warn!(
            delivery = %row.id,
            outcome = outcome.code(),
            "delivery lease expired before its outcome was recorded; it may be repeated"
        ),
        (Outcome::Sent, true) => {
            tracing::info!(delivery = %row.id, channel = %row.channel, kind = %row.kind, "delivered");
        }
        (Outcome::Transient(d), true) => tracing::warn!(
            delivery = %row.id, channel = %row.channel, attempts, status,
            reason = %d, "delivery failed transiently"
        ),
        (Outcome::Permanent(d), true) => tracing::error!(
            delivery = %row.id, channel = %row.channel, attempts,
            reason = %d, "delivery failed permanently; dead-lettered"
        ),
    }
    Ok(kept.then_some(status))
}

/// One round: claims due rows, sends them concurrently and records every outcome. Tests
/// call this directly with the manual clock's `now`; the background worker loops on it.
pub async fn drain_once(state: &AppState, now: DateTime<Utc>) -> Result<DrainReport, DbErr> {
    let claimed = claim_due(state, now).await?;
    let results = join_all(claimed.iter().map(|c| async move {
        let started = Instant::now();
        let outcome = send(state, c, now).await;
        (c, outcome, started.elapsed())
    }))
    .await;
    let mut report = DrainReport {
        claimed: claimed.len(),
        ..DrainReport::default()
    };
    for (c, outcome, took) in results {
        match record(state, c, &outcome, now, took).await? {
            Some("sent") => report.sent += 1,
            Some("dead") => report.dead += 1,
            Some(_) => report.retrying += 1,
            None => {}
        }
    }
    Ok(report)
}

/// The running background worker.
#[derive(Debug)]
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WorkerHandle {
    /// Asks the worker to stop after its current round and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "delivery worker task failed");
        }
    }
}

/// Starts the background worker: a round at start, after every [`super::Outbox::wake`],
/// and every `poll_interval_secs` (retries come due without a wake).
pub fn spawn_worker(state: AppState) -> WorkerHandle {
    let (stop, mut stopped) = watch::channel(false);
    let poll = std::time::Duration::from_secs(state.config.delivery.poll_interval_secs.max(1));
    let batch = usize::try_from(state.config.delivery.batch_size.max(1)).unwrap_or(usize::MAX);
    let task = tokio::spawn(async move {
        loop {
            if *stopped.borrow() {
                break;
            }
            let now = state.clock.now();
            match drain_once(&state, now).await {
                // A full batch: more may be due, go on at once.
                Ok(report) if report.claimed >= batch => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "delivery round failed"),
            }
            tokio::select! {
                () = state.outbox.woken() => {}
                () = tokio::time::sleep(poll) => {}
                _ = stopped.changed() => break,
            }
        }
        tracing::info!("delivery worker stopped");
    });
    WorkerHandle { stop, task }
}

/// Puts a dead row of `clinic` back to pending, due now, with a fresh attempt budget
/// (its attempt log stays). `Ok(None)` when no such row exists in that clinic; a row that
/// is not dead (sent, or pending and perhaps leased) is returned unchanged with `false`.
pub async fn retry(
    conn: &impl ConnectionTrait,
    clinic: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<(notification_outbox::Model, bool)>, DbErr> {
    let Some(row) = notification_outbox::Entity::find_by_id(id)
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    if row.clinic_id != clinic {
        return Ok(None);
    }
    if row.status != "dead" {
        return Ok(Some((row, false)));
    }
    let mut active: notification_outbox::ActiveModel = row.into();
    active.status = Set("pending".to_owned());
    active.attempts = Set(0);
    active.next_attempt_at = Set(now);
    active.claimed_until = Set(None);
    let row = active.update(conn).await?;
    Ok(Some((row, true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let s = |d: Duration| d.num_milliseconds();
        assert_eq!(s(backoff(30, 3600, 1, 0.0)), 15_000);
        assert_eq!(s(backoff(30, 3600, 1, 0.999_999)), 29_999);
        assert_eq!(s(backoff(30, 3600, 3, 0.0)), 60_000);
        assert_eq!(s(backoff(30, 3600, 20, 0.0)), 1_800_000);
        assert_eq!(s(backoff(30, 3600, i32::MAX, 1.0)), 3_600_000);
    }
}
