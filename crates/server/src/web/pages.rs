//! The dashboard's read pages: patient list, patient page with charts, printable visit
//! summary, and exports for a signed-in care-team member. Every page that shows patient
//! data checks care-team access (anyone else, patients included, gets the same 404 as for
//! a missing patient) and writes an audit row.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate};
use serde::Deserialize;

use askama::Template;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::session::WebUser;
use super::triage::{AlertRow, Filters, local_time};
use super::{WebError, alert_actions, charts, esc, page, templated};
use crate::alerts::triage::TriageKey;
use crate::access::{self, PatientAccess};
use crate::api::clinical::{local_today, resolve_range};
use crate::api::{ApiPath, ApiQuery};
use crate::audit::{self, AuditEvent, Outcome};
use crate::domain::PatientId;
use crate::entity::{alerts, patients, users};
use crate::error::ApiError;
use crate::export::{self, ExportKind};
use crate::state::AppState;
use crate::trends::{self, Trends};

/// Audit action codes of the dashboard.
pub mod action {
    /// The patient page (trends and charts) was viewed.
    pub const PATIENT_VIEW: &str = "dashboard.patient_view";
    /// The visit summary was viewed.
    pub const VISIT_SUMMARY: &str = "dashboard.visit_summary";
    /// An export was downloaded from the dashboard.
    pub const EXPORT: &str = "export.download";
}

/// Loads a patient on `user`'s care team, auditing the attempt; 404 for everyone else.
pub async fn care_team_patient(
    state: &AppState,
    user: &WebUser,
    id: PatientId,
    action: &'static str,
    target: &str,
) -> Result<patients::Model, WebError> {
    let event = AuditEvent::new(state.clock.now(), Some(user.auth.user_id), action)
        .patient(id)
        .target(target.to_owned());
    match access::visible_patient(&state.db, &user.auth, id).await {
        Ok((p, PatientAccess::CareTeam)) => {
            audit::record(&state.db, event).await?;
            Ok(p)
        }
        Ok(_) | Err(ApiError::NotFound) => {
            audit::record(&state.db, event.outcome(Outcome::Denied)).await?;
            Err(WebError(ApiError::NotFound))
        }
        Err(e) => Err(WebError(e)),
    }
}

fn fmt1(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"))
}

fn fmt_change(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:+.1}"))
}

fn fmt_pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{:.0}%", v * 100.0))
}

/// One row of the patient list.
struct PatientRow {
    id: uuid::Uuid,
    code: String,
    /// The most urgent unresolved alert that passes the filters.
    alert: Option<AlertRow>,
    /// How many other unresolved alerts the patient has.
    more: usize,
    last_entry: String,
    pain_mean: String,
    pain_change: String,
    adherence: String,
}

#[derive(Template)]
#[template(path = "dashboard/patients.html")]
struct PatientList<'a> {
    filters: &'a str,
    rows: &'a [PatientRow],
    total: usize,
}

/// `GET /dashboard/`: the signed-in clinician's patients in triage order, with filters
/// (rule, severity, status, care-team member) and a search by code.
pub async fn patient_list(
    State(state): State<AppState>,
    user: WebUser,
    ApiQuery(filters): ApiQuery<Filters>,
) -> Result<Response, WebError> {
    if !user.auth.role.is_clinician() {
        return Err(WebError(ApiError::NotFound));
    }
    let filters = filters.checked()?;
    let rows = access::visible_patients(&state.db, &user.auth).await?;
    let now = state.clock.now();
    let list = trends::list::summarise(&state.db, &rows, now)
        .await
        .map_err(ApiError::internal)?;
    let member = filters.member_id();
    let mut shown: Vec<(Option<&alerts::Model>, &trends::list::PatientSummary)> = list
        .iter()
        .filter(|p| filters.matches_code(&p.display_code))
        .filter(|p| member.is_none_or(|m| p.care_team.contains(&m)))
        .filter_map(|p| {
            let alert = p.alerts.iter().find(|a| filters.matches_alert(a));
            if filters.filters_alerts() && alert.is_none() {
                None
            } else {
                Some((alert, p))
            }
        })
        .collect();
    if filters.filters_alerts() {
        // Ranked by the alert shown, which a filter may have changed.
        shown.sort_by_cached_key(|(a, p)| (a.map(TriageKey::of), p.display_code.clone()));
    }
    audit::record_many(
        &state.db,
        shown.iter().map(|(_, p)| {
            AuditEvent::new(now, Some(user.auth.user_id), audit::action::PATIENT_LIST)
                .patient(PatientId(p.id))
                .target("GET /dashboard/")
        }),
    )
    .await?;
    let view: Vec<PatientRow> = shown
        .iter()
        .map(|(a, p)| PatientRow {
            id: p.id,
            code: p.display_code.clone(),
            alert: a.map(|a| AlertRow::of(a, &p.display_code, &p.timezone)),
            more: p.alerts.len().saturating_sub(usize::from(a.is_some())),
            last_entry: p
                .last_entry_at
                .map_or_else(|| "never".to_owned(), |t| local_time(t, &p.timezone)),
            pain_mean: fmt1(p.pain_mean_7d),
            pain_change: fmt_change(p.pain_change),
            adherence: fmt_pct(p.adherence_7d),
        })
        .collect();
    let members = care_team_emails(&state, &list).await?;
    let filters_html = filters.form_html(&members)?;
    templated(
        StatusCode::OK,
        "Patients",
        Some(user.nav()),
        &PatientList {
            filters: &filters_html,
            rows: &view,
            total: list.len(),
        },
    )
}

