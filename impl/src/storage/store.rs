//! The replicated store: three replicas, each a redb database in its own
//! directory, kept identical by state machine replication (claims STO-6,
//! STO-7, and STO-9's space reclaim).
//!
//! # Writes
//!
//! A write is a deterministic [`Command`] (its time is inside it, never read
//! from a clock). [`ReplicatedStore::write`] puts it on a bounded queue (a
//! full queue answers [`StoreError::Busy`] at once) and a single committer
//! thread takes up to `max_batch` queued commands as one *batch* with the
//! next sequence number. The batch is applied, in queue order, to each
//! replica inside one write transaction that also records the replica's
//! `applied_seq`; the three outputs must agree (a disagreement stops the
//! store: see [`StoreError::Diverged`]). The three transactions are then
//! committed in parallel with [`Durability::Immediate`], one fsync per
//! replica per batch (group commit), and only when all three have committed
//! are the callers answered.
//!
//! A batch starts only when all three replicas are up and at the same
//! sequence number; the committer waits up to `replica_wait_ms` for that.
//! If a replica crashes after the batch started, the batch may be committed
//! on the other replicas; the committer then waits (within the same
//! `replica_wait_ms`) for the crashed replica to be restarted and brings it
//! to the batch's sequence number. If it does not come back in time the
//! callers get [`StoreError::Busy`] although the batch may be on the live
//! replicas: such a write is *unacknowledged and indeterminate* (it may or
//! may not have happened, exactly as when a client times out); the down
//! replica gets it when it is restarted, since a restart copies the state of
//! the most advanced live peer.
//!
//! # Reads
//!
//! A read is served by one live replica, rotating among them, but only by a
//! replica whose snapshot has every batch that any reader could have seen:
//! see [`ReplicatedStore::read`] for the watermark and why it makes reads
//! linearizable without a lock shared with writers.
//!
//! # Faults
//!
//! [`ReplicatedStore::crash`], [`ReplicatedStore::restart`] and
//! [`ReplicatedStore::lose`] simulate a node stopping, coming back with its
//! disk, and coming back without it. A restarted replica catches up from a
//! live peer (copying what differs in every table, deletions included, in
//! one transaction) before it serves anything.

use crate::bugs::{BugSet, SeededBug};
use crate::storage::error::ErrorCode;
use redb::{
    Builder, Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable,
    TableDefinition, TableError, WriteTransaction,
};
use std::fs;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How many replicas hold every account's data: a write is acknowledged
/// only once all of them hold it durably.
pub const REPLICA_COUNT: usize = 3;

/// The database file inside a replica's directory.
const DB_FILE: &str = "replica.redb";
/// redb's page cache per replica (its default is 1 GiB).
const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// Catch-up copies at most this many keys per chunk...
const CHUNK_KEYS: usize = 256;
/// ...and stops a chunk once it holds this many bytes of keys and values.
const CHUNK_BYTES: usize = 8 * 1024 * 1024;
/// How often the idle committer checks for a replica to bring up to date.
const IDLE_TICK: Duration = Duration::from_millis(50);
/// How often a paused committer looks whether it may go on.
const PAUSED_POLL: Duration = Duration::from_millis(1);
/// The longest the committer sleeps between looks at a down replica.
const POLL: Duration = Duration::from_millis(10);
/// How long a crash, restart or loss waits for the old handle of a replica
/// to be released (by an in-flight transaction or read).
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// The internal meta table: `applied_seq` is the sequence number of the last
/// batch the replica holds.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const APPLIED_SEQ: &str = "applied_seq";

/// One of the store's key/value tables (keys are strings, values bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Container records.
    Containers,
    /// Blob records (properties, block lists, leases, snapshots).
    Blobs,
    /// Blob content.
    Data,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 3] = [Table::Containers, Table::Blobs, Table::Data];

    /// The table's name in each replica's database.
    pub const fn name(self) -> &'static str {
        match self {
            Table::Containers => "containers",
            Table::Blobs => "blobs",
            Table::Data => "data",
        }
    }

    const fn index(self) -> usize {
        match self {
            Table::Containers => 0,
            Table::Blobs => 1,
            Table::Data => 2,
        }
    }

    const fn definition(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(self.name())
    }
}

/// What the store refuses or fails with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The write queue is full, or a replica did not come back in time; the
    /// write was not acknowledged (and may or may not have happened).
    #[error("the store is busy (write queue full or a replica is down); retry")]
    Busy,
    /// No replica can serve the request now (down or behind), or the store
    /// is shutting down.
    #[error("no up-to-date replica is available")]
    Unavailable,
    /// A file-system or database I/O failure.
    #[error("storage I/O failed: {0}")]
    Io(String),
    /// A replica's file, or a record in it, is corrupt.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A key or value is larger than the database accepts.
    #[error("a key or value of {0} bytes is too large to store")]
    TooLarge(usize),
    /// The replicas computed different outputs for the same command: the
    /// state machine is not deterministic or a replica diverged. The store
    /// stops accepting writes.
    #[error("replicas diverged; writes are stopped: {0}")]
    Diverged(String),
    /// There is no replica with this number (they are 0, 1 and 2).
    #[error("there is no replica {0}")]
    InvalidReplica(usize),
    /// Any other database failure.
    #[error("storage failed: {0}")]
    Internal(String),
}

impl StoreError {
    /// The Blob service error this failure is answered with.
    pub const fn error_code(&self) -> ErrorCode {
        match self {
            StoreError::Busy | StoreError::Unavailable => ErrorCode::ServerBusy,
            _ => ErrorCode::InternalError,
        }
    }
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::Io(e) => StoreError::Io(e.to_string()),
            redb::Error::Corrupted(what) => StoreError::Corrupt(what),
            redb::Error::ValueTooLarge(n) => StoreError::TooLarge(n),
            redb::Error::DatabaseClosed => StoreError::Unavailable,
            other => StoreError::Internal(other.to_string()),
        }
    }
}

macro_rules! from_redb_error {
    ($($t:ty),+ $(,)?) => {
        $(
            impl From<$t> for StoreError {
                fn from(e: $t) -> Self {
                    StoreError::from(redb::Error::from(e))
                }
            }
        )+
    };
}

from_redb_error!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError,
    redb::SetDurabilityError,
);

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

/// Read access to one consistent snapshot of the tables.
pub trait Tables {
    /// The value stored under `key`, if any.
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The entries whose keys start with `prefix`, in key order, at most
    /// `limit` of them.
    fn range(
        &self,
        table: Table,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

/// Read and write access to the tables, inside one write transaction.
pub trait TablesMut: Tables {
    /// Stores `value` under `key`, replacing any previous value.
    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError>;

    /// Removes `key`; whether it was there.
    fn delete(&mut self, table: Table, key: &str) -> Result<bool, StoreError>;
}

/// A deterministic state-machine command: applied to each replica in the
/// same order, it must compute the same output on each. It never reads a
/// clock, a random source or anything else outside `tables` and itself.
///
/// An `Err` from `apply` aborts the batch's transaction on that replica. If
/// every replica fails the same command with the same (non-I/O) error, that
/// command's caller gets the error and the rest of the batch is applied
/// without it; a command should therefore decide before it writes, and keep
/// refusals it wants to persist nothing for in its `Output`.
pub trait Command: Send + Sync + 'static {
    /// What the command answers its caller.
    type Output: Send + PartialEq + std::fmt::Debug + 'static;

    /// Applies the command to replica `replica` (0 to 2). A correct command
    /// ignores which replica it is on; the index exists so that seeded bugs
    /// can make replicas diverge.
    fn apply(&self, replica: usize, tables: &mut dyn TablesMut)
        -> Result<Self::Output, StoreError>;
}

/// How to open a [`ReplicatedStore`].
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// One directory per replica; each holds one redb file.
    pub replica_dirs: [PathBuf; REPLICA_COUNT],
    /// How many writes may wait for the committer; one more is `Busy`.
    pub queue_capacity: usize,
    /// The most commands committed in one batch (one transaction, one fsync
    /// per replica).
    pub max_batch: usize,
    /// How long a batch waits for a down replica before its callers get
    /// `Busy`.
    pub replica_wait_ms: u64,
    /// Seeded bugs switched on (empty outside tests of the harness).
    pub bugs: BugSet,
}

