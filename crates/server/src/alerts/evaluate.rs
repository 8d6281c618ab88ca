//! Rule evaluation inside the projection transaction: load the window of the patient's
//! projected series the rules need, run them, and open an alert or attach the trigger to
//! the open one, with its history and outbox rows, in the caller's transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Days, NaiveDate, Utc};
use paindiary_notifier::rules::{
    DailyPain, Decision, DoseUnit, Intake, IntakeStatus, PatientSeries, PrnLimit, Route, RuleKind,
    Severity, ThresholdOverrides, Thresholds, evaluate_all,
};
use sea_orm::sea_query::{Expr, Func, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, JoinType, QueryFilter,
    QuerySelect, RelationDef,
};
use uuid::Uuid;

use super::{
    AlertsConfig, ClinicSettings, event, notified_individually, settings_from_row, status,
};
use crate::audit::{self, AuditEvent};
use crate::domain::PatientId;
use crate::entity::{
    alerts, clinic_notification_settings, medication_intakes, pain_entries, patients,
};
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

/// One patient's evaluation owed by a commit: the days that changed and the care plan
/// that applies.
#[derive(Debug, Clone)]
pub struct EvaluationRequest {
    /// The patient.
    pub patient: Uuid,
    /// The changed local days.
    pub days: BTreeSet<NaiveDate>,
    /// Of `days`, those whose medication intakes changed. The opioid and PRN rules decide
    /// per day from that day's intakes, so they run on these days (and the recent ones)
    /// only: a day whose pain alone changed has the same intake decisions as before.
    pub medication_days: BTreeSet<NaiveDate>,
    /// Also the last `n` local days up to the patient's today (0: none).
    pub recent: u32,
    /// Local days whose questionnaire responses changed: the questionnaire rules (safety
    /// item, worsening by the MCID) judge the responses of these days.
    pub questionnaire_days: BTreeSet<NaiveDate>,
    /// The care plan's overrides and PRN limits, if the patient has a care plan.
    pub care_plan: Option<CarePlanRules>,
    /// When the triggering change was received.
    pub now: DateTime<Utc>,
}

/// Evaluates the rules for `patient` on the local days of `scope`, in `conn` (the
/// projection's transaction). See [`evaluate_many`].
pub async fn evaluate_patient(
    conn: &impl ConnectionTrait,
    config: &AlertsConfig,
    patient: Uuid,
    scope: Scope<'_>,
    care_plan: Option<&CarePlanRules>,
    now: DateTime<Utc>,
) -> Result<EvaluationSummary, DbErr> {
    let (days, recent) = match scope {
        Scope::Days(days) => (days.clone(), 0),
        Scope::Recent(n) => (BTreeSet::new(), n.max(1)),
    };
    // Callers outside the sync path do not know which kinds changed: every day counts.
    let medication_days = days.clone();
    evaluate_many(
        conn,
        config,
        vec![EvaluationRequest {
            patient,
            days,
            medication_days,
            recent,
            questionnaire_days: BTreeSet::new(),
            care_plan: care_plan.cloned(),
            now,
        }],
    )
    .await
}

/// What one patient's evaluation needs once its requests are merged.
struct PatientScope {
    patient: patients::Model,
    settings_clinic: Uuid,
    thresholds: Thresholds,
    prn_limits: Vec<PrnLimit>,
    today: NaiveDate,
    /// The days whose decisions are acted on.
    days: BTreeSet<NaiveDate>,
    /// The days whose intakes are read (see [`EvaluationRequest::medication_days`]).
    medication_days: BTreeSet<NaiveDate>,
    /// The pain window the rules read: `days`' first day minus the rules' history.
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
}

