//! Command-line interface of the `paindiary` binary (parsed with clap; run by `main`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use uuid::Uuid;

/// The Paindiary server.
#[derive(Debug, Parser)]
#[command(name = "paindiary", version, about)]
pub struct Cli {
    /// TOML configuration file (optional; `PAINDIARY_*` variables override it).
    #[arg(long, global = true, env = "PAINDIARY_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do; `serve` if omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Top-level subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations and serve HTTP until SIGTERM or ctrl-c.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Rebuild the projection tables from every stored month document, then exit.
    Reproject,
    /// Administrative actions on the database (the operator acts with full authority).
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// `paindiary admin ...`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a clinic; prints its id.
    CreateClinic {
        /// Clinic name.
        #[arg(long)]
        name: String,
    },
    /// Create a staff user; prints the id (and a generated password unless one is piped in).
    CreateUser {
        /// Clinic id.
        #[arg(long)]
        clinic: Uuid,
        /// Email (login name).
        #[arg(long)]
        email: String,
        /// admin, physician, nurse, physical_therapist or psychologist.
        #[arg(long)]
        role: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Read the password from the first line of standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Add a clinician to a patient's care team.
    AddToCareTeam {
        /// Patient id.
        #[arg(long)]
        patient: Uuid,
        /// Clinician's user id.
        #[arg(long)]
        user: Uuid,
    },
    /// Create a patient; prints the id and a one-time invitation code.
    CreatePatient {
        /// Clinic id.
        #[arg(long)]
        clinic: Uuid,
        /// Pseudonymous display code, e.g. PD-4821.
        #[arg(long)]
        display_code: String,
        /// IANA time zone, e.g. Europe/Berlin.
        #[arg(long)]
        timezone: String,
    },
}
