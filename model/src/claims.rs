//! Claim identifiers of `CLAIMS.md` (every prefix), and small sets of them.
//!
//! A [`ClaimId`] is a prefix and a number (`NET-8`, `GEO-1`); a
//! [`ClaimSet`] holds any of them in one `Copy` bit set, small enough to live
//! in model states as ghost history. Any area's model may name any claim: a
//! claim checked by two models (DRV-1, by storage and by drives) is the same
//! ID in both. Write them with [`claim!`] and [`claims!`]:
//! `claims![NET-8, NET-9]`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The claim areas of `CLAIMS.md`, by the prefix of their IDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Prefix {
    /// `NET`: network isolation.
    Net,
    /// `IAM`: identity and access.
    Iam,
    /// `SEC`: secrets, certificates and keys.
    Sec,
    /// `STO`: storage.
    Sto,
    /// `GEO`: geographic placement.
    Geo,
    /// `DRV`: drives.
    Drv,
    /// `INT`: VM integrity.
    Int,
    /// `AVL`: availability.
    Avl,
    /// `AUD`: audit.
    Aud,
}

impl Prefix {
    /// Every prefix, in `CLAIMS.md`'s order.
    pub const ALL: [Prefix; 9] = [
        Prefix::Net,
        Prefix::Iam,
        Prefix::Sec,
        Prefix::Sto,
        Prefix::Geo,
        Prefix::Drv,
        Prefix::Int,
        Prefix::Avl,
        Prefix::Aud,
    ];

