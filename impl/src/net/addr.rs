//! Addresses, nodes, VLANs and packets.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// An application, by index.
pub type AppId = u8;
/// A host, by index.
pub type HostId = u8;
/// A role instance (and its VM), by index.
pub type InstanceId = u8;

/// The broadcast address.
pub const BROADCAST: Ipv4Addr = Ipv4Addr::BROADCAST;

/// Well-known service ports.
pub mod ports {
    /// The FA's TLS control service.
    pub const CONTROL: u16 = 10100;
    /// An application's own port.
    pub const APP: u16 = 8080;
    /// HTTPS to a management interface.
    pub const HTTPS: u16 = 443;
    /// Remote Terminal Services.
    pub const RDP: u16 = 3389;
    /// Remote debugging (msvsmon).
    pub const DEBUG: u16 = 4022;
    /// SMB file sharing.
    pub const SMB: u16 = 445;
}

/// The VLANs and the outside networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Vlan {
    /// FCs.
    Fc,
    /// Hosts, guest VMs, storage back ends.
    Main,
    /// Infrastructure devices.
    Device,
    /// The Internet, corporate networks, and the VIPs on the edge.
    External,
    /// The platform-management endpoint.
    Management,
}

/// A device on the device VLAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DeviceKind {
    /// Power distribution unit.
    Power,
    /// Switch management interface.
    Switch,
    /// Load balancer management interface.
    LoadBalancer,
}

/// A role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Internet-facing through a VIP.
    Web,
    /// Back end.
    Worker,
}

/// A node attached to the network: where a packet physically comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum NodeId {
    /// FC replica.
    Fc(u8),
    /// Host root OS and FA.
    Host(HostId),
    /// Guest VM of a role instance.
    Vm(InstanceId),
    /// Device.
    Device(DeviceKind),
    /// Storage back end.
    Storage,
    /// A host on the Internet.
    Internet,
    /// A host on the corporate network.
    Corp,
    /// The platform-management endpoint.
    Mgmt,
}

/// A packet as the switch sees it. The source address is whatever the sender
/// wrote; the switch knows the real sender from the port it arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Packet {
    /// Source address as written.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Destination port.
    pub dst_port: u16,
    /// Whether the packet says it belongs to an established connection (like
    /// a TCP ACK without SYN). Never trusted without a tracked connection.
    pub reply: bool,
}
