//! The alert evaluation cohort: synthetic pain diaries built from published figures,
//! evaluated day by day as the server evaluates them, with the alert lifecycle's episode
//! counting. It prints, per rule and group, false episodes per patient-month, the
//! sensitivity and delay for sustained rises, and the positive predictive value.
//!
//! Run: `cargo run --release -p paindiary-notifier --example alert_cohort -- --seed 1`
//! (`--per-group N` patients per group and band, `--check` exits non-zero when a bar of
//! issue 16 is missed). docs/alerts.md gives the sources of every figure below.
//!
//! The cohort (per seed):
//! - usual pain ("baseline") uniform in three bands, 1.5-3, 3-5 and 5-8 NRS points;
//! - day-to-day variation: an AR(1) process per patient, lag-1 autocorrelation uniform in
//!   0.25-0.55 (mean 0.4), daily standard deviation log-normal around 1.05 points, plus
//!   0.8 points of within-day variation per entry, so that daily means vary by about
//!   1.26 points within a person;
//! - 1-3 entries a day, rounded to whole NRS scores and clamped to 0-10; 10% of days
//!   without any entry;
//! - groups: stable; stable with one-day flares (+3 to +5 points on about one day in 14);
//!   sustained rises of 2-3 and of 3-4 points (reached over 0-2 days, then kept);
//!   improvers (a fall of 2-4 points);
//! - 84 days of history before 120 evaluated days; an alert is resolved by a clinician 7
//!   days after it opened, and while it is open new triggers attach to it.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::ExitCode;

use chrono::{Days, NaiveDate};
use paindiary_notifier::rules::{
    Decision, PainEntry, PatientSeries, RuleKind, ThresholdOverrides, Thresholds, daily_pain,
    severe, worsening,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const HISTORY_DAYS: u32 = 84;
const EVALUATED_DAYS: u32 = 120;
const RESOLVED_AFTER_DAYS: u32 = 7;
const DAYS_PER_MONTH: f64 = 30.4375;
const BANDS: [(f64, f64); 3] = [(1.5, 3.0), (3.0, 5.0), (5.0, 8.0)];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Group {
    Stable,
    Flare,
    Rise2to3,
    Rise3to4,
    Improving,
}

impl Group {
    fn name(self) -> &'static str {
        match self {
            Group::Stable => "stable",
            Group::Flare => "one-day flares",
            Group::Rise2to3 => "rise 2-3 points",
            Group::Rise3to4 => "rise 3-4 points",
            Group::Improving => "improving",
        }
    }

    fn rises(self) -> bool {
        matches!(self, Group::Rise2to3 | Group::Rise3to4)
    }
}

/// One simulated patient's diary.
struct Patient {
    band: usize,
    entries: Vec<PainEntry>,
    /// First evaluated day index of the change (rise or fall), if any.
    change_day: Option<u32>,
}

fn normal(rng: &mut StdRng) -> f64 {
    // Box-Muller: two uniforms in (0, 1] give one standard normal.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn start_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).expect("a valid date")
}

fn simulate(rng: &mut StdRng, group: Group, band: usize) -> Patient {
    let (low, high) = BANDS[band];
    let usual = rng.random_range(low..high);
    let rho: f64 = rng.random_range(0.25..0.55);
    let daily_sd = 1.05 * (0.25 * normal(rng)).exp();
    let within_day_sd = 0.8;
    let total_days = HISTORY_DAYS + EVALUATED_DAYS;
    let change_day = match group {
        Group::Rise2to3 | Group::Rise3to4 | Group::Improving => {
            Some(HISTORY_DAYS + rng.random_range(7..EVALUATED_DAYS - 21))
        }
        _ => None,
    };
    let size = match group {
        Group::Rise2to3 => rng.random_range(2.0..3.0),
        Group::Rise3to4 => rng.random_range(3.0..4.0),
        Group::Improving => -rng.random_range(2.0..4.0),
        _ => 0.0,
    };
    let ramp = rng.random_range(0..=2u32);
    let mut noise = normal(rng) * daily_sd;
    let mut entries = Vec::new();
    for day in 0..total_days {
        noise = rho * noise + (1.0 - rho * rho).sqrt() * daily_sd * normal(rng);
        let shift = match change_day {
            Some(start) if day >= start => {
                let progress = f64::from(day - start + 1) / f64::from(ramp + 1);
                size * progress.min(1.0)
            }
            _ => 0.0,
        };
        let flare = if group == Group::Flare && rng.random_bool(1.0 / 14.0) {
            rng.random_range(3.0..5.0)
        } else {
            0.0
        };
        if rng.random_bool(0.10) {
            continue;
        }
        let date = start_day() + Days::new(u64::from(day));
        for _ in 0..rng.random_range(1..=3) {
            let score = (usual + shift + flare + noise + within_day_sd * normal(rng))
                .round()
                .clamp(0.0, 10.0) as u8;
            entries.push(PainEntry {
                date,
                score,
                late: false,
            });
        }
    }
    Patient {
        band,
        entries,
        change_day,
    }
}

