//! Helpers for the dashboard, trends and export tests: diary entries written by the phone
//! replica client, a care plan synced as the care team would, alert rows, and the FHIR R4
//! validator (Python `fhir.resources`, installed by `scripts/test`).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use paindiary_server::domain::{ClinicId, PatientId};
use paindiary_server::entity::alerts;
use paindiary_sync::ids::PatientId as DocPatientId;
use paindiary_sync::replica::{Durability, Replica, ServerEndpoint};
use paindiary_sync::schema::care_plan::{Section, put_item};
use paindiary_sync::schema::month::FieldValue;
use paindiary_sync::schema::{
    Entry, EntryMeta, ExerciseSession, MedicationIntake, PainEntry, PegCheckin, WellbeingEntry,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::Value;

use paindiary_server::clock::Clock;

use crate::TestApp;

/// An instant from RFC 3339.
pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("RFC 3339 instant")
}

/// The sync endpoint of `app` for `token`.
pub fn endpoint(app: &TestApp, token: &str) -> ServerEndpoint {
    ServerEndpoint {
        url: format!("{}/sync", app.base_url.replace("http://", "ws://")),
        token: Some(token.to_owned()),
    }
}

/// A phone replica of `patient` stored under `dir`.
pub fn phone(dir: &Path, patient: PatientId) -> Replica {
    Replica::open(
        dir.join(format!("phone-{patient}")),
        DocPatientId::from_uuid(patient.uuid()),
        Durability::Buffered,
    )
    .expect("open replica")
}

fn meta(recorded_at: DateTime<Utc>, tz: &str) -> EntryMeta {
    EntryMeta {
        recorded_at,
        tz: tz.into(),
        deleted_at: None,
        updated_at: None,
    }
}

/// A pain entry.
pub fn pain(recorded_at: DateTime<Utc>, tz: &str, score: f64) -> Entry {
    Entry::Pain(PainEntry {
        meta: meta(recorded_at, tz),
        score,
        worst: None,
        least: None,
        locations: vec!["lower_back".into()],
        location_note: None,
        qualities: vec![],
        note: None,
    })
}

/// An oral dose in mg, Berlin time.
pub fn intake(recorded_at: DateTime<Utc>, drug: &str, mg: f64, status: &str) -> Entry {
    Entry::Medication(MedicationIntake {
        meta: meta(recorded_at, "Europe/Berlin"),
        drug: drug.into(),
        rxnorm: None,
        amount: mg,
        unit: "mg".into(),
        route: Some("oral".into()),
        status: status.into(),
        prn: false,
        prn_reason: None,
        note: None,
    })
}

/// An exercise session, Berlin time.
pub fn exercise(recorded_at: DateTime<Utc>, activity: &str, minutes: f64) -> Entry {
    Entry::Exercise(ExerciseSession {
        meta: meta(recorded_at, "Europe/Berlin"),
        activity: activity.into(),
        minutes,
        sets: None,
        reps: None,
        exertion: None,
        note: None,
    })
}

/// A wellbeing entry, Berlin time.
pub fn wellbeing(recorded_at: DateTime<Utc>, sleep: f64, mood: f64, stress: f64) -> Entry {
    Entry::Wellbeing(WellbeingEntry {
        meta: meta(recorded_at, "Europe/Berlin"),
        sleep_hours: Some(sleep),
        sleep_quality: None,
        mood: Some(mood),
        stress: Some(stress),
        note: None,
    })
}

/// A PEG check-in, Berlin time.
pub fn peg(recorded_at: DateTime<Utc>, p: f64, e: f64, g: f64) -> Entry {
    Entry::Checkin(PegCheckin {
        meta: meta(recorded_at, "Europe/Berlin"),
        pain: p,
        enjoyment: e,
        activity: g,
        note: None,
    })
}

