//! Projection stories: month documents built with the sync crate, stored as chunks, and
//! projected into the relational tables through the server's projection API. Each story
//! runs on SQLite and on PostgreSQL.

// Stories are tests: a failed step panics (clippy's test allowances see only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Automerge, Change, ChangeHash, ObjType, ROOT, ReadDoc};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use paindiary_server::entity::{
    document_chunks, documents, entry_issues, exercise_sessions, medication_intakes, pain_entries,
    peg_checkins, wellbeing_entries,
};
use paindiary_server::projection::{
    self, ProjectionSummary, ProjectionTarget, project_document, project_entries,
};
use paindiary_sync::ids::{EntryId, Month, PatientId};
use paindiary_sync::schema::month::{self, FieldValue};
use paindiary_sync::schema::{
    DocKind, Entry, EntryKind, EntryMeta, ExerciseSession, MedicationIntake, PainEntry, PegCheckin,
    WellbeingEntry,
};
use paindiary_tests::{TestApp, story};
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, EntityTrait, QueryOrder, Set, TransactionTrait,
};
use uuid::Uuid;

const TZ: &str = "Europe/Berlin";

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The server's "now" in these stories: just after the month of March 2026.
fn now() -> DateTime<Utc> {
    at(2026, 4, 1, 8, 0)
}

fn meta(recorded_at: DateTime<Utc>) -> EntryMeta {
    EntryMeta {
        recorded_at,
        tz: TZ.into(),
        deleted_at: None,
        updated_at: None,
    }
}

fn pain(recorded_at: DateTime<Utc>, score: f64) -> Entry {
    Entry::Pain(PainEntry {
        meta: meta(recorded_at),
        score,
        worst: None,
        least: None,
        locations: vec![],
        location_note: None,
        qualities: vec![],
        note: None,
    })
}

/// A month document of one patient, stored in `documents` + `document_chunks`.
struct StoredDoc {
    id: String,
    patient: Uuid,
    doc: AutoCommit,
    heads: Vec<ChangeHash>,
}

impl StoredDoc {
    /// Creates the month's document (from its canonical genesis) and stores the genesis.
    async fn create(app: &TestApp, patient: Uuid, month: Month) -> Self {
        let kind = DocKind::DiaryMonth {
            patient: PatientId::from_uuid(patient),
            month,
        };
        let id = kind.document_id().to_string();
        let mut doc = kind.create(ActorId::random()).unwrap();
        documents::ActiveModel {
            id: Set(id.clone()),
            patient_id: Set(patient),
            kind: Set("diary_month".into()),
            month: Set(Some(month.to_string())),
            created_at: Set(at(2026, 3, 1, 0, 0)),
            updated_at: Set(at(2026, 3, 1, 0, 0)),
        }
        .insert(&app.state.db)
        .await
        .unwrap();
        store_chunk(&app.state.db, &id, kind.genesis()).await;
        let heads = doc.get_heads();
        Self {
            id,
            patient,
            doc,
            heads,
        }
    }

    fn target(&self, synced_at: DateTime<Utc>) -> ProjectionTarget<'_> {
        ProjectionTarget {
            patient: self.patient,
            document_id: &self.id,
            synced_at,
        }
    }

    /// Stores what changed since the last flush as a chunk; returns those changes.
    async fn flush(&mut self, app: &TestApp) -> Vec<Change> {
        let changes = self.doc.get_changes(&self.heads);
        self.heads = self.doc.get_heads();
        store_chunk(&app.state.db, &self.id, self.doc.save_incremental()).await;
        changes
    }
}

