//! The virtual network: a userspace switch with VLANs, a router with
//! connection tracking between them, an edge load balancer with VIPs, and a
//! packet filter on every guest VM's port.
//!
//! The rules are data ([`RuleSet`]) and every verdict comes from a pure
//! function in [`decide`], so a kernel backend (network namespaces and
//! nftables) can later enforce the same rule set. [`VirtualNetwork`] is the
//! stateful shell: it owns the connection table and the VM attachments and
//! asks [`decide`] about each packet.

mod addr;
pub mod decide;
mod filter;
mod rules;
mod switch;
mod verdict;

pub use addr::{
    ports, AppId, DeviceKind, HostId, InstanceId, NodeId, Packet, Role, Vlan, BROADCAST,
};
pub use filter::{HostFilters, InstanceLists, PortFilter, SharedFilters};
pub use rules::{AppPolicy, Cidr, RuleSet, Topology, VlanRule, VlanVerdict};
pub use switch::{Conntrack, ConntrackKey, Delivery, VirtualNetwork};
pub use verdict::Denied;
