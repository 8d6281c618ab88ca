//! Rule evaluation inside the projection transaction: load the window of the patient's
//! projected series the rules need, run them, and open an alert or attach the trigger to
//! the open one, with its history and outbox rows, in the caller's transaction.

use std::collections::BTreeSet;

use chrono::{DateTime, Days, NaiveDate, Utc};
use paindiary_notifier::rules::{
    Decision, DoseUnit, Intake, IntakeStatus, PainEntry, PatientSeries, PrnLimit, Route, RuleKind,
    ThresholdOverrides, daily_pain, evaluate_all,
};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::{AlertsConfig, ClinicSettings, clinic_settings, event, notified_individually, status};
use crate::audit::{self, AuditEvent};
use crate::domain::PatientId;
use crate::entity::{alerts, medication_intakes, pain_entries, patients};
use crate::outbox::DeliveryKind;

/// Audit action of an alert opened by the rules.
pub const ALERT_OPEN: &str = "alert.open";

/// What an evaluation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvaluationSummary {
    /// Decisions the rules returned for the days of interest.
    pub decisions: usize,
    /// Alerts opened.
    pub opened: usize,
    /// Triggers attached to alerts already open.
    pub attached: usize,
    /// Outbox rows enqueued.
    pub enqueued: usize,
}

/// The care plan's contribution to evaluation: per-patient threshold overrides and PRN
/// limits.
#[derive(Debug, Clone, Default)]
pub struct CarePlanRules {
    /// Overrides applied over the clinic thresholds.
    pub overrides: ThresholdOverrides,
    /// PRN maxima per drug.
    pub prn_limits: Vec<PrnLimit>,
}

/// Which local days to evaluate.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// The days whose projected pain or intake rows just changed.
    Days(&'a BTreeSet<NaiveDate>),
    /// The last `n` local days up to the patient's today (after a care-plan change).
    Recent(u32),
}

