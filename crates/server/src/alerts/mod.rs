//! The alert lifecycle on the server: evaluation of the notifier's rules inside the
//! projection transaction ([`evaluate`]), acknowledgement and resolution ([`lifecycle`]),
//! timers claimed through the database ([`timers`], including the missed-logging check
//! of patients who stopped syncing, `missed`), and the outbox payloads they enqueue
//! (the contract shared with the delivery worker).
//!
//! Rows: `alerts` (one per (patient, rule) while unresolved, enforced by the unique
//! `open_slot`), `alert_events` (the history), `clinic_notification_settings`,
//! `notification_outbox` (through [`crate::outbox::enqueue`]).

pub mod evaluate;
pub mod lifecycle;
mod missed;
pub mod timers;
pub mod triage;

use chrono::{DateTime, Duration, Utc};
use paindiary_notifier::rules::{RuleKind, Severity, ThresholdOverrides, Thresholds};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr};
use sea_orm::{EntityTrait, QueryFilter};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::entity::{
    alert_events, alerts, care_team_members, clinic_notification_settings, patients, users,
};
use crate::outbox::{self, Channel, DeliveryKind, NewDelivery};

pub use evaluate::{EvaluationSummary, evaluate_patient};
pub use timers::{TickReport, tick};
pub use triage::{Currency, TriageKey, sort_by_triage};

/// Alert defaults and timer settings (`[alerts]` in the config file).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Re-notify an unacknowledged alert after this many minutes, unless the clinic
    /// sets its own interval.
    pub repeat_interval_minutes: i64,
    /// An unacknowledged urgent alert escalates after this many minutes, unless the
    /// clinic sets its own (DESIGN.md: 4 h).
    pub escalation_minutes: i64,
    /// The daily digest of info alerts is enqueued at the first tick at or after this
    /// hour of each local day of the clinic (its notification settings' time zone, UTC
    /// when it set none). `digest_hour_utc`, its name when it was always UTC, is still read.
    #[serde(alias = "digest_hour_utc")]
    pub digest_hour: u32,
    /// How often `serve` runs the timers, in seconds (0 disables the background task).
    pub tick_interval_secs: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            repeat_interval_minutes: 24 * 60,
            escalation_minutes: 4 * 60,
            digest_hour: 7,
            tick_interval_secs: 60,
        }
    }
}

/// Alert status codes, as stored.
pub mod status {
    /// Raised, nobody has acknowledged it yet.
    pub const OPEN: &str = "open";
    /// A clinician has seen it and is handling it.
    pub const ACKNOWLEDGED: &str = "acknowledged";
    /// Closed with a note.
    pub const RESOLVED: &str = "resolved";
}

/// Alert event kinds, as stored in `alert_events.kind`.
pub mod event {
    /// The alert was opened by a rule.
    pub const OPENED: &str = "opened";
    /// Another trigger attached to the open alert.
    pub const TRIGGERED: &str = "triggered";
    /// Deliveries were enqueued (first notification or digest).
    pub const NOTIFIED: &str = "notified";
    /// The repeat notification fired.
    pub const REPEATED: &str = "repeated";
    /// The escalation fired.
    pub const ESCALATED: &str = "escalated";
    /// A clinician acknowledged it.
    pub const ACKNOWLEDGED: &str = "acknowledged";
    /// A clinician resolved it.
    pub const RESOLVED: &str = "resolved";
    /// The rule stopped triggering for long enough to call the condition cleared.
    pub const CLEARED: &str = "cleared";
    /// The entries behind the alert were deleted or edited away.
    pub const EVIDENCE_WITHDRAWN: &str = "evidence_withdrawn";
}

