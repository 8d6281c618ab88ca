//! The care-plan editor of the dashboard: the patient's prescribed medications, exercises,
//! interventions, assigned questionnaires and alert threshold overrides, with server-rendered forms to add, edit and
//! remove them. Owns the form fields, their validation and messages.
//!
//! Writes go through [`Hub::edit_care_plan`] (never straight to storage), so a change is
//! stored, audited and alert-evaluated like a peer's write and reaches the patient's
//! phones by sync. Only the patient's care team may open or post these pages; everyone
//! else gets 404, as for the other patient pages.

use std::collections::HashMap;

use axum::extract::{Extension, Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use paindiary_sync::schema::care_plan::{
    AssignedQuestionnaire, CarePlan, CarePlanError, Intervention, PrescribedExercise,
    PrescribedMedication, Section, THRESHOLD_KEYS, ThresholdOverrides, delete_item, put_item,
    read_care_plan, set_threshold,
};
use paindiary_sync::schema::month::FieldValue;
use paindiary_sync::schema::vocab::{DoseUnit, InterventionKind, Route};
use serde::Deserialize;

use super::pages::care_team_patient;
use super::session::WebUser;
use super::{WebError, esc, page};
use crate::domain::PatientId;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::hub::{CarePlanEditError, Hub};
use crate::state::AppState;
use crate::trends;

/// Audit action codes of the editor's pages (the write itself is audited by the hub as
/// [`crate::hub::actions::CARE_PLAN_EDIT`]).
pub mod action {
    /// The care plan was viewed.
    pub const READ: &str = "care_plan.read";
    /// An edit was submitted (access check of the form post).
    pub const SUBMIT: &str = "care_plan.submit";
}

/// Longest drug, activity or region text accepted.
const MAX_NAME_CHARS: usize = 200;
/// Longest note or schedule accepted.
const MAX_NOTE_CHARS: usize = 2000;
/// Longest item key accepted from a form (keys we make are UUIDs).
const MAX_ITEM_KEY_CHARS: usize = 64;

/// What the editor edits: the item sections and the threshold overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Prescribed medications.
    Medications,
    /// Prescribed exercises.
    Exercises,
    /// Interventions performed.
    Interventions,
    /// Questionnaires assigned on a schedule.
    Questionnaires,
    /// Per-patient alert threshold overrides.
    Thresholds,
}

impl Part {
    fn slug(self) -> &'static str {
        match self {
            Part::Medications => "medications",
            Part::Exercises => "exercises",
            Part::Interventions => "interventions",
            Part::Questionnaires => "questionnaires",
            Part::Thresholds => "thresholds",
        }
    }

    fn section(self) -> Option<Section> {
        match self {
            Part::Medications => Some(Section::Medications),
            Part::Exercises => Some(Section::Exercises),
            Part::Interventions => Some(Section::Interventions),
            Part::Questionnaires => Some(Section::Questionnaires),
            Part::Thresholds => None,
        }
    }

    fn fields(self) -> &'static [Field] {
        match self {
            Part::Medications => MEDICATION_FIELDS,
            Part::Exercises => EXERCISE_FIELDS,
            Part::Interventions => INTERVENTION_FIELDS,
            Part::Questionnaires => QUESTIONNAIRE_FIELDS,
            Part::Thresholds => THRESHOLD_FIELDS,
        }
    }
}

/// How a field is entered and checked.
#[derive(Clone, Copy)]
enum Kind {
    /// Free text of at most this many characters.
    Text(usize),
    /// A number in `min..=max`; `min` itself excluded when `exclusive_min`.
    Number {
        min: f64,
        exclusive_min: bool,
        max: f64,
        whole: bool,
    },
    /// One code of a vocabulary.
    Choice(fn() -> Vec<&'static str>),
    /// A checkbox.
    Check,
    /// A day, `YYYY-MM-DD`.
    Date,
}

/// One form field: the document field it writes, its label and how it is checked.
struct Field {
    name: &'static str,
    label: &'static str,
    kind: Kind,
    required: bool,
    hint: &'static str,
}

const fn positive(max: f64) -> Kind {
    Kind::Number {
        min: 0.0,
        exclusive_min: true,
        max,
        whole: false,
    }
}

const fn whole(min: f64, max: f64) -> Kind {
    Kind::Number {
        min,
        exclusive_min: false,
        max,
        whole: true,
    }
}

fn dose_units() -> Vec<&'static str> {
    DoseUnit::ALL.iter().map(|u| u.as_str()).collect()
}

fn routes() -> Vec<&'static str> {
    Route::ALL.iter().map(|r| r.as_str()).collect()
}

fn intervention_kinds() -> Vec<&'static str> {
    InterventionKind::ALL.iter().map(|k| k.as_str()).collect()
}

