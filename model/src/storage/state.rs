//! The storage model's state: locations and scenarios, replicas and their
//! write in flight, the ghost history, the witnesses of the allowed cases,
//! and the model itself.

use super::*;
use serde::{Deserialize, Serialize};

/// Where a replica sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Location {
    /// The geo-location the customer chose for the account.
    Chosen,
    /// Anywhere else.
    Other,
}

/// Which concern an execution explores; the model has one initial state per
/// scenario (see the module documentation for why).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scenario {
    /// Keys, rotation, SASes, stored policies and public access, over two
    /// blobs that already exist; deletes (but not puts, snapshots, leases or
    /// crashes) reach the replicas.
    Access,
    /// Puts, gets, lists, deletes, snapshots, leases, replication, crashes
    /// and block reuse, with the keys, SASes, policies and public level fixed.
    Data,
}

impl Scenario {
    /// Whether `action` belongs to this scenario.
    pub fn allows(self, action: &Action) -> bool {
        match self {
            Scenario::Access => !matches!(
                action,
                Action::Put { .. }
                    | Action::Snapshot { .. }
                    | Action::Lease { .. }
                    | Action::Crash { .. }
                    | Action::Restart { .. }
            ),
            Scenario::Data => !matches!(
                action,
                Action::RegenerateKey { .. }
                    | Action::Switch { .. }
                    | Action::IssueSas { .. }
                    | Action::SetPolicy { .. }
                    | Action::RemovePolicy { .. }
                    | Action::SetPublicAccess { .. }
            ),
        }
    }
}

/// A write on its way through the replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WriteOp {
    /// Put version `version` of `blob`.
    Put {
        /// The blob.
        blob: u8,
        /// The fresh version number.
        version: u8,
        /// What it writes.
        content: Content,
    },
    /// Delete `blob` and its snapshot.
    Delete {
        /// The blob.
        blob: u8,
    },
    /// Snapshot `blob`, whose current version is `version`.
    Snapshot {
        /// The blob.
        blob: u8,
        /// The version the snapshot freezes.
        version: u8,
    },
}

impl WriteOp {
    /// The blob it writes.
    pub const fn blob(self) -> u8 {
        match self {
            WriteOp::Put { blob, .. }
            | WriteOp::Delete { blob }
            | WriteOp::Snapshot { blob, .. } => blob,
        }
    }

    /// The value of (`blob`, `snapshot`) after this write, given `before`.
    pub fn after(self, blob: u8, snapshot: bool, before: Option<u8>) -> Option<u8> {
        match self {
            WriteOp::Put {
                blob: b, version, ..
            } if b == blob && !snapshot => Some(version),
            WriteOp::Delete { blob: b } if b == blob => None,
            WriteOp::Snapshot { blob: b, version } if b == blob && snapshot => Some(version),
            _ => before,
        }
    }

    pub(super) fn kind(self) -> &'static str {
        match self {
            WriteOp::Put { .. } => "put",
            WriteOp::Delete { .. } => "delete",
            WriteOp::Snapshot { .. } => "snapshot",
        }
    }
}

/// The write in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pending {
    /// The write.
    pub op: WriteOp,
    /// The replicas that hold it (a bit set): prepared before the commit,
    /// applied after a flawed early one.
    pub replicas: u8,
    /// Whether the client has been answered (only a flawed early commit
    /// leaves a write in flight after that).
    pub acked: bool,
    /// Ghost: whether a read has already returned the value after this write.
    pub observed: bool,
}

/// A blob or snapshot as a replica stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Stored {
    /// The version.
    pub version: u8,
    /// The block holding its bytes.
    pub block: u8,
}

/// One replica of the account's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Replica {
    /// Where it was placed.
    pub location: Location,
    /// Whether it is running.
    pub up: bool,
    /// Per blob name, the committed blob.
    pub blobs: [Option<Stored>; BLOBS as usize],
    /// Per blob name, its committed snapshot (which shares the blob's block).
    pub snapshots: [Option<Stored>; BLOBS as usize],
    /// The bytes in each block (a version tag, 0 for zeros); a block no blob
    /// links to is free and keeps its old bytes until reused.
    pub blocks: [u8; BLOCKS],
}

impl Replica {
    pub(super) fn stored(&self, blob: u8, snapshot: bool) -> Option<Stored> {
        if snapshot {
            self.snapshots[usize::from(blob)]
        } else {
            self.blobs[usize::from(blob)]
        }
    }

    pub(super) fn linked(&self, block: u8) -> bool {
        self.blobs
            .iter()
            .chain(self.snapshots.iter())
            .flatten()
            .any(|c| c.block == block)
    }
}

