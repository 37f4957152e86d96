//! The rule set as data, and the example topology it is made for.
//!
//! Nothing here decides anything: [`super::decide`] reads these tables. A
//! kernel backend would translate the same tables into nftables rules.

use super::addr::{AppId, DeviceKind, HostId, InstanceId, Role, Vlan};
use crate::bugs::BugSet;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// An IPv4 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cidr {
    /// Network address.
    pub addr: Ipv4Addr,
    /// Prefix length, 0 to 32.
    pub prefix_len: u8,
}

impl Cidr {
    /// A prefix; `prefix_len` is clamped to 32.
    pub const fn new(addr: Ipv4Addr, prefix_len: u8) -> Self {
        Cidr {
            addr,
            prefix_len: if prefix_len > 32 { 32 } else { prefix_len },
        }
    }

    /// Whether `ip` is inside the prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        if self.prefix_len == 0 {
            return true;
        }
        let mask = u32::MAX << (32 - u32::from(self.prefix_len));
        u32::from(ip) & mask == u32::from(self.addr) & mask
    }
}

/// What the router does with a new connection from one VLAN to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VlanVerdict {
    /// Forward, and track the connection so replies pass.
    Allow,
    /// Only replies on tracked connections pass; new connections are dropped.
    RepliesOnly,
    /// Only VIPs are reachable (the edge load balancer); DIPs are not.
    VipsOnly,
    /// Only sources in the corporate ranges pass (the management ACL).
    CorpOnly,
}

/// One row of the router's VLAN policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VlanRule {
    /// Where the packet comes from.
    pub from: Vlan,
    /// Where it goes.
    pub to: Vlan,
    /// What happens to new connections.
    pub verdict: VlanVerdict,
}

/// An application's connectivity settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppPolicy {
    /// Its instances may open outbound Internet connections.
    pub outbound_internet: bool,
    /// Its web role accepts inbound Internet connections through the VIP.
    pub inbound_internet: bool,
}

/// The fabric's layout: who is where and with which address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// FC replica addresses (FC VLAN).
    pub fc: Vec<Ipv4Addr>,
    /// Host root-OS addresses (main VLAN).
    pub hosts: Vec<Ipv4Addr>,
    /// Device addresses (device VLAN).
    pub devices: Vec<(DeviceKind, Ipv4Addr)>,
    /// The storage back end (main VLAN).
    pub storage: Ipv4Addr,
    /// An Internet host.
    pub internet: Ipv4Addr,
    /// A corporate host.
    pub corp: Ipv4Addr,
    /// The platform-management endpoint.
    pub mgmt: Ipv4Addr,
    /// The DIP pool (main VLAN).
    pub dip_pool: Vec<Ipv4Addr>,
    /// Per application, its VIP on the edge.
    pub vips: Vec<Ipv4Addr>,
    /// Per application, its settings.
    pub apps: Vec<AppPolicy>,
    /// Per instance, its application and role.
    pub instances: Vec<(AppId, Role)>,
    /// Per instance, its initial host and DIP.
    pub initial_placement: Vec<(HostId, Ipv4Addr)>,
}

/// The FC VLAN's subnet.
pub const FC_SUBNET: Cidr = Cidr::new(Ipv4Addr::new(198, 51, 100, 0), 25);
/// The device VLAN's subnet.
pub const DEVICE_SUBNET: Cidr = Cidr::new(Ipv4Addr::new(198, 51, 100, 128), 25);
/// The main VLAN's subnet.
pub const MAIN_SUBNET: Cidr = Cidr::new(Ipv4Addr::new(192, 0, 2, 0), 24);
/// The corporate ranges.
pub const CORP_RANGE: Cidr = Cidr::new(Ipv4Addr::new(203, 0, 113, 192), 27);

