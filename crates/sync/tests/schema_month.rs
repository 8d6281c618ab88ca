//! Month diary documents as a user (patient, app developer, clinician) would notice them:
//! precise validation errors that leave the document untouched, lenient reading of what
//! other clients write, merging of concurrent offline edits, local days across time zones
//! and DST, and which entries a batch of received changes touched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use paindiary_sync::ids::{EntryId, Month, PatientId};
use paindiary_sync::schema::entry::UnknownTermDetail;
use paindiary_sync::schema::month::{
    FieldValue, add_entry, add_entry_unchecked, delete_entry, edit_entry, read_entries, read_entry,
    touched_entries,
};
use paindiary_sync::schema::vocab::DoseUnit;
use paindiary_sync::schema::{
    DocKind, Entry, EntryKind, EntryMeta, MedicationIntake, PainEntry, ValidationError,
    WellbeingEntry, WriteError,
};

// ---------------------------------------------------------------------------------------
// Helpers

fn patient() -> PatientId {
    "0190f5a4-7c1e-7000-8000-000000000001".parse().unwrap()
}

fn november() -> DocKind {
    DocKind::DiaryMonth {
        patient: patient(),
        month: "2026-11".parse::<Month>().unwrap(),
    }
}

/// "Now" for every test: the middle of November 2026.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 15, 12, 0, 0).unwrap()
}

fn meta_at(recorded_at: DateTime<Utc>) -> EntryMeta {
    EntryMeta {
        recorded_at,
        tz: "Europe/Berlin".to_owned(),
        deleted_at: None,
        updated_at: None,
    }
}

fn meta() -> EntryMeta {
    meta_at(now() - TimeDelta::hours(2))
}

fn pain_entry(score: f64) -> PainEntry {
    PainEntry {
        meta: meta(),
        score,
        worst: None,
        least: None,
        locations: vec!["lower_back".to_owned()],
        location_note: None,
        qualities: vec!["aching".to_owned()],
        note: None,
    }
}

fn pain(score: f64) -> Entry {
    Entry::Pain(pain_entry(score))
}

fn intake(amount: f64, unit: &str) -> Entry {
    Entry::Medication(MedicationIntake {
        meta: meta(),
        drug: "ibuprofen".to_owned(),
        rxnorm: None,
        amount,
        unit: unit.to_owned(),
        route: Some("oral".to_owned()),
        status: "taken".to_owned(),
        prn: true,
        prn_reason: Some("back pain after work".to_owned()),
        note: None,
    })
}

fn new_month() -> AutoCommit {
    november().create(ActorId::random()).unwrap()
}

fn pain_of(entry: &Entry) -> &PainEntry {
    match entry {
        Entry::Pain(p) => p,
        other => panic!("expected a pain entry, got {other:?}"),
    }
}

fn kind_map(doc: &AutoCommit, kind: EntryKind) -> ObjId {
    match doc.get(ROOT, kind.map_key()).unwrap() {
        Some((automerge::Value::Object(ObjType::Map), id)) => id,
        other => panic!("no {} map: {other:?}", kind.map_key()),
    }
}

fn put_text(doc: &mut AutoCommit, obj: &ObjId, key: &str, text: &str) {
    let t = doc.put_object(obj, key, ObjType::Text).unwrap();
    doc.splice_text(&t, 0, 0, text).unwrap();
}

/// Merges two documents both ways, as two devices that finally meet.
fn merge_both_ways(a: &mut AutoCommit, b: &mut AutoCommit) {
    a.merge(b).unwrap();
    b.merge(a).unwrap();
    assert_eq!(a.get_heads(), b.get_heads());
}

// ---------------------------------------------------------------------------------------
// Validation

