//! The cost that alert evaluation adds to every diary commit on the sync hot path:
//! `alerts::evaluate_patient` for the day just touched, inside a SQLite write transaction
//! (rolled back after each iteration so every iteration sees the same rows), for a
//! patient with 90 days of data (3 pain entries and 4 intakes a day; the rules read the
//! last 77: their 70 days of history and a week).
//! - `quiet`: stable pain, no decision (the common case);
//! - `attach`: a worsening that is already alerted; the trigger refreshes the open alert.
//!
//! Run: `cargo bench -p paindiary-server --bench alert_eval`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::hint::black_box;

use chrono::{Days, NaiveDate, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use paindiary_server::accounts::{self, NewPatient};
use paindiary_server::alerts::{self, evaluate::Scope};
use paindiary_server::domain::{DisplayCode, TimeZoneName};
use paindiary_server::entity::{medication_intakes, pain_entries};
use paindiary_server::{AppState, Config};
use sea_orm::{ActiveValue::Set, EntityTrait};
use uuid::Uuid;

const DAYS: u64 = 90;

async fn patient_with_history(
    state: &AppState,
    code: &str,
    last_days_score: f64,
) -> (Uuid, NaiveDate) {
    let clinic = accounts::create_clinic(state, "Bench").await.unwrap().id;
    let created = accounts::create_patient(
        state,
        None,
        NewPatient {
            clinic,
            display_code: DisplayCode::parse(code).unwrap(),
            timezone: TimeZoneName::parse("UTC").unwrap(),
        },
    )
    .await
    .unwrap();
    let patient = created.patient.id.uuid();
    let now = Utc::now();
    let today = now.date_naive();
    let mut pain = Vec::new();
    let mut intakes = Vec::new();
    for back in 0..DAYS {
        let date = today.checked_sub_days(Days::new(back)).unwrap();
        let at = now - TimeDelta::days(back as i64);
        let score = if back < 3 { last_days_score } else { 3.0 };
        for _ in 0..3 {
            pain.push(pain_entries::ActiveModel {
                entry_id: Set(Uuid::now_v7()),
                patient_id: Set(patient),
                document_id: Set("bench".into()),
                recorded_at: Set(at),
                tz: Set("UTC".into()),
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
            });
        }
        for (drug, mg) in [
            ("ibuprofen", 400.0),
            ("oxycodone", 5.0),
            ("gabapentin", 300.0),
            ("oxycodone", 5.0),
        ] {
            intakes.push(medication_intakes::ActiveModel {
                entry_id: Set(Uuid::now_v7()),
                patient_id: Set(patient),
                document_id: Set("bench".into()),
                recorded_at: Set(at),
                tz: Set("UTC".into()),
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
            });
        }
    }
    pain_entries::Entity::insert_many(pain)
        .exec(&state.db)
        .await
        .unwrap();
    medication_intakes::Entity::insert_many(intakes)
        .exec(&state.db)
        .await
        .unwrap();
    (patient, today)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: tmp.path().to_owned(),
        ..Config::default()
    };
    let state = rt.block_on(AppState::open(config)).unwrap();
    let quiet = rt.block_on(patient_with_history(&state, "PD-0001", 3.0));
    let worse = rt.block_on(patient_with_history(&state, "PD-0002", 6.0));
    // Open the worsening alert once, for real, so that `attach` finds it.
    rt.block_on(async {
        let txn = paindiary_server::db::begin_write(&state.db).await.unwrap();
        let days = BTreeSet::from([worse.1]);
        let s = alerts::evaluate_patient(
            &txn,
            &state.config.alerts,
            worse.0,
            Scope::Days(&days),
            None,
            Utc::now(),
        )
        .await
        .unwrap();
        assert_eq!(s.opened, 1, "{s:?}");
        txn.commit().await.unwrap();
    });
    let mut group = c.benchmark_group("alert_eval");
    for (name, (patient, today), attach) in [("quiet", quiet, false), ("attach", worse, true)] {
        let days = BTreeSet::from([today]);
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let txn = paindiary_server::db::begin_write(&state.db).await.unwrap();
                    let s = alerts::evaluate_patient(
                        &txn,
                        &state.config.alerts,
                        patient,
                        Scope::Days(&days),
                        None,
                        Utc::now(),
                    )
                    .await
                    .unwrap();
                    assert_eq!(s.decisions > 0, attach);
                    txn.rollback().await.unwrap();
                    black_box(s)
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
