//! The transition system: the two initial states and `step`, the single
//! source of truth for outcomes and next states.

use super::*;
use crate::trace::TracedModel;
use serde_json::{Map, Value};

mod requests;

impl StorageModel {
    pub(super) fn initial_states(&self) -> Vec<StorageState> {
        let data = self.initial_state();
        let mut access = data;
        access.scenario = Scenario::Access;
        // Two blobs already written, acknowledged on every replica, each
        // under an infinite lease that no client of the model holds: a put
        // or delete is authorized (and judged) and then refused for the
        // lease, so the access scenario never reaches the replicas.
        for (b, version) in [(0u8, 1u8), (1, 2)] {
            access.leases[usize::from(b)] = Lease::Leased {
                id: FOREIGN_LEASE,
                until: None,
            };
            for r in access.replicas.iter_mut() {
                r.blobs[usize::from(b)] = Some(Stored { version, block: b });
                r.blocks[usize::from(b)] = version;
            }
            access.acked[usize::from(b)] = Some(version);
        }
        access.puts = 2;
        vec![access, data]
    }

    pub(super) fn initial_state(&self) -> StorageState {
        let key = Credential::Key(KeyRef {
            slot: Slot::Primary,
            version: 0,
        });
        let placement = self.placement();
        let replica = |r: usize| Replica {
            location: placement[r],
            up: true,
            blobs: [None; BLOBS as usize],
            snapshots: [None; BLOBS as usize],
            blocks: [0; BLOCKS],
        };
        StorageState {
            scenario: Scenario::Data,
            clock: 0,
            keys: [0, 0],
            clients: [key, key],
            sas_issued: 0,
            policies: [None; MAX_POLICIES as usize],
            policy_changes: 0,
            public: PublicAccess::Off,
            public_changes: 0,
            leases: [Lease::Available; BLOBS as usize],
            puts: 0,
            snapshots: 0,
            crashes: 0,
            pending: None,
            replicas: [replica(0), replica(1), replica(2)],
            acked: [None; BLOBS as usize],
            acked_snapshots: [None; BLOBS as usize],
            deleted: 0,
            zeroed: 0,
            reused: 0,
            app_refused: false,
            broken: ClaimSet::EMPTY,
            last: None,
        }
    }
}

crate::kit::forward_model_to_step!(StorageModel, StorageState, Action, storage_properties);

impl TracedModel for StorageModel {
    type Outcome = Outcome;
    const AREA: &'static str = "storage";

    fn step(&self, s: &StorageState, action: &Action) -> Option<(Outcome, StorageState)> {
        // An action naming a client, blob, replica or policy outside the
        // bounds (a hand-edited trace) is not enabled anywhere.
        if !self.in_bounds(action) || !s.scenario.allows(action) {
            return None;
        }
        let mut next = *s;
        next.last = None;
        let outcome = match *action {
            Action::Tick | Action::RegenerateKey { .. } | Action::Switch { .. } => {
                self.step_clock_and_keys(s, &mut next, action)?
            }
            Action::IssueSas { .. } => self.step_issue_sas(s, &mut next, action)?,
            Action::Replicate { .. }
            | Action::Commit
            | Action::Crash { .. }
            | Action::Restart { .. } => self.step_replicas(s, &mut next, action)?,
            _ => match self.step_request(s, &mut next, action)? {
                Ok(outcome) => outcome,
                Err(reason) => Outcome::Denied { reason },
            },
        };
        Some((outcome, next))
    }

