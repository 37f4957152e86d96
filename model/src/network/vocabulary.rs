//! The vocabulary of the network model: nodes, addresses, actions,
//! outcomes, witnesses, the state, and the topology the model reads it by.

use super::*;
use serde::{Deserialize, Serialize};

/// The claims this area's model checks: NET-1 to NET-15.
pub const NETWORK_CLAIMS: ClaimSet = claims![
    NET - 1,
    NET - 2,
    NET - 3,
    NET - 4,
    NET - 5,
    NET - 6,
    NET - 7,
    NET - 8,
    NET - 9,
    NET - 10,
    NET - 11,
    NET - 12,
    NET - 13,
    NET - 14,
    NET - 15
];

/// The VLANs and the outside networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Vlan {
    /// Trusted FCs and their supporting systems.
    Fc,
    /// Untrusted customer nodes: hosts, guest VMs, storage back ends.
    Main,
    /// Trusted network and infrastructure devices.
    Device,
    /// The Internet and the operator's corporate network.
    External,
    /// The platform-management endpoint, behind the corporate ACL.
    Management,
}

/// An infrastructure device on the device VLAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DeviceKind {
    /// A power distribution unit.
    Power,
    /// A network switch's management interface.
    Switch,
    /// The load balancer's management interface.
    LoadBalancer,
}

/// All devices, in a fixed order.
pub const DEVICES: [DeviceKind; 3] = [
    DeviceKind::Power,
    DeviceKind::Switch,
    DeviceKind::LoadBalancer,
];

/// A role: web roles are Internet-facing through a VIP, worker roles are not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Internet-facing, reachable through the application's VIP.
    Web,
    /// Back end, not reachable from outside.
    Worker,
}

/// A service port, abstracted to what it is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Port {
    /// The FA's TLS control service (and the FC's).
    Control,
    /// An application's own port.
    App,
    /// HTTPS to a management interface.
    Https,
    /// Remote Terminal Services.
    RemoteDesktop,
    /// Remote debugging.
    RemoteDebug,
    /// Remote file-share access.
    FileShare,
}

impl Port {
    /// Remote-access ports that are refused by default (NET-10).
    pub const fn is_remote_access(self) -> bool {
        matches!(
            self,
            Port::RemoteDesktop | Port::RemoteDebug | Port::FileShare
        )
    }
}

/// A node that can send or receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Node {
    /// FC replica `n`.
    Fc(u8),
    /// Host `n`: its root OS and FA.
    Host(u8),
    /// The guest VM of role instance `n`.
    Vm(u8),
    /// A device.
    Device(DeviceKind),
    /// The storage back end.
    Storage,
    /// A host on the Internet.
    Internet,
    /// A host in the operator's corporate network.
    Corp,
    /// The platform-management endpoint.
    Mgmt,
}

/// A destination or source address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Addr {
    /// FC replica `n`.
    Fc(u8),
    /// Host `n`.
    Host(u8),
    /// Direct IP `n` of the pool.
    Dip(u8),
    /// The VIP of application `n`, on the edge load balancer.
    Vip(u8),
    /// A device.
    Device(DeviceKind),
    /// The storage back end.
    Storage,
    /// An Internet address.
    Internet,
    /// A corporate address.
    Corp,
    /// The platform-management endpoint.
    Mgmt,
    /// The broadcast address of the sender's VLAN.
    Broadcast,
}

/// A tracked connection: who opened it, from which address, to what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Conn {
    /// The node that opened it.
    pub initiator: Node,
    /// The initiator's address when it opened it.
    pub src: Addr,
    /// The address it was opened to.
    pub target: Addr,
    /// The port.
    pub port: Port,
}

/// Who sends a control message, by the credential it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Principal {
    /// The FC, with a certificate chained to the fabric root.
    Fc,
    /// SMAPI, with its pinned self-signed certificate.
    Smapi,
    /// An operator's admin tool, with its pinned self-signed certificate.
    Admin,
    /// A compromised host `n` with a self-signed certificate nobody pinned.
    RogueHost(u8),
}

/// Where a control message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ControlEndpoint {
    /// The FA on host `n` (FC to FA).
    Fa(u8),
    /// The FC's SMAPI-facing service (SMAPI to FC).
    FcSmapi,
    /// The FC's admin service (admin to FC).
    FcAdmin,
}

