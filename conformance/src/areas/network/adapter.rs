//! The network adapter: model actions carried out on the implementation's
//! virtual network and control plane, and the implementation's state read
//! back in model terms.

use super::transport::{Answer, ControlTransport};
use crate::replay::{Adapter, AdapterError, Applied};
use fabric_impl::bugs::BugSet;
use fabric_impl::control::Controller;
use fabric_impl::net::{
    self as inet, ports, ConntrackKey, Delivery, Denied, NodeId, Packet, RuleSet, Topology,
    VirtualNetwork,
};
use fabric_model::network::{
    Action, Addr, Conn, DeviceKind, DropReason, NetworkConfig, Node, Outcome, Port,
};
use fabric_model::trace::itf as enc;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The implementation's topology for the model's bounds.
pub fn topology_for(cfg: &NetworkConfig) -> Topology {
    Topology::example(cfg.fc_replicas, cfg.hosts, cfg.apps, cfg.spare_ips)
}

/// The implementation's rule set for the model's bounds, with `bugs`.
pub fn rules_for(cfg: &NetworkConfig, topology: &Topology, bugs: BugSet) -> RuleSet {
    let mut rules = RuleSet::for_topology(topology, usize::from(cfg.max_connections));
    rules.bugs = bugs;
    rules
}

/// The network adapter.
pub struct NetworkAdapter<T: ControlTransport> {
    net: VirtualNetwork,
    fc: Controller,
    transport: T,
    apps: u8,
    /// Who opened each tracked connection, as the model names it.
    initiators: BTreeMap<ConntrackKey, Node>,
}

fn node_to_impl(n: Node) -> NodeId {
    match n {
        Node::Fc(i) => NodeId::Fc(i),
        Node::Host(h) => NodeId::Host(h),
        Node::Vm(i) => NodeId::Vm(i),
        Node::Device(k) => NodeId::Device(device_to_impl(k)),
        Node::Storage => NodeId::Storage,
        Node::Internet => NodeId::Internet,
        Node::Corp => NodeId::Corp,
        Node::Mgmt => NodeId::Mgmt,
    }
}

fn node_to_model(n: NodeId) -> Node {
    match n {
        NodeId::Fc(i) => Node::Fc(i),
        NodeId::Host(h) => Node::Host(h),
        NodeId::Vm(i) => Node::Vm(i),
        NodeId::Device(k) => Node::Device(match k {
            inet::DeviceKind::Power => DeviceKind::Power,
            inet::DeviceKind::Switch => DeviceKind::Switch,
            inet::DeviceKind::LoadBalancer => DeviceKind::LoadBalancer,
        }),
        NodeId::Storage => Node::Storage,
        NodeId::Internet => Node::Internet,
        NodeId::Corp => Node::Corp,
        NodeId::Mgmt => Node::Mgmt,
    }
}

fn device_to_impl(k: DeviceKind) -> inet::DeviceKind {
    match k {
        DeviceKind::Power => inet::DeviceKind::Power,
        DeviceKind::Switch => inet::DeviceKind::Switch,
        DeviceKind::LoadBalancer => inet::DeviceKind::LoadBalancer,
    }
}

/// The port number of a model port.
pub fn port_number(p: Port) -> u16 {
    match p {
        Port::Control => ports::CONTROL,
        Port::App => ports::APP,
        Port::Https => ports::HTTPS,
        Port::RemoteDesktop => ports::RDP,
        Port::RemoteDebug => ports::DEBUG,
        Port::FileShare => ports::SMB,
    }
}

fn port_to_model(n: u16) -> Option<Port> {
    [
        Port::Control,
        Port::App,
        Port::Https,
        Port::RemoteDesktop,
        Port::RemoteDebug,
        Port::FileShare,
    ]
    .into_iter()
    .find(|p| port_number(*p) == n)
}

