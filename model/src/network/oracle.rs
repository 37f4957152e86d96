//! The oracle: the claims' own words, knowing nothing of the mechanism.

use super::*;

impl NetworkModel {
    /// The allowed case a delivery shows, for the `sometimes` properties.
    pub(super) fn witness(&self, s: &NetworkState, p: &Packet, to: &[Node]) -> Option<Witness> {
        let moved = |i: u8| s.placement[usize::from(i)] != self.initial_placement(i);
        for r in to {
            let w = match (p.sender, *r) {
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