impl StoreConfig {
    /// The default configuration: a queue of 1024 writes, batches of up to
    /// 64, and a 2 s wait for a down replica.
    pub fn new(replica_dirs: [PathBuf; REPLICA_COUNT]) -> Self {
        StoreConfig {
            replica_dirs,
            queue_capacity: 1024,
            max_batch: 64,
            replica_wait_ms: 2000,
            bugs: BugSet::NONE,
        }
    }
}

/// One replica as [`ReplicatedStore::status`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// Whether it is serving (not crashed or lost).
    pub up: bool,
    /// The sequence number of the last batch it holds (the last known one
    /// when it is down).
    pub applied_seq: u64,
    /// Its directory.
    pub dir: PathBuf,
}

/// A write waiting for the committer.
struct Job<C: Command> {
    cmd: C,
    reply: oneshot::Sender<Result<C::Output, StoreError>>,
}

/// One replica's handle and bookkeeping.
struct Replica {
    dir: PathBuf,
    /// The open database; `None` while the replica is down.
    slot: RwLock<Option<Arc<Database>>>,
    /// Bumped by every crash, so that a transaction begun before the crash
    /// is aborted instead of committed.
    generation: AtomicU64,
    /// The last known `applied_seq` (for status; decisions read the file).
    applied: AtomicU64,
    /// The handle dropped by the last crash, to wait until it is closed.
    closing: Mutex<Weak<Database>>,
}

impl Replica {
    /// The open database and its generation, or `None` if down.
    fn handle(&self) -> Option<(Arc<Database>, u64)> {
        let slot = self.slot.read().unwrap_or_else(|e| e.into_inner());
        let db = slot.as_ref()?;
        Some((Arc::clone(db), self.generation.load(Ordering::SeqCst)))
    }

    fn is_up(&self) -> bool {
        self.slot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

/// A counter bumped when a replica comes back, for the committer to wait on.
struct Signal {
    count: Mutex<u64>,
    cv: Condvar,
}

impl Signal {
    fn current(&self) -> u64 {
        *lock(&self.count)
    }

    fn notify(&self) {
        *lock(&self.count) += 1;
        self.cv.notify_all();
    }

    fn wait(&self, seen: u64, timeout: Duration) {
        let guard = lock(&self.count);
        let _ = self
            .cv
            .wait_timeout_while(guard, timeout, |count| *count == seen);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the committer thread and the store's handles share.
struct Shared {
    /// One per replica, `REPLICA_COUNT` of them.
    replicas: Vec<Replica>,
    /// The read watermark: no replica below it may serve a read.
    max_applied: AtomicU64,
    next_reader: AtomicUsize,
    /// Serializes crash, restart and lose.
    faults: Mutex<()>,
    changed: Signal,
    shutdown: AtomicBool,
    /// Set when the replicas disagreed: writes are refused from then on.
    halted: Mutex<Option<String>>,
    bugs: BugSet,
    max_batch: usize,
    replica_wait: Duration,
    /// While set, the committer takes nothing off the queue (conformance
    /// replay holds a write in flight this way).
    paused: AtomicBool,
    /// Writes on the queue, not yet taken by the committer.
    queued: AtomicUsize,
}

/// How a batch went on one replica before commit.
enum Stage<O> {
    /// Applied, not yet committed.
    Ready(Box<Staged<O>>),
    /// The replica already holds the batch (caught up from a peer).
    Has,
    /// The replica is behind the batch's predecessor.
    Behind,
    /// The replica is down.
    Down,
    /// Command `.0` failed with `.1`; nothing is committed.
    CmdErr(usize, StoreError),
    /// The transaction could not be run.
    Fault(StoreError),
}

/// A batch applied to one replica and waiting to be committed.
struct Staged<O> {
    txn: WriteTransaction,
    generation: u64,
    outputs: Vec<O>,
    // Dropped after `txn`: keeps the database open while the batch is staged.
    _db: Arc<Database>,
}

/// The verdict on a batch applied to every participant.
enum Verdict<O> {
    Commit(Vec<(usize, Staged<O>)>),
    CommandFailed(usize, StoreError),
    Diverged(String),
    Retry,
}

/// Three redb replicas kept identical by state machine replication: writes
/// are acknowledged once all three hold them durably, reads come only from a
/// replica holding every write a reader could have seen.
pub struct ReplicatedStore<C: Command> {
    shared: Arc<Shared>,
    sender: Option<SyncSender<Job<C>>>,
    committer: Option<JoinHandle<()>>,
}

impl<C: Command> ReplicatedStore<C> {
    /// Opens (or creates) the three replicas, brings the ones that are
    /// behind up to the most advanced one, and starts the committer.
    pub fn open(config: StoreConfig) -> Result<Self, StoreError> {
        let mut dbs = Vec::with_capacity(REPLICA_COUNT);
        for dir in &config.replica_dirs {
            dbs.push(open_replica(dir)?);
        }
        let mut seqs = [0u64; REPLICA_COUNT];
        for (seq, db) in seqs.iter_mut().zip(&dbs) {
            *seq = applied_of(db)?;
        }
        let (best, max) = seqs
            .iter()
            .copied()
            .enumerate()
            .max_by_key(|&(_, s)| s)
            .unwrap_or((0, 0));
        for r in 0..REPLICA_COUNT {
            if seqs[r] < max {
                seqs[r] = catch_up(&dbs[best], &dbs[r], None)?;
            }
        }
        let replica = |dir: PathBuf, db: Database, seq: u64| Replica {
            dir,
            slot: RwLock::new(Some(Arc::new(db))),
            generation: AtomicU64::new(0),
            applied: AtomicU64::new(seq),
            closing: Mutex::new(Weak::new()),
        };
        let shared = Arc::new(Shared {
            replicas: config
                .replica_dirs
                .into_iter()
                .zip(dbs)
                .zip(seqs)
                .map(|((dir, db), seq)| replica(dir, db, seq))
                .collect(),
            max_applied: AtomicU64::new(max),
            next_reader: AtomicUsize::new(0),
            faults: Mutex::new(()),
            changed: Signal {
                count: Mutex::new(0),
                cv: Condvar::new(),
            },
            shutdown: AtomicBool::new(false),
            halted: Mutex::new(None),
            bugs: config.bugs,
            max_batch: config.max_batch.max(1),
            replica_wait: Duration::from_millis(config.replica_wait_ms),
            paused: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
        });
        let (sender, receiver) = mpsc::sync_channel(config.queue_capacity.max(1));
        let for_thread = Arc::clone(&shared);
        let committer = thread::Builder::new()
            .name("store-committer".into())
            .spawn(move || run_committer(&for_thread, &receiver))?;
        Ok(ReplicatedStore {
            shared,
            sender: Some(sender),
            committer: Some(committer),
        })
    }

    /// Applies `cmd` to all three replicas and answers its output once all
    /// three hold it durably.
    ///
    /// [`StoreError::Busy`] at once when the queue is full; `Busy` after
    /// `replica_wait_ms` when a replica stays down (the write may then have
    /// been applied to the live replicas: it is unacknowledged and
    /// indeterminate). A write whose future is dropped before the committer
    /// takes it up is not applied.
    pub async fn write(&self, cmd: C) -> Result<C::Output, StoreError> {
        if let Some(why) = self.shared.halted_reason() {
            return Err(StoreError::Diverged(why));
        }
        let Some(sender) = &self.sender else {
            return Err(StoreError::Unavailable);
        };
        let (reply, answer) = oneshot::channel();
        // Counted before it is sent, so the committer never takes away what
        // was not yet counted.
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        match sender.try_send(Job { cmd, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.shared.queued.fetch_sub(1, Ordering::SeqCst);
                return Err(StoreError::Busy);
            }
            Err(TrySendError::Disconnected(_)) => {
                self.shared.queued.fetch_sub(1, Ordering::SeqCst);
                return Err(StoreError::Unavailable);
            }
        }
        answer.await.unwrap_or(Err(StoreError::Unavailable))
    }

    /// Stops the committer from taking writes off the queue: they wait,
    /// unapplied and unanswered, until [`ReplicatedStore::resume_commits`].
    /// For conformance replay, which holds a write in flight while the model
    /// replicates it.
    pub fn pause_commits(&self) {
        self.shared.paused.store(true, Ordering::SeqCst);
    }

    /// Lets the committer take writes again.
    pub fn resume_commits(&self) {
        self.shared.paused.store(false, Ordering::SeqCst);
    }

    /// Writes waiting on the queue, not yet taken by the committer.
    pub fn queued_writes(&self) -> usize {
        self.shared.queued.load(Ordering::SeqCst)
    }

    /// Runs `f` on a snapshot of a live replica that holds every batch any
    /// reader could have seen, rotating among the replicas;
    /// [`StoreError::Unavailable`] if none does.
    ///
    /// # Why reads are linearizable without a lock
    ///
    /// Every replica applies the same batches in the same order, so a
    /// snapshot with `applied_seq = a` is exactly the state after batches
    /// `1..=a`. `max_applied` (the watermark) is raised with `fetch_max` to
    /// `s` by the committer after a replica commits batch `s`, before any
    /// caller of that batch is answered, and by a reader to the
    /// `applied_seq` of the snapshot it is about to use, before it returns
    /// (a replica's commit is visible before the committer's `fetch_max`,
    /// so a reader may be first to see a batch; it publishes it).
    /// A read loads the watermark `w` *before* it opens its read transaction
    /// and accepts the snapshot only if its `applied_seq` (read inside that
    /// same transaction) is at least `w`. Hence:
    ///
    /// - a write acknowledged before the read began has `s <= w <= a`: the
    ///   read sees it;
    /// - a read that returned before this one began published its `a'`, so
    ///   `a' <= w <= a`: this read sees everything that one saw, never an
    ///   older state (and a delete, once seen or acknowledged, stays seen);
    /// - a write enqueued after this read returned gets a batch after every
    ///   batch on any replica, so `s > a`.
    ///
    /// Ordering writes by batch (and queue order inside it) and each read
    /// right after batch `a` is thus a linearization. The check is against
    /// the snapshot actually read, so no lock is shared with the committer:
    /// the only lock a read takes guards the replica's handle, long enough
    /// to clone it.
    ///
    /// One case is outside this: if every copy of an *unacknowledged* batch
    /// is lost (say it reached replica 0 alone before the others crashed,
    /// and replica 0 is then lost), no replica can reach the watermark, and
    /// the committer lowers it to what the three hold once all three are up
    /// again; a read may have seen that batch. Acknowledged batches are on
    /// all three replicas and survive any two losses (STO-7).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&dyn Tables) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let start = self.shared.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..REPLICA_COUNT {
            if let Some(tables) = self
                .shared
                .fresh_snapshot((start % REPLICA_COUNT + i) % REPLICA_COUNT)
            {
                return f(&tables);
            }
        }
        Err(StoreError::Unavailable)
    }

    /// Runs `f` on a snapshot of replica `replica` (for conformance checks);
    /// [`StoreError::Unavailable`] if it is down or behind the watermark.
    pub fn read_from<T>(
        &self,
        replica: usize,
        f: impl FnOnce(&dyn Tables) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.shared.replica(replica)?;
        match self.shared.fresh_snapshot(replica) {
            Some(tables) => f(&tables),
            None => Err(StoreError::Unavailable),
        }
    }

    /// Stops replica `replica`: its database handle is dropped and it serves
    /// nothing; a transaction in flight on it is aborted. Its files stay.
    pub fn crash(&self, replica: usize) {
        let Ok(rep) = self.shared.replica(replica) else {
            return;
        };
        let _faults = lock(&self.shared.faults);
        self.shared.crash_locked(rep);
    }

    /// Brings replica `replica` back: reopens its database (creating an
    /// empty one if it was lost), copies from the most advanced live peer
    /// whatever differs in every table, deletions included, and only then
    /// serves it. A no-op if it is up.
    pub fn restart(&self, replica: usize) -> Result<(), StoreError> {
        let rep = self.shared.replica(replica)?;
        let _faults = lock(&self.shared.faults);
        if rep.is_up() {
            return Ok(());
        }
        if !wait_closed(rep) {
            return Err(StoreError::Busy);
        }
        let db = open_replica(&rep.dir)?;
        let own = applied_of(&db)?;
        let best = (0..REPLICA_COUNT)
            .filter(|&p| p != replica)
            .filter_map(|p| {
                let (peer, _) = self.shared.replicas[p].handle()?;
                let seq = applied_of(&peer).ok()?;
                Some((peer, seq))
            })
            .max_by_key(|(_, seq)| *seq);
        // claim: STO-7 (a lost replica is rebuilt from a peer, which holds
        // every acknowledged write, before it serves)
        let applied = match best {
            Some((peer, seq)) if seq > own => catch_up(&peer, &db, None)?,
            _ => own,
        };
        rep.applied.store(applied, Ordering::SeqCst);
        *rep.slot.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(db));
        self.shared.changed.notify();
        Ok(())
    }

    /// Crashes replica `replica` and deletes its directory: the node is
    /// gone. A restart rebuilds it from a peer.
    pub fn lose(&self, replica: usize) {
        let Ok(rep) = self.shared.replica(replica) else {
            return;
        };
        let _faults = lock(&self.shared.faults);
        self.shared.crash_locked(rep);
        match fs::remove_dir_all(&rep.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(replica, error = %e, "could not delete a lost replica"),
        }
        rep.applied.store(0, Ordering::SeqCst);
    }

    /// Each replica: up or not, the last batch it holds, its directory.
    pub fn status(&self) -> [ReplicaStatus; REPLICA_COUNT] {
        std::array::from_fn(|r| {
            let rep = &self.shared.replicas[r];
            let handle = rep.handle();
            let applied_seq = handle
                .as_ref()
                .and_then(|(db, _)| applied_of(db).ok())
                .unwrap_or_else(|| rep.applied.load(Ordering::SeqCst));
            ReplicaStatus {
                up: handle.is_some(),
                applied_seq,
                dir: rep.dir.clone(),
            }
        })
    }

    /// The total size of the files in the three replicas' directories.
    pub fn disk_bytes(&self) -> u64 {
        self.shared
            .replicas
            .iter()
            .map(|rep| dir_bytes(&rep.dir))
            .sum()
    }
}

impl<C: Command> Drop for ReplicatedStore<C> {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.changed.notify();
        drop(self.sender.take());
        if let Some(committer) = self.committer.take() {
            if committer.join().is_err() {
                tracing::error!("the store's committer thread panicked");
            }
        }
    }
}