/// One care-plan item for [`write_care_plan`].
pub enum CarePlanItem {
    /// A scheduled medication.
    Medication {
        /// Drug.
        drug: &'static str,
        /// Scheduled intakes per day.
        times_per_day: f64,
        /// First day (YYYY-MM-DD).
        start: &'static str,
    },
    /// A prescribed exercise.
    Exercise {
        /// Activity.
        activity: &'static str,
        /// Minutes per session.
        minutes: f64,
        /// Sessions per week.
        per_week: f64,
    },
    /// A scheduled medication that was stopped.
    StoppedMedication {
        /// Drug.
        drug: &'static str,
        /// Scheduled intakes per day.
        times_per_day: f64,
        /// First day (YYYY-MM-DD).
        start: String,
        /// Last day (YYYY-MM-DD).
        end: String,
    },
    /// An intervention performed.
    Intervention {
        /// Kind code.
        kind: &'static str,
        /// Day (YYYY-MM-DD).
        date: &'static str,
    },
}

/// A care-team member (holding `clinician_token`) adds `items` to `patient`'s care plan
/// over the sync endpoint (see [`TestApp::sync_care_plan`]); item keys are `item-<n>`
/// with `n` counted from `first_key`.
pub async fn write_care_plan(
    app: &TestApp,
    clinician_token: &str,
    patient: PatientId,
    first_key: usize,
    items: &[CarePlanItem],
) {
    let now = app.clock.now();
    app.sync_care_plan(clinician_token, patient, |doc| {
        for (n, item) in items.iter().enumerate() {
            let id = format!("item-{}", first_key + n);
            let (section, fields) = match item {
                CarePlanItem::Medication {
                    drug,
                    times_per_day,
                    start,
                } => (
                    Section::Medications,
                    vec![
                        ("drug", FieldValue::Text((*drug).into())),
                        ("times_per_day", FieldValue::Float(*times_per_day)),
                        ("start_date", FieldValue::Text((*start).into())),
                        ("opioid", FieldValue::Bool(true)),
                        ("prn", FieldValue::Bool(false)),
                    ],
                ),
                CarePlanItem::StoppedMedication {
                    drug,
                    times_per_day,
                    start,
                    end,
                } => (
                    Section::Medications,
                    vec![
                        ("drug", FieldValue::Text((*drug).into())),
                        ("times_per_day", FieldValue::Float(*times_per_day)),
                        ("start_date", FieldValue::Text(start.clone())),
                        ("end_date", FieldValue::Text(end.clone())),
                        ("prn", FieldValue::Bool(false)),
                    ],
                ),
                CarePlanItem::Exercise {
                    activity,
                    minutes,
                    per_week,
                } => (
                    Section::Exercises,
                    vec![
                        ("activity", FieldValue::Text((*activity).into())),
                        ("minutes_per_session", FieldValue::Float(*minutes)),
                        ("sessions_per_week", FieldValue::Float(*per_week)),
                    ],
                ),
                CarePlanItem::Intervention { kind, date } => (
                    Section::Interventions,
                    vec![
                        ("kind", FieldValue::Text((*kind).into())),
                        ("date", FieldValue::Text((*date).into())),
                    ],
                ),
            };
            put_item(doc, section, &id, &fields, now).expect("care plan item");
        }
    })
    .await;
}

/// Inserts an open alert row (as the alert rules would).
pub async fn insert_alert(
    app: &TestApp,
    patient: PatientId,
    clinic: ClinicId,
    rule: &str,
    severity: &str,
) -> uuid::Uuid {
    let now = app.clock.now();
    let id = uuid::Uuid::now_v7();
    alerts::ActiveModel {
        id: Set(id),
        patient_id: Set(patient.uuid()),
        clinic_id: Set(clinic.uuid()),
        rule: Set(rule.into()),
        severity: Set(severity.into()),
        status: Set("open".into()),
        open_slot: Set(Some(format!("{patient}:{rule}"))),
        opened_at: Set(now),
        last_triggered_at: Set(now),
        trigger_count: Set(1),
        local_day: Set(now.date_naive()),
        reported_late: Set(false),
        explanation: Set("Daily maximum 8 or more on 2 consecutive days".into()),
        evidence: Set("{}".into()),
        acknowledged_by: Set(None),
        acknowledged_at: Set(None),
        resolved_by: Set(None),
        resolved_at: Set(None),
        resolution_note: Set(None),
        last_notified_at: Set(None),
        // Timers running, as for a real open alert: acknowledging must stop them.
        next_repeat_at: Set(Some(now + chrono::Duration::hours(24))),
        escalate_at: Set(Some(now + chrono::Duration::hours(4))),
        escalated_at: Set(None),
        ..Default::default()
    }
    .insert(&app.state.db)
    .await
    .expect("insert alert");
    id
}

