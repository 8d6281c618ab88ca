//! What the care-plan editor shows beside its forms: the alert thresholds in effect for
//! the patient (the clinic's setting against the patient's override, resolved as alert
//! evaluation resolves them), and the change history page: every change of the care-plan
//! document (replayed from the document's own history, `trends::plan_history`) with its
//! author, taken from the `care_plan.edit` audit record of the same second.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use paindiary_notifier::rules::Thresholds;
use paindiary_sync::schema::care_plan::{CarePlan, ThresholdOverrides};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::pages::care_team_patient;
use super::patient::Table;
use super::session::WebUser;
use super::triage::local_time;
use super::{WebError, templated};
use crate::alerts::{evaluate, settings_from_row};
use crate::domain::PatientId;
use crate::entity::{audit_events, clinic_notification_settings, patients, users};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::hub::actions::CARE_PLAN_EDIT;
use crate::state::AppState;
use crate::trends;

/// Audit action of the history page.
pub const HISTORY_VIEW: &str = "care_plan.history";
/// Most changes listed on the history page (newest first).
pub const MAX_CHANGES: usize = 500;

/// One threshold as the editor shows it: clinic, patient, in effect.
struct Row {
    label: &'static str,
    clinic: String,
    patient: Option<String>,
    effective: String,
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The rows of the thresholds table: `clinic` is the clinic's resolved thresholds,
/// `effective` what evaluation applies for this patient.
fn rows(clinic: &Thresholds, own: &ThresholdOverrides, effective: &Thresholds) -> Vec<Row> {
    let pts = |v: f64| format!("{} points", num(v));
    let pct = |v: f64| format!("{}%", num(v));
    let mme = |v: f64| format!("{} MME/day", num(v));
    let days = |v: f64| format!("{} days", num(v));
    let score = |v: f64| format!("score {}", num(v));
    vec![
        Row {
            label: "Worsening: smallest rise above the usual (points)",
            clinic: pts(clinic.worsening_points),
            patient: own.worsening_points.map(pts),
            effective: pts(effective.worsening_points),
        },
        Row {
            label: "Worsening: smallest rise above the usual (percent)",
            clinic: pct(clinic.worsening_percent),
            patient: own.worsening_percent.map(pct),
            effective: pct(effective.worsening_percent),
        },
        Row {
            label: "Severe: daily maximum score",
            clinic: score(f64::from(clinic.severe_threshold)),
            patient: own.severe_score.map(score),
            effective: score(f64::from(effective.severe_threshold)),
        },
        Row {
            label: "Opioid load: information",
            clinic: mme(clinic.mme_info),
            patient: own.mme_info.map(mme),
            effective: mme(effective.mme_info),
        },
        Row {
            label: "Opioid load: warning",
            clinic: mme(clinic.mme_warning),
            patient: own.mme_warning.map(mme),
            effective: mme(effective.mme_warning),
        },
        Row {
            label: "Missed logging: days without entries",
            clinic: days(f64::from(clinic.missed_logging_days)),
            patient: own.missed_days.map(days),
            effective: days(f64::from(effective.missed_logging_days)),
        },
    ]
}

/// The thresholds table of the editor: for each threshold the clinic's value, the
/// patient's override (if any) and the value alert evaluation uses, which is the
/// override when it is valid and the clinic's value otherwise.
pub async fn thresholds_in_effect(
    state: &AppState,
    patient: &patients::Model,
    plan: &CarePlan,
) -> Result<String, WebError> {
    let row = clinic_notification_settings::Entity::find()
        .filter(clinic_notification_settings::Column::ClinicId.eq(patient.clinic_id))
        .one(&state.db)
        .await?;
    let clinic = settings_from_row(&state.config.alerts, patient.clinic_id, row).thresholds;
    // The same merge as evaluation: overrides that do not fit together leave the
    // clinic's thresholds in force.
    let (effective, note) = match clinic.with(&evaluate::care_plan_rules(plan).overrides) {
        Ok(t) => (t, ""),
        Err(_) => (
            clinic.clone(),
            "The patient's overrides do not fit together (for example the warning level is below the information level), so the clinic's settings are in effect.",
        ),
    };
    let rows = rows(&clinic, &plan.thresholds, &effective)
        .into_iter()
        .map(|r| {
            let source = match &r.patient {
                Some(p) if *p == r.effective => "this patient's override",
                _ => "clinic setting",
            };
            vec![
                r.label.to_owned(),
                r.clinic,
                r.patient.unwrap_or_else(|| "–".to_owned()),
                format!("{} ({source})", r.effective),
            ]
        })
        .collect();
    let table = Table {
        id: "thresholds-in-effect",
        class: "",
        caption: "Thresholds in effect for this patient",
        head: vec![
            "Threshold",
            "Clinic setting",
            "This patient's override",
            "In effect",
        ],
        rows,
        empty: "",
    };
    let mut html = super::render(&table)?;
    if !note.is_empty() {
        html.push_str(&format!(r#"<p class="error">{}</p>"#, super::esc(note)));
    }
    Ok(html)
}

/// One line of the history page.
struct ChangeLine {
    at: DateTime<Utc>,
    when: String,
    who: String,
    what: String,
}

#[derive(Template)]
#[template(path = "dashboard/plan_history.html")]
struct HistoryPage<'a> {
    id: PatientId,
    code: &'a str,
    tz: &'a str,
    changes: Vec<ChangeLine>,
    more: usize,
}

/// Authors of the care-plan edits of `patient`, by the second they were made.
async fn authors(state: &AppState, patient: Uuid) -> Result<HashMap<i64, String>, WebError> {
    let edits: Vec<(DateTime<Utc>, Option<Uuid>)> = audit_events::Entity::find()
        .select_only()
        .columns([audit_events::Column::At, audit_events::Column::ActorUserId])
        .filter(audit_events::Column::PatientId.eq(patient))
        .filter(audit_events::Column::Action.eq(CARE_PLAN_EDIT))
        .filter(audit_events::Column::Outcome.eq("success"))
        .order_by_asc(audit_events::Column::At)
        .into_tuple()
        .all(&state.db)
        .await?;
    let ids: Vec<Uuid> = edits.iter().filter_map(|(_, u)| *u).collect();
    let names: HashMap<Uuid, String> = users::Entity::find()
        .filter(users::Column::Id.is_in(ids))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|u| {
            let name = if u.display_name.trim().is_empty() {
                u.email
            } else {
                format!("{} ({})", u.display_name, u.email)
            };
            (u.id, name)
        })
        .collect();
    Ok(edits
        .into_iter()
        .filter_map(|(at, user)| Some((at.timestamp(), names.get(&user?)?.clone())))
        .collect())
}

/// `GET /dashboard/patients/{id}/care-plan/history`: every change of the care plan,
/// newest first, with who made it.
pub async fn history_page(
    State(state): State<AppState>,
    user: WebUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Response, WebError> {
    let patient = care_team_patient(
        &state,
        &user,
        id,
        HISTORY_VIEW,
        "GET /dashboard/patients/{id}/care-plan/history",
    )
    .await?;
    let (_, history) = trends::care_plan_with_history(&state.db, patient.id)
        .await
        .map_err(ApiError::internal)?;
    let authors = authors(&state, patient.id).await?;
    let total = history.len();
    let mut changes: Vec<ChangeLine> = history
        .into_iter()
        .rev()
        .take(MAX_CHANGES)
        .map(|c| ChangeLine {
            at: c.at,
            when: local_time(c.at, &patient.timezone),
            // Edits made in the editor carry the editor's audit record of the same
            // second; any other writer (a synced device) left none.
            who: authors
                .get(&c.at.timestamp())
                .cloned()
                .unwrap_or_else(|| "not recorded (written by a synced device)".to_owned()),
            what: c.what,
        })
        .collect();
    changes.sort_by_key(|c| std::cmp::Reverse(c.at));
    let body = HistoryPage {
        id,
        code: &patient.display_code,
        tz: &patient.timezone,
        more: total.saturating_sub(changes.len()),
        changes,
    };
    templated(
        StatusCode::OK,
        &format!("Care-plan history {}", patient.display_code),
        Some(user.nav()),
        &body,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_override_is_in_effect_and_the_clinic_value_still_shown() {
        let clinic = Thresholds::default();
        let own = ThresholdOverrides {
            mme_warning: Some(60.0),
            ..ThresholdOverrides::default()
        };
        let effective = Thresholds {
            mme_warning: 60.0,
            ..Thresholds::default()
        };
        let rows = rows(&clinic, &own, &effective);
        let warning = rows
            .iter()
            .find(|r| r.label == "Opioid load: warning")
            .unwrap();
        assert_eq!(warning.clinic, "90 MME/day");
        assert_eq!(warning.patient.as_deref(), Some("60 MME/day"));
        assert_eq!(warning.effective, "60 MME/day");
        let severe = rows.iter().find(|r| r.label.starts_with("Severe")).unwrap();
        assert_eq!(severe.patient, None);
        assert_eq!(severe.effective, "score 8");
    }
}