/// Evaluates every request of a group commit in `conn` (its transaction), with a fixed
/// number of queries whatever the number of patients: patients, clinic settings, the pain
/// window, the intakes of the changed days, and (only when a rule decided something) the
/// open alerts. Requests for the same patient are merged.
///
/// Only the window the rules need is read: from the earliest day minus
/// [`history_days`](paindiary_notifier::rules::Thresholds::history_days) to the latest
/// day; intakes only for the changed days (the opioid and PRN rules decide per day). A
/// decision is acted on only when its day is one of the changed days: that day's data is
/// what changed, so late data is evaluated on its own local day and the alert says it was
/// reported late. Missed logging is not evaluated here (a patient who stops logging does
/// not sync); see the timers.
pub async fn evaluate_many(
    conn: &impl ConnectionTrait,
    config: &AlertsConfig,
    requests: Vec<EvaluationRequest>,
) -> Result<EvaluationSummary, DbErr> {
    let mut summary = EvaluationSummary::default();
    let mut merged: BTreeMap<Uuid, EvaluationRequest> = BTreeMap::new();
    let mut questionnaires: BTreeMap<Uuid, (BTreeSet<NaiveDate>, DateTime<Utc>)> = BTreeMap::new();
    for request in &requests {
        if !request.questionnaire_days.is_empty() {
            let q = questionnaires
                .entry(request.patient)
                .or_insert_with(|| (BTreeSet::new(), request.now));
            q.0.extend(request.questionnaire_days.iter().copied());
            q.1 = q.1.max(request.now);
        }
    }
    if !questionnaires.is_empty() {
        evaluate_questionnaires(conn, config, questionnaires, &mut summary).await?;
    }
    for request in requests {
        if request.days.is_empty() && request.recent == 0 {
            continue;
        }
        match merged.entry(request.patient) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(request);
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                let m = o.get_mut();
                m.days.extend(request.days);
                m.medication_days.extend(request.medication_days);
                m.recent = m.recent.max(request.recent);
                // Requests are in commit order: the later care plan is the current one.
                if request.care_plan.is_some() {
                    m.care_plan = request.care_plan;
                }
                m.now = m.now.max(request.now);
            }
        }
    }
    if merged.is_empty() {
        return Ok(summary);
    }
    // The patients with their clinics' settings rows, in one query.
    let settings_of_clinic: RelationDef =
        patients::Entity::belongs_to(clinic_notification_settings::Entity)
            .from(patients::Column::ClinicId)
            .to(clinic_notification_settings::Column::ClinicId)
            .into();
    let rows = patients::Entity::find()
        .select_also(clinic_notification_settings::Entity)
        .join(JoinType::LeftJoin, settings_of_clinic)
        .filter(patients::Column::Id.is_in(merged.keys().copied()))
        .filter(patients::Column::ErasedAt.is_null())
        .all(conn)
        .await?;
    let mut settings: HashMap<Uuid, ClinicSettings> = HashMap::new();
    let mut patient_rows = Vec::with_capacity(rows.len());
    for (patient, row) in rows {
        settings
            .entry(patient.clinic_id)
            .or_insert_with(|| settings_from_row(config, patient.clinic_id, row));
        patient_rows.push(patient);
    }

    let mut scopes = Vec::with_capacity(patient_rows.len());
    for patient in patient_rows {
        let Some(request) = merged.remove(&patient.id) else {
            continue;
        };
        let Some(clinic) = settings.get(&patient.clinic_id) else {
            continue;
        };
        let mut thresholds = clinic.thresholds.clone();
        let mut prn_limits = Vec::new();
        if let Some(plan) = &request.care_plan {
            match thresholds.with(&plan.overrides) {
                Ok(t) => thresholds = t,
                Err(_) => tracing::warn!(
                    patient = %patient.id,
                    "care-plan threshold overrides are invalid; clinic thresholds apply"
                ),
            }
            prn_limits = plan.prn_limits.clone();
        }
        let tz = patient.zone();
        let today = request.now.with_timezone(&tz).date_naive();
        let recent_days: Vec<NaiveDate> = (0..request.recent)
            .filter_map(|back| today.checked_sub_days(Days::new(u64::from(back))))
            .collect();
        let mut days = request.days;
        days.extend(recent_days.iter().copied());
        days.retain(|d| *d <= today);
        let mut medication_days = request.medication_days;
        medication_days.extend(recent_days);
        medication_days.retain(|d| days.contains(d));
        let (Some(&first), Some(&last)) = (days.first(), days.last()) else {
            continue;
        };
        let from = first
            .checked_sub_days(Days::new(u64::from(thresholds.history_days())))
            .unwrap_or(first);
        scopes.push(PatientScope {
            settings_clinic: patient.clinic_id,
            patient,
            thresholds,
            prn_limits,
            today,
            days,
            medication_days,
            from,
            to: last,
            now: request.now,
        });
    }
    if scopes.is_empty() {
        return Ok(summary);
    }
    // Every unresolved alert of these patients, in one query on the unique slot index:
    // new triggers attach to them, and the pain alerts are kept current below.
    let slots: BTreeSet<String> = scopes
        .iter()
        .flat_map(|s| {
            RULES_WITH_SLOTS
                .iter()
                .map(move |rule| open_slot(s.patient.id, rule.as_str()))
        })
        .collect();
    let mut open = open_alerts(conn, slots).await?;
    // A changed day can change the decisions of every later day, so a pain alert whose
    // latest trigger is on or after the first changed day is judged again from its first
    // trigger day: the window must reach back the rules' history from there.
    for scope in &mut scopes {
        let Some(&first_changed) = scope.days.first() else {
            continue;
        };
        for rule in CURRENT_RULES {
            let Some(alert) = open.get(&open_slot(scope.patient.id, rule.as_str())) else {
                continue;
            };
            // Whether it has cleared is judged on the days up to today.
            scope.to = scope.to.max(scope.today);
            if latest_day(alert) >= first_changed
                && let Some(from) = alert
                    .local_day
                    .checked_sub_days(Days::new(u64::from(scope.thresholds.history_days())))
            {
                scope.from = scope.from.min(from);
            }
        }
    }
    let (Some(window_from), Some(window_to)) = (
        scopes.iter().map(|s| s.from).min(),
        scopes.iter().map(|s| s.to).max(),
    ) else {
        return Ok(summary);
    };
    let ids: Vec<Uuid> = scopes.iter().map(|s| s.patient.id).collect();

    // Daily aggregates, not entries: the rules read daily means and maxima, and a day
    // of many entries costs one row. Valid scores are whole numbers on 0-10 (the
    // projection marks others invalid), so the sums are exact.
    let late_as_count = Expr::cust("SUM(CASE WHEN late THEN 1 ELSE 0 END)");
    let pain: Vec<(Uuid, NaiveDate, f64, f64, i64, i64)> = pain_entries::Entity::find()
        .select_only()
        .column(pain_entries::Column::PatientId)
        .column(pain_entries::Column::LocalDate)
        .column_as(
            Expr::expr(Func::sum(Expr::col(pain_entries::Column::Score))),
            "score_sum",
        )
        .column_as(
            Expr::expr(Func::max(Expr::col(pain_entries::Column::Score))),
            "score_max",
        )
        // COUNT(*), not COUNT(entry_id): the aggregate then reads only the covering
        // (patient, day, valid, deleted, score, late) index (migration 000020).
        .column_as(Expr::cust("COUNT(*)"), "entries")
        .column_as(late_as_count, "late_entries")
        .filter(pain_entries::Column::PatientId.is_in(ids.iter().copied()))
        .filter(pain_entries::Column::LocalDate.between(window_from, window_to))
        .filter(pain_entries::Column::Valid.eq(true))
        .filter(pain_entries::Column::Deleted.eq(false))
        .filter(pain_entries::Column::Score.between(0.0, 10.0))
        .group_by(pain_entries::Column::PatientId)
        .group_by(pain_entries::Column::LocalDate)
        .into_tuple()
        .all(conn)
        .await?;
    let mut pain_by_patient: HashMap<Uuid, Vec<DailyPain>> = HashMap::new();
    for (patient, date, sum, max, count, late) in pain {
        let (Ok(count), Ok(late_entries)) = (u32::try_from(count), u32::try_from(late)) else {
            continue;
        };
        if count == 0 || !sum.is_finite() || !max.is_finite() {
            continue;
        }
        pain_by_patient.entry(patient).or_default().push(DailyPain {
            date,
            mean: sum / f64::from(count),
            max: max.round().clamp(0.0, 10.0) as u8,
            count,
            late_entries,
        });
    }

    // The opioid and PRN rules decide per day: only the intakes of the days whose
    // intakes changed matter (no query at all when only pain changed).
    let intake_patients: Vec<Uuid> = scopes
        .iter()
        .filter(|s| !s.medication_days.is_empty())
        .map(|s| s.patient.id)
        .collect();
    let intake_window = (
        scopes
            .iter()
            .filter_map(|s| s.medication_days.first())
            .min()
            .copied(),
        scopes
            .iter()
            .filter_map(|s| s.medication_days.last())
            .max()
            .copied(),
    );
    type IntakeRow = (
        Uuid,
        NaiveDate,
        String,
        f64,
        String,
        Option<String>,
        String,
        bool,
        bool,
    );
    let intakes: Vec<IntakeRow> = match intake_window {
        (Some(days_from), Some(days_to)) => {
            medication_intakes::Entity::find()
                .select_only()
                .column(medication_intakes::Column::PatientId)
                .column(medication_intakes::Column::LocalDate)
                .column(medication_intakes::Column::Drug)
                .column(medication_intakes::Column::Amount)
                .column(medication_intakes::Column::Unit)
                .column(medication_intakes::Column::Route)
                .column(medication_intakes::Column::Status)
                .column(medication_intakes::Column::Prn)
                .column(medication_intakes::Column::Late)
                .filter(medication_intakes::Column::PatientId.is_in(intake_patients))
                .filter(medication_intakes::Column::LocalDate.between(days_from, days_to))
                .filter(medication_intakes::Column::Valid.eq(true))
                .filter(medication_intakes::Column::Deleted.eq(false))
                .into_tuple()
                .all(conn)
                .await?
        }
        _ => Vec::new(),
    };
    let mut intakes_by_patient: HashMap<Uuid, Vec<Intake>> = HashMap::new();
    for (patient, date, drug, amount, unit, route, status, prn, late) in intakes {
        intakes_by_patient.entry(patient).or_default().push(Intake {
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
        });
    }

    let mut decided: Vec<(usize, Decision)> = Vec::new();
    let mut currency_checks: Vec<(usize, Vec<Decision>, Vec<DailyPain>)> = Vec::new();
    for (index, scope) in scopes.iter().enumerate() {
        let series = PatientSeries {
            pain: pain_by_patient
                .remove(&scope.patient.id)
                .unwrap_or_default()
                .into_iter()
                .filter(|d| d.date >= scope.from && d.date <= scope.to)
                .collect(),
            intakes: intakes_by_patient
                .remove(&scope.patient.id)
                .unwrap_or_default()
                .into_iter()
                .filter(|i| scope.medication_days.contains(&i.date))
                .collect(),
            prn_limits: scope.prn_limits.clone(),
            ..PatientSeries::default()
        };
        let all = evaluate_all(&series, &scope.thresholds, scope.today);
        let has_pain_alert = CURRENT_RULES
            .iter()
            .any(|rule| open.contains_key(&open_slot(scope.patient.id, rule.as_str())));
        decided.extend(
            all.iter()
                .filter(|d| d.rule != RuleKind::MissedLogging && scope.days.contains(&d.day))
                .cloned()
                .map(|d| (index, d)),
        );
        if has_pain_alert {
            let pain_decisions = all
                .into_iter()
                .filter(|d| CURRENT_RULES.contains(&d.rule))
                .collect();
            currency_checks.push((index, pain_decisions, series.pain));
        }
    }
    summary.decisions = decided.len();
    for (index, decision) in &decided {
        let scope = &scopes[*index];
        let Some(clinic) = settings.get(&scope.settings_clinic) else {
            continue;
        };
        apply(
            conn,
            &scope.patient,
            clinic,
            decision,
            &mut open,
            scope.now,
            &mut summary,
        )
        .await?;
    }
    for (index, decisions, pain) in currency_checks {
        let scope = &scopes[index];
        for rule in CURRENT_RULES {
            let slot = open_slot(scope.patient.id, rule.as_str());
            let Some(alert) = open.remove(&slot) else {
                continue;
            };
            let alert = keep_current(
                conn,
                alert,
                CurrencyInput {
                    rule,
                    decisions: &decisions,
                    pain: &pain,
                    changed: &scope.days,
                    thresholds: &scope.thresholds,
                    window_from: scope.from,
                    now: scope.now,
                },
            )
            .await?;
            open.insert(slot, alert);
        }
    }
    Ok(summary)
}

