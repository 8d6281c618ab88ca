//! Alerts as the care team sees and handles them, and the clinic's notification
//! settings. Clinicians see the alerts of their care-team patients, admins those of their
//! clinic; anyone else gets 404 exactly as for a missing alert. Every read and change is
//! audited.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use chrono::{DateTime, Utc};
use paindiary_notifier::rules::{Severity, ThresholdError, ThresholdOverrides, Thresholds};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::access::{self, PatientAccess};
use crate::alerts::{self, lifecycle, lifecycle::LifecycleError, status};
use crate::audit::{self, AuditEvent, Outcome};
use crate::auth::AuthUser;
use crate::domain::{Email, ParseError, PatientId, Role, TimeZoneName};
use crate::entity::{alert_events, alerts as alert_rows, clinic_notification_settings, patients};
use crate::error::{ApiError, ApiJson, Json};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// Audit action codes of this module.
pub mod action {
    /// Alerts were listed (one row per patient listed).
    pub const ALERT_LIST: &str = "alert.list";
    /// One alert and its history were read.
    pub const ALERT_READ: &str = "alert.read";
    /// An alert was acknowledged.
    pub const ALERT_ACKNOWLEDGE: &str = "alert.acknowledge";
    /// An alert was resolved.
    pub const ALERT_RESOLVE: &str = "alert.resolve";
    /// The clinic's notification settings were read.
    pub const SETTINGS_READ: &str = "notification_settings.read";
    /// The clinic's notification settings were changed.
    pub const SETTINGS_UPDATE: &str = "notification_settings.update";
}

/// Most alerts one list returns (newest first).
const LIST_LIMIT: u64 = 500;

/// An alert as the API shows it. Clinical content (the explanation, the figures, the
/// resolution note) is for the care team: a clinic admin sees the minimum necessary to
/// run the clinic (rule, severity, status, dates), as docs/design.md's access rules say.
#[derive(Debug, Serialize)]
pub struct AlertView {
    id: Uuid,
    patient_id: Uuid,
    patient_display_code: String,
    rule: String,
    rule_title: &'static str,
    severity: String,
    status: String,
    /// `active`, `cleared` or `evidence_withdrawn` (see `alerts::triage::Currency`).
    currency: &'static str,
    /// "active", "cleared since 2026-12-03", "evidence withdrawn".
    currency_label: String,
    opened_at: DateTime<Utc>,
    last_triggered_at: DateTime<Utc>,
    trigger_count: i32,
    /// The first trigger's local day (kept for older clients: same as `first_day`).
    local_day: String,
    first_day: String,
    latest_day: String,
    cleared_since: Option<String>,
    evidence_withdrawn_at: Option<DateTime<Utc>>,
    reported_late: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    figures: Option<Value>,
    acknowledged_by: Option<Uuid>,
    acknowledged_at: Option<DateTime<Utc>>,
    resolved_by: Option<Uuid>,
    resolved_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolution_note: Option<String>,
    next_repeat_at: Option<DateTime<Utc>>,
    escalated_at: Option<DateTime<Utc>>,
    dashboard_path: String,
}

/// How much of an alert a viewer may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// The care team: everything.
    Clinical,
    /// A clinic admin: rule, severity, status and dates only.
    Minimum,
}

impl Detail {
    fn of(user: &AuthUser) -> Self {
        if user.role.is_clinician() {
            Detail::Clinical
        } else {
            Detail::Minimum
        }
    }
}

