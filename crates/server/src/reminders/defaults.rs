//! A clinic's default reminders (`/clinics/{id}/reminder-defaults`): the reminders a
//! patient of the clinic has until they make their own.
//!
//! Defaults are **copied** into each following patient's `reminders` rows (in the
//! patient's zone) rather than evaluated as inherited at send time: the timer stays one
//! indexed scan of `reminders.next_due_at`, the patient sees and can edit exactly what
//! will be sent, and snooze, quiet hours and `log_pain` skipping need no second code path.
//! The copy happens when a patient is created, when the clinic changes its defaults (for
//! every patient still following them), and when a patient asks to follow them again. A
//! patient follows the defaults (`reminder_settings.use_clinic_defaults`, true without a
//! row) until they create, change or delete a reminder: from then on their reminders
//! are their own and a change of the defaults leaves them alone.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{MAX_REMINDERS_PER_PATIENT, ReminderInput, ValidReminder, new_row, stored_lists};
use crate::entity::{clinic_reminder_defaults, patients, reminder_settings, reminders};
use crate::error::ApiError;

/// One default reminder: a reminder without a zone (each patient's own is used).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultReminder {
    /// `log_pain`, `take_medication`, `exercise` or `questionnaire_due`.
    pub kind: String,
    /// Local times `HH:MM`.
    pub times: Vec<String>,
    /// Weekday codes; every day when absent.
    #[serde(default)]
    pub days: Option<Vec<String>>,
    /// `email` and/or `web_push`.
    pub channels: Vec<String>,
}

/// The body of `PUT /clinics/{id}/reminder-defaults`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultsInput {
    /// At most 10; an empty list removes the defaults (and following patients' reminders).
    pub reminders: Vec<DefaultReminder>,
}

impl DefaultReminder {
    fn as_input(&self) -> ReminderInput {
        ReminderInput {
            kind: self.kind.clone(),
            times: self.times.clone(),
            days: self.days.clone(),
            channels: self.channels.clone(),
            timezone: None,
            enabled: None,
        }
    }

    /// This default for a patient in zone `tz` (already validated when stored).
    fn for_zone(&self, tz: &str) -> Result<ValidReminder, ApiError> {
        self.as_input().validate(tz)
    }
}

impl DefaultsInput {
    /// Checks every entry (same rules as a patient's reminder) and returns them
    /// normalized (times sorted, days spelled out).
    pub fn validate(&self) -> Result<Vec<DefaultReminder>, ApiError> {
        if self.reminders.len() as u64 > MAX_REMINDERS_PER_PATIENT {
            return Err(super::rejected(
                "reminder_defaults_count",
                "a clinic may set at most 10 default reminders",
            ));
        }
        self.reminders
            .iter()
            .map(|d| {
                let valid = d.as_input().validate("UTC")?;
                let (times, days, channels) = stored_lists(&valid);
                let list = |s: &str| serde_json::from_str::<Vec<String>>(s).unwrap_or_default();
                Ok(DefaultReminder {
                    kind: valid.kind.code().to_owned(),
                    times: list(&times),
                    days: Some(list(&days)),
                    channels: list(&channels),
                })
            })
            .collect()
    }
}

/// The clinic's defaults (empty when it set none).
pub async fn load(
    conn: &impl ConnectionTrait,
    clinic: Uuid,
) -> Result<Vec<DefaultReminder>, DbErr> {
    Ok(clinic_reminder_defaults::Entity::find_by_id(clinic)
        .one(conn)
        .await?
        .and_then(|row| serde_json::from_str(&row.reminders).ok())
        .unwrap_or_default())
}

/// Stores the clinic's defaults and copies them to every patient of the clinic still
/// following them. Returns those patients (for the audit).
pub async fn store_and_apply(
    conn: &impl ConnectionTrait,
    clinic: Uuid,
    defaults: &[DefaultReminder],
    actor: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, ApiError> {
    let json = serde_json::to_string(defaults).map_err(|e| ApiError::Internal(e.to_string()))?;
    clinic_reminder_defaults::Entity::delete_by_id(clinic)
        .exec(conn)
        .await?;
    clinic_reminder_defaults::Entity::insert(clinic_reminder_defaults::ActiveModel {
        clinic_id: Set(clinic),
        reminders: Set(json),
        updated_at: Set(now),
        updated_by: Set(Some(actor)),
    })
    .exec_without_returning(conn)
    .await?;
    let own = Query::select()
        .column(reminder_settings::Column::PatientId)
        .from(reminder_settings::Entity)
        .and_where(reminder_settings::Column::UseClinicDefaults.eq(false))
        .to_owned();
    let following: Vec<(Uuid, String)> = patients::Entity::find()
        .select_only()
        .column(patients::Column::Id)
        .column(patients::Column::Timezone)
        .filter(patients::Column::ClinicId.eq(clinic))
        .filter(patients::Column::ErasedAt.is_null())
        .filter(patients::Column::Id.not_in_subquery(own))
        .into_tuple()
        .all(conn)
        .await?;
    for (patient, tz) in &following {
        replace(conn, *patient, tz, defaults, now).await?;
    }
    Ok(following.into_iter().map(|(p, _)| p).collect())
}

/// Replaces `patient`'s reminders by `defaults` read in zone `tz`.
pub async fn replace(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    tz: &str,
    defaults: &[DefaultReminder],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    reminders::Entity::delete_many()
        .filter(reminders::Column::PatientId.eq(patient))
        .exec(conn)
        .await?;
    let rows = defaults
        .iter()
        .map(|d| d.for_zone(tz).map(|valid| new_row(patient, &valid, now)))
        .collect::<Result<Vec<_>, _>>()?;
    if !rows.is_empty() {
        reminders::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// Gives a newly created patient their clinic's defaults (nothing if it set none).
pub async fn apply_to_new_patient(
    conn: &impl ConnectionTrait,
    clinic: Uuid,
    patient: Uuid,
    tz: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let defaults = load(conn, clinic).await?;
    if defaults.is_empty() {
        return Ok(());
    }
    replace(conn, patient, tz, &defaults, now).await
}