/// How far back the questionnaire rules look for a previous response to compare with.
const QUESTIONNAIRE_HISTORY_DAYS: u64 = 400;

/// The questionnaire rules over the responses of the changed days: an urgent alert for a
/// positive safety item (PHQ-9 item 9), a warning for a total up by the instrument's
/// MCID since the previous scored response of the same instrument. Four queries whatever
/// the number of patients: patients with their clinic settings, the responses, the open
/// alerts, and (only when a rule decided something) the writes of [`apply`].
async fn evaluate_questionnaires(
    conn: &impl ConnectionTrait,
    config: &AlertsConfig,
    requests: BTreeMap<Uuid, (BTreeSet<NaiveDate>, DateTime<Utc>)>,
    summary: &mut EvaluationSummary,
) -> Result<(), DbErr> {
    use crate::entity::questionnaire_responses as q;
    use paindiary_notifier::rules::{
        ScoredResponse, questionnaire_safety, questionnaire_worsening,
    };
    use sea_orm::QueryOrder;

    let settings_of_clinic: RelationDef =
        patients::Entity::belongs_to(clinic_notification_settings::Entity)
            .from(patients::Column::ClinicId)
            .to(clinic_notification_settings::Column::ClinicId)
            .into();
    let rows = patients::Entity::find()
        .select_also(clinic_notification_settings::Entity)
        .join(JoinType::LeftJoin, settings_of_clinic)
        .filter(patients::Column::Id.is_in(requests.keys().copied()))
        .filter(patients::Column::ErasedAt.is_null())
        .all(conn)
        .await?;
    let (Some(first), Some(last)) = (
        requests.values().filter_map(|(d, _)| d.first()).min(),
        requests.values().filter_map(|(d, _)| d.last()).max(),
    ) else {
        return Ok(());
    };
    let from = first
        .checked_sub_days(Days::new(QUESTIONNAIRE_HISTORY_DAYS))
        .unwrap_or(*first);
    let responses = q::Entity::find()
        .filter(q::Column::PatientId.is_in(requests.keys().copied()))
        .filter(q::Column::LocalDate.between(from, *last))
        .filter(q::Column::Valid.eq(true))
        .filter(q::Column::Deleted.eq(false))
        .order_by_asc(q::Column::LocalDate)
        .order_by_asc(q::Column::RecordedAt)
        .all(conn)
        .await?;
    let mut by_patient: HashMap<Uuid, Vec<q::Model>> = HashMap::new();
    for r in responses {
        by_patient.entry(r.patient_id).or_default().push(r);
    }
    let slots = requests.keys().flat_map(|p| {
        [
            open_slot(*p, RuleKind::QuestionnaireSafety.as_str()),
            open_slot(*p, RuleKind::QuestionnaireWorsening.as_str()),
        ]
    });
    let mut open = open_alerts(conn, slots.collect::<Vec<_>>()).await?;
    for (patient, row) in rows {
        let Some((days, now)) = requests.get(&patient.id) else {
            continue;
        };
        let clinic = settings_from_row(config, patient.clinic_id, row);
        let responses = by_patient.remove(&patient.id).unwrap_or_default();
        let mut decisions = Vec::new();
        for (i, r) in responses.iter().enumerate() {
            if !days.contains(&r.local_date) {
                continue;
            }
            let Some(def) = paindiary_sync::questionnaire::built_in(&r.instrument, &r.version)
            else {
                continue;
            };
            let scored = |r: &q::Model| ScoredResponse {
                date: r.local_date,
                instrument: def.name.to_owned(),
                total: r.total,
                safety_positive: r.safety_positive,
                late: r.late,
            };
            let current = scored(r);
            decisions.extend(questionnaire_safety(&current));
            if let Some(mcid) = def.worsening_points
                && r.total.is_some()
                && let Some(previous) = responses[..i]
                    .iter()
                    .rev()
                    .find(|p| p.instrument == r.instrument && p.total.is_some())
            {
                decisions.extend(questionnaire_worsening(&scored(previous), &current, mcid));
            }
        }
        summary.decisions += decisions.len();
        for decision in &decisions {
            apply(conn, &patient, &clinic, decision, &mut open, *now, summary).await?;
        }
    }
    Ok(())
}

