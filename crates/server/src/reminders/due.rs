//! Which questionnaires are due for a patient on a local day: the one decision behind
//! `questionnaire_due` reminders. Today the only questionnaire is the weekly PEG check-in;
//! clinic-assigned instruments (PHQ-9, GAD-7) are to be added here, so that the timer and
//! anything else asking "what is due" keep one answer.

use chrono::{Duration, NaiveDate};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::peg_checkins;

/// The PEG check-in's instrument id (what a reminder payload may carry).
pub const PEG: &str = "peg";

/// How many local days one PEG check-in covers: it is due again on the 7th day after.
pub const PEG_PERIOD_DAYS: i64 = 7;

/// The instrument ids due for `patient` on `local_day` (the patient's local date), in a
/// stable order; empty when nothing is due.
///
/// PEG: due when the patient has no live (not deleted) PEG check-in dated in the last
/// seven local days, `local_day` included. A check-in logged offline and not yet synced
/// is not seen, so the reminder may still be sent (as for `log_pain`).
pub async fn questionnaires_due(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    local_day: NaiveDate,
) -> Result<Vec<String>, DbErr> {
    let mut due = Vec::new();
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
