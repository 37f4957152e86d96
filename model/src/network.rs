//! Network isolation: VLANs, the router between them, packet filters on guest
//! VM ports, allow lists pushed by the FC and applied by the FAs, the edge load
//! balancer, the corporate ACL, and the control channels and hostile
//! agents (claims NET-1 to NET-15).
//!
//! # What is modelled
//!
//! - **Nodes and VLANs.** FC replicas sit on the FC VLAN; hosts (root OS and
//!   FA), guest VMs and the storage back end on the main VLAN; devices (power,
//!   switch, load balancer) on the device VLAN; the Internet and the operator's
//!   corporate network outside; the platform-management endpoint behind an ACL.
//! - **Applications.** `apps` applications, each with one web role instance
//!   (reachable from the Internet through the application's VIP) and one
//!   worker role instance. Even-numbered applications may open outbound
//!   Internet connections; odd-numbered ones may not. Every application's web
//!   role accepts inbound Internet traffic.
//! - **Addresses.** Instances hold direct IPs (DIPs) from a pool of
//!   `2 * apps + spare_ips`; a move takes the lowest free DIP and frees the old.
//! - **Packets.** A node opens a connection (the first packet of a flow), the
//!   target replies on an open connection, a VM sends a datagram with a source
//!   address of its choosing, a VM or host broadcasts. Each packet passes the
//!   sender's port filter (VMs only), the router or edge between VLANs (with
//!   connection tracking), the switch, and the receiver's port filter.
//! - **Moves.** The FC moves a role instance to another host and DIP and pushes
//!   the new instance lists to every FA. Each FA applies its pushed list later,
//!   as its own step, so traffic interleaves with the window between push and
//!   apply. The FC holds a freed DIP in quarantine until every FA has applied a
//!   list without it.
//! - **Hostile agents.** An FA with a push pending may be compromised and
//!   answer with garbage or with an acknowledgement naming another host; the
//!   FC attributes an answer only to the peer it authenticated.
//! - **Control channels.** FC to FA, SMAPI to FC and admin to FC messages, each
//!   sent by a principal holding a credential: the FC's certificate chained to
//!   the fabric root, a pinned SMAPI or admin certificate, or a rogue host's
//!   self-signed one.
//!
//! # What is abstracted away
//!
//! Bytes, TCP state machines and timing: a connection is one "open" packet, one
//! or more replies and a close. Only connections that cross the router or the
//! edge are tracked (and at most `max_connections` at once), because only those
//! need state to tell a reply from a new connection. TLS is abstracted to who
//! holds which credential; the handshake itself is the implementation's job and
//! is exercised over the wire by conformance.
//!
//! # How claims are stated
//!
//! [`claims_broken_by`] is the oracle: given a delivered packet and who got
//! it, it says which claims the delivery breaks, from the claims' own words and
//! nothing of the mechanism. Every step adds what it broke to a sticky ghost
//! set, and each `always` property says its claim is not in that set. A
//! `last` ghost records what the latest step showed of the allowed cases, for
//! the `sometimes` properties.

use crate::claims::{ClaimId, ClaimSet};
use crate::trace::{itf, TracedModel};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use stateright::Property;

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
            DropReason::VlanPolicy => ClaimSet::of(&[1, 2, 3, 13]),
            DropReason::ConntrackFull | DropReason::NoSuchAddress => ClaimSet::EMPTY,
            DropReason::SpoofedSource => ClaimSet::of(&[4]),
            DropReason::InfrastructureEndpoint => ClaimSet::of(&[6]),
            DropReason::Broadcast => ClaimSet::of(&[7]),
            DropReason::NotInAllowList => ClaimSet::of(&[8, 9]),
            DropReason::OutboundNotAllowed => ClaimSet::of(&[9]),
            DropReason::InboundNotAllowed => ClaimSet::of(&[9, 11]),
            DropReason::RemoteAccessDisabled => ClaimSet::of(&[10]),
            DropReason::NotExposed => ClaimSet::of(&[11]),
            DropReason::CorpAcl => ClaimSet::of(&[12]),
            DropReason::UnauthenticatedPeer | DropReason::UnpinnedFingerprint => {
                ClaimSet::of(&[14])
            }
            DropReason::UntrustedResponse => ClaimSet::of(&[15]),
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

