//! Parsed domain types: identifiers, emails, passwords, roles, display codes, time zones.
//!
//! Values are parsed once at the edge (JSON body, CLI argument) and travel as these
//! types, so code further in never re-validates and cannot mix a user id with a patient id.

use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a value failed to parse. The message names the rule, never the rejected value,
/// so it is safe to return to the client and to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct ParseError {
    /// The field (JSON name) that failed.
    pub field: &'static str,
    /// The rule it broke.
    pub rule: &'static str,
}

impl ParseError {
    fn new(field: &'static str, rule: &'static str) -> Self {
        Self { field, rule }
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
            /// The underlying UUID.
            pub fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

id_type!(
    /// A user (staff member or patient account).
    UserId
);
id_type!(
    /// A patient: the id diary documents carry.
    PatientId
);
id_type!(
    /// A clinic.
    ClinicId
);
id_type!(
    /// An issued bearer token (a device or web session), not the secret itself.
    TokenId
);

/// A syntactically plausible, lowercased email address.
///
/// `Debug` is redacted because emails are personal data that must stay out of logs.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Trims, lowercases and checks the shape `local@domain.tld` (no spaces, 254 chars max).
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim().to_lowercase();
        let bad = || ParseError::new("email", "must be a valid email address");
        if s.len() > 254 || s.chars().any(char::is_whitespace) {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        if local.is_empty() || domain.contains('@') || !domain.contains('.') {
            return Err(bad());
        }
        if domain.starts_with('.') || domain.ends_with('.') {
            return Err(bad());
        }
        Ok(Self(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

/// A plaintext password on its way to being hashed or verified.
///
/// Held in a `SecretString` so it is zeroised on drop and never printed by `Debug`.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// Minimum length in characters. NIST SP 800-63B asks for at least 8 for
    /// user-chosen secrets; clinical accounts warrant a little more.
    pub const MIN_CHARS: usize = 10;
    /// Maximum length in characters, bounding the hashing work one request can cause.
    pub const MAX_CHARS: usize = 256;

    /// Checks the length rules, then refuses the guessable (common passwords, a common
    /// word with digits added, repeated patterns, sequences; see
    /// `auth::weak_passwords`).
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(ParseError::new(
                "password",
                "must be at least 10 characters",
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(ParseError::new(
                "password",
                "must be at most 256 characters",
            ));
        }
        if let Some(rule) = crate::auth::weak_passwords::weakness(raw) {
            return Err(ParseError::new("password", rule));
        }
        Ok(Self(SecretString::from(raw.to_owned())))
    }

    /// For login: any non-empty value is accepted and simply fails verification if wrong,
    /// so that the length rules (which may change) never lock out an existing account.
    pub fn for_login(raw: &str) -> Self {
        Self(SecretString::from(raw.to_owned()))
    }

    /// The plaintext, for the hasher only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// What a user is allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Clinic administrator: enrols patients, builds care teams, reads the audit.
    Admin,
    /// Pain physician.
    Physician,
    /// Nurse.
    Nurse,
    /// Physical therapist.
    PhysicalTherapist,
    /// Psychologist.
    Psychologist,
    /// A patient (accounts of this role come only from enrolment).
    Patient,
}

impl Role {
    /// The code stored in the database and used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Physician => "physician",
            Role::Nurse => "nurse",
            Role::PhysicalTherapist => "physical_therapist",
            Role::Psychologist => "psychologist",
            Role::Patient => "patient",
        }
    }

    /// Parses a stored or submitted role code.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        Ok(match s {
            "admin" => Role::Admin,
            "physician" => Role::Physician,
            "nurse" => Role::Nurse,
            "physical_therapist" => Role::PhysicalTherapist,
            "psychologist" => Role::Psychologist,
            "patient" => Role::Patient,
            _ => {
                return Err(ParseError::new(
                    "role",
                    "must be one of admin, physician, nurse, physical_therapist, psychologist, patient",
                ));
            }
        })
    }

    /// Whether this role can be on a care team.
    pub fn is_clinician(self) -> bool {
        matches!(
            self,
            Role::Physician | Role::Nurse | Role::PhysicalTherapist | Role::Psychologist
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A patient's pseudonymous display code, e.g. `PD-4821`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct DisplayCode(String);

impl DisplayCode {
    /// 1..=32 characters of ASCII letters, digits and `-`, stored uppercased.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim().to_ascii_uppercase();
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(Self(s))
        } else {
            Err(ParseError::new(
                "display_code",
                "must be 1-32 letters, digits or '-'",
            ))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A valid IANA time zone name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    /// Accepts names known to the tz database bundled in `chrono-tz`.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        s.parse::<chrono_tz::Tz>()
            .map(|tz| Self(tz.name().to_owned()))
            .map_err(|_| ParseError::new("timezone", "must be an IANA time zone name"))
    }

    /// The zone name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The zone of a name read back from the database. Names are checked by
/// [`TimeZoneName::parse`] before they are stored, so the UTC fallback covers only a row
/// written by hand, and keeps a page or a timer working for it.
pub fn stored_zone(name: &str) -> chrono_tz::Tz {
    name.parse().unwrap_or(chrono_tz::UTC)
}

/// A non-empty display name (trimmed, at most 200 characters).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// Trims and checks length.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        if s.is_empty() || s.chars().count() > 200 {
            return Err(ParseError::new("display_name", "must be 1-200 characters"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A calendar day a request carries (`YYYY-MM-DD`), bounded to
/// The first year a stored or requested day may fall in (see [`RequestDate`]).
pub const EARLIEST_YEAR: i32 = 1900;
/// The last year a stored or requested day may fall in.
pub const LATEST_YEAR: i32 = 2200;

/// [`RequestDate::MIN`]..=[`RequestDate::MAX`].
///
/// Dates far outside any diary's life (chrono accepts years -262143..=262142) overflow
/// date arithmetic (`to - 29 days`, a week's start, a month's end) and used to panic
/// handlers; every route taking a date parses it into this type, so nothing further in
/// sees one. Deserialises from the string form, with the field-free message below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RequestDate(chrono::NaiveDate);

impl RequestDate {
    /// The earliest date accepted: 1900-01-01.
    pub const MIN: chrono::NaiveDate = match chrono::NaiveDate::from_ymd_opt(EARLIEST_YEAR, 1, 1) {
        Some(d) => d,
        None => chrono::NaiveDate::MIN,
    };
    /// The latest date accepted: 2200-12-31.
    pub const MAX: chrono::NaiveDate = match chrono::NaiveDate::from_ymd_opt(LATEST_YEAR, 12, 31) {
        Some(d) => d,
        None => chrono::NaiveDate::MAX,
    };
    /// What a rejected date is told (also the message of a query parameter that fails).
    pub const RULE: &'static str = "must be a date YYYY-MM-DD between 1900-01-01 and 2200-12-31";

    /// Parses `YYYY-MM-DD` and checks the bounds.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ParseError> {
        raw.parse::<chrono::NaiveDate>()
            .ok()
            .and_then(Self::new)
            .ok_or(ParseError::new(field, Self::RULE))
    }

    /// `date` when it lies within the bounds.
    pub fn new(date: chrono::NaiveDate) -> Option<Self> {
        (Self::MIN..=Self::MAX)
            .contains(&date)
            .then_some(Self(date))
    }

    /// The date.
    pub fn get(self) -> chrono::NaiveDate {
        self.0
    }
}

impl fmt::Display for RequestDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for RequestDate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse("date", &raw).map_err(|_| serde::de::Error::custom(Self::RULE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ann@Example.ORG ").unwrap().as_str(),
            "ann@example.org"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.org",
            "a b@x.org",
            "a@x",
            "a@@x.org",
            "a@.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            format!("{:?}", Email::parse("a@b.cd").unwrap()),
            "Email(<redacted>)"
        );
    }

    #[test]
    fn password_length_rules() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("long enough pw").is_ok());
        assert!(Password::parse(&"x".repeat(257)).is_err());
        let weak = Password::parse("aaaaaaaaaa").unwrap_err();
        assert_eq!(weak.field, "password");
        assert!(weak.rule.contains("repeat"), "{}", weak.rule);
    }

    #[test]
    fn request_dates_are_bounded() {
        assert_eq!(
            RequestDate::parse("from", "2026-12-07")
                .unwrap()
                .to_string(),
            "2026-12-07"
        );
        for ok in ["1900-01-01", "2200-12-31"] {
            assert!(RequestDate::parse("from", ok).is_ok(), "{ok}");
        }
        for bad in [
            "1899-12-31",
            "2201-01-01",
            "-262143-01-05",
            "+262142-12-31",
            "2026-02-30",
            "",
            "today",
        ] {
            assert!(RequestDate::parse("from", bad).is_err(), "{bad}");
        }
        let from_json: Result<RequestDate, _> = serde_json::from_str("\"+262142-12-31\"");
        assert!(from_json.is_err());
    }

    #[test]
    fn roles_round_trip() {
        for r in [
            "admin",
            "physician",
            "nurse",
            "physical_therapist",
            "psychologist",
            "patient",
        ] {
            assert_eq!(Role::parse(r).unwrap().as_str(), r);
        }
        assert!(Role::parse("surgeon").is_err());
    }

    #[test]
    fn timezone_and_display_code() {
        assert_eq!(
            TimeZoneName::parse("Europe/Berlin").unwrap().as_str(),
            "Europe/Berlin"
        );
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
        assert_eq!(DisplayCode::parse("pd-4821").unwrap().as_str(), "PD-4821");
        assert!(DisplayCode::parse("PD 4821").is_err());
    }
}
