//! The oracle: the claims' own words, knowing nothing of the mechanism.

use super::*;
use crate::kit::Judged;

impl NetworkModel {
    /// The allowed case a delivery shows, for the `sometimes` properties.
    pub(super) fn witness(&self, s: &NetworkState, p: &Packet, to: &[Node]) -> Option<Witness> {
        let moved = |i: u8| s.placement[usize::from(i)] != self.initial_placement(i);
        for r in to {
            let w = match (p.sender, *r) {
                (Node::Host(_), Node::Fc(_)) if p.reply => Some(Witness::FaAnsweredFc),
                (_, Node::Fc(_)) if p.reply && Self::vlan_of(p.sender) == Vlan::Main => {
                    Some(Witness::FcGotReply)
                }
                (Node::Internet, Node::Vm(y)) if p.reply && Self::role_of(y) == Role::Worker => {
                    Some(Witness::WorkerGotReply)
                }
                (Node::Fc(_), Node::Device(_)) => Some(Witness::FcReachedDevice),
                (Node::Corp, Node::Mgmt) => Some(Witness::CorpReachedMgmt),
                (Node::Host(_), _) if p.dst == Addr::Broadcast => Some(Witness::HostBroadcast),
                (Node::Internet, Node::Vm(_)) if matches!(p.dst, Addr::Vip(_)) => {
                    Some(Witness::WebServedInternet)
                }
                (Node::Vm(x), Node::Vm(y))
                    if Self::app_of(x) != Self::app_of(y) && matches!(p.dst, Addr::Vip(_)) =>
                {
                    Some(Witness::CrossAppViaVip)
                }
                (Node::Vm(x), Node::Vm(y))
                    if Self::app_of(x) == Self::app_of(y) && matches!(p.dst, Addr::Dip(_)) =>
                {
                    Some(if moved(x) || moved(y) {
                        Witness::IntraAppAfterMove
                    } else {
                        Witness::IntraApp
                    })
                }
                (Node::Vm(_), Node::Internet) => Some(Witness::VmReachedInternet),
                _ => None,
            };
            if w.is_some() {
                return w;
            }
        }
        None
    }
}

/// The claims a delivery breaks, judged from the claims' own words: `p` was
/// sent in state `s` and reached every node of `to`.
pub fn claims_broken_by(
    model: &NetworkModel,
    s: &NetworkState,
    p: &Packet,
    to: &[Node],
) -> ClaimSet {
    let mut broken = ClaimSet::EMPTY;
    let from_vlan = NetworkModel::vlan_of(p.sender);
    let is_vm = |n: Node| matches!(n, Node::Vm(_));
    let addressed_to = |y: u8| {
        p.dst == Addr::Dip(s.placement[usize::from(y)].dip)
            || (p.dst == Addr::Vip(NetworkModel::app_of(y))
                && NetworkModel::role_of(y) == Role::Web)
    };
    if let Node::Vm(x) = p.sender {
        if p.src != Addr::Dip(s.placement[usize::from(x)].dip) {
            broken.insert(claim!(NET - 4));
        }
    }
    for &r in to {
        if !p.reply && from_vlan == Vlan::Main && matches!(r, Node::Fc(_)) {
            broken.insert(claim!(NET - 1));
        }
        if from_vlan == Vlan::Main && matches!(r, Node::Device(_)) {
            broken.insert(claim!(NET - 2));
        }
        if !p.reply
            && matches!(p.sender, Node::Host(_))
            && matches!(r, Node::Fc(_) | Node::Device(_) | Node::Mgmt)
        {
            broken.insert(claim!(NET - 3));
        }
        if let Node::Vm(y) = r {
            if p.dst != Addr::Broadcast && !addressed_to(y) {
                broken.insert(claim!(NET - 5));
            }
        }
        if is_vm(p.sender)
            && matches!(
                r,
                Node::Fc(_) | Node::Host(_) | Node::Device(_) | Node::Storage
            )
        {
            broken.insert(claim!(NET - 6));
        }
        if p.dst == Addr::Broadcast && (is_vm(p.sender) || is_vm(r)) {
            broken.insert(claim!(NET - 7));
        }
        if let (Node::Vm(x), Node::Vm(y)) = (p.sender, r) {
            let (ax, ay) = (NetworkModel::app_of(x), NetworkModel::app_of(y));
            if matches!(p.dst, Addr::Dip(_)) && !p.reply {
                let src_is_peer = (0..model.instances()).any(|i| {
                    NetworkModel::app_of(i) == ay
                        && p.src == Addr::Dip(s.placement[usize::from(i)].dip)
                });
                if ax != ay || !src_is_peer {
                    broken.insert(claim!(NET - 8));
                }
            }
            let via_vip_with_consent = matches!(p.dst, Addr::Vip(_))
                && NetworkModel::outbound_allowed(ax)
                && NetworkModel::inbound_allowed(ay);
            if ax != ay && !p.reply && !via_vip_with_consent {
                broken.insert(claim!(NET - 9));
            }
        }
        if is_vm(r) && p.port.is_remote_access() {
            broken.insert(claim!(NET - 10));
        }
        if let Node::Vm(y) = r {
            if p.sender == Node::Internet && !p.reply && NetworkModel::role_of(y) == Role::Worker {
                broken.insert(claim!(NET - 11));
            }
        }
        if r == Node::Mgmt && p.sender != Node::Corp {
            broken.insert(claim!(NET - 12));
        }
        if matches!(r, Node::Device(_)) && (p.sender == Node::Internet || is_vm(p.sender)) {
            broken.insert(claim!(NET - 13));
        }
    }
    broken
}

