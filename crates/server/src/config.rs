//! Typed configuration, layered by the `config` crate: built-in defaults (serde's
//! `default` on every section), then an optional TOML file, then `PAINDIARY_*`
//! environment variables.
//!
//! Environment names map onto the TOML structure: `PAINDIARY_LISTEN` sets `listen`,
//! and a double underscore descends into a table, so `PAINDIARY_AUTH__WEB_TOKEN_TTL_HOURS`
//! sets `[auth] web_token_ttl_hours`. An environment value stays a string until the field
//! it sets asks for a number or a boolean, so a digits-only secret (an SMTP password of
//! `12345678`) loads as the string it is. The loaded `Config` is passed around explicitly
//! (inside `AppState`); there is no global.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::Duration;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The prefix of every environment variable we read.
pub const ENV_PREFIX: &str = "PAINDIARY_";

/// Why the configuration could not be loaded. Messages name files and keys, never
/// values, because values may be secrets.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// An environment variable names a key under a non-table value.
    #[error("environment variable {0} does not fit the configuration structure")]
    EnvShape(String),
    /// The merged layers do not form a valid configuration.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logging settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Output format.
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive, e.g. `info,paindiary_server=debug`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info".to_owned(),
        }
    }
}

/// Database settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://...` selects PostgreSQL; `sqlite://...` a specific SQLite file;
    /// unset means SQLite at `<data_dir>/paindiary.db`. Secret because it may hold a password.
    pub url: Option<SecretString>,
    /// Connection pool size.
    pub max_connections: u32,
    /// How long SQLite waits on a locked database before failing, in milliseconds.
    pub sqlite_busy_timeout_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
            sqlite_busy_timeout_ms: 5_000,
        }
    }
}

/// Authentication settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Lifetime of a device token (login with `device_name`, or enrolment).
    pub device_token_ttl_days: i64,
    /// Lifetime of a web session token.
    pub web_token_ttl_hours: i64,
    /// A web session unused for this long is refused (HIPAA automatic logoff).
    pub web_idle_timeout_minutes: i64,
    /// Failed logins for one email from one client address within the window before
    /// further attempts from that address get 429. Keyed by address too, so that someone
    /// guessing from elsewhere cannot lock the account's owner out.
    pub login_max_failures: u64,
    /// Failed logins for one email from all addresses within the window before every
    /// attempt gets 429: the ceiling against guessing spread over many addresses.
    pub login_max_failures_per_email: u64,
    /// Take the client address from the last `X-Forwarded-For` entry (set this only behind
    /// a proxy that appends it); otherwise the TCP peer address is used.
    pub trust_forwarded_for: bool,
    /// The rate-limit window, in seconds.
    pub login_failure_window_secs: i64,
    /// How long a new invitation code stays valid.
    pub invitation_ttl_hours: i64,
    /// Memory that password hashing (argon2id, 19 MiB per hash) may take at once: the
    /// number of concurrent hashes is this divided by 19 MiB (at least one). Logins and
    /// enrolments beyond it wait their turn.
    pub hash_memory_budget_bytes: usize,
    /// How long a login or enrolment waits for a hashing slot before it is answered 503
    /// with `Retry-After`.
    pub hash_queue_wait_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            device_token_ttl_days: 90,
            web_token_ttl_hours: 12,
            web_idle_timeout_minutes: 30,
            login_max_failures: 5,
            login_max_failures_per_email: 50,
            trust_forwarded_for: false,
            login_failure_window_secs: 15 * 60,
            invitation_ttl_hours: 14 * 24,
            hash_memory_budget_bytes: 64 * 1024 * 1024,
            hash_queue_wait_ms: 2000,
        }
    }
}

