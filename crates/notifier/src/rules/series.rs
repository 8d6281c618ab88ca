//! The input of the rules: a patient's pain per local day, medication intakes, the care
//! plan's PRN limits, and the other days on which the patient wrote anything.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An entry synced more than this many hours after its `recorded_at` counts as late.
pub const LATE_AFTER_HOURS: i64 = 24;

/// Whether an entry recorded at `recorded_at` and first stored by the server at
/// `synced_at` was reported late: strictly more than [`LATE_AFTER_HOURS`] after it was
/// recorded. An entry synced exactly 24 h later is on time.
pub fn is_late(recorded_at: DateTime<Utc>, synced_at: DateTime<Utc>) -> bool {
    synced_at - recorded_at > TimeDelta::hours(LATE_AFTER_HOURS)
}

/// One pain (NRS) entry, already placed on the patient's local day. This is the raw form
/// from which [`daily_pain`] builds a [`DailyPain`] series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PainEntry {
    /// The patient-local day of `recorded_at`.
    pub date: NaiveDate,
    /// The NRS score, 0 to 10.
    pub score: u8,
    /// Whether the entry was synced late (see [`is_late`]).
    pub late: bool,
}

/// A patient's pain on one local day: the daily score the rules use.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DailyPain {
    /// The patient-local day.
    pub date: NaiveDate,
    /// Mean of the day's NRS scores (the "daily score"), 0.0 to 10.0.
    pub mean: f64,
    /// Highest NRS score of the day, 0 to 10.
    pub max: u8,
    /// Number of valid NRS entries that day. A day with `count == 0` is a day without
    /// data and is ignored by every rule.
    pub count: u32,
    /// How many of the day's entries were synced more than 24 h after `recorded_at`.
    /// Any non-zero value marks the decisions built on this day as late.
    pub late_entries: u32,
}

impl DailyPain {
    /// Whether the day holds at least one entry with numbers the rules can use (a mean
    /// and a max within the 0-10 scale). Invalid entries are filtered by the projection;
    /// the rules skip such a day instead of guessing.
    pub fn has_data(&self) -> bool {
        self.count > 0
            && self.mean.is_finite()
            && (0.0..=10.0).contains(&self.mean)
            && self.max <= 10
    }

    /// Whether any entry of the day was reported late.
    pub fn is_late(&self) -> bool {
        self.late_entries > 0
    }
}

/// Aggregates pain entries into one [`DailyPain`] per local day, sorted by date.
/// Scores above 10 are left out (the projection reports them as invalid).
pub fn daily_pain<I>(entries: I) -> Vec<DailyPain>
where
    I: IntoIterator<Item = PainEntry>,
{
    // date -> (sum, max, count, late)
    let mut days: BTreeMap<NaiveDate, (u64, u8, u32, u32)> = BTreeMap::new();
    for entry in entries.into_iter().filter(|e| e.score <= 10) {
        let day = days.entry(entry.date).or_insert((0, 0, 0, 0));
        day.0 += u64::from(entry.score);
        day.1 = day.1.max(entry.score);
        day.2 += 1;
        day.3 += u32::from(entry.late);
    }
    days.into_iter()
        .map(|(date, (sum, max, count, late_entries))| DailyPain {
            date,
            mean: sum as f64 / f64::from(count),
            max,
            count,
            late_entries,
        })
        .collect()
}

/// Sorts a day series by date, drops days without usable data and days after `today`,
/// and merges duplicate days (count-weighted mean, max of maxima, summed counts).
/// Linear on the usual input, which is already sorted.
pub(crate) fn pain_by_day(pain: &[DailyPain], today: NaiveDate) -> Vec<DailyPain> {
    let mut days: Vec<DailyPain> = pain
        .iter()
        .filter(|d| d.has_data() && d.date <= today)
        .copied()
        .collect();
    days.sort_by_key(|d| d.date);
    days.dedup_by(|day, seen| {
        if day.date != seen.date {
            return false;
        }
        let count = seen.count + day.count;
        seen.mean = (seen.mean * f64::from(seen.count) + day.mean * f64::from(day.count))
            / f64::from(count);
        seen.max = seen.max.max(day.max);
        seen.count = count;
        seen.late_entries += day.late_entries;
        true
    });
    days
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $code:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The stable string code, as stored in documents and the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = crate::rules::UnknownCode;

            /// Parses the stable code (and a few spellings seen in documents),
            /// ignoring ASCII case and surrounding whitespace.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let code = s.trim().to_ascii_lowercase();
                match code.as_str() {
                    $($code $(| $alias)* => Ok(Self::$variant),)+
                    _ => Err(crate::rules::UnknownCode {
                        kind: stringify!($name),
                        code: s.to_owned(),
                    }),
                }
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// The unit of a logged dose amount.
    DoseUnit {
        /// Milligrams.
        Mg => "mg",
        /// Grams (counted as 1000 mg).
        G => "g",
        /// Micrograms (counted as 1/1000 mg for oral doses).
        Mcg => "mcg" | "µg" | "ug",
        /// Micrograms per hour: the delivery rate of a transdermal patch.
        McgPerHour => "mcg_per_hour" | "mcg/h" | "mcg/hr" | "µg/h",
        /// Millilitres (a liquid of unknown strength: no MME can be computed).
        Ml => "ml",
        /// Tablets, capsules or other units of unknown strength.
        Unit => "unit" | "tablet" | "capsule",
    }
}

