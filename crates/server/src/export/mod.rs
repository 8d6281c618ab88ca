//! Exports of one patient's diary: CSV per entry kind, and a FHIR R4 `Bundle` (type
//! `collection`) with the Patient, pain and PEG Observations, exercise Observations,
//! one MedicationAdministration per logged dose, and per questionnaire response a
//! `QuestionnaireResponse` plus (when scored) an Observation of its total with the
//! instrument's LOINC code (PHQ-9 44261-6, GAD-7 70274-6) derived from it. Reads the projection tables; deleted
//! entries are left out. CSV keeps invalid entries (with `valid = false`, it is the
//! patient's copy of what they wrote); FHIR carries valid entries only.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::entity::{
    exercise_sessions, medication_intakes, pain_entries, patients, peg_checkins,
    questionnaire_responses, wellbeing_entries,
};

/// LOINC: pain severity 0-10 verbal numeric rating, reported.
pub const LOINC_PAIN: &str = "72514-3";
/// LOINC: PEG 3-item pain scale panel.
pub const LOINC_PEG: &str = "91148-7";
/// LOINC: exercise duration.
pub const LOINC_EXERCISE_DURATION: &str = "55411-3";
const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

/// One CSV file's entry kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// Pain entries.
    Pain,
    /// Medication intakes.
    Medications,
    /// Exercise sessions.
    Exercise,
    /// Wellbeing entries.
    Wellbeing,
    /// Weekly PEG check-ins.
    Checkins,
    /// Questionnaire responses with their scores.
    Questionnaires,
}

impl ExportKind {
    /// Every kind, in the order the dashboard lists them.
    pub const ALL: [ExportKind; 6] = [
        ExportKind::Pain,
        ExportKind::Medications,
        ExportKind::Exercise,
        ExportKind::Wellbeing,
        ExportKind::Checkins,
        ExportKind::Questionnaires,
    ];

    /// The file stem.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportKind::Pain => "pain",
            ExportKind::Medications => "medications",
            ExportKind::Exercise => "exercise",
            ExportKind::Wellbeing => "wellbeing",
            ExportKind::Checkins => "checkins",
            ExportKind::Questionnaires => "questionnaires",
        }
    }

    /// Parses a file stem.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One CSV cell. Text is always quoted; text a spreadsheet would run as a formula gets a
