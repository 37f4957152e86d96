//! The committer thread: batches of queued commands applied to every
//! replica in one transaction each, checked to agree, committed in parallel
//! (group commit) and answered only once every replica holds them.

use super::*;
use crate::bugs::SeededBug;
use redb::{Database, Durability, WriteTransaction};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::{self};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A write waiting for the committer.
pub(super) struct Job<C: Command> {
    pub(super) cmd: C,
    pub(super) reply: oneshot::Sender<Result<C::Output, StoreError>>,
}

/// How a batch went on one replica before commit.
pub(super) enum Stage<O> {
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
pub(super) struct Staged<O> {
    pub(super) txn: WriteTransaction,
    pub(super) generation: u64,
    pub(super) outputs: Vec<O>,
    // Dropped after `txn`: keeps the database open while the batch is staged.
    pub(super) _db: Arc<Database>,
}

/// The verdict on a batch applied to every participant.
pub(super) enum Verdict<O> {
    Commit(Vec<(usize, Staged<O>)>),
    CommandFailed(usize, StoreError),
    Diverged(String),
    Retry,
}

impl Shared {
    /// Applies `cmds` as batch `seq` to replica `r`, without committing.
    pub(super) fn stage<C: Command>(&self, r: usize, seq: u64, cmds: &[C]) -> Stage<C::Output> {
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
    pub(super) fn commit_staged<O>(&self, r: usize, seq: u64, staged: Staged<O>) -> bool {
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
    pub(super) fn commit_all<O: Send>(
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
    pub(super) fn run_batch<C: Command>(&self, jobs: Vec<Job<C>>) {
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
            let seqs = self.maintain::<C::Table>();
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
    pub(super) fn finish_batch<C: Command>(
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
    pub(super) fn settle_straggler<C: Command>(
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
                .any(|&d| self.copy_between::<C::Table>(d, r).is_ok_and(|s| s == seq))),
            Stage::CmdErr(i, e) if !matches!(e, StoreError::Io(_)) => Err(format!(
                "batch {seq}: replica {r} failed command {i} with {e}, the others did not"
            )),
            Stage::CmdErr(..) | Stage::Down | Stage::Fault(_) => Ok(false),
        }
    }
}

/// Decides what to do with a batch applied to every participant.
pub(super) fn judge<O: PartialEq + std::fmt::Debug>(stages: Vec<(usize, Stage<O>)>) -> Verdict<O> {
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

pub(super) fn answer_all<T>(
    replies: Vec<oneshot::Sender<Result<T, StoreError>>>,
    answer: impl Fn() -> Result<T, StoreError>,
) {
    for reply in replies {
        let _ = reply.send(answer());
    }
}

pub(super) fn answer_with<T>(
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
pub(super) fn run_committer<C: Command>(shared: &Shared, queue: &Receiver<Job<C>>) {
    while !shared.shutdown.load(Ordering::SeqCst) {
        let first = match queue.recv_timeout(IDLE_TICK) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                shared.maintain::<C::Table>();
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

/// Applies `cmds` in order; `Ok(Err((i, e)))` if command `i` failed.
#[allow(clippy::type_complexity)]
pub(super) fn apply_all<C: Command>(
    txn: &WriteTransaction,
    replica: usize,
    cmds: &[C],
) -> Result<Result<Vec<C::Output>, (usize, StoreError)>, StoreError> {
    let mut tables = WriteTables::open::<C::Table>(txn)?;
    let mut outputs = Vec::with_capacity(cmds.len());
    for (i, cmd) in cmds.iter().enumerate() {
        match cmd.apply(replica, &mut tables) {
            Ok(output) => outputs.push(output),
            Err(e) => return Ok(Err((i, e))),
        }
    }
    Ok(Ok(outputs))
}
