//! The care-plan document, written by the care team and read-only on the patient's
//! devices: prescribed medications, prescribed exercises, interventions performed, alert
//! threshold overrides, goals and assigned questionnaires.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, Value};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::month::{FieldValue, put_field};
use super::read::{self, FieldError};

/// A section (root map) of the care plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Prescribed medications.
    Medications,
    /// Prescribed exercises.
    Exercises,
    /// Interventions performed.
    Interventions,
    /// Goals agreed with the patient.
    Goals,
    /// Questionnaires assigned on a schedule (what the phone shows as due).
    Questionnaires,
}

impl Section {
    /// The root key of the section's map.
    pub const fn map_key(self) -> &'static str {
        match self {
            Section::Medications => "medications",
            Section::Exercises => "exercises",
            Section::Interventions => "interventions",
            Section::Goals => "goals",
            Section::Questionnaires => "questionnaires",
        }
    }

    /// The fields an item of this section may have (besides `deleted_at`, `updated_at`).
    pub const fn fields(self) -> &'static [&'static str] {
        match self {
            Section::Medications => &[
                "drug",
                "rxnorm",
                "dose_amount",
                "dose_unit",
                "route",
                "schedule",
                "times_per_day",
                "prn",
                "prn_max_per_day",
                "opioid",
                "start_date",
                "end_date",
                "note",
            ],
            Section::Exercises => &[
                "activity",
                "minutes_per_session",
                "sessions_per_week",
                "note",
            ],
            Section::Interventions => &["kind", "date", "region", "note"],
            Section::Goals => &["text", "target_date", "achieved"],
            Section::Questionnaires => &["instrument", "every_days", "start_date", "end_date"],
        }
    }
}

/// A prescribed medication.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrescribedMedication {
    /// Item key.
    pub id: String,
    /// Drug name.
    pub drug: String,
    /// RxNorm concept ID.
    pub rxnorm: Option<String>,
    /// Dose per intake.
    pub dose_amount: Option<f64>,
    /// Unit code of the dose ([`super::vocab::DoseUnit`]).
    pub dose_unit: Option<String>,
    /// Route code ([`super::vocab::Route`]).
    pub route: Option<String>,
    /// The schedule in words ("every 8 hours with food").
    pub schedule: Option<String>,
    /// Scheduled intakes per day (for adherence); none for PRN-only drugs.
    pub times_per_day: Option<f64>,
    /// May be taken as needed.
    pub prn: bool,
    /// The most as-needed intakes allowed per day.
    pub prn_max_per_day: Option<f64>,
    /// An opioid (counted in morphine milligram equivalents).
    pub opioid: bool,
    /// First day of the prescription (`YYYY-MM-DD`).
    pub start_date: Option<NaiveDate>,
    /// Last day, when stopped.
    pub end_date: Option<NaiveDate>,
    /// Note for the patient.
    pub note: Option<String>,
}

/// A prescribed exercise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrescribedExercise {
    /// Item key.
    pub id: String,
    /// What to do.
    pub activity: String,
    /// Minutes per session.
    pub minutes_per_session: Option<f64>,
    /// Sessions per week.
    pub sessions_per_week: Option<f64>,
    /// Note for the patient.
    pub note: Option<String>,
}

/// An intervention performed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Intervention {
    /// Item key.
    pub id: String,
    /// Kind code ([`super::vocab::InterventionKind`]).
    pub kind: String,
    /// The day it was performed.
    pub date: NaiveDate,
    /// Where (e.g. "L4-L5 left").
    pub region: Option<String>,
    /// Clinical note.
    pub note: Option<String>,
}

/// A goal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Goal {
    /// Item key.
    pub id: String,
    /// The goal in words ("walk 30 minutes without stopping").
    pub text: String,
    /// When it should be reached.
    pub target_date: Option<NaiveDate>,
    /// Whether it has been reached.
    pub achieved: bool,
}

/// Per-patient alert threshold overrides; `None` keeps the clinic's value.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ThresholdOverrides {
    /// Worsening: points above baseline.
    pub worsening_points: Option<f64>,
    /// Worsening: percent above baseline.
    pub worsening_percent: Option<f64>,
    /// Severe: daily maximum score.
    pub severe_score: Option<f64>,
    /// Opioid load: MME per day for an info alert.
    pub mme_info: Option<f64>,
    /// Opioid load: MME per day for a warning.
    pub mme_warning: Option<f64>,
    /// Missed logging: days without entries.
    pub missed_days: Option<f64>,
}

/// A questionnaire assigned to the patient: due once every `every_days` days from
/// `start_date` (see [`crate::questionnaire::due_on`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssignedQuestionnaire {
    /// Item key.
    pub id: String,
    /// The schedule.
    #[serde(flatten)]
    pub assignment: crate::questionnaire::Assignment,
}