const MEDICATION_FIELDS: &[Field] = &[
    Field {
        name: "drug",
        label: "Drug",
        kind: Kind::Text(MAX_NAME_CHARS),
        required: true,
        hint: "",
    },
    Field {
        name: "dose_amount",
        label: "Dose per intake",
        kind: positive(f64::MAX),
        required: false,
        hint: "",
    },
    Field {
        name: "dose_unit",
        label: "Dose unit",
        kind: Kind::Choice(dose_units),
        required: false,
        hint: "",
    },
    Field {
        name: "route",
        label: "Route",
        kind: Kind::Choice(routes),
        required: false,
        hint: "",
    },
    Field {
        name: "times_per_day",
        label: "Scheduled times per day",
        kind: positive(24.0),
        required: false,
        hint: "Leave empty for a medication taken only as needed.",
    },
    Field {
        name: "schedule",
        label: "Schedule in words",
        kind: Kind::Text(MAX_NAME_CHARS),
        required: false,
        hint: "For example: every 8 hours with food.",
    },
    Field {
        name: "prn",
        label: "May be taken as needed",
        kind: Kind::Check,
        required: false,
        hint: "",
    },
    Field {
        name: "prn_max_per_day",
        label: "Most as-needed doses per day",
        kind: whole(1.0, 24.0),
        required: false,
        hint: "Required when the medication may be taken as needed.",
    },
    Field {
        name: "opioid",
        label: "Opioid (counted in morphine milligram equivalents)",
        kind: Kind::Check,
        required: false,
        hint: "",
    },
    Field {
        name: "start_date",
        label: "From",
        kind: Kind::Date,
        required: false,
        hint: "",
    },
    Field {
        name: "end_date",
        label: "Until",
        kind: Kind::Date,
        required: false,
        hint: "",
    },
    Field {
        name: "note",
        label: "Note for the patient",
        kind: Kind::Text(MAX_NOTE_CHARS),
        required: false,
        hint: "",
    },
];

const EXERCISE_FIELDS: &[Field] = &[
    Field {
        name: "activity",
        label: "Activity",
        kind: Kind::Text(MAX_NAME_CHARS),
        required: true,
        hint: "",
    },
    Field {
        name: "minutes_per_session",
        label: "Minutes per session",
        kind: positive(600.0),
        required: false,
        hint: "",
    },
    Field {
        name: "sessions_per_week",
        label: "Sessions per week",
        kind: positive(50.0),
        required: false,
        hint: "",
    },
    Field {
        name: "note",
        label: "Note for the patient",
        kind: Kind::Text(MAX_NOTE_CHARS),
        required: false,
        hint: "",
    },
];

const INTERVENTION_FIELDS: &[Field] = &[
    Field {
        name: "kind",
        label: "Kind",
        kind: Kind::Choice(intervention_kinds),
        required: true,
        hint: "",
    },
    Field {
        name: "date",
        label: "Date performed",
        kind: Kind::Date,
        required: true,
        hint: "",
    },
    Field {
        name: "region",
        label: "Region",
        kind: Kind::Text(MAX_NAME_CHARS),
        required: false,
        hint: "For example: L4-L5 left.",
    },
    Field {
        name: "note",
        label: "Clinical note",
        kind: Kind::Text(MAX_NOTE_CHARS),
        required: false,
        hint: "",
    },
];

fn instruments() -> Vec<&'static str> {
    paindiary_sync::questionnaire::BUILT_IN
        .iter()
        .map(|i| i.id)
        .collect()
}

const QUESTIONNAIRE_FIELDS: &[Field] = &[
    Field {
        name: "instrument",
        label: "Questionnaire",
        kind: Kind::Choice(instruments),
        required: true,
        hint: "phq9: PHQ-9 (depression), gad7: GAD-7 (anxiety), peg: PEG (pain interference).",
    },
    Field {
        name: "every_days",
        label: "Due every (days)",
        kind: whole(1.0, 366.0),
        required: true,
        hint: "7 = weekly, 28 = every 4 weeks.",
    },
    Field {
        name: "start_date",
        label: "First due on",
        kind: Kind::Date,
        required: true,
        hint: "",
    },
    Field {
        name: "end_date",
        label: "Last due on",
        kind: Kind::Date,
        required: false,
        hint: "Empty: until removed.",
    },
];

const THRESHOLD_FIELDS: &[Field] = &[
    Field {
        name: "worsening_points",
        label: "Worsening: smallest rise that alerts (points above the patient's usual)",
        kind: positive(10.0),
        required: false,
        hint: "Empty: the clinic's setting.",
    },
    Field {
        name: "worsening_percent",
        label: "Worsening: smallest rise that alerts (percent of the patient's usual)",
        kind: positive(100.0),
        required: false,
        hint: "Empty: the clinic's setting.",
    },
    Field {
        name: "severe_score",
        label: "Severe: daily maximum score",
        kind: whole(1.0, 10.0),
        required: false,
        hint: "Empty: the clinic's setting.",
    },
    Field {
        name: "mme_info",
        label: "Opioid load: MME per day for information",
        kind: positive(1000.0),
        required: false,
        hint: "Empty: the clinic's setting.",
    },
    Field {
        name: "mme_warning",
        label: "Opioid load: MME per day for a warning",
        kind: positive(1000.0),
        required: false,
        hint: "Empty: the clinic's setting.",
    },
    Field {
        name: "missed_days",
        label: "Missed logging: days without entries",
        kind: whole(1.0, 60.0),
        required: false,
        hint: "Empty: the clinic's setting.",
    },
];

