//! The `paindiary-tools` binary's entry point: parse the command line, load the server's
//! configuration (the demo and the load generator open its database), and run the tool.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use paindiary_server::{AppState, Config, server, telemetry};
use paindiary_tools::cli::{Cli, Command};
use paindiary_tools::{demo, load, load_check, load_delivery, phone};

/// jemalloc, tuned in `.cargo/config.toml`, as in the `paindiary` binary: the demo runs the
/// server in this process.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Errors are printed as their message chain, never with a backtrace (even with
/// `RUST_BACKTRACE=1`): they are meant for the person at the terminal. An offline phone
/// sync is an outcome, not a failure, and reads as one sentence.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let offline = e
                .downcast_ref::<phone::PhoneError>()
                .is_some_and(phone::PhoneError::is_offline);
            let mut stderr = std::io::stderr().lock();
            let _ = if offline {
                writeln!(stderr, "{e}")
            } else {
                writeln!(stderr, "Error: {e:#}")
            };
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    paindiary_server::install_crypto_provider();
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    telemetry::init(&config.log).context("initialising logging")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => demo(config, args).await,
            Command::Phone(args) => {
                let mut out = |line: &str| output(line);
                phone::run(*args, &mut out).await?;
                Ok(())
            }
            Command::Load(args) => load(config, args).await,
        }
    })
}

async fn load(config: Config, args: load::LoadArgs) -> anyhow::Result<()> {
    let state = if args.no_auth {
        None
    } else {
        Some(
            AppState::open(config)
                .await
                .context("opening the database")?,
        )
    };
    let json = args.json;
    if let Some(dir) = args.verify.clone() {
        let timeout = Duration::from_secs(args.timeout_secs);
        let report = load_check::verify(state, &dir, Some(&args.url), timeout).await?;
        output(&if json {
            serde_json::to_string(&report)?
        } else {
            report.line()
        });
        anyhow::ensure!(report.ok, "crash verification failed");
        return Ok(());
    }
    if let (Some(catcher), Some(state)) = (args.smtp_catcher, state.clone()) {
        let report = load_delivery::run(state, &args, catcher).await?;
        output(&if json {
            serde_json::to_string(&report)?
        } else {
            report.line()
        });
        anyhow::ensure!(report.ok(), "not every patient got exactly one email");
        return Ok(());
    }
    let report = load::run(state, args).await?;
    if json {
        output(&serde_json::to_string(&report)?);
    } else {
        output(&report.line());
    }
    Ok(())
}

async fn demo(mut config: Config, args: demo::DemoArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    let data_dir = config.data_dir.clone();
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let listen = config.listen;
    let state = AppState::open(config)
        .await
        .context("opening the database")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let mut addr = listener.local_addr().context("listening address")?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::run(listener, state.clone(), async move {
        let _ = stop_rx.await;
    }));
    output(&format!(
        "Seeding the demo clinic through http://{addr} (phones sync over ws://{addr}/sync)..."
    ));
    let seeded = demo::seed(
        &state,
        &format!("ws://{addr}/sync"),
        &data_dir.join("demo-phones"),
        &args,
    )
    .await;
    let summary = match seeded {
        Ok(summary) => summary,
        Err(e) => {
            let _ = stop_tx.send(());
            let _ = tokio::time::timeout(grace, server).await;
            return Err(e).context("seeding the demo");
        }
    };
    for line in demo::banner(&summary, &format!("http://{addr}"), &data_dir) {
        output(&line);
    }
    if !args.no_serve {
        server::shutdown_signal().await;
    }
    let _ = stop_tx.send(());
    match tokio::time::timeout(grace, server).await {
        Ok(joined) => joined.context("server task")?.context("serving HTTP")?,
        Err(_) => tracing::warn!(
            grace_secs = grace.as_secs(),
            "grace period over, exiting with requests in flight"
        ),
    }
    Ok(())
}

/// Tool results go to stdout (logs go to the tracing subscriber); this is the one place.
#[allow(clippy::print_stdout)]
fn output(line: &str) {
    // A closed pipe (`paindiary-tools phone list | head`) ends the output quietly instead of
    // panicking as `println!` would.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
