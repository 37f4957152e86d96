//! Every allow/deny decision of the virtual network, as pure functions over
//! the rule set, a port, and a packet. No clock, no IO, no randomness.

use super::addr::{NodeId, Packet, Role, Vlan, BROADCAST};
use super::filter::{HostFilters, PortFilter};
use super::rules::{RuleSet, VlanVerdict};
use super::verdict::Denied;
use crate::bugs::SeededBug;

/// The sending VM's port filter.
pub fn egress(rules: &RuleSet, port: &PortFilter, pkt: &Packet) -> Result<(), Denied> {
    let bugs = rules.bugs;
    // claim: NET-4
    if pkt.src != port.ip && !bugs.has(SeededBug::NoSourceCheck) {
        return Err(Denied::SpoofedSource);
    }
    // claim: NET-7
    if pkt.dst == BROADCAST && !bugs.has(SeededBug::BroadcastPasses) {
        return Err(Denied::Broadcast);
    }
    // claim: NET-6
    if rules.infrastructure.contains(&pkt.dst) && !bugs.has(SeededBug::NoInfrastructureFilter) {
        return Err(Denied::InfrastructureEndpoint);
    }
    // claim: NET-9 (another application's VIP is Internet traffic)
    let to_internet = rules.vlan_of(pkt.dst, Vlan::Main) == Vlan::External;
    let outbound = rules
        .apps
        .get(usize::from(port.app))
        .is_some_and(|a| a.outbound_internet);
    if to_internet && !pkt.reply && !outbound && !bugs.has(SeededBug::IgnoresOutboundSetting) {
        return Err(Denied::OutboundNotAllowed);
    }
    Ok(())
}

/// How the router treats a packet that it lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Routed {
    /// The packet opens a connection that must be tracked so its replies pass.
    pub track: bool,
}

/// The router between VLANs and the edge. `tracked` says whether the packet
/// matches a tracked connection in the reverse direction.
pub fn route(
    rules: &RuleSet,
    sender: NodeId,
    from: Vlan,
    pkt: &Packet,
    tracked: bool,
) -> Result<Routed, Denied> {
    let bugs = rules.bugs;
    let to = rules.vlan_of(pkt.dst, from);
    // claim: NET-1, NET-3 (a reply passes only on a connection the other side opened)
    if pkt.reply {
        return if tracked {
            Ok(Routed { track: false })
        } else {
            Err(Denied::VlanPolicy)
        };
    }
    if from == to {
        return Ok(Routed { track: false });
    }
    let verdict = rules
        .vlan_verdict(from, to)
        .unwrap_or(VlanVerdict::RepliesOnly);
    let admitted = match verdict {
        VlanVerdict::Allow => Ok(()),
        VlanVerdict::RepliesOnly => {
            let bug = match (from, to) {
                // claim: NET-1
                (Vlan::Main, Vlan::Fc) => {
                    bugs.has(SeededBug::RouterAdmitsMainToFc)
                        || (bugs.has(SeededBug::RouterHostPinhole)
                            && matches!(sender, NodeId::Host(_)))
                }
                // claim: NET-2
                (Vlan::Main, Vlan::Device) => bugs.has(SeededBug::RouterAdmitsMainToDevice),
                // claim: NET-13
                (Vlan::External, Vlan::Device) => bugs.has(SeededBug::EdgeRoutesToDevices),
                _ => false,
            };
            if bug {
                Ok(())
            } else {
                Err(Denied::VlanPolicy)
            }
        }
        // claim: NET-11
        VlanVerdict::VipsOnly => {
            if rules.vip_app(pkt.dst).is_some() || bugs.has(SeededBug::EdgeForwardsToDips) {
                Ok(())
            } else {
                Err(Denied::NotExposed)
            }
        }
        // claim: NET-12
        VlanVerdict::CorpOnly => {
            if rules.corp_ranges.iter().any(|c| c.contains(pkt.src))
                || bugs.has(SeededBug::MgmtAclOpen)
            {
                Ok(())
            } else {
                Err(Denied::CorpAcl)
            }
        }
    };
    admitted?;
    // The load balancer keeps its own flow state for VIPs, and the management
    // endpoint answers on its own; the router tracks the rest.
    let track = to != Vlan::Management && rules.vip_app(pkt.dst).is_none();
    Ok(Routed { track })
}

/// The receiving VM's port filter. `sender_vlan` is where the packet entered
/// the fabric; `tracked` whether it is a reply on a tracked connection.
pub fn ingress(
    rules: &RuleSet,
    port: &PortFilter,
    filters: &HostFilters,
    sender_vlan: Vlan,
    pkt: &Packet,
    tracked: bool,
) -> Result<(), Denied> {
    let bugs = rules.bugs;
    // claim: NET-10
    if rules.remote_access_ports.contains(&pkt.dst_port) && !bugs.has(SeededBug::RemoteAccessOpen) {
        return Err(Denied::RemoteAccessDisabled);
    }
    // claim: NET-7
    if pkt.dst == BROADCAST && !bugs.has(SeededBug::BroadcastPasses) {
        return Err(Denied::Broadcast);
    }
    if pkt.reply && tracked {
        return Ok(());
    }
    // claim: NET-9, NET-11 (through a VIP only the application's web role, if it accepts the Internet)
    if let Some(app) = rules.vip_app(pkt.dst) {
        let inbound = rules
            .apps
            .get(usize::from(app))
            .is_some_and(|a| a.inbound_internet);
        return if app == port.app && port.role == Role::Web && inbound {
            Ok(())
        } else {
            Err(Denied::InboundNotAllowed)
        };
    }
    match sender_vlan {
        // The FC may open into the main VLAN; the edge already decided for the outside.
        Vlan::Fc | Vlan::External => return Ok(()),
        _ => {}
    }
    // The VM's own host (root OS and FA) talks to its guests.
    if pkt.src == port.host_ip {
        return Ok(());
    }
    // claim: NET-8 (intra-application traffic only from the listed IPs)
    if filters.allows(port.app, pkt.src) {
        Ok(())
    } else {
        Err(Denied::NotInAllowList)
    }
}