/// Evaluates the rules for `patient` on the local days of `scope`, in `conn` (the
/// projection's transaction).
///
/// Only the window the rules need is read: from the earliest day minus
/// [`history_days`](paindiary_notifier::rules::Thresholds::history_days) to the latest
/// day. A decision is acted on only when its
/// day is one of `days`: that day's data is what changed, so late data is evaluated on
/// its own local day and the alert says it was reported late. Missed logging is not
/// evaluated here (a patient who stops logging does not sync); see the timers.
pub async fn evaluate_patient(
    conn: &impl ConnectionTrait,
    config: &AlertsConfig,
    patient: Uuid,
    scope: Scope<'_>,
    care_plan: Option<&CarePlanRules>,
    now: DateTime<Utc>,
) -> Result<EvaluationSummary, DbErr> {
    let mut summary = EvaluationSummary::default();
    if let Scope::Days(days) = scope
        && days.is_empty()
    {
        return Ok(summary);
    }
    let Some(patient) = patients::Entity::find_by_id(patient).one(conn).await? else {
        return Ok(summary);
    };
    if patient.erased_at.is_some() {
        return Ok(summary);
    }
    let settings = clinic_settings(conn, config, patient.clinic_id).await?;
    let mut thresholds = settings.thresholds.clone();
    let mut series = PatientSeries::default();
    if let Some(plan) = care_plan {
        match thresholds.with(&plan.overrides) {
            Ok(t) => thresholds = t,
            Err(_) => tracing::warn!(
                patient = %patient.id,
                "care-plan threshold overrides are invalid; clinic thresholds apply"
            ),
        }
        series.prn_limits = plan.prn_limits.clone();
    }
    let tz = patient
        .timezone
        .parse::<chrono_tz::Tz>()
        .unwrap_or(chrono_tz::UTC);
    let today = now.with_timezone(&tz).date_naive();
    let recent: BTreeSet<NaiveDate>;
    let days = match scope {
        Scope::Days(days) => days,
        Scope::Recent(n) => {
            recent = (0..n.max(1))
                .filter_map(|back| today.checked_sub_days(Days::new(u64::from(back))))
                .collect();
            &recent
        }
    };
    let (Some(&first), Some(&last)) = (days.first(), days.last()) else {
        return Ok(summary);
    };
    if first > today {
        return Ok(summary);
    }
    let from = first
        .checked_sub_days(Days::new(u64::from(thresholds.history_days())))
        .unwrap_or(first);
    let to = last.min(today);

    let pain: Vec<(NaiveDate, f64, bool)> = pain_entries::Entity::find()
        .select_only()
        .column(pain_entries::Column::LocalDate)
        .column(pain_entries::Column::Score)
        .column(pain_entries::Column::Late)
        .filter(pain_entries::Column::PatientId.eq(patient.id))
        .filter(pain_entries::Column::LocalDate.between(from, to))
        .filter(pain_entries::Column::Valid.eq(true))
        .filter(pain_entries::Column::Deleted.eq(false))
        .into_tuple()
        .all(conn)
        .await?;
    series.pain = daily_pain(pain.into_iter().filter_map(|(date, score, late)| {
        (score.is_finite() && (0.0..=10.0).contains(&score)).then_some(PainEntry {
            date,
            // NRS scores are whole numbers; the projection keeps the document's number.
            score: score.round() as u8,
            late,
        })
    }));
    type IntakeRow = (
        NaiveDate,
        String,
        f64,
        String,
        Option<String>,
        String,
        bool,
        bool,
    );
    let intakes: Vec<IntakeRow> = medication_intakes::Entity::find()
        .select_only()
        .column(medication_intakes::Column::LocalDate)
        .column(medication_intakes::Column::Drug)
        .column(medication_intakes::Column::Amount)
        .column(medication_intakes::Column::Unit)
        .column(medication_intakes::Column::Route)
        .column(medication_intakes::Column::Status)
        .column(medication_intakes::Column::Prn)
        .column(medication_intakes::Column::Late)
        .filter(medication_intakes::Column::PatientId.eq(patient.id))
        .filter(medication_intakes::Column::LocalDate.between(from, to))
        .filter(medication_intakes::Column::Valid.eq(true))
        .filter(medication_intakes::Column::Deleted.eq(false))
        .into_tuple()
        .all(conn)
        .await?;
    series.intakes = intakes
        .into_iter()
        .map(
            |(date, drug, amount, unit, route, status, prn, late)| Intake {
                date,
                drug,
                amount,
                // An unknown unit is a dose of unknown strength: it counts as taken but
                // converts to no MME (the rule says so in its explanation).
                unit: unit.parse().unwrap_or(DoseUnit::Unit),
                route: route
                    .as_deref()
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(Route::Unspecified),
                status: status.parse().unwrap_or(IntakeStatus::Taken),
                prn,
                late,
            },
        )
        .collect();

    let decisions: Vec<Decision> = evaluate_all(&series, &thresholds, today)
        .into_iter()
        .filter(|d| d.rule != RuleKind::MissedLogging && days.contains(&d.day))
        .collect();
    summary.decisions = decisions.len();
    for decision in &decisions {
        apply(conn, &patient, &settings, decision, now, &mut summary).await?;
    }
    Ok(summary)
}

/// What a care plan changes in evaluation: its threshold overrides and PRN maxima.
pub fn care_plan_rules(plan: &paindiary_sync::schema::care_plan::CarePlan) -> CarePlanRules {
    let t = &plan.thresholds;
    let whole = |v: Option<f64>| {
        v.filter(|x| x.is_finite() && *x >= 0.0 && x.fract() == 0.0 && *x <= 1000.0)
            .map(|x| x as u32)
    };
    CarePlanRules {
        overrides: ThresholdOverrides {
            worsening_points: t.worsening_points,
            worsening_percent: t.worsening_percent,
            severe_threshold: whole(t.severe_score).and_then(|x| u8::try_from(x).ok()),
            mme_info: t.mme_info,
            mme_warning: t.mme_warning,
            missed_logging_days: whole(t.missed_days),
            ..ThresholdOverrides::default()
        },
        prn_limits: plan
            .medications
            .iter()
            .filter(|m| m.prn)
            .filter_map(|m| {
                Some(PrnLimit {
                    drug: m.drug.clone(),
                    max_per_day: whole(m.prn_max_per_day)?,
                })
            })
            .collect(),
    }
}

/// The unique slot of the unresolved alert of (patient, rule).
pub(crate) fn open_slot(patient: Uuid, rule: &str) -> String {
    format!("{patient}:{rule}")
}

