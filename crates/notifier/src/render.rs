//! Message rendering: turns an outbox payload (the contract between the alert lifecycle
//! and the delivery worker) into an email's subject, plain-text and HTML bodies, or a
//! webhook's JSON body, and signs webhook bodies.
//!
//! Minimum necessary by default: patient display code, rule title, severity and a
//! dashboard link. The alert's `explanation` (scores, drugs) and its day are rendered only
//! when the caller passes `details = true`, which it does only when both the payload and
//! the clinic's current settings opt in. The HTML bodies are askama templates
//! (`crates/notifier/templates/email/`), the engine of the dashboard's pages, so every
//! value is HTML-escaped by the same escaper; the plain-text bodies and subjects need no
//! escaping and stay `format!` strings.

use std::fmt::Write as _;

use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// One alert as the outbox payload carries it (kinds `alert_opened`, `alert_repeat`,
/// `alert_escalated`, and each element of a digest's `alerts`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct AlertPayload {
    /// The alert.
    pub alert_id: Uuid,
    /// The patient it is about.
    pub patient_id: Uuid,
    /// The pseudonymous code clinicians know the patient by, e.g. `P-0042`.
    pub patient_display_code: String,
    /// Rule code: `worsening`, `severe`, `opioid_load`, `prn_overuse`, `missed_logging`.
    pub rule: String,
    /// Human title of the rule, e.g. `Severe pain`.
    pub rule_title: String,
    /// `info`, `warning` or `urgent`.
    pub severity: Severity,
    /// When the alert opened.
    pub opened_at: DateTime<Utc>,
    /// The patient's local day the trigger belongs to.
    pub local_day: NaiveDate,
    /// Whether the data arrived more than a day after it was recorded.
    pub reported_late: bool,
    /// Triggers attached to the alert so far.
    pub trigger_count: i64,
    /// `/dashboard/patients/<patient uuid>`; the worker prefixes the public URL.
    pub dashboard_path: String,
    /// Whether the clinic opted in to details when the row was written.
    pub include_details: bool,
    /// The numbers behind the trigger; `None` unless the clinic opted in.
    pub explanation: Option<String>,
}

/// A daily digest for one clinician (kind `digest`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct DigestPayload {
    /// Whom it greets.
    pub clinician_name: String,
    /// The day it summarises.
    pub day: NaiveDate,
    /// The alerts it lists.
    pub alerts: Vec<AlertPayload>,
    /// Whether the clinic opted in to details when the row was written.
    pub include_details: bool,
}

/// Alert severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the digest.
    Info,
    /// Worth a look soon.
    Warning,
    /// Act today.
    Urgent,
}

impl Severity {
    /// Capitalised label for subjects and bodies.
    pub fn label(self) -> &'static str {
        match self {
            Self::Info => "Info",
            Self::Warning => "Warning",
            Self::Urgent => "Urgent",
        }
    }
}

/// Why an alert message is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertMessageKind {
    /// A new alert.
    Opened,
    /// Still open after the repeat interval.
    Repeat,
    /// Urgent and unacknowledged: sent to the clinic's secondary recipients.
    Escalated,
}

/// A rendered email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedEmail {
    /// Subject line (ASCII, so that it needs no encoded words).
    pub subject: String,
    /// `text/plain` body.
    pub text: String,
    /// `text/html` body.
    pub html: String,
}

/// The absolute dashboard link: `public_url` without trailing slashes plus `path`.
pub fn dashboard_link(public_url: &str, path: &str) -> String {
    let base = public_url.trim_end_matches('/');
    if path.starts_with('/') {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    }
}

/// `Severe pain` -> `severe pain`, leaving acronyms such as `PRN overuse` alone.
fn lower_first(title: &str) -> String {
    let mut chars = title.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && !second.is_uppercase() => {
            let mut out: String = first.to_lowercase().collect();
            out.push_str(&title[first.len_utf8()..]);
            out
        }
        _ => title.to_owned(),
    }
}

