//! `alerts` rows: one clinically meaningful worsening and where it is in its lifecycle.

use sea_orm::entity::prelude::*;

/// An alert about one patient raised by one rule.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    /// Alert id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The patient concerned.
    pub patient_id: Uuid,
    /// The patient's clinic (whose recipients and settings apply).
    pub clinic_id: Uuid,
    /// Rule code: `worsening`, `severe`, `opioid_load`, `prn_overuse`, `missed_logging`.
    pub rule: String,
    /// `info`, `warning` or `urgent`.
    pub severity: String,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    /// `"{patient_id}:{rule}"` while not resolved, else `None` (unique: one open alert per
    /// patient and rule).
    pub open_slot: Option<String>,
    /// When the alert was opened.
    pub opened_at: DateTimeUtc,
    /// When a trigger last attached to it.
    pub last_triggered_at: DateTimeUtc,
    /// How many triggers attached (the first included).
    pub trigger_count: i32,
    /// The patient's local day of the first trigger (it never moves; see `latest_day`).
    pub local_day: Date,
    /// The patient's local day of the latest trigger (`None` only on rows written before
    /// migration 000022 that no trigger has touched since; read it as `local_day`).
    pub latest_day: Option<Date>,
    /// The figure the rule compared, now: e.g. the recent mean pain, the day's MME, the
    /// PRN doses taken. `None` when the rule has no single figure.
    pub current_value: Option<f64>,
    /// The patient's usual level of that figure (personal baseline mean), when the rule
    /// compares against one.
    pub usual_value: Option<f64>,
    /// The patient's day-to-day spread (standard deviation) around `usual_value`.
    pub usual_spread: Option<f64>,
    /// Size of the change for ranking alerts of one severity, larger first (points above
    /// the patient's usual for pain rules; MME over the threshold; doses over the limit).
    pub magnitude: Option<f64>,
    /// The first local day of the run of days on which the condition no longer held, once
    /// that run is long enough to call the alert cleared; `None` while active.
    pub cleared_since: Option<Date>,
    /// When the entries behind the alert were deleted or edited so that no trigger day is
    /// left: it stops repeating and escalating, and waits for a clinician to resolve it.
    pub evidence_withdrawn_at: Option<DateTimeUtc>,
    /// Whether the triggering data arrived more than 24 h after it was recorded.
    pub reported_late: bool,
    /// Human-readable explanation with the numbers that triggered the rule.
    pub explanation: String,
    /// The rule's evidence, JSON.
    pub evidence: String,
    /// Who acknowledged it.
    pub acknowledged_by: Option<Uuid>,
    /// When it was acknowledged.
    pub acknowledged_at: Option<DateTimeUtc>,
    /// Who resolved it.
    pub resolved_by: Option<Uuid>,
    /// When it was resolved.
    pub resolved_at: Option<DateTimeUtc>,
    /// The resolver's note.
    pub resolution_note: Option<String>,
    /// When the care team was last notified.
    pub last_notified_at: Option<DateTimeUtc>,
    /// When to notify again while still open.
    pub next_repeat_at: Option<DateTimeUtc>,
    /// When an unacknowledged urgent alert escalates.
    pub escalate_at: Option<DateTimeUtc>,
    /// When it escalated.
    pub escalated_at: Option<DateTimeUtc>,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
