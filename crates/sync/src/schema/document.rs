//! The three document kinds of schema v1, their derived IDs and canonical genesis changes,
//! and the header (`schema`, `patient`, `month`) every document carries at its root.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc};

use super::entry::EntryKind;
use super::read::{self, FieldError};
use crate::ids::{DocumentId, Month, PatientId};

/// Schema tag of a month diary document.
pub const DIARY_MONTH_SCHEMA: &str = "paindiary/diary-month/v1";
/// Schema tag of a care-plan document.
pub const CARE_PLAN_SCHEMA: &str = "paindiary/care-plan/v1";
/// Schema tag of a patient's index document.
pub const INDEX_SCHEMA: &str = "paindiary/index/v1";

/// The actor of every genesis change. Fixed, so that every device and the server produce
/// byte-identical genesis changes (hence one change hash) for the same document.
pub const GENESIS_ACTOR: [u8; 16] = *b"paindiary-genesi";

/// Root maps of a care-plan document.
pub const CARE_PLAN_MAPS: [&str; 5] = [
    "medications",
    "exercises",
    "interventions",
    "thresholds",
    "goals",
];
/// Root maps of an index document.
pub const INDEX_MAPS: [&str; 1] = ["months"];

/// Which document, of which patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocKind {
    /// One calendar month of a patient's diary.
    DiaryMonth {
        /// Whose diary.
        patient: PatientId,
        /// Which local calendar month.
        month: Month,
    },
    /// The patient's care plan, written by the care team.
    CarePlan {
        /// Whose plan.
        patient: PatientId,
    },
    /// The patient's index: which months exist and where the care plan is.
    Index {
        /// Whose index.
        patient: PatientId,
    },
}

impl DocKind {
    /// The patient the document belongs to.
    pub fn patient(&self) -> PatientId {
        match *self {
            DocKind::DiaryMonth { patient, .. }
            | DocKind::CarePlan { patient }
            | DocKind::Index { patient } => patient,
        }
    }

    /// The schema tag.
    pub fn schema(&self) -> &'static str {
        match self {
            DocKind::DiaryMonth { .. } => DIARY_MONTH_SCHEMA,
            DocKind::CarePlan { .. } => CARE_PLAN_SCHEMA,
            DocKind::Index { .. } => INDEX_SCHEMA,
        }
    }

    /// The derived document ID: the first 16 bytes of SHA-256 over the schema tag, the
    /// patient's UUID bytes and (for a month) the `YYYY-MM` text, separated by zero bytes.
    pub fn document_id(&self) -> DocumentId {
        match self {
            DocKind::DiaryMonth { patient, month } => DocumentId::derive(
                DIARY_MONTH_SCHEMA,
                &[patient.as_uuid().as_bytes(), month.to_string().as_bytes()],
            ),
            DocKind::CarePlan { patient } | DocKind::Index { patient } => {
                DocumentId::derive(self.schema(), &[patient.as_uuid().as_bytes()])
            }
        }
    }

    fn root_maps(&self) -> &'static [&'static str] {
        const MONTH_MAPS: [&str; 5] = [
            EntryKind::Pain.map_key(),
            EntryKind::Medication.map_key(),
            EntryKind::Exercise.map_key(),
            EntryKind::Wellbeing.map_key(),
            EntryKind::Checkin.map_key(),
        ];
        match self {
            DocKind::DiaryMonth { .. } => &MONTH_MAPS,
            DocKind::CarePlan { .. } => &CARE_PLAN_MAPS,
            DocKind::Index { .. } => &INDEX_MAPS,
        }
    }

    /// The canonical genesis change: actor [`GENESIS_ACTOR`], time 0, no message, putting
    /// `schema`, `patient`, (`month`) and the kind's empty root maps, in that order.
    ///
    /// Two devices that create the same document offline produce these same bytes, so the
    /// documents share their first change and their root maps merge instead of one device's
    /// map hiding the other's.
    pub fn genesis(&self) -> Vec<u8> {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(GENESIS_ACTOR));
        // Writing fresh keys into an empty document cannot fail; the results are ignored
        // only because their error type is unreachable here.
        let _ = doc.put(ROOT, "schema", self.schema());
        let _ = doc.put(ROOT, "patient", self.patient().to_string());
        if let DocKind::DiaryMonth { month, .. } = self {
            let _ = doc.put(ROOT, "month", month.to_string());
        }
        for key in self.root_maps() {
            let _ = doc.put_object(ROOT, *key, ObjType::Map);
        }
        doc.commit_with(CommitOptions::default().with_time(0));
        doc.save_incremental()
    }

    /// A new document for this kind starting from its genesis, writing as `actor`.
    pub fn create(&self, actor: ActorId) -> Result<AutoCommit, DocumentError> {
        let doc = AutoCommit::load(&self.genesis()).map_err(|_| DocumentError::Corrupt)?;
        Ok(doc.with_actor(actor))
    }

    /// Reads a document's header and checks it names this kind, patient (and month).
    pub fn check<D: ReadDoc>(&self, doc: &D) -> Result<(), DocumentError> {
        let header = Header::read(doc)?;
        if header.kind()? == *self {
            Ok(())
        } else {
            Err(DocumentError::HeaderMismatch)
        }
    }
}