/// The model's reason for an implementation's denial.
pub fn reason_to_model(d: Denied) -> DropReason {
    match d {
        Denied::VlanPolicy => DropReason::VlanPolicy,
        Denied::ConntrackFull => DropReason::ConntrackFull,
        Denied::SpoofedSource => DropReason::SpoofedSource,
        Denied::InfrastructureEndpoint => DropReason::InfrastructureEndpoint,
        Denied::Broadcast => DropReason::Broadcast,
        Denied::NotInAllowList => DropReason::NotInAllowList,
        Denied::OutboundNotAllowed => DropReason::OutboundNotAllowed,
        Denied::InboundNotAllowed => DropReason::InboundNotAllowed,
        Denied::RemoteAccessDisabled => DropReason::RemoteAccessDisabled,
        Denied::NotExposed => DropReason::NotExposed,
        Denied::CorpAcl => DropReason::CorpAcl,
        Denied::NoSuchAddress => DropReason::NoSuchAddress,
        Denied::UnauthenticatedPeer => DropReason::UnauthenticatedPeer,
        Denied::UnpinnedFingerprint => DropReason::UnpinnedFingerprint,
    }
}

impl<T: ControlTransport> NetworkAdapter<T> {
    /// An implementation for the model's bounds, with `bugs` switched on;
    /// `transport` is made for the network's hosts (their FAs program the
    /// network's filters).
    pub fn new<E>(
        cfg: &NetworkConfig,
        bugs: BugSet,
        transport: impl FnOnce(&VirtualNetwork) -> Result<T, E>,
    ) -> Result<Self, E> {
        let topology = topology_for(cfg);
        let rules = rules_for(cfg, &topology, bugs);
        let net = VirtualNetwork::new(topology.clone(), rules);
        let transport = transport(&net)?;
        Ok(NetworkAdapter {
            fc: Controller::new(topology),
            net,
            transport,
            apps: cfg.apps,
            initiators: BTreeMap::new(),
        })
    }

    /// The virtual network.
    pub fn network(&self) -> &VirtualNetwork {
        &self.net
    }