impl ControlEndpoint {
    /// The one principal allowed to speak to this endpoint.
    pub const fn legitimate(self) -> Principal {
        match self {
            ControlEndpoint::Fa(_) => Principal::Fc,
            ControlEndpoint::FcSmapi => Principal::Smapi,
            ControlEndpoint::FcAdmin => Principal::Admin,
        }
    }
}

/// What a compromised FA answers to a push instead of an honest acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Forgery {
    /// Bytes that are not a response at all.
    Garbage,
    /// An acknowledgement that names another host `n`.
    AckForHost(u8),
}

/// An action of the network model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Action {
    /// `from` opens a connection to `to` on `port` (the flow's first packet).
    Open {
        /// The sender.
        from: Node,
        /// The destination.
        to: Addr,
        /// The port.
        port: Port,
    },
    /// The current owner of `conn.target` replies on an open connection.
    Reply {
        /// The connection.
        conn: Conn,
    },
    /// The initiator closes a connection; the router forgets it.
    Close {
        /// The connection.
        conn: Conn,
    },
    /// The VM of instance `vm` sends a datagram with source address `src`.
    Datagram {
        /// The sending instance.
        vm: u8,
        /// The source address written in the packet (its own or another).
        src: Addr,
        /// The destination.
        to: Addr,
    },
    /// `from` sends to its VLAN's broadcast address.
    Broadcast {
        /// The sender.
        from: Node,
    },
    /// The FC moves role instance `instance` to host `to_host` and pushes the
    /// new instance lists to every FA.
    Move {
        /// The instance.
        instance: u8,
        /// The new host.
        to_host: u8,
    },
    /// The FA on `host` applies the instance list pushed to it.
    FaApply {
        /// The host.
        host: u8,
    },
    /// The FA on `host`, compromised, answers the FC's pending push with a
    /// forged response.
    HostileResponse {
        /// The compromised host.
        host: u8,
        /// What it answers.
        forgery: Forgery,
    },
    /// `principal` sends a control message to `endpoint` over TLS.
    Control {
        /// The sender, by credential.
        principal: Principal,
        /// The receiving service.
        endpoint: ControlEndpoint,
    },
}

/// Why a packet or a control message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DropReason {
    /// The router's VLAN policy (NET-1, NET-2, NET-3, NET-13).
    VlanPolicy,
    /// The router's connection table is full.
    ConntrackFull,
    /// The source address is not the sending VM's own (NET-4).
    SpoofedSource,
    /// A guest VM addressed protected infrastructure (NET-6).
    InfrastructureEndpoint,
    /// Broadcast to or from a guest VM (NET-7).
    Broadcast,
    /// The source is not on the receiver's application's allow list (NET-8, NET-9).
    NotInAllowList,
    /// The sender's application may not open outbound Internet connections (NET-9).
    OutboundNotAllowed,
    /// The receiver does not accept inbound Internet connections (NET-9, NET-11).
    InboundNotAllowed,
    /// Remote debugging, terminal services or file sharing (NET-10).
    RemoteAccessDisabled,
    /// The edge exposes only VIPs, never a DIP (NET-11).
    NotExposed,
    /// The source is not in the corporate address ranges (NET-12).
    CorpAcl,
    /// No node holds the address.
    NoSuchAddress,
    /// The client certificate does not chain to the fabric root (NET-14).
    UnauthenticatedPeer,
    /// The client certificate's fingerprint is not pinned (NET-14).
    UnpinnedFingerprint,
    /// An FA's answer is malformed or names another host (NET-15).
    UntrustedResponse,
}

impl DropReason {
    /// The claims whose enforcement this reason is.
    pub fn claims(self) -> ClaimSet {
        match self {
            DropReason::VlanPolicy => claims![NET - 1, NET - 2, NET - 3, NET - 13],
            DropReason::ConntrackFull | DropReason::NoSuchAddress => ClaimSet::EMPTY,
            DropReason::SpoofedSource => claims![NET - 4],
            DropReason::InfrastructureEndpoint => claims![NET - 6],
            DropReason::Broadcast => claims![NET - 7],
            DropReason::NotInAllowList => claims![NET - 8, NET - 9],
            DropReason::OutboundNotAllowed => claims![NET - 9],
            DropReason::InboundNotAllowed => claims![NET - 9, NET - 11],
            DropReason::RemoteAccessDisabled => claims![NET - 10],
            DropReason::NotExposed => claims![NET - 11],
            DropReason::CorpAcl => claims![NET - 12],
            DropReason::UnauthenticatedPeer | DropReason::UnpinnedFingerprint => {
                claims![NET - 14]
            }
            DropReason::UntrustedResponse => claims![NET - 15],
        }
    }
}

