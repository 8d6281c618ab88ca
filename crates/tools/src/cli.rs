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
    /// A phone on the command line: log in, record, edit and delete entries offline, sync.
    Phone(Box<crate::phone::PhoneArgs>),
    /// Drive a running server with simulated phones and report throughput, latency,
    /// bytes, server CPU and memory (uses the same configuration to create accounts).
    Load(crate::load::LoadArgs),
}

#[cfg(test)]
mod tests {
    // Tests report failure by panicking.
    #![allow(clippy::panic)]

    use clap::{CommandFactory, Parser};

    use super::{Cli, Command};
    use crate::phone::PhoneCommand;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn phone_options_go_on_either_side_of_the_subcommand() {
        for args in [
            &[
                "paindiary-tools",
                "phone",
                "--dir",
                "x",
                "log",
                "--at",
                "-2h",
                "pain",
                "--score",
                "6",
            ][..],
            &[
                "paindiary-tools",
                "phone",
                "log",
                "pain",
                "--score",
                "6",
                "--at",
                "-2h",
                "--dir",
                "x",
            ][..],
        ] {
            let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let Command::Phone(phone) = cli.command else {
                panic!("not a phone command")
            };
            assert_eq!(phone.dir, std::path::PathBuf::from("x"), "{args:?}");
            let PhoneCommand::Log(log) = phone.command else {
                panic!("not a log command")
            };
            assert_eq!(log.at.as_deref(), Some("-2h"), "{args:?}");
        }
    }
}