/// One rule's episodes for one patient: the evaluated day indices on which an alert
/// opened, and the first day on or after the change with a trigger.
#[derive(Default)]
struct Outcome {
    episodes: Vec<u32>,
    first_trigger_after_change: Option<u32>,
}

type Rule = fn(&PatientSeries, &Thresholds, NaiveDate) -> Vec<Decision>;

/// Evaluates `rule` day by day over the evaluated days, as the server does when each
/// day's entries arrive: the rules see the history window up to that day and act on
/// their decision for it.
fn run(patient: &Patient, rule: Rule, thresholds: &Thresholds) -> Outcome {
    let days = daily_pain(patient.entries.iter().copied());
    let history = u64::from(thresholds.history_days());
    let mut outcome = Outcome::default();
    let mut open_since: Option<u32> = None;
    for day in HISTORY_DAYS..HISTORY_DAYS + EVALUATED_DAYS {
        if open_since.is_some_and(|opened| day >= opened + RESOLVED_AFTER_DAYS) {
            open_since = None;
        }
        let date = start_day() + Days::new(u64::from(day));
        let from = date - Days::new(history);
        let start = days.partition_point(|d| d.date < from);
        let end = days.partition_point(|d| d.date <= date);
        if end == 0 || days[end - 1].date != date {
            continue;
        }
        let series = PatientSeries {
            pain: days[start..end].to_vec(),
            ..PatientSeries::default()
        };
        let triggered = rule(&series, thresholds, date)
            .iter()
            .any(|d| d.day == date);
        if !triggered {
            continue;
        }
        if patient.change_day.is_some_and(|c| day >= c)
            && outcome.first_trigger_after_change.is_none()
        {
            outcome.first_trigger_after_change = Some(day);
        }
        if open_since.is_none() {
            open_since = Some(day);
            outcome.episodes.push(day);
        }
    }
    outcome
}

/// First-10 check: a stable patient whose usual pain is below 8 logs one 10 on a day
/// with no 10 in the eight weeks before; the severe rule must decide on that day.
fn first_ten_reaches(patient: &Patient, thresholds: &Thresholds, rng: &mut StdRng) -> Option<bool> {
    let day = HISTORY_DAYS + rng.random_range(0..EVALUATED_DAYS);
    let date = start_day() + Days::new(u64::from(day));
    let eight_weeks = date - Days::new(56);
    if patient
        .entries
        .iter()
        .any(|e| e.score >= 10 && e.date >= eight_weeks && e.date < date)
    {
        return None;
    }
    let mut entries: Vec<PainEntry> = patient
        .entries
        .iter()
        .copied()
        .filter(|e| e.date <= date)
        .collect();
    entries.push(PainEntry {
        date,
        score: 10,
        late: false,
    });
    let series = PatientSeries {
        pain: daily_pain(entries),
        ..PatientSeries::default()
    };
    Some(
        severe(&series, thresholds, date)
            .iter()
            .any(|d| d.day == date && d.rule == RuleKind::Severe),
    )
}

#[derive(Default)]
struct Tally {
    patients: u32,
    episodes: u32,
}

impl Tally {
    fn per_month(&self) -> f64 {
        if self.patients == 0 {
            return 0.0;
        }
        f64::from(self.episodes)
            / (f64::from(self.patients) * f64::from(EVALUATED_DAYS) / DAYS_PER_MONTH)
    }
}

struct Detection {
    delays: Vec<Option<u32>>,
}

