//! Missed logging, run from the alert timers: a patient who stops logging does not sync,
//! so nothing in the projection transaction would ever notice.
//!
//! Each enrolled, not erased patient has a `missed_logging_checks` row whose
//! `next_check_at` is the patient's next local midnight: the rule counts whole local days
//! (today never counts as missed), so one check per local day is enough. A pass reads the
//! due patients with their last entry day in one SQL query (a correlated `MAX(local_date)`
//! per entry table, served by the `(patient_id, local_date)` indexes), works out in memory
//! who cannot have missed enough days, and moves their timers in a few set-wise
//! statements. Only the rest (no entry yesterday or today) are checked one by one: the
//! conditional UPDATE of their `next_check_at` is the claim, so with several replicas
//! each patient is checked once; then the clinic thresholds with the care plan's
//! `missed_days` override decide, and an alert opens through the same path as the other
//! rules (one open alert per (patient, rule); info goes to the daily digest).
//!
//! `alerted_since` remembers the last entry day of the silence already alerted: the same
//! silence is not raised again after a clinician resolved its alert, and a resolved or
//! still open alert is never closed automatically (DESIGN.md: a clinician resolves).

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use paindiary_notifier::rules::{PatientSeries, missed_logging};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait,
    FromQueryResult, QueryFilter, Statement,
};
use uuid::Uuid;

use super::evaluate::{self, EvaluationSummary};
use super::{ClinicSettings, clinic_settings};
use crate::entity::{missed_logging_checks as checks, patients};
use crate::state::AppState;

/// How many due patients one query reads; a pass repeats until none is left.
const BATCH: u64 = 500;

/// At most this many batches per pass (50,000 patients); the next tick takes the rest.
const MAX_BATCHES: usize = 100;

/// The entry tables: any entry, valid or not, counts as logging (the patient did write
/// something); deleted ones do not.
const ENTRY_TABLES: [&str; 5] = [
    "pain_entries",
    "medication_intakes",
    "wellbeing_entries",
    "exercise_sessions",
    "peg_checkins",
];

/// One due patient as the pass query returns it.
#[derive(Debug, FromQueryResult)]
struct DueRow {
    id: Uuid,
    clinic_id: Uuid,
    timezone: String,
    next_check_at: Option<DateTime<Utc>>,
    alerted_since: Option<NaiveDate>,
    last_0: Option<NaiveDate>,
    last_1: Option<NaiveDate>,
    last_2: Option<NaiveDate>,
    last_3: Option<NaiveDate>,
    last_4: Option<NaiveDate>,
    enrolled_at: Option<DateTime<Utc>>,
}

/// The SQL of one batch; `?` placeholders are numbered for PostgreSQL.
fn due_sql(backend: DatabaseBackend) -> String {
    let last: Vec<String> = ENTRY_TABLES
        .iter()
        .enumerate()
        .map(|(i, table)| {
            format!(
                "(SELECT MAX(e.local_date) FROM {table} e \
                 WHERE e.patient_id = p.id AND NOT e.deleted) AS last_{i}"
            )
        })
        .collect();
    let sql = format!(
        "SELECT p.id AS id, p.clinic_id AS clinic_id, p.timezone AS timezone, \
         c.next_check_at AS next_check_at, c.alerted_since AS alerted_since, {}, \
         (SELECT MIN(i.used_at) FROM invitations i \
          WHERE i.patient_id = p.id AND i.used_at IS NOT NULL) AS enrolled_at \
         FROM patients p LEFT JOIN missed_logging_checks c ON c.patient_id = p.id \
         WHERE p.erased_at IS NULL AND p.user_id IS NOT NULL \
         AND (c.patient_id IS NULL OR c.next_check_at <= ?) \
         ORDER BY p.id LIMIT ?",
        last.join(", ")
    );
    match backend {
        DatabaseBackend::Postgres => sql.replacen('?', "$1", 1).replacen('?', "$2", 1),
        _ => sql,
    }
}

