//! The search: Wing & Gong's with Lowe's just-in-time linearization over
//! dancing-links lists, memoized, with doomed configurations cut early.

use super::blocker::{Blocker, KeyVerdict};
use super::doomed::{Doomed, Taken};
use super::memo::{mix64, Memo, Window};
use super::precheck::precheck;
use super::register::{KeyOp, KeyRegister, State, ABSENT, FIRST_READ};
use super::CheckOptions;
use std::collections::BTreeSet;

/// An entry of a list: the head and tail sentinels are `End`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Node {
    End,
    Call(usize),
    Return(usize),
}

/// A doubly linked list of entries whose removals can be undone in reverse
/// order (dancing links). Node 0 is the head, the last node the tail.
pub(super) struct List {
    pub(super) node: Vec<Node>,
    pub(super) prev: Vec<usize>,
    pub(super) next: Vec<usize>,
}

impl List {
    pub(super) fn new(entries: impl Iterator<Item = Node>) -> Self {
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

    pub(super) fn first(&self) -> usize {
        self.next[0]
    }

    pub(super) fn unlink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    pub(super) fn relink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = x;
        self.prev[n] = x;
    }
}

/// Where the walk is: in the list of definite calls and returns, or, once
/// it has reached the earliest pending return (of operation `bound`), among
/// the indeterminate operations invoked no later than that return.
#[derive(Clone, Copy)]
pub(super) enum Cursor {
    Definite(usize),
    Optional { at: usize, bound: usize },
}

/// What to undo when backtracking over a linearized operation.
pub(super) struct Frame {
    pub(super) op: usize,
    pub(super) state: State,
    pub(super) low: usize,
    pub(super) high: usize,
    /// Where the walk goes on once it is undone.
    pub(super) resume: Cursor,
}

/// The key's operations, split for the search.
pub(super) struct Layout {
    /// Definite calls and returns, by time, calls first at the same instant.
    pub(super) definite: List,
    /// Indeterminate calls, by invocation.
    pub(super) optional: List,
    /// Per operation: its call node (in its list) and, if definite, its
    /// return node.
    pub(super) call: Vec<usize>,
    pub(super) ret: Vec<usize>,
    /// Per operation: its bit in the definite or the optional set.
    pub(super) bit: Vec<usize>,
    pub(super) n_def: usize,
    pub(super) n_opt: usize,
}

impl Layout {
    pub(super) fn new(ops: &[KeyOp]) -> Self {
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

    pub(super) fn lift(&mut self, op: usize, optional: bool) {
        if optional {
            self.optional.unlink(self.call[op]);
        } else {
            self.definite.unlink(self.call[op]);
            self.definite.unlink(self.ret[op]);
        }
    }

    pub(super) fn unlift(&mut self, op: usize, optional: bool) {
        if optional {
            self.optional.relink(self.call[op]);
        } else {
            self.definite.relink(self.ret[op]);
            self.definite.relink(self.call[op]);
        }
    }
}

/// Notes where the search got stuck, keeping the furthest point.
pub(super) fn record(blocker: &mut Option<Blocker>, op: usize, depth: usize, state: State) {
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

/// The pre-check alone on one key's register: a read that real-time order
/// alone rules out.
pub(super) fn precheck_key(register: &KeyRegister) -> Option<Blocker> {
    let ops = &register.ops;
    let doomed = Doomed::new(ops, FIRST_READ as usize + register.read_values.len());
    precheck(ops, &doomed)
}

/// Checks one key's register: the pre-check, then the search.
pub(super) fn search(register: &KeyRegister, options: &CheckOptions) -> KeyVerdict {
    let ops = &register.ops;
    let doomed = Doomed::new(ops, FIRST_READ as usize + register.read_values.len());
    if let Some(blocker) = precheck(ops, &doomed) {
        return KeyVerdict::Violation(blocker);
    }
    let mut walk = Walk::new(ops, doomed, options.memoize);
    let mut steps = 0u64;
    loop {
        if walk.remaining == 0 {
            return KeyVerdict::Linearizable;
        }
        if steps >= options.step_budget {
            return KeyVerdict::Unknown;
        }
        steps += 1;
        match walk.next() {
            Next::Moved => {}
            Next::Try(op, resume) => walk.try_linearize(op, resume),
            Next::Stuck(stuck) => {
                if let Some(verdict) = walk.backtrack(stuck) {
                    return verdict;
                }
            }
        }
    }
}

/// What the walk found at its cursor.
pub(super) enum Next {
    /// It reached the earliest pending return and moved on to the
    /// indeterminate operations invoked before it.
    Moved,
    /// An operation to try to linearize; the walk goes on at the cursor if
    /// that fails.
    Try(usize, Cursor),
    /// Nothing left to try before the return of this operation (`None`
    /// only if the lists are inconsistent): backtrack.
    Stuck(Option<usize>),
}

/// The search's state for one key: the lists still to linearize, the
/// linearized sets, the register, the undo stack and the memo.
pub(super) struct Walk<'a> {
    pub(super) ops: &'a [KeyOp],
    pub(super) memoize: bool,
    pub(super) layout: Layout,
    pub(super) doomed: Doomed,
    pub(super) zobrist: Vec<u64>,
    pub(super) definite: Window,
    pub(super) optional: Window,
    pub(super) memo: Memo,
    /// Scratch for the memo's key of the definite set.
    pub(super) def_key: Vec<u64>,
    pub(super) stack: Vec<(Frame, Option<Taken>)>,
    pub(super) blocker: Option<Blocker>,
    pub(super) state: State,
    pub(super) hash: u64,
    /// Definite operations not yet linearized.
    pub(super) remaining: usize,
    pub(super) cursor: Cursor,
}

impl<'a> Walk<'a> {
    pub(super) fn new(ops: &'a [KeyOp], doomed: Doomed, memoize: bool) -> Self {
        let layout = Layout::new(ops);
        Self {
            ops,
            memoize,
            zobrist: (0..ops.len() as u64).map(mix64).collect(),
            definite: Window::new(layout.n_def),
            optional: Window::new(layout.n_opt),
            memo: Memo::new(),
            def_key: Vec::new(),
            stack: Vec::new(),
            blocker: None,
            state: ABSENT,
            hash: 0,
            remaining: layout.n_def,
            cursor: Cursor::Definite(layout.definite.first()),
            layout,
            doomed,
        }
    }