crate::kit::flaws! {
    /// A deliberate defect: each removes one mechanism the seeds describe.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
    pub enum Flaw {
        /// The router forgets connection direction: main-VLAN packets into the FC
        /// VLAN pass as if they were replies.
        RouterForgetsDirection => "router-forgets-direction", [1, 3],
            "the router no longer tells a reply from a new connection";
        /// A pinhole lets an FA dial the FC's control port ("FA registers itself").
        FaMayDialFc => "fa-may-dial-fc", [1, 3],
            "a router pinhole lets an FA open connections to the FC's control port";
        /// The router forwards main-VLAN traffic into the device VLAN.
        RouterAllowsMainToDevice => "router-allows-main-to-device", [2, 3],
            "the router forwards main-VLAN traffic into the device VLAN";
        /// VM port filters do not check the source address.
        FilterSkipsSourceCheck => "filter-skips-source-check", [4, 8, 9],
            "VM port filters no longer check the source address";
        /// The virtual switch floods unicast frames to every VM port on the host.
        SwitchFloodsPorts => "switch-floods-ports", [5, 8, 9],
            "the virtual switch floods unicast frames to every VM port on a host";
        /// VM port filters let guests reach infrastructure endpoints.
        FilterAllowsInfrastructure => "filter-allows-infrastructure", [6],
            "VM port filters let guests address FC, FA, devices and storage back ends";
        /// Broadcast is not dropped at VM ports.
        BroadcastNotDropped => "broadcast-not-dropped", [6, 7],
            "VM port filters no longer drop broadcast";
        /// The FA merges a pushed list into the old one instead of replacing it,
        /// so a moved instance's old IP is never removed.
        FaMergesLists => "fa-merges-lists", [8, 9],
            "the FA adds pushed IPs but never removes a moved instance's old IP";
        /// The FC reuses a freed IP before every FA has applied a list without it.
        FcReusesIpEarly => "fc-reuses-ip-early", [8, 9],
            "the FC hands out a freed IP before every FA has applied a list without it";
        /// The egress filter ignores an application's outbound-Internet setting.
        EgressIgnoresOutbound => "egress-ignores-outbound", [9],
            "the egress filter ignores the application's outbound-Internet setting";
        /// Remote desktop, debugging and file sharing are open by default.
        RemoteAccessOpen => "remote-access-open", [10],
            "remote desktop, debugging and file sharing are open by default";
        /// The edge forwards Internet traffic to any DIP, worker roles included.
        EdgeExposesDips => "edge-exposes-dips", [11],
            "the edge forwards Internet traffic to any DIP, worker roles included";
        /// The management endpoint has no corporate ACL.
        MgmtAclMissing => "mgmt-acl-missing", [3, 12],
            "the platform-management endpoint has no corporate ACL";
        /// The edge routes Internet traffic into the device VLAN.
        EdgeRoutesToDevices => "edge-routes-to-devices", [13],
            "the edge routes Internet traffic into the device VLAN";
        /// The FA does not verify the client certificate of whoever connects.
        FaSkipsClientAuth => "fa-skips-client-auth", [14],
            "the FA accepts any TLS client without verifying its certificate chain";
        /// The FC accepts SMAPI and admin clients without checking pinned fingerprints.
        FcSkipsPinning => "fc-skips-pinning", [14],
            "the FC accepts SMAPI and admin clients without checking pinned fingerprints";
        /// The FC believes the host an FA's answer names instead of the peer it
        /// authenticated, so one FA can acknowledge pushes for another.
        FcTrustsResponseFields => "fc-trusts-response-fields", [8, 9, 15],
            "the FC believes the host an FA's answer names, not the peer it authenticated";
    }
}

/// The allowed cases that the `sometimes` properties look for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Witness {
    /// A main-VLAN node replied to a connection the FC opened (NET-1, NET-3).
    FcGotReply,
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
    /// The FC accepted an FA's honest acknowledgement of a push (NET-15).
    FcAcceptedAck,
}

/// Bounds and switches of the network model.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// FC replicas on the FC VLAN (the first one acts).
    pub fc_replicas: u8,
    /// Hosts on the main VLAN.
    pub hosts: u8,
    /// Applications, each with one web and one worker instance.
    pub apps: u8,
    /// DIPs in the pool beyond one per instance.
    pub spare_ips: u8,
    /// How many moves the FC may make.
    pub max_moves: u8,
    /// How many connections the router tracks at once.
    pub max_connections: u8,
    /// The deliberate defect, if any.
    pub flaw: Option<Flaw>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            fc_replicas: 2,
            hosts: 2,
            apps: 2,
            spare_ips: 1,
            max_moves: 2,
            max_connections: 2,
            flaw: None,
        }
    }
}

impl NetworkConfig {
    /// Larger bounds for `fabric check --deep`.
    pub fn deep() -> Self {
        // A third host and a second spare IP: about a million states, some
        // 40 s on two cores. A third move or connection multiplies that
        // past what a laptop checks in minutes.
        NetworkConfig {
            hosts: 3,
            spare_ips: 2,
            ..NetworkConfig::default()
        }
    }

