//! The Fabric Agent as an IO-free request handler: it programs its host's
//! filters from what the FC sends and answers. It never initiates anything.

use super::wire::{AgentRequest, AgentResponse};
use crate::bugs::BugSet;
use crate::net::{HostId, SharedFilters};

/// A host's Fabric Agent.
#[derive(Clone, Debug)]
pub struct Agent {
    /// The host it runs on.
    pub host: HostId,
    /// The host's filters, shared with the virtual switch.
    pub filters: SharedFilters,
    /// Seeded bugs switched on.
    pub bugs: BugSet,
}

impl Agent {
    /// An agent for `host` that programs `filters`.
    pub fn new(host: HostId, filters: SharedFilters, bugs: BugSet) -> Self {
        Agent {
            host,
            filters,
            bugs,
        }
    }

    /// Serves one request from the (already authenticated) FC.
    pub fn handle(&self, request: AgentRequest) -> AgentResponse {
        match request {
            AgentRequest::PushLists(lists) => {
                // A panic while a writer held the lock cannot leave the filters
                // half-replaced (`apply` assigns whole maps), so recover the guard.
                let mut filters = self
                    .filters
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let changed = filters.apply(&lists, self.bugs);
                tracing::debug!(
                    host = self.host,
                    pushed = lists.version,
                    applied = filters.version,
                    changed,
                    "FA applied instance lists"
                );
                // The version actually in force: the FC compares it with what it pushed.
                AgentResponse::Applied {
                    host: self.host,
                    version: filters.version,
                }
            }
            AgentRequest::Ping => AgentResponse::Pong,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{HostFilters, InstanceLists};
    use std::collections::{BTreeMap, BTreeSet};
    use std::net::Ipv4Addr;
    use std::sync::{Arc, Mutex};

    #[test]
    fn push_replaces_and_reports_version() {
        let filters: SharedFilters = Arc::new(Mutex::new(HostFilters::default()));
        let agent = Agent::new(2, filters.clone(), BugSet::NONE);
        let ip = Ipv4Addr::new(192, 0, 2, 100);
        let lists = InstanceLists {
            version: 3,
            apps: BTreeMap::from([(1, BTreeSet::from([ip]))]),
        };
        assert_eq!(
            agent.handle(AgentRequest::PushLists(lists)),
            AgentResponse::Applied {
                host: 2,
                version: 3
            }
        );
        assert!(filters.lock().expect("not poisoned").allows(1, ip));
        // An older push is ignored, and the answer says which version is in force.
        let old = InstanceLists {
            version: 2,
            apps: BTreeMap::new(),
        };
        assert_eq!(
            agent.handle(AgentRequest::PushLists(old)),
            AgentResponse::Applied {
                host: 2,
                version: 3
            }
        );
        assert!(filters.lock().expect("not poisoned").allows(1, ip));
        assert_eq!(agent.handle(AgentRequest::Ping), AgentResponse::Pong);
    }
}
