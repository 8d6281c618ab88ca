//! The clinician's patient list: every visible patient with their unresolved alerts (the
//! most urgent first, in the one triage order), last entry time, 7-day mean pain and its
//! change against the week before, medication adherence and care team.
//! A fixed number of grouped queries for the whole list, whatever its length.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use uuid::Uuid;

use super::{DrugDay, TrendsError, adherence, overall_adherence, schedules_many};
use crate::alerts::triage::{Currency, TriageKey, sort_by_triage};
use crate::entity::{
    alerts, care_team_members, exercise_sessions, medication_intakes, pain_entries, patients,
    peg_checkins, wellbeing_entries,
};

/// One row of the patient list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatientSummary {
    /// Patient id.
    pub id: Uuid,
    /// Display code (no names in this system).
    pub display_code: String,
    /// IANA time zone.
    pub timezone: String,
    /// Open or acknowledged alerts.
    pub open_alerts: i64,
    /// The most severe of them (`urgent`, `warning`, `info`).
    pub top_severity: Option<String>,
    /// Latest `recorded_at` of any live diary entry.
    pub last_entry_at: Option<DateTime<Utc>>,
    /// Mean of the daily pain means of the last 7 local days (today included).
    pub pain_mean_7d: Option<f64>,
    /// Same for the 7 days before.
    pub pain_mean_prior_7d: Option<f64>,
    /// `pain_mean_7d - pain_mean_prior_7d`.
    pub pain_change: Option<f64>,
    /// Mean adherence to scheduled prescriptions over the last 7 days (0..1).
    pub adherence_7d: Option<f64>,
    /// The most urgent unresolved alert, as the triage order ranks them.
    pub top_alert: Option<TopAlert>,
    /// Every unresolved alert, in triage order (for filtering by rule, severity, status).
    #[serde(skip)]
    pub alerts: Vec<alerts::Model>,
    /// The users on the patient's care team.
    #[serde(skip)]
    pub care_team: Vec<Uuid>,
}

/// The most urgent unresolved alert of a patient, in figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopAlert {
    /// Alert id.
    pub id: Uuid,
    /// Rule code.
    pub rule: String,
    /// The rule in words.
    pub rule_title: &'static str,
    /// `urgent`, `warning` or `info`.
    pub severity: String,
    /// `open` or `acknowledged`.
    pub status: String,
    /// `active`, `cleared` or `evidence_withdrawn`.
    pub currency: &'static str,
    /// First trigger day (patient's local day).
    pub first_day: NaiveDate,
    /// Latest trigger day.
    pub latest_day: NaiveDate,
    /// The figure compared, now.
    pub current_value: Option<f64>,
    /// The patient's usual level of it.
    pub usual_value: Option<f64>,
    /// The day-to-day spread around the usual level.
    pub usual_spread: Option<f64>,
    /// Size of the change.
    pub magnitude: Option<f64>,
}

impl TopAlert {
    fn of(a: &alerts::Model) -> Self {
        TopAlert {
            id: a.id,
            rule: a.rule.clone(),
            rule_title: crate::alerts::rule_title(&a.rule),
            severity: a.severity.clone(),
            status: a.status.clone(),
            currency: Currency::of(a).code(),
            first_day: a.local_day,
            latest_day: a.latest_day.unwrap_or(a.local_day),
            current_value: a.current_value,
            usual_value: a.usual_value,
            usual_spread: a.usual_spread,
            magnitude: a.magnitude,
        }
    }
}

/// Patients per last-entry query (five subqueries each; well under both backends'
/// bound-parameter limits).
const LAST_ENTRY_BATCH: usize = 1000;

