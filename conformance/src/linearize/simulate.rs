//! A simulated linearizable store, for tests and benchmarks.

use super::history::{Event, Op, OpResult, Outcome};
use super::memo::mix64;

/// splitmix64: small, seeded, good enough for simulation.
pub(super) struct SplitMix64(pub(super) u64);

impl SplitMix64 {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0.wrapping_sub(0x9e37_79b9_7f4a_7c15))
    }

    /// Uniform in `0..n` (`n` > 0; slightly biased, which does not matter
    /// here).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A simulated operation before its result is known.
pub(super) struct Planned {
    pub(super) client: u32,
    pub(super) key: u32,
    pub(super) op: Op,
    pub(super) invoked: u64,
    /// When it takes effect.
    pub(super) at: u64,
    pub(super) returned: u64,
    pub(super) fate: Fate,
}

/// What happens to a simulated put or delete.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
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
    let planned = plan(&mut rng, clients, keys, ops);
    let results = apply(&mut rng, &planned, keys, stale_reads);
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
pub(super) fn stale_value(planned: &[Planned], acked: &[usize], invoked: u64) -> Option<u64> {
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

/// The simulated operations, each with its window, the instant it takes
/// effect and its fate, before their results are known.
fn plan(rng: &mut SplitMix64, clients: u32, keys: u32, ops: usize) -> Vec<Planned> {
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
    planned
}

/// Applies `planned` to a linearizable register per key, in the order
/// they take effect: each operation's result (a stale one for some gets,
/// with `stale_reads`).
fn apply(rng: &mut SplitMix64, planned: &[Planned], keys: u32, stale_reads: bool) -> Vec<OpResult> {
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
                    stale_value(planned, &acked[k], p.invoked)
                } else {
                    None
                };
                OpResult::Get(stale.or(register[k]))
            }
        };
    }
    results
}