    /// Parses the bounds line of a trace's `#meta` (`hosts=2 apps=2 ...`);
    /// bounds it does not name keep their defaults.
    pub fn from_bounds_line(line: &str) -> Result<Self, String> {
        let mut cfg = NetworkConfig::default();
        for (key, value) in crate::trace::parse_bounds(line)? {
            match key {
                "fc_replicas" => cfg.fc_replicas = value,
                "hosts" => cfg.hosts = value,
                "apps" => cfg.apps = value,
                "spare_ips" => cfg.spare_ips = value,
                "max_moves" => cfg.max_moves = value,
                "max_connections" => cfg.max_connections = value,
                _ => return Err(format!("unknown bound {key:?}")),
            }
        }
        if cfg.hosts == 0
            || cfg.apps == 0
            || cfg.fc_replicas == 0
            || 2 * u16::from(cfg.apps) + u16::from(cfg.spare_ips) > 16
        {
            return Err(format!("bounds out of range: {line:?}"));
        }
        Ok(cfg)
    }

    /// The same bounds with `flaw`.
    pub fn with_flaw(mut self, flaw: Option<Flaw>) -> Self {
        self.flaw = flaw;
        self
    }

    /// Builds the model.
    ///
    /// # Panics
    /// If the bounds are out of range (more than 16 DIPs, no host, no app).
    pub fn into_model(self) -> NetworkModel {
        let instances = 2 * u16::from(self.apps);
        assert!(
            self.hosts >= 1 && self.apps >= 1 && self.fc_replicas >= 1,
            "empty topology"
        );
        assert!(
            instances + u16::from(self.spare_ips) <= 16,
            "at most 16 DIPs"
        );
        NetworkModel { cfg: self }
    }
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
    fn has(&self, flaw: Flaw) -> bool {
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

    fn vlan_of_addr(addr: Addr, sender: Node) -> Vlan {
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

    fn conn_key(&self, p: &Packet) -> Conn {
        Conn {
            initiator: p.sender,
            src: p.src,
            target: p.dst,
            port: p.port,
        }
    }

    // ----- the mechanism -------------------------------------------------

    /// The sending VM's port filter (hypervisor and root OS).
    fn egress(&self, s: &NetworkState, vm: u8, p: &Packet) -> Result<(), DropReason> {
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
    fn route(&self, s: &NetworkState, p: &Packet) -> Result<bool, DropReason> {
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
    fn ingress(&self, s: &NetworkState, vm: u8, p: &Packet) -> Result<(), DropReason> {
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

    fn vlan_members(&self, s: &NetworkState, vlan: Vlan) -> Vec<Node> {
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

    // ----- the oracle ----------------------------------------------------

    /// The allowed case a delivery shows, for the `sometimes` properties.
    fn witness(&self, s: &NetworkState, p: &Packet, to: &[Node]) -> Option<Witness> {
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

    fn initial_placement(&self, i: u8) -> Placement {
        Placement {
            host: i % self.cfg.hosts,
            dip: i,
        }
    }

    fn initial_states(&self) -> Vec<NetworkState> {
        vec![self.initial_state()]
    }

    fn initial_state(&self) -> NetworkState {
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

    fn packet_for(&self, s: &NetworkState, action: &Action) -> Option<Packet> {
        match *action {
            Action::Open { from, to, port } => Some(Packet {
                sender: from,
                src: Self::addr_of(s, from),
                dst: to,
                port,
                reply: false,
            }),
            Action::Reply { conn } => {
                let responder = Self::resolve(s, conn.target)?;
                Some(Packet {
                    sender: responder,
                    src: conn.target,
                    dst: conn.src,
                    port: conn.port,
                    reply: true,
                })
            }
            Action::Datagram { vm, src, to } => Some(Packet {
                sender: Node::Vm(vm),
                src,
                dst: to,
                port: Port::App,
                reply: false,
            }),
            Action::Broadcast { from } => Some(Packet {
                sender: from,
                src: Self::addr_of(s, from),
                dst: Addr::Broadcast,
                port: Port::App,
                reply: false,
            }),
            _ => None,
        }
    }

    /// The candidate actions, enabled or not; `step` decides.
    fn candidate_actions(&self, s: &NetworkState, out: &mut Vec<Action>) {
        let fc = Node::Fc(0);
        let instances = self.instances();
        let current = |i: u8| Addr::Dip(s.placement[usize::from(i)].dip);
        let open = |out: &mut Vec<Action>, from: Node, to: Addr, port: Port| {
            out.push(Action::Open { from, to, port })
        };
        for h in 0..self.cfg.hosts {
            open(out, fc, Addr::Host(h), Port::Control);
        }
        for k in DEVICES {
            open(out, fc, Addr::Device(k), Port::Https);
        }
        open(out, fc, Addr::Storage, Port::App);
        for h in 0..self.cfg.hosts {
            let host = Node::Host(h);
            for r in 0..self.cfg.fc_replicas {
                open(out, host, Addr::Fc(r), Port::Control);
            }
            open(out, host, Addr::Device(DeviceKind::Switch), Port::Https);
            open(out, host, Addr::Mgmt, Port::Https);
            out.push(Action::Broadcast { from: host });
        }
        for x in 0..instances {
            let vm = Node::Vm(x);
            open(out, vm, Addr::Fc(0), Port::Control);
            open(
                out,
                vm,
                Addr::Host(s.placement[usize::from(x)].host),
                Port::Control,
            );
            open(out, vm, Addr::Storage, Port::App);
            open(out, vm, Addr::Device(DeviceKind::Power), Port::Https);
            open(out, vm, Addr::Internet, Port::App);
            open(out, vm, Addr::Mgmt, Port::Https);
            for a in 0..self.cfg.apps {
                open(out, vm, Addr::Vip(a), Port::App);
            }
            for y in (0..instances).filter(|y| *y != x) {
                open(out, vm, current(y), Port::App);
                if Self::app_of(y) == Self::app_of(x) {
                    open(out, vm, current(y), Port::FileShare);
                }
                out.push(Action::Datagram {
                    vm: x,
                    src: current(x),
                    to: current(y),
                });
                for z in (0..instances).filter(|z| *z != x) {
                    out.push(Action::Datagram {
                        vm: x,
                        src: current(z),
                        to: current(y),
                    });
                }
                out.push(Action::Datagram {
                    vm: x,
                    src: Addr::Fc(0),
                    to: current(y),
                });
            }
            out.push(Action::Broadcast { from: vm });
        }
        let net = Node::Internet;
        for a in 0..self.cfg.apps {
            open(out, net, Addr::Vip(a), Port::App);
            open(out, net, Addr::Vip(a), Port::RemoteDesktop);
        }
        for y in 0..instances {
            open(out, net, current(y), Port::App);
            if Self::role_of(y) == Role::Web {
                open(out, net, current(y), Port::RemoteDebug);
            }
        }
        open(
            out,
            net,
            Addr::Device(DeviceKind::LoadBalancer),
            Port::Https,
        );
        open(out, net, Addr::Fc(0), Port::Control);
        open(out, net, Addr::Mgmt, Port::Https);
        open(out, Node::Corp, Addr::Mgmt, Port::Https);
        for conn in &s.conntrack {
            out.push(Action::Reply { conn: *conn });
            out.push(Action::Close { conn: *conn });
        }
        if s.moves < self.cfg.max_moves {
            for i in 0..instances {
                for h in (0..self.cfg.hosts).filter(|h| *h != s.placement[usize::from(i)].host) {
                    out.push(Action::Move {
                        instance: i,
                        to_host: h,
                    });
                }
            }
        }
        for h in 0..self.cfg.hosts {
            if s.pending[usize::from(h)].is_some() {
                out.push(Action::FaApply { host: h });
                out.push(Action::HostileResponse {
                    host: h,
                    forgery: Forgery::Garbage,
                });
                for g in (0..self.cfg.hosts).filter(|g| *g != h) {
                    out.push(Action::HostileResponse {
                        host: h,
                        forgery: Forgery::AckForHost(g),
                    });
                }
            }
        }
        let principals = [
            Principal::Fc,
            Principal::Smapi,
            Principal::Admin,
            Principal::RogueHost(0),
        ];
        let mut endpoints: Vec<ControlEndpoint> =
            (0..self.cfg.hosts).map(ControlEndpoint::Fa).collect();
        endpoints.extend([ControlEndpoint::FcSmapi, ControlEndpoint::FcAdmin]);
        for principal in principals {
            for endpoint in &endpoints {
                out.push(Action::Control {
                    principal,
                    endpoint: *endpoint,
                });
            }
        }
    }

    fn free_dip(&self, s: &NetworkState) -> Option<u8> {
        (0..self.dips()).find(|d| {
            Self::owner_of(s, *d).is_none()
                // claim: NET-8 (a freed IP waits until every FA dropped it)
                && (s.quarantine[usize::from(*d)] == 0 || self.has(Flaw::FcReusesIpEarly))
        })
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
            broken.insert(4);
        }
    }
    for &r in to {
        if !p.reply && from_vlan == Vlan::Main && matches!(r, Node::Fc(_)) {
            broken.insert(1);
        }
        if from_vlan == Vlan::Main && matches!(r, Node::Device(_)) {
            broken.insert(2);
        }
        if !p.reply
            && matches!(p.sender, Node::Host(_))
            && matches!(r, Node::Fc(_) | Node::Device(_) | Node::Mgmt)
        {
            broken.insert(3);
        }
        if let Node::Vm(y) = r {
            if p.dst != Addr::Broadcast && !addressed_to(y) {
                broken.insert(5);
            }
        }
        if is_vm(p.sender)
            && matches!(
                r,
                Node::Fc(_) | Node::Host(_) | Node::Device(_) | Node::Storage
            )
        {
            broken.insert(6);
        }
        if p.dst == Addr::Broadcast && (is_vm(p.sender) || is_vm(r)) {
            broken.insert(7);
        }
        if let (Node::Vm(x), Node::Vm(y)) = (p.sender, r) {
            let (ax, ay) = (NetworkModel::app_of(x), NetworkModel::app_of(y));
            if matches!(p.dst, Addr::Dip(_)) && !p.reply {
                let src_is_peer = (0..model.instances()).any(|i| {
                    NetworkModel::app_of(i) == ay
                        && p.src == Addr::Dip(s.placement[usize::from(i)].dip)
                });
                if ax != ay || !src_is_peer {
                    broken.insert(8);
                }
            }
            let via_vip_with_consent = matches!(p.dst, Addr::Vip(_))
                && NetworkModel::outbound_allowed(ax)
                && NetworkModel::inbound_allowed(ay);
            if ax != ay && !p.reply && !via_vip_with_consent {
                broken.insert(9);
            }
        }
        if is_vm(r) && p.port.is_remote_access() {
            broken.insert(10);
        }
        if let Node::Vm(y) = r {
            if p.sender == Node::Internet && !p.reply && NetworkModel::role_of(y) == Role::Worker {
                broken.insert(11);
            }
        }
        if r == Node::Mgmt && p.sender != Node::Corp {
            broken.insert(12);
        }
        if matches!(r, Node::Device(_)) && (p.sender == Node::Internet || is_vm(p.sender)) {
            broken.insert(13);
        }
    }
    broken
}

crate::kit::forward_model_to_step!(NetworkModel, NetworkState, Action, network_properties);

/// Every property of the network model: for each of NET-1 to NET-15, the
/// claim as an `always` and its allowed case as a `sometimes`.
pub fn network_properties() -> Vec<Property<NetworkModel>> {
    crate::kit::claim_pairs![NetworkState, Witness;
        1,
        "NET-1 main VLAN never initiates to FC VLAN",
        "NET-1 reached: FC opens into main VLAN and gets a reply",
        [FcGotReply];
        2,
        "NET-2 main VLAN never reaches device VLAN",
        "NET-2 reached: FC reaches a device",
        [FcReachedDevice];
        3,
        "NET-3 FA never initiates to FC or privileged nodes",
        "NET-3 reached: FA answers an FC request",
        [FcGotReply];
        4,
        "NET-4 guest VM cannot spoof its source",
        "NET-4 reached: guest traffic with its own source is delivered",
        [IntraApp, IntraAppAfterMove];
        5,
        "NET-5 guest VM receives only traffic addressed to it",
        "NET-5 reached: guest receives traffic addressed to it",
        [IntraApp, IntraAppAfterMove];
        6,
        "NET-6 guest VM cannot reach infrastructure endpoints",
        "NET-6 reached: guest reaches the Internet",
        [VmReachedInternet];
        7,
        "NET-7 guest VM neither sends nor receives broadcast",
        "NET-7 reached: host broadcast reaches infrastructure",
        [HostBroadcast];
        8,
        "NET-8 intra-app traffic only between current instance IPs",
        "NET-8 reached: instances talk after a move",
        [IntraAppAfterMove];
        9,
        "NET-9 cross-app traffic is Internet traffic",
        "NET-9 reached: instance reaches another app through its VIP",
        [CrossAppViaVip];
        10,
        "NET-10 remote access to VMs refused by default",
        "NET-10 reached: web role serves its app port",
        [WebServedInternet];
        11,
        "NET-11 only web roles reachable from the Internet",
        "NET-11 reached: worker opens outbound and gets a reply",
        [WorkerGotReply];
        12,
        "NET-12 only corp reaches the management endpoint",
        "NET-12 reached: corp reaches the management endpoint",
        [CorpReachedMgmt];
        13,
        "NET-13 device VLAN out of reach of Internet-exposed nodes",
        "NET-13 reached: FC reaches a device",
        [FcReachedDevice];
        14,
        "NET-14 control traffic only over mutually authenticated TLS",
        "NET-14 reached: FA accepts an FC command",
        [FaAcceptedFc];
        15,
        "NET-15 an FA's answer changes only its own record",
        "NET-15 reached: FC accepts an honest acknowledgement",
        [FcAcceptedAck];
    ]
}

/// The claim ID an `always` or `sometimes` property name starts with.
pub fn claim_of_property(name: &str) -> Option<ClaimId> {
    let id = name.split_whitespace().next()?;
    let number: u8 = id.strip_prefix("NET-")?.parse().ok()?;
    Some(ClaimId::net(number))
}

impl TracedModel for NetworkModel {
    type Outcome = Outcome;
    const AREA: &'static str = "network";

    fn step(&self, s: &NetworkState, action: &Action) -> Option<(Outcome, NetworkState)> {
        let mut next = s.clone();
        next.last = None;
        let outcome = match *action {
            Action::Open { .. }
            | Action::Reply { .. }
            | Action::Datagram { .. }
            | Action::Broadcast { .. } => {
                let p = self.packet_for(s, action)?;
                let (result, track) = self.send(s, &p);
                match result {
                    Ok(to) => {
                        let key = self.conn_key(&p);
                        if track && !next.conntrack.contains(&key) {
                            if next.conntrack.len() >= usize::from(self.cfg.max_connections) {
                                return Some((
                                    Outcome::Dropped {
                                        reason: DropReason::ConntrackFull,
                                    },
                                    next,
                                ));
                            }
                            next.conntrack.push(key);
                            next.conntrack.sort();
                        }
                        next.broken = next.broken.union(claims_broken_by(self, s, &p, &to));
                        next.last = self.witness(s, &p, &to);
                        Outcome::Delivered { to }
                    }
                    Err(reason) => Outcome::Dropped { reason },
                }
            }
            Action::Close { conn } => {
                let at = next.conntrack.iter().position(|c| *c == conn)?;
                next.conntrack.remove(at);
                Outcome::Closed
            }
            Action::Move { instance, to_host } => {
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
                let lists = self.fc_lists(&next);
                for pending in next.pending.iter_mut() {
                    *pending = Some(lists.clone());
                }
                Outcome::Moved { dip }
            }
            Action::FaApply { host } => {
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
                next.last = Some(Witness::FcAcceptedAck);
                Outcome::Applied
            }
            Action::HostileResponse { host, forgery } => {
                s.pending.get(usize::from(host))?.as_ref()?;
                match forgery {
                    // claim: NET-15 (an answer counts only for the peer that was authenticated)
                    Forgery::AckForHost(other) if other == host || other >= self.cfg.hosts => {
                        return None
                    }
                    Forgery::AckForHost(other) if self.has(Flaw::FcTrustsResponseFields) => {
                        // The FC believes the other host applied its list.
                        next.pending[usize::from(other)] = None;
                        for q in next.quarantine.iter_mut() {
                            *q &= !(1u16 << other);
                        }
                        next.broken.insert(15);
                        Outcome::Applied
                    }
                    Forgery::AckForHost(_) | Forgery::Garbage => Outcome::Refused {
                        reason: DropReason::UntrustedResponse,
                    },
                }
            }
            Action::Control {
                principal,
                endpoint,
            } => match self.authenticate(principal, endpoint) {
                Ok(()) => {
                    if principal != endpoint.legitimate() {
                        next.broken.insert(14);
                    }
                    if principal == Principal::Fc && matches!(endpoint, ControlEndpoint::Fa(_)) {
                        next.last = Some(Witness::FaAcceptedFc);
                    }
                    Outcome::Accepted
                }
                Err(reason) => Outcome::Refused { reason },
            },
        };
        Some((outcome, next))
    }

    fn action_kind(action: &Action) -> &'static str {
        match action {
            Action::Open { .. } => "open",
            Action::Reply { .. } => "reply",
            Action::Close { .. } => "close",
            Action::Datagram { .. } => "datagram",
            Action::Broadcast { .. } => "broadcast",
            Action::Move { .. } => "move",
            Action::FaApply { .. } => "fa-apply",
            Action::HostileResponse { .. } => "hostile-response",
            Action::Control { .. } => "control",
        }
    }

    fn action_shape(&self, s: &NetworkState, action: &Action) -> String {
        let node_class = |n: Node| match n {
            Node::Fc(_) => "fc",
            Node::Host(_) => "host",
            Node::Vm(i) if Self::role_of(i) == Role::Web => "web",
            Node::Vm(_) => "worker",
            Node::Device(_) => "device",
            Node::Storage => "storage",
            Node::Internet => "internet",
            Node::Corp => "corp",
            Node::Mgmt => "mgmt",
        };
        let addr_class = |from: Node, a: Addr| -> &'static str {
            let same_app =
                |y: u8| matches!(from, Node::Vm(x) if Self::app_of(x) == Self::app_of(y));
            match a {
                Addr::Fc(_) => "fc",
                Addr::Host(_) => "host",
                Addr::Dip(d) => match Self::owner_of(s, d) {
                    None => "free-dip",
                    Some(y) if same_app(y) => "peer-dip",
                    Some(y) if Self::role_of(y) == Role::Web => "web-dip",
                    Some(_) => "worker-dip",
                },
                Addr::Vip(a) if matches!(from, Node::Vm(x) if Self::app_of(x) == a) => "own-vip",
                Addr::Vip(_) => "vip",
                Addr::Device(_) => "device",
                Addr::Storage => "storage",
                Addr::Internet => "internet",
                Addr::Corp => "corp",
                Addr::Mgmt => "mgmt",
                Addr::Broadcast => "broadcast",
            }
        };
        match *action {
            Action::Open { from, to, port } => {
                format!(
                    "open {}->{} {}",
                    node_class(from),
                    addr_class(from, to),
                    port_name(port)
                )
            }
            Action::Reply { conn } => format!(
                "reply {}->{}",
                addr_class(conn.initiator, conn.target),
                node_class(conn.initiator)
            ),
            Action::Close { .. } => "close".into(),
            Action::Datagram { vm, src, to } => {
                let from = Node::Vm(vm);
                let source = if src == Self::addr_of(s, from) {
                    "own".to_string()
                } else {
                    format!("forged-{}", addr_class(from, src))
                };
                format!(
                    "datagram {} src={} ->{}",
                    node_class(from),
                    source,
                    addr_class(from, to)
                )
            }
            Action::Broadcast { from } => format!("broadcast {}", node_class(from)),
            Action::Move { .. } => "move".into(),
            Action::FaApply { .. } => "fa-apply".into(),
            Action::HostileResponse { forgery, .. } => match forgery {
                Forgery::Garbage => "hostile-response garbage".into(),
                Forgery::AckForHost(_) => "hostile-response ack-for-other-host".into(),
            },
            Action::Control {
                principal,
                endpoint,
            } => {
                let p = match principal {
                    Principal::Fc => "fc",
                    Principal::Smapi => "smapi",
                    Principal::Admin => "admin",
                    Principal::RogueHost(_) => "rogue",
                };
                let e = match endpoint {
                    ControlEndpoint::Fa(_) => "fa",
                    ControlEndpoint::FcSmapi => "fc-smapi",
                    ControlEndpoint::FcAdmin => "fc-admin",
                };
                format!("control {p}->{e}")
            }
        }
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
        match (action, outcome) {
            (_, Outcome::Dropped { reason } | Outcome::Refused { reason }) => reason.claims(),
            (Action::Move { .. }, _) => ClaimSet::of(&[8]),
            (Action::FaApply { .. } | Action::HostileResponse { .. }, _) => ClaimSet::of(&[8, 15]),
            (Action::Control { .. }, Outcome::Accepted) => ClaimSet::of(&[14]),
            (_, Outcome::Delivered { to }) => {
                let Some(p) = self.packet_for(before, action) else {
                    return ClaimSet::EMPTY;
                };
                let broken = claims_broken_by(self, before, &p, to);
                let shown = match self.witness(before, &p, to) {
                    Some(Witness::FcGotReply) => ClaimSet::of(&[1, 3]),
                    Some(Witness::FcReachedDevice) => ClaimSet::of(&[2, 13]),
                    Some(Witness::IntraApp) => ClaimSet::of(&[4, 5, 8]),
                    Some(Witness::IntraAppAfterMove) => ClaimSet::of(&[4, 5, 8]),
                    Some(Witness::VmReachedInternet) => ClaimSet::of(&[6, 9]),
                    Some(Witness::HostBroadcast) => ClaimSet::of(&[7]),
                    Some(Witness::CrossAppViaVip) => ClaimSet::of(&[9]),
                    Some(Witness::WebServedInternet) => ClaimSet::of(&[10, 11]),
                    Some(Witness::WorkerGotReply) => ClaimSet::of(&[11]),
                    Some(Witness::CorpReachedMgmt) => ClaimSet::of(&[12]),
                    Some(Witness::FaAcceptedFc) => ClaimSet::of(&[14]),
                    Some(Witness::FcAcceptedAck) => ClaimSet::of(&[15]),
                    None => ClaimSet::EMPTY,
                };
                broken.union(shown)
            }
            _ => ClaimSet::EMPTY,
        }
    }

    fn narrate(&self, before: &NetworkState, action: &Action, outcome: &Outcome) -> String {
        let what = match *action {
            Action::Open { from, to, port } => format!(
                "{} opens {} to {}",
                node_name(from),
                port_name(port),
                addr_name(to)
            ),
            Action::Reply { conn } => format!(
                "{} replies on {}'s {} connection",
                addr_name(conn.target),
                node_name(conn.initiator),
                port_name(conn.port)
            ),
            Action::Close { conn } => format!(
                "{} closes its connection to {}",
                node_name(conn.initiator),
                addr_name(conn.target)
            ),
            Action::Datagram { vm, src, to } => {
                let own = Addr::Dip(before.placement[usize::from(vm)].dip);
                let source = if src == own {
                    "its own source".to_string()
                } else {
                    format!("forged source {}", addr_name(src))
                };
                format!(
                    "{} sends a datagram with {} to {}",
                    node_name(Node::Vm(vm)),
                    source,
                    addr_name(to)
                )
            }
            Action::Broadcast { from } => format!("{} broadcasts on its VLAN", node_name(from)),
            Action::Move { instance, to_host } => format!(
                "FC moves {} from host {} to host {} and pushes new instance lists",
                node_name(Node::Vm(instance)),
                before.placement[usize::from(instance)].host,
                to_host
            ),
            Action::FaApply { host } => {
                format!("FA on host {host} applies the pushed instance lists and acknowledges")
            }
            Action::HostileResponse { host, forgery } => match forgery {
                Forgery::Garbage => {
                    format!("compromised FA on host {host} answers the push with garbage")
                }
                Forgery::AckForHost(g) => format!(
                    "compromised FA on host {host} answers the push with an acknowledgement for host {g}"
                ),
            },
            Action::Control {
                principal,
                endpoint,
            } => {
                format!(
                    "{} sends a control message to {}",
                    principal_name(principal),
                    endpoint_name(endpoint)
                )
            }
        };
        let result = match outcome {
            Outcome::Delivered { to } => {
                let names: Vec<String> = to.iter().map(|n| node_name(*n)).collect();
                format!("delivered to {}", names.join(", "))
            }
            Outcome::Dropped { reason } => format!("dropped ({reason:?})"),
            Outcome::Moved { dip } => format!("now at DIP {dip}"),
            Outcome::Applied => "the FC records the acknowledgement".to_string(),
            Outcome::Closed => "the router forgets it".to_string(),
            Outcome::Accepted => "accepted".to_string(),
            Outcome::Refused { reason } => format!("refused ({reason:?})"),
        };
        format!("{what}: {result}")
    }

    fn itf_vars(&self, s: &NetworkState) -> Map<String, Value> {
        let dips =
            |mask: u16| itf::set((0..16u8).filter(|d| mask & (1 << d) != 0).map(|d| json!(d)));
        let per_app =
            |lists: &[u16]| itf::map(lists.iter().enumerate().map(|(a, m)| (json!(a), dips(*m))));
        let mut vars = Map::new();
        vars.insert(
            "placement".into(),
            itf::map(
                s.placement
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (json!(i), json!({"host": p.host, "dip": p.dip}))),
            ),
        );
        vars.insert("moves".into(), json!(s.moves));
        vars.insert(
            "filters".into(),
            itf::map(
                s.filters
                    .iter()
                    .enumerate()
                    .map(|(h, lists)| (json!(h), per_app(lists))),
            ),
        );
        vars.insert(
            "pending".into(),
            itf::set(
                s.pending
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.is_some())
                    .map(|(h, _)| json!(h)),
            ),
        );
        vars.insert(
            "quarantine".into(),
            itf::set(
                s.quarantine
                    .iter()
                    .enumerate()
                    .filter(|(_, q)| **q != 0)
                    .map(|(d, _)| json!(d)),
            ),
        );
        vars.insert(
            "conntrack".into(),
            itf::set(s.conntrack.iter().map(itf::value)),
        );
        vars.insert("broken".into(), itf::claims(s.broken, Self::claim_label));
        vars
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

/// A node's name in narratives: `app0-web`, `host 1`, `FC 0`.
pub fn node_name(node: Node) -> String {
    match node {
        Node::Fc(n) => format!("FC {n}"),
        Node::Host(n) => format!("host {n}"),
        Node::Vm(i) => instance_name(i),
        Node::Device(k) => format!("device {k:?}"),
        Node::Storage => "storage back end".into(),
        Node::Internet => "Internet".into(),
        Node::Corp => "corp".into(),
        Node::Mgmt => "management endpoint".into(),
    }
}

/// An instance's name: `app0-web`, `app1-worker`.
pub fn instance_name(i: u8) -> String {
    let role = match NetworkModel::role_of(i) {
        Role::Web => "web",
        Role::Worker => "worker",
    };
    format!("app{}-{role}", NetworkModel::app_of(i))
}

fn addr_name(addr: Addr) -> String {
    match addr {
        Addr::Fc(n) => format!("FC {n}"),
        Addr::Host(n) => format!("host {n}"),
        Addr::Dip(d) => format!("DIP {d}"),
        Addr::Vip(a) => format!("VIP of app{a}"),
        Addr::Device(k) => format!("device {k:?}"),
        Addr::Storage => "storage back end".into(),
        Addr::Internet => "Internet".into(),
        Addr::Corp => "corp".into(),
        Addr::Mgmt => "management endpoint".into(),
        Addr::Broadcast => "broadcast".into(),
    }
}

fn port_name(port: Port) -> &'static str {
    match port {
        Port::Control => "control",
        Port::App => "app",
        Port::Https => "HTTPS",
        Port::RemoteDesktop => "remote desktop",
        Port::RemoteDebug => "remote debug",
        Port::FileShare => "file share",
    }
}

fn principal_name(p: Principal) -> String {
    match p {
        Principal::Fc => "FC (root-chained certificate)".into(),
        Principal::Smapi => "SMAPI (pinned certificate)".into(),
        Principal::Admin => "admin (pinned certificate)".into(),
        Principal::RogueHost(h) => format!("rogue host {h} (unknown self-signed certificate)"),
    }
}

fn endpoint_name(e: ControlEndpoint) -> String {
    match e {
        ControlEndpoint::Fa(h) => format!("FA on host {h}"),
        ControlEndpoint::FcSmapi => "FC SMAPI service".into(),
        ControlEndpoint::FcAdmin => "FC admin service".into(),
    }
}
