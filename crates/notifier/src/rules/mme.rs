//! Morphine milligram equivalents (MME) per local day, with the CDC 2022 conversion
//! factors, and drug-name normalisation.
//!
//! # How intakes are counted
//! - Only intakes with status `taken` count; skipped doses count nowhere.
//! - Drug names are normalised: case and whitespace are ignored, common brand names map
//!   to their opioid (OxyContin, Percocet -> oxycodone; Norco, Vicodin -> hydrocodone;
//!   Dilaudid -> hydromorphone; Ultram -> tramadol; Nucynta -> tapentadol; Duragesic ->
//!   fentanyl) and a combination such as "hydrocodone/acetaminophen" counts as its
//!   opioid. Strength text in the name ("oxycodone 5 mg") is ignored; the amount field is
//!   what counts.
//! - Oral opioids (route oral, sublingual or unspecified) count in mg, g (x1000) or mcg
//!   (/1000) times their factor. The CDC factors are for oral doses, so an injected or
//!   rectal dose, or a dose in ml or tablets (strength unknown), is *not converted*: it
//!   counts 0 and is listed in [`DayMme::unconvertible`] so that nobody reads the total as
//!   complete.
//! - Fentanyl counts only as a transdermal patch in mcg/h (route transdermal or
//!   unspecified), at 2.4 MME per mcg/h. Buccal or nasal fentanyl is unconvertible.
//! - A drug that is neither a known opioid nor a known non-opioid analgesic or adjuvant
//!   counts 0 and is listed in [`DayMme::unknown`]: it may be an opioid we cannot
//!   convert (buprenorphine has no CDC factor).
//!
//! # Fentanyl patches
//! A patch is worn about 72 h and the diary logs an intake when it is applied, not each
//! day it is worn. Counting it only on the day it was logged would make the second and
//! third day look opioid-free and hide a sustained load. So a logged patch application
//! counts its full rate on its local day and the next 2 local days, unless a new
//! application of the same strength (mcg/h) is logged earlier: that one replaces it from
//! its own day. This reads "patients log each application" correctly, does not triple
//! count a patient who logs the same patch every day, and still adds up two patches of
//! different strengths worn together (25 + 12 mcg/h). It overcounts for a day or two when
//! a patch is replaced early by one of another strength (a titration); for a safety
//! alert we prefer that to undercounting.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use super::series::{DoseUnit, Intake, IntakeStatus, Route};

/// Days a logged fentanyl patch application counts, its own day included.
pub const PATCH_DAYS: u64 = 3;

super::series::string_enum! {
    /// An opioid with a CDC 2022 MME conversion factor.
    Opioid {
        /// Codeine, 0.15.
        Codeine => "codeine",
        /// Transdermal fentanyl, 2.4 per mcg/h.
        Fentanyl => "fentanyl",
        /// Hydrocodone, 1.
        Hydrocodone => "hydrocodone",
        /// Hydromorphone, 5.
        Hydromorphone => "hydromorphone",
        /// Methadone, 4.7.
        Methadone => "methadone",
        /// Morphine, 1.
        Morphine => "morphine",
        /// Oxycodone, 1.5.
        Oxycodone => "oxycodone",
        /// Oxymorphone, 3.
        Oxymorphone => "oxymorphone",
        /// Tapentadol, 0.4.
        Tapentadol => "tapentadol",
        /// Tramadol, 0.2.
        Tramadol => "tramadol",
    }
}

impl Opioid {
    /// The CDC 2022 conversion factor: MME per mg (oral), or per mcg/h for fentanyl.
    pub fn mme_factor(self) -> f64 {
        match self {
            Opioid::Codeine => 0.15,
            Opioid::Fentanyl => 2.4,
            Opioid::Hydrocodone => 1.0,
            Opioid::Hydromorphone => 5.0,
            Opioid::Methadone => 4.7,
            Opioid::Morphine => 1.0,
            Opioid::Oxycodone => 1.5,
            Opioid::Oxymorphone => 3.0,
            Opioid::Tapentadol => 0.4,
            Opioid::Tramadol => 0.2,
        }
    }
}

