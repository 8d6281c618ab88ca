//! Questionnaire responses in a month document as a phone and the server see them:
//! written, validated against the instrument, read back (also as JS writes them), two
//! devices creating the `questionnaires` map offline keep both responses, and a received
//! response is found by `touched_entries`; the care plan's assignments and what is due.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc};
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use paindiary_sync::ids::{EntryId, Month, PatientId};
use paindiary_sync::questionnaire::{self, PHQ9};
use paindiary_sync::schema::care_plan::{Section, put_item, read_care_plan};
use paindiary_sync::schema::month::{
    FieldValue, add_entry, edit_entry, read_entries, touched_entries,
};
use paindiary_sync::schema::{
    DocKind, Entry, EntryKind, EntryMeta, QuestionnaireResponse, ValidationError, WriteError,
};

fn patient() -> PatientId {
    "0190f5a4-7c1e-7000-8000-000000000001".parse().unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 8, 12, 0, 0).unwrap()
}

fn december(actor: u8) -> AutoCommit {
    DocKind::DiaryMonth {
        patient: patient(),
        month: "2026-12".parse::<Month>().unwrap(),
    }
    .create(ActorId::from([actor; 16]))
    .unwrap()
}

fn phq9(values: [f64; 9]) -> Entry {
    Entry::Questionnaire(QuestionnaireResponse {
        meta: EntryMeta {
            recorded_at: now() - TimeDelta::hours(1),
            tz: "Europe/Berlin".to_owned(),
            deleted_at: None,
            updated_at: None,
        },
        instrument: "phq9".to_owned(),
        version: "1".to_owned(),
        answers: PHQ9
            .items
            .iter()
            .zip(values)
            .map(|(i, v)| (i.link_id.to_owned(), v))
            .collect(),
        note: None,
    })
}

#[test]
fn a_response_round_trips_and_is_scored() {
    let mut doc = december(1);
    let id = add_entry(&mut doc, &phq9([1., 1., 2., 2., 1., 0., 1., 0., 1.]), now()).unwrap();
    let read = read_entries(&doc);
    assert!(read.unreadable.is_empty(), "{:?}", read.unreadable);
    let stored = read.entries.iter().find(|e| e.id == id).unwrap();
    let Entry::Questionnaire(q) = &stored.entry else {
        panic!("read back as {:?}", stored.entry.kind());
    };
    assert_eq!(q.answers.len(), 9);
    let score = q.score().unwrap();
    assert_eq!(score.total, Some(9.0));
    assert_eq!(score.band, Some("mild"));
    assert!(score.safety_positive);
    // Answers are written as integers, as JS writes whole numbers.
    let (_, map) = doc.get(ROOT, "questionnaires").unwrap().unwrap();
    let (_, entry_obj) = doc.get(&map, id.to_string()).unwrap().unwrap();
    let (answers, _) = doc.get(&entry_obj, "answers").unwrap().unwrap();
    assert!(matches!(answers, automerge::Value::Object(ObjType::Map)));
}

#[test]
fn invalid_answers_are_refused_with_the_item_and_nothing_is_written() {
    let mut doc = december(1);
    let heads = doc.get_heads();
    let err = add_entry(&mut doc, &phq9([4., 0., 0., 0., 0., 0., 0., 0., 0.]), now()).unwrap_err();
    assert_eq!(
        err,
        WriteError::Invalid(vec![ValidationError::InvalidAnswer {
            instrument: "phq9".into(),
            item: "44250-9".into(),
            value: 4.0,
            min: 0,
            max: 3,
        }])
    );
    assert_eq!(
        err.to_string(),
        "answer to phq9 item 44250-9 must be a whole number from 0 to 3, got 4"
    );
    assert_eq!(doc.get_heads(), heads);
    // An unknown instrument is refused by the SDK (kept if another client writes it).
    let mut other = phq9([0.; 9]);
    if let Entry::Questionnaire(q) = &mut other {
        q.instrument = "bpi".into();
    }
    assert!(matches!(
        add_entry(&mut doc, &other, now()),
        Err(WriteError::Invalid(e)) if matches!(e[..], [ValidationError::UnknownInstrument { .. }, ..])
    ));
    // Editing an answer off the scale is refused too.
    let id = add_entry(&mut doc, &phq9([0.; 9]), now()).unwrap();
    let mut answers = BTreeMap::new();
    answers.insert("44260-8".to_owned(), 7.0);
    let err = edit_entry(
        &mut doc,
        EntryKind::Questionnaire,
        &id,
        &[("answers", FieldValue::NumberMap(answers))],
        now(),
    )
    .unwrap_err();
    assert!(matches!(err, WriteError::Invalid(_)));
}