/// Each case: what the patient typed, and exactly the one error they must be shown.
#[allow(clippy::vec_init_then_push)] // one case per paragraph
fn invalid_cases() -> Vec<(&'static str, Entry, ValidationError)> {
    let mut cases = Vec::new();

    cases.push((
        "NRS 12",
        pain(12.0),
        ValidationError::OutOfScale {
            field: "score",
            value: 12.0,
        },
    ));
    cases.push((
        "NRS 7.5",
        pain(7.5),
        ValidationError::NotWholeNumber {
            field: "score",
            value: 7.5,
        },
    ));
    cases.push((
        "negative dose",
        intake(-5.0, "mg"),
        ValidationError::DoseNotPositive { amount: -5.0 },
    ));
    cases.push((
        "zero dose",
        intake(0.0, "mg"),
        ValidationError::DoseNotPositive { amount: 0.0 },
    ));
    cases.push((
        "50,000 mg",
        intake(50_000.0, "mg"),
        ValidationError::DoseTooLarge {
            amount: 50_000.0,
            unit: DoseUnit::Mg,
            max: 5_000.0,
        },
    ));
    cases.push((
        "spoonful",
        intake(1.0, "spoonful"),
        ValidationError::UnknownTerm {
            field: "unit",
            term: UnknownTermDetail {
                vocabulary: "dose unit",
                term: "spoonful".to_owned(),
            },
        },
    ));

    let in_three_days = now() + TimeDelta::days(3);
    let mut future = pain_entry(4.0);
    future.meta.recorded_at = in_three_days;
    cases.push((
        "3 days ahead",
        Entry::Pain(future),
        ValidationError::InFuture {
            recorded_at: in_three_days,
        },
    ));

    let mut long_note = pain_entry(4.0);
    long_note.note = Some("é".repeat(4_001));
    cases.push((
        "note of 4,001 characters",
        Entry::Pain(long_note),
        ValidationError::TextTooLong {
            field: "note",
            chars: 4_001,
            max: 4_000,
        },
    ));

    let mut many = pain_entry(4.0);
    many.locations = paindiary_sync::schema::vocab::BodyRegion::ALL
        .iter()
        .take(13)
        .map(|r| r.as_str().to_owned())
        .collect();
    cases.push((
        "13 body locations",
        Entry::Pain(many),
        ValidationError::TooMany {
            field: "locations",
            count: 13,
            max: 12,
        },
    ));

    let mut mars = pain_entry(4.0);
    mars.meta.tz = "Mars/Olympus_Mons".to_owned();
    cases.push((
        "unknown time zone",
        Entry::Pain(mars),
        ValidationError::UnknownTimeZone {
            tz: "Mars/Olympus_Mons".to_owned(),
        },
    ));

    let mut upside_down = pain_entry(5.0);
    upside_down.worst = Some(3.0);
    upside_down.least = Some(6.0);
    cases.push((
        "worst below least",
        Entry::Pain(upside_down),
        ValidationError::WorstBelowLeast {
            worst: 3.0,
            least: 6.0,
        },
    ));
    cases
}

#[test]
fn validation_names_exactly_what_is_wrong() {
    for (what, entry, expected) in invalid_cases() {
        assert_eq!(entry.validate(now()), vec![expected], "{what}");
    }
}

#[test]
fn valid_edges_pass_validation() {
    let mut at_limit = pain_entry(10.0);
    at_limit.meta.recorded_at = now() + TimeDelta::hours(47);
    at_limit.note = Some("x".repeat(4_000));
    at_limit.locations = paindiary_sync::schema::vocab::BodyRegion::ALL
        .iter()
        .take(12)
        .map(|r| r.as_str().to_owned())
        .collect();
    at_limit.worst = Some(10.0);
    at_limit.least = Some(0.0);
    assert_eq!(Entry::Pain(at_limit).validate(now()), vec![]);
    assert_eq!(pain(0.0).validate(now()), vec![]);
    assert_eq!(intake(5_000.0, "mg").validate(now()), vec![]);
    assert_eq!(intake(0.5, "tablet").validate(now()), vec![]);
    // 48 h 1 s ahead is past the allowed skew.
    let mut just_over = pain_entry(3.0);
    just_over.meta.recorded_at = now() + TimeDelta::hours(48) + TimeDelta::seconds(1);
    assert!(matches!(
        Entry::Pain(just_over).validate(now()).as_slice(),
        [ValidationError::InFuture { .. }]
    ));
}

#[test]
fn several_problems_are_all_reported() {
    let mut bad = pain_entry(11.0);
    bad.meta.tz = "Nowhere/Special".to_owned();
    bad.qualities = vec!["aching".to_owned(), "fizzy".to_owned()];
    let errors = Entry::Pain(bad).validate(now());
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors.contains(&ValidationError::OutOfScale {
        field: "score",
        value: 11.0
    }));
    assert!(errors.iter().any(|e| matches!(
        e,
        ValidationError::UnknownTerm { field: "qualities", term } if term.term == "fizzy"
    )));
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, ValidationError::UnknownTimeZone { .. }))
    );
}

#[test]
fn a_negative_dose_is_reported_even_when_the_unit_is_unknown() {
    // Both mistakes are shown at once, so the patient fixes both in one go.
    assert_eq!(
        intake(-5.0, "spoonful").validate(now()),
        vec![
            ValidationError::DoseNotPositive { amount: -5.0 },
            ValidationError::UnknownTerm {
                field: "unit",
                term: UnknownTermDetail {
                    vocabulary: "dose unit",
                    term: "spoonful".to_owned(),
                },
            },
        ]
    );
    // A dose that is not a number at all is not positive either.
    assert!(matches!(
        intake(f64::NAN, "mg").validate(now()).as_slice(),
        [ValidationError::DoseNotPositive { amount }] if amount.is_nan()
    ));
}