impl Shared {
    fn replica(&self, replica: usize) -> Result<&Replica, StoreError> {
        self.replicas
            .get(replica)
            .ok_or(StoreError::InvalidReplica(replica))
    }

    fn halted_reason(&self) -> Option<String> {
        lock(&self.halted).clone()
    }

    fn halt(&self, why: String) {
        tracing::error!(%why, "replicas diverged; the store stops taking writes");
        let mut halted = lock(&self.halted);
        if halted.is_none() {
            *halted = Some(why);
        }
    }

    fn crash_locked(&self, rep: &Replica) {
        let old = {
            let mut slot = rep.slot.write().unwrap_or_else(|e| e.into_inner());
            rep.generation.fetch_add(1, Ordering::SeqCst);
            slot.take()
        };
        if let Some(db) = old {
            *lock(&rep.closing) = Arc::downgrade(&db);
            drop(db);
        }
        // Whoever still holds the handle (a staged batch, which the new
        // generation makes abort, or a read) lets go shortly.
        if !wait_closed(rep) {
            tracing::warn!(dir = %rep.dir.display(), "a crashed replica's handle is still held");
        }
    }

    /// A snapshot of replica `r` if it is up and holds every batch a reader
    /// could have seen.
    fn fresh_snapshot(&self, r: usize) -> Option<ReadTables> {
        // claim: STO-6 (the watermark is loaded before the snapshot is
        // opened, and a snapshot below it is never served)
        let watermark = self.max_applied.load(Ordering::SeqCst);
        let (db, _) = self.replicas.get(r)?.handle()?;
        let txn = db.begin_read().ok()?;
        let applied = applied_in_read(&txn).ok()?;
        let stale_ok = self.bugs.has(SeededBug::ReadsIgnoreWatermark); // seeded bug (STO-6)
        if applied < watermark && !stale_ok {
            return None;
        }
        self.max_applied.fetch_max(applied, Ordering::SeqCst);
        Some(ReadTables { txn, _db: db })
    }

