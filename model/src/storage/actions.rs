//! The actions: the candidates in a state (`step` decides which are
//! enabled), and an action's shape for coverage.

use super::*;

impl StorageModel {
    pub(super) fn candidate_actions(&self, s: &StorageState, out: &mut Vec<Action>) {
        let from = out.len();
        self.all_candidates(s, out);
        let mut i = from;
        while i < out.len() {
            if s.scenario.allows(&out[i]) {
                i += 1;
            } else {
                out.swap_remove(i);
            }
        }
        out[from..].sort();
    }

    pub(super) fn all_candidates(&self, s: &StorageState, out: &mut Vec<Action>) {
        self.account_candidates(s, out);
        self.request_candidates(s, out);
        self.lease_and_replica_candidates(s, out);
    }

    /// The clock, keys, SAS issue, stored policies and public access.
    fn account_candidates(&self, s: &StorageState, out: &mut Vec<Action>) {
        let c = &self.cfg;
        if s.clock < c.max_clock {
            out.push(Action::Tick);
        }
        for slot in Slot::ALL {
            if s.keys[slot.index()] < c.key_versions {
                out.push(Action::RegenerateKey {
                    slot,
                    by: Authority::Subscription,
                });
                out.push(Action::RegenerateKey {
                    slot,
                    by: Authority::AccountKey,
                });
            }
            let key = Credential::Key(KeyRef {
                slot,
                version: s.keys[slot.index()],
            });
            if s.clients[0] != key {
                out.push(Action::Switch { client: 0, slot });
            }
        }
        if s.sas_issued < c.max_sas && matches!(s.clients[0], Credential::Key(_)) {
            out.push(Action::IssueSas {
                grant: SasGrant::ReadBlob,
            });
            for id in 0..c.policy_ids {
                out.push(Action::IssueSas {
                    grant: SasGrant::StoredPolicy(id),
                });
            }
        }
        if s.policy_changes < c.max_policy_changes {
            for id in 0..c.policy_ids {
                let stored = s.policies[usize::from(id)];
                for policy in POLICY_MENU {
                    if stored != Some(policy) {
                        out.push(Action::SetPolicy { id, policy });
                    }
                }
                if stored.is_some() {
                    out.push(Action::RemovePolicy { id });
                }
            }
        }
        if s.public_changes < c.max_public_changes {
            for level in PublicAccess::ALL {
                if level != s.public {
                    out.push(Action::SetPublicAccess { level });
                }
            }
        }
    }

    /// Every caller's requests on the blobs and the container.
    fn request_candidates(&self, s: &StorageState, out: &mut Vec<Action>) {
        let c = &self.cfg;
        let writable = s.pending.is_none();
        let callers = [Caller::Client(0), Caller::Client(1), Caller::Anonymous];
        for caller in callers {
            // In the data scenario the public level stays off: an anonymous
            // put stands for every anonymous request there.
            let quiet = s.scenario == Scenario::Data && caller == Caller::Anonymous;
            // Client 0 is every writer of the data scenario: with and
            // without the lease id.
            if s.scenario == Scenario::Data && caller == Caller::Client(1) {
                continue;
            }
            for blob in 0..BLOBS {
                self.blob_request_candidates(s, caller, blob, out);
            }
            if writable && s.snapshots < c.max_snapshots && !quiet {
                out.push(Action::Snapshot {
                    caller,
                    blob: LEASED_BLOB,
                });
            }
        }
    }

