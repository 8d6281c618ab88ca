//! The audit trail: who read or changed which patient's data, when, with what outcome.
//!
//! [`record`] takes any `ConnectionTrait`, so callers write the audit row inside the same
//! transaction as the change it describes: either both are committed or neither is.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::{ClinicId, PatientId, UserId};
use crate::entity::{audit_events, patients, users};

/// How an audited action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Success,
    /// Refused by an access rule.
    Denied,
    /// Failed for another reason.
    Failure,
}

impl Outcome {
    /// Stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        }
    }
}

/// Stable action codes. Strings rather than an enum in the table so that later modules
/// (sync hub, exports, care plans) can add codes without a migration.
pub mod action {
    /// A patient's record was read through the API.
    pub const PATIENT_READ: &str = "patient.read";
    /// A patient appeared in a list returned by the API.
    pub const PATIENT_LIST: &str = "patient.list";
    /// A patient was created (enrolment started).
    pub const PATIENT_CREATE: &str = "patient.create";
    /// A patient redeemed an invitation.
    pub const PATIENT_ENROL: &str = "patient.enrol";
    /// A clinician joined a care team.
    pub const CARE_TEAM_ADD: &str = "care_team.add";
    /// A clinician left a care team.
    pub const CARE_TEAM_REMOVE: &str = "care_team.remove";
    /// A user account was created.
    pub const USER_CREATE: &str = "user.create";
    /// A login succeeded.
    pub const LOGIN: &str = "auth.login";
    /// A login failed (wrong password, unknown email, rate limited).
    pub const LOGIN_FAILED: &str = "auth.login_failed";
    /// A token was revoked (logout or device revocation).
    pub const TOKEN_REVOKE: &str = "auth.token_revoke";
    /// An admin queried the audit trail.
    pub const AUDIT_QUERY: &str = "audit.query";
    /// A patient's document IDs and URLs were listed through the API.
    pub const DOCUMENT_LIST: &str = "document.list";
    /// A patient was erased; the only audit row about them that remains.
    pub const PATIENT_ERASE: &str = "patient.erase";
    /// A patient's diary entries were listed through the API.
    pub const ENTRIES_READ: &str = "entries.read";
}

/// An event to record.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Who, if authenticated.
    pub actor: Option<UserId>,
    /// Whose data, if a patient's.
    pub patient: Option<PatientId>,
    /// An [`action`] code.
    pub action: &'static str,
    /// What was touched: a document id, an endpoint, a token id.
    pub target: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
}

impl AuditEvent {
    /// A successful action by `actor` at `at`.
    pub fn new(at: DateTime<Utc>, actor: Option<UserId>, action: &'static str) -> Self {
        Self {
            at,
            actor,
            patient: None,
            action,
            target: None,
            outcome: Outcome::Success,
        }
    }

    /// Sets the patient concerned.
    pub fn patient(mut self, patient: PatientId) -> Self {
        self.patient = Some(patient);
        self
    }

    /// Sets the target.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Sets the outcome.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    fn into_active(self) -> audit_events::ActiveModel {
        audit_events::ActiveModel {
            id: Set(Uuid::now_v7()),
            at: Set(self.at),
            actor_user_id: Set(self.actor.map(UserId::uuid)),
            patient_id: Set(self.patient.map(PatientId::uuid)),
            action: Set(self.action.to_owned()),
            target: Set(self.target),
            outcome: Set(self.outcome.as_str().to_owned()),
        }
    }
}

/// Writes one audit row on `conn` (a pool or an open transaction).
pub async fn record(conn: &impl ConnectionTrait, event: AuditEvent) -> Result<(), DbErr> {
    event.into_active().insert(conn).await.map(|_| ())
}

/// Writes several audit rows in one statement.
pub async fn record_many(
    conn: &impl ConnectionTrait,
    events: impl IntoIterator<Item = AuditEvent>,
) -> Result<(), DbErr> {
    let rows: Vec<_> = events.into_iter().map(AuditEvent::into_active).collect();
    if rows.is_empty() {
        return Ok(());
    }
    audit_events::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await
        .map(|_| ())
}

/// An audit row as the admin API returns it.
#[derive(Clone, Debug, Serialize)]
pub struct AuditRecord {
    /// Event id.
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor_user_id: Option<Uuid>,
    /// Whose data.
    pub patient_id: Option<Uuid>,
    /// Action code.
    pub action: String,
    /// Target.
    pub target: Option<String>,
    /// Outcome code.
    pub outcome: String,
}

impl From<audit_events::Model> for AuditRecord {
    fn from(m: audit_events::Model) -> Self {
        Self {
            id: m.id,
            at: m.at,
            actor_user_id: m.actor_user_id,
            patient_id: m.patient_id,
            action: m.action,
            target: m.target,
            outcome: m.outcome,
        }
    }
}

/// A query over one clinic's audit trail.
#[derive(Clone, Debug)]
pub struct AuditQuery {
    /// Only events whose actor or patient belongs to this clinic.
    pub clinic: ClinicId,
    /// Only events about this patient.
    pub patient: Option<PatientId>,
    /// Only events by this user.
    pub actor: Option<UserId>,
    /// At most this many, newest first.
    pub limit: u64,
}

/// Runs `q`, newest first. Clinic scoping is done here so no caller can forget it.
pub async fn query(conn: &impl ConnectionTrait, q: &AuditQuery) -> Result<Vec<AuditRecord>, DbErr> {
    let clinic = q.clinic.uuid();
    let clinic_users = Query::select()
        .column(users::Column::Id)
        .from(users::Entity)
        .and_where(users::Column::ClinicId.eq(clinic))
        .to_owned();
    let clinic_patients = Query::select()
        .column(patients::Column::Id)
        .from(patients::Entity)
        .and_where(patients::Column::ClinicId.eq(clinic))
        .to_owned();
    let mut select = audit_events::Entity::find().filter(
        Condition::any()
            .add(audit_events::Column::ActorUserId.in_subquery(clinic_users))
            .add(audit_events::Column::PatientId.in_subquery(clinic_patients)),
    );
    if let Some(p) = q.patient {
        select = select.filter(audit_events::Column::PatientId.eq(p.uuid()));
    }
    if let Some(u) = q.actor {
        select = select.filter(audit_events::Column::ActorUserId.eq(u.uuid()));
    }
    let rows = select
        .order_by_desc(audit_events::Column::At)
        .order_by_desc(audit_events::Column::Id)
        .limit(q.limit)
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(AuditRecord::from).collect())
}