/// Why a document as a whole cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The root has no `schema`, `patient` (or `month`) that we can read.
    #[error("document header is unreadable: {0}")]
    Header(#[from] FieldError),
    /// The `schema` tag is not one we know (a newer app version, or not our document).
    #[error("unknown document schema {0:?}")]
    UnknownSchema(String),
    /// `patient` is not a UUID or `month` is not `YYYY-MM`.
    #[error("document header has a malformed {0}")]
    MalformedHeader(&'static str),
    /// The header names another patient, month or kind than the document ID implies.
    #[error("document header does not match its document ID")]
    HeaderMismatch,
    /// The bytes are not an Automerge document.
    #[error("document bytes are not a valid Automerge document")]
    Corrupt,
}

/// The header fields at a document's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The schema tag.
    pub schema: String,
    /// The patient's ID, as text.
    pub patient: String,
    /// The month, for diary documents.
    pub month: Option<String>,
}

impl Header {
    /// Reads the header from a document's root.
    pub fn read<D: ReadDoc>(doc: &D) -> Result<Self, DocumentError> {
        Ok(Self {
            schema: read::string(doc, &ROOT, "schema")?,
            patient: read::string(doc, &ROOT, "patient")?,
            month: read::opt_string(doc, &ROOT, "month")?,
        })
    }

    /// The document kind the header describes.
    pub fn kind(&self) -> Result<DocKind, DocumentError> {
        let patient = self
            .patient
            .parse::<PatientId>()
            .map_err(|_| DocumentError::MalformedHeader("patient"))?;
        match self.schema.as_str() {
            DIARY_MONTH_SCHEMA => {
                let month = self
                    .month
                    .as_deref()
                    .ok_or(DocumentError::MalformedHeader("month"))?
                    .parse::<Month>()
                    .map_err(|_| DocumentError::MalformedHeader("month"))?;
                Ok(DocKind::DiaryMonth { patient, month })
            }
            CARE_PLAN_SCHEMA => Ok(DocKind::CarePlan { patient }),
            INDEX_SCHEMA => Ok(DocKind::Index { patient }),
            other => Err(DocumentError::UnknownSchema(
                other.chars().take(64).collect(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient() -> PatientId {
        "0190f5a4-7c1e-7000-8000-000000000001".parse().unwrap()
    }

    #[test]
    fn genesis_is_byte_identical_across_calls_and_differs_per_document() {
        let month = DocKind::DiaryMonth {
            patient: patient(),
            month: "2026-11".parse().unwrap(),
        };
        assert_eq!(month.genesis(), month.genesis());
        let other = DocKind::DiaryMonth {
            patient: patient(),
            month: "2026-12".parse().unwrap(),
        };
        assert_ne!(month.genesis(), other.genesis());
        assert_ne!(month.document_id(), other.document_id());
    }

    #[test]
    fn created_documents_read_back_their_kind() {
        for kind in [
            DocKind::DiaryMonth {
                patient: patient(),
                month: "2026-11".parse().unwrap(),
            },
            DocKind::CarePlan { patient: patient() },
            DocKind::Index { patient: patient() },
        ] {
            let doc = kind.create(ActorId::random()).unwrap();
            assert_eq!(Header::read(&doc).unwrap().kind().unwrap(), kind);
            kind.check(&doc).unwrap();
        }
    }

    #[test]
    fn two_devices_creating_the_same_month_share_one_genesis_change() {
        let kind = DocKind::DiaryMonth {
            patient: patient(),
            month: "2026-11".parse().unwrap(),
        };
        let mut a = kind.create(ActorId::random()).unwrap();
        let mut b = kind.create(ActorId::random()).unwrap();
        assert_eq!(a.get_heads(), b.get_heads());
        a.merge(&mut b).unwrap();
        assert_eq!(a.get_heads().len(), 1);
    }
}
