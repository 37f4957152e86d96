//! The mechanism: egress filter, router with connection tracking, switch,
//! ingress filter, FC placement with IP quarantine, TLS credential checks.

use super::*;

impl NetworkModel {
    /// The sending VM's port filter (hypervisor and root OS).
    pub(super) fn egress(&self, s: &NetworkState, vm: u8, p: &Packet) -> Result<(), DropReason> {
        let own = Addr::Dip(s.placement[usize::from(vm)].dip);
        // claim: NET-4
        if p.src != own && !self.has(Flaw::FilterSkipsSourceCheck) {
            return Err(DropReason::SpoofedSource);
        }
        // claim: NET-7
        if p.dst == Addr::Broadcast && !self.has(Flaw::BroadcastNotDropped) {
            return Err(DropReason::Broadcast);
        }
        // claim: NET-6
        let infrastructure = matches!(
            p.dst,
            Addr::Fc(_) | Addr::Host(_) | Addr::Device(_) | Addr::Storage
        );
        if infrastructure && !self.has(Flaw::FilterAllowsInfrastructure) {
            return Err(DropReason::InfrastructureEndpoint);
        }
        // claim: NET-9 (other applications are Internet traffic)
        let to_internet = matches!(p.dst, Addr::Internet | Addr::Vip(_));
        if to_internet
            && !p.reply
            && !Self::outbound_allowed(Self::app_of(vm))
            && !self.has(Flaw::EgressIgnoresOutbound)
        {
            return Err(DropReason::OutboundNotAllowed);
        }
        Ok(())
    }

    /// The router between VLANs and the edge; `Ok(true)` when the packet opens
    /// a connection that must be tracked.
    pub(super) fn route(&self, s: &NetworkState, p: &Packet) -> Result<bool, DropReason> {
        let from = Self::vlan_of(p.sender);
        let to = Self::vlan_of_addr(p.dst, p.sender);
        let tracked = p.reply
            && s.conntrack
                .iter()
                .any(|c| c.src == p.dst && c.target == p.src && c.port == p.port);
        if p.reply {
            return if tracked {
                Ok(false)
            } else {
                Err(DropReason::VlanPolicy)
            };
        }
        let crossing = from != to;
        match (from, to) {
            (Vlan::Main, Vlan::Fc) => {
                // claim: NET-1, NET-3
                let pinhole = self.has(Flaw::FaMayDialFc)
                    && matches!(p.sender, Node::Host(_))
                    && p.port == Port::Control;
                if !(self.has(Flaw::RouterForgetsDirection) || pinhole) {
                    return Err(DropReason::VlanPolicy);
                }
            }
            // claim: NET-2, NET-13
            (Vlan::Main, Vlan::Device) if !self.has(Flaw::RouterAllowsMainToDevice) => {
                return Err(DropReason::VlanPolicy);
            }
            // claim: NET-13
            (Vlan::External, Vlan::Device) if !self.has(Flaw::EdgeRoutesToDevices) => {
                return Err(DropReason::VlanPolicy);
            }
            (Vlan::External, Vlan::Fc)
            | (Vlan::Device, Vlan::Main)
            | (Vlan::Device, Vlan::External) => {
                return Err(DropReason::VlanPolicy);
            }
            // claim: NET-11 (only VIPs are exposed; DIPs never)
            (Vlan::External, Vlan::Main) if !self.has(Flaw::EdgeExposesDips) => {
                return Err(DropReason::NotExposed);
            }
            // claim: NET-12
            (_, Vlan::Management) if p.sender != Node::Corp && !self.has(Flaw::MgmtAclMissing) => {
                return Err(DropReason::CorpAcl);
            }
            _ => {}
        }
        // The load balancer keeps its own flow state for VIPs; the router
        // tracks what crosses between VLANs and out to the Internet.
        Ok(crossing && to != Vlan::Management && !matches!(p.dst, Addr::Vip(_)))
    }

    /// The receiving VM's port filter.
    pub(super) fn ingress(&self, s: &NetworkState, vm: u8, p: &Packet) -> Result<(), DropReason> {
        let app = Self::app_of(vm);
        let host = s.placement[usize::from(vm)].host;
        // claim: NET-10
        if p.port.is_remote_access() && !self.has(Flaw::RemoteAccessOpen) {
            return Err(DropReason::RemoteAccessDisabled);
        }
        // claim: NET-7
        if p.dst == Addr::Broadcast && !self.has(Flaw::BroadcastNotDropped) {
            return Err(DropReason::Broadcast);
        }
        if p.reply {
            return Ok(());
        }
        // claim: NET-9, NET-11
        if let Addr::Vip(a) = p.dst {
            return if a == app && Self::role_of(vm) == Role::Web && Self::inbound_allowed(app) {
                Ok(())
            } else {
                Err(DropReason::InboundNotAllowed)
            };
        }
        match p.sender {
            Node::Fc(_) | Node::Internet => Ok(()),
            Node::Host(h) if h == host => Ok(()),
            _ => match p.src {
                // claim: NET-8
                Addr::Dip(d) if s.filters[usize::from(host)][usize::from(app)] & (1 << d) != 0 => {
                    Ok(())
                }
                _ => Err(DropReason::NotInAllowList),
            },
        }
    }

