//! A linearizability checker for histories of a per-blob key/value register.
//!
//! Each blob is a register holding `Option<u64>`: a put sets `Some(value)`, a
//! delete sets `None`, a get observes. A history is what concurrent clients
//! saw: for each operation, its invocation and return times and its result.
//! The history is linearizable if every operation can be given a single
//! instant inside its `[invoked, returned]` window such that, replayed in
//! that order, the register explains every result.
//!
//! The check is P-compositional: a register per key, each checked on its own.
//! Per key it runs Wing & Gong's search with Lowe's just-in-time
//! linearization (the algorithm of porcupine and of Knossos' `linear`): the
//! operations, as call and return entries sorted by time, form a linked list;
//! a depth-first search linearizes any pending operation whose call comes
//! before the earliest return still in the list, and backtracks when it
//! reaches that return. Configurations (the set of linearized operations as a
//! bitset, and the register's state) already explored are remembered and not
//! explored again. A step budget per key turns a search that would run too
//! long into [`Linearizability::Unknown`].
//!
//! A put or delete whose outcome is unknown (a timeout, a 503, a dropped
//! connection) may have taken effect at any time after its invocation, or
//! never: it is an operation that returns at +∞ and that the search may
//! linearize anywhere after its call, or leave out. The search tries such
//! operations only after the definite ones at each point, and an explored
//! configuration also covers any with the same definite operations and
//! state but more of the indeterminate ones used.
//!
//! Two sound shortcuts keep contended keys tractable. Before searching, a
//! read is rejected outright if every write of its value that could precede
//! it was followed, in real time, by a definite write of something else that
//! returned before the read began (a stale read, a lost write, a read after
//! a delete): that is also the clearest explanation. During the search, a
//! configuration is abandoned as soon as some pending read can no longer be
//! satisfied (the register does not hold its value and every pending write
//! of it was invoked after the read returned), instead of when the walk
//! reaches that read's return after trying every order of the operations
//! concurrent with it.
//!
//! A verdict is only as good as the history: [`stats`] counts what a history
//! holds (acknowledged puts, reads of a value, indeterminate operations,
//! operations concurrent on a key), and [`HistoryStats::meets`] fails one
//! too thin for its check to show anything, such as an empty one.

mod blocker;
mod doomed;
mod history;
mod memo;
mod precheck;
mod register;
mod report;
mod search;
mod simulate;
mod stats;
#[cfg(test)]
mod tests;

pub use history::{Event, History, HistoryError, Op, OpResult, Outcome};
pub use register::Held;
pub use report::{Linearizability, StaleRead, Violation};
pub use simulate::simulate;
pub use stats::{stats, HistoryStats, Minimums, TooThin};

use blocker::KeyVerdict;
use register::KeyRegister;
use search::{precheck_key, search};
use std::collections::BTreeMap;

/// The default number of search steps per key before the check gives up
/// with [`Linearizability::Unknown`].
pub const DEFAULT_STEP_BUDGET: u64 = 5_000_000;

/// How to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// Search steps allowed per key before giving up with
    /// [`Linearizability::Unknown`].
    pub step_budget: u64,
    /// Whether to remember explored configurations. Turning it off exists
    /// only to measure what it saves.
    pub memoize: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            step_budget: DEFAULT_STEP_BUDGET,
            memoize: true,
        }
    }
}

/// Checks `history` with the default step budget.
pub fn check(history: &History) -> Linearizability {
    check_with_options(history, &CheckOptions::default())
}

/// Checks `history`, allowing `step_budget` search steps per key.
pub fn check_with_budget(history: &History, step_budget: u64) -> Linearizability {
    check_with_options(
        history,
        &CheckOptions {
            step_budget,
            ..CheckOptions::default()
        },
    )
}

/// Checks `history` with `options`. First the pre-check runs on every key,
/// in key order: a read that real-time order alone rules out (a stale read)
/// is the clearest explanation, so it is reported before a violation that
/// only the search finds on an earlier key. Then each key is searched in key
/// order; the first violation wins over any key whose search ran out of
/// steps.
pub fn check_with_options(history: &History, options: &CheckOptions) -> Linearizability {
    let mut by_key: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in history.events() {
        by_key.entry(e.key.as_str()).or_default().push(e);
    }
    let keys: Vec<(&str, Vec<&Event>, KeyRegister)> = by_key
        .into_iter()
        .map(|(key, mut events)| {
            events.sort_by_key(|e| e.invoked_ns);
            let register = KeyRegister::new(&events);
            (key, events, register)
        })
        .collect();
    for (key, events, register) in &keys {
        if let Some(blocker) = precheck_key(register) {
            return Linearizability::Violation(Box::new(register.explain(key, events, &blocker)));
        }
    }
    let mut unknown = None;
    for (key, events, register) in &keys {
        match search(register, options) {
            KeyVerdict::Linearizable => {}
            KeyVerdict::Unknown => {
                if unknown.is_none() {
                    unknown = Some((*key).to_owned());
                }
            }
            KeyVerdict::Violation(blocker) => {
                return Linearizability::Violation(Box::new(
                    register.explain(key, events, &blocker),
                ));
            }
        }
    }
    match unknown {
        Some(key) => Linearizability::Unknown { key },
        None => Linearizability::Linearizable,
    }
}
