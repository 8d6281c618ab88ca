//! The local days a clinical read covers: the patient's own today, and a requested
//! `from..=to` range bounded to [`MAX_RANGE_DAYS`], shared by the REST API and the
//! dashboard.

use chrono::{Duration, NaiveDate};

use super::MAX_RANGE_DAYS;
use crate::domain::RequestDate;
use crate::entity::patients;
use crate::error::ApiError;
use crate::state::AppState;

/// The patient's local today.
pub fn local_today(state: &AppState, patient: &patients::Model) -> NaiveDate {
    state
        .clock
        .now()
        .with_timezone(&patient.zone())
        .date_naive()
}

/// Resolves and bounds a range. Dates outside [`RequestDate`]'s bounds are refused
/// before any arithmetic on them (which would overflow), for callers that parsed plain
/// dates.
pub fn resolve_range(
    today: NaiveDate,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<(NaiveDate, NaiveDate), ApiError> {
    for date in [from, to].into_iter().flatten() {
        if RequestDate::new(date).is_none() {
            return Err(ApiError::BadRequest(format!(
                "from, to: {}",
                RequestDate::RULE
            )));
        }
    }
    let to = to.unwrap_or(today);
    let from = from.unwrap_or(to - Duration::days(29));
    if from > to {
        return Err(ApiError::BadRequest("from must not be after to".into()));
    }
    if (to - from).num_days() >= MAX_RANGE_DAYS {
        return Err(ApiError::BadRequest(format!(
            "the range may cover at most {MAX_RANGE_DAYS} days"
        )));
    }
    Ok((from, to))
}
