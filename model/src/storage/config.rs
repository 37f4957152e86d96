//! The bounds of the storage model and how they build it.

use super::*;
use serde::{Deserialize, Serialize};

/// The storage model's configuration, by the name every area uses.
pub type Config = StorageConfig;

/// The stored access policies a client may set: read and list until the end
/// of time, or read only until tick 1.
pub const POLICY_MENU: [Policy; 2] = [
    Policy {
        perms: Perms::READ.union(Perms::LIST),
        expiry: u8::MAX,
    },
    Policy {
        perms: Perms::READ,
        expiry: 0,
    },
];

/// Bounds and switches of the storage model.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StorageConfig {
    /// The last tick of the clock.
    pub max_clock: u8,
    /// How many puts may be accepted (each takes a fresh version).
    pub max_puts: u8,
    /// How many snapshots may be taken.
    pub max_snapshots: u8,
    /// How many replica crashes may happen.
    pub max_crashes: u8,
    /// How many times each key slot may be regenerated.
    pub key_versions: u8,
    /// How many SASes client 0 may hand out.
    pub max_sas: u8,
    /// Stored access policy ids in use (at most [`MAX_POLICIES`]).
    pub policy_ids: u8,
    /// How many times policies may be set, changed or removed.
    pub max_policy_changes: u8,
    /// How many times the public access level may be changed.
    pub max_public_changes: u8,
    /// The deliberate defect, if any.
    pub flaw: Option<Flaw>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            max_clock: 1,
            max_puts: 2,
            max_snapshots: 1,
            max_crashes: 1,
            key_versions: 1,
            max_sas: 1,
            policy_ids: 1,
            max_policy_changes: 2,
            max_public_changes: 1,
            flaw: None,
        }
    }
}

impl StorageConfig {
    /// Larger bounds for `fabric check --deep`.
    pub fn deep() -> Self {
        StorageConfig {
            max_clock: 2,
            max_puts: 3,
            max_crashes: 2,
            ..StorageConfig::default()
        }
    }

    /// Parses the bounds line of a trace's `#meta` (`max_clock=2 max_puts=2
    /// ...`); bounds it does not name keep their defaults.
    pub fn from_bounds_line(line: &str) -> Result<Self, String> {
        let mut cfg = StorageConfig::default();
        for (key, value) in crate::trace::parse_bounds(line)? {
            match key {
                "max_clock" => cfg.max_clock = value,
                "max_puts" => cfg.max_puts = value,
                "max_snapshots" => cfg.max_snapshots = value,
                "max_crashes" => cfg.max_crashes = value,
                "key_versions" => cfg.key_versions = value,
                "max_sas" => cfg.max_sas = value,
                "policy_ids" => cfg.policy_ids = value,
                "max_policy_changes" => cfg.max_policy_changes = value,
                "max_public_changes" => cfg.max_public_changes = value,
                _ => return Err(format!("unknown bound {key:?}")),
            }
        }
        cfg.validate()
            .map_err(|e| format!("bounds out of range ({e}): {line:?}"))?;
        Ok(cfg)
    }

    pub(super) fn validate(&self) -> Result<(), &'static str> {
        if self.max_puts > 7 {
            return Err("at most 7 puts");
        }
        if self.max_snapshots > BLOBS {
            return Err("at most one snapshot per blob name");
        }
        if self.policy_ids == 0 || self.policy_ids > MAX_POLICIES {
            return Err("1 to 5 policy ids");
        }
        if self.max_clock > 100 || self.key_versions > 100 {
            return Err("clock and key versions at most 100");
        }
        Ok(())
    }

    /// The same bounds with `flaw`.
    pub fn with_flaw(mut self, flaw: Option<Flaw>) -> Self {
        self.flaw = flaw;
        self
    }

    /// Builds the model.
    ///
    /// # Panics
    /// If the bounds are out of range (more than 7 puts, more snapshots than
    /// blob names, policy ids outside 1 to 5).
    pub fn into_model(self) -> StorageModel {
        if let Err(e) = self.validate() {
            panic!("storage bounds out of range: {e}");
        }
        StorageModel { cfg: self }
    }
}