    /// Reads each up replica's `applied_seq`, brings up replicas that are
    /// behind to the most advanced up one, and, when all three are up,
    /// lowers the watermark to what they hold (it can only be above if the
    /// only copies of an unacknowledged batch were lost). Returns each
    /// replica's `applied_seq` afterwards, `None` if down or failing.
    fn maintain(&self) -> [Option<u64>; REPLICA_COUNT] {
        let mut seqs: [Option<u64>; REPLICA_COUNT] = std::array::from_fn(|r| {
            let (db, _) = self.replicas[r].handle()?;
            applied_of(&db).ok()
        });
        let Some((src, max)) = seqs
            .iter()
            .enumerate()
            .filter_map(|(r, s)| s.map(|s| (r, s)))
            .max_by_key(|&(_, s)| s)
        else {
            return seqs;
        };
        for (r, seq) in seqs.iter_mut().enumerate() {
            if matches!(*seq, Some(s) if s < max) {
                *seq = self.copy_between(src, r).ok().filter(|&s| s == max);
            }
        }
        if seqs.iter().all(|s| *s == Some(max)) {
            // Only the committer (this thread) commits new batches, and a
            // restart copies no further than a peer holds, so with all three
            // up `max` is the newest state in existence.
            self.max_applied.fetch_min(max, Ordering::SeqCst);
        }
        seqs
    }

    /// Copies replica `src`'s state into up replica `dst`; its new
    /// `applied_seq`.
    fn copy_between(&self, src: usize, dst: usize) -> Result<u64, StoreError> {
        let (from, _) = self.replicas[src].handle().ok_or(StoreError::Unavailable)?;
        let rep = &self.replicas[dst];
        let (to, generation) = rep.handle().ok_or(StoreError::Unavailable)?;
        let seq = catch_up(&from, &to, Some((&rep.generation, generation)))?;
        rep.applied.store(seq, Ordering::SeqCst);
        Ok(seq)
    }

    /// Waits for a replica to come back, at most until `deadline`; false if
    /// the deadline passed or the store is shutting down.
    fn wait_until(&self, seen: u64, deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline || self.shutdown.load(Ordering::SeqCst) {
            return false;
        }
        self.changed.wait(seen, (deadline - now).min(POLL));
        !self.shutdown.load(Ordering::SeqCst)
    }

    /// Applies `cmds` as batch `seq` to replica `r`, without committing.
    fn stage<C: Command>(&self, r: usize, seq: u64, cmds: &[C]) -> Stage<C::Output> {
        let Some((db, generation)) = self.replicas[r].handle() else {
            return Stage::Down;
        };
        let mut txn = match db.begin_write() {
            Ok(txn) => txn,
            Err(e) => return Stage::Fault(e.into()),
        };
        if let Err(e) = txn.set_durability(Durability::Immediate) {
            return Stage::Fault(e.into());
        }
        let applied = match applied_in_write(&txn) {
            Ok(applied) => applied,
            Err(e) => return Stage::Fault(e),
        };
        if applied >= seq {
            return Stage::Has;
        }
        if applied + 1 < seq {
            return Stage::Behind;
        }
        let outputs = match apply_all(&txn, r, cmds) {
            Ok(Ok(outputs)) => outputs,
            Ok(Err((i, e))) => return Stage::CmdErr(i, e),
            Err(e) => return Stage::Fault(e),
        };
        if let Err(e) = set_applied(&txn, seq) {
            return Stage::Fault(e);
        }
        Stage::Ready(Box::new(Staged {
            txn,
            generation,
            outputs,
            _db: db,
        }))
    }

    /// Commits a staged batch unless its replica crashed since; whether it
    /// committed.
    fn commit_staged<O>(&self, r: usize, seq: u64, staged: Staged<O>) -> bool {
        let rep = &self.replicas[r];
        if rep.generation.load(Ordering::SeqCst) != staged.generation {
            // The replica crashed: its in-flight transaction is aborted.
            if let Err(e) = staged.txn.abort() {
                tracing::debug!(replica = r, error = %e, "abort of a crashed replica's batch");
            }
            return false;
        }
        match staged.txn.commit() {
            Ok(()) => {
                rep.applied.store(seq, Ordering::SeqCst);
                // claim: STO-6 (published before any caller is answered)
                self.max_applied.fetch_max(seq, Ordering::SeqCst);
                true
            }
            Err(e) => {
                tracing::warn!(replica = r, error = %e, "a replica failed to commit a batch");
                false
            }
        }
    }

    /// Commits staged batches in parallel (one fsync each); which committed.
    fn commit_all<O: Send>(
        &self,
        seq: u64,
        staged: Vec<(usize, Staged<O>)>,
    ) -> [bool; REPLICA_COUNT] {
        let mut done = [false; REPLICA_COUNT];
        thread::scope(|scope| {
            let running: Vec<_> = staged
                .into_iter()
                .map(|(r, st)| (r, scope.spawn(move || self.commit_staged(r, seq, st))))
                .collect();
            for (r, handle) in running {
                done[r] = handle.join().unwrap_or(false);
            }
        });
        done
    }

    /// Runs one batch: waits for the replicas, applies, checks the outputs
    /// agree, commits everywhere, answers.
    fn run_batch<C: Command>(&self, jobs: Vec<Job<C>>) {
        let now = Instant::now();
        // (A wait too long to represent is as good as forever.)
        let deadline = now
            .checked_add(self.replica_wait)
            .unwrap_or(now + Duration::from_secs(365 * 24 * 3600));
        // A caller that gave up before its write was taken up is not applied.
        let (mut cmds, mut replies): (Vec<C>, Vec<_>) = jobs
            .into_iter()
            .filter(|job| !job.reply.is_closed())
            .map(|job| (job.cmd, job.reply))
            .unzip();
        let ack_early = self.bugs.has(SeededBug::AckAfterOneReplica); // seeded bug (STO-7)
        loop {
            if cmds.is_empty() {
                return;
            }
            if let Some(why) = self.halted_reason() {
                answer_all(replies, || Err(StoreError::Diverged(why.clone())));
                return;
            }
            let seen = self.changed.current();
            let seqs = self.maintain();
            let participants: Vec<usize> = match seqs {
                _ if seqs.iter().all(|s| s.is_some() && *s == seqs[0]) => {
                    (0..REPLICA_COUNT).collect()
                }
                // Seeded bug (STO-7): go ahead with replica 0 and whoever
                // else is up with it.
                [Some(a), ..] if ack_early => {
                    (0..REPLICA_COUNT).filter(|&r| seqs[r] == Some(a)).collect()
                }
                _ => {
                    if !self.wait_until(seen, deadline) {
                        answer_all(replies, || Err(StoreError::Busy));
                        return;
                    }
                    continue;
                }
            };
            let base = seqs[participants[0]].unwrap_or(0);
            let seq = base + 1;
            // Each replica applies the batch in its own transaction, in
            // parallel: a batch of large puts costs one replica's time.
            let stages: Vec<(usize, Stage<C::Output>)> = thread::scope(|scope| {
                let running: Vec<_> = participants
                    .iter()
                    .map(|&r| {
                        let cmds = &cmds;
                        (r, scope.spawn(move || self.stage(r, seq, cmds)))
                    })
                    .collect();
                running
                    .into_iter()
                    .map(|(r, handle)| {
                        let stage = handle.join().unwrap_or_else(|_| {
                            Stage::Fault(StoreError::Internal("a replica's apply panicked".into()))
                        });
                        (r, stage)
                    })
                    .collect()
            });
            match judge(stages) {
                Verdict::Commit(staged) => {
                    self.finish_batch(seq, &cmds, replies, staged, deadline);
                    return;
                }
                Verdict::CommandFailed(i, e) => {
                    cmds.remove(i);
                    let _ = replies.remove(i).send(Err(e));
                }
                Verdict::Diverged(why) => self.halt(why),
                Verdict::Retry => {
                    if !self.wait_until(seen, deadline) {
                        answer_all(replies, || Err(StoreError::Busy));
                        return;
                    }
                }
            }
        }
    }

