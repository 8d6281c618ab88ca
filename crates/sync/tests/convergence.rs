//! Property test: two or three devices of one patient record, edit and delete entries
//! offline in two months (creating each month independently from the canonical genesis),
//! then sync in random orders and pairings with the real Automerge sync protocol, in
//! memory, keeping per-pair sync states (sometimes persisted and reloaded, as a phone does
//! across reconnects). After a final all-pairs sync every device holds the same documents:
//! same heads, same entries, same saved content, and no entry any device added is missing.
//!
//! Cases default to 64; set `PROPTEST_CASES` for more.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::sync::{Message, State, SyncDoc};
use automerge::{ActorId, AutoCommit};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use paindiary_sync::ids::{EntryId, Month, PatientId};
use paindiary_sync::schema::month::{
    FieldValue, MonthEntries, add_entry, add_entry_unchecked, delete_entry, edit_entry,
    read_entries,
};
use paindiary_sync::schema::vocab::{BodyRegion, DoseUnit, PainQuality};
use paindiary_sync::schema::{
    DocKind, Entry, EntryKind, EntryMeta, ExerciseSession, MedicationIntake, PainEntry, PegCheckin,
    WellbeingEntry,
};
use proptest::prelude::*;

const MONTHS: [&str; 2] = ["2026-11", "2026-12"];
const TZS: [&str; 4] = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "UTC",
];

fn patient() -> PatientId {
    "0190f5a4-7c1e-7000-8000-0000000000c0".parse().unwrap()
}

fn kind_of(month: usize) -> DocKind {
    DocKind::DiaryMonth {
        patient: patient(),
        month: MONTHS[month].parse::<Month>().unwrap(),
    }
}

/// The wall clock of the simulation: early in the later month, so every entry recorded in
/// either month is in the past.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 20, 12, 0, 0).unwrap()
}

/// What to write when adding an entry; small numbers resolved into a valid entry of a kind.
#[derive(Debug, Clone)]
struct Seed {
    kind: usize,
    a: u8,
    b: u8,
    c: u8,
    day: u8,
    minute: u16,
    tz: usize,
    note: Option<String>,
    /// Store it without validation, with an invalid value (as an old or foreign app might).
    invalid: bool,
}

#[derive(Debug, Clone)]
enum Op {
    /// Add an entry (creating the month document from its genesis if this device has none).
    Add {
        device: usize,
        month: usize,
        seed: Seed,
    },
    /// Edit one field of an existing entry (chosen by position) to a value from `value`.
    Edit {
        device: usize,
        month: usize,
        pick: usize,
        field: usize,
        value: u8,
    },
    /// Delete an existing entry (tombstone).
    Delete {
        device: usize,
        month: usize,
        pick: usize,
    },
    /// Sync two devices (all the months either has, or just one).
    Sync {
        a: usize,
        b: usize,
        only_month: Option<usize>,
    },
    /// Both devices of a pair drop their connection and reload their persisted sync states.
    Reconnect { a: usize, b: usize },
}

fn seed() -> impl Strategy<Value = Seed> {
    (
        0..5usize,
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        0..28u8,
        0..1440u16,
        0..TZS.len(),
        prop::option::of("[a-z ]{0,12}"),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(kind, a, b, c, day, minute, tz, note, invalid)| Seed {
            kind,
            a,
            b,
            c,
            day,
            minute,
            tz,
            note,
            // Only kinds with an invalid variant below (pain, medication, check-in).
            invalid: invalid && matches!(kind, 0 | 1 | 4),
        })
}

fn op(devices: usize) -> impl Strategy<Value = Op> {
    let d = 0..devices;
    let m = 0..MONTHS.len();
    prop_oneof![
        4 => (d.clone(), m.clone(), seed())
            .prop_map(|(device, month, seed)| Op::Add { device, month, seed }),
        3 => (d.clone(), m.clone(), any::<usize>(), any::<usize>(), any::<u8>())
            .prop_map(|(device, month, pick, field, value)| Op::Edit { device, month, pick, field, value }),
        1 => (d.clone(), m.clone(), any::<usize>())
            .prop_map(|(device, month, pick)| Op::Delete { device, month, pick }),
        2 => (d.clone(), d.clone(), prop::option::of(m))
            .prop_map(|(a, b, only_month)| Op::Sync { a, b, only_month }),
        1 => (d.clone(), d).prop_map(|(a, b)| Op::Reconnect { a, b }),
    ]
}