impl AlertView {
    fn new(a: alert_rows::Model, display_code: String, detail: Detail) -> Self {
        let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
        let currency = alerts::Currency::of(&a);
        let clinical = detail == Detail::Clinical;
        Self {
            rule_title: alerts::rule_title(&a.rule),
            dashboard_path: alerts::dashboard_path(a.patient_id),
            local_day: day(a.local_day),
            first_day: day(a.local_day),
            latest_day: day(a.latest_day.unwrap_or(a.local_day)),
            cleared_since: a.cleared_since.map(day),
            evidence_withdrawn_at: a.evidence_withdrawn_at,
            currency: currency.code(),
            currency_label: currency.label(),
            figures: clinical.then(|| {
                json!({
                    "current": a.current_value,
                    "usual": a.usual_value,
                    "spread": a.usual_spread,
                    "magnitude": a.magnitude,
                })
            }),
            id: a.id,
            patient_id: a.patient_id,
            patient_display_code: display_code,
            rule: a.rule,
            severity: a.severity,
            status: a.status,
            opened_at: a.opened_at,
            last_triggered_at: a.last_triggered_at,
            trigger_count: a.trigger_count,
            reported_late: a.reported_late,
            explanation: clinical.then_some(a.explanation),
            acknowledged_by: a.acknowledged_by,
            acknowledged_at: a.acknowledged_at,
            resolved_by: a.resolved_by,
            resolved_at: a.resolved_at,
            resolution_note: if clinical { a.resolution_note } else { None },
            next_repeat_at: a.next_repeat_at,
            escalated_at: a.escalated_at,
        }
    }
}

/// `GET /alerts` query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    severity: Option<String>,
    patient: Option<String>,
}

fn staff_only(user: &AuthUser) -> Result<(), ApiError> {
    if user.role == Role::Admin || user.role.is_clinician() {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// `GET /alerts?status=&severity=&patient=`: unresolved alerts in triage order (active
/// before cleared before withdrawn, then severity, size of change, age), then resolved
/// ones, newest first.
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    staff_only(&user)?;
    let status = q
        .status
        .filter(|s| !s.is_empty())
        .map(|s| match s.as_str() {
            status::OPEN | status::ACKNOWLEDGED | status::RESOLVED => Ok(s),
            _ => Err(ParseError {
                field: "status",
                rule: "must be open, acknowledged or resolved",
            }),
        })
        .transpose()?;
    let severity = q
        .severity
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Severity>().map_err(|_| ParseError {
                field: "severity",
                rule: "must be info, warning or urgent",
            })
        })
        .transpose()?;
    let patient = q
        .patient
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Uuid>().map_err(|_| ParseError {
                field: "patient",
                rule: "must be a patient id",
            })
        })
        .transpose()?;
    let visible: BTreeMap<Uuid, String> = access::visible_patients(&state.db, &user)
        .await?
        .into_iter()
        .filter(|p| patient.is_none_or(|id| id == p.id))
        .map(|p| (p.id, p.display_code))
        .collect();
    let mut rows = Vec::new();
    if !visible.is_empty() {
        let mut query = alert_rows::Entity::find()
            .filter(alert_rows::Column::PatientId.is_in(visible.keys().copied()))
            .order_by_desc(alert_rows::Column::OpenedAt)
            .limit(LIST_LIMIT);
        if let Some(s) = &status {
            query = query.filter(alert_rows::Column::Status.eq(s.as_str()));
        }
        if let Some(s) = severity {
            query = query.filter(alert_rows::Column::Severity.eq(s.as_str()));
        }
        rows = query.all(&state.db).await?;
    }
    let (mut unresolved, resolved): (Vec<_>, Vec<_>) =
        rows.into_iter().partition(|a| a.status != status::RESOLVED);
    alerts::sort_by_triage(&mut unresolved, |a| a);
    unresolved.extend(resolved);
    let rows = unresolved;
    let detail = Detail::of(&user);
    let now = state.clock.now();
    let listed: BTreeSet<Uuid> = rows.iter().map(|a| a.patient_id).collect();
    audit::record_many(
        &state.db,
        listed.into_iter().map(|p| {
            AuditEvent::new(now, Some(user.user_id), action::ALERT_LIST)
                .patient(PatientId(p))
                .target("GET /api/v1/alerts")
        }),
    )
    .await?;
    let alerts: Vec<AlertView> = rows
        .into_iter()
        .map(|a| {
            let code = visible.get(&a.patient_id).cloned().unwrap_or_default();
            AlertView::new(a, code, detail)
        })
        .collect();
    Ok(Json(json!({ "alerts": alerts })))
}

