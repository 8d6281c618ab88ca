//! Account operations shared by the REST API and the admin CLI: clinics, users,
//! patients and invitations, care teams, login, enrolment and devices.
//!
//! Functions take parsed domain types and return views that are safe to serialise.
//! Authorisation of *who may call* is the caller's job (API: admin role and clinic; CLI:
//! the operator); rules about *what is consistent* (same clinic, clinician roles) are here.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, SqlErr,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::{self, AuditEvent, Outcome, action};
use crate::auth::ratelimit;
use crate::auth::token::{self, TokenKind};
use crate::auth::{AuthUser, password};
use crate::domain::{
    ClinicId, DisplayCode, DisplayName, Email, Password, PatientId, Role, TimeZoneName, TokenId,
    UserId,
};
use crate::entity::{auth_tokens, care_team_members, clinics, invitations, patients, users};
use crate::error::ApiError;
use crate::state::AppState;

/// A user as the API shows it (never the password hash).
#[derive(Clone, Debug, Serialize)]
pub struct UserView {
    /// User id.
    pub id: UserId,
    /// Clinic.
    pub clinic_id: ClinicId,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// The patient record, for patient accounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<PatientId>,
    /// Creation instant.
    pub created_at: DateTime<Utc>,
}

impl UserView {
    fn from_model(m: users::Model, patient_id: Option<PatientId>) -> Result<Self, ApiError> {
        Ok(Self {
            id: UserId(m.id),
            clinic_id: ClinicId(m.clinic_id),
            email: m.email,
            display_name: m.display_name,
            role: Role::parse(&m.role).map_err(ApiError::internal)?,
            patient_id,
            created_at: m.created_at,
        })
    }
}

/// A patient as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PatientView {
    /// Patient id (what diary documents carry).
    pub id: PatientId,
    /// Clinic.
    pub clinic_id: ClinicId,
    /// Pseudonymous display code.
    pub display_code: String,
    /// IANA time zone.
    pub timezone: String,
    /// Whether the patient has redeemed an invitation.
    pub enrolled: bool,
    /// Creation instant.
    pub created_at: DateTime<Utc>,
}

impl From<patients::Model> for PatientView {
    fn from(m: patients::Model) -> Self {
        Self {
            id: PatientId(m.id),
            clinic_id: ClinicId(m.clinic_id),
            display_code: m.display_code,
            timezone: m.timezone,
            enrolled: m.user_id.is_some(),
            created_at: m.created_at,
        }
    }
}

/// A clinic.
#[derive(Clone, Debug, Serialize)]
pub struct ClinicView {
    /// Clinic id.
    pub id: ClinicId,
    /// Name.
    pub name: String,
}

/// A one-time invitation code, returned once at creation.
#[derive(Clone, Serialize)]
pub struct InvitationView {
    /// The code to give the patient (e.g. `K7QM-2XRT-9HCF`).
    pub code: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for InvitationView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvitationView")
            .field("code", &"<redacted>")
            .finish()
    }
}

/// A created patient with their invitation.
#[derive(Clone, Debug, Serialize)]
pub struct CreatedPatient {
    /// The patient.
    pub patient: PatientView,
    /// The invitation (shown once).
    pub invitation: InvitationView,
}

/// The answer to a login or enrolment.
#[derive(Clone, Serialize)]
pub struct LoginResponse {
    /// The bearer token (shown once).
    pub token: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// Who logged in.
    pub user: UserView,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("token", &"<redacted>")
            .finish()
    }
}

/// A device or session in the caller's device list.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceView {
    /// Token id (revoke with `DELETE /me/devices/{id}`).
    pub id: TokenId,
    /// `device` or `web`.
    pub kind: String,
    /// Name given at login.
    pub device_name: Option<String>,
    /// Issued.
    pub created_at: DateTime<Utc>,
    /// Last use (minute granularity).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Whether this is the token of the current request.
    pub current: bool,
}

fn unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Creates a clinic.
pub async fn create_clinic(state: &AppState, name: &str) -> Result<ClinicView, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(crate::domain::ParseError {
            field: "name",
            rule: "must be 1-200 characters",
        }
        .into());
    }
    let id = ClinicId::new_random();
    clinics::ActiveModel {
        id: Set(id.uuid()),
        name: Set(name.to_owned()),
        created_at: Set(state.clock.now()),
    }
    .insert(&state.db)
    .await?;
    Ok(ClinicView {
        id,
        name: name.to_owned(),
    })
}