/// Opens an alert for `decision`, or attaches it to the open one of its rule (also used
/// by the missed-logging timer, which decides outside a projection transaction).
pub(crate) async fn apply(
    conn: &impl ConnectionTrait,
    patient: &patients::Model,
    settings: &ClinicSettings,
    decision: &Decision,
    now: DateTime<Utc>,
    summary: &mut EvaluationSummary,
) -> Result<(), DbErr> {
    let slot = open_slot(patient.id, decision.rule.as_str());
    let evidence = serde_json::to_string(&decision.evidence).unwrap_or_else(|_| "{}".to_owned());
    if let Some(open) = find_open(conn, &slot).await? {
        return attach(conn, open, decision, evidence, now, summary).await;
    }
    let individually = notified_individually(decision.severity);
    let urgent = decision.severity == paindiary_notifier::rules::Severity::Urgent;
    let row = alerts::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient.id),
        clinic_id: Set(patient.clinic_id),
        rule: Set(decision.rule.as_str().to_owned()),
        severity: Set(decision.severity.as_str().to_owned()),
        status: Set(status::OPEN.to_owned()),
        open_slot: Set(Some(slot.clone())),
        opened_at: Set(now),
        last_triggered_at: Set(now),
        trigger_count: Set(1),
        local_day: Set(decision.day),
        reported_late: Set(decision.late),
        explanation: Set(decision.explanation.clone()),
        evidence: Set(evidence.clone()),
        acknowledged_by: Set(None),
        acknowledged_at: Set(None),
        resolved_by: Set(None),
        resolved_at: Set(None),
        resolution_note: Set(None),
        last_notified_at: Set(individually.then_some(now)),
        next_repeat_at: Set(individually.then(|| now + settings.repeat_interval)),
        escalate_at: Set(urgent.then(|| now + settings.escalation)),
        escalated_at: Set(None),
    };
    // Another replica may have opened the same slot since we looked: then attach.
    let inserted = alerts::Entity::insert(row)
        .on_conflict(
            OnConflict::column(alerts::Column::OpenSlot)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    let Some(alert) = find_open(conn, &slot).await? else {
        return Err(DbErr::RecordNotFound("alert just opened".to_owned()));
    };
    if inserted == 0 {
        return attach(conn, alert, decision, evidence, now, summary).await;
    }
    summary.opened += 1;
    super::record_event(
        conn,
        alert.id,
        now,
        event::OPENED,
        None,
        Some(decision.explanation.clone()),
    )
    .await?;
    audit::record(
        conn,
        AuditEvent::new(now, None, ALERT_OPEN)
            .patient(PatientId(patient.id))
            .target(format!("alert {}", alert.id)),
    )
    .await?;
    if individually {
        let n = super::notify(
            conn,
            &alert,
            patient,
            settings,
            DeliveryKind::AlertOpened,
            0,
            now,
        )
        .await?;
        summary.enqueued += n;
        super::record_event(
            conn,
            alert.id,
            now,
            event::NOTIFIED,
            None,
            Some(format!("{n} deliveries enqueued")),
        )
        .await?;
    }
    Ok(())
}

async fn find_open(
    conn: &impl ConnectionTrait,
    slot: &str,
) -> Result<Option<alerts::Model>, DbErr> {
    alerts::Entity::find()
        .filter(alerts::Column::OpenSlot.eq(slot))
        .one(conn)
        .await
}

/// Attaches a trigger to an open alert: no new delivery. A decision for the day the
/// alert already reports (the same day re-evaluated after another entry) refreshes the
/// numbers without counting as a new trigger.
async fn attach(
    conn: &impl ConnectionTrait,
    open: alerts::Model,
    decision: &Decision,
    evidence: String,
    now: DateTime<Utc>,
    summary: &mut EvaluationSummary,
) -> Result<(), DbErr> {
    let new_day = decision.day != open.local_day;
    let severity = open
        .severity
        .parse::<paindiary_notifier::rules::Severity>()
        .map_or(decision.severity, |s| s.max(decision.severity));
    let mut row: alerts::ActiveModel = open.clone().into();
    row.severity = Set(severity.as_str().to_owned());
    row.explanation = Set(decision.explanation.clone());
    row.evidence = Set(evidence);
    if new_day || decision.late {
        row.local_day = Set(decision.day);
        row.reported_late = Set(decision.late);
    }
    if new_day {
        row.trigger_count = Set(open.trigger_count + 1);
        row.last_triggered_at = Set(now);
    }
    alerts::Entity::update(row).exec(conn).await?;
    if new_day {
        summary.attached += 1;
        super::record_event(
            conn,
            open.id,
            now,
            event::TRIGGERED,
            None,
            Some(decision.explanation.clone()),
        )
        .await?;
    }
    Ok(())
}