async fn store_chunk(db: &DatabaseConnection, document_id: &str, bytes: Vec<u8>) {
    document_chunks::ActiveModel {
        document_id: Set(document_id.to_owned()),
        snapshot: Set(false),
        bytes: Set(bytes),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
}

/// The server's view: the document loaded from its stored chunks.
async fn load(app: &TestApp, id: &str) -> Automerge {
    let id = id.parse().expect("document id");
    let mut loaded = paindiary_server::storage::load(&app.state.db, &id)
        .await
        .unwrap()
        .expect("document loads");
    loaded.doc.document().clone()
}

/// Projects the entries `changes` touched, as the hub does after storing them.
async fn project_changes(
    app: &TestApp,
    target: &ProjectionTarget<'_>,
    doc: &Automerge,
    changes: &[Change],
    now: DateTime<Utc>,
) -> ProjectionSummary {
    let touched = month::touched_entry_keys(doc, changes);
    let txn = app.state.db.begin().await.unwrap();
    let summary = project_entries(&txn, target, doc, &touched, now)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    summary
}

async fn project_whole(
    app: &TestApp,
    target: &ProjectionTarget<'_>,
    doc: &Automerge,
    now: DateTime<Utc>,
) -> ProjectionSummary {
    let txn = app.state.db.begin().await.unwrap();
    let summary = project_document(&txn, target, doc, now).await.unwrap();
    txn.commit().await.unwrap();
    summary
}

/// Every projection table, ordered by primary key.
#[derive(Debug, PartialEq)]
struct Dump {
    pain: Vec<pain_entries::Model>,
    medication: Vec<medication_intakes::Model>,
    exercise: Vec<exercise_sessions::Model>,
    wellbeing: Vec<wellbeing_entries::Model>,
    checkin: Vec<peg_checkins::Model>,
    issues: Vec<entry_issues::Model>,
}

async fn dump(db: &DatabaseConnection) -> Dump {
    Dump {
        pain: pain_entries::Entity::find()
            .order_by_asc(pain_entries::Column::EntryId)
            .all(db)
            .await
            .unwrap(),
        medication: medication_intakes::Entity::find()
            .order_by_asc(medication_intakes::Column::EntryId)
            .all(db)
            .await
            .unwrap(),
        exercise: exercise_sessions::Entity::find()
            .order_by_asc(exercise_sessions::Column::EntryId)
            .all(db)
            .await
            .unwrap(),
        wellbeing: wellbeing_entries::Entity::find()
            .order_by_asc(wellbeing_entries::Column::EntryId)
            .all(db)
            .await
            .unwrap(),
        checkin: peg_checkins::Entity::find()
            .order_by_asc(peg_checkins::Column::EntryId)
            .all(db)
            .await
            .unwrap(),
        issues: entry_issues::Entity::find()
            .order_by_asc(entry_issues::Column::DocumentId)
            .order_by_asc(entry_issues::Column::Kind)
            .order_by_asc(entry_issues::Column::EntryKey)
            .order_by_asc(entry_issues::Column::ReasonCode)
            .all(db)
            .await
            .unwrap(),
    }
}

async fn clear_projection(db: &DatabaseConnection) {
    pain_entries::Entity::delete_many().exec(db).await.unwrap();
    medication_intakes::Entity::delete_many()
        .exec(db)
        .await
        .unwrap();
    exercise_sessions::Entity::delete_many()
        .exec(db)
        .await
        .unwrap();
    wellbeing_entries::Entity::delete_many()
        .exec(db)
        .await
        .unwrap();
    peg_checkins::Entity::delete_many().exec(db).await.unwrap();
    entry_issues::Entity::delete_many().exec(db).await.unwrap();
}

async fn pain_row(db: &DatabaseConnection, id: EntryId) -> Option<pain_entries::Model> {
    pain_entries::Entity::find_by_id(*id.as_uuid())
        .one(db)
        .await
        .unwrap()
}

async fn issues_of(db: &DatabaseConnection, id: &str) -> Vec<entry_issues::Model> {
    dump(db)
        .await
        .issues
        .into_iter()
        .filter(|i| i.entry_key == id)
        .collect()
}

/// Every kind, local dates across the DST change, JSON arrays, tombstones.
async fn rows_match_entries(app: Arc<TestApp>) {
    let patient = Uuid::new_v4();
    let mut d = StoredDoc::create(&app, patient, Month::new(2026, 3).unwrap()).await;
    let n = now();
    // Europe/Berlin moves from +01:00 to +02:00 at 01:00 UTC on 29 March 2026.
    let before_dst = month::add_entry(
        &mut d.doc,
        &Entry::Pain(PainEntry {
            meta: meta(at(2026, 3, 28, 22, 30)), // 23:30 local, 28 March
            score: 6.0,
            worst: Some(8.0),
            least: Some(3.0),
            locations: vec!["lower_back".into(), "hip_left".into()],
            location_note: Some("left side, radiating".into()),
            qualities: vec!["aching".into(), "shooting".into()],
            note: Some("bad night".into()),
        }),
        n,
    )
    .unwrap();
    let after_dst = month::add_entry(&mut d.doc, &pain(at(2026, 3, 29, 22, 30), 4.0), n).unwrap(); // 00:30 local, 30 March
    let intake = month::add_entry(
        &mut d.doc,
        &Entry::Medication(MedicationIntake {
            meta: meta(at(2026, 3, 10, 7, 0)),
            drug: "  OxyContin ".into(),
            rxnorm: Some("1049621".into()),
            amount: 10.0,
            unit: "mg".into(),
            route: Some("oral".into()),
            status: "taken".into(),
            prn: true,
            prn_reason: Some("flare".into()),
            note: None,
        }),
        n,
    )
    .unwrap();
    let exercise = month::add_entry(
        &mut d.doc,
        &Entry::Exercise(ExerciseSession {
            meta: meta(at(2026, 3, 11, 16, 0)),
            activity: "walking".into(),
            minutes: 30.0,
            sets: Some(3.0),
            reps: Some(12.0),
            exertion: Some(4.0),
            note: Some("felt ok".into()),
        }),
        n,
    )
    .unwrap();
    let wellbeing = month::add_entry(
        &mut d.doc,
        &Entry::Wellbeing(WellbeingEntry {
            meta: meta(at(2026, 3, 12, 6, 0)),
            sleep_hours: Some(6.5),
            sleep_quality: Some(5.0),
            mood: Some(6.0),
            stress: None,
            note: None,
        }),
        n,
    )
    .unwrap();
    let checkin = month::add_entry(
        &mut d.doc,
        &Entry::Checkin(PegCheckin {
            meta: meta(at(2026, 3, 13, 18, 0)),
            pain: 6.0,
            enjoyment: 5.0,
            activity: 7.0,
            note: None,
        }),
        n,
    )
    .unwrap();
    d.flush(&app).await;

    let server = load(&app, &d.id).await;
    let synced = at(2026, 3, 30, 12, 0);
    let summary = project_whole(&app, &d.target(synced), &server, n).await;
    assert_eq!(summary.upserted, 6);
    assert_eq!((summary.invalid, summary.unreadable), (0, 0));
    assert_eq!(
        summary.pain_days,
        BTreeSet::from([date(2026, 3, 28), date(2026, 3, 30)])
    );
    assert_eq!(summary.intake_days, BTreeSet::from([date(2026, 3, 10)]));

    let db = &app.state.db;
    let p = pain_row(db, before_dst).await.unwrap();
    assert_eq!(p.patient_id, patient);
    assert_eq!(p.document_id, d.id);
    assert_eq!(p.recorded_at, at(2026, 3, 28, 22, 30));
    assert_eq!(p.tz, TZ);
    assert_eq!(p.local_date, date(2026, 3, 28));
    assert_eq!((p.score, p.worst, p.least), (6.0, Some(8.0), Some(3.0)));
    assert_eq!(p.locations, r#"["lower_back","hip_left"]"#);
    assert_eq!(p.qualities, r#"["aching","shooting"]"#);
    assert_eq!(p.location_note.as_deref(), Some("left side, radiating"));
    assert_eq!(p.note.as_deref(), Some("bad night"));
    assert!(p.valid && !p.deleted);
    assert_eq!(p.updated_at, None);
    assert_eq!(p.synced_at, synced);
    assert!(p.late, "synced 38 hours after recorded_at");
    let p = pain_row(db, after_dst).await.unwrap();
    assert_eq!(
        p.local_date,
        date(2026, 3, 30),
        "after the DST change Berlin is UTC+2"
    );
    assert_eq!((p.locations.as_str(), p.qualities.as_str()), ("[]", "[]"));
    assert!(!p.late, "synced 13.5 hours after recorded_at");

    let m = medication_intakes::Entity::find_by_id(*intake.as_uuid())
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (m.drug.as_str(), m.drug_normalized.as_str()),
        ("  OxyContin ", "oxycontin")
    );
    assert_eq!(m.rxnorm.as_deref(), Some("1049621"));
    assert_eq!(
        (m.amount, m.unit.as_str(), m.route.as_deref()),
        (10.0, "mg", Some("oral"))
    );
    assert_eq!(
        (m.status.as_str(), m.prn, m.prn_reason.as_deref()),
        ("taken", true, Some("flare"))
    );
    assert_eq!(m.local_date, date(2026, 3, 10));
    let x = exercise_sessions::Entity::find_by_id(*exercise.as_uuid())
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((x.activity.as_str(), x.minutes), ("walking", 30.0));
    assert_eq!(
        (x.sets, x.reps, x.exertion),
        (Some(3.0), Some(12.0), Some(4.0))
    );
    assert_eq!(x.note.as_deref(), Some("felt ok"));
    let w = wellbeing_entries::Entity::find_by_id(*wellbeing.as_uuid())
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (w.sleep_hours, w.sleep_quality, w.mood, w.stress),
        (Some(6.5), Some(5.0), Some(6.0), None)
    );
    let c = peg_checkins::Entity::find_by_id(*checkin.as_uuid())
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.pain, c.enjoyment, c.activity, c.score),
        (6.0, 5.0, 7.0, 6.0)
    );
    assert!(dump(db).await.issues.is_empty());

    // A tombstone: the row stays, marked deleted, with the entry's updated_at.
    let deleted_at = at(2026, 3, 31, 9, 0);
    month::delete_entry(&mut d.doc, EntryKind::Pain, &after_dst, deleted_at).unwrap();
    let changes = d.flush(&app).await;
    let server = load(&app, &d.id).await;
    let summary =
        project_changes(&app, &d.target(at(2026, 3, 31, 9, 5)), &server, &changes, n).await;
    assert_eq!(summary.upserted, 1);
    assert_eq!(summary.pain_days, BTreeSet::from([date(2026, 3, 30)]));
    assert!(summary.intake_days.is_empty());
    let p = pain_row(db, after_dst).await.unwrap();
    assert!(p.deleted);
    assert_eq!(p.updated_at, Some(deleted_at));
    assert_eq!(
        p.synced_at, synced,
        "synced_at is kept from the first projection"
    );
}
story!(rows_match_entries);

