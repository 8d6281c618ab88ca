//! Diary entries of schema v1 (pain, medication intake, exercise, wellbeing, PEG check-in,
//! questionnaire response):
//! how they are read out of a document, validated, and described as field writes.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use automerge::{ObjId, ObjType, ReadDoc};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::read::{self, FieldError};
use super::vocab::{BodyRegion, DoseUnit, IntakeStatus, PainQuality, Route, UnknownTerm};
use crate::questionnaire::{self, AnswerError};

/// Longest free-text note, in characters.
pub const MAX_NOTE_CHARS: usize = 4_000;
/// Longest short text (drug name, activity, location note), in characters.
pub const MAX_SHORT_TEXT_CHARS: usize = 200;
/// Most body locations on one pain entry.
pub const MAX_LOCATIONS: usize = 12;
/// Most qualities on one pain entry.
pub const MAX_QUALITIES: usize = 12;
/// How far in the future `recorded_at` may be (phones' clocks drift; time zones differ).
pub const MAX_FUTURE_SKEW: chrono::TimeDelta = chrono::TimeDelta::hours(48);

/// Longest instrument ID of a questionnaire response, in characters.
pub const MAX_INSTRUMENT_CHARS: usize = 64;
/// Longest instrument version of a questionnaire response, in characters.
pub const MAX_VERSION_CHARS: usize = 16;

/// The six kinds of diary entry, each a map at the root of a month document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// NRS pain scores with locations and qualities.
    Pain,
    /// Medication intakes (taken or skipped).
    Medication,
    /// Exercise sessions.
    Exercise,
    /// Sleep, mood and stress.
    Wellbeing,
    /// Weekly PEG check-ins.
    Checkin,
    /// Responses to validated questionnaires (PHQ-9, GAD-7, PEG, clinic-defined).
    Questionnaire,
}

impl EntryKind {
    /// Every kind, in schema order.
    pub const ALL: [EntryKind; 6] = [
        EntryKind::Pain,
        EntryKind::Medication,
        EntryKind::Exercise,
        EntryKind::Wellbeing,
        EntryKind::Checkin,
        EntryKind::Questionnaire,
    ];

    /// The root key of this kind's map in a month document.
    pub const fn map_key(self) -> &'static str {
        match self {
            EntryKind::Pain => "pain",
            EntryKind::Medication => "medications",
            EntryKind::Exercise => "exercise",
            EntryKind::Wellbeing => "wellbeing",
            EntryKind::Checkin => "checkins",
            EntryKind::Questionnaire => "questionnaires",
        }
    }

    /// The kind whose map is at `key`.
    pub fn from_map_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.map_key() == key)
    }

    /// Whether this kind's root map is created by its first entry rather than by the
    /// month's genesis change (kinds added after schema v1 was published).
    pub const fn is_lazy(self) -> bool {
        matches!(self, EntryKind::Questionnaire)
    }

    /// A short stable name (`pain`, `medication`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            EntryKind::Pain => "pain",
            EntryKind::Medication => "medication",
            EntryKind::Exercise => "exercise",
            EntryKind::Wellbeing => "wellbeing",
            EntryKind::Checkin => "checkin",
            EntryKind::Questionnaire => "questionnaire",
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntryKind {
    type Err = UnknownTerm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownTerm {
                vocabulary: "entry kind",
                term: s.chars().take(40).collect(),
            })
    }
}

