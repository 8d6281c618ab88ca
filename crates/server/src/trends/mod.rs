//! Trends: a patient's diary summarised per local day and week, for the REST API, the
//! dashboard charts and the patient list.
//!
//! Aggregation (per-day mean/max/count, sums, averages) runs in SQL on the projection
//! tables with the same statements on SQLite and PostgreSQL (built with sea-query);
//! only windowing over the already aggregated days (7-day rolling mean, weeks, the 14-day
//! intervention windows, adherence) is done here, on at most a few hundred rows.
//! Every query reads `valid AND NOT deleted` rows only, and groups by `local_date`, the
//! patient's local day stored with each entry, so time zones and DST are already applied.

pub mod diary;
pub mod list;
pub mod plan_history;
pub mod range;

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Duration, NaiveDate};
use paindiary_notifier::rules::{
    DoseUnit, Intake, IntakeStatus, Route, mme_report, normalize_drug_name,
};
use paindiary_sync::ids::PatientId as DocPatientId;
use paindiary_sync::schema::DocKind;
use paindiary_sync::schema::care_plan::{CarePlan, read_care_plan};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use crate::entity::{
    care_plan_medications, exercise_sessions, medication_intakes, pain_entries, peg_checkins,
    questionnaire_responses, wellbeing_entries,
};
use crate::storage;

/// The longest range one trends request may cover (two years and a day).
pub const MAX_RANGE_DAYS: i64 = 732;
/// Days on each side of an intervention whose pain is compared.
pub const INTERVENTION_WINDOW_DAYS: i64 = 14;

/// The years a stored or requested day may fall in: the API's bounds, one definition.
pub use crate::domain::{EARLIEST_YEAR, LATEST_YEAR};

/// Whether `day` is one a diary or care plan can mean (years 1900..=2200): wide enough
/// for any real record, narrow enough that windows of days or weeks around it never
/// overflow the calendar. Days outside are refused at write time and shown as invalid
/// when read.
pub fn plausible_day(day: NaiveDate) -> bool {
    crate::domain::RequestDate::new(day).is_some()
}

/// Why trends could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum TrendsError {
    /// A query failed.
    #[error("trends query: {0}")]
    Db(#[from] DbErr),
    /// The care plan could not be loaded.
    #[error("care plan: {0}")]
    Storage(#[from] storage::StorageError),
}

/// Pain of one local day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DailyPain {
    /// The local day.
    pub date: NaiveDate,
    /// Mean NRS score of the day's entries.
    pub mean: f64,
    /// Highest NRS score of the day.
    pub max: f64,
    /// Number of entries.
    pub count: i64,
}

/// Everything per local day (one row per day of the range, data or not).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayTrend {
    /// The local day.
    pub date: NaiveDate,
    /// Mean NRS score, if any entry.
    pub pain_mean: Option<f64>,
    /// Highest NRS score.
    pub pain_max: Option<f64>,
    /// Number of pain entries.
    pub pain_count: i64,
    /// Mean of the daily means of this day and the 6 before it (days with data only).
    pub pain_rolling_mean_7d: Option<f64>,
    /// Morphine milligram equivalents taken (CDC 2022 factors).
    pub mme: f64,
    /// The day's MME per opioid (its generic name, as in [`DrugDay::drug`]).
    pub mme_by_drug: BTreeMap<String, f64>,
    /// Exercise minutes.
    pub exercise_minutes: f64,
    /// Mean sleep hours of the day's wellbeing entries.
    pub sleep_hours: Option<f64>,
    /// Mean sleep quality (0-10).
    pub sleep_quality: Option<f64>,
    /// Mean mood (0-10).
    pub mood: Option<f64>,
    /// Mean stress (0-10).
    pub stress: Option<f64>,
}

/// Intakes of one drug on one day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrugDay {
    /// The local day.
    pub date: NaiveDate,
    /// The drug, normalised (lower case; opioids by their generic name).
    pub drug: String,
    /// Doses taken (scheduled and as needed).
    pub taken: i64,
    /// Of those, the doses logged as taken as needed (PRN).
    pub prn_taken: i64,
    /// Doses logged as skipped.
    pub skipped: i64,
    /// Sum of the amounts taken (in the logged units; mixed units are summed as numbers).
    pub amount_taken: f64,
}