/// Invalid entries are projected with valid=false and listed as issues until fixed;
/// unreadable entries and entries without a local day are issues only.
async fn invalid_and_unreadable_entries(app: Arc<TestApp>) {
    let db = &app.state.db;
    let mut d = StoredDoc::create(&app, Uuid::new_v4(), Month::new(2026, 3).unwrap()).await;
    let n = now();
    let synced = at(2026, 3, 20, 12, 0);

    let invalid = month::add_entry_unchecked(
        &mut d.doc,
        EntryId::new(),
        &pain(at(2026, 3, 20, 9, 0), 12.0),
        n,
    )
    .unwrap();
    // An entry without `score`: written with raw Automerge calls, as a buggy client would.
    let unreadable = EntryId::new();
    let pain_map = match d.doc.get(ROOT, "pain").unwrap() {
        Some((_, obj)) => obj,
        None => panic!("no pain map"),
    };
    let obj = d
        .doc
        .put_object(&pain_map, unreadable.to_string(), ObjType::Map)
        .unwrap();
    d.doc
        .put(
            &obj,
            "recorded_at",
            automerge::ScalarValue::Timestamp(at(2026, 3, 20, 9, 5).timestamp_millis()),
        )
        .unwrap();
    d.doc.put(&obj, "tz", TZ).unwrap();
    d.doc
        .commit_with(CommitOptions::default().with_time(n.timestamp()));
    // A time zone that does not exist: no local day, so no row.
    let mut on_mars = pain(at(2026, 3, 20, 9, 10), 5.0);
    if let Entry::Pain(p) = &mut on_mars {
        p.meta.tz = "Mars/Olympus_Mons".into();
    }
    let no_day = month::add_entry_unchecked(&mut d.doc, EntryId::new(), &on_mars, n).unwrap();
    let changes = d.flush(&app).await;
    let server = load(&app, &d.id).await;
    let summary = project_changes(&app, &d.target(synced), &server, &changes, n).await;
    assert_eq!(
        (summary.upserted, summary.invalid, summary.unreadable),
        (1, 1, 2)
    );

    let row = pain_row(db, invalid)
        .await
        .expect("an invalid entry is projected");
    assert!(!row.valid);
    assert_eq!(row.score, 12.0);
    let issues = issues_of(db, &invalid.to_string()).await;
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].reason_code, "out_of_scale");
    assert_eq!(issues[0].reason, "score must be between 0 and 10, got 12");
    assert_eq!(
        (issues[0].kind.as_str(), issues[0].patient_id),
        ("pain", d.patient)
    );
    assert_eq!(issues[0].first_seen_at, n);

    assert!(pain_row(db, unreadable).await.is_none());
    let issues = issues_of(db, &unreadable.to_string()).await;
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].reason_code, "unreadable");
    assert!(issues[0].reason.contains("score"), "{}", issues[0].reason);

    assert!(pain_row(db, no_day).await.is_none());
    let issues = issues_of(db, &no_day.to_string()).await;
    assert_eq!(
        issues
            .iter()
            .map(|i| i.reason_code.as_str())
            .collect::<Vec<_>>(),
        ["unknown_time_zone"]
    );

    // Trends read only valid, live rows.
    let valid_live = dump(db)
        .await
        .pain
        .iter()
        .filter(|p| p.valid && !p.deleted)
        .count();
    assert_eq!(valid_live, 0);

    // Projected again later: the issue keeps first_seen_at and moves last_seen_at.
    let later = n + Duration::hours(1);
    project_whole(&app, &d.target(synced), &server, later).await;
    let issues = issues_of(db, &invalid.to_string()).await;
    assert_eq!(
        (issues[0].first_seen_at, issues[0].last_seen_at),
        (n, later)
    );

    // The patient fixes the score: the row becomes valid and the issue disappears.
    month::edit_entry(
        &mut d.doc,
        EntryKind::Pain,
        &invalid,
        &[("score", FieldValue::Int(6))],
        later,
    )
    .unwrap();
    // And the missing score is added to the unreadable one, the time zone fixed.
    month::edit_entry(
        &mut d.doc,
        EntryKind::Pain,
        &unreadable,
        &[("score", FieldValue::Int(3))],
        later,
    )
    .unwrap();
    month::edit_entry(
        &mut d.doc,
        EntryKind::Pain,
        &no_day,
        &[("tz", FieldValue::Text(TZ.into()))],
        later,
    )
    .unwrap();
    let changes = d.flush(&app).await;
    let server = load(&app, &d.id).await;
    let summary = project_changes(&app, &d.target(later), &server, &changes, later).await;
    assert_eq!(
        (summary.upserted, summary.invalid, summary.unreadable),
        (3, 0, 0)
    );
    let row = pain_row(db, invalid).await.unwrap();
    assert!(row.valid);
    assert_eq!(row.score, 6.0);
    assert_eq!(row.synced_at, synced);
    assert_eq!(pain_row(db, unreadable).await.unwrap().score, 3.0);
    assert_eq!(
        pain_row(db, unreadable).await.unwrap().synced_at,
        later,
        "first projected now"
    );
    assert_eq!(
        pain_row(db, no_day).await.unwrap().local_date,
        date(2026, 3, 20)
    );
    assert!(dump(db).await.issues.is_empty(), "every issue was fixed");

    // Broken again (tz unknown): the row goes, the issue comes back.
    let mut raw = d.doc.fork().with_actor(ActorId::random());
    let obj = match month_entry_obj(&raw, "pain", &no_day) {
        Some(obj) => obj,
        None => panic!("entry not found"),
    };
    raw.put(&obj, "tz", "Nowhere/Atlantis").unwrap();
    raw.commit();
    d.doc.merge(&mut raw).unwrap();
    let changes = d.flush(&app).await;
    let server = load(&app, &d.id).await;
    let summary = project_changes(&app, &d.target(later), &server, &changes, later).await;
    assert_eq!((summary.upserted, summary.unreadable), (0, 1));
    assert_eq!(
        summary.pain_days,
        BTreeSet::from([date(2026, 3, 20)]),
        "the day it left"
    );
    assert!(pain_row(db, no_day).await.is_none());
    assert_eq!(
        issues_of(db, &no_day.to_string()).await[0].reason_code,
        "unknown_time_zone"
    );
}
story!(invalid_and_unreadable_entries);