/// What one entry is wrong about. An invalid entry stays in the document (nothing a patient
/// typed is dropped); it is kept out of trends and alerts and shown as an issue.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum ValidationError {
    /// A 0-10 scale value outside 0-10.
    #[error("{field} must be between 0 and 10, got {value}")]
    OutOfScale {
        /// The field.
        field: &'static str,
        /// The value found.
        value: f64,
    },
    /// A value that must be a whole number is not.
    #[error("{field} must be a whole number, got {value}")]
    NotWholeNumber {
        /// The field.
        field: &'static str,
        /// The value found.
        value: f64,
    },
    /// A number outside its plausible range.
    #[error("{field} must be between {min} and {max}, got {value}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value found.
        value: f64,
        /// Smallest accepted value.
        min: f64,
        /// Largest accepted value.
        max: f64,
    },
    /// A dose of zero or less.
    #[error("dose amount must be greater than 0, got {amount}")]
    DoseNotPositive {
        /// The amount found.
        amount: f64,
    },
    /// A dose far larger than any real single dose of that unit.
    #[error("dose of {amount} {unit} is larger than the {max} {unit} accepted for one intake")]
    DoseTooLarge {
        /// The amount found.
        amount: f64,
        /// The unit.
        unit: DoseUnit,
        /// The largest accepted amount.
        max: f64,
    },
    /// A vocabulary term the schema does not know.
    #[error("{field}: {term}")]
    UnknownTerm {
        /// The field.
        field: &'static str,
        /// The unknown term.
        #[serde(flatten)]
        term: UnknownTermDetail,
    },
    /// A list with more items than allowed.
    #[error("{field} has {count} items, at most {max} are allowed")]
    TooMany {
        /// The field.
        field: &'static str,
        /// How many were found.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A text longer than allowed.
    #[error("{field} is {chars} characters long, at most {max} are allowed")]
    TextTooLong {
        /// The field.
        field: &'static str,
        /// Its length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A required text that is empty.
    #[error("{field} must not be empty")]
    EmptyText {
        /// The field.
        field: &'static str,
    },
    /// `recorded_at` lies more than 48 hours after the time of validation.
    #[error("recorded_at {recorded_at} is more than 48 hours in the future")]
    InFuture {
        /// The instant found.
        recorded_at: DateTime<Utc>,
    },
    /// The time zone is not an IANA zone name.
    #[error("time zone {tz:?} is not a known IANA time zone")]
    UnknownTimeZone {
        /// The zone text, cut to 40 characters.
        tz: String,
    },
    /// Worst pain below least pain.
    #[error("worst pain ({worst}) is below least pain ({least})")]
    WorstBelowLeast {
        /// Worst.
        worst: f64,
        /// Least.
        least: f64,
    },
    /// A required field was removed, or holds a value of another type.
    #[error("{field} is required and must be {expected}")]
    Required {
        /// The field.
        field: &'static str,
        /// What the schema expects, in words.
        expected: &'static str,
    },
    /// A wellbeing entry with none of its measures.
    #[error("a wellbeing entry needs at least one of sleep_hours, sleep_quality, mood, stress")]
    NothingRecorded,
    /// A questionnaire response naming an instrument (or version) no definition is known
    /// for. The response is kept and shown as an issue; it is not scored.
    #[error("unknown instrument {instrument:?} version {version:?}")]
    UnknownInstrument {
        /// The instrument ID, cut to 40 characters.
        instrument: String,
        /// The version, cut to 40 characters.
        version: String,
    },
    /// An answer to an item the instrument does not have.
    #[error("{instrument} has no item {item:?}")]
    UnknownItem {
        /// The instrument.
        instrument: String,
        /// The link ID found, cut to 40 characters.
        item: String,
    },
    /// An answer outside the item's scale or not a whole number.
    #[error(
        "answer to {instrument} item {item} must be a whole number from {min} to {max}, got {value}"
    )]
    InvalidAnswer {
        /// The instrument.
        instrument: String,
        /// The item's link ID.
        item: String,
        /// The answer found.
        value: f64,
        /// Smallest accepted answer.
        min: i64,
        /// Largest accepted answer.
        max: i64,
    },
    /// A questionnaire response without any answer.
    #[error("a questionnaire response needs at least one answer")]
    NoAnswers,
}

impl From<AnswerError> for ValidationError {
    fn from(e: AnswerError) -> Self {
        match e {
            AnswerError::UnknownInstrument {
                instrument,
                version,
            } => ValidationError::UnknownInstrument {
                instrument,
                version,
            },
            AnswerError::UnknownItem { instrument, item } => {
                ValidationError::UnknownItem { instrument, item }
            }
            AnswerError::InvalidAnswer {
                instrument,
                item,
                value,
                min,
                max,
            } => ValidationError::InvalidAnswer {
                instrument,
                item,
                value,
                min,
                max,
            },
            AnswerError::NoAnswers => ValidationError::NoAnswers,
        }
    }
}