fn scenario() -> impl Strategy<Value = (Vec<[u8; 16]>, Vec<Op>)> {
    (2..=3usize).prop_flat_map(|devices| {
        (
            prop::collection::vec(any::<[u8; 16]>(), devices),
            prop::collection::vec(op(devices), 1..40),
        )
    })
}

fn entry_from(seed: &Seed, month: usize) -> Entry {
    let (year, mon) = if month == 0 { (2026, 11) } else { (2026, 12) };
    let recorded_at = Utc.with_ymd_and_hms(year, mon, 1, 0, 0, 0).unwrap()
        + TimeDelta::days(i64::from(seed.day.min(18)))
        + TimeDelta::minutes(i64::from(seed.minute));
    let meta = EntryMeta {
        recorded_at,
        tz: TZS[seed.tz].to_owned(),
        deleted_at: None,
        updated_at: None,
    };
    let scale = |x: u8| f64::from(x % 11);
    let note = seed.note.clone();
    match seed.kind {
        0 => {
            let (x, y) = (scale(seed.a), scale(seed.b));
            Entry::Pain(PainEntry {
                meta,
                score: if seed.invalid { 12.0 } else { scale(seed.c) },
                worst: Some(x.max(y)),
                least: Some(x.min(y)),
                locations: vec![
                    BodyRegion::ALL[usize::from(seed.a) % BodyRegion::ALL.len()]
                        .as_str()
                        .to_owned(),
                ],
                location_note: None,
                qualities: vec![
                    PainQuality::ALL[usize::from(seed.b) % PainQuality::ALL.len()]
                        .as_str()
                        .to_owned(),
                ],
                note,
            })
        }
        1 => {
            let unit = DoseUnit::ALL[usize::from(seed.a) % DoseUnit::ALL.len()];
            Entry::Medication(MedicationIntake {
                meta,
                drug: ["oxycodone", "ibuprofen", "gabapentin"][usize::from(seed.b) % 3].to_owned(),
                rxnorm: None,
                amount: if seed.invalid {
                    -1.0
                } else {
                    1.0 + f64::from(seed.c % 4)
                },
                unit: unit.as_str().to_owned(),
                route: Some("oral".to_owned()),
                status: if seed.c.is_multiple_of(5) {
                    "skipped"
                } else {
                    "taken"
                }
                .to_owned(),
                prn: seed.b.is_multiple_of(2),
                prn_reason: None,
                note,
            })
        }
        2 => Entry::Exercise(ExerciseSession {
            meta,
            activity: "walking".to_owned(),
            minutes: 5.0 + f64::from(seed.a % 60),
            sets: Some(f64::from(seed.b % 5)),
            reps: None,
            exertion: Some(scale(seed.c)),
            note,
        }),
        3 => Entry::Wellbeing(WellbeingEntry {
            meta,
            sleep_hours: Some(f64::from(seed.a % 13)),
            sleep_quality: Some(scale(seed.b)),
            mood: Some(scale(seed.c)),
            stress: None,
            note,
        }),
        _ => Entry::Checkin(PegCheckin {
            meta,
            pain: scale(seed.a),
            enjoyment: scale(seed.b),
            activity: if seed.invalid { 11.0 } else { scale(seed.c) },
            note,
        }),
    }
}