/// An entry under a key that is not a UUID (a foreign client's mistake) is recorded as an
/// unreadable issue by the incremental projection, and the issue goes when the key does.
async fn entries_under_keys_that_are_not_uuids(app: Arc<TestApp>) {
    let db = &app.state.db;
    let mut d = StoredDoc::create(&app, Uuid::new_v4(), Month::new(2026, 3).unwrap()).await;
    let n = now();
    let pain_map = match d.doc.get(ROOT, "pain").unwrap() {
        Some((_, obj)) => obj,
        None => panic!("no pain map"),
    };
    let obj = d
        .doc
        .put_object(&pain_map, "entry-7", ObjType::Map)
        .unwrap();
    d.doc
        .put(
            &obj,
            "recorded_at",
            automerge::ScalarValue::Timestamp(at(2026, 3, 20, 9, 5).timestamp_millis()),
        )
        .unwrap();
    d.doc.put(&obj, "tz", TZ).unwrap();
    d.doc.put(&obj, "score", 4).unwrap();
    d.doc
        .commit_with(CommitOptions::default().with_time(n.timestamp()));
    let changes = d.flush(&app).await;
    let server = load(&app, &d.id).await;
    let summary = project_changes(&app, &d.target(n), &server, &changes, n).await;
    assert_eq!((summary.upserted, summary.unreadable), (0, 1));
    let issues = issues_of(db, "entry-7").await;
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].reason_code, "unreadable");
    assert_eq!(issues[0].reason, "entry key is not a UUID");
    assert_eq!(issues[0].kind, "pain");

    // The foreign client removes the key: the issue goes with it.
    d.doc.delete(&pain_map, "entry-7").unwrap();
    d.doc
        .commit_with(CommitOptions::default().with_time(n.timestamp()));
    let changes = d.flush(&app).await;
    let server = load(&app, &d.id).await;
    project_changes(&app, &d.target(n), &server, &changes, n).await;
    assert!(issues_of(db, "entry-7").await.is_empty());
}
story!(entries_under_keys_that_are_not_uuids);

