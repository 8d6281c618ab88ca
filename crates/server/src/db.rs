//! Opening the database (SQLite or PostgreSQL) and applying migrations.

use std::time::Duration;

use paindiary_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use secrecy::ExposeSecret;

use crate::config::{Config, DatabaseKind};

/// Why the database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum DbOpenError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Connecting failed. The URL is deliberately not part of the message.
    #[error("cannot connect to the database: {0}")]
    Connect(DbErr),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(DbErr),
    /// Projecting stored care plans after the migrations failed.
    #[error("projecting stored care plans failed: {0}")]
    Backfill(String),
}

/// Connects according to `config`: SQLite (file created if missing, WAL, foreign keys,
/// busy timeout) unless the URL says PostgreSQL.
pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbOpenError> {
    open(
        config,
        config.database.max_connections,
        Checkpoints::OnCommit,
    )
    .await
}

/// The connection the sync hub's group commits write through. On SQLite it is one
/// dedicated connection, kept open: SQLite drops a connection's page cache whenever
/// another connection wrote, so batches taken from the shared pool re-read their index
/// pages from the OS each time, while the only writer's cache stays valid. Writes are
/// serialised by SQLite anyway. On PostgreSQL it is `pool` itself.
pub async fn connect_writer(
    config: &Config,
    pool: &DatabaseConnection,
) -> Result<DatabaseConnection, DbOpenError> {
    match config.database_kind() {
        DatabaseKind::Postgres => Ok(pool.clone()),
        DatabaseKind::Sqlite(_) => open(config, 1, Checkpoints::Separate).await,
    }
}

/// Who checkpoints the SQLite WAL into the database file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Checkpoints {
    /// SQLite's default: the connection whose commit grows the WAL past 1,000 pages.
    OnCommit,
    /// Never this connection: [`checkpoint_periodically`] does it from the pool.
    Separate,
}

/// How often the WAL is checkpointed off the group-commit path.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Checkpoints the SQLite WAL every second through the pool until `stop` turns true
/// (a no-op on PostgreSQL). The group-commit writer does not checkpoint (see
/// [`connect_writer`]): a checkpoint copies the WAL into the database file and fsyncs it,
/// which on the writer stalls every phone waiting on that batch (seconds after a burst).
/// `PASSIVE` never blocks the writer or readers.
pub async fn checkpoint_periodically(
    config: &Config,
    pool: DatabaseConnection,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    if config.database_kind() == DatabaseKind::Postgres {
        return;
    }
    let mut tick = tokio::time::interval(CHECKPOINT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        if let Err(e) = pool
            .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed; retrying in a second");
        }
    }
}

async fn open(
    config: &Config,
    max_connections: u32,
    checkpoints: Checkpoints,
) -> Result<DatabaseConnection, DbOpenError> {
    let db_config = &config.database;
    let mut opts = match config.database_kind() {
        DatabaseKind::Postgres => {
            let url = db_config
                .url
                .as_ref()
                .map(|u| u.expose_secret().to_owned())
                .unwrap_or_default();
            ConnectOptions::new(url)
        }
        DatabaseKind::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| DbOpenError::DataDir {
                    path: dir.to_owned(),
                    source,
                })?;
            }
            let busy = Duration::from_millis(db_config.sqlite_busy_timeout_ms);
            let mut o = ConnectOptions::new(format!("sqlite://{}?mode=rwc", path.display()));
            o.map_sqlx_sqlite_opts(move |s| {
                let s = if checkpoints == Checkpoints::Separate {
                    s.pragma("wal_autocheckpoint", "0")
                } else {
                    s
                };
                s.journal_mode(SqliteJournalMode::Wal)
                    // NORMAL is durable under WAL except for the last transactions on power loss
                    // of the OS; FULL fsyncs every commit. Health data: we take FULL.
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(busy)
            });
            o
        }
    };
    opts.max_connections(max_connections)
        .connect_timeout(Duration::from_secs(10))
        // sqlx statement logging would be noise at info level; statements carry no values
        // but we keep the log for our own events.
        .sqlx_logging(false);
    Database::connect(opts).await.map_err(DbOpenError::Connect)
}

/// Applies every pending migration, then fills what a migration adds but cannot compute
/// in SQL: the prescriptions of care plans stored before they were projected (a single
/// query once that is done).
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbOpenError> {
    Migrator::up(db, None).await.map_err(DbOpenError::Migrate)?;
    let projected = crate::projection::care_plan::project_unprojected(db, chrono::Utc::now())
        .await
        .map_err(|e| DbOpenError::Backfill(e.to_string()))?;
    if projected > 0 {
        tracing::info!(care_plans = projected, "care-plan prescriptions projected");
    }
    Ok(())
}

/// Whether the database answers a trivial query (for `/readyz`).
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}

/// Begins a transaction that is going to write.
///
/// On SQLite this is `BEGIN IMMEDIATE`: a deferred transaction that reads and then writes
/// fails at once with `SQLITE_BUSY` if another connection committed in between (the busy
/// timeout does not apply to that upgrade), while an immediate one takes the write lock
/// up front and waits for it up to the busy timeout. PostgreSQL ignores the option.
/// Every write path (accounts now; storage and projection later) should start here.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}
