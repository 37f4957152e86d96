//! What each write does to the stored records, as deterministic commands
//! that the [`store`](super::store) applies to every replica in the same
//! order, and the pure decisions inside them (lease fence, snapshot rules,
//! what a delete removes).
//!
//! A command carries everything it needs, the time included, so the three
//! replicas compute the same answer; the store checks that they do.

use super::acl::ContainerAcl;
use super::clock::UnixMs;
use super::error::{ErrorCode, StorageError};
use super::lease::{self, LeaseAction, LeaseAnswer, LeaseState};
use super::store::{Command, StoreError, Table, Tables, TablesMut};
use crate::bugs::{BugSet, SeededBug};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

mod apply;

use apply::apply_write;

/// The separator between the parts of a stored key; names may not hold it.
const SEP: char = '\u{0}';

/// The most blobs one container delete removes in one command; a container
/// with more is refused rather than held in one unbounded transaction.
pub const MAX_BLOBS_PER_CONTAINER_DELETE: usize = 100_000;

/// The most entries one listing reads.
pub const MAX_LIST_RESULTS: usize = 5_000;

/// The stored key of container `container` in `account`.
pub fn container_key(account: &str, container: &str) -> String {
    format!("{account}{SEP}{container}")
}

/// The key prefix under which a container's blobs (and snapshots) are kept.
pub fn blob_prefix(account: &str, container: &str) -> String {
    format!("{account}{SEP}{container}{SEP}")
}

/// The stored key of a blob (`snapshot: None`) or one of its snapshots.
pub fn blob_key(account: &str, container: &str, blob: &str, snapshot: Option<&str>) -> String {
    format!(
        "{account}{SEP}{container}{SEP}{blob}{SEP}{}",
        snapshot.unwrap_or("")
    )
}

/// Splits a stored blob key into (blob name, snapshot id).
pub fn split_blob_key<'k>(prefix: &str, key: &'k str) -> Option<(&'k str, Option<&'k str>)> {
    let rest = key.strip_prefix(prefix)?;
    let (name, snapshot) = rest.split_once(SEP)?;
    Some((name, (!snapshot.is_empty()).then_some(snapshot)))
}

/// A container as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// Its ETag.
    pub etag: String,
    /// When it was last changed.
    pub last_modified_ms: UnixMs,
    /// User metadata (`x-ms-meta-*`), names lowercased.
    pub metadata: Vec<(String, String)>,
    /// Its ACL: public access and stored access policies.
    pub acl: ContainerAcl,
}

/// The kind of blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobType {
    /// A block blob: bytes given in the put.
    BlockBlob,
    /// A page blob: created at a size, reading as zeros until written.
    PageBlob,
}

impl BlobType {
    /// `x-ms-blob-type`.
    pub const fn as_str(self) -> &'static str {
        match self {
            BlobType::BlockBlob => "BlockBlob",
            BlobType::PageBlob => "PageBlob",
        }
    }
}

