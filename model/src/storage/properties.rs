//! The properties: an `always` and a `sometimes` per claim.

use super::*;
use stateright::Property;

/// Every property of the storage model: for each of STO-1 to STO-9, GEO-1
/// and DRV-1, the claim as an `always` and its allowed case as a `sometimes`.
pub fn storage_properties() -> Vec<Property<StorageModel>> {
    crate::kit::claim_pairs![StorageState, Witness;
        STO-1,
        "STO-1 a request succeeds only with a current key, a SAS signed by one, or as a public read",
        "STO-1 reached: a request signed with a regenerated key succeeds",
        [SharedKeyServed, RotationCompleted];
        STO-2,
        "STO-2 a removed key is refused and a current key never is",
        "STO-2 reached: a rotation completes without a failed request",
        [RotationCompleted];
        STO-3,
        "STO-3 a SAS grants only its permissions, on its scope, inside its window",
        "STO-3 reached: a read through a valid SAS succeeds",
        [SasRead];
        STO-4,
        "STO-4 a policy-bound SAS follows the stored policy as it is now",
        "STO-4 reached: a read through a policy-bound SAS succeeds",
        [PolicySasRead];
        STO-5,
        "STO-5 anonymous requests only read public data within its level",
        "STO-5 reached: an anonymous read of public data succeeds",
        [AnonymousPublicRead];
        STO-6,
        "STO-6 put, get, list and delete are linearizable; a deleted blob is never read again",
        "STO-6 reached: a read after an acknowledged delete finds nothing",
        [GoneAfterDelete];
        STO-7,
        "STO-7 an acknowledged write is on all three replicas",
        "STO-7 reached: an acknowledged write is read while a replica is down",
        [ReadDespiteCrash];
        STO-8,
        "STO-8 only the subscription changes the account keys",
        "STO-8 reached: the subscription regenerates a key",
        [KeyChangedBySubscription];
        STO-9,
        "STO-9 reused storage never returns a deleted blob's bytes",
        "STO-9 reached: a blob on a reused block reads as zeros",
        [ReusedBlockReadsZeros];
        GEO-1,
        "GEO-1 no replica outside the chosen location receives data",
        "GEO-1 reached: a put is acknowledged on three replicas in the chosen location",
        [AckedInChosenLocation];
        DRV-1,
        "DRV-1 a leased blob takes puts and deletes only with its lease id",
        "DRV-1 reached: the lease holder writes the leased blob",
        [LeaseHolderWrote];
    ]
}