/// What the model predicts an action does.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// The packet reached these nodes.
    Delivered {
        /// The receivers, sorted.
        to: Vec<Node>,
    },
    /// The packet was dropped.
    Dropped {
        /// Why.
        reason: DropReason,
    },
    /// The instance now has this DIP.
    Moved {
        /// The new DIP.
        dip: u8,
    },
    /// The FA applied its pushed list.
    Applied,
    /// The connection was closed.
    Closed,
    /// The control message was accepted.
    Accepted,
    /// The control message was refused.
    Refused {
        /// Why.
        reason: DropReason,
    },
}

/// The allowed cases that the `sometimes` properties look for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Witness {
    /// A main-VLAN node other than an FA (the storage back end) replied to
    /// a connection the FC opened (NET-1).
    FcGotReply,
    /// An FA answered a connection the FC opened: the request/response
    /// NET-3 allows (NET-1, NET-3).
    FaAnsweredFc,
    /// The FC reached a device (NET-2, NET-13).
    FcReachedDevice,
    /// Two instances of one application talked directly (NET-4, NET-5).
    IntraApp,
    /// Two instances of one application talked after one of them moved (NET-8).
    IntraAppAfterMove,
    /// A guest reached the Internet (NET-6).
    VmReachedInternet,
    /// A host's broadcast reached other infrastructure (NET-7).
    HostBroadcast,
    /// An instance reached another application's web role through its VIP (NET-9).
    CrossAppViaVip,
    /// The Internet reached a web role through its VIP (NET-10).
    WebServedInternet,
    /// A worker opened an outbound connection and got the reply (NET-11).
    WorkerGotReply,
    /// A corporate source reached the management endpoint (NET-12).
    CorpReachedMgmt,
    /// An FA accepted a command from the FC over mutual TLS (NET-14).
    FaAcceptedFc,
    /// The FC accepted SMAPI or the admin tool, by its pinned certificate,
    /// over mutual TLS (NET-14).
    FcAcceptedPinnedClient,
    /// The FC refused a hostile or malformed answer of an FA and kept its
    /// state as it was (NET-15).
    FcRefusedHostileAnswer,
}

/// Where an instance runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Placement {
    /// The host.
    pub host: u8,
    /// The DIP.
    pub dip: u8,
}

/// A state of the network model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NetworkState {
    /// Per instance, where it runs.
    pub placement: Vec<Placement>,
    /// Moves made so far.
    pub moves: u8,
    /// Per host, per application: the DIPs its FA has programmed as allowed
    /// intra-application peers (a bit set over DIPs).
    pub filters: Vec<Vec<u16>>,
    /// Per host: the instance lists pushed by the FC and not yet applied.
    pub pending: Vec<Option<Vec<u16>>>,
    /// Per DIP: the hosts whose FA has yet to apply a list without it (a bit set).
    pub quarantine: Vec<u16>,
    /// Connections the router tracks, sorted.
    pub conntrack: Vec<Conn>,
    /// Ghost: every claim broken so far.
    pub broken: ClaimSet,
    /// Ghost: the allowed case the latest step showed, if any.
    pub last: Option<Witness>,
}

/// A packet as the network sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The node that actually sent it.
    pub sender: Node,
    /// The source address written in it.
    pub src: Addr,
    /// The destination address.
    pub dst: Addr,
    /// The port.
    pub port: Port,
    /// Whether it is a reply on a tracked connection.
    pub reply: bool,
}

/// The network model.
#[derive(Clone, Debug)]
pub struct NetworkModel {
    /// Its bounds and flaw.
    pub cfg: NetworkConfig,
}

impl NetworkModel {
    pub(super) fn has(&self, flaw: Flaw) -> bool {
        self.cfg.flaw == Some(flaw)
    }