/// leading apostrophe (CSV injection).
fn text(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

fn opt_text(s: Option<&str>) -> String {
    s.map(text).unwrap_or_default()
}

fn num(v: f64) -> String {
    v.to_string()
}

fn opt_num(v: Option<f64>) -> String {
    v.map(num).unwrap_or_default()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn push_row(out: &mut String, cells: &[String]) {
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

/// The CSV of one kind of `patient`'s live entries, oldest first (RFC 4180, CRLF).
pub async fn csv(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    kind: ExportKind,
) -> Result<String, DbErr> {
    let mut out = String::new();
    const COMMON: &str = "entry_id,recorded_at,time_zone,local_date,valid,late";
    macro_rules! rows {
        ($m:ident) => {
            $m::Entity::find()
                .filter($m::Column::PatientId.eq(patient))
                .filter($m::Column::Deleted.eq(false))
                .order_by_asc($m::Column::RecordedAt)
                .order_by_asc($m::Column::EntryId)
                .all(conn)
                .await?
        };
    }
    macro_rules! common {
        ($r:expr) => {
            vec![
                $r.entry_id.to_string(),
                ts($r.recorded_at),
                text(&$r.tz),
                $r.local_date.to_string(),
                $r.valid.to_string(),
                $r.late.to_string(),
            ]
        };
    }
    match kind {
        ExportKind::Pain => {
            out.push_str(COMMON);
            out.push_str(",score,worst,least,locations,qualities,location_note,note\r\n");
            for r in rows!(pain_entries) {
                let mut c = common!(r);
                c.extend([
                    num(r.score),
                    opt_num(r.worst),
                    opt_num(r.least),
                    text(&r.locations),
                    text(&r.qualities),
                    opt_text(r.location_note.as_deref()),
                    opt_text(r.note.as_deref()),
                ]);
                push_row(&mut out, &c);
            }
        }
        ExportKind::Medications => {
            out.push_str(COMMON);
            out.push_str(",drug,rxnorm,amount,unit,route,status,prn,prn_reason,note\r\n");
            for r in rows!(medication_intakes) {
                let mut c = common!(r);
                c.extend([
                    text(&r.drug),
                    opt_text(r.rxnorm.as_deref()),
                    num(r.amount),
                    text(&r.unit),
                    opt_text(r.route.as_deref()),
                    text(&r.status),
                    r.prn.to_string(),
                    opt_text(r.prn_reason.as_deref()),
                    opt_text(r.note.as_deref()),
                ]);
                push_row(&mut out, &c);
            }
        }
        ExportKind::Exercise => {
            out.push_str(COMMON);
            out.push_str(",activity,minutes,sets,reps,exertion,note\r\n");
            for r in rows!(exercise_sessions) {
                let mut c = common!(r);
                c.extend([
                    text(&r.activity),
                    num(r.minutes),
                    opt_num(r.sets),
                    opt_num(r.reps),
                    opt_num(r.exertion),
                    opt_text(r.note.as_deref()),
                ]);
                push_row(&mut out, &c);
            }
        }
        ExportKind::Wellbeing => {
            out.push_str(COMMON);
            out.push_str(",sleep_hours,sleep_quality,mood,stress,note\r\n");
            for r in rows!(wellbeing_entries) {
                let mut c = common!(r);
                c.extend([
                    opt_num(r.sleep_hours),
                    opt_num(r.sleep_quality),
                    opt_num(r.mood),
                    opt_num(r.stress),
                    opt_text(r.note.as_deref()),
                ]);
                push_row(&mut out, &c);
            }
        }
        ExportKind::Checkins => {
            out.push_str(COMMON);
            out.push_str(",pain,enjoyment,activity,score,note\r\n");
            for r in rows!(peg_checkins) {
                let mut c = common!(r);
                c.extend([
                    num(r.pain),
                    num(r.enjoyment),
                    num(r.activity),
                    num(r.score),
                    opt_text(r.note.as_deref()),
                ]);
                push_row(&mut out, &c);
            }
        }
        ExportKind::Questionnaires => {
            out.push_str(COMMON);
            out.push_str(
                ",instrument,version,answers,answered,total,prorated,band,safety_item_positive,note\r\n",
            );
            for r in rows!(questionnaire_responses) {
                let mut c = common!(r);
                c.extend([
                    text(&r.instrument),
                    text(&r.version),
                    text(&r.answers),
                    r.answered.to_string(),
                    opt_num(r.total),
                    r.prorated.to_string(),
                    opt_text(r.band.as_deref()),
                    r.safety_positive.to_string(),
                    opt_text(r.note.as_deref()),
                ]);
                push_row(&mut out, &c);
            }
        }
    }
    Ok(out)
}

fn loinc(code: &str, display: &str) -> Value {
    json!({ "coding": [{ "system": LOINC, "code": code, "display": display }], "text": display })
}

fn score(v: f64) -> Value {
    json!({ "value": v, "unit": "{score}", "system": UCUM, "code": "{score}" })
}

/// A UUID derived from `id` and `purpose` (SHA-256, shaped as a v4 UUID), for resources
/// made from an entry besides the entry's own.
fn derived_id(id: Uuid, purpose: &str) -> Uuid {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(id.as_bytes());
    hash.update(purpose.as_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn entry(id: Uuid, resource: Value) -> Value {
    json!({ "fullUrl": format!("urn:uuid:{id}"), "resource": resource })
}

fn survey() -> Value {
    json!([{ "coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "survey", "display": "Survey"
    }] }])
}

/// The FHIR R4 Bundle (type `collection`) of `patient`'s valid, live entries.
pub async fn fhir_bundle(
    conn: &impl ConnectionTrait,
    patient: &patients::Model,
    now: DateTime<Utc>,
) -> Result<Value, DbErr> {
    let pid = patient.id;
    let subject = json!({ "reference": format!("urn:uuid:{pid}") });
    let mut entries = vec![entry(
        pid,
        json!({
            "resourceType": "Patient",
            "id": pid.to_string(),
            "identifier": [{ "system": "urn:paindiary:display-code", "value": patient.display_code }],
        }),
    )];
    macro_rules! valid_rows {
        ($m:ident) => {
            $m::Entity::find()
                .filter($m::Column::PatientId.eq(pid))
                .filter($m::Column::Deleted.eq(false))
                .filter($m::Column::Valid.eq(true))
                .order_by_asc($m::Column::RecordedAt)
                .order_by_asc($m::Column::EntryId)
                .all(conn)
                .await?
        };
    }
    for r in valid_rows!(pain_entries) {
        entries.push(entry(
            r.entry_id,
            json!({
                "resourceType": "Observation",
                "id": r.entry_id.to_string(),
                "status": "final",
                "category": survey(),
                "code": loinc(LOINC_PAIN, "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
                "subject": subject,
                "effectiveDateTime": ts(r.recorded_at),
                "valueQuantity": score(r.score),
            }),
        ));
    }
    for r in valid_rows!(peg_checkins) {
        let item =
            |name: &str, v: f64| json!({ "code": { "text": name }, "valueQuantity": score(v) });
        entries.push(entry(
            r.entry_id,
            json!({
                "resourceType": "Observation",
                "id": r.entry_id.to_string(),
                "status": "final",
                "category": survey(),
                "code": loinc(LOINC_PEG, "Pain, Enjoyment of life and General activity (PEG) panel"),
                "subject": subject,
                "effectiveDateTime": ts(r.recorded_at),
                "valueQuantity": score(r.score),
                "component": [
                    item("Pain on average in the past week", r.pain),
                    item("Pain interference with enjoyment of life", r.enjoyment),
                    item("Pain interference with general activity", r.activity),
                ],
            }),
        ));
    }
    for r in valid_rows!(questionnaire_responses) {
        let Some(def) = paindiary_sync::questionnaire::built_in(&r.instrument, &r.version) else {
            continue;
        };
        let answers: std::collections::BTreeMap<String, f64> =
            serde_json::from_str(&r.answers).unwrap_or_default();
        // Items in the form's order, each with its LOINC code when it has one.
        let items: Vec<Value> = def
            .items
            .iter()
            .filter_map(|item| {
                let v = answers.get(item.link_id)?;
                let mut out = json!({
                    "linkId": item.link_id,
                    "text": item.text,
                    "answer": [{ "valueInteger": *v as i64 }],
                });
                if let Some(code) = item.loinc {
                    out["definition"] = json!(format!("http://loinc.org/{code}"));
                }
                Some(out)
            })
            .collect();
        let response_id = r.entry_id;
        entries.push(entry(
            response_id,
            json!({
                "resourceType": "QuestionnaireResponse",
                "id": response_id.to_string(),
                "questionnaire": format!("urn:paindiary:questionnaire:{}|{}", def.id, def.version),
                "status": "completed",
                "subject": subject,
                "authored": ts(r.recorded_at),
                "item": items,
            }),
        ));
        if let (Some(total), Some(code)) = (r.total, def.total_loinc) {
            // A derived id: the same response exports the same Observation every time.
            let obs_id = derived_id(response_id, "total");
            let mut obs = json!({
                "resourceType": "Observation",
                "id": obs_id.to_string(),
                "status": "final",
                "category": survey(),
                "code": loinc(code, &format!("{} total score", def.name)),
                "subject": subject,
                "effectiveDateTime": ts(r.recorded_at),
                "valueQuantity": score(total),
                "derivedFrom": [{ "reference": format!("urn:uuid:{response_id}") }],
            });
            if let Some(band) = &r.band {
                obs["interpretation"] = json!([{ "text": band.replace('_', " ") }]);
            }
            entries.push(entry(obs_id, obs));
        }
    }
    for r in valid_rows!(exercise_sessions) {
        entries.push(entry(
            r.entry_id,
            json!({
                "resourceType": "Observation",
                "id": r.entry_id.to_string(),
                "status": "final",
                "category": [{ "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "activity", "display": "Activity"
                }] }],
                "code": loinc(LOINC_EXERCISE_DURATION, "Exercise duration"),
                "subject": subject,
                "effectiveDateTime": ts(r.recorded_at),
                "valueQuantity": { "value": r.minutes, "unit": "min", "system": UCUM, "code": "min" },
                "method": { "text": r.activity },
            }),
        ));
    }
    for r in valid_rows!(medication_intakes) {
        let mut medication = json!({ "text": r.drug });
        if let Some(rx) = &r.rxnorm {
            medication["coding"] = json!([{ "system": RXNORM, "code": rx }]);
        }
        let mut dosage = json!({ "dose": { "value": r.amount, "unit": r.unit } });
        if let Some(route) = &r.route {
            dosage["route"] = json!({ "text": route });
        }
        let taken = r.status == "taken";
        let mut resource = json!({
            "resourceType": "MedicationAdministration",
            "id": r.entry_id.to_string(),
            "status": if taken { "completed" } else { "not-done" },
            "medicationCodeableConcept": medication,
            "subject": subject,
            "effectiveDateTime": ts(r.recorded_at),
            "dosage": dosage,
        });
        if r.prn {
            resource["reasonCode"] =
                json!([{ "text": r.prn_reason.as_deref().unwrap_or("as needed") }]);
        }
        entries.push(entry(r.entry_id, resource));
    }
    Ok(json!({
        "resourceType": "Bundle",
        "id": Uuid::new_v4().to_string(),
        "type": "collection",
        "timestamp": ts(now),
        "entry": entries,
    }))
}
