//! The dashboard's two heavy reads (issue #5 figures):
//! - `trends_year`: `trends::compute` for one patient over 365 local days with about
//!   3,000 entries (4 pain scores and 4 intakes a day) and a care plan;
//! - `patient_list_500`: `trends::list::summarise` for a clinician's 500 patients, each
//!   with 4 weeks of data (2 scores and 2 intakes a day) and a care plan whose
//!   prescriptions are projected as the hub's commit projects them (the list keeps no
//!   state between renders, so the first render after a start costs the same); every
//!   fifth patient has an unresolved alert, ranked in the triage order.
//!
//! On SQLite by default; on PostgreSQL when `PAINDIARY_BENCH_PG_URL` names a server
//! (e.g. `postgres://postgres@127.0.0.1:5432/postgres`): a fresh database is created there
//! for the run and dropped after.
//!
//! Run: `cargo bench -p paindiary-server --bench dashboard -- --warm-up-time 1 --measurement-time 5`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use paindiary_server::accounts;
use paindiary_server::entity::{medication_intakes, pain_entries, patients};
use paindiary_server::storage::{self, DocumentMeta};
use paindiary_server::{AppState, Config};
use paindiary_sync::ids::PatientId as DocPatientId;
use paindiary_sync::schema::DocKind;
use paindiary_sync::schema::care_plan::{Section, put_item};
use paindiary_sync::schema::month::FieldValue;
use sea_orm::{ActiveValue::Set, ConnectionTrait, Database, EntityTrait};
use secrecy::SecretString;
use uuid::Uuid;

/// Rows per INSERT (well under both backends' bound-parameter limits).
const INSERT_BATCH: usize = 500;

fn pain_row(
    patient: Uuid,
    at: DateTime<Utc>,
    date: NaiveDate,
    score: f64,
) -> pain_entries::ActiveModel {
    pain_entries::ActiveModel {
        entry_id: Set(Uuid::now_v7()),
        patient_id: Set(patient),
        document_id: Set("bench".into()),
        recorded_at: Set(at),
        tz: Set("Europe/Berlin".into()),
        local_date: Set(date),
        deleted: Set(false),
        updated_at: Set(None),
        synced_at: Set(at),
        late: Set(false),
        valid: Set(true),
        score: Set(score),
        worst: Set(None),
        least: Set(None),
        locations: Set("[]".into()),
        qualities: Set("[]".into()),
        location_note: Set(None),
        note: Set(None),
    }
}

fn intake_row(
    patient: Uuid,
    at: DateTime<Utc>,
    date: NaiveDate,
    drug: &str,
    mg: f64,
) -> medication_intakes::ActiveModel {
    medication_intakes::ActiveModel {
        entry_id: Set(Uuid::now_v7()),
        patient_id: Set(patient),
        document_id: Set("bench".into()),
        recorded_at: Set(at),
        tz: Set("Europe/Berlin".into()),
        local_date: Set(date),
        deleted: Set(false),
        updated_at: Set(None),
        synced_at: Set(at),
        late: Set(false),
        valid: Set(true),
        drug: Set(drug.into()),
        drug_normalized: Set(drug.into()),
        rxnorm: Set(None),
        amount: Set(mg),
        unit: Set("mg".into()),
        route: Set(Some("oral".into())),
        status: Set("taken".into()),
        prn: Set(false),
        prn_reason: Set(None),
        note: Set(None),
    }
}

/// Diary rows of `days` days back from `today`: `per_day` scores and `per_day` intakes.
fn diary(
    patient: Uuid,
    now: DateTime<Utc>,
    today: NaiveDate,
    days: u64,
    per_day: usize,
) -> (
    Vec<pain_entries::ActiveModel>,
    Vec<medication_intakes::ActiveModel>,
) {
    let mut pain = Vec::new();
    let mut intakes = Vec::new();
    for back in 0..days {
        let date = today.checked_sub_days(Days::new(back)).unwrap();
        let at = now - TimeDelta::days(back as i64);
        for n in 0..per_day {
            pain.push(pain_row(
                patient,
                at,
                date,
                3.0 + ((back as usize + n) % 5) as f64,
            ));
            let (drug, mg) = if n % 2 == 0 {
                ("oxycodone", 5.0)
            } else {
                ("ibuprofen", 400.0)
            };
            intakes.push(intake_row(patient, at, date, drug, mg));
        }
    }
    (pain, intakes)
}