/// The unknown term of a [`ValidationError::UnknownTerm`], for serialisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownTermDetail {
    /// Which vocabulary.
    pub vocabulary: &'static str,
    /// The unknown text.
    pub term: String,
}

impl fmt::Display for UnknownTermDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?}", self.vocabulary, self.term)
    }
}

impl ValidationError {
    fn unknown(field: &'static str, e: UnknownTerm) -> Self {
        ValidationError::UnknownTerm {
            field,
            term: UnknownTermDetail {
                vocabulary: e.vocabulary,
                term: e.term,
            },
        }
    }
}

/// Every field name of any kind of entry: what [`Entry::read`] takes out of an entry's map
/// (anything else in the map is ignored).
pub(crate) static ENTRY_FIELDS: read::Fields<33> = read::Fields {
    names: [
        "activity",
        "amount",
        "answers",
        "deleted_at",
        "drug",
        "enjoyment",
        "exertion",
        "instrument",
        "least",
        "location_note",
        "locations",
        "minutes",
        "mood",
        "note",
        "pain",
        "prn",
        "prn_reason",
        "qualities",
        "recorded_at",
        "reps",
        "route",
        "rxnorm",
        "score",
        "sets",
        "sleep_hours",
        "sleep_quality",
        "status",
        "stress",
        "tz",
        "unit",
        "updated_at",
        "version",
        "worst",
    ],
    slot: entry_field_slot,
};

fn entry_field_slot(key: &str) -> Option<usize> {
    Some(match key {
        "activity" => 0,
        "amount" => 1,
        "answers" => 2,
        "deleted_at" => 3,
        "drug" => 4,
        "enjoyment" => 5,
        "exertion" => 6,
        "instrument" => 7,
        "least" => 8,
        "location_note" => 9,
        "locations" => 10,
        "minutes" => 11,
        "mood" => 12,
        "note" => 13,
        "pain" => 14,
        "prn" => 15,
        "prn_reason" => 16,
        "qualities" => 17,
        "recorded_at" => 18,
        "reps" => 19,
        "route" => 20,
        "rxnorm" => 21,
        "score" => 22,
        "sets" => 23,
        "sleep_hours" => 24,
        "sleep_quality" => 25,
        "status" => 26,
        "stress" => 27,
        "tz" => 28,
        "unit" => 29,
        "updated_at" => 30,
        "version" => 31,
        "worst" => 32,
        _ => return None,
    })
}

/// The fields of one entry's map, found in one pass.
pub(crate) type EntryFields<'a, D> = read::MapFields<'a, D, 33>;

/// Fields every entry carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryMeta {
    /// When the patient says it happened (UTC).
    pub recorded_at: DateTime<Utc>,
    /// The patient's IANA time zone at that moment; "a day" is the local day in this zone.
    pub tz: String,
    /// Set when the entry was deleted (a tombstone; entries are never removed).
    pub deleted_at: Option<DateTime<Utc>>,
    /// Set by every edit after creation.
    pub updated_at: Option<DateTime<Utc>>,
}

impl EntryMeta {
    fn read<D: ReadDoc>(f: &EntryFields<'_, D>) -> Result<Self, FieldError> {
        Ok(Self {
            recorded_at: f.instant("recorded_at")?,
            tz: f.string("tz")?,
            deleted_at: f.opt_instant("deleted_at")?,
            updated_at: f.opt_instant("updated_at")?,
        })
    }

    /// The patient's time zone, parsed.
    pub fn time_zone(&self) -> Result<chrono_tz::Tz, ValidationError> {
        self.tz
            .parse::<chrono_tz::Tz>()
            .map_err(|_| ValidationError::UnknownTimeZone {
                tz: self.tz.chars().take(40).collect(),
            })
    }

    /// The patient's local calendar day of `recorded_at`.
    pub fn local_date(&self) -> Result<NaiveDate, ValidationError> {
        Ok(self
            .recorded_at
            .with_timezone(&self.time_zone()?)
            .date_naive())
    }