/// What a drug name was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrugClass {
    /// An opioid with an MME factor.
    Opioid(Opioid),
    /// A known non-opioid (paracetamol, NSAIDs, gabapentinoids, antidepressants, muscle
    /// relaxants...): 0 MME, nothing to report.
    NonOpioid,
    /// Not recognised: 0 MME, reported.
    Unknown,
}

/// Generic names and brand names (lower case, one word) of the opioids.
const OPIOID_WORDS: &[(&str, Opioid)] = &[
    ("codeine", Opioid::Codeine),
    ("fentanyl", Opioid::Fentanyl),
    ("duragesic", Opioid::Fentanyl),
    ("hydrocodone", Opioid::Hydrocodone),
    ("norco", Opioid::Hydrocodone),
    ("vicodin", Opioid::Hydrocodone),
    ("lortab", Opioid::Hydrocodone),
    ("hysingla", Opioid::Hydrocodone),
    ("zohydro", Opioid::Hydrocodone),
    ("hydromorphone", Opioid::Hydromorphone),
    ("dilaudid", Opioid::Hydromorphone),
    ("exalgo", Opioid::Hydromorphone),
    ("methadone", Opioid::Methadone),
    ("dolophine", Opioid::Methadone),
    ("methadose", Opioid::Methadone),
    ("morphine", Opioid::Morphine),
    ("kadian", Opioid::Morphine),
    ("oxycodone", Opioid::Oxycodone),
    ("oxycontin", Opioid::Oxycodone),
    ("percocet", Opioid::Oxycodone),
    ("roxicodone", Opioid::Oxycodone),
    ("endocet", Opioid::Oxycodone),
    ("xtampza", Opioid::Oxycodone),
    ("oxymorphone", Opioid::Oxymorphone),
    ("opana", Opioid::Oxymorphone),
    ("tapentadol", Opioid::Tapentadol),
    ("nucynta", Opioid::Tapentadol),
    ("tramadol", Opioid::Tramadol),
    ("ultram", Opioid::Tramadol),
    ("conzip", Opioid::Tramadol),
];

/// Two-word brand names.
const OPIOID_PAIRS: &[(&str, &str, Opioid)] = &[("ms", "contin", Opioid::Morphine)];

/// Known non-opioid analgesics and adjuvants (generic and common brand names).
const NON_OPIOID_WORDS: &[&str] = &[
    "acetaminophen",
    "paracetamol",
    "apap",
    "tylenol",
    "ibuprofen",
    "advil",
    "motrin",
    "naproxen",
    "aleve",
    "diclofenac",
    "voltaren",
    "celecoxib",
    "celebrex",
    "meloxicam",
    "ketorolac",
    "aspirin",
    "etoricoxib",
    "metamizole",
    "gabapentin",
    "neurontin",
    "pregabalin",
    "lyrica",
    "duloxetine",
    "cymbalta",
    "venlafaxine",
    "amitriptyline",
    "nortriptyline",
    "carbamazepine",
    "topiramate",
    "cyclobenzaprine",
    "baclofen",
    "tizanidine",
    "methocarbamol",
    "lidocaine",
    "capsaicin",
];

fn words(name: &str) -> impl Iterator<Item = String> + '_ {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Recognises a drug name: the first word (or two-word brand) naming an opioid wins, so
/// "hydrocodone/acetaminophen" and "Tylenol with codeine" are opioids.
pub fn classify_drug(name: &str) -> DrugClass {
    let words: Vec<String> = words(name).collect();
    let mut non_opioid = false;
    for (i, word) in words.iter().enumerate() {
        if let Some((_, opioid)) = OPIOID_WORDS.iter().find(|(w, _)| w == word) {
            return DrugClass::Opioid(*opioid);
        }
        if let Some(next) = words.get(i + 1)
            && let Some((_, _, opioid)) =
                OPIOID_PAIRS.iter().find(|(a, b, _)| a == word && b == next)
        {
            return DrugClass::Opioid(*opioid);
        }
        non_opioid |= NON_OPIOID_WORDS.contains(&word.as_str());
    }
    if non_opioid {
        DrugClass::NonOpioid
    } else {
        DrugClass::Unknown
    }
}