fn month_entry_obj(doc: &AutoCommit, map_key: &str, id: &EntryId) -> Option<automerge::ObjId> {
    let (_, map) = doc.get(ROOT, map_key).ok()??;
    let (_, obj) = doc.get(&map, id.to_string()).ok()??;
    Some(obj)
}

/// Two devices edit the same month offline; whichever change the server projects first,
/// the rows end up the same, even when a replica projected one device's change without
/// having seen the other's.
async fn concurrent_edits_converge(app: Arc<TestApp>) {
    let db = &app.state.db;
    let mut d = StoredDoc::create(&app, Uuid::new_v4(), Month::new(2026, 3).unwrap()).await;
    let n = now();
    let shared = month::add_entry(&mut d.doc, &pain(at(2026, 3, 25, 8, 0), 5.0), n).unwrap();
    let doomed = month::add_entry(&mut d.doc, &pain(at(2026, 3, 25, 9, 0), 4.0), n).unwrap();
    let base_changes = d.flush(&app).await;
    let base = load(&app, &d.id).await;
    let synced = at(2026, 3, 25, 12, 0);

    // Device A: raises the shared entry's score and adds an intake.
    let mut a = d.doc.fork().with_actor(ActorId::random());
    let edit_a = at(2026, 3, 26, 10, 0);
    month::edit_entry(
        &mut a,
        EntryKind::Pain,
        &shared,
        &[("score", FieldValue::Int(7))],
        edit_a,
    )
    .unwrap();
    let intake = month::add_entry(
        &mut a,
        &Entry::Medication(MedicationIntake {
            meta: meta(at(2026, 3, 26, 9, 0)),
            drug: "Ibuprofen".into(),
            rxnorm: None,
            amount: 400.0,
            unit: "mg".into(),
            route: None,
            status: "taken".into(),
            prn: false,
            prn_reason: None,
            note: None,
        }),
        edit_a,
    )
    .unwrap();
    // Device B: adds a note to the shared entry and deletes the other one.
    let mut b = d.doc.fork().with_actor(ActorId::random());
    let edit_b = at(2026, 3, 26, 11, 0);
    month::edit_entry(
        &mut b,
        EntryKind::Pain,
        &shared,
        &[("note", FieldValue::Text("after walk".into()))],
        edit_b,
    )
    .unwrap();
    month::delete_entry(&mut b, EntryKind::Pain, &doomed, edit_b).unwrap();
    let changes_a = a.get_changes(&d.heads);
    let changes_b = b.get_changes(&d.heads);

    let start = |base: &Automerge| base.fork();
    let target = d.target(synced);
    let project_base = || project_from_scratch(&app, &target, &base, &base_changes, n);

    // A then B on one server.
    project_base().await;
    let mut server = start(&base);
    server.apply_changes(changes_a.clone()).unwrap();
    project_changes(&app, &target, &server, &changes_a, n).await;
    server.apply_changes(changes_b.clone()).unwrap();
    project_changes(&app, &target, &server, &changes_b, n).await;
    let a_then_b = dump(db).await;

    // B then A.
    project_base().await;
    let mut server = start(&base);
    server.apply_changes(changes_b.clone()).unwrap();
    project_changes(&app, &target, &server, &changes_b, n).await;
    server.apply_changes(changes_a.clone()).unwrap();
    project_changes(&app, &target, &server, &changes_a, n).await;
    let b_then_a = dump(db).await;
    assert_eq!(a_then_b, b_then_a);

    // Two replicas: one projects A's change knowing only A; the other projects B's change
    // after merging both (it loaded A's chunk before storing B's).
    project_base().await;
    let mut replica_1 = start(&base);
    replica_1.apply_changes(changes_a.clone()).unwrap();
    let mut replica_2 = start(&base);
    replica_2.apply_changes(changes_b.clone()).unwrap();
    project_changes(&app, &target, &replica_2, &changes_b, n).await; // before it saw A
    project_changes(&app, &target, &replica_1, &changes_a, n).await;
    replica_2.apply_changes(changes_a.clone()).unwrap();
    project_changes(&app, &target, &replica_2, &changes_a, n).await;
    assert_eq!(dump(db).await, a_then_b);

    // And the merged result is what both devices meant.
    let rows = &a_then_b.pain;
    let shared_row = rows
        .iter()
        .find(|r| r.entry_id == *shared.as_uuid())
        .unwrap();
    assert_eq!(
        (shared_row.score, shared_row.note.as_deref()),
        (7.0, Some("after walk"))
    );
    // Both devices set updated_at concurrently: Automerge keeps one (by actor order, not
    // by time), the same on every replica.
    assert!([Some(edit_a), Some(edit_b)].contains(&shared_row.updated_at));
    assert!(
        rows.iter()
            .find(|r| r.entry_id == *doomed.as_uuid())
            .unwrap()
            .deleted
    );
    assert_eq!(a_then_b.medication.len(), 1);
    assert_eq!(a_then_b.medication[0].entry_id, *intake.as_uuid());
}
story!(concurrent_edits_converge);

