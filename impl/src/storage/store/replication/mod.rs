//! The replicated-log core: a bounded queue of ordered commands, one
//! committer thread that applies each batch to every replica (redb
//! databases in their own directories) in the same order and commits them
//! together (group commit), reads from a replica that holds every batch a
//! reader could have seen, and catch-up of a replica that was down or lost.
//!
//! Generic: everything here. It is generic over the [`Command`] (the state
//! machine's transition, with its output) and its [`TableSet`] (the tables
//! the state lives in), and knows nothing of blobs or containers. Storage-
//! specific: only what the parent module adds (its `Table`s, the mapping of
//! [`StoreError`] onto Blob error codes, the commands in `ops`). A
//! Raft-replicated FC can reuse this core with its own commands and tables,
//! or replace it behind the same `write`/`read` shape.
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

mod catch_up;
mod committer;
mod error;
mod replica;
mod shared;
mod tables;
#[cfg(test)]
mod tests;

pub use error::StoreError;
pub use tables::{Command, TableSet, Tables, TablesMut};

use crate::bugs::BugSet;
use catch_up::*;
use committer::*;
use redb::{Database, TableDefinition};
use replica::*;
use shared::*;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;
use tables::*;
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
            dbs.push(open_replica::<C::Table>(dir)?);
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
                seqs[r] = catch_up::<C::Table>(&dbs[best], &dbs[r], None)?;
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
        f: impl FnOnce(&dyn Tables<C::Table>) -> Result<T, StoreError>,
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
        f: impl FnOnce(&dyn Tables<C::Table>) -> Result<T, StoreError>,
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
        let db = open_replica::<C::Table>(&rep.dir)?;
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
            Some((peer, seq)) if seq > own => catch_up::<C::Table>(&peer, &db, None)?,
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