/// Field name -> message, for the fields that failed.
type Errors = Vec<(&'static str, String)>;

/// A submitted form: its values by name (unknown names are ignored).
type Values = HashMap<String, String>;

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn put(values: &mut Values, name: &str, v: Option<String>) {
    if let Some(v) = v {
        values.insert(name.to_owned(), v);
    }
}

fn medication_values(m: &PrescribedMedication) -> Values {
    let mut v = Values::new();
    v.insert("drug".into(), m.drug.clone());
    put(&mut v, "dose_amount", m.dose_amount.map(num));
    put(&mut v, "dose_unit", m.dose_unit.clone());
    put(&mut v, "route", m.route.clone());
    put(&mut v, "times_per_day", m.times_per_day.map(num));
    put(&mut v, "schedule", m.schedule.clone());
    put(&mut v, "prn", m.prn.then(|| "on".to_owned()));
    put(&mut v, "prn_max_per_day", m.prn_max_per_day.map(num));
    put(&mut v, "opioid", m.opioid.then(|| "on".to_owned()));
    put(&mut v, "start_date", m.start_date.map(|d| d.to_string()));
    put(&mut v, "end_date", m.end_date.map(|d| d.to_string()));
    put(&mut v, "note", m.note.clone());
    v
}

fn exercise_values(e: &PrescribedExercise) -> Values {
    let mut v = Values::new();
    v.insert("activity".into(), e.activity.clone());
    put(
        &mut v,
        "minutes_per_session",
        e.minutes_per_session.map(num),
    );
    put(&mut v, "sessions_per_week", e.sessions_per_week.map(num));
    put(&mut v, "note", e.note.clone());
    v
}

fn intervention_values(i: &Intervention) -> Values {
    let mut v = Values::new();
    v.insert("kind".into(), i.kind.clone());
    v.insert("date".into(), i.date.to_string());
    put(&mut v, "region", i.region.clone());
    put(&mut v, "note", i.note.clone());
    v
}

fn questionnaire_values(q: &AssignedQuestionnaire) -> Values {
    let mut v = Values::new();
    v.insert("instrument".into(), q.assignment.instrument.clone());
    v.insert("every_days".into(), q.assignment.every_days.to_string());
    v.insert("start_date".into(), q.assignment.start_date.to_string());
    put(
        &mut v,
        "end_date",
        q.assignment.end_date.map(|d| d.to_string()),
    );
    v
}

fn threshold_values(t: &ThresholdOverrides) -> Values {
    let mut v = Values::new();
    put(&mut v, "worsening_points", t.worsening_points.map(num));
    put(&mut v, "worsening_percent", t.worsening_percent.map(num));
    put(&mut v, "severe_score", t.severe_score.map(num));
    put(&mut v, "mme_info", t.mme_info.map(num));
    put(&mut v, "mme_warning", t.mme_warning.map(num));
    put(&mut v, "missed_days", t.missed_days.map(num));
    v
}

/// Checks one field; `Ok(None)` when it is empty and optional (or an unticked box).
fn check_field(field: &Field, raw: Option<&str>) -> Result<Option<FieldValue>, String> {
    let text = raw.map(str::trim).unwrap_or("");
    if let Kind::Check = field.kind {
        return Ok(Some(FieldValue::Bool(!text.is_empty())));
    }
    if text.is_empty() {
        return if field.required {
            Err(format!("Enter the {}.", field.label.to_lowercase()))
        } else {
            Ok(None)
        };
    }
    match field.kind {
        Kind::Text(max) => {
            if text.chars().count() > max {
                Err(format!("At most {max} characters."))
            } else {
                Ok(Some(FieldValue::Text(text.to_owned())))
            }
        }
        Kind::Number {
            min,
            exclusive_min,
            max,
            whole,
        } => {
            let Ok(v) = text.parse::<f64>() else {
                return Err("Enter a number.".into());
            };
            if !v.is_finite() {
                return Err("Enter a number.".into());
            }
            if whole && v.fract() != 0.0 {
                return Err("Enter a whole number.".into());
            }
            if (exclusive_min && v <= min) || v < min {
                return Err(if exclusive_min {
                    format!("Must be more than {}.", num(min))
                } else {
                    format!("Must be at least {}.", num(min))
                });
            }
            if v > max {
                return Err(format!("Must be at most {}.", num(max)));
            }
            Ok(Some(FieldValue::number(v)))
        }
        Kind::Choice(codes) => {
            if codes().contains(&text) {
                Ok(Some(FieldValue::Text(text.to_owned())))
            } else {
                Err("Choose one of the listed values.".into())
            }
        }
        Kind::Date => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            // Far dates would break every window computed around them (trends, the
            // patient page, the visit summary): refused here, shown as invalid if stored.
            Ok(d) if !trends::plausible_day(d) => Err(format!(
                "Enter a date between {} and {}.",
                trends::EARLIEST_YEAR,
                trends::LATEST_YEAR
            )),
            Ok(d) => Ok(Some(FieldValue::Text(d.to_string()))),
            Err(_) => Err("Enter a date as YYYY-MM-DD.".into()),
        },
        Kind::Check => Ok(None),
    }
}