/// A valid-looking value for one editable field of `kind` (some edits may still be refused,
/// e.g. worst below least; that is fine, they write nothing).
fn edit_for(kind: EntryKind, field: usize, value: u8) -> (&'static str, FieldValue) {
    let scale = FieldValue::Int(i64::from(value % 11));
    let text = FieldValue::Text(format!("edit {value}"));
    let options: Vec<(&'static str, FieldValue)> = match kind {
        EntryKind::Pain => vec![
            ("score", scale.clone()),
            ("worst", FieldValue::Int(10)),
            ("least", FieldValue::Remove),
            ("note", text),
            (
                "locations",
                FieldValue::TextList(vec![
                    BodyRegion::ALL[usize::from(value) % BodyRegion::ALL.len()]
                        .as_str()
                        .to_owned(),
                    "neck".to_owned(),
                ]),
            ),
        ],
        EntryKind::Medication => vec![
            ("amount", FieldValue::number(0.5 + f64::from(value % 3))),
            ("status", FieldValue::Text("skipped".to_owned())),
            ("note", text),
            ("prn", FieldValue::Bool(value.is_multiple_of(2))),
        ],
        EntryKind::Exercise => vec![
            ("minutes", FieldValue::Int(1 + i64::from(value % 90))),
            ("exertion", scale),
            ("note", text),
        ],
        EntryKind::Wellbeing => vec![
            ("mood", scale),
            (
                "sleep_hours",
                FieldValue::Float(f64::from(value % 20) / 2.0),
            ),
            ("note", text),
        ],
        EntryKind::Checkin => vec![
            ("pain", scale.clone()),
            ("enjoyment", scale),
            ("note", text),
        ],
        EntryKind::Questionnaire => vec![("note", text)],
    };
    options[field % options.len()].clone()
}

struct Device {
    actor: ActorId,
    docs: BTreeMap<usize, AutoCommit>,
}

/// Per ordered pair (me, peer) and month: my sync state for that peer.
type SyncStates = HashMap<(usize, usize, usize), State>;

/// Runs the sync protocol between two copies of a document until neither has anything to
/// say. Every message goes through its wire encoding. Returns how many messages flowed.
fn sync_docs(a: &mut AutoCommit, sa: &mut State, b: &mut AutoCommit, sb: &mut State) -> usize {
    let mut messages = 0;
    for _ in 0..64 {
        let from_a = a.sync().generate_sync_message(sa);
        let from_b = b.sync().generate_sync_message(sb);
        if from_a.is_none() && from_b.is_none() {
            return messages;
        }
        if let Some(m) = from_a {
            let m = Message::decode(&m.encode()).unwrap();
            b.sync().receive_sync_message(sb, m).unwrap();
            messages += 1;
        }
        if let Some(m) = from_b {
            let m = Message::decode(&m.encode()).unwrap();
            a.sync().receive_sync_message(sa, m).unwrap();
            messages += 1;
        }
    }
    panic!("sync did not settle after 64 rounds");
}

/// Syncs one month between devices `a` and `b`. A device that lacks the month starts from
/// an empty document, as an automerge-repo client requesting a document it has not seen.
fn sync_month(devices: &mut [Device], states: &mut SyncStates, a: usize, b: usize, month: usize) {
    if a == b {
        return;
    }
    if !devices[a].docs.contains_key(&month) && !devices[b].docs.contains_key(&month) {
        return;
    }
    for d in [a, b] {
        let actor = devices[d].actor.clone();
        devices[d]
            .docs
            .entry(month)
            .or_insert_with(|| AutoCommit::new().with_actor(actor));
    }
    let mut sa = states.remove(&(a, b, month)).unwrap_or_default();
    let mut sb = states.remove(&(b, a, month)).unwrap_or_default();
    let (lo, hi) = (a.min(b), a.max(b));
    let (left, right) = devices.split_at_mut(hi);
    let doc_lo = left[lo].docs.get_mut(&month).unwrap();
    let doc_hi = right[0].docs.get_mut(&month).unwrap();
    if lo == a {
        sync_docs(doc_lo, &mut sa, doc_hi, &mut sb);
    } else {
        sync_docs(doc_hi, &mut sa, doc_lo, &mut sb);
    }
    states.insert((a, b, month), sa);
    states.insert((b, a, month), sb);
}

fn entries_in_order(doc: &AutoCommit) -> Vec<(EntryKind, EntryId)> {
    read_entries(doc)
        .entries
        .iter()
        .map(|e| (e.entry.kind(), e.id))
        .collect()
}