#[test]
fn add_entry_refuses_invalid_entries_and_leaves_the_document_as_it_was() {
    let mut doc = new_month();
    let kept = add_entry(&mut doc, &pain(3.0), now()).unwrap();
    let heads = doc.get_heads();
    let saved = doc.save();
    for (what, entry, expected) in invalid_cases() {
        match add_entry(&mut doc, &entry, now()) {
            Err(WriteError::Invalid(errors)) => assert_eq!(errors, vec![expected], "{what}"),
            other => panic!("{what}: expected Invalid, got {other:?}"),
        }
        assert_eq!(doc.get_heads(), heads, "{what}: heads moved");
        assert_eq!(doc.pending_ops(), 0, "{what}: ops left pending");
    }
    let read = read_entries(&doc);
    assert_eq!(read.entries.len(), 1);
    assert_eq!(read.entries[0].id, kept);
    assert_eq!(doc.save(), saved);
}

#[test]
fn edit_to_an_invalid_value_is_refused_and_nothing_is_written() {
    let mut doc = new_month();
    let id = add_entry(&mut doc, &pain(4.0), now()).unwrap();
    let heads = doc.get_heads();
    let before = read_entry(&doc, EntryKind::Pain, &id).unwrap().unwrap();

    let refused = [
        (
            vec![("score", FieldValue::Int(12))],
            ValidationError::OutOfScale {
                field: "score",
                value: 12.0,
            },
        ),
        (
            vec![("score", FieldValue::Float(7.5))],
            ValidationError::NotWholeNumber {
                field: "score",
                value: 7.5,
            },
        ),
        (
            vec![("note", FieldValue::Text("n".repeat(4_001)))],
            ValidationError::TextTooLong {
                field: "note",
                chars: 4_001,
                max: 4_000,
            },
        ),
        (
            vec![("tz", FieldValue::Text("Atlantis/Capital".to_owned()))],
            ValidationError::UnknownTimeZone {
                tz: "Atlantis/Capital".to_owned(),
            },
        ),
        (
            vec![(
                "recorded_at",
                FieldValue::Instant(now() + TimeDelta::days(3)),
            )],
            ValidationError::InFuture {
                recorded_at: now() + TimeDelta::days(3),
            },
        ),
    ];
    for (changes, expected) in refused {
        let result = edit_entry(&mut doc, EntryKind::Pain, &id, &changes, now());
        assert_eq!(result, Err(WriteError::Invalid(vec![expected])));
        assert_eq!(doc.get_heads(), heads);
        assert_eq!(
            read_entry(&doc, EntryKind::Pain, &id).unwrap().unwrap(),
            before,
            "the refused edit left a trace (score or updated_at)"
        );
    }

    // A valid edit on top of a refused one in the same call is refused as a whole.
    let mixed = [
        ("note", FieldValue::Text("fine".to_owned())),
        ("score", FieldValue::Int(-1)),
    ];
    assert!(matches!(
        edit_entry(&mut doc, EntryKind::Pain, &id, &mixed, now()),
        Err(WriteError::Invalid(_))
    ));
    assert_eq!(doc.get_heads(), heads);

    // Removing a required field is refused too, naming the field.
    let removed = edit_entry(
        &mut doc,
        EntryKind::Pain,
        &id,
        &[("score", FieldValue::Remove)],
        now(),
    );
    assert_eq!(
        removed,
        Err(WriteError::Invalid(vec![ValidationError::Required {
            field: "score",
            expected: "present",
        }]))
    );
    assert!(
        removed
            .unwrap_err()
            .to_string()
            .contains("score is required")
    );
    assert_eq!(doc.get_heads(), heads);

    // Fields a pain entry does not have, and entries that do not exist.
    assert_eq!(
        edit_entry(
            &mut doc,
            EntryKind::Pain,
            &id,
            &[("dose", FieldValue::Int(1))],
            now()
        ),
        Err(WriteError::UnknownField {
            kind: EntryKind::Pain,
            field: "dose".to_owned()
        })
    );
    let missing = EntryId::new();
    assert_eq!(
        edit_entry(
            &mut doc,
            EntryKind::Pain,
            &missing,
            &[("score", FieldValue::Int(1))],
            now()
        ),
        Err(WriteError::NotFound {
            kind: EntryKind::Pain,
            id: missing
        })
    );
    // The pain entry is not a medication intake.
    assert!(matches!(
        edit_entry(
            &mut doc,
            EntryKind::Medication,
            &id,
            &[("note", FieldValue::Text("x".into()))],
            now()
        ),
        Err(WriteError::NotFound { .. })
    ));
    assert_eq!(doc.get_heads(), heads);

    // And a valid edit goes through, stamping updated_at.
    let later = now() + TimeDelta::minutes(5);
    edit_entry(
        &mut doc,
        EntryKind::Pain,
        &id,
        &[("score", FieldValue::Int(6))],
        later,
    )
    .unwrap();
    let after = read_entry(&doc, EntryKind::Pain, &id).unwrap().unwrap();
    assert_eq!(pain_of(&after).score, 6.0);
    assert_eq!(after.meta().updated_at, Some(later));
    assert_ne!(doc.get_heads(), heads);
}