    /// Whether the entry has been deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    fn validate(&self, now: DateTime<Utc>, errors: &mut Vec<ValidationError>) {
        if self.recorded_at > now + MAX_FUTURE_SKEW {
            errors.push(ValidationError::InFuture {
                recorded_at: self.recorded_at,
            });
        }
        if let Err(e) = self.time_zone() {
            errors.push(e);
        }
    }
}

/// A pain report on the 0-10 numeric rating scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PainEntry {
    /// Common fields.
    #[serde(flatten)]
    pub meta: EntryMeta,
    /// Current pain, NRS 0-10 (required).
    pub score: f64,
    /// Worst pain since the last entry, 0-10.
    pub worst: Option<f64>,
    /// Least pain since the last entry, 0-10.
    pub least: Option<f64>,
    /// Body region codes ([`BodyRegion`]).
    pub locations: Vec<String>,
    /// Free text about where it hurts, for what the regions cannot say.
    pub location_note: Option<String>,
    /// Quality codes ([`PainQuality`]).
    pub qualities: Vec<String>,
    /// Free-text note.
    pub note: Option<String>,
}

/// One medication dose, taken or skipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MedicationIntake {
    /// Common fields.
    #[serde(flatten)]
    pub meta: EntryMeta,
    /// Drug name as the patient knows it (generic or brand).
    pub drug: String,
    /// RxNorm concept ID, when the app resolved one.
    pub rxnorm: Option<String>,
    /// Amount, in `unit`.
    pub amount: f64,
    /// Unit code ([`DoseUnit`]).
    pub unit: String,
    /// Route code ([`Route`]).
    pub route: Option<String>,
    /// `taken` (default) or `skipped` ([`IntakeStatus`]).
    pub status: String,
    /// Taken as needed rather than on schedule.
    pub prn: bool,
    /// Why an as-needed dose was taken.
    pub prn_reason: Option<String>,
    /// Free-text note.
    pub note: Option<String>,
}

/// One exercise session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExerciseSession {
    /// Common fields.
    #[serde(flatten)]
    pub meta: EntryMeta,
    /// What was done ("walking", "prescribed back routine").
    pub activity: String,
    /// Duration in minutes.
    pub minutes: f64,
    /// Sets, for strength work.
    pub sets: Option<f64>,
    /// Repetitions per set.
    pub reps: Option<f64>,
    /// Perceived exertion, 0-10.
    pub exertion: Option<f64>,
    /// Free-text note.
    pub note: Option<String>,
}

/// Sleep, mood and stress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WellbeingEntry {
    /// Common fields.
    #[serde(flatten)]
    pub meta: EntryMeta,
    /// Hours slept last night.
    pub sleep_hours: Option<f64>,
    /// Sleep quality, 0 (worst) to 10 (best).
    pub sleep_quality: Option<f64>,
    /// Mood, 0 (worst) to 10 (best).
    pub mood: Option<f64>,
    /// Stress, 0 (none) to 10 (worst).
    pub stress: Option<f64>,
    /// Free-text note.
    pub note: Option<String>,
}

/// The weekly PEG check-in (Krebs et al. 2009): three 0-10 items about the past week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PegCheckin {
    /// Common fields.
    #[serde(flatten)]
    pub meta: EntryMeta,
    /// P: average pain in the past week.
    pub pain: f64,
    /// E: how much pain interfered with enjoyment of life.
    pub enjoyment: f64,
    /// G: how much pain interfered with general activity.
    pub activity: f64,
    /// Free-text note.
    pub note: Option<String>,
}

impl PegCheckin {
    /// The PEG score: the mean of the three items.
    pub fn score(&self) -> f64 {
        (self.pain + self.enjoyment + self.activity) / 3.0
    }
}

/// A response to a validated questionnaire. `recorded_at` is when it was answered (the
/// FHIR `authored` time), so its local day, late-data rule and month follow the other
/// entries' rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionnaireResponse {
    /// Common fields.
    #[serde(flatten)]
    pub meta: EntryMeta,
    /// The instrument's ID ([`questionnaire::Instrument::id`]: `phq9`, `gad7`, `peg`, or a
    /// clinic-defined one).
    pub instrument: String,
    /// The version of the instrument's definition answered.
    pub version: String,
    /// Item link ID -> answer (a whole number on the item's scale). Unanswered items are
    /// absent.
    pub answers: BTreeMap<String, f64>,
    /// Free-text note.
    pub note: Option<String>,
}

