//! What the patient list and the alert inbox share: an unresolved alert as a clinician
//! reads it (rule in words, first and latest trigger day, the figure against the
//! patient's usual, status, evidence), and the filters both pages take.
//!
//! The order is never decided here: rows arrive sorted by
//! [`crate::alerts::triage::sort_by_triage`], the one triage order of the system.

use askama::Template;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::WebError;
use crate::alerts::rule_title;
use crate::alerts::triage::Currency;
use crate::entity::alerts;
use crate::error::ApiError;

/// The rule codes, in the order the filters list them.
pub const RULES: [&str; 5] = [
    "severe",
    "worsening",
    "opioid_load",
    "prn_overuse",
    "missed_logging",
];
/// Severities, most urgent first.
pub const SEVERITIES: [&str; 3] = ["urgent", "warning", "info"];
/// Status filter codes and their words.
pub const STATUSES: [(&str, &str); 4] = [
    ("new", "new"),
    ("acknowledged", "acknowledged"),
    ("cleared", "cleared"),
    ("withdrawn", "evidence withdrawn"),
];
/// Longest patient search accepted.
const MAX_SEARCH_CHARS: usize = 64;

/// `?q=&rule=&severity=&status=&member=` of the patient list and the inbox.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    /// Part of a patient's display code (case-insensitive).
    #[serde(default)]
    pub q: Option<String>,
    /// A rule code.
    #[serde(default)]
    pub rule: Option<String>,
    /// A severity code.
    #[serde(default)]
    pub severity: Option<String>,
    /// A status code of [`STATUSES`].
    #[serde(default)]
    pub status: Option<String>,
    /// A care-team member's user id (patient list only).
    #[serde(default)]
    pub member: Option<String>,
}

fn blank_to_none(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn bad(message: &str) -> WebError {
    WebError(ApiError::BadRequest(message.to_owned()))
}

impl Filters {
    /// The filters with empty fields dropped; 400 for a value no form offers.
    pub fn checked(self) -> Result<Filters, WebError> {
        let f = Filters {
            q: blank_to_none(self.q),
            rule: blank_to_none(self.rule),
            severity: blank_to_none(self.severity),
            status: blank_to_none(self.status),
            member: blank_to_none(self.member),
        };
        if f.q
            .as_ref()
            .is_some_and(|q| q.chars().count() > MAX_SEARCH_CHARS)
        {
            return Err(bad("the search is too long"));
        }
        if f.rule.as_deref().is_some_and(|r| !RULES.contains(&r)) {
            return Err(bad("unknown rule"));
        }
        if f.severity
            .as_deref()
            .is_some_and(|s| !SEVERITIES.contains(&s))
        {
            return Err(bad("unknown severity"));
        }
        if f.status
            .as_deref()
            .is_some_and(|s| !STATUSES.iter().any(|(c, _)| *c == s))
        {
            return Err(bad("unknown status"));
        }
        if f.member
            .as_deref()
            .is_some_and(|m| m.parse::<Uuid>().is_err())
        {
            return Err(bad("unknown care-team member"));
        }
        Ok(f)
    }

    /// The care-team member filter as a user id.
    pub fn member_id(&self) -> Option<Uuid> {
        self.member.as_deref().and_then(|m| m.parse().ok())
    }

    /// Whether any alert filter (rule, severity, status) is set.
    pub fn filters_alerts(&self) -> bool {
        self.rule.is_some() || self.severity.is_some() || self.status.is_some()
    }

    /// Whether the display code matches the search.
    pub fn matches_code(&self, code: &str) -> bool {
        self.q
            .as_deref()
            .is_none_or(|q| code.to_lowercase().contains(&q.to_lowercase()))
    }

    /// Whether an unresolved alert passes the rule, severity and status filters.
    pub fn matches_alert(&self, a: &alerts::Model) -> bool {
        self.rule.as_deref().is_none_or(|r| a.rule == r)
            && self.severity.as_deref().is_none_or(|s| a.severity == s)
            && self.status.as_deref().is_none_or(|s| status_code(a) == s)
    }

    /// The filter fields as HTML (inside the caller's form); `members` non-empty adds
    /// the care-team member choice.
    pub fn form_html(&self, members: &[(String, String)]) -> Result<String, WebError> {
        let is = |v: &Option<String>, code: &str| v.as_deref() == Some(code);
        let view = FiltersView {
            q: self.q.as_deref().unwrap_or(""),
            rules: RULES
                .iter()
                .map(|r| (*r, rule_title(r), is(&self.rule, r)))
                .collect(),
            severities: SEVERITIES
                .iter()
                .map(|s| (*s, is(&self.severity, s)))
                .collect(),
            statuses: STATUSES
                .iter()
                .map(|(c, w)| (*c, *w, is(&self.status, c)))
                .collect(),
            members: members
                .iter()
                .map(|(id, email)| (id.as_str(), email.as_str(), is(&self.member, id)))
                .collect(),
        };
        Ok(view.render().map_err(ApiError::internal)?)
    }
}

#[derive(Template)]
#[template(path = "dashboard/filters.html")]
struct FiltersView<'a> {
    q: &'a str,
    /// (code, words, selected)
    rules: Vec<(&'static str, &'static str, bool)>,
    severities: Vec<(&'static str, bool)>,
    statuses: Vec<(&'static str, &'static str, bool)>,
    members: Vec<(&'a str, &'a str, bool)>,
}

/// The status filter code of an unresolved alert: where it stands first (withdrawn,
/// cleared), then whether someone acknowledged it.
pub fn status_code(a: &alerts::Model) -> &'static str {
    match Currency::of(a) {
        Currency::EvidenceWithdrawn => "withdrawn",
        Currency::ClearedSince(_) => "cleared",
        Currency::Active if a.status == "acknowledged" => "acknowledged",
        Currency::Active => "new",
    }
}