async fn project_from_scratch(
    app: &TestApp,
    target: &ProjectionTarget<'_>,
    doc: &Automerge,
    changes: &[Change],
    now: DateTime<Utc>,
) {
    clear_projection(&app.state.db).await;
    project_changes(app, target, doc, changes, now).await;
}

/// `synced_at` is the first projection's and never changes; `late` follows recorded_at.
async fn synced_at_and_late(app: Arc<TestApp>) {
    let db = &app.state.db;
    let mut d = StoredDoc::create(&app, Uuid::new_v4(), Month::new(2026, 3).unwrap()).await;
    let synced = at(2026, 3, 30, 12, 0);
    let n = synced;
    let old = month::add_entry(&mut d.doc, &pain(synced - Duration::days(3), 6.0), n).unwrap();
    let fresh = month::add_entry(&mut d.doc, &pain(synced - Duration::hours(23), 5.0), n).unwrap();
    let changes = d.flush(&app).await;
    let server = load(&app, &d.id).await;
    project_changes(&app, &d.target(synced), &server, &changes, n).await;
    let row = pain_row(db, old).await.unwrap();
    assert!(row.late);
    assert_eq!(row.synced_at, synced);
    assert!(!pain_row(db, fresh).await.unwrap().late);

    // Reprojected by a later sync, whole or incrementally: synced_at stays.
    let before = dump(db).await;
    project_whole(&app, &d.target(synced + Duration::hours(5)), &server, n).await;
    project_changes(
        &app,
        &d.target(synced + Duration::hours(6)),
        &server,
        &changes,
        n,
    )
    .await;
    assert_eq!(dump(db).await, before);

    // recorded_at corrected to just before the sync: no longer late, computed on conflict
    // from the stored synced_at (not from this projection's).
    let edit = synced + Duration::days(1);
    month::edit_entry(
        &mut d.doc,
        EntryKind::Pain,
        &old,
        &[(
            "recorded_at",
            FieldValue::Instant(synced - Duration::hours(1)),
        )],
        edit,
    )
    .unwrap();
    // And the fresh one moved back two days: late now.
    month::edit_entry(
        &mut d.doc,
        EntryKind::Pain,
        &fresh,
        &[(
            "recorded_at",
            FieldValue::Instant(synced - Duration::days(2)),
        )],
        edit,
    )
    .unwrap();
    let changes = d.flush(&app).await;
    let server = load(&app, &d.id).await;
    let summary = project_changes(
        &app,
        &d.target(edit + Duration::days(3)),
        &server,
        &changes,
        edit,
    )
    .await;
    assert_eq!(
        summary.pain_days,
        BTreeSet::from([
            date(2026, 3, 27),
            date(2026, 3, 28),
            date(2026, 3, 29),
            date(2026, 3, 30)
        ])
    );
    let row = pain_row(db, old).await.unwrap();
    assert_eq!((row.late, row.synced_at), (false, synced));
    let row = pain_row(db, fresh).await.unwrap();
    assert_eq!((row.late, row.synced_at), (true, synced));
}
story!(synced_at_and_late);

