//! Table-driven clinical cases for the rules.

// The case tables are tuples on purpose: one line per clinical case.
#![allow(clippy::type_complexity)]

use chrono::{Days, NaiveDate};

use super::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 30).unwrap()
}

fn ago(days: u64) -> NaiveDate {
    today().checked_sub_days(Days::new(days)).unwrap()
}

fn pain_day(days_ago: u64, mean: f64, max: u8) -> DailyPain {
    DailyPain {
        date: ago(days_ago),
        mean,
        max,
        count: 1,
        late_entries: 0,
    }
}

/// One entry per listed day, the score being both the mean and the max.
fn scores(days: &[(u64, f64)]) -> PatientSeries {
    let pain = days
        .iter()
        .map(|&(a, s)| pain_day(a, s, s.ceil() as u8))
        .collect();
    PatientSeries {
        pain,
        ..Default::default()
    }
}

/// `value` on each day of `from..=to` days ago.
fn run(from: u64, to: u64, value: f64) -> Vec<(u64, f64)> {
    (to..=from).map(|a| (a, value)).collect()
}

fn concat(parts: &[Vec<(u64, f64)>]) -> Vec<(u64, f64)> {
    parts.concat()
}

fn intake(days_ago: u64, drug: &str, amount: f64, unit: DoseUnit) -> Intake {
    Intake {
        date: ago(days_ago),
        drug: drug.to_owned(),
        amount,
        unit,
        route: Route::Oral,
        status: IntakeStatus::Taken,
        prn: false,
        late: false,
    }
}

fn times(n: usize, intake: Intake) -> Vec<Intake> {
    vec![intake; n]
}

/// Eight weeks and more of steady history at `usual`, up to `to` days ago.
fn steady(usual: f64, to: u64) -> Vec<(u64, f64)> {
    run(80, to, usual)
}

#[test]
fn worsening_cases() {
    let defaults = Thresholds::default();
    // (case, daily scores as (days ago, score), thresholds, expected explanation of the
    // decision on today, or None when no day at all may trigger)
    let cases: Vec<(&str, Vec<(u64, f64)>, Thresholds, Option<&str>)> = vec![
        (
            "eight weeks at 3, then three days at 6, alerts",
            concat(&[steady(3.0, 3), run(2, 0, 6.0)]),
            defaults.clone(),
            Some(
                "Pain averaged 6.0 over the last 3 days with entries (rising since 2026-06-28); \
                 this patient's usual is 3.0 (2026-04-22 to 2026-06-16), day-to-day spread 0.5.",
            ),
        ),
        (
            "a single bad day never alerts, however high",
            concat(&[steady(3.0, 1), vec![(0, 9.0)]]),
            defaults.clone(),
            None,
        ),
        (
            "a steady rise below the clinical floor (+1.2 points) does not, however clear",
            concat(&[steady(3.0, 5), run(4, 0, 4.2)]),
            defaults.clone(),
            None,
        ),
        (
            "13 days of history in the baseline window are too few: no personal baseline yet",
            concat(&[run(26, 14, 3.0), run(2, 0, 6.0)]),
            defaults.clone(),
            None,
        ),
        (
            "+2 is ordinary for a patient whose days swing between 1 and 5",
            concat(&[
                (3..=80)
                    .map(|a| (a, if a % 2 == 0 { 1.0 } else { 5.0 }))
                    .collect(),
                run(2, 0, 5.0),
            ]),
            defaults.clone(),
            None,
        ),
        (
            "+2 is clear for a steady patient, on the third day",
            concat(&[steady(3.0, 3), run(2, 0, 5.0)]),
            defaults.clone(),
            Some(
                "Pain averaged 5.0 over the last 3 days with entries (rising since 2026-06-28); \
                 this patient's usual is 3.0 (2026-04-22 to 2026-06-16), day-to-day spread 0.5.",
            ),
        ),
        (
            "days without entries are skipped, not counted as 0",
            concat(&[steady(3.0, 5), vec![(4, 5.0), (2, 5.0), (0, 5.0)]]),
            defaults.clone(),
            Some(
                "Pain averaged 5.0 over the last 3 days with entries (rising since 2026-06-26); \
                 this patient's usual is 3.0 (2026-04-22 to 2026-06-16), day-to-day spread 0.5.",
            ),
        ),
        (
            "override: a clinic floor of 2.5 points keeps +2 quiet",
            concat(&[steady(3.0, 3), run(2, 0, 5.0)]),
            defaults
                .with(&ThresholdOverrides {
                    worsening_points: Some(2.5),
                    ..Default::default()
                })
                .unwrap(),
            None,
        ),
    ];
    for (case, days, thresholds, expected) in cases {
        let decisions = worsening(&scores(&days), &thresholds, today());
        assert!(
            decisions
                .iter()
                .all(|d| d.rule == RuleKind::Worsening && d.severity == Severity::Warning),
            "{case}"
        );
        match expected {
            Some(text) => {
                let on_today = decisions.iter().find(|d| d.day == today());
                assert_eq!(
                    on_today.map(|d| d.explanation.as_str()),
                    Some(text),
                    "{case}: {decisions:#?}"
                );
            }
            None => assert!(decisions.is_empty(), "{case}: {decisions:#?}"),
        }
    }
}

