//! Command-line interface of the `paindiary-tools` binary (parsed with clap; run by `main`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Paindiary's tools: the demo clinic, the phone CLI and the load generators.
#[derive(Debug, Parser)]
#[command(name = "paindiary-tools", version, about)]
pub struct Cli {
    /// The server's TOML configuration file (optional; `PAINDIARY_*` variables override
    /// it): the demo and the load generator open the server's database with it.
    #[arg(long, global = true, env = "PAINDIARY_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Seed a demo clinic (staff, 25 patients, 90 days of diaries synced like real phones),
    /// then keep serving and print where to log in.
    Demo(crate::demo::DemoArgs),
    /// A phone on the command line: log in, record entries offline, sync.
    Phone(crate::phone::PhoneArgs),
    /// Drive a running server with simulated phones and report throughput, latency,
    /// bytes, server CPU and memory (uses the same configuration to create accounts).
    Load(crate::load::LoadArgs),
}