/// One UUID in two documents: the first document's row stays; the second gets an issue.
async fn entry_id_in_two_documents(app: Arc<TestApp>) {
    let db = &app.state.db;
    let patient = Uuid::new_v4();
    let n = now();
    let id = EntryId::new();
    let mut march = StoredDoc::create(&app, patient, Month::new(2026, 3).unwrap()).await;
    let mut feb = StoredDoc::create(&app, patient, Month::new(2026, 2).unwrap()).await;
    month::add_entry_unchecked(&mut march.doc, id, &pain(at(2026, 3, 3, 9, 0), 4.0), n).unwrap();
    month::add_entry_unchecked(&mut feb.doc, id, &pain(at(2026, 2, 3, 9, 0), 9.0), n).unwrap();
    march.flush(&app).await;
    feb.flush(&app).await;
    let server_march = load(&app, &march.id).await;
    let server_feb = load(&app, &feb.id).await;
    project_whole(&app, &march.target(n), &server_march, n).await;
    let summary = project_whole(&app, &feb.target(n), &server_feb, n).await;
    assert_eq!((summary.upserted, summary.unreadable), (0, 1));
    let row = pain_row(db, id).await.unwrap();
    assert_eq!(
        (row.document_id.as_str(), row.score),
        (march.id.as_str(), 4.0)
    );
    let issues = issues_of(db, &id.to_string()).await;
    assert_eq!(issues.len(), 1);
    assert_eq!(
        (
            issues[0].document_id.as_str(),
            issues[0].reason_code.as_str()
        ),
        (feb.id.as_str(), "duplicate_entry_id")
    );
    // Projecting March again changes nothing; the February issue stays until fixed.
    project_whole(&app, &march.target(n), &server_march, n).await;
    assert_eq!(pain_row(db, id).await.unwrap().score, 4.0);
}
story!(entry_id_in_two_documents);

