//! The patient page and the printable visit summary: charts with care-plan events
//! marked, the care-plan timeline, medication, exercise against the prescription,
//! wellbeing and PEG, pain locations and qualities, the patient's notes by day, entries
//! with problems, and alerts. Access is checked (and audited) before anything is read.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use paindiary_sync::schema::care_plan::CarePlan;
use paindiary_sync::schema::vocab::BodyRegion;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;

use super::pages::{action, care_team_patient, fmt_change, fmt_pct, fmt1};
use super::session::WebUser;
use super::triage::local_time;
use super::{WebError, alert_actions, body_map, bounded_day, charts, render, templated};
use crate::alerts::rule_title;
use crate::domain::PatientId;
use crate::entity::{alerts, entry_issues};
use crate::error::ApiError;
use crate::export::ExportKind;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use crate::trends::plan_history::{PlanEvent, events};
use crate::trends::range::{local_today, resolve_range};
use crate::trends::{self, MAX_RANGE_DAYS, Trends, diary};

/// A table built from rows of text (every cell escaped by the template).
#[derive(Template)]
#[template(path = "dashboard/table.html")]
pub struct Table<'a> {
    /// The table's id.
    pub id: &'a str,
    /// Extra CSS class.
    pub class: &'a str,
    /// Caption.
    pub caption: &'a str,
    /// Column headings.
    pub head: Vec<&'a str>,
    /// Rows; the first cell of each is its row heading.
    pub rows: Vec<Vec<String>>,
    /// What to say when there are no rows.
    pub empty: &'a str,
}

impl Table<'_> {
    fn html(&self) -> Result<String, WebError> {
        Ok(render(self)?)
    }
}

/// A chart with its caption and legend.
#[derive(Template)]
#[template(path = "dashboard/figure.html")]
struct Figure<'a> {
    id: &'a str,
    svg: String,
    caption: &'a str,
    /// (swatch CSS class, words)
    legend: Vec<(&'static str, String)>,
}

fn figure(
    id: &str,
    caption: &str,
    legend: Vec<(&'static str, &'static str)>,
    svg: Result<String, charts::ChartError>,
) -> Result<String, WebError> {
    let svg = svg.unwrap_or_else(|e| {
        tracing::error!(error = %e, "chart");
        "<p>The chart could not be drawn.</p>".to_owned()
    });
    Ok(render(&Figure {
        id,
        svg,
        caption,
        legend: legend.into_iter().map(|(c, t)| (c, t.to_owned())).collect(),
    })?)
}

/// The medication chart: one panel per drug, scheduled against taken, PRN apart, MME.
fn medication_figure(t: &Trends, plan: &CarePlan) -> Result<String, WebError> {
    let panels = charts::drug_panels(t, plan);
    // Only what the chart draws is named.
    let mut legend = vec![("sw-taken", "taken on schedule (left bar)")];
    let prn_max = panels.iter().any(|p| p.prn_max.iter().any(Option::is_some));
    if prn_max || panels.iter().any(|p| p.prn_taken.iter().any(|v| *v > 0.0)) {
        legend.push(("sw-prn", "taken as needed, PRN (right bar)"));
    }
    if panels
        .iter()
        .any(|p| p.scheduled.iter().any(Option::is_some))
    {
        legend.push(("sw-sched", "scheduled doses per day (solid line)"));
    }
    if prn_max {
        legend.push(("sw-prnmax", "PRN maximum per day (dashed line)"));
    }
    if panels.iter().any(|p| p.mme.is_some()) {
        legend.push((
            "sw-mme",
            "morphine milligram equivalents per day (red line, right axis)",
        ));
    }
    figure(
        "medication-chart",
        "Medication per drug and local day: doses taken against the care plan's schedule (left axis, doses per day); for opioids the MME per day (right axis, mg/day)",
        legend,
        charts::medication(&panels, t, "medication-chart-caption"),
    )
}

