//! What the committer thread and the store's handles share: the replicas,
//! the read watermark, the fault lock; bringing lagging replicas up to date.

use super::*;
use crate::bugs::{BugSet, SeededBug};
use redb::ReadableDatabase;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the committer thread and the store's handles share.
pub(super) struct Shared {
    /// One per replica, `REPLICA_COUNT` of them.
    pub(super) replicas: Vec<Replica>,
    /// The read watermark: no replica below it may serve a read.
    pub(super) max_applied: AtomicU64,
    pub(super) next_reader: AtomicUsize,
    /// Serializes crash, restart and lose.
    pub(super) faults: Mutex<()>,
    pub(super) changed: Signal,
    pub(super) shutdown: AtomicBool,
    /// Set when the replicas disagreed: writes are refused from then on.
    pub(super) halted: Mutex<Option<String>>,
    pub(super) bugs: BugSet,
    pub(super) max_batch: usize,
    pub(super) replica_wait: Duration,
    /// While set, the committer takes nothing off the queue (conformance
    /// replay holds a write in flight this way).
    pub(super) paused: AtomicBool,
    /// Writes on the queue, not yet taken by the committer.
    pub(super) queued: AtomicUsize,
}

impl Shared {
    pub(super) fn replica(&self, replica: usize) -> Result<&Replica, StoreError> {
        self.replicas
            .get(replica)
            .ok_or(StoreError::InvalidReplica(replica))
    }

    pub(super) fn halted_reason(&self) -> Option<String> {
        lock(&self.halted).clone()
    }

    pub(super) fn halt(&self, why: String) {
        tracing::error!(%why, "replicas diverged; the store stops taking writes");
        let mut halted = lock(&self.halted);
        if halted.is_none() {
            *halted = Some(why);
        }
    }

    pub(super) fn crash_locked(&self, rep: &Replica) {
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
    pub(super) fn fresh_snapshot(&self, r: usize) -> Option<ReadTables> {
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
    pub(super) fn maintain<T: TableSet>(&self) -> [Option<u64>; REPLICA_COUNT] {
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
                *seq = self.copy_between::<T>(src, r).ok().filter(|&s| s == max);
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
    pub(super) fn copy_between<T: TableSet>(
        &self,
        src: usize,
        dst: usize,
    ) -> Result<u64, StoreError> {
        let (from, _) = self.replicas[src].handle().ok_or(StoreError::Unavailable)?;
        let rep = &self.replicas[dst];
        let (to, generation) = rep.handle().ok_or(StoreError::Unavailable)?;
        let seq = catch_up::<T>(&from, &to, Some((&rep.generation, generation)))?;
        rep.applied.store(seq, Ordering::SeqCst);
        Ok(seq)
    }

    /// Waits for a replica to come back, at most until `deadline`; false if
    /// the deadline passed or the store is shutting down.
    pub(super) fn wait_until(&self, seen: u64, deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline || self.shutdown.load(Ordering::SeqCst) {
            return false;
        }
        self.changed.wait(seen, (deadline - now).min(POLL));
        !self.shutdown.load(Ordering::SeqCst)
    }
}
