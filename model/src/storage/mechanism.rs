//! The mechanism: key checks, SAS and policy authorization, public access,
//! the lease fence, replica placement, commit and apply on each replica.

use super::*;

impl StorageModel {
    /// Where each replica is placed when the account is created.
    pub fn placement(&self) -> [Location; REPLICAS as usize] {
        let mut at = [Location::Chosen; REPLICAS as usize];
        // claim: GEO-1 (every replica in the account's chosen location)
        if self.has(Flaw::ReplicaInOtherLocation) {
            at[usize::from(REPLICAS - 1)] = Location::Other;
        }
        at
    }

    /// Whether the service accepts a signature made with `key`.
    pub(super) fn key_accepted(&self, s: &StorageState, key: KeyRef) -> bool {
        let current = s.keys[key.slot.index()];
        // claim: STO-1, STO-2 (only the keys the account holds now)
        key.version == current || (self.has(Flaw::RemovedKeyStillAccepted) && key.version < current)
    }

    /// The service's authorization of a request by `caller` for `access` to
    /// `target`: the decision, without the lease check.
    pub fn authorize(
        &self,
        s: &StorageState,
        caller: Caller,
        target: Scope,
        access: Access,
    ) -> Result<(), Denied> {
        match s.credential(caller) {
            None => self.authorize_anonymous(s, target, access),
            Some(Credential::Key(key)) => {
                if self.key_accepted(s, key) {
                    Ok(())
                } else {
                    Err(Denied::AuthenticationFailed)
                }
            }
            Some(Credential::Sas(sas)) => self.authorize_sas(s, &sas, target, access),
        }
    }

    pub(super) fn authorize_anonymous(
        &self,
        s: &StorageState,
        target: Scope,
        access: Access,
    ) -> Result<(), Denied> {
        // claim: STO-1, STO-5 (anonymous: reads of public data, within its level)
        match access {
            Access::Read if matches!(target, Scope::Blob(_)) && s.public != PublicAccess::Off => {
                Ok(())
            }
            Access::List if s.public == PublicAccess::Container => Ok(()),
            Access::Read | Access::List => Err(Denied::ResourceNotFound),
            Access::Write | Access::Delete
                if self.has(Flaw::AnonymousWriteOnPublic) && s.public != PublicAccess::Off =>
            {
                Ok(())
            }
            Access::Write | Access::Delete | Access::Manage => {
                Err(Denied::NoAuthenticationInformation)
            }
        }
    }

    pub(super) fn authorize_sas(
        &self,
        s: &StorageState,
        sas: &Sas,
        target: Scope,
        access: Access,
    ) -> Result<(), Denied> {
        // claim: STO-3 (only its resource type): a blob SAS cannot sign a
        // container request, so the service refuses the type before it can
        // check a signature.
        if !self.has(Flaw::SasScopeIgnored)
            && matches!((sas.scope, target), (Scope::Blob(_), Scope::Container))
        {
            return Err(Denied::AuthorizationResourceTypeMismatch);
        }
        // claim: STO-1, STO-2 (a SAS is signed with a key the account holds now)
        if !self.key_accepted(s, sas.signed_with) {
            return Err(Denied::AuthenticationFailed);
        }
        if access == Access::Manage {
            return Err(Denied::AuthorizationPermissionMismatch);
        }
        // claim: STO-3 (only its resource scope)
        if !self.has(Flaw::SasScopeIgnored) {
            match (sas.scope, target) {
                // The signature covers the blob's path: another path does not verify.
                (Scope::Blob(a), Scope::Blob(b)) if a != b => {
                    return Err(Denied::AuthenticationFailed)
                }
                _ => {}
            }
        }
        match sas.policy {
            Some(id) => {
                // claim: STO-4 (the policy as stored now, from the next request on)
                let stored = s.policies.get(usize::from(id)).copied().flatten();
                let policy = if self.has(Flaw::PolicyChangeNotApplied) {
                    sas.cached.or(stored)
                } else {
                    stored
                };
                let Some(policy) = policy else {
                    return Err(Denied::AuthenticationFailed);
                };
                if s.clock > policy.expiry {
                    return Err(Denied::AuthenticationFailed);
                }
                if !policy.perms.contains(access.perm()) {
                    return Err(Denied::AuthorizationPermissionMismatch);
                }
            }
            None => {
                // claim: STO-3 (only inside its validity window)
                let start = sas.start.unwrap_or(u8::MAX);
                let expiry = sas.expiry.unwrap_or(0);
                if s.clock < start || (s.clock > expiry && !self.has(Flaw::SasExpiryIgnored)) {
                    return Err(Denied::AuthenticationFailed);
                }
                // claim: STO-3 (only its permission set)
                let perms = sas.perms.unwrap_or(Perms::NONE);
                if !perms.contains(access.perm()) && !self.has(Flaw::SasPermissionsIgnored) {
                    return Err(Denied::AuthorizationPermissionMismatch);
                }
            }
        }
        Ok(())
    }

