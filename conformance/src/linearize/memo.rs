//! Remembering explored configurations: bitsets kept by their window, and
//! the table of configurations already explored.

use super::register::State;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A bitset kept with the window outside which it is all ones (definite
/// set: below `low`) or all zeros (from `high`), so that a configuration can
/// be stored by its window alone.
pub(super) struct Window {
    pub(super) words: Vec<u64>,
    /// The valid bits of the last word.
    pub(super) last_full: u64,
    /// Definite set: the first word not full. Optional set: the first
    /// nonzero word (0 when empty).
    pub(super) low: usize,
    /// One past the last nonzero word.
    pub(super) high: usize,
}

impl Window {
    pub(super) fn new(n: usize) -> Self {
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

    pub(super) fn full(&self, w: usize) -> bool {
        let all = if w + 1 == self.words.len() {
            self.last_full
        } else {
            !0
        };
        self.words[w] == all
    }

    /// Sets bit `i` of the definite set, sliding `low` past full words.
    pub(super) fn set_definite(&mut self, i: usize) {
        let w = i / 64;
        self.words[w] |= 1 << (i % 64);
        self.high = self.high.max(w + 1);
        while self.low < self.words.len() && self.full(self.low) {
            self.low += 1;
        }
    }

    /// Sets bit `i` of the optional set, widening the window.
    pub(super) fn set_optional(&mut self, i: usize) {
        let w = i / 64;
        self.low = if self.high == 0 { w } else { self.low.min(w) };
        self.words[w] |= 1 << (i % 64);
        self.high = self.high.max(w + 1);
    }

    /// Clears bit `i`, restoring the window it had before it was set.
    pub(super) fn clear(&mut self, i: usize, low: usize, high: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
        self.low = low;
        self.high = high;
    }

    pub(super) fn window(&self) -> &[u64] {
        self.words
            .get(self.low..self.high.max(self.low))
            .unwrap_or_default()
    }
}

/// One explored configuration, its words in `Memo::words`.
pub(super) struct MemoEntry {
    pub(super) start: usize,
    /// The definite key: `low`, then the definite window.
    pub(super) def_len: usize,
    pub(super) opt_low: usize,
    pub(super) opt_len: usize,
    pub(super) state: State,
    /// The next entry with the same hash, or `NONE`.
    pub(super) next: usize,
}

/// Explored configurations, chained by a hash of the definite set
/// (Zobrist, computed incrementally) and the state. A configuration is
/// covered by an explored one with the same definite set and state and a
/// subset of its indeterminate operations: leaving an indeterminate
/// operation out is always allowed, so the explored one had every future
/// this one has.
pub(super) struct Memo {
    pub(super) heads: HashMap<u64, usize, BuildHasherDefault<PassThrough>>,
    pub(super) entries: Vec<MemoEntry>,
    pub(super) words: Vec<u64>,
}

pub(super) const NONE: usize = usize::MAX;

impl Memo {
    pub(super) fn new() -> Self {
        Self {
            heads: HashMap::default(),
            entries: Vec::new(),
            words: Vec::new(),
        }
    }

    /// Records the configuration unless an explored one covers it; false
    /// then.
    pub(super) fn insert(&mut self, hash: u64, def: &[u64], opt: &Window, state: State) -> bool {
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
pub(super) struct PassThrough(pub(super) u64);

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

pub(super) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