/// `reproject` rebuilds from the stored chunks exactly what incremental projection wrote,
/// and removes projections of documents that no longer exist.
async fn reproject_matches_incremental(app: Arc<TestApp>) {
    let db = &app.state.db;
    let n = now();
    for (patient, months) in [(Uuid::new_v4(), [2, 3]), (Uuid::new_v4(), [1, 3])] {
        for m in months {
            let mut d = StoredDoc::create(&app, patient, Month::new(2026, m).unwrap()).await;
            let mut ids = Vec::new();
            for day in 1..=5 {
                let recorded = at(2026, u32::from(m), day * 5, 7, 30);
                ids.push(month::add_entry(&mut d.doc, &pain(recorded, f64::from(day)), n).unwrap());
                let bad = month::add_entry_unchecked(
                    &mut d.doc,
                    EntryId::new(),
                    &pain(recorded, 11.0),
                    n,
                )
                .unwrap();
                month::add_entry(
                    &mut d.doc,
                    &Entry::Wellbeing(WellbeingEntry {
                        meta: meta(recorded),
                        sleep_hours: Some(7.0),
                        sleep_quality: None,
                        mood: Some(f64::from(day)),
                        stress: None,
                        note: None,
                    }),
                    n,
                )
                .unwrap();
                // Each day is its own sync: chunk + incremental projection.
                let changes = d.flush(&app).await;
                let server = load(&app, &d.id).await;
                let synced = recorded + Duration::hours(i64::from(day) * 10);
                project_changes(&app, &d.target(synced), &server, &changes, n).await;
                if day == 3 {
                    month::delete_entry(&mut d.doc, EntryKind::Pain, &ids[0], n).unwrap();
                    month::edit_entry(
                        &mut d.doc,
                        EntryKind::Pain,
                        &bad,
                        &[("score", FieldValue::Int(2))],
                        n,
                    )
                    .unwrap();
                    let changes = d.flush(&app).await;
                    let server = load(&app, &d.id).await;
                    project_changes(&app, &d.target(synced), &server, &changes, n).await;
                }
            }
        }
    }
    let incremental = dump(db).await;
    assert_eq!(incremental.pain.len(), 40);
    assert_eq!(incremental.wellbeing.len(), 20);
    assert_eq!(incremental.pain.iter().filter(|p| p.deleted).count(), 4);
    assert_eq!(incremental.pain.iter().filter(|p| !p.valid).count(), 16);
    assert_eq!(incremental.issues.len(), 16);
    assert!(incremental.pain.iter().any(|p| p.late) && incremental.pain.iter().any(|p| !p.late));

    // Rows of a document that is gone (erased) must not survive a reprojection.
    let mut orphan = incremental.pain[0].clone();
    orphan.entry_id = Uuid::new_v4();
    orphan.document_id = "gone".into();
    pain_entries::Entity::insert(sea_orm::IntoActiveModel::into_active_model(orphan))
        .exec(db)
        .await
        .unwrap();

    let report = projection::reproject_all(db, n).await.unwrap();
    assert_eq!(report.documents, 4);
    assert_eq!(report.entries, 60);
    assert_eq!(report.invalid, 16);
    assert_eq!(report.orphans_removed, 1);
    let reprojected = dump(db).await;
    // Identical, issues included: `last_seen_at` is the projection's `now`, which here is
    // the same as the incremental projections' (a real reprojection moves it forward).
    assert_eq!(reprojected, incremental);
}
story!(reproject_matches_incremental);