impl QuestionnaireResponse {
    /// The built-in definition answered, if it is one.
    pub fn built_in(&self) -> Option<&'static questionnaire::Instrument> {
        questionnaire::built_in(&self.instrument, &self.version)
    }

    /// The score by the built-in definition (`None` for another instrument).
    pub fn score(&self) -> Option<questionnaire::Score> {
        self.built_in()
            .map(|def| questionnaire::score(def, &self.answers))
    }
}

/// Any diary entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A pain report.
    Pain(PainEntry),
    /// A medication intake.
    Medication(MedicationIntake),
    /// An exercise session.
    Exercise(ExerciseSession),
    /// A wellbeing entry.
    Wellbeing(WellbeingEntry),
    /// A PEG check-in.
    Checkin(PegCheckin),
    /// A questionnaire response.
    Questionnaire(QuestionnaireResponse),
}

impl Entry {
    /// The entry's kind.
    pub fn kind(&self) -> EntryKind {
        match self {
            Entry::Pain(_) => EntryKind::Pain,
            Entry::Medication(_) => EntryKind::Medication,
            Entry::Exercise(_) => EntryKind::Exercise,
            Entry::Wellbeing(_) => EntryKind::Wellbeing,
            Entry::Checkin(_) => EntryKind::Checkin,
            Entry::Questionnaire(_) => EntryKind::Questionnaire,
        }
    }

    /// The common fields.
    pub fn meta(&self) -> &EntryMeta {
        match self {
            Entry::Pain(e) => &e.meta,
            Entry::Medication(e) => &e.meta,
            Entry::Exercise(e) => &e.meta,
            Entry::Wellbeing(e) => &e.meta,
            Entry::Checkin(e) => &e.meta,
            Entry::Questionnaire(e) => &e.meta,
        }
    }

    /// Reads an entry of `kind` from the map `obj`.
    ///
    /// The map is read in one pass; each field is then read leniently (see
    /// [`FieldError`] for what is refused).
    pub fn read<D: ReadDoc>(doc: &D, obj: &ObjId, kind: EntryKind) -> Result<Self, FieldError> {
        let fields = match doc.object_type(obj) {
            Ok(ObjType::Map) => read::read_tree(doc, obj, &ENTRY_FIELDS, false, 1)
                .pop()
                .and_then(|(_, found)| match found {
                    read::Found::Map(fields) => Some(fields),
                    read::Found::ReadAlone(_) | read::Found::NotAMap => None,
                })
                .unwrap_or_else(|| EntryFields::not_a_map(doc, &ENTRY_FIELDS)),
            Ok(ObjType::Table) => EntryFields::read(doc, obj, &ENTRY_FIELDS),
            Ok(ObjType::List | ObjType::Text) | Err(_) => {
                EntryFields::not_a_map(doc, &ENTRY_FIELDS)
            }
        };
        Self::from_fields(&fields, kind)
    }