    /// Number of role instances.
    pub fn instances(&self) -> u8 {
        2 * self.cfg.apps
    }

    /// Number of DIPs in the pool.
    pub fn dips(&self) -> u8 {
        self.instances() + self.cfg.spare_ips
    }

    /// The application of instance `i`.
    pub fn app_of(i: u8) -> u8 {
        i / 2
    }

    /// The role of instance `i`.
    pub fn role_of(i: u8) -> Role {
        if i.is_multiple_of(2) {
            Role::Web
        } else {
            Role::Worker
        }
    }

    /// The web instance of application `a`.
    pub fn web_of(a: u8) -> u8 {
        2 * a
    }

    /// Whether application `a` may open outbound Internet connections.
    pub fn outbound_allowed(a: u8) -> bool {
        a.is_multiple_of(2)
    }

    /// Whether application `a`'s web role accepts inbound Internet connections.
    pub fn inbound_allowed(_a: u8) -> bool {
        true
    }

    /// The VLAN a node sits on.
    pub fn vlan_of(node: Node) -> Vlan {
        match node {
            Node::Fc(_) => Vlan::Fc,
            Node::Host(_) | Node::Vm(_) | Node::Storage => Vlan::Main,
            Node::Device(_) => Vlan::Device,
            Node::Internet | Node::Corp => Vlan::External,
            Node::Mgmt => Vlan::Management,
        }
    }

    /// The instance holding DIP `d` in `s`.
    pub fn owner_of(s: &NetworkState, d: u8) -> Option<u8> {
        s.placement.iter().position(|p| p.dip == d).map(|i| i as u8)
    }

    /// The address a node sends from.
    pub fn addr_of(s: &NetworkState, node: Node) -> Addr {
        match node {
            Node::Fc(n) => Addr::Fc(n),
            Node::Host(n) => Addr::Host(n),
            Node::Vm(i) => Addr::Dip(s.placement[usize::from(i)].dip),
            Node::Device(k) => Addr::Device(k),
            Node::Storage => Addr::Storage,
            Node::Internet => Addr::Internet,
            Node::Corp => Addr::Corp,
            Node::Mgmt => Addr::Mgmt,
        }
    }

    /// The node an address reaches, before filtering (VIPs resolve to the
    /// application's web instance); `None` for broadcast or a free DIP.
    pub fn resolve(s: &NetworkState, addr: Addr) -> Option<Node> {
        match addr {
            Addr::Fc(n) => Some(Node::Fc(n)),
            Addr::Host(n) => Some(Node::Host(n)),
            Addr::Dip(d) => Self::owner_of(s, d).map(Node::Vm),
            Addr::Vip(a) => Some(Node::Vm(Self::web_of(a))),
            Addr::Device(k) => Some(Node::Device(k)),
            Addr::Storage => Some(Node::Storage),
            Addr::Internet => Some(Node::Internet),
            Addr::Corp => Some(Node::Corp),
            Addr::Mgmt => Some(Node::Mgmt),
            Addr::Broadcast => None,
        }
    }

    pub(super) fn vlan_of_addr(addr: Addr, sender: Node) -> Vlan {
        match addr {
            Addr::Fc(_) => Vlan::Fc,
            Addr::Host(_) | Addr::Dip(_) | Addr::Storage => Vlan::Main,
            // A VIP lives on the edge: traffic to it enters from outside.
            Addr::Vip(_) | Addr::Internet | Addr::Corp => Vlan::External,
            Addr::Device(_) => Vlan::Device,
            Addr::Mgmt => Vlan::Management,
            Addr::Broadcast => Self::vlan_of(sender),
        }
    }

    /// The instance lists the FC holds: per application, its instances' DIPs.
    pub fn fc_lists(&self, s: &NetworkState) -> Vec<u16> {
        let mut lists = vec![0u16; usize::from(self.cfg.apps)];
        for (i, p) in s.placement.iter().enumerate() {
            lists[usize::from(Self::app_of(i as u8))] |= 1 << p.dip;
        }
        lists
    }

    pub(super) fn conn_key(&self, p: &Packet) -> Conn {
        Conn {
            initiator: p.sender,
            src: p.src,
            target: p.dst,
            port: p.port,
        }
    }
}