    /// The next candidate, or the operation whose return the walk is stuck
    /// at.
    pub(super) fn next(&mut self) -> Next {
        let (ops, layout) = (self.ops, &self.layout);
        match self.cursor {
            Cursor::Definite(at) => match layout.definite.node[at] {
                Node::Call(op) => Next::Try(op, Cursor::Definite(layout.definite.next[at])),
                Node::Return(bound) => {
                    self.cursor = Cursor::Optional {
                        at: layout.optional.first(),
                        bound,
                    };
                    Next::Moved
                }
                Node::End => Next::Stuck(None),
            },
            Cursor::Optional { at, bound } => match layout.optional.node[at] {
                Node::Call(op) if ops[op].invoked <= ops[bound].returned => Next::Try(
                    op,
                    Cursor::Optional {
                        at: layout.optional.next[at],
                        bound,
                    },
                ),
                _ => Next::Stuck(Some(bound)),
            },
        }
    }

    /// Linearizes `op` now unless that contradicts its effect, dooms a
    /// pending read, or reaches an explored configuration; the walk then
    /// goes on at `resume`.
    pub(super) fn try_linearize(&mut self, op: usize, resume: Cursor) {
        let o = self.ops[op];
        // Linearizing an indeterminate operation that changes nothing only
        // removes options: skip it.
        let next_state = o
            .effect
            .apply(self.state)
            .filter(|&s| !(o.optional && s == self.state));
        let Some(next_state) = next_state else {
            self.cursor = resume;
            return;
        };
        let taken = self.doomed.take(op);
        let depth = self.layout.n_def - self.remaining + usize::from(!o.optional);
        if let Some(x) = self.doomed.other_than(next_state) {
            if let Some(p) = self.doomed.observer(x) {
                record(&mut self.blocker, p, depth, next_state);
            }
            self.doomed.put_back(op, taken);
            self.cursor = resume;
            return;
        }
        let set = if o.optional {
            &self.optional
        } else {
            &self.definite
        };
        let frame = Frame {
            op,
            state: self.state,
            low: set.low,
            high: set.high,
            resume,
        };
        let next_hash = if o.optional {
            self.optional.set_optional(self.layout.bit[op]);
            self.hash
        } else {
            self.definite.set_definite(self.layout.bit[op]);
            self.hash ^ self.zobrist[op]
        };
        if !self.memoize || self.remember(next_hash, next_state) {
            self.hash = next_hash;
            self.state = next_state;
            self.layout.lift(op, o.optional);
            if !o.optional {
                self.remaining -= 1;
            }
            self.stack.push((frame, taken));
            self.cursor = Cursor::Definite(self.layout.definite.first());
        } else {
            let set = if o.optional {
                &mut self.optional
            } else {
                &mut self.definite
            };
            set.clear(self.layout.bit[op], frame.low, frame.high);
            self.doomed.put_back(op, taken);
            self.cursor = resume;
        }
    }

    /// Records the configuration just reached (the linearized sets with
    /// `hash`, and `state`) unless an explored one covers it; false then.
    pub(super) fn remember(&mut self, hash: u64, state: State) -> bool {
        self.def_key.clear();
        self.def_key.push(self.definite.low as u64);
        self.def_key.extend_from_slice(self.definite.window());
        self.memo.insert(
            mix64(hash ^ u64::from(state)),
            &self.def_key,
            &self.optional,
            state,
        )
    }

    /// Notes where the walk is stuck and undoes the last linearized
    /// operation; with none left, the key's verdict.
    pub(super) fn backtrack(&mut self, stuck: Option<usize>) -> Option<KeyVerdict> {
        if let Some(op) = stuck {
            let depth = self.layout.n_def - self.remaining;
            record(&mut self.blocker, op, depth, self.state);
        }
        let Some((frame, taken)) = self.stack.pop() else {
            return Some(match self.blocker.take() {
                Some(b) => KeyVerdict::Violation(b),
                // Unreachable: with definite operations left, the walk
                // meets a return. Say "unknown" rather than lie.
                None => KeyVerdict::Unknown,
            });
        };
        let op = frame.op;
        let o = self.ops[op];
        self.layout.unlift(op, o.optional);
        self.doomed.put_back(op, taken);
        self.state = frame.state;
        if o.optional {
            self.optional
                .clear(self.layout.bit[op], frame.low, frame.high);
        } else {
            self.hash ^= self.zobrist[op];
            self.definite
                .clear(self.layout.bit[op], frame.low, frame.high);
            self.remaining += 1;
        }
        self.cursor = frame.resume;
        None
    }
}
