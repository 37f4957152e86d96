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
//! long into [`Verdict::Unknown`].
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

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use thiserror::Error;

/// The default number of search steps per key before the check gives up
/// with [`Verdict::Unknown`].
pub const DEFAULT_STEP_BUDGET: u64 = 5_000_000;

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
/// and has a result that fits its operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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

/// What the register may hold, as reported in a [`Violation`].
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

/// The result of a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// Every key's history is linearizable.
    Linearizable,
    /// A key's history is not (the first such key, in key order).
    Violation(Box<Violation>),
    /// No key's history is known to be non-linearizable, but the search on
    /// this one ran out of steps.
    Unknown {
        /// The key (the first such, in key order).
        key: String,
    },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Linearizable => write!(f, "linearizable"),
            Verdict::Violation(v) => write!(f, "not linearizable: {v}"),
            Verdict::Unknown { key } => {
                write!(f, "unknown: the search on key {key:?} ran out of steps")
            }
        }
    }
}

/// How to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// Search steps allowed per key before giving up with
    /// [`Verdict::Unknown`].
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
pub fn check(history: &History) -> Verdict {
    check_with_options(history, &CheckOptions::default())
}

/// Checks `history`, allowing `step_budget` search steps per key.
pub fn check_with_budget(history: &History, step_budget: u64) -> Verdict {
    check_with_options(
        history,
        &CheckOptions {
            step_budget,
            ..CheckOptions::default()
        },
    )
}

/// Checks `history` with `options`. Keys are checked one by one in key
/// order; the first violation wins over any key whose search ran out of
/// steps.
pub fn check_with_options(history: &History, options: &CheckOptions) -> Verdict {
    let mut by_key: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in history.events() {
        by_key.entry(e.key.as_str()).or_default().push(e);
    }
    let mut unknown = None;
    for (key, mut events) in by_key {
        events.sort_by_key(|e| e.invoked_ns);
        let register = KeyRegister::new(&events);
        match search(&register, options) {
            KeyVerdict::Linearizable => {}
            KeyVerdict::Unknown => {
                if unknown.is_none() {
                    unknown = Some(key.to_owned());
                }
            }
            KeyVerdict::Violation(blocker) => {
                return Verdict::Violation(Box::new(register.explain(key, &events, &blocker)));
            }
        }
    }
    match unknown {
        Some(key) => Verdict::Unknown { key },
        None => Verdict::Linearizable,
    }
}

// ---------------------------------------------------------------------------
// One key's register, compiled for the search.

/// A register state: `ABSENT`, `UNREAD` (any value no get returned), or
/// `FIRST_READ + i` for the `i`th value some get returned.
type State = u32;
const ABSENT: State = 0;
const UNREAD: State = 1;
const FIRST_READ: State = 2;

/// What an operation requires of the register and does to it.
#[derive(Clone, Copy, Debug)]
enum Effect {
    /// Requires the register to hold this; leaves it.
    Observe(State),
    /// Sets the register to this.
    Write(State),
    /// Requires the register to hold a value; empties it.
    Remove,
}

impl Effect {
    fn apply(self, state: State) -> Option<State> {
        match self {
            Effect::Observe(s) => (s == state).then_some(state),
            Effect::Write(s) => Some(s),
            Effect::Remove => (state != ABSENT).then_some(ABSENT),
        }
    }
}

/// One operation of the key, in invocation order.
#[derive(Clone, Copy, Debug)]
struct KeyOp {
    /// Its index in the key's sorted events.
    event: usize,
    effect: Effect,
    /// Indeterminate: may be left out, and never returns.
    optional: bool,
    invoked: u64,
    returned: u64,
}

struct KeyRegister {
    ops: Vec<KeyOp>,
    /// The values some get returned, indexed by `state - FIRST_READ`.
    read_values: Vec<u64>,
}

impl KeyRegister {
    fn new(events: &[&Event]) -> Self {
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

    fn held(&self, state: State) -> Held {
        match state {
            ABSENT => Held::Absent,
            UNREAD => Held::Unread,
            s => self
                .read_values
                .get((s - FIRST_READ) as usize)
                .map_or(Held::Unread, |&v| Held::Value(v)),
        }
    }

    fn explain(&self, key: &str, events: &[&Event], blocker: &Blocker) -> Violation {
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

// ---------------------------------------------------------------------------
// The search.

enum KeyVerdict {
    Linearizable,
    Violation(Blocker),
    Unknown,
}

/// The operation the search could not get past at its furthest point.
struct Blocker {
    /// Index into `KeyRegister::ops`.
    op: usize,
    /// Definite operations linearized there.
    depth: usize,
    /// Register states in which it was stuck there.
    states: BTreeSet<State>,
    /// A definite write that, in real time, follows every write the
    /// operation could have observed and precedes the operation.
    overwritten_by: Option<usize>,
}

/// An entry of a list: the head and tail sentinels are `End`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    End,
    Call(usize),
    Return(usize),
}

/// A doubly linked list of entries whose removals can be undone in reverse
/// order (dancing links). Node 0 is the head, the last node the tail.
struct List {
    node: Vec<Node>,
    prev: Vec<usize>,
    next: Vec<usize>,
}

impl List {
    fn new(entries: impl Iterator<Item = Node>) -> Self {
        let mut node = vec![Node::End];
        node.extend(entries);
        node.push(Node::End);
        let n = node.len();
        Self {
            node,
            prev: (0..n).map(|i| i.saturating_sub(1)).collect(),
            next: (0..n).map(|i| (i + 1).min(n - 1)).collect(),
        }
    }

    fn first(&self) -> usize {
        self.next[0]
    }

    fn unlink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn relink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = x;
        self.prev[n] = x;
    }
}

/// A bitset kept with the window outside which it is all ones (definite
/// set: below `low`) or all zeros (from `high`), so that a configuration can
/// be stored by its window alone.
struct Window {
    words: Vec<u64>,
    /// The valid bits of the last word.
    last_full: u64,
    /// Definite set: the first word not full. Optional set: the first
    /// nonzero word (0 when empty).
    low: usize,
    /// One past the last nonzero word.
    high: usize,
}

impl Window {
    fn new(n: usize) -> Self {
        Self {
            words: vec![0u64; n.div_ceil(64)],
            last_full: match n % 64 {
                0 => !0,
                r => (1 << r) - 1,
            },
            low: 0,
            high: 0,
        }
    }

