//! `GET /patients/{id}/documents`: where a patient's Automerge documents live, so any
//! automerge-repo client (JS/React Native, Swift, Kotlin, our Rust `sync` crate) can start
//! syncing from one REST call after login.
//!
//! Every ID in the answer is *derived* (docs/schema.md, "Document IDs"), so a client could
//! compute them itself; the endpoint saves it the SHA-256 and base58check code, tells it
//! which months the server already holds, and hands out the canonical genesis bytes of the
//! months it does not hold yet.
//!
//! Why genesis is served: a client that creates a new month offline must start it from
//! the canonical genesis change (fixed actor, time 0, the schema's empty root maps), or two
//! devices creating the same month would each `put_object` their own `pain` map and one
//! device's entries would hide behind the other's. JS, Swift and Kotlin automerge cannot
//! reproduce that change byte for byte through their `change()` APIs (JS automerge 3
//! writes strings as Text; operation order, actor and time must match exactly), so they
//! take the bytes from here and do `repo.import(genesisBytes, { docId })` with the month's
//! derived document ID. Every device then shares the same first change and their entries
//! land in the same root maps. The bytes are those of [`DocKind::genesis`].

use std::collections::BTreeMap;

use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use paindiary_sync::ids::{Month, PatientId as DocPatientId};
use paindiary_sync::schema::DocKind;
use serde::Serialize;

use crate::access::{self, PatientAccess};
use crate::audit::{self, AuditEvent, Outcome, action};
use crate::auth::AuthUser;
use crate::domain::PatientId;
use crate::error::{ApiError, Json};
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::storage;

/// The WebSocket path of the sync endpoint (relative to the server's base URL).
pub const SYNC_PATH: &str = "/sync";

/// A document's ID in both forms clients use.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentRef {
    /// base58check document ID (what `repo.import(.., { docId })` takes).
    pub document_id: String,
    /// `automerge:<document_id>` (what `repo.find` takes).
    pub url: String,
}

impl DocumentRef {
    fn of(kind: DocKind) -> Self {
        let id = kind.document_id();
        Self {
            document_id: id.to_string(),
            url: id.to_url(),
        }
    }
}

/// One month of the diary.
#[derive(Debug, Clone, Serialize)]
pub struct MonthRef {
    /// `YYYY-MM`, the patient's local calendar month.
    pub month: Month,
    /// Its derived document.
    #[serde(flatten)]
    pub document: DocumentRef,
    /// Whether the server holds the document already (`false`: create it from `genesis`).
    pub stored: bool,
}

/// The response body.
#[derive(Debug, Clone, Serialize)]
pub struct PatientDocuments {
    /// The patient.
    pub patient_id: PatientId,
    /// The index document (months that exist, care-plan URL).
    pub index: DocumentRef,
    /// The care-plan document (read-only for the patient's devices).
    pub care_plan: DocumentRef,
    /// Every month the server holds, plus the current and next month in the patient's
    /// time zone, oldest first.
    pub months: Vec<MonthRef>,
    /// Base64 canonical genesis bytes of every listed month the server does not hold yet.
    pub genesis: BTreeMap<Month, String>,
    /// The automerge-repo WebSocket path on this server (authenticate with a bearer header
    /// or `?token=`).
    pub sync_url: &'static str,
}

/// `GET /patients/{id}/documents`: the patient's document IDs and URLs, for the patient
/// and their care team. Admins and everyone else get 404, like for a missing patient.
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<PatientDocuments>, ApiError> {
    let now = state.clock.now();
    let event = AuditEvent::new(now, Some(user.user_id), action::DOCUMENT_LIST)
        .patient(id)
        .target("GET /api/v1/patients/{id}/documents");
    let patient = match access::visible_patient(&state.db, &user, id).await {
        // Admins manage enrolment, not care: the diary is not theirs to see.
        Ok((patient, PatientAccess::OwnRecord | PatientAccess::CareTeam)) => patient,
        Ok((_, PatientAccess::ClinicAdmin)) | Err(ApiError::NotFound) => {
            audit::record(&state.db, event.outcome(Outcome::Denied)).await?;
            return Err(ApiError::NotFound);
        }
        Err(e) => return Err(e),
    };

    let doc_patient = DocPatientId::from_uuid(patient.id);
    let mut stored: Vec<Month> = storage::list_for_patient(&state.db, patient.id)
        .await?
        .into_iter()
        .filter_map(|(_, meta)| match meta.kind {
            DocKind::DiaryMonth { month, .. } => Some(month),
            _ => None,
        })
        .collect();
    stored.sort_unstable();
    stored.dedup();

    let mut months: Vec<Month> = stored.clone();
    months.extend(current_and_next(now, &patient.timezone));
    months.sort_unstable();
    months.dedup();

    let mut genesis = BTreeMap::new();
    let months = months
        .into_iter()
        .map(|month| {
            let kind = DocKind::DiaryMonth {
                patient: doc_patient,
                month,
            };
            let is_stored = stored.binary_search(&month).is_ok();
            if !is_stored {
                genesis.insert(month, BASE64.encode(kind.genesis()));
            }
            MonthRef {
                month,
                document: DocumentRef::of(kind),
                stored: is_stored,
            }
        })
        .collect();

    audit::record(&state.db, event).await?;
    Ok(Json(PatientDocuments {
        patient_id: id,
        index: DocumentRef::of(DocKind::Index {
            patient: doc_patient,
        }),
        care_plan: DocumentRef::of(DocKind::CarePlan {
            patient: doc_patient,
        }),
        months,
        genesis,
        sync_url: SYNC_PATH,
    }))
}

/// The current and the next calendar month at `now` in time zone `tz` (UTC if the stored
/// zone does not parse, which enrolment prevents).
fn current_and_next(now: DateTime<Utc>, tz: &str) -> Vec<Month> {
    let local = match tz.parse::<chrono_tz::Tz>() {
        Ok(zone) => now.with_timezone(&zone).date_naive(),
        Err(_) => now.date_naive(),
    };
    let Some(current) = Month::of(local) else {
        return Vec::new();
    };
    std::iter::once(current).chain(current.next()).collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn current_month_follows_the_patients_zone() {
        // 23:30 UTC on 31 October is already 1 November in Berlin, still October in New York.
        let now = Utc.with_ymd_and_hms(2026, 10, 31, 23, 30, 0).unwrap();
        let months = |tz| {
            current_and_next(now, tz)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(months("Europe/Berlin"), ["2026-11", "2026-12"]);
        assert_eq!(months("America/New_York"), ["2026-10", "2026-11"]);
        assert_eq!(months("not a zone"), ["2026-10", "2026-11"]);
    }

    #[test]
    fn december_is_followed_by_january() {
        let now = Utc.with_ymd_and_hms(2026, 12, 15, 12, 0, 0).unwrap();
        let months: Vec<_> = current_and_next(now, "UTC")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(months, ["2026-12", "2027-01"]);
    }
}