/// Adherence to one scheduled prescription over the range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Adherence {
    /// Drug as prescribed.
    pub drug: String,
    /// Scheduled intakes per day.
    pub times_per_day: f64,
    /// Scheduled intakes expected in the part of the range the prescription covers.
    pub expected: f64,
    /// Scheduled intakes taken, at most `times_per_day` counted per day.
    pub taken: f64,
    /// `taken / expected`, 0..1; none when nothing was expected.
    pub ratio: Option<f64>,
}

/// One week (Monday to Sunday, local days).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekExercise {
    /// Monday of the week.
    pub week_start: NaiveDate,
    /// Minutes exercised.
    pub minutes: f64,
    /// Minutes per week the care plan prescribes (sum over prescribed exercises).
    pub prescribed_minutes: Option<f64>,
}

/// Weekly PEG (pain, enjoyment, general activity) check-ins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekPeg {
    /// Monday of the week.
    pub week_start: NaiveDate,
    /// Mean PEG score (mean of the three items) of the week's check-ins.
    pub score: f64,
    /// Mean pain item.
    pub pain: f64,
    /// Mean enjoyment item.
    pub enjoyment: f64,
    /// Mean activity item.
    pub activity: f64,
    /// Check-ins that week.
    pub count: i64,
}

/// Pain before and after an intervention in the care plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InterventionEffect {
    /// Care-plan item key.
    pub id: String,
    /// Kind code.
    pub kind: String,
    /// The day performed.
    pub date: NaiveDate,
    /// Mean of the daily means of the 14 days before (the day itself excluded).
    pub before_mean: Option<f64>,
    /// Mean of the daily means of the 14 days after.
    pub after_mean: Option<f64>,
    /// `(after - before) / before * 100`.
    pub change_percent: Option<f64>,
    /// False when the stored date lies outside the plausible years (nothing is computed
    /// for it; the editor shows it as invalid).
    pub date_valid: bool,
}

/// The trends of one patient over a range of local days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trends {
    /// First local day.
    pub from: NaiveDate,
    /// Last local day.
    pub to: NaiveDate,
    /// One row per day.
    pub days: Vec<DayTrend>,
    /// PEG per week with check-ins.
    pub peg_weekly: Vec<WeekPeg>,
    /// Medication intakes per drug per day.
    pub medications: Vec<DrugDay>,
    /// Adherence per scheduled prescription.
    pub adherence: Vec<Adherence>,
    /// Exercise per week of the range.
    pub exercise_weekly: Vec<WeekExercise>,
    /// Interventions in the care plan with their 14-day before/after means.
    pub interventions: Vec<InterventionEffect>,
    /// Scored questionnaire responses in the range, oldest first.
    pub questionnaires: Vec<QuestionnaireScore>,
}

/// One scored questionnaire response, for charts and tables.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionnaireScore {
    /// The patient's local day of the response.
    pub date: NaiveDate,
    /// Instrument ID (`phq9`, ...).
    pub instrument: String,
    /// Its display name (`PHQ-9`).
    pub name: String,
    /// The total (sum, prorated sum or mean).
    pub total: f64,
    /// The largest total the instrument can have (for chart scales).
    pub max_total: f64,
    /// Its severity band, if the instrument has bands.
    pub band: Option<String>,
    /// The total was prorated from missing items.
    pub prorated: bool,
    /// The safety item (PHQ-9 item 9) was answered above 0.
    pub safety_positive: bool,
}

/// The valid, scored questionnaire responses of `patient` on `from..=to`, oldest first.
pub async fn questionnaire_scores(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<QuestionnaireScore>, DbErr> {
    use questionnaire_responses::Column as C;
    let rows = questionnaire_responses::Entity::find()
        .filter(C::PatientId.eq(patient))
        .filter(C::Valid.eq(true))
        .filter(C::Deleted.eq(false))
        .filter(C::Total.is_not_null())
        .filter(C::LocalDate.between(from, to))
        .order_by_asc(C::LocalDate)
        .order_by_asc(C::RecordedAt)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let def = paindiary_sync::questionnaire::built_in(&r.instrument, &r.version)?;
            let max_total = match def.scoring {
                paindiary_sync::questionnaire::Scoring::Mean => def.max_answer as f64,
                _ => (def.max_answer as f64) * def.items.len() as f64,
            };
            Some(QuestionnaireScore {
                date: r.local_date,
                instrument: r.instrument,
                name: def.name.to_owned(),
                total: r.total?,
                max_total,
                band: r.band,
                prorated: r.prorated,
                safety_positive: r.safety_positive,
            })
        })
        .collect())
}

/// Monday of `date`'s week.
pub fn week_start(date: NaiveDate) -> NaiveDate {
    date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
}

