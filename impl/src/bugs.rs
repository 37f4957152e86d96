//! Seeded implementation bugs: deliberate defects, one per claim, that the
//! conformance harness must catch.
//!
//! They exist only with the `seeded-bugs` cargo feature, and are switched on
//! at run time by the caller that builds a [`BugSet`]. Without the feature,
//! [`BugSet`] is empty and every check compiles to `false`.

use serde::{Deserialize, Serialize};

/// One deliberate defect in the implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SeededBug {
    /// NET-1: the router lets main-VLAN packets into the FC VLAN.
    RouterAdmitsMainToFc,
    /// NET-2: the router lets main-VLAN packets into the device VLAN.
    RouterAdmitsMainToDevice,
    /// NET-3: a router pinhole lets hosts (FAs) open connections to the FC.
    RouterHostPinhole,
    /// NET-4: the VM port filter skips the source check.
    NoSourceCheck,
    /// NET-5: the switch floods unicast frames to every port on the host.
    SwitchFloods,
    /// NET-6: the VM port filter forgets the infrastructure endpoints.
    NoInfrastructureFilter,
    /// NET-7: the VM port filter passes broadcast.
    BroadcastPasses,
    /// NET-8: the FA merges pushed lists instead of replacing them.
    FaMergesLists,
    /// NET-9: the egress filter ignores the outbound-Internet setting.
    IgnoresOutboundSetting,
    /// NET-10: remote-access ports are open.
    RemoteAccessOpen,
    /// NET-11: the edge forwards Internet traffic to DIPs.
    EdgeForwardsToDips,
    /// NET-12: the management endpoint's ACL admits everyone.
    MgmtAclOpen,
    /// NET-13: the edge routes Internet traffic into the device VLAN.
    EdgeRoutesToDevices,
    /// NET-14: the FA accepts any client certificate.
    FaAcceptsAnyClient,
    /// NET-15: the FC believes the host named in an FA's answer instead of the authenticated peer.
    FcTrustsResponseHost,
    /// STO-7: the store answers a write once replica 0 has committed it and
    /// commits the other replicas afterwards.
    AckAfterOneReplica,
    /// STO-6: reads are served by any live replica, even one that is behind.
    ReadsIgnoreWatermark,
    /// STO-1: a Shared Key signature is not verified (any signature passes).
    SignatureNotVerified,
    /// STO-2: regenerating a key leaves the old one accepted (the new key
    /// lands in the other slot).
    RemovedKeyStillAccepted,
    /// STO-3: a SAS's signed expiry is ignored.
    SasExpiryIgnored,
    /// STO-4: a SAS bound to a stored policy keeps the policy as it was the
    /// first time the SAS was used.
    PolicyChangeNotApplied,
    /// STO-5: anonymous writes pass on a container with public access.
    AnonymousWriteOnPublic,
    /// STO-6: a delete removes the blob on replica 0 only.
    DeleteOnPrimaryOnly,
    /// STO-7: a put lands on replica 0 only.
    PutOnPrimaryOnly,
    /// STO-8: the management API changes keys without the subscription's
    /// credentials.
    KeyChangeWithoutSubscription,
    /// STO-9: a delete or overwrite leaves the blob's old bytes behind, and
    /// a new page blob under that name reads them instead of zeros.
    OldBytesReused,
    /// GEO-1: one replica is placed outside the account's location.
    ReplicaInOtherLocation,
    /// DRV-1: puts on a leased blob are not checked for the lease id.
    LeaseNotCheckedOnWrite,
}

