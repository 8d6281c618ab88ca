//! The delivery channels: email through lettre (SMTP or a local mail directory) and
//! webhooks through one shared reqwest client, each failure classified as transient
//! (retry later) or permanent (dead at once).
//!
//! Classified reasons are short fixed texts plus reply codes: they go to the outbox row,
//! the attempt log and the operator's log, and never contain message content.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use paindiary_notifier::render::{self, RenderedEmail};
use reqwest::StatusCode;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use super::config::{DeliveryConfig, MailConfig, MailTransportKind, SmtpTls};
use super::webhook_target::{RefusedTarget, TargetPolicy};

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver accepted it.
    Sent,
    /// Worth retrying later (connection refused, timeout, SMTP 4xx, HTTP 5xx/408/429).
    Transient(String),
    /// Retrying cannot help (SMTP 5xx, HTTP 4xx, bad address, missing secret, a TLS
    /// handshake failure such as an untrusted certificate).
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
    /// The file transport's directory could not be created: names the directory and the
    /// settings that choose it, since the default hides inside `data_dir`.
    #[error(
        "cannot create the mail directory {dir} (delivery.mail.dir, by default <data_dir>/mail; \
         or send mail over SMTP with delivery.mail.transport = \"smtp\"): {source}"
    )]
    MailDir {
        /// The directory.
        dir: PathBuf,
        /// Why it could not be created.
        source: std::io::Error,
    },
    /// The SMTP TLS parameters could not be built.
    #[error("delivery.mail: cannot set up TLS for the SMTP host")]
    SmtpTls,
    /// `delivery.mail.tls = "none"` with credentials to a host that is not loopback:
    /// the password would cross the network in clear.
    #[error(
        "delivery.mail: username and password need tls = \"starttls\" or \"implicit\" unless the host is loopback"
    )]
    CredentialsInClear,
    /// A CA file (`delivery.mail.ca_file`, `delivery.webhook_ca_file`) is unusable.
    #[error("cannot use CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
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
    targets: TargetPolicy,
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
                std::fs::create_dir_all(&dir).map_err(|source| ChannelSetupError::MailDir {
                    dir: dir.clone(),
                    source,
                })?;
                Mailer::File(AsyncFileTransport::new(&dir), dir)
            }
            MailTransportKind::Smtp => Mailer::Smtp(smtp_transport(mail)?),
        };
        crate::install_crypto_provider();
        let webhook_roots = match &config.webhook_ca_file {
            Some(path) => load_ca_file(path)?,
            None => Vec::new(),
        };
        let targets = TargetPolicy::from_config(config);
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(webhook_tls_config(webhook_roots)?)
            .dns_resolver(Arc::new(targets.resolver()))
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
            targets,
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

    /// The shared HTTP client (webhooks, web push): one connection pool, the operator's
    /// trusted roots, and a resolver that refuses non-public addresses unless allowed.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The webhook targets the operator allows (checked again at every send).
    pub fn webhook_targets(&self) -> TargetPolicy {
        self.targets
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
        // The URL was checked when saved; its host may resolve elsewhere now, and the
        // operator's policy may have changed. The resolver below re-checks the very
        // addresses connected to.
        if let Err(rule) = self.targets.check(url).await {
            return Outcome::Permanent(format!("webhook URL refused: {rule}"));
        }
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
        let e = match sent {
            Ok(resp) => return classify_http(resp.status()),
            Err(e) => e,
        };
        if let Some(tls) = rustls_cause(&e) {
            classify_tls("webhook", tls)
        } else if refused_target(&e) {
            Outcome::Permanent(
                "webhook URL refused: its host resolves only to non-public addresses".to_owned(),
            )
        } else if e.is_timeout() {
            Outcome::Transient("webhook timed out".to_owned())
        } else if e.is_connect() {
            Outcome::Transient("webhook connection failed".to_owned())
        } else {
            Outcome::Transient("webhook request failed".to_owned())
        }
    }
}

