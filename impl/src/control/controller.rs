//! The FC's placement logic as an IO-free state machine: where each role
//! instance runs, which DIPs are free, and which instance lists are still to
//! be pushed to which FA.

use super::error::ControlError;
use super::wire::{quote_untrusted, AgentResponse};
use crate::bugs::{BugSet, SeededBug};
use crate::net::{HostId, InstanceId, InstanceLists, Topology};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use thiserror::Error;

/// Why a move was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum MoveError {
    /// The instance does not exist.
    #[error("no such instance")]
    NoSuchInstance,
    /// The host does not exist.
    #[error("no such host")]
    NoSuchHost,
    /// The instance already runs there.
    #[error("the instance already runs on that host")]
    SameHost,
    /// Every DIP is in use or still in quarantine.
    #[error("no free DIP (all in use or awaiting FA acknowledgement)")]
    NoFreeAddress,
}

/// A freed DIP that must not be handed out yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Quarantine {
    /// The lists version that first left this DIP out.
    freed_in: u64,
    /// Hosts whose FA has not yet applied that version or a later one.
    awaiting: BTreeSet<HostId>,
}

/// The FC's view of placement and the pushes it owes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Controller {
    topology: Topology,
    placement: Vec<(HostId, Ipv4Addr)>,
    quarantine: BTreeMap<Ipv4Addr, Quarantine>,
    outbox: Vec<Option<InstanceLists>>,
    version: u64,
}