string_enum! {
    /// How a dose was taken.
    Route {
        /// Swallowed.
        Oral => "oral" | "po",
        /// Under the tongue or in the cheek.
        Sublingual => "sublingual" | "buccal",
        /// Through the skin (a patch).
        Transdermal => "transdermal" | "patch",
        /// On the skin (cream, gel).
        Topical => "topical",
        /// Injected into a vein.
        Intravenous => "intravenous" | "iv",
        /// Injected into a muscle.
        Intramuscular => "intramuscular" | "im",
        /// Injected under the skin.
        Subcutaneous => "subcutaneous" | "sc",
        /// Through the nose.
        Intranasal => "intranasal" | "nasal",
        /// Rectal.
        Rectal => "rectal",
        /// Any other route.
        Other => "other",
        /// The entry does not say (the default in the diary app).
        Unspecified => "unspecified" | "",
    }
}

string_enum! {
    /// Whether a logged dose was taken or deliberately skipped.
    IntakeStatus {
        /// The dose was taken.
        Taken => "taken",
        /// The dose was skipped; it counts nowhere.
        Skipped => "skipped",
    }
}

/// One medication intake, placed on the patient's local day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intake {
    /// The patient-local day of `recorded_at`.
    pub date: NaiveDate,
    /// The drug as the patient or care plan wrote it (generic, brand or combination).
    pub drug: String,
    /// The amount in `unit`. For a patch: its rate in mcg/h.
    pub amount: f64,
    /// The unit of `amount`.
    pub unit: DoseUnit,
    /// The route.
    pub route: Route,
    /// Taken or skipped.
    pub status: IntakeStatus,
    /// Whether the patient took it "as needed" (PRN) rather than on schedule.
    pub prn: bool,
    /// Whether the entry was synced late (see [`is_late`]).
    pub late: bool,
}

/// The care plan's maximum number of as-needed intakes of a drug per local day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrnLimit {
    /// The drug, matched against intakes after [`normalize_drug_name`](crate::rules::normalize_drug_name).
    pub drug: String,
    /// Maximum PRN intakes per local day; more than this is overuse.
    pub max_per_day: u32,
}

/// Everything the rules know about one patient.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PatientSeries {
    /// Pain per local day (any order; days without data may be present or absent).
    pub pain: Vec<DailyPain>,
    /// Medication intakes (any order).
    pub intakes: Vec<Intake>,
    /// PRN limits from the care plan.
    pub prn_limits: Vec<PrnLimit>,
    /// Local days with any other diary entry (exercise, wellbeing, check-in): they count
    /// as logging for the missed-logging rule.
    pub other_entry_days: Vec<NaiveDate>,
    /// The local day of enrolment; lets the missed-logging rule notice a patient who has
    /// never logged anything.
    pub enrolled_on: Option<NaiveDate>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, day).unwrap()
    }

    #[test]
    fn lateness_is_strictly_more_than_24_hours() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for (hours, secs, late) in [(24, 0, false), (24, 1, true), (1, 0, false), (120, 0, true)] {
            let synced = at + TimeDelta::hours(hours) + TimeDelta::seconds(secs);
            assert_eq!(is_late(at, synced), late, "{hours} h {secs} s");
        }
    }

    #[test]
    fn daily_pain_aggregates_per_day() {
        let entries = [
            PainEntry {
                date: d(2),
                score: 4,
                late: false,
            },
            PainEntry {
                date: d(1),
                score: 2,
                late: false,
            },
            PainEntry {
                date: d(2),
                score: 7,
                late: true,
            },
            PainEntry {
                date: d(2),
                score: 11,
                late: false,
            },
        ];
        let days = daily_pain(entries);
        assert_eq!(days.len(), 2);
        assert_eq!(
            (days[0].date, days[0].mean, days[0].max, days[0].count),
            (d(1), 2.0, 2, 1)
        );
        assert_eq!(
            (days[1].date, days[1].mean, days[1].max, days[1].count),
            (d(2), 5.5, 7, 2)
        );
        assert_eq!(days[1].late_entries, 1);
    }

    #[test]
    fn duplicate_days_are_merged_and_future_days_dropped() {
        let a = DailyPain {
            date: d(1),
            mean: 2.0,
            max: 2,
            count: 1,
            late_entries: 0,
        };
        let b = DailyPain {
            date: d(1),
            mean: 5.0,
            max: 6,
            count: 2,
            late_entries: 1,
        };
        let future = DailyPain {
            date: d(9),
            mean: 5.0,
            max: 6,
            count: 2,
            late_entries: 0,
        };
        let empty = DailyPain {
            date: d(2),
            mean: 0.0,
            max: 0,
            count: 0,
            late_entries: 0,
        };
        let days = pain_by_day(&[a, b, future, empty], d(5));
        assert_eq!(days.len(), 1);
        let day = days[0];
        assert_eq!(
            (day.mean, day.max, day.count, day.late_entries),
            (4.0, 6, 3, 1)
        );
    }

    #[test]
    fn unit_codes_round_trip() {
        for unit in [
            DoseUnit::Mg,
            DoseUnit::G,
            DoseUnit::Mcg,
            DoseUnit::McgPerHour,
            DoseUnit::Ml,
            DoseUnit::Unit,
        ] {
            assert_eq!(unit.as_str().parse::<DoseUnit>().unwrap(), unit);
        }
        assert_eq!("MCG/H".parse::<DoseUnit>().unwrap(), DoseUnit::McgPerHour);
        assert!("drops".parse::<DoseUnit>().is_err());
    }
}