    fn action_kind(action: &Action) -> &'static str {
        Self::kind_of(action)
    }

    fn action_shape(&self, s: &StorageState, action: &Action) -> String {
        if !self.in_bounds(action) {
            return format!("{} out-of-bounds", Self::kind_of(action));
        }
        self.shape_of(s, action)
    }

    fn outcome_kind(outcome: &Outcome) -> String {
        match outcome {
            Outcome::Done => "done".into(),
            Outcome::KeyRegenerated { .. } => "key-regenerated".into(),
            Outcome::AclSet => "acl-set".into(),
            Outcome::Accepted => "accepted".into(),
            Outcome::Acknowledged { op } => format!("acknowledged:{}", op.kind()),
            Outcome::Blob { .. } => "blob".into(),
            Outcome::Listed { .. } => "listed".into(),
            Outcome::Lease { lease } => match lease {
                Lease::Available => "lease:available".into(),
                Lease::Leased { .. } => "lease:leased".into(),
                Lease::Expired { .. } => "lease:expired".into(),
                Lease::Broken { .. } => "lease:broken".into(),
            },
            Outcome::Denied { reason } => format!("denied:{reason:?}"),
        }
    }

    fn claims_touched(
        &self,
        before: &StorageState,
        action: &Action,
        outcome: &Outcome,
    ) -> ClaimSet {
        if !self.in_bounds(action) {
            return ClaimSet::EMPTY;
        }
        if let Outcome::Denied { reason } = outcome {
            return reason.claims();
        }
        let Some((_, after)) = self.step(before, action) else {
            return ClaimSet::EMPTY;
        };
        let mut touched = ClaimSet::EMPTY;
        for claim in after.broken.iter() {
            if !before.broken.contains(claim) {
                touched.insert(claim);
            }
        }
        if let Some(w) = after.last {
            touched = touched.union(w.claims());
        }
        let by_kind = match action {
            Action::RegenerateKey { .. } | Action::Switch { .. } => claims![STO - 2, STO - 8],
            Action::IssueSas { grant } => match grant {
                SasGrant::ReadBlob => claims![STO - 3],
                SasGrant::StoredPolicy(_) => claims![STO - 4],
            },
            Action::SetPolicy { .. } | Action::RemovePolicy { .. } => claims![STO - 4],
            Action::SetPublicAccess { .. } => claims![STO - 5],
            Action::Get { .. } | Action::List { .. } => claims![STO - 6],
            Action::Put { .. } | Action::Delete { .. } => claims![STO - 6, DRV - 1],
            Action::Lease { .. } => claims![DRV - 1],
            Action::Replicate { .. } => claims![STO - 7, GEO - 1],
            Action::Commit => claims![STO - 6, STO - 7],
            Action::Crash { .. } | Action::Restart { .. } => claims![STO - 7],
            Action::Tick | Action::Snapshot { .. } => ClaimSet::EMPTY,
        };
        touched.union(by_kind)
    }

    fn narrate(&self, before: &StorageState, action: &Action, outcome: &Outcome) -> String {
        if !self.in_bounds(action) {
            return crate::kit::out_of_bounds_words(Self::kind_of(action));
        }
        self.narration(before, action, outcome)
    }

    fn describe_action(&self, action: &Action) -> String {
        if !self.in_bounds(action) {
            return crate::kit::out_of_bounds_words(Self::kind_of(action));
        }
        Self::action_words(None, action)
    }

    fn itf_vars(&self, s: &StorageState) -> Map<String, Value> {
        self.itf_state(s)
    }

    fn bounds_line(&self) -> String {
        let c = &self.cfg;
        format!(
            "max_clock={} max_puts={} max_snapshots={} max_crashes={} key_versions={} max_sas={} policy_ids={} max_policy_changes={} max_public_changes={}",
            c.max_clock,
            c.max_puts,
            c.max_snapshots,
            c.max_crashes,
            c.key_versions,
            c.max_sas,
            c.policy_ids,
            c.max_policy_changes,
            c.max_public_changes
        )
    }

    fn flaw_name(&self) -> Option<&'static str> {
        self.cfg.flaw.map(Flaw::name)
    }

    fn broken_claims(state: &StorageState) -> ClaimSet {
        state.broken
    }

    fn var_claims(name: &str) -> ClaimSet {
        match name {
            // What each replica holds and where it is.
            "replicas" => claims![STO - 6, STO - 7, STO - 9, GEO - 1],
            "public" => claims![STO - 5],
            "policies" => claims![STO - 4],
            "keys" => claims![STO - 1, STO - 2, STO - 8],
            "leases" => claims![DRV - 1],
            _ => ClaimSet::EMPTY,
        }
    }
}

impl StorageModel {
    /// The clock, and key regeneration and rotation.
    fn step_clock_and_keys(
        &self,
        s: &StorageState,
        next: &mut StorageState,
        action: &Action,
    ) -> Option<Outcome> {
        Some(match *action {
            Action::Tick => {
                if s.clock >= self.cfg.max_clock {
                    return None;
                }
                next.clock += 1;
                for lease in next.leases.iter_mut() {
                    if let Lease::Leased {
                        id,
                        until: Some(until),
                    } = *lease
                    {
                        if until < next.clock {
                            *lease = Lease::Expired { id };
                        }
                    }
                }
                Outcome::Done
            }
            Action::RegenerateKey { slot, by } => {
                let i = slot.index();
                if s.keys[i] >= self.cfg.key_versions {
                    return None;
                }
                // claim: STO-8 (only with the subscription's credentials)
                if by != Authority::Subscription && !self.has(Flaw::KeyChangeWithoutSubscription) {
                    Outcome::Denied {
                        reason: Denied::ForbiddenError,
                    }
                } else {
                    next.keys[i] += 1;
                    if by == Authority::Subscription {
                        next.last = Some(Witness::KeyChangedBySubscription);
                    } else {
                        next.broken.insert(claim!(STO - 8));
                    }
                    Outcome::KeyRegenerated {
                        slot,
                        version: next.keys[i],
                    }
                }
            }
            Action::Switch { client, slot } => {
                let key = Credential::Key(KeyRef {
                    slot,
                    version: s.keys[slot.index()],
                });
                let held = next.clients.get_mut(usize::from(client))?;
                if *held == key {
                    return None;
                }
                *held = key;
                Outcome::Done
            }
            _ => return None,
        })
    }