    fn full(&self, w: usize) -> bool {
        let all = if w + 1 == self.words.len() {
            self.last_full
        } else {
            !0
        };
        self.words[w] == all
    }

    /// Sets bit `i` of the definite set, sliding `low` past full words.
    fn set_definite(&mut self, i: usize) {
        let w = i / 64;
        self.words[w] |= 1 << (i % 64);
        self.high = self.high.max(w + 1);
        while self.low < self.words.len() && self.full(self.low) {
            self.low += 1;
        }
    }

    /// Sets bit `i` of the optional set, widening the window.
    fn set_optional(&mut self, i: usize) {
        let w = i / 64;
        self.low = if self.high == 0 { w } else { self.low.min(w) };
        self.words[w] |= 1 << (i % 64);
        self.high = self.high.max(w + 1);
    }

    /// Clears bit `i`, restoring the window it had before it was set.
    fn clear(&mut self, i: usize, low: usize, high: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
        self.low = low;
        self.high = high;
    }

    fn window(&self) -> &[u64] {
        self.words
            .get(self.low..self.high.max(self.low))
            .unwrap_or_default()
    }
}

/// One explored configuration, its words in `Memo::words`.
struct MemoEntry {
    start: usize,
    /// The definite key: `low`, then the definite window.
    def_len: usize,
    opt_low: usize,
    opt_len: usize,
    state: State,
    /// The next entry with the same hash, or `NONE`.
    next: usize,
}

/// Explored configurations, chained by a hash of the definite set
/// (Zobrist, computed incrementally) and the state. A configuration is
/// covered by an explored one with the same definite set and state and a
/// subset of its indeterminate operations: leaving an indeterminate
/// operation out is always allowed, so the explored one had every future
/// this one has.
struct Memo {
    heads: HashMap<u64, usize, BuildHasherDefault<PassThrough>>,
    entries: Vec<MemoEntry>,
    words: Vec<u64>,
}

const NONE: usize = usize::MAX;

impl Memo {
    fn new() -> Self {
        Self {
            heads: HashMap::default(),
            entries: Vec::new(),
            words: Vec::new(),
        }
    }

    /// Records the configuration unless an explored one covers it; false
    /// then.
    fn insert(&mut self, hash: u64, def: &[u64], opt: &Window, state: State) -> bool {
        let opt_words = opt.window();
        let chain = self.heads.get(&hash).copied().unwrap_or(NONE);
        let mut at = chain;
        while at != NONE {
            let e = &self.entries[at];
            let words = &self.words[e.start..e.start + e.def_len + e.opt_len];
            if e.state == state
                && words[..e.def_len] == *def
                && words[e.def_len..].iter().enumerate().all(|(i, &w)| {
                    let cur = (e.opt_low + i)
                        .checked_sub(opt.low)
                        .and_then(|j| opt_words.get(j))
                        .copied()
                        .unwrap_or(0);
                    w & !cur == 0
                })
            {
                return false;
            }
            at = e.next;
        }
        self.heads.insert(hash, self.entries.len());
        self.entries.push(MemoEntry {
            start: self.words.len(),
            def_len: def.len(),
            opt_low: opt.low,
            opt_len: opt_words.len(),
            state,
            next: chain,
        });
        self.words.extend_from_slice(def);
        self.words.extend_from_slice(opt_words);
        true
    }
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Where the walk is: in the list of definite calls and returns, or, once
/// it has reached the earliest pending return (of operation `bound`), among
/// the indeterminate operations invoked no later than that return.
#[derive(Clone, Copy)]
enum Cursor {
    Definite(usize),
    Optional { at: usize, bound: usize },
}

/// What to undo when backtracking over a linearized operation.
struct Frame {
    op: usize,
    state: State,
    low: usize,
    high: usize,
    /// Where the walk goes on once it is undone.
    resume: Cursor,
}

/// The key's operations, split for the search.
struct Layout {
    /// Definite calls and returns, by time, calls first at the same instant.
    definite: List,
    /// Indeterminate calls, by invocation.
    optional: List,
    /// Per operation: its call node (in its list) and, if definite, its
    /// return node.
    call: Vec<usize>,
    ret: Vec<usize>,
    /// Per operation: its bit in the definite or the optional set.
    bit: Vec<usize>,
    n_def: usize,
    n_opt: usize,
}

impl Layout {
    fn new(ops: &[KeyOp]) -> Self {
        let mut timed: Vec<(u64, u8, usize)> = Vec::new();
        let mut opt_calls: Vec<(u64, usize)> = Vec::new();
        let mut bit = Vec::with_capacity(ops.len());
        let (mut n_def, mut n_opt) = (0, 0);
        for (i, o) in ops.iter().enumerate() {
            if o.optional {
                opt_calls.push((o.invoked, i));
                bit.push(n_opt);
                n_opt += 1;
            } else {
                timed.push((o.invoked, 0, i));
                timed.push((o.returned, 1, i));
                bit.push(n_def);
                n_def += 1;
            }
        }
        timed.sort_unstable();
        opt_calls.sort_unstable();
        let mut call = vec![0; ops.len()];
        let mut ret = vec![0; ops.len()];
        for (at, &(_, kind, op)) in timed.iter().enumerate() {
            if kind == 0 {
                call[op] = at + 1;
            } else {
                ret[op] = at + 1;
            }
        }
        for (at, &(_, op)) in opt_calls.iter().enumerate() {
            call[op] = at + 1;
        }
        Self {
            definite: List::new(timed.iter().map(|&(_, kind, op)| {
                if kind == 0 {
                    Node::Call(op)
                } else {
                    Node::Return(op)
                }
            })),
            optional: List::new(opt_calls.iter().map(|&(_, op)| Node::Call(op))),
            call,
            ret,
            bit,
            n_def,
            n_opt,
        }
    }

