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

#[test]
fn worsening_cases() {
    let defaults = Thresholds::default();
    // (case, daily scores as (days ago, score), thresholds, expected explanation of the
    // decision on today, or None when no day at all may trigger)
    let cases: Vec<(&str, Vec<(u64, f64)>, Thresholds, Option<&str>)> = vec![
        (
            "baseline 3 then three days at 5 alerts",
            concat(&[run(16, 3, 3.0), run(2, 0, 5.0)]),
            defaults.clone(),
            Some("3-day mean 5.0 vs 14-day baseline 3.0 (+2.0, +67%)"),
        ),
        (
            "baseline 8 then 9 does not (+1, 12.5%)",
            concat(&[run(16, 3, 8.0), run(2, 0, 9.0)]),
            defaults.clone(),
            None,
        ),
        (
            "4 baseline days are too few",
            concat(&[run(6, 3, 3.0), run(2, 0, 5.0)]),
            defaults.clone(),
            None,
        ),
        (
            "5 baseline days are enough",
            concat(&[run(7, 3, 3.0), run(2, 0, 5.0)]),
            defaults.clone(),
            Some("3-day mean 5.0 vs 14-day baseline 3.0 (+2.0, +67%)"),
        ),
        (
            "baseline days older than 14 days before the window do not count",
            concat(&[run(30, 17, 3.0), run(16, 14, 3.0), run(2, 0, 5.0)]),
            defaults.clone(),
            None,
        ),
        (
            "30% alone triggers (5 -> 6.5 is +1.5, +30%)",
            concat(&[run(16, 3, 5.0), run(2, 0, 6.5)]),
            defaults.clone(),
            Some("3-day mean 6.5 vs 14-day baseline 5.0 (+1.5, +30%)"),
        ),
        (
            "just under 30% and 2 points does not",
            concat(&[run(16, 3, 5.0), run(2, 0, 6.4)]),
            defaults.clone(),
            None,
        ),
        (
            "baseline 0: the points test still applies",
            concat(&[run(16, 3, 0.0), run(2, 0, 2.0)]),
            defaults.clone(),
            Some("3-day mean 2.0 vs 14-day baseline 0.0 (+2.0; no percentage, baseline 0)"),
        ),
        (
            "baseline 0: 1.9 points does not",
            concat(&[run(16, 3, 0.0), run(2, 0, 1.9)]),
            defaults.clone(),
            None,
        ),
        (
            "the last 3 days *with data* skip empty days",
            concat(&[run(18, 5, 3.0), vec![(4, 5.0), (2, 5.0), (0, 5.0)]]),
            defaults.clone(),
            Some("3-day mean 5.0 vs 14-day baseline 3.0 (+2.0, +67%)"),
        ),
        (
            "recent days spread over more than 7 calendar days are not a recent mean",
            concat(&[run(30, 20, 3.0), vec![(10, 5.0), (5, 5.0), (0, 5.0)]]),
            defaults.clone(),
            None,
        ),
        (
            "override: 10% makes baseline 8 then 9 alert",
            concat(&[run(16, 3, 8.0), run(2, 0, 9.0)]),
            defaults
                .with(&ThresholdOverrides {
                    worsening_percent: Some(10.0),
                    ..Default::default()
                })
                .unwrap(),
            Some("3-day mean 9.0 vs 14-day baseline 8.0 (+1.0, +13%)"),
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

#[test]
fn worsening_evidence_carries_the_numbers() {
    let series = scores(&concat(&[run(16, 3, 3.0), run(2, 0, 5.0)]));
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
                ..
            },
        ..
    }) = decisions.iter().find(|d| d.day == today())
    else {
        panic!("no decision today: {decisions:#?}");
    };
    assert_eq!(recent_days, &vec![ago(2), ago(1), ago(0)]);
    assert_eq!(
        (*baseline_from, *baseline_to, *baseline_days_with_data),
        (ago(16), ago(3), 14)
    );
    assert!((delta_points - 2.0).abs() < 1e-9);
    assert!((delta_percent.unwrap() - 200.0 / 3.0).abs() < 1e-9);
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
        "daily max >= 8 on 2 consecutive days (2026-06-29: 8, 2026-06-30: 9)"
    );
    let decisions = severe(
        &scores(&[(1, 9.0), (0, 10.0)]),
        &Thresholds::default(),
        today(),
    );
    assert_eq!(
        decisions[0].explanation,
        "daily max >= 8 on 2 consecutive days (2026-06-29: 9, 2026-06-30: 10); a pain score of 10 on 2026-06-30"
    );
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
        let mut series = scores(&concat(&[run(21, 8, 3.0), run(7, 6, 5.0)]));
        // Synced today, recorded 5 days ago.
        series.pain.push(DailyPain {
            date: ago(5),
            mean: 5.0,
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
        assert_eq!(
            worse.explanation.ends_with("; includes data reported late"),
            late,
            "{}",
            worse.explanation
        );
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
    let mut series = scores(&concat(&[run(20, 7, 3.0), run(6, 5, 9.0)]));
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
            (ago(6), RuleKind::Worsening, Severity::Warning),
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
        (signed_one_decimal(2.0), "+2.0"),
        (signed_one_decimal(-1.04), "-1.0"),
        (signed_whole(200.0 / 3.0), "+67"),
        (signed_whole(12.5), "+13"),
        (signed_whole(0.2), "+0"),
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