/// The claims the FC's handling of `host`'s answer to a push breaks,
/// judged from NET-15's words: an answer, honest or hostile, changes
/// nothing of the FC's state outside that node's record (the push owed to
/// it, whether it applied the lists, and its own filters). "Never crashes
/// the FC" is the FC giving every answer a verdict: a step with an outcome.
pub fn claims_broken_by_answer(host: u8, before: &NetworkState, after: &NetworkState) -> ClaimSet {
    fn others_kept<T: PartialEq>(h: usize, v: &[T], w: &[T]) -> bool {
        v.len() == w.len() && (0..v.len()).filter(|i| *i != h).all(|i| v[i] == w[i])
    }
    let h = usize::from(host);
    let mine = !(1u16 << host);
    let quarantine_kept = before.quarantine.len() == after.quarantine.len()
        && before
            .quarantine
            .iter()
            .zip(&after.quarantine)
            .all(|(b, a)| b & mine == a & mine);
    let kept = before.placement == after.placement
        && before.moves == after.moves
        && before.conntrack == after.conntrack
        && others_kept(h, &before.filters, &after.filters)
        && others_kept(h, &before.pending, &after.pending)
        && quarantine_kept;
    if kept {
        ClaimSet::EMPTY
    } else {
        claims![NET - 15]
    }
}

/// What the oracle judged on a step, for the area contract's witness
/// rules ([`crate::kit`]): each claim whose premise held, in the words of
/// the claim, with the case it was. A judgment is read from the packet and
/// who received it, the control message and its verdict, or the FA's
/// answer; never from the mechanism.
pub fn judged(
    model: &NetworkModel,
    before: &NetworkState,
    action: &Action,
    outcome: &Outcome,
    _after: &NetworkState,
) -> Vec<Judged> {
    let judged = |claim, situation| Judged { claim, situation };
    match (action, outcome) {
        (_, Outcome::Delivered { to }) => model
            .packet_for(before, action)
            .map_or_else(Vec::new, |p| packet_premises(&p, to)),
        // claim: NET-14 (one case per channel the claim names)
        (Action::Control { endpoint, .. }, Outcome::Accepted) => {
            let channel = match endpoint {
                ControlEndpoint::Fa(_) => "fc-to-fa",
                ControlEndpoint::FcSmapi => "smapi-to-fc",
                ControlEndpoint::FcAdmin => "admin-to-fc",
            };
            vec![judged(claim!(NET - 14), channel)]
        }
        // claim: NET-15 (every answer an FA gives is judged)
        (Action::HostileResponse { .. }, _) => vec![judged(claim!(NET - 15), "hostile-answer")],
        (Action::FaApply { .. }, _) => vec![judged(claim!(NET - 15), "honest-answer")],
        _ => Vec::new(),
    }
}

/// The premises of NET-1 to NET-13 that a delivery of `p` to `to` meets:
/// the claim speaks of such a packet, so its `always` judged it.
fn packet_premises(p: &Packet, to: &[Node]) -> Vec<Judged> {
    let mut out = Vec::new();
    let mut judged = |claim, situation| {
        let j = Judged { claim, situation };
        if !out.contains(&j) {
            out.push(j);
        }
    };
    let main = NetworkModel::vlan_of(p.sender) == Vlan::Main;
    let vm_sent = matches!(p.sender, Node::Vm(_));
    if vm_sent {
        judged(claim!(NET - 4), "guest-sends");
        judged(claim!(NET - 6), "guest-sends");
    }
    if p.dst == Addr::Broadcast {
        judged(claim!(NET - 7), "broadcast");
    }
    for &r in to {
        let vm_got = matches!(r, Node::Vm(_));
        if main && matches!(r, Node::Fc(_)) {
            judged(claim!(NET - 1), "main-to-fc");
        }
        if matches!(r, Node::Device(_)) {
            judged(claim!(NET - 2), "to-device");
            judged(claim!(NET - 13), "to-device");
        }
        if matches!(p.sender, Node::Host(_))
            && matches!(r, Node::Fc(_) | Node::Device(_) | Node::Mgmt)
        {
            judged(claim!(NET - 3), "fa-to-privileged");
        }
        if vm_got && p.dst != Addr::Broadcast {
            judged(claim!(NET - 5), "guest-receives");
        }
        if let (Node::Vm(x), Node::Vm(y)) = (p.sender, r) {
            if matches!(p.dst, Addr::Dip(_)) {
                judged(claim!(NET - 8), "guest-to-dip");
            }
            if NetworkModel::app_of(x) != NetworkModel::app_of(y) {
                judged(claim!(NET - 9), "cross-app");
            }
        }
        if vm_got {
            judged(claim!(NET - 10), "guest-receives");
        }
        if vm_got && p.sender == Node::Internet {
            judged(claim!(NET - 11), "internet-to-guest");
        }
        if r == Node::Mgmt {
            judged(claim!(NET - 12), "to-mgmt");
        }
    }
    out
}