/// A rise that lasts enters the baseline and becomes the patient's usual: the rule
/// triggered when it began and is quiet two months later.
#[test]
fn a_lasting_rise_becomes_the_new_usual() {
    let series = scores(&concat(&[run(140, 61, 3.0), run(60, 0, 6.0)]));
    let decisions = worsening(&series, &Thresholds::default(), today());
    assert!(decisions.iter().any(|d| d.day == ago(59)), "{decisions:#?}");
    assert!(
        !decisions.iter().any(|d| d.day == today()),
        "{decisions:#?}"
    );
}

#[test]
fn worsening_evidence_carries_the_numbers() {
    let series = scores(&concat(&[steady(3.0, 3), run(2, 0, 6.0)]));
    let decisions = worsening(&series, &Thresholds::default(), today());
    let Some(Decision {
        evidence:
            Evidence::Worsening {
                recent_days,
                baseline_days_with_data,
                delta_points,
                delta_percent,
                baseline_from,
                baseline_to,
                baseline_spread,
                rise_started,
                cusum,
                ..
            },
        figures,
        ..
    }) = decisions.iter().find(|d| d.day == today())
    else {
        panic!("no decision today: {decisions:#?}");
    };
    assert_eq!(recent_days, &vec![ago(2), ago(1), ago(0)]);
    assert_eq!(*rise_started, ago(2));
    assert_eq!(
        (*baseline_from, *baseline_to, *baseline_days_with_data),
        (ago(69), ago(14), 56)
    );
    assert!((delta_points - 3.0).abs() < 1e-9);
    assert!((delta_percent.unwrap() - 100.0).abs() < 1e-9);
    // A steady baseline's spread is shrunk towards the typical 1.26, never 0.
    assert!(
        *baseline_spread >= 0.5 && *baseline_spread < 0.7,
        "{baseline_spread}"
    );
    assert!(*cusum >= Thresholds::default().worsening_decision_sd);
    assert_eq!(figures.current, Some(6.0));
    assert_eq!(figures.usual, Some(3.0));
    assert_eq!(figures.magnitude, Some(3.0));
}

