//! Keeps the published schema description (docs/schema.md, docs/schema.d.ts) in step with
//! the code: the worked ID example is recomputed here, and every vocabulary code and every
//! field name the code knows must be declared, in the right interface, with nothing extra.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use automerge::ActorId;
use paindiary_sync::ids::{DocumentId, Month, PatientId};
use paindiary_sync::schema::care_plan::{Section, THRESHOLD_KEYS};
use paindiary_sync::schema::document::{CARE_PLAN_MAPS, GENESIS_ACTOR, INDEX_MAPS};
use paindiary_sync::schema::month::fields_of;
use paindiary_sync::schema::vocab::{
    BodyRegion, DoseUnit, IntakeStatus, InterventionKind, PainQuality, Route,
};
use paindiary_sync::schema::{DocKind, EntryKind};
use sha2::{Digest, Sha256};

const SCHEMA_MD: &str = include_str!("../../../docs/schema.md");
const SCHEMA_DTS: &str = include_str!("../../../docs/schema.d.ts");

const EXAMPLE_PATIENT: &str = "0190f5a4-7c1e-7000-8000-000000000001";

fn example_patient() -> PatientId {
    EXAMPLE_PATIENT.parse().unwrap()
}

fn example_month() -> DocKind {
    DocKind::DiaryMonth {
        patient: example_patient(),
        month: "2026-11".parse::<Month>().unwrap(),
    }
}

// ---------------------------------------------------------------------------------------
// docs/schema.md

#[test]
fn worked_id_example_in_schema_md_is_what_the_code_computes() {
    // The byte recipe exactly as the document spells it out.
    let mut input = Vec::new();
    input.extend_from_slice(b"paindiary/diary-month/v1");
    input.push(0);
    input.extend_from_slice(example_patient().as_uuid().as_bytes());
    input.push(0);
    input.extend_from_slice(b"2026-11");
    let digest = Sha256::digest(&input);
    let first16: [u8; 16] = digest[..16].try_into().unwrap();
    let by_recipe = DocumentId::from_bytes(first16);
    let id = example_month().document_id();
    assert_eq!(
        by_recipe, id,
        "the recipe in schema.md is not what the code does"
    );

    let hash_hex = hex::encode(first16);
    let text = id.to_string();
    for needle in [
        hex::encode(&input),
        hash_hex,
        text.clone(),
        format!("automerge:{text}"),
    ] {
        assert!(
            SCHEMA_MD.contains(&needle),
            "docs/schema.md must show {needle}"
        );
    }

    // The care-plan and index IDs of the same patient.
    for kind in [
        DocKind::CarePlan {
            patient: example_patient(),
        },
        DocKind::Index {
            patient: example_patient(),
        },
    ] {
        let shown = kind.document_id().to_string();
        assert!(
            SCHEMA_MD.contains(&shown),
            "docs/schema.md must show {shown}"
        );
    }
}

#[test]
fn genesis_facts_in_schema_md_are_what_the_code_produces() {
    let kind = example_month();
    let mut doc = kind.create(ActorId::random()).unwrap();
    let heads = doc.get_heads();
    assert_eq!(heads.len(), 1);
    let genesis_hash = heads[0].to_string();
    let genesis = kind.genesis();
    assert!(
        SCHEMA_MD.contains(&genesis_hash),
        "docs/schema.md must show the example genesis change hash {genesis_hash}"
    );
    assert!(SCHEMA_MD.contains(&hex::encode(GENESIS_ACTOR)));
    assert!(
        SCHEMA_MD.contains(&hex::encode(&genesis)),
        "docs/schema.md must show the example genesis bytes ({} bytes): {}",
        genesis.len(),
        hex::encode(&genesis)
    );
}

#[test]
fn schema_md_lists_every_vocabulary_code() {
    for code in all_codes() {
        assert!(
            SCHEMA_MD.contains(&format!("`{code}`")),
            "docs/schema.md does not list `{code}`"
        );
    }
}

