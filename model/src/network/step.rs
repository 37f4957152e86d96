//! The transition system: the initial state and `step`, the single source
//! of truth for outcomes and next states.

use super::*;
use crate::trace::TracedModel;
use serde_json::{Map, Value};

impl NetworkModel {
    pub(super) fn initial_placement(&self, i: u8) -> Placement {
        Placement {
            host: i % self.cfg.hosts,
            dip: i,
        }
    }

    pub(super) fn initial_states(&self) -> Vec<NetworkState> {
        vec![self.initial_state()]
    }

    pub(super) fn initial_state(&self) -> NetworkState {
        let placement: Vec<Placement> = (0..self.instances())
            .map(|i| self.initial_placement(i))
            .collect();
        let mut s = NetworkState {
            placement,
            moves: 0,
            filters: Vec::new(),
            pending: vec![None; usize::from(self.cfg.hosts)],
            quarantine: vec![0; usize::from(self.dips())],
            conntrack: Vec::new(),
            broken: ClaimSet::EMPTY,
            last: None,
        };
        let lists = self.fc_lists(&s);
        s.filters = vec![lists; usize::from(self.cfg.hosts)];
        s
    }
}

crate::kit::forward_model_to_step!(NetworkModel, NetworkState, Action, network_properties);

impl TracedModel for NetworkModel {
    type Outcome = Outcome;
    const AREA: &'static str = "network";

    fn step(&self, s: &NetworkState, action: &Action) -> Option<(Outcome, NetworkState)> {
        // An action naming a node, address or host outside the bounds (a
        // hand-edited trace) is not enabled anywhere.
        if !self.in_bounds(action) {
            return None;
        }
        let mut next = s.clone();
        next.last = None;
        let outcome = match *action {
            Action::Open { .. }
            | Action::Reply { .. }
            | Action::Datagram { .. }
            | Action::Broadcast { .. } => self.step_packet(s, action, &mut next)?,
            Action::Close { conn } => {
                let at = next.conntrack.iter().position(|c| *c == conn)?;
                next.conntrack.remove(at);
                Outcome::Closed
            }
            Action::Move { instance, to_host } => {
                self.step_move(s, instance, to_host, &mut next)?
            }
            Action::FaApply { host } => {
                let outcome = self.step_fa_apply(host, &mut next)?;
                // claim: NET-15 (an honest answer is judged like any other)
                next.broken = next.broken.union(claims_broken_by_answer(host, s, &next));
                outcome
            }
            Action::HostileResponse { host, forgery } => {
                let outcome = self.step_hostile_response(s, host, forgery, &mut next)?;
                // claim: NET-15 (judged by what changed, not by the FC's code path)
                next.broken = next.broken.union(claims_broken_by_answer(host, s, &next));
                if matches!(outcome, Outcome::Refused { .. }) {
                    next.last = Some(Witness::FcRefusedHostileAnswer);
                }
                outcome
            }
            Action::Control {
                principal,
                endpoint,
            } => self.step_control(principal, endpoint, &mut next),
        };
        Some((outcome, next))
    }

    fn action_kind(action: &Action) -> &'static str {
        Self::kind_of(action)
    }

    fn action_shape(&self, s: &NetworkState, action: &Action) -> String {
        if !self.in_bounds(action) {
            return format!("{} out-of-bounds", Self::kind_of(action));
        }
        self.shape_of(s, action)
    }

    fn outcome_kind(outcome: &Outcome) -> String {
        match outcome {
            Outcome::Delivered { .. } => "delivered".into(),
            Outcome::Dropped { reason } => format!("dropped:{reason:?}"),
            Outcome::Moved { .. } => "moved".into(),
            Outcome::Applied => "applied".into(),
            Outcome::Closed => "closed".into(),
            Outcome::Accepted => "accepted".into(),
            Outcome::Refused { reason } => format!("refused:{reason:?}"),
        }
    }

    fn claims_touched(
        &self,
        before: &NetworkState,
        action: &Action,
        outcome: &Outcome,
    ) -> ClaimSet {
        if !self.in_bounds(action) {
            return ClaimSet::EMPTY;
        }
        match (action, outcome) {
            (_, Outcome::Dropped { reason } | Outcome::Refused { reason }) => reason.claims(),
            (Action::Move { .. }, _) => claims![NET - 8],
            (Action::FaApply { .. } | Action::HostileResponse { .. }, _) => {
                claims![NET - 8, NET - 15]
            }
            (Action::Control { .. }, Outcome::Accepted) => claims![NET - 14],
            (_, Outcome::Delivered { to }) => {
                let Some(p) = self.packet_for(before, action) else {
                    return ClaimSet::EMPTY;
                };
                let broken = claims_broken_by(self, before, &p, to);
                let shown = match self.witness(before, &p, to) {
                    Some(Witness::FcGotReply) => claims![NET - 1],
                    Some(Witness::FaAnsweredFc) => claims![NET - 1, NET - 3],
                    Some(Witness::FcReachedDevice) => claims![NET - 2, NET - 13],
                    Some(Witness::IntraApp) => claims![NET - 4, NET - 5, NET - 8],
                    Some(Witness::IntraAppAfterMove) => claims![NET - 4, NET - 5, NET - 8],
                    Some(Witness::VmReachedInternet) => claims![NET - 6, NET - 9],
                    Some(Witness::HostBroadcast) => claims![NET - 7],
                    Some(Witness::CrossAppViaVip) => claims![NET - 9],
                    Some(Witness::WebServedInternet) => claims![NET - 10, NET - 11],
                    Some(Witness::WorkerGotReply) => claims![NET - 11],
                    Some(Witness::CorpReachedMgmt) => claims![NET - 12],
                    Some(Witness::FaAcceptedFc | Witness::FcAcceptedPinnedClient) => {
                        claims![NET - 14]
                    }
                    Some(Witness::FcRefusedHostileAnswer) => claims![NET - 15],
                    None => ClaimSet::EMPTY,
                };
                broken.union(shown)
            }
            _ => ClaimSet::EMPTY,
        }
    }

    fn narrate(&self, before: &NetworkState, action: &Action, outcome: &Outcome) -> String {
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

    fn itf_vars(&self, s: &NetworkState) -> Map<String, Value> {
        self.itf_state(s)
    }

    fn bounds_line(&self) -> String {
        let c = &self.cfg;
        format!(
            "fc_replicas={} hosts={} apps={} spare_ips={} max_moves={} max_connections={}",
            c.fc_replicas, c.hosts, c.apps, c.spare_ips, c.max_moves, c.max_connections
        )
    }

    fn flaw_name(&self) -> Option<&'static str> {
        self.cfg.flaw.map(Flaw::name)
    }

    fn broken_claims(state: &NetworkState) -> ClaimSet {
        state.broken
    }
}