/// Keeps a subject or header on one ASCII line: anything else becomes `?`.
fn header_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "email/alert.html")]
struct AlertHtml<'a> {
    lead: &'a str,
    code: &'a str,
    rule_title: &'a str,
    severity: &'a str,
    details: &'a [(&'static str, String)],
    link: &'a str,
    footer: &'a str,
}

/// One alert of a digest's HTML body.
struct DigestLine<'a> {
    severity: &'a str,
    code: &'a str,
    rule_title: &'a str,
    day: NaiveDate,
    link: String,
    explanation: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "email/digest.html")]
struct DigestHtml<'a> {
    clinician: &'a str,
    count: usize,
    plural: &'a str,
    day: NaiveDate,
    alerts: Vec<DigestLine<'a>>,
    footer: &'a str,
}

#[derive(Template)]
#[template(path = "email/reminder.html")]
struct ReminderHtml<'a> {
    title: &'a str,
    link: &'a str,
}

/// Renders a patient's reminder email: its title and a link to the app, nothing from the
/// diary (`title` is the reminder kind's fixed wording, `link` the app's URL).
pub fn reminder_email(title: &str, link: &str) -> RenderedEmail {
    RenderedEmail {
        subject: format!("Paindiary: {title}"),
        text: format!(
            "{title}.\n\nOpen Paindiary: {link}\n\n\
             You set this reminder yourself; change or turn it off in the app.\n"
        ),
        html: html_body(&ReminderHtml { title, link }),
    }
}

/// Renders an HTML body; a template that cannot be written (only a formatting error of
/// a value, which these fields cannot produce) leaves the HTML part empty rather than
/// losing the message: the plain-text part carries the same content.
fn html_body(t: &impl Template) -> String {
    t.render().unwrap_or_default()
}

/// Renders the email about one alert. `link` is the absolute dashboard URL; `details`
/// allows the day and the explanation (see the module docs for when it may be true).
pub fn alert_email(
    alert: &AlertPayload,
    kind: AlertMessageKind,
    link: &str,
    details: bool,
) -> RenderedEmail {
    let prefix = match kind {
        AlertMessageKind::Opened => "",
        AlertMessageKind::Repeat => "Reminder - ",
        AlertMessageKind::Escalated => "Escalated - ",
    };
    let severity = alert.severity.label();
    let code = &alert.patient_display_code;
    let subject = header_safe(&format!(
        "[Paindiary] {prefix}{severity}: {} alert for patient {code}",
        lower_first(&alert.rule_title)
    ));
    let lead = match kind {
        AlertMessageKind::Opened => "A new alert was raised",
        AlertMessageKind::Repeat => "This alert is still open",
        AlertMessageKind::Escalated => {
            "This urgent alert has not been acknowledged and is escalated to you"
        }
    };
    let detail_lines = detail_lines(alert, details);

    let mut text = format!(
        "{lead}.\n\nPatient: {code}\nAlert: {}\nSeverity: {severity}\n",
        alert.rule_title
    );
    for (label, value) in &detail_lines {
        let _ = writeln!(text, "{label}: {value}");
    }
    let _ = write!(
        text,
        "\nOpen the patient in the dashboard:\n{link}\n\n{FOOTER_TEXT}\n"
    );

    let html = html_body(&AlertHtml {
        lead,
        code,
        rule_title: &alert.rule_title,
        severity,
        details: &detail_lines,
        link,
        footer: FOOTER_TEXT,
    });
    RenderedEmail {
        subject,
        text,
        html,
    }
}

const FOOTER_TEXT: &str = "You receive this because you are on the care team of this patient. \
Clinical details are in the dashboard, not in this email.";