/// (user id, email) of everyone on the care teams of `list`, by email.
async fn care_team_emails(
    state: &AppState,
    list: &[trends::list::PatientSummary],
) -> Result<Vec<(String, String)>, WebError> {
    let mut ids: Vec<uuid::Uuid> = list
        .iter()
        .flat_map(|p| p.care_team.iter().copied())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<(uuid::Uuid, String)> = users::Entity::find()
        .select_only()
        .columns([users::Column::Id, users::Column::Email])
        .filter(users::Column::Id.is_in(ids))
        .into_tuple()
        .all(&state.db)
        .await
        .map_err(ApiError::from)?;
    let mut out: Vec<(String, String)> = found
        .into_iter()
        .map(|(id, email)| (id.to_string(), email))
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// `?from=&to=` on the patient page.
#[derive(Debug, Deserialize)]
pub struct Range {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

fn chart_figure(id: &str, caption: &str, svg: Result<String, charts::ChartError>) -> String {
    let cap_id = format!("{id}-caption");
    let svg = svg.unwrap_or_else(|e| {
        tracing::error!(error = %e, "chart");
        "<p>The chart could not be drawn.</p>".to_owned()
    });
    // `finish` labelled the svg by the caption id passed to the chart function.
    format!(
        r#"<figure id="{id}">{svg}<figcaption id="{cap_id}">{caption}</figcaption></figure>"#,
        caption = esc(caption)
    )
}

fn daily_table(t: &Trends) -> String {
    let mut s = String::from(
        r#"<details><summary>Daily values as a table</summary><table><caption>Per local day</caption>
<thead><tr><th scope="col">Day</th><th scope="col">Mean pain</th><th scope="col">Max</th><th scope="col">Entries</th><th scope="col">7-day mean</th><th scope="col">MME</th><th scope="col">Exercise min</th><th scope="col">Sleep h</th><th scope="col">Mood</th><th scope="col">Stress</th></tr></thead><tbody>"#,
    );
    for d in &t.days {
        s.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            d.date,
            fmt1(d.pain_mean),
            fmt1(d.pain_max),
            d.pain_count,
            fmt1(d.pain_rolling_mean_7d),
            d.mme,
            d.exercise_minutes,
            fmt1(d.sleep_hours),
            fmt1(d.mood),
            fmt1(d.stress),
        ));
    }
    s.push_str("</tbody></table></details>");
    s
}

