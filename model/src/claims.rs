//! Claim identifiers and small sets of them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A claim identifier of `CLAIMS.md`, such as `NET-1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClaimId {
    /// The area prefix, such as `"NET"`.
    pub area: &'static str,
    /// The number within the area, starting at 1.
    pub number: u8,
}

impl ClaimId {
    /// The network claim `NET-n`.
    pub const fn net(number: u8) -> Self {
        ClaimId {
            area: "NET",
            number,
        }
    }
}

impl fmt::Display for ClaimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.area, self.number)
    }
}

/// A set of claims of one area, as a bit set over claim numbers 1 to 31.
///
/// Small and `Copy` so that it can live in model states as ghost history.
/// `Debug` lists the claim numbers (`ClaimSet[8, 9]`), which is what the
/// explorer shows of a state's `broken` ghost.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClaimSet {
    bits: u32,
}

impl std::fmt::Debug for ClaimSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClaimSet")?;
        f.debug_list().entries(self.numbers()).finish()
    }
}

impl ClaimSet {
    /// The empty set.
    pub const EMPTY: ClaimSet = ClaimSet { bits: 0 };

    /// The set holding the given claim numbers.
    pub const fn of(numbers: &[u8]) -> Self {
        let mut bits = 0u32;
        let mut i = 0;
        while i < numbers.len() {
            assert!(
                numbers[i] >= 1 && numbers[i] <= 31,
                "claim number out of range"
            );
            bits |= 1 << numbers[i];
            i += 1;
        }
        ClaimSet { bits }
    }

    /// Adds claim number `n`.
    pub fn insert(&mut self, n: u8) {
        assert!((1..=31).contains(&n), "claim number out of range");
        self.bits |= 1 << n;
    }

    /// Whether claim number `n` is in the set.
    pub const fn contains(&self, n: u8) -> bool {
        n >= 1 && n <= 31 && self.bits & (1 << n) != 0
    }

    /// The union of two sets.
    pub const fn union(self, other: ClaimSet) -> ClaimSet {
        ClaimSet {
            bits: self.bits | other.bits,
        }
    }

    /// Whether the set is empty.
    pub const fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// The claim numbers in ascending order.
    pub fn numbers(self) -> impl Iterator<Item = u8> {
        (1..=31u8).filter(move |n| self.contains(*n))
    }
}
