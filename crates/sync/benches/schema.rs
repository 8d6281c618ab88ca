//! Phone-sized month documents (240 entries, about eight a day for a month): recording one
//! more entry, reading the whole month or one entry, and loading a saved month.
//!
//! `cargo bench -p paindiary-sync --bench schema` (add `-- --quick` for a short run).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use automerge::{ActorId, AutoCommit};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use paindiary_sync::ids::PatientId;
use paindiary_sync::schema::month::{add_entry, read_entries, read_entry};
use paindiary_sync::schema::{
    DocKind, Entry, EntryKind, EntryMeta, MedicationIntake, PainEntry, WellbeingEntry,
};

const ENTRIES: usize = 240;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap()
}

fn meta(at: DateTime<Utc>) -> EntryMeta {
    EntryMeta {
        recorded_at: at,
        tz: "Europe/Berlin".to_owned(),
        deleted_at: None,
        updated_at: None,
    }
}

fn pain(at: DateTime<Utc>, score: f64) -> Entry {
    Entry::Pain(PainEntry {
        meta: meta(at),
        score,
        worst: Some(8.0),
        least: Some(2.0),
        locations: vec!["lower_back".to_owned(), "hip_left".to_owned()],
        location_note: None,
        qualities: vec!["aching".to_owned(), "shooting".to_owned()],
        note: Some("worse after sitting at work".to_owned()),
    })
}

/// A month with 240 entries: mostly pain, some intakes and wellbeing, as a patient logs.
fn month_with_entries() -> AutoCommit {
    let kind = DocKind::DiaryMonth {
        patient: PatientId::new_random(),
        month: "2026-11".parse().unwrap(),
    };
    let mut doc = kind.create(ActorId::random()).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 7, 0, 0).unwrap();
    for i in 0..ENTRIES {
        let at = start + TimeDelta::minutes(i as i64 * 170);
        let entry = match i % 4 {
            0 | 1 => pain(at, (i % 11) as f64),
            2 => Entry::Medication(MedicationIntake {
                meta: meta(at),
                drug: "oxycodone".to_owned(),
                rxnorm: Some("7804".to_owned()),
                amount: 5.0,
                unit: "mg".to_owned(),
                route: Some("oral".to_owned()),
                status: "taken".to_owned(),
                prn: true,
                prn_reason: Some("breakthrough pain".to_owned()),
                note: None,
            }),
            _ => Entry::Wellbeing(WellbeingEntry {
                meta: meta(at),
                sleep_hours: Some(6.5),
                sleep_quality: Some(5.0),
                mood: Some(6.0),
                stress: Some(4.0),
                note: None,
            }),
        };
        add_entry(&mut doc, &entry, now()).unwrap();
    }
    assert_eq!(read_entries(&doc).entries.len(), ENTRIES);
    doc
}

fn bench(c: &mut Criterion) {
    let mut month = month_with_entries();
    let saved = month.save();

    c.bench_function("add_entry: one pain entry into a 240-entry month", |b| {
        let entry = pain(now() - TimeDelta::minutes(5), 6.0);
        b.iter_batched(
            || month.clone(),
            |mut doc| {
                add_entry(&mut doc, black_box(&entry), now()).unwrap();
                doc
            },
            BatchSize::SmallInput,
        );
    });

    c.bench_function("read_entries: 240-entry month", |b| {
        b.iter(|| black_box(read_entries(black_box(&month))));
    });

    c.bench_function("read_entry: one pain entry of a 240-entry month", |b| {
        let read = read_entries(&month);
        let id = read.entries[read.entries.len() / 4].id;
        assert!(read_entry(&month, EntryKind::Pain, &id).unwrap().is_some());
        b.iter(|| black_box(read_entry(black_box(&month), EntryKind::Pain, &id).unwrap()));
    });

    c.bench_function("AutoCommit::load: saved 240-entry month", |b| {
        b.iter(|| black_box(AutoCommit::load(black_box(&saved)).unwrap()));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
