//! The reminder timer: finds reminders whose `next_due_at` has come (an indexed range
//! scan, so a tick costs what is due rather than what exists), claims each occurrence by
//! moving `next_due_at` to the following one with a conditional UPDATE (one replica wins),
//! and in the same transaction enqueues its deliveries in the outbox, keyed per
//! occurrence and channel so that nothing is sent twice after a crash or restart.
//!
//! Before sending, an occurrence is checked against the patient's settings: paused
//! (dropped), inside quiet hours (deferred to their end), and its kind: `log_pain` is
//! skipped when the patient already logged pain (a projected, not deleted pain entry) in
//! the local day of the occurrence before its time; `questionnaire_due` is skipped on
//! days no questionnaire is due ([`super::due`]). A deferred or snoozed occurrence waits
//! in `resend_at` (indexed too) and is claimed the same way when it comes.
//!
//! The rows are read with only the columns the timer needs, the patients, accounts and
//! settings of a batch in one query each, and parsed schedules are shared between rows
//! with the same times, days and zone: the worst case, 100,000 schedules due in one
//! tick, is dominated by reading rows, not by what is done with them.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::settings::{self, Settings};
use super::{ReminderChannel, ReminderKind, Schedule, due, parse_channels, parse_schedule};
use crate::entity::{pain_entries, patients, push_subscriptions, reminders, users};
use crate::outbox::{self, Channel, DeliveryKind, NewDelivery};
use crate::state::AppState;

/// What a reminder delivery carries to the worker (and, for web push, to the service
/// worker): no diary content, only what the patient chose to be reminded of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderPayload {
    /// The reminder.
    pub reminder_id: Uuid,
    /// `log_pain`, `take_medication`, `exercise` or `questionnaire_due`.
    pub kind: String,
    /// The occurrence (UTC).
    pub due_at: DateTime<Utc>,
    /// For `questionnaire_due`: the due instrument's id (e.g. `peg`); nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument: Option<String>,
}

/// What one [`tick`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Occurrences (and snoozed or deferred ones) claimed and sent to the outbox.
    pub sent: usize,
    /// `log_pain` occurrences skipped because pain was already logged that day.
    pub skipped_logged: usize,
    /// Occurrences dropped because they were found too late (the server was down).
    pub skipped_late: usize,
    /// Occurrences dropped because the patient paused reminders.
    pub skipped_paused: usize,
    /// `questionnaire_due` occurrences skipped because nothing was due that day.
    pub skipped_not_due: usize,
    /// Occurrences held back to the end of quiet hours.
    pub deferred: usize,
    /// Deliveries enqueued (one per channel and push subscription).
    pub deliveries: usize,
}

/// A due reminder as the timer reads it: only the columns it needs.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct DueReminder {
    /// Id.
    pub id: Uuid,
    /// Whose.
    pub patient_id: Uuid,
    /// Kind code.
    pub kind: String,
    /// JSON array of `HH:MM`.
    pub times: String,
    /// JSON array of weekday codes.
    pub days: String,
    /// JSON array of channel codes.
    pub channels: String,
    /// IANA zone.
    pub timezone: String,
    /// The occurrence that is due.
    pub next_due_at: Option<DateTime<Utc>>,
}

/// A reminder whose deferred send (quiet hours or snooze) has come.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
struct ResendReminder {
    id: Uuid,
    patient_id: Uuid,
    kind: String,
    channels: String,
    timezone: String,
    resend_at: Option<DateTime<Utc>>,
    resend_due_at: Option<DateTime<Utc>>,
    snoozed_due_at: Option<DateTime<Utc>>,
}

/// Parsed schedules shared by rows with the same stored times, days and zone (most
/// patients pick from a few common schedules), so a tick parses each distinct one once.
#[derive(Default)]
pub struct ScheduleCache {
    parsed: HashMap<String, Option<Schedule>>,
    key: String,
}

impl ScheduleCache {
    /// The schedule of `row` (`None` if its stored columns do not parse).
    pub fn get(&mut self, row: &DueReminder) -> Option<&Schedule> {
        self.key.clear();
        for part in [row.times.as_str(), "|", &row.days, "|", &row.timezone] {
            self.key.push_str(part);
        }
        if !self.parsed.contains_key(self.key.as_str()) {
            let schedule = parse_schedule(&row.times, &row.days, &row.timezone);
            self.parsed.insert(self.key.clone(), schedule);
        }
        self.parsed.get(self.key.as_str()).and_then(Option::as_ref)
    }
}

/// What the timer needs of a patient, read once per batch.
#[derive(Clone, Debug, FromQueryResult)]
struct PatientRow {
    id: Uuid,
    clinic_id: Uuid,
    timezone: String,
    user_id: Option<Uuid>,
}

