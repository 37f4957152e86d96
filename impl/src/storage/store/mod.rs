//! The replicated store: three replicas, each a redb database in its own
//! directory, kept identical by state machine replication (claims STO-6,
//! STO-7, and STO-9's space reclaim).
//!
//! The replication itself (queue, committer, group commit, watermark,
//! catch-up) is the generic core in [`replication`]; this module adds what
//! is storage's own: the [`Table`]s blobs and containers live in, and the
//! Blob error code each [`StoreError`] is answered with.

pub mod replication;

pub use replication::{
    Command, ReplicaStatus, ReplicatedStore, StoreConfig, StoreError, TableSet, Tables, TablesMut,
    REPLICA_COUNT,
};

use crate::storage::error::ErrorCode;

/// One of the store's key/value tables (keys are strings, values bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Container records.
    Containers,
    /// Blob records (properties, block lists, leases, snapshots).
    Blobs,
    /// Blob content.
    Data,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 3] = [Table::Containers, Table::Blobs, Table::Data];

    /// The table's name in each replica's database.
    pub const fn name(self) -> &'static str {
        match self {
            Table::Containers => "containers",
            Table::Blobs => "blobs",
            Table::Data => "data",
        }
    }

    const fn index(self) -> usize {
        match self {
            Table::Containers => 0,
            Table::Blobs => 1,
            Table::Data => 2,
        }
    }
}

impl TableSet for Table {
    const ALL: &'static [Table] = &Table::ALL;

    fn name(self) -> &'static str {
        Table::name(self)
    }

    fn index(self) -> usize {
        Table::index(self)
    }
}

impl StoreError {
    /// The Blob service error this failure is answered with.
    pub const fn error_code(&self) -> ErrorCode {
        match self {
            StoreError::Busy | StoreError::Unavailable => ErrorCode::ServerBusy,
            _ => ErrorCode::InternalError,
        }
    }
}
