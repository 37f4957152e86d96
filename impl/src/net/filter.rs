//! What the FA programs into a host's VM ports: per application, the IPs of
//! that application's current instances, as the FC listed them.

use super::addr::{AppId, HostId, InstanceId, Role};
use crate::bugs::{BugSet, SeededBug};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

/// The instance lists the FC pushes to every FA.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceLists {
    /// Increases with every change at the FC.
    pub version: u64,
    /// Per application, its current instances' DIPs.
    pub apps: BTreeMap<AppId, BTreeSet<Ipv4Addr>>,
}

/// A host's programmed allow lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFilters {
    /// The version of the last list applied.
    pub version: u64,
    /// Per application, the IPs its instances on this host accept intra-application traffic from.
    pub allow: BTreeMap<AppId, BTreeSet<Ipv4Addr>>,
}

/// A host's filters, shared between its FA (which writes them) and the
/// virtual switch (which reads them on every packet).
pub type SharedFilters = Arc<Mutex<HostFilters>>;

impl HostFilters {
    /// Replaces the allow lists with `lists`. A list older than the one
    /// applied is ignored, so a late push can never roll back a move.
    ///
    /// Returns whether anything changed.
    pub fn apply(&mut self, lists: &InstanceLists, bugs: BugSet) -> bool {
        if lists.version < self.version {
            return false;
        }
        // claim: NET-8 (the old IP of a moved instance is removed: replace, never merge)
        if bugs.has(SeededBug::FaMergesLists) {
            for (app, ips) in &lists.apps {
                self.allow
                    .entry(*app)
                    .or_default()
                    .extend(ips.iter().copied());
            }
        } else {
            self.allow = lists.apps.clone();
        }
        self.version = lists.version;
        true
    }

    /// Whether `app`'s instances on this host accept intra-application traffic from `src`.
    pub fn allows(&self, app: AppId, src: Ipv4Addr) -> bool {
        self.allow.get(&app).is_some_and(|ips| ips.contains(&src))
    }
}

/// A guest VM's port: who is behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortFilter {
    /// The instance.
    pub instance: InstanceId,
    /// Its DIP.
    pub ip: Ipv4Addr,
    /// Its application.
    pub app: AppId,
    /// Its role.
    pub role: Role,
    /// The host it runs on.
    pub host: HostId,
    /// That host's address.
    pub host_ip: Ipv4Addr,
}