/// Longest schedule period of an assigned questionnaire, in days.
pub const MAX_EVERY_DAYS: u32 = 366;

impl CarePlan {
    /// The assignments, for [`crate::questionnaire::due_on`].
    pub fn assignments(&self) -> Vec<crate::questionnaire::Assignment> {
        self.questionnaires
            .iter()
            .map(|q| q.assignment.clone())
            .collect()
    }
}

/// The keys of [`ThresholdOverrides`] in the `thresholds` map.
pub const THRESHOLD_KEYS: [&str; 6] = [
    "worsening_points",
    "worsening_percent",
    "severe_score",
    "mme_info",
    "mme_warning",
    "missed_days",
];

/// Everything readable in a care plan. Deleted items are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CarePlan {
    /// Prescribed medications.
    pub medications: Vec<PrescribedMedication>,
    /// Prescribed exercises.
    pub exercises: Vec<PrescribedExercise>,
    /// Interventions performed.
    pub interventions: Vec<Intervention>,
    /// Goals.
    pub goals: Vec<Goal>,
    /// Assigned questionnaires.
    pub questionnaires: Vec<AssignedQuestionnaire>,
    /// Threshold overrides.
    pub thresholds: ThresholdOverrides,
    /// Items that could not be read: (section, key, reason).
    pub unreadable: Vec<(Section, String, String)>,
}

fn opt_date<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    key: &'static str,
) -> Result<Option<NaiveDate>, FieldError> {
    match read::opt_string(doc, obj, key)? {
        None => Ok(None),
        Some(text) => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map(Some)
            .map_err(|_| FieldError::WrongType {
                field: key,
                expected: "a date YYYY-MM-DD",
            }),
    }
}

fn items<D: ReadDoc>(doc: &D, section: Section) -> Vec<(String, ObjId)> {
    let mut out = Vec::new();
    for (value, map) in doc.get_all(ROOT, section.map_key()).unwrap_or_default() {
        if !matches!(value, Value::Object(ObjType::Map)) {
            continue;
        }
        for item in doc.map_range(&map, ..).take(1_000) {
            if let Ok(Some((Value::Object(ObjType::Map), obj))) = doc.get(&map, item.key.as_ref()) {
                out.push((item.key.to_string(), obj));
            }
        }
    }
    out
}

/// Reads a care-plan document.
pub fn read_care_plan<D: ReadDoc>(doc: &D) -> CarePlan {
    let mut plan = CarePlan::default();
    for section in [
        Section::Medications,
        Section::Exercises,
        Section::Interventions,
        Section::Goals,
        Section::Questionnaires,
    ] {
        for (id, obj) in items(doc, section) {
            if matches!(read::opt_instant(doc, &obj, "deleted_at"), Ok(Some(_))) {
                continue;
            }
            let result: Result<(), FieldError> = (|| {
                match section {
                    Section::Medications => plan.medications.push(PrescribedMedication {
                        id: id.clone(),
                        drug: read::string(doc, &obj, "drug")?,
                        rxnorm: read::opt_string(doc, &obj, "rxnorm")?,
                        dose_amount: read::opt_number(doc, &obj, "dose_amount")?,
                        dose_unit: read::opt_string(doc, &obj, "dose_unit")?,
                        route: read::opt_string(doc, &obj, "route")?,
                        schedule: read::opt_string(doc, &obj, "schedule")?,
                        times_per_day: read::opt_number(doc, &obj, "times_per_day")?,
                        prn: read::opt_bool(doc, &obj, "prn")?.unwrap_or(false),
                        prn_max_per_day: read::opt_number(doc, &obj, "prn_max_per_day")?,
                        opioid: read::opt_bool(doc, &obj, "opioid")?.unwrap_or(false),
                        start_date: opt_date(doc, &obj, "start_date")?,
                        end_date: opt_date(doc, &obj, "end_date")?,
                        note: read::opt_string(doc, &obj, "note")?,
                    }),
                    Section::Exercises => plan.exercises.push(PrescribedExercise {
                        id: id.clone(),
                        activity: read::string(doc, &obj, "activity")?,
                        minutes_per_session: read::opt_number(doc, &obj, "minutes_per_session")?,
                        sessions_per_week: read::opt_number(doc, &obj, "sessions_per_week")?,
                        note: read::opt_string(doc, &obj, "note")?,
                    }),
                    Section::Interventions => plan.interventions.push(Intervention {
                        id: id.clone(),
                        kind: read::string(doc, &obj, "kind")?,
                        date: opt_date(doc, &obj, "date")?.ok_or(FieldError::Missing("date"))?,
                        region: read::opt_string(doc, &obj, "region")?,
                        note: read::opt_string(doc, &obj, "note")?,
                    }),
                    Section::Goals => plan.goals.push(Goal {
                        id: id.clone(),
                        text: read::string(doc, &obj, "text")?,
                        target_date: opt_date(doc, &obj, "target_date")?,
                        achieved: read::opt_bool(doc, &obj, "achieved")?.unwrap_or(false),
                    }),
                    Section::Questionnaires => {
                        let every = read::opt_number(doc, &obj, "every_days")?
                            .ok_or(FieldError::Missing("every_days"))?;
                        if every.fract() != 0.0
                            || !(1.0..=f64::from(MAX_EVERY_DAYS)).contains(&every)
                        {
                            return Err(FieldError::WrongType {
                                field: "every_days",
                                expected: "a whole number of days from 1 to 366",
                            });
                        }
                        plan.questionnaires.push(AssignedQuestionnaire {
                            id: id.clone(),
                            assignment: crate::questionnaire::Assignment {
                                instrument: read::string(doc, &obj, "instrument")?,
                                every_days: every as u32,
                                start_date: opt_date(doc, &obj, "start_date")?
                                    .ok_or(FieldError::Missing("start_date"))?,
                                end_date: opt_date(doc, &obj, "end_date")?,
                            },
                        });
                    }
                }
                Ok(())
            })();
            if let Err(e) = result {
                plan.unreadable
                    .push((section, id.chars().take(64).collect(), e.to_string()));
            }
        }
    }
    if let Ok(Some((Value::Object(ObjType::Map), t))) = doc.get(ROOT, "thresholds") {
        let num = |key| read::opt_number(doc, &t, key).ok().flatten();
        plan.thresholds = ThresholdOverrides {
            worsening_points: num("worsening_points"),
            worsening_percent: num("worsening_percent"),
            severe_score: num("severe_score"),
            mme_info: num("mme_info"),
            mme_warning: num("mme_warning"),
            missed_days: num("missed_days"),
        };
    }
    plan
}