/// The alert `id` and its patient if `user` may see them; `NotFound` otherwise (the
/// attempt is audited as denied).
async fn visible_alert(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    act: &'static str,
) -> Result<(alert_rows::Model, patients::Model, PatientAccess), ApiError> {
    let now = state.clock.now();
    let target = format!("alert {id}");
    let Some(alert) = alert_rows::Entity::find_by_id(id).one(&state.db).await? else {
        return Err(ApiError::NotFound);
    };
    let event = AuditEvent::new(now, Some(user.user_id), act)
        .patient(PatientId(alert.patient_id))
        .target(target);
    let seen = if user.role == Role::Admin || user.role.is_clinician() {
        access::visible_patient(&state.db, user, PatientId(alert.patient_id)).await
    } else {
        Err(ApiError::NotFound)
    };
    match seen {
        Ok((patient, access)) => Ok((alert, patient, access)),
        Err(ApiError::NotFound) => {
            audit::record(&state.db, event.outcome(Outcome::Denied)).await?;
            Err(ApiError::NotFound)
        }
        Err(e) => Err(e),
    }
}

async fn with_history(
    state: &AppState,
    alert: alert_rows::Model,
    code: String,
    detail: Detail,
) -> Result<Value, ApiError> {
    let events = alert_events::Entity::find()
        .filter(alert_events::Column::AlertId.eq(alert.id))
        .order_by_asc(alert_events::Column::At)
        .order_by_asc(alert_events::Column::Id)
        .all(&state.db)
        .await?;
    let history: Vec<Value> = events
        .into_iter()
        .map(|e| {
            json!({
                "at": e.at,
                "kind": e.kind,
                "actor_user_id": e.actor_user_id,
                // Event details quote the explanation or the resolution note.
                "detail": if detail == Detail::Clinical { e.detail } else { None },
            })
        })
        .collect();
    let mut body =
        serde_json::to_value(AlertView::new(alert, code, detail)).map_err(ApiError::internal)?;
    if let Value::Object(map) = &mut body {
        map.insert("history".to_owned(), Value::Array(history));
    }
    Ok(body)
}

/// `GET /alerts/{id}`: the alert with its full history.
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Value>, ApiError> {
    let (alert, patient, _) = visible_alert(&state, &user, id, action::ALERT_READ).await?;
    audit::record(
        &state.db,
        AuditEvent::new(state.clock.now(), Some(user.user_id), action::ALERT_READ)
            .patient(PatientId(patient.id))
            .target(format!("alert {id}")),
    )
    .await?;
    Ok(Json(
        with_history(&state, alert, patient.display_code, Detail::of(&user)).await?,
    ))
}

/// `POST /alerts/{id}/resolve` body.
#[derive(Debug, Default, Deserialize)]
pub struct ResolveRequest {
    note: Option<String>,
}

/// Longest resolution note.
const MAX_NOTE_CHARS: usize = 4000;

/// `POST /alerts/{id}/acknowledge`: care-team members only.
pub async fn acknowledge(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Value>, ApiError> {
    step(&state, &user, id, action::ALERT_ACKNOWLEDGE, None).await
}

/// `POST /alerts/{id}/resolve` `{note}`: care-team members only.
pub async fn resolve(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<ResolveRequest>,
) -> Result<Json<Value>, ApiError> {
    let note = req
        .note
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
    {
        return Err(ParseError {
            field: "note",
            rule: "must be at most 4000 characters",
        }
        .into());
    }
    step(&state, &user, id, action::ALERT_RESOLVE, Some(note)).await
}

/// Acknowledges (`note == None`) or resolves (`Some(note)`) in one transaction with its
/// history and audit rows.
async fn step(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    act: &'static str,
    resolve_note: Option<Option<String>>,
) -> Result<Json<Value>, ApiError> {
    let (_, patient, access) = visible_alert(state, user, id, act).await?;
    if access != PatientAccess::CareTeam {
        return Err(ApiError::Forbidden);
    }
    let now = state.clock.now();
    let actor = user.user_id.uuid();
    let txn = crate::db::begin_write(&state.db).await?;
    let done = match resolve_note {
        None => lifecycle::acknowledge(&txn, id, actor, now).await,
        Some(note) => lifecycle::resolve(&txn, id, actor, note, now).await,
    };
    match done {
        Ok(()) => {}
        Err(LifecycleError::WrongState) => {
            return Err(ApiError::Conflict(
                "the alert is not in a state that allows this",
            ));
        }
        Err(LifecycleError::Db(e)) => return Err(e.into()),
    }
    audit::record(
        &txn,
        AuditEvent::new(now, Some(user.user_id), act)
            .patient(PatientId(patient.id))
            .target(format!("alert {id}")),
    )
    .await?;
    txn.commit().await?;
    let alert = alert_rows::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(
        with_history(state, alert, patient.display_code, Detail::Clinical).await?,
    ))
}