/// The optional lines: only with `details`.
fn detail_lines(alert: &AlertPayload, details: bool) -> Vec<(&'static str, String)> {
    if !details {
        return Vec::new();
    }
    let mut lines = vec![(
        "Day",
        if alert.reported_late {
            format!("{} (reported late)", alert.local_day)
        } else {
            alert.local_day.to_string()
        },
    )];
    if alert.trigger_count > 1 {
        lines.push(("Triggers", alert.trigger_count.to_string()));
    }
    if let Some(explanation) = &alert.explanation {
        lines.push(("Details", explanation.clone()));
    }
    lines
}

/// Renders one clinician's daily digest. `link_for` turns a dashboard path into the
/// absolute URL.
pub fn digest_email(
    digest: &DigestPayload,
    link_for: impl Fn(&str) -> String,
    details: bool,
) -> RenderedEmail {
    let n = digest.alerts.len();
    let plural = if n == 1 { "" } else { "s" };
    let subject = header_safe(&format!(
        "[Paindiary] Daily digest for {}: {n} alert{plural}",
        digest.day
    ));
    let mut text = format!(
        "Hello {},\n\n{n} alert{plural} for your patients on {}:\n\n",
        digest.clinician_name, digest.day
    );
    let mut lines = Vec::with_capacity(n);
    for alert in &digest.alerts {
        let link = link_for(&alert.dashboard_path);
        let _ = writeln!(
            text,
            "- {} {}: {} ({})\n  {link}",
            alert.severity.label(),
            alert.patient_display_code,
            alert.rule_title,
            alert.local_day
        );
        let explanation = alert.explanation.as_deref().filter(|_| details);
        if let Some(explanation) = explanation {
            let _ = writeln!(text, "  Details: {explanation}");
        }
        lines.push(DigestLine {
            severity: alert.severity.label(),
            code: &alert.patient_display_code,
            rule_title: &alert.rule_title,
            day: alert.local_day,
            link,
            explanation,
        });
    }
    let _ = write!(text, "\n{FOOTER_TEXT}\n");
    let html = html_body(&DigestHtml {
        clinician: &digest.clinician_name,
        count: n,
        plural,
        day: digest.day,
        alerts: lines,
        footer: FOOTER_TEXT,
    });
    RenderedEmail {
        subject,
        text,
        html,
    }
}

/// The JSON body of an alert webhook: the payload's fields plus `event`, `delivery_id`
/// and the absolute `dashboard_url`, with `explanation` null unless `details`.
pub fn alert_webhook_body(
    event: &str,
    delivery_id: Uuid,
    alert: &AlertPayload,
    link: &str,
    details: bool,
) -> serde_json::Value {
    serde_json::json!({
        "event": event,
        "delivery_id": delivery_id,
        "alert_id": alert.alert_id,
        "patient_id": alert.patient_id,
        "patient_display_code": alert.patient_display_code,
        "rule": alert.rule,
        "rule_title": alert.rule_title,
        "severity": alert.severity,
        "opened_at": alert.opened_at,
        "dashboard_url": link,
        "reported_late": alert.reported_late,
        "trigger_count": alert.trigger_count,
        "local_day": details.then(|| alert.local_day.to_string()),
        "explanation": if details { alert.explanation.clone() } else { None },
    })
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, the `X-Paindiary-Signature`
/// header. Receivers recompute it and compare in constant time, and reject old timestamps.
pub fn webhook_signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail for SHA-256; the
    // fallback keeps the signature well-formed (and wrong) rather than panicking.
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => "sha256=".to_owned(),
    }
}