/// The status in words: "new", "acknowledged", "cleared since 2026-12-03",
/// "acknowledged, evidence withdrawn".
pub fn status_words(a: &alerts::Model) -> String {
    let seen = if a.status == "acknowledged" {
        "acknowledged"
    } else {
        "new"
    };
    match Currency::of(a) {
        Currency::Active => seen.to_owned(),
        c if a.status == "acknowledged" => format!("{seen}, {}", c.label()),
        c => c.label(),
    }
}

/// The figure a rule compares, as a noun with its unit.
fn figure_noun(rule: &str) -> &'static str {
    match rule {
        "worsening" | "severe" => "pain",
        "opioid_load" => "MME",
        "prn_overuse" => "as-needed doses",
        "missed_logging" => "days without entries",
        _ => "value",
    }
}

/// "pain 6.1 vs usual 3.8, day-to-day spread 0.9": the alert's figure against the
/// patient's usual level, when the rule recorded one.
pub fn change_words(a: &alerts::Model) -> Option<String> {
    let current = a.current_value.filter(|v| v.is_finite())?;
    let noun = figure_noun(&a.rule);
    let mut s = format!("{noun} {current:.1}");
    if let Some(usual) = a.usual_value.filter(|v| v.is_finite()) {
        s.push_str(&format!(" vs usual {usual:.1}"));
        if let Some(spread) = a.usual_spread.filter(|v| v.is_finite()) {
            s.push_str(&format!(", day-to-day spread {spread:.1}"));
        }
    }
    Some(s)
}

