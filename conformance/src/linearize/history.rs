//! What clients saw: operations, their results, and a validated history.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// An operation on one blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// Writes `value`.
    Put {
        /// The value written.
        value: u64,
    },
    /// Reads the blob.
    Get,
    /// Removes the blob.
    Delete,
}

/// How a put or a delete ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// It took effect and was acknowledged (2xx).
    Ok,
    /// Delete only: the blob was absent (404 `BlobNotFound`). It had no
    /// effect, and is an observation that the register held nothing.
    NotFound,
    /// It was refused definitely and had no effect (412, 409, 400, …). It
    /// observes nothing about the register either.
    Refused,
    /// Nobody knows whether it took effect (a timeout, a 503, a dropped
    /// connection): it may take effect at any time after its invocation, or
    /// never.
    Indeterminate,
}

/// What an operation returned. Its variant must match the operation's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OpResult {
    /// The result of a put.
    Put(Outcome),
    /// The value a get read: `None` for a 404. A get that failed observed
    /// nothing and should be left out of the history.
    Get(Option<u64>),
    /// The result of a delete.
    Delete(Outcome),
}

/// One operation as a client saw it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Event {
    /// The client that performed it.
    pub client: u32,
    /// The blob it addressed.
    pub key: String,
    /// What it did.
    pub op: Op,
    /// When the client sent it, in nanoseconds on a clock shared by all
    /// clients.
    pub invoked_ns: u64,
    /// When the client got its result, or gave up (for an indeterminate
    /// outcome, which is then taken to return at +∞), on the same clock.
    pub returned_ns: u64,
    /// What it returned.
    pub result: OpResult,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            Op::Put { value } => write!(f, "put {value}")?,
            Op::Get => write!(f, "get")?,
            Op::Delete => write!(f, "delete")?,
        }
        write!(
            f,
            " by client {} at [{}, {}]",
            self.client, self.invoked_ns, self.returned_ns
        )?;
        match self.result {
            OpResult::Get(Some(v)) => write!(f, " returned {v}"),
            OpResult::Get(None) => write!(f, " found the blob absent"),
            OpResult::Put(o) | OpResult::Delete(o) => match o {
                Outcome::Ok => write!(f, " (acknowledged)"),
                Outcome::NotFound => write!(f, " found the blob absent"),
                Outcome::Refused => write!(f, " (refused)"),
                Outcome::Indeterminate => write!(f, " (indeterminate)"),
            },
        }
    }
}

/// Why a list of events is not a history.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum HistoryError {
    /// An event returned before it was invoked.
    #[error(
        "event {index} returned at {returned_ns} ns, before its invocation at {invoked_ns} ns"
    )]
    ReturnBeforeInvoke {
        /// Its position in the list, from 0.
        index: usize,
        /// Its invocation time.
        invoked_ns: u64,
        /// Its return time.
        returned_ns: u64,
    },
    /// An event's result does not fit its operation (a get with a put's
    /// result, a put that found the blob absent, …).
    #[error("event {index}: a {op} cannot return {result}")]
    ResultMismatch {
        /// Its position in the list, from 0.
        index: usize,
        /// The operation's kind.
        op: &'static str,
        /// The result, as debug text.
        result: String,
    },
}

/// A validated history: every event returns no earlier than its invocation
/// and has a result that fits its operation. It has no `Default`: an empty
/// history is trivially linearizable, so none is made in place of one that
/// failed to validate (`History::new(..).unwrap_or_default()` does not
/// compile).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    events: Vec<Event>,
}

impl History {
    /// Validates `events` (in any order) as a history.
    pub fn new(events: Vec<Event>) -> Result<Self, HistoryError> {
        for (index, e) in events.iter().enumerate() {
            if e.returned_ns < e.invoked_ns {
                return Err(HistoryError::ReturnBeforeInvoke {
                    index,
                    invoked_ns: e.invoked_ns,
                    returned_ns: e.returned_ns,
                });
            }
            let fits = matches!(
                (e.op, e.result),
                (Op::Get, OpResult::Get(_))
                    | (
                        Op::Put { .. },
                        OpResult::Put(Outcome::Ok | Outcome::Refused | Outcome::Indeterminate)
                    )
                    | (Op::Delete, OpResult::Delete(_))
            );
            if !fits {
                let op = match e.op {
                    Op::Put { .. } => "put",
                    Op::Get => "get",
                    Op::Delete => "delete",
                };
                return Err(HistoryError::ResultMismatch {
                    index,
                    op,
                    result: format!("{:?}", e.result),
                });
            }
        }
        Ok(Self { events })
    }

    /// The events, in the order given.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The events, in the order given.
    pub fn into_events(self) -> Vec<Event> {
        self.events
    }
}

impl TryFrom<Vec<Event>> for History {
    type Error = HistoryError;

    fn try_from(events: Vec<Event>) -> Result<Self, HistoryError> {
        Self::new(events)
    }
}