/// The email `Message-ID` for an idempotency key: `<hex(sha256(key))[..32]@paindiary>`.
/// Hashed so that the key's parts (which name the recipient) do not show in headers.
pub fn message_id(idempotency_key: &str) -> String {
    let digest = Sha256::digest(idempotency_key.as_bytes());
    format!("<{}@paindiary>", &hex::encode(digest)[..32])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn alert() -> AlertPayload {
        AlertPayload {
            alert_id: Uuid::nil(),
            patient_id: Uuid::nil(),
            patient_display_code: "P-0042".into(),
            rule: "severe".into(),
            rule_title: "Severe pain".into(),
            severity: Severity::Urgent,
            opened_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            local_day: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            reported_late: true,
            trigger_count: 2,
            dashboard_path: "/dashboard/patients/x".into(),
            include_details: false,
            explanation: Some("max NRS 9 on 2 days".into()),
        }
    }

    #[test]
    fn minimum_necessary_unless_details() {
        let a = alert();
        let link = dashboard_link("https://pd.example/", &a.dashboard_path);
        assert_eq!(link, "https://pd.example/dashboard/patients/x");
        let e = alert_email(&a, AlertMessageKind::Opened, &link, false);
        assert_eq!(
            e.subject,
            "[Paindiary] Urgent: severe pain alert for patient P-0042"
        );
        for body in [&e.text, &e.html] {
            assert!(body.contains("P-0042") && body.contains(&link));
            assert!(!body.contains("NRS 9") && !body.contains("2026-12-01"));
        }
        let e = alert_email(&a, AlertMessageKind::Repeat, &link, true);
        assert!(e.subject.starts_with("[Paindiary] Reminder - Urgent"));
        assert!(e.text.contains("max NRS 9") && e.text.contains("(reported late)"));
        let body = alert_webhook_body("alert_opened", Uuid::nil(), &a, &link, false);
        assert!(body["explanation"].is_null() && body["local_day"].is_null());
    }

    #[test]
    fn html_is_escaped_and_titles_keep_acronyms() {
        let mut a = alert();
        a.patient_display_code = "<b>".into();
        a.rule_title = "PRN overuse".into();
        let e = alert_email(&a, AlertMessageKind::Opened, "https://x/", false);
        // askama writes numeric references (&#60; for <).
        assert!(e.html.contains("&#60;b&#62;") && !e.html.contains("<b>"));
        assert!(e.subject.contains("PRN overuse alert"));
    }

    #[test]
    fn hostile_names_are_escaped_in_both_html_bodies() {
        let mut a = alert();
        a.patient_display_code = r#"P-1"><script>alert(1)</script>"#.into();
        a.explanation = Some(r#"<img src=x onerror=alert(2)> Oxy&Co "IR" 10 mg"#.into());
        let link = "https://pd.example/dashboard/patients/x?a=1&b=2";
        let e = alert_email(&a, AlertMessageKind::Opened, link, true);
        let digest = DigestPayload {
            clinician_name: "<i>Dr</i>".into(),
            day: a.local_day,
            alerts: vec![a.clone()],
            include_details: true,
        };
        let d = digest_email(&digest, |p| dashboard_link("https://pd.example", p), true);
        for html in [&e.html, &d.html] {
            assert!(
                !html.contains("<script>") && !html.contains("<img"),
                "{html}"
            );
            assert!(html.contains("&#60;script&#62;"), "{html}");
            assert!(html.contains("&#60;img src=x onerror=alert(2)&#62; Oxy&#38;Co &#34;IR&#34;"));
        }
        assert!(d.html.contains("&#60;i&#62;Dr&#60;/i&#62;"));
        assert!(
            e.html
                .contains(r#"href="https://pd.example/dashboard/patients/x?a=1&#38;b=2""#)
        );
        // The plain-text part is text: nothing to escape, nothing lost.
        assert!(
            e.text
                .contains(r#"<img src=x onerror=alert(2)> Oxy&Co "IR" 10 mg"#)
        );
    }

    #[test]
    fn signature_and_message_id_match_independent_computations() {
        // Expected values computed with Python's hmac/hashlib.
        assert_eq!(
            webhook_signature(b"whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "sha256=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        assert_eq!(
            message_id("alert:x:alert_opened:1:a@b"),
            "<1788e45ce319b6f14b3e164b4d002bda@paindiary>"
        );
    }
}