    /// Commits a batch applied (and agreed on) everywhere, brings any
    /// replica that crashed meanwhile up to it, and answers the callers.
    fn finish_batch<C: Command>(
        &self,
        seq: u64,
        cmds: &[C],
        replies: Vec<oneshot::Sender<Result<C::Output, StoreError>>>,
        mut staged: Vec<(usize, Staged<C::Output>)>,
        deadline: Instant,
    ) {
        let mut replies = Some(replies);
        let mut outputs: Option<Vec<C::Output>> = None;
        let mut reference: Option<Vec<C::Output>> = None;
        for (_, st) in staged.iter_mut() {
            let taken = std::mem::take(&mut st.outputs);
            if outputs.is_none() {
                outputs = Some(taken);
            } else if reference.is_none() {
                reference = Some(taken);
            }
        }
        let mut done = [false; REPLICA_COUNT];
        if self.bugs.has(SeededBug::AckAfterOneReplica) {
            // Seeded bug (STO-7): answer as soon as replica 0 has committed,
            // and commit the others afterwards.
            if let Some(pos) = staged.iter().position(|(r, _)| *r == 0) {
                let (_, st) = staged.remove(pos);
                done[0] = self.commit_staged(0, seq, st);
                if done[0] {
                    answer_with(replies.take(), outputs.take());
                }
            }
        }
        for (r, ok) in self.commit_all(seq, staged).into_iter().enumerate() {
            done[r] |= ok;
        }
        // Replicas that crashed during the batch: wait for them to come
        // back and hold it, within the batch's deadline.
        while !done.iter().all(|d| *d) {
            let seen = self.changed.current();
            let donors: Vec<usize> = (0..REPLICA_COUNT).filter(|&r| done[r]).collect();
            for (r, done_r) in done.iter_mut().enumerate() {
                if *done_r {
                    continue;
                }
                match self.settle_straggler(r, seq, cmds, reference.as_deref(), &donors) {
                    Ok(ok) => *done_r = ok,
                    Err(why) => {
                        self.halt(why.clone());
                        if let Some(replies) = replies.take() {
                            answer_all(replies, || Err(StoreError::Diverged(why.clone())));
                        }
                        return;
                    }
                }
            }
            if done.iter().all(|d| *d) {
                break;
            }
            if !self.wait_until(seen, deadline) {
                // Unacknowledged and indeterminate: the batch is on the
                // replicas that committed it, and reaches the others when
                // they are restarted.
                if let Some(replies) = replies.take() {
                    answer_all(replies, || Err(StoreError::Busy));
                }
                return;
            }
        }
        // claim: STO-7 (callers are answered only now that all three
        // replicas have committed the batch durably)
        answer_with(replies, outputs);
    }

    /// Brings replica `r` to batch `seq` after it missed the batch's commit;
    /// whether it now holds it. `Err` if it computes different outputs.
    fn settle_straggler<C: Command>(
        &self,
        r: usize,
        seq: u64,
        cmds: &[C],
        reference: Option<&[C::Output]>,
        donors: &[usize],
    ) -> Result<bool, String> {
        match self.stage(r, seq, cmds) {
            Stage::Has => Ok(true),
            Stage::Ready(staged) => {
                if let Some(reference) = reference {
                    if staged.outputs.as_slice() != reference {
                        return Err(format!(
                            "batch {seq}: replica {r} computed {:?}, the others {reference:?}",
                            staged.outputs
                        ));
                    }
                }
                Ok(self.commit_staged(r, seq, *staged))
            }
            Stage::Behind => Ok(donors
                .iter()
                .any(|&d| self.copy_between(d, r).is_ok_and(|s| s == seq))),
            Stage::CmdErr(i, e) if !matches!(e, StoreError::Io(_)) => Err(format!(
                "batch {seq}: replica {r} failed command {i} with {e}, the others did not"
            )),
            Stage::CmdErr(..) | Stage::Down | Stage::Fault(_) => Ok(false),
        }
    }
}

/// Decides what to do with a batch applied to every participant.
fn judge<O: PartialEq + std::fmt::Debug>(stages: Vec<(usize, Stage<O>)>) -> Verdict<O> {
    let mut staged = Vec::new();
    let mut failures = Vec::new();
    let mut retry = false;
    for (r, stage) in stages {
        match stage {
            Stage::Ready(st) => staged.push((r, *st)),
            Stage::CmdErr(i, e) => failures.push((r, i, e)),
            Stage::Fault(e) => {
                tracing::debug!(replica = r, error = %e, "a replica could not take a batch");
                retry = true;
            }
            Stage::Has | Stage::Behind | Stage::Down => retry = true,
        }
    }
    // An I/O failure is the replica's, not the command's: try again.
    if retry
        || failures
            .iter()
            .any(|(_, _, e)| matches!(e, StoreError::Io(_)))
    {
        return Verdict::Retry;
    }
    if let Some((_, i, e)) = failures.first() {
        if staged.is_empty() && failures.iter().all(|(_, j, f)| j == i && f == e) {
            return Verdict::CommandFailed(*i, e.clone());
        }
        let seen: Vec<String> = failures
            .iter()
            .map(|(r, i, e)| format!("replica {r} failed command {i}: {e}"))
            .collect();
        return Verdict::Diverged(format!(
            "{}; {} replica(s) succeeded",
            seen.join("; "),
            staged.len()
        ));
    }
    // Every replica computed the outputs: they must agree.
    if let Some((first, rest)) = staged.split_first() {
        for (r, st) in rest {
            if st.outputs != first.1.outputs {
                return Verdict::Diverged(format!(
                    "replica {} computed {:?}, replica {r} computed {:?}",
                    first.0, first.1.outputs, st.outputs
                ));
            }
        }
    }
    Verdict::Commit(staged)
}

fn answer_all<T>(
    replies: Vec<oneshot::Sender<Result<T, StoreError>>>,
    answer: impl Fn() -> Result<T, StoreError>,
) {
    for reply in replies {
        let _ = reply.send(answer());
    }
}

fn answer_with<T>(
    replies: Option<Vec<oneshot::Sender<Result<T, StoreError>>>>,
    outputs: Option<Vec<T>>,
) {
    let (Some(replies), Some(outputs)) = (replies, outputs) else {
        return;
    };
    for (reply, output) in replies.into_iter().zip(outputs) {
        let _ = reply.send(Ok(output));
    }
}