#[test]
fn severe_cases() {
    let defaults = Thresholds::default();
    let seven = defaults
        .with(&ThresholdOverrides {
            severe_threshold: Some(7),
            ..Default::default()
        })
        .unwrap();
    // (case, daily max as (days ago, max), thresholds, days ago that trigger)
    let cases: Vec<(&str, Vec<(u64, f64)>, Thresholds, Vec<u64>)> = vec![
        (
            "a single 8 does not",
            vec![(3, 2.0), (2, 8.0), (1, 3.0)],
            defaults.clone(),
            vec![],
        ),
        (
            "two consecutive days at 8 do",
            vec![(1, 8.0), (0, 8.0)],
            defaults.clone(),
            vec![0],
        ),
        (
            "8 on two days with a gap day does not",
            vec![(2, 8.0), (0, 8.0)],
            defaults.clone(),
            vec![],
        ),
        (
            "8, a low day, 8 does not",
            vec![(2, 8.0), (1, 4.0), (0, 8.0)],
            defaults.clone(),
            vec![],
        ),
        (
            "three days at 9 trigger on the 2nd and 3rd",
            vec![(2, 9.0), (1, 9.0), (0, 9.0)],
            defaults.clone(),
            vec![1, 0],
        ),
        (
            "any 10 is urgent on its own",
            vec![(5, 1.0), (3, 10.0)],
            defaults.clone(),
            vec![3],
        ),
        (
            "two days at 7 do not by default",
            vec![(1, 7.0), (0, 7.0)],
            defaults.clone(),
            vec![],
        ),
        (
            "two days at 7 do with threshold 7",
            vec![(1, 7.0), (0, 7.0)],
            seven.clone(),
            vec![0],
        ),
        (
            "a single 7 does not with threshold 7",
            vec![(1, 7.0)],
            seven,
            vec![],
        ),
        (
            "a future day is ignored",
            vec![(0, 8.0)],
            defaults.clone(),
            vec![],
        ),
        (
            "usual 3: two days at 8 are a red flag",
            concat(&[steady(3.0, 2), run(1, 0, 8.0)]),
            defaults.clone(),
            vec![0],
        ),
        (
            "usual 3 with an earlier 10: a new 10 still alerts",
            concat(&[
                steady(3.0, 31),
                vec![(30, 10.0)],
                run(29, 1, 3.0),
                vec![(0, 10.0)],
            ]),
            defaults.clone(),
            vec![30, 0],
        ),
        (
            "usual highs of 9: two days at 9 are this patient's ordinary days",
            concat(&[
                (2..=80)
                    .map(|a| (a, if a % 3 == 0 { 9.0 } else { 7.0 }))
                    .collect(),
                run(1, 0, 9.0),
            ]),
            defaults.clone(),
            vec![],
        ),
        (
            "usual highs of 9: two days at 10 are worse than usual",
            concat(&[
                (2..=80)
                    .map(|a| (a, if a % 3 == 0 { 9.0 } else { 7.0 }))
                    .collect(),
                run(1, 0, 10.0),
            ]),
            defaults.clone(),
            vec![1, 0],
        ),
        (
            "usual highs of 9 with a 10 three weeks ago: a 10 is not a first 10",
            concat(&[
                (22..=80)
                    .map(|a| (a, if a % 3 == 0 { 9.0 } else { 7.0 }))
                    .collect(),
                vec![(21, 10.0)],
                (1..=20)
                    .map(|a| (a, if a % 3 == 0 { 9.0 } else { 7.0 }))
                    .collect(),
                vec![(0, 10.0)],
            ]),
            defaults.clone(),
            vec![21],
        ),
    ];
    for (case, days, thresholds, expected) in cases {
        let mut series = scores(&days);
        if case.starts_with("a future") {
            series.pain.push(DailyPain {
                date: today().succ_opt().unwrap(),
                mean: 9.0,
                max: 9,
                count: 1,
                late_entries: 0,
            });
        }
        let decisions = severe(&series, &thresholds, today());
        let got: Vec<NaiveDate> = decisions.iter().map(|d| d.day).collect();
        let want: Vec<NaiveDate> = expected.iter().map(|&a| ago(a)).collect();
        assert_eq!(got, want, "{case}: {decisions:#?}");
        assert!(
            decisions
                .iter()
                .all(|d| d.rule == RuleKind::Severe && d.severity == Severity::Urgent),
            "{case}"
        );
    }
}

#[test]
fn severe_explanations() {
    let decisions = severe(
        &scores(&[(1, 8.0), (0, 9.0)]),
        &Thresholds::default(),
        today(),
    );
    assert_eq!(
        decisions[0].explanation,
        "Daily maximum pain 8 or more on 2 consecutive days (2026-06-29: 8, 2026-06-30: 9); \
         no personal baseline yet (fewer than 14 days with entries in the 56 days before \
         2026-06-30)."
    );
    let decisions = severe(
        &scores(&concat(&[steady(3.0, 2), vec![(1, 9.0), (0, 10.0)]])),
        &Thresholds::default(),
        today(),
    );
    let today_decision = decisions.iter().find(|d| d.day == today()).unwrap();
    assert_eq!(
        today_decision.explanation,
        "Daily maximum pain 8 or more on 2 consecutive days (2026-06-29: 9, 2026-06-30: 10); \
         a pain score of 10 on 2026-06-30; this patient's usual pain is 3.0."
    );
    assert_eq!(today_decision.figures.current, Some(10.0));
    assert_eq!(today_decision.figures.magnitude, Some(7.0));
}