async fn insert_diary(
    db: &impl ConnectionTrait,
    (pain, intakes): (
        Vec<pain_entries::ActiveModel>,
        Vec<medication_intakes::ActiveModel>,
    ),
) {
    let mut pain = pain.into_iter().peekable();
    while pain.peek().is_some() {
        let batch: Vec<_> = pain.by_ref().take(INSERT_BATCH).collect();
        pain_entries::Entity::insert_many(batch)
            .exec(db)
            .await
            .unwrap();
    }
    let mut intakes = intakes.into_iter().peekable();
    while intakes.peek().is_some() {
        let batch: Vec<_> = intakes.by_ref().take(INSERT_BATCH).collect();
        medication_intakes::Entity::insert_many(batch)
            .exec(db)
            .await
            .unwrap();
    }
}

/// A care plan as the editor writes it: two scheduled drugs, an exercise, an intervention.
async fn store_care_plan(state: &AppState, patient: Uuid, now: DateTime<Utc>, start: NaiveDate) {
    let kind = DocKind::CarePlan {
        patient: DocPatientId::from_uuid(patient),
    };
    let mut doc = kind.create(automerge::ActorId::random()).unwrap();
    let start = start.to_string();
    for (id, drug, times) in [("m1", "oxycodone", 2.0), ("m2", "ibuprofen", 3.0)] {
        put_item(
            &mut doc,
            Section::Medications,
            id,
            &[
                ("drug", FieldValue::Text(drug.into())),
                ("dose_amount", FieldValue::Float(5.0)),
                ("dose_unit", FieldValue::Text("mg".into())),
                ("times_per_day", FieldValue::Float(times)),
                ("start_date", FieldValue::Text(start.clone())),
            ],
            now,
        )
        .unwrap();
    }
    put_item(
        &mut doc,
        Section::Exercises,
        "e1",
        &[
            ("activity", FieldValue::Text("walking".into())),
            ("minutes_per_session", FieldValue::Float(30.0)),
            ("sessions_per_week", FieldValue::Float(5.0)),
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
            ("date", FieldValue::Text(start)),
        ],
        now,
    )
    .unwrap();
    let id = kind.document_id();
    storage::register(&state.db, &id, DocumentMeta { kind }, now)
        .await
        .unwrap();
    storage::append_chunk(&state.db, &id, doc.save(), true, now)
        .await
        .unwrap();
    // What the hub's commit does after storing a care plan's chunks.
    let projected =
        paindiary_server::projection::care_plan::project_care_plan(&state.db, patient, now)
            .await
            .unwrap();
    assert_eq!(projected, 2);
}

/// An unresolved alert as the rules write it (figures included), for the triage order.
async fn new_alert(state: &AppState, patient: Uuid, clinic: Uuid, n: u32, now: DateTime<Utc>) {
    use paindiary_server::entity::alerts;
    let (rule, severity) = match n % 3 {
        0 => ("severe", "urgent"),
        1 => ("worsening", "warning"),
        _ => ("opioid_load", "info"),
    };
    alerts::Entity::insert(alerts::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient),
        clinic_id: Set(clinic),
        rule: Set(rule.into()),
        severity: Set(severity.into()),
        status: Set(if n.is_multiple_of(2) {
            "open"
        } else {
            "acknowledged"
        }
        .into()),
        open_slot: Set(Some(format!("{patient}:{rule}"))),
        opened_at: Set(now),
        last_triggered_at: Set(now),
        trigger_count: Set(1),
        local_day: Set(now.date_naive()),
        latest_day: Set(Some(now.date_naive())),
        current_value: Set(Some(6.0)),
        usual_value: Set(Some(3.5)),
        usual_spread: Set(Some(0.8)),
        magnitude: Set(Some(f64::from(n % 7))),
        reported_late: Set(false),
        explanation: Set("Mean pain 6.0 against a usual 3.5".into()),
        evidence: Set("{}".into()),
        ..Default::default()
    })
    .exec(&state.db)
    .await
    .unwrap();
}

