//! What the replicated store refuses or fails with.

/// What the store refuses or fails with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The write queue is full, or a replica did not come back in time; the
    /// write was not acknowledged (and may or may not have happened).
    #[error("the store is busy (write queue full or a replica is down); retry")]
    Busy,
    /// No replica can serve the request now (down or behind), or the store
    /// is shutting down.
    #[error("no up-to-date replica is available")]
    Unavailable,
    /// A file-system or database I/O failure.
    #[error("storage I/O failed: {0}")]
    Io(String),
    /// A replica's file, or a record in it, is corrupt.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A key or value is larger than the database accepts.
    #[error("a key or value of {0} bytes is too large to store")]
    TooLarge(usize),
    /// The replicas computed different outputs for the same command: the
    /// state machine is not deterministic or a replica diverged. The store
    /// stops accepting writes.
    #[error("replicas diverged; writes are stopped: {0}")]
    Diverged(String),
    /// There is no replica with this number (they are 0, 1 and 2).
    #[error("there is no replica {0}")]
    InvalidReplica(usize),
    /// Any other database failure.
    #[error("storage failed: {0}")]
    Internal(String),
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::Io(e) => StoreError::Io(e.to_string()),
            redb::Error::Corrupted(what) => StoreError::Corrupt(what),
            redb::Error::ValueTooLarge(n) => StoreError::TooLarge(n),
            redb::Error::DatabaseClosed => StoreError::Unavailable,
            other => StoreError::Internal(other.to_string()),
        }
    }
}

macro_rules! from_redb_error {
    ($($t:ty),+ $(,)?) => {
        $(
            impl From<$t> for StoreError {
                fn from(e: $t) -> Self {
                    StoreError::from(redb::Error::from(e))
                }
            }
        )+
    };
}

from_redb_error!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError,
    redb::SetDurabilityError,
);

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}
