//! The step of the requests a caller sends: authorized, judged by the
//! oracle, and then answered, refused or taken in as the write in flight.

use super::*;

impl StorageModel {
    pub(super) fn step_request(
        &self,
        s: &StorageState,
        next: &mut StorageState,
        action: &Action,
    ) -> Option<Result<Outcome, Denied>> {
        let result = match *action {
            Action::SetPolicy { .. }
            | Action::RemovePolicy { .. }
            | Action::SetPublicAccess { .. } => self.step_container_request(s, next, action)?,
            Action::Put { .. } | Action::Delete { .. } => {
                self.step_put_or_delete(s, next, action)?
            }
            Action::Snapshot { .. } | Action::Lease { .. } => {
                self.step_snapshot_or_lease(s, next, action)?
            }
            Action::Get { .. } | Action::List { .. } => self.step_read_request(s, next, action)?,
            _ => return None,
        };
        Some(result)
    }
    /// A request on the container: stored access policies and public access.
    pub(super) fn step_container_request(
        &self,
        s: &StorageState,
        next: &mut StorageState,
        action: &Action,
    ) -> Option<Result<Outcome, Denied>> {
        Some(match *action {
            Action::SetPolicy { id, policy } => {
                if s.policy_changes >= self.cfg.max_policy_changes || id >= self.cfg.policy_ids {
                    return None;
                }
                self.request(s, next, Caller::Client(0), Scope::Container, Access::Manage)
                    .map(|()| {
                        next.policies[usize::from(id)] = Some(policy);
                        next.policy_changes += 1;
                        Outcome::AclSet
                    })
            }
            Action::RemovePolicy { id } => {
                if s.policy_changes >= self.cfg.max_policy_changes
                    || s.policies.get(usize::from(id))?.is_none()
                {
                    return None;
                }
                self.request(s, next, Caller::Client(0), Scope::Container, Access::Manage)
                    .map(|()| {
                        next.policies[usize::from(id)] = None;
                        next.policy_changes += 1;
                        Outcome::AclSet
                    })
            }
            Action::SetPublicAccess { level } => {
                if s.public_changes >= self.cfg.max_public_changes || level == s.public {
                    return None;
                }
                self.request(s, next, Caller::Client(0), Scope::Container, Access::Manage)
                    .map(|()| {
                        next.public = level;
                        next.public_changes += 1;
                        Outcome::AclSet
                    })
            }
            _ => return None,
        })
    }
    /// A put or a delete of a blob.
    pub(super) fn step_put_or_delete(
        &self,
        s: &StorageState,
        next: &mut StorageState,
        action: &Action,
    ) -> Option<Result<Outcome, Denied>> {
        Some(match *action {
            Action::Put {
                caller,
                blob,
                content,
                lease,
            } => {
                if s.pending.is_some() || s.puts >= self.cfg.max_puts || blob >= BLOBS {
                    return None;
                }
                self.request(s, next, caller, Scope::Blob(blob), Access::Write)
                    .and_then(|()| self.check_lease(s, blob, lease, Access::Write))
                    .map(|()| {
                        self.judge_lease(s, next, blob, lease);
                        let version = s.puts + 1;
                        next.puts = version;
                        if content == Content::Zeros {
                            next.zeroed |= bit(version);
                        }
                        next.pending = Some(Pending {
                            op: WriteOp::Put {
                                blob,
                                version,
                                content,
                            },
                            replicas: 0,
                            acked: false,
                            observed: false,
                        });
                        Outcome::Accepted
                    })
            }
            Action::Delete {
                caller,
                blob,
                lease,
            } => {
                if s.pending.is_some() || blob >= BLOBS {
                    return None;
                }
                self.request(s, next, caller, Scope::Blob(blob), Access::Delete)
                    .and_then(|()| {
                        if Self::primary(s).blobs[usize::from(blob)].is_none() {
                            return Err(Denied::BlobNotFound);
                        }
                        self.check_lease(s, blob, lease, Access::Delete)
                    })
                    .map(|()| {
                        self.judge_lease(s, next, blob, lease);
                        next.pending = Some(Pending {
                            op: WriteOp::Delete { blob },
                            replicas: 0,
                            acked: false,
                            observed: false,
                        });
                        Outcome::Accepted
                    })
            }
            _ => return None,
        })
    }
    /// A snapshot of a blob, or a lease operation on it.
    pub(super) fn step_snapshot_or_lease(
        &self,
        s: &StorageState,
        next: &mut StorageState,
        action: &Action,
    ) -> Option<Result<Outcome, Denied>> {
        Some(match *action {
            Action::Snapshot { caller, blob } => {
                if s.pending.is_some() || s.snapshots >= self.cfg.max_snapshots || blob >= BLOBS {
                    return None;
                }
                self.request(s, next, caller, Scope::Blob(blob), Access::Write)
                    .and_then(|()| {
                        Self::primary(s).blobs[usize::from(blob)].ok_or(Denied::BlobNotFound)
                    })
                    .map(|stored| {
                        next.snapshots += 1;
                        next.pending = Some(Pending {
                            op: WriteOp::Snapshot {
                                blob,
                                version: stored.version,
                            },
                            replicas: 0,
                            acked: false,
                            observed: false,
                        });
                        Outcome::Accepted
                    })
            }
            Action::Lease { blob, op } => {
                // A lease operation is a write to the blob's properties: at
                // most one write is in flight, and the service keeps a lease
                // with its blob on every replica, so it waits for a replica
                // that is down. (Every state this excludes is reached with
                // the lease operation first, so the state count is the same.)
                if blob >= BLOBS || s.pending.is_some() || !s.all_up() {
                    return None;
                }
                self.request(s, next, Caller::Client(0), Scope::Blob(blob), Access::Write)
                    .and_then(|()| {
                        if Self::primary(s).blobs[usize::from(blob)].is_none() {
                            return Err(Denied::BlobNotFound);
                        }
                        Self::lease_step(s.clock, s.leases[usize::from(blob)], op)
                    })
                    .map(|lease| {
                        next.leases[usize::from(blob)] = lease;
                        Outcome::Lease { lease }
                    })
            }
            _ => return None,
        })
    }
    /// A read request: get from a replica, list a replica.
    pub(super) fn step_read_request(
        &self,
        s: &StorageState,
        next: &mut StorageState,
        action: &Action,
    ) -> Option<Result<Outcome, Denied>> {
        Some(match *action {
            Action::Get {
                caller,
                blob,
                snapshot,
                replica,
            } => {
                let r = *s.replicas.get(usize::from(replica))?;
                if !r.up || blob >= BLOBS {
                    return None;
                }
                self.request(s, next, caller, Scope::Blob(blob), Access::Read)
                    .and_then(|()| {
                        let stored = r.stored(blob, snapshot);
                        self.observe(s, next, blob, snapshot, stored.map(|c| c.version), false);
                        let Some(stored) = stored else {
                            next.last =
                                (next.deleted & bit(blob) != 0).then_some(Witness::GoneAfterDelete);
                            return Err(Denied::BlobNotFound);
                        };
                        let bytes = r.blocks[usize::from(stored.block)];
                        let v = stored.version;
                        let expected = if s.zeroed & bit(v) != 0 { 0 } else { v };
                        if bytes != expected {
                            next.broken.insert(claim!(STO - 9));
                        }
                        if s.zeroed & s.reused & bit(v) != 0 && bytes == 0 {
                            next.last = Some(Witness::ReusedBlockReadsZeros);
                        } else if !s.all_up() && s.acked_value(blob, snapshot) == Some(v) {
                            next.last = Some(Witness::ReadDespiteCrash);
                        }
                        Ok(Outcome::Blob { version: v, bytes })
                    })
            }
            Action::List { caller, replica } => {
                let r = *s.replicas.get(usize::from(replica))?;
                if !r.up {
                    return None;
                }
                self.request(s, next, caller, Scope::Container, Access::List)
                    .map(|()| {
                        let mut blobs = Vec::new();
                        for blob in 0..BLOBS {
                            let stored = r.blobs[usize::from(blob)];
                            self.observe(s, next, blob, false, stored.map(|c| c.version), true);
                            if stored.is_some() {
                                blobs.push(blob);
                            }
                        }
                        Outcome::Listed { blobs }
                    })
            }
            _ => return None,
        })
    }
}