#[test]
fn opioid_load_cases() {
    let defaults = Thresholds::default();
    let mut patch = intake(2, "fentanyl", 25.0, DoseUnit::McgPerHour);
    patch.route = Route::Transdermal;
    let mut skipped = intake(0, "oxycodone", 60.0, DoseUnit::Mg);
    skipped.status = IntakeStatus::Skipped;
    // (case, intakes, thresholds, expected (days ago, severity, MME))
    let cases: Vec<(&str, Vec<Intake>, Thresholds, Vec<(u64, Severity, f64)>)> = vec![
        (
            "hydrocodone 5 mg x4 = 20 MME: nothing",
            times(4, intake(0, "hydrocodone", 5.0, DoseUnit::Mg)),
            defaults.clone(),
            vec![],
        ),
        (
            "oxycodone 10 mg x2 = 30 MME: nothing",
            times(2, intake(0, "oxycodone", 10.0, DoseUnit::Mg)),
            defaults.clone(),
            vec![],
        ),
        (
            "both on one day = 50 MME: info",
            [
                times(4, intake(0, "Norco", 5.0, DoseUnit::Mg)),
                times(2, intake(0, "OxyContin", 10.0, DoseUnit::Mg)),
            ]
            .concat(),
            defaults.clone(),
            vec![(0, Severity::Info, 50.0)],
        ),
        (
            "49.9 MME: nothing",
            vec![intake(0, "morphine", 49.9, DoseUnit::Mg)],
            defaults.clone(),
            vec![],
        ),
        (
            "50 MME: info",
            vec![intake(0, "morphine", 50.0, DoseUnit::Mg)],
            defaults.clone(),
            vec![(0, Severity::Info, 50.0)],
        ),
        (
            "89.9 MME: info",
            vec![intake(0, "morphine", 89.9, DoseUnit::Mg)],
            defaults.clone(),
            vec![(0, Severity::Info, 89.9)],
        ),
        (
            "90 MME: warning",
            vec![intake(0, "oxycodone", 60.0, DoseUnit::Mg)],
            defaults.clone(),
            vec![(0, Severity::Warning, 90.0)],
        ),
        (
            "a skipped dose counts nothing",
            vec![skipped],
            defaults.clone(),
            vec![],
        ),
        (
            "fentanyl 25 mcg/h = 60 MME on its day and the next 2",
            vec![patch],
            defaults.clone(),
            vec![
                (2, Severity::Info, 60.0),
                (1, Severity::Info, 60.0),
                (0, Severity::Info, 60.0),
            ],
        ),
        (
            "override: info from 30 MME",
            times(2, intake(0, "oxycodone", 10.0, DoseUnit::Mg)),
            defaults
                .with(&ThresholdOverrides {
                    mme_info: Some(30.0),
                    ..Default::default()
                })
                .unwrap(),
            vec![(0, Severity::Info, 30.0)],
        ),
    ];
    for (case, intakes, thresholds, expected) in cases {
        let series = PatientSeries {
            intakes,
            ..Default::default()
        };
        let decisions = opioid_load(&series, &thresholds, today());
        assert_eq!(decisions.len(), expected.len(), "{case}: {decisions:#?}");
        for (decision, (a, severity, mme)) in decisions.iter().zip(expected) {
            assert_eq!(
                (decision.day, decision.severity),
                (ago(a), severity),
                "{case}"
            );
            let Evidence::OpioidLoad { mme: day, .. } = &decision.evidence else {
                panic!("{case}")
            };
            assert!((day.total - mme).abs() < 1e-9, "{case}: {}", day.total);
        }
    }
}

