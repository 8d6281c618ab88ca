//! Schema v1 of Paindiary's Automerge documents: month diaries, care plans and indexes.
//!
//! Reading is lenient (strings as Text or scalars, unknown fields ignored, unreadable
//! entries reported rather than failing the document); writing is strict (validated,
//! field by field, so concurrent edits of different fields both survive).

pub mod care_plan;
pub mod document;
pub mod entry;
pub mod index;
pub mod month;
pub(crate) mod read;
pub mod vocab;

pub use document::{DocKind, DocumentError, Header};
pub use entry::{
    Entry, EntryKind, EntryMeta, ExerciseSession, MedicationIntake, PainEntry, PegCheckin,
    QuestionnaireResponse, ValidationError, WellbeingEntry,
};
pub use month::{MonthEntries, StoredEntry, UnreadableEntry, WriteError};
pub use read::FieldError;