/// The first instant of the local day after `today` in `tz` (a day that starts inside
/// a DST gap starts at the gap's end, found by trying the next hours).
fn next_midnight(tz: chrono_tz::Tz, today: NaiveDate) -> Option<DateTime<Utc>> {
    let next = today.checked_add_days(Days::new(1))?;
    (0..=3).find_map(|hour| {
        tz.from_local_datetime(&next.and_time(NaiveTime::from_hms_opt(hour, 0, 0)?))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// What the pass made of one due patient.
struct Checked {
    row: DueRow,
    tz: chrono_tz::Tz,
    today: NaiveDate,
    next: DateTime<Utc>,
    last_entry: Option<NaiveDate>,
    enrolled_on: Option<NaiveDate>,
}

impl Checked {
    fn new(row: DueRow, now: DateTime<Utc>) -> Self {
        let tz = crate::domain::stored_zone(&row.timezone);
        let today = now.with_timezone(&tz).date_naive();
        // A zone without a next midnight (end of the calendar) is checked a day later.
        let next = next_midnight(tz, today).unwrap_or(now + chrono::Duration::days(1));
        let last_entry = [row.last_0, row.last_1, row.last_2, row.last_3, row.last_4]
            .into_iter()
            .flatten()
            .filter(|d| *d <= today)
            .max();
        let enrolled_on = row.enrolled_at.map(|at| at.with_timezone(&tz).date_naive());
        Self {
            row,
            tz,
            today,
            next,
            last_entry,
            enrolled_on,
        }
    }

    /// The day the current silence is counted from.
    fn since(&self) -> Option<NaiveDate> {
        self.last_entry.or(self.enrolled_on)
    }

    /// Whether the rule could fire under some threshold (the smallest a care plan may
    /// set is one missed day, i.e. `since` at least two days before today) for a silence not alerted yet. Everyone else only has their
    /// timer moved.
    fn worth_checking(&self) -> bool {
        let Some(since) = self.since() else {
            return false;
        };
        (self.today - since).num_days() > 1 && self.row.alerted_since != Some(since)
    }
}

/// Checks every patient whose missed-logging check is due at `now`; returns how many
/// alerts it opened.
pub(crate) async fn missed_due(state: &AppState, now: DateTime<Utc>) -> Result<usize, DbErr> {
    let backend = state.db.get_database_backend();
    let sql = due_sql(backend);
    let mut clinics: BTreeMap<Uuid, ClinicSettings> = BTreeMap::new();
    let mut opened = 0;
    for _ in 0..MAX_BATCHES {
        let rows = DueRow::find_by_statement(Statement::from_sql_and_values(
            backend,
            sql.clone(),
            [now.into(), i64::try_from(BATCH).unwrap_or(500).into()],
        ))
        .all(&state.db)
        .await?;
        let full = rows.len() as u64 == BATCH;
        let (check, skip): (Vec<Checked>, Vec<Checked>) = rows
            .into_iter()
            .map(|row| Checked::new(row, now))
            .partition(Checked::worth_checking);
        move_timers(&state.db, &skip, now).await?;
        for patient in &check {
            let settings = match clinics.entry(patient.row.clinic_id) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(
                    clinic_settings(&state.db, &state.config.alerts, patient.row.clinic_id).await?,
                ),
            };
            if check_one(state, settings, patient, now).await? {
                opened += 1;
            }
        }
        if !full {
            break;
        }
    }
    Ok(opened)
}

/// Moves the timers of patients who need no check, a few statements for the batch:
/// one UPDATE per distinct next midnight (one per time zone) and one INSERT for those
/// without a row. Losing a race to another replica is harmless: it moves them the same.
async fn move_timers(
    conn: &impl ConnectionTrait,
    patients: &[Checked],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut existing: BTreeMap<DateTime<Utc>, Vec<Uuid>> = BTreeMap::new();
    let mut fresh: Vec<checks::ActiveModel> = Vec::new();
    for p in patients {
        if p.row.next_check_at.is_some() {
            existing.entry(p.next).or_default().push(p.row.id);
        } else {
            fresh.push(checks::ActiveModel {
                patient_id: Set(p.row.id),
                next_check_at: Set(p.next),
                alerted_since: Set(None),
            });
        }
    }
    for (next, ids) in existing {
        checks::Entity::update_many()
            .col_expr(checks::Column::NextCheckAt, Expr::value(next))
            .filter(checks::Column::PatientId.is_in(ids))
            .filter(checks::Column::NextCheckAt.lte(now))
            .exec(conn)
            .await?;
    }
    if !fresh.is_empty() {
        checks::Entity::insert_many(fresh)
            .on_conflict(
                OnConflict::column(checks::Column::PatientId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// Claims and checks one patient in a transaction of its own; `true` when it opened an
/// alert. `false` when another replica claimed the patient first.
async fn check_one(
    state: &AppState,
    settings: &ClinicSettings,
    p: &Checked,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let txn = crate::db::begin_write(&state.db).await?;
    let claimed = match p.row.next_check_at {
        Some(was) => {
            checks::Entity::update_many()
                .col_expr(checks::Column::NextCheckAt, Expr::value(p.next))
                .filter(checks::Column::PatientId.eq(p.row.id))
                .filter(checks::Column::NextCheckAt.eq(was))
                .exec(&txn)
                .await?
                .rows_affected
                == 1
        }
        None => {
            checks::Entity::insert(checks::ActiveModel {
                patient_id: Set(p.row.id),
                next_check_at: Set(p.next),
                alerted_since: Set(None),
            })
            .on_conflict(
                OnConflict::column(checks::Column::PatientId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?
                == 1
        }
    };
    if !claimed {
        return Ok(false);
    }
    // Erased since the query, or gone: nothing to do (the claim is kept).
    let Some(patient) = patients::Entity::find_by_id(p.row.id).one(&txn).await? else {
        txn.commit().await?;
        return Ok(false);
    };
    if patient.erased_at.is_some() {
        txn.commit().await?;
        return Ok(false);
    }
    let mut thresholds = settings.thresholds.clone();
    match crate::trends::care_plan(&txn, p.row.id).await {
        Ok(plan) => {
            let rules = evaluate::care_plan_rules(&plan);
            match thresholds.with(&rules.overrides) {
                Ok(t) => thresholds = t,
                Err(_) => tracing::warn!(
                    patient = %p.row.id,
                    "care-plan threshold overrides are invalid; clinic thresholds apply"
                ),
            }
        }
        Err(crate::storage::StorageError::Db(e)) => return Err(e),
        Err(_) => tracing::warn!(
            patient = %p.row.id,
            "care plan does not load; clinic thresholds apply to missed logging"
        ),
    }
    let series = PatientSeries {
        other_entry_days: p.last_entry.into_iter().collect(),
        enrolled_on: p.enrolled_on,
        ..PatientSeries::default()
    };
    let Some(decision) = missed_logging(&series, &thresholds, p.today) else {
        txn.commit().await?;
        return Ok(false);
    };
    let mut summary = EvaluationSummary::default();
    let mut open = evaluate::open_alerts(
        &txn,
        [evaluate::open_slot(patient.id, decision.rule.as_str())],
    )
    .await?;
    evaluate::apply(
        &txn,
        &patient,
        settings,
        &decision,
        &mut open,
        now,
        &mut summary,
    )
    .await?;
    checks::Entity::update_many()
        .col_expr(checks::Column::AlertedSince, Expr::value(p.since()))
        .filter(checks::Column::PatientId.eq(p.row.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    tracing::debug!(tz = %p.tz, opened = summary.opened, "missed-logging check raised");
    Ok(summary.opened > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_midnight_is_local() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap_or_default();
        let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap_or(chrono_tz::UTC);
        assert_eq!(
            next_midnight(berlin, day).map(|t| t.to_rfc3339()),
            Some("2026-12-04T23:00:00+00:00".to_owned())
        );
    }

    #[test]
    fn both_backends_get_their_placeholders() {
        let pg = due_sql(DatabaseBackend::Postgres);
        assert!(pg.contains("<= $1") && pg.contains("LIMIT $2") && !pg.contains('?'));
        let lite = due_sql(DatabaseBackend::Sqlite);
        assert_eq!(lite.matches('?').count(), 2);
    }
}
