//! Rule evaluation for one patient with a year of data: 365 local days of pain entries
//! (3 a day) and about 3,000 medication intakes. Target (issue 4): < 1 ms median.
//!
//! Run: `cargo bench -p paindiary-notifier --bench rules`.

use std::hint::black_box;

use chrono::{Days, NaiveDate};
use criterion::{Criterion, criterion_group, criterion_main};
use paindiary_notifier::rules::{
    DoseUnit, Intake, IntakeStatus, PainEntry, PatientSeries, PrnLimit, Route, Thresholds,
    daily_pain, evaluate_all, opioid_load, prn_overuse, severe, worsening,
};

type Rule = fn(&PatientSeries, &Thresholds, NaiveDate) -> Vec<paindiary_notifier::rules::Decision>;

/// A small deterministic generator so that every run measures the same data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn intake(
    date: NaiveDate,
    drug: &str,
    amount: f64,
    unit: DoseUnit,
    route: Route,
    prn: bool,
) -> Intake {
    Intake {
        date,
        drug: drug.to_owned(),
        amount,
        unit,
        route,
        status: IntakeStatus::Taken,
        prn,
        late: false,
    }
}

fn year() -> (PatientSeries, Vec<PainEntry>, NaiveDate) {
    let mut rng = Lcg(42);
    let start = NaiveDate::from_ymd_opt(2025, 7, 1).unwrap_or_default();
    let mut entries = Vec::new();
    let mut intakes = Vec::new();
    for n in 0..365u64 {
        let date = start.checked_add_days(Days::new(n)).unwrap_or(start);
        // Pain drifts with the season, with bad spells now and then.
        let base = 3 + (n / 60) % 4;
        for _ in 0..3 {
            let spike = if rng.next(20) == 0 { 4 } else { 0 };
            let score = (base + rng.next(3) + spike).min(10) as u8;
            entries.push(PainEntry {
                date,
                score,
                late: rng.next(50) == 0,
            });
        }
        for _ in 0..4 {
            intakes.push(intake(date, "Norco", 5.0, DoseUnit::Mg, Route::Oral, false));
        }
        for _ in 0..2 + rng.next(3) {
            intakes.push(intake(
                date,
                "oxycodone",
                5.0,
                DoseUnit::Mg,
                Route::Oral,
                true,
            ));
        }
        intakes.push(intake(
            date,
            "ibuprofen",
            400.0,
            DoseUnit::Mg,
            Route::Oral,
            false,
        ));
        if n % 3 == 0 {
            intakes.push(intake(
                date,
                "Duragesic",
                12.0,
                DoseUnit::McgPerHour,
                Route::Transdermal,
                false,
            ));
        }
    }
    let today = start.checked_add_days(Days::new(364)).unwrap_or(start);
    let series = PatientSeries {
        pain: daily_pain(entries.iter().copied()),
        intakes,
        prn_limits: vec![PrnLimit {
            drug: "Roxicodone".to_owned(),
            max_per_day: 3,
        }],
        other_entry_days: Vec::new(),
        enrolled_on: Some(start),
    };
    (series, entries, today)
}

fn bench_rules(c: &mut Criterion) {
    let (series, entries, today) = year();
    let thresholds = Thresholds::default();
    let decisions = evaluate_all(&series, &thresholds, today);
    eprintln!(
        "a year: {} pain days from {} entries, {} intakes -> {} decisions",
        series.pain.len(),
        entries.len(),
        series.intakes.len(),
        decisions.len()
    );
    c.bench_function("evaluate_all/one patient, 365 days", |b| {
        b.iter(|| evaluate_all(black_box(&series), black_box(&thresholds), black_box(today)))
    });
    // What the server does after a sync: the days a change touched plus the history the
    // rules need (here: the last week), not the whole year.
    let since = today
        .checked_sub_days(Days::new(u64::from(thresholds.history_days()) + 7))
        .unwrap_or(today);
    let recent = PatientSeries {
        pain: series
            .pain
            .iter()
            .filter(|d| d.date >= since)
            .copied()
            .collect(),
        intakes: series
            .intakes
            .iter()
            .filter(|i| i.date >= since)
            .cloned()
            .collect(),
        ..series.clone()
    };
    c.bench_function(
        "evaluate_all/one patient, the server window (history + 7 days)",
        |b| b.iter(|| evaluate_all(black_box(&recent), black_box(&thresholds), black_box(today))),
    );
    let rules: [(&str, Rule); 4] = [
        ("worsening", worsening),
        ("severe", severe),
        ("opioid_load", opioid_load),
        ("prn_overuse", prn_overuse),
    ];
    for (name, rule) in rules {
        c.bench_function(&format!("rule/{name}"), |b| {
            b.iter(|| rule(black_box(&series), black_box(&thresholds), black_box(today)))
        });
    }
    c.bench_function("daily_pain/1095 entries", |b| {
        b.iter(|| daily_pain(black_box(&entries).iter().copied()))
    });
}

criterion_group!(benches, bench_rules);
criterion_main!(benches);
