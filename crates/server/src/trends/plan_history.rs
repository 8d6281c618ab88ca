//! The care plan's history read from the document itself: each change replayed in causal
//! order and the plan compared before and after, so the dashboard can say what changed
//! when (drug started, stopped, dose changed; exercise prescribed; intervention added;
//! thresholds set) without a history table of its own. Also the care-plan events a pain
//! chart marks: from the plan's own dates where it has them, from the history otherwise.

use std::collections::BTreeMap;

use automerge::{AutoCommit, Automerge};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use paindiary_sync::schema::care_plan::{
    CarePlan, Intervention, PrescribedExercise, PrescribedMedication, ThresholdOverrides,
    read_care_plan,
};

use super::plausible_day;

/// What kind of change a [`PlanChange`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanChangeKind {
    /// A medication was added.
    DrugAdded,
    /// A medication was removed.
    DrugRemoved,
    /// A medication's dose, unit or times per day changed.
    DoseChanged,
    /// Another field of a medication changed.
    DrugEdited,
    /// An exercise was prescribed.
    ExerciseAdded,
    /// An exercise prescription changed.
    ExerciseChanged,
    /// An exercise was removed.
    ExerciseRemoved,
    /// An intervention was recorded.
    InterventionAdded,
    /// An intervention was edited.
    InterventionChanged,
    /// An intervention was removed.
    InterventionRemoved,
    /// A threshold override was set or cleared.
    ThresholdChanged,
}

/// One change of the care plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanChange {
    /// When it was made (the change's own timestamp).
    pub at: DateTime<Utc>,
    /// What kind of change.
    pub kind: PlanChangeKind,
    /// The change in words, e.g. "Duloxetine: dose 60 mg -> 30 mg".
    pub what: String,
}

fn dose(m: &PrescribedMedication) -> String {
    let amount = m.dose_amount.map(|a| format!("{a}")).unwrap_or_default();
    let unit = m.dose_unit.clone().unwrap_or_default();
    let times = m
        .times_per_day
        .map(|t| format!(", {t} times a day"))
        .unwrap_or_default();
    let text = format!("{amount} {unit}{times}");
    let text = text.trim().trim_start_matches(',').trim().to_owned();
    if text.is_empty() {
        "no dose given".to_owned()
    } else {
        text
    }
}

fn exercise(e: &PrescribedExercise) -> String {
    match (e.minutes_per_session, e.sessions_per_week) {
        (Some(m), Some(s)) => format!("{} ({m} min, {s} per week)", e.activity),
        _ => e.activity.clone(),
    }
}

fn intervention(i: &Intervention) -> String {
    let region = i
        .region
        .as_deref()
        .map(|r| format!(", {r}"))
        .unwrap_or_default();
    format!("{} on {}{region}", i.kind.replace('_', " "), i.date)
}

fn thresholds(t: &ThresholdOverrides) -> Vec<(&'static str, Option<f64>)> {
    vec![
        ("worsening points", t.worsening_points),
        ("worsening percent", t.worsening_percent),
        ("severe score", t.severe_score),
        ("MME information level", t.mme_info),
        ("MME warning level", t.mme_warning),
        ("missed days", t.missed_days),
    ]
}

