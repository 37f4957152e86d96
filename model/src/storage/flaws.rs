//! The storage model's deliberate defects, one declaration per flaw.

use serde::{Deserialize, Serialize};

crate::kit::flaws! {
    /// A deliberate defect: each removes one mechanism the seeds describe.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
    pub enum Flaw {
        /// The service keeps accepting a key after it was regenerated.
        RemovedKeyStillAccepted => "removed-key-still-accepted", [STO-1, STO-2],
            "the service still accepts a key (and SASes signed with it) after it was regenerated";
        /// The management API regenerates keys for anyone holding an account key.
        KeyChangeWithoutSubscription => "key-change-without-subscription", [STO-8],
            "the management API regenerates account keys for a caller holding only an account key";
        /// The service ignores a SAS's signed expiry.
        SasExpiryIgnored => "sas-expiry-ignored", [STO-3],
            "the service ignores a SAS's signed expiry";
        /// The service ignores a SAS's signed resource scope.
        SasScopeIgnored => "sas-scope-ignored", [STO-3],
            "the service ignores the resource a SAS was signed for";
        /// The service ignores a SAS's signed permissions.
        SasPermissionsIgnored => "sas-permissions-ignored", [STO-3],
            "the service ignores a SAS's signed permissions";
        /// A SAS bound to a stored policy keeps the policy as it was at issue.
        PolicyChangeNotApplied => "policy-change-not-applied", [STO-4],
            "a SAS bound to a stored access policy keeps the policy as it was when issued";
        /// Anonymous writes and deletes pass on a public container.
        AnonymousWriteOnPublic => "anonymous-write-on-public", [STO-1, STO-5],
            "anonymous puts and deletes pass on a container with public access";
        /// A delete is acknowledged once the primary dropped the blob, before
        /// the other replicas have.
        DeleteAckedEarly => "delete-acked-early", [STO-6],
            "a delete is acknowledged when the primary dropped the blob, before the other replicas";
        /// A write is acknowledged once the primary holds it.
        WriteAckedOnOneReplica => "write-acked-on-one-replica", [STO-6, STO-7],
            "a write is acknowledged when the primary holds it, before the other replicas";
        /// A replica is placed outside the account's chosen location.
        ReplicaInOtherLocation => "replica-in-other-location", [GEO-1],
            "one replica is placed outside the account's chosen location";
        /// Puts on a leased blob are not checked for the lease id (deletes still are).
        LeaseNotChecked => "lease-not-checked", [DRV-1],
            "puts on a leased blob are not checked for the lease id";
        /// A reused block is not zeroed, so a new blob reads a deleted one's bytes.
        ReusedBlocksNotZeroed => "reused-blocks-not-zeroed", [STO-9],
            "a reused block is not zeroed, so a new blob reads a deleted blob's bytes";
    }
}
