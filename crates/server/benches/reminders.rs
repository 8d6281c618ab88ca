//! The reminder timer at 100,000 schedules (issue 21's bar: one tick over 100,000
//! patients' schedules in under 1 s of CPU on one core):
//! - `next_due_100k`: the due-time computation (`Schedule::next_after`) for 100,000
//!   schedules in five zones (Berlin, New York, Kolkata, Sydney, UTC), one to three times
//!   a day, every day or weekdays only;
//! - `due_query_500_of_100k`: the timer's indexed query for a batch of due reminders
//!   (500, the default batch) among 100,000 stored ones, 1% of them due;
//! - `scan_all_100k_due`: the worst case, every one of the 100,000 reminders due at once:
//!   read them all (the timer's query: only the columns it needs) and compute each one's
//!   next occurrence through the timer's schedule cache (the claim and the outbox insert
//!   per sent reminder are SQL writes, measured by the delivery benches).
//!
//! On SQLite (a file in a temporary directory).
//!
//! Run: `cargo bench -p paindiary-server --bench reminders -- --warm-up-time 1 --measurement-time 3`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use paindiary_server::entity::{patients, reminders};
use paindiary_server::reminders::{Schedule, timer};
use paindiary_server::{AppState, Config};
use sea_orm::{ActiveValue::Set, EntityTrait};
use uuid::Uuid;

const N: usize = 100_000;
const PER_PATIENT: usize = 10;
const ZONES: [&str; 5] = [
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Sydney",
    "UTC",
];

fn times(i: usize) -> Vec<NaiveTime> {
    let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    match i % 3 {
        0 => vec![t(9, 0)],
        1 => vec![t(8, 30), t(21, 0)],
        _ => vec![t(7, 0), t(13, 15), t(20, 45)],
    }
}

fn days(i: usize) -> u8 {
    if i.is_multiple_of(4) {
        0b001_1111
    } else {
        0b111_1111
    }
}

fn schedules() -> Vec<Schedule> {
    (0..N)
        .map(|i| Schedule::new(times(i), days(i), ZONES[i % ZONES.len()].parse().unwrap()).unwrap())
        .collect()
}

async fn seed(state: &AppState, now: DateTime<Utc>) {
    let clinic = paindiary_server::accounts::create_clinic(state, "Bench")
        .await
        .unwrap()
        .id
        .uuid();
    let patient_ids: Vec<Uuid> = (0..N / PER_PATIENT).map(|_| Uuid::now_v7()).collect();
    for chunk in patient_ids.chunks(500) {
        patients::Entity::insert_many(chunk.iter().enumerate().map(|(i, id)| {
            patients::ActiveModel {
                id: Set(*id),
                clinic_id: Set(clinic),
                display_code: Set(format!("PD-{}", id.simple())),
                timezone: Set(ZONES[i % ZONES.len()].into()),
                user_id: Set(None),
                created_at: Set(now),
                erased_at: Set(None),
            }
        }))
        .exec(&state.db)
        .await
        .unwrap();
    }
    let rows: Vec<reminders::ActiveModel> = (0..N)
        .map(|i| {
            let times: Vec<String> = times(i)
                .iter()
                .map(|t| t.format("%H:%M").to_string())
                .collect();
            let days: Vec<&str> = paindiary_server::reminders::schedule::DAY_CODES
                .iter()
                .enumerate()
                .filter(|(b, _)| days(i) & (1 << b) != 0)
                .map(|(_, d)| *d)
                .collect();
            // 1% due now, the rest spread over the next day.
            let due = if i.is_multiple_of(100) {
                now - TimeDelta::seconds(30)
            } else {
                now + TimeDelta::seconds((i % 86_400) as i64 + 60)
            };
            reminders::ActiveModel {
                id: Set(Uuid::now_v7()),
                patient_id: Set(patient_ids[i / PER_PATIENT]),
                kind: Set("log_pain".into()),
                times: Set(serde_json::to_string(&times).unwrap()),
                days: Set(serde_json::to_string(&days).unwrap()),
                channels: Set(r#"["email"]"#.into()),
                timezone: Set(ZONES[i % ZONES.len()].into()),
                enabled: Set(true),
                next_due_at: Set(Some(due)),
                created_at: Set(now),
                updated_at: Set(now),
                last_sent_due_at: Set(None),
                resend_at: Set(None),
                resend_due_at: Set(None),
                snoozed_due_at: Set(None),
            }
        })
        .collect();
    for chunk in rows.chunks(500) {
        reminders::Entity::insert_many(chunk.to_vec())
            .exec(&state.db)
            .await
            .unwrap();
    }
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
    let now = Utc::now();
    rt.block_on(seed(&state, now));
    let all = schedules();

    let mut group = c.benchmark_group("reminders");
    group.sample_size(10);
    group.bench_function("next_due_100k", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for s in &all {
                n += usize::from(black_box(s.next_after(now)).is_some());
            }
            assert_eq!(n, N);
        })
    });
    group.bench_function("due_query_500_of_100k", |b| {
        b.iter(|| {
            rt.block_on(async {
                let due = timer::due_reminders(&state.db, now, 500).await.unwrap();
                assert_eq!(due.len(), 500);
                black_box(due);
            })
        })
    });
    let later = now + TimeDelta::days(2);
    group.bench_function("scan_all_100k_due", |b| {
        b.iter(|| {
            rt.block_on(async {
                let due = timer::due_reminders(&state.db, later, N as u64)
                    .await
                    .unwrap();
                assert_eq!(due.len(), N);
                let mut cache = timer::ScheduleCache::default();
                let mut n = 0usize;
                for row in &due {
                    let next = cache.get(row).and_then(|s| s.next_after(later));
                    n += usize::from(next.is_some());
                }
                assert_eq!(n, N);
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