    fn lift(&mut self, op: usize, optional: bool) {
        if optional {
            self.optional.unlink(self.call[op]);
        } else {
            self.definite.unlink(self.call[op]);
            self.definite.unlink(self.ret[op]);
        }
    }

    fn unlift(&mut self, op: usize, optional: bool) {
        if optional {
            self.optional.relink(self.call[op]);
        } else {
            self.definite.relink(self.ret[op]);
            self.definite.relink(self.call[op]);
        }
    }
}

/// Whether an operation observes or writes a state, for [`Doomed`].
#[derive(Clone, Copy)]
enum Role {
    Observer,
    Writer,
}

/// Tracks, per state `x`, whether a pending observer of `x` can no longer be
/// satisfied: every pending write of `x` was invoked after the
/// earliest-returning pending observer of `x` returned. Unless the register
/// holds `x` now, such a configuration is a dead end, however long the walk
/// would take to reach that observer's return. Only the earliest-returning
/// observer and the earliest-invoked writer of each state matter, and both
/// are kept as pointers into sorted lists, so an update costs O(1)
/// amortized.
struct Doomed {
    /// Per state: its definite observers by return time, and its writers
    /// (puts of it, deletes for `ABSENT`) by invocation time.
    lists: [Vec<Vec<usize>>; 2],
    /// Per state: the first pending entry of each list.
    first: [Vec<usize>; 2],
    /// Per operation: its role, state and position in its list.
    place: Vec<Option<(Role, State, usize)>>,
    done: Vec<bool>,
    invoked: Vec<u64>,
    returned: Vec<u64>,
    /// The doomed states, as an indexed set.
    members: Vec<State>,
    position: Vec<usize>,
}

/// What `Doomed::take` changed, for `Doomed::put_back`.
struct Taken {
    role: Role,
    state: State,
    first: usize,
}

impl Doomed {
    fn new(ops: &[KeyOp], states: usize) -> Self {
        let mut lists = [vec![Vec::new(); states], vec![Vec::new(); states]];
        let mut place = vec![None; ops.len()];
        for (i, o) in ops.iter().enumerate() {
            let role = match o.effect {
                Effect::Observe(x) => Some((Role::Observer, x)),
                Effect::Write(x) => Some((Role::Writer, x)),
                Effect::Remove => Some((Role::Writer, ABSENT)),
            };
            if let Some((role, x)) = role {
                if let Some(list) = lists[role as usize].get_mut(x as usize) {
                    place[i] = Some((role, x, 0));
                    list.push(i);
                }
            }
        }
        for list in &mut lists[Role::Observer as usize] {
            list.sort_by_key(|&i| (ops[i].returned, i));
        }
        for list in &mut lists[Role::Writer as usize] {
            list.sort_by_key(|&i| (ops[i].invoked, i));
        }
        for list in lists.iter().flatten() {
            for (at, &i) in list.iter().enumerate() {
                if let Some((_, _, pos)) = &mut place[i] {
                    *pos = at;
                }
            }
        }
        let mut doomed = Self {
            lists,
            first: [vec![0; states], vec![0; states]],
            place,
            done: vec![false; ops.len()],
            invoked: ops.iter().map(|o| o.invoked).collect(),
            returned: ops.iter().map(|o| o.returned).collect(),
            members: Vec::new(),
            position: vec![NONE; states],
        };
        for x in 0..states as State {
            doomed.refresh(x);
        }
        doomed
    }

    /// The earliest-returning pending observer of `x`, if doomed.
    fn observer(&self, x: State) -> Option<usize> {
        let x = x as usize;
        let obs = Role::Observer as usize;
        let wr = Role::Writer as usize;
        let &p = self.lists[obs][x].get(self.first[obs][x])?;
        match self.lists[wr][x].get(self.first[wr][x]) {
            Some(&w) if self.invoked[w] <= self.returned[p] => None,
            _ => Some(p),
        }
    }

    fn refresh(&mut self, x: State) {
        let doomed = self.observer(x).is_some();
        let at = self.position[x as usize];
        if doomed && at == NONE {
            self.position[x as usize] = self.members.len();
            self.members.push(x);
        } else if !doomed && at != NONE {
            self.members.swap_remove(at);
            if let Some(&moved) = self.members.get(at) {
                self.position[moved as usize] = at;
            }
            self.position[x as usize] = NONE;
        }
    }

    /// A doomed state other than `state`, if any: the configuration with the
    /// register holding `state` is then a dead end.
    fn other_than(&self, state: State) -> Option<State> {
        self.members.iter().copied().find(|&x| x != state)
    }

    fn take(&mut self, op: usize) -> Option<Taken> {
        self.done[op] = true;
        let (role, x, pos) = self.place[op]?;
        let (r, xi) = (role as usize, x as usize);
        let first = self.first[r][xi];
        if pos == first {
            let list = &self.lists[r][xi];
            let mut at = first;
            while list.get(at).is_some_and(|&i| self.done[i]) {
                at += 1;
            }
            self.first[r][xi] = at;
            self.refresh(x);
        }
        Some(Taken {
            role,
            state: x,
            first,
        })
    }

