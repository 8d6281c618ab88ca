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

pub mod access;
pub mod accounts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod entity;
pub mod error;
pub mod hub;
pub mod load;
pub mod outbox;
pub mod phone;
pub mod projection;
pub mod server;
pub mod state;
pub mod storage;
pub mod telemetry;

pub use config::Config;
pub use error::ApiError;
pub use server::run;
pub use state::AppState;
