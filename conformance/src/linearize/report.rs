//! What a check answers: the verdict, and for a history that is not
//! linearizable the operation it could not get past, in words.

use super::blocker::Blocker;
use super::history::{Event, Op, OpResult, Outcome};
use super::register::{Effect, Held, KeyRegister, ABSENT};
use serde::Serialize;
use std::fmt;

/// Why a key's history is not linearizable: the operation the search could
/// not get past at its furthest point, and what the register could hold
/// there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The blob.
    pub key: String,
    /// The operation that could not be linearized.
    pub event: Event,
    /// What the register could hold when that operation had to take effect
    /// (at the furthest point the search reached), none of which explains
    /// its result. Empty when no write could have produced its result by
    /// its return at all (a value never written, or written later).
    pub possible: Vec<Held>,
    /// How many operations with a known outcome had been linearized at that
    /// point.
    pub linearized: usize,
    /// How many operations with a known outcome the key has.
    pub definite: usize,
    /// For a get that returned a value: the puts of that value (empty if it
    /// was never written).
    pub observed_writers: Vec<Event>,
    /// For each possible state, the latest write invoked before the
    /// operation returned that could have produced it.
    pub state_writers: Vec<(Held, Event)>,
    /// A write with a known outcome that, in real time, follows every write
    /// the operation could have observed and precedes the operation itself:
    /// what it observed had been overwritten before it began. Found before
    /// any search; `possible` is then empty.
    pub overwritten_by: Option<Event>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {:?}: {}, but ", self.key, self.event)?;
        if let Some(w) = &self.overwritten_by {
            match self.event.result {
                OpResult::Get(Some(v)) => {
                    write!(f, "{v} had been overwritten by {w} before it was invoked")?
                }
                _ => write!(
                    f,
                    "the blob had been written by {w} before it was invoked, \
                     with no delete that could come between"
                )?,
            }
        } else if self.possible.is_empty() {
            write!(f, "no write could have produced that by then")?;
        } else {
            write!(f, "the register could only hold ")?;
            for (i, h) in self.possible.iter().enumerate() {
                if i > 0 {
                    write!(f, " or ")?;
                }
                write!(f, "{h}")?;
            }
            write!(
                f,
                " then (after {} of {} operations with a known outcome were linearized)",
                self.linearized, self.definite
            )?;
        }
        if let OpResult::Get(Some(v)) = self.event.result {
            if self.observed_writers.is_empty() {
                write!(f, "; {v} was never written to this key")?;
            } else {
                write!(f, "; {v} was written by ")?;
                for (i, e) in self.observed_writers.iter().enumerate() {
                    if i > 0 {
                        write!(f, " and ")?;
                    }
                    write!(f, "{e}")?;
                }
            }
        }
        for (h, e) in &self.state_writers {
            write!(f, "; {h} was last written by {e}")?;
        }
        Ok(())
    }
}

/// A read that returned a state the blob no longer held: a value some put
/// had written, or absence, after the blob had moved on. What a replica
/// that is behind shows when it serves reads. A delete that found the blob
/// absent read it too (whether it exists), and counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleRead<'a> {
    /// The get, or the delete that found nothing.
    pub read: &'a Event,
    /// What it returned: an older value, or `None` for the blob absent.
    pub returned: Option<u64>,
    /// When real-time order alone shows it (the pre-check): the
    /// acknowledged write that followed every write of what was read and
    /// returned before the read was invoked. Otherwise the search showed
    /// that, however the concurrent operations are ordered, the register
    /// could no longer hold what was read by then
    /// ([`Violation::possible`]).
    pub overwritten_by: Option<&'a Event>,
}

impl Violation {
    /// This violation as a stale read, if it is one: the operation is a get
    /// or a delete that found nothing; what it returned had been written
    /// (a value by a put invoked before the read returned, or absence); and
    /// either an acknowledged write of something else completed before the
    /// read began and after every write of what it returned, or the search
    /// found the register holding only other states then.
    pub fn stale_read(&self) -> Option<StaleRead<'_>> {
        let returned = match (self.event.op, self.event.result) {
            (Op::Get, OpResult::Get(returned)) => returned,
            (Op::Delete, OpResult::Delete(Outcome::NotFound)) => None,
            _ => return None,
        };
        // A value nobody wrote by then is no stale read but a made-up one.
        if let Some(v) = returned {
            let written = self
                .observed_writers
                .iter()
                .any(|w| w.op == (Op::Put { value: v }) && w.invoked_ns <= self.event.returned_ns);
            if !written {
                return None;
            }
        }
        let overwritten_by = match &self.overwritten_by {
            Some(w) => {
                let replaced = match (w.op, w.result) {
                    (Op::Put { value }, OpResult::Put(Outcome::Ok)) => returned != Some(value),
                    (Op::Delete, OpResult::Delete(Outcome::Ok)) => returned.is_some(),
                    _ => false,
                };
                if !replaced || w.returned_ns >= self.event.invoked_ns {
                    return None;
                }
                Some(w)
            }
            None => {
                let read = returned.map_or(Held::Absent, Held::Value);
                if self.possible.is_empty() || self.possible.contains(&read) {
                    return None;
                }
                None
            }
        };
        Some(StaleRead {
            read: &self.event,
            returned,
            overwritten_by,
        })
    }
}

/// The result of a linearizability check (the name keeps it apart from
/// replay's `Verdict`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Linearizability {
    /// Every key's history is linearizable.
    Linearizable,
    /// A key's history is not: the first key, in key order, with a read
    /// the pre-check rules out, else the first the search finds.
    Violation(Box<Violation>),
    /// No key's history is known to be non-linearizable, but the search on
    /// this one ran out of steps.
    Unknown {
        /// The key (the first such, in key order).
        key: String,
    },
}

impl fmt::Display for Linearizability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Linearizability::Linearizable => write!(f, "linearizable"),
            Linearizability::Violation(v) => write!(f, "not linearizable: {v}"),
            Linearizability::Unknown { key } => {
                write!(f, "unknown: the search on key {key:?} ran out of steps")
            }
        }
    }
}

impl KeyRegister {
    pub(super) fn explain(&self, key: &str, events: &[&Event], blocker: &Blocker) -> Violation {
        let op = self.ops[blocker.op];
        let event = events[op.event].clone();
        let possible: Vec<Held> = blocker.states.iter().map(|&s| self.held(s)).collect();
        let observed_writers = match event.result {
            OpResult::Get(Some(v)) => events
                .iter()
                .filter(|e| {
                    e.op == Op::Put { value: v } && e.result != OpResult::Put(Outcome::Refused)
                })
                .map(|e| (*e).clone())
                .collect(),
            _ => Vec::new(),
        };
        let mut state_writers = Vec::new();
        for &s in &blocker.states {
            let writer = self
                .ops
                .iter()
                .filter(|o| o.invoked <= event.returned_ns && o.event != op.event)
                .filter(|o| match o.effect {
                    Effect::Write(w) => w == s,
                    Effect::Remove => s == ABSENT,
                    Effect::Observe(_) => false,
                })
                .max_by_key(|o| o.invoked);
            if let Some(w) = writer {
                state_writers.push((self.held(s), events[w.event].clone()));
            }
        }
        Violation {
            key: key.to_owned(),
            overwritten_by: blocker
                .overwritten_by
                .map(|w| events[self.ops[w].event].clone()),
            event,
            possible,
            linearized: blocker.depth,
            definite: self.ops.iter().filter(|o| !o.optional).count(),
            observed_writers,
            state_writers,
        }
    }
}
