//! Who a peer of the control plane is, once authenticated: the vocabulary
//! that the certificate decisions (`auth`), the wire messages (`wire`) and
//! the services share. A leaf: it imports nothing else of the control plane,
//! so every other module may import it.

use crate::net::HostId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Who a peer was authenticated as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Identity {
    /// The Fabric Controller (certificate chained to the fabric root).
    Fc,
    /// The service management API.
    Smapi,
    /// An administrator.
    Admin,
    /// The Fabric Agent of a host.
    Fa(HostId),
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Fc => f.write_str("FC"),
            Identity::Smapi => f.write_str("SMAPI"),
            Identity::Admin => f.write_str("admin"),
            Identity::Fa(h) => write!(f, "FA of host {h}"),
        }
    }
}
