//! Who may sync which document: the access rule of DESIGN.md applied to documents.
//!
//! Patients read and write their own diary months and read their index and care plan;
//! their care team reads diaries and the index and writes the care plan; nobody else
//! sees anything. Denial and absence look the same on the wire (`doc-unavailable`).

use paindiary_sync::ids::{DocumentId, PatientId as DocPatientId};
use paindiary_sync::schema::DocKind;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};

use crate::access::{PatientAccess, access_to, visible_patients};
use crate::auth::AuthUser;
use crate::entity::patients;
use crate::storage::{self, DocumentMeta};

/// What a peer may do with a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocAccess {
    /// Sync it and send changes.
    ReadWrite(DocumentMeta),
    /// Sync it; changes it sends are ignored.
    ReadOnly(DocumentMeta),
    /// A document the server does not hold yet, which this patient may create: a new
    /// diary month. Its header is checked against its ID before anything is stored.
    NewMonth(DocPatientId),
    /// Not visible (or not existing: the peer cannot tell).
    Unavailable,
}

impl DocAccess {
    /// The document's registry entry, when it exists.
    pub fn meta(&self) -> Option<DocumentMeta> {
        match self {
            DocAccess::ReadWrite(m) | DocAccess::ReadOnly(m) => Some(*m),
            DocAccess::NewMonth(_) | DocAccess::Unavailable => None,
        }
    }

    /// Whether changes from this peer may be applied.
    pub fn can_write(&self) -> bool {
        matches!(self, DocAccess::ReadWrite(_) | DocAccess::NewMonth(_))
    }
}

/// Decides `user`'s access to document `id`. A patient's index and care plan are known by
/// their derived IDs even before the server first stores them, so they resolve here too
/// (the caller creates them from their genesis).
pub async fn resolve(
    conn: &impl ConnectionTrait,
    user: &AuthUser,
    id: &DocumentId,
) -> Result<DocAccess, DbErr> {
    if let Some(meta) = storage::find(conn, id).await? {
        let patient = meta.kind.patient();
        let Some(row) = patients::Entity::find_by_id(*patient.as_uuid())
            .one(conn)
            .await?
        else {
            return Ok(DocAccess::Unavailable);
        };
        return Ok(match (access_to(conn, user, &row).await?, meta.kind) {
            (Some(PatientAccess::OwnRecord), DocKind::DiaryMonth { .. }) => {
                DocAccess::ReadWrite(meta)
            }
            (Some(PatientAccess::OwnRecord), _) => DocAccess::ReadOnly(meta),
            (Some(PatientAccess::CareTeam), DocKind::CarePlan { .. }) => DocAccess::ReadWrite(meta),
            (Some(PatientAccess::CareTeam), _) => DocAccess::ReadOnly(meta),
            // Admins manage enrolment, not care: they do not read diaries.
            (Some(PatientAccess::ClinicAdmin), _) | (None, _) => DocAccess::Unavailable,
        });
    }
    // Not stored yet: one of the caller's patients' index or care plan, or a new month.
    for row in visible_patients(conn, user).await? {
        let access = match access_to(conn, user, &row).await? {
            Some(access @ (PatientAccess::OwnRecord | PatientAccess::CareTeam)) => access,
            _ => continue,
        };
        let patient = DocPatientId::from_uuid(row.id);
        for kind in [DocKind::Index { patient }, DocKind::CarePlan { patient }] {
            if kind.document_id() == *id {
                let meta = DocumentMeta { kind };
                let writable =
                    access == PatientAccess::CareTeam && matches!(kind, DocKind::CarePlan { .. });
                return Ok(if writable {
                    DocAccess::ReadWrite(meta)
                } else {
                    DocAccess::ReadOnly(meta)
                });
            }
        }
        if access == PatientAccess::OwnRecord {
            return Ok(DocAccess::NewMonth(patient));
        }
    }
    Ok(DocAccess::Unavailable)
}