    /// Reads an entry of `kind` from fields already found.
    pub(crate) fn from_fields<D: ReadDoc>(
        f: &EntryFields<'_, D>,
        kind: EntryKind,
    ) -> Result<Self, FieldError> {
        let meta = EntryMeta::read(f)?;
        let note = f.opt_string("note")?;
        Ok(match kind {
            EntryKind::Pain => Entry::Pain(PainEntry {
                meta,
                score: f.number("score")?,
                worst: f.opt_number("worst")?,
                least: f.opt_number("least")?,
                locations: f.string_list("locations")?,
                location_note: f.opt_string("location_note")?,
                qualities: f.string_list("qualities")?,
                note,
            }),
            EntryKind::Medication => Entry::Medication(MedicationIntake {
                meta,
                drug: f.string("drug")?,
                rxnorm: f.opt_string("rxnorm")?,
                amount: f.number("amount")?,
                unit: f.string("unit")?,
                route: f.opt_string("route")?,
                status: f
                    .opt_string("status")?
                    .unwrap_or_else(|| IntakeStatus::Taken.as_str().to_owned()),
                prn: f.opt_bool("prn")?.unwrap_or(false),
                prn_reason: f.opt_string("prn_reason")?,
                note,
            }),
            EntryKind::Exercise => Entry::Exercise(ExerciseSession {
                meta,
                activity: f.string("activity")?,
                minutes: f.number("minutes")?,
                sets: f.opt_number("sets")?,
                reps: f.opt_number("reps")?,
                exertion: f.opt_number("exertion")?,
                note,
            }),
            EntryKind::Wellbeing => Entry::Wellbeing(WellbeingEntry {
                meta,
                sleep_hours: f.opt_number("sleep_hours")?,
                sleep_quality: f.opt_number("sleep_quality")?,
                mood: f.opt_number("mood")?,
                stress: f.opt_number("stress")?,
                note,
            }),
            EntryKind::Checkin => Entry::Checkin(PegCheckin {
                meta,
                pain: f.number("pain")?,
                enjoyment: f.number("enjoyment")?,
                activity: f.number("activity")?,
                note,
            }),
            EntryKind::Questionnaire => Entry::Questionnaire(QuestionnaireResponse {
                meta,
                instrument: f.string("instrument")?,
                version: f.string("version")?,
                answers: f.number_map("answers")?,
                note,
            }),
        })
    }

    /// Every problem with this entry as of `now` (empty when valid).
    pub fn validate(&self, now: DateTime<Utc>) -> Vec<ValidationError> {
        let mut errors = Vec::new();
        self.meta().validate(now, &mut errors);
        let e = &mut errors;
        match self {
            Entry::Pain(p) => {
                scale(e, "score", Some(p.score));
                scale(e, "worst", p.worst);
                scale(e, "least", p.least);
                if let (Some(worst), Some(least)) = (p.worst, p.least)
                    && worst < least
                {
                    e.push(ValidationError::WorstBelowLeast { worst, least });
                }
                terms::<BodyRegion>(e, "locations", &p.locations, MAX_LOCATIONS);
                terms::<PainQuality>(e, "qualities", &p.qualities, MAX_QUALITIES);
                text(
                    e,
                    "location_note",
                    p.location_note.as_deref(),
                    MAX_SHORT_TEXT_CHARS,
                );
                text(e, "note", p.note.as_deref(), MAX_NOTE_CHARS);
            }
            Entry::Medication(m) => {
                required_text(e, "drug", &m.drug, MAX_SHORT_TEXT_CHARS);
                text(e, "rxnorm", m.rxnorm.as_deref(), 16);
                let unit = m.unit.parse::<DoseUnit>();
                // A dose must be positive whatever its unit; "too large" needs a known unit.
                if m.amount.is_nan() || m.amount <= 0.0 {
                    e.push(ValidationError::DoseNotPositive { amount: m.amount });
                } else if let Ok(unit) = unit
                    && m.amount > unit.max_single_dose()
                {
                    e.push(ValidationError::DoseTooLarge {
                        amount: m.amount,
                        unit,
                        max: unit.max_single_dose(),
                    });
                }
                if let Err(err) = unit {
                    e.push(ValidationError::unknown("unit", err));
                }
                if let Some(route) = &m.route
                    && let Err(err) = route.parse::<Route>()
                {
                    e.push(ValidationError::unknown("route", err));
                }
                if let Err(err) = m.status.parse::<IntakeStatus>() {
                    e.push(ValidationError::unknown("status", err));
                }
                text(
                    e,
                    "prn_reason",
                    m.prn_reason.as_deref(),
                    MAX_SHORT_TEXT_CHARS,
                );
                text(e, "note", m.note.as_deref(), MAX_NOTE_CHARS);
            }
            Entry::Exercise(x) => {
                required_text(e, "activity", &x.activity, MAX_SHORT_TEXT_CHARS);
                range(e, "minutes", Some(x.minutes), 1.0, 24.0 * 60.0);
                range(e, "sets", x.sets, 0.0, 100.0);
                range(e, "reps", x.reps, 0.0, 1_000.0);
                whole(e, "sets", x.sets);
                whole(e, "reps", x.reps);
                scale(e, "exertion", x.exertion);
                text(e, "note", x.note.as_deref(), MAX_NOTE_CHARS);
            }
            Entry::Wellbeing(w) => {
                if w.sleep_hours.is_none()
                    && w.sleep_quality.is_none()
                    && w.mood.is_none()
                    && w.stress.is_none()
                {
                    e.push(ValidationError::NothingRecorded);
                }
                range(e, "sleep_hours", w.sleep_hours, 0.0, 24.0);
                scale(e, "sleep_quality", w.sleep_quality);
                scale(e, "mood", w.mood);
                scale(e, "stress", w.stress);
                text(e, "note", w.note.as_deref(), MAX_NOTE_CHARS);
            }
            Entry::Checkin(c) => {
                scale(e, "pain", Some(c.pain));
                scale(e, "enjoyment", Some(c.enjoyment));
                scale(e, "activity", Some(c.activity));
                text(e, "note", c.note.as_deref(), MAX_NOTE_CHARS);
            }
            Entry::Questionnaire(q) => {
                required_text(e, "instrument", &q.instrument, MAX_INSTRUMENT_CHARS);
                required_text(e, "version", &q.version, MAX_VERSION_CHARS);
                match q.built_in() {
                    Some(def) => e.extend(
                        questionnaire::check_answers(def, &q.answers)
                            .into_iter()
                            .map(ValidationError::from),
                    ),
                    None => e.push(ValidationError::UnknownInstrument {
                        instrument: q.instrument.chars().take(40).collect(),
                        version: q.version.chars().take(40).collect(),
                    }),
                }
                text(e, "note", q.note.as_deref(), MAX_NOTE_CHARS);
            }
        }
        errors
    }
}

