//! The SQLite single-process guard: `serve` on SQLite holds an exclusive lock on a file
//! beside the database, so a second server on the same file is refused with a clear
//! message instead of running with a stale document cache (SQLite deployments have no
//! change notifications between processes; several replicas need PostgreSQL).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::config::{Config, DatabaseKind};

/// Why `serve` may not start on this database.
#[derive(Debug, thiserror::Error)]
pub enum ServeLockError {
    /// Another `paindiary serve` holds the SQLite file.
    #[error(
        "another paindiary server is already running on the SQLite database {0}; \
         SQLite supports one server process (run several replicas on PostgreSQL)"
    )]
    AlreadyRunning(PathBuf),
    /// The lock file could not be opened or locked.
    #[error("cannot lock {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Held for as long as the server runs; the operating system releases the lock when the
/// process ends, however it ends (also on `kill -9`).
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
}

/// Takes the single-server lock when `config` points at SQLite (`None` for PostgreSQL,
/// where any number of replicas may run).
pub fn acquire(config: &Config) -> Result<Option<ServeLock>, ServeLockError> {
    match config.database_kind() {
        DatabaseKind::Postgres => Ok(None),
        DatabaseKind::Sqlite(path) => lock_beside(&path).map(Some),
    }
}

fn lock_beside(db: &Path) -> Result<ServeLock, ServeLockError> {
    let mut name = db.as_os_str().to_owned();
    name.push(".serve-lock");
    let path = PathBuf::from(name);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ServeLockError::Io {
            path: path.clone(),
            source,
        })?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ServeLockError::Io {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(ServeLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(ServeLockError::AlreadyRunning(db.to_owned())),
        Err(TryLockError::Error(source)) => Err(ServeLockError::Io { path, source }),
    }
}
