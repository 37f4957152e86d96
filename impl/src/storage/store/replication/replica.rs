//! One replica: its database handle and bookkeeping, opening it, its
//! `applied_seq`, and the signal the committer waits on for a replica to
//! come back.

use super::*;
use super::{StoreError, APPLIED_SEQ, CACHE_BYTES, CLOSE_WAIT, DB_FILE, META};
use redb::{
    Builder, Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, TableError,
    WriteTransaction,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, Weak};
use std::thread::{self};
use std::time::{Duration, Instant};

/// One replica's handle and bookkeeping.
pub(super) struct Replica {
    pub(super) dir: PathBuf,
    /// The open database; `None` while the replica is down.
    pub(super) slot: RwLock<Option<Arc<Database>>>,
    /// Bumped by every crash, so that a transaction begun before the crash
    /// is aborted instead of committed.
    pub(super) generation: AtomicU64,
    /// The last known `applied_seq` (for status; decisions read the file).
    pub(super) applied: AtomicU64,
    /// The handle dropped by the last crash, to wait until it is closed.
    pub(super) closing: Mutex<Weak<Database>>,
}

impl Replica {
    /// The open database and its generation, or `None` if down.
    pub(super) fn handle(&self) -> Option<(Arc<Database>, u64)> {
        let slot = self.slot.read().unwrap_or_else(|e| e.into_inner());
        let db = slot.as_ref()?;
        Some((Arc::clone(db), self.generation.load(Ordering::SeqCst)))
    }

    pub(super) fn is_up(&self) -> bool {
        self.slot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

/// A counter bumped when a replica comes back, for the committer to wait on.
pub(super) struct Signal {
    pub(super) count: Mutex<u64>,
    pub(super) cv: Condvar,
}

impl Signal {
    pub(super) fn current(&self) -> u64 {
        *lock(&self.count)
    }

    pub(super) fn notify(&self) {
        *lock(&self.count) += 1;
        self.cv.notify_all();
    }

    pub(super) fn wait(&self, seen: u64, timeout: Duration) {
        let guard = lock(&self.count);
        let _ = self
            .cv
            .wait_timeout_while(guard, timeout, |count| *count == seen);
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits (bounded) until the handle dropped by the last crash is closed;
/// whether it is.
pub(super) fn wait_closed(rep: &Replica) -> bool {
    let deadline = Instant::now() + CLOSE_WAIT;
    loop {
        if lock(&rep.closing).upgrade().is_none() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// Opens (creating if needed) the database in `dir` with every table.
pub(super) fn open_replica<T: TableSet>(dir: &Path) -> Result<Database, StoreError> {
    fs::create_dir_all(dir)?;
    let db = Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(dir.join(DB_FILE))?;
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    for &table in T::ALL {
        txn.open_table(table.definition())?;
    }
    {
        let mut meta = txn.open_table(META)?;
        if meta.get(APPLIED_SEQ)?.is_none() {
            meta.insert(APPLIED_SEQ, 0)?;
        }
    }
    txn.commit()?;
    Ok(db)
}

pub(super) fn applied_of(db: &Database) -> Result<u64, StoreError> {
    applied_in_read(&db.begin_read()?)
}

pub(super) fn applied_in_read(txn: &ReadTransaction) -> Result<u64, StoreError> {
    match txn.open_table(META) {
        Ok(meta) => Ok(meta.get(APPLIED_SEQ)?.map(|g| g.value()).unwrap_or(0)),
        Err(TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn applied_in_write(txn: &WriteTransaction) -> Result<u64, StoreError> {
    let meta = txn.open_table(META)?;
    let applied = meta.get(APPLIED_SEQ)?.map(|g| g.value()).unwrap_or(0);
    Ok(applied)
}

pub(super) fn set_applied(txn: &WriteTransaction, seq: u64) -> Result<(), StoreError> {
    txn.open_table(META)?.insert(APPLIED_SEQ, seq)?;
    Ok(())
}

/// The total size of the files directly inside `dir` (0 if it is missing).
pub(super) fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.metadata().ok())
        .filter(|meta| meta.is_file())
        .map(|meta| meta.len())
        .sum()
}
