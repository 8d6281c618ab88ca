//! The opioid-load rule.

use chrono::NaiveDate;

use super::mme::mme_report;
use super::{Decision, EPSILON, Evidence, PatientSeries, RuleKind, Severity, Thresholds};

/// Opioid load: daily MME (see [`daily_mme`](super::daily_mme) for what counts) at or
/// above `mme_warning` (90) is a warning, at or above `mme_info` (50) an info.
///
/// One decision per local day `<= today` that reaches a threshold. The explanation lists
/// the MME per drug and, so that a total is never read as complete when it is not, the
/// drugs that were not recognised and the doses that could not be converted. The
/// decision is late if any intake counted in the total was synced late.
pub fn opioid_load(
    series: &PatientSeries,
    thresholds: &Thresholds,
    today: NaiveDate,
) -> Vec<Decision> {
    let t = thresholds;
    let mut decisions = Vec::new();
    for (date, mme) in mme_report(&series.intakes)
        .into_iter()
        .filter(|(d, _)| *d <= today)
    {
        let (severity, threshold, label) = if mme.total >= t.mme_warning - EPSILON {
            (Severity::Warning, t.mme_warning, "warning")
        } else if mme.total >= t.mme_info - EPSILON {
            (Severity::Info, t.mme_info, "info")
        } else {
            continue;
        };
        let drugs: Vec<String> = mme
            .by_drug
            .iter()
            .map(|(drug, v)| format!("{drug} {v:.1}"))
            .collect();
        let mut explanation = format!(
            "{:.1} MME/day on {date} (>= {threshold} {label} threshold): {}",
            mme.total,
            drugs.join(", ")
        );
        if !mme.unknown.is_empty() {
            let names: Vec<&str> = mme.unknown.iter().map(String::as_str).collect();
            explanation.push_str(&format!(
                "; not counted, unknown drug: {}",
                names.join(", ")
            ));
        }
        for dose in &mme.unconvertible {
            explanation.push_str(&format!(
                "; not counted: {} {} {} ({})",
                dose.drug.trim(),
                dose.amount,
                dose.unit,
                dose.reason
            ));
        }
        decisions.push(Decision::new(
            RuleKind::OpioidLoad,
            severity,
            date,
            mme.late,
            explanation,
            Evidence::OpioidLoad { mme, threshold },
        ));
    }
    decisions
}