fn clinical_tables(t: &Trends) -> String {
    let mut s = String::new();
    s.push_str(r#"<table id="interventions"><caption>Interventions: mean pain 14 days before and after</caption><thead><tr><th scope="col">Date</th><th scope="col">Kind</th><th scope="col">Before</th><th scope="col">After</th><th scope="col">Change</th></tr></thead><tbody>"#);
    for i in &t.interventions {
        s.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            i.date,
            esc(&i.kind),
            fmt1(i.before_mean),
            fmt1(i.after_mean),
            i.change_percent
                .map_or_else(|| "–".to_owned(), |c| format!("{c:+.0}%")),
        ));
    }
    if t.interventions.is_empty() {
        s.push_str(r#"<tr><td colspan="5">None in the care plan.</td></tr>"#);
    }
    s.push_str("</tbody></table>");
    s.push_str(r#"<table id="adherence"><caption>Adherence to scheduled medication</caption><thead><tr><th scope="col">Drug</th><th scope="col">Per day</th><th scope="col">Expected</th><th scope="col">Taken</th><th scope="col">Adherence</th></tr></thead><tbody>"#);
    for a in &t.adherence {
        s.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.drug),
            a.times_per_day,
            a.expected,
            a.taken,
            fmt_pct(a.ratio)
        ));
    }
    if t.adherence.is_empty() {
        s.push_str(r#"<tr><td colspan="5">No scheduled medication in the care plan.</td></tr>"#);
    }
    s.push_str("</tbody></table>");
    s.push_str(r#"<table id="peg"><caption>Weekly PEG (0-10)</caption><thead><tr><th scope="col">Week of</th><th scope="col">PEG</th><th scope="col">Pain</th><th scope="col">Enjoyment</th><th scope="col">Activity</th></tr></thead><tbody>"#);
    for w in &t.peg_weekly {
        s.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            w.week_start, w.score, w.pain, w.enjoyment, w.activity
        ));
    }
    if t.peg_weekly.is_empty() {
        s.push_str(r#"<tr><td colspan="5">No check-ins in this period.</td></tr>"#);
    }
    s.push_str("</tbody></table>");
    s
}

fn charts_html(t: &Trends) -> String {
    [
        chart_figure(
            "pain-chart",
            "Pain: daily mean (blue points), 7-day rolling mean (brown line), interventions (red vertical lines)",
            charts::pain(t, "pain-chart-caption"),
        ),
        chart_figure(
            "medication-chart",
            "Medication: doses taken per day (bars, left axis) and morphine milligram equivalents per day (red line, right axis)",
            charts::medication(t, "medication-chart-caption"),
        ),
        chart_figure(
            "exercise-chart",
            "Exercise: minutes per week (green bars) against the prescribed minutes (red line)",
            charts::exercise(t, "exercise-chart-caption"),
        ),
        chart_figure(
            "wellbeing-chart",
            "Wellbeing: sleep hours (blue), mood (green), stress (red)",
            charts::wellbeing(t, "wellbeing-chart-caption"),
        ),
    ]
    .concat()
}

/// `GET /dashboard/patients/{id}`: charts, alerts, tables, links.
pub async fn patient_page(
    State(state): State<AppState>,
    user: WebUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(range): ApiQuery<Range>,
) -> Result<Response, WebError> {
    let patient = care_team_patient(
        &state,
        &user,
        id,
        action::PATIENT_VIEW,
        "GET /dashboard/patients/{id}",
    )
    .await?;
    let (from, to) = resolve_range(local_today(&state, &patient), range.from, range.to)?;
    let t = trends::compute(&state.db, patient.id, from, to)
        .await
        .map_err(ApiError::internal)?;
    let alerts = alert_actions::patient_alerts_html(&state, &user, &patient).await?;
    let code = esc(&patient.display_code);
    let exports: String = ExportKind::ALL
        .iter()
        .map(|k| {
            format!(
                r#"<li><a href="/dashboard/patients/{id}/export/{k}.csv">{k} (CSV)</a></li>"#,
                k = k.as_str()
            )
        })
        .collect();
    let body = format!(
        r#"<h1>Patient {code}</h1>
<p>Time zone {tz}. Showing {from} to {to} (local days).</p>
<form method="get" action="/dashboard/patients/{id}" class="no-print">
<label for="from">From</label><input id="from" name="from" type="date" value="{from}">
<label for="to">To</label><input id="to" name="to" type="date" value="{to}">
<p><button type="submit">Show</button></p>
</form>
<ul class="no-print">
<li><a href="/dashboard/patients/{id}/summary">Printable 30-day visit summary</a></li>
<li><a href="/dashboard/patients/{id}/care-plan">Care plan</a></li>
{exports}<li><a href="/dashboard/patients/{id}/export/fhir">FHIR R4 bundle (JSON)</a></li>
</ul>
<section aria-labelledby="alerts-h"><h2 id="alerts-h">Open alerts</h2>{alerts}</section>
<section aria-labelledby="charts-h"><h2 id="charts-h">Trends</h2>{charts}{daily}</section>
<section aria-labelledby="clinical-h"><h2 id="clinical-h">Care plan effects</h2>{tables}</section>"#,
        tz = esc(&patient.timezone),
        charts = charts_html(&t),
        daily = daily_table(&t),
        tables = clinical_tables(&t),
    );
    Ok(page(
        StatusCode::OK,
        &format!("Patient {}", patient.display_code),
        Some(user.nav()),
        &body,
    ))
}