/// The allowed cases that the `sometimes` properties look for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Witness {
    /// A request signed with a regenerated account key succeeded (STO-1).
    SharedKeyServed,
    /// The application, never refused, succeeded after both keys were
    /// regenerated (STO-2).
    RotationCompleted,
    /// A read through a valid ad hoc SAS succeeded (STO-3).
    SasRead,
    /// A read through a SAS bound to a stored policy succeeded (STO-4).
    PolicySasRead,
    /// An anonymous read of public data succeeded (STO-5).
    AnonymousPublicRead,
    /// A read after an acknowledged delete found nothing (STO-6).
    GoneAfterDelete,
    /// An acknowledged write was read while a replica was down (STO-7).
    ReadDespiteCrash,
    /// The subscription regenerated a key (STO-8).
    KeyChangedBySubscription,
    /// A blob created on a reused block read as zeros (STO-9).
    ReusedBlockReadsZeros,
    /// A put was acknowledged on three replicas in the chosen location (STO-7).
    AckedInChosenLocation,
    /// A put's data reached a replica in the chosen location (GEO-1).
    ReplicatedInChosenLocation,
    /// The lease holder wrote the leased blob (DRV-1).
    LeaseHolderWrote,
}

impl Witness {
    /// The claims whose allowed case this is.
    pub fn claims(self) -> ClaimSet {
        match self {
            Witness::SharedKeyServed => claims![STO - 1],
            Witness::RotationCompleted => claims![STO - 1, STO - 2],
            Witness::SasRead => claims![STO - 1, STO - 3],
            Witness::PolicySasRead => claims![STO - 1, STO - 4],
            Witness::AnonymousPublicRead => claims![STO - 1, STO - 5],
            Witness::GoneAfterDelete => claims![STO - 6],
            Witness::ReadDespiteCrash => claims![STO - 6, STO - 7],
            Witness::KeyChangedBySubscription => claims![STO - 8],
            Witness::ReusedBlockReadsZeros => claims![STO - 9],
            Witness::AckedInChosenLocation => claims![STO - 7],
            Witness::ReplicatedInChosenLocation => claims![GEO - 1],
            Witness::LeaseHolderWrote => claims![DRV - 1],
        }
    }
}

/// A state of the storage model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StorageState {
    /// The concern this execution explores.
    pub scenario: Scenario,
    /// The clock.
    pub clock: u8,
    /// Per key slot, the version it holds.
    pub keys: [u8; 2],
    /// Per client, what it holds.
    pub clients: [Credential; CLIENTS as usize],
    /// SASes handed out so far.
    pub sas_issued: u8,
    /// The container's stored access policies by id.
    pub policies: [Option<Policy>; MAX_POLICIES as usize],
    /// Policy sets, changes and removals so far.
    pub policy_changes: u8,
    /// The container's public access level.
    pub public: PublicAccess,
    /// Public level changes so far.
    pub public_changes: u8,
    /// Per blob name, its lease.
    pub leases: [Lease; BLOBS as usize],
    /// Puts accepted so far (the last version handed out).
    pub puts: u8,
    /// Snapshots accepted so far.
    pub snapshots: u8,
    /// Crashes so far.
    pub crashes: u8,
    /// The write in flight.
    pub pending: Option<Pending>,
    /// The replicas.
    pub replicas: [Replica; REPLICAS as usize],
    /// Ghost: per blob name, the version the last acknowledged write left
    /// (`None`: absent).
    pub acked: [Option<u8>; BLOBS as usize],
    /// Ghost: per blob name, the snapshot version the last acknowledged
    /// write left.
    pub acked_snapshots: [Option<u8>; BLOBS as usize],
    /// Ghost: blob names whose last acknowledged write was a delete (bit set).
    pub deleted: u8,
    /// Ghost: versions created as zeros (bit set over versions).
    pub zeroed: u8,
    /// Ghost: versions whose block held old bytes when allocated (bit set).
    pub reused: u8,
    /// Ghost: whether client 0 was ever refused for authentication.
    pub app_refused: bool,
    /// Ghost: every claim broken so far.
    pub broken: ClaimSet,
    /// Ghost: the allowed case the latest step showed, if any.
    pub last: Option<Witness>,
}

impl StorageState {
    pub(super) fn acked_value(&self, blob: u8, snapshot: bool) -> Option<u8> {
        if snapshot {
            self.acked_snapshots[usize::from(blob)]
        } else {
            self.acked[usize::from(blob)]
        }
    }

    pub(super) fn credential(&self, caller: Caller) -> Option<Credential> {
        match caller {
            Caller::Client(c) => self.clients.get(usize::from(c)).copied(),
            Caller::Anonymous => None,
        }
    }

    pub(super) fn all_up(&self) -> bool {
        self.replicas.iter().all(|r| r.up)
    }
}

/// The storage model.
#[derive(Clone, Debug)]
pub struct StorageModel {
    /// Its bounds and flaw.
    pub cfg: StorageConfig,
}

pub(super) const fn bit(n: u8) -> u8 {
    1 << n
}

impl StorageModel {
    pub(super) fn has(&self, flaw: Flaw) -> bool {
        self.cfg.flaw == Some(flaw)
    }
}