async fn new_patient(state: &AppState, clinic: Uuid, code: String, now: DateTime<Utc>) -> Uuid {
    let id = Uuid::now_v7();
    patients::Entity::insert(patients::ActiveModel {
        id: Set(id),
        clinic_id: Set(clinic),
        display_code: Set(code),
        timezone: Set("Europe/Berlin".into()),
        user_id: Set(None),
        created_at: Set(now),
        erased_at: Set(None),
    })
    .exec(&state.db)
    .await
    .unwrap();
    id
}

/// The application state on SQLite, or on a fresh PostgreSQL database (and its name).
async fn open_state(dir: &std::path::Path) -> (AppState, &'static str, Option<(String, String)>) {
    let mut config = Config {
        data_dir: dir.to_owned(),
        ..Config::default()
    };
    let mut pg = None;
    if let Ok(admin_url) = std::env::var("PAINDIARY_BENCH_PG_URL") {
        let name = format!("paindiary_bench_{}", Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url).await.unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await.ok();
        let base = admin_url.split('?').next().unwrap_or(&admin_url);
        let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
        config.database.url = Some(SecretString::from(format!("{base}/{name}")));
        pg = Some((admin_url, name));
    }
    let backend = if pg.is_some() { "postgres" } else { "sqlite" };
    (AppState::open(config).await.unwrap(), backend, pg)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (state, backend, pg) = rt.block_on(open_state(tmp.path()));
    let now = Utc::now();
    let today = now.date_naive();

    let (year_patient, list) = rt.block_on(async {
        let clinic = accounts::create_clinic(&state, "Bench")
            .await
            .unwrap()
            .id
            .uuid();
        let year_patient = new_patient(&state, clinic, "PD-0000".into(), now).await;
        insert_diary(&state.db, diary(year_patient, now, today, 365, 4)).await;
        store_care_plan(&state, year_patient, now, today - TimeDelta::days(200)).await;
        let mut ids = Vec::new();
        for n in 1..=500u32 {
            let p = new_patient(&state, clinic, format!("PD-{n:04}"), now).await;
            insert_diary(&state.db, diary(p, now, today, 28, 2)).await;
            store_care_plan(&state, p, now, today - TimeDelta::days(60)).await;
            if n.is_multiple_of(5) {
                new_alert(&state, p, clinic, n, now).await;
            }
            ids.push(p);
        }
        let rows: Vec<patients::Model> = patients::Entity::find()
            .all(&state.db)
            .await
            .unwrap()
            .into_iter()
            .filter(|p| ids.contains(&p.id))
            .collect();
        assert_eq!(rows.len(), 500);
        (year_patient, rows)
    });

    let mut group = c.benchmark_group(format!("dashboard_{backend}"));
    group.bench_function("trends_year", |b| {
        b.iter(|| {
            rt.block_on(async {
                let t = paindiary_server::trends::compute(
                    &state.db,
                    year_patient,
                    today - TimeDelta::days(364),
                    today,
                )
                .await
                .unwrap();
                assert_eq!(t.days.iter().filter(|d| d.pain_count > 0).count(), 365);
                black_box(t)
            })
        })
    });
    group.bench_function("patient_list_500", |b| {
        b.iter(|| {
            rt.block_on(async {
                let l = paindiary_server::trends::list::summarise(&state.db, &list, now)
                    .await
                    .unwrap();
                assert_eq!(l.len(), 500);
                // Every patient's adherence computed from the projected prescriptions.
                assert!(l.iter().all(|p| p.adherence_7d.is_some()));
                // The alerting patients first, in triage order.
                assert!(l[..100].iter().all(|p| p.top_alert.is_some()));
                assert_eq!(l[0].top_severity.as_deref(), Some("urgent"));
                black_box(l)
            })
        })
    });
    group.finish();

    if let Some((admin_url, name)) = pg {
        rt.block_on(async {
            state.db.clone().close().await.ok();
            let admin = Database::connect(&admin_url).await.unwrap();
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .ok();
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