/// `GET/PUT /admin/notification-settings` body. On PUT, absent fields keep their value;
/// an empty `webhook_url` or `webhook_secret` clears it. The secret is never returned.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsRequest {
    thresholds: Option<ThresholdOverrides>,
    secondary_recipients: Option<Vec<String>>,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    include_details: Option<bool>,
    repeat_interval_minutes: Option<i32>,
    escalation_minutes: Option<i32>,
    /// IANA name; empty for UTC.
    timezone: Option<String>,
}

fn settings_view(state: &AppState, row: Option<&clinic_notification_settings::Model>) -> Value {
    let overrides: ThresholdOverrides = row
        .and_then(|r| r.thresholds.as_deref())
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let effective = Thresholds::default().with(&overrides).unwrap_or_default();
    let defaults = &state.config.alerts;
    json!({
        "thresholds": overrides,
        "effective_thresholds": effective,
        "secondary_recipients": row
            .and_then(|r| serde_json::from_str::<Vec<String>>(&r.secondary_recipients).ok())
            .unwrap_or_default(),
        "webhook_url": row.and_then(|r| r.webhook_url.clone()),
        "webhook_secret_set": row.is_some_and(|r| r.webhook_secret.is_some()),
        "include_details": row.is_some_and(|r| r.include_details),
        "repeat_interval_minutes": row
            .and_then(|r| r.repeat_interval_minutes)
            .map_or(defaults.repeat_interval_minutes, i64::from),
        "escalation_minutes": row
            .and_then(|r| r.escalation_minutes)
            .map_or(defaults.escalation_minutes, i64::from),
        "timezone": row.and_then(|r| r.timezone.clone()).unwrap_or_else(|| "UTC".to_owned()),
        "digest_hour": defaults.digest_hour,
    })
}

/// `GET /admin/notification-settings`.
pub async fn get_settings(
    State(state): State<AppState>,
    admin: AuthUser,
) -> Result<Json<Value>, ApiError> {
    admin.require_admin()?;
    let row = clinic_notification_settings::Entity::find_by_id(admin.clinic_id.uuid())
        .one(&state.db)
        .await?;
    audit::record(
        &state.db,
        AuditEvent::new(
            state.clock.now(),
            Some(admin.user_id),
            action::SETTINGS_READ,
        )
        .target("GET /api/v1/admin/notification-settings"),
    )
    .await?;
    Ok(Json(settings_view(&state, row.as_ref())))
}

fn threshold_error(e: &ThresholdError) -> ApiError {
    match e {
        ThresholdError::OutOfRange {
            field, expected, ..
        } => ParseError {
            field,
            rule: expected,
        }
        .into(),
        ThresholdError::Inconsistent(rule) => ParseError {
            field: "thresholds",
            rule,
        }
        .into(),
    }
}

/// Longest accepted webhook URL.
const MAX_URL_CHARS: usize = 2000;