/// The body map of pain locations over the range, with its legend and the counts as a
/// table.
fn body_map_figure(locations: &diary::LocationCounts) -> Result<String, WebError> {
    let max = BodyRegion::ALL
        .iter()
        .filter_map(|r| {
            locations
                .regions
                .iter()
                .find(|(c, _)| c == r.as_str())
                .map(|(_, n)| *n)
        })
        .max()
        .unwrap_or(0);
    let mut legend = vec![("sw-bm0", "not reported".to_owned())];
    for (step, low, high) in body_map::legend(max) {
        let class = match step {
            1 => "sw-bm1",
            2 => "sw-bm2",
            3 => "sw-bm3",
            _ => "sw-bm4",
        };
        let words = if low == high {
            format!("{low} entries")
        } else {
            format!("{low}-{high} entries")
        };
        legend.push((class, words));
    }
    let caption = format!(
        "Where it hurts: body regions shaded by how many of the {} pain entries in this range named them (front and back; left and right are the patient's own)",
        locations.entries
    );
    let map = render(&Figure {
        id: "body-map",
        svg: body_map::svg(&locations.regions, locations.entries, "body-map-caption"),
        caption: &caption,
        legend,
    })?;
    let table = Table {
        id: "regions",
        class: "",
        caption: "Pain locations reported in this range",
        head: vec!["Body region", "Entries", "Share"],
        rows: locations
            .regions
            .iter()
            .map(|(code, n)| {
                vec![
                    body_map::region_words(code),
                    n.to_string(),
                    share(*n, locations.entries),
                ]
            })
            .collect(),
        empty: "None reported.",
    }
    .html()?;
    Ok(format!(r#"<div class="body-map-wrap">{map}{table}</div>"#))
}

fn share(n: u32, of: u32) -> String {
    if of > 0 {
        format!("{:.0}%", f64::from(n) * 100.0 / f64::from(of))
    } else {
        "–".to_owned()
    }
}

fn pain_legend(events: &[PlanEvent]) -> Vec<(&'static str, &'static str)> {
    let mut legend = vec![
        ("sw-mean", "daily mean (point)"),
        ("sw-max", "daily maximum (triangle)"),
        (
            "sw-rolling",
            "7-day rolling mean (line; gaps where no data)",
        ),
    ];
    for (kind, class, words) in [
        ("drug_started", "sw-start", "drug started"),
        ("drug_stopped", "sw-stop", "drug stopped"),
        ("dose_changed", "sw-change", "dose changed"),
        (
            "intervention",
            "sw-procedure",
            "intervention or PT prescribed",
        ),
    ] {
        let any = events
            .iter()
            .any(|e| e.kind == kind || (kind == "intervention" && e.kind == "exercise_prescribed"));
        if any {
            legend.push((class, words));
        }
    }
    legend
}

fn pain_figure(t: &Trends, ev: &[PlanEvent]) -> Result<String, WebError> {
    figure(
        "pain-chart",
        "Pain (NRS 0-10) per local day, with care-plan events as labelled vertical lines",
        pain_legend(ev),
        charts::pain(t, ev, "pain-chart-caption"),
    )
}

fn daily_table(t: &Trends) -> Result<String, WebError> {
    let rows = t
        .days
        .iter()
        .map(|d| {
            vec![
                d.date.to_string(),
                fmt1(d.pain_mean),
                fmt1(d.pain_max),
                d.pain_count.to_string(),
                fmt1(d.pain_rolling_mean_7d),
                format!("{:.1}", d.mme),
                format!("{:.0}", d.exercise_minutes),
                fmt1(d.sleep_hours),
                fmt1(d.mood),
                fmt1(d.stress),
            ]
        })
        .collect();
    let table = Table {
        id: "daily",
        class: "",
        caption: "Per local day",
        head: vec![
            "Day",
            "Mean pain",
            "Max",
            "Entries",
            "7-day mean",
            "MME",
            "Exercise min",
            "Sleep h",
            "Mood",
            "Stress",
        ],
        rows,
        empty: "No days.",
    }
    .html()?;
    Ok(format!(
        "<details class=\"no-print\"><summary>Daily values as a table</summary>{table}</details>"
    ))
}

fn interventions_table(t: &Trends) -> Result<String, WebError> {
    Table {
        id: "interventions",
        class: "",
        caption: "Interventions: mean pain 14 days before and after",
        head: vec!["Date", "Kind", "Before", "After", "Change"],
        rows: t
            .interventions
            .iter()
            .map(|i| {
                let date = if i.date_valid {
                    i.date.to_string()
                } else {
                    format!("{} (invalid date: edit it in the care plan)", i.date)
                };
                vec![
                    date,
                    i.kind.replace('_', " "),
                    fmt1(i.before_mean),
                    fmt1(i.after_mean),
                    i.change_percent
                        .map_or_else(|| "–".to_owned(), |c| format!("{c:+.0}%")),
                ]
            })
            .collect(),
        empty: "None in the care plan.",
    }
    .html()
}

fn adherence_table(t: &Trends) -> Result<String, WebError> {
    Table {
        id: "adherence",
        class: "",
        caption: "Adherence to scheduled medication",
        head: vec!["Drug", "Per day", "Expected", "Taken", "Adherence"],
        rows: t
            .adherence
            .iter()
            .map(|a| {
                vec![
                    a.drug.clone(),
                    format!("{}", a.times_per_day),
                    format!("{:.0}", a.expected),
                    format!("{:.0}", a.taken),
                    fmt_pct(a.ratio),
                ]
            })
            .collect(),
        empty: "No scheduled medication in the care plan.",
    }
    .html()
}

fn peg_table(t: &Trends) -> Result<String, WebError> {
    Table {
        id: "peg",
        class: "",
        caption: "Weekly PEG (pain, enjoyment of life, general activity; 0-10, higher is worse)",
        head: vec![
            "Week of",
            "PEG",
            "Pain",
            "Enjoyment",
            "Activity",
            "Check-ins",
        ],
        rows: t
            .peg_weekly
            .iter()
            .map(|w| {
                vec![
                    w.week_start.to_string(),
                    format!("{:.1}", w.score),
                    format!("{:.1}", w.pain),
                    format!("{:.1}", w.enjoyment),
                    format!("{:.1}", w.activity),
                    w.count.to_string(),
                ]
            })
            .collect(),
        empty: "No check-ins in this period.",
    }
    .html()
}

/// One chart per built-in instrument with scores in the range, then the table (the
/// charts' text alternative).
fn questionnaire_section(t: &Trends) -> Result<String, WebError> {
    let mut html = String::new();
    for def in paindiary_sync::questionnaire::BUILT_IN {
        if !t.questionnaires.iter().any(|q| q.instrument == def.id) {
            continue;
        }
        let id = format!("{}-chart", def.id);
        let caption = format!(
            "{} totals per local day over its severity bands (shaded; higher is worse); the table below lists them",
            def.name
        );
        html.push_str(&figure(
            &id,
            &caption,
            vec![("sw-mean", "total")],
            charts::questionnaire(t, def, &format!("{id}-caption")),
        )?);
    }
    html.push_str(&questionnaire_table(t)?);
    Ok(html)
}

fn questionnaire_table(t: &Trends) -> Result<String, WebError> {
    Table {
        id: "questionnaires",
        class: "",
        caption: "Questionnaire scores (PHQ-9 bands 5/10/15/20, GAD-7 bands 5/10/15; higher is worse)",
        head: vec!["Day", "Questionnaire", "Score", "Severity", "Notes"],
        rows: t
            .questionnaires
            .iter()
            .map(|q| {
                let mut notes = Vec::new();
                if q.safety_positive {
                    notes.push("self-harm item answered above 0");
                }
                if q.prorated {
                    notes.push("prorated: 1-2 items unanswered");
                }
                vec![
                    q.date.to_string(),
                    q.name.clone(),
                    format!("{} of {}", fmt_score(q.total), fmt_score(q.max_total)),
                    q.band.as_deref().unwrap_or("–").replace('_', " "),
                    notes.join("; "),
                ]
            })
            .collect(),
        empty: "No scored questionnaires in this period.",
    }
    .html()
}

/// A total as people read it: whole totals without decimals, means with one.
fn fmt_score(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn counts_table(
    id: &str,
    caption: &str,
    what: &str,
    counts: &[(String, u32)],
    of: u32,
) -> Result<String, WebError> {
    Table {
        id,
        class: "",
        caption,
        head: vec![what, "Entries", "Share"],
        rows: counts
            .iter()
            .take(12)
            .map(|(code, n)| vec![body_map::region_words(code), n.to_string(), share(*n, of)])
            .collect(),
        empty: "None reported.",
    }
    .html()
}

fn issues_table(issues: &[entry_issues::Model], tz: &str) -> Result<String, WebError> {
    Table {
        id: "entry-issues",
        class: "",
        caption: "Entries with problems, newest first",
        head: vec!["Entry", "Kind", "Problem", "Reason", "Found"],
        rows: issues
            .iter()
            .map(|i| {
                vec![
                    i.entry_key.chars().take(40).collect(),
                    i.kind.clone(),
                    if i.reason_code == "unreadable" {
                        "could not be read".to_owned()
                    } else {
                        format!("invalid ({})", i.reason_code.replace('_', " "))
                    },
                    i.reason.clone(),
                    local_time(i.first_seen_at, tz),
                ]
            })
            .collect(),
        empty: "None: every entry was read and passed validation.",
    }
    .html()
}

/// Notes grouped by local day, newest day first.
fn notes_by_day(notes: Vec<diary::Note>) -> Vec<(NaiveDate, Vec<(&'static str, String)>)> {
    let mut by: BTreeMap<NaiveDate, Vec<(&'static str, String)>> = BTreeMap::new();
    for n in notes {
        by.entry(n.date).or_default().push((n.kind, n.text));
    }
    by.into_iter().rev().collect()
}

/// `?from=&to=` on the patient page.
#[derive(Debug, Deserialize)]
pub struct Range {
    #[serde(default)]
    from: Option<NaiveDate>,
    #[serde(default)]
    to: Option<NaiveDate>,
}

#[derive(Template)]
#[template(path = "dashboard/patient.html")]
struct PatientPage<'a> {
    id: PatientId,
    code: &'a str,
    tz: &'a str,
    from: NaiveDate,
    to: NaiveDate,
    /// (label, link, whether it is the range shown)
    ranges: Vec<(&'static str, String, bool)>,
    /// (file, label)
    exports: Vec<(String, String)>,
    alerts: String,
    pain_chart: String,
    events: Vec<PlanEvent>,
    daily: String,
    medication_chart: String,
    adherence: String,
    exercise_chart: String,
    wellbeing_chart: String,
    peg: String,
    questionnaires: String,
    interventions: String,
    regions: String,
    qualities: String,
    notes: Vec<(NaiveDate, Vec<(&'static str, String)>)>,
    issues: String,
}

/// `GET /dashboard/patients/{id}`: charts with care-plan events, timeline, tables.
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
    let today = local_today(&state, &patient);
    let (from, to) = resolve_range(today, bounded_day(range.from)?, bounded_day(range.to)?)?;
    let tz: Tz = patient.zone();
    let (plan, history) = trends::care_plan_with_history(&state.db, patient.id)
        .await
        .map_err(ApiError::internal)?;
    let t = trends::compute_with_plan(&state.db, patient.id, from, to, &plan)
        .await
        .map_err(ApiError::internal)?;
    let ev = events(&plan, &history, tz, from, to);
    let first = diary::first_pain_day(&state.db, patient.id).await?;
    let locations = diary::locations(&state.db, patient.id, from, to).await?;
    let notes = diary::notes(&state.db, patient.id, from, to).await?;
    let issues = diary::issues(&state.db, patient.id).await?;
    let alerts = alert_actions::patient_alerts_html(&state, &user, &patient).await?;

    let base = format!("/dashboard/patients/{}", patient.id);
    let quick = |days: i64| (today - Duration::days(days - 1), today);
    let earliest = today - Duration::days(MAX_RANGE_DAYS - 1);
    let all_from = first.map_or(today - Duration::days(29), |f| f.max(earliest).min(today));
    let ranges = [
        ("7 days", quick(7)),
        ("30 days", quick(30)),
        ("90 days", quick(90)),
        ("All (up to 2 years)", (all_from, today)),
    ]
    .into_iter()
    .map(|(label, (f, t))| {
        (
            label,
            format!("{base}?from={f}&to={t}"),
            (f, t) == (from, to),
        )
    })
    .collect();
    let exports = ExportKind::ALL
        .iter()
        .map(|k| {
            (
                format!("{}.csv", k.as_str()),
                format!("{} (CSV)", k.as_str()),
            )
        })
        .chain(std::iter::once((
            "fhir".to_owned(),
            "FHIR R4 bundle (JSON)".to_owned(),
        )))
        .collect();
    let body = PatientPage {
        id,
        code: &patient.display_code,
        tz: &patient.timezone,
        from,
        to,
        ranges,
        exports,
        alerts,
        pain_chart: pain_figure(&t, &ev)?,
        events: ev,
        daily: daily_table(&t)?,
        medication_chart: medication_figure(&t, &plan)?,
        adherence: adherence_table(&t)?,
        exercise_chart: figure(
            "exercise-chart",
            "Exercise: minutes per week against the prescribed minutes",
            vec![
                ("sw-start", "minutes exercised"),
                ("sw-stop", "prescribed per week"),
            ],
            charts::exercise(&t, "exercise-chart-caption"),
        )?,
        wellbeing_chart: figure(
            "wellbeing-chart",
            "Sleep hours and mood and stress scores (0-10) per local day; gaps where nothing was logged",
            vec![
                ("sw-mean", "sleep hours"),
                ("sw-start", "mood"),
                ("sw-stop", "stress"),
            ],
            charts::wellbeing(&t, "wellbeing-chart-caption"),
        )?,
        peg: peg_table(&t)?,
        questionnaires: questionnaire_section(&t)?,
        interventions: interventions_table(&t)?,
        regions: body_map_figure(&locations)?,
        qualities: counts_table(
            "qualities",
            "Pain qualities reported in this range",
            "Quality",
            &locations.qualities,
            locations.entries,
        )?,
        notes: notes_by_day(notes),
        issues: issues_table(&issues, &patient.timezone)?,
    };
    templated(
        StatusCode::OK,
        &format!("Patient {}", patient.display_code),
        Some(user.nav()),
        &body,
    )
}

#[derive(Template)]
#[template(path = "dashboard/summary.html")]
struct SummaryPage<'a> {
    code: &'a str,
    tz: &'a str,
    from: NaiveDate,
    to: NaiveDate,
    printed: String,
    figures: String,
    medications: String,
    pain_chart: String,
    events: Vec<PlanEvent>,
    interventions: String,
    regions: String,
    qualities: String,
    wellbeing: String,
    exercise: String,
    alerts: String,
    resolved: String,
    notes: Vec<(NaiveDate, Vec<(&'static str, String)>)>,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

/// `GET /dashboard/patients/{id}/summary`: the last 30 local days for a visit, laid out
/// to print on one page.
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
    let tz: Tz = patient.zone();
    let (plan, history) = trends::care_plan_with_history(&state.db, patient.id)
        .await
        .map_err(ApiError::internal)?;
    let t = trends::compute_with_plan(&state.db, patient.id, from, to, &plan)
        .await
        .map_err(ApiError::internal)?;
    let ev = events(&plan, &history, tz, from, to);
    let locations = diary::locations(&state.db, patient.id, from, to).await?;
    let notes = diary::notes(&state.db, patient.id, from, to).await?;

    let days = &t.days;
    let logged = days.iter().filter(|d| d.pain_mean.is_some()).count();
    let mean30 = mean(days.iter().filter_map(|d| d.pain_mean));
    let lowest = days.iter().filter_map(|d| d.pain_mean).reduce(f64::min);
    let worst = days.iter().filter_map(|d| d.pain_max).reduce(f64::max);
    // The first and last seven days with data, so a late start still shows a trend.
    let first_week = mean(days.iter().filter_map(|d| d.pain_mean).take(7));
    let last_week = mean(days.iter().rev().filter_map(|d| d.pain_mean).take(7));
    let trend = match (first_week, last_week) {
        (Some(a), Some(b)) if b - a >= 1.0 => format!("rising: {a:.1} -> {b:.1}"),
        (Some(a), Some(b)) if a - b >= 1.0 => format!("falling: {a:.1} -> {b:.1}"),
        (Some(a), Some(b)) => format!("steady: {a:.1} -> {b:.1}"),
        _ => "–".to_owned(),
    };
    let mut worst_days: Vec<(NaiveDate, f64)> = days
        .iter()
        .filter_map(|d| Some((d.date, d.pain_max?)))
        .collect();
    worst_days.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let worst_days = worst_days
        .iter()
        .take(3)
        .map(|(d, v)| format!("{d} ({v:.0})"))
        .collect::<Vec<_>>()
        .join(", ");
    let max_mme = days.iter().map(|d| d.mme).fold(0.0, f64::max);
    let mean_mme = mean(days.iter().map(|d| d.mme)).unwrap_or(0.0);
    let exercise: f64 = days.iter().map(|d| d.exercise_minutes).sum();
    let prescribed_week = t.exercise_weekly.first().and_then(|w| w.prescribed_minutes);
    let exercise_vs = match prescribed_week {
        Some(p) => {
            let expected = p * 30.0 / 7.0;
            format!(
                "{exercise:.0} min of {expected:.0} prescribed ({:.0}%)",
                exercise * 100.0 / expected
            )
        }
        None => format!("{exercise:.0} min (no exercise prescribed)"),
    };
    let peg_first = t.peg_weekly.first().map(|w| w.score);
    let peg_last = t.peg_weekly.last().map(|w| w.score);
    let figures = Table {
        id: "summary-figures",
        class: "figures",
        caption: "Key figures",
        head: vec!["", "Value"],
        rows: vec![
            vec!["Days with pain entries".into(), format!("{logged} of 30")],
            vec!["Mean pain (mean of daily means)".into(), fmt1(mean30)],
            vec![
                "Range (lowest daily mean to highest score)".into(),
                format!("{} to {}", fmt1(lowest), fmt1(worst)),
            ],
            vec!["Trend (first vs last 7 days with data)".into(), trend],
            vec!["Worst days (highest score)".into(), worst_days],
            vec![
                "7-day mean at the end".into(),
                fmt1(days.last().and_then(|d| d.pain_rolling_mean_7d)),
            ],
            vec![
                "MME per day (mean, highest)".into(),
                format!("{mean_mme:.1}, {max_mme:.1}"),
            ],
            vec![
                "Adherence, scheduled medication".into(),
                fmt_pct(trends::overall_adherence(&t.adherence)),
            ],
            vec!["Exercise vs prescription".into(), exercise_vs],
            vec![
                "Sleep hours, mood, stress (means)".into(),
                format!(
                    "{}, {}, {}",
                    fmt1(mean(days.iter().filter_map(|d| d.sleep_hours))),
                    fmt1(mean(days.iter().filter_map(|d| d.mood))),
                    fmt1(mean(days.iter().filter_map(|d| d.stress)))
                ),
            ],
            vec![
                "PEG (first week, last week)".into(),
                format!(
                    "{}, {} ({})",
                    fmt1(peg_first),
                    fmt1(peg_last),
                    fmt_change(peg_first.zip(peg_last).map(|(a, b)| b - a))
                ),
            ],
        ],
        empty: "",
    }
    .html()?;
    let medications = Table {
        id: "summary-medications",
        class: "",
        caption: "Current medications",
        head: vec!["Drug", "Dose", "Schedule", "Adherence", "From", "Until"],
        rows: plan
            .medications
            .iter()
            .filter(|m| m.end_date.is_none_or(|e| e >= from))
            .map(|m| {
                let adherence = t
                    .adherence
                    .iter()
                    .find(|a| a.drug == m.drug)
                    .map_or_else(|| "–".to_owned(), |a| fmt_pct(a.ratio));
                let schedule = match (m.times_per_day, m.prn) {
                    (Some(n), true) => {
                        format!("{n} a day + as needed (max {})", fmt1(m.prn_max_per_day))
                    }
                    (Some(n), false) => format!("{n} a day"),
                    (None, true) => format!("as needed (max {} a day)", fmt1(m.prn_max_per_day)),
                    (None, false) => m.schedule.clone().unwrap_or_else(|| "–".to_owned()),
                };
                vec![
                    format!("{}{}", m.drug, if m.opioid { " (opioid)" } else { "" }),
                    format!(
                        "{} {}",
                        m.dose_amount.map_or("–".to_owned(), |a| format!("{a}")),
                        m.dose_unit.clone().unwrap_or_default()
                    ),
                    schedule,
                    adherence,
                    m.start_date.map_or("–".to_owned(), |d| d.to_string()),
                    m.end_date.map_or("–".to_owned(), |d| d.to_string()),
                ]
            })
            .collect(),
        empty: "No medication in the care plan.",
    }
    .html()?;
    let wellbeing = Table {
        id: "summary-wellbeing",
        class: "",
        caption: "Sleep, mood, stress, PEG by week (means; PEG 0-10, higher is worse)",
        head: vec!["Week of", "Sleep h", "Mood", "Stress", "PEG"],
        rows: t
            .exercise_weekly
            .iter()
            .map(|w| {
                let in_week = |d: &&trends::DayTrend| trends::week_start(d.date) == w.week_start;
                vec![
                    w.week_start.to_string(),
                    fmt1(mean(
                        days.iter().filter(in_week).filter_map(|d| d.sleep_hours),
                    )),
                    fmt1(mean(days.iter().filter(in_week).filter_map(|d| d.mood))),
                    fmt1(mean(days.iter().filter(in_week).filter_map(|d| d.stress))),
                    fmt1(
                        t.peg_weekly
                            .iter()
                            .find(|p| p.week_start == w.week_start)
                            .map(|p| p.score),
                    ),
                ]
            })
            .collect(),
        empty: "",
    }
    .html()?;
    let exercise_table = Table {
        id: "summary-exercise",
        class: "",
        caption: "Exercise per week vs prescription (partial weeks at the ends of the range)",
        head: vec!["Week of", "Days in range", "Minutes", "Prescribed"],
        rows: t
            .exercise_weekly
            .iter()
            .map(|w| {
                let in_range = days
                    .iter()
                    .filter(|d| trends::week_start(d.date) == w.week_start)
                    .count();
                vec![
                    w.week_start.to_string(),
                    in_range.to_string(),
                    format!("{:.0}", w.minutes),
                    // A partial week is compared with its share of the prescription.
                    w.prescribed_minutes.map_or("–".to_owned(), |p| {
                        format!("{:.0}", p * in_range as f64 / 7.0)
                    }),
                ]
            })
            .collect(),
        empty: "",
    }
    .html()?;
    let alerts = alert_actions::patient_alerts_html(&state, &user, &patient).await?;
    let resolved_rows = alerts::Entity::find()
        .filter(alerts::Column::PatientId.eq(patient.id))
        .filter(alerts::Column::Status.eq("resolved"))
        .filter(alerts::Column::LocalDay.gte(from))
        .order_by_desc(alerts::Column::LocalDay)
        .all(&state.db)
        .await?;
    let resolved = Table {
        id: "summary-resolved",
        class: "",
        caption: "Alerts resolved in the period",
        head: vec!["First day", "Alert", "Resolved", "Note"],
        rows: resolved_rows
            .iter()
            .map(|a| {
                vec![
                    a.local_day.to_string(),
                    format!("{} ({})", rule_title(&a.rule), a.severity),
                    a.resolved_at
                        .map_or("–".to_owned(), |r| local_time(r, &patient.timezone)),
                    a.resolution_note.clone().unwrap_or_default(),
                ]
            })
            .collect(),
        empty: "None.",
    }
    .html()?;
    let body = SummaryPage {
        code: &patient.display_code,
        tz: &patient.timezone,
        from,
        to,
        printed: local_time(state.clock.now(), &patient.timezone),
        figures,
        medications,
        pain_chart: pain_figure(&t, &ev)?,
        events: ev,
        interventions: interventions_table(&t)?,
        regions: counts_table(
            "regions",
            "Pain locations",
            "Body region",
            &locations.regions,
            locations.entries,
        )?,
        qualities: counts_table(
            "qualities",
            "Pain qualities",
            "Quality",
            &locations.qualities,
            locations.entries,
        )?,
        wellbeing,
        exercise: exercise_table,
        alerts,
        resolved,
        notes: notes_by_day(notes),
    };
    templated(
        StatusCode::OK,
        &format!("Visit summary {}", patient.display_code),
        Some(user.nav()),
        &body,
    )
}