/// Rules that hold an open-alert slot per patient (missed logging is the timers').
const RULES_WITH_SLOTS: [RuleKind; 4] = [
    RuleKind::Worsening,
    RuleKind::Severe,
    RuleKind::OpioidLoad,
    RuleKind::PrnOveruse,
];

/// Pain rules whose open alerts are kept current: marked cleared when the condition
/// stops, withdrawn when the entries behind them are deleted or edited away. (The
/// medication rules decide per day from that day's intakes only; their alerts are not
/// judged again.)
const CURRENT_RULES: [RuleKind; 2] = [RuleKind::Worsening, RuleKind::Severe];

/// The latest trigger day of an alert (rows from before migration 000022 have none).
fn latest_day(alert: &alerts::Model) -> NaiveDate {
    alert.latest_day.unwrap_or(alert.local_day)
}

/// What [`keep_current`] judges one open pain alert with.
struct CurrencyInput<'a> {
    rule: RuleKind,
    /// The pain rules' decisions over the patient's window, every day.
    decisions: &'a [Decision],
    /// The patient's daily pain over the window.
    pain: &'a [DailyPain],
    /// The local days whose entries just changed.
    changed: &'a BTreeSet<NaiveDate>,
    thresholds: &'a Thresholds,
    /// First day of the window the decisions cover.
    window_from: NaiveDate,
    now: DateTime<Utc>,
}