/// The committer thread: takes batches off the queue until the store is
/// dropped; when idle, brings replicas that are behind up to date.
fn run_committer<C: Command>(shared: &Shared, queue: &Receiver<Job<C>>) {
    while !shared.shutdown.load(Ordering::SeqCst) {
        let first = match queue.recv_timeout(IDLE_TICK) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                shared.maintain();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        // A pause set while this thread waited on the queue still holds the
        // write: it counts as queued until the pause ends.
        while shared.paused.load(Ordering::SeqCst) && !shared.shutdown.load(Ordering::SeqCst) {
            std::thread::sleep(PAUSED_POLL);
        }
        let mut jobs = Vec::with_capacity(shared.max_batch);
        jobs.push(first);
        while jobs.len() < shared.max_batch {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        shared.queued.fetch_sub(jobs.len(), Ordering::SeqCst);
        shared.run_batch(jobs);
    }
}

/// Waits (bounded) until the handle dropped by the last crash is closed;
/// whether it is.
fn wait_closed(rep: &Replica) -> bool {
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
fn open_replica(dir: &Path) -> Result<Database, StoreError> {
    fs::create_dir_all(dir)?;
    let db = Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(dir.join(DB_FILE))?;
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    for table in Table::ALL {
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

fn applied_of(db: &Database) -> Result<u64, StoreError> {
    applied_in_read(&db.begin_read()?)
}

fn applied_in_read(txn: &ReadTransaction) -> Result<u64, StoreError> {
    match txn.open_table(META) {
        Ok(meta) => Ok(meta.get(APPLIED_SEQ)?.map(|g| g.value()).unwrap_or(0)),
        Err(TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

fn applied_in_write(txn: &WriteTransaction) -> Result<u64, StoreError> {
    let meta = txn.open_table(META)?;
    let applied = meta.get(APPLIED_SEQ)?.map(|g| g.value()).unwrap_or(0);
    Ok(applied)
}

fn set_applied(txn: &WriteTransaction, seq: u64) -> Result<(), StoreError> {
    txn.open_table(META)?.insert(APPLIED_SEQ, seq)?;
    Ok(())
}

/// Applies `cmds` in order; `Ok(Err((i, e)))` if command `i` failed.
#[allow(clippy::type_complexity)]
fn apply_all<C: Command>(
    txn: &WriteTransaction,
    replica: usize,
    cmds: &[C],
) -> Result<Result<Vec<C::Output>, (usize, StoreError)>, StoreError> {
    let mut tables = WriteTables::open(txn)?;
    let mut outputs = Vec::with_capacity(cmds.len());
    for (i, cmd) in cmds.iter().enumerate() {
        match cmd.apply(replica, &mut tables) {
            Ok(output) => outputs.push(output),
            Err(e) => return Ok(Err((i, e))),
        }
    }
    Ok(Ok(outputs))
}

/// Makes `dst` hold exactly what `src` holds, in one write transaction (so
/// `dst` is never seen half copied), streaming each table in bounded chunks;
/// `dst`'s new `applied_seq`. With `guard`, aborts if that generation
/// counter moved (the replica crashed meanwhile).
fn catch_up(
    src: &Database,
    dst: &Database,
    guard: Option<(&AtomicU64, u64)>,
) -> Result<u64, StoreError> {
    let from = src.begin_read()?;
    let seq = applied_in_read(&from)?;
    let mut txn = dst.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    for table in Table::ALL {
        copy_table(&from, &txn, table)?;
    }
    set_applied(&txn, seq)?;
    if let Some((generation, expected)) = guard {
        if generation.load(Ordering::SeqCst) != expected {
            txn.abort()?;
            return Err(StoreError::Unavailable);
        }
    }
    txn.commit()?;
    Ok(seq)
}

/// Copies what differs in `table` from `from` into `txn`: changed and new
/// entries, then deletions.
fn copy_table(
    from: &ReadTransaction,
    txn: &WriteTransaction,
    table: Table,
) -> Result<(), StoreError> {
    let mut dst = txn.open_table(table.definition())?;
    let src = match from.open_table(table.definition()) {
        Ok(src) => Some(src),
        Err(TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(src) = &src {
        let mut after: Option<String> = None;
        loop {
            let chunk = scan_chunk(src, after.as_deref(), true)?;
            let Some((last, _)) = chunk.last() else {
                break;
            };
            let last = last.clone();
            for (key, value) in &chunk {
                let same = dst
                    .get(key.as_str())?
                    .is_some_and(|old| old.value() == value.as_slice());
                if !same {
                    dst.insert(key.as_str(), value.as_slice())?;
                }
            }
            after = Some(last);
        }
    }
    // claim: STO-9 (a deletion is copied too: a key deleted on the peer is
    // removed here and its pages freed, never served again)
    let mut after: Option<String> = None;
    loop {
        let chunk = scan_chunk(&dst, after.as_deref(), false)?;
        let Some((last, _)) = chunk.last() else {
            break;
        };
        let last = last.clone();
        for (key, _) in &chunk {
            let present = match &src {
                Some(src) => src.get(key.as_str())?.is_some(),
                None => false,
            };
            if !present {
                dst.remove(key.as_str())?;
            }
        }
        after = Some(last);
    }
    Ok(())
}

/// The next entries after `after` (from the start if `None`), bounded by
/// [`CHUNK_KEYS`] and [`CHUNK_BYTES`]; values left empty unless asked for.
fn scan_chunk<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    after: Option<&str>,
    values: bool,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let lower = match after {
        Some(key) => Bound::Excluded(key),
        None => Bound::Unbounded,
    };
    let mut chunk = Vec::new();
    let mut bytes = 0usize;
    for entry in table.range::<&str>((lower, Bound::Unbounded))? {
        let (key, value) = entry?;
        let value = if values {
            value.value().to_vec()
        } else {
            Vec::new()
        };
        bytes += key.value().len() + value.len();
        chunk.push((key.value().to_owned(), value));
        if chunk.len() >= CHUNK_KEYS || bytes >= CHUNK_BYTES {
            break;
        }
    }
    Ok(chunk)
}

fn get_in<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(table.get(key)?.map(|value| value.value().to_vec()))
}

fn range_in<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    prefix: &str,
    limit: usize,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut found = Vec::new();
    if limit == 0 {
        return Ok(found);
    }
    for entry in table.range::<&str>(prefix..)? {
        let (key, value) = entry?;
        let key = key.value();
        if !key.starts_with(prefix) {
            break;
        }
        found.push((key.to_owned(), value.value().to_vec()));
        if found.len() >= limit {
            break;
        }
    }
    Ok(found)
}

/// A read snapshot of one replica.
struct ReadTables {
    txn: ReadTransaction,
    // Dropped after `txn`: keeps the database open while it is read.
    _db: Arc<Database>,
}

impl ReadTables {
    fn with_table<T>(
        &self,
        table: Table,
        empty: T,
        f: impl FnOnce(&redb::ReadOnlyTable<&'static str, &'static [u8]>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self.txn.open_table(table.definition()) {
            Ok(t) => f(&t),
            Err(TableError::TableDoesNotExist(_)) => Ok(empty),
            Err(e) => Err(e.into()),
        }
    }
}

impl Tables for ReadTables {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_table(table, None, |t| get_in(t, key))
    }

    fn range(
        &self,
        table: Table,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.with_table(table, Vec::new(), |t| range_in(t, prefix, limit))
    }
}

/// The tables of one write transaction, open for a whole batch.
struct WriteTables<'t> {
    tables: [redb::Table<'t, &'static str, &'static [u8]>; 3],
}

impl<'t> WriteTables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(WriteTables {
            tables: [
                txn.open_table(Table::Containers.definition())?,
                txn.open_table(Table::Blobs.definition())?,
                txn.open_table(Table::Data.definition())?,
            ],
        })
    }
}

impl Tables for WriteTables<'_> {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        get_in(&self.tables[table.index()], key)
    }

    fn range(
        &self,
        table: Table,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        range_in(&self.tables[table.index()], prefix, limit)
    }
}

impl TablesMut for WriteTables<'_> {
    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.tables[table.index()].insert(key, value)?;
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &str) -> Result<bool, StoreError> {
        // claim: STO-9 (removing the key frees its pages, which redb reuses
        // for later writes once no snapshot holds them; the key is never
        // readable again from a snapshot at or after this batch)
        let removed = self.tables[table.index()].remove(key)?.is_some();
        Ok(removed)
    }
}

