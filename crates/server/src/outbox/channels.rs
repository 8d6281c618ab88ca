//! The delivery channels: email through lettre (SMTP or a local mail directory) and
//! webhooks through one shared reqwest client, each failure classified as transient
//! (retry later) or permanent (dead at once).
//!
//! Classified reasons are short fixed texts plus reply codes: they go to the outbox row,
//! the attempt log and the operator's log, and never contain message content.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use paindiary_notifier::render::{self, RenderedEmail};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use super::config::{DeliveryConfig, MailTransportKind, SmtpTls};

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver accepted it.
    Sent,
    /// Worth retrying later (connection refused, timeout, SMTP 4xx, HTTP 5xx/408/429).
    Transient(String),
    /// Retrying cannot help (SMTP 5xx, HTTP 4xx, bad address, missing secret).
    Permanent(String),
}

impl Outcome {
    /// The stored code: `sent`, `transient` or `permanent`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Transient(_) => "transient",
            Self::Permanent(_) => "permanent",
        }
    }

    /// The classified reason, if it failed.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Sent => None,
            Self::Transient(d) | Self::Permanent(d) => Some(d),
        }
    }
}

/// Why the delivery channels could not be set up from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ChannelSetupError {
    /// The `from` address does not parse.
    #[error("delivery.from is not a valid mailbox")]
    From,
    /// The file transport's directory could not be created.
    #[error("cannot create the mail directory: {0}")]
    MailDir(std::io::Error),
    /// The SMTP TLS parameters could not be built.
    #[error("delivery.mail: cannot set up TLS for the SMTP host")]
    SmtpTls,
    /// The HTTP client could not be built.
    #[error("cannot build the webhook HTTP client: {0}")]
    Http(String),
}

enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// The delivery handles every replica shares: the mail transport, the webhook client and
/// the signal that wakes the worker after a commit enqueued something.
pub struct Outbox {
    mailer: Mailer,
    http: reqwest::Client,
    from: Mailbox,
    wake: Notify,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mailer = match &self.mailer {
            Mailer::Smtp(_) => "smtp".to_owned(),
            Mailer::File(_, dir) => format!("file:{}", dir.display()),
        };
        f.debug_struct("Outbox").field("mailer", &mailer).finish()
    }
}

