//! Fills a Paindiary database with month diary documents for the reprojection benchmark
//! ("Reproject 100,000 entries: < 30 s on SQLite"): `DOCS` month documents of `ENTRIES`
//! entries each, written through the sync crate (one Automerge commit per entry, as a phone
//! writes them) and stored as one change chunk per day, uncompacted (the slow case to load).
//!
//! ```text
//! cargo run --release -p paindiary-tests --example fill_diaries -- DATA_DIR [DOCS] [ENTRIES]
//! PAINDIARY_DATA_DIR=DATA_DIR paindiary reproject
//! ```
//! `scripts/bench-reproject` does both. With `PAINDIARY_DATABASE__URL` set, the database
//! named there is filled instead of `DATA_DIR/paindiary.db`.

#![allow(clippy::print_stdout)]

use std::time::Instant;

use anyhow::Context;
use automerge::ActorId;
use chrono::{DateTime, Duration, TimeZone, Utc};
use paindiary_server::entity::{document_chunks, documents};
use paindiary_server::{Config, db};
use paindiary_sync::ids::{Month, PatientId};
use paindiary_sync::schema::month;
use paindiary_sync::schema::{
    DocKind, Entry, EntryMeta, ExerciseSession, MedicationIntake, PainEntry, PegCheckin,
    WellbeingEntry,
};
use sea_orm::{ActiveValue::Set, EntityTrait, TransactionTrait};

const TZ: &str = "America/New_York";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let data_dir = args
        .next()
        .context("usage: fill_diaries DATA_DIR [DOCS] [ENTRIES]")?;
    let docs: usize = args.next().map_or(Ok(417), |a| a.parse())?;
    let per_doc: usize = args.next().map_or(Ok(240), |a| a.parse())?;
    let mut config = Config::load(None)?;
    config.data_dir = data_dir.into();
    let conn = db::connect(&config).await?;
    db::migrate(&conn).await?;

    let started = Instant::now();
    let mut entries = 0usize;
    let mut bytes = 0usize;
    let mut patient = PatientId::new_random();
    for i in 0..docs {
        // Twelve months per patient, 2025.
        if i.is_multiple_of(12) {
            patient = PatientId::new_random();
        }
        let month_no = u8::try_from(i % 12 + 1)?;
        let month = Month::new(2025, month_no).context("month")?;
        let kind = DocKind::DiaryMonth { patient, month };
        let id = kind.document_id().to_string();
        let mut doc = kind.create(ActorId::random())?;
        let mut chunks = vec![kind.genesis()];
        let first = Utc
            .with_ymd_and_hms(2025, u32::from(month_no), 1, 12, 0, 0)
            .single()
            .context("date")?;
        let per_day = per_doc.div_ceil(28);
        for n in 0..per_doc {
            let day = n / per_day;
            let at =
                first + Duration::days(day as i64) + Duration::minutes((n % per_day) as i64 * 47);
            month::add_entry(&mut doc, &entry(n, at), at + Duration::minutes(5))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if n % per_day == per_day - 1 || n == per_doc - 1 {
                chunks.push(doc.save_incremental());
            }
        }
        entries += per_doc;
        bytes += chunks.iter().map(Vec::len).sum::<usize>();
        let stored_at = first + Duration::days(31);
        let txn = conn.begin().await?;
        documents::Entity::insert(documents::ActiveModel {
            id: Set(id.clone()),
            patient_id: Set(*patient.as_uuid()),
            kind: Set("diary_month".into()),
            month: Set(Some(month.to_string())),
            created_at: Set(first),
            updated_at: Set(stored_at),
        })
        .exec(&txn)
        .await?;
        document_chunks::Entity::insert_many(chunks.into_iter().map(|b| {
            document_chunks::ActiveModel {
                document_id: Set(id.clone()),
                snapshot: Set(false),
                bytes: Set(b),
                created_at: Set(stored_at),
                ..Default::default()
            }
        }))
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
    }
    println!(
        "filled documents={docs} entries={entries} chunk_bytes={bytes} seconds={:.1}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn meta(at: DateTime<Utc>) -> EntryMeta {
    EntryMeta {
        recorded_at: at,
        tz: TZ.into(),
        deleted_at: None,
        updated_at: None,
    }
}

/// A day's mix: mostly pain and intakes, some exercise and wellbeing, a weekly PEG.
fn entry(n: usize, at: DateTime<Utc>) -> Entry {
    let level = (n % 11) as f64;
    match n % 8 {
        0 | 3 | 6 => Entry::Pain(PainEntry {
            meta: meta(at),
            score: level,
            worst: Some(10f64.min(level + 2.0)),
            least: Some((level - 2.0).max(0.0)),
            locations: vec!["lower_back".into(), "hip_left".into()],
            location_note: None,
            qualities: vec!["aching".into()],
            note: n
                .is_multiple_of(5)
                .then(|| "worse after sitting for a long time".into()),
        }),
        1 | 4 => Entry::Medication(MedicationIntake {
            meta: meta(at),
            drug: if n.is_multiple_of(3) {
                "Oxycodone"
            } else {
                "Ibuprofen"
            }
            .into(),
            rxnorm: None,
            amount: if n.is_multiple_of(3) { 5.0 } else { 400.0 },
            unit: "mg".into(),
            route: Some("oral".into()),
            status: "taken".into(),
            prn: n.is_multiple_of(3),
            prn_reason: n.is_multiple_of(3).then(|| "flare".into()),
            note: None,
        }),
        2 => Entry::Exercise(ExerciseSession {
            meta: meta(at),
            activity: "walking".into(),
            minutes: 30.0,
            sets: None,
            reps: None,
            exertion: Some(4.0),
            note: None,
        }),
        5 => Entry::Wellbeing(WellbeingEntry {
            meta: meta(at),
            sleep_hours: Some(6.5),
            sleep_quality: Some(5.0),
            mood: Some(6.0),
            stress: Some(4.0),
            note: None,
        }),
        _ if n % 56 == 7 => Entry::Checkin(PegCheckin {
            meta: meta(at),
            pain: level,
            enjoyment: 5.0,
            activity: 6.0,
            note: None,
        }),
        _ => Entry::Pain(PainEntry {
            meta: meta(at),
            score: level,
            worst: None,
            least: None,
            locations: vec![],
            location_note: None,
            qualities: vec![],
            note: None,
        }),
    }
}