/// `(SELECT MAX(recorded_at) FROM <entries> WHERE patient_id = patients.id AND NOT
/// deleted)`: the patient's latest live entry of one kind, as a correlated subquery that
/// both backends answer with one seek of the `(patient_id, deleted, recorded_at)` index.
fn latest_live<E: EntityTrait>(entries: E) -> Expr {
    let table = Alias::new(entries.table_name());
    let col = |name: &str| Expr::col((table.clone(), Alias::new(name)));
    Query::select()
        .expr(Func::max(col("recorded_at")))
        .from(table.clone())
        .and_where(col("patient_id").equals((patients::Entity, patients::Column::Id)))
        .and_where(col("deleted").eq(false))
        .to_owned()
        .into()
}

/// Summaries of `rows` as of `now`: patients with unresolved alerts first, in the triage
/// order of their most urgent alert, then the others by display code. Prescriptions come from the care-plan projection.
pub async fn summarise(
    conn: &impl ConnectionTrait,
    rows: &[patients::Model],
    now: DateTime<Utc>,
) -> Result<Vec<PatientSummary>, TrendsError> {
    let ids: Vec<Uuid> = rows.iter().map(|p| p.id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let today: HashMap<Uuid, NaiveDate> = rows
        .iter()
        .map(|p| {
            let tz: Tz = p.zone();
            (p.id, now.with_timezone(&tz).date_naive())
        })
        .collect();
    let earliest_today = today.values().min().copied().unwrap_or(now.date_naive());
    let latest_today = today.values().max().copied().unwrap_or(now.date_naive());
    let window_from = earliest_today - Duration::days(13);

    // Alerts still needing attention, each patient's in triage order.
    let alert_rows = alerts::Entity::find()
        .filter(alerts::Column::PatientId.is_in(ids.clone()))
        .filter(alerts::Column::Status.is_in(["open", "acknowledged"]))
        .all(conn)
        .await?;
    let mut open: HashMap<Uuid, Vec<alerts::Model>> = HashMap::new();
    for a in alert_rows {
        open.entry(a.patient_id).or_default().push(a);
    }
    for list in open.values_mut() {
        sort_by_triage(list, |a| a);
    }

    // Care teams, for the member filter.
    let members: Vec<(Uuid, Uuid)> = care_team_members::Entity::find()
        .select_only()
        .columns([
            care_team_members::Column::PatientId,
            care_team_members::Column::UserId,
        ])
        .filter(care_team_members::Column::PatientId.is_in(ids.clone()))
        .into_tuple()
        .all(conn)
        .await?;
    let mut teams: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (p, u) in members {
        teams.entry(p).or_default().push(u);
    }

    // Last live entry of any kind: per patient, one index seek in each entry table
    // (migration 000028), all in one query. A grouped MAX over the tables read every
    // entry a patient ever logged.
    type LastRow = (
        Uuid,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    );
    let mut last: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    for batch in ids.chunks(LAST_ENTRY_BATCH) {
        let found: Vec<LastRow> = patients::Entity::find()
            .select_only()
            .column(patients::Column::Id)
            .expr_as(latest_live(pain_entries::Entity), "pain")
            .expr_as(latest_live(medication_intakes::Entity), "medication")
            .expr_as(latest_live(exercise_sessions::Entity), "exercise")
            .expr_as(latest_live(wellbeing_entries::Entity), "wellbeing")
            .expr_as(latest_live(peg_checkins::Entity), "checkin")
            .filter(patients::Column::Id.is_in(batch.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        for (p, a, b, c, d, e) in found {
            if let Some(at) = [a, b, c, d, e].into_iter().flatten().max() {
                last.insert(p, at);
            }
        }
    }

    // Daily pain means of the last 14 days, every patient at once.
    use pain_entries::Column as P;
    let pain: Vec<(Uuid, NaiveDate, f64)> = pain_entries::Entity::find()
        .select_only()
        .column(P::PatientId)
        .column(P::LocalDate)
        .column_as(Expr::from(Func::avg(Expr::col(P::Score))), "mean")
        .filter(P::PatientId.is_in(ids.clone()))
        .filter(P::Valid.eq(true))
        .filter(P::Deleted.eq(false))
        .filter(P::LocalDate.between(window_from, latest_today))
        .group_by(P::PatientId)
        .group_by(P::LocalDate)
        .into_tuple()
        .all(conn)
        .await?;
    let mut pain_by: HashMap<Uuid, Vec<(NaiveDate, f64)>> = HashMap::new();
    for (p, d, m) in pain {
        pain_by.entry(p).or_default().push((d, m));
    }

    // Intakes per drug per day of the last 7 days, for adherence.
    use medication_intakes::Column as M;
    let taken = Expr::cust("CASE WHEN status = 'taken' THEN 1 ELSE 0 END");
    let meds: Vec<(Uuid, NaiveDate, String, i64)> = medication_intakes::Entity::find()
        .select_only()
        .column(M::PatientId)
        .column(M::LocalDate)
        .column(M::DrugNormalized)
        .column_as(Expr::from(Func::sum(taken)), "taken")
        .filter(M::PatientId.is_in(ids.clone()))
        .filter(M::Valid.eq(true))
        .filter(M::Deleted.eq(false))
        .filter(M::LocalDate.between(earliest_today - Duration::days(6), latest_today))
        .group_by(M::PatientId)
        .group_by(M::LocalDate)
        .group_by(M::DrugNormalized)
        .into_tuple()
        .all(conn)
        .await?;
    let mut meds_by: HashMap<Uuid, Vec<DrugDay>> = HashMap::new();
    for (p, date, drug, taken) in meds {
        meds_by.entry(p).or_default().push(DrugDay {
            date,
            drug,
            taken,
            // The list shows adherence only, which does not split off PRN doses.
            prn_taken: 0,
            skipped: 0,
            amount_taken: 0.0,
        });
    }

    // Every patient's prescriptions in one query from their projection (loading and
    // decoding 500 care-plan documents took ~75 ms a render).
    let schedules = schedules_many(conn, &ids).await?;

    let mut out = Vec::with_capacity(rows.len());
    for p in rows {
        let t = today.get(&p.id).copied().unwrap_or(latest_today);
        let days = pain_by.get(&p.id).map(Vec::as_slice).unwrap_or(&[]);
        let mean = |from: NaiveDate, to: NaiveDate| {
            let v: Vec<f64> = days
                .iter()
                .filter(|(d, _)| *d >= from && *d <= to)
                .map(|(_, m)| *m)
                .collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        let recent = mean(t - Duration::days(6), t);
        let prior = mean(t - Duration::days(13), t - Duration::days(7));
        let adh = adherence(
            meds_by.get(&p.id).map(Vec::as_slice).unwrap_or(&[]),
            schedules.get(&p.id).map(Vec::as_slice).unwrap_or(&[]),
            t - Duration::days(6),
            t,
        );
        let alerts = open.remove(&p.id).unwrap_or_default();
        out.push(PatientSummary {
            id: p.id,
            display_code: p.display_code.clone(),
            timezone: p.timezone.clone(),
            open_alerts: i64::try_from(alerts.len()).unwrap_or(i64::MAX),
            top_severity: alerts.first().map(|a| a.severity.clone()),
            top_alert: alerts.first().map(TopAlert::of),
            alerts,
            care_team: teams.remove(&p.id).unwrap_or_default(),
            last_entry_at: last.get(&p.id).copied(),
            pain_mean_7d: recent,
            pain_mean_prior_7d: prior,
            pain_change: recent.zip(prior).map(|(r, p)| r - p),
            adherence_7d: overall_adherence(&adh),
        });
    }
    out.sort_by(|a, b| match (a.alerts.first(), b.alerts.first()) {
        (Some(x), Some(y)) => TriageKey::of(x)
            .cmp(&TriageKey::of(y))
            .then_with(|| a.display_code.cmp(&b.display_code)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.display_code.cmp(&b.display_code),
    });
    Ok(out)
}
