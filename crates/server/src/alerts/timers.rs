//! Alert timers: repeat notifications, escalations, the daily missed-logging check (see
//! `super::missed`) and the daily digest. Nothing is held
//! in memory: each firing is claimed in the database (a conditional UPDATE that only one
//! transaction can win, or an outbox idempotency key that can be enqueued once), so any
//! number of replicas may run [`tick`] at the same time and each timer fires once.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Timelike, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    UpdateMany,
};
use serde_json::json;
use uuid::Uuid;

use super::{
    ClinicSettings, alert_payload, care_team, clinic_settings, event, notify, record_event, status,
};
use crate::entity::{alerts, patients};
use crate::outbox::{self, Channel, DeliveryKind, NewDelivery};
use crate::state::AppState;

/// How many alerts one pass of a timer looks at; the next tick takes the rest.
const BATCH: u64 = 200;

/// What one [`tick`] fired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Alerts re-notified.
    pub repeated: usize,
    /// Alerts escalated.
    pub escalated: usize,
    /// Missed-logging alerts opened.
    pub missed: usize,
    /// Digest rows enqueued.
    pub digests: usize,
}

/// Runs every alert timer due at `now`. Tests call it directly with the manual clock;
/// `serve` calls it periodically (see [`run_periodically`]).
pub async fn tick(state: &AppState, now: DateTime<Utc>) -> Result<TickReport, DbErr> {
    let report = TickReport {
        repeated: repeat_due(state, now).await?,
        escalated: escalate_due(state, now).await?,
        // Before the digest, so that a missed-logging alert (info) opened now is in it.
        missed: super::missed::missed_due(state, now).await?,
        digests: digest_due(state, now).await?,
    };
    if report != TickReport::default() {
        // What fired enqueued deliveries (committed by now): send them without waiting
        // for the worker's poll.
        state.outbox.wake();
    }
    Ok(report)
}

/// Calls [`tick`] every `alerts.tick_interval_secs` until `stop` resolves.
pub async fn run_periodically(state: AppState, stop: impl std::future::Future<Output = ()>) {
    let state = &state;
    crate::clock::run_every(
        state.config.alerts.tick_interval_secs,
        stop,
        || async move {
            match tick(state, state.clock.now()).await {
                Ok(report) if report != TickReport::default() => tracing::info!(
                    repeated = report.repeated,
                    escalated = report.escalated,
                    missed = report.missed,
                    digests = report.digests,
                    "alert timers fired"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "alert timers failed; retrying next tick"),
            }
        },
    )
    .await;
}

async fn due(
    conn: &impl ConnectionTrait,
    column: alerts::Column,
    now: DateTime<Utc>,
) -> Result<Vec<alerts::Model>, DbErr> {
    alerts::Entity::find()
        .filter(alerts::Column::Status.eq(status::OPEN))
        .filter(column.lte(now))
        .order_by_asc(column)
        .limit(BATCH)
        .all(conn)
        .await
}

/// Re-notifies unacknowledged alerts whose `next_repeat_at` has passed.
async fn repeat_due(state: &AppState, now: DateTime<Utc>) -> Result<usize, DbErr> {
    let mut fired = 0;
    for alert in due(&state.db, alerts::Column::NextRepeatAt, now).await? {
        let Some(was) = alert.next_repeat_at else {
            continue;
        };
        // The claim: only the transaction that still sees the old value moves it.
        let claim = |settings: &ClinicSettings| {
            alerts::Entity::update_many()
                .col_expr(
                    alerts::Column::NextRepeatAt,
                    Expr::value(Some(now + settings.repeat_interval)),
                )
                .col_expr(alerts::Column::LastNotifiedAt, Expr::value(Some(now)))
                .filter(alerts::Column::Id.eq(alert.id))
                .filter(alerts::Column::Status.eq(status::OPEN))
                .filter(alerts::Column::NextRepeatAt.eq(was))
        };
        let kind = DeliveryKind::AlertRepeat;
        if fire(
            state,
            &alert,
            now,
            kind,
            was.timestamp(),
            event::REPEATED,
            claim,
        )
        .await?
        {
            fired += 1;
        }
    }
    Ok(fired)
}

