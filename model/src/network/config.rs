//! The bounds of the network model and how they build it.

use super::*;
use serde::{Deserialize, Serialize};

/// The network model's configuration, by the name every area uses.
pub type Config = NetworkConfig;

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
