//! The reminder timer: finds reminders whose `next_due_at` has come (an indexed range
//! scan, so a tick costs what is due rather than what exists), claims each occurrence by
//! moving `next_due_at` to the following one with a conditional UPDATE (one replica wins),
//! and in the same transaction enqueues its deliveries in the outbox, keyed per
//! occurrence and channel so that nothing is sent twice after a crash or restart.
//!
//! A `log_pain` reminder is skipped when the patient already logged pain (a projected,
//! not deleted pain entry) in the local day of the occurrence, before its time.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ReminderChannel, ReminderKind, Schedule, row_channels, row_schedule};
use crate::entity::{pain_entries, patients, push_subscriptions, reminders, users};
use crate::outbox::{self, Channel, DeliveryKind, NewDelivery};
use crate::state::AppState;

/// What a reminder delivery carries to the worker (and, for web push, to the service
/// worker): no diary content, only what the patient chose to be reminded of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderPayload {
    /// The reminder.
    pub reminder_id: Uuid,
    /// `log_pain`, `take_medication` or `exercise`.
    pub kind: String,
    /// The occurrence (UTC).
    pub due_at: DateTime<Utc>,
}

/// What one [`tick`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Occurrences claimed and sent to the outbox.
    pub sent: usize,
    /// `log_pain` occurrences skipped because pain was already logged that day.
    pub skipped_logged: usize,
    /// Occurrences dropped because they were found too late (the server was down).
    pub skipped_late: usize,
    /// Deliveries enqueued (one per channel and push subscription).
    pub deliveries: usize,
}

/// Handles every reminder due at `now`. Tests call it with the manual clock; `serve`
/// runs it every `reminders.tick_interval_secs` (see [`run_periodically`]).
pub async fn tick(state: &AppState, now: DateTime<Utc>) -> Result<TickReport, DbErr> {
    let mut report = TickReport::default();
    let batch = state.config.reminders.batch_size.max(1);
    loop {
        let due = due_reminders(&state.db, now, batch).await?;
        let full = due.len() as u64 >= batch;
        let mut claimed_any = false;
        for row in due {
            if fire(state, row, now, &mut report).await? {
                claimed_any = true;
            }
        }
        // Another replica may have claimed the whole batch: stop rather than spin.
        if !full || !claimed_any {
            break;
        }
    }
    if report.deliveries > 0 {
        state.outbox.wake();
    }
    Ok(report)
}