impl SeededBug {
    /// Every seeded bug.
    pub const ALL: [SeededBug; 28] = [
        SeededBug::RouterAdmitsMainToFc,
        SeededBug::RouterAdmitsMainToDevice,
        SeededBug::RouterHostPinhole,
        SeededBug::NoSourceCheck,
        SeededBug::SwitchFloods,
        SeededBug::NoInfrastructureFilter,
        SeededBug::BroadcastPasses,
        SeededBug::FaMergesLists,
        SeededBug::IgnoresOutboundSetting,
        SeededBug::RemoteAccessOpen,
        SeededBug::EdgeForwardsToDips,
        SeededBug::MgmtAclOpen,
        SeededBug::EdgeRoutesToDevices,
        SeededBug::FaAcceptsAnyClient,
        SeededBug::FcTrustsResponseHost,
        SeededBug::AckAfterOneReplica,
        SeededBug::ReadsIgnoreWatermark,
        SeededBug::SignatureNotVerified,
        SeededBug::RemovedKeyStillAccepted,
        SeededBug::SasExpiryIgnored,
        SeededBug::PolicyChangeNotApplied,
        SeededBug::AnonymousWriteOnPublic,
        SeededBug::DeleteOnPrimaryOnly,
        SeededBug::PutOnPrimaryOnly,
        SeededBug::KeyChangeWithoutSubscription,
        SeededBug::OldBytesReused,
        SeededBug::ReplicaInOtherLocation,
        SeededBug::LeaseNotCheckedOnWrite,
    ];

    /// The claim the bug breaks.
    pub const fn claim(self) -> &'static str {
        match self {
            SeededBug::RouterAdmitsMainToFc => "NET-1",
            SeededBug::RouterAdmitsMainToDevice => "NET-2",
            SeededBug::RouterHostPinhole => "NET-3",
            SeededBug::NoSourceCheck => "NET-4",
            SeededBug::SwitchFloods => "NET-5",
            SeededBug::NoInfrastructureFilter => "NET-6",
            SeededBug::BroadcastPasses => "NET-7",
            SeededBug::FaMergesLists => "NET-8",
            SeededBug::IgnoresOutboundSetting => "NET-9",
            SeededBug::RemoteAccessOpen => "NET-10",
            SeededBug::EdgeForwardsToDips => "NET-11",
            SeededBug::MgmtAclOpen => "NET-12",
            SeededBug::EdgeRoutesToDevices => "NET-13",
            SeededBug::FaAcceptsAnyClient => "NET-14",
            SeededBug::FcTrustsResponseHost => "NET-15",
            SeededBug::AckAfterOneReplica => "STO-7",
            SeededBug::ReadsIgnoreWatermark => "STO-6",
            SeededBug::SignatureNotVerified => "STO-1",
            SeededBug::RemovedKeyStillAccepted => "STO-2",
            SeededBug::SasExpiryIgnored => "STO-3",
            SeededBug::PolicyChangeNotApplied => "STO-4",
            SeededBug::AnonymousWriteOnPublic => "STO-5",
            SeededBug::DeleteOnPrimaryOnly => "STO-6",
            SeededBug::PutOnPrimaryOnly => "STO-7",
            SeededBug::KeyChangeWithoutSubscription => "STO-8",
            SeededBug::OldBytesReused => "STO-9",
            SeededBug::ReplicaInOtherLocation => "GEO-1",
            SeededBug::LeaseNotCheckedOnWrite => "DRV-1",
        }
    }
}

/// The seeded bugs switched on; empty by default and always empty without the
/// `seeded-bugs` feature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BugSet {
    #[cfg(feature = "seeded-bugs")]
    bits: u32,
}

impl BugSet {
    /// No bugs.
    pub const NONE: BugSet = BugSet {
        #[cfg(feature = "seeded-bugs")]
        bits: 0,
    };

    /// The set holding just `bug`.
    #[cfg(feature = "seeded-bugs")]
    pub fn only(bug: SeededBug) -> BugSet {
        BugSet {
            bits: 1 << bug as u32,
        }
    }

    /// Whether `bug` is switched on.
    #[inline]
    pub fn has(&self, bug: SeededBug) -> bool {
        #[cfg(feature = "seeded-bugs")]
        {
            self.bits & (1 << bug as u32) != 0
        }
        #[cfg(not(feature = "seeded-bugs"))]
        {
            let _ = bug;
            false
        }
    }
}
