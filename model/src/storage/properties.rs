//! The properties: an `always` and a `sometimes` per claim.

use super::*;
use crate::kit::Judged;
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
        "STO-7 reached: a put is acknowledged once on all three replicas",
        [AckedInChosenLocation];
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
        "GEO-1 reached: a put's data reaches a replica in the chosen location",
        [ReplicatedInChosenLocation];
        DRV-1,
        "DRV-1 a leased blob takes puts and deletes only with its lease id",
        "DRV-1 reached: the lease holder writes the leased blob",
        [LeaseHolderWrote];
    ]
}

/// What the storage oracle judged on a step, for the area contract's
/// witness rules ([`crate::kit`]): each claim whose premise held, read from
/// the request, its caller's credential and its answer, the read, the
/// acknowledgement or the replication; never from the mechanism.
pub fn judged(
    _model: &StorageModel,
    before: &StorageState,
    action: &Action,
    outcome: &Outcome,
    _after: &StorageState,
) -> Vec<Judged> {
    let judged = |claim, situation| Judged { claim, situation };
    let mut out = Vec::new();
    if let Some(caller) = caller_of(action) {
        request_premises(before, action, caller, outcome, &mut out);
    }
    match (action, outcome) {
        // claim: STO-7 (an acknowledged put)
        (
            Action::Commit,
            Outcome::Acknowledged {
                op: WriteOp::Put { .. },
            },
        ) => {
            out.push(judged(claim!(STO - 7), "put-acknowledged"));
        }
        // claim: STO-8 (a key changed)
        (Action::RegenerateKey { .. }, Outcome::KeyRegenerated { .. }) => {
            out.push(judged(claim!(STO - 8), "key-regenerated"));
        }
        // claim: GEO-1 (a replica receives a put's data)
        (Action::Replicate { .. }, _)
            if matches!(
                before.pending,
                Some(Pending {
                    op: WriteOp::Put { .. },
                    ..
                })
            ) =>
        {
            out.push(judged(claim!(GEO - 1), "put-replicated"));
        }
        _ => {}
    }
    out
}

/// Who sends a request action, or `None` for the clock, keys, SAS issue
/// and replicas.
fn caller_of(action: &Action) -> Option<Caller> {
    match *action {
        Action::SetPolicy { .. }
        | Action::RemovePolicy { .. }
        | Action::SetPublicAccess { .. }
        | Action::Lease { .. } => Some(Caller::Client(0)),
        Action::Put { caller, .. }
        | Action::Get { caller, .. }
        | Action::List { caller, .. }
        | Action::Delete { caller, .. }
        | Action::Snapshot { caller, .. } => Some(caller),
        Action::Tick
        | Action::RegenerateKey { .. }
        | Action::Switch { .. }
        | Action::IssueSas { .. }
        | Action::Replicate { .. }
        | Action::Commit
        | Action::Crash { .. }
        | Action::Restart { .. } => None,
    }
}

/// The premises a request meets: STO-1 to STO-5 on its authorization (by
/// the caller's credential), STO-2 also on a key refused, STO-6 and STO-9
/// on a read's answer, DRV-1 on a write accepted on a leased blob.
fn request_premises(
    s: &StorageState,
    action: &Action,
    caller: Caller,
    outcome: &Outcome,
    out: &mut Vec<Judged>,
) {
    let mut judged = |claim, situation| out.push(Judged { claim, situation });
    let credential = s.credential(caller);
    let refused = match outcome {
        Outcome::Denied { reason } => matches!(
            reason,
            Denied::AuthenticationFailed
                | Denied::AuthorizationPermissionMismatch
                | Denied::AuthorizationResourceTypeMismatch
                | Denied::NoAuthenticationInformation
                | Denied::ResourceNotFound
        ),
        _ => false,
    };
    if refused {
        // claim: STO-2 (a current key is never refused)
        if matches!(
            outcome,
            Outcome::Denied {
                reason: Denied::AuthenticationFailed
            }
        ) && matches!(credential, Some(Credential::Key(_)))
        {
            judged(claim!(STO - 2), "keyed-request");
        }
        return;
    }
    judged(claim!(STO - 1), "request");
    match credential {
        None => judged(claim!(STO - 5), "anonymous-request"),
        Some(Credential::Key(_)) => judged(claim!(STO - 2), "keyed-request"),
        Some(Credential::Sas(sas)) => {
            judged(claim!(STO - 2), "keyed-request");
            judged(claim!(STO - 3), "sas-request");
            if sas.policy.is_some() {
                judged(claim!(STO - 4), "policy-sas-request");
            }
        }
    }
    if matches!(action, Action::Get { .. } | Action::List { .. }) {
        judged(claim!(STO - 6), "read");
    }
    if let (Action::Get { .. }, Outcome::Blob { .. }) = (action, outcome) {
        judged(claim!(STO - 9), "bytes-read");
    }
    let written = match *action {
        Action::Put { blob, .. } | Action::Delete { blob, .. } => Some(blob),
        _ => None,
    };
    if let Some(blob) = written {
        let leased = s
            .leases
            .get(usize::from(blob))
            .is_some_and(|l| l.active().is_some());
        if leased && !matches!(outcome, Outcome::Denied { .. }) {
            judged(claim!(DRV - 1), "leased-blob-written");
        }
    }
}