/// Whether the resolver refused every address of the webhook's host.
fn refused_target(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(err) = source {
        if err.is::<RefusedTarget>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// The SMTP transport for `mail`: TLS as configured, trusting the public roots plus
/// `ca_file`; credentials only over TLS, or in clear to a loopback relay.
fn smtp_transport(
    mail: &MailConfig,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, ChannelSetupError> {
    let credentials = match (&mail.username, &mail.password) {
        (Some(user), Some(password)) => Some(Credentials::new(
            user.clone(),
            password.expose_secret().to_owned(),
        )),
        _ => None,
    };
    // lettre would send AUTH over a plain connection; a password in clear is acceptable
    // only when it never leaves the machine.
    if mail.tls == SmtpTls::None && credentials.is_some() && !is_loopback_host(&mail.host) {
        return Err(ChannelSetupError::CredentialsInClear);
    }
    let parameters = || -> Result<TlsParameters, ChannelSetupError> {
        let mut builder = TlsParameters::builder(mail.host.clone());
        if let Some(path) = &mail.ca_file {
            for der in load_ca_file(path)? {
                let cert =
                    Certificate::from_der(der.to_vec()).map_err(|_| ChannelSetupError::CaFile {
                        path: path.clone(),
                        reason: "not a certificate".to_owned(),
                    })?;
                builder = builder.add_root_certificate(cert);
            }
        }
        builder.build().map_err(|_| ChannelSetupError::SmtpTls)
    };
    let (tls, default_port) = match mail.tls {
        SmtpTls::None => (Tls::None, 25),
        SmtpTls::Starttls => (Tls::Required(parameters()?), 587),
        SmtpTls::Implicit => (Tls::Wrapper(parameters()?), 465),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(mail.host.clone())
        .port(mail.port.unwrap_or(default_port))
        .tls(tls)
        .hello_name(ClientId::Domain(mail.hello_name.clone()))
        .timeout(Some(Duration::from_secs(mail.timeout_secs.max(1))));
    if let Some(credentials) = credentials {
        builder = builder.credentials(credentials);
    }
    Ok(builder.build())
}

/// `localhost` or a loopback address: traffic to it never leaves the machine.
fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Every certificate in the PEM file at `path`; at least one.
fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, ChannelSetupError> {
    let error = |reason: &str| ChannelSetupError::CaFile {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let pem = std::fs::read(path).map_err(|e| error(&e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| error("not valid PEM"))?;
    if certs.is_empty() {
        return Err(error("no CERTIFICATE block"));
    }
    Ok(certs)
}

/// rustls with the ring provider, the Mozilla roots (the same as lettre's) and `extra`
/// roots, built here so that no process-wide default provider has to be installed.
fn webhook_tls_config(
    extra: Vec<CertificateDer<'static>>,
) -> Result<rustls::ClientConfig, ChannelSetupError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra {
        roots
            .add(cert)
            .map_err(|e| ChannelSetupError::Http(format!("webhook CA certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ChannelSetupError::Http(e.to_string()))?;
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// The rustls error somewhere in `e`'s source chain. TLS stacks wrap it in an
/// `io::Error` (hyper-rustls in one more), whose `source()` skips the wrapped error, so
/// those are opened by hand.
fn rustls_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// A TLS handshake failure is permanent: the peer's certificate is not trusted (or the
/// two sides share no protocol), and sending again with the same configuration fails the
/// same way. Dead-lettering at once shows the operator the reason now instead of after
/// hours of backoff; once the trust (`ca_file`) or the peer is fixed, an admin retries.
fn classify_tls(channel: &str, e: &rustls::Error) -> Outcome {
    match e {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::UnsupportedNameType => {
            Outcome::Permanent(format!("{channel} TLS certificate not trusted"))
        }
        _ => Outcome::Permanent(format!("{channel} TLS handshake failed")),
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
    if let Some(tls) = rustls_cause(e) {
        classify_tls("smtp", tls)
    } else if e.is_permanent() {
        Outcome::Permanent(format!("smtp rejected permanently: {}", reply()))
    } else if e.is_transient() {
        Outcome::Transient(format!("smtp rejected temporarily: {}", reply()))
    } else if e.is_timeout() {
        Outcome::Transient("smtp timed out".to_owned())
    } else if e.is_tls() {
        // lettre's own TLS errors come from its TLS setup, not from the network.
        Outcome::Permanent("smtp TLS setup failed".to_owned())
    } else if e.is_client() {
        Outcome::Permanent("smtp client misconfigured".to_owned())
    } else {
        Outcome::Transient("smtp connection failed".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp_config(host: &str, tls: SmtpTls) -> DeliveryConfig {
        let mut config = DeliveryConfig::default();
        config.mail.transport = MailTransportKind::Smtp;
        config.mail.host = host.to_owned();
        config.mail.tls = tls;
        config.mail.username = Some("relay-user".to_owned());
        config.mail.password = Some(secrecy::SecretString::from("relay-password"));
        config
    }

    #[test]
    fn credentials_in_clear_only_to_loopback() {
        let dir = std::env::temp_dir();
        for host in ["smtp.example.org", "10.0.0.5", "[2001:db8::1]"] {
            let err = Outbox::new(&smtp_config(host, SmtpTls::None), &dir).err();
            assert!(
                matches!(err, Some(ChannelSetupError::CredentialsInClear)),
                "{host}: {err:?}"
            );
        }
        for host in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"] {
            assert!(
                Outbox::new(&smtp_config(host, SmtpTls::None), &dir).is_ok(),
                "{host}"
            );
        }
        for tls in [SmtpTls::Starttls, SmtpTls::Implicit] {
            assert!(Outbox::new(&smtp_config("smtp.example.org", tls), &dir).is_ok());
        }
    }

    #[test]
    fn unusable_ca_files_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").expect("write");
        for path in [dir.path().join("missing.pem"), empty] {
            let mut config = smtp_config("smtp.example.org", SmtpTls::Starttls);
            config.mail.ca_file = Some(path.clone());
            let err = Outbox::new(&config, dir.path()).err();
            assert!(
                matches!(&err, Some(ChannelSetupError::CaFile { path: p, .. }) if *p == path),
                "{err:?}"
            );
            let mut config = DeliveryConfig {
                webhook_ca_file: Some(path.clone()),
                ..DeliveryConfig::default()
            };
            config.mail.dir = Some(dir.path().join("mail"));
            let err = Outbox::new(&config, dir.path()).err();
            assert!(
                matches!(&err, Some(ChannelSetupError::CaFile { path: p, .. }) if *p == path),
                "{err:?}"
            );
        }
    }

    #[test]
    fn tls_failures_are_permanent() {
        let untrusted = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        // As tokio-rustls reports it: inside an io::Error, whose source() skips it.
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, untrusted);
        let cause = rustls_cause(&io);
        assert!(cause.is_some());
        assert_eq!(
            cause.map(|c| classify_tls("smtp", c)),
            Some(Outcome::Permanent(
                "smtp TLS certificate not trusted".to_owned()
            ))
        );
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(
            classify_tls("webhook", &alert),
            Outcome::Permanent("webhook TLS handshake failed".to_owned())
        );
        // As hyper-rustls reports it: one io::Error more around it.
        let nested = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        ));
        assert!(matches!(
            rustls_cause(&nested),
            Some(rustls::Error::InvalidCertificate(_))
        ));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(rustls_cause(&reset).is_none());
    }

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