/// `GET /dashboard/patients/{id}/summary`: the last 30 local days on one printable page.
pub async fn visit_summary(
    State(state): State<AppState>,
    user: WebUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Response, WebError> {
    let patient = care_team_patient(
        &state,
        &user,
        id,
        action::VISIT_SUMMARY,
        "GET /dashboard/patients/{id}/summary",
    )
    .await?;
    let to = local_today(&state, &patient);
    let from = to - Duration::days(29);
    let t = trends::compute(&state.db, patient.id, from, to)
        .await
        .map_err(ApiError::internal)?;
    let with_data: Vec<f64> = t.days.iter().filter_map(|d| d.pain_mean).collect();
    let mean30 =
        (!with_data.is_empty()).then(|| with_data.iter().sum::<f64>() / with_data.len() as f64);
    let worst = t
        .days
        .iter()
        .filter_map(|d| d.pain_max)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let logged_days = with_data.len();
    let max_mme = t.days.iter().map(|d| d.mme).fold(0.0, f64::max);
    let exercise: f64 = t.days.iter().map(|d| d.exercise_minutes).sum();
    let alerts = alert_actions::patient_alerts_html(&state, &user, &patient).await?;
    let body = format!(
        r#"<h1>Visit summary: patient {code}</h1>
<p>{from} to {to} (30 local days, time zone {tz}). Printed from Paindiary.</p>
<table id="summary-figures"><caption>Key figures</caption><tbody>
<tr><th scope="row">Days with pain entries</th><td>{logged_days} of 30</td></tr>
<tr><th scope="row">Mean pain (mean of daily means)</th><td>{mean30}</td></tr>
<tr><th scope="row">Highest score</th><td>{worst}</td></tr>
<tr><th scope="row">7-day mean at the end</th><td>{last7}</td></tr>
<tr><th scope="row">Highest daily MME</th><td>{max_mme:.1}</td></tr>
<tr><th scope="row">Exercise minutes</th><td>{exercise:.0}</td></tr>
</tbody></table>
<section aria-labelledby="alerts-h"><h2 id="alerts-h">Open alerts</h2>{alerts}</section>
<section aria-labelledby="charts-h"><h2 id="charts-h">Charts</h2>{pain}{meds}</section>
<section aria-labelledby="clinical-h"><h2 id="clinical-h">Care plan effects</h2>{tables}</section>"#,
        code = esc(&patient.display_code),
        tz = esc(&patient.timezone),
        mean30 = fmt1(mean30),
        worst = fmt1(worst),
        last7 = fmt1(t.days.last().and_then(|d| d.pain_rolling_mean_7d)),
        pain = chart_figure(
            "pain-chart",
            "Pain: daily mean (points), 7-day rolling mean (line), interventions (vertical lines)",
            charts::pain(&t, "pain-chart-caption"),
        ),
        meds = chart_figure(
            "medication-chart",
            "Doses taken per day (bars) and MME per day (line, right axis)",
            charts::medication(&t, "medication-chart-caption"),
        ),
        tables = clinical_tables(&t),
    );
    Ok(page(
        StatusCode::OK,
        &format!("Visit summary {}", patient.display_code),
        Some(user.nav()),
        &body,
    ))
}

/// `GET /dashboard/patients/{id}/export/{file}`: the API's exports for a dashboard session.
pub async fn export(
    State(state): State<AppState>,
    user: WebUser,
    ApiPath((id, file)): ApiPath<(PatientId, String)>,
) -> Result<Response, WebError> {
    let kind = match file.as_str() {
        "fhir" => None,
        f => Some(
            f.strip_suffix(".csv")
                .and_then(ExportKind::parse)
                .ok_or(ApiError::NotFound)?,
        ),
    };
    let target = format!("GET /dashboard/patients/{{id}}/export/{file}");
    let patient = care_team_patient(&state, &user, id, action::EXPORT, &target).await?;
    let (body, ctype, name) = match kind {
        Some(k) => (
            export::csv(&state.db, patient.id, k)
                .await
                .map_err(ApiError::internal)?,
            "text/csv; charset=utf-8",
            format!("{}-{}.csv", patient.display_code, k.as_str()),
        ),
        None => (
            export::fhir_bundle(&state.db, &patient, state.clock.now())
                .await
                .map_err(ApiError::internal)?
                .to_string(),
            "application/fhir+json",
            format!("{}-fhir.json", patient.display_code),
        ),
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let safe: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