/// A clinic's notification settings with the configured defaults filled in.
#[derive(Clone, Debug)]
pub struct ClinicSettings {
    /// Clinic thresholds merged over the defaults.
    pub thresholds: Thresholds,
    /// Escalation recipients.
    pub secondary_recipients: Vec<String>,
    /// Webhook target, if configured.
    pub webhook_url: Option<String>,
    /// Whether payloads carry the explanation.
    pub include_details: bool,
    /// Repeat interval.
    pub repeat_interval: Duration,
    /// Escalation delay.
    pub escalation: Duration,
    /// The clinic's time zone (UTC unless set): the digest hour and day are its own.
    pub timezone: chrono_tz::Tz,
}

/// Loads `clinic`'s settings (defaults when it has no row). Stored thresholds that no
/// longer validate fall back to the defaults rather than stopping every sync.
pub async fn clinic_settings(
    conn: &impl ConnectionTrait,
    config: &AlertsConfig,
    clinic: Uuid,
) -> Result<ClinicSettings, DbErr> {
    let row = clinic_notification_settings::Entity::find_by_id(clinic)
        .one(conn)
        .await?;
    Ok(settings_from_row(config, clinic, row))
}

/// The configured defaults with `row`'s choices over them.
pub(crate) fn settings_from_row(
    config: &AlertsConfig,
    clinic: Uuid,
    row: Option<clinic_notification_settings::Model>,
) -> ClinicSettings {
    let mut settings = ClinicSettings {
        thresholds: Thresholds::default(),
        secondary_recipients: Vec::new(),
        webhook_url: None,
        include_details: false,
        repeat_interval: Duration::minutes(config.repeat_interval_minutes),
        escalation: Duration::minutes(config.escalation_minutes),
        timezone: chrono_tz::UTC,
    };
    let Some(row) = row else {
        return settings;
    };
    if let Some(text) = &row.thresholds {
        match serde_json::from_str::<ThresholdOverrides>(text)
            .ok()
            .and_then(|o| Thresholds::default().with(&o).ok())
        {
            Some(t) => settings.thresholds = t,
            None => tracing::warn!(%clinic, "stored clinic thresholds are invalid; using defaults"),
        }
    }
    settings.secondary_recipients =
        serde_json::from_str::<Vec<String>>(&row.secondary_recipients).unwrap_or_default();
    settings.webhook_url = row.webhook_url.filter(|u| !u.is_empty());
    settings.include_details = row.include_details;
    if let Some(m) = row.repeat_interval_minutes {
        settings.repeat_interval = Duration::minutes(i64::from(m));
    }
    if let Some(m) = row.escalation_minutes {
        settings.escalation = Duration::minutes(i64::from(m));
    }
    if let Some(tz) = row.timezone.as_deref() {
        match tz.parse::<chrono_tz::Tz>() {
            Ok(tz) => settings.timezone = tz,
            Err(_) => tracing::warn!(%clinic, "stored clinic time zone is unknown; using UTC"),
        }
    }
    settings
}

/// The people title of a rule, for subjects and lists.
pub fn rule_title(rule: &str) -> &'static str {
    match rule.parse::<RuleKind>() {
        Ok(RuleKind::Worsening) => "Pain worsening",
        Ok(RuleKind::Severe) => "Severe pain",
        Ok(RuleKind::OpioidLoad) => "High opioid load",
        Ok(RuleKind::PrnOveruse) => "As-needed medication overuse",
        Ok(RuleKind::MissedLogging) => "Missed diary logging",
        Ok(RuleKind::QuestionnaireSafety) => "Questionnaire safety answer",
        Ok(RuleKind::QuestionnaireWorsening) => "Questionnaire score worsening",
        Err(_) => "Alert",
    }
}

/// The dashboard page of a patient, relative to the public URL.
pub fn dashboard_path(patient: Uuid) -> String {
    format!("/dashboard/patients/{patient}")
}