/// Escalates unacknowledged urgent alerts whose `escalate_at` has passed, once, to the
/// clinic's secondary recipients.
async fn escalate_due(state: &AppState, now: DateTime<Utc>) -> Result<usize, DbErr> {
    let mut fired = 0;
    for alert in due(&state.db, alerts::Column::EscalateAt, now).await? {
        let claim = |_: &ClinicSettings| {
            alerts::Entity::update_many()
                .col_expr(alerts::Column::EscalatedAt, Expr::value(Some(now)))
                .col_expr(
                    alerts::Column::EscalateAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(alerts::Column::Id.eq(alert.id))
                .filter(alerts::Column::Status.eq(status::OPEN))
                .filter(alerts::Column::EscalatedAt.is_null())
                .filter(alerts::Column::EscalateAt.lte(now))
        };
        let kind = DeliveryKind::AlertEscalated;
        if fire(state, &alert, now, kind, 0, event::ESCALATED, claim).await? {
            fired += 1;
        }
    }
    Ok(fired)
}

/// One timer firing for `alert`, in a transaction of its own: `claim` (built from the
/// clinic's settings) must update exactly the alert's row, which only one transaction
/// can do; then its deliveries are enqueued and its history row written. `false` when
/// another replica or tick claimed it first (or the patient is gone).
async fn fire(
    state: &AppState,
    alert: &alerts::Model,
    now: DateTime<Utc>,
    kind: DeliveryKind,
    n: i64,
    event_kind: &'static str,
    claim: impl FnOnce(&ClinicSettings) -> UpdateMany<alerts::Entity>,
) -> Result<bool, DbErr> {
    let txn = crate::db::begin_write(&state.db).await?;
    let Some(patient) = patients::Entity::find_by_id(alert.patient_id)
        .one(&txn)
        .await?
    else {
        return Ok(false);
    };
    let settings = clinic_settings(&txn, &state.config.alerts, alert.clinic_id).await?;
    if claim(&settings).exec(&txn).await?.rows_affected != 1 {
        return Ok(false);
    }
    let enqueued = notify(&txn, alert, &patient, &settings, kind, n, now).await?;
    record_event(
        &txn,
        alert.id,
        now,
        event_kind,
        None,
        Some(format!("{enqueued} deliveries enqueued")),
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// Once a day, at the first tick at or after `digest_hour` of the clinic's local day
/// (its time zone, UTC by default), one email per clinician listing the unacknowledged
/// info alerts of their care-team patients. The claim is the outbox key
/// `digest:<clinician>:<local day>:<address>`, which can be enqueued once.
async fn digest_due(state: &AppState, now: DateTime<Utc>) -> Result<usize, DbErr> {
    let open_info: Vec<alerts::Model> = alerts::Entity::find()
        .filter(alerts::Column::Status.eq(status::OPEN))
        .filter(alerts::Column::Severity.eq("info"))
        .order_by_asc(alerts::Column::OpenedAt)
        .all(&state.db)
        .await?;
    if open_info.is_empty() {
        return Ok(0);
    }
    // Each clinic's settings once, and its local day when its digest hour has come.
    let mut clinics: BTreeMap<Uuid, (ClinicSettings, Option<String>)> = BTreeMap::new();
    for clinic in open_info.iter().map(|a| a.clinic_id) {
        if clinics.contains_key(&clinic) {
            continue;
        }
        let settings = clinic_settings(&state.db, &state.config.alerts, clinic).await?;
        let local = now.with_timezone(&settings.timezone);
        let day = (local.hour() >= state.config.alerts.digest_hour)
            .then(|| local.date_naive().format("%Y-%m-%d").to_string());
        clinics.insert(clinic, (settings, day));
    }
    let open_info: Vec<alerts::Model> = open_info
        .into_iter()
        .filter(|a| {
            clinics
                .get(&a.clinic_id)
                .is_some_and(|(_, day)| day.is_some())
        })
        .collect();
    if open_info.is_empty() {
        return Ok(0);
    }
    let patient_ids: BTreeSet<Uuid> = open_info.iter().map(|a| a.patient_id).collect();
    let patients: BTreeMap<Uuid, patients::Model> = patients::Entity::find()
        .filter(patients::Column::Id.is_in(patient_ids.iter().copied()))
        .filter(patients::Column::ErasedAt.is_null())
        .all(&state.db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    // clinician -> (name, clinic, their alerts)
    let mut per_clinician: BTreeMap<Uuid, (String, String, Uuid, Vec<&alerts::Model>)> =
        BTreeMap::new();
    for alert in &open_info {
        if !patients.contains_key(&alert.patient_id) {
            continue;
        }
        for person in care_team(&state.db, alert.patient_id).await? {
            per_clinician
                .entry(person.user_id)
                .or_insert_with(|| (person.name, person.email, alert.clinic_id, Vec::new()))
                .3
                .push(alert);
        }
    }
    let mut enqueued = 0;
    for (clinician, (name, email, clinic, list)) in per_clinician {
        let Some((settings, Some(day))) = clinics.get(&clinic) else {
            continue;
        };
        let txn = crate::db::begin_write(&state.db).await?;
        let items: Vec<serde_json::Value> = list
            .iter()
            .filter_map(|a| {
                let p = patients.get(&a.patient_id)?;
                Some(alert_payload(a, &p.display_code, settings.include_details))
            })
            .collect();
        let delivery = NewDelivery {
            idempotency_key: format!("digest:{clinician}:{day}:{email}"),
            alert_id: None,
            clinic_id: clinic,
            channel: Channel::Email,
            recipient: email,
            kind: DeliveryKind::Digest,
            payload: json!({
                "clinician_name": name,
                "day": day,
                "alerts": items,
                "include_details": settings.include_details,
            }),
            not_before: now,
        };
        if outbox::enqueue(&txn, delivery, now).await? {
            for alert in &list {
                record_event(
                    &txn,
                    alert.id,
                    now,
                    event::NOTIFIED,
                    None,
                    Some(format!("daily digest {day}")),
                )
                .await?;
            }
            enqueued += 1;
        }
        txn.commit().await?;
    }
    Ok(enqueued)
}