    /// The control transport.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    fn addr(&self, a: Addr) -> Result<Ipv4Addr, AdapterError> {
        let t = self.net.topology();
        let missing =
            || AdapterError::Failed(format!("{a:?} is not in the implementation's topology"));
        let ip = match a {
            Addr::Fc(n) => t.fc.get(usize::from(n)).copied(),
            Addr::Host(n) => t.hosts.get(usize::from(n)).copied(),
            Addr::Dip(d) => t.dip_pool.get(usize::from(d)).copied(),
            Addr::Vip(v) => t.vips.get(usize::from(v)).copied(),
            Addr::Device(k) => t
                .devices
                .iter()
                .find(|(d, _)| *d == device_to_impl(k))
                .map(|(_, ip)| *ip),
            Addr::Storage => Some(t.storage),
            Addr::Internet => Some(t.internet),
            Addr::Corp => Some(t.corp),
            Addr::Mgmt => Some(t.mgmt),
            Addr::Broadcast => Some(inet::BROADCAST),
        };
        ip.ok_or_else(missing)
    }

    fn addr_to_model(&self, ip: Ipv4Addr) -> Option<Addr> {
        let t = self.net.topology();
        let pos = |v: &[Ipv4Addr]| v.iter().position(|x| *x == ip).map(|i| i as u8);
        pos(&t.fc)
            .map(Addr::Fc)
            .or_else(|| pos(&t.hosts).map(Addr::Host))
            .or_else(|| pos(&t.dip_pool).map(Addr::Dip))
            .or_else(|| pos(&t.vips).map(Addr::Vip))
            .or_else(|| {
                t.devices.iter().find(|(_, a)| *a == ip).map(|(k, _)| {
                    match node_to_model(NodeId::Device(*k)) {
                        Node::Device(d) => Addr::Device(d),
                        _ => unreachable!("a device maps to a device"),
                    }
                })
            })
            .or_else(|| {
                [
                    (t.storage, Addr::Storage),
                    (t.internet, Addr::Internet),
                    (t.corp, Addr::Corp),
                    (t.mgmt, Addr::Mgmt),
                ]
                .into_iter()
                .find(|(a, _)| *a == ip)
                .map(|(_, m)| m)
            })
    }

    fn send(&mut self, sender: Node, pkt: Packet) -> Outcome {
        let before: Vec<ConntrackKey> = self.net.conntrack().entries().copied().collect();
        match self.net.send(node_to_impl(sender), pkt) {
            Delivery::Delivered(to) => {
                for key in self.net.conntrack().entries() {
                    if !before.contains(key) {
                        self.initiators.insert(*key, sender);
                    }
                }
                Outcome::Delivered {
                    to: to.into_iter().map(node_to_model).collect(),
                }
            }
            Delivery::Dropped(d) => Outcome::Dropped {
                reason: reason_to_model(d),
            },
        }
    }

    fn own_addr(&self, node: Node) -> Result<Ipv4Addr, AdapterError> {
        self.net.address_of(node_to_impl(node)).ok_or_else(|| {
            AdapterError::Failed(format!("{node:?} has no address in the implementation"))
        })
    }

    /// The FC's judgement of `host`'s answer to the push of `lists`, made by
    /// the implementation's own decision function; a refused push stays owed.
    fn judge_answer(
        &mut self,
        host: inet::HostId,
        lists: inet::InstanceLists,
        answer: Result<Answer, AdapterError>,
    ) -> Result<Outcome, AdapterError> {
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                self.fc.requeue_push(host, lists);
                return Err(e);
            }
        };
        let bugs = self.net.rules().bugs;
        let accepted = answer.and_then(|response| {
            self.fc
                .accept_push_response(host, &lists, &response, bugs)
                .map_err(|e| e.to_string())
        });
        match accepted {
            Ok(_) => Ok(Outcome::Applied),
            Err(why) => {
                tracing::debug!(host, %why, "FC refused an FA's answer");
                self.fc.requeue_push(host, lists);
                Ok(Outcome::Refused {
                    reason: DropReason::UntrustedResponse,
                })
            }
        }
    }

    fn dip_index(&self, ip: Ipv4Addr) -> u8 {
        self.net
            .topology()
            .dip_pool
            .iter()
            .position(|d| *d == ip)
            .map_or(u8::MAX, |i| i as u8)
    }
}

/// An outcome for a step the implementation could not take at all; it never
/// equals a model prediction of success, so replay reports a mismatch.
fn refused_step() -> Outcome {
    Outcome::Refused {
        reason: DropReason::NoSuchAddress,
    }
}

impl<T: ControlTransport> Adapter<fabric_model::network::NetworkModel> for NetworkAdapter<T> {
    fn apply(&mut self, action: &Action) -> Result<Applied<Outcome>, AdapterError> {
        self.step(action).map(Applied::exercised)
    }

    fn observe(&self) -> Result<Map<String, Value>, AdapterError> {
        Ok(self.observe_network())
    }
}

