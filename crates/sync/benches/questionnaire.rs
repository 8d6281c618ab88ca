//! Scoring a year of one patient's questionnaires: 52 weekly PHQ-9, 52 GAD-7 and 52 PEG
//! responses, validated and scored (the bar: under 1 ms), and what is due on
//! every day of that year.
//!
//! `cargo bench -p paindiary-sync --bench questionnaire` (add `-- --quick` for a short run).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use paindiary_sync::questionnaire::{
    Assignment, GAD7, Instrument, PEG, PHQ9, check_answers, due_on, score,
};

fn year_of(def: &Instrument, seed: usize) -> Vec<BTreeMap<String, f64>> {
    (0..52)
        .map(|week| {
            def.items
                .iter()
                .enumerate()
                // Some weeks skip an item, so proration runs too.
                .filter(|(i, _)| !(week % 9 == 0 && *i == 2))
                .map(|(i, item)| {
                    let span = (def.max_answer - def.min_answer + 1) as usize;
                    let v = (week * 7 + i * 3 + seed) % span;
                    (item.link_id.to_owned(), (def.min_answer + v as i64) as f64)
                })
                .collect()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let year: Vec<(&Instrument, BTreeMap<String, f64>)> = [(&PHQ9, 1), (&GAD7, 2), (&PEG, 3)]
        .into_iter()
        .flat_map(|(def, seed)| year_of(def, seed).into_iter().map(move |a| (def, a)))
        .collect();
    assert_eq!(year.len(), 156);
    c.bench_function(
        "score a year of weekly PHQ-9 + GAD-7 + PEG (156 responses)",
        |b| {
            b.iter(|| {
                let mut sum = 0.0;
                for (def, answers) in &year {
                    assert!(check_answers(*def, answers).is_empty());
                    sum += score(*def, black_box(answers)).total.unwrap_or(0.0);
                }
                black_box(sum)
            });
        },
    );
    let start = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let plan = [
        Assignment {
            instrument: "phq9".into(),
            every_days: 28,
            start_date: start,
            end_date: None,
        },
        Assignment {
            instrument: "gad7".into(),
            every_days: 28,
            start_date: start,
            end_date: None,
        },
        Assignment {
            instrument: "peg".into(),
            every_days: 7,
            start_date: start,
            end_date: None,
        },
    ];
    let answered: Vec<(&str, NaiveDate)> = (0..52u64)
        .flat_map(|w| {
            let day = start + chrono::Days::new(w * 7 + 2);
            [("phq9", day), ("gad7", day), ("peg", day)]
        })
        .collect();
    c.bench_function(
        "what is due, every day of a year (365 calls, 156 answers)",
        |b| {
            b.iter(|| {
                let mut n = 0;
                for d in 0..365u64 {
                    n += due_on(&plan, &answered, start + chrono::Days::new(d)).len();
                }
                black_box(n)
            });
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
