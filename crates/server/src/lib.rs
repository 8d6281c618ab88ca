//! The Paindiary server library: everything the `paindiary` binary runs.
//!
//! Module map (the foundation; the sync hub, storage and projection plug in beside it):
//! - [`config`]: typed, layered configuration.
//! - [`state`]: [`AppState`], the shared handles (db, config, clock).
//! - [`db`], [`entity`]: connection, migrations, sea-orm row types.
//! - [`domain`]: parsed values and typed ids.
//! - [`auth`]: passwords, tokens, the bearer extractor, login rate limiting.
//! - [`access`]: who may see which patient.
//! - [`audit`]: recording and querying the audit trail.
//! - [`accounts`]: account operations shared by the API and the CLI.
//! - [`api`]: the HTTP routes; [`error`]: the one API error type.
//! - [`server`]: running on a listener with graceful shutdown.
//! - [`metrics`]: Prometheus metrics on a listener of their own.

pub mod access;
pub mod access_changes;
pub mod accounts;
pub mod alerts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod entity;
pub mod erasure;
pub mod error;
pub mod export;
pub mod extract;
pub mod hub;
pub mod metrics;
pub mod outbox;
pub mod projection;
pub mod reminders;
pub mod serve_lock;
pub mod server;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod trends;
pub mod web;

pub use config::Config;
pub use error::ApiError;
pub use server::run;
pub use state::AppState;

/// Installs ring as rustls' process-wide crypto provider. reqwest is built with
/// `rustls-no-provider` (ring rather than aws-lc, which needs a C toolchain build), and
/// features unify across the workspace, so every reqwest client in the process panics when
/// built unless a provider is installed first. Idempotent; every entry point that builds a
/// client calls it.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