    /// `caller`'s puts, deletes, gets and lists touching `blob`.
    fn blob_request_candidates(
        &self,
        s: &StorageState,
        caller: Caller,
        blob: u8,
        out: &mut Vec<Action>,
    ) {
        let c = &self.cfg;
        let lease_choices: &[Option<u8>] = &[None, Some(1), Some(2)];
        let writable = s.pending.is_none();
        let owner = caller == Caller::Client(0);
        // In the data scenario the public level stays off: an anonymous
        // put stands for every anonymous request there.
        let quiet = s.scenario == Scenario::Data && caller == Caller::Anonymous;
        let leases: &[Option<u8>] =
            if blob == LEASED_BLOB && caller != Caller::Anonymous && s.scenario == Scenario::Data {
                lease_choices
            } else {
                &[None]
            };
        if writable && s.puts < c.max_puts {
            let contents: &[Content] = if owner {
                &[Content::Bytes, Content::Zeros]
            } else {
                &[Content::Bytes]
            };
            for &content in contents {
                for &lease in leases {
                    out.push(Action::Put {
                        caller,
                        blob,
                        content,
                        lease,
                    });
                }
            }
        }
        if quiet {
            return;
        }
        if writable {
            for &lease in leases {
                out.push(Action::Delete {
                    caller,
                    blob,
                    lease,
                });
            }
        }
        // Any live replica serves the application's reads; the
        // front end picks the first live one for everyone else.
        let replicas: Vec<u8> = if owner {
            (0..REPLICAS)
                .filter(|r| s.replicas[usize::from(*r)].up)
                .collect()
        } else {
            (0..REPLICAS)
                .find(|r| s.replicas[usize::from(*r)].up)
                .into_iter()
                .collect()
        };
        let snapshot_reads: &[bool] = if blob == LEASED_BLOB && c.max_snapshots > 0 {
            &[false, true]
        } else {
            &[false]
        };
        for &snapshot in snapshot_reads {
            for &replica in &replicas {
                out.push(Action::Get {
                    caller,
                    blob,
                    snapshot,
                    replica,
                });
            }
        }
        if blob == 0 {
            for &replica in &replicas {
                out.push(Action::List { caller, replica });
            }
        }
    }

    /// Lease operations, and the replicas' replicate, commit, crash and restart.
    fn lease_and_replica_candidates(&self, s: &StorageState, out: &mut Vec<Action>) {
        let c = &self.cfg;
        for op in [
            LeaseOp::Acquire {
                duration: LeaseDuration::Fixed,
                id: 1,
            },
            LeaseOp::Acquire {
                duration: LeaseDuration::Infinite,
                id: 1,
            },
            LeaseOp::Acquire {
                duration: LeaseDuration::Infinite,
                id: 2,
            },
            LeaseOp::Renew { id: 1 },
            LeaseOp::Renew { id: 2 },
            LeaseOp::Change { id: 1, proposed: 2 },
            LeaseOp::Change { id: 2, proposed: 1 },
            LeaseOp::Release { id: 1 },
            LeaseOp::Release { id: 2 },
            LeaseOp::Break,
        ] {
            out.push(Action::Lease {
                blob: LEASED_BLOB,
                op,
            });
        }
        if let Some(p) = s.pending {
            for r in 0..REPLICAS {
                if p.replicas & bit(r) == 0 && s.replicas[usize::from(r)].up {
                    out.push(Action::Replicate { replica: r });
                }
            }
            if !p.acked && self.may_commit(s, &p) {
                out.push(Action::Commit);
            }
        }
        for r in 0..REPLICAS {
            let up = s.replicas[usize::from(r)].up;
            // Crashes happen between writes: a crash during replication
            // looks the same to the commit rule, which waits for the replica.
            if up && s.crashes < c.max_crashes && s.pending.is_none() {
                out.push(Action::Crash { replica: r });
            }
            if !up {
                out.push(Action::Restart { replica: r });
            }
        }
    }