impl AuthConfig {
    /// Device token lifetime.
    pub fn device_token_ttl(&self) -> Duration {
        Duration::days(self.device_token_ttl_days)
    }
    /// Web token lifetime.
    pub fn web_token_ttl(&self) -> Duration {
        Duration::hours(self.web_token_ttl_hours)
    }
    /// Web idle timeout.
    pub fn web_idle_timeout(&self) -> Duration {
        Duration::minutes(self.web_idle_timeout_minutes)
    }
    /// Rate-limit window.
    pub fn login_failure_window(&self) -> Duration {
        Duration::seconds(self.login_failure_window_secs)
    }
    /// Invitation lifetime.
    pub fn invitation_ttl(&self) -> Duration {
        Duration::hours(self.invitation_ttl_hours)
    }
}

/// The whole server configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for the SQLite database and other local state; created if missing.
    pub data_dir: PathBuf,
    /// Address `serve` binds.
    pub listen: SocketAddr,
    /// The base URL users reach the server at (behind any proxy): the links in alert
    /// emails and webhooks start with it, and when it is `https://` the dashboard's
    /// session cookies are marked `Secure`.
    pub public_url: String,
    /// After a shutdown signal, how long in-flight requests may take before the process exits anyway.
    pub shutdown_grace_secs: u64,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Logging.
    pub log: LogConfig,
    /// Database.
    pub database: DatabaseConfig,
    /// Authentication.
    pub auth: AuthConfig,
    /// The sync hub's limits and cache.
    pub sync: crate::hub::SyncConfig,
    /// The delivery worker and its channels.
    pub delivery: crate::outbox::DeliveryConfig,
    /// Alert timers and defaults.
    pub alerts: crate::alerts::AlertsConfig,
    /// The Prometheus metrics listener.
    pub metrics: crate::metrics::MetricsConfig,
    /// Patient reminders and Web Push.
    pub reminders: crate::reminders::RemindersConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".to_owned(),
            shutdown_grace_secs: 30,
            max_body_bytes: 1024 * 1024,
            log: LogConfig::default(),
            database: DatabaseConfig::default(),
            auth: AuthConfig::default(),
            sync: crate::hub::SyncConfig::default(),
            delivery: crate::outbox::DeliveryConfig::default(),
            alerts: crate::alerts::AlertsConfig::default(),
            metrics: crate::metrics::MetricsConfig::default(),
            reminders: crate::reminders::RemindersConfig::default(),
        }
    }
}

/// Which database a configuration points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    /// SQLite at this path.
    Sqlite(PathBuf),
    /// PostgreSQL (the URL stays in the secret).
    Postgres,
}