/// What a new staff account needs.
#[derive(Debug)]
pub struct NewUser {
    /// Clinic.
    pub clinic: ClinicId,
    /// Email.
    pub email: Email,
    /// Display name.
    pub display_name: DisplayName,
    /// Role.
    pub role: Role,
    /// Initial password.
    pub password: Password,
}

/// Creates a staff account (any role but `patient`, which only enrolment creates).
pub async fn create_user(
    state: &AppState,
    actor: Option<UserId>,
    new: NewUser,
) -> Result<UserView, ApiError> {
    if new.role == Role::Patient {
        return Err(crate::domain::ParseError {
            field: "role",
            rule: "patient accounts are created by enrolment",
        }
        .into());
    }
    ensure_clinic(state, new.clinic).await?;
    let hash = password::hash(&state.hashing, new.password).await?;
    let now = state.clock.now();
    let id = UserId::new_random();
    let txn = crate::db::begin_write(&state.db).await?;
    let inserted = users::ActiveModel {
        id: Set(id.uuid()),
        clinic_id: Set(new.clinic.uuid()),
        email: Set(new.email.as_str().to_owned()),
        display_name: Set(new.display_name.as_str().to_owned()),
        role: Set(new.role.as_str().to_owned()),
        password_hash: Set(hash),
        created_at: Set(now),
        disabled_at: Set(None),
    }
    .insert(&txn)
    .await
    .map_err(conflict_if_taken("a user with this email"))?;
    audit::record(
        &txn,
        AuditEvent::new(now, actor, action::USER_CREATE).target(id.to_string()),
    )
    .await?;
    txn.commit().await?;
    UserView::from_model(inserted, None)
}

/// `NotFound` unless the clinic exists.
async fn ensure_clinic(state: &AppState, clinic: ClinicId) -> Result<(), ApiError> {
    clinics::Entity::find_by_id(clinic.uuid())
        .one(&state.db)
        .await?
        .map(|_| ())
        .ok_or(ApiError::NotFound)
}

/// Maps a unique-key violation on insert to a `Conflict` naming what is taken.
fn conflict_if_taken(what: &'static str) -> impl Fn(DbErr) -> ApiError {
    move |e| {
        if unique_violation(&e) {
            ApiError::Conflict(what)
        } else {
            e.into()
        }
    }
}

/// Alphabet for invitation codes: no 0/O or 1/I, so codes survive being read aloud.
const CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// 12 symbols of 5 bits = 60 bits, formatted `XXXX-XXXX-XXXX`.
fn new_invitation_code() -> String {
    let bytes: [u8; 12] = rand::random();
    let symbols: Vec<char> = bytes
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(b & 31)]))
        .collect();
    symbols
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// Hash of a code as typed: case, spaces and dashes do not matter.
fn invitation_code_hash(code: &str) -> String {
    let normalised: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    hex::encode(Sha256::digest(normalised.as_bytes()))
}

/// What a new patient needs.
#[derive(Debug)]
pub struct NewPatient {
    /// Clinic.
    pub clinic: ClinicId,
    /// Display code, unique in the clinic.
    pub display_code: DisplayCode,
    /// Time zone.
    pub timezone: TimeZoneName,
}

/// Creates a patient and a one-time invitation; the code is returned only here.
pub async fn create_patient(
    state: &AppState,
    actor: Option<UserId>,
    new: NewPatient,
) -> Result<CreatedPatient, ApiError> {
    ensure_clinic(state, new.clinic).await?;
    let now = state.clock.now();
    let id = PatientId::new_random();
    let code = new_invitation_code();
    let expires_at = now + state.config.auth.invitation_ttl();
    let txn = crate::db::begin_write(&state.db).await?;
    let patient = patients::ActiveModel {
        id: Set(id.uuid()),
        clinic_id: Set(new.clinic.uuid()),
        display_code: Set(new.display_code.as_str().to_owned()),
        timezone: Set(new.timezone.as_str().to_owned()),
        user_id: Set(None),
        created_at: Set(now),
        erased_at: Set(None),
    }
    .insert(&txn)
    .await
    .map_err(conflict_if_taken("a patient with this display code"))?;
    // The clinic's default reminders, if it set any (docs/reminders.md).
    crate::reminders::defaults::apply_to_new_patient(
        &txn,
        new.clinic.uuid(),
        id.uuid(),
        new.timezone.as_str(),
        now,
    )
    .await?;
    invitations::ActiveModel {
        id: Set(Uuid::new_v4()),
        code_hash: Set(invitation_code_hash(&code)),
        patient_id: Set(id.uuid()),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEvent::new(now, actor, action::PATIENT_CREATE).patient(id),
    )
    .await?;
    txn.commit().await?;
    Ok(CreatedPatient {
        patient: patient.into(),
        invitation: InvitationView { code, expires_at },
    })
}