    pub(super) fn kind_of(action: &Action) -> &'static str {
        match action {
            Action::Tick => "tick",
            Action::RegenerateKey { .. } => "regenerate-key",
            Action::Switch { .. } => "switch",
            Action::IssueSas { .. } => "issue-sas",
            Action::SetPolicy { .. } => "set-policy",
            Action::RemovePolicy { .. } => "remove-policy",
            Action::SetPublicAccess { .. } => "set-public-access",
            Action::Put { .. } => "put",
            Action::Get { .. } => "get",
            Action::List { .. } => "list",
            Action::Delete { .. } => "delete",
            Action::Snapshot { .. } => "snapshot",
            Action::Lease { .. } => "lease",
            Action::Replicate { .. } => "replicate",
            Action::Commit => "commit",
            Action::Crash { .. } => "crash",
            Action::Restart { .. } => "restart",
        }
    }

    pub(super) fn shape_of(&self, s: &StorageState, action: &Action) -> String {
        let kind = Self::kind_of(action);
        let lease_class =
            |blob: u8, lease: Option<u8>| match (s.leases[usize::from(blob)].active(), lease) {
                (None, None) => "unleased",
                (None, Some(_)) => "unleased+lease-id",
                (Some(_), None) => "leased+no-lease-id",
                (Some(id), Some(given)) if id == given => "leased+holder",
                (Some(_), Some(_)) => "leased+other-id",
            };
        match *action {
            Action::RegenerateKey { by, .. } => format!("{kind} by={by:?}"),
            Action::IssueSas { grant } => match grant {
                SasGrant::ReadBlob => format!("{kind} ad-hoc"),
                SasGrant::StoredPolicy(_) => format!("{kind} policy"),
            },
            Action::SetPolicy { id, policy } => {
                let verb = match s.policies.get(usize::from(id)).copied().flatten() {
                    Some(_) => "change",
                    None => "new",
                };
                format!("{kind} {verb} {}", policy.perms.letters())
            }
            Action::SetPublicAccess { level } => format!("{kind} {level:?}"),
            Action::Put {
                caller,
                blob,
                content,
                lease,
            } => format!(
                "{kind} {} {} {content:?} {}",
                caller_class(s, caller),
                target_class(s, caller, Scope::Blob(blob)),
                lease_class(blob, lease)
            ),
            Action::Delete {
                caller,
                blob,
                lease,
            } => format!(
                "{kind} {} {} {}",
                caller_class(s, caller),
                target_class(s, caller, Scope::Blob(blob)),
                lease_class(blob, lease)
            ),
            Action::Snapshot { caller, blob } => format!(
                "{kind} {} {}",
                caller_class(s, caller),
                target_class(s, caller, Scope::Blob(blob))
            ),
            Action::Get {
                caller,
                blob,
                snapshot,
                replica,
            } => {
                // A read of a zeroed page blob whose block held an earlier
                // blob's bytes is where a missing wipe shows (STO-9).
                let reused_zeros = s
                    .replicas
                    .get(usize::from(replica))
                    .and_then(|r| r.stored(blob, snapshot))
                    .is_some_and(|c| s.zeroed & s.reused & bit(c.version) != 0);
                format!(
                    "{kind} {} {}{}{}",
                    caller_class(s, caller),
                    target_class(s, caller, Scope::Blob(blob)),
                    if snapshot { " snapshot" } else { "" },
                    if reused_zeros { " reused-zeros" } else { "" }
                )
            }
            Action::List { caller, .. } => format!(
                "{kind} {} {}",
                caller_class(s, caller),
                target_class(s, caller, Scope::Container)
            ),
            Action::Lease { blob, op } => lease_shape(s, kind, blob, op),
            Action::Commit => match s.pending {
                Some(p) => format!("{kind} {}", p.op.kind()),
                None => kind.into(),
            },
            _ => kind.into(),
        }
    }

    /// Whether every client, blob, replica and policy id that `action`
    /// names exists at these bounds; a decoded action that fails this is
    /// enabled nowhere.
    pub(super) fn in_bounds(&self, action: &Action) -> bool {
        let caller = |c: Caller| match c {
            Caller::Client(n) => n < CLIENTS,
            Caller::Anonymous => true,
        };
        let blob = |b: u8| b < BLOBS;
        let replica = |r: u8| r < REPLICAS;
        let policy = |id: u8| id < self.cfg.policy_ids;
        match *action {
            Action::Tick | Action::Commit | Action::RegenerateKey { .. } => true,
            Action::SetPublicAccess { .. } => true,
            Action::Switch { client, .. } => client < CLIENTS,
            Action::IssueSas { grant } => match grant {
                SasGrant::ReadBlob => true,
                SasGrant::StoredPolicy(id) => policy(id),
            },
            Action::SetPolicy { id, .. } | Action::RemovePolicy { id } => policy(id),
            Action::Put {
                caller: c, blob: b, ..
            }
            | Action::Delete {
                caller: c, blob: b, ..
            }
            | Action::Snapshot { caller: c, blob: b } => caller(c) && blob(b),
            Action::Get {
                caller: c,
                blob: b,
                replica: r,
                ..
            } => caller(c) && blob(b) && replica(r),
            Action::List {
                caller: c,
                replica: r,
            } => caller(c) && replica(r),
            Action::Lease { blob: b, .. } => blob(b),
            Action::Replicate { replica: r }
            | Action::Crash { replica: r }
            | Action::Restart { replica: r } => replica(r),
        }
    }
}