    /// Client 0 hands client 1 a service SAS, ad hoc or bound to a stored policy.
    fn step_issue_sas(
        &self,
        s: &StorageState,
        next: &mut StorageState,
        action: &Action,
    ) -> Option<Outcome> {
        Some(match *action {
            Action::IssueSas { grant } => {
                if s.sas_issued >= self.cfg.max_sas {
                    return None;
                }
                let Credential::Key(signed_with) = s.clients[0] else {
                    return None;
                };
                let sas = match grant {
                    SasGrant::ReadBlob => Sas {
                        perms: Some(Perms::READ),
                        scope: Scope::Blob(LEASED_BLOB),
                        start: Some(s.clock),
                        expiry: Some(s.clock),
                        policy: None,
                        signed_with,
                        cached: None,
                    },
                    SasGrant::StoredPolicy(id) => {
                        if id >= self.cfg.policy_ids {
                            return None;
                        }
                        Sas {
                            perms: None,
                            scope: Scope::Container,
                            start: None,
                            expiry: None,
                            policy: Some(id),
                            signed_with,
                            cached: if self.has(Flaw::PolicyChangeNotApplied) {
                                s.policies[usize::from(id)]
                            } else {
                                None
                            },
                        }
                    }
                };
                next.clients[1] = Credential::Sas(sas);
                next.sas_issued += 1;
                Outcome::Done
            }
            _ => return None,
        })
    }

    /// Replication, commit, crash and restart of the write in flight and the replicas.
    fn step_replicas(
        &self,
        s: &StorageState,
        next: &mut StorageState,
        action: &Action,
    ) -> Option<Outcome> {
        Some(match *action {
            Action::Replicate { replica } => {
                let mut p = s.pending?;
                let r = usize::from(replica);
                if p.replicas & bit(replica) != 0 || !s.replicas.get(r)?.up {
                    return None;
                }
                p.replicas |= bit(replica);
                if let WriteOp::Put { .. } = p.op {
                    if s.replicas[r].location == Location::Chosen {
                        next.last = Some(Witness::ReplicatedInChosenLocation);
                    } else {
                        next.broken.insert(claim!(GEO - 1));
                    }
                }
                if p.acked {
                    // After a flawed early commit the rest catch up lazily.
                    self.apply(&mut next.replicas[r], p.op);
                }
                next.pending = if p.acked && p.replicas == ALL_REPLICAS {
                    None
                } else {
                    Some(p)
                };
                Outcome::Done
            }
            Action::Commit => {
                let mut p = s.pending?;
                if p.acked || !self.may_commit(s, &p) {
                    return None;
                }
                let mut reused = false;
                for r in 0..REPLICAS {
                    if p.replicas & bit(r) != 0 {
                        reused |= self.apply(&mut next.replicas[usize::from(r)], p.op);
                    }
                }
                let b = usize::from(p.op.blob());
                match p.op {
                    WriteOp::Put { version, .. } => {
                        next.acked[b] = Some(version);
                        next.deleted &= !bit(p.op.blob());
                        if reused {
                            next.reused |= bit(version);
                        }
                        let holding = next
                            .replicas
                            .iter()
                            .filter(|r| r.blobs[b].map(|c| c.version) == Some(version))
                            .count();
                        if holding < usize::from(REPLICAS) {
                            next.broken.insert(claim!(STO - 7));
                        }
                        let home = next.replicas.iter().all(|r| r.location == Location::Chosen);
                        if holding == usize::from(REPLICAS) && home {
                            next.last = Some(Witness::AckedInChosenLocation);
                        }
                    }
                    WriteOp::Delete { .. } => {
                        next.acked[b] = None;
                        next.acked_snapshots[b] = None;
                        next.deleted |= bit(p.op.blob());
                        next.leases[b] = Lease::Available;
                    }
                    WriteOp::Snapshot { version, .. } => {
                        next.acked_snapshots[b] = Some(version);
                    }
                }
                if p.replicas == ALL_REPLICAS {
                    next.pending = None;
                } else {
                    p.acked = true;
                    next.pending = Some(p);
                }
                Outcome::Acknowledged { op: p.op }
            }
            Action::Crash { replica } => {
                let r = next.replicas.get_mut(usize::from(replica))?;
                if !r.up || s.crashes >= self.cfg.max_crashes || s.pending.is_some() {
                    return None;
                }
                r.up = false;
                next.crashes += 1;
                Outcome::Done
            }
            Action::Restart { replica } => {
                let r = next.replicas.get_mut(usize::from(replica))?;
                if r.up {
                    return None;
                }
                r.up = true;
                Outcome::Done
            }
            _ => return None,
        })
    }
}