/// The HTTP properties a blob keeps with its bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHeaders {
    /// `Content-Type` (`x-ms-blob-content-type`).
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Content-MD5`, base64.
    pub content_md5: Option<String>,
}

/// A blob (or snapshot) as stored, without its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    /// Block or page blob.
    pub blob_type: BlobType,
    /// Its ETag.
    pub etag: String,
    /// When it was created.
    pub created_ms: UnixMs,
    /// When its content or metadata last changed.
    pub last_modified_ms: UnixMs,
    /// Its length in bytes.
    pub content_length: u64,
    /// Its HTTP properties.
    pub headers: ContentHeaders,
    /// User metadata, names lowercased.
    pub metadata: Vec<(String, String)>,
    /// Its lease (snapshots never hold one).
    pub lease: LeaseState,
    /// Whether bytes are stored (`false`: all zeros, a fresh page blob).
    pub has_data: bool,
}

/// What a put writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutContent {
    /// These bytes.
    Bytes(Bytes),
    /// A page blob of this many zero bytes.
    Zeros(u64),
}

/// How a delete treats snapshots (`x-ms-delete-snapshots`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteSnapshots {
    /// Header absent: refuse if the blob has snapshots.
    Refuse,
    /// `include`: the blob and its snapshots.
    Include,
    /// `only`: the snapshots, not the blob.
    Only,
}

/// One write to the store.
// A put is by far the most common write, so boxing it to shrink the rarer
// ones would cost an allocation on the hot path for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Write {
    /// Create a container.
    CreateContainer {
        /// Its key.
        key: String,
        /// The record to store.
        record: ContainerRecord,
    },
    /// Delete a container and every blob in it.
    DeleteContainer {
        /// Its key.
        key: String,
        /// Its blob key prefix.
        prefix: String,
    },
    /// Replace a container's ACL.
    SetContainerAcl {
        /// Its key.
        key: String,
        /// The new ACL.
        acl: ContainerAcl,
        /// The new ETag.
        etag: String,
        /// The time of the change.
        now_ms: UnixMs,
    },
    /// Replace a container's metadata.
    SetContainerMetadata {
        /// Its key.
        key: String,
        /// The new metadata.
        metadata: Vec<(String, String)>,
        /// The new ETag.
        etag: String,
        /// The time of the change.
        now_ms: UnixMs,
    },
    /// Create or overwrite a blob.
    PutBlob {
        /// The container's key.
        container: String,
        /// The blob's key.
        key: String,
        /// Block or page.
        blob_type: BlobType,
        /// What it holds.
        content: PutContent,
        /// Its HTTP properties.
        headers: ContentHeaders,
        /// Its metadata.
        metadata: Vec<(String, String)>,
        /// The lease id the request carries.
        lease_id: Option<String>,
        /// `If-Match`, if given.
        if_match: Option<String>,
        /// `If-None-Match: *`: create only.
        if_none_match_any: bool,
        /// The new ETag.
        etag: String,
        /// The time of the write.
        now_ms: UnixMs,
    },
    /// Delete a blob, its snapshots, or one snapshot.
    DeleteBlob {
        /// The container's key.
        container: String,
        /// The base blob's key.
        key: String,
        /// The snapshot to delete instead of the blob, if any.
        snapshot_key: Option<String>,
        /// The prefix of the blob's snapshot keys.
        snapshot_prefix: String,
        /// What to do with snapshots.
        snapshots: DeleteSnapshots,
        /// The lease id the request carries.
        lease_id: Option<String>,
        /// The time of the delete.
        now_ms: UnixMs,
    },
    /// Take a snapshot.
    Snapshot {
        /// The base blob's key.
        key: String,
        /// The snapshot's key.
        snapshot_key: String,
        /// The lease id the request carries (checked only if given).
        lease_id: Option<String>,
        /// The time of the snapshot.
        now_ms: UnixMs,
    },
    /// Replace a blob's metadata.
    SetBlobMetadata {
        /// The blob's key.
        key: String,
        /// The new metadata.
        metadata: Vec<(String, String)>,
        /// The lease id the request carries.
        lease_id: Option<String>,
        /// The new ETag.
        etag: String,
        /// The time of the change.
        now_ms: UnixMs,
    },
    /// A lease operation.
    Lease {
        /// The blob's key.
        key: String,
        /// The action.
        action: LeaseAction,
        /// The time of it.
        now_ms: UnixMs,
    },
}

/// What a write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The container as it is now.
    Container(ContainerRecord),
    /// The blob as it is now.
    Blob(BlobRecord),
    /// The snapshot taken: its record.
    Snapshot(BlobRecord),
    /// Deleted.
    Deleted,
    /// The lease answer and the blob as it is now.
    Lease(LeaseAnswer, BlobRecord),
}

impl Applied {
    fn unexpected(self) -> StorageError {
        // A command answers with the variant its operation makes; anything
        // else is a bug in this module, not in the request.
        tracing::error!(applied = ?self, "a write answered with the wrong kind of result");
        StorageError::new(ErrorCode::InternalError)
    }

    /// The container record a container write answers with.
    pub fn into_container(self) -> Result<ContainerRecord, StorageError> {
        match self {
            Applied::Container(record) => Ok(record),
            other => Err(other.unexpected()),
        }
    }

    /// The blob record a blob write answers with.
    pub fn into_blob(self) -> Result<BlobRecord, StorageError> {
        match self {
            Applied::Blob(record) => Ok(record),
            other => Err(other.unexpected()),
        }
    }

    /// The snapshot's record a snapshot answers with.
    pub fn into_snapshot(self) -> Result<BlobRecord, StorageError> {
        match self {
            Applied::Snapshot(record) => Ok(record),
            other => Err(other.unexpected()),
        }
    }

    /// The lease answer and blob record a lease operation answers with.
    pub fn into_lease(self) -> Result<(LeaseAnswer, BlobRecord), StorageError> {
        match self {
            Applied::Lease(answer, record) => Ok((answer, record)),
            other => Err(other.unexpected()),
        }
    }
}

/// The answer to a write: what it did, or the service's refusal.
pub type WriteOutcome = Result<Applied, StorageError>;

/// A write with the seeded bugs it runs under.
#[derive(Clone, Debug)]
pub struct BlobWrite {
    /// The write.
    pub write: Write,
    /// The seeded bugs switched on (none outside conformance tests).
    pub bugs: BugSet,
}

impl Command for BlobWrite {
    type Output = WriteOutcome;
    type Table = Table;

    fn apply(
        &self,
        replica: usize,
        tables: &mut dyn TablesMut<Table>,
    ) -> Result<WriteOutcome, StoreError> {
        let skipped = replica != 0
            && match self.write {
                Write::PutBlob { .. } => self.bugs.has(SeededBug::PutOnPrimaryOnly),
                Write::DeleteBlob { .. } => self.bugs.has(SeededBug::DeleteOnPrimaryOnly),
                _ => false,
            };
        if skipped {
            // The seeded bug: this replica answers as if it wrote, and keeps
            // nothing.
            return apply_write(&self.write, self.bugs, &mut Discarding(tables));
        }
        apply_write(&self.write, self.bugs, tables)
    }
}

/// Tables whose writes go nowhere (for the seeded replica bugs only).
struct Discarding<'t>(&'t mut dyn TablesMut<Table>);

impl Tables<Table> for Discarding<'_> {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(table, key)
    }

    fn range(
        &self,
        table: Table,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.0.range(table, prefix, limit)
    }
}

impl TablesMut<Table> for Discarding<'_> {
    fn put(&mut self, _table: Table, _key: &str, _value: &[u8]) -> Result<(), StoreError> {
        Ok(())
    }

    fn delete(&mut self, _table: Table, _key: &str) -> Result<bool, StoreError> {
        Ok(true)
    }
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt(error.to_string()))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|error| StoreError::Corrupt(error.to_string()))
}

/// Reads a container record.
pub fn read_container(
    tables: &dyn Tables<Table>,
    key: &str,
) -> Result<Option<ContainerRecord>, StoreError> {
    tables
        .get(Table::Containers, key)?
        .map(|bytes| decode(&bytes))
        .transpose()
}

/// Reads a blob record.
pub fn read_blob(tables: &dyn Tables<Table>, key: &str) -> Result<Option<BlobRecord>, StoreError> {
    tables
        .get(Table::Blobs, key)?
        .map(|bytes| decode(&bytes))
        .transpose()
}

/// Reads a blob's bytes: stored bytes, or zeros for a fresh page blob.
// claim: STO-9
pub fn read_blob_bytes(
    tables: &dyn Tables<Table>,
    key: &str,
    record: &BlobRecord,
) -> Result<Bytes, StoreError> {
    if !record.has_data {
        let length = usize::try_from(record.content_length)
            .map_err(|_| StoreError::Corrupt("page blob too large for memory".into()))?;
        return Ok(Bytes::from(vec![0u8; length]));
    }
    let bytes = tables
        .get(Table::Data, key)?
        .ok_or_else(|| StoreError::Corrupt(format!("blob data missing for {key:?}")))?;
    Ok(Bytes::from(bytes))
}

/// Lists the blobs (and, if asked, snapshots) of a container, in name order.
pub fn list_blobs(
    tables: &dyn Tables<Table>,
    prefix: &str,
    name_prefix: &str,
    limit: usize,
) -> Result<Vec<(String, Option<String>, BlobRecord)>, StoreError> {
    let scan_prefix = format!("{prefix}{name_prefix}");
    let mut out = Vec::new();
    for (key, bytes) in tables.range(Table::Blobs, &scan_prefix, limit.min(MAX_LIST_RESULTS))? {
        if let Some((name, snapshot)) = split_blob_key(prefix, &key) {
            out.push((
                name.to_string(),
                snapshot.map(str::to_string),
                decode(&bytes)?,
            ));
        }
    }
    Ok(out)
}

/// Checks a container name: 3 to 63 lowercase letters, digits and single
/// hyphens, starting and ending with a letter or digit (`$root` aside).
pub fn valid_container_name(name: &str) -> bool {
    if name == "$root" || name == "$logs" || name == "$web" {
        return true;
    }
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && !name.contains("--")
}

/// Checks a blob name: 1 to 1024 characters, no control characters (which
/// also keeps the stored-key separator out of names).
pub fn valid_blob_name(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= 1024 && !name.chars().any(char::is_control)
}

/// Checks a metadata name: a C# identifier, as the service requires.
pub fn valid_metadata_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
