//! Delivery settings (`[delivery]` and `[delivery.mail]` in the config file): where the
//! dashboard links point, the retry schedule, the worker's lease and poll interval, and
//! the mail transport (a local mail directory by default, or SMTP).

use std::path::PathBuf;

use chrono::Duration;
use secrecy::SecretString;
use serde::Deserialize;

/// The delivery worker's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// The `From` mailbox of every email.
    pub from: String,
    /// Attempts (the first included) before a transiently failing delivery is dead.
    pub max_attempts: i32,
    /// The first retry waits up to this; each further retry doubles it (with jitter).
    pub backoff_base_secs: i64,
    /// The longest wait between attempts.
    pub backoff_max_secs: i64,
    /// How long a claim holds a row; must exceed the longest send (SMTP/webhook timeouts).
    /// A worker that dies after sending leaves the row to be sent again after this.
    pub lease_secs: i64,
    /// How often an idle worker looks for due rows (commits also wake it at once).
    pub poll_interval_secs: u64,
    /// Rows one worker claims and sends concurrently per round.
    pub batch_size: u64,
    /// Timeout of one webhook request.
    pub webhook_timeout_secs: u64,
    /// A PEM file of extra CA certificates trusted for https webhooks, besides the public
    /// roots (a receiver behind a private CA). Unset: public roots only.
    pub webhook_ca_file: Option<PathBuf>,
    /// Allow plain `http://` webhook URLs (default: https only).
    pub webhook_allow_http: bool,
    /// Allow webhooks to loopback, private, link-local (cloud metadata) and other
    /// non-public addresses (default: refused when saved and when sent).
    pub webhook_allow_private_targets: bool,
    /// Whether `serve` runs the background worker (every replica normally does).
    pub worker: bool,
    /// The mail transport.
    pub mail: MailConfig,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            from: "Paindiary <alerts@paindiary.invalid>".to_owned(),
            max_attempts: 8,
            backoff_base_secs: 30,
            backoff_max_secs: 3600,
            lease_secs: 300,
            poll_interval_secs: 15,
            batch_size: 32,
            webhook_timeout_secs: 10,
            webhook_ca_file: None,
            webhook_allow_http: false,
            webhook_allow_private_targets: false,
            worker: true,
            mail: MailConfig::default(),
        }
    }
}

impl DeliveryConfig {
    /// The claim lease.
    pub fn lease(&self) -> Duration {
        Duration::seconds(self.lease_secs.max(1))
    }
}

/// How emails leave the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransportKind {
    /// One `.eml` file per message in a local directory: needs nothing installed.
    #[default]
    File,
    /// An SMTP server.
    Smtp,
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection, then STARTTLS, required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS at all: only for a relay on loopback or a trusted local network.
    /// Credentials are refused with it unless the host is loopback.
    None,
}

/// Mail transport settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// `file` (default) or `smtp`.
    pub transport: MailTransportKind,
    /// The file transport's directory; `<data_dir>/mail` when unset.
    pub dir: Option<PathBuf>,
    /// SMTP host.
    pub host: String,
    /// SMTP port; by default 587 (STARTTLS), 465 (implicit TLS) or 25 (none).
    pub port: Option<u16>,
    /// Transport security.
    pub tls: SmtpTls,
    /// SMTP user name, if the relay wants authentication.
    pub username: Option<String>,
    /// SMTP password.
    pub password: Option<SecretString>,
    /// Timeout of each SMTP command.
    pub timeout_secs: u64,
    /// The name we give in `EHLO`.
    pub hello_name: String,
    /// A PEM file of extra CA certificates trusted for the SMTP server's certificate,
    /// besides the public roots (a relay behind a private CA). Unset: public roots only.
    pub ca_file: Option<PathBuf>,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: MailTransportKind::File,
            dir: None,
            host: "localhost".to_owned(),
            port: None,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            timeout_secs: 30,
            hello_name: "localhost".to_owned(),
            ca_file: None,
        }
    }
}
