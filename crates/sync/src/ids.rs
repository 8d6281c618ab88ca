//! Identifiers: automerge-repo document IDs and URLs, patient and entry IDs, and months.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The URL scheme automerge-repo uses for documents: `automerge:<base58check id>`.
pub const URL_SCHEME: &str = "automerge:";

/// Why a document ID or URL was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentIdError {
    /// The text is not base58, or its 4-byte checksum does not match.
    #[error("document ID is not valid base58check")]
    NotBase58Check,
    /// The decoded ID is not 16 bytes long.
    #[error("document ID must be 16 bytes, got {0}")]
    WrongLength(usize),
    /// The URL does not start with `automerge:`.
    #[error("document URL must start with `automerge:`")]
    NotAnAutomergeUrl,
    /// The text is longer than any valid ID could be.
    #[error("document ID text is too long ({0} characters)")]
    TooLong(usize),
}

/// A 16-byte automerge-repo document ID. Its text form is base58check, as in the JS repo.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId([u8; 16]);

impl DocumentId {
    /// The longest base58check text of 16 bytes plus a 4-byte checksum is 28 characters;
    /// we allow a little slack and refuse anything longer before decoding.
    const MAX_TEXT_LEN: usize = 40;

    /// Wraps raw bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// A fresh random ID, for documents that are not derived (tests, ad-hoc documents).
    pub fn random() -> Self {
        Self(*Uuid::new_v4().as_bytes())
    }

    /// Derives an ID from a domain-separated hash: the first 16 bytes of
    /// SHA-256(`prefix` || 0x00 || each part separated by 0x00). Every device can compute
    /// it offline, so two devices that create the same logical document agree on its ID.
    pub fn derive(prefix: &str, parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(prefix.as_bytes());
        for part in parts {
            hasher.update([0u8]);
            hasher.update(part);
        }
        let digest = hasher.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The `automerge:<id>` URL.
    pub fn to_url(&self) -> String {
        format!("{URL_SCHEME}{self}")
    }

    /// Parses an `automerge:<id>` URL. A heads suffix (`#...`) is not accepted here.
    pub fn from_url(url: &str) -> Result<Self, DocumentIdError> {
        let id = url
            .strip_prefix(URL_SCHEME)
            .ok_or(DocumentIdError::NotAnAutomergeUrl)?;
        id.parse()
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).with_check().into_string())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl FromStr for DocumentId {
    type Err = DocumentIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > Self::MAX_TEXT_LEN {
            return Err(DocumentIdError::TooLong(s.len()));
        }
        let bytes = bs58::decode(s)
            .with_check(None)
            .into_vec()
            .map_err(|_| DocumentIdError::NotBase58Check)?;
        let arr: [u8; 16] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| DocumentIdError::WrongLength(bytes.len()))?;
        Ok(Self(arr))
    }
}

impl serde::Serialize for DocumentId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DocumentId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A patient's stable ID (a UUID assigned at enrolment).
    PatientId
);

uuid_id!(
    /// An entry's key inside a diary document: a client-made UUID (v7, time-ordered).
    EntryId
);

impl EntryId {
    /// A new time-ordered entry ID.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for EntryId {
    fn default() -> Self {
        Self::new()
    }
}

impl PatientId {
    /// A new random patient ID.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }
}

/// Why a month string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("month must be `YYYY-MM` with a year from 2000 to 2999, got {0:?}")]
pub struct MonthParseError(pub String);

/// A calendar month in the patient's local time, the unit of one diary document.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Month {
    year: u16,
    month: u8,
}

impl Month {
    /// A month from its parts; `None` unless `year` is 2000-2999 and `month` is 1-12.
    pub fn new(year: u16, month: u8) -> Option<Self> {
        ((2000..=2999).contains(&year) && (1..=12).contains(&month)).then_some(Self { year, month })
    }

    /// The month that contains `date`.
    pub fn of(date: chrono::NaiveDate) -> Option<Self> {
        use chrono::Datelike;
        let year = u16::try_from(date.year()).ok()?;
        let month = u8::try_from(date.month()).ok()?;
        Self::new(year, month)
    }

    /// The year.
    pub const fn year(&self) -> u16 {
        self.year
    }

    /// The month number, 1-12.
    pub const fn month(&self) -> u8 {
        self.month
    }

    /// The month after this one.
    pub fn next(&self) -> Option<Self> {
        if self.month == 12 {
            Self::new(self.year + 1, 1)
        } else {
            Self::new(self.year, self.month + 1)
        }
    }

    /// The month before this one.
    pub fn previous(&self) -> Option<Self> {
        if self.month == 1 {
            Self::new(self.year.checked_sub(1)?, 12)
        } else {
            Self::new(self.year, self.month - 1)
        }
    }

    /// The first day of the month.
    pub fn first_day(&self) -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(i32::from(self.year), u32::from(self.month), 1)
            .unwrap_or(chrono::NaiveDate::MIN)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl fmt::Debug for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Month({self})")
    }
}

impl FromStr for Month {
    type Err = MonthParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MonthParseError(s.chars().take(16).collect());
        let bytes = s.as_bytes();
        if bytes.len() != 7 || bytes[4] != b'-' {
            return Err(err());
        }
        let year: u16 = s[..4].parse().map_err(|_| err())?;
        let month: u8 = s[5..].parse().map_err(|_| err())?;
        Self::new(year, month).ok_or_else(err)
    }
}

impl serde::Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Month {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_id_round_trips_through_text_and_url() {
        let id = DocumentId::from_bytes([7u8; 16]);
        let text = id.to_string();
        assert_eq!(text.parse::<DocumentId>(), Ok(id));
        assert_eq!(DocumentId::from_url(&id.to_url()), Ok(id));
    }

    #[test]
    fn document_id_rejects_bad_checksum_and_length() {
        let mut text = DocumentId::from_bytes([1u8; 16]).to_string();
        let last = text.pop().map(|c| if c == '2' { '3' } else { '2' });
        text.extend(last);
        assert_eq!(
            text.parse::<DocumentId>(),
            Err(DocumentIdError::NotBase58Check)
        );
        let short = bs58::encode([1u8; 8]).with_check().into_string();
        assert_eq!(
            short.parse::<DocumentId>(),
            Err(DocumentIdError::WrongLength(8))
        );
        assert_eq!(
            DocumentId::from_url("http://x"),
            Err(DocumentIdError::NotAnAutomergeUrl)
        );
    }

    #[test]
    fn months_parse_and_step() {
        let m: Month = "2026-12".parse().unwrap();
        assert_eq!(m.next().unwrap().to_string(), "2027-01");
        assert_eq!(m.previous().unwrap().to_string(), "2026-11");
        assert!("2026-13".parse::<Month>().is_err());
        assert!("26-01".parse::<Month>().is_err());
        assert!("2026/01".parse::<Month>().is_err());
    }
}