/// The patients, account addresses and settings of one batch.
#[derive(Default)]
struct BatchContext {
    patients: HashMap<Uuid, PatientRow>,
    emails: HashMap<Uuid, String>,
    settings: HashMap<Uuid, Settings>,
}

impl BatchContext {
    async fn load(conn: &impl ConnectionTrait, patient_ids: Vec<Uuid>) -> Result<Self, DbErr> {
        let mut ids = patient_ids;
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Self::default());
        }
        let patients: Vec<PatientRow> = patients::Entity::find()
            .select_only()
            .column(patients::Column::Id)
            .column(patients::Column::ClinicId)
            .column(patients::Column::Timezone)
            .column(patients::Column::UserId)
            .filter(patients::Column::Id.is_in(ids.iter().copied()))
            .filter(patients::Column::ErasedAt.is_null())
            .into_model()
            .all(conn)
            .await?;
        let user_ids: Vec<Uuid> = patients.iter().filter_map(|p| p.user_id).collect();
        let emails: HashMap<Uuid, String> = if user_ids.is_empty() {
            HashMap::new()
        } else {
            users::Entity::find()
                .select_only()
                .column(users::Column::Id)
                .column(users::Column::Email)
                .filter(users::Column::Id.is_in(user_ids))
                .filter(users::Column::DisabledAt.is_null())
                .into_tuple::<(Uuid, String)>()
                .all(conn)
                .await?
                .into_iter()
                .collect()
        };
        let settings = settings::load_many(conn, &ids).await?;
        Ok(Self {
            patients: patients.into_iter().map(|p| (p.id, p)).collect(),
            emails,
            settings,
        })
    }

    fn settings(&self, patient: Uuid) -> Settings {
        self.settings.get(&patient).cloned().unwrap_or_default()
    }
}

/// Handles every reminder due at `now`, then every deferred or snoozed send due. Tests
/// call it with the manual clock; `serve` runs it every `reminders.tick_interval_secs`
/// (see [`run_periodically`]).
pub async fn tick(state: &AppState, now: DateTime<Utc>) -> Result<TickReport, DbErr> {
    let mut report = TickReport::default();
    let batch = state.config.reminders.batch_size.max(1);
    let mut cache = ScheduleCache::default();
    loop {
        let due = due_reminders(&state.db, now, batch).await?;
        let full = due.len() as u64 >= batch;
        let ctx = BatchContext::load(&state.db, due.iter().map(|r| r.patient_id).collect()).await?;
        let mut claimed_any = false;
        for row in due {
            let schedule = cache.get(&row).cloned();
            if fire(state, &ctx, row, schedule, now, &mut report).await? {
                claimed_any = true;
            }
        }
        // Another replica may have claimed the whole batch: stop rather than spin.
        if !full || !claimed_any {
            break;
        }
    }
    loop {
        let due = resend_reminders(&state.db, now, batch).await?;
        let full = due.len() as u64 >= batch;
        let ctx = BatchContext::load(&state.db, due.iter().map(|r| r.patient_id).collect()).await?;
        let mut claimed_any = false;
        for row in due {
            if resend(state, &ctx, row, now, &mut report).await? {
                claimed_any = true;
            }
        }
        if !full || !claimed_any {
            break;
        }
    }
    if report.deliveries > 0 {
        state.outbox.wake();
    }
    Ok(report)
}