// ---------------------------------------------------------------------------------------
// Lenient reading

/// Writes a pain entry the way JS automerge 3 does by default: every string is a Text
/// object, numbers are whatever the JS number was, dates are timestamps.
fn write_js_style_pain(doc: &mut AutoCommit, id: &EntryId, recorded_at: ScalarValue) {
    let map = kind_map(doc, EntryKind::Pain);
    let e = doc.put_object(&map, id.to_string(), ObjType::Map).unwrap();
    doc.put(&e, "recorded_at", recorded_at).unwrap();
    put_text(doc, &e, "tz", "America/New_York");
    doc.put(&e, "score", ScalarValue::Uint(6)).unwrap();
    doc.put(&e, "worst", ScalarValue::Int(8)).unwrap();
    doc.put(&e, "least", ScalarValue::F64(2.0)).unwrap();
    let locations = doc.put_object(&e, "locations", ObjType::List).unwrap();
    let first = doc.insert_object(&locations, 0, ObjType::Text).unwrap();
    doc.splice_text(&first, 0, 0, "neck").unwrap();
    doc.insert(&locations, 1, "lower_back").unwrap(); // a scalar string among Text items
    let qualities = doc.put_object(&e, "qualities", ObjType::List).unwrap();
    let q = doc.insert_object(&qualities, 0, ObjType::Text).unwrap();
    doc.splice_text(&q, 0, 0, "burning").unwrap();
    put_text(doc, &e, "note", "worse after the bus ride");
    put_text(doc, &e, "location_note", "left of the spine");
    // Fields a newer app version might add.
    doc.put(&e, "x_mood_emoji", "😬").unwrap();
    let extra = doc.put_object(&e, "x_sensor", ObjType::Map).unwrap();
    doc.put(&extra, "hr", 88).unwrap();
    doc.commit();
}

#[test]
fn reads_text_objects_any_number_type_and_every_timestamp_form() {
    let mut doc = new_month();
    let at = Utc.with_ymd_and_hms(2026, 11, 3, 8, 15, 30).unwrap();
    let as_timestamp = EntryId::new();
    let as_millis = EntryId::new();
    let as_rfc3339 = EntryId::new();
    write_js_style_pain(
        &mut doc,
        &as_timestamp,
        ScalarValue::Timestamp(at.timestamp_millis()),
    );
    write_js_style_pain(
        &mut doc,
        &as_millis,
        ScalarValue::Int(at.timestamp_millis()),
    );
    write_js_style_pain(
        &mut doc,
        &as_rfc3339,
        ScalarValue::Str("2026-11-03T09:15:30+01:00".into()),
    );

    // A medication intake with Text drug/tz/note/unit and an F64 amount.
    let med_id = EntryId::new();
    let meds = kind_map(&doc, EntryKind::Medication);
    let m = doc
        .put_object(&meds, med_id.to_string(), ObjType::Map)
        .unwrap();
    doc.put(
        &m,
        "recorded_at",
        ScalarValue::Timestamp(at.timestamp_millis()),
    )
    .unwrap();
    put_text(&mut doc, &m, "tz", "Europe/Berlin");
    put_text(&mut doc, &m, "drug", "Tramadol");
    put_text(&mut doc, &m, "unit", "mg");
    put_text(&mut doc, &m, "note", "with food");
    doc.put(&m, "amount", ScalarValue::F64(37.5)).unwrap();
    doc.put(&m, "prn", true).unwrap();
    doc.commit();

    let read = read_entries(&doc);
    assert_eq!(read.unreadable, vec![], "nothing should be unreadable");
    assert_eq!(read.entries.len(), 4);
    for id in [as_timestamp, as_millis, as_rfc3339] {
        let entry = read_entry(&doc, EntryKind::Pain, &id).unwrap().unwrap();
        let p = pain_of(&entry);
        assert_eq!(p.meta.recorded_at, at, "recorded_at of {id}");
        assert_eq!(p.meta.tz, "America/New_York");
        assert_eq!((p.score, p.worst, p.least), (6.0, Some(8.0), Some(2.0)));
        assert_eq!(p.locations, vec!["neck", "lower_back"]);
        assert_eq!(p.qualities, vec!["burning"]);
        assert_eq!(p.note.as_deref(), Some("worse after the bus ride"));
        assert_eq!(p.location_note.as_deref(), Some("left of the spine"));
        assert_eq!(entry.validate(now()), vec![], "a JS-written entry is valid");
    }
    let med = read_entry(&doc, EntryKind::Medication, &med_id)
        .unwrap()
        .unwrap();
    let Entry::Medication(m) = &med else {
        panic!("not a medication: {med:?}")
    };
    assert_eq!(m.drug, "Tramadol");
    assert_eq!(m.unit, "mg");
    assert_eq!(m.amount, 37.5);
    assert_eq!(m.meta.tz, "Europe/Berlin");
    assert_eq!(m.note.as_deref(), Some("with food"));
    assert_eq!(m.status, "taken", "status defaults to taken");
    assert!(m.prn);
    assert_eq!(med.validate(now()), vec![]);
}