/// A lease request's shape: the operation, the lease's state, and whether
/// the request names the lease's id.
fn lease_shape(s: &StorageState, kind: &str, blob: u8, op: LeaseOp) -> String {
    let (op, given) = match op {
        LeaseOp::Acquire { duration, id } => (format!("acquire-{duration:?}"), Some(id)),
        LeaseOp::Renew { id } => ("renew".into(), Some(id)),
        LeaseOp::Change { id, .. } => ("change".into(), Some(id)),
        LeaseOp::Release { id } => ("release".into(), Some(id)),
        LeaseOp::Break => ("break".into(), None),
    };
    // The lease's state and whether the request names its id:
    // the service answers by both (renewing a broken lease
    // with its own id and with another are different refusals).
    let (state, held) = match s.leases.get(usize::from(blob)) {
        Some(Lease::Leased { id, .. }) => ("leased", Some(*id)),
        Some(Lease::Expired { id }) => ("expired", Some(*id)),
        Some(Lease::Broken { id }) => ("broken", Some(*id)),
        Some(Lease::Available) | None => ("available", None),
    };
    let id = match (held, given) {
        (_, None) => "",
        (Some(held), Some(given)) if held == given => "+holder",
        (_, Some(_)) => "+other-id",
    };
    format!("{kind} {op} {state}{id}").to_lowercase()
}

/// A caller's credential class, for coverage: `key`, `removed-key`,
/// `anonymous`, or `sas-ad-hoc`/`sas-policy` with `+removed-key` and
/// `+early`/`+expired`/`+no-policy` where they apply.
fn caller_class(s: &StorageState, caller: Caller) -> String {
    let removed = |k: KeyRef| k.version != s.keys[k.slot.index()];
    match s.credential(caller) {
        None => "anonymous".into(),
        Some(Credential::Key(k)) if removed(k) => "removed-key".into(),
        Some(Credential::Key(_)) => "key".into(),
        Some(Credential::Sas(sas)) => {
            // Where the SAS stands now: signed with a removed key, and
            // inside, before or after its window (its own, or its stored
            // policy's), so coverage takes each kind of refusal apart.
            let key = if removed(sas.signed_with) {
                "+removed-key"
            } else {
                ""
            };
            let (kind, window) = match sas.policy {
                Some(id) => (
                    "sas-policy",
                    match s.policies.get(usize::from(id)).copied().flatten() {
                        None => "+no-policy",
                        Some(policy) if s.clock > policy.expiry => "+expired",
                        Some(_) => "",
                    },
                ),
                None => (
                    "sas-ad-hoc",
                    if s.clock < sas.start.unwrap_or(u8::MAX) {
                        "+early"
                    } else if s.clock > sas.expiry.unwrap_or(0) {
                        "+expired"
                    } else {
                        ""
                    },
                ),
            };
            format!("{kind}{key}{window}")
        }
    }
}

/// Whether the caller's SAS covers the target (`in-scope`, `out-of-scope`),
/// or the public level for anonymous callers; empty for keys.
fn target_class(s: &StorageState, caller: Caller, target: Scope) -> String {
    match s.credential(caller) {
        None => format!("public={:?}", s.public),
        Some(Credential::Key(_)) => match target {
            Scope::Container => "container".into(),
            Scope::Blob(_) => "blob".into(),
        },
        Some(Credential::Sas(sas)) => {
            if sas.scope.covers(target) {
                "in-scope".into()
            } else {
                "out-of-scope".into()
            }
        }
    }
}