impl Detection {
    fn within(&self, days: u32) -> f64 {
        let hit = self
            .delays
            .iter()
            .filter(|d| d.is_some_and(|d| d <= days))
            .count();
        hit as f64 / self.delays.len().max(1) as f64
    }

    /// Median delay, undetected rises counted as never detected.
    fn median(&self) -> Option<u32> {
        let mut delays: Vec<u32> = self.delays.iter().map(|d| d.unwrap_or(u32::MAX)).collect();
        delays.sort_unstable();
        delays
            .get(delays.len() / 2)
            .copied()
            .filter(|d| *d != u32::MAX)
    }
}

struct Args {
    seed: u64,
    per_group: u32,
    check: bool,
    /// Threshold overrides, as a clinic would set them: `--set worsening_decision_sd=5.5`.
    overrides: serde_json::Map<String, serde_json::Value>,
}

fn args() -> Result<Args, String> {
    let mut parsed = Args {
        seed: 1,
        per_group: 200,
        check: false,
        overrides: serde_json::Map::new(),
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        match word.as_str() {
            "--seed" => parsed.seed = number(words.next())?,
            "--per-group" => parsed.per_group = number(words.next())? as u32,
            "--check" => parsed.check = true,
            "--set" => {
                let setting = words.next().ok_or("--set needs name=value")?;
                let (name, value) = setting.split_once('=').ok_or("--set needs name=value")?;
                let value: serde_json::Value =
                    serde_json::from_str(value).map_err(|e| format!("{name}: {e}"))?;
                parsed.overrides.insert(name.to_owned(), value);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(parsed)
}

fn number(word: Option<String>) -> Result<u64, String> {
    word.ok_or("a number is missing")?
        .parse()
        .map_err(|e| format!("not a number: {e}"))
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}\nusage: alert_cohort [--seed N] [--per-group N] [--check]");
            return ExitCode::from(2);
        }
    };
    let overrides: ThresholdOverrides =
        match serde_json::from_value(serde_json::Value::Object(args.overrides.clone())) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("--set: {e}");
                return ExitCode::from(2);
            }
        };
    let thresholds = match Thresholds::default().with(&overrides) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("--set: {e}");
            return ExitCode::from(2);
        }
    };
    let mut rng = StdRng::seed_from_u64(args.seed);
    let groups = [
        Group::Stable,
        Group::Flare,
        Group::Rise2to3,
        Group::Rise3to4,
        Group::Improving,
    ];
    let mut false_worsening: BTreeMap<(Group, usize), Tally> = BTreeMap::new();
    let mut severe_tally: BTreeMap<(Group, usize), Tally> = BTreeMap::new();
    let mut detection: BTreeMap<Group, Detection> = BTreeMap::new();
    let (mut true_episodes, mut all_episodes) = (0u32, 0u32);
    let (mut tens_reached, mut tens_tried) = (0u32, 0u32);
    for group in groups {
        for band in 0..BANDS.len() {
            for _ in 0..args.per_group {
                let patient = simulate(&mut rng, group, band);
                let worse = run(&patient, worsening, &thresholds);
                let severe_outcome = run(&patient, severe, &thresholds);
                let change = patient.change_day;
                let (truly, falsely): (Vec<u32>, Vec<u32>) = worse
                    .episodes
                    .iter()
                    .partition(|day| group.rises() && change.is_some_and(|c| **day >= c));
                true_episodes += truly.len() as u32;
                all_episodes += worse.episodes.len() as u32;
                if group.rises() {
                    detection
                        .entry(group)
                        .or_insert(Detection { delays: Vec::new() })
                        .delays
                        .push(
                            worse
                                .first_trigger_after_change
                                .zip(change)
                                .map(|(hit, c)| hit - c),
                        );
                } else {
                    let tally = false_worsening.entry((group, patient.band)).or_default();
                    tally.patients += 1;
                    tally.episodes += falsely.len() as u32;
                    let tally = severe_tally.entry((group, patient.band)).or_default();
                    tally.patients += 1;
                    tally.episodes += severe_outcome.episodes.len() as u32;
                }
                if group == Group::Stable
                    && let Some(reached) = first_ten_reaches(&patient, &thresholds, &mut rng)
                {
                    tens_tried += 1;
                    tens_reached += u32::from(reached);
                }
            }
        }
    }

    let band_name = |band: usize| format!("{}-{}", BANDS[band].0, BANDS[band].1);
    println!(
        "Alert cohort, seed {}, {} patients per group and band, {} evaluated days after {} days of history\n",
        args.seed, args.per_group, EVALUATED_DAYS, HISTORY_DAYS
    );
    println!("False episodes per patient-month (alerts opened, resolved 7 days later):\n");
    println!("| group | rule | 1.5-3 | 3-5 | 5-8 | mean over bands |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut failures = Vec::new();
    for (rule, tallies) in [("worsening", &false_worsening), ("severe", &severe_tally)] {
        for group in [Group::Stable, Group::Flare, Group::Improving] {
            let per_band: Vec<f64> = (0..BANDS.len())
                .map(|b| tallies.get(&(group, b)).map_or(0.0, Tally::per_month))
                .collect();
            let mean = per_band.iter().sum::<f64>() / per_band.len() as f64;
            println!(
                "| {} | {rule} | {:.3} | {:.3} | {:.3} | {:.3} |",
                group.name(),
                per_band[0],
                per_band[1],
                per_band[2],
                mean
            );
            let (mean_bar, band_bar) = match (rule, group) {
                ("worsening", Group::Stable) => (Some(0.10), Some(0.12)),
                ("worsening", Group::Flare) => (Some(0.15), None),
                ("severe", Group::Stable) => (None, Some(0.20)),
                _ => (None, None),
            };
            if let Some(bar) = mean_bar
                && mean > bar
            {
                failures.push(format!("{rule} {}: mean {mean:.3} > {bar}", group.name()));
            }
            if let Some(bar) = band_bar {
                for (band, value) in per_band.iter().enumerate() {
                    if *value > bar {
                        failures.push(format!(
                            "{rule} {} band {}: {value:.3} > {bar}",
                            group.name(),
                            band_name(band)
                        ));
                    }
                }
            }
        }
    }

    println!("\nSustained rises (worsening rule), share detected within N days of the rise:\n");
    println!("| rise | patients | within 3 | within 7 | within 14 | median delay (days) |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut all_delays = Vec::new();
    for group in [Group::Rise2to3, Group::Rise3to4] {
        let Some(d) = detection.get(&group) else {
            continue;
        };
        all_delays.extend(d.delays.iter().copied());
        let median = d
            .median()
            .map_or_else(|| "not reached".to_owned(), |m| m.to_string());
        println!(
            "| {} | {} | {:.1}% | {:.1}% | {:.1}% | {median} |",
            group.name(),
            d.delays.len(),
            100.0 * d.within(3),
            100.0 * d.within(7),
            100.0 * d.within(14),
        );
        let (bar7, bar14, bar_median) = match group {
            Group::Rise2to3 => (0.70, 0.85, 5),
            _ => (0.85, 0.95, 3),
        };
        if d.within(7) < bar7 || d.within(14) < bar14 || d.median().is_none_or(|m| m > bar_median) {
            failures.push(format!("{} detection below the bar", group.name()));
        }
    }
    let overall = Detection { delays: all_delays };
    println!(
        "| all rises | {} | {:.1}% | {:.1}% | {:.1}% | {} |",
        overall.delays.len(),
        100.0 * overall.within(3),
        100.0 * overall.within(7),
        100.0 * overall.within(14),
        overall
            .median()
            .map_or_else(|| "not reached".to_owned(), |m| m.to_string())
    );
    if overall.within(7) < 0.80 {
        failures.push("all rises: fewer than 80% within 7 days".to_owned());
    }
    let ppv = f64::from(true_episodes) / f64::from(all_episodes.max(1));
    println!(
        "\nPPV of worsening alerts in this cohort (equal group sizes): {:.1}% ({true_episodes} of {all_episodes} episodes belong to a patient whose pain had risen)",
        100.0 * ppv
    );
    println!(
        "First 10 from a stable patient whose usual pain is below 8 (no 10 in the 8 weeks before): {tens_reached} of {tens_tried} reached the care team"
    );
    if tens_reached != tens_tried {
        failures.push("a first 10 did not alert".to_owned());
    }
    if failures.is_empty() {
        println!("\nEvery bar of issue 16 is met.");
        ExitCode::SUCCESS
    } else {
        println!("\nBars missed:");
        for failure in &failures {
            println!("- {failure}");
        }
        if args.check {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}
