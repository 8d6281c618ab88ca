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
use paindiary_server::{AppState, Config, db, projection, server, telemetry};

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
            Command::Reproject => reproject(config).await,
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
    // Patient reminders: claimed per occurrence in the database, like the alert timers.
    let (reminders_stop, reminders_stopped) = tokio::sync::oneshot::channel::<()>();
    let reminders = tokio::spawn(paindiary_server::reminders::timer::run_periodically(
        state.clone(),
        async move {
            let _ = reminders_stopped.await;
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
    let _ = reminders_stop.send(());
    let _ = reminders.await;
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
    // A closed pipe (`paindiary reproject | head`) ends the output quietly instead of
    // panicking as `println!` would.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
