//! The PRN-overuse rule.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::mme::normalize_drug_name;
use super::series::IntakeStatus;
use super::{Decision, Evidence, Figures, IsoDate, PatientSeries, RuleKind, Severity, Thresholds};

/// PRN overuse (warning): on a local day `<= today`, more *taken* intakes marked as
/// needed (`prn: true`) of a drug than the care plan's `max_per_day` for it.
///
/// Drugs are matched after [`normalize_drug_name`], so a limit on "Percocet" covers
/// intakes logged as "oxycodone/acetaminophen". Scheduled (non-PRN) and skipped intakes
/// of the same drug do not count. A drug without a PRN limit never triggers; if the care
/// plan lists a drug twice, the lower limit applies. One decision per (day, drug),
/// late if any counted intake was synced late. The thresholds are not used: the limits
/// come from the care plan in the series.
pub fn prn_overuse(
    series: &PatientSeries,
    _thresholds: &Thresholds,
    today: NaiveDate,
) -> Vec<Decision> {
    let mut limits: BTreeMap<String, u32> = BTreeMap::new();
    for limit in &series.prn_limits {
        let max = limits
            .entry(normalize_drug_name(&limit.drug))
            .or_insert(limit.max_per_day);
        *max = (*max).min(limit.max_per_day);
    }
    if limits.is_empty() {
        return Vec::new();
    }
    // Limits by position (sorted by drug), so that counting compares numbers, not names.
    let limits: Vec<(String, u32)> = limits.into_iter().collect();
    // Each distinct name is normalised once; `None` for drugs without a limit.
    let mut names: BTreeMap<&str, Option<usize>> = BTreeMap::new();
    // (day, position in `limits`) -> (taken, late)
    let mut counts: BTreeMap<(NaiveDate, usize), (u32, bool)> = BTreeMap::new();
    for intake in &series.intakes {
        if !intake.prn || intake.status != IntakeStatus::Taken || intake.date > today {
            continue;
        }
        let drug = *names.entry(intake.drug.as_str()).or_insert_with(|| {
            let normal = normalize_drug_name(&intake.drug);
            limits
                .binary_search_by(|(name, _)| name.as_str().cmp(&normal))
                .ok()
        });
        if let Some(drug) = drug {
            let count = counts.entry((intake.date, drug)).or_insert((0, false));
            count.0 += 1;
            count.1 |= intake.late;
        }
    }
    counts
        .into_iter()
        .filter_map(|((date, drug), (taken, late))| {
            let (drug, max_per_day) = limits.get(drug)?;
            let max_per_day = *max_per_day;
            (taken > max_per_day).then(|| {
                Decision::new(
                    RuleKind::PrnOveruse,
                    Severity::Warning,
                    date,
                    late,
                    format!(
                        "{drug} taken as needed {taken} times on {}; the care plan allows {max_per_day} per day",
                        IsoDate(date)
                    ),
                    Evidence::PrnOveruse { drug: drug.clone(), taken, max_per_day },
                )
                .with_figures(Figures {
                    current: Some(f64::from(taken)),
                    usual: Some(f64::from(max_per_day)),
                    spread: None,
                    magnitude: Some(f64::from(taken - max_per_day)),
                })
            })
        })
        .collect()
}