#[test]
fn unreadable_entries_are_reported_and_never_hide_the_others() {
    let mut doc = new_month();
    let good = add_entry(&mut doc, &pain(5.0), now()).unwrap();
    let good_med = add_entry(&mut doc, &intake(200.0, "mg"), now()).unwrap();

    let pain_map = kind_map(&doc, EntryKind::Pain);
    // Not a map at all.
    let scalar = EntryId::new();
    doc.put(&pain_map, scalar.to_string(), "oops").unwrap();
    // A map without its required score.
    let no_score = EntryId::new();
    let e = doc
        .put_object(&pain_map, no_score.to_string(), ObjType::Map)
        .unwrap();
    doc.put(
        &e,
        "recorded_at",
        ScalarValue::Timestamp(now().timestamp_millis()),
    )
    .unwrap();
    doc.put(&e, "tz", "Europe/Berlin").unwrap();
    // A key that is not a UUID.
    let e = doc.put_object(&pain_map, "entry-1", ObjType::Map).unwrap();
    doc.put(&e, "score", 3).unwrap();
    // A score of the wrong type.
    let wrong_type = EntryId::new();
    let e = doc
        .put_object(&pain_map, wrong_type.to_string(), ObjType::Map)
        .unwrap();
    doc.put(
        &e,
        "recorded_at",
        ScalarValue::Timestamp(now().timestamp_millis()),
    )
    .unwrap();
    doc.put(&e, "tz", "Europe/Berlin").unwrap();
    doc.put(&e, "score", "seven").unwrap();
    doc.commit();
    // An invalid but readable entry: score 12, stored as a device sent it.
    let twelve = add_entry_unchecked(&mut doc, EntryId::new(), &pain(12.0), now()).unwrap();

    let read = read_entries(&doc);
    let ids: BTreeSet<EntryId> = read.entries.iter().map(|e| e.id).collect();
    assert_eq!(ids, BTreeSet::from([good, good_med, twelve]));

    let mut unreadable: Vec<(EntryKind, String, String)> = read
        .unreadable
        .iter()
        .map(|u| (u.kind, u.key.clone(), u.reason.clone()))
        .collect();
    unreadable.sort();
    let mut expected = vec![
        (
            EntryKind::Pain,
            scalar.to_string(),
            "entry is not a map".to_owned(),
        ),
        (
            EntryKind::Pain,
            no_score.to_string(),
            "field `score` is missing".to_owned(),
        ),
        (
            EntryKind::Pain,
            "entry-1".to_owned(),
            "entry key is not a UUID".to_owned(),
        ),
        (
            EntryKind::Pain,
            wrong_type.to_string(),
            "field `score` should be a number".to_owned(),
        ),
    ];
    expected.sort();
    assert_eq!(unreadable, expected);

    // The score-12 entry is read, not dropped, and validation says why it is invalid.
    let stored = read.entries.iter().find(|e| e.id == twelve).unwrap();
    assert_eq!(pain_of(&stored.entry).score, 12.0);
    assert_eq!(
        stored.entry.validate(now()),
        vec![ValidationError::OutOfScale {
            field: "score",
            value: 12.0
        }]
    );
    // Single-entry reads agree.
    assert!(read_entry(&doc, EntryKind::Pain, &scalar).is_err());
    assert!(read_entry(&doc, EntryKind::Pain, &no_score).is_err());
    assert_eq!(
        read_entry(&doc, EntryKind::Pain, &EntryId::new()).unwrap(),
        None
    );
}