/// `PUT /admin/notification-settings`.
pub async fn put_settings(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiJson(req): ApiJson<SettingsRequest>,
) -> Result<Json<Value>, ApiError> {
    admin.require_admin()?;
    // Webhook SSRF guard (outbox::webhook_target), before the write transaction: it
    // resolves the host.
    if let Some(url) = req
        .webhook_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        let checked = state.outbox.webhook_targets().check(url).await;
        checked.map_err(|rule| ParseError {
            field: "webhook_url",
            rule,
        })?;
    }
    let now = state.clock.now();
    let clinic = admin.clinic_id.uuid();
    let txn = crate::db::begin_write(&state.db).await?;
    let existing = clinic_notification_settings::Entity::find_by_id(clinic)
        .one(&txn)
        .await?;
    let mut row: clinic_notification_settings::ActiveModel = match &existing {
        Some(r) => r.clone().into(),
        None => clinic_notification_settings::ActiveModel {
            clinic_id: Set(clinic),
            thresholds: Set(None),
            secondary_recipients: Set("[]".to_owned()),
            webhook_url: Set(None),
            webhook_secret: Set(None),
            include_details: Set(false),
            repeat_interval_minutes: Set(None),
            escalation_minutes: Set(None),
            timezone: Set(None),
            updated_at: Set(now),
        },
    };
    if let Some(overrides) = req.thresholds {
        Thresholds::default()
            .with(&overrides)
            .map_err(|e| threshold_error(&e))?;
        let text = serde_json::to_string(&overrides).map_err(ApiError::internal)?;
        row.thresholds = Set(Some(text));
    }
    if let Some(list) = req.secondary_recipients {
        let mut emails = Vec::with_capacity(list.len());
        for raw in list.iter().take(50) {
            emails.push(Email::parse(raw)?.as_str().to_owned());
        }
        if list.len() > 50 {
            return Err(ParseError {
                field: "secondary_recipients",
                rule: "at most 50 addresses",
            }
            .into());
        }
        let text = serde_json::to_string(&emails).map_err(ApiError::internal)?;
        row.secondary_recipients = Set(text);
    }
    if let Some(url) = req.webhook_url {
        let url = url.trim().to_owned();
        if url.is_empty() {
            row.webhook_url = Set(None);
        } else if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.chars().any(char::is_whitespace)
            || url.chars().count() > MAX_URL_CHARS
        {
            return Err(ParseError {
                field: "webhook_url",
                rule: "must be an http(s) URL of at most 2000 characters",
            }
            .into());
        } else {
            row.webhook_url = Set(Some(url));
        }
    }
    if let Some(secret) = req.webhook_secret {
        if secret.is_empty() {
            row.webhook_secret = Set(None);
        } else if secret.chars().count() < 16 || secret.chars().count() > 256 {
            return Err(ParseError {
                field: "webhook_secret",
                rule: "must be 16-256 characters",
            }
            .into());
        } else {
            row.webhook_secret = Set(Some(secret));
        }
    }
    if let Some(tz) = req.timezone {
        row.timezone = Set(if tz.trim().is_empty() {
            None
        } else {
            Some(TimeZoneName::parse(tz.trim())?.as_str().to_owned())
        });
    }
    if let Some(details) = req.include_details {
        row.include_details = Set(details);
    }
    for (value, field, target) in [
        (
            req.repeat_interval_minutes,
            "repeat_interval_minutes",
            &mut row.repeat_interval_minutes,
        ),
        (
            req.escalation_minutes,
            "escalation_minutes",
            &mut row.escalation_minutes,
        ),
    ] {
        if let Some(minutes) = value {
            if !(1..=60 * 24 * 30).contains(&minutes) {
                return Err(ParseError {
                    field,
                    rule: "must be 1 to 43200 minutes",
                }
                .into());
            }
            *target = Set(Some(minutes));
        }
    }
    row.updated_at = Set(now);
    let saved = if existing.is_some() {
        row.update(&txn).await?
    } else {
        row.insert(&txn).await?
    };
    audit::record(
        &txn,
        AuditEvent::new(now, Some(admin.user_id), action::SETTINGS_UPDATE)
            .target("PUT /api/v1/admin/notification-settings"),
    )
    .await?;
    txn.commit().await?;
    Ok(Json(settings_view(&state, Some(&saved))))
}