/// Adds a clinician to a patient's care team (idempotent). With `scope`, both must be in
/// that clinic, else `NotFound`; in any case they must share a clinic.
pub async fn add_to_care_team(
    state: &AppState,
    actor: Option<UserId>,
    scope: Option<ClinicId>,
    patient: PatientId,
    user: UserId,
) -> Result<(), ApiError> {
    let (p, u) = care_team_pair(&state.db, scope, patient, user).await?;
    let role = Role::parse(&u.role).map_err(ApiError::internal)?;
    if !role.is_clinician() {
        return Err(crate::domain::ParseError {
            field: "user_id",
            rule: "must be a clinician (physician, nurse, physical_therapist, psychologist)",
        }
        .into());
    }
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let exists = care_team_members::Entity::find_by_id((p.id, u.id))
        .one(&txn)
        .await?
        .is_some();
    if !exists {
        care_team_members::ActiveModel {
            patient_id: Set(p.id),
            user_id: Set(u.id),
            added_at: Set(now),
        }
        .insert(&txn)
        .await
        // A concurrent add of the same pair loses here; the pair exists, which is what was asked.
        .map_err(|e| {
            if unique_violation(&e) {
                ApiError::Conflict("this care team membership")
            } else {
                e.into()
            }
        })?;
        audit::record(
            &txn,
            AuditEvent::new(now, actor, action::CARE_TEAM_ADD)
                .patient(PatientId(p.id))
                .target(u.id.to_string()),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Removes a clinician from a patient's care team (idempotent).
pub async fn remove_from_care_team(
    state: &AppState,
    actor: Option<UserId>,
    scope: Option<ClinicId>,
    patient: PatientId,
    user: UserId,
) -> Result<(), ApiError> {
    let (p, u) = care_team_pair(&state.db, scope, patient, user).await?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let res = care_team_members::Entity::delete_by_id((p.id, u.id))
        .exec(&txn)
        .await?;
    if res.rows_affected > 0 {
        audit::record(
            &txn,
            AuditEvent::new(now, actor, action::CARE_TEAM_REMOVE)
                .patient(PatientId(p.id))
                .target(u.id.to_string()),
        )
        .await?;
    }
    txn.commit().await?;
    state
        .access_changes
        .publish(crate::access_changes::AccessChange::UserChanged(UserId(
            u.id,
        )));
    Ok(())
}

async fn care_team_pair(
    conn: &impl ConnectionTrait,
    scope: Option<ClinicId>,
    patient: PatientId,
    user: UserId,
) -> Result<(patients::Model, users::Model), ApiError> {
    let p = patients::Entity::find_by_id(patient.uuid())
        .one(conn)
        .await?
        .filter(|p| p.erased_at.is_none())
        .filter(|p| scope.is_none_or(|c| c.uuid() == p.clinic_id))
        .ok_or(ApiError::NotFound)?;
    let u = users::Entity::find_by_id(user.uuid())
        .one(conn)
        .await?
        .filter(|u| u.clinic_id == p.clinic_id)
        .ok_or(ApiError::NotFound)?;
    Ok((p, u))
}

/// Verifies an email and password (rate limited per email and client address with a
/// per-email ceiling, see `auth::ratelimit`; timing-safe for unknown emails; failures
/// audited) and returns the active user. Shared by the API login and the web dashboard.
pub async fn check_credentials(
    state: &AppState,
    email: Email,
    password: Password,
    client: Option<std::net::IpAddr>,
) -> Result<users::Model, ApiError> {
    let now = state.clock.now();
    let key = ratelimit::LoginKeys::new(&email, client);
    if let Some(retry_after_secs) =
        ratelimit::blocked_for(&state.db, &state.config.auth, &key, now).await?
    {
        crate::metrics::login_failed("rate_limited");
        audit::record(
            &state.db,
            AuditEvent::new(now, None, action::LOGIN_FAILED)
                .target("rate_limited")
                .outcome(Outcome::Denied),
        )
        .await?;
        return Err(ApiError::RateLimited { retry_after_secs });
    }
    let user = users::Entity::find()
        .filter(users::Column::Email.eq(email.as_str()))
        .one(&state.db)
        .await?;
    let (ok, user) = match user {
        Some(u) => (
            password::verify(&state.hashing, password, u.password_hash.clone()).await?,
            Some(u),
        ),
        None => {
            password::verify(
                &state.hashing,
                password,
                state.dummy_password_hash.to_string(),
            )
            .await?;
            (false, None)
        }
    };
    let user = match user {
        Some(u) if ok && u.disabled_at.is_none() => u,
        other => {
            ratelimit::record_failure(&state.db, &state.config.auth, &key, now).await?;
            crate::metrics::login_failed("bad_credentials");
            audit::record(
                &state.db,
                AuditEvent::new(now, other.map(|u| UserId(u.id)), action::LOGIN_FAILED)
                    .outcome(Outcome::Denied),
            )
            .await?;
            return Err(ApiError::InvalidCredentials);
        }
    };
    ratelimit::clear(&state.db, &key).await?;
    Ok(user)
}

/// Logs in by email and password from an unknown address (see [`login_from`]).
pub async fn login(
    state: &AppState,
    email: Email,
    password: Password,
    device_name: Option<String>,
) -> Result<LoginResponse, ApiError> {
    login_from(state, email, password, device_name, None).await
}

/// Logs in by email and password from `client` and issues a token (see
/// [`check_credentials`] for the limits).
pub async fn login_from(
    state: &AppState,
    email: Email,
    password: Password,
    device_name: Option<String>,
    client: Option<std::net::IpAddr>,
) -> Result<LoginResponse, ApiError> {
    let now = state.clock.now();
    let user = check_credentials(state, email, password, client).await?;
    let device_name = clean_device_name(device_name)?;
    let (kind, ttl) = match device_name {
        Some(_) => (TokenKind::Device, state.config.auth.device_token_ttl()),
        None => (TokenKind::Web, state.config.auth.web_token_ttl()),
    };
    let txn = crate::db::begin_write(&state.db).await?;
    let issued = token::issue(&txn, now, UserId(user.id), kind, device_name, ttl).await?;
    audit::record(
        &txn,
        AuditEvent::new(now, Some(UserId(user.id)), action::LOGIN).target(issued.id.to_string()),
    )
    .await?;
    txn.commit().await?;
    let patient_id = patient_of_user(&state.db, &user).await?;
    Ok(LoginResponse {
        token: issued.secret,
        expires_at: issued.expires_at,
        user: UserView::from_model(user, patient_id)?,
    })
}

fn clean_device_name(name: Option<String>) -> Result<Option<String>, ApiError> {
    match name.map(|n| n.trim().to_owned()) {
        None => Ok(None),
        Some(n) if n.is_empty() => Ok(None),
        Some(n) if n.chars().count() > 100 => Err(crate::domain::ParseError {
            field: "device_name",
            rule: "must be at most 100 characters",
        }
        .into()),
        Some(n) => Ok(Some(n)),
    }
}

async fn patient_of_user(
    conn: &impl ConnectionTrait,
    user: &users::Model,
) -> Result<Option<PatientId>, DbErr> {
    if user.role != Role::Patient.as_str() {
        return Ok(None);
    }
    Ok(patients::Entity::find()
        .filter(patients::Column::UserId.eq(user.id))
        .one(conn)
        .await?
        .map(|p| PatientId(p.id)))
}

/// Redeems an invitation: creates the patient's account and a device token, and marks
/// the code used, all in one transaction.
pub async fn enrol(
    state: &AppState,
    code: &str,
    email: Email,
    password: Password,
    device_name: Option<String>,
) -> Result<LoginResponse, ApiError> {
    let device_name = clean_device_name(device_name)?;
    let code_hash = invitation_code_hash(code);
    let now = state.clock.now();
    // A wrong code costs no hashing (19 MiB and tens of milliseconds); the transaction
    // below checks again, for a code redeemed meanwhile.
    invitations::Entity::find()
        .filter(invitations::Column::CodeHash.eq(code_hash.clone()))
        .one(&state.db)
        .await?
        .filter(|i| i.used_at.is_none() && i.expires_at > now)
        .ok_or(ApiError::InvalidInvitation)?;
    // Hash before opening the transaction so no database lock is held for the hashing time.
    let password_hash = password::hash(&state.hashing, password).await?;
    let txn = crate::db::begin_write(&state.db).await?;
    let invitation = invitations::Entity::find()
        .filter(invitations::Column::CodeHash.eq(code_hash))
        .one(&txn)
        .await?
        .filter(|i| i.used_at.is_none() && i.expires_at > now)
        .ok_or(ApiError::InvalidInvitation)?;
    let patient = patients::Entity::find_by_id(invitation.patient_id)
        .one(&txn)
        .await?
        .filter(|p| p.erased_at.is_none() && p.user_id.is_none())
        .ok_or(ApiError::InvalidInvitation)?;
    // Conditional update: if two enrolments race on one code, exactly one wins.
    let claimed = invitations::Entity::update_many()
        .col_expr(invitations::Column::UsedAt, Expr::value(now))
        .filter(invitations::Column::Id.eq(invitation.id))
        .filter(invitations::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(ApiError::InvalidInvitation);
    }
    let user_id = UserId::new_random();
    let user = users::ActiveModel {
        id: Set(user_id.uuid()),
        clinic_id: Set(patient.clinic_id),
        email: Set(email.as_str().to_owned()),
        display_name: Set(patient.display_code.clone()),
        role: Set(Role::Patient.as_str().to_owned()),
        password_hash: Set(password_hash),
        created_at: Set(now),
        disabled_at: Set(None),
    }
    .insert(&txn)
    .await
    .map_err(conflict_if_taken("a user with this email"))?;
    let linked = patients::Entity::update_many()
        .col_expr(patients::Column::UserId, Expr::value(user_id.uuid()))
        .filter(patients::Column::Id.eq(patient.id))
        .filter(patients::Column::UserId.is_null())
        .exec(&txn)
        .await?;
    if linked.rows_affected != 1 {
        return Err(ApiError::InvalidInvitation);
    }
    let issued = token::issue(
        &txn,
        now,
        user_id,
        TokenKind::Device,
        device_name,
        state.config.auth.device_token_ttl(),
    )
    .await?;
    audit::record(
        &txn,
        AuditEvent::new(now, Some(user_id), action::PATIENT_ENROL).patient(PatientId(patient.id)),
    )
    .await?;
    txn.commit().await?;
    Ok(LoginResponse {
        token: issued.secret,
        expires_at: issued.expires_at,
        user: UserView::from_model(user, Some(PatientId(patient.id)))?,
    })
}

/// Revokes the token of the current request.
pub async fn logout(state: &AppState, actor: &AuthUser) -> Result<(), ApiError> {
    revoke_device(state, actor, actor.token_id).await
}

/// The caller's unexpired, unrevoked tokens, newest first.
pub async fn list_devices(state: &AppState, actor: &AuthUser) -> Result<Vec<DeviceView>, ApiError> {
    let now = state.clock.now();
    let rows = auth_tokens::Entity::find()
        .filter(auth_tokens::Column::UserId.eq(actor.user_id.uuid()))
        .filter(auth_tokens::Column::RevokedAt.is_null())
        .filter(auth_tokens::Column::ExpiresAt.gt(now))
        .order_by_desc(auth_tokens::Column::CreatedAt)
        .all(&state.db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|t| DeviceView {
            id: TokenId(t.id),
            current: t.id == actor.token_id.uuid(),
            kind: t.kind,
            device_name: t.device_name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            expires_at: t.expires_at,
        })
        .collect())
}

/// Revokes one of the caller's tokens; someone else's token id is `NotFound`.
pub async fn revoke_device(
    state: &AppState,
    actor: &AuthUser,
    id: TokenId,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let res = auth_tokens::Entity::update_many()
        .col_expr(auth_tokens::Column::RevokedAt, Expr::value(now))
        .filter(auth_tokens::Column::Id.eq(id.uuid()))
        .filter(auth_tokens::Column::UserId.eq(actor.user_id.uuid()))
        .filter(auth_tokens::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if res.rows_affected == 0 {
        return Err(ApiError::NotFound);
    }
    audit::record(
        &txn,
        AuditEvent::new(now, Some(actor.user_id), action::TOKEN_REVOKE).target(id.to_string()),
    )
    .await?;
    txn.commit().await?;
    state
        .access_changes
        .publish(crate::access_changes::AccessChange::TokenRevoked(id));
    Ok(())
}

/// The caller's own account.
pub async fn me(state: &AppState, actor: &AuthUser) -> Result<UserView, ApiError> {
    let user = users::Entity::find_by_id(actor.user_id.uuid())
        .one(&state.db)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let patient_id = patient_of_user(&state.db, &user).await?;
    UserView::from_model(user, patient_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitation_codes_are_formatted_and_normalised() {
        let code = new_invitation_code();
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        assert_eq!(
            invitation_code_hash(&code),
            invitation_code_hash(&code.to_lowercase().replace('-', " "))
        );
    }
}