impl NetworkModel {
    /// A packet action: sent through filters, router and switch; a new
    /// tracked connection needs room in the router's table.
    fn step_packet(
        &self,
        s: &NetworkState,
        action: &Action,
        next: &mut NetworkState,
    ) -> Option<Outcome> {
        let p = self.packet_for(s, action)?;
        let (result, track) = self.send(s, &p);
        Some(match result {
            Ok(to) => {
                let key = self.conn_key(&p);
                if track && !next.conntrack.contains(&key) {
                    if next.conntrack.len() >= usize::from(self.cfg.max_connections) {
                        return Some(Outcome::Dropped {
                            reason: DropReason::ConntrackFull,
                        });
                    }
                    next.conntrack.push(key);
                    next.conntrack.sort();
                }
                next.broken = next.broken.union(claims_broken_by(self, s, &p, &to));
                next.last = self.witness(s, &p, &to);
                Outcome::Delivered { to }
            }
            Err(reason) => Outcome::Dropped { reason },
        })
    }

    /// The FC moves an instance to another host and pushes new lists.
    fn step_move(
        &self,
        s: &NetworkState,
        instance: u8,
        to_host: u8,
        next: &mut NetworkState,
    ) -> Option<Outcome> {
        let i = usize::from(instance);
        if s.moves >= self.cfg.max_moves
            || instance >= self.instances()
            || to_host >= self.cfg.hosts
        {
            return None;
        }
        if s.placement[i].host == to_host {
            return None;
        }
        let dip = self.free_dip(s)?;
        let old = s.placement[i].dip;
        next.placement[i] = Placement { host: to_host, dip };
        next.moves += 1;
        next.quarantine[usize::from(old)] = (1u16 << self.cfg.hosts) - 1;
        let lists = self.fc_lists(next);
        for pending in next.pending.iter_mut() {
            *pending = Some(lists.clone());
        }
        Some(Outcome::Moved { dip })
    }

    /// An FA applies the lists pushed to it and acknowledges.
    fn step_fa_apply(&self, host: u8, next: &mut NetworkState) -> Option<Outcome> {
        let h = usize::from(host);
        let lists = next.pending.get_mut(h)?.take()?;
        if self.has(Flaw::FaMergesLists) {
            for (old, new) in next.filters[h].iter_mut().zip(&lists) {
                *old |= new;
            }
        } else {
            next.filters[h] = lists;
        }
        for q in next.quarantine.iter_mut() {
            *q &= !(1u16 << host);
        }
        Some(Outcome::Applied)
    }

    /// A compromised FA answers a push with something other than its own
    /// acknowledgement.
    fn step_hostile_response(
        &self,
        s: &NetworkState,
        host: u8,
        forgery: Forgery,
        next: &mut NetworkState,
    ) -> Option<Outcome> {
        s.pending.get(usize::from(host))?.as_ref()?;
        Some(match forgery {
            // claim: NET-15 (an answer counts only for the peer that was authenticated)
            Forgery::AckForHost(other) if other == host || other >= self.cfg.hosts => return None,
            Forgery::AckForHost(other) if self.has(Flaw::FcTrustsResponseFields) => {
                // The FC believes the other host applied its list.
                next.pending[usize::from(other)] = None;
                for q in next.quarantine.iter_mut() {
                    *q &= !(1u16 << other);
                }
                Outcome::Applied
            }
            Forgery::AckForHost(_) | Forgery::Garbage => Outcome::Refused {
                reason: DropReason::UntrustedResponse,
            },
        })
    }

    /// A control message to a TLS endpoint, judged by the client's credential.
    fn step_control(
        &self,
        principal: Principal,
        endpoint: ControlEndpoint,
        next: &mut NetworkState,
    ) -> Outcome {
        match self.authenticate(principal, endpoint) {
            Ok(()) => {
                if principal != endpoint.legitimate() {
                    next.broken.insert(claim!(NET - 14));
                }
                if principal == endpoint.legitimate() {
                    next.last = Some(match endpoint {
                        ControlEndpoint::Fa(_) => Witness::FaAcceptedFc,
                        ControlEndpoint::FcSmapi | ControlEndpoint::FcAdmin => {
                            Witness::FcAcceptedPinnedClient
                        }
                    });
                }
                Outcome::Accepted
            }
            Err(reason) => Outcome::Refused { reason },
        }
    }
}
