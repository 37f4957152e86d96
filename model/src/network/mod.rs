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
//!   FC attributes an answer only to the peer it authenticated, and refuses
//!   the rest.
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
//! nothing of the mechanism. [`claims_broken_by_answer`] is NET-15's: an FA's
//! answer, honest or hostile, may change the FC's state only in that node's
//! record (the push owed to it, whether it applied, its own filters); it
//! compares the state before and after, whatever path the FC took. NET-14 is
//! judged where a TLS endpoint accepts a client: the client must be the one
//! principal the endpoint's channel allows. [`judged`] names, per step, the
//! claims whose premise held, so the area contract can check that every
//! witness is a step where its claim could have been broken. Every step adds what it broke to a sticky ghost
//! set, and each `always` property says its claim is not in that set. A
//! `last` ghost records what the latest step showed of the allowed cases, for
//! the `sometimes` properties.

// The rooms every area has, read in this order (rustfmt sorts the lines):
// vocabulary, config, mechanism, oracle, actions, step, properties, flaws,
// narration, itf.
mod actions;
mod config;
mod flaws;
mod itf;
mod mechanism;
mod narration;
mod oracle;
mod properties;
mod step;
mod vocabulary;

pub use config::*;
pub use flaws::*;
pub use narration::*;
pub use oracle::*;
pub use properties::*;
pub use vocabulary::*;

use crate::claims::ClaimSet;
use crate::{claim, claims};