    /// The lease check of a put (`access` is `Write`) or delete on `blob` carrying `lease`.
    pub fn check_lease(
        &self,
        s: &StorageState,
        blob: u8,
        lease: Option<u8>,
        access: Access,
    ) -> Result<(), Denied> {
        // claim: DRV-1 (a leased blob takes writes only with its lease id)
        if self.has(Flaw::LeaseNotChecked) && access == Access::Write {
            return Ok(());
        }
        match (s.leases[usize::from(blob)].active(), lease) {
            (Some(_), None) => Err(Denied::LeaseIdMissing),
            (Some(id), Some(given)) if id != given => Err(Denied::LeaseIdMismatchWithBlobOperation),
            (None, Some(_)) => Err(Denied::LeaseNotPresentWithBlobOperation),
            _ => Ok(()),
        }
    }

    /// The lease state machine: the lease after `op`, or why not.
    pub fn lease_step(now: u8, lease: Lease, op: LeaseOp) -> Result<Lease, Denied> {
        let fixed = |id: u8| Lease::Leased {
            id,
            until: Some(now),
        };
        match op {
            LeaseOp::Acquire { duration, id } => match lease {
                Lease::Leased { id: held, .. } if held != id => Err(Denied::LeaseAlreadyPresent),
                _ => Ok(match duration {
                    LeaseDuration::Fixed => fixed(id),
                    LeaseDuration::Infinite => Lease::Leased { id, until: None },
                }),
            },
            LeaseOp::Renew { id } => match lease {
                Lease::Leased { id: held, until } if held == id => Ok(Lease::Leased {
                    id,
                    until: until.map(|_| now),
                }),
                Lease::Expired { id: held } if held == id => Ok(fixed(id)),
                Lease::Broken { id: held } if held == id => {
                    Err(Denied::LeaseIsBrokenAndCannotBeRenewed)
                }
                Lease::Leased { .. } | Lease::Expired { .. } | Lease::Broken { .. } => {
                    Err(Denied::LeaseIdMismatchWithLeaseOperation)
                }
                Lease::Available => Err(Denied::LeaseNotPresentWithLeaseOperation),
            },
            LeaseOp::Change { id, proposed } => match lease {
                Lease::Leased { id: held, until } if held == id || held == proposed => {
                    Ok(Lease::Leased {
                        id: proposed,
                        until,
                    })
                }
                Lease::Leased { .. } => Err(Denied::LeaseIdMismatchWithLeaseOperation),
                _ => Err(Denied::LeaseNotPresentWithLeaseOperation),
            },
            LeaseOp::Release { id } => match lease {
                Lease::Leased { id: held, .. }
                | Lease::Expired { id: held }
                | Lease::Broken { id: held } => {
                    if held == id {
                        Ok(Lease::Available)
                    } else {
                        Err(Denied::LeaseIdMismatchWithLeaseOperation)
                    }
                }
                Lease::Available => Err(Denied::LeaseNotPresentWithLeaseOperation),
            },
            // A lease that ran out still has its id and can be broken (the
            // service's state table, and Azurite's `LeaseExpiredState`).
            LeaseOp::Break => match lease {
                Lease::Leased { id, .. } | Lease::Broken { id } | Lease::Expired { id } => {
                    Ok(Lease::Broken { id })
                }
                Lease::Available => Err(Denied::LeaseNotPresentWithLeaseOperation),
            },
        }
    }

    /// Whether the write in flight may be committed now.
    pub(super) fn may_commit(&self, s: &StorageState, p: &Pending) -> bool {
        // claim: STO-7 (acknowledged only once all three replicas hold it)
        if p.replicas == ALL_REPLICAS && s.all_up() {
            return true;
        }
        let early = match p.op {
            WriteOp::Put { .. } => self.has(Flaw::WriteAckedOnOneReplica),
            // claim: STO-6 (a delete is acknowledged only once every replica dropped it)
            WriteOp::Delete { .. } => self.has(Flaw::DeleteAckedEarly),
            WriteOp::Snapshot { .. } => false,
        };
        early && p.replicas & bit(PRIMARY) != 0 && s.replicas[usize::from(PRIMARY)].up
    }

    /// Applies a committed write to one replica; returns whether the block
    /// the write took held old bytes.
    pub(super) fn apply(&self, replica: &mut Replica, op: WriteOp) -> bool {
        match op {
            WriteOp::Put {
                blob,
                version,
                content,
            } => {
                let b = usize::from(blob);
                replica.blobs[b] = None;
                let block = (0..BLOCKS as u8)
                    .find(|k| !replica.linked(*k))
                    .expect("a free block: at most three are linked");
                let old = replica.blocks[usize::from(block)];
                // claim: STO-9 (a reused block is overwritten before it is readable)
                replica.blocks[usize::from(block)] = match content {
                    Content::Bytes => version,
                    Content::Zeros if self.has(Flaw::ReusedBlocksNotZeroed) => old,
                    Content::Zeros => 0,
                };
                replica.blobs[b] = Some(Stored { version, block });
                old != 0
            }
            WriteOp::Delete { blob } => {
                // claim: STO-9 (unlinked blocks are unreachable)
                replica.blobs[usize::from(blob)] = None;
                replica.snapshots[usize::from(blob)] = None;
                false
            }
            WriteOp::Snapshot { blob, .. } => {
                let b = usize::from(blob);
                replica.snapshots[b] = replica.blobs[b];
                false
            }
        }
    }

    pub(super) fn primary(s: &StorageState) -> &Replica {
        &s.replicas[usize::from(PRIMARY)]
    }
}
