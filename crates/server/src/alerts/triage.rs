//! How unresolved alerts are ranked for the care team: the one order shared by the
//! patient list, the alert inbox and the REST API.
//!
//! Urgency first (active alerts before cleared ones before those whose evidence was
//! withdrawn, then urgent before warning before info), then the size of the change
//! (larger first), then age (the alert waiting longest first).

use std::cmp::{Ordering, Reverse};

use chrono::{DateTime, NaiveDate, Utc};
use paindiary_notifier::rules::Severity;

use crate::entity::alerts;

/// Where an unresolved alert stands, as a clinician reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Currency {
    /// The condition still holds (or has not yet been seen to clear).
    Active,
    /// The condition has not held since this local day.
    ClearedSince(NaiveDate),
    /// The entries behind the alert were deleted or edited away.
    EvidenceWithdrawn,
}

impl Currency {
    /// The alert's currency from its row.
    pub fn of(alert: &alerts::Model) -> Self {
        if alert.evidence_withdrawn_at.is_some() {
            Currency::EvidenceWithdrawn
        } else if let Some(day) = alert.cleared_since {
            Currency::ClearedSince(day)
        } else {
            Currency::Active
        }
    }

    /// Stable code for APIs and CSS classes: `active`, `cleared`, `evidence_withdrawn`.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Active => "active",
            Currency::ClearedSince(_) => "cleared",
            Currency::EvidenceWithdrawn => "evidence_withdrawn",
        }
    }

    /// Words for people: "active", "cleared since 2026-12-03", "evidence withdrawn".
    pub fn label(self) -> String {
        match self {
            Currency::Active => "active".to_owned(),
            Currency::ClearedSince(day) => format!("cleared since {}", day.format("%Y-%m-%d")),
            Currency::EvidenceWithdrawn => "evidence withdrawn".to_owned(),
        }
    }

    fn rank(self) -> u8 {
        match self {
            Currency::Active => 0,
            Currency::ClearedSince(_) => 1,
            Currency::EvidenceWithdrawn => 2,
        }
    }
}

/// The sort key of an unresolved alert: smaller sorts first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TriageKey {
    currency: u8,
    severity: Reverse<u8>,
    magnitude: f64,
    opened_at: DateTime<Utc>,
}

impl TriageKey {
    /// The key of `alert`.
    pub fn of(alert: &alerts::Model) -> Self {
        let severity = match alert.severity.parse::<Severity>() {
            Ok(Severity::Urgent) => 3,
            Ok(Severity::Warning) => 2,
            Ok(Severity::Info) => 1,
            Err(_) => 0,
        };
        TriageKey {
            currency: Currency::of(alert).rank(),
            severity: Reverse(severity),
            magnitude: alert.magnitude.filter(|m| m.is_finite()).unwrap_or(0.0),
            opened_at: alert.opened_at,
        }
    }
}

impl Eq for TriageKey {}

impl PartialOrd for TriageKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TriageKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.currency
            .cmp(&other.currency)
            .then(self.severity.cmp(&other.severity))
            // Larger changes first; magnitudes are finite (see `of`).
            .then(other.magnitude.total_cmp(&self.magnitude))
            .then(self.opened_at.cmp(&other.opened_at))
    }
}

/// Sorts alerts (or anything holding one) into triage order.
pub fn sort_by_triage<T>(items: &mut [T], alert: impl Fn(&T) -> &alerts::Model) {
    items.sort_by_cached_key(|item| TriageKey::of(alert(item)));
}