impl Topology {
    /// A fabric with `fc_replicas` FCs, `hosts` hosts, `apps` applications of
    /// one web and one worker instance each (even-numbered applications may
    /// open outbound connections, odd-numbered may not), and `spare_ips` DIPs
    /// beyond one per instance. Instance `i` starts on host `i % hosts`.
    ///
    /// Addresses come from the documentation ranges: they are data inside a
    /// userspace switch and never reach a real network.
    pub fn example(fc_replicas: u8, hosts: u8, apps: u8, spare_ips: u8) -> Topology {
        let hosts = hosts.max(1);
        let instances = 2 * u16::from(apps);
        let pool = (instances + u16::from(spare_ips)).min(100) as u8;
        let dip = |d: u8| Ipv4Addr::new(192, 0, 2, 100 + d);
        Topology {
            fc: (0..fc_replicas)
                .map(|i| Ipv4Addr::new(198, 51, 100, 10 + i))
                .collect(),
            hosts: (0..hosts)
                .map(|h| Ipv4Addr::new(192, 0, 2, 10 + h))
                .collect(),
            devices: vec![
                (DeviceKind::Power, Ipv4Addr::new(198, 51, 100, 200)),
                (DeviceKind::Switch, Ipv4Addr::new(198, 51, 100, 201)),
                (DeviceKind::LoadBalancer, Ipv4Addr::new(198, 51, 100, 202)),
            ],
            storage: Ipv4Addr::new(192, 0, 2, 5),
            internet: Ipv4Addr::new(203, 0, 113, 50),
            corp: Ipv4Addr::new(203, 0, 113, 200),
            mgmt: Ipv4Addr::new(203, 0, 113, 250),
            dip_pool: (0..pool).map(dip).collect(),
            vips: (0..apps)
                .map(|a| Ipv4Addr::new(203, 0, 113, 10 + a))
                .collect(),
            apps: (0..apps)
                .map(|a| AppPolicy {
                    outbound_internet: a % 2 == 0,
                    inbound_internet: true,
                })
                .collect(),
            instances: (0..instances as u8)
                .map(|i| (i / 2, if i % 2 == 0 { Role::Web } else { Role::Worker }))
                .collect(),
            initial_placement: (0..instances as u8).map(|i| (i % hosts, dip(i))).collect(),
        }
    }

    /// The web instance of application `app`.
    pub fn web_instance(&self, app: AppId) -> Option<InstanceId> {
        self.instances
            .iter()
            .position(|(a, r)| *a == app && *r == Role::Web)
            .map(|i| i as InstanceId)
    }
}

/// The rules every decision reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSet {
    /// Address ranges and the VLAN they belong to; first match wins, and
    /// anything unmatched is [`Vlan::External`].
    pub subnets: Vec<(Cidr, Vlan)>,
    /// Exact addresses that override `subnets` (VIPs, the management endpoint).
    pub pinned: Vec<(Ipv4Addr, Vlan)>,
    /// The router's policy for new connections between VLANs; pairs not
    /// listed within one VLAN are switched, across VLANs are dropped.
    pub vlan_policy: Vec<VlanRule>,
    /// Ports a guest never accepts by default.
    pub remote_access_ports: Vec<u16>,
    /// Addresses a guest may never address.
    pub infrastructure: Vec<Ipv4Addr>,
    /// Sources allowed to the management endpoint.
    pub corp_ranges: Vec<Cidr>,
    /// Per application, its VIP.
    pub vips: Vec<Ipv4Addr>,
    /// Per application, its settings.
    pub apps: Vec<AppPolicy>,
    /// The connection table's capacity.
    pub conntrack_capacity: usize,
    /// Seeded bugs switched on (none outside tests).
    pub bugs: BugSet,
}