impl Config {
    /// Loads defaults, then `file` if given, then the `PAINDIARY_*` variables of the process.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Config::load`] with an explicit environment, so tests need not mutate the process's.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut layers = config::Config::builder();
        if let Some(path) = file {
            // Read here rather than by `config::File`, so a missing or unreadable file and
            // a syntax error stay two errors that name the file.
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            toml::from_str::<toml::Table>(&text).map_err(|e| ConfigError::Syntax {
                path: path.to_owned(),
                message: e.message().to_owned(),
            })?;
            layers = layers.add_source(config::File::from_str(&text, config::FileFormat::Toml));
        }
        let mut vars = config::Map::new();
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            // PAINDIARY_CONFIG names the file itself; PAINDIARY_TEST_* belong to the test suite.
            if key == "CONFIG" || key.starts_with("TEST_") {
                continue;
            }
            if key.is_empty() || key.split("__").any(str::is_empty) {
                return Err(ConfigError::EnvShape(name));
            }
            vars.insert(name, value);
        }
        let layers = layers
            .add_source(
                config::Environment::with_prefix("PAINDIARY")
                    .prefix_separator("_")
                    .separator("__")
                    .source(Some(vars)),
            )
            .build()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        // The messages name the offending key (and for type errors the expected type);
        // secrets are strings, which every string value fits, so no secret value reaches
        // a type error's message.
        layers
            .try_deserialize::<Config>()
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// Where the database is, resolving the SQLite default.
    pub fn database_kind(&self) -> DatabaseKind {
        match &self.database.url {
            Some(url) => {
                let url = url.expose_secret();
                if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                    DatabaseKind::Postgres
                } else {
                    let path = url
                        .strip_prefix("sqlite://")
                        .or_else(|| url.strip_prefix("sqlite:"))
                        .unwrap_or(url);
                    let path = path.split('?').next().unwrap_or(path);
                    DatabaseKind::Sqlite(PathBuf::from(path))
                }
            }
            None => DatabaseKind::Sqlite(self.data_dir.join("paindiary.db")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_then_file_then_env() {
        let dir = std::env::temp_dir().join(format!("pd-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\n[auth]\nweb_token_ttl_hours = 4\nlogin_max_failures = 3\n",
        )
        .unwrap();
        let cfg = Config::load_from(
            Some(&file),
            env(&[
                ("PAINDIARY_AUTH__LOGIN_MAX_FAILURES", "7"),
                ("PAINDIARY_LOG__FORMAT", "json"),
                ("PAINDIARY_DATABASE__URL", "postgres://u:secret@db/pd"),
                ("OTHER", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.listen.port(), 9000);
        assert_eq!(cfg.auth.web_token_ttl_hours, 4);
        assert_eq!(cfg.auth.login_max_failures, 7);
        assert_eq!(cfg.auth.device_token_ttl_days, 90);
        assert_eq!(cfg.log.format, LogFormat::Json);
        assert_eq!(cfg.database_kind(), DatabaseKind::Postgres);
        assert!(!format!("{cfg:?}").contains("secret"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn sqlite_default_path_and_unknown_keys() {
        let cfg = Config::load_from(None, env(&[("PAINDIARY_DATA_DIR", "/tmp/x")])).unwrap();
        assert_eq!(
            cfg.database_kind(),
            DatabaseKind::Sqlite(PathBuf::from("/tmp/x/paindiary.db"))
        );
        let err = Config::load_from(None, env(&[("PAINDIARY_NOPE", "1")])).unwrap_err();
        assert!(err.to_string().contains("nope"));
    }

    #[test]
    fn digits_only_secrets_stay_strings_and_numbers_still_parse() {
        let cfg = Config::load_from(
            None,
            env(&[
                ("PAINDIARY_DELIVERY__MAIL__PASSWORD", "12345678"),
                ("PAINDIARY_DELIVERY__MAIL__USERNAME", "007"),
                ("PAINDIARY_DELIVERY__MAIL__HOST", "127.0.0.1"),
                ("PAINDIARY_DELIVERY__MAIL__PORT", "2525"),
                ("PAINDIARY_DELIVERY__WEBHOOK_ALLOW_HTTP", "true"),
                ("PAINDIARY_AUTH__LOGIN_MAX_FAILURES", "9"),
            ]),
        )
        .unwrap();
        let mail = &cfg.delivery.mail;
        assert_eq!(
            mail.password.as_ref().map(|p| p.expose_secret().to_owned()),
            Some("12345678".to_owned())
        );
        assert_eq!(mail.username.as_deref(), Some("007"));
        assert_eq!(mail.port, Some(2525));
        assert!(cfg.delivery.webhook_allow_http);
        assert_eq!(cfg.auth.login_max_failures, 9);
    }

    #[test]
    fn a_wrong_type_names_the_key_and_a_bad_file_names_the_file() {
        let err = Config::load_from(None, env(&[("PAINDIARY_AUTH__LOGIN_MAX_FAILURES", "many")]))
            .unwrap_err();
        assert!(err.to_string().contains("login_max_failures"), "{err}");
        assert!(matches!(
            Config::load_from(None, env(&[("PAINDIARY_AUTH____X", "1")])),
            Err(ConfigError::EnvShape(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "listen = [").unwrap();
        assert!(matches!(
            Config::load_from(Some(&file), env(&[])),
            Err(ConfigError::Syntax { .. })
        ));
        assert!(matches!(
            Config::load_from(Some(&dir.path().join("missing.toml")), env(&[])),
            Err(ConfigError::Read { .. })
        ));
    }
}