// ---------------------------------------------------------------------------------------
// Concurrency

#[test]
fn concurrent_edits_of_different_fields_and_new_entries_all_survive() {
    let mut a = new_month();
    let shared = add_entry(&mut a, &pain(4.0), now()).unwrap();
    let mut b = a.fork().with_actor(ActorId::random());

    // Offline: A corrects the score, B adds a note to the same entry and a new entry.
    edit_entry(
        &mut a,
        EntryKind::Pain,
        &shared,
        &[("score", FieldValue::Int(7))],
        now() + TimeDelta::minutes(1),
    )
    .unwrap();
    edit_entry(
        &mut b,
        EntryKind::Pain,
        &shared,
        &[(
            "note",
            FieldValue::Text("after carrying groceries".to_owned()),
        )],
        now() + TimeDelta::minutes(2),
    )
    .unwrap();
    let fresh = add_entry(&mut b, &intake(400.0, "mg"), now()).unwrap();

    merge_both_ways(&mut a, &mut b);
    let on_a = read_entries(&a);
    let on_b = read_entries(&b);
    assert_eq!(on_a, on_b);
    assert_eq!(on_a.entries.len(), 2);
    let edited = read_entry(&a, EntryKind::Pain, &shared).unwrap().unwrap();
    let p = pain_of(&edited);
    assert_eq!(p.score, 7.0);
    assert_eq!(p.note.as_deref(), Some("after carrying groceries"));
    assert_eq!(p.locations, vec!["lower_back"], "untouched fields survive");
    assert!(on_a.entries.iter().any(|e| e.id == fresh));
}

#[test]
fn delete_is_a_tombstone_that_survives_merging() {
    let mut a = new_month();
    let doomed = add_entry(&mut a, &pain(2.0), now()).unwrap();
    let kept = add_entry(&mut a, &pain(3.0), now()).unwrap();
    let mut b = a.fork().with_actor(ActorId::random());
    let when = now() + TimeDelta::minutes(10);
    delete_entry(&mut a, EntryKind::Pain, &doomed, when).unwrap();
    // Meanwhile B edits the entry A deletes: the edit is kept, the tombstone too.
    edit_entry(
        &mut b,
        EntryKind::Pain,
        &doomed,
        &[("note", FieldValue::Text("typo".to_owned()))],
        now() + TimeDelta::minutes(11),
    )
    .unwrap();
    merge_both_ways(&mut a, &mut b);

    for doc in [&a, &b] {
        let read = read_entries(doc);
        assert_eq!(read.entries.len(), 2, "entries keeps the deleted entry");
        let live: Vec<EntryId> = read.live().map(|e| e.id).collect();
        assert_eq!(live, vec![kept], "live() hides it");
        let tomb = read.entries.iter().find(|e| e.id == doomed).unwrap();
        assert_eq!(tomb.entry.meta().deleted_at, Some(when));
        assert_eq!(pain_of(&tomb.entry).score, 2.0, "content is kept");
        assert_eq!(pain_of(&tomb.entry).note.as_deref(), Some("typo"));
    }
    // The entry's map is still in the document (no hard delete).
    let map = kind_map(&a, EntryKind::Pain);
    assert!(a.get(&map, doomed.to_string()).unwrap().is_some());
    // Deleting something that does not exist is an error, not a silent no-op.
    assert!(matches!(
        delete_entry(&mut a, EntryKind::Exercise, &doomed, when),
        Err(WriteError::NotFound { .. })
    ));
}

#[test]
fn two_devices_creating_the_same_month_offline_keep_all_entries() {
    let mut phone = november().create(ActorId::random()).unwrap();
    let mut tablet = november().create(ActorId::random()).unwrap();
    let mut mine = BTreeSet::new();
    for score in [1.0, 2.0, 3.0] {
        mine.insert(add_entry(&mut phone, &pain(score), now()).unwrap());
    }
    mine.insert(add_entry(&mut tablet, &pain(9.0), now()).unwrap());
    mine.insert(add_entry(&mut tablet, &intake(1.0, "tablet"), now()).unwrap());
    merge_both_ways(&mut phone, &mut tablet);

    let read = read_entries(&phone);
    assert_eq!(read, read_entries(&tablet));
    let ids: BTreeSet<EntryId> = read.entries.iter().map(|e| e.id).collect();
    assert_eq!(ids, mine);
    // One pain map, not two conflicting ones: the genesis is shared.
    assert_eq!(phone.get_all(ROOT, "pain").unwrap().len(), 1);
    november().check(&phone).unwrap();
}