/// The differences from `before` to `after`, as changes made at `at`.
fn diff(before: &CarePlan, after: &CarePlan, at: DateTime<Utc>, out: &mut Vec<PlanChange>) {
    let mut push = |kind, what: String| out.push(PlanChange { at, kind, what });
    let old: BTreeMap<&str, &PrescribedMedication> = before
        .medications
        .iter()
        .map(|m| (m.id.as_str(), m))
        .collect();
    for m in &after.medications {
        match old.get(m.id.as_str()) {
            None => push(
                PlanChangeKind::DrugAdded,
                format!("{}: prescribed, {}", m.drug, dose(m)),
            ),
            Some(o) if dose(o) != dose(m) => push(
                PlanChangeKind::DoseChanged,
                format!("{}: dose {} -> {}", m.drug, dose(o), dose(m)),
            ),
            Some(o) if *o != m => push(
                PlanChangeKind::DrugEdited,
                format!(
                    "{}: edited (from {} until {})",
                    m.drug,
                    m.start_date.map_or("–".to_owned(), |d| d.to_string()),
                    m.end_date.map_or("–".to_owned(), |d| d.to_string())
                ),
            ),
            Some(_) => {}
        }
    }
    for m in &before.medications {
        if !after.medications.iter().any(|n| n.id == m.id) {
            push(PlanChangeKind::DrugRemoved, format!("{}: removed", m.drug));
        }
    }
    for e in &after.exercises {
        match before.exercises.iter().find(|o| o.id == e.id) {
            None => push(
                PlanChangeKind::ExerciseAdded,
                format!("Exercise prescribed: {}", exercise(e)),
            ),
            Some(o) if o != e => push(
                PlanChangeKind::ExerciseChanged,
                format!("Exercise changed: {} -> {}", exercise(o), exercise(e)),
            ),
            Some(_) => {}
        }
    }
    for e in &before.exercises {
        if !after.exercises.iter().any(|n| n.id == e.id) {
            push(
                PlanChangeKind::ExerciseRemoved,
                format!("Exercise removed: {}", e.activity),
            );
        }
    }
    for i in &after.interventions {
        match before.interventions.iter().find(|o| o.id == i.id) {
            None => push(
                PlanChangeKind::InterventionAdded,
                format!("Intervention recorded: {}", intervention(i)),
            ),
            Some(o) if o != i => push(
                PlanChangeKind::InterventionChanged,
                format!("Intervention edited: {}", intervention(i)),
            ),
            Some(_) => {}
        }
    }
    for i in &before.interventions {
        if !after.interventions.iter().any(|n| n.id == i.id) {
            push(
                PlanChangeKind::InterventionRemoved,
                format!("Intervention removed: {}", intervention(i)),
            );
        }
    }
    for ((name, old), (_, new)) in thresholds(&before.thresholds)
        .into_iter()
        .zip(thresholds(&after.thresholds))
    {
        if old != new {
            let what = match new {
                Some(v) => format!("Threshold {name} set to {v}"),
                None => format!("Threshold {name} back to the clinic's setting"),
            };
            push(PlanChangeKind::ThresholdChanged, what);
        }
    }
}

/// Every change of the care-plan document, oldest first. Changes that touched nothing
/// the plan shows (e.g. the document's creation) are left out.
pub fn history(doc: &mut AutoCommit) -> Vec<PlanChange> {
    let changes = doc.get_changes(&[]);
    let mut replay = Automerge::new();
    let mut before = CarePlan::default();
    let mut out = Vec::new();
    for change in changes {
        let at = DateTime::from_timestamp(change.timestamp(), 0).unwrap_or_default();
        if replay.apply_changes([change]).is_err() {
            // A change the replay cannot apply (missing dependency): the rest of the
            // history would be wrong, so it stops here.
            break;
        }
        let after = read_care_plan(&replay);
        diff(&before, &after, at, &mut out);
        before = after;
    }
    out
}

/// A care-plan event a chart marks on its day.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanEvent {
    /// The patient's local day.
    pub date: NaiveDate,
    /// `drug_started`, `drug_stopped`, `dose_changed`, `exercise_prescribed`,
    /// `intervention`.
    pub kind: &'static str,
    /// A short label, e.g. "duloxetine stopped".
    pub label: String,
}

/// The events of `plan` and `history` that fall in `from..=to` (local days of `tz`),
/// by day. A medication's start and end dates win over the day its item was written;
/// dates outside the plausible range are left out (the editor shows them as invalid).
pub fn events(
    plan: &CarePlan,
    history: &[PlanChange],
    tz: Tz,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<PlanEvent> {
    let mut out = Vec::new();
    let mut add = |date: NaiveDate, kind: &'static str, label: String| {
        if date >= from && date <= to && plausible_day(date) {
            out.push(PlanEvent { date, kind, label });
        }
    };
    for m in &plan.medications {
        if let Some(d) = m.start_date {
            add(d, "drug_started", format!("{} started", m.drug));
        }
        if let Some(d) = m.end_date {
            add(d, "drug_stopped", format!("{} stopped", m.drug));
        }
    }
    for i in &plan.interventions {
        add(i.date, "intervention", i.kind.replace('_', " "));
    }
    for c in history {
        let day = c.at.with_timezone(&tz).date_naive();
        let drug = c.what.split(':').next().unwrap_or("").to_owned();
        let dated = |want: fn(&PrescribedMedication) -> bool| {
            plan.medications.iter().any(|m| m.drug == drug && want(m))
        };
        match c.kind {
            PlanChangeKind::DoseChanged => add(day, "dose_changed", format!("{drug} dose changed")),
            PlanChangeKind::DrugAdded if !dated(|m| m.start_date.is_some()) => {
                add(day, "drug_started", format!("{drug} started"));
            }
            PlanChangeKind::DrugRemoved => add(day, "drug_stopped", format!("{drug} stopped")),
            PlanChangeKind::ExerciseAdded => {
                add(day, "exercise_prescribed", "PT prescribed".to_owned());
            }
            _ => {}
        }
    }
    out.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.label.cmp(&b.label)));
    out.dedup();
    out
}