impl RuleSet {
    /// The rule set the seeds describe, for `topology`.
    pub fn for_topology(topology: &Topology, conntrack_capacity: usize) -> RuleSet {
        use VlanVerdict::*;
        let rule = |from, to, verdict| VlanRule { from, to, verdict };
        let mut infrastructure = topology.fc.clone();
        infrastructure.extend(&topology.hosts);
        infrastructure.extend(topology.devices.iter().map(|(_, a)| *a));
        infrastructure.push(topology.storage);
        let mut pinned: Vec<(Ipv4Addr, Vlan)> =
            topology.vips.iter().map(|v| (*v, Vlan::External)).collect();
        pinned.push((topology.mgmt, Vlan::Management));
        RuleSet {
            subnets: vec![
                (FC_SUBNET, Vlan::Fc),
                (DEVICE_SUBNET, Vlan::Device),
                (MAIN_SUBNET, Vlan::Main),
            ],
            pinned,
            vlan_policy: vec![
                // claim: NET-1 (the FC VLAN opens into main; main only replies)
                rule(Vlan::Fc, Vlan::Main, Allow),
                rule(Vlan::Main, Vlan::Fc, RepliesOnly),
                // claim: NET-2 (nothing on main reaches the device VLAN)
                rule(Vlan::Main, Vlan::Device, RepliesOnly),
                rule(Vlan::Fc, Vlan::Device, Allow),
                rule(Vlan::Device, Vlan::Fc, Allow),
                rule(Vlan::Device, Vlan::Main, RepliesOnly),
                rule(Vlan::Main, Vlan::External, Allow),
                rule(Vlan::Fc, Vlan::External, Allow),
                // claim: NET-11 (the edge exposes VIPs, never DIPs)
                rule(Vlan::External, Vlan::Main, VipsOnly),
                // claim: NET-13 (devices are out of reach of the Internet)
                rule(Vlan::External, Vlan::Device, RepliesOnly),
                rule(Vlan::External, Vlan::Fc, RepliesOnly),
                rule(Vlan::Device, Vlan::External, RepliesOnly),
                // claim: NET-12 (only corp reaches the management endpoint)
                rule(Vlan::External, Vlan::Management, CorpOnly),
                rule(Vlan::Main, Vlan::Management, CorpOnly),
                rule(Vlan::Fc, Vlan::Management, CorpOnly),
                rule(Vlan::Device, Vlan::Management, CorpOnly),
            ],
            remote_access_ports: vec![super::ports::RDP, super::ports::DEBUG, super::ports::SMB],
            infrastructure,
            corp_ranges: vec![CORP_RANGE],
            vips: topology.vips.clone(),
            apps: topology.apps.clone(),
            conntrack_capacity,
            bugs: BugSet::NONE,
        }
    }

    /// The VLAN an address belongs to; `sender_vlan` for broadcast.
    pub fn vlan_of(&self, ip: Ipv4Addr, sender_vlan: Vlan) -> Vlan {
        if ip == super::BROADCAST {
            return sender_vlan;
        }
        if let Some((_, vlan)) = self.pinned.iter().find(|(a, _)| *a == ip) {
            return *vlan;
        }
        self.subnets
            .iter()
            .find(|(c, _)| c.contains(ip))
            .map(|(_, v)| *v)
            .unwrap_or(Vlan::External)
    }

    /// The application whose VIP `ip` is.
    pub fn vip_app(&self, ip: Ipv4Addr) -> Option<AppId> {
        self.vips.iter().position(|v| *v == ip).map(|a| a as AppId)
    }

    /// The router's verdict for a new connection from `from` to `to`.
    pub fn vlan_verdict(&self, from: Vlan, to: Vlan) -> Option<VlanVerdict> {
        self.vlan_policy
            .iter()
            .find(|r| r.from == from && r.to == to)
            .map(|r| r.verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_contains() {
        assert!(FC_SUBNET.contains(Ipv4Addr::new(198, 51, 100, 10)));
        assert!(!FC_SUBNET.contains(Ipv4Addr::new(198, 51, 100, 200)));
        assert!(DEVICE_SUBNET.contains(Ipv4Addr::new(198, 51, 100, 200)));
        assert!(Cidr::new(Ipv4Addr::UNSPECIFIED, 0).contains(Ipv4Addr::new(1, 2, 3, 4)));
    }

    #[test]
    fn example_topology_is_consistent() {
        let t = Topology::example(2, 2, 2, 1);
        let rules = RuleSet::for_topology(&t, 2);
        assert_eq!(t.dip_pool.len(), 5);
        assert_eq!(rules.vlan_of(t.fc[0], Vlan::Main), Vlan::Fc);
        assert_eq!(rules.vlan_of(t.hosts[1], Vlan::Fc), Vlan::Main);
        assert_eq!(rules.vlan_of(t.devices[0].1, Vlan::Main), Vlan::Device);
        assert_eq!(rules.vlan_of(t.vips[1], Vlan::Main), Vlan::External);
        assert_eq!(rules.vlan_of(t.mgmt, Vlan::Main), Vlan::Management);
        assert_eq!(rules.vlan_of(t.internet, Vlan::Main), Vlan::External);
        assert!(rules.corp_ranges[0].contains(t.corp));
        assert!(!rules.corp_ranges[0].contains(t.internet));
        assert_eq!(t.web_instance(1), Some(2));
    }
}
