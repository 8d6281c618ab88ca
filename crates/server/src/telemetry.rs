//! Tracing setup: pretty or JSON lines, filtered by the configured directive.
//!
//! What we log is identifiers and codes; request bodies, tokens, emails and diary
//! content are never passed to `tracing` anywhere in the server.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter directive did not parse.
    #[error("invalid log filter: {0}")]
    Filter(String),
    /// A global subscriber was already installed.
    #[error("tracing already initialised")]
    AlreadySet,
}

/// Installs the global tracing subscriber (once per process; `tracing` itself is the
/// one process-wide registry, which is why this is the single global we set).
pub fn init(config: &LogConfig) -> Result<(), TelemetryError> {
    let filter =
        EnvFilter::try_new(&config.filter).map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        // stderr, so stdout carries only command results (ids, invitation codes).
        .with_writer(std::io::stderr);
    let result = match config.format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|_| TelemetryError::AlreadySet)
}
