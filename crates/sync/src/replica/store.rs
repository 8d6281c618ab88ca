//! The phone's local document store: per document a snapshot written crash-safely (temp
//! file, fsync, rename, fsync of the directory) plus an append-only log of incremental
//! changes with length and checksum framing, so a torn write loses at most the record
//! being written; and per server, the documents' persisted sync states.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use automerge::AutoCommit;
use automerge::sync::State as SyncState;
use sha2::{Digest, Sha256};

use crate::ids::DocumentId;

/// Whether each local write is forced to stable storage before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `fdatasync` after every change (the default: a recorded entry survives power loss).
    #[default]
    Sync,
    /// Leave flushing to the operating system (tests, load generation).
    Buffered,
}

/// Why the local store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file system refused an operation.
    #[error("local store I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A snapshot does not load as an Automerge document.
    #[error("local document {0} is corrupt")]
    Corrupt(DocumentId),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Log records larger than this are treated as corruption (a month is far smaller).
const MAX_RECORD_BYTES: u32 = 64 * 1024 * 1024;

/// A directory of documents and sync states.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    durability: Durability,
}

/// A document as loaded from disk.
pub struct LoadedDoc {
    /// The document.
    pub doc: AutoCommit,
    /// How many log records follow the snapshot (for deciding when to compact).
    pub log_records: usize,
    /// Whether a torn or corrupt log tail was dropped (the caller should compact).
    pub dropped_tail: bool,
}

impl LocalStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>, durability: Durability) -> Result<Self, StoreError> {
        let root = root.into();
        for dir in [root.join("docs"), root.join("sync")] {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        Ok(Self { root, durability })
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn snapshot_path(&self, id: &DocumentId) -> PathBuf {
        self.root.join("docs").join(format!("{id}.automerge"))
    }

    fn log_path(&self, id: &DocumentId) -> PathBuf {
        self.root.join("docs").join(format!("{id}.log"))
    }

    fn sync_path(&self, server: &str, id: &DocumentId) -> PathBuf {
        self.root
            .join("sync")
            .join(server_dir(server))
            .join(format!("{id}.state"))
    }

    /// Documents present on disk.
    pub fn list(&self) -> Result<Vec<DocumentId>, StoreError> {
        let dir = self.root.join("docs");
        let mut ids = Vec::new();
        for item in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let item = item.map_err(io_err(&dir))?;
            let name = item.file_name();
            let name = name.to_string_lossy();
            if let Some(stem) = name
                .strip_suffix(".automerge")
                .or_else(|| name.strip_suffix(".log"))
                && let Ok(id) = stem.parse::<DocumentId>()
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Loads a document: its snapshot, then every intact log record after it.
    pub fn load(&self, id: &DocumentId) -> Result<Option<LoadedDoc>, StoreError> {
        let snapshot = read_optional(&self.snapshot_path(id))?;
        let log = read_optional(&self.log_path(id))?;
        if snapshot.is_none() && log.is_none() {
            return Ok(None);
        }
        let mut doc = match &snapshot {
            Some(bytes) => AutoCommit::load(bytes).map_err(|_| StoreError::Corrupt(*id))?,
            None => AutoCommit::new(),
        };
        let mut log_records = 0;
        let mut dropped_tail = false;
        if let Some(log) = log {
            let mut rest = log.as_slice();
            while !rest.is_empty() {
                match split_record(rest) {
                    Some((record, tail)) => {
                        if doc.load_incremental(record).is_err() {
                            dropped_tail = true;
                            break;
                        }
                        log_records += 1;
                        rest = tail;
                    }
                    None => {
                        dropped_tail = true;
                        break;
                    }
                }
            }
        }
        // Everything loaded counts as saved: the next incremental save holds only new work.
        let _ = doc.save_incremental();
        Ok(Some(LoadedDoc {
            doc,
            log_records,
            dropped_tail,
        }))
    }

    /// Appends incremental change bytes to a document's log.
    pub fn append(&self, id: &DocumentId, changes: &[u8]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let path = self.log_path(id);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut record = Vec::with_capacity(changes.len() + 8);
        record.extend_from_slice(&(changes.len() as u32).to_le_bytes());
        record.extend_from_slice(&checksum(changes));
        record.extend_from_slice(changes);
        file.write_all(&record).map_err(io_err(&path))?;
        if self.durability == Durability::Sync {
            file.sync_data().map_err(io_err(&path))?;
        }
        Ok(())
    }

    /// Replaces a document's snapshot with `bytes` (a full save) and empties its log.
    pub fn write_snapshot(&self, id: &DocumentId, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.snapshot_path(id);
        write_atomically(&path, bytes, self.durability)?;
        let log = self.log_path(id);
        match fs::remove_file(&log) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&log)(e)),
        }
    }

    /// The persisted sync state of a document with one server, if any.
    pub fn load_sync_state(
        &self,
        server: &str,
        id: &DocumentId,
    ) -> Result<Option<SyncState>, StoreError> {
        Ok(read_optional(&self.sync_path(server, id))?
            .and_then(|bytes| SyncState::decode(&bytes).ok()))
    }

    /// Persists a document's sync state with one server (only the shared heads are kept:
    /// that is what lets a reconnect send just what is new).
    pub fn save_sync_state(
        &self,
        server: &str,
        id: &DocumentId,
        state: &SyncState,
    ) -> Result<(), StoreError> {
        let path = self.sync_path(server, id);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        write_atomically(&path, &state.encode(), self.durability)
    }

    /// Reads a small metadata file at the store's root.
    pub fn read_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        read_optional(&self.root.join(name))
    }

    /// Writes a small metadata file at the store's root, crash-safely.
    pub fn write_meta(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        write_atomically(&self.root.join(name), bytes, Durability::Sync)
    }
}

