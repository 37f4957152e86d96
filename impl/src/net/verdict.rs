//! Why a packet or a peer was refused.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A denial, with the reason the rule set gives.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Error,
)]
pub enum Denied {
    /// The VLAN policy of the router forbids it.
    #[error("VLAN policy forbids this direction (NET-1, NET-2, NET-3, NET-13)")]
    VlanPolicy,
    /// The connection table is full.
    #[error("connection table full")]
    ConntrackFull,
    /// The source address is not the sending VM's own.
    #[error("spoofed source address (NET-4)")]
    SpoofedSource,
    /// A guest addressed protected infrastructure.
    #[error("guest addressed an infrastructure endpoint (NET-6)")]
    InfrastructureEndpoint,
    /// Broadcast to or from a guest.
    #[error("broadcast to or from a guest (NET-7)")]
    Broadcast,
    /// The source is not on the receiver's application's allow list.
    #[error("source not on the application's allow list (NET-8, NET-9)")]
    NotInAllowList,
    /// The sender's application may not open outbound Internet connections.
    #[error("application may not open outbound Internet connections (NET-9)")]
    OutboundNotAllowed,
    /// The receiver does not accept inbound Internet connections.
    #[error("receiver does not accept inbound Internet connections (NET-9, NET-11)")]
    InboundNotAllowed,
    /// Remote access ports are closed.
    #[error("remote access is disabled by default (NET-10)")]
    RemoteAccessDisabled,
    /// The edge exposes only VIPs.
    #[error("the edge exposes only VIPs (NET-11)")]
    NotExposed,
    /// The source is outside the corporate address ranges.
    #[error("source outside the corporate ranges (NET-12)")]
    CorpAcl,
    /// Nothing holds the address.
    #[error("no such address")]
    NoSuchAddress,
    /// The client certificate does not chain to the fabric root.
    #[error("client certificate does not chain to the fabric root (NET-14)")]
    UnauthenticatedPeer,
    /// The client certificate's fingerprint is not pinned.
    #[error("client certificate fingerprint is not pinned (NET-14)")]
    UnpinnedFingerprint,
}

impl Denied {
    /// The claims whose enforcement this denial is.
    pub const fn claims(self) -> &'static [&'static str] {
        match self {
            Denied::VlanPolicy => &["NET-1", "NET-2", "NET-3", "NET-13"],
            Denied::ConntrackFull | Denied::NoSuchAddress => &[],
            Denied::SpoofedSource => &["NET-4"],
            Denied::InfrastructureEndpoint => &["NET-6"],
            Denied::Broadcast => &["NET-7"],
            Denied::NotInAllowList => &["NET-8", "NET-9"],
            Denied::OutboundNotAllowed => &["NET-9"],
            Denied::InboundNotAllowed => &["NET-9", "NET-11"],
            Denied::RemoteAccessDisabled => &["NET-10"],
            Denied::NotExposed => &["NET-11"],
            Denied::CorpAcl => &["NET-12"],
            Denied::UnauthenticatedPeer | Denied::UnpinnedFingerprint => &["NET-14"],
        }
    }
}