    fn put_back(&mut self, op: usize, taken: Option<Taken>) {
        self.done[op] = false;
        if let Some(t) = taken {
            let (r, xi) = (t.role as usize, t.state as usize);
            if self.first[r][xi] != t.first {
                self.first[r][xi] = t.first;
                self.refresh(t.state);
            }
        }
    }
}

/// The two earliest-returning definite writes in a suffix (by invocation)
/// of the history, the second of a different state than the first.
#[derive(Clone, Copy, Default)]
struct EarliestTwo {
    best: Option<(u64, State, usize)>,
    other: Option<(u64, State, usize)>,
}

impl EarliestTwo {
    fn with(self, w: (u64, State, usize)) -> Self {
        let mut all = [Some(w), self.best, self.other];
        all.sort_by_key(|c| c.map_or((u64::MAX, usize::MAX), |(r, _, op)| (r, op)));
        let best = all[0];
        let other = all[1..]
            .iter()
            .flatten()
            .find(|c| Some(c.1) != best.map(|b| b.1))
            .copied();
        Self { best, other }
    }

    /// The earliest-returning write of a state other than `x`.
    fn except(&self, x: State) -> Option<(u64, State, usize)> {
        match self.best {
            Some(b) if b.1 != x => Some(b),
            _ => self.other,
        }
    }
}

/// A static check, before any search: a definite observer of `x` every
/// write of which that could precede it (the initial absence included) is
/// followed, in real time, by a definite write of another state that
/// returned before the observer was invoked. In any linearization that
/// write comes between, so the observer cannot see `x`. Returns the
/// earliest-returning such observer and the write.
fn overwritten_observer(ops: &[KeyOp], doomed: &Doomed) -> Option<(usize, usize)> {
    let mut writes: Vec<(u64, u64, State, usize)> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| !o.optional)
        .filter_map(|(i, o)| match o.effect {
            Effect::Write(x) => Some((o.invoked, o.returned, x, i)),
            Effect::Remove => Some((o.invoked, o.returned, ABSENT, i)),
            Effect::Observe(_) => None,
        })
        .collect();
    writes.sort_unstable();
    let mut suffix = vec![EarliestTwo::default(); writes.len() + 1];
    for (at, &(_, returned, x, i)) in writes.iter().enumerate().rev() {
        suffix[at] = suffix[at + 1].with((returned, x, i));
    }
    let (obs, wr) = (Role::Observer as usize, Role::Writer as usize);
    let mut found: Option<(usize, usize)> = None;
    for (x, observers) in doomed.lists[obs].iter().enumerate() {
        let writers = &doomed.lists[wr][x];
        // The latest return among the writers invoked so far.
        let mut latest: Vec<u64> = Vec::with_capacity(writers.len());
        for &w in writers {
            let prev = latest.last().copied().unwrap_or(0);
            latest.push(prev.max(ops[w].returned));
        }
        for &g in observers {
            let can_precede = writers.partition_point(|&w| ops[w].invoked <= ops[g].returned);
            let start = match can_precede.checked_sub(1).map(|i| latest[i]) {
                // An indeterminate write, or one ending after `g` began:
                // nothing fits in between.
                Some(a) if a >= ops[g].invoked => continue,
                Some(a) => writes.partition_point(|w| w.0 <= a),
                // Only the initial absence could explain it.
                None if x == ABSENT as usize => 0,
                // Nothing could: the search reports it.
                None => continue,
            };
            if let Some((returned, _, w)) = suffix[start].except(x as State) {
                if returned < ops[g].invoked
                    && found.is_none_or(|(f, _)| ops[g].returned < ops[f].returned)
                {
                    found = Some((g, w));
                }
            }
        }
    }
    found
}

/// Notes where the search got stuck, keeping the furthest point.
fn record(blocker: &mut Option<Blocker>, op: usize, depth: usize, state: State) {
    match blocker {
        Some(b) if b.depth > depth => {}
        Some(b) if b.depth == depth => {
            if b.op == op {
                b.states.insert(state);
            }
        }
        _ => {
            *blocker = Some(Blocker {
                op,
                depth,
                states: BTreeSet::from([state]),
                overwritten_by: None,
            });
        }
    }
}

fn search(register: &KeyRegister, options: &CheckOptions) -> KeyVerdict {
    let ops = &register.ops;
    let mut layout = Layout::new(ops);
    let mut doomed = Doomed::new(ops, FIRST_READ as usize + register.read_values.len());
    // A get of a value no write could have produced by its return: stuck
    // before the search starts.
    if let Some(op) = doomed
        .members
        .iter()
        .filter(|&&x| x != ABSENT)
        .filter_map(|&x| doomed.observer(x))
        .min_by_key(|&op| (ops[op].returned, op))
    {
        return KeyVerdict::Violation(Blocker {
            op,
            depth: 0,
            states: BTreeSet::new(),
            overwritten_by: None,
        });
    }
    if let Some((op, w)) = overwritten_observer(ops, &doomed) {
        return KeyVerdict::Violation(Blocker {
            op,
            depth: 0,
            states: BTreeSet::new(),
            overwritten_by: Some(w),
        });
    }
    let zobrist: Vec<u64> = (0..ops.len() as u64).map(mix64).collect();
    let mut definite = Window::new(layout.n_def);
    let mut optional = Window::new(layout.n_opt);
    let mut memo = Memo::new();
    let mut def_key: Vec<u64> = Vec::new();
    let mut stack: Vec<(Frame, Option<Taken>)> = Vec::new();
    let mut blocker: Option<Blocker> = None;
    let mut state = ABSENT;
    let mut hash = 0u64;
    let mut remaining = layout.n_def;
    let mut steps = 0u64;
    let mut cursor = Cursor::Definite(layout.definite.first());

    loop {
        if remaining == 0 {
            return KeyVerdict::Linearizable;
        }
        if steps >= options.step_budget {
            return KeyVerdict::Unknown;
        }
        steps += 1;

        // The next candidate, or the operation whose return the walk is
        // stuck at (`None` only if the lists are inconsistent).
        let candidate = match cursor {
            Cursor::Definite(at) => match layout.definite.node[at] {
                Node::Call(op) => Ok((op, Cursor::Definite(layout.definite.next[at]))),
                Node::Return(bound) => {
                    cursor = Cursor::Optional {
                        at: layout.optional.first(),
                        bound,
                    };
                    continue;
                }
                Node::End => Err(None),
            },
            Cursor::Optional { at, bound } => match layout.optional.node[at] {
                Node::Call(op) if ops[op].invoked <= ops[bound].returned => Ok((
                    op,
                    Cursor::Optional {
                        at: layout.optional.next[at],
                        bound,
                    },
                )),
                _ => Err(Some(bound)),
            },
        };

        match candidate {
            Ok((op, resume)) => {
                let o = ops[op];
                // Linearizing an indeterminate operation that changes
                // nothing only removes options: skip it.
                let next_state = o
                    .effect
                    .apply(state)
                    .filter(|&s| !(o.optional && s == state));
                let Some(next_state) = next_state else {
                    cursor = resume;
                    continue;
                };
                let taken = doomed.take(op);
                let depth = layout.n_def - remaining + usize::from(!o.optional);
                if let Some(x) = doomed.other_than(next_state) {
                    if let Some(p) = doomed.observer(x) {
                        record(&mut blocker, p, depth, next_state);
                    }
                    doomed.put_back(op, taken);
                    cursor = resume;
                    continue;
                }
                let set = if o.optional {
                    &mut optional
                } else {
                    &mut definite
                };
                let frame = Frame {
                    op,
                    state,
                    low: set.low,
                    high: set.high,
                    resume,
                };
                let next_hash = if o.optional {
                    optional.set_optional(layout.bit[op]);
                    hash
                } else {
                    definite.set_definite(layout.bit[op]);
                    hash ^ zobrist[op]
                };
                let fresh = !options.memoize || {
                    def_key.clear();
                    def_key.push(definite.low as u64);
                    def_key.extend_from_slice(definite.window());
                    memo.insert(
                        mix64(next_hash ^ u64::from(next_state)),
                        &def_key,
                        &optional,
                        next_state,
                    )
                };
                if fresh {
                    hash = next_hash;
                    state = next_state;
                    layout.lift(op, o.optional);
                    if !o.optional {
                        remaining -= 1;
                    }
                    stack.push((frame, taken));
                    cursor = Cursor::Definite(layout.definite.first());
                } else {
                    let set = if o.optional {
                        &mut optional
                    } else {
                        &mut definite
                    };
                    set.clear(layout.bit[op], frame.low, frame.high);
                    doomed.put_back(op, taken);
                    cursor = resume;
                }
            }
            Err(stuck) => {
                if let Some(op) = stuck {
                    record(&mut blocker, op, layout.n_def - remaining, state);
                }
                let Some((frame, taken)) = stack.pop() else {
                    return match blocker {
                        Some(b) => KeyVerdict::Violation(b),
                        // Unreachable: with definite operations left, the
                        // walk meets a return. Say "unknown" rather than lie.
                        None => KeyVerdict::Unknown,
                    };
                };
                let op = frame.op;
                let o = ops[op];
                layout.unlift(op, o.optional);
                doomed.put_back(op, taken);
                state = frame.state;
                if o.optional {
                    optional.clear(layout.bit[op], frame.low, frame.high);
                } else {
                    hash ^= zobrist[op];
                    definite.clear(layout.bit[op], frame.low, frame.high);
                    remaining += 1;
                }
                cursor = frame.resume;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// A simulated store, for tests and benchmarks.

/// splitmix64: small, seeded, good enough for simulation.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0.wrapping_sub(0x9e37_79b9_7f4a_7c15))
    }

    /// Uniform in `0..n` (`n` > 0; slightly biased, which does not matter
    /// here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A simulated operation before its result is known.
struct Planned {
    client: u32,
    key: u32,
    op: Op,
    invoked: u64,
    /// When it takes effect.
    at: u64,
    returned: u64,
    fate: Fate,
}

/// What happens to a simulated put or delete.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Acknowledged,
    Refused,
    /// Indeterminate, and it took effect.
    Applied,
    /// Indeterminate, and it did not.
    Lost,
}

/// Simulates `ops` operations by `clients` concurrent clients on `keys`
/// blobs of a linearizable store, and returns the history, sorted by
/// invocation. Each client runs one operation at a time; each operation
/// takes effect at a hidden instant inside its window (an indeterminate one
/// possibly after the client gave up, or never). About 40% of operations are
/// puts (of distinct values), 45% gets and 15% deletes; about 1% of puts and
/// deletes are refused and 2% are indeterminate.
///
/// With `stale_reads`, about one get in 25 returns instead a value that was
/// overwritten by a write acknowledged before the get was invoked (when there
/// is one): a seeded bug the checker must report.
pub fn simulate(seed: u64, clients: u32, keys: u32, ops: usize, stale_reads: bool) -> Vec<Event> {
    if clients == 0 || keys == 0 {
        return Vec::new();
    }
    let mut rng = SplitMix64(seed);
    let mut free = vec![0u64; clients as usize];
    let mut next_value = 1u64;
    let mut planned = Vec::with_capacity(ops);
    for _ in 0..ops {
        let client = rng.below(u64::from(clients)) as u32;
        let invoked = free[client as usize] + rng.below(40);
        let key = rng.below(u64::from(keys)) as u32;
        let op = match rng.below(100) {
            0..40 => {
                next_value += 1;
                Op::Put {
                    value: next_value - 1,
                }
            }
            40..85 => Op::Get,
            _ => Op::Delete,
        };
        let fate = match (op, rng.below(200)) {
            (Op::Get, _) => Fate::Acknowledged,
            (_, 0..2) => Fate::Applied,
            (_, 2..4) => Fate::Lost,
            (_, 4..6) => Fate::Refused,
            _ => Fate::Acknowledged,
        };
        let (at, returned) = if matches!(fate, Fate::Applied | Fate::Lost) {
            // The client gives up at 300; the effect may land later.
            (invoked + 1 + rng.below(600), invoked + 300)
        } else {
            let at = invoked + 1 + rng.below(100);
            (at, at + 1 + rng.below(100))
        };
        free[client as usize] = returned;
        planned.push(Planned {
            client,
            key,
            op,
            invoked,
            at,
            returned,
            fate,
        });
    }

    // Apply in linearization order.
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| (planned[i].at, i));
    let mut register: Vec<Option<u64>> = vec![None; keys as usize];
    // Per key, the acknowledged writes applied so far, in order.
    let mut acked: Vec<Vec<usize>> = vec![Vec::new(); keys as usize];
    let mut results = vec![OpResult::Get(None); planned.len()];
    for i in order {
        let p = &planned[i];
        let k = p.key as usize;
        let applies = matches!(p.fate, Fate::Acknowledged | Fate::Applied);
        let outcome = |effect: Outcome| match p.fate {
            Fate::Acknowledged => effect,
            Fate::Refused => Outcome::Refused,
            Fate::Applied | Fate::Lost => Outcome::Indeterminate,
        };
        results[i] = match p.op {
            Op::Put { value } => {
                if applies {
                    register[k] = Some(value);
                    if p.fate == Fate::Acknowledged {
                        acked[k].push(i);
                    }
                }
                OpResult::Put(outcome(Outcome::Ok))
            }
            Op::Delete => {
                let found = register[k].is_some();
                if applies && found {
                    register[k] = None;
                    if p.fate == Fate::Acknowledged {
                        acked[k].push(i);
                    }
                }
                OpResult::Delete(outcome(if found {
                    Outcome::Ok
                } else {
                    Outcome::NotFound
                }))
            }
            Op::Get => {
                let stale = if stale_reads && rng.below(25) == 0 {
                    stale_value(&planned, &acked[k], p.invoked)
                } else {
                    None
                };
                OpResult::Get(stale.or(register[k]))
            }
        };
    }

    let mut events: Vec<Event> = planned
        .iter()
        .zip(results)
        .map(|(p, result)| Event {
            client: p.client,
            key: format!("blob-{}", p.key),
            op: p.op,
            invoked_ns: p.invoked,
            returned_ns: p.returned,
            result,
        })
        .collect();
    events.sort_by_key(|e| e.invoked_ns);
    events
}

/// A value that a get invoked at `invoked` cannot legally return: one put
/// by an acknowledged write that returned before another acknowledged write
/// was invoked, which itself returned before `invoked`. Values are distinct,
/// so no linearization can have the register hold it again.
fn stale_value(planned: &[Planned], acked: &[usize], invoked: u64) -> Option<u64> {
    let recent = &acked[acked.len().saturating_sub(64)..];
    let (at, w) = recent
        .iter()
        .enumerate()
        .rev()
        .find(|&(_, &w)| planned[w].returned < invoked)?;
    let w_invoked = planned[*w].invoked;
    recent[..at]
        .iter()
        .rev()
        .map(|&p| &planned[p])
        .find_map(|p| match p.op {
            Op::Put { value } if p.returned < w_invoked => Some(value),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(client: u32, key: &str, op: Op, t: (u64, u64), result: OpResult) -> Event {
        Event {
            client,
            key: key.to_owned(),
            op,
            invoked_ns: t.0,
            returned_ns: t.1,
            result,
        }
    }

    fn put(client: u32, value: u64, t: (u64, u64), o: Outcome) -> Event {
        ev(client, "k", Op::Put { value }, t, OpResult::Put(o))
    }

    fn get(client: u32, t: (u64, u64), v: Option<u64>) -> Event {
        ev(client, "k", Op::Get, t, OpResult::Get(v))
    }

    fn del(client: u32, t: (u64, u64), o: Outcome) -> Event {
        ev(client, "k", Op::Delete, t, OpResult::Delete(o))
    }

    fn verdict(events: Vec<Event>) -> Verdict {
        match History::new(events) {
            Ok(h) => check(&h),
            Err(e) => panic!("invalid history: {e}"),
        }
    }

    fn violation(events: Vec<Event>) -> Violation {
        match verdict(events) {
            Verdict::Violation(v) => *v,
            other => panic!("expected a violation, got {other}"),
        }
    }

    #[test]
    fn sequential_put_then_get_is_linearizable() {
        let h = vec![
            put(1, 7, (0, 10), Outcome::Ok),
            get(2, (20, 30), Some(7)),
            del(1, (40, 50), Outcome::Ok),
            get(2, (60, 70), None),
            del(2, (80, 90), Outcome::NotFound),
        ];
        assert_eq!(verdict(h), Verdict::Linearizable);
    }

    #[test]
    fn concurrent_put_and_get_may_return_either_value() {
        for seen in [Some(1), Some(2)] {
            let h = vec![
                put(1, 1, (0, 10), Outcome::Ok),
                put(1, 2, (20, 60), Outcome::Ok),
                get(2, (30, 40), seen),
            ];
            assert_eq!(verdict(h), Verdict::Linearizable, "get returned {seen:?}");
        }
    }

    #[test]
    fn get_after_acknowledged_delete_is_a_violation() {
        let v = violation(vec![
            put(1, 5, (0, 10), Outcome::Ok),
            del(1, (20, 30), Outcome::Ok),
            get(2, (40, 50), Some(5)),
        ]);
        assert_eq!(v.key, "k");
        assert_eq!(v.event.op, Op::Get);
        assert_eq!(v.overwritten_by.as_ref().map(|w| w.op), Some(Op::Delete));
        let text = v.to_string();
        assert!(text.contains("key \"k\""), "{text}");
        assert!(text.contains("delete by client 1 at [20, 30]"), "{text}");
    }

    #[test]
    fn read_of_a_value_never_written_is_a_violation() {
        let v = violation(vec![
            put(1, 5, (0, 10), Outcome::Ok),
            get(2, (20, 30), Some(6)),
        ]);
        assert_eq!(v.event.result, OpResult::Get(Some(6)));
        assert!(v.observed_writers.is_empty());
        assert!(v.to_string().contains("6 was never written"), "{v}");
    }

    #[test]
    fn indeterminate_put_that_shows_up_later_is_linearizable() {
        let h = vec![
            put(1, 1, (0, 10), Outcome::Ok),
            put(1, 2, (20, 30), Outcome::Indeterminate),
            get(2, (40, 50), Some(1)),
            get(2, (60, 70), Some(2)),
            get(3, (80, 90), Some(2)),
        ];
        assert_eq!(verdict(h), Verdict::Linearizable);
    }

    #[test]
    fn indeterminate_put_that_never_shows_up_is_linearizable() {
        let h = vec![
            put(1, 1, (0, 10), Outcome::Ok),
            put(1, 2, (20, 30), Outcome::Indeterminate),
            get(2, (40, 50), Some(1)),
            get(2, (1_000, 1_010), Some(1)),
        ];
        assert_eq!(verdict(h), Verdict::Linearizable);
    }

    #[test]
    fn indeterminate_put_cannot_take_effect_before_its_invocation() {
        let v = violation(vec![
            get(2, (0, 10), Some(2)),
            put(1, 2, (20, 30), Outcome::Indeterminate),
        ]);
        assert_eq!(v.event.client, 2);
    }

    #[test]
    fn indeterminate_put_takes_effect_once() {
        // 2 shows up, is overwritten by 3, and cannot come back.
        let v = violation(vec![
            put(1, 2, (0, 10), Outcome::Indeterminate),
            get(2, (20, 30), Some(2)),
            put(3, 3, (40, 50), Outcome::Ok),
            get(2, (60, 70), Some(2)),
        ]);
        assert_eq!(v.event.invoked_ns, 60);
    }

    #[test]
    fn new_then_old_stale_read_is_a_violation() {
        // Put 2 is concurrent with both reads, but once client 2 saw 2,
        // client 3 reading afterwards cannot see 1.
        let v = violation(vec![
            put(1, 1, (0, 10), Outcome::Ok),
            put(1, 2, (20, 100), Outcome::Ok),
            get(2, (30, 40), Some(2)),
            get(3, (50, 60), Some(1)),
        ]);
        assert_eq!(v.event.client, 3);
        assert_eq!(v.possible, vec![Held::Value(2)]);
        assert!(v.to_string().contains("1 was written by put 1"), "{v}");
    }

    #[test]
    fn lost_acknowledged_write_is_a_violation() {
        let v = violation(vec![
            put(1, 9, (0, 10), Outcome::Ok),
            get(2, (20, 30), None),
        ]);
        assert_eq!(v.event.result, OpResult::Get(None));
        assert_eq!(
            v.overwritten_by.as_ref().map(|w| w.op),
            Some(Op::Put { value: 9 })
        );
        assert!(v.to_string().contains("put 9 by client 1"), "{v}");
        // Found by the search when the write is concurrent with the read,
        // but an earlier read saw it.
        let v = violation(vec![
            put(1, 9, (0, 25), Outcome::Ok),
            get(3, (5, 15), Some(9)),
            get(2, (20, 40), None),
        ]);
        assert_eq!(v.event.client, 2);
        assert_eq!(v.possible, vec![Held::Value(9)]);
    }

    #[test]
    fn delete_not_found_must_be_consistent() {
        let v = violation(vec![
            put(1, 9, (0, 10), Outcome::Ok),
            del(2, (20, 30), Outcome::NotFound),
        ]);
        assert_eq!(v.event.op, Op::Delete);
        let v = violation(vec![del(2, (20, 30), Outcome::Ok)]);
        assert_eq!(v.possible, vec![Held::Absent]);
    }

    #[test]
    fn refused_writes_have_no_effect() {
        let v = violation(vec![
            put(1, 1, (0, 10), Outcome::Ok),
            put(1, 2, (20, 30), Outcome::Refused),
            get(2, (40, 50), Some(2)),
        ]);
        assert!(v.observed_writers.is_empty());
        let h = vec![
            put(1, 1, (0, 10), Outcome::Ok),
            del(1, (20, 30), Outcome::Refused),
            get(2, (40, 50), Some(1)),
        ];
        assert_eq!(verdict(h), Verdict::Linearizable);
    }

    #[test]
    fn keys_are_checked_independently() {
        let h = vec![
            ev(
                1,
                "a",
                Op::Put { value: 1 },
                (0, 10),
                OpResult::Put(Outcome::Ok),
            ),
            ev(2, "b", Op::Get, (20, 30), OpResult::Get(None)),
            ev(2, "a", Op::Get, (20, 30), OpResult::Get(Some(1))),
            ev(3, "b", Op::Get, (40, 50), OpResult::Get(Some(1))),
        ];
        let v = violation(h);
        assert_eq!(v.key, "b");
    }

    #[test]
    fn invalid_events_are_rejected() {
        assert_eq!(
            History::new(vec![get(1, (10, 5), None)]),
            Err(HistoryError::ReturnBeforeInvoke {
                index: 0,
                invoked_ns: 10,
                returned_ns: 5
            })
        );
        let mismatched = ev(1, "k", Op::Get, (0, 1), OpResult::Put(Outcome::Ok));
        assert!(matches!(
            History::new(vec![get(1, (0, 1), None), mismatched]),
            Err(HistoryError::ResultMismatch { index: 1, .. })
        ));
        let put_not_found = put(1, 1, (0, 1), Outcome::NotFound);
        assert!(History::new(vec![put_not_found]).is_err());
    }

    #[test]
    fn empty_and_degenerate_histories_do_not_panic() {
        assert_eq!(verdict(Vec::new()), Verdict::Linearizable);
        assert_eq!(verdict(vec![get(1, (5, 5), None)]), Verdict::Linearizable);
        let far = vec![
            put(1, 1, (u64::MAX - 1, u64::MAX), Outcome::Ok),
            put(2, 2, (0, u64::MAX), Outcome::Indeterminate),
            get(3, (u64::MAX, u64::MAX), Some(1)),
        ];
        assert_eq!(verdict(far), Verdict::Linearizable);
        assert!(simulate(1, 0, 4, 100, false).is_empty());
        assert!(simulate(1, 4, 0, 100, false).is_empty());
    }

    #[test]
    fn an_exhausted_budget_is_unknown() {
        let h = History::new(simulate(3, 8, 1, 500, false)).unwrap_or_default();
        assert_eq!(
            check_with_budget(&h, 10),
            Verdict::Unknown {
                key: "blob-0".to_owned()
            }
        );
    }

    #[test]
    fn simulated_histories_are_linearizable() {
        for seed in 1..=5 {
            let events = simulate(seed, 8, 4, 10_000, false);
            assert_eq!(events.len(), 10_000);
            let h = History::new(events).unwrap_or_default();
            assert_eq!(check(&h), Verdict::Linearizable, "seed {seed}");
        }
    }

    #[test]
    fn simulated_stale_reads_are_violations() {
        for seed in 1..=5 {
            let h = History::new(simulate(seed, 8, 4, 10_000, true)).unwrap_or_default();
            match check(&h) {
                Verdict::Violation(v) => assert_eq!(v.event.op, Op::Get, "seed {seed}: {v}"),
                other => panic!("seed {seed}: expected a violation, got {other}"),
            }
        }
    }

    /// An independent oracle for tiny histories: tries every order of every
    /// subset of the indeterminate operations with all definite ones.
    fn brute_force(events: &[Event]) -> bool {
        let ops: Vec<(u64, u64, Effect, bool)> = {
            let refs: Vec<&Event> = events.iter().collect();
            KeyRegister::new(&refs)
                .ops
                .iter()
                .map(|o| (o.invoked, o.returned, o.effect, o.optional))
                .collect()
        };
        fn go(ops: &[(u64, u64, Effect, bool)], used: &mut Vec<bool>, state: State) -> bool {
            if ops.iter().zip(used.iter()).all(|(o, &u)| u || o.3) {
                return true;
            }
            for i in 0..ops.len() {
                if used[i] {
                    continue;
                }
                // Every op that must precede i has been placed, or is
                // optional and left out for good (then i may still go).
                let blocked = (0..ops.len()).any(|j| !used[j] && !ops[j].3 && ops[j].1 < ops[i].0);
                if blocked {
                    continue;
                }
                if let Some(s) = ops[i].2.apply(state) {
                    used[i] = true;
                    let ok = go(ops, used, s);
                    used[i] = false;
                    if ok {
                        return true;
                    }
                }
            }
            false
        }
        go(&ops, &mut vec![false; ops.len()], ABSENT)
    }

    #[test]
    fn agrees_with_brute_force_on_small_random_histories() {
        let mut rng = SplitMix64(42);
        let (mut yes, mut no) = (0, 0);
        for _ in 0..3_000 {
            let n = 1 + rng.below(6) as usize;
            let events: Vec<Event> = (0..n)
                .map(|_| {
                    let a = rng.below(50);
                    let t = (a, a + rng.below(30));
                    let c = rng.below(3) as u32;
                    let outcome = match rng.below(6) {
                        0 => Outcome::Indeterminate,
                        1 => Outcome::Refused,
                        _ => Outcome::Ok,
                    };
                    match rng.below(3) {
                        0 => put(c, 1 + rng.below(3), t, outcome),
                        1 => get(
                            c,
                            t,
                            [None, Some(1), Some(2), Some(3)][rng.below(4) as usize],
                        ),
                        _ => del(
                            c,
                            t,
                            if rng.below(3) == 0 {
                                Outcome::NotFound
                            } else {
                                outcome
                            },
                        ),
                    }
                })
                .collect();
            let expected = brute_force(&events);
            let h = History::new(events).unwrap_or_default();
            for memoize in [true, false] {
                let options = CheckOptions {
                    memoize,
                    ..CheckOptions::default()
                };
                let got = check_with_options(&h, &options);
                assert_eq!(
                    got == Verdict::Linearizable,
                    expected,
                    "memoize {memoize}: {got} for {:#?}",
                    h.events()
                );
                assert!(!matches!(got, Verdict::Unknown { .. }));
            }
            if expected {
                yes += 1;
            } else {
                no += 1;
            }
        }
        assert!(yes > 300 && no > 300, "{yes} linearizable, {no} not");
    }
}