/// The patient's care plan, or an empty one if none was written yet.
pub async fn care_plan(
    conn: &impl ConnectionTrait,
    patient: Uuid,
) -> Result<CarePlan, storage::StorageError> {
    let id = DocKind::CarePlan {
        patient: DocPatientId::from_uuid(patient),
    }
    .document_id();
    Ok(storage::load(conn, &id)
        .await?
        .map(|loaded| read_care_plan(&loaded.doc))
        .unwrap_or_default())
}

/// The patient's care plan and its history of changes (oldest first), or an empty plan
/// and history if none was written yet.
pub async fn care_plan_with_history(
    conn: &impl ConnectionTrait,
    patient: Uuid,
) -> Result<(CarePlan, Vec<plan_history::PlanChange>), storage::StorageError> {
    let id = DocKind::CarePlan {
        patient: DocPatientId::from_uuid(patient),
    }
    .document_id();
    Ok(match storage::load(conn, &id).await? {
        Some(mut loaded) => {
            let plan = read_care_plan(loaded.doc.document());
            (plan, plan_history::history(&mut loaded.doc))
        }
        None => (CarePlan::default(), Vec::new()),
    })
}

/// Pain per local day in `from..=to`, from SQL.
pub async fn daily_pain(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DailyPain>, DbErr> {
    use pain_entries::Column as C;
    let rows: Vec<(NaiveDate, f64, f64, i64)> = pain_entries::Entity::find()
        .select_only()
        .column(C::LocalDate)
        .column_as(Expr::from(Func::avg(Expr::col(C::Score))), "mean")
        .column_as(Expr::from(Func::max(Expr::col(C::Score))), "max")
        .column_as(Expr::from(Func::count(Expr::col(C::EntryId))), "count")
        .filter(C::PatientId.eq(patient))
        .filter(C::Valid.eq(true))
        .filter(C::Deleted.eq(false))
        .filter(C::LocalDate.between(from, to))
        .group_by(C::LocalDate)
        .order_by_asc(C::LocalDate)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(date, mean, max, count)| DailyPain {
            date,
            mean,
            max,
            count,
        })
        .collect())
}