#[test]
fn opioid_load_explains_unknown_and_unconvertible() {
    let intakes = vec![
        intake(0, "oxycodone", 60.0, DoseUnit::Mg),
        intake(0, "Buprenorphine", 8.0, DoseUnit::Mg),
        intake(0, "oxycodone", 5.0, DoseUnit::Ml),
    ];
    let decisions = opioid_load(
        &PatientSeries {
            intakes,
            ..Default::default()
        },
        &Thresholds::default(),
        today(),
    );
    assert_eq!(
        decisions[0].explanation,
        "90.0 MME/day on 2026-06-30 (>= 90 warning threshold): oxycodone 90.0; \
         not counted, unknown drug: Buprenorphine; \
         not counted: oxycodone 5 ml (strength per ml or per unit is not known)"
    );
}

#[test]
fn prn_overuse_cases() {
    let prn = |drug: &str| Intake {
        prn: true,
        ..intake(0, drug, 5.0, DoseUnit::Mg)
    };
    let limit = |drug: &str, max_per_day| {
        vec![PrnLimit {
            drug: drug.to_owned(),
            max_per_day,
        }]
    };
    let mut skipped = prn("oxycodone");
    skipped.status = IntakeStatus::Skipped;
    let scheduled = intake(0, "oxycodone", 5.0, DoseUnit::Mg);
    // (case, intakes, limits, expected number of PRN intakes in the one decision)
    let cases: Vec<(&str, Vec<Intake>, Vec<PrnLimit>, Option<u32>)> = vec![
        (
            "4 intakes with max 3 trigger",
            times(4, prn("oxycodone")),
            limit("oxycodone", 3),
            Some(4),
        ),
        (
            "3 intakes with max 3 do not",
            times(3, prn("oxycodone")),
            limit("oxycodone", 3),
            None,
        ),
        (
            "a skipped 4th does not count",
            [times(3, prn("oxycodone")), vec![skipped]].concat(),
            limit("oxycodone", 3),
            None,
        ),
        (
            "a scheduled 4th does not count",
            [times(3, prn("oxycodone")), vec![scheduled]].concat(),
            limit("oxycodone", 3),
            None,
        ),
        (
            "no limit, no rule",
            times(9, prn("oxycodone")),
            vec![],
            None,
        ),
        (
            "brand and generic names match",
            times(4, prn("oxycodone/acetaminophen")),
            limit("Percocet", 3),
            Some(4),
        ),
        (
            "non-opioids match by name",
            times(5, prn("Ibuprofen")),
            limit("ibuprofen", 4),
            Some(5),
        ),
        (
            "another drug's limit does not apply",
            times(4, prn("tramadol")),
            limit("oxycodone", 3),
            None,
        ),
    ];
    for (case, intakes, prn_limits, expected) in cases {
        let series = PatientSeries {
            intakes,
            prn_limits,
            ..Default::default()
        };
        let decisions = prn_overuse(&series, &Thresholds::default(), today());
        let got = decisions.iter().map(|d| match &d.evidence {
            Evidence::PrnOveruse { taken, .. } => *taken,
            _ => 0,
        });
        assert_eq!(
            got.collect::<Vec<_>>(),
            expected.into_iter().collect::<Vec<_>>(),
            "{case}: {decisions:#?}"
        );
        assert!(
            decisions
                .iter()
                .all(|d| d.severity == Severity::Warning && d.day == today()),
            "{case}"
        );
    }
    let series = PatientSeries {
        intakes: times(4, prn("Oxycodone")),
        prn_limits: limit("oxycodone", 3),
        ..Default::default()
    };
    assert_eq!(
        prn_overuse(&series, &Thresholds::default(), today())[0].explanation,
        "oxycodone taken as needed 4 times on 2026-06-30; the care plan allows 3 per day"
    );
}

