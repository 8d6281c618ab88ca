//! The opioid-load rule.

use std::fmt::Write as _;

use chrono::NaiveDate;

use super::mme::mme_report;
use super::{
    Decision, EPSILON, Evidence, Figures, IsoDate, PatientSeries, RuleKind, Severity, Thresholds,
    one_decimal,
};

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
        let mut explanation = format!(
            "{} MME/day on {} (>= {threshold} {label} threshold): ",
            one_decimal(mme.total),
            IsoDate(date)
        );
        // Writing into a String cannot fail.
        for (i, (drug, v)) in mme.by_drug.iter().enumerate() {
            let _ = write!(
                explanation,
                "{}{drug} {}",
                if i == 0 { "" } else { ", " },
                one_decimal(*v)
            );
        }
        for (i, name) in mme.unknown.iter().enumerate() {
            let lead = if i == 0 {
                "; not counted, unknown drug: "
            } else {
                ", "
            };
            let _ = write!(explanation, "{lead}{name}");
        }
        for dose in &mme.unconvertible {
            let _ = write!(
                explanation,
                "; not counted: {} {} {} ({})",
                dose.drug.trim(),
                dose.amount,
                dose.unit,
                dose.reason
            );
        }
        let figures = Figures {
            current: Some(mme.total),
            usual: None,
            spread: None,
            magnitude: Some(mme.total - threshold),
        };
        decisions.push(
            Decision::new(
                RuleKind::OpioidLoad,
                severity,
                date,
                mme.late,
                explanation,
                Evidence::OpioidLoad { mme, threshold },
            )
            .with_figures(figures),
        );
    }
    decisions
}