    /// The prefix as IDs spell it (`"NET"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Prefix::Net => "NET",
            Prefix::Iam => "IAM",
            Prefix::Sec => "SEC",
            Prefix::Sto => "STO",
            Prefix::Geo => "GEO",
            Prefix::Drv => "DRV",
            Prefix::Int => "INT",
            Prefix::Avl => "AVL",
            Prefix::Aud => "AUD",
        }
    }

    /// The prefix spelled `text`, if any.
    pub fn parse(text: &str) -> Option<Prefix> {
        Prefix::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// How many claim numbers (1 to this) the set has room for.
    pub const fn capacity(self) -> u8 {
        match self {
            Prefix::Net | Prefix::Sto => 24,
            _ => 8,
        }
    }

    /// The bit of claim number 1 of this prefix.
    const fn offset(self) -> u32 {
        let mut offset = 0;
        let mut i = 0;
        while i < Prefix::ALL.len() {
            if Prefix::ALL[i] as u8 == self as u8 {
                return offset;
            }
            offset += Prefix::ALL[i].capacity() as u32;
            i += 1;
        }
        offset
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A claim identifier of `CLAIMS.md`, such as `NET-1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClaimId {
    /// The area prefix.
    pub prefix: Prefix,
    /// The number within the prefix, from 1.
    pub number: u8,
}

impl ClaimId {
    /// Claim `number` of `prefix`.
    ///
    /// # Panics
    /// When `number` is 0 or beyond the prefix's capacity (a compile error
    /// where it is used in a constant).
    pub const fn new(prefix: Prefix, number: u8) -> Self {
        assert!(
            number >= 1 && number <= prefix.capacity(),
            "claim number out of range"
        );
        ClaimId { prefix, number }
    }

    /// The claim spelled `text` (`"NET-8"`), if it is one.
    pub fn parse(text: &str) -> Option<ClaimId> {
        let (prefix, number) = text.split_once('-')?;
        let prefix = Prefix::parse(prefix)?;
        let number: u8 = number.parse().ok()?;
        (number >= 1 && number <= prefix.capacity()).then_some(ClaimId { prefix, number })
    }

    const fn bit(self) -> u128 {
        1 << (self.prefix.offset() + self.number as u32 - 1)
    }
}

impl fmt::Display for ClaimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.prefix, self.number)
    }
}

/// The claim a property speaks to: properties are named by their claim ID
/// first (`"NET-1 main VLAN never initiates to FC VLAN"`).
pub fn claim_of_property(name: &str) -> Option<ClaimId> {
    ClaimId::parse(name.split_whitespace().next()?)
}

/// A set of claims of any prefix.
///
/// Small and `Copy` so that it can live in model states as ghost history.
/// `Debug` lists the IDs (`ClaimSet[NET-8, NET-9]`), which is what the
/// explorer shows of a state's `broken` ghost.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClaimSet {
    bits: u128,
}

impl fmt::Debug for ClaimSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimSet[")?;
        for (i, claim) in self.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{claim}")?;
        }
        write!(f, "]")
    }
}

impl ClaimSet {
    /// The empty set.
    pub const EMPTY: ClaimSet = ClaimSet { bits: 0 };

    /// The set holding `claims`.
    pub const fn of(claims: &[ClaimId]) -> Self {
        let mut bits = 0u128;
        let mut i = 0;
        while i < claims.len() {
            bits |= claims[i].bit();
            i += 1;
        }
        ClaimSet { bits }
    }

    /// Adds `claim`.
    pub fn insert(&mut self, claim: ClaimId) {
        self.bits |= claim.bit();
    }

    /// Whether `claim` is in the set.
    pub const fn contains(&self, claim: ClaimId) -> bool {
        self.bits & claim.bit() != 0
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

    /// How many claims the set holds.
    pub const fn len(&self) -> usize {
        self.bits.count_ones() as usize
    }

    /// The claims in `CLAIMS.md`'s order (prefix, then number).
    pub fn iter(self) -> impl Iterator<Item = ClaimId> {
        Prefix::ALL.into_iter().flat_map(move |prefix| {
            (1..=prefix.capacity())
                .map(move |n| ClaimId::new(prefix, n))
                .filter(move |c| self.contains(*c))
        })
    }

    /// The claims as their IDs (`["NET-8", "NET-9"]`).
    pub fn labels(self) -> Vec<String> {
        self.iter().map(|c| c.to_string()).collect()
    }
}

impl FromIterator<ClaimId> for ClaimSet {
    fn from_iter<I: IntoIterator<Item = ClaimId>>(iter: I) -> Self {
        let mut set = ClaimSet::EMPTY;
        for claim in iter {
            set.insert(claim);
        }
        set
    }
}

/// A [`ClaimId`] written as in `CLAIMS.md`: `claim!(NET-8)`.
#[macro_export]
macro_rules! claim {
    (NET - $n:literal) => {
        $crate::claims::ClaimId::new($crate::claims::Prefix::Net, $n)
    };
    (IAM - $n:literal) => {
        $crate::claims::ClaimId::new($crate::claims::Prefix::Iam, $n)
    };
    (SEC - $n:literal) => {
        $crate::claims::ClaimId::new($crate::claims::Prefix::Sec, $n)
    };
    (STO - $n:literal) => {
        $crate::claims::ClaimId::new($crate::claims::Prefix::Sto, $n)
    };
    (GEO - $n:literal) => {
        $crate::claims::ClaimId::new($crate::claims::Prefix::Geo, $n)
    };
    (DRV - $n:literal) => {
        $crate::claims::ClaimId::new($crate::claims::Prefix::Drv, $n)
    };
    (INT - $n:literal) => {
        $crate::claims::ClaimId::new($crate::claims::Prefix::Int, $n)
    };
    (AVL - $n:literal) => {
        $crate::claims::ClaimId::new($crate::claims::Prefix::Avl, $n)
    };
    (AUD - $n:literal) => {
        $crate::claims::ClaimId::new($crate::claims::Prefix::Aud, $n)
    };
}

/// A [`ClaimSet`] written as in `CLAIMS.md`: `claims![NET-8, NET-9]`.
#[macro_export]
macro_rules! claims {
    ($($prefix:ident - $n:literal),* $(,)?) => {
        $crate::claims::ClaimSet::of(&[$($crate::claim!($prefix - $n)),*])
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prefix_has_its_own_bits() {
        let mut seen = 0u128;
        for prefix in Prefix::ALL {
            for n in 1..=prefix.capacity() {
                let bit = ClaimId::new(prefix, n).bit();
                assert_eq!(seen & bit, 0, "{prefix}-{n} shares a bit");
                seen |= bit;
            }
        }
    }

    #[test]
    fn ids_parse_print_and_sort_as_claims_md_does() {
        let set = crate::claims![STO - 2, GEO - 1, NET - 15, DRV - 1, NET - 8];
        assert_eq!(set.labels(), ["NET-8", "NET-15", "STO-2", "GEO-1", "DRV-1"]);
        assert_eq!(
            format!("{set:?}"),
            "ClaimSet[NET-8, NET-15, STO-2, GEO-1, DRV-1]"
        );
        for label in set.labels() {
            assert!(set.contains(ClaimId::parse(&label).expect("parses")));
        }
        assert_eq!(ClaimId::parse("NET-0"), None);
        assert_eq!(ClaimId::parse("XYZ-1"), None);
        assert_eq!(
            claim_of_property("AUD-1 the log is append-only"),
            Some(crate::claim!(AUD - 1))
        );
        assert!(!set.contains(crate::claim!(STO - 1)));
        assert_eq!(set.len(), 5);
    }
}