/// The name under which a drug is compared (PRN limits) and reported: the opioid's
/// generic name if it is one, otherwise the name in lower case with runs of whitespace
/// collapsed to one space.
pub fn normalize_drug_name(name: &str) -> String {
    match classify_drug(name) {
        DrugClass::Opioid(opioid) => opioid.as_str().to_owned(),
        _ => name
            .split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A dose of a known opioid that could not be converted to MME.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unconvertible {
    /// The drug as logged.
    pub drug: String,
    /// The amount as logged.
    pub amount: f64,
    /// The unit as logged.
    pub unit: DoseUnit,
    /// The route as logged.
    pub route: Route,
    /// Why, for people.
    pub reason: String,
}

/// The MME of one local day, with what was counted and what could not be.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayMme {
    /// Total MME of the day.
    pub total: f64,
    /// MME per opioid.
    pub by_drug: BTreeMap<Opioid, f64>,
    /// Names (as logged) of taken drugs that were not recognised; counted as 0.
    pub unknown: BTreeSet<String>,
    /// Taken doses of known opioids that could not be converted; counted as 0.
    pub unconvertible: Vec<Unconvertible>,
    /// Whether any intake counted in `total` for this day was synced late.
    pub late: bool,
}

impl DayMme {
    fn add(&mut self, opioid: Opioid, mme: f64, late: bool) {
        self.total += mme;
        *self.by_drug.entry(opioid).or_insert(0.0) += mme;
        self.late |= late;
    }
}

/// The oral MME of a dose in `unit`, or why it cannot be converted.
fn oral_mg(amount: f64, unit: DoseUnit) -> Result<f64, &'static str> {
    match unit {
        DoseUnit::Mg => Ok(amount),
        DoseUnit::G => Ok(amount * 1000.0),
        DoseUnit::Mcg => Ok(amount / 1000.0),
        DoseUnit::McgPerHour => Err("mcg/h is a patch rate, not an oral dose"),
        DoseUnit::Ml | DoseUnit::Unit => Err("strength per ml or per unit is not known"),
    }
}

/// The entry of `date` in `per_day`, which is filled in date order.
fn day_of(per_day: &mut Vec<(NaiveDate, DayMme)>, date: NaiveDate) -> &mut DayMme {
    if per_day.last().is_none_or(|(last, _)| *last != date) {
        per_day.push((date, DayMme::default()));
    }
    let last = per_day.len() - 1;
    &mut per_day[last].1
}

/// MME per local day with full detail: see the module documentation for what counts.
/// Days with only unknown or unconvertible intakes appear with a total of 0.
pub fn mme_report(intakes: &[Intake]) -> BTreeMap<NaiveDate, DayMme> {
    // Taken intakes in date order (a stable sort, linear on an already sorted diary), so
    // that each day is filled in one go and the map is built once at the end.
    let mut taken: Vec<&Intake> = intakes
        .iter()
        .filter(|i| i.status == IntakeStatus::Taken)
        .collect();
    taken.sort_by_key(|i| i.date);
    let mut per_day: Vec<(NaiveDate, DayMme)> = Vec::new();
    // Patch applications: rate (mcg/h, as bits for ordering) -> day -> (patches, late).
    let mut patches: BTreeMap<u64, BTreeMap<NaiveDate, (u32, bool)>> = BTreeMap::new();
    let mut classes: BTreeMap<&str, DrugClass> = BTreeMap::new();

    for intake in taken {
        // A patient logs the same few names over and over: classify each name once.
        let class = *classes
            .entry(intake.drug.as_str())
            .or_insert_with(|| classify_drug(&intake.drug));
        let opioid = match class {
            DrugClass::NonOpioid => continue,
            DrugClass::Unknown => {
                let day = day_of(&mut per_day, intake.date);
                day.unknown.insert(intake.drug.trim().to_owned());
                continue;
            }
            DrugClass::Opioid(opioid) => opioid,
        };
        let unconvertible = |reason: &str| Unconvertible {
            drug: intake.drug.clone(),
            amount: intake.amount,
            unit: intake.unit,
            route: intake.route,
            reason: reason.to_owned(),
        };
        let mut refuse = |reason: &str| {
            let day = day_of(&mut per_day, intake.date);
            day.unconvertible.push(unconvertible(reason));
        };
        if !intake.amount.is_finite() || intake.amount < 0.0 {
            refuse("the amount is not a valid number");
            continue;
        }
        if opioid == Opioid::Fentanyl {
            if intake.unit != DoseUnit::McgPerHour {
                refuse("fentanyl counts only as a transdermal patch in mcg/h");
            } else if !matches!(intake.route, Route::Transdermal | Route::Unspecified) {
                refuse("mcg/h fentanyl counts only by the transdermal route");
            } else {
                let day = patches
                    .entry(intake.amount.to_bits())
                    .or_default()
                    .entry(intake.date)
                    .or_insert((0, false));
                day.0 += 1;
                day.1 |= intake.late;
            }
            continue;
        }
        if !matches!(
            intake.route,
            Route::Oral | Route::Sublingual | Route::Unspecified
        ) {
            refuse("CDC 2022 factors apply to oral doses only");
            continue;
        }
        match oral_mg(intake.amount, intake.unit) {
            Ok(mg) => {
                day_of(&mut per_day, intake.date).add(opioid, mg * opioid.mme_factor(), intake.late)
            }
            Err(reason) => refuse(reason),
        }
    }

    let mut days: BTreeMap<NaiveDate, DayMme> = per_day.into_iter().collect();
    for (rate_bits, applications) in patches {
        let rate = f64::from_bits(rate_bits);
        let mut iter = applications.iter().peekable();
        while let Some((&applied, &(count, late))) = iter.next() {
            let next = iter.peek().map(|(d, _)| **d);
            for offset in 0..PATCH_DAYS {
                let Some(day) = applied.checked_add_days(Days::new(offset)) else {
                    break;
                };
                if next.is_some_and(|next| day >= next) {
                    break;
                }
                let mme = rate * f64::from(count) * Opioid::Fentanyl.mme_factor();
                days.entry(day)
                    .or_default()
                    .add(Opioid::Fentanyl, mme, late);
            }
        }
    }
    days
}