impl Outbox {
    /// Builds the channels from `config`; `data_dir` hosts the default mail directory.
    pub fn new(
        config: &DeliveryConfig,
        data_dir: &std::path::Path,
    ) -> Result<Arc<Self>, ChannelSetupError> {
        let from: Mailbox = config.from.parse().map_err(|_| ChannelSetupError::From)?;
        let mail = &config.mail;
        let mailer = match mail.transport {
            MailTransportKind::File => {
                let dir = mail.dir.clone().unwrap_or_else(|| data_dir.join("mail"));
                std::fs::create_dir_all(&dir).map_err(ChannelSetupError::MailDir)?;
                Mailer::File(AsyncFileTransport::new(&dir), dir)
            }
            MailTransportKind::Smtp => {
                let (tls, default_port) = match mail.tls {
                    SmtpTls::None => (Tls::None, 25),
                    SmtpTls::Starttls => (
                        Tls::Required(
                            TlsParameters::new(mail.host.clone())
                                .map_err(|_| ChannelSetupError::SmtpTls)?,
                        ),
                        587,
                    ),
                    SmtpTls::Implicit => (
                        Tls::Wrapper(
                            TlsParameters::new(mail.host.clone())
                                .map_err(|_| ChannelSetupError::SmtpTls)?,
                        ),
                        465,
                    ),
                };
                let mut builder =
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(mail.host.clone())
                        .port(mail.port.unwrap_or(default_port))
                        .tls(tls)
                        .hello_name(ClientId::Domain(mail.hello_name.clone()))
                        .timeout(Some(Duration::from_secs(mail.timeout_secs.max(1))));
                if let (Some(user), Some(password)) = (&mail.username, &mail.password) {
                    builder = builder.credentials(Credentials::new(
                        user.clone(),
                        password.expose_secret().to_owned(),
                    ));
                }
                Mailer::Smtp(builder.build())
            }
        };
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(webhook_tls_config())
            .timeout(Duration::from_secs(config.webhook_timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(config.webhook_timeout_secs.max(1)))
            // A webhook answers where it is configured; a redirect is a configuration error.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("paindiary-webhook/1")
            .build()
            .map_err(|e| ChannelSetupError::Http(e.to_string()))?;
        Ok(Arc::new(Self {
            mailer,
            http,
            from,
            wake: Notify::new(),
        }))
    }

    /// Wakes the worker: call after committing a transaction that enqueued deliveries.
    /// A wake with no worker waiting is kept, so one arriving mid-round is not lost.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Completes at the next [`Outbox::wake`].
    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Sends one email with `message_id` as its `Message-ID`, dated `now` (the injected
    /// clock's time, so the `Date` header agrees with the attempt log and tests that move
    /// time see it).
    pub async fn send_email(
        &self,
        to: &str,
        message_id: String,
        email: RenderedEmail,
        now: DateTime<Utc>,
    ) -> Outcome {
        let Ok(to) = to.parse::<Mailbox>() else {
            return Outcome::Permanent("invalid recipient address".to_owned());
        };
        let message = match Message::builder()
            .date(std::time::SystemTime::from(now))
            .from(self.from.clone())
            .to(to)
            .subject(email.subject)
            .message_id(Some(message_id))
            .multipart(MultiPart::alternative_plain_html(email.text, email.html))
        {
            Ok(m) => m,
            Err(_) => return Outcome::Permanent("cannot build the message".to_owned()),
        };
        match &self.mailer {
            Mailer::Smtp(smtp) => match smtp.send(message).await {
                Ok(_) => Outcome::Sent,
                Err(e) => classify_smtp(&e),
            },
            Mailer::File(file, _) => match file.send(message).await {
                Ok(_) => Outcome::Sent,
                Err(_) => Outcome::Transient("mail directory not writable".to_owned()),
            },
        }
    }

    /// Posts `body` to `url`, signed with `secret`, carrying `idempotency_key`.
    pub async fn send_webhook(
        &self,
        url: &str,
        secret: &[u8],
        idempotency_key: &str,
        body: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Outcome {
        let url = match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => return Outcome::Permanent("invalid webhook URL".to_owned()),
        };
        let timestamp = now.timestamp();
        let signature = render::webhook_signature(secret, timestamp, &body);
        // The key travels as is when it is a valid header value, else as its hash.
        let key = if idempotency_key
            .bytes()
            .all(|b| b.is_ascii_graphic() || b == b' ')
        {
            idempotency_key.to_owned()
        } else {
            render::message_id(idempotency_key)
        };
        let sent = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Paindiary-Timestamp", timestamp.to_string())
            .header("X-Paindiary-Signature", signature)
            .header("Idempotency-Key", key)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(resp) => classify_http(resp.status()),
            Err(e) if e.is_timeout() => Outcome::Transient("webhook timed out".to_owned()),
            Err(e) if e.is_connect() => Outcome::Transient("webhook connection failed".to_owned()),
            Err(_) => Outcome::Transient("webhook request failed".to_owned()),
        }
    }
}

/// rustls with the ring provider and the Mozilla roots (the same as lettre's), built
/// here so that no process-wide default provider has to be installed.
fn webhook_tls_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(builder) => builder.with_root_certificates(roots).with_no_client_auth(),
        // The ring provider supports the default versions; this arm is not reached.
        Err(_) => rustls::ClientConfig::builder_with_protocol_versions(rustls::DEFAULT_VERSIONS)
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    }
}

fn classify_http(status: StatusCode) -> Outcome {
    if status.is_success() {
        Outcome::Sent
    } else if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Outcome::Transient(format!("webhook answered HTTP {}", status.as_u16()))
    } else {
        Outcome::Permanent(format!("webhook answered HTTP {}", status.as_u16()))
    }
}

fn classify_smtp(e: &lettre::transport::smtp::Error) -> Outcome {
    // lettre's text for a rejection is the reply code and the server's reply line,
    // which names no message content.
    let reply = || {
        let text = e.to_string();
        text.chars().take(200).collect::<String>()
    };
    if e.is_permanent() {
        Outcome::Permanent(format!("smtp rejected permanently: {}", reply()))
    } else if e.is_transient() {
        Outcome::Transient(format!("smtp rejected temporarily: {}", reply()))
    } else if e.is_timeout() {
        Outcome::Transient("smtp timed out".to_owned())
    } else if e.is_tls() {
        Outcome::Transient("smtp TLS failed".to_owned())
    } else if e.is_client() {
        Outcome::Permanent("smtp client misconfigured".to_owned())
    } else {
        Outcome::Transient("smtp connection failed".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_are_classified() {
        for code in [200, 202, 204] {
            assert_eq!(
                classify_http(StatusCode::from_u16(code).unwrap_or_default()),
                Outcome::Sent
            );
        }
        for code in [408, 429, 500, 502, 503] {
            let o = classify_http(StatusCode::from_u16(code).unwrap_or_default());
            assert_eq!(o.code(), "transient", "{code}");
        }
        for code in [301, 400, 401, 403, 404, 410, 422] {
            let o = classify_http(StatusCode::from_u16(code).unwrap_or_default());
            assert_eq!(o.code(), "permanent", "{code}");
        }
    }
}