fn run(actors: Vec<[u8; 16]>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut devices: Vec<Device> = actors
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let mut bytes = *bytes;
            bytes[0] = i as u8; // distinct actors even if the strategy repeats itself
            Device {
                actor: ActorId::from(bytes),
                docs: BTreeMap::new(),
            }
        })
        .collect();
    let n = devices.len();
    let mut states: SyncStates = HashMap::new();
    // Every entry any device added: (month, kind, id), and which ones were deleted.
    let mut added: BTreeSet<(usize, EntryKind, EntryId)> = BTreeSet::new();
    let mut deleted: BTreeSet<(usize, EntryKind, EntryId)> = BTreeSet::new();
    let mut clock = now();

    for op in ops {
        clock += TimeDelta::seconds(7);
        match op {
            Op::Add {
                device,
                month,
                seed,
            } => {
                let dev = &mut devices[device];
                let actor = dev.actor.clone();
                let doc = match dev.docs.entry(month) {
                    std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(kind_of(month).create(actor).unwrap())
                    }
                };
                let entry = entry_from(&seed, month);
                let id = if seed.invalid {
                    prop_assert!(!entry.validate(clock).is_empty());
                    add_entry_unchecked(doc, EntryId::new(), &entry, clock).unwrap()
                } else {
                    let errors = entry.validate(clock);
                    prop_assert!(errors.is_empty(), "generated entry invalid: {errors:?}");
                    add_entry(doc, &entry, clock).unwrap()
                };
                added.insert((month, entry.kind(), id));
            }
            Op::Edit {
                device,
                month,
                pick,
                field,
                value,
            } => {
                let Some(doc) = devices[device].docs.get_mut(&month) else {
                    continue;
                };
                let present = entries_in_order(doc);
                if present.is_empty() {
                    continue;
                }
                let (kind, id) = present[pick % present.len()];
                let heads = doc.get_heads();
                let change = edit_for(kind, field, value);
                match edit_entry(doc, kind, &id, &[change], clock) {
                    Ok(()) => {}
                    // Refused edits (an invalid entry stays invalid; worst < least) must
                    // leave no trace.
                    Err(paindiary_sync::schema::WriteError::Invalid(_)) => {
                        prop_assert_eq!(doc.get_heads(), heads);
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("edit failed: {e}"))),
                }
            }
            Op::Delete {
                device,
                month,
                pick,
            } => {
                let Some(doc) = devices[device].docs.get_mut(&month) else {
                    continue;
                };
                let present = entries_in_order(doc);
                if present.is_empty() {
                    continue;
                }
                let (kind, id) = present[pick % present.len()];
                delete_entry(doc, kind, &id, clock).unwrap();
                deleted.insert((month, kind, id));
            }
            Op::Sync { a, b, only_month } => {
                let months: Vec<usize> = match only_month {
                    Some(m) => vec![m],
                    None => (0..MONTHS.len()).collect(),
                };
                for m in months {
                    sync_month(&mut devices, &mut states, a, b, m);
                }
            }
            Op::Reconnect { a, b } => {
                for key in states
                    .keys()
                    .filter(|(x, y, _)| (*x == a && *y == b) || (*x == b && *y == a))
                    .copied()
                    .collect::<Vec<_>>()
                {
                    let persisted = states[&key].encode();
                    states.insert(key, State::decode(&persisted).unwrap());
                }
            }
        }
    }

    // Final all-pairs sync, repeated until a whole pass exchanges nothing new.
    for pass in 0.. {
        prop_assert!(pass < 8, "all-pairs sync did not converge");
        let before: Vec<Vec<_>> = devices
            .iter_mut()
            .map(|d| d.docs.values_mut().map(|doc| doc.get_heads()).collect())
            .collect();
        for a in 0..n {
            for b in (a + 1)..n {
                for m in 0..MONTHS.len() {
                    sync_month(&mut devices, &mut states, a, b, m);
                }
            }
        }
        let after: Vec<Vec<_>> = devices
            .iter_mut()
            .map(|d| d.docs.values_mut().map(|doc| doc.get_heads()).collect())
            .collect();
        if pass > 0 && before == after {
            break;
        }
    }

    let months_touched: BTreeSet<usize> = added.iter().map(|(m, _, _)| *m).collect();
    for (month, month_name) in MONTHS.iter().enumerate() {
        let mut reference: Option<(
            Vec<automerge::ChangeHash>,
            MonthEntries,
            automerge::hydrate::Value,
        )> = None;
        for (i, dev) in devices.iter_mut().enumerate() {
            let Some(doc) = dev.docs.get_mut(&month) else {
                prop_assert!(
                    !months_touched.contains(&month),
                    "device {} lacks month {}",
                    i,
                    month_name
                );
                continue;
            };
            kind_of(month)
                .check(doc)
                .map_err(|e| TestCaseError::fail(format!("header: {e}")))?;
            let heads = doc.get_heads();
            let read = read_entries(doc);
            prop_assert!(
                read.unreadable.is_empty(),
                "unreadable: {:?}",
                read.unreadable
            );
            let content = doc.document().hydrate(None);

            // Saving and loading gives back the same document.
            let saved = doc.save();
            let mut loaded = AutoCommit::load(&saved).unwrap();
            prop_assert_eq!(loaded.get_heads(), heads.clone());
            prop_assert_eq!(&read_entries(&loaded), &read);
            prop_assert_eq!(&loaded.document().hydrate(None), &content);

            match &reference {
                None => reference = Some((heads, read, content)),
                Some((h, r, c)) => {
                    prop_assert_eq!(&heads, h, "device {} heads differ", i);
                    prop_assert_eq!(&read, r, "device {} entries differ", i);
                    prop_assert_eq!(&content, c, "device {} content differs", i);
                }
            }
        }
        // Every device must hold the month if anyone does.
        let holders = devices
            .iter()
            .filter(|d| d.docs.contains_key(&month))
            .count();
        prop_assert!(holders == 0 || holders == n);

        if let Some((_, read, _)) = &reference {
            let present: BTreeMap<(EntryKind, EntryId), bool> = read
                .entries
                .iter()
                .map(|e| ((e.entry.kind(), e.id), e.entry.meta().is_deleted()))
                .collect();
            for (m, kind, id) in &added {
                if *m != month {
                    continue;
                }
                let is_deleted = present.get(&(*kind, *id));
                prop_assert!(is_deleted.is_some(), "entry {} ({}) lost", id, kind);
                prop_assert_eq!(
                    is_deleted.copied(),
                    Some(deleted.contains(&(month, *kind, *id))),
                    "tombstone of {} wrong",
                    id
                );
            }
            prop_assert_eq!(
                present.len(),
                added.iter().filter(|(m, _, _)| *m == month).count(),
                "entries nobody added"
            );
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn replicas_converge_whatever_the_sync_order((actors, ops) in scenario()) {
        run(actors, ops)?;
    }
}

/// A fixed scenario that always exercises the hard parts: both months created on every
/// device independently, concurrent edits of one entry, a delete racing an edit, syncs
/// through a third device only.
#[test]
fn fixed_scenario_with_three_devices_converges() {
    let seed = |kind, a| Seed {
        kind,
        a,
        b: 3,
        c: 5,
        day: 4,
        minute: 600,
        tz: 1,
        note: None,
        invalid: false,
    };
    let mut ops = Vec::new();
    for device in 0..3 {
        for month in 0..2 {
            ops.push(Op::Add {
                device,
                month,
                seed: seed(device + month, 7),
            });
        }
    }
    ops.push(Op::Sync {
        a: 0,
        b: 1,
        only_month: None,
    });
    ops.push(Op::Edit {
        device: 0,
        month: 0,
        pick: 0,
        field: 0,
        value: 9,
    });
    ops.push(Op::Edit {
        device: 1,
        month: 0,
        pick: 0,
        field: 3,
        value: 2,
    });
    ops.push(Op::Delete {
        device: 1,
        month: 1,
        pick: 1,
    });
    ops.push(Op::Edit {
        device: 0,
        month: 1,
        pick: 1,
        field: 2,
        value: 4,
    });
    ops.push(Op::Reconnect { a: 0, b: 1 });
    ops.push(Op::Sync {
        a: 1,
        b: 2,
        only_month: Some(0),
    });
    ops.push(Op::Add {
        device: 2,
        month: 0,
        seed: Seed {
            invalid: true,
            ..seed(0, 1)
        },
    });
    run(vec![[1; 16], [2; 16], [3; 16]], ops).unwrap();
}