/// Keeps an open pain alert current with the data as it now stands:
/// - its trigger days are judged again when entries on or before its latest trigger day
///   changed: none left means the evidence was withdrawn (it stops repeating and
///   escalating; a clinician still resolves it); fewer left moves its latest day, numbers
///   and explanation back to the last trigger that stands;
/// - once the rule has not triggered on `cleared_after_days` days with data after its
///   latest trigger, it is cleared since the day after that trigger.
///
/// Writes only when something changed, with a history row for each change of state.
async fn keep_current(
    conn: &impl ConnectionTrait,
    alert: alerts::Model,
    input: CurrencyInput<'_>,
) -> Result<alerts::Model, DbErr> {
    let latest = latest_day(&alert);
    let triggers: Vec<&Decision> = input
        .decisions
        .iter()
        .filter(|d| d.rule == input.rule && d.day >= alert.local_day)
        .collect();
    let judged_again = alert.local_day >= input.window_from
        && input.changed.first().is_some_and(|first| *first <= latest);
    let mut row: alerts::ActiveModel = alert.clone().into();
    let mut changed = false;
    let mut event_detail: Option<(&str, String)> = None;
    let standing = triggers.iter().map(|d| d.day).max();
    // The latest trigger that still stands, when entries behind a later one went away.
    let moved_back = standing.filter(|day| judged_again && *day < latest);
    if standing.is_none() && judged_again && alert.evidence_withdrawn_at.is_none() {
        row.evidence_withdrawn_at = Set(Some(input.now));
        row.next_repeat_at = Set(None);
        row.escalate_at = Set(None);
        row.cleared_since = Set(None);
        changed = true;
        event_detail = Some((
            event::EVIDENCE_WITHDRAWN,
            "the entries behind this alert were deleted or changed".to_owned(),
        ));
    }
    if let Some(day) = moved_back
        && let Some(decision) = triggers.iter().find(|d| d.day == day)
    {
        row.latest_day = Set(Some(day));
        row.explanation = Set(decision.explanation.clone());
        row.evidence = Set(evidence_json(decision));
        set_figures(&mut row, decision);
        changed = true;
    }
    let latest = moved_back.unwrap_or(latest);
    let withdrawn = alert.evidence_withdrawn_at.is_some() || event_detail.is_some();
    if !withdrawn {
        let quiet_days = input
            .pain
            .iter()
            .filter(|d| d.date > latest && d.has_data())
            .count();
        let cleared = quiet_days >= input.thresholds.cleared_after_days as usize;
        let since = cleared
            .then(|| latest.checked_add_days(Days::new(1)))
            .flatten();
        if since != alert.cleared_since {
            row.cleared_since = Set(since);
            changed = true;
            if let Some(day) = since {
                event_detail = Some((
                    event::CLEARED,
                    format!("condition cleared since {}", day.format("%Y-%m-%d")),
                ));
            }
        }
    }
    if !changed {
        return Ok(alert);
    }
    let updated = alerts::Entity::update(row).exec(conn).await?;
    if let Some((kind, detail)) = event_detail {
        super::record_event(conn, alert.id, input.now, kind, None, Some(detail)).await?;
    }
    Ok(updated)
}

