//! The claim numbers of this area and the properties: an `always` and a
//! `sometimes` per claim.

use super::*;
use stateright::Property;

/// The claim ID of claim number `n` in this area's [`ClaimSet`]s: 1 to 9 are
/// `STO-1` to `STO-9`, 10 is `GEO-1`, 11 is `DRV-1`.
///
/// # Panics
/// If `n` is not a claim number of this area.
pub fn claim_id(n: u8) -> String {
    claim(n)
        .unwrap_or_else(|| panic!("no storage claim number {n}"))
        .to_string()
}

/// The claim of claim number `n`, as a [`ClaimId`]; `None` outside 1 to 11.
pub fn claim(n: u8) -> Option<ClaimId> {
    match n {
        1..=9 => Some(ClaimId {
            area: "STO",
            number: n,
        }),
        10 => Some(ClaimId {
            area: "GEO",
            number: 1,
        }),
        11 => Some(ClaimId {
            area: "DRV",
            number: 1,
        }),
        _ => None,
    }
}

/// The claim number that a property's name starts with (`"STO-6 ..."` is 6,
/// `"GEO-1 ..."` is 10, `"DRV-1 ..."` is 11).
pub fn claim_of_property(name: &str) -> Option<u8> {
    let id = name.split_whitespace().next()?;
    let (area, number) = id.split_once('-')?;
    let number: u8 = number.parse().ok()?;
    match (area, number) {
        ("STO", 1..=9) => Some(number),
        ("GEO", 1) => Some(10),
        ("DRV", 1) => Some(11),
        _ => None,
    }
}

/// Every property of the storage model: for each of STO-1 to STO-9, GEO-1
/// and DRV-1, the claim as an `always` and its allowed case as a `sometimes`.
pub fn storage_properties() -> Vec<Property<StorageModel>> {
    crate::kit::claim_pairs![StorageState, Witness;
        1,
        "STO-1 a request succeeds only with a current key, a SAS signed by one, or as a public read",
        "STO-1 reached: a request signed with a regenerated key succeeds",
        [SharedKeyServed, RotationCompleted];
        2,
        "STO-2 a removed key is refused and a current key never is",
        "STO-2 reached: a rotation completes without a failed request",
        [RotationCompleted];
        3,
        "STO-3 a SAS grants only its permissions, on its scope, inside its window",
        "STO-3 reached: a read through a valid SAS succeeds",
        [SasRead];
        4,
        "STO-4 a policy-bound SAS follows the stored policy as it is now",
        "STO-4 reached: a read through a policy-bound SAS succeeds",
        [PolicySasRead];
        5,
        "STO-5 anonymous requests only read public data within its level",
        "STO-5 reached: an anonymous read of public data succeeds",
        [AnonymousPublicRead];
        6,
        "STO-6 put, get, list and delete are linearizable; a deleted blob is never read again",
        "STO-6 reached: a read after an acknowledged delete finds nothing",
        [GoneAfterDelete];
        7,
        "STO-7 an acknowledged write is on all three replicas",
        "STO-7 reached: an acknowledged write is read while a replica is down",
        [ReadDespiteCrash];
        8,
        "STO-8 only the subscription changes the account keys",
        "STO-8 reached: the subscription regenerates a key",
        [KeyChangedBySubscription];
        9,
        "STO-9 reused storage never returns a deleted blob's bytes",
        "STO-9 reached: a blob on a reused block reads as zeros",
        [ReusedBlockReadsZeros];
        10,
        "GEO-1 no replica outside the chosen location receives data",
        "GEO-1 reached: a put is acknowledged on three replicas in the chosen location",
        [AckedInChosenLocation];
        11,
        "DRV-1 a leased blob takes puts and deletes only with its lease id",
        "DRV-1 reached: the lease holder writes the leased blob",
        [LeaseHolderWrote];
    ]
}
