//! What a history holds, counted, and the least it must hold for a check of
//! it to mean anything.
//!
//! A history in which nothing was acknowledged, no read saw a value, or no
//! two operations on a key ever overlapped is linearizable whatever the
//! service does; so is one made mostly of indeterminate operations, which
//! the search may place anywhere after their call or leave out. A verdict of
//! [`Linearizability::Linearizable`](super::Linearizability) is only
//! evidence when the history also meets its [`Minimums`].

use super::history::{Event, History, OpResult, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;

/// Counts over a history: what was acknowledged, what reads saw, what is
/// unknown, and how much the operations overlapped in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HistoryStats {
    /// Events in the history.
    pub events: usize,
    /// Distinct keys.
    pub keys: usize,
    /// Puts acknowledged (2xx).
    pub puts_acknowledged: usize,
    /// Puts refused definitely, with no effect.
    pub puts_refused: usize,
    /// Deletes acknowledged.
    pub deletes_acknowledged: usize,
    /// Deletes that found the blob absent.
    pub deletes_not_found: usize,
    /// Deletes refused definitely, with no effect.
    pub deletes_refused: usize,
    /// Gets that returned a value.
    pub reads_of_a_value: usize,
    /// Gets that found the blob absent.
    pub reads_of_absence: usize,
    /// Puts and deletes whose outcome is unknown.
    pub indeterminate: usize,
    /// Operations whose window (invocation to return, as recorded) overlaps
    /// the window of another operation on the same key: the ones whose
    /// order the checker had to choose.
    pub concurrent: usize,
    /// The most operations in flight at one instant, over all keys.
    pub max_in_flight: usize,
}

/// Counts what `history` holds.
pub fn stats(history: &History) -> HistoryStats {
    let events = history.events();
    let mut s = HistoryStats {
        events: events.len(),
        ..HistoryStats::default()
    };
    for e in events {
        // `History::new` has checked that each result fits its operation.
        match e.result {
            OpResult::Put(Outcome::Ok) => s.puts_acknowledged += 1,
            OpResult::Put(Outcome::Refused) => s.puts_refused += 1,
            OpResult::Delete(Outcome::Ok) => s.deletes_acknowledged += 1,
            OpResult::Delete(Outcome::NotFound) => s.deletes_not_found += 1,
            OpResult::Delete(Outcome::Refused) => s.deletes_refused += 1,
            OpResult::Get(Some(_)) => s.reads_of_a_value += 1,
            OpResult::Get(None) => s.reads_of_absence += 1,
            OpResult::Put(Outcome::Indeterminate) | OpResult::Delete(Outcome::Indeterminate) => {
                s.indeterminate += 1
            }
            // A put that found the blob absent: `History::new` refuses it.
            OpResult::Put(Outcome::NotFound) => {}
        }
    }
    let mut by_key: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in events {
        by_key.entry(e.key.as_str()).or_default().push(e);
    }
    s.keys = by_key.len();
    s.concurrent = by_key.into_values().map(concurrent_on_key).sum();
    s.max_in_flight = max_in_flight(events);
    s
}

/// How many of one key's operations overlap another in time. Two windows
/// overlap when each begins before the other ends; windows that only touch
/// do not.
fn concurrent_on_key(mut ops: Vec<&Event>) -> usize {
    ops.sort_by_key(|e| (e.invoked_ns, e.returned_ns));
    let mut count = 0;
    // The latest return among the operations invoked before this one.
    let mut latest_before: Option<u64> = None;
    for (i, e) in ops.iter().enumerate() {
        let with_earlier = latest_before.is_some_and(|r| r > e.invoked_ns);
        // The next by invocation is the later operation that begins first.
        let with_later = ops
            .get(i + 1)
            .is_some_and(|next| next.invoked_ns < e.returned_ns);
        if with_earlier || with_later {
            count += 1;
        }
        latest_before = Some(latest_before.map_or(e.returned_ns, |r| r.max(e.returned_ns)));
    }
    count
}

/// The most windows open at one instant; a return at the instant of
/// another's invocation closes first.
fn max_in_flight(events: &[Event]) -> usize {
    let mut edges: Vec<(u64, bool)> = events
        .iter()
        .flat_map(|e| [(e.invoked_ns, true), (e.returned_ns, false)])
        .collect();
    // `false` (a return) sorts before `true` (an invocation) at one instant.
    edges.sort_unstable();
    let (mut open, mut most) = (0usize, 0usize);
    for (_, invoked) in edges {
        if invoked {
            open += 1;
            most = most.max(open);
        } else {
            open = open.saturating_sub(1);
        }
    }
    most
}

impl fmt::Display for HistoryStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} events on {} keys: {} puts acknowledged, {} refused; {} deletes \
             acknowledged, {} found nothing, {} refused; {} reads of a value, {} of \
             absence; {} indeterminate; {} concurrent with another on their key, \
             at most {} in flight",
            self.events,
            self.keys,
            self.puts_acknowledged,
            self.puts_refused,
            self.deletes_acknowledged,
            self.deletes_not_found,
            self.deletes_refused,
            self.reads_of_a_value,
            self.reads_of_absence,
            self.indeterminate,
            self.concurrent,
            self.max_in_flight,
        )
    }
}

/// The least a history must hold, and the most indeterminate operations it
/// may hold, for a check of it to show anything about the service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Minimums {
    /// Events, at least.
    pub events: usize,
    /// Acknowledged puts, at least: without them no read can be stale.
    pub puts_acknowledged: usize,
    /// Gets that returned a value, at least: a read of absence says little
    /// about which write it saw.
    pub reads_of_a_value: usize,
    /// Operations concurrent with another on their key, at least: a history
    /// with no overlap is checked by replaying it in order.
    pub concurrent: usize,
    /// Indeterminate operations, at most: each may take effect anywhere
    /// after its call or never, so many of them explain almost any read.
    pub max_indeterminate: usize,
}

/// A history that holds too little for its check to mean anything.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("the history is too thin for its check to show anything: {}", .shortfalls.join("; "))]
pub struct TooThin {
    /// Each minimum not met (or cap exceeded), in words.
    pub shortfalls: Vec<String>,
}

impl HistoryStats {
    /// `Ok` when these counts meet every one of `min`; otherwise each
    /// shortfall.
    pub fn meets(&self, min: &Minimums) -> Result<(), TooThin> {
        let mut shortfalls = Vec::new();
        let mut at_least = |what: &str, got: usize, least: usize| {
            if got < least {
                shortfalls.push(format!("{got} {what}, fewer than {least}"));
            }
        };
        at_least("events", self.events, min.events);
        at_least(
            "acknowledged puts",
            self.puts_acknowledged,
            min.puts_acknowledged,
        );
        at_least(
            "reads of a value",
            self.reads_of_a_value,
            min.reads_of_a_value,
        );
        at_least(
            "operations concurrent with another on their key",
            self.concurrent,
            min.concurrent,
        );
        if self.indeterminate > min.max_indeterminate {
            shortfalls.push(format!(
                "{} indeterminate operations, more than {}",
                self.indeterminate, min.max_indeterminate
            ));
        }
        if shortfalls.is_empty() {
            Ok(())
        } else {
            Err(TooThin { shortfalls })
        }
    }
}