/// Why a care-plan write was refused. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CarePlanError {
    /// The field is not part of that section's items.
    #[error("{section:?} items have no field `{field}`")]
    UnknownField {
        /// The section.
        section: Section,
        /// The field named.
        field: String,
    },
    /// The threshold key is not one the alert rules know.
    #[error("unknown threshold `{key}`; known: {known}")]
    UnknownThreshold {
        /// The key named, cut to 40 characters.
        key: String,
        /// The keys accepted, comma-separated.
        known: String,
    },
    /// The document lacks the section's map.
    #[error("the care plan has no `{0}` map")]
    MissingMap(&'static str),
    /// Automerge refused the operation.
    #[error("the document refused the write")]
    Document,
}

/// Creates or updates one item of a section, writing only the given fields, in one commit.
pub fn put_item(
    doc: &mut AutoCommit,
    section: Section,
    id: &str,
    fields: &[(&str, FieldValue)],
    now: DateTime<Utc>,
) -> Result<(), CarePlanError> {
    if let Some((field, _)) = fields.iter().find(|(f, _)| !section.fields().contains(f)) {
        return Err(CarePlanError::UnknownField {
            section,
            field: field.chars().take(40).collect(),
        });
    }
    let existing = match doc.get(ROOT, section.map_key()) {
        Ok(Some((Value::Object(ObjType::Map), map))) => Some(map),
        // `questionnaires` came after schema v1's genesis: its first item creates it (the
        // care team's writes go through the server, two replicas creating it at once make two maps, and `items` reads both).
        Ok(None) if section == Section::Questionnaires => None,
        _ => return Err(CarePlanError::MissingMap(section.map_key())),
    };
    let result = (|| {
        let map = match existing {
            Some(map) => map,
            None => doc
                .put_object(ROOT, section.map_key(), ObjType::Map)
                .map_err(|_| CarePlanError::Document)?,
        };
        let obj = match doc.get(&map, id) {
            Ok(Some((Value::Object(ObjType::Map), obj))) => obj,
            _ => doc
                .put_object(&map, id, ObjType::Map)
                .map_err(|_| CarePlanError::Document)?,
        };
        for (field, value) in fields {
            put_field(doc, &obj, field, value.clone()).map_err(|_| CarePlanError::Document)?;
        }
        // Writing an item that was deleted brings it back: the editor re-adding it means
        // it is prescribed again.
        if matches!(doc.get(&obj, "deleted_at"), Ok(Some(_))) {
            put_field(doc, &obj, "deleted_at", FieldValue::Remove)
                .map_err(|_| CarePlanError::Document)?;
        }
        put_field(doc, &obj, "updated_at", FieldValue::Instant(now))
            .map_err(|_| CarePlanError::Document)
    })();
    match result {
        Ok(()) => {
            doc.commit_with(CommitOptions::default().with_time(now.timestamp()));
            Ok(())
        }
        Err(e) => {
            doc.rollback();
            Err(e)
        }
    }
}

