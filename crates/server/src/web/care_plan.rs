//! The care plan as the care team sees it on the dashboard: prescribed medications,
//! exercises and interventions read from the patient's care-plan document.
//!
//! Read-only for now: editing (writing the care-plan Automerge document through the hub
//! so phones receive it by sync) is not built yet; the page says so.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::pages::care_team_patient;
use super::session::WebUser;
use super::{WebError, esc, page};
use crate::api::ApiPath;
use crate::domain::PatientId;
use crate::error::ApiError;
use crate::state::AppState;
use crate::trends;

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| esc(&v.to_string()))
}

/// `GET /dashboard/patients/{id}/care-plan`.
pub async fn editor(
    State(state): State<AppState>,
    user: WebUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Response, WebError> {
    let patient = care_team_patient(
        &state,
        &user,
        id,
        "care_plan.read",
        "GET /dashboard/patients/{id}/care-plan",
    )
    .await?;
    let plan = trends::care_plan(&state.db, patient.id)
        .await
        .map_err(ApiError::internal)?;
    let mut body = format!(
        r#"<h1>Care plan: patient {code}</h1>
<p>Editing from the dashboard is not available yet; this page shows the plan as stored.</p>
<table id="plan-medications"><caption>Medications</caption><thead><tr><th scope="col">Drug</th><th scope="col">Dose</th><th scope="col">Schedule</th><th scope="col">Per day</th><th scope="col">As needed (max/day)</th><th scope="col">Opioid</th><th scope="col">From</th><th scope="col">Until</th></tr></thead><tbody>"#,
        code = esc(&patient.display_code)
    );
    for m in &plan.medications {
        body.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td>{} {}</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&m.drug),
            opt(m.dose_amount),
            opt(m.dose_unit.as_deref()),
            opt(m.schedule.as_deref()),
            opt(m.times_per_day),
            if m.prn { "yes" } else { "no" },
            opt(m.prn_max_per_day),
            if m.opioid { "yes" } else { "no" },
            opt(m.start_date),
            opt(m.end_date),
        ));
    }
    body.push_str(r#"</tbody></table><table id="plan-exercises"><caption>Exercises</caption><thead><tr><th scope="col">Activity</th><th scope="col">Minutes per session</th><th scope="col">Sessions per week</th></tr></thead><tbody>"#);
    for e in &plan.exercises {
        body.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td></tr>",
            esc(&e.activity),
            opt(e.minutes_per_session),
            opt(e.sessions_per_week)
        ));
    }
    body.push_str(r#"</tbody></table><table id="plan-interventions"><caption>Interventions</caption><thead><tr><th scope="col">Date</th><th scope="col">Kind</th><th scope="col">Region</th></tr></thead><tbody>"#);
    for i in &plan.interventions {
        body.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td></tr>",
            i.date,
            esc(&i.kind),
            opt(i.region.as_deref())
        ));
    }
    body.push_str("</tbody></table>");
    Ok(page(
        StatusCode::OK,
        &format!("Care plan {}", patient.display_code),
        Some(user.nav()),
        &body,
    ))
}