/// A file-system-safe directory name for a server URL (hex of a hash: URLs hold `/` and `:`).
fn server_dir(server: &str) -> String {
    hex::encode(&Sha256::digest(server.as_bytes())[..12])
}

fn checksum(bytes: &[u8]) -> [u8; 4] {
    let digest = Sha256::digest(bytes);
    [digest[0], digest[1], digest[2], digest[3]]
}

fn split_record(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(input.get(..4)?.try_into().ok()?);
    if len > MAX_RECORD_BYTES {
        return None;
    }
    let sum = input.get(4..8)?;
    let end = 8usize.checked_add(len as usize)?;
    let record = input.get(8..end)?;
    (checksum(record) == sum).then(|| (record, &input[end..]))
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match File::open(path) {
        Ok(mut file) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(io_err(path))?;
            Ok(Some(bytes))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one:
/// write a temporary file beside it, fsync it, rename it over, fsync the directory.
fn write_atomically(path: &Path, bytes: &[u8], durability: Durability) -> Result<(), StoreError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    {
        let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
        file.write_all(bytes).map_err(io_err(&tmp))?;
        if durability == Durability::Sync {
            file.sync_all().map_err(io_err(&tmp))?;
        }
    }
    fs::rename(&tmp, path).map_err(io_err(path))?;
    if durability == Durability::Sync
        && let Some(dir) = path.parent()
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    #[test]
    fn snapshot_plus_log_reload_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path(), Durability::Sync).unwrap();
        let id = DocumentId::random();
        let mut doc = AutoCommit::new();
        doc.put(automerge::ROOT, "a", 1).unwrap();
        store.write_snapshot(&id, &doc.save()).unwrap();
        doc.put(automerge::ROOT, "b", 2).unwrap();
        store.append(&id, &doc.save_incremental()).unwrap();
        doc.put(automerge::ROOT, "c", 3).unwrap();
        store.append(&id, &doc.save_incremental()).unwrap();
        // A crash in the middle of the third append leaves half a record.
        let log = store.log_path(&id);
        let mut bytes = fs::read(&log).unwrap();
        bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2]);
        fs::write(&log, bytes).unwrap();

        let mut loaded = store.load(&id).unwrap().unwrap();
        assert_eq!(loaded.log_records, 2);
        assert!(loaded.dropped_tail);
        assert_eq!(loaded.doc.get_heads(), doc.get_heads());
        assert_eq!(store.list().unwrap(), vec![id]);
    }
}