/// Marks an item deleted (tombstone).
pub fn delete_item(
    doc: &mut AutoCommit,
    section: Section,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(), CarePlanError> {
    let map = match doc.get(ROOT, section.map_key()) {
        Ok(Some((Value::Object(ObjType::Map), map))) => map,
        _ => return Err(CarePlanError::MissingMap(section.map_key())),
    };
    let Ok(Some((Value::Object(ObjType::Map), obj))) = doc.get(&map, id) else {
        return Ok(());
    };
    put_field(doc, &obj, "deleted_at", FieldValue::Instant(now))
        .map_err(|_| CarePlanError::Document)?;
    doc.commit_with(CommitOptions::default().with_time(now.timestamp()));
    Ok(())
}

/// Sets (or with `None` clears) one threshold override.
pub fn set_threshold(
    doc: &mut AutoCommit,
    key: &str,
    value: Option<f64>,
    now: DateTime<Utc>,
) -> Result<(), CarePlanError> {
    if !THRESHOLD_KEYS.contains(&key) {
        return Err(CarePlanError::UnknownThreshold {
            key: key.chars().take(40).collect(),
            known: THRESHOLD_KEYS.join(", "),
        });
    }
    let map = match doc.get(ROOT, "thresholds") {
        Ok(Some((Value::Object(ObjType::Map), map))) => map,
        _ => return Err(CarePlanError::MissingMap("thresholds")),
    };
    let value = value.map_or(FieldValue::Remove, FieldValue::Float);
    put_field(doc, &map, key, value).map_err(|_| CarePlanError::Document)?;
    doc.commit_with(CommitOptions::default().with_time(now.timestamp()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PatientId;
    use crate::schema::DocKind;
    use automerge::ActorId;

    #[test]
    fn care_plan_items_round_trip_and_deletions_hide_them() {
        let mut doc = DocKind::CarePlan {
            patient: PatientId::new_random(),
        }
        .create(ActorId::random())
        .unwrap();
        let now = Utc::now();
        put_item(
            &mut doc,
            Section::Medications,
            "m1",
            &[
                ("drug", FieldValue::Text("oxycodone".into())),
                ("dose_amount", FieldValue::Float(5.0)),
                ("dose_unit", FieldValue::Text("mg".into())),
                ("prn", FieldValue::Bool(true)),
                ("prn_max_per_day", FieldValue::Int(3)),
                ("opioid", FieldValue::Bool(true)),
            ],
            now,
        )
        .unwrap();
        put_item(
            &mut doc,
            Section::Interventions,
            "i1",
            &[
                (
                    "kind",
                    FieldValue::Text("epidural_steroid_injection".into()),
                ),
                ("date", FieldValue::Text("2026-11-02".into())),
            ],
            now,
        )
        .unwrap();
        set_threshold(&mut doc, "severe_score", Some(7.0), now).unwrap();
        let plan = read_care_plan(&doc);
        assert_eq!(plan.medications.len(), 1);
        assert_eq!(plan.medications[0].prn_max_per_day, Some(3.0));
        assert!(plan.medications[0].opioid);
        assert_eq!(
            plan.interventions[0].date,
            NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()
        );
        assert_eq!(plan.thresholds.severe_score, Some(7.0));
        assert!(matches!(
            put_item(
                &mut doc,
                Section::Goals,
                "g1",
                &[("colour", FieldValue::Text("red".into()))],
                now
            ),
            Err(CarePlanError::UnknownField { .. })
        ));
        delete_item(&mut doc, Section::Medications, "m1", now).unwrap();
        assert!(read_care_plan(&doc).medications.is_empty());

        // Prescribing it again brings it back with its fields.
        put_item(
            &mut doc,
            Section::Medications,
            "m1",
            &[("dose_amount", FieldValue::Float(10.0))],
            now,
        )
        .unwrap();
        let plan = read_care_plan(&doc);
        assert_eq!(plan.medications.len(), 1);
        assert_eq!(plan.medications[0].drug, "oxycodone");

        // A threshold the rules do not know names itself and the known ones.
        let err = set_threshold(&mut doc, "severity", Some(1.0), now).unwrap_err();
        assert!(matches!(err, CarePlanError::UnknownThreshold { .. }));
        assert!(err.to_string().contains("severe_score"), "{err}");
    }
}