/// Mean of the daily means of the days in `from..=to`, if any has data.
pub fn mean_of_days(days: &[DailyPain], from: NaiveDate, to: NaiveDate) -> Option<f64> {
    let (sum, n) = days
        .iter()
        .filter(|d| d.date >= from && d.date <= to)
        .fold((0.0, 0u32), |(s, n), d| (s + d.mean, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

/// Computes the trends of `patient` for the local days `from..=to` (the caller bounds
/// the range and checks access).
pub async fn compute(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Trends, TrendsError> {
    let plan = care_plan(conn, patient).await?;
    compute_with_plan(conn, patient, from, to, &plan).await
}

/// [`compute`] with an already loaded care plan.
pub async fn compute_with_plan(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    plan: &CarePlan,
) -> Result<Trends, TrendsError> {
    let pain = daily_pain(conn, patient, from - Duration::days(6), to).await?;
    let pain_by_day: BTreeMap<NaiveDate, DailyPain> = pain.iter().map(|d| (d.date, *d)).collect();

    let intakes = intakes(conn, patient, from, to).await?;
    let mme = mme_report(&intakes);
    let medications = drug_days(conn, patient, from, to).await?;
    let exercise = exercise_days(conn, patient, from, to).await?;
    let wellbeing = wellbeing_days(conn, patient, from, to).await?;

    let mut days = Vec::new();
    let mut day = from;
    while day <= to {
        let today = pain_by_day.get(&day);
        let w = wellbeing.get(&day);
        days.push(DayTrend {
            date: day,
            pain_mean: today.map(|d| d.mean),
            pain_max: today.map(|d| d.max),
            pain_count: today.map_or(0, |d| d.count),
            pain_rolling_mean_7d: mean_of_days(&pain, day - Duration::days(6), day),
            mme: mme.get(&day).map_or(0.0, |m| m.total),
            mme_by_drug: mme
                .get(&day)
                .map(|m| {
                    m.by_drug
                        .iter()
                        .map(|(o, v)| (o.as_str().to_owned(), *v))
                        .collect()
                })
                .unwrap_or_default(),
            exercise_minutes: exercise.get(&day).copied().unwrap_or(0.0),
            sleep_hours: w.and_then(|w| w.0),
            sleep_quality: w.and_then(|w| w.1),
            mood: w.and_then(|w| w.2),
            stress: w.and_then(|w| w.3),
        });
        day += Duration::days(1);
    }

    let prescribed: f64 = plan
        .exercises
        .iter()
        .filter_map(|e| Some(e.minutes_per_session? * e.sessions_per_week?))
        .sum();
    let mut exercise_weekly: Vec<WeekExercise> = Vec::new();
    for d in &days {
        let ws = week_start(d.date);
        match exercise_weekly.last_mut() {
            Some(w) if w.week_start == ws => w.minutes += d.exercise_minutes,
            _ => exercise_weekly.push(WeekExercise {
                week_start: ws,
                minutes: d.exercise_minutes,
                prescribed_minutes: (prescribed > 0.0).then_some(prescribed),
            }),
        }
    }

    let adherence = adherence(&medications, &schedules(plan), from, to);
    let peg_weekly = peg_weeks(conn, patient, from, to).await?;

    let mut interventions = Vec::new();
    for i in &plan.interventions {
        if !plausible_day(i.date) {
            interventions.push(InterventionEffect {
                id: i.id.clone(),
                kind: i.kind.clone(),
                date: i.date,
                before_mean: None,
                after_mean: None,
                change_percent: None,
                date_valid: false,
            });
            continue;
        }
        let w = Duration::days(INTERVENTION_WINDOW_DAYS);
        let around = daily_pain(conn, patient, i.date - w, i.date + w).await?;
        let before = mean_of_days(&around, i.date - w, i.date - Duration::days(1));
        let after = mean_of_days(&around, i.date + Duration::days(1), i.date + w);
        let change_percent = match (before, after) {
            (Some(b), Some(a)) if b > 0.0 => Some((a - b) / b * 100.0),
            _ => None,
        };
        interventions.push(InterventionEffect {
            id: i.id.clone(),
            kind: i.kind.clone(),
            date: i.date,
            before_mean: before,
            after_mean: after,
            change_percent,
            date_valid: true,
        });
    }
    interventions.sort_by_key(|i| i.date);
    let questionnaires = questionnaire_scores(conn, patient, from, to).await?;

    Ok(Trends {
        from,
        to,
        days,
        peg_weekly,
        medications,
        adherence,
        exercise_weekly,
        interventions,
        questionnaires,
    })
}

/// (local day, drug, amount, unit, route, prn, late) of one taken intake.
type IntakeRow = (NaiveDate, String, f64, String, Option<String>, bool, bool);

/// Taken intakes in the range (and the days before it a patch still counts), for MME.
async fn intakes(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Intake>, DbErr> {
    use medication_intakes::Column as C;
    let patch_days = i64::try_from(paindiary_notifier::rules::PATCH_DAYS).unwrap_or(3);
    let rows: Vec<IntakeRow> = medication_intakes::Entity::find()
        .select_only()
        .columns([
            C::LocalDate,
            C::Drug,
            C::Amount,
            C::Unit,
            C::Route,
            C::Prn,
            C::Late,
        ])
        .filter(C::PatientId.eq(patient))
        .filter(C::Valid.eq(true))
        .filter(C::Deleted.eq(false))
        .filter(C::Status.eq("taken"))
        .filter(C::LocalDate.between(from - Duration::days(patch_days), to))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(date, drug, amount, unit, route, prn, late)| Intake {
            date,
            drug,
            amount,
            // Unknown codes cannot be converted: counted as "unit" (reported unconvertible).
            unit: unit.parse().unwrap_or(DoseUnit::Unit),
            route: route
                .as_deref()
                .unwrap_or("")
                .parse()
                .unwrap_or(Route::Other),
            status: IntakeStatus::Taken,
            prn,
            late,
        })
        .collect())
}

async fn drug_days(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DrugDay>, DbErr> {
    use medication_intakes::Column as C;
    let taken = Expr::cust("CASE WHEN status = 'taken' THEN 1 ELSE 0 END");
    let prn_taken = Expr::cust("CASE WHEN status = 'taken' AND prn THEN 1 ELSE 0 END");
    let skipped = Expr::cust("CASE WHEN status = 'taken' THEN 0 ELSE 1 END");
    let amount = Expr::cust("CASE WHEN status = 'taken' THEN amount ELSE 0.0 END");
    let rows: Vec<(NaiveDate, String, i64, i64, i64, f64)> = medication_intakes::Entity::find()
        .select_only()
        .column(C::LocalDate)
        .column(C::DrugNormalized)
        .column_as(Expr::from(Func::sum(taken)), "taken")
        .column_as(Expr::from(Func::sum(prn_taken)), "prn_taken")
        .column_as(Expr::from(Func::sum(skipped)), "skipped")
        .column_as(Expr::from(Func::sum(amount)), "amount")
        .filter(C::PatientId.eq(patient))
        .filter(C::Valid.eq(true))
        .filter(C::Deleted.eq(false))
        .filter(C::LocalDate.between(from, to))
        .group_by(C::LocalDate)
        .group_by(C::DrugNormalized)
        .order_by_asc(C::LocalDate)
        .order_by_asc(C::DrugNormalized)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(date, drug, taken, prn_taken, skipped, amount_taken)| DrugDay {
                date,
                drug,
                taken,
                prn_taken,
                skipped,
                amount_taken,
            },
        )
        .collect())
}

/// A scheduled prescription, as adherence needs it: from a decoded care plan
/// ([`schedules`]) or from the care-plan projection ([`schedules_many`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Drug name as prescribed.
    pub drug: String,
    /// The name intakes are matched by ([`normalize_drug_name`]).
    pub drug_normalized: String,
    /// Scheduled intakes per day (> 0).
    pub times_per_day: f64,
    /// First day.
    pub start_date: Option<NaiveDate>,
    /// Last day.
    pub end_date: Option<NaiveDate>,
}

/// The scheduled prescriptions of `plan` (those with a positive `times_per_day`).
pub fn schedules(plan: &CarePlan) -> Vec<Schedule> {
    plan.medications
        .iter()
        .filter_map(|m| {
            Some(Schedule {
                drug: m.drug.clone(),
                drug_normalized: normalize_drug_name(&m.drug),
                times_per_day: m.times_per_day.filter(|t| *t > 0.0)?,
                start_date: m.start_date,
                end_date: m.end_date,
            })
        })
        .collect()
}

/// Patients per query in [`schedules_many`] (well under the bound-parameter limits).
const SCHEDULE_BATCH: usize = 500;

/// The scheduled prescriptions of many patients, read from the care-plan projection
/// (a patient without any is left out); one query per 500 patients.
pub async fn schedules_many(
    conn: &impl ConnectionTrait,
    patients: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Schedule>>, DbErr> {
    use care_plan_medications::Column as C;
    type Row = (
        Uuid,
        String,
        String,
        f64,
        Option<NaiveDate>,
        Option<NaiveDate>,
    );
    let mut out: HashMap<Uuid, Vec<Schedule>> = HashMap::new();
    for batch in patients.chunks(SCHEDULE_BATCH) {
        let rows: Vec<Row> = care_plan_medications::Entity::find()
            .select_only()
            .columns([
                C::PatientId,
                C::Drug,
                C::DrugNormalized,
                C::TimesPerDay,
                C::StartDate,
                C::EndDate,
            ])
            .filter(C::PatientId.is_in(batch.iter().copied()))
            .filter(C::TimesPerDay.gt(0.0))
            .order_by_asc(C::PatientId)
            .order_by_asc(C::ItemId)
            .into_tuple()
            .all(conn)
            .await?;
        for (patient, drug, drug_normalized, times_per_day, start_date, end_date) in rows {
            out.entry(patient).or_default().push(Schedule {
                drug,
                drug_normalized,
                times_per_day,
                start_date,
                end_date,
            });
        }
    }
    Ok(out)
}

/// Adherence of each scheduled prescription over the days of `from..=to` it covers.
/// PRN intakes do not count here (`drug_days` counts every taken dose; the scheduled
/// share is capped at `times_per_day` a day, so extra doses do not raise adherence).
/// Intakes match a prescription by [`normalize_drug_name`], so "OxyContin" taken
/// counts for "oxycodone" prescribed, and "Percocet 5/325" for "Percocet 5/325".
pub fn adherence(
    days: &[DrugDay],
    schedules: &[Schedule],
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<Adherence> {
    let days: Vec<(String, &DrugDay)> = days
        .iter()
        .map(|d| (normalize_drug_name(&d.drug), d))
        .collect();
    let mut out = Vec::new();
    for s in schedules {
        let tpd = s.times_per_day;
        let start = s.start_date.map_or(from, |d| d.max(from));
        let end = s.end_date.map_or(to, |d| d.min(to));
        if end < start {
            continue;
        }
        let covered = (end - start).num_days() + 1;
        let taken: f64 = days
            .iter()
            .filter(|(name, d)| *name == s.drug_normalized && d.date >= start && d.date <= end)
            .map(|(_, d)| (d.taken as f64).min(tpd))
            .sum::<f64>()
            // An empty float sum is -0.0, which would print as "-0%".
            + 0.0;
        let expected = tpd * covered as f64;
        out.push(Adherence {
            drug: s.drug.clone(),
            times_per_day: tpd,
            expected,
            taken,
            ratio: (expected > 0.0).then(|| taken / expected),
        });
    }
    out
}

/// Mean of the ratios of `adherence`, if any.
pub fn overall_adherence(adherence: &[Adherence]) -> Option<f64> {
    let ratios: Vec<f64> = adherence.iter().filter_map(|a| a.ratio).collect();
    (!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64)
}

async fn exercise_days(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeMap<NaiveDate, f64>, DbErr> {
    use exercise_sessions::Column as C;
    let rows: Vec<(NaiveDate, f64)> = exercise_sessions::Entity::find()
        .select_only()
        .column(C::LocalDate)
        .column_as(Expr::from(Func::sum(Expr::col(C::Minutes))), "minutes")
        .filter(C::PatientId.eq(patient))
        .filter(C::Valid.eq(true))
        .filter(C::Deleted.eq(false))
        .filter(C::LocalDate.between(from, to))
        .group_by(C::LocalDate)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().collect())
}

type Wellbeing = (Option<f64>, Option<f64>, Option<f64>, Option<f64>);
/// (local day, sleep hours, sleep quality, mood, stress) means of one day.
type WellbeingRow = (
    NaiveDate,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

async fn wellbeing_days(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeMap<NaiveDate, Wellbeing>, DbErr> {
    use wellbeing_entries::Column as C;
    let rows: Vec<WellbeingRow> = wellbeing_entries::Entity::find()
        .select_only()
        .column(C::LocalDate)
        .column_as(
            Expr::from(Func::avg(Expr::col(C::SleepHours))),
            "sleep_hours",
        )
        .column_as(
            Expr::from(Func::avg(Expr::col(C::SleepQuality))),
            "sleep_quality",
        )
        .column_as(Expr::from(Func::avg(Expr::col(C::Mood))), "mood")
        .column_as(Expr::from(Func::avg(Expr::col(C::Stress))), "stress")
        .filter(C::PatientId.eq(patient))
        .filter(C::Valid.eq(true))
        .filter(C::Deleted.eq(false))
        .filter(C::LocalDate.between(from, to))
        .group_by(C::LocalDate)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(d, a, b, c, e)| (d, (a, b, c, e)))
        .collect())
}

async fn peg_weeks(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<WeekPeg>, DbErr> {
    use peg_checkins::Column as C;
    // Per day in SQL; weeks here, because ISO-week functions differ between the dialects.
    let rows: Vec<(NaiveDate, f64, f64, f64, f64, i64)> = peg_checkins::Entity::find()
        .select_only()
        .column(C::LocalDate)
        .column_as(Expr::from(Func::sum(Expr::col(C::Score))), "score")
        .column_as(Expr::from(Func::sum(Expr::col(C::Pain))), "pain")
        .column_as(Expr::from(Func::sum(Expr::col(C::Enjoyment))), "enjoyment")
        .column_as(Expr::from(Func::sum(Expr::col(C::Activity))), "activity")
        .column_as(Expr::from(Func::count(Expr::col(C::EntryId))), "count")
        .filter(C::PatientId.eq(patient))
        .filter(C::Valid.eq(true))
        .filter(C::Deleted.eq(false))
        .filter(C::LocalDate.between(from, to))
        .group_by(C::LocalDate)
        .order_by_asc(C::LocalDate)
        .into_tuple()
        .all(conn)
        .await?;
    let mut weeks: Vec<WeekPeg> = Vec::new();
    for (date, score, pain, enjoyment, activity, count) in rows {
        let ws = week_start(date);
        match weeks.last_mut() {
            Some(w) if w.week_start == ws => {
                w.score += score;
                w.pain += pain;
                w.enjoyment += enjoyment;
                w.activity += activity;
                w.count += count;
            }
            _ => weeks.push(WeekPeg {
                week_start: ws,
                score,
                pain,
                enjoyment,
                activity,
                count,
            }),
        }
    }
    for w in &mut weeks {
        let n = w.count.max(1) as f64;
        w.score /= n;
        w.pain /= n;
        w.enjoyment /= n;
        w.activity /= n;
    }
    Ok(weeks)
}
