//! Storage nodes, replica placement in the account's location (GEO-1), and
//! the service's settings.

use super::*;

/// A storage node: a directory standing for a machine in a location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageNode {
    /// Its name.
    pub name: String,
    /// The location it is in.
    pub location: String,
    /// Where it keeps replicas.
    pub dir: PathBuf,
}

/// Chooses three distinct nodes in `location` for an account's replicas
/// (the first three in order, so placement is stable across restarts).
// claim: GEO-1
pub fn place_replicas(
    location: &str,
    nodes: &[StorageNode],
    bugs: BugSet,
) -> Result<[usize; REPLICA_COUNT], String> {
    let mut chosen: Vec<usize> = nodes
        .iter()
        .enumerate()
        .filter(|(_, node)| node.location == location)
        .map(|(index, _)| index)
        .take(REPLICA_COUNT)
        .collect();
    if bugs.has(SeededBug::ReplicaInOtherLocation) {
        if let Some(elsewhere) = nodes.iter().position(|node| node.location != location) {
            chosen.truncate(REPLICA_COUNT - 1);
            chosen.push(elsewhere);
        }
    }
    <[usize; REPLICA_COUNT]>::try_from(chosen.as_slice()).map_err(|_| {
        format!(
            "location {location} has {} storage nodes; an account needs {REPLICA_COUNT}",
            chosen.len()
        )
    })
}

/// The service's settings.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Where the storage nodes keep their replicas.
    pub data_dir: PathBuf,
    /// The accounts served.
    pub accounts: Vec<AccountSpec>,
    /// The storage nodes (three per location by default).
    pub nodes: Vec<StorageNode>,
    /// The credential the subscription (SMAPI) presents to change keys.
    pub subscription_token: SecretBytes,
    /// How long a write waits for a crashed replica before `ServerBusy`.
    pub replica_wait_ms: u64,
    /// Seeded bugs (conformance tests only).
    pub bugs: BugSet,
}

impl ServiceConfig {
    /// Settings with three nodes in each of `local-1` and `local-2` under
    /// `data_dir`.
    pub fn new(
        data_dir: PathBuf,
        accounts: Vec<AccountSpec>,
        subscription_token: SecretBytes,
    ) -> Self {
        let nodes = ["local-1", "local-2"]
            .iter()
            .flat_map(|location| {
                let data_dir = data_dir.clone();
                (0..REPLICA_COUNT).map(move |n| StorageNode {
                    name: format!("{location}-node{n}"),
                    location: location.to_string(),
                    dir: data_dir.join(location).join(format!("node{n}")),
                })
            })
            .collect();
        ServiceConfig {
            data_dir,
            accounts,
            nodes,
            subscription_token,
            replica_wait_ms: 2_000,
            bugs: BugSet::NONE,
        }
    }
}