#[test]
fn js_style_responses_and_two_devices_creating_the_map_offline_keep_everything() {
    // Device A: our SDK. Device B: a JS client writing the map itself, with floats and a
    // Text instrument name.
    let mut a = december(1);
    let mut b = a.fork().with_actor(ActorId::from([2; 16]));
    let first = add_entry(&mut a, &phq9([0.; 9]), now()).unwrap();
    let map = b.put_object(ROOT, "questionnaires", ObjType::Map).unwrap();
    let second = EntryId::new();
    let entry = b
        .put_object(&map, second.to_string(), ObjType::Map)
        .unwrap();
    b.put(
        &entry,
        "recorded_at",
        automerge::ScalarValue::Timestamp(now().timestamp_millis() - 1000),
    )
    .unwrap();
    b.put(&entry, "tz", "Europe/Berlin").unwrap();
    let text = b.put_object(&entry, "instrument", ObjType::Text).unwrap();
    b.splice_text(&text, 0, 0, "gad7").unwrap();
    b.put(&entry, "version", "1").unwrap();
    let answers = b.put_object(&entry, "answers", ObjType::Map).unwrap();
    for link in [
        "69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7",
    ] {
        b.put(&answers, link, 2.0).unwrap();
    }
    b.commit();
    let changes_from_b = b.get_changes(&a.get_heads());
    a.merge(&mut b).unwrap();
    b.merge(&mut a).unwrap();
    for doc in [&a, &b] {
        let read = read_entries(doc);
        assert!(read.unreadable.is_empty(), "{:?}", read.unreadable);
        let ids: Vec<EntryId> = read.entries.iter().map(|e| e.id).collect();
        assert!(ids.contains(&first) && ids.contains(&second), "{ids:?}");
        let gad = read.entries.iter().find(|e| e.id == second).unwrap();
        let Entry::Questionnaire(q) = &gad.entry else {
            panic!()
        };
        assert!(gad.entry.validate(now()).is_empty());
        assert_eq!(q.score().unwrap().total, Some(14.0));
        assert_eq!(q.score().unwrap().band, Some("moderate"));
    }
    // The server sees which response B's changes touched.
    let touched = touched_entries(a.document(), &changes_from_b);
    assert!(
        touched.contains(&(EntryKind::Questionnaire, second)),
        "{touched:?}"
    );
}

#[test]
fn the_care_plan_assigns_and_the_phone_sees_what_is_due() {
    let mut plan = DocKind::CarePlan { patient: patient() }
        .create(ActorId::from([9; 16]))
        .unwrap();
    put_item(
        &mut plan,
        Section::Questionnaires,
        "phq9-every-4-weeks",
        &[
            ("instrument", FieldValue::Text("phq9".into())),
            ("every_days", FieldValue::Int(28)),
            ("start_date", FieldValue::Text("2026-12-01".into())),
        ],
        now(),
    )
    .unwrap();
    put_item(
        &mut plan,
        Section::Questionnaires,
        "bad",
        &[
            ("instrument", FieldValue::Text("gad7".into())),
            ("every_days", FieldValue::Int(0)),
            ("start_date", FieldValue::Text("2026-12-01".into())),
        ],
        now(),
    )
    .unwrap();
    let read = read_care_plan(&plan);
    assert_eq!(read.questionnaires.len(), 1);
    assert_eq!(read.unreadable.len(), 1, "{:?}", read.unreadable);
    let day = |s: &str| s.parse::<NaiveDate>().unwrap();
    let assignments = read.assignments();
    assert_eq!(
        questionnaire::due_on(&assignments, &[], day("2026-12-08")),
        ["phq9"]
    );
    assert!(
        questionnaire::due_on(
            &assignments,
            &[("phq9", day("2026-12-08"))],
            day("2026-12-09")
        )
        .is_empty()
    );
}