/// `at` in the patient's zone, e.g. "2026-12-07 09:30 CET".
pub fn local_time(at: DateTime<Utc>, tz: &str) -> String {
    match tz.parse::<Tz>() {
        Ok(tz) => at
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string(),
        Err(_) => at.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

/// The alert's evidence (stored JSON) as labelled lines; nested values are written out
/// compactly, so whatever a rule stores can be read.
pub fn evidence_pairs(evidence: &str) -> Vec<(String, String)> {
    fn words(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.as_f64().map_or_else(
                || n.to_string(),
                |f| format!("{}", (f * 100.0).round() / 100.0),
            ),
            Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
            Value::Null => "–".to_owned(),
            Value::Array(items) => items.iter().map(words).collect::<Vec<_>>().join(", "),
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| format!("{}: {}", k.replace('_', " "), words(v)))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
    let Ok(value) = serde_json::from_str::<Value>(evidence) else {
        return Vec::new();
    };
    let Value::Object(map) = value else {
        return vec![("evidence".to_owned(), words(&value))];
    };
    let mut out = Vec::new();
    for (k, v) in map {
        // An externally tagged enum: one key (the rule) holding the fields.
        if let Value::Object(inner) = &v
            && out.is_empty()
            && inner.values().all(|x| !x.is_object())
        {
            out.extend(inner.iter().map(|(k, v)| (k.replace('_', " "), words(v))));
            continue;
        }
        out.push((k.replace('_', " "), words(&v)));
    }
    out
}

/// One unresolved alert as the tables show it.
pub struct AlertRow {
    /// Alert id.
    pub id: Uuid,
    /// Patient id.
    pub patient_id: Uuid,
    /// Patient display code.
    pub code: String,
    /// Rule code.
    pub rule: String,
    /// Rule in words.
    pub rule_title: &'static str,
    /// Severity code.
    pub severity: String,
    /// First trigger day.
    pub first_day: NaiveDate,
    /// Latest trigger day.
    pub latest_day: NaiveDate,
    /// When it was opened, in the patient's zone.
    pub opened_local: String,
    /// The figure against the usual, if recorded.
    pub change: Option<String>,
    /// The rule's sentence.
    pub explanation: String,
    /// Whether late data is behind it.
    pub late: bool,
    /// Status in words.
    pub status: String,
    /// `active`, `cleared` or `evidence_withdrawn`.
    pub currency_code: &'static str,
    /// Whether it can still be acknowledged.
    pub can_acknowledge: bool,
    /// The evidence as labelled lines.
    pub evidence: Vec<(String, String)>,
    /// The patient page over the days the alert looked at.
    pub evidence_link: String,
}

impl AlertRow {
    /// The row of `a` about the patient `code` living in `tz`.
    pub fn of(a: &alerts::Model, code: &str, tz: &str) -> AlertRow {
        let latest = a.latest_day.unwrap_or(a.local_day);
        // The rules look back at most a few weeks; two weeks before the first trigger
        // day show the patient's usual level next to the change.
        let from = a
            .local_day
            .checked_sub_signed(Duration::days(14))
            .unwrap_or(a.local_day);
        AlertRow {
            id: a.id,
            patient_id: a.patient_id,
            code: code.to_owned(),
            rule: a.rule.clone(),
            rule_title: rule_title(&a.rule),
            severity: a.severity.clone(),
            first_day: a.local_day,
            latest_day: latest,
            opened_local: local_time(a.opened_at, tz),
            change: change_words(a),
            explanation: strip_late_suffix(&a.explanation).to_owned(),
            late: a.reported_late,
            status: status_words(a),
            currency_code: Currency::of(a).code(),
            can_acknowledge: a.status == "open",
            evidence: evidence_pairs(&a.evidence),
            evidence_link: format!(
                "/dashboard/patients/{}?from={from}&to={latest}#pain-chart",
                a.patient_id
            ),
        }
    }
}

/// The explanation without the late-data suffix older rows carry (the badge says it once).
fn strip_late_suffix(explanation: &str) -> &str {
    explanation
        .strip_suffix("; includes data reported late")
        .unwrap_or(explanation)
}

/// The alerts table (inbox and patient page).
#[derive(Template)]
#[template(path = "dashboard/alert_table.html")]
pub struct AlertTable<'a> {
    /// Rows in triage order.
    pub rows: &'a [AlertRow],
    /// The session's CSRF token.
    pub csrf: &'a str,
    /// Where the forms come back to.
    pub back: &'a str,
    /// Whether rows can be selected for a bulk acknowledge.
    pub bulk: bool,
    /// The table's caption.
    pub caption: &'a str,
    /// What to say when there are no rows.
    pub empty: &'a str,
    /// Longest resolution note.
    pub max_note: usize,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn evidence_of_a_tagged_rule_reads_as_lines() {
        let pairs = evidence_pairs(
            r#"{"Worsening":{"recent_mean":6.125,"baseline_mean":3.8,"recent_days":["2026-12-01","2026-12-02"]}}"#,
        );
        assert!(pairs.contains(&("recent mean".into(), "6.13".into())));
        assert!(pairs.contains(&("recent days".into(), "2026-12-01, 2026-12-02".into())));
        assert!(evidence_pairs("not json").is_empty());
    }

    #[test]
    fn filters_refuse_values_no_form_offers() {
        let f = Filters {
            rule: Some("nonsense".into()),
            ..Filters::default()
        };
        assert!(f.checked().is_err());
        let f = Filters {
            rule: Some(" ".into()),
            member: Some("".into()),
            ..Filters::default()
        };
        let f = f.checked().unwrap();
        assert!(f.rule.is_none() && f.member.is_none());
    }
}
