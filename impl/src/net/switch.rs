//! The stateful shell of the virtual network: VM attachments, the connection
//! table, and the path of a packet through egress filter, router, switch and
//! ingress filter. Every verdict comes from [`super::decide`].

use super::addr::{HostId, InstanceId, NodeId, Packet, Vlan, BROADCAST};
use super::decide;
use super::filter::{HostFilters, InstanceLists, PortFilter, SharedFilters};
use super::rules::{RuleSet, Topology};
use super::verdict::Denied;
use crate::bugs::SeededBug;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A tracked connection: opened from `src` to `dst` on `port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConntrackKey {
    /// The initiator's address.
    pub src: Ipv4Addr,
    /// The address it opened to.
    pub dst: Ipv4Addr,
    /// The service port.
    pub port: u16,
}

/// The router's connection table, bounded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conntrack {
    entries: BTreeSet<ConntrackKey>,
    capacity: usize,
}

impl Conntrack {
    /// The tracked connections.
    pub fn entries(&self) -> impl Iterator<Item = &ConntrackKey> {
        self.entries.iter()
    }

    /// Whether `pkt` is a reply on a tracked connection.
    pub fn matches_reply(&self, pkt: &Packet) -> bool {
        self.entries.contains(&ConntrackKey {
            src: pkt.dst,
            dst: pkt.src,
            port: pkt.dst_port,
        })
    }
}

/// What became of a packet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    /// These nodes received it.
    Delivered(Vec<NodeId>),
    /// Nobody received it, and why.
    Dropped(Denied),
}

/// The virtual network of one fabric.
#[derive(Debug)]
pub struct VirtualNetwork {
    topology: Topology,
    rules: RuleSet,
    ports: Vec<PortFilter>,
    filters: Vec<SharedFilters>,
    conntrack: Conntrack,
}

fn lock(filters: &SharedFilters) -> MutexGuard<'_, HostFilters> {
    // A panic while holding the lock cannot leave the table half-written:
    // `HostFilters::apply` assigns whole maps.
    filters.lock().unwrap_or_else(PoisonError::into_inner)
}

impl VirtualNetwork {
    /// A network for `topology` with every VM at its initial place and every
    /// host's filters programmed with the initial instance lists.
    pub fn new(topology: Topology, rules: RuleSet) -> Self {
        let ports = topology
            .initial_placement
            .iter()
            .zip(&topology.instances)
            .enumerate()
            .map(|(i, ((host, ip), (app, role)))| PortFilter {
                instance: i as InstanceId,
                ip: *ip,
                app: *app,
                role: *role,
                host: *host,
                host_ip: topology.hosts[usize::from(*host)],
            })
            .collect::<Vec<_>>();
        let mut initial = InstanceLists::default();
        for p in &ports {
            initial.apps.entry(p.app).or_default().insert(p.ip);
        }
        let filters = topology
            .hosts
            .iter()
            .map(|_| {
                Arc::new(Mutex::new(HostFilters {
                    version: 0,
                    allow: initial.apps.clone(),
                }))
            })
            .collect();
        let conntrack = Conntrack {
            entries: BTreeSet::new(),
            capacity: rules.conntrack_capacity,
        };
        VirtualNetwork {
            topology,
            rules,
            ports,
            filters,
            conntrack,
        }
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The rule set.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The filters of `host`, for its FA to program.
    pub fn host_filters(&self, host: HostId) -> Option<SharedFilters> {
        self.filters.get(usize::from(host)).cloned()
    }

    /// A copy of every host's filters.
    pub fn filters_snapshot(&self) -> Vec<HostFilters> {
        self.filters.iter().map(|f| lock(f).clone()).collect()
    }

    /// The connection table.
    pub fn conntrack(&self) -> &Conntrack {
        &self.conntrack
    }

    /// The VM ports, per instance.
    pub fn ports(&self) -> &[PortFilter] {
        &self.ports
    }

    /// Starts `instance`'s VM on `host` with `ip` (after a move).
    ///
    /// # Panics
    /// If `instance` or `host` is not in the topology: the FC only moves what exists.
    pub fn attach(&mut self, instance: InstanceId, host: HostId, ip: Ipv4Addr) {
        let host_ip = self.topology.hosts[usize::from(host)];
        let port = &mut self.ports[usize::from(instance)];
        port.host = host;
        port.host_ip = host_ip;
        port.ip = ip;
    }

    /// Forgets a tracked connection; whether it was there.
    pub fn close(&mut self, key: &ConntrackKey) -> bool {
        self.conntrack.entries.remove(key)
    }

    /// The VLAN a node is attached to.
    pub fn vlan_of(node: NodeId) -> Vlan {
        match node {
            NodeId::Fc(_) => Vlan::Fc,
            NodeId::Host(_) | NodeId::Vm(_) | NodeId::Storage => Vlan::Main,
            NodeId::Device(_) => Vlan::Device,
            NodeId::Internet | NodeId::Corp => Vlan::External,
            NodeId::Mgmt => Vlan::Management,
        }
    }

    /// The address a node sends from.
    pub fn address_of(&self, node: NodeId) -> Option<Ipv4Addr> {
        let t = &self.topology;
        match node {
            NodeId::Fc(n) => t.fc.get(usize::from(n)).copied(),
            NodeId::Host(n) => t.hosts.get(usize::from(n)).copied(),
            NodeId::Vm(i) => self.ports.get(usize::from(i)).map(|p| p.ip),
            NodeId::Device(k) => t.devices.iter().find(|(d, _)| *d == k).map(|(_, a)| *a),
            NodeId::Storage => Some(t.storage),
            NodeId::Internet => Some(t.internet),
            NodeId::Corp => Some(t.corp),
            NodeId::Mgmt => Some(t.mgmt),
        }
    }

    /// The node an address reaches: a VIP reaches its application's web instance.
    pub fn resolve(&self, ip: Ipv4Addr) -> Option<NodeId> {
        let t = &self.topology;
        if let Some(app) = self.rules.vip_app(ip) {
            return t.web_instance(app).map(NodeId::Vm);
        }
        if let Some(p) = self.ports.iter().find(|p| p.ip == ip) {
            return Some(NodeId::Vm(p.instance));
        }
        if let Some(n) = t.fc.iter().position(|a| *a == ip) {
            return Some(NodeId::Fc(n as u8));
        }
        if let Some(n) = t.hosts.iter().position(|a| *a == ip) {
            return Some(NodeId::Host(n as u8));
        }
        if let Some((k, _)) = t.devices.iter().find(|(_, a)| *a == ip) {
            return Some(NodeId::Device(*k));
        }
        [
            (t.storage, NodeId::Storage),
            (t.internet, NodeId::Internet),
            (t.corp, NodeId::Corp),
            (t.mgmt, NodeId::Mgmt),
        ]
        .into_iter()
        .find(|(a, _)| *a == ip)
        .map(|(_, n)| n)
    }

    fn members(&self, vlan: Vlan) -> Vec<NodeId> {
        let t = &self.topology;
        match vlan {
            Vlan::Fc => (0..t.fc.len() as u8).map(NodeId::Fc).collect(),
            Vlan::Main => {
                let mut nodes: Vec<NodeId> = (0..t.hosts.len() as u8).map(NodeId::Host).collect();
                nodes.extend(self.ports.iter().map(|p| NodeId::Vm(p.instance)));
                nodes.push(NodeId::Storage);
                nodes
            }
            Vlan::Device => t.devices.iter().map(|(k, _)| NodeId::Device(*k)).collect(),
            Vlan::External | Vlan::Management => Vec::new(),
        }
    }

    /// Sends `pkt` from `sender` through egress filter, router, switch and
    /// ingress filter.
    pub fn send(&mut self, sender: NodeId, pkt: Packet) -> Delivery {
        match self.deliver(sender, &pkt) {
            Ok(to) => Delivery::Delivered(to),
            Err(reason) => {
                tracing::debug!(?sender, src = %pkt.src, dst = %pkt.dst, port = pkt.dst_port, %reason, "dropped");
                Delivery::Dropped(reason)
            }
        }
    }

    fn deliver(&mut self, sender: NodeId, pkt: &Packet) -> Result<Vec<NodeId>, Denied> {
        let from = Self::vlan_of(sender);
        if let NodeId::Vm(i) = sender {
            let port = self
                .ports
                .get(usize::from(i))
                .ok_or(Denied::NoSuchAddress)?;
            decide::egress(&self.rules, port, pkt)?;
        }
        let tracked = pkt.reply && self.conntrack.matches_reply(pkt);
        let routed = decide::route(&self.rules, sender, from, pkt, tracked)?;
        let candidates = if pkt.dst == BROADCAST {
            self.members(from)
                .into_iter()
                .filter(|n| *n != sender)
                .collect()
        } else {
            vec![self.resolve(pkt.dst).ok_or(Denied::NoSuchAddress)?]
        };
        let mut received = Vec::new();
        let mut last_denial = Denied::NoSuchAddress;
        for node in candidates {
            let NodeId::Vm(i) = node else {
                received.push(node);
                continue;
            };
            let port = self.ports[usize::from(i)];
            let filters = lock(&self.filters[usize::from(port.host)]).clone();
            match decide::ingress(&self.rules, &port, &filters, from, pkt, tracked) {
                Ok(()) => received.push(node),
                Err(d) => last_denial = d,
            }
        }
        // claim: NET-5 (the switch delivers a frame only to the port it is addressed to)
        if self.rules.bugs.has(SeededBug::SwitchFloods) && !received.is_empty() {
            if let Some(owner) = self.ports.iter().find(|p| p.ip == pkt.dst).copied() {
                for p in &self.ports {
                    let other = NodeId::Vm(p.instance);
                    if p.host == owner.host && p.instance != owner.instance && other != sender {
                        received.push(other);
                    }
                }
            }
        }
        if received.is_empty() {
            return Err(last_denial);
        }
        received.sort();
        received.dedup();
        if routed.track {
            let key = ConntrackKey {
                src: pkt.src,
                dst: pkt.dst,
                port: pkt.dst_port,
            };
            if !self.conntrack.entries.contains(&key) {
                if self.conntrack.entries.len() >= self.conntrack.capacity {
                    return Err(Denied::ConntrackFull);
                }
                self.conntrack.entries.insert(key);
            }
        }
        Ok(received)
    }
}
