//! Which questionnaires are due for a patient on a local day: the one decision behind
//! `questionnaire_due` reminders. The instruments the care plan assigns (PHQ-9, GAD-7, PEG
//! ... each on its own schedule) are due by the sync crate's `questionnaire::due_on`, the
//! same rule the phone applies; without a PEG assignment, the weekly PEG check-in is due
//! as before.

use chrono::{Duration, NaiveDate};
use paindiary_sync::questionnaire::due_on;
use paindiary_sync::schema::care_plan::CarePlan;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::entity::{peg_checkins, questionnaire_responses};
use crate::storage::StorageError;

/// The PEG check-in's instrument id (what a reminder payload may carry).
pub const PEG: &str = "peg";

/// How many local days one PEG check-in covers: it is due again on the 7th day after.
pub const PEG_PERIOD_DAYS: i64 = 7;

/// The instrument ids due for `patient` on `local_day` (the patient's local date), in a
/// stable order; empty when nothing is due.
///
/// Assigned instruments: due when the current period of the care plan's assignment has no
/// valid, live response (a PEG check-in counts for an assigned PEG). Without a PEG
/// assignment, PEG is due when the patient has no live PEG check-in dated in the last
/// seven local days, `local_day` included. An answer made offline and not yet synced is
/// not seen, so the reminder may still be sent (as for `log_pain`).
pub async fn questionnaires_due(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    local_day: NaiveDate,
) -> Result<Vec<String>, DbErr> {
    let mut due = Vec::new();
    let plan = match crate::trends::care_plan(conn, patient).await {
        Ok(plan) => plan,
        Err(StorageError::Db(e)) => return Err(e),
        Err(e @ StorageError::Corrupt { .. }) => {
            tracing::warn!(error = %e, "care plan does not load; assigned questionnaires not checked");
            CarePlan::default()
        }
    };
    let assignments = plan.assignments();
    let peg_assigned = assignments.iter().any(|a| a.instrument == PEG);
    if !assignments.is_empty() {
        let longest = assignments.iter().map(|a| a.every_days).max().unwrap_or(1);
        let since = local_day - Duration::days(i64::from(longest));
        use questionnaire_responses::Column as Q;
        let mut answered: Vec<(String, NaiveDate)> = questionnaire_responses::Entity::find()
            .select_only()
            .columns([Q::Instrument, Q::LocalDate])
            .filter(Q::PatientId.eq(patient))
            .filter(Q::Deleted.eq(false))
            .filter(Q::Valid.eq(true))
            .filter(Q::LocalDate.between(since, local_day))
            .into_tuple()
            .all(conn)
            .await?;
        if peg_assigned {
            // A PEG check-in answers an assigned PEG: they are scored by the same definition.
            let checkins: Vec<NaiveDate> = peg_checkins::Entity::find()
                .select_only()
                .column(peg_checkins::Column::LocalDate)
                .filter(peg_checkins::Column::PatientId.eq(patient))
                .filter(peg_checkins::Column::Deleted.eq(false))
                .filter(peg_checkins::Column::LocalDate.between(since, local_day))
                .into_tuple()
                .all(conn)
                .await?;
            answered.extend(checkins.into_iter().map(|day| (PEG.to_owned(), day)));
        }
        let answered: Vec<(&str, NaiveDate)> = answered
            .iter()
            .map(|(id, day)| (id.as_str(), *day))
            .collect();
        due.extend(
            due_on(&assignments, &answered, local_day)
                .into_iter()
                .map(str::to_owned),
        );
    }
    if peg_assigned {
        return Ok(due);
    }
    // No PEG assignment (so `due_on` cannot have named PEG): the weekly default.
    let since = local_day - Duration::days(PEG_PERIOD_DAYS - 1);
    let recent = peg_checkins::Entity::find()
        .filter(peg_checkins::Column::PatientId.eq(patient))
        .filter(peg_checkins::Column::Deleted.eq(false))
        .filter(peg_checkins::Column::LocalDate.between(since, local_day))
        .count(conn)
        .await?;
    if recent == 0 {
        due.push(PEG.to_owned());
    }
    Ok(due)
}
