//! The `paindiary` binary's entry point: parse the command line, load configuration,
//! and run the chosen subcommand.

use std::io::BufRead;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use paindiary_server::accounts::{self, NewPatient, NewUser};
use paindiary_server::cli::{AdminCommand, Cli, Command};
use paindiary_server::domain::{
    ClinicId, DisplayCode, DisplayName, Email, Password, PatientId, Role, TimeZoneName, UserId,
};
use paindiary_server::{AppState, Config, db, demo, projection, server, telemetry};

/// jemalloc, tuned in `.cargo/config.toml`: with glibc's malloc (an arena per thread, pages
/// kept after a burst) the server's RSS was 2.5x its live heap under load.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    paindiary_server::install_crypto_provider();
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    telemetry::init(&config.log).context("initialising logging")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => {
                let conn = db::connect(&config).await?;
                db::migrate(&conn).await?;
                tracing::info!("migrations applied");
                Ok(())
            }
            Command::Admin(cmd) => admin(config, cmd).await,
            Command::Load(args) => {
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
                    let report =
                        paindiary_server::load_check::verify(state, &dir, Some(&args.url), timeout)
                            .await?;
                    output(&if json {
                        serde_json::to_string(&report)?
                    } else {
                        report.line()
                    });
                    anyhow::ensure!(report.ok, "crash verification failed");
                    return Ok(());
                }
                if let (Some(catcher), Some(state)) = (args.smtp_catcher, state.clone()) {
                    let report =
                        paindiary_server::load_delivery::run(state, &args, catcher).await?;
                    output(&if json {
                        serde_json::to_string(&report)?
                    } else {
                        report.line()
                    });
                    anyhow::ensure!(report.ok(), "not every patient got exactly one email");
                    return Ok(());
                }
                let report = paindiary_server::load::run(state, args).await?;
                if json {
                    output(&serde_json::to_string(&report)?);
                } else {
                    output(&report.line());
                }
                Ok(())
            }
            Command::Reproject => reproject(config).await,
            Command::Demo(args) => demo(config, args).await,
            Command::Phone(args) => {
                let mut out = |line: &str| output(line);
                paindiary_server::phone::run(args, &mut out).await?;
                Ok(())
            }
        }
    })
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let listen = config.listen;
    // SQLite is single-process: refuse a second server on the same file up front.
    let _single_server = paindiary_server::serve_lock::acquire(&config)?;
    let state = AppState::open(config)
        .await
        .context("starting (database, migrations, delivery channels)")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        server::shutdown_signal().await;
        let _ = signalled_tx.send(());
    };
    // Alert timers (repeat, escalation, digest); claimed in the database, so every
    // replica may run them.
    let (timers_stop, timers_stopped) = tokio::sync::oneshot::channel::<()>();
    let timers = tokio::spawn(paindiary_server::alerts::timers::run_periodically(
        state.clone(),
        async move {
            let _ = timers_stopped.await;
        },
    ));
    let running = server::run(listener, state, shutdown);
    tokio::pin!(running);
    tokio::select! {
        res = &mut running => res.context("serving HTTP")?,
        Ok(()) = signalled_rx => {
            // Stop accepting happened inside `run`; give in-flight requests the grace period.
            match tokio::time::timeout(grace, &mut running).await {
                Ok(res) => res.context("serving HTTP")?,
                Err(_) => tracing::warn!(grace_secs = grace.as_secs(), "grace period over, exiting with requests in flight"),
            }
        }
    }
    let _ = timers_stop.send(());
    let _ = timers.await;
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

async fn admin(config: Config, cmd: AdminCommand) -> anyhow::Result<()> {
    let state = AppState::open(config)
        .await
        .context("opening the database")?;
    match cmd {
        AdminCommand::CreateClinic { name } => {
            let clinic = accounts::create_clinic(&state, &name).await?;
            output(&format!("clinic_id={}", clinic.id));
        }
        AdminCommand::CreateUser {
            clinic,
            email,
            role,
            name,
            password_stdin,
        } => {
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading password from stdin")?;
                (Password::parse(line.trim_end_matches(['\r', '\n']))?, false)
            } else {
                let bytes: [u8; 12] = rand::random();
                (Password::parse(&hex::encode(bytes))?, true)
            };
            let shown = generated.then(|| password.expose().to_owned());
            let new = NewUser {
                clinic: ClinicId(clinic),
                email: Email::parse(&email)?,
                display_name: DisplayName::parse(&name)?,
                role: Role::parse(&role)?,
                password,
            };
            let user = accounts::create_user(&state, None, new).await?;
            output(&format!("user_id={}", user.id));
            if let Some(pw) = shown {
                output(&format!("password={pw}"));
            }
        }
        AdminCommand::AddToCareTeam { patient, user } => {
            accounts::add_to_care_team(&state, None, None, PatientId(patient), UserId(user))
                .await?;
            output("ok");
        }
        AdminCommand::CreatePatient {
            clinic,
            display_code,
            timezone,
        } => {
            let new = NewPatient {
                clinic: ClinicId(clinic),
                display_code: DisplayCode::parse(&display_code)?,
                timezone: TimeZoneName::parse(&timezone)?,
            };
            let created = accounts::create_patient(&state, None, new).await?;
            output(&format!("patient_id={}", created.patient.id));
            output(&format!("invitation_code={}", created.invitation.code));
            output(&format!(
                "invitation_expires_at={}",
                created.invitation.expires_at.to_rfc3339()
            ));
        }
    }
    Ok(())
}

async fn reproject(config: Config) -> anyhow::Result<()> {
    let conn = db::connect(&config).await?;
    db::migrate(&conn).await?;
    let report = projection::reproject_all(&conn, chrono::Utc::now()).await?;
    let secs = report.elapsed.as_secs_f64();
    output(&format!("documents={}", report.documents));
    output(&format!("corrupt_documents={}", report.corrupt_documents));
    output(&format!("entries={}", report.entries));
    output(&format!("invalid={}", report.invalid));
    output(&format!("unreadable={}", report.unreadable));
    output(&format!("orphans_removed={}", report.orphans_removed));
    output(&format!("care_plans={}", report.care_plans));
    output(&format!("seconds={secs:.3}"));
    output(&format!("load_seconds={:.3}", report.loading.as_secs_f64()));
    output(&format!(
        "entries_per_second={:.0}",
        report.entries as f64 / secs.max(1e-9)
    ));
    Ok(())
}

/// CLI results go to stdout (logs go to the tracing subscriber); this is the one place.
#[allow(clippy::print_stdout)]
fn output(line: &str) {
    use std::io::Write;
    // A closed pipe (`paindiary phone list | head`) ends the output quietly instead of
    // panicking as `println!` would.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