#[test]
fn a_foreign_month_without_the_genesis_still_shows_both_sides_entries() {
    // A client outside our SDK creates its own `pain` map instead of loading the genesis.
    let mut foreign = AutoCommit::new().with_actor(ActorId::random());
    foreign
        .put(ROOT, "schema", "paindiary/diary-month/v1")
        .unwrap();
    let map = foreign.put_object(ROOT, "pain", ObjType::Map).unwrap();
    let theirs = EntryId::new();
    let e = foreign
        .put_object(&map, theirs.to_string(), ObjType::Map)
        .unwrap();
    foreign
        .put(
            &e,
            "recorded_at",
            ScalarValue::Timestamp(now().timestamp_millis()),
        )
        .unwrap();
    foreign.put(&e, "tz", "Europe/Paris").unwrap();
    foreign.put(&e, "score", 8).unwrap();
    foreign.commit();

    let mut ours = new_month();
    let mine = add_entry(&mut ours, &pain(2.0), now()).unwrap();
    merge_both_ways(&mut ours, &mut foreign);

    // Two conflicting `pain` maps now sit at the root; only one of them "wins".
    assert_eq!(ours.get_all(ROOT, "pain").unwrap().len(), 2);
    for doc in [&ours, &foreign] {
        let read = read_entries(doc);
        let ids: BTreeSet<EntryId> = read.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, BTreeSet::from([mine, theirs]));
        assert_eq!(read.unreadable, vec![]);
        assert!(read_entry(doc, EntryKind::Pain, &theirs).unwrap().is_some());
        assert!(read_entry(doc, EntryKind::Pain, &mine).unwrap().is_some());
    }
    // Edits reach entries in either map.
    edit_entry(
        &mut ours,
        EntryKind::Pain,
        &theirs,
        &[("score", FieldValue::Int(6))],
        now(),
    )
    .unwrap();
    edit_entry(
        &mut ours,
        EntryKind::Pain,
        &mine,
        &[("score", FieldValue::Int(1))],
        now(),
    )
    .unwrap();
    let read = read_entries(&ours);
    let scores: BTreeSet<(EntryId, u8)> = read
        .entries
        .iter()
        .map(|e| (e.id, pain_of(&e.entry).score as u8))
        .collect();
    assert_eq!(scores, BTreeSet::from([(theirs, 6), (mine, 1)]));
}

// ---------------------------------------------------------------------------------------
// Local days

