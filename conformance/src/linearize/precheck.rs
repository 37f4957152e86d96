//! The static pre-check, before any search: reads that no order of the
//! operations can explain, found from real-time order alone.

use super::blocker::Blocker;
use super::doomed::{Doomed, Role};
use super::register::{Effect, KeyOp, State, ABSENT};
use std::collections::BTreeSet;

/// The two earliest-returning definite writes in a suffix (by invocation)
/// of the history, the second of a different state than the first.
#[derive(Clone, Copy, Default)]
pub(super) struct EarliestTwo {
    pub(super) best: Option<(u64, State, usize)>,
    pub(super) other: Option<(u64, State, usize)>,
}

impl EarliestTwo {
    pub(super) fn with(self, w: (u64, State, usize)) -> Self {
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
    pub(super) fn except(&self, x: State) -> Option<(u64, State, usize)> {
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
pub(super) fn overwritten_observer(ops: &[KeyOp], doomed: &Doomed) -> Option<(usize, usize)> {
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

/// The checks before any search: a get of a value no write could have
/// produced by its return, then a read of a value overwritten before it
/// began ([`overwritten_observer`]). Either is stuck at depth 0.
pub(super) fn precheck(ops: &[KeyOp], doomed: &Doomed) -> Option<Blocker> {
    if let Some(op) = doomed
        .members
        .iter()
        .filter(|&&x| x != ABSENT)
        .filter_map(|&x| doomed.observer(x))
        .min_by_key(|&op| (ops[op].returned, op))
    {
        return Some(Blocker {
            op,
            depth: 0,
            states: BTreeSet::new(),
            overwritten_by: None,
        });
    }
    let (op, w) = overwritten_observer(ops, doomed)?;
    Some(Blocker {
        op,
        depth: 0,
        states: BTreeSet::new(),
        overwritten_by: Some(w),
    })
}