impl<T: ControlTransport> NetworkAdapter<T> {
    /// Performs `action` on the fabric; every network step reaches the
    /// implementation.
    fn step(&mut self, action: &Action) -> Result<Outcome, AdapterError> {
        Ok(match *action {
            Action::Open { from, to, port } => {
                let pkt = Packet {
                    src: self.own_addr(from)?,
                    dst: self.addr(to)?,
                    dst_port: port_number(port),
                    reply: false,
                };
                self.send(from, pkt)
            }
            Action::Reply { conn } => {
                let target = self.addr(conn.target)?;
                let Some(responder) = self.net.resolve(target) else {
                    return Ok(refused_step());
                };
                let pkt = Packet {
                    src: target,
                    dst: self.addr(conn.src)?,
                    dst_port: port_number(conn.port),
                    reply: true,
                };
                self.send(node_to_model(responder), pkt)
            }
            Action::Close { conn } => {
                let key = ConntrackKey {
                    src: self.addr(conn.src)?,
                    dst: self.addr(conn.target)?,
                    port: port_number(conn.port),
                };
                self.initiators.remove(&key);
                if self.net.close(&key) {
                    Outcome::Closed
                } else {
                    refused_step()
                }
            }
            Action::Datagram { vm, src, to } => {
                let pkt = Packet {
                    src: self.addr(src)?,
                    dst: self.addr(to)?,
                    dst_port: ports::APP,
                    reply: false,
                };
                self.send(Node::Vm(vm), pkt)
            }
            Action::Broadcast { from } => {
                let pkt = Packet {
                    src: self.own_addr(from)?,
                    dst: inet::BROADCAST,
                    dst_port: ports::APP,
                    reply: false,
                };
                self.send(from, pkt)
            }
            Action::Move { instance, to_host } => match self.fc.move_instance(instance, to_host) {
                Ok(ip) => {
                    self.net.attach(instance, to_host, ip);
                    Outcome::Moved {
                        dip: self.dip_index(ip),
                    }
                }
                Err(_) => refused_step(),
            },
            Action::FaApply { host } => {
                let Some(lists) = self.fc.take_push(host) else {
                    return Ok(refused_step());
                };
                let answer = self.transport.deliver_push(host, &lists);
                self.judge_answer(host, lists, answer)?
            }
            Action::HostileResponse { host, forgery } => {
                let Some(lists) = self.fc.take_push(host) else {
                    return Ok(refused_step());
                };
                let answer = self.transport.hostile_push(host, &lists, forgery);
                self.judge_answer(host, lists, answer)?
            }
            Action::Control {
                principal,
                endpoint,
            } => match self.transport.control(principal, endpoint)? {
                Ok(()) => Outcome::Accepted,
                Err(d) => Outcome::Refused {
                    reason: reason_to_model(d),
                },
            },
        })
    }

    /// The fabric's state as model variables: placement, each host's
    /// filters, the FC's pending pushes and quarantine, and connection
    /// tracking. All are read from memory, so none can fail to be read.
    fn observe_network(&self) -> Map<String, Value> {
        let mut vars = Map::new();
        let placement = self.net.ports().iter().map(|p| {
            (
                json!(p.instance),
                json!({"host": p.host, "dip": self.dip_index(p.ip)}),
            )
        });
        vars.insert("placement".into(), enc::map(placement));
        let filters = self.net.filters_snapshot();
        let per_host = filters.iter().enumerate().map(|(h, f)| {
            let per_app = (0..self.apps).map(|a| {
                let ips = f
                    .allow
                    .get(&a)
                    .into_iter()
                    .flatten()
                    .map(|ip| json!(self.dip_index(*ip)));
                (json!(a), enc::set(ips))
            });
            (json!(h), enc::map(per_app))
        });
        vars.insert("filters".into(), enc::map(per_host));
        vars.insert(
            "pending".into(),
            enc::set(self.fc.pending_hosts().map(|h| json!(h))),
        );
        vars.insert(
            "quarantine".into(),
            enc::set(self.fc.quarantined().map(|ip| json!(self.dip_index(ip)))),
        );
        let conns = self.net.conntrack().entries().map(|k| {
            let conn = (|| {
                Some(Conn {
                    initiator: *self.initiators.get(k)?,
                    src: self.addr_to_model(k.src)?,
                    target: self.addr_to_model(k.dst)?,
                    port: port_to_model(k.port)?,
                })
            })();
            // An entry the model cannot name still shows up, as a mismatch.
            conn.map_or_else(
                || json!({ "unmapped": format!("{k:?}") }),
                |c| enc::value(&c),
            )
        });
        vars.insert("conntrack".into(), enc::set(conns));
        vars
    }
}