#[test]
fn missed_logging_cases() {
    // (case, last pain day, last intake day, other entry day, enrolled, expected days without entries)
    let cases: Vec<(
        &str,
        Option<u64>,
        Option<u64>,
        Option<u64>,
        Option<u64>,
        Option<u32>,
    )> = vec![
        (
            "last entry 4 days ago: 3 empty days trigger",
            Some(4),
            None,
            None,
            None,
            Some(3),
        ),
        (
            "last entry 3 days ago: 2 empty days do not",
            Some(3),
            None,
            None,
            None,
            None,
        ),
        ("an entry today", Some(0), None, None, None, None),
        (
            "an intake 2 days ago counts as logging",
            Some(10),
            Some(2),
            None,
            None,
            None,
        ),
        (
            "a wellbeing entry yesterday counts as logging",
            Some(10),
            None,
            Some(1),
            None,
            None,
        ),
        ("long silence", Some(10), None, None, None, Some(9)),
        (
            "never logged since enrolment 5 days ago",
            None,
            None,
            None,
            Some(5),
            Some(4),
        ),
        ("enrolled 2 days ago", None, None, None, Some(2), None),
        ("no data, no enrolment date", None, None, None, None, None),
    ];
    for (case, pain, intake_day, other, enrolled, expected) in cases {
        let series = PatientSeries {
            pain: pain.map(|a| pain_day(a, 4.0, 4)).into_iter().collect(),
            intakes: intake_day
                .map(|a| intake(a, "ibuprofen", 400.0, DoseUnit::Mg))
                .into_iter()
                .collect(),
            other_entry_days: other.map(ago).into_iter().collect(),
            enrolled_on: enrolled.map(ago),
            ..Default::default()
        };
        let decision = missed_logging(&series, &Thresholds::default(), today());
        let got = decision.as_ref().map(|d| match d.evidence {
            Evidence::MissedLogging {
                days_without_entries,
                ..
            } => days_without_entries,
            _ => 0,
        });
        assert_eq!(got, expected, "{case}: {decision:#?}");
        if let Some(d) = decision {
            assert_eq!(
                (d.rule, d.severity, d.day, d.late),
                (RuleKind::MissedLogging, Severity::Info, today(), false)
            );
        }
    }
    let series = PatientSeries {
        pain: vec![pain_day(4, 4.0, 4)],
        ..Default::default()
    };
    let d = missed_logging(&series, &Thresholds::default(), today()).unwrap();
    assert_eq!(
        d.explanation,
        "no diary entries for 3 days (last entry 2026-06-26)"
    );
    let longer = Thresholds::default()
        .with(&ThresholdOverrides {
            missed_logging_days: Some(4),
            ..Default::default()
        })
        .unwrap();
    assert!(missed_logging(&series, &longer, today()).is_none());
}

/// An entry for 5 days ago that arrives today: evaluated on its own day, marked late.
#[test]
fn late_entry_is_evaluated_on_its_own_day() {
    for late in [true, false] {
        let mut series = scores(&concat(&[steady(3.0, 8), run(7, 6, 6.0)]));
        // Synced today, recorded 5 days ago.
        series.pain.push(DailyPain {
            date: ago(5),
            mean: 6.0,
            max: 10,
            count: 1,
            late_entries: u32::from(late),
        });
        let decisions = evaluate_all(&series, &Thresholds::default(), today());

        let worse = decisions
            .iter()
            .find(|d| d.rule == RuleKind::Worsening && d.day == ago(5));
        let worse = worse.unwrap_or_else(|| panic!("no worsening on its day: {decisions:#?}"));
        assert_eq!(worse.late, late);
        // Lateness is a flag shown once as a badge, not repeated in every sentence.
        assert!(!worse.explanation.contains("late"), "{}", worse.explanation);
        // The day before the late entry stands on its own, on time.
        let before = decisions
            .iter()
            .find(|d| d.rule == RuleKind::Worsening && d.day == ago(6))
            .unwrap();
        assert!(!before.late);

        let severe = decisions
            .iter()
            .find(|d| d.rule == RuleKind::Severe)
            .unwrap();
        assert_eq!((severe.day, severe.late), (ago(5), late));
        assert!(
            decisions
                .iter()
                .all(|d| d.day <= ago(5) || d.rule == RuleKind::MissedLogging)
        );
    }
}