/// Enabled reminders due at `now`, earliest first: the indexed query the timer runs.
pub async fn due_reminders(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<reminders::Model>, DbErr> {
    reminders::Entity::find()
        .filter(reminders::Column::NextDueAt.lte(now))
        .filter(reminders::Column::Enabled.eq(true))
        .order_by_asc(reminders::Column::NextDueAt)
        .limit(limit)
        .all(conn)
        .await
}

/// Claims and handles one due occurrence. `false` when another replica had claimed it.
async fn fire(
    state: &AppState,
    row: reminders::Model,
    now: DateTime<Utc>,
    report: &mut TickReport,
) -> Result<bool, DbErr> {
    let Some(due) = row.next_due_at else {
        return Ok(false);
    };
    let schedule = row_schedule(&row);
    // The next occurrence after both the one being handled and now: occurrences missed
    // while the server was down are not queued up behind each other.
    let next = schedule.as_ref().and_then(|s| s.next_after(due.max(now)));
    let txn = state.db.begin().await?;
    let claimed = reminders::Entity::update_many()
        .col_expr(reminders::Column::NextDueAt, Expr::value(next))
        .filter(reminders::Column::Id.eq(row.id))
        .filter(reminders::Column::NextDueAt.eq(due))
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(false);
    }
    let late = now - due > Duration::minutes(state.config.reminders.max_lateness_minutes.max(1));
    let patient = patients::Entity::find_by_id(row.patient_id)
        .one(&txn)
        .await?
        .filter(|p| p.erased_at.is_none());
    let (Some(patient), Some(schedule)) = (patient, schedule) else {
        txn.commit().await?;
        return Ok(true);
    };
    if late {
        report.skipped_late += 1;
        txn.commit().await?;
        return Ok(true);
    }
    let kind = ReminderKind::parse(&row.kind);
    if kind == Some(ReminderKind::LogPain)
        && logged_pain_before(&txn, patient.id, &schedule, due).await?
    {
        report.skipped_logged += 1;
        txn.commit().await?;
        return Ok(true);
    }
    let payload = serde_json::to_value(ReminderPayload {
        reminder_id: row.id,
        kind: row.kind.clone(),
        due_at: due,
    })
    .unwrap_or_default();
    let occurrence = format!("reminder:{}:{}", row.id, due.timestamp());
    for channel in row_channels(&row) {
        match channel {
            ReminderChannel::Email => {
                let email = match patient.user_id {
                    Some(user) => users::Entity::find_by_id(user)
                        .one(&txn)
                        .await?
                        .filter(|u| u.disabled_at.is_none())
                        .map(|u| u.email),
                    None => None,
                };
                if let Some(email) = email {
                    let fresh = outbox::enqueue(
                        &txn,
                        NewDelivery {
                            idempotency_key: format!("{occurrence}:email"),
                            alert_id: None,
                            clinic_id: patient.clinic_id,
                            channel: Channel::Email,
                            recipient: email,
                            kind: DeliveryKind::Reminder,
                            payload: payload.clone(),
                            not_before: now,
                        },
                        now,
                    )
                    .await?;
                    report.deliveries += usize::from(fresh);
                }
            }
            ReminderChannel::WebPush => {
                let subscriptions = push_subscriptions::Entity::find()
                    .filter(push_subscriptions::Column::PatientId.eq(patient.id))
                    .limit(super::push::MAX_SUBSCRIPTIONS_PER_PATIENT)
                    .all(&txn)
                    .await?;
                for sub in subscriptions {
                    let fresh = outbox::enqueue(
                        &txn,
                        NewDelivery {
                            idempotency_key: format!("{occurrence}:web_push:{}", sub.id),
                            alert_id: None,
                            clinic_id: patient.clinic_id,
                            channel: Channel::WebPush,
                            recipient: sub.id.to_string(),
                            kind: DeliveryKind::Reminder,
                            payload: payload.clone(),
                            not_before: now,
                        },
                        now,
                    )
                    .await?;
                    report.deliveries += usize::from(fresh);
                }
            }
        }
    }
    txn.commit().await?;
    report.sent += 1;
    Ok(true)
}

/// Whether `patient` logged pain in the local day of `due`, at or before `due`.
async fn logged_pain_before(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    schedule: &Schedule,
    due: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let day_start = schedule.local_day_start(due);
    // The entry's own local date (in the zone it was logged in) is within a day of the
    // reminder's; naming those dates lets the (patient, local_date) index find the rows.
    let day = due.with_timezone(&schedule.tz()).date_naive();
    let days = [day - Duration::days(1), day, day + Duration::days(1)];
    let n = pain_entries::Entity::find()
        .filter(pain_entries::Column::PatientId.eq(patient))
        .filter(pain_entries::Column::LocalDate.is_in(days))
        .filter(pain_entries::Column::Deleted.eq(false))
        .filter(pain_entries::Column::RecordedAt.gte(day_start))
        .filter(pain_entries::Column::RecordedAt.lte(due))
        .limit(1)
        .count(conn)
        .await?;
    Ok(n > 0)
}

/// Calls [`tick`] every `reminders.tick_interval_secs` until `stop` resolves.
pub async fn run_periodically(state: AppState, stop: impl std::future::Future<Output = ()>) {
    let state = &state;
    crate::clock::run_every(
        state.config.reminders.tick_interval_secs,
        stop,
        || async move {
            match tick(state, state.clock.now()).await {
                Ok(r) if r != TickReport::default() => tracing::info!(
                    sent = r.sent,
                    skipped_logged = r.skipped_logged,
                    skipped_late = r.skipped_late,
                    deliveries = r.deliveries,
                    "reminders fired"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reminder timer failed; retrying next tick"),
            }
        },
    )
    .await;
}