/// Enabled reminders due at `now`, earliest first: the indexed query the timer runs,
/// reading only the columns it needs.
pub async fn due_reminders(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<DueReminder>, DbErr> {
    reminders::Entity::find()
        .select_only()
        .column(reminders::Column::Id)
        .column(reminders::Column::PatientId)
        .column(reminders::Column::Kind)
        .column(reminders::Column::Times)
        .column(reminders::Column::Days)
        .column(reminders::Column::Channels)
        .column(reminders::Column::Timezone)
        .column(reminders::Column::NextDueAt)
        .filter(reminders::Column::NextDueAt.lte(now))
        .filter(reminders::Column::Enabled.eq(true))
        .order_by_asc(reminders::Column::NextDueAt)
        .limit(limit)
        .into_model()
        .all(conn)
        .await
}

/// Enabled reminders whose deferred send has come, earliest first (indexed `resend_at`).
async fn resend_reminders(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<ResendReminder>, DbErr> {
    reminders::Entity::find()
        .select_only()
        .column(reminders::Column::Id)
        .column(reminders::Column::PatientId)
        .column(reminders::Column::Kind)
        .column(reminders::Column::Channels)
        .column(reminders::Column::Timezone)
        .column(reminders::Column::ResendAt)
        .column(reminders::Column::ResendDueAt)
        .column(reminders::Column::SnoozedDueAt)
        .filter(reminders::Column::ResendAt.lte(now))
        .filter(reminders::Column::Enabled.eq(true))
        .order_by_asc(reminders::Column::ResendAt)
        .limit(limit)
        .into_model()
        .all(conn)
        .await
}

/// What the checks decided for one occurrence.
enum Verdict {
    Send(Option<String>),
    Skip,
}

/// The kind-specific checks: `log_pain` already logged in the local day of `due` up to
/// `until`; `questionnaire_due` with nothing due that day. `Send` carries the
/// instrument for `questionnaire_due`.
async fn kind_check(
    conn: &impl ConnectionTrait,
    kind: Option<ReminderKind>,
    patient: Uuid,
    tz: Tz,
    due_at: DateTime<Utc>,
    until: DateTime<Utc>,
    report: &mut TickReport,
) -> Result<Verdict, DbErr> {
    match kind {
        Some(ReminderKind::LogPain) => {
            if logged_pain_between(conn, patient, tz, due_at, until).await? {
                report.skipped_logged += 1;
                return Ok(Verdict::Skip);
            }
            Ok(Verdict::Send(None))
        }
        Some(ReminderKind::QuestionnaireDue) => {
            let day = due_at.with_timezone(&tz).date_naive();
            let instruments = due::questionnaires_due(conn, patient, day).await?;
            match instruments.into_iter().next() {
                Some(first) => Ok(Verdict::Send(Some(first))),
                None => {
                    report.skipped_not_due += 1;
                    Ok(Verdict::Skip)
                }
            }
        }
        _ => Ok(Verdict::Send(None)),
    }
}

/// Claims and handles one due occurrence. `false` when another replica had claimed it.
async fn fire(
    state: &AppState,
    ctx: &BatchContext,
    row: DueReminder,
    schedule: Option<Schedule>,
    now: DateTime<Utc>,
    report: &mut TickReport,
) -> Result<bool, DbErr> {
    let Some(due) = row.next_due_at else {
        return Ok(false);
    };
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
    let (Some(patient), Some(schedule)) = (ctx.patients.get(&row.patient_id), schedule) else {
        txn.commit().await?;
        return Ok(true);
    };
    if late {
        report.skipped_late += 1;
        txn.commit().await?;
        return Ok(true);
    }
    let settings = ctx.settings(patient.id);
    if settings.paused_at(due) {
        report.skipped_paused += 1;
        txn.commit().await?;
        return Ok(true);
    }
    let kind = ReminderKind::parse(&row.kind);
    let tz = schedule.tz();
    let instrument = match kind_check(&txn, kind, patient.id, tz, due, due, report).await? {
        Verdict::Skip => {
            txn.commit().await?;
            return Ok(true);
        }
        Verdict::Send(instrument) => instrument,
    };
    let patient_tz: Tz = patient.timezone.parse().unwrap_or(tz);
    if let Some(end) = settings
        .quiet_hours
        .and_then(|q| q.deferral(patient_tz, due))
    {
        // Held back to the end of quiet hours. A send already pending for this reminder
        // (an earlier night-time occurrence, a snooze) is replaced: one message, not a
        // pile of them at 07:00.
        reminders::Entity::update_many()
            .col_expr(reminders::Column::ResendAt, Expr::value(Some(end)))
            .col_expr(reminders::Column::ResendDueAt, Expr::value(Some(due)))
            .filter(reminders::Column::Id.eq(row.id))
            .exec(&txn)
            .await?;
        report.deferred += 1;
        txn.commit().await?;
        return Ok(true);
    }
    let occurrence = format!("reminder:{}:{}", row.id, due.timestamp());
    enqueue_all(
        &txn,
        ctx,
        patient,
        &row.channels,
        ReminderPayload {
            reminder_id: row.id,
            kind: row.kind.clone(),
            due_at: due,
            instrument,
        },
        &occurrence,
        now,
        report,
    )
    .await?;
    // The newest occurrence supersedes a send still pending for an older one.
    reminders::Entity::update_many()
        .col_expr(reminders::Column::LastSentDueAt, Expr::value(Some(due)))
        .col_expr(
            reminders::Column::ResendAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            reminders::Column::ResendDueAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(reminders::Column::Id.eq(row.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    report.sent += 1;
    Ok(true)
}

/// Claims and handles one deferred or snoozed send. `false` when another replica had it.
async fn resend(
    state: &AppState,
    ctx: &BatchContext,
    row: ResendReminder,
    now: DateTime<Utc>,
    report: &mut TickReport,
) -> Result<bool, DbErr> {
    let (Some(at), Some(due)) = (row.resend_at, row.resend_due_at) else {
        return Ok(false);
    };
    let patient = ctx.patients.get(&row.patient_id);
    let settings = ctx.settings(row.patient_id);
    let patient_tz: Option<Tz> = patient.and_then(|p| p.timezone.parse().ok());
    // Quiet hours changed since (or a snooze ends inside them): wait for their end.
    let again = patient_tz.and_then(|tz| settings.quiet_hours.and_then(|q| q.deferral(tz, now)));
    let txn = state.db.begin().await?;
    let claimed = reminders::Entity::update_many()
        .col_expr(reminders::Column::ResendAt, Expr::value(again))
        .col_expr(
            reminders::Column::ResendDueAt,
            Expr::value(again.map(|_| due)),
        )
        .filter(reminders::Column::Id.eq(row.id))
        .filter(reminders::Column::ResendAt.eq(at))
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(false);
    }
    let Some(patient) = patient else {
        txn.commit().await?;
        return Ok(true);
    };
    if again.is_some() {
        report.deferred += 1;
        txn.commit().await?;
        return Ok(true);
    }
    if settings.paused_at(now) {
        report.skipped_paused += 1;
        txn.commit().await?;
        return Ok(true);
    }
    let tz: Tz = row.timezone.parse().unwrap_or(Tz::UTC);
    let kind = ReminderKind::parse(&row.kind);
    // Logged by now (not only by the occurrence's time) silences it.
    let instrument = match kind_check(&txn, kind, patient.id, tz, due, now, report).await? {
        Verdict::Skip => {
            txn.commit().await?;
            return Ok(true);
        }
        Verdict::Send(instrument) => instrument,
    };
    let reason = if row.snoozed_due_at == Some(due) {
        "snooze"
    } else {
        "deferred"
    };
    let occurrence = format!("reminder:{}:{}:{reason}", row.id, due.timestamp());
    enqueue_all(
        &txn,
        ctx,
        patient,
        &row.channels,
        ReminderPayload {
            reminder_id: row.id,
            kind: row.kind.clone(),
            due_at: due,
            instrument,
        },
        &occurrence,
        now,
        report,
    )
    .await?;
    reminders::Entity::update_many()
        .col_expr(reminders::Column::LastSentDueAt, Expr::value(Some(due)))
        .filter(reminders::Column::Id.eq(row.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    report.sent += 1;
    Ok(true)
}

/// Enqueues one delivery per channel (and push subscription), keyed `<occurrence>:<channel>`.
#[allow(clippy::too_many_arguments)]
async fn enqueue_all(
    txn: &impl ConnectionTrait,
    ctx: &BatchContext,
    patient: &PatientRow,
    channels: &str,
    payload: ReminderPayload,
    occurrence: &str,
    now: DateTime<Utc>,
    report: &mut TickReport,
) -> Result<(), DbErr> {
    let payload = serde_json::to_value(payload).unwrap_or_default();
    for channel in parse_channels(channels) {
        match channel {
            ReminderChannel::Email => {
                let email = patient.user_id.and_then(|u| ctx.emails.get(&u));
                if let Some(email) = email {
                    let fresh = outbox::enqueue(
                        txn,
                        NewDelivery {
                            idempotency_key: format!("{occurrence}:email"),
                            alert_id: None,
                            clinic_id: patient.clinic_id,
                            channel: Channel::Email,
                            recipient: email.clone(),
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
                let subscriptions: Vec<Uuid> = push_subscriptions::Entity::find()
                    .select_only()
                    .column(push_subscriptions::Column::Id)
                    .filter(push_subscriptions::Column::PatientId.eq(patient.id))
                    .limit(super::push::MAX_SUBSCRIPTIONS_PER_PATIENT)
                    .into_tuple()
                    .all(txn)
                    .await?;
                for sub in subscriptions {
                    let fresh = outbox::enqueue(
                        txn,
                        NewDelivery {
                            idempotency_key: format!("{occurrence}:web_push:{sub}"),
                            alert_id: None,
                            clinic_id: patient.clinic_id,
                            channel: Channel::WebPush,
                            recipient: sub.to_string(),
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
    Ok(())
}

/// Whether `patient` logged pain in the local day of `due` (in `tz`), at or before `until`.
async fn logged_pain_between(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    tz: Tz,
    due: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let day = due.with_timezone(&tz).date_naive();
    let day_start =
        super::schedule::resolve(tz, day.and_time(chrono::NaiveTime::MIN)).unwrap_or(due);
    // The entry's own local date (in the zone it was logged in) is within a day of the
    // reminder's; naming those dates lets the (patient, local_date) index find the rows.
    let days = [day - Duration::days(1), day, day + Duration::days(1)];
    let n = pain_entries::Entity::find()
        .filter(pain_entries::Column::PatientId.eq(patient))
        .filter(pain_entries::Column::LocalDate.is_in(days))
        .filter(pain_entries::Column::Deleted.eq(false))
        .filter(pain_entries::Column::RecordedAt.gte(day_start))
        .filter(pain_entries::Column::RecordedAt.lte(until))
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
                    skipped_paused = r.skipped_paused,
                    skipped_not_due = r.skipped_not_due,
                    deferred = r.deferred,
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