fn number_of(fields: &[(&'static str, FieldValue)], name: &str) -> Option<f64> {
    fields.iter().find_map(|(n, v)| match (n == &name, v) {
        (true, FieldValue::Int(i)) => Some(*i as f64),
        (true, FieldValue::Float(f)) => Some(*f),
        _ => None,
    })
}

fn text_of<'a>(fields: &'a [(&'static str, FieldValue)], name: &str) -> Option<&'a str> {
    fields.iter().find_map(|(n, v)| match (n == &name, v) {
        (true, FieldValue::Text(t)) => Some(t.as_str()),
        _ => None,
    })
}

fn flag_of(fields: &[(&'static str, FieldValue)], name: &str) -> bool {
    fields
        .iter()
        .any(|(n, v)| n == &name && matches!(v, FieldValue::Bool(true)))
}

/// Checks a submitted form of `part`: the fields to write (an empty optional field is
/// [`FieldValue::Remove`], so an edit can clear it), or every field's message.
fn validate(part: Part, form: &Values) -> Result<Vec<(&'static str, FieldValue)>, Errors> {
    let mut errors = Errors::new();
    let mut fields = Vec::new();
    for field in part.fields() {
        match check_field(field, form.get(field.name).map(String::as_str)) {
            Ok(Some(v)) => fields.push((field.name, v)),
            Ok(None) => fields.push((field.name, FieldValue::Remove)),
            Err(message) => errors.push((field.name, message)),
        }
    }
    let failed = |errors: &Errors, name| errors.iter().any(|(n, _)| *n == name);
    match part {
        Part::Medications => {
            let amount = number_of(&fields, "dose_amount");
            let unit = text_of(&fields, "dose_unit").and_then(|u| u.parse::<DoseUnit>().ok());
            match (amount, unit) {
                (Some(_), None) if !failed(&errors, "dose_unit") => {
                    errors.push(("dose_unit", "Choose the unit of the dose.".into()));
                }
                (Some(a), Some(u)) if a > u.max_single_dose() => errors.push((
                    "dose_amount",
                    format!(
                        "More than any single dose in {}: check the amount and unit.",
                        u.as_str()
                    ),
                )),
                _ => {}
            }
            let prn = flag_of(&fields, "prn");
            let max = number_of(&fields, "prn_max_per_day");
            if !failed(&errors, "prn_max_per_day") {
                if prn && max.is_none() {
                    errors.push((
                        "prn_max_per_day",
                        "Give the most as-needed doses per day.".into(),
                    ));
                } else if !prn && max.is_some() {
                    errors.push((
                        "prn_max_per_day",
                        "Only for a medication that may be taken as needed.".into(),
                    ));
                }
            }
            let date = |name| {
                text_of(&fields, name).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            };
            if let (Some(start), Some(end)) = (date("start_date"), date("end_date"))
                && end < start
            {
                errors.push(("end_date", "The end is before the start.".into()));
            }
        }
        Part::Thresholds => {
            if let (Some(info), Some(warning)) = (
                number_of(&fields, "mme_info"),
                number_of(&fields, "mme_warning"),
            ) && warning < info
            {
                errors.push((
                    "mme_warning",
                    "The warning level must not be below the information level.".into(),
                ));
            }
        }
        Part::Questionnaires => {
            let date = |name| {
                text_of(&fields, name).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            };
            if let (Some(start), Some(end)) = (date("start_date"), date("end_date"))
                && end < start
            {
                errors.push(("end_date", "The end is before the start.".into()));
            }
        }
        Part::Exercises | Part::Interventions => {}
    }
    if errors.is_empty() {
        Ok(fields)
    } else {
        // In the form's order, so the summary reads top to bottom.
        errors.sort_by_key(|(name, _)| part.fields().iter().position(|f| f.name == *name));
        Err(errors)
    }
}

/// An HTML id made of `parts`, keeping only characters safe in an id and a URL fragment.
fn html_id(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| {
            p.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn field_html(prefix: &str, field: &Field, values: &Values, errors: &Errors) -> String {
    let id = html_id(&[prefix, field.name]);
    let value = values.get(field.name).map(String::as_str).unwrap_or("");
    let error = errors
        .iter()
        .find(|(n, _)| *n == field.name)
        .map(|(_, m)| m.as_str());
    let mut described = Vec::new();
    let hint = if field.hint.is_empty() {
        String::new()
    } else {
        described.push(format!("{id}-hint"));
        format!(
            r#"<span class="hint" id="{id}-hint">{}</span>"#,
            esc(field.hint)
        )
    };
    let error_html = match error {
        Some(m) => {
            described.push(format!("{id}-error"));
            format!(r#"<span class="error" id="{id}-error">{}</span>"#, esc(m))
        }
        None => String::new(),
    };
    let mut attrs = String::new();
    if !described.is_empty() {
        attrs.push_str(&format!(r#" aria-describedby="{}""#, described.join(" ")));
    }
    if error.is_some() {
        attrs.push_str(r#" aria-invalid="true""#);
    }
    if field.required {
        attrs.push_str(" required");
    }
    let label = esc(field.label);
    let input = match field.kind {
        Kind::Check => {
            let checked = if value.is_empty() { "" } else { " checked" };
            return format!(
                r#"<div class="field check"><input type="checkbox" id="{id}" name="{name}" value="on"{checked}{attrs}> <label for="{id}">{label}</label>{hint}{error_html}</div>"#,
                name = field.name
            );
        }
        Kind::Text(max) => format!(
            r#"<input type="text" id="{id}" name="{name}" value="{v}" maxlength="{max}"{attrs}>"#,
            name = field.name,
            v = esc(value)
        ),
        Kind::Number { whole, .. } => format!(
            r#"<input type="text" inputmode="{mode}" id="{id}" name="{name}" value="{v}"{attrs}>"#,
            mode = if whole { "numeric" } else { "decimal" },
            name = field.name,
            v = esc(value)
        ),
        Kind::Date => format!(
            r#"<input type="date" id="{id}" name="{name}" value="{v}"{attrs}>"#,
            name = field.name,
            v = esc(value)
        ),
        Kind::Choice(codes) => {
            let mut s = format!(r#"<select id="{id}" name="{}"{attrs}>"#, field.name);
            if !field.required || value.is_empty() {
                s.push_str(r#"<option value="">–</option>"#);
            }
            let codes = codes();
            if !value.is_empty() && !codes.contains(&value) {
                // What was submitted stays visible next to its message.
                s.push_str(&format!(
                    r#"<option value="{v}" selected>{v}</option>"#,
                    v = esc(value)
                ));
            }
            for code in codes {
                let selected = if code == value { " selected" } else { "" };
                s.push_str(&format!(
                    r#"<option value="{code}"{selected}>{}</option>"#,
                    code.replace('_', " ")
                ));
            }
            s.push_str("</select>");
            s
        }
    };
    format!(
        r#"<div class="field"><label for="{id}">{label}</label>{input}{hint}{error_html}</div>"#
    )
}

/// One form of the editor: which part, which item (none: a new one), the values shown
/// and the messages of a refused submission.
struct FormView<'a> {
    part: Part,
    item: Option<&'a str>,
    values: &'a Values,
    errors: &'a Errors,
}

fn form_html(patient: PatientId, csrf: &str, view: &FormView<'_>, button: &str) -> String {
    let prefix = html_id(&[view.part.slug(), view.item.unwrap_or("new")]);
    let mut s = format!(
        r#"<form method="post" action="/dashboard/patients/{patient}/care-plan/{slug}" class="plan-form" id="{prefix}-form" novalidate>
<input type="hidden" name="csrf" value="{csrf}">"#,
        slug = view.part.slug(),
        csrf = esc(csrf),
    );
    if let Some(item) = view.item {
        s.push_str(&format!(
            r#"<input type="hidden" name="item" value="{}">"#,
            esc(item)
        ));
    }
    for field in view.part.fields() {
        s.push_str(&field_html(&prefix, field, view.values, view.errors));
    }
    s.push_str(&format!(
        r#"<button type="submit">{}</button></form>"#,
        esc(button)
    ));
    s
}

fn remove_html(patient: PatientId, csrf: &str, part: Part, item: &str, what: &str) -> String {
    format!(
        // Removing takes a second, explicit step (no JavaScript: a disclosure that holds
        // the confirming button), so one stray click removes nothing.
        r#"<details class="remove"><summary>Remove<span class="visually-hidden"> {what}</span></summary>
<form method="post" action="/dashboard/patients/{patient}/care-plan/{slug}/remove">
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="item" value="{item}">
<p>Remove {what} from the care plan? The patient's phones drop it at their next sync.</p>
<button type="submit" aria-label="Confirm: remove {what}">Yes, remove</button></form></details>"#,
        slug = part.slug(),
        csrf = esc(csrf),
        item = esc(item),
        what = esc(what),
    )
}

/// A refused submission, shown again in its form with its messages.
struct Refused {
    part: Part,
    item: Option<String>,
    values: Values,
    errors: Errors,
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| esc(&v.to_string()))
}

/// The editor page; `refused` fills one form with what was submitted and its messages.
fn editor_html(
    patient: PatientId,
    code: &str,
    csrf: &str,
    plan: &CarePlan,
    saved: bool,
    refused: Option<&Refused>,
    thresholds_in_effect: &str,
) -> String {
    let none = Errors::new();
    // The form `part`/`item` and whether it shows messages: filled with the refused
    // submission and its messages if it is that form, else with `current`.
    let form = |part: Part, item: Option<&str>, current: Values, button: &str| -> (String, bool) {
        let (values, errors) = match refused {
            Some(r) if r.part == part && r.item.as_deref() == item => (&r.values, &r.errors),
            _ => (&current, &none),
        };
        let html = form_html(
            patient,
            csrf,
            &FormView {
                part,
                item,
                values,
                errors,
            },
            button,
        );
        (html, !errors.is_empty())
    };
    let mut body = format!(
        r#"<h1>Care plan: patient {code}</h1>
<p>Changes are saved to the patient's care plan and reach their phones when they next sync.</p>
<p class="no-print"><a href="/dashboard/patients/{patient}/care-plan/history">Change history (who changed what, when)</a></p>"#,
        code = esc(code)
    );
    if saved {
        body.push_str(r#"<p role="status" class="saved">Saved.</p>"#);
    }
    if let Some(r) = refused {
        let prefix = html_id(&[r.part.slug(), r.item.as_deref().unwrap_or("new")]);
        body.push_str(
            r#"<div class="error-summary" role="alert" tabindex="-1" id="errors"><h2>The change was not saved</h2><ul>"#,
        );
        for (name, message) in &r.errors {
            let label = r
                .part
                .fields()
                .iter()
                .find(|f| f.name == *name)
                .map_or(*name, |f| f.label);
            body.push_str(&format!(
                r##"<li><a href="#{id}">{label}: {message}</a></li>"##,
                id = html_id(&[&prefix, name]),
                label = esc(label),
                message = esc(message)
            ));
        }
        body.push_str("</ul></div>");
    }

    // Medications.
    body.push_str(
        r#"<section aria-labelledby="h-medications"><h2 id="h-medications">Medications</h2>
<table id="plan-medications"><caption>Prescribed medications</caption><thead><tr><th scope="col">Drug</th><th scope="col">Dose</th><th scope="col">Route</th><th scope="col">Per day</th><th scope="col">As needed (max/day)</th><th scope="col">Opioid</th><th scope="col">From</th><th scope="col">Until</th><th scope="col">Change</th></tr></thead><tbody>"#,
    );
    for m in &plan.medications {
        let (form_for_item, has_errors) = form(
            Part::Medications,
            Some(&m.id),
            medication_values(m),
            "Save medication",
        );
        let open = if has_errors { " open" } else { "" };
        body.push_str(&format!(
            r#"<tr data-item="{item}"><th scope="row">{drug}</th><td>{amount} {unit}</td><td>{route}</td><td>{times}</td><td>{prn} ({max})</td><td>{opioid}</td><td>{from}</td><td>{until}</td><td><details{open}><summary>Edit <span class="visually-hidden">{drug}</span></summary>{form}</details>{remove}</td></tr>"#,
            item = esc(&m.id),
            drug = esc(&m.drug),
            amount = opt(m.dose_amount),
            unit = opt(m.dose_unit.as_deref()),
            route = opt(m.route.as_deref()),
            times = opt(m.times_per_day),
            prn = if m.prn { "yes" } else { "no" },
            max = opt(m.prn_max_per_day),
            opioid = if m.opioid { "yes" } else { "no" },
            from = opt(m.start_date),
            until = opt(m.end_date),
            form = form_for_item,
            remove = remove_html(patient, csrf, Part::Medications, &m.id, &m.drug),
        ));
    }
    let (add_form, _) = form(Part::Medications, None, Values::new(), "Add medication");
    body.push_str(&format!(
        r#"</tbody></table><h3 id="add-medication">Add a medication</h3>{}</section>"#,
        add_form
    ));

    // Exercises.
    body.push_str(
        r#"<section aria-labelledby="h-exercises"><h2 id="h-exercises">Exercises</h2>
<table id="plan-exercises"><caption>Prescribed exercises</caption><thead><tr><th scope="col">Activity</th><th scope="col">Minutes per session</th><th scope="col">Sessions per week</th><th scope="col">Change</th></tr></thead><tbody>"#,
    );
    for e in &plan.exercises {
        let (form_for_item, has_errors) = form(
            Part::Exercises,
            Some(&e.id),
            exercise_values(e),
            "Save exercise",
        );
        let open = if has_errors { " open" } else { "" };
        body.push_str(&format!(
            r#"<tr data-item="{item}"><th scope="row">{activity}</th><td>{minutes}</td><td>{week}</td><td><details{open}><summary>Edit <span class="visually-hidden">{activity}</span></summary>{form}</details>{remove}</td></tr>"#,
            item = esc(&e.id),
            activity = esc(&e.activity),
            minutes = opt(e.minutes_per_session),
            week = opt(e.sessions_per_week),
            form = form_for_item,
            remove = remove_html(patient, csrf, Part::Exercises, &e.id, &e.activity),
        ));
    }
    let (add_form, _) = form(Part::Exercises, None, Values::new(), "Add exercise");
    body.push_str(&format!(
        r#"</tbody></table><h3 id="add-exercise">Add an exercise</h3>{}</section>"#,
        add_form
    ));

    // Interventions.
    body.push_str(
        r#"<section aria-labelledby="h-interventions"><h2 id="h-interventions">Interventions</h2>
<table id="plan-interventions"><caption>Interventions performed</caption><thead><tr><th scope="col">Date</th><th scope="col">Kind</th><th scope="col">Region</th><th scope="col">Change</th></tr></thead><tbody>"#,
    );
    for i in &plan.interventions {
        let (form_for_item, has_errors) = form(
            Part::Interventions,
            Some(&i.id),
            intervention_values(i),
            "Save intervention",
        );
        let open = if has_errors { " open" } else { "" };
        let what = format!("{} on {}", i.kind.replace('_', " "), i.date);
        body.push_str(&format!(
            r#"<tr data-item="{item}"><th scope="row">{date}</th><td>{kind}</td><td>{region}</td><td><details{open}><summary>Edit <span class="visually-hidden">{what}</span></summary>{form}</details>{remove}</td></tr>"#,
            item = esc(&i.id),
            date = if trends::plausible_day(i.date) {
                i.date.to_string()
            } else {
                format!(
                    r#"<span class="error">{} (invalid: outside {}-{}; edit or remove it)</span>"#,
                    esc(&i.date.to_string()),
                    trends::EARLIEST_YEAR,
                    trends::LATEST_YEAR
                )
            },
            kind = esc(&i.kind.replace('_', " ")),
            region = opt(i.region.as_deref()),
            what = esc(&what),
            form = form_for_item,
            remove = remove_html(patient, csrf, Part::Interventions, &i.id, &what),
        ));
    }
    let (add_form, _) = form(Part::Interventions, None, Values::new(), "Add intervention");
    body.push_str(&format!(
        r#"</tbody></table><h3 id="add-intervention">Add an intervention</h3>{}</section>"#,
        add_form
    ));

    // Questionnaires.
    body.push_str(
        r#"<section aria-labelledby="h-questionnaires"><h2 id="h-questionnaires">Questionnaires</h2>
<p>The patient's phone shows an assigned questionnaire as due once in each period, from the first day.</p>
<table id="plan-questionnaires"><caption>Assigned questionnaires</caption><thead><tr><th scope="col">Questionnaire</th><th scope="col">Every (days)</th><th scope="col">From</th><th scope="col">Until</th><th scope="col">Change</th></tr></thead><tbody>"#,
    );
    for q in &plan.questionnaires {
        let (form_for_item, has_errors) = form(
            Part::Questionnaires,
            Some(&q.id),
            questionnaire_values(q),
            "Save assignment",
        );
        let open = if has_errors { " open" } else { "" };
        let a = &q.assignment;
        let name = paindiary_sync::questionnaire::BUILT_IN
            .iter()
            .find(|i| i.id == a.instrument)
            .map_or(a.instrument.as_str(), |i| i.name);
        body.push_str(&format!(
            r#"<tr data-item="{item}"><th scope="row">{name}</th><td>{every}</td><td>{from}</td><td>{until}</td><td><details{open}><summary>Edit <span class="visually-hidden">{name}</span></summary>{form}</details>{remove}</td></tr>"#,
            item = esc(&q.id),
            name = esc(name),
            every = a.every_days,
            from = a.start_date,
            until = opt(a.end_date),
            form = form_for_item,
            remove = remove_html(patient, csrf, Part::Questionnaires, &q.id, name),
        ));
    }
    let (add_form, _) = form(
        Part::Questionnaires,
        None,
        Values::new(),
        "Assign questionnaire",
    );
    body.push_str(&format!(
        r#"</tbody></table><h3 id="add-questionnaire">Assign a questionnaire</h3>{}</section>"#,
        add_form
    ));

    // Threshold overrides: one form, an empty field keeps the clinic's value.
    let (add_form, _) = form(
        Part::Thresholds,
        None,
        threshold_values(&plan.thresholds),
        "Save thresholds",
    );
    body.push_str(&format!(
        r#"<section aria-labelledby="h-thresholds"><h2 id="h-thresholds">Alert thresholds for this patient</h2>{}{}</section>"#,
        thresholds_in_effect, add_form
    ));
    body
}

/// `?saved=1` after a successful post.
#[derive(Deserialize)]
pub struct EditorQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /dashboard/patients/{id}/care-plan`.
pub async fn editor(
    State(state): State<AppState>,
    user: WebUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(query): ApiQuery<EditorQuery>,
) -> Result<Response, WebError> {
    let patient = care_team_patient(
        &state,
        &user,
        id,
        action::READ,
        "GET /dashboard/patients/{id}/care-plan",
    )
    .await?;
    let plan = trends::care_plan(&state.db, patient.id)
        .await
        .map_err(ApiError::internal)?;
    let in_effect = super::plan_changes::thresholds_in_effect(&state, &patient, &plan).await?;
    let body = editor_html(
        id,
        &patient.display_code,
        &user.csrf,
        &plan,
        query.saved.is_some(),
        None,
        &in_effect,
    );
    Ok(page(
        StatusCode::OK,
        &format!("Care plan {}", patient.display_code),
        Some(user.nav()),
        &body,
    ))
}

/// Why a submitted edit was not written.
enum EditRefusal {
    /// The item named does not exist (or was removed meanwhile).
    NoSuchItem,
    /// The schema refused the write.
    Schema(CarePlanError),
}

fn item_exists(plan: &CarePlan, section: Section, item: &str) -> bool {
    match section {
        Section::Medications => plan.medications.iter().any(|m| m.id == item),
        Section::Exercises => plan.exercises.iter().any(|e| e.id == item),
        Section::Interventions => plan.interventions.iter().any(|i| i.id == item),
        Section::Goals => plan.goals.iter().any(|g| g.id == item),
        Section::Questionnaires => plan.questionnaires.iter().any(|q| q.id == item),
    }
}

fn hub_error(e: CarePlanEditError<EditRefusal>) -> WebError {
    match e {
        CarePlanEditError::Refused(EditRefusal::NoSuchItem) => WebError(ApiError::NotFound),
        CarePlanEditError::Refused(EditRefusal::Schema(e)) => WebError(ApiError::internal(e)),
        CarePlanEditError::Hub(e) => WebError(ApiError::internal(e)),
    }
}

fn saved_redirect(patient: PatientId, part: Part) -> Response {
    Redirect::to(&format!(
        "/dashboard/patients/{patient}/care-plan?saved=1#h-{}",
        part.slug()
    ))
    .into_response()
}

fn item_key(form: &Values) -> Result<Option<String>, WebError> {
    match form.get("item").map(|s| s.trim()) {
        None | Some("") => Ok(None),
        Some(k) if k.chars().count() <= MAX_ITEM_KEY_CHARS => Ok(Some(k.to_owned())),
        Some(_) => Err(WebError(ApiError::NotFound)),
    }
}

/// `POST /dashboard/patients/{id}/care-plan/{part}`: adds an item (no `item` field),
/// saves an existing one, or sets the threshold overrides.
pub async fn submit(
    State(state): State<AppState>,
    Extension(hub): Extension<Hub>,
    user: WebUser,
    ApiPath((id, part)): ApiPath<(PatientId, Part)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form: Values = form.into_iter().collect();
    // Access first: whoever may not see the patient gets 404 whatever they send.
    let patient = care_team_patient(
        &state,
        &user,
        id,
        action::SUBMIT,
        "POST /dashboard/patients/{id}/care-plan",
    )
    .await?;
    user.check_csrf(form.get("csrf").map(String::as_str).unwrap_or(""))?;
    let item = item_key(&form)?;
    let fields = match validate(part, &form) {
        Ok(fields) => fields,
        Err(errors) => {
            // Nothing is written; the form comes back with what was typed and why.
            let plan = trends::care_plan(&state.db, patient.id)
                .await
                .map_err(ApiError::internal)?;
            if let (Some(section), Some(key)) = (part.section(), item.as_deref())
                && !item_exists(&plan, section, key)
            {
                return Err(WebError(ApiError::NotFound));
            }
            let refused = Refused {
                part,
                item,
                values: form,
                errors,
            };
            let in_effect =
                super::plan_changes::thresholds_in_effect(&state, &patient, &plan).await?;
            let body = editor_html(
                id,
                &patient.display_code,
                &user.csrf,
                &plan,
                false,
                Some(&refused),
                &in_effect,
            );
            return Ok(page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("Care plan {} (not saved)", patient.display_code),
                Some(user.nav()),
                &body,
            ));
        }
    };
    let result = match part.section() {
        Some(section) => {
            hub.edit_care_plan(id, user.auth.user_id, |doc, now| {
                let fields: Vec<(&str, FieldValue)> = match &item {
                    Some(key) => {
                        if !item_exists(&read_care_plan(doc.document()), section, key) {
                            return Err(EditRefusal::NoSuchItem);
                        }
                        fields
                    }
                    // A new item has nothing to clear.
                    None => fields
                        .into_iter()
                        .filter(|(_, v)| !matches!(v, FieldValue::Remove))
                        .collect(),
                };
                let key = item.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
                put_item(doc, section, &key, &fields, now).map_err(EditRefusal::Schema)
            })
            .await
        }
        None => {
            hub.edit_care_plan(id, user.auth.user_id, |doc, now| {
                let current = read_care_plan(doc.document()).thresholds;
                let current = threshold_values(&current);
                for (key, value) in fields {
                    let value = match value {
                        FieldValue::Int(i) => Some(i as f64),
                        FieldValue::Float(f) => Some(f),
                        _ => None,
                    };
                    // Only what changed, so the history shows what the clinician set.
                    let unchanged = current.get(key).map(|c| c.parse::<f64>().ok()) == Some(value)
                        || (value.is_none() && !current.contains_key(key));
                    if unchanged || !THRESHOLD_KEYS.contains(&key) {
                        continue;
                    }
                    set_threshold(doc, key, value, now).map_err(EditRefusal::Schema)?;
                }
                Ok(())
            })
            .await
        }
    };
    result.map_err(hub_error)?;
    Ok(saved_redirect(id, part))
}

/// `POST /dashboard/patients/{id}/care-plan/{part}/remove`: removes one item (a tombstone:
/// the item's history stays in the document).
pub async fn remove(
    State(state): State<AppState>,
    Extension(hub): Extension<Hub>,
    user: WebUser,
    ApiPath((id, part)): ApiPath<(PatientId, Part)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form: Values = form.into_iter().collect();
    care_team_patient(
        &state,
        &user,
        id,
        action::SUBMIT,
        "POST /dashboard/patients/{id}/care-plan/remove",
    )
    .await?;
    user.check_csrf(form.get("csrf").map(String::as_str).unwrap_or(""))?;
    let (Some(section), Some(item)) = (part.section(), item_key(&form)?) else {
        return Err(WebError(ApiError::NotFound));
    };
    hub.edit_care_plan(id, user.auth.user_id, |doc, now| {
        if !item_exists(&read_care_plan(doc.document()), section, &item) {
            return Err(EditRefusal::NoSuchItem);
        }
        delete_item(doc, section, &item, now).map_err(EditRefusal::Schema)
    })
    .await
    .map_err(hub_error)?;
    Ok(saved_redirect(id, part))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Values {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn message(errors: &Errors, name: &str) -> String {
        errors
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    #[test]
    fn medication_form_checks_dose_unit_and_prn_limit() {
        let ok = validate(
            Part::Medications,
            &form(&[
                ("drug", " Oxycodone "),
                ("dose_amount", "5"),
                ("dose_unit", "mg"),
                ("route", "oral"),
                ("prn", "on"),
                ("prn_max_per_day", "3"),
                ("opioid", "on"),
            ]),
        )
        .unwrap();
        assert!(ok.contains(&("drug", FieldValue::Text("Oxycodone".into()))));
        assert!(ok.contains(&("prn_max_per_day", FieldValue::Int(3))));
        assert!(ok.contains(&("times_per_day", FieldValue::Remove)));

        let errors = validate(
            Part::Medications,
            &form(&[
                ("drug", "x"),
                ("dose_amount", "-5"),
                ("dose_unit", "bucket"),
                ("prn", "on"),
                ("prn_max_per_day", "0"),
            ]),
        )
        .unwrap_err();
        assert!(message(&errors, "dose_amount").contains("more than 0"));
        assert!(message(&errors, "dose_unit").contains("listed"));
        assert!(message(&errors, "prn_max_per_day").contains("at least 1"));

        let errors = validate(
            Part::Medications,
            &form(&[("drug", ""), ("dose_amount", "50"), ("dose_unit", "g")]),
        )
        .unwrap_err();
        assert!(message(&errors, "drug").contains("Enter the drug"));
        assert!(message(&errors, "dose_amount").contains("single dose"));
    }

    #[test]
    fn dates_outside_the_plausible_years_are_refused() {
        for date in ["+262142-12-31", "1899-12-31", "2201-01-01"] {
            let errors = validate(
                Part::Interventions,
                &form(&[("kind", "nerve_block"), ("date", date)]),
            )
            .unwrap_err();
            assert!(
                message(&errors, "date").contains("between 1900 and 2200"),
                "{date}"
            );
        }
        let ok = validate(
            Part::Interventions,
            &form(&[("kind", "nerve_block"), ("date", "2026-12-01")]),
        )
        .unwrap();
        assert!(ok.contains(&("date", FieldValue::Text("2026-12-01".into()))));
    }

    #[test]
    fn thresholds_form_keeps_mme_levels_in_order() {
        let errors = validate(
            Part::Thresholds,
            &form(&[("mme_info", "90"), ("mme_warning", "50")]),
        )
        .unwrap_err();
        assert!(message(&errors, "mme_warning").contains("below"));
        let ok = validate(Part::Thresholds, &form(&[("worsening_points", "1.5")])).unwrap();
        assert!(ok.contains(&("worsening_points", FieldValue::Float(1.5))));
        assert!(ok.contains(&("severe_score", FieldValue::Remove)));
    }

    #[test]
    fn page_shows_errors_next_to_their_fields_and_escapes_input() {
        let patient = PatientId(uuid::Uuid::nil());
        let refused = Refused {
            part: Part::Medications,
            item: None,
            values: form(&[("drug", "<b>x</b>"), ("dose_amount", "-1")]),
            errors: vec![("dose_amount", "Must be more than 0.".into())],
        };
        let html = editor_html(
            patient,
            "PD-1",
            "tok",
            &CarePlan::default(),
            false,
            Some(&refused),
            "",
        );
        assert!(html.contains(r#"id="medications-new-dose_amount-error""#));
        assert!(html.contains(r#"aria-describedby="medications-new-dose_amount-error""#));
        assert!(html.contains("&#60;b&#62;x&#60;/b&#62;"));
        assert!(!html.contains("<b>x</b>"));
        assert!(html.contains(r##"href="#medications-new-dose_amount""##));
    }
}