/// The alert fields of an outbox payload (the contract in the module docs of
/// [`crate::outbox`]): minimum necessary, `explanation` only when the clinic opted in.
pub fn alert_payload(alert: &alerts::Model, display_code: &str, include_details: bool) -> Value {
    json!({
        "alert_id": alert.id,
        "patient_id": alert.patient_id,
        "patient_display_code": display_code,
        "rule": alert.rule,
        "rule_title": rule_title(&alert.rule),
        "severity": alert.severity,
        "opened_at": alert.opened_at.to_rfc3339(),
        "local_day": alert.local_day.format("%Y-%m-%d").to_string(),
        "reported_late": alert.reported_late,
        "trigger_count": alert.trigger_count,
        "dashboard_path": dashboard_path(alert.patient_id),
        "include_details": include_details,
        "explanation": include_details.then(|| alert.explanation.clone()),
    })
}

/// A care-team member who receives notifications.
#[derive(Clone, Debug)]
pub struct Recipient {
    /// The user.
    pub user_id: Uuid,
    /// Their email address.
    pub email: String,
    /// Their display name.
    pub name: String,
}

/// The active care-team members of `patient`, ordered by email.
pub async fn care_team(
    conn: &impl ConnectionTrait,
    patient: Uuid,
) -> Result<Vec<Recipient>, DbErr> {
    let ids: Vec<Uuid> = care_team_members::Entity::find()
        .filter(care_team_members::Column::PatientId.eq(patient))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut people: Vec<Recipient> = users::Entity::find()
        .filter(users::Column::Id.is_in(ids))
        .filter(users::Column::DisabledAt.is_null())
        .all(conn)
        .await?
        .into_iter()
        .map(|u| Recipient {
            user_id: u.id,
            email: u.email,
            name: u.display_name,
        })
        .collect();
    people.sort_by(|a, b| a.email.cmp(&b.email));
    Ok(people)
}

/// Enqueues one `kind` delivery of `alert` per care-team address plus the clinic webhook
/// (or, for an escalation, per secondary recipient). `n` tells deliveries of the same
/// kind apart (0 for the first notification, the claimed timer value for repeats).
/// Returns how many rows were enqueued.
pub(crate) async fn notify(
    conn: &impl ConnectionTrait,
    alert: &alerts::Model,
    patient: &patients::Model,
    settings: &ClinicSettings,
    kind: DeliveryKind,
    n: i64,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let mut targets: Vec<(Channel, String)> = Vec::new();
    if kind == DeliveryKind::AlertEscalated {
        for address in &settings.secondary_recipients {
            targets.push((Channel::Email, address.clone()));
        }
    } else {
        for person in care_team(conn, patient.id).await? {
            targets.push((Channel::Email, person.email));
        }
    }
    if let Some(url) = &settings.webhook_url {
        targets.push((Channel::Webhook, url.clone()));
    }
    let payload = alert_payload(alert, &patient.display_code, settings.include_details);
    let mut enqueued = 0;
    for (channel, recipient) in targets {
        let delivery = NewDelivery {
            idempotency_key: format!("alert:{}:{}:{n}:{recipient}", alert.id, kind.code()),
            alert_id: Some(alert.id),
            clinic_id: alert.clinic_id,
            channel,
            recipient,
            kind,
            payload: payload.clone(),
            not_before: now,
        };
        if outbox::enqueue(conn, delivery, now).await? {
            enqueued += 1;
        }
    }
    Ok(enqueued)
}

/// Appends one history row.
pub(crate) async fn record_event(
    conn: &impl ConnectionTrait,
    alert: Uuid,
    at: DateTime<Utc>,
    kind: &str,
    actor: Option<Uuid>,
    detail: Option<String>,
) -> Result<(), DbErr> {
    let row = alert_events::ActiveModel {
        id: Set(Uuid::now_v7()),
        alert_id: Set(alert),
        at: Set(at),
        kind: Set(kind.to_owned()),
        actor_user_id: Set(actor),
        detail: Set(detail),
    };
    alert_events::Entity::insert(row)
        .exec_without_returning(conn)
        .await
        .map(|_| ())
}

/// Whether alerts of this severity are notified one by one (info goes to the digest).
pub(crate) fn notified_individually(severity: Severity) -> bool {
    severity >= Severity::Warning
}