#[test]
fn late_intakes_mark_opioid_and_prn_decisions() {
    let mut dose = Intake {
        prn: true,
        ..intake(5, "oxycodone", 15.0, DoseUnit::Mg)
    };
    let mut intakes = times(3, dose.clone());
    dose.late = true;
    intakes.push(dose);
    let series = PatientSeries {
        intakes,
        prn_limits: vec![PrnLimit {
            drug: "oxycodone".into(),
            max_per_day: 3,
        }],
        ..Default::default()
    };
    let decisions = evaluate_all(&series, &Thresholds::default(), today());
    let rules: Vec<(RuleKind, NaiveDate, bool)> =
        decisions.iter().map(|d| (d.rule, d.day, d.late)).collect();
    assert_eq!(
        rules,
        [
            (RuleKind::OpioidLoad, ago(5), true),
            (RuleKind::PrnOveruse, ago(5), true),
            (RuleKind::MissedLogging, today(), false),
        ]
    );
}

#[test]
fn evaluate_all_runs_every_rule_in_day_order() {
    let mut series = scores(&concat(&[steady(3.0, 7), run(6, 5, 9.0)]));
    series.intakes = times(
        4,
        Intake {
            prn: true,
            ..intake(6, "oxycodone", 20.0, DoseUnit::Mg)
        },
    );
    series.prn_limits = vec![PrnLimit {
        drug: "OxyContin".into(),
        max_per_day: 2,
    }];
    let decisions = evaluate_all(&series, &Thresholds::default(), today());
    let got: Vec<(NaiveDate, RuleKind, Severity)> = decisions
        .iter()
        .map(|d| (d.day, d.rule, d.severity))
        .collect();
    assert_eq!(
        got,
        [
            // One day of 9 is not yet a rise; the second is.
            (ago(6), RuleKind::OpioidLoad, Severity::Warning),
            (ago(6), RuleKind::PrnOveruse, Severity::Warning),
            (ago(5), RuleKind::Worsening, Severity::Warning),
            (ago(5), RuleKind::Severe, Severity::Urgent),
            (today(), RuleKind::MissedLogging, Severity::Info),
        ]
    );
}

#[test]
fn iso_dates_match_chrono() {
    for date in [
        today(),
        ago(400),
        NaiveDate::from_ymd_opt(9, 1, 2).unwrap(),
        NaiveDate::from_ymd_opt(-5, 12, 31).unwrap(),
    ] {
        assert_eq!(IsoDate(date).to_string(), date.to_string());
    }
}

#[test]
fn fixed_decimals_round_half_away_from_zero() {
    let cases = [
        (one_decimal(5.0), "5.0"),
        (one_decimal(0.04), "0.0"),
        (one_decimal(64.85), "64.9"),
        (one_decimal(-0.26), "-0.3"),
        (one_decimal(f64::NAN), "NaN"),
    ];
    for (fixed, text) in cases {
        assert_eq!(fixed.to_string(), text);
    }
}

#[test]
fn codes_are_stable() {
    let kinds = [
        (RuleKind::Worsening, "worsening"),
        (RuleKind::Severe, "severe"),
        (RuleKind::OpioidLoad, "opioid_load"),
        (RuleKind::PrnOveruse, "prn_overuse"),
        (RuleKind::MissedLogging, "missed_logging"),
        (RuleKind::QuestionnaireSafety, "questionnaire_safety"),
        (RuleKind::QuestionnaireWorsening, "questionnaire_worsening"),
    ];
    for (kind, code) in kinds {
        assert_eq!(kind.as_str(), code);
        assert_eq!(code.parse::<RuleKind>(), Ok(kind));
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{code}\""));
    }
    assert!("opioid-load".parse::<RuleKind>().is_err());
    assert_eq!("urgent".parse::<Severity>(), Ok(Severity::Urgent));
    assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Urgent);
}

#[test]
fn decisions_serialise_for_storage() {
    let series = scores(&[(1, 8.0), (0, 8.0)]);
    let decision = severe(&series, &Thresholds::default(), today()).remove(0);
    let json = serde_json::to_value(&decision).unwrap();
    assert_eq!(json["rule"], "severe");
    assert_eq!(json["evidence"]["threshold"], 8);
    let back: Decision = serde_json::from_value(json).unwrap();
    assert_eq!(back, decision);
}