/// The Python interpreter of the venv `scripts/test` creates with `fhir.resources`.
pub fn fhir_python() -> PathBuf {
    if let Ok(p) = std::env::var("PAINDIARY_TEST_FHIR_PYTHON") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("fhir-venv/bin/python")
}

/// Validates `bundle` as FHIR R4 with `fhir.resources`; returns the values it read back.
pub fn validate_fhir_r4(bundle: &Value) -> Value {
    use std::io::Write;
    let python = fhir_python();
    assert!(
        python.exists(),
        "{} is missing: run scripts/test (it creates the venv with fhir.resources==6.1.0, pydantic 1.10) or set PAINDIARY_TEST_FHIR_PYTHON",
        python.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fhir/validate_r4.py");
    let mut child = std::process::Command::new(&python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the FHIR validator");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bundle.to_string().as_bytes())
        .expect("write bundle");
    let out = child.wait_with_output().expect("validator output");
    assert!(
        out.status.success(),
        "FHIR R4 validation failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("validator summary")
}

/// What the alert rules record about an alert beyond [`insert_alert`]'s row: the
/// figures the triage order and the pages read.
pub struct AlertFigures {
    /// Size of the change.
    pub magnitude: f64,
    /// The figure now (e.g. recent mean pain).
    pub current: f64,
    /// The patient's usual level.
    pub usual: f64,
    /// Day-to-day spread around it.
    pub spread: f64,
    /// First trigger day.
    pub first_day: chrono::NaiveDate,
    /// Cleared since this day, if cleared.
    pub cleared_since: Option<chrono::NaiveDate>,
    /// Late data behind it.
    pub late: bool,
}

/// Inserts an open alert (see [`insert_alert`]) carrying `figures`; when the rules have
/// already opened one for that patient and rule (the diary synced before triggers
/// them), that alert is given `figures` instead, so the test knows what it shows.
pub async fn insert_alert_with(
    app: &TestApp,
    patient: PatientId,
    clinic: ClinicId,
    rule: &str,
    severity: &str,
    figures: AlertFigures,
) -> uuid::Uuid {
    let existing = alerts::Entity::find()
        .filter(alerts::Column::OpenSlot.eq(format!("{patient}:{rule}")))
        .one(&app.state.db)
        .await
        .expect("find alert");
    let id = match existing {
        Some(a) => a.id,
        None => insert_alert(app, patient, clinic, rule, severity).await,
    };
    alerts::ActiveModel {
        id: Set(id),
        severity: Set(severity.into()),
        magnitude: Set(Some(figures.magnitude)),
        current_value: Set(Some(figures.current)),
        usual_value: Set(Some(figures.usual)),
        usual_spread: Set(Some(figures.spread)),
        local_day: Set(figures.first_day),
        latest_day: Set(Some(figures.first_day)),
        cleared_since: Set(figures.cleared_since),
        reported_late: Set(figures.late),
        explanation: Set(format!(
            "Mean pain {:.1} over the last days against a usual {:.1}",
            figures.current, figures.usual
        )),
        evidence: Set(format!(
            r#"{{"recent_mean":{},"baseline_mean":{}}}"#,
            figures.current, figures.usual
        )),
        ..Default::default()
    }
    .update(&app.state.db)
    .await
    .expect("alert figures");
    id
}

/// Where the browser test saves its screenshots: `target/screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map_or_else(
            |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
            PathBuf::from,
        )
        .join("screenshots")
}