    /// Sends `p` through filters, router and switch: the receivers, or why
    /// nobody received it. Also says whether a connection is to be tracked.
    pub fn send(&self, s: &NetworkState, p: &Packet) -> (Result<Vec<Node>, DropReason>, bool) {
        if let Node::Vm(vm) = p.sender {
            if let Err(r) = self.egress(s, vm, p) {
                return (Err(r), false);
            }
        }
        let track = match self.route(s, p) {
            Ok(t) => t,
            Err(r) => return (Err(r), false),
        };
        let candidates: Vec<Node> = if p.dst == Addr::Broadcast {
            self.vlan_members(s, Self::vlan_of(p.sender))
                .into_iter()
                .filter(|n| *n != p.sender)
                .collect()
        } else {
            match Self::resolve(s, p.dst) {
                Some(n) => vec![n],
                None => return (Err(DropReason::NoSuchAddress), false),
            }
        };
        let mut received = Vec::new();
        let mut last_drop = DropReason::NoSuchAddress;
        for node in candidates {
            match node {
                Node::Vm(vm) => match self.ingress(s, vm, p) {
                    Ok(()) => received.push(node),
                    Err(r) => last_drop = r,
                },
                _ => received.push(node),
            }
        }
        // claim: NET-5 (a port receives only frames addressed to it)
        if self.has(Flaw::SwitchFloodsPorts) && !received.is_empty() {
            if let Addr::Dip(d) = p.dst {
                if let Some(owner) = Self::owner_of(s, d) {
                    let host = s.placement[usize::from(owner)].host;
                    for (i, pl) in s.placement.iter().enumerate() {
                        let other = Node::Vm(i as u8);
                        if pl.host == host && i as u8 != owner && other != p.sender {
                            received.push(other);
                        }
                    }
                }
            }
        }
        received.sort();
        received.dedup();
        if received.is_empty() {
            (Err(last_drop), false)
        } else {
            (Ok(received), track)
        }
    }

    pub(super) fn vlan_members(&self, s: &NetworkState, vlan: Vlan) -> Vec<Node> {
        let mut nodes = Vec::new();
        match vlan {
            Vlan::Fc => nodes.extend((0..self.cfg.fc_replicas).map(Node::Fc)),
            Vlan::Main => {
                nodes.extend((0..self.cfg.hosts).map(Node::Host));
                nodes.extend((0..s.placement.len() as u8).map(Node::Vm));
                nodes.push(Node::Storage);
            }
            Vlan::Device => nodes.extend(DEVICES.map(Node::Device)),
            Vlan::External | Vlan::Management => {}
        }
        nodes
    }

    /// The TLS endpoint's check of the client's credential.
    pub fn authenticate(
        &self,
        principal: Principal,
        endpoint: ControlEndpoint,
    ) -> Result<(), DropReason> {
        match endpoint {
            // claim: NET-14 (FC certificates chain to the fabric root)
            ControlEndpoint::Fa(_) => {
                if principal == Principal::Fc || self.has(Flaw::FaSkipsClientAuth) {
                    Ok(())
                } else {
                    Err(DropReason::UnauthenticatedPeer)
                }
            }
            // claim: NET-14 (SMAPI and admin certificates are pinned by fingerprint)
            ControlEndpoint::FcSmapi | ControlEndpoint::FcAdmin => {
                if principal == endpoint.legitimate() || self.has(Flaw::FcSkipsPinning) {
                    Ok(())
                } else {
                    Err(DropReason::UnpinnedFingerprint)
                }
            }
        }
    }

    pub(super) fn free_dip(&self, s: &NetworkState) -> Option<u8> {
        (0..self.dips()).find(|d| {
            Self::owner_of(s, *d).is_none()
                // claim: NET-8 (a freed IP waits until every FA dropped it)
                && (s.quarantine[usize::from(*d)] == 0 || self.has(Flaw::FcReusesIpEarly))
        })
    }
}