/// Total MME per local day (see [`mme_report`] for the detail and the module
/// documentation for what counts).
pub fn daily_mme(intakes: &[Intake]) -> BTreeMap<NaiveDate, f64> {
    mme_report(intakes)
        .into_iter()
        .map(|(day, mme)| (day, mme.total))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 5, n).unwrap()
    }

    pub(crate) fn taken(date: NaiveDate, drug: &str, amount: f64, unit: DoseUnit) -> Intake {
        Intake {
            date,
            drug: drug.to_owned(),
            amount,
            unit,
            route: Route::Unspecified,
            status: IntakeStatus::Taken,
            prn: false,
            late: false,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn names_are_normalised() {
        let cases = [
            ("Oxycodone", "oxycodone"),
            ("  OxyContin  ", "oxycodone"),
            ("Percocet 5/325", "oxycodone"),
            ("hydrocodone/acetaminophen", "hydrocodone"),
            ("Norco", "hydrocodone"),
            ("VICODIN", "hydrocodone"),
            ("Dilaudid", "hydromorphone"),
            ("Ultram", "tramadol"),
            ("Nucynta ER", "tapentadol"),
            ("Duragesic", "fentanyl"),
            ("MS Contin", "morphine"),
            ("Tylenol with Codeine", "codeine"),
            ("Oxycodone HCl 5 mg", "oxycodone"),
            ("  Ibuprofen   400 ", "ibuprofen 400"),
            ("ms", "ms"),
        ];
        for (name, normal) in cases {
            assert_eq!(normalize_drug_name(name), normal, "{name:?}");
        }
        assert_eq!(classify_drug("Gabapentin"), DrugClass::NonOpioid);
        assert_eq!(classify_drug("buprenorphine"), DrugClass::Unknown);
    }

    #[test]
    fn worked_examples_from_the_design() {
        // (intakes on one day, expected MME)
        let cases: Vec<(Vec<Intake>, f64)> = vec![
            (
                vec![taken(day(1), "hydrocodone", 5.0, DoseUnit::Mg); 4],
                20.0,
            ),
            (
                vec![taken(day(1), "oxycodone", 10.0, DoseUnit::Mg); 2],
                30.0,
            ),
            (vec![taken(day(1), "Norco", 5.0, DoseUnit::Mg); 4], 20.0),
            (vec![taken(day(1), "codeine", 30.0, DoseUnit::Mg); 4], 18.0),
            (vec![taken(day(1), "methadone", 10.0, DoseUnit::Mg)], 47.0),
            (
                vec![taken(day(1), "hydromorphone", 2000.0, DoseUnit::Mcg)],
                10.0,
            ),
            (vec![taken(day(1), "morphine", 0.06, DoseUnit::G)], 60.0),
            (vec![taken(day(1), "tramadol", 50.0, DoseUnit::Mg); 3], 30.0),
            (vec![taken(day(1), "tapentadol", 100.0, DoseUnit::Mg)], 40.0),
            (vec![taken(day(1), "oxymorphone", 10.0, DoseUnit::Mg)], 30.0),
        ];
        for (intakes, expected) in cases {
            let mme = daily_mme(&intakes);
            assert!(close(mme[&day(1)], expected), "{intakes:?}: {mme:?}");
        }
    }

    #[test]
    fn skipped_doses_and_non_opioids_count_nothing() {
        let mut skipped = taken(day(1), "oxycodone", 10.0, DoseUnit::Mg);
        skipped.status = IntakeStatus::Skipped;
        let intakes = vec![skipped, taken(day(1), "ibuprofen", 400.0, DoseUnit::Mg)];
        assert!(daily_mme(&intakes).is_empty());
    }

    #[test]
    fn unknown_and_unconvertible_are_reported_not_silent() {
        let mut iv = taken(day(1), "morphine", 4.0, DoseUnit::Mg);
        iv.route = Route::Intravenous;
        let intakes = vec![
            taken(day(1), "buprenorphine", 8.0, DoseUnit::Mg),
            taken(day(1), "oxycodone", 5.0, DoseUnit::Ml),
            taken(day(1), "fentanyl", 100.0, DoseUnit::Mcg),
            iv,
            taken(day(1), "oxycodone", 10.0, DoseUnit::Mg),
        ];
        let report = mme_report(&intakes);
        let d = &report[&day(1)];
        assert!(close(d.total, 15.0));
        assert_eq!(d.unknown.iter().collect::<Vec<_>>(), ["buprenorphine"]);
        assert_eq!(d.unconvertible.len(), 3);
    }

    #[test]
    fn intake_order_does_not_matter() {
        let intakes = vec![
            taken(day(3), "morphine", 30.0, DoseUnit::Mg),
            taken(day(1), "oxycodone", 10.0, DoseUnit::Mg),
            taken(day(3), "mystery pill", 1.0, DoseUnit::Unit),
            taken(day(1), "morphine", 5.0, DoseUnit::Mg),
            taken(day(3), "morphine", 30.0, DoseUnit::Mg),
        ];
        let mut reversed = intakes.clone();
        reversed.reverse();
        let report = mme_report(&intakes);
        assert_eq!(report, mme_report(&reversed));
        assert_eq!(report.len(), 2);
        assert!(close(report[&day(1)].total, 20.0) && close(report[&day(3)].total, 60.0));
        assert_eq!(report[&day(3)].unknown.len(), 1);
    }

    #[test]
    fn fentanyl_patch_counts_on_three_days() {
        let mut patch = taken(day(1), "Duragesic", 25.0, DoseUnit::McgPerHour);
        patch.route = Route::Transdermal;
        let mme = daily_mme(&[patch.clone()]);
        for n in 1..=3 {
            assert!(close(mme[&day(n)], 60.0), "day {n}: {mme:?}");
        }
        assert!(!mme.contains_key(&day(4)));

        // Replaced on day 4 and logged (wrongly) every day from day 7: never double counted.
        let mut intakes = vec![patch.clone()];
        for n in [4, 7, 8, 9] {
            intakes.push(Intake {
                date: day(n),
                ..patch.clone()
            });
        }
        let mme = daily_mme(&intakes);
        for n in 1..=11 {
            assert!(close(mme[&day(n)], 60.0), "day {n}: {mme:?}");
        }
        assert!(!mme.contains_key(&day(12)));

        // Two strengths worn together add up.
        let small = Intake {
            amount: 12.0,
            ..patch.clone()
        };
        let mme = daily_mme(&[patch, small]);
        assert!(close(mme[&day(2)], 37.0 * 2.4));
    }
}
