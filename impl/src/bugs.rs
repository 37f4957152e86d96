//! Seeded implementation bugs: deliberate defects, one per claim, that the
//! conformance harness must catch.
//!
//! The `seeded-bugs` cargo feature gates only the switching on: without it
//! a [`BugSet`] has no bits and no constructor besides [`BugSet::NONE`] (no
//! `BugSet::only`, no `BugSet::with`), so every [`BugSet::has`] is `false`
//! and the checks placed in the code compile to nothing. [`SeededBug`] (with
//! [`SeededBug::ALL`], [`SeededBug::COUNT`] and [`SeededBug::claim`]), the
//! [`BugSet`] type, [`BugSet::NONE`] and [`BugSet::has`] exist in every
//! build, so the code that consults a set is the same either way. The
//! caller that builds a [`BugSet`] switches bugs on at run time; only test
//! builds turn the feature on (the conformance harness's dev-dependency, and
//! this crate's dev-dependency on itself for its own tests).
//!
//! A set holds any number of bugs: its bit array is sized from
//! [`SeededBug::COUNT`].

use serde::{Deserialize, Serialize};

/// Declares [`SeededBug`], one line per bug with the claim it breaks, and
/// derives [`SeededBug::ALL`], [`SeededBug::COUNT`] and [`SeededBug::claim`]
/// from that one list, so no bug can be left out of any of them.
macro_rules! seeded_bugs {
    ($($(#[$doc:meta])* $bug:ident => $claim:literal,)*) => {
        /// One deliberate defect in the implementation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum SeededBug {
            $($(#[$doc])* $bug,)*
        }

        impl SeededBug {
            /// How many seeded bugs there are.
            pub const COUNT: usize = [$(SeededBug::$bug),*].len();

            /// Every seeded bug, in declaration order (`ALL[i] as usize == i`).
            pub const ALL: [SeededBug; SeededBug::COUNT] = [$(SeededBug::$bug),*];

            /// The claim the bug breaks.
            pub const fn claim(self) -> &'static str {
                match self {
                    $(SeededBug::$bug => $claim,)*
                }
            }
        }
    };
}

seeded_bugs! {
    /// NET-1: the router lets main-VLAN packets into the FC VLAN.
    RouterAdmitsMainToFc => "NET-1",
    /// NET-2: the router lets main-VLAN packets into the device VLAN.
    RouterAdmitsMainToDevice => "NET-2",
    /// NET-3: a router pinhole lets hosts (FAs) open connections to the FC.
    RouterHostPinhole => "NET-3",
    /// NET-4: the VM port filter skips the source check.
    NoSourceCheck => "NET-4",
    /// NET-5: the switch floods unicast frames to every port on the host.
    SwitchFloods => "NET-5",
    /// NET-6: the VM port filter forgets the infrastructure endpoints.
    NoInfrastructureFilter => "NET-6",
    /// NET-7: the VM port filter passes broadcast.
    BroadcastPasses => "NET-7",
    /// NET-8: the FA merges pushed lists instead of replacing them.
    FaMergesLists => "NET-8",
    /// NET-9: the egress filter ignores the outbound-Internet setting.
    IgnoresOutboundSetting => "NET-9",
    /// NET-10: remote-access ports are open.
    RemoteAccessOpen => "NET-10",
    /// NET-11: the edge forwards Internet traffic to DIPs.
    EdgeForwardsToDips => "NET-11",
    /// NET-12: the management endpoint's ACL admits everyone.
    MgmtAclOpen => "NET-12",
    /// NET-13: the edge routes Internet traffic into the device VLAN.
    EdgeRoutesToDevices => "NET-13",
    /// NET-14: the FA accepts any client certificate.
    FaAcceptsAnyClient => "NET-14",
    /// NET-15: the FC believes the host named in an FA's answer instead of the authenticated peer.
    FcTrustsResponseHost => "NET-15",
    /// STO-7: the store answers a write once replica 0 has committed it and
    /// commits the other replicas afterwards.
    AckAfterOneReplica => "STO-7",
    /// STO-6: reads are served by any live replica, even one that is behind.
    ReadsIgnoreWatermark => "STO-6",
    /// STO-1: a Shared Key signature is not verified (any signature passes).
    SignatureNotVerified => "STO-1",
    /// STO-2: regenerating a key leaves the old one accepted (the new key
    /// lands in the other slot).
    RemovedKeyStillAccepted => "STO-2",
    /// STO-3: a SAS's signed expiry is ignored.
    SasExpiryIgnored => "STO-3",
    /// STO-4: a SAS bound to a stored policy keeps the policy as it was the
    /// first time the SAS was used.
    PolicyChangeNotApplied => "STO-4",
    /// STO-5: anonymous writes pass on a container with public access.
    AnonymousWriteOnPublic => "STO-5",
    /// STO-6: a delete removes the blob on replica 0 only.
    DeleteOnPrimaryOnly => "STO-6",
    /// STO-7: a put lands on replica 0 only.
    PutOnPrimaryOnly => "STO-7",
    /// STO-8: the management API changes keys without the subscription's
    /// credentials.
    KeyChangeWithoutSubscription => "STO-8",
    /// STO-9: a delete or overwrite leaves the blob's old bytes behind, and
    /// a new page blob under that name reads them instead of zeros.
    OldBytesReused => "STO-9",
    /// GEO-1: one replica is placed outside the account's location.
    ReplicaInOtherLocation => "GEO-1",
    /// DRV-1: puts on a leased blob are not checked for the lease id.
    LeaseNotCheckedOnWrite => "DRV-1",
}

/// The words of a [`BugSet`]'s bit array: enough for every [`SeededBug`].
#[cfg(feature = "seeded-bugs")]
const WORDS: usize = SeededBug::COUNT.div_ceil(64);

/// A fixed-size bit array of `N` 64-bit words: bit `i` is bit `i % 64` of
/// word `i / 64`.
#[cfg(feature = "seeded-bugs")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bits<const N: usize>([u64; N]);

#[cfg(feature = "seeded-bugs")]
impl<const N: usize> Bits<N> {
    /// No bit set.
    const EMPTY: Self = Bits([0; N]);

    /// This array with bit `index` set as well; `index` must be below `64 * N`.
    const fn with(mut self, index: usize) -> Self {
        self.0[index / 64] |= 1 << (index % 64);
        self
    }

    /// Whether bit `index` is set; `false` past the end.
    #[inline]
    const fn contains(&self, index: usize) -> bool {
        index / 64 < N && (self.0[index / 64] >> (index % 64)) & 1 == 1
    }
}

/// The seeded bugs switched on; empty by default and always empty without the
/// `seeded-bugs` feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BugSet {
    #[cfg(feature = "seeded-bugs")]
    bits: Bits<WORDS>,
}

impl Default for BugSet {
    fn default() -> Self {
        BugSet::NONE
    }
}

impl BugSet {
    /// No bugs.
    pub const NONE: BugSet = BugSet {
        #[cfg(feature = "seeded-bugs")]
        bits: Bits::EMPTY,
    };

    /// The set holding just `bug`.
    #[cfg(feature = "seeded-bugs")]
    pub const fn only(bug: SeededBug) -> BugSet {
        BugSet::NONE.with(bug)
    }

    /// This set with `bug` switched on as well.
    #[cfg(feature = "seeded-bugs")]
    pub const fn with(self, bug: SeededBug) -> BugSet {
        BugSet {
            bits: self.bits.with(bug as usize),
        }
    }

    /// Whether `bug` is switched on.
    #[inline]
    pub fn has(&self, bug: SeededBug) -> bool {
        #[cfg(feature = "seeded-bugs")]
        {
            self.bits.contains(bug as usize)
        }
        #[cfg(not(feature = "seeded-bugs"))]
        {
            let _ = bug;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_bug_once_in_order() {
        assert_eq!(SeededBug::ALL.len(), SeededBug::COUNT);
        for (i, bug) in SeededBug::ALL.into_iter().enumerate() {
            assert_eq!(bug as usize, i, "{bug:?}");
        }
    }

    #[test]
    fn the_empty_set_has_nothing() {
        assert_eq!(BugSet::default(), BugSet::NONE);
        for bug in SeededBug::ALL {
            assert!(!BugSet::NONE.has(bug), "{bug:?}");
        }
    }

    #[cfg(feature = "seeded-bugs")]
    #[test]
    fn every_bug_round_trips_alone_and_together() {
        let mut all = BugSet::NONE;
        for bug in SeededBug::ALL {
            let one = BugSet::only(bug);
            for other in SeededBug::ALL {
                assert_eq!(one.has(other), other == bug, "{bug:?} holds {other:?}?");
            }
            all = all.with(bug);
        }
        assert!(SeededBug::ALL.into_iter().all(|bug| all.has(bug)));
    }

    /// Would fail for a `u32` (or any fixed 32-bit) set: bits past 31, and
    /// past one word, are held and told apart.
    #[cfg(feature = "seeded-bugs")]
    #[test]
    fn bits_past_index_31_are_held() {
        const N: usize = 3;
        for index in 0..64 * N {
            let bits = Bits::<N>::EMPTY.with(index);
            for probe in 0..64 * N + 1 {
                assert_eq!(
                    bits.contains(probe),
                    probe == index,
                    "{index} holds {probe}?"
                );
            }
        }
        let many = [0, 31, 32, 63, 64, 100, 191]
            .into_iter()
            .fold(Bits::<N>::EMPTY, Bits::with);
        let held: Vec<usize> = (0..64 * N).filter(|&i| many.contains(i)).collect();
        assert_eq!(held, [0, 31, 32, 63, 64, 100, 191]);
    }
}
