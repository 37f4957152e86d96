//! Reads that can no longer be satisfied: the search abandons a
//! configuration as soon as it has one.

use super::memo::NONE;
use super::register::{Effect, KeyOp, State, ABSENT};

/// Whether an operation observes or writes a state, for [`Doomed`].
#[derive(Clone, Copy)]
pub(super) enum Role {
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
pub(super) struct Doomed {
    /// Per state: its definite observers by return time, and its writers
    /// (puts of it, deletes for `ABSENT`) by invocation time.
    pub(super) lists: [Vec<Vec<usize>>; 2],
    /// Per state: the first pending entry of each list.
    pub(super) first: [Vec<usize>; 2],
    /// Per operation: its role, state and position in its list.
    pub(super) place: Vec<Option<(Role, State, usize)>>,
    pub(super) done: Vec<bool>,
    pub(super) invoked: Vec<u64>,
    pub(super) returned: Vec<u64>,
    /// The doomed states, as an indexed set.
    pub(super) members: Vec<State>,
    pub(super) position: Vec<usize>,
}

/// What `Doomed::take` changed, for `Doomed::put_back`.
pub(super) struct Taken {
    pub(super) role: Role,
    pub(super) state: State,
    pub(super) first: usize,
}

impl Doomed {
    pub(super) fn new(ops: &[KeyOp], states: usize) -> Self {
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
    pub(super) fn observer(&self, x: State) -> Option<usize> {
        let x = x as usize;
        let obs = Role::Observer as usize;
        let wr = Role::Writer as usize;
        let &p = self.lists[obs][x].get(self.first[obs][x])?;
        match self.lists[wr][x].get(self.first[wr][x]) {
            Some(&w) if self.invoked[w] <= self.returned[p] => None,
            _ => Some(p),
        }
    }

    pub(super) fn refresh(&mut self, x: State) {
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
    pub(super) fn other_than(&self, state: State) -> Option<State> {
        self.members.iter().copied().find(|&x| x != state)
    }

    pub(super) fn take(&mut self, op: usize) -> Option<Taken> {
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

    pub(super) fn put_back(&mut self, op: usize, taken: Option<Taken>) {
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