impl Controller {
    /// A controller with every instance at its initial place and nothing to push.
    pub fn new(topology: Topology) -> Self {
        let hosts = topology.hosts.len();
        Controller {
            placement: topology.initial_placement.clone(),
            topology,
            quarantine: BTreeMap::new(),
            outbox: vec![None; hosts],
            version: 0,
        }
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Per instance, its host and DIP.
    pub fn placement(&self) -> &[(HostId, Ipv4Addr)] {
        &self.placement
    }

    /// The current instance lists.
    pub fn lists(&self) -> InstanceLists {
        let mut apps: BTreeMap<_, BTreeSet<_>> = BTreeMap::new();
        for ((app, _), (_, ip)) in self.topology.instances.iter().zip(&self.placement) {
            apps.entry(*app).or_default().insert(*ip);
        }
        InstanceLists {
            version: self.version,
            apps,
        }
    }

    /// DIPs freed by a move and not yet released.
    pub fn quarantined(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.quarantine.keys().copied()
    }

    /// Hosts with a push not yet delivered.
    pub fn pending_hosts(&self) -> impl Iterator<Item = HostId> + '_ {
        self.outbox
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_some())
            .map(|(h, _)| h as HostId)
    }

    /// Moves `instance` to `to_host` with the lowest free DIP, and queues the
    /// new lists for every FA. Returns the new DIP.
    pub fn move_instance(
        &mut self,
        instance: InstanceId,
        to_host: HostId,
    ) -> Result<Ipv4Addr, MoveError> {
        let i = usize::from(instance);
        let (from_host, old_ip) = *self.placement.get(i).ok_or(MoveError::NoSuchInstance)?;
        if usize::from(to_host) >= self.topology.hosts.len() {
            return Err(MoveError::NoSuchHost);
        }
        if from_host == to_host {
            return Err(MoveError::SameHost);
        }
        // claim: NET-8 (a freed IP is not reused until every FA has dropped it)
        let new_ip = self
            .topology
            .dip_pool
            .iter()
            .copied()
            .find(|ip| {
                !self.placement.iter().any(|(_, used)| used == ip)
                    && !self.quarantine.contains_key(ip)
            })
            .ok_or(MoveError::NoFreeAddress)?;
        self.placement[i] = (to_host, new_ip);
        self.version += 1;
        let awaiting = (0..self.topology.hosts.len() as HostId).collect();
        self.quarantine.insert(
            old_ip,
            Quarantine {
                freed_in: self.version,
                awaiting,
            },
        );
        let lists = self.lists();
        for slot in &mut self.outbox {
            *slot = Some(lists.clone());
        }
        debug_assert!(
            self.placement
                .iter()
                .map(|(_, ip)| ip)
                .collect::<BTreeSet<_>>()
                .len()
                == self.placement.len()
        );
        Ok(new_ip)
    }

    /// Takes the push owed to `host`, if any.
    pub fn take_push(&mut self, host: HostId) -> Option<InstanceLists> {
        self.outbox.get_mut(usize::from(host))?.take()
    }

    /// Puts back a push that could not be delivered, unless a newer one is queued.
    pub fn requeue_push(&mut self, host: HostId, lists: InstanceLists) {
        if let Some(slot) = self.outbox.get_mut(usize::from(host)) {
            if slot.is_none() {
                *slot = Some(lists);
            }
        }
    }

    /// The FC's handling of an FA's answer to a push of `pushed` to `peer`
    /// (the host whose pinned certificate the TLS connection authenticated).
    ///
    /// Only `AgentResponse::Applied { host, version }` with `host == peer` and
    /// `version == pushed.version` counts: it is recorded with
    /// [`Controller::acknowledge`]`(peer, version)` and `Ok(version)` is
    /// returned. Anything else (another host named, another version, `Pong`,
    /// `Error`) is [`ControlError::UntrustedResponse`] and leaves the
    /// controller exactly as it was.
    ///
    /// This function never touches the outbox. A caller that took the push
    /// with [`Controller::take_push`] still owes it on `Err`, and puts it
    /// back with [`Controller::requeue_push`]`(peer, pushed)`.
    pub fn accept_push_response(
        &mut self,
        peer: HostId,
        pushed: &InstanceLists,
        response: &AgentResponse,
        bugs: BugSet,
    ) -> Result<u64, ControlError> {
        // claim: NET-15 (an FA's answer is untrusted: it counts only as the authenticated peer's acknowledgement of exactly the version pushed)
        match *response {
            AgentResponse::Applied { host, version } if version == pushed.version => {
                if host == peer {
                    self.acknowledge(peer, version);
                    Ok(version)
                } else if bugs.has(SeededBug::FcTrustsResponseHost) {
                    // The seeded bug: the host named in the answer is believed.
                    self.acknowledge(host, version);
                    Ok(version)
                } else {
                    Err(ControlError::UntrustedResponse(format!(
                        "the FA of host {peer} acknowledged version {version} for host {host}"
                    )))
                }
            }
            AgentResponse::Applied { host, version } => Err(ControlError::UntrustedResponse(format!(
                "the FA of host {peer} reported version {version} (for host {host}) for a push of version {}",
                pushed.version
            ))),
            AgentResponse::Pong => Err(ControlError::UntrustedResponse(format!(
                "the FA of host {peer} answered a push with Pong"
            ))),
            AgentResponse::Error { ref message } => Err(ControlError::UntrustedResponse(format!(
                "the FA of host {peer} reported an error: {}",
                quote_untrusted(message)
            ))),
        }
    }

    /// Records that `host`'s FA applied lists `version`: DIPs freed at or
    /// before that version no longer wait for it.
    pub fn acknowledge(&mut self, host: HostId, version: u64) {
        if version > self.version {
            // An FA cannot have applied a version the FC never made; ignore it.
            tracing::warn!(
                host,
                version,
                "FA acknowledged a version the FC never pushed"
            );
            return;
        }
        self.quarantine.retain(|_, q| {
            if q.freed_in <= version {
                q.awaiting.remove(&host);
            }
            !q.awaiting.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_ip_waits_for_every_fa() {
        let t = Topology::example(1, 2, 2, 1);
        let mut fc = Controller::new(t.clone());
        let old = fc.placement()[1].1;
        let new = fc.move_instance(1, 0).expect("spare DIP");
        assert_eq!(new, t.dip_pool[4]);
        assert_eq!(fc.quarantined().collect::<Vec<_>>(), vec![old]);
        // No DIP left but the quarantined one.
        assert_eq!(fc.move_instance(3, 0), Err(MoveError::NoFreeAddress));
        let push = fc.take_push(0).expect("push owed");
        fc.acknowledge(0, push.version);
        assert_eq!(fc.move_instance(3, 0), Err(MoveError::NoFreeAddress));
        let push = fc.take_push(1).expect("push owed");
        fc.acknowledge(1, push.version);
        assert_eq!(fc.move_instance(3, 0), Ok(old));
    }

    #[test]
    fn bogus_acknowledgement_is_ignored() {
        let mut fc = Controller::new(Topology::example(1, 2, 2, 1));
        fc.move_instance(1, 0).expect("spare DIP");
        fc.acknowledge(0, 99);
        fc.acknowledge(1, 99);
        assert_eq!(fc.quarantined().count(), 1);
    }

    /// A controller after one move, and the push taken for host 0.
    fn pushed_to_host_0() -> (Controller, InstanceLists) {
        let mut fc = Controller::new(Topology::example(1, 2, 2, 1));
        fc.move_instance(1, 0).expect("spare DIP");
        let push = fc.take_push(0).expect("push owed");
        (fc, push)
    }

    /// The parts of the controller an answer could change.
    fn records(fc: &Controller) -> (Vec<Ipv4Addr>, Vec<HostId>) {
        (fc.quarantined().collect(), fc.pending_hosts().collect())
    }

    #[test]
    fn honest_answer_is_acknowledged() {
        let (mut fc, push) = pushed_to_host_0();
        let honest = AgentResponse::Applied {
            host: 0,
            version: push.version,
        };
        assert_eq!(
            fc.accept_push_response(0, &push, &honest, BugSet::NONE)
                .expect("honest answer"),
            push.version
        );
        // Host 1 has not applied it yet: the freed DIP still waits.
        assert_eq!(fc.quarantined().count(), 1);
        let push1 = fc.take_push(1).expect("push owed");
        let honest1 = AgentResponse::Applied {
            host: 1,
            version: push1.version,
        };
        fc.accept_push_response(1, &push1, &honest1, BugSet::NONE)
            .expect("honest answer");
        assert_eq!(fc.quarantined().count(), 0);
    }

    #[test]
    fn hostile_answers_are_refused_without_a_trace() {
        let (mut fc, push) = pushed_to_host_0();
        let v = push.version;
        for answer in [
            // Another host named: its record must not change.
            AgentResponse::Applied {
                host: 1,
                version: v,
            },
            // A host that does not exist.
            AgentResponse::Applied {
                host: HostId::MAX,
                version: v,
            },
            // Another version, newer or older.
            AgentResponse::Applied {
                host: 0,
                version: v + 1,
            },
            AgentResponse::Applied {
                host: 0,
                version: v - 1,
            },
            AgentResponse::Applied {
                host: 0,
                version: u64::MAX,
            },
            AgentResponse::Pong,
            AgentResponse::Error {
                message: "\nERROR forged log line".repeat(1000),
            },
        ] {
            let before = fc.clone();
            let before_records = records(&fc);
            match fc.accept_push_response(0, &push, &answer, BugSet::NONE) {
                Err(ControlError::UntrustedResponse(why)) => {
                    assert!(why.len() < 1_000, "peer text is cut short: {why}");
                    assert!(!why.contains('\n'), "peer text is quoted: {why}");
                }
                other => panic!("{answer:?}: {other:?}"),
            }
            assert_eq!(records(&fc), before_records, "{answer:?}");
            assert_eq!(fc, before, "{answer:?}");
        }
        // The push is still owed to host 1 and, once requeued, to host 0.
        assert_eq!(fc.pending_hosts().collect::<Vec<_>>(), vec![1]);
        fc.requeue_push(0, push);
        assert_eq!(fc.pending_hosts().collect::<Vec<_>>(), vec![0, 1]);
    }

    #[cfg(feature = "seeded-bugs")]
    #[test]
    fn seeded_bug_believes_the_host_named_in_the_answer() {
        let (mut fc, push) = pushed_to_host_0();
        let bugs = BugSet::only(SeededBug::FcTrustsResponseHost);
        let lie = AgentResponse::Applied {
            host: 1,
            version: push.version,
        };
        // Without the bug switched on, the lie is refused as usual.
        assert!(fc
            .accept_push_response(0, &push, &lie, BugSet::NONE)
            .is_err());
        assert_eq!(
            fc.accept_push_response(0, &push, &lie, bugs)
                .expect("the bug believes it"),
            push.version
        );
        // Host 1 counts as having applied the lists it never got: once host 0
        // really applies them, the freed DIP is released too early.
        let honest = AgentResponse::Applied {
            host: 0,
            version: push.version,
        };
        fc.accept_push_response(0, &push, &honest, bugs)
            .expect("honest answer");
        assert_eq!(fc.quarantined().count(), 0);
        assert_eq!(fc.pending_hosts().collect::<Vec<_>>(), vec![1]);
        // A wrong version is still refused.
        let stale = AgentResponse::Applied {
            host: 1,
            version: push.version + 1,
        };
        assert!(fc.accept_push_response(0, &push, &stale, bugs).is_err());
    }

    #[test]
    fn move_errors() {
        let mut fc = Controller::new(Topology::example(1, 2, 2, 1));
        assert_eq!(fc.move_instance(9, 0), Err(MoveError::NoSuchInstance));
        assert_eq!(fc.move_instance(0, 9), Err(MoveError::NoSuchHost));
        assert_eq!(fc.move_instance(0, 0), Err(MoveError::SameHost));
    }
}