fn local_date(recorded_at: DateTime<Utc>, tz: &str) -> NaiveDate {
    EntryMeta {
        recorded_at,
        tz: tz.to_owned(),
        deleted_at: None,
        updated_at: None,
    }
    .local_date()
    .unwrap()
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

#[test]
fn an_early_utc_entry_in_new_york_belongs_to_the_previous_local_day() {
    // 03:30 UTC on 1 November is 23:30 EDT on 31 October: still October's diary day.
    assert_eq!(
        local_date(utc(2026, 11, 1, 3, 30), "America/New_York"),
        ymd(2026, 10, 31)
    );
    assert_eq!(local_date(utc(2026, 11, 1, 3, 30), "UTC"), ymd(2026, 11, 1));
    assert_eq!(
        local_date(utc(2026, 11, 1, 3, 30), "Asia/Tokyo"),
        ymd(2026, 11, 1)
    );
}

#[test]
fn local_days_follow_daylight_saving_changes() {
    let ny = "America/New_York";
    // DST ends at 06:00 UTC on Sunday 1 November 2026 (02:00 EDT -> 01:00 EST).
    assert_eq!(local_date(utc(2026, 11, 1, 5, 30), ny), ymd(2026, 11, 1)); // 01:30 EDT
    assert_eq!(local_date(utc(2026, 11, 1, 6, 30), ny), ymd(2026, 11, 1)); // 01:30 EST
    // 04:30 UTC on 2 November is 23:30 EST on the 1st; at the summer offset (-4) it would
    // wrongly be 00:30 on the 2nd.
    assert_eq!(local_date(utc(2026, 11, 2, 4, 30), ny), ymd(2026, 11, 1));
    // DST starts on Sunday 8 March 2026: 04:30 UTC on the 9th is 00:30 EDT on the 9th; at
    // the winter offset (-5) it would wrongly be 23:30 on the 8th.
    assert_eq!(local_date(utc(2026, 3, 8, 4, 30), ny), ymd(2026, 3, 7)); // 23:30 EST
    assert_eq!(local_date(utc(2026, 3, 9, 4, 30), ny), ymd(2026, 3, 9)); // 00:30 EDT
    // Southern hemisphere: Sydney leaves DST on 5 April 2026 (03:00 AEDT -> 02:00 AEST).
    assert_eq!(
        local_date(utc(2026, 4, 4, 13, 30), "Australia/Sydney"),
        ymd(2026, 4, 5)
    ); // 00:30 AEDT
    assert_eq!(
        local_date(utc(2026, 4, 5, 13, 30), "Australia/Sydney"),
        ymd(2026, 4, 5)
    ); // 23:30 AEST
    // An unknown zone is an error, not a guess.
    let bad = EntryMeta {
        recorded_at: utc(2026, 11, 1, 3, 30),
        tz: "EST5EDT-ish".to_owned(),
        deleted_at: None,
        updated_at: None,
    };
    assert!(matches!(
        bad.local_date(),
        Err(ValidationError::UnknownTimeZone { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// Which entries a batch of changes touched

#[test]
fn touched_entries_names_exactly_the_entries_the_received_changes_touched() {
    // The server's copy, holding two entries already.
    let mut server = new_month();
    let old_edited = add_entry(&mut server, &pain(4.0), now()).unwrap();
    let old_untouched = add_entry(&mut server, &pain(5.0), now()).unwrap();
    let heads_before = server.get_heads();

    // Phone adds two entries of different kinds; the tablet edits an old entry's nested
    // list and score, and deletes nothing.
    let mut phone = server.fork().with_actor(ActorId::random());
    let mut tablet = server.fork().with_actor(ActorId::random());
    let new_pain = add_entry(&mut phone, &pain(6.0), now()).unwrap();
    let new_mood = add_entry(
        &mut phone,
        &Entry::Wellbeing(WellbeingEntry {
            meta: meta(),
            sleep_hours: Some(6.5),
            sleep_quality: Some(4.0),
            mood: None,
            stress: Some(7.0),
            note: None,
        }),
        now(),
    )
    .unwrap();
    let tablet_before = tablet.get_heads();
    edit_entry(
        &mut tablet,
        EntryKind::Pain,
        &old_edited,
        &[
            ("score", FieldValue::Int(8)),
            (
                "locations",
                FieldValue::TextList(vec!["neck".into(), "head".into()]),
            ),
        ],
        now(),
    )
    .unwrap();

    // Each device's own changes name only its entries.
    let from_tablet = tablet.get_changes(&tablet_before);
    assert_eq!(
        touched_entries(tablet.document(), &from_tablet),
        BTreeSet::from([(EntryKind::Pain, old_edited)])
    );

    server.merge(&mut phone).unwrap();
    server.merge(&mut tablet).unwrap();
    let received = server.get_changes(&heads_before);
    assert_eq!(received.len(), 3);
    let touched = touched_entries(server.document(), &received);
    assert_eq!(
        touched,
        BTreeSet::from([
            (EntryKind::Pain, new_pain),
            (EntryKind::Wellbeing, new_mood),
            (EntryKind::Pain, old_edited),
        ])
    );
    assert!(!touched.contains(&(EntryKind::Pain, old_untouched)));

    // A delete is a touch too.
    let before_delete = server.get_heads();
    delete_entry(&mut server, EntryKind::Pain, &old_untouched, now()).unwrap();
    let deleted = server.get_changes(&before_delete);
    assert_eq!(
        touched_entries(server.document(), &deleted),
        BTreeSet::from([(EntryKind::Pain, old_untouched)])
    );
}

#[test]
fn a_months_first_sync_touches_every_entry_it_brings() {
    // A phone's month, genesis and entries of two kinds, reaches the server at once.
    let mut phone = new_month();
    let first = add_entry(&mut phone, &pain(4.0), now()).unwrap();
    let second = add_entry(&mut phone, &pain(6.0), now()).unwrap();
    let mood = add_entry(
        &mut phone,
        &Entry::Wellbeing(WellbeingEntry {
            meta: meta(),
            sleep_hours: Some(7.0),
            sleep_quality: None,
            mood: Some(5.0),
            stress: None,
            note: None,
        }),
        now(),
    )
    .unwrap();
    let everything = phone.get_changes(&[]);
    assert_eq!(
        touched_entries(phone.document(), &everything),
        BTreeSet::from([
            (EntryKind::Pain, first),
            (EntryKind::Pain, second),
            (EntryKind::Wellbeing, mood),
        ])
    );

    // Once the server holds the month, a later change names only its own entry.
    let before = phone.get_heads();
    let third = add_entry(&mut phone, &pain(3.0), now()).unwrap();
    let later = phone.get_changes(&before);
    assert_eq!(
        touched_entries(phone.document(), &later),
        BTreeSet::from([(EntryKind::Pain, third)])
    );
}