#[test]
fn schema_md_names_every_field() {
    for kind in EntryKind::ALL {
        for field in fields_of(kind) {
            assert!(
                SCHEMA_MD.contains(&format!("`{field}`")),
                "docs/schema.md does not describe `{field}` of {kind}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// docs/schema.d.ts

fn all_codes() -> Vec<&'static str> {
    let mut codes = Vec::new();
    codes.extend(BodyRegion::ALL.iter().map(|c| c.as_str()));
    codes.extend(PainQuality::ALL.iter().map(|c| c.as_str()));
    codes.extend(DoseUnit::ALL.iter().map(|c| c.as_str()));
    codes.extend(Route::ALL.iter().map(|c| c.as_str()));
    codes.extend(IntakeStatus::ALL.iter().map(|c| c.as_str()));
    codes.extend(InterventionKind::ALL.iter().map(|c| c.as_str()));
    codes
}

/// The string literals of `export type <name> = ...;`.
fn union_members(name: &str) -> BTreeSet<String> {
    let start = SCHEMA_DTS
        .find(&format!("export type {name} ="))
        .unwrap_or_else(|| panic!("schema.d.ts has no type {name}"));
    let body = &SCHEMA_DTS[start..];
    let body = &body[..body.find(';').unwrap()];
    body.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The top-level field names of `export interface <name> ... { ... }`: lines indented by
/// exactly two spaces, `name: type;` or `name?: type;`.
fn interface_fields(name: &str) -> BTreeSet<String> {
    let header = format!("export interface {name} ");
    let start = SCHEMA_DTS
        .find(&header)
        .unwrap_or_else(|| panic!("schema.d.ts has no interface {name}"));
    let body = &SCHEMA_DTS[start..];
    let end = body.find("\n}").unwrap();
    body[..end]
        .lines()
        .skip(1)
        .filter_map(|line| {
            let rest = line.strip_prefix("  ")?;
            if rest.starts_with(' ') || rest.starts_with('/') || rest.starts_with('*') {
                return None;
            }
            let colon = rest.find(':')?;
            Some(rest[..colon].trim_end_matches('?').to_owned())
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn schema_dts_vocabularies_match_the_code_exactly() {
    let cases: [(&str, Vec<&str>); 6] = [
        (
            "BodyRegion",
            BodyRegion::ALL.iter().map(|c| c.as_str()).collect(),
        ),
        (
            "PainQuality",
            PainQuality::ALL.iter().map(|c| c.as_str()).collect(),
        ),
        (
            "DoseUnit",
            DoseUnit::ALL.iter().map(|c| c.as_str()).collect(),
        ),
        ("Route", Route::ALL.iter().map(|c| c.as_str()).collect()),
        (
            "IntakeStatus",
            IntakeStatus::ALL.iter().map(|c| c.as_str()).collect(),
        ),
        (
            "InterventionKind",
            InterventionKind::ALL.iter().map(|c| c.as_str()).collect(),
        ),
    ];
    for (name, codes) in cases {
        assert_eq!(union_members(name), set(&codes), "type {name}");
    }
    // And, more bluntly, every code appears quoted somewhere.
    for code in all_codes() {
        assert!(SCHEMA_DTS.contains(&format!("\"{code}\"")), "{code}");
    }
}

#[test]
fn schema_dts_entry_interfaces_match_the_code_exactly() {
    assert_eq!(
        interface_fields("EntryBase"),
        set(&["recorded_at", "tz", "deleted_at", "updated_at"])
    );
    for (kind, interface) in [
        (EntryKind::Pain, "PainEntry"),
        (EntryKind::Medication, "MedicationIntake"),
        (EntryKind::Exercise, "ExerciseSession"),
        (EntryKind::Wellbeing, "WellbeingEntry"),
        (EntryKind::Checkin, "PegCheckin"),
        (EntryKind::Questionnaire, "QuestionnaireResponse"),
    ] {
        assert_eq!(
            interface_fields(interface),
            set(fields_of(kind)),
            "interface {interface}"
        );
        assert!(SCHEMA_DTS.contains(&format!("export interface {interface} extends EntryBase")));
    }
    let mut month = set(&["schema", "patient", "month"]);
    month.extend(EntryKind::ALL.iter().map(|k| k.map_key().to_owned()));
    assert_eq!(interface_fields("DiaryMonthDoc"), month);
}

#[test]
fn schema_dts_care_plan_and_index_match_the_code_exactly() {
    for (section, interface) in [
        (Section::Medications, "PrescribedMedication"),
        (Section::Exercises, "PrescribedExercise"),
        (Section::Interventions, "Intervention"),
        (Section::Goals, "Goal"),
        (Section::Questionnaires, "AssignedQuestionnaire"),
    ] {
        assert_eq!(
            interface_fields(interface),
            set(section.fields()),
            "{interface}"
        );
    }
    assert_eq!(
        interface_fields("CarePlanItemBase"),
        set(&["deleted_at", "updated_at"])
    );
    assert_eq!(interface_fields("ThresholdOverrides"), set(&THRESHOLD_KEYS));
    let mut plan = set(&["schema", "patient"]);
    plan.extend(set(&CARE_PLAN_MAPS));
    // Sections added after v1's genesis: created by their first item.
    plan.insert(Section::Questionnaires.map_key().to_owned());
    assert_eq!(interface_fields("CarePlanDoc"), plan);
    let mut index = set(&["schema", "patient", "care_plan"]);
    index.extend(set(&INDEX_MAPS));
    assert_eq!(interface_fields("IndexDoc"), index);
    for tag in [
        "paindiary/diary-month/v1",
        "paindiary/care-plan/v1",
        "paindiary/index/v1",
    ] {
        assert!(SCHEMA_DTS.contains(&format!("schema: \"{tag}\";")));
    }
}