fn evidence_json(decision: &Decision) -> String {
    serde_json::to_string(&decision.evidence).unwrap_or_else(|_| "{}".to_owned())
}

/// Writes a decision's figures into an alert row.
fn set_figures(row: &mut alerts::ActiveModel, decision: &Decision) {
    let f = &decision.figures;
    row.current_value = Set(f.current);
    row.usual_value = Set(f.usual);
    row.usual_spread = Set(f.spread);
    row.magnitude = Set(f.magnitude);
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

/// The unresolved alerts in `slots`, by slot.
pub(crate) async fn open_alerts(
    conn: &impl ConnectionTrait,
    slots: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, alerts::Model>, DbErr> {
    Ok(alerts::Entity::find()
        .filter(alerts::Column::OpenSlot.is_in(slots))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|alert| Some((alert.open_slot.clone()?, alert)))
        .collect())
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
    open: &mut HashMap<String, alerts::Model>,
    now: DateTime<Utc>,
    summary: &mut EvaluationSummary,
) -> Result<(), DbErr> {
    let slot = open_slot(patient.id, decision.rule.as_str());
    let evidence = evidence_json(decision);
    if let Some(alert) = open.remove(&slot) {
        let alert = attach(
            conn, alert, patient, settings, decision, evidence, now, summary,
        )
        .await?;
        open.insert(slot, alert);
        return Ok(());
    }
    let individually = notified_individually(decision.severity);
    let urgent = decision.severity == Severity::Urgent;
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
        latest_day: Set(Some(decision.day)),
        current_value: Set(decision.figures.current),
        usual_value: Set(decision.figures.usual),
        usual_spread: Set(decision.figures.spread),
        magnitude: Set(decision.figures.magnitude),
        cleared_since: Set(None),
        evidence_withdrawn_at: Set(None),
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
        let alert = attach(
            conn, alert, patient, settings, decision, evidence, now, summary,
        )
        .await?;
        open.insert(slot, alert);
        return Ok(());
    }
    open.insert(slot, alert.clone());
    summary.opened += 1;
    crate::metrics::alert_opened(decision.rule.as_str());
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

/// Attaches a trigger to an open alert: no new delivery, unless the trigger raises the
/// alert's severity into the individually notified levels (an info opioid load that
/// reaches the warning threshold), which sends the notification a new warning would
/// have sent, once. A decision for the day the alert already reports (the same day
/// re-evaluated after another entry) refreshes the numbers without counting as a new
/// trigger, and writes nothing when the numbers did not change.
#[allow(clippy::too_many_arguments)]
async fn attach(
    conn: &impl ConnectionTrait,
    open: alerts::Model,
    patient: &patients::Model,
    settings: &ClinicSettings,
    decision: &Decision,
    evidence: String,
    now: DateTime<Utc>,
    summary: &mut EvaluationSummary,
) -> Result<alerts::Model, DbErr> {
    let latest = latest_day(&open);
    // A trigger for a day after the latest is a new trigger; one for the latest day (or an
    // earlier one, re-evaluated after another entry) refreshes the numbers only when it
    // is the latest.
    let new_day = decision.day > latest;
    let refreshes = decision.day >= latest;
    // New evidence for an alert shown as withdrawn or cleared makes it active again.
    let revived = (open.evidence_withdrawn_at.is_some() && decision.day >= open.local_day)
        || (open.cleared_since.is_some() && new_day);
    let before = open.severity.parse::<Severity>().ok();
    let severity = before.map_or(decision.severity, |s| s.max(decision.severity));
    let raised = before.is_some_and(|b| severity > b);
    if !refreshes && !revived && !raised {
        return Ok(open);
    }
    if !new_day
        && !decision.late
        && !raised
        && !revived
        && before == Some(severity)
        && open.explanation == decision.explanation
        && open.evidence == evidence
    {
        return Ok(open);
    }
    let newly_individual =
        raised && notified_individually(severity) && !before.is_some_and(notified_individually);
    let mut row: alerts::ActiveModel = open.clone().into();
    row.severity = Set(severity.as_str().to_owned());
    if refreshes {
        row.explanation = Set(decision.explanation.clone());
        row.evidence = Set(evidence);
        row.latest_day = Set(Some(decision.day));
        set_figures(&mut row, decision);
    }
    // The first trigger day (`local_day`) never moves; "reported late" stays once any
    // trigger of the alert rested on late data.
    if decision.late {
        row.reported_late = Set(true);
    }
    if revived {
        // Evidence again: the alert is active, and a withdrawn one repeats and escalates
        // again as a new alert would.
        row.cleared_since = Set(None);
        if open.evidence_withdrawn_at.is_some() {
            row.evidence_withdrawn_at = Set(None);
            if open.status == status::OPEN && notified_individually(severity) {
                row.next_repeat_at = Set(Some(now + settings.repeat_interval));
                if severity == Severity::Urgent {
                    row.escalate_at = Set(Some(now + settings.escalation));
                }
            }
        }
    }
    if new_day {
        row.trigger_count = Set(open.trigger_count + 1);
        row.last_triggered_at = Set(now);
    }
    if newly_individual {
        row.last_notified_at = Set(Some(now));
        row.next_repeat_at = Set(Some(now + settings.repeat_interval));
    }
    if raised && severity == Severity::Urgent && open.escalate_at.is_none() {
        row.escalate_at = Set(Some(now + settings.escalation));
    }
    let updated = alerts::Entity::update(row).exec(conn).await?;
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
    if newly_individual {
        // The first individual notification of this alert (info alerts are only in
        // digests), so its key cannot collide with an earlier one.
        let n = super::notify(
            conn,
            &updated,
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
            open.id,
            now,
            event::NOTIFIED,
            None,
            Some(format!(
                "severity raised to {}; {n} deliveries enqueued",
                severity.as_str()
            )),
        )
        .await?;
    }
    Ok(updated)
}