/// The total size of the files directly inside `dir` (0 if it is missing).
fn dir_bytes(dir: &Path) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::sync::atomic::AtomicBool;
    use std::task::{Context, Poll, Waker};
    use tempfile::TempDir;

    /// The test state machine: puts and deletes in the data table, each
    /// answering the previous value.
    #[derive(Debug)]
    enum Op {
        Put(String, Vec<u8>),
        Delete(String),
        /// Writes, then fails: nothing of it may be committed.
        Fail(String),
        /// Answers a counter shared by the replicas: not deterministic.
        Nondeterministic(Arc<AtomicU64>),
    }

    impl Command for Op {
        type Output = Option<Vec<u8>>;

        fn apply(
            &self,
            _replica: usize,
            tables: &mut dyn TablesMut,
        ) -> Result<Self::Output, StoreError> {
            match self {
                Op::Put(key, value) => {
                    let previous = tables.get(Table::Data, key)?;
                    tables.put(Table::Data, key, value)?;
                    Ok(previous)
                }
                Op::Delete(key) => {
                    let previous = tables.get(Table::Data, key)?;
                    tables.delete(Table::Data, key)?;
                    Ok(previous)
                }
                Op::Fail(key) => {
                    tables.put(Table::Data, key, b"partial")?;
                    Err(StoreError::Corrupt(format!("refused {key}")))
                }
                Op::Nondeterministic(counter) => {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    Ok(Some(n.to_be_bytes().to_vec()))
                }
            }
        }
    }

    fn put(key: &str, value: &[u8]) -> Op {
        Op::Put(key.to_owned(), value.to_vec())
    }

    fn config(root: &TempDir) -> StoreConfig {
        StoreConfig::new(std::array::from_fn(|r| root.path().join(format!("r{r}"))))
    }

    fn open(config: StoreConfig) -> ReplicatedStore<Op> {
        ReplicatedStore::open(config).expect("the store opens")
    }

    fn get_from(
        store: &ReplicatedStore<Op>,
        replica: usize,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        store.read_from(replica, |t| t.get(Table::Data, key))
    }

    fn some(value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(Some(value.to_vec()))
    }

    fn file_of(store: &ReplicatedStore<Op>, replica: usize) -> PathBuf {
        store.status()[replica].dir.join(DB_FILE)
    }

    /// Polls `future` once, without a runtime's waker.
    fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
        std::pin::Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
    }

    /// Polls `check` until it holds, for at most five seconds.
    fn eventually(mut check: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if check() {
                return true;
            }
            thread::sleep(Duration::from_millis(5));
        }
        check()
    }

    #[tokio::test]
    async fn acknowledged_write_is_in_every_replica() {
        let root = TempDir::new().expect("temp dir");
        let store = open(config(&root));
        assert_eq!(store.write(put("a", b"1")).await, Ok(None));
        assert_eq!(store.write(put("a", b"2")).await, some(b"1"));
        for r in 0..3 {
            assert_eq!(get_from(&store, r, "a"), some(b"2"), "replica {r}");
        }
        let status = store.status();
        assert!(
            status.iter().all(|s| s.up && s.applied_seq == 2),
            "{status:?}"
        );
        assert_eq!(store.read(|t| t.get(Table::Data, "a")), some(b"2"));
        assert_eq!(store.read(|t| t.get(Table::Blobs, "a")), Ok(None));

        // In the files themselves, once the store is closed.
        let files: Vec<PathBuf> = (0..3).map(|r| file_of(&store, r)).collect();
        drop(store);
        for file in files {
            let db = Database::open(&file).expect("the replica's file opens");
            let txn = db.begin_read().expect("read");
            let table = txn.open_table(Table::Data.definition()).expect("table");
            let value = table.get("a").expect("get").map(|v| v.value().to_vec());
            assert_eq!(value, Some(b"2".to_vec()), "{}", file.display());
            assert_eq!(applied_in_read(&txn), Ok(2));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn group_commit_acknowledges_concurrent_writes_and_replicas_agree() {
        let root = TempDir::new().expect("temp dir");
        let store = Arc::new(open(config(&root)));
        let mut writes = tokio::task::JoinSet::new();
        for i in 0..200u32 {
            let store = Arc::clone(&store);
            writes.spawn(async move {
                let key = format!("k{i:03}");
                store.write(put(&key, &i.to_be_bytes())).await
            });
        }
        while let Some(answer) = writes.join_next().await {
            assert_eq!(answer.expect("task"), Ok(None));
        }
        let contents: Vec<_> = (0..3)
            .map(|r| {
                store
                    .read_from(r, |t| t.range(Table::Data, "k", 1000))
                    .expect("replica reads")
            })
            .collect();
        assert_eq!(contents[0].len(), 200);
        assert_eq!(contents[0], contents[1]);
        assert_eq!(contents[0], contents[2]);
        let status = store.status();
        let seq = status[0].applied_seq;
        assert!(
            status.iter().all(|s| s.applied_seq == seq) && (1..=200).contains(&seq),
            "{status:?}"
        );
    }

    #[tokio::test]
    async fn range_lists_a_prefix_in_key_order_within_the_limit() {
        let root = TempDir::new().expect("temp dir");
        let store = open(config(&root));
        for key in ["b/2", "a/1", "b/1", "b/3", "c", "b"] {
            store.write(put(key, key.as_bytes())).await.expect("write");
        }
        let listed = store.read(|t| t.range(Table::Data, "b/", 2)).expect("read");
        let keys: Vec<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b/1", "b/2"]);
        let all = store
            .read(|t| t.range(Table::Data, "b/", 10))
            .expect("read");
        assert_eq!(all.len(), 3);
        assert_eq!(store.read(|t| t.range(Table::Data, "", 0)), Ok(vec![]));
    }

    #[tokio::test]
    async fn write_waits_for_a_crashed_replica_that_restarts() {
        let root = TempDir::new().expect("temp dir");
        let mut cfg = config(&root);
        cfg.replica_wait_ms = 10_000;
        let store = Arc::new(open(cfg));
        store.write(put("a", b"1")).await.expect("write");
        store.crash(1);
        assert!(!store.status()[1].up);
        assert_eq!(get_from(&store, 1, "a"), Err(StoreError::Unavailable));
        let writer = {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.write(put("a", b"2")).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        // It cannot be acknowledged while a replica is down.
        assert!(!writer.is_finished());
        store.restart(1).expect("restarts");
        assert_eq!(writer.await.expect("task"), some(b"1"));
        for r in 0..3 {
            assert_eq!(get_from(&store, r, "a"), some(b"2"), "replica {r}");
        }
    }

    #[tokio::test]
    async fn write_is_busy_while_a_replica_stays_down() {
        let root = TempDir::new().expect("temp dir");
        let mut cfg = config(&root);
        cfg.replica_wait_ms = 100;
        let store = open(cfg);
        store.write(put("a", b"1")).await.expect("write");
        store.crash(2);
        assert_eq!(store.write(put("a", b"2")).await, Err(StoreError::Busy));
        // Reads go on from the live replicas; the unacknowledged write may or
        // may not be there, but they agree.
        let seen = get_from(&store, 0, "a");
        assert!(seen == some(b"1") || seen == some(b"2"), "{seen:?}");
        assert_eq!(get_from(&store, 1, "a"), seen);
        store.restart(2).expect("restarts");
        assert_eq!(store.write(put("a", b"3")).await, seen);
        for r in 0..3 {
            assert_eq!(get_from(&store, r, "a"), some(b"3"), "replica {r}");
        }
    }

    #[tokio::test]
    async fn acknowledged_writes_survive_losing_any_two_replicas() {
        let root = TempDir::new().expect("temp dir");
        let store = Arc::new(open(config(&root)));
        let mut acknowledged = Vec::new();
        for (round, lost) in [[0, 1], [0, 2], [1, 2]].into_iter().enumerate() {
            for i in 0..5 {
                let key = format!("r{round}-{i}");
                store.write(put(&key, key.as_bytes())).await.expect("write");
                acknowledged.push(key);
            }
            store
                .write(Op::Delete(format!("r{round}-0")))
                .await
                .expect("delete");
            acknowledged.retain(|k| *k != format!("r{round}-0"));
            for r in lost {
                store.lose(r);
                assert!(!store.status()[r].dir.exists());
            }
            // The survivor serves every acknowledged write.
            for key in &acknowledged {
                assert_eq!(
                    store.read(|t| t.get(Table::Data, key)),
                    some(key.as_bytes())
                );
            }
            // A rebuilt replica never serves before it holds everything.
            let stop = Arc::new(AtomicBool::new(false));
            let watcher = {
                let (store, stop, lost) = (Arc::clone(&store), Arc::clone(&stop), lost[0]);
                let key = acknowledged[acknowledged.len() - 1].clone();
                thread::spawn(move || {
                    let mut bad = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        match get_from(&store, lost, &key) {
                            Ok(Some(v)) if v == key.as_bytes() => {}
                            Err(StoreError::Unavailable) => {}
                            other => bad.push(other),
                        }
                    }
                    bad
                })
            };
            for r in lost {
                store.restart(r).expect("restarts");
            }
            stop.store(true, Ordering::SeqCst);
            assert_eq!(watcher.join().expect("watcher"), vec![]);
            for r in 0..3 {
                for key in &acknowledged {
                    assert_eq!(
                        get_from(&store, r, key),
                        some(key.as_bytes()),
                        "replica {r}"
                    );
                }
                assert_eq!(get_from(&store, r, &format!("r{round}-0")), Ok(None));
            }
        }
    }

    /// Leaves replica 2 up but one batch behind, with the others down:
    /// `a` is `1` on replica 2 and `2` on the others.
    async fn replica_two_behind(store: &ReplicatedStore<Op>, root: &TempDir) {
        store.write(put("a", b"1")).await.expect("write");
        store.crash(2);
        let backup = root.path().join("backup.redb");
        fs::copy(file_of(store, 2), &backup).expect("backup");
        store.restart(2).expect("restarts");
        store.write(put("a", b"2")).await.expect("write");
        for r in 0..3 {
            store.crash(r);
        }
        fs::copy(&backup, file_of(store, 2)).expect("restore the old file");
        store.restart(2).expect("restarts with no peer");
        assert_eq!(store.status()[2].applied_seq, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn behind_replica_serves_no_reads_until_caught_up() {
        let root = TempDir::new().expect("temp dir");
        let store = Arc::new(open(config(&root)));
        replica_two_behind(&store, &root).await;
        assert_eq!(get_from(&store, 2, "a"), Err(StoreError::Unavailable));
        assert_eq!(
            store.read(|t| t.get(Table::Data, "a")),
            Err(StoreError::Unavailable)
        );
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
            thread::spawn(move || {
                let mut bad = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    for answer in [
                        get_from(&store, 2, "a"),
                        store.read(|t| t.get(Table::Data, "a")),
                    ] {
                        if answer != Err(StoreError::Unavailable) && answer != some(b"2") {
                            bad.push(answer);
                        }
                    }
                }
                bad
            })
        };
        store.restart(0).expect("restarts");
        store.restart(1).expect("restarts");
        // The committer brings replica 2 up to date; only then does it serve.
        assert!(eventually(|| get_from(&store, 2, "a") == some(b"2")));
        stop.store(true, Ordering::SeqCst);
        assert_eq!(watcher.join().expect("watcher"), vec![]);
        assert!(store.status().iter().all(|s| s.applied_seq == 2));
    }

    #[tokio::test]
    async fn open_brings_a_behind_replica_up_to_date() {
        let root = TempDir::new().expect("temp dir");
        let backup = root.path().join("backup.redb");
        {
            let store = open(config(&root));
            store.write(put("a", b"1")).await.expect("write");
            store.write(put("gone", b"x")).await.expect("write");
            store.crash(2);
            fs::copy(file_of(&store, 2), &backup).expect("backup");
            store.restart(2).expect("restarts");
            store.write(put("a", b"2")).await.expect("write");
            store
                .write(Op::Delete("gone".into()))
                .await
                .expect("delete");
        }
        fs::copy(&backup, root.path().join("r2").join(DB_FILE)).expect("restore");
        let store = open(config(&root));
        assert!(store.status().iter().all(|s| s.up && s.applied_seq == 4));
        assert_eq!(get_from(&store, 2, "a"), some(b"2"));
        assert_eq!(get_from(&store, 2, "gone"), Ok(None));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn deleted_keys_are_gone_and_space_is_reused() {
        const VALUES: usize = 50;
        const SIZE: usize = 256 * 1024;
        let root = TempDir::new().expect("temp dir");
        let store = Arc::new(open(config(&root)));
        let mut after_first = 0;
        for round in 0..6u8 {
            let mut writes = tokio::task::JoinSet::new();
            for i in 0..VALUES {
                let store = Arc::clone(&store);
                writes.spawn(async move {
                    store
                        .write(put(&format!("v{i:02}"), &vec![round; SIZE]))
                        .await
                });
            }
            while let Some(answer) = writes.join_next().await {
                assert_eq!(answer.expect("task"), Ok(None));
            }
            let mut deletes = tokio::task::JoinSet::new();
            for i in 0..VALUES {
                let store = Arc::clone(&store);
                deletes.spawn(async move { store.write(Op::Delete(format!("v{i:02}"))).await });
            }
            while let Some(answer) = deletes.join_next().await {
                assert_eq!(answer.expect("task"), some(&vec![round; SIZE]));
            }
            for r in 0..3 {
                assert_eq!(
                    store.read_from(r, |t| t.range(Table::Data, "", 10)),
                    Ok(vec![])
                );
                assert_eq!(get_from(&store, r, "v07"), Ok(None));
            }
            if round == 0 {
                after_first = store.disk_bytes();
            }
        }
        // Each replica held at most 50 × 256 KiB = 12.5 MiB of live data at
        // once. redb's allocator rounds a 256 KiB value plus its header up to
        // 512 KiB (2×), and pages freed by a commit are reused from the next
        // commit on (up to 2× again): so 4× the live peak, plus a constant
        // for metadata and region growth, per replica. Without reuse, six
        // rounds would need at least 6× the live peak per replica, which is
        // above that bound.
        let live_peak = (VALUES * SIZE) as u64;
        let per_replica = 4 * live_peak + 8 * 1024 * 1024;
        assert!(per_replica < 6 * live_peak);
        let bound = 3 * per_replica;
        let last = store.disk_bytes();
        assert!(
            last < bound,
            "{last} bytes on disk after six rounds (first round: {after_first}), bound {bound}"
        );
    }

    #[tokio::test]
    async fn full_queue_answers_busy_instead_of_blocking() {
        let root = TempDir::new().expect("temp dir");
        let mut cfg = config(&root);
        cfg.queue_capacity = 1;
        cfg.max_batch = 1;
        cfg.replica_wait_ms = 10_000;
        let store = open(cfg);
        // With a replica down the committer holds one write and waits.
        store.crash(2);
        let mut first = Box::pin(store.write(put("a", b"1")));
        let mut second = Box::pin(store.write(put("b", b"1")));
        let mut third = Box::pin(store.write(put("c", b"1")));
        let polls = [
            poll_once(&mut first),
            poll_once(&mut second),
            poll_once(&mut third),
        ];
        assert!(polls[0].is_pending(), "{polls:?}");
        // At most one write in the committer's hands and one in the queue.
        let busy = polls
            .iter()
            .filter(|p| matches!(p, Poll::Ready(Err(StoreError::Busy))))
            .count();
        assert!(busy >= 1, "{polls:?}");
        store.restart(2).expect("restarts");
        assert_eq!(first.await, Ok(None));
        if polls[1].is_pending() {
            assert_eq!(second.await, Ok(None));
        }
        if polls[2].is_pending() {
            assert_eq!(third.await, Ok(None));
        }
    }

    #[tokio::test]
    async fn a_failing_command_is_refused_alone_and_leaves_nothing() {
        let root = TempDir::new().expect("temp dir");
        let mut cfg = config(&root);
        cfg.queue_capacity = 8;
        let store = open(cfg);
        // Queue three writes so that they are likely one batch.
        let mut a = Box::pin(store.write(put("a", b"1")));
        let mut bad = Box::pin(store.write(Op::Fail("bad".into())));
        let mut b = Box::pin(store.write(put("b", b"1")));
        let _ = (poll_once(&mut a), poll_once(&mut bad), poll_once(&mut b));
        assert_eq!(a.await, Ok(None));
        assert_eq!(bad.await, Err(StoreError::Corrupt("refused bad".into())));
        assert_eq!(b.await, Ok(None));
        for r in 0..3 {
            assert_eq!(get_from(&store, r, "bad"), Ok(None));
            assert_eq!(get_from(&store, r, "a"), some(b"1"));
            assert_eq!(get_from(&store, r, "b"), some(b"1"));
        }
    }

    #[tokio::test]
    async fn diverging_outputs_stop_the_store() {
        let root = TempDir::new().expect("temp dir");
        let store = open(config(&root));
        let counter = Arc::new(AtomicU64::new(0));
        let answer = store.write(Op::Nondeterministic(counter)).await;
        assert!(matches!(answer, Err(StoreError::Diverged(_))), "{answer:?}");
        let next = store.write(put("a", b"1")).await;
        assert!(matches!(next, Err(StoreError::Diverged(_))), "{next:?}");
        // Nothing of the diverging batch was committed.
        assert!(store.status().iter().all(|s| s.applied_seq == 0));
    }

    #[test]
    fn dropping_the_store_stops_a_waiting_committer() {
        let root = TempDir::new().expect("temp dir");
        let mut cfg = config(&root);
        cfg.replica_wait_ms = 600_000;
        let store = open(cfg);
        store.crash(0);
        {
            let mut write = Box::pin(store.write(put("a", b"1")));
            assert!(poll_once(&mut write).is_pending());
        }
        // Returns at once, not after ten minutes: the committer sees the
        // shutdown while it waits for replica 0.
        drop(store);
    }

    #[test]
    fn replica_numbers_are_checked() {
        let root = TempDir::new().expect("temp dir");
        let store = open(config(&root));
        assert_eq!(store.restart(3), Err(StoreError::InvalidReplica(3)));
        assert_eq!(get_from(&store, 7, "a"), Err(StoreError::InvalidReplica(7)));
        store.crash(3);
        store.lose(3);
        assert!(store.status().iter().all(|s| s.up));
    }

    #[cfg(feature = "seeded-bugs")]
    #[tokio::test]
    async fn seeded_ack_after_one_replica_loses_an_acknowledged_write() {
        let root = TempDir::new().expect("temp dir");
        let mut cfg = config(&root);
        cfg.replica_wait_ms = 50;
        cfg.bugs = BugSet::only(SeededBug::AckAfterOneReplica);
        let store = open(cfg);
        store.crash(1);
        store.crash(2);
        // Acknowledged with only replica 0 holding it...
        assert_eq!(store.write(put("a", b"1")).await, Ok(None));
        // (past the committer's wait for the others, after which only
        // replica 0 holds the write)
        tokio::time::sleep(Duration::from_millis(500)).await;
        store.lose(0);
        for r in 0..3 {
            store.restart(r).expect("restarts");
        }
        // ...and gone with replica 0.
        assert!(eventually(
            || store.read(|t| t.get(Table::Data, "a")) == Ok(None)
        ));
    }

    #[cfg(feature = "seeded-bugs")]
    #[tokio::test]
    async fn seeded_reads_ignore_watermark_serves_a_stale_value() {
        let root = TempDir::new().expect("temp dir");
        let mut cfg = config(&root);
        cfg.bugs = BugSet::only(SeededBug::ReadsIgnoreWatermark);
        let store = open(cfg);
        replica_two_behind(&store, &root).await;
        assert_eq!(get_from(&store, 2, "a"), some(b"1"));
    }
}