fn scale(errors: &mut Vec<ValidationError>, field: &'static str, value: Option<f64>) {
    let Some(value) = value else { return };
    if !(0.0..=10.0).contains(&value) {
        errors.push(ValidationError::OutOfScale { field, value });
    } else {
        whole(errors, field, Some(value));
    }
}

fn whole(errors: &mut Vec<ValidationError>, field: &'static str, value: Option<f64>) {
    if let Some(value) = value
        && value.fract() != 0.0
    {
        errors.push(ValidationError::NotWholeNumber { field, value });
    }
}

fn range(
    errors: &mut Vec<ValidationError>,
    field: &'static str,
    value: Option<f64>,
    min: f64,
    max: f64,
) {
    if let Some(value) = value
        && !(min..=max).contains(&value)
    {
        errors.push(ValidationError::OutOfRange {
            field,
            value,
            min,
            max,
        });
    }
}

fn text(errors: &mut Vec<ValidationError>, field: &'static str, value: Option<&str>, max: usize) {
    if let Some(value) = value {
        let chars = value.chars().count();
        if chars > max {
            errors.push(ValidationError::TextTooLong { field, chars, max });
        }
    }
}

fn required_text(errors: &mut Vec<ValidationError>, field: &'static str, value: &str, max: usize) {
    if value.trim().is_empty() {
        errors.push(ValidationError::EmptyText { field });
    }
    text(errors, field, Some(value), max);
}

fn terms<T: FromStr<Err = UnknownTerm>>(
    errors: &mut Vec<ValidationError>,
    field: &'static str,
    values: &[String],
    max: usize,
) {
    if values.len() > max {
        errors.push(ValidationError::TooMany {
            field,
            count: values.len(),
            max,
        });
    }
    for value in values.iter().take(max) {
        if let Err(err) = value.parse::<T>() {
            errors.push(ValidationError::unknown(field, err));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_field_has_its_own_slot() {
        for (i, name) in ENTRY_FIELDS.names.iter().enumerate() {
            assert_eq!((ENTRY_FIELDS.slot)(name), Some(i), "{name}");
        }
        for kind in EntryKind::ALL {
            for name in crate::schema::month::fields_of(kind) {
                assert!(ENTRY_FIELDS.names.contains(name), "{name}");
            }
        }
        assert_eq!((ENTRY_FIELDS.slot)("unknown"), None);
        assert_eq!((ENTRY_FIELDS.slot)(""), None);
    }
}
