//! One key's register, compiled for the search: its operations as effects
//! on a small state.

use super::history::{Event, Op, OpResult, Outcome};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

/// A register state: `ABSENT`, `UNREAD` (any value no get returned), or
/// `FIRST_READ + i` for the `i`th value some get returned.
pub(super) type State = u32;
pub(super) const ABSENT: State = 0;
pub(super) const UNREAD: State = 1;
pub(super) const FIRST_READ: State = 2;

/// What an operation requires of the register and does to it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Effect {
    /// Requires the register to hold this; leaves it.
    Observe(State),
    /// Sets the register to this.
    Write(State),
    /// Requires the register to hold a value; empties it.
    Remove,
}

impl Effect {
    pub(super) fn apply(self, state: State) -> Option<State> {
        match self {
            Effect::Observe(s) => (s == state).then_some(state),
            Effect::Write(s) => Some(s),
            Effect::Remove => (state != ABSENT).then_some(ABSENT),
        }
    }
}

/// One operation of the key, in invocation order.
#[derive(Clone, Copy, Debug)]
pub(super) struct KeyOp {
    /// Its index in the key's sorted events.
    pub(super) event: usize,
    pub(super) effect: Effect,
    /// Indeterminate: may be left out, and never returns.
    pub(super) optional: bool,
    pub(super) invoked: u64,
    pub(super) returned: u64,
}

pub(super) struct KeyRegister {
    pub(super) ops: Vec<KeyOp>,
    /// The values some get returned, indexed by `state - FIRST_READ`.
    pub(super) read_values: Vec<u64>,
}

impl KeyRegister {
    pub(super) fn new(events: &[&Event]) -> Self {
        let mut read_index: HashMap<u64, State> = HashMap::new();
        let mut read_values = Vec::new();
        for e in events {
            if let OpResult::Get(Some(v)) = e.result {
                read_index.entry(v).or_insert_with(|| {
                    read_values.push(v);
                    FIRST_READ + (read_values.len() as State - 1)
                });
            }
        }
        let state_of = |v: u64| read_index.get(&v).copied().unwrap_or(UNREAD);
        let mut ops = Vec::with_capacity(events.len());
        for (event, e) in events.iter().enumerate() {
            let (effect, optional) = match (e.op, e.result) {
                (_, OpResult::Get(v)) => (Effect::Observe(v.map_or(ABSENT, state_of)), false),
                (Op::Put { value }, OpResult::Put(Outcome::Ok)) => {
                    (Effect::Write(state_of(value)), false)
                }
                (Op::Put { value }, OpResult::Put(Outcome::Indeterminate)) => {
                    (Effect::Write(state_of(value)), true)
                }
                (_, OpResult::Delete(Outcome::Ok)) => (Effect::Remove, false),
                (_, OpResult::Delete(Outcome::NotFound)) => (Effect::Observe(ABSENT), false),
                (_, OpResult::Delete(Outcome::Indeterminate)) => (Effect::Write(ABSENT), true),
                // Refused: no effect, no observation; `History::new` rejects
                // the rest.
                _ => continue,
            };
            ops.push(KeyOp {
                event,
                effect,
                optional,
                invoked: e.invoked_ns,
                returned: if optional { u64::MAX } else { e.returned_ns },
            });
        }
        Self { ops, read_values }
    }

    pub(super) fn held(&self, state: State) -> Held {
        match state {
            ABSENT => Held::Absent,
            UNREAD => Held::Unread,
            s => self
                .read_values
                .get((s - FIRST_READ) as usize)
                .map_or(Held::Unread, |&v| Held::Value(v)),
        }
    }
}

/// What the register may hold, as reported in a [`Violation`](super::Violation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Held {
    /// Nothing: the blob is absent.
    Absent,
    /// This value, which some get on the key returned.
    Value(u64),
    /// A value that no get on the key returned. The checker does not tell
    /// such values apart, since no read can.
    Unread,
}

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Held::Absent => write!(f, "nothing"),
            Held::Value(v) => write!(f, "{v}"),
            Held::Unread => write!(f, "a value no get returned"),
        }
    }
}
