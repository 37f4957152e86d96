//! Storage access, deletion and replication: account keys and their
//! rotation, Shared Access Signatures, stored access policies, public
//! containers, blobs with snapshots and leases, and three replicas in the
//! account's chosen location (claims STO-1 to STO-9 and GEO-1, and the
//! storage side of DRV-1).
//!
//! # What is modelled
//!
//! - **A discrete clock.** `Tick` advances it up to `max_clock`; SAS windows,
//!   stored policies and fixed-duration leases are read against it.
//! - **One account with two key slots**, primary and secondary, each holding
//!   a key version. Regenerating a slot replaces its key with the next
//!   version; only the subscription (SMAPI) may do so. The rotation sequence
//!   of the seed is: regenerate the secondary, switch the clients to it,
//!   regenerate the primary.
//! - **Two clients and the anonymous public.** Client 0 is the application:
//!   it holds an account key and follows (or not) the rotation sequence.
//!   Client 1 starts with the same primary key, never switches (a stale
//!   instance), and may be handed one service SAS signed by client 0's key:
//!   permissions, a scope (the container or one blob), a start and an
//!   expiry, or instead the id of a stored access policy. The anonymous
//!   caller holds nothing.
//! - **One container** with up to five stored access policies (ids bounded
//!   by `policy_ids`; set, changed and removed by the owner) and a public
//!   access level: off, blob (anonymous reads of blobs) or container
//!   (anonymous reads and listing).
//! - **Two blob names** with put (new bytes, or a page-blob-like create whose
//!   pages read as zeros), get, list, delete (snapshots included) and
//!   snapshot. Every put gets a fresh version number (an ETag).
//! - **Leases** on blob 0 (acquire for a fixed duration or infinite, renew,
//!   change, release, break with a zero break period): a put or delete on a
//!   blob under an active lease must carry its lease id. Snapshots are taken
//!   of blob 0 too.
//! - **Three replicas**, placed at creation in the account's chosen location.
//!   A write (put, delete or snapshot) is accepted, copied to each replica by
//!   `Replicate` steps (prepared, invisible), and acknowledged by `Commit`,
//!   which makes it visible on all three at once. At most one write is in
//!   flight. Replicas crash (between writes) and restart with their disks
//!   intact; reads are served by any live replica. Each replica stores blob
//!   bytes in a small pool of blocks: a delete unlinks a blob's blocks, and a
//!   later write may reuse them.
//!
//! # Two scenarios
//!
//! Authorization (keys, rotation, SASes, policies, public access, the clock)
//! and data (writes, replication, crashes, blocks, leases) hardly read each
//! other's state: an authorization decision reads neither replicas nor the
//! write in flight, and replication never reads who was authorized. Checked
//! as one product the two planes multiply to tens of millions of states;
//! checked as two [`Scenario`]s, one initial state each, they add up to some
//! 130 000. Each scenario explores every interleaving of its own actions.
//!
//! - [`Scenario::Access`] starts with two blobs written and acknowledged,
//!   each under an infinite lease held by a party outside the model
//!   ([`FOREIGN_LEASE`]). Keys are regenerated, clients switch, a SAS is
//!   handed out, policies and the public level change, the clock ticks; all
//!   three callers read, list and delete. A delete is authorized (and the
//!   oracle judges that decision) and then refused for the lease, so this
//!   scenario never reaches the replicas.
//! - [`Scenario::Data`] starts empty with the keys, policies and public level
//!   fixed. Client 0 writes with and without lease ids (so it is also the
//!   stale writer that the lease must fence), reads from any replica,
//!   snapshots, leases; replicas replicate, commit, crash and restart; the
//!   clock ticks for the leases. The anonymous caller only tries to put.
//!
//! What this leaves unexplored: a key rotation or policy change interleaved
//! with a write in flight, and a SAS or anonymous caller whose write reaches
//! the replicas. Neither decision reads the other plane, so no claim's
//! verdict depends on those interleavings.
//! # What is abstracted away
//!
//! Bytes are a tag: the version number of the put that wrote them, or 0 for
//! zeros. Signatures are abstracted to which key signed (a request signed
//! with a key the account does not hold is indistinguishable from a forged
//! one). An ad hoc SAS is valid during the tick it is issued in, a stored
//! policy either for good or during tick 0, a fixed-duration lease during the
//! tick it was acquired or renewed in; windows are inclusive. Container metadata (keys, policies, public level,
//! leases) is one copy, not replicated: only blob data lives on replicas.
//! Commit needs all three replicas up; replacing a lost replica (and the
//! placement decision that goes with it) is left out, and so is a crash in
//! the middle of replication (the commit rule waits for a down replica
//! either way). Delete always includes snapshots (`x-ms-delete-snapshots:
//! include`), so `SnapshotsPresent` never arises. The five-policy limit
//! lies beyond the default bounds (`policy_ids` is at most 5). Only one write
//! is in flight at a time, which keeps linearizability checkable with a
//! little ghost history.
//!
//! # How claims are stated
//!
//! The mechanism decides (key check, SAS check, policy lookup, public-access
//! check, lease check, commit rule, placement, block allocation); an oracle
//! judges every observed event from the claims' own words and nothing of the
//! mechanism: a successful request is judged against the account's current
//! keys, the SAS's fields and the stored policies as they are now; a read's
//! result against the ghost history of acknowledged writes; a commit against
//! the number of replicas that hold the write; a replication step against
//! the replica's location. Every step adds what it broke to a sticky ghost
//! set `broken`, and each `always` property says its claim is not in that
//! set. A `last` ghost records which allowed case the latest step showed,
//! for the `sometimes` properties.
//!
//! STO-6 is stated as linearizability of put, get, list and delete per blob:
//! the ghost keeps, per blob and snapshot, the value of the last
//! acknowledged write; while a write is in flight a read may return the
//! value before or after it, and once any read has returned the value after
//! it, every later read must too. So once a delete is acknowledged, no later
//! read from any replica returns the blob.
//!
//! Claim numbers in a [`ClaimSet`]: STO-n is n (1 to 9), GEO-1 is 10, and
//! DRV-1 is 11; see [`claim_id`] (and [`claims_itf`] for the ITF encoding,
//! which must not prefix every number with `STO-`). DRV-1 is here only for
//! its storage side, the lease fence ("the storage service itself refuses
//! writes from any other holder"): the lease flaw breaks no STO claim, and
//! the drive model keeps mounts, snapshots and VM failure.
//!
//! Anonymous refusals: a read beyond the public level answers 404
//! `ResourceNotFound` (the service does not reveal that private data
//! exists); a write answers 401 `NoAuthenticationInformation`.

use crate::claims::{ClaimId, ClaimSet};
use crate::trace::{itf, TracedModel};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use stateright::Property;
use std::fmt;

/// Blob names in the container.
pub const BLOBS: u8 = 2;
/// Replicas of the account's data.
pub const REPLICAS: u8 = 3;
/// Blocks in each replica's pool.
pub const BLOCKS: usize = 4;
/// The service's limit on stored access policies per container.
pub const MAX_POLICIES: u8 = 5;
/// Clients holding credentials (the anonymous caller aside).
pub const CLIENTS: u8 = 2;
/// The replica that acknowledges writes first and answers existence checks.
pub const PRIMARY: u8 = 0;
/// The blob that leases and snapshots are taken on.
pub const LEASED_BLOB: u8 = 0;
/// The lease id held on the access scenario's blobs by a party outside the model.
pub const FOREIGN_LEASE: u8 = 9;
/// The highest claim number of this area ([`claim_id`] names them).
pub const LAST_CLAIM: u8 = 11;

const ALL_REPLICAS: u8 = (1 << REPLICAS) - 1;

/// The claim ID of claim number `n` in this area's [`ClaimSet`]s: 1 to 9 are
/// `STO-1` to `STO-9`, 10 is `GEO-1`, 11 is `DRV-1`.
///
/// # Panics
/// If `n` is not a claim number of this area.
pub fn claim_id(n: u8) -> String {
    claim(n)
        .unwrap_or_else(|| panic!("no storage claim number {n}"))
        .to_string()
}

/// The claim of claim number `n`, as a [`ClaimId`]; `None` outside 1 to 11.
pub fn claim(n: u8) -> Option<ClaimId> {
    match n {
        1..=9 => Some(ClaimId {
            area: "STO",
            number: n,
        }),
        10 => Some(ClaimId {
            area: "GEO",
            number: 1,
        }),
        11 => Some(ClaimId {
            area: "DRV",
            number: 1,
        }),
        _ => None,
    }
}

/// The claim number that a property's name starts with (`"STO-6 ..."` is 6,
/// `"GEO-1 ..."` is 10, `"DRV-1 ..."` is 11).
pub fn claim_of_property(name: &str) -> Option<u8> {
    let id = name.split_whitespace().next()?;
    let (area, number) = id.split_once('-')?;
    let number: u8 = number.parse().ok()?;
    match (area, number) {
        ("STO", 1..=9) => Some(number),
        ("GEO", 1) => Some(10),
        ("DRV", 1) => Some(11),
        _ => None,
    }
}

/// A set of claims as an ITF set of claim ID strings (`"GEO-1"`, not `"STO-10"`).
pub fn claims_itf(set: ClaimSet) -> Value {
    itf::claims(set, claim_id)
}

/// One of the account's two key slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Slot {
    /// The primary key (`key1`).
    Primary,
    /// The secondary key (`key2`).
    Secondary,
}

impl Slot {
    /// Both slots, in order.
    pub const ALL: [Slot; 2] = [Slot::Primary, Slot::Secondary];

    /// The slot's index in [`StorageState::keys`].
    pub const fn index(self) -> usize {
        match self {
            Slot::Primary => 0,
            Slot::Secondary => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Slot::Primary => "primary",
            Slot::Secondary => "secondary",
        }
    }
}

/// A key by slot and version: what a Shared Key signature or a SAS was made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyRef {
    /// The slot.
    pub slot: Slot,
    /// The version the slot held when the key was handed out.
    pub version: u8,
}

/// A SAS permission set, written in the service's letters (`"rwdl"`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Perms {
    bits: u8,
}

impl Perms {
    /// No permission.
    pub const NONE: Perms = Perms { bits: 0 };
    /// `r`: read a blob.
    pub const READ: Perms = Perms { bits: 1 };
    /// `w`: write a blob (put, snapshot, lease).
    pub const WRITE: Perms = Perms { bits: 2 };
    /// `d`: delete a blob.
    pub const DELETE: Perms = Perms { bits: 4 };
    /// `l`: list the container.
    pub const LIST: Perms = Perms { bits: 8 };

    const LETTERS: [(Perms, char); 4] = [
        (Perms::READ, 'r'),
        (Perms::WRITE, 'w'),
        (Perms::DELETE, 'd'),
        (Perms::LIST, 'l'),
    ];

    /// The union of two sets.
    pub const fn union(self, other: Perms) -> Perms {
        Perms {
            bits: self.bits | other.bits,
        }
    }

    /// Whether every permission of `other` is in this set.
    pub const fn contains(self, other: Perms) -> bool {
        self.bits & other.bits == other.bits
    }

    /// The letters, in the service's order.
    pub fn letters(self) -> String {
        Self::LETTERS
            .iter()
            .filter(|(p, _)| self.contains(*p))
            .map(|(_, c)| *c)
            .collect()
    }

    /// Parses letters such as `"rl"`.
    pub fn parse(text: &str) -> Option<Perms> {
        let mut perms = Perms::NONE;
        for c in text.chars() {
            let (p, _) = Self::LETTERS.iter().find(|(_, l)| *l == c)?;
            perms = perms.union(*p);
        }
        Some(perms)
    }
}

impl fmt::Debug for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Perms({:?})", self.letters())
    }
}

impl From<Perms> for String {
    fn from(p: Perms) -> String {
        p.letters()
    }
}

impl TryFrom<String> for Perms {
    type Error = String;
    fn try_from(text: String) -> Result<Perms, String> {
        Perms::parse(&text).ok_or_else(|| format!("bad permission letters {text:?}"))
    }
}

/// What a request needs, as a SAS permission or the owner's rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Access {
    /// Read a blob (`r`).
    Read,
    /// List the container (`l`).
    List,
    /// Write a blob: put, snapshot, lease (`w`).
    Write,
    /// Delete a blob (`d`).
    Delete,
    /// Manage the container: its access policies and public level (the
    /// account key only; no SAS grants it).
    Manage,
}

impl Access {
    /// The SAS permission the access needs (none grants `Manage`).
    pub const fn perm(self) -> Perms {
        match self {
            Access::Read => Perms::READ,
            Access::List => Perms::LIST,
            Access::Write => Perms::WRITE,
            Access::Delete => Perms::DELETE,
            Access::Manage => Perms { bits: 16 },
        }
    }

    /// Whether it only reads.
    pub const fn is_read(self) -> bool {
        matches!(self, Access::Read | Access::List)
    }
}

/// What a request addresses, and what a SAS covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// The container (`sr=c`): every blob in it, and listing.
    Container,
    /// One blob (`sr=b`).
    Blob(u8),
}

impl Scope {
    /// Whether a SAS with this scope covers a request addressing `target`.
    pub const fn covers(self, target: Scope) -> bool {
        match (self, target) {
            (Scope::Container, _) => true,
            (Scope::Blob(a), Scope::Blob(b)) => a == b,
            (Scope::Blob(_), Scope::Container) => false,
        }
    }
}

/// A stored access policy: the permissions and expiry that a SAS naming it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Policy {
    /// The permissions granted.
    pub perms: Perms,
    /// The last tick at which it is valid.
    pub expiry: u8,
}

/// A service SAS as its holder presents it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Sas {
    /// Signed permissions (`sp`), absent when a policy gives them.
    pub perms: Option<Perms>,
    /// Signed resource (`sr` and the path).
    pub scope: Scope,
    /// Signed start (`st`), absent when a policy gives the window.
    pub start: Option<u8>,
    /// Signed expiry (`se`, inclusive), absent when a policy gives it.
    pub expiry: Option<u8>,
    /// Signed identifier (`si`): the stored access policy it names.
    pub policy: Option<u8>,
    /// The account key that signed it.
    pub signed_with: KeyRef,
    /// Mechanism of the flaw `PolicyChangeNotApplied` only: the policy as it
    /// was at issue, which the flawed service keeps using. Always `None`
    /// otherwise.
    pub cached: Option<Policy>,
}

/// What a client holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Credential {
    /// An account key: the client signs requests with Shared Key.
    Key(KeyRef),
    /// A service SAS.
    Sas(Sas),
}

/// Who sends a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Caller {
    /// Client `n` with its credential.
    Client(u8),
    /// Anyone, with no credential at all.
    Anonymous,
}

/// A container's public access level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PublicAccess {
    /// Private: every request needs a key or a SAS.
    Off,
    /// Anonymous reads of blobs, no listing.
    Blob,
    /// Anonymous reads of blobs and listing of the container.
    Container,
}

impl PublicAccess {
    /// Every level, in order.
    pub const ALL: [PublicAccess; 3] = [
        PublicAccess::Off,
        PublicAccess::Blob,
        PublicAccess::Container,
    ];
}

/// Who asks the management API (SMAPI) to regenerate a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Authority {
    /// The subscription's credentials (its management certificate).
    Subscription,
    /// Only an account key, as the application holds it.
    AccountKey,
}

/// The SASes client 0 can hand out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SasGrant {
    /// Ad hoc: read blob 0, from now to one tick later.
    ReadBlob,
    /// Bound to stored access policy `id`, over the whole container.
    StoredPolicy(u8),
}

/// What a put writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Content {
    /// New bytes (a block blob upload).
    Bytes,
    /// A blob of a given size and no content, whose pages read as zeros (a
    /// page blob create).
    Zeros,
}

/// A lease's duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LeaseDuration {
    /// A fixed duration: one tick (the service's 15 to 60 seconds).
    Fixed,
    /// Until released or broken.
    Infinite,
}

/// A lease operation (`x-ms-lease-action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LeaseOp {
    /// Acquire with proposed lease id `id`.
    Acquire {
        /// The duration.
        duration: LeaseDuration,
        /// The proposed lease id.
        id: u8,
    },
    /// Renew lease `id`.
    Renew {
        /// The lease id.
        id: u8,
    },
    /// Change lease `id` to `proposed`.
    Change {
        /// The current lease id.
        id: u8,
        /// The new lease id.
        proposed: u8,
    },
    /// Release lease `id`.
    Release {
        /// The lease id.
        id: u8,
    },
    /// Break the lease, with a zero break period.
    Break,
}

/// A blob's lease state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Lease {
    /// No lease.
    Available,
    /// Leased and active.
    Leased {
        /// The lease id.
        id: u8,
        /// The last tick it is active, `None` for an infinite lease.
        until: Option<u8>,
    },
    /// A fixed-duration lease ran out.
    Expired {
        /// The lease id it had.
        id: u8,
    },
    /// Broken: writes need no lease id, the holder may still release.
    Broken {
        /// The lease id it had.
        id: u8,
    },
}

impl Lease {
    /// The id of the active lease, if any.
    pub const fn active(self) -> Option<u8> {
        match self {
            Lease::Leased { id, .. } => Some(id),
            _ => None,
        }
    }
}

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

    fn kind(self) -> &'static str {
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
    fn stored(&self, blob: u8, snapshot: bool) -> Option<Stored> {
        if snapshot {
            self.snapshots[usize::from(blob)]
        } else {
            self.blobs[usize::from(blob)]
        }
    }

    fn linked(&self, block: u8) -> bool {
        self.blobs
            .iter()
            .chain(self.snapshots.iter())
            .flatten()
            .any(|c| c.block == block)
    }
}

/// Why a request was refused: the service's error codes (HTTP status in the docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Denied {
    /// 403: the signature is not made with a key the account holds now, or
    /// the SAS is outside its window or names a missing policy (STO-1 to STO-4).
    AuthenticationFailed,
    /// 403: the SAS (or its policy) lacks the permission (STO-3, STO-4).
    AuthorizationPermissionMismatch,
    /// 403: the SAS's resource type does not cover the request (STO-3).
    AuthorizationResourceTypeMismatch,
    /// 401: an anonymous request that needs authentication (STO-1, STO-5).
    NoAuthenticationInformation,
    /// 404: an anonymous read of data that is not public (STO-5).
    ResourceNotFound,
    /// 404: no such blob (or snapshot).
    BlobNotFound,
    /// 412: the blob has an active lease and the request carries no lease id.
    LeaseIdMissing,
    /// 412: the request's lease id is not the blob's active lease.
    LeaseIdMismatchWithBlobOperation,
    /// 412: the request carries a lease id but the blob has no active lease.
    LeaseNotPresentWithBlobOperation,
    /// 409: acquire while another lease is active.
    LeaseAlreadyPresent,
    /// 409: a lease operation on a blob without a (suitable) lease.
    LeaseNotPresentWithLeaseOperation,
    /// 409: a lease operation with the wrong lease id.
    LeaseIdMismatchWithLeaseOperation,
    /// 409: renew of a broken lease.
    LeaseIsBrokenAndCannotBeRenewed,
    /// 403 from the management API (SMAPI): the caller presented no
    /// subscription credentials (STO-8).
    ForbiddenError,
}

impl Denied {
    /// The HTTP status the service answers with.
    pub const fn status(self) -> u16 {
        match self {
            Denied::NoAuthenticationInformation => 401,
            Denied::AuthenticationFailed
            | Denied::AuthorizationPermissionMismatch
            | Denied::AuthorizationResourceTypeMismatch
            | Denied::ForbiddenError => 403,
            Denied::ResourceNotFound | Denied::BlobNotFound => 404,
            Denied::LeaseAlreadyPresent
            | Denied::LeaseNotPresentWithLeaseOperation
            | Denied::LeaseIdMismatchWithLeaseOperation
            | Denied::LeaseIsBrokenAndCannotBeRenewed => 409,
            Denied::LeaseIdMissing
            | Denied::LeaseIdMismatchWithBlobOperation
            | Denied::LeaseNotPresentWithBlobOperation => 412,
        }
    }

    /// The claims whose enforcement this refusal is.
    pub fn claims(self) -> ClaimSet {
        match self {
            Denied::AuthenticationFailed => ClaimSet::of(&[1, 2, 3, 4]),
            Denied::AuthorizationPermissionMismatch => ClaimSet::of(&[3, 4]),
            Denied::AuthorizationResourceTypeMismatch => ClaimSet::of(&[3]),
            Denied::NoAuthenticationInformation => ClaimSet::of(&[1, 5]),
            Denied::ResourceNotFound => ClaimSet::of(&[5]),
            Denied::BlobNotFound => ClaimSet::of(&[6]),
            Denied::LeaseIdMissing
            | Denied::LeaseIdMismatchWithBlobOperation
            | Denied::LeaseNotPresentWithBlobOperation
            | Denied::LeaseAlreadyPresent
            | Denied::LeaseNotPresentWithLeaseOperation
            | Denied::LeaseIdMismatchWithLeaseOperation
            | Denied::LeaseIsBrokenAndCannotBeRenewed => ClaimSet::of(&[11]),
            Denied::ForbiddenError => ClaimSet::of(&[8]),
        }
    }
}

/// An action of the storage model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Action {
    /// The clock advances one tick.
    Tick,
    /// `by` asks the management API to regenerate the key in `slot`.
    RegenerateKey {
        /// The slot.
        slot: Slot,
        /// The credentials presented.
        by: Authority,
    },
    /// `client` switches to the key `slot` holds now.
    Switch {
        /// The client.
        client: u8,
        /// The slot.
        slot: Slot,
    },
    /// Client 0 signs a SAS with its key and hands it to client 1.
    IssueSas {
        /// Which SAS.
        grant: SasGrant,
    },
    /// Client 0 sets (or changes) stored access policy `id`.
    SetPolicy {
        /// The policy id.
        id: u8,
        /// The policy.
        policy: Policy,
    },
    /// Client 0 removes stored access policy `id`.
    RemovePolicy {
        /// The policy id.
        id: u8,
    },
    /// Client 0 sets the container's public access level.
    SetPublicAccess {
        /// The level.
        level: PublicAccess,
    },
    /// `caller` puts `blob`.
    Put {
        /// Who.
        caller: Caller,
        /// The blob.
        blob: u8,
        /// What it writes.
        content: Content,
        /// The lease id it carries.
        lease: Option<u8>,
    },
    /// `caller` reads `blob` (or its snapshot) from `replica`.
    Get {
        /// Who.
        caller: Caller,
        /// The blob.
        blob: u8,
        /// Whether it reads the snapshot.
        snapshot: bool,
        /// The replica that serves it.
        replica: u8,
    },
    /// `caller` lists the container from `replica`.
    List {
        /// Who.
        caller: Caller,
        /// The replica that serves it.
        replica: u8,
    },
    /// `caller` deletes `blob` with its snapshot.
    Delete {
        /// Who.
        caller: Caller,
        /// The blob.
        blob: u8,
        /// The lease id it carries.
        lease: Option<u8>,
    },
    /// `caller` snapshots `blob`.
    Snapshot {
        /// Who.
        caller: Caller,
        /// The blob.
        blob: u8,
    },
    /// Client 0 performs a lease operation on `blob`.
    Lease {
        /// The blob.
        blob: u8,
        /// The operation.
        op: LeaseOp,
    },
    /// The write in flight reaches `replica`.
    Replicate {
        /// The replica.
        replica: u8,
    },
    /// The write in flight is committed and the client answered.
    Commit,
    /// `replica` crashes.
    Crash {
        /// The replica.
        replica: u8,
    },
    /// `replica` restarts with its disk intact.
    Restart {
        /// The replica.
        replica: u8,
    },
}

/// What the model predicts an action does.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// A step of the world, not a request: a tick, a switch, a SAS handed
    /// over, a replication step, a crash or a restart.
    Done,
    /// The key was regenerated.
    KeyRegenerated {
        /// The slot.
        slot: Slot,
        /// Its new version.
        version: u8,
    },
    /// The container's ACL (policies or public level) was set.
    AclSet,
    /// The write was accepted and is being replicated; no answer yet.
    Accepted,
    /// The write was committed and the client answered.
    Acknowledged {
        /// The write.
        op: WriteOp,
    },
    /// A blob's content.
    Blob {
        /// Its version (ETag).
        version: u8,
        /// The bytes returned (a version tag, 0 for zeros).
        bytes: u8,
    },
    /// The container's listing.
    Listed {
        /// The blob names, sorted.
        blobs: Vec<u8>,
    },
    /// The lease operation succeeded; the lease is now this.
    Lease {
        /// The lease state after it.
        lease: Lease,
    },
    /// The request was refused.
    Denied {
        /// Why.
        reason: Denied,
    },
}

crate::kit::flaws! {
    /// A deliberate defect: each removes one mechanism the seeds describe.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
    pub enum Flaw {
        /// The service keeps accepting a key after it was regenerated.
        RemovedKeyStillAccepted => "removed-key-still-accepted", [1, 2],
            "the service still accepts a key (and SASes signed with it) after it was regenerated";
        /// The management API regenerates keys for anyone holding an account key.
        KeyChangeWithoutSubscription => "key-change-without-subscription", [8],
            "the management API regenerates account keys for a caller holding only an account key";
        /// The service ignores a SAS's signed expiry.
        SasExpiryIgnored => "sas-expiry-ignored", [3],
            "the service ignores a SAS's signed expiry";
        /// The service ignores a SAS's signed resource scope.
        SasScopeIgnored => "sas-scope-ignored", [3],
            "the service ignores the resource a SAS was signed for";
        /// The service ignores a SAS's signed permissions.
        SasPermissionsIgnored => "sas-permissions-ignored", [3],
            "the service ignores a SAS's signed permissions";
        /// A SAS bound to a stored policy keeps the policy as it was at issue.
        PolicyChangeNotApplied => "policy-change-not-applied", [4],
            "a SAS bound to a stored access policy keeps the policy as it was when issued";
        /// Anonymous writes and deletes pass on a public container.
        AnonymousWriteOnPublic => "anonymous-write-on-public", [1, 5],
            "anonymous puts and deletes pass on a container with public access";
        /// A delete is acknowledged once the primary dropped the blob, before
        /// the other replicas have.
        DeleteAckedEarly => "delete-acked-early", [6],
            "a delete is acknowledged when the primary dropped the blob, before the other replicas";
        /// A write is acknowledged once the primary holds it.
        WriteAckedOnOneReplica => "write-acked-on-one-replica", [6, 7],
            "a write is acknowledged when the primary holds it, before the other replicas";
        /// A replica is placed outside the account's chosen location.
        ReplicaInOtherLocation => "replica-in-other-location", [10],
            "one replica is placed outside the account's chosen location";
        /// Puts on a leased blob are not checked for the lease id (deletes still are).
        LeaseNotChecked => "lease-not-checked", [11],
            "puts on a leased blob are not checked for the lease id";
        /// A reused block is not zeroed, so a new blob reads a deleted one's bytes.
        ReusedBlocksNotZeroed => "reused-blocks-not-zeroed", [9],
            "a reused block is not zeroed, so a new blob reads a deleted blob's bytes";
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
    /// A put was acknowledged on three replicas in the chosen location (GEO-1).
    AckedInChosenLocation,
    /// The lease holder wrote the leased blob (DRV-1).
    LeaseHolderWrote,
}

impl Witness {
    /// The claims whose allowed case this is.
    pub fn claims(self) -> ClaimSet {
        match self {
            Witness::SharedKeyServed => ClaimSet::of(&[1]),
            Witness::RotationCompleted => ClaimSet::of(&[1, 2]),
            Witness::SasRead => ClaimSet::of(&[1, 3]),
            Witness::PolicySasRead => ClaimSet::of(&[1, 4]),
            Witness::AnonymousPublicRead => ClaimSet::of(&[1, 5]),
            Witness::GoneAfterDelete => ClaimSet::of(&[6]),
            Witness::ReadDespiteCrash => ClaimSet::of(&[6, 7]),
            Witness::KeyChangedBySubscription => ClaimSet::of(&[8]),
            Witness::ReusedBlockReadsZeros => ClaimSet::of(&[9]),
            Witness::AckedInChosenLocation => ClaimSet::of(&[7, 10]),
            Witness::LeaseHolderWrote => ClaimSet::of(&[11]),
        }
    }
}

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

    fn validate(&self) -> Result<(), &'static str> {
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
    fn acked_value(&self, blob: u8, snapshot: bool) -> Option<u8> {
        if snapshot {
            self.acked_snapshots[usize::from(blob)]
        } else {
            self.acked[usize::from(blob)]
        }
    }

    fn credential(&self, caller: Caller) -> Option<Credential> {
        match caller {
            Caller::Client(c) => self.clients.get(usize::from(c)).copied(),
            Caller::Anonymous => None,
        }
    }

    fn all_up(&self) -> bool {
        self.replicas.iter().all(|r| r.up)
    }
}

/// The storage model.
#[derive(Clone, Debug)]
pub struct StorageModel {
    /// Its bounds and flaw.
    pub cfg: StorageConfig,
}

const fn bit(n: u8) -> u8 {
    1 << n
}

impl StorageModel {
    fn has(&self, flaw: Flaw) -> bool {
        self.cfg.flaw == Some(flaw)
    }

    /// Where each replica is placed when the account is created.
    pub fn placement(&self) -> [Location; REPLICAS as usize] {
        let mut at = [Location::Chosen; REPLICAS as usize];
        // claim: GEO-1 (every replica in the account's chosen location)
        if self.has(Flaw::ReplicaInOtherLocation) {
            at[usize::from(REPLICAS - 1)] = Location::Other;
        }
        at
    }

    fn initial_states(&self) -> Vec<StorageState> {
        let data = self.initial_state();
        let mut access = data;
        access.scenario = Scenario::Access;
        // Two blobs already written, acknowledged on every replica, each
        // under an infinite lease that no client of the model holds: a put
        // or delete is authorized (and judged) and then refused for the
        // lease, so the access scenario never reaches the replicas.
        for (b, version) in [(0u8, 1u8), (1, 2)] {
            access.leases[usize::from(b)] = Lease::Leased {
                id: FOREIGN_LEASE,
                until: None,
            };
            for r in access.replicas.iter_mut() {
                r.blobs[usize::from(b)] = Some(Stored { version, block: b });
                r.blocks[usize::from(b)] = version;
            }
            access.acked[usize::from(b)] = Some(version);
        }
        access.puts = 2;
        vec![access, data]
    }

    fn initial_state(&self) -> StorageState {
        let key = Credential::Key(KeyRef {
            slot: Slot::Primary,
            version: 0,
        });
        let placement = self.placement();
        let replica = |r: usize| Replica {
            location: placement[r],
            up: true,
            blobs: [None; BLOBS as usize],
            snapshots: [None; BLOBS as usize],
            blocks: [0; BLOCKS],
        };
        StorageState {
            scenario: Scenario::Data,
            clock: 0,
            keys: [0, 0],
            clients: [key, key],
            sas_issued: 0,
            policies: [None; MAX_POLICIES as usize],
            policy_changes: 0,
            public: PublicAccess::Off,
            public_changes: 0,
            leases: [Lease::Available; BLOBS as usize],
            puts: 0,
            snapshots: 0,
            crashes: 0,
            pending: None,
            replicas: [replica(0), replica(1), replica(2)],
            acked: [None; BLOBS as usize],
            acked_snapshots: [None; BLOBS as usize],
            deleted: 0,
            zeroed: 0,
            reused: 0,
            app_refused: false,
            broken: ClaimSet::EMPTY,
            last: None,
        }
    }

    // ----- the mechanism -------------------------------------------------

    /// Whether the service accepts a signature made with `key`.
    fn key_accepted(&self, s: &StorageState, key: KeyRef) -> bool {
        let current = s.keys[key.slot.index()];
        // claim: STO-1, STO-2 (only the keys the account holds now)
        key.version == current || (self.has(Flaw::RemovedKeyStillAccepted) && key.version < current)
    }

    /// The service's authorization of a request by `caller` for `access` to
    /// `target`: the decision, without the lease check.
    pub fn authorize(
        &self,
        s: &StorageState,
        caller: Caller,
        target: Scope,
        access: Access,
    ) -> Result<(), Denied> {
        match s.credential(caller) {
            None => self.authorize_anonymous(s, target, access),
            Some(Credential::Key(key)) => {
                if self.key_accepted(s, key) {
                    Ok(())
                } else {
                    Err(Denied::AuthenticationFailed)
                }
            }
            Some(Credential::Sas(sas)) => self.authorize_sas(s, &sas, target, access),
        }
    }

    fn authorize_anonymous(
        &self,
        s: &StorageState,
        target: Scope,
        access: Access,
    ) -> Result<(), Denied> {
        // claim: STO-1, STO-5 (anonymous: reads of public data, within its level)
        match access {
            Access::Read if matches!(target, Scope::Blob(_)) && s.public != PublicAccess::Off => {
                Ok(())
            }
            Access::List if s.public == PublicAccess::Container => Ok(()),
            Access::Read | Access::List => Err(Denied::ResourceNotFound),
            Access::Write | Access::Delete
                if self.has(Flaw::AnonymousWriteOnPublic) && s.public != PublicAccess::Off =>
            {
                Ok(())
            }
            Access::Write | Access::Delete | Access::Manage => {
                Err(Denied::NoAuthenticationInformation)
            }
        }
    }

    fn authorize_sas(
        &self,
        s: &StorageState,
        sas: &Sas,
        target: Scope,
        access: Access,
    ) -> Result<(), Denied> {
        // claim: STO-3 (only its resource type): a blob SAS cannot sign a
        // container request, so the service refuses the type before it can
        // check a signature.
        if !self.has(Flaw::SasScopeIgnored)
            && matches!((sas.scope, target), (Scope::Blob(_), Scope::Container))
        {
            return Err(Denied::AuthorizationResourceTypeMismatch);
        }
        // claim: STO-1, STO-2 (a SAS is signed with a key the account holds now)
        if !self.key_accepted(s, sas.signed_with) {
            return Err(Denied::AuthenticationFailed);
        }
        if access == Access::Manage {
            return Err(Denied::AuthorizationPermissionMismatch);
        }
        // claim: STO-3 (only its resource scope)
        if !self.has(Flaw::SasScopeIgnored) {
            match (sas.scope, target) {
                // The signature covers the blob's path: another path does not verify.
                (Scope::Blob(a), Scope::Blob(b)) if a != b => {
                    return Err(Denied::AuthenticationFailed)
                }
                _ => {}
            }
        }
        match sas.policy {
            Some(id) => {
                // claim: STO-4 (the policy as stored now, from the next request on)
                let stored = s.policies.get(usize::from(id)).copied().flatten();
                let policy = if self.has(Flaw::PolicyChangeNotApplied) {
                    sas.cached.or(stored)
                } else {
                    stored
                };
                let Some(policy) = policy else {
                    return Err(Denied::AuthenticationFailed);
                };
                if s.clock > policy.expiry {
                    return Err(Denied::AuthenticationFailed);
                }
                if !policy.perms.contains(access.perm()) {
                    return Err(Denied::AuthorizationPermissionMismatch);
                }
            }
            None => {
                // claim: STO-3 (only inside its validity window)
                let start = sas.start.unwrap_or(u8::MAX);
                let expiry = sas.expiry.unwrap_or(0);
                if s.clock < start || (s.clock > expiry && !self.has(Flaw::SasExpiryIgnored)) {
                    return Err(Denied::AuthenticationFailed);
                }
                // claim: STO-3 (only its permission set)
                let perms = sas.perms.unwrap_or(Perms::NONE);
                if !perms.contains(access.perm()) && !self.has(Flaw::SasPermissionsIgnored) {
                    return Err(Denied::AuthorizationPermissionMismatch);
                }
            }
        }
        Ok(())
    }

    /// The lease check of a put (`access` is `Write`) or delete on `blob` carrying `lease`.
    pub fn check_lease(
        &self,
        s: &StorageState,
        blob: u8,
        lease: Option<u8>,
        access: Access,
    ) -> Result<(), Denied> {
        // claim: DRV-1 (a leased blob takes writes only with its lease id)
        if self.has(Flaw::LeaseNotChecked) && access == Access::Write {
            return Ok(());
        }
        match (s.leases[usize::from(blob)].active(), lease) {
            (Some(_), None) => Err(Denied::LeaseIdMissing),
            (Some(id), Some(given)) if id != given => Err(Denied::LeaseIdMismatchWithBlobOperation),
            (None, Some(_)) => Err(Denied::LeaseNotPresentWithBlobOperation),
            _ => Ok(()),
        }
    }

    /// The lease state machine: the lease after `op`, or why not.
    pub fn lease_step(now: u8, lease: Lease, op: LeaseOp) -> Result<Lease, Denied> {
        let fixed = |id: u8| Lease::Leased {
            id,
            until: Some(now),
        };
        match op {
            LeaseOp::Acquire { duration, id } => match lease {
                Lease::Leased { id: held, .. } if held != id => Err(Denied::LeaseAlreadyPresent),
                _ => Ok(match duration {
                    LeaseDuration::Fixed => fixed(id),
                    LeaseDuration::Infinite => Lease::Leased { id, until: None },
                }),
            },
            LeaseOp::Renew { id } => match lease {
                Lease::Leased { id: held, until } if held == id => Ok(Lease::Leased {
                    id,
                    until: until.map(|_| now),
                }),
                Lease::Expired { id: held } if held == id => Ok(fixed(id)),
                Lease::Leased { .. } | Lease::Expired { .. } => {
                    Err(Denied::LeaseIdMismatchWithLeaseOperation)
                }
                Lease::Broken { .. } => Err(Denied::LeaseIsBrokenAndCannotBeRenewed),
                Lease::Available => Err(Denied::LeaseNotPresentWithLeaseOperation),
            },
            LeaseOp::Change { id, proposed } => match lease {
                Lease::Leased { id: held, until } if held == id || held == proposed => {
                    Ok(Lease::Leased {
                        id: proposed,
                        until,
                    })
                }
                Lease::Leased { .. } => Err(Denied::LeaseIdMismatchWithLeaseOperation),
                _ => Err(Denied::LeaseNotPresentWithLeaseOperation),
            },
            LeaseOp::Release { id } => match lease {
                Lease::Leased { id: held, .. }
                | Lease::Expired { id: held }
                | Lease::Broken { id: held } => {
                    if held == id {
                        Ok(Lease::Available)
                    } else {
                        Err(Denied::LeaseIdMismatchWithLeaseOperation)
                    }
                }
                Lease::Available => Err(Denied::LeaseNotPresentWithLeaseOperation),
            },
            LeaseOp::Break => match lease {
                Lease::Leased { id, .. } | Lease::Broken { id } => Ok(Lease::Broken { id }),
                Lease::Available | Lease::Expired { .. } => {
                    Err(Denied::LeaseNotPresentWithLeaseOperation)
                }
            },
        }
    }

    /// Whether the write in flight may be committed now.
    fn may_commit(&self, s: &StorageState, p: &Pending) -> bool {
        // claim: STO-7 (acknowledged only once all three replicas hold it)
        if p.replicas == ALL_REPLICAS && s.all_up() {
            return true;
        }
        let early = match p.op {
            WriteOp::Put { .. } => self.has(Flaw::WriteAckedOnOneReplica),
            // claim: STO-6 (a delete is acknowledged only once every replica dropped it)
            WriteOp::Delete { .. } => self.has(Flaw::DeleteAckedEarly),
            WriteOp::Snapshot { .. } => false,
        };
        early && p.replicas & bit(PRIMARY) != 0 && s.replicas[usize::from(PRIMARY)].up
    }

    /// Applies a committed write to one replica; returns whether the block
    /// the write took held old bytes.
    fn apply(&self, replica: &mut Replica, op: WriteOp) -> bool {
        match op {
            WriteOp::Put {
                blob,
                version,
                content,
            } => {
                let b = usize::from(blob);
                replica.blobs[b] = None;
                let block = (0..BLOCKS as u8)
                    .find(|k| !replica.linked(*k))
                    .expect("a free block: at most three are linked");
                let old = replica.blocks[usize::from(block)];
                // claim: STO-9 (a reused block is overwritten before it is readable)
                replica.blocks[usize::from(block)] = match content {
                    Content::Bytes => version,
                    Content::Zeros if self.has(Flaw::ReusedBlocksNotZeroed) => old,
                    Content::Zeros => 0,
                };
                replica.blobs[b] = Some(Stored { version, block });
                old != 0
            }
            WriteOp::Delete { blob } => {
                // claim: STO-9 (unlinked blocks are unreachable)
                replica.blobs[usize::from(blob)] = None;
                replica.snapshots[usize::from(blob)] = None;
                false
            }
            WriteOp::Snapshot { blob, .. } => {
                let b = usize::from(blob);
                replica.snapshots[b] = replica.blobs[b];
                false
            }
        }
    }

    fn primary(s: &StorageState) -> &Replica {
        &s.replicas[usize::from(PRIMARY)]
    }

    // ----- the oracle ----------------------------------------------------

    /// The claims a successful request by `caller` for `access` to `target`
    /// breaks, judged in state `s` from the claims' own words: the account's
    /// keys now, the SAS's fields, the stored policies now, the public level.
    pub fn claims_broken_by_request(
        s: &StorageState,
        caller: Caller,
        target: Scope,
        access: Access,
    ) -> ClaimSet {
        let mut broken = ClaimSet::EMPTY;
        let current = |k: KeyRef| k.version == s.keys[k.slot.index()];
        match s.credential(caller) {
            None => {
                if !(access.is_read() && s.public != PublicAccess::Off) {
                    broken.insert(1);
                }
                let within_level = match access {
                    Access::Read => {
                        matches!(target, Scope::Blob(_)) && s.public != PublicAccess::Off
                    }
                    Access::List => s.public == PublicAccess::Container,
                    _ => false,
                };
                if !within_level {
                    broken.insert(5);
                }
            }
            Some(Credential::Key(k)) => {
                if !current(k) {
                    broken.insert(1);
                    broken.insert(2);
                }
            }
            Some(Credential::Sas(sas)) => {
                if !current(sas.signed_with) {
                    broken.insert(1);
                    broken.insert(2);
                }
                if access == Access::Manage || !sas.scope.covers(target) {
                    broken.insert(3);
                }
                match sas.policy {
                    None => {
                        let perms = sas.perms.unwrap_or(Perms::NONE);
                        let inside = sas.start.is_some_and(|t| t <= s.clock)
                            && sas.expiry.is_some_and(|t| s.clock <= t);
                        if !perms.contains(access.perm()) || !inside {
                            broken.insert(3);
                        }
                    }
                    Some(id) => match s.policies.get(usize::from(id)).copied().flatten() {
                        Some(p) if p.perms.contains(access.perm()) && s.clock <= p.expiry => {}
                        _ => broken.insert(4),
                    },
                }
            }
        }
        broken
    }

    /// Judges a read that returned `seen` for `blob` (or its snapshot)
    /// against the ghost history: `(linearizable, shows the write in flight)`.
    /// With `presence_only`, only whether it exists is compared (a listing).
    pub fn judge_read(
        s: &StorageState,
        blob: u8,
        snapshot: bool,
        seen: Option<u8>,
        presence_only: bool,
    ) -> (bool, bool) {
        let same = |a: Option<u8>, b: Option<u8>| {
            if presence_only {
                a.is_some() == b.is_some()
            } else {
                a == b
            }
        };
        let before = s.acked_value(blob, snapshot);
        match s.pending.filter(|p| !p.acked) {
            None => (same(seen, before), false),
            Some(p) => {
                let after = p.op.after(blob, snapshot, before);
                if p.observed {
                    (same(seen, after), false)
                } else {
                    let ok = same(seen, before) || same(seen, after);
                    (ok, same(seen, after) && !same(after, before))
                }
            }
        }
    }

    /// The allowed case a successful request shows, before data witnesses.
    fn request_witness(s: &StorageState, caller: Caller, access: Access) -> Option<Witness> {
        match (s.credential(caller), access) {
            (None, Access::Read) => Some(Witness::AnonymousPublicRead),
            (Some(Credential::Sas(sas)), Access::Read) => Some(if sas.policy.is_some() {
                Witness::PolicySasRead
            } else {
                Witness::SasRead
            }),
            (Some(Credential::Key(k)), _) if k.version >= 1 => {
                let rotated = s.keys.iter().all(|v| *v >= 1);
                if caller == Caller::Client(0) && rotated && !s.app_refused {
                    Some(Witness::RotationCompleted)
                } else {
                    Some(Witness::SharedKeyServed)
                }
            }
            _ => None,
        }
    }

    /// Authorizes a request and applies the oracle's judgement of the
    /// decision to `next`: a refusal of a current key breaks STO-2, a
    /// success is judged by [`Self::claims_broken_by_request`].
    fn request(
        &self,
        s: &StorageState,
        next: &mut StorageState,
        caller: Caller,
        target: Scope,
        access: Access,
    ) -> Result<(), Denied> {
        match self.authorize(s, caller, target, access) {
            Ok(()) => {
                next.broken = next
                    .broken
                    .union(Self::claims_broken_by_request(s, caller, target, access));
                next.last = Self::request_witness(s, caller, access);
                Ok(())
            }
            Err(reason) => {
                if reason == Denied::AuthenticationFailed {
                    if caller == Caller::Client(0) {
                        next.app_refused = true;
                    }
                    // STO-2: an application holding a current key never loses access.
                    if let Some(Credential::Key(k)) = s.credential(caller) {
                        if k.version == s.keys[k.slot.index()] {
                            next.broken.insert(2);
                        }
                    }
                }
                Err(reason)
            }
        }
    }

    /// The oracle's judgement of a read result.
    fn observe(
        &self,
        s: &StorageState,
        next: &mut StorageState,
        blob: u8,
        snapshot: bool,
        seen: Option<u8>,
        presence_only: bool,
    ) {
        let (ok, shows_pending) = Self::judge_read(s, blob, snapshot, seen, presence_only);
        if !ok {
            next.broken.insert(6);
        }
        if shows_pending {
            if let Some(p) = next.pending.as_mut() {
                p.observed = true;
            }
        }
    }

    // ----- actions -------------------------------------------------------

    fn candidate_actions(&self, s: &StorageState, out: &mut Vec<Action>) {
        let from = out.len();
        self.all_candidates(s, out);
        let mut i = from;
        while i < out.len() {
            if s.scenario.allows(&out[i]) {
                i += 1;
            } else {
                out.swap_remove(i);
            }
        }
        out[from..].sort();
    }

    fn all_candidates(&self, s: &StorageState, out: &mut Vec<Action>) {
        let c = &self.cfg;
        if s.clock < c.max_clock {
            out.push(Action::Tick);
        }
        for slot in Slot::ALL {
            if s.keys[slot.index()] < c.key_versions {
                out.push(Action::RegenerateKey {
                    slot,
                    by: Authority::Subscription,
                });
                out.push(Action::RegenerateKey {
                    slot,
                    by: Authority::AccountKey,
                });
            }
            let key = Credential::Key(KeyRef {
                slot,
                version: s.keys[slot.index()],
            });
            if s.clients[0] != key {
                out.push(Action::Switch { client: 0, slot });
            }
        }
        if s.sas_issued < c.max_sas && matches!(s.clients[0], Credential::Key(_)) {
            out.push(Action::IssueSas {
                grant: SasGrant::ReadBlob,
            });
            for id in 0..c.policy_ids {
                out.push(Action::IssueSas {
                    grant: SasGrant::StoredPolicy(id),
                });
            }
        }
        if s.policy_changes < c.max_policy_changes {
            for id in 0..c.policy_ids {
                let stored = s.policies[usize::from(id)];
                for policy in POLICY_MENU {
                    if stored != Some(policy) {
                        out.push(Action::SetPolicy { id, policy });
                    }
                }
                if stored.is_some() {
                    out.push(Action::RemovePolicy { id });
                }
            }
        }
        if s.public_changes < c.max_public_changes {
            for level in PublicAccess::ALL {
                if level != s.public {
                    out.push(Action::SetPublicAccess { level });
                }
            }
        }
        let callers = [Caller::Client(0), Caller::Client(1), Caller::Anonymous];
        let lease_choices: &[Option<u8>] = &[None, Some(1), Some(2)];
        let writable = s.pending.is_none();
        for caller in callers {
            let owner = caller == Caller::Client(0);
            // In the data scenario the public level stays off: an anonymous
            // put stands for every anonymous request there.
            let quiet = s.scenario == Scenario::Data && caller == Caller::Anonymous;
            // Client 0 is every writer of the data scenario: with and
            // without the lease id.
            if s.scenario == Scenario::Data && caller == Caller::Client(1) {
                continue;
            }
            for blob in 0..BLOBS {
                let leases: &[Option<u8>] = if blob == LEASED_BLOB
                    && caller != Caller::Anonymous
                    && s.scenario == Scenario::Data
                {
                    lease_choices
                } else {
                    &[None]
                };
                if writable && s.puts < c.max_puts {
                    let contents: &[Content] = if owner {
                        &[Content::Bytes, Content::Zeros]
                    } else {
                        &[Content::Bytes]
                    };
                    for &content in contents {
                        for &lease in leases {
                            out.push(Action::Put {
                                caller,
                                blob,
                                content,
                                lease,
                            });
                        }
                    }
                }
                if quiet {
                    continue;
                }
                if writable {
                    for &lease in leases {
                        out.push(Action::Delete {
                            caller,
                            blob,
                            lease,
                        });
                    }
                }
                // Any live replica serves the application's reads; the
                // front end picks the first live one for everyone else.
                let replicas: Vec<u8> = if owner {
                    (0..REPLICAS)
                        .filter(|r| s.replicas[usize::from(*r)].up)
                        .collect()
                } else {
                    (0..REPLICAS)
                        .find(|r| s.replicas[usize::from(*r)].up)
                        .into_iter()
                        .collect()
                };
                let snapshot_reads: &[bool] = if blob == LEASED_BLOB && c.max_snapshots > 0 {
                    &[false, true]
                } else {
                    &[false]
                };
                for &snapshot in snapshot_reads {
                    for &replica in &replicas {
                        out.push(Action::Get {
                            caller,
                            blob,
                            snapshot,
                            replica,
                        });
                    }
                }
                if blob == 0 {
                    for &replica in &replicas {
                        out.push(Action::List { caller, replica });
                    }
                }
            }
            if writable && s.snapshots < c.max_snapshots && !quiet {
                out.push(Action::Snapshot {
                    caller,
                    blob: LEASED_BLOB,
                });
            }
        }
        for op in [
            LeaseOp::Acquire {
                duration: LeaseDuration::Fixed,
                id: 1,
            },
            LeaseOp::Acquire {
                duration: LeaseDuration::Infinite,
                id: 1,
            },
            LeaseOp::Acquire {
                duration: LeaseDuration::Infinite,
                id: 2,
            },
            LeaseOp::Renew { id: 1 },
            LeaseOp::Renew { id: 2 },
            LeaseOp::Change { id: 1, proposed: 2 },
            LeaseOp::Change { id: 2, proposed: 1 },
            LeaseOp::Release { id: 1 },
            LeaseOp::Release { id: 2 },
            LeaseOp::Break,
        ] {
            out.push(Action::Lease {
                blob: LEASED_BLOB,
                op,
            });
        }
        if let Some(p) = s.pending {
            for r in 0..REPLICAS {
                if p.replicas & bit(r) == 0 && s.replicas[usize::from(r)].up {
                    out.push(Action::Replicate { replica: r });
                }
            }
            if !p.acked && self.may_commit(s, &p) {
                out.push(Action::Commit);
            }
        }
        for r in 0..REPLICAS {
            let up = s.replicas[usize::from(r)].up;
            // Crashes happen between writes: a crash during replication
            // looks the same to the commit rule, which waits for the replica.
            if up && s.crashes < c.max_crashes && s.pending.is_none() {
                out.push(Action::Crash { replica: r });
            }
            if !up {
                out.push(Action::Restart { replica: r });
            }
        }
    }

    fn step_request(
        &self,
        s: &StorageState,
        next: &mut StorageState,
        action: &Action,
    ) -> Option<Result<Outcome, Denied>> {
        let result = match *action {
            Action::SetPolicy { id, policy } => {
                if s.policy_changes >= self.cfg.max_policy_changes || id >= self.cfg.policy_ids {
                    return None;
                }
                self.request(s, next, Caller::Client(0), Scope::Container, Access::Manage)
                    .map(|()| {
                        next.policies[usize::from(id)] = Some(policy);
                        next.policy_changes += 1;
                        Outcome::AclSet
                    })
            }
            Action::RemovePolicy { id } => {
                if s.policy_changes >= self.cfg.max_policy_changes
                    || s.policies.get(usize::from(id))?.is_none()
                {
                    return None;
                }
                self.request(s, next, Caller::Client(0), Scope::Container, Access::Manage)
                    .map(|()| {
                        next.policies[usize::from(id)] = None;
                        next.policy_changes += 1;
                        Outcome::AclSet
                    })
            }
            Action::SetPublicAccess { level } => {
                if s.public_changes >= self.cfg.max_public_changes || level == s.public {
                    return None;
                }
                self.request(s, next, Caller::Client(0), Scope::Container, Access::Manage)
                    .map(|()| {
                        next.public = level;
                        next.public_changes += 1;
                        Outcome::AclSet
                    })
            }
            Action::Put {
                caller,
                blob,
                content,
                lease,
            } => {
                if s.pending.is_some() || s.puts >= self.cfg.max_puts || blob >= BLOBS {
                    return None;
                }
                self.request(s, next, caller, Scope::Blob(blob), Access::Write)
                    .and_then(|()| self.check_lease(s, blob, lease, Access::Write))
                    .map(|()| {
                        self.judge_lease(s, next, blob, lease);
                        let version = s.puts + 1;
                        next.puts = version;
                        if content == Content::Zeros {
                            next.zeroed |= bit(version);
                        }
                        next.pending = Some(Pending {
                            op: WriteOp::Put {
                                blob,
                                version,
                                content,
                            },
                            replicas: 0,
                            acked: false,
                            observed: false,
                        });
                        Outcome::Accepted
                    })
            }
            Action::Delete {
                caller,
                blob,
                lease,
            } => {
                if s.pending.is_some() || blob >= BLOBS {
                    return None;
                }
                self.request(s, next, caller, Scope::Blob(blob), Access::Delete)
                    .and_then(|()| {
                        if Self::primary(s).blobs[usize::from(blob)].is_none() {
                            return Err(Denied::BlobNotFound);
                        }
                        self.check_lease(s, blob, lease, Access::Delete)
                    })
                    .map(|()| {
                        self.judge_lease(s, next, blob, lease);
                        next.pending = Some(Pending {
                            op: WriteOp::Delete { blob },
                            replicas: 0,
                            acked: false,
                            observed: false,
                        });
                        Outcome::Accepted
                    })
            }
            Action::Snapshot { caller, blob } => {
                if s.pending.is_some() || s.snapshots >= self.cfg.max_snapshots || blob >= BLOBS {
                    return None;
                }
                self.request(s, next, caller, Scope::Blob(blob), Access::Write)
                    .and_then(|()| {
                        Self::primary(s).blobs[usize::from(blob)].ok_or(Denied::BlobNotFound)
                    })
                    .map(|stored| {
                        next.snapshots += 1;
                        next.pending = Some(Pending {
                            op: WriteOp::Snapshot {
                                blob,
                                version: stored.version,
                            },
                            replicas: 0,
                            acked: false,
                            observed: false,
                        });
                        Outcome::Accepted
                    })
            }
            Action::Lease { blob, op } => {
                // A lease operation is a write to the blob's properties: at
                // most one write is in flight, and the service keeps a lease
                // with its blob on every replica, so it waits for a replica
                // that is down. (Every state this excludes is reached with
                // the lease operation first, so the state count is the same.)
                if blob >= BLOBS || s.pending.is_some() || !s.all_up() {
                    return None;
                }
                self.request(s, next, Caller::Client(0), Scope::Blob(blob), Access::Write)
                    .and_then(|()| {
                        if Self::primary(s).blobs[usize::from(blob)].is_none() {
                            return Err(Denied::BlobNotFound);
                        }
                        Self::lease_step(s.clock, s.leases[usize::from(blob)], op)
                    })
                    .map(|lease| {
                        next.leases[usize::from(blob)] = lease;
                        Outcome::Lease { lease }
                    })
            }
            Action::Get {
                caller,
                blob,
                snapshot,
                replica,
            } => {
                let r = *s.replicas.get(usize::from(replica))?;
                if !r.up || blob >= BLOBS {
                    return None;
                }
                self.request(s, next, caller, Scope::Blob(blob), Access::Read)
                    .and_then(|()| {
                        let stored = r.stored(blob, snapshot);
                        self.observe(s, next, blob, snapshot, stored.map(|c| c.version), false);
                        let Some(stored) = stored else {
                            next.last =
                                (next.deleted & bit(blob) != 0).then_some(Witness::GoneAfterDelete);
                            return Err(Denied::BlobNotFound);
                        };
                        let bytes = r.blocks[usize::from(stored.block)];
                        let v = stored.version;
                        let expected = if s.zeroed & bit(v) != 0 { 0 } else { v };
                        if bytes != expected {
                            next.broken.insert(9);
                        }
                        if s.zeroed & s.reused & bit(v) != 0 && bytes == 0 {
                            next.last = Some(Witness::ReusedBlockReadsZeros);
                        } else if !s.all_up() && s.acked_value(blob, snapshot) == Some(v) {
                            next.last = Some(Witness::ReadDespiteCrash);
                        }
                        Ok(Outcome::Blob { version: v, bytes })
                    })
            }
            Action::List { caller, replica } => {
                let r = *s.replicas.get(usize::from(replica))?;
                if !r.up {
                    return None;
                }
                self.request(s, next, caller, Scope::Container, Access::List)
                    .map(|()| {
                        let mut blobs = Vec::new();
                        for blob in 0..BLOBS {
                            let stored = r.blobs[usize::from(blob)];
                            self.observe(s, next, blob, false, stored.map(|c| c.version), true);
                            if stored.is_some() {
                                blobs.push(blob);
                            }
                        }
                        Outcome::Listed { blobs }
                    })
            }
            _ => return None,
        };
        Some(result)
    }

    /// DRV-1's oracle on an accepted put or delete carrying `lease`.
    fn judge_lease(&self, s: &StorageState, next: &mut StorageState, blob: u8, lease: Option<u8>) {
        if let Some(id) = s.leases[usize::from(blob)].active() {
            if lease == Some(id) {
                next.last = Some(Witness::LeaseHolderWrote);
            } else {
                next.broken.insert(11);
            }
        }
    }
}

crate::kit::forward_model_to_step!(StorageModel, StorageState, Action, storage_properties);

/// Every property of the storage model: for each of STO-1 to STO-9, GEO-1
/// and DRV-1, the claim as an `always` and its allowed case as a `sometimes`.
pub fn storage_properties() -> Vec<Property<StorageModel>> {
    crate::kit::claim_pairs![StorageState, Witness;
        1,
        "STO-1 a request succeeds only with a current key, a SAS signed by one, or as a public read",
        "STO-1 reached: a request signed with a regenerated key succeeds",
        [SharedKeyServed, RotationCompleted];
        2,
        "STO-2 a removed key is refused and a current key never is",
        "STO-2 reached: a rotation completes without a failed request",
        [RotationCompleted];
        3,
        "STO-3 a SAS grants only its permissions, on its scope, inside its window",
        "STO-3 reached: a read through a valid SAS succeeds",
        [SasRead];
        4,
        "STO-4 a policy-bound SAS follows the stored policy as it is now",
        "STO-4 reached: a read through a policy-bound SAS succeeds",
        [PolicySasRead];
        5,
        "STO-5 anonymous requests only read public data within its level",
        "STO-5 reached: an anonymous read of public data succeeds",
        [AnonymousPublicRead];
        6,
        "STO-6 put, get, list and delete are linearizable; a deleted blob is never read again",
        "STO-6 reached: a read after an acknowledged delete finds nothing",
        [GoneAfterDelete];
        7,
        "STO-7 an acknowledged write is on all three replicas",
        "STO-7 reached: an acknowledged write is read while a replica is down",
        [ReadDespiteCrash];
        8,
        "STO-8 only the subscription changes the account keys",
        "STO-8 reached: the subscription regenerates a key",
        [KeyChangedBySubscription];
        9,
        "STO-9 reused storage never returns a deleted blob's bytes",
        "STO-9 reached: a blob on a reused block reads as zeros",
        [ReusedBlockReadsZeros];
        10,
        "GEO-1 no replica outside the chosen location receives data",
        "GEO-1 reached: a put is acknowledged on three replicas in the chosen location",
        [AckedInChosenLocation];
        11,
        "DRV-1 a leased blob takes puts and deletes only with its lease id",
        "DRV-1 reached: the lease holder writes the leased blob",
        [LeaseHolderWrote];
    ]
}

impl TracedModel for StorageModel {
    type Outcome = Outcome;
    const AREA: &'static str = "storage";

    fn step(&self, s: &StorageState, action: &Action) -> Option<(Outcome, StorageState)> {
        if !s.scenario.allows(action) {
            return None;
        }
        let mut next = *s;
        next.last = None;
        let outcome = match *action {
            Action::Tick => {
                if s.clock >= self.cfg.max_clock {
                    return None;
                }
                next.clock += 1;
                for lease in next.leases.iter_mut() {
                    if let Lease::Leased {
                        id,
                        until: Some(until),
                    } = *lease
                    {
                        if until < next.clock {
                            *lease = Lease::Expired { id };
                        }
                    }
                }
                Outcome::Done
            }
            Action::RegenerateKey { slot, by } => {
                let i = slot.index();
                if s.keys[i] >= self.cfg.key_versions {
                    return None;
                }
                // claim: STO-8 (only with the subscription's credentials)
                if by != Authority::Subscription && !self.has(Flaw::KeyChangeWithoutSubscription) {
                    Outcome::Denied {
                        reason: Denied::ForbiddenError,
                    }
                } else {
                    next.keys[i] += 1;
                    if by == Authority::Subscription {
                        next.last = Some(Witness::KeyChangedBySubscription);
                    } else {
                        next.broken.insert(8);
                    }
                    Outcome::KeyRegenerated {
                        slot,
                        version: next.keys[i],
                    }
                }
            }
            Action::Switch { client, slot } => {
                let key = Credential::Key(KeyRef {
                    slot,
                    version: s.keys[slot.index()],
                });
                let held = next.clients.get_mut(usize::from(client))?;
                if *held == key {
                    return None;
                }
                *held = key;
                Outcome::Done
            }
            Action::IssueSas { grant } => {
                if s.sas_issued >= self.cfg.max_sas {
                    return None;
                }
                let Credential::Key(signed_with) = s.clients[0] else {
                    return None;
                };
                let sas = match grant {
                    SasGrant::ReadBlob => Sas {
                        perms: Some(Perms::READ),
                        scope: Scope::Blob(LEASED_BLOB),
                        start: Some(s.clock),
                        expiry: Some(s.clock),
                        policy: None,
                        signed_with,
                        cached: None,
                    },
                    SasGrant::StoredPolicy(id) => {
                        if id >= self.cfg.policy_ids {
                            return None;
                        }
                        Sas {
                            perms: None,
                            scope: Scope::Container,
                            start: None,
                            expiry: None,
                            policy: Some(id),
                            signed_with,
                            cached: if self.has(Flaw::PolicyChangeNotApplied) {
                                s.policies[usize::from(id)]
                            } else {
                                None
                            },
                        }
                    }
                };
                next.clients[1] = Credential::Sas(sas);
                next.sas_issued += 1;
                Outcome::Done
            }
            Action::Replicate { replica } => {
                let mut p = s.pending?;
                let r = usize::from(replica);
                if p.replicas & bit(replica) != 0 || !s.replicas.get(r)?.up {
                    return None;
                }
                p.replicas |= bit(replica);
                if let WriteOp::Put { .. } = p.op {
                    if s.replicas[r].location != Location::Chosen {
                        next.broken.insert(10);
                    }
                }
                if p.acked {
                    // After a flawed early commit the rest catch up lazily.
                    self.apply(&mut next.replicas[r], p.op);
                }
                next.pending = if p.acked && p.replicas == ALL_REPLICAS {
                    None
                } else {
                    Some(p)
                };
                Outcome::Done
            }
            Action::Commit => {
                let mut p = s.pending?;
                if p.acked || !self.may_commit(s, &p) {
                    return None;
                }
                let mut reused = false;
                for r in 0..REPLICAS {
                    if p.replicas & bit(r) != 0 {
                        reused |= self.apply(&mut next.replicas[usize::from(r)], p.op);
                    }
                }
                let b = usize::from(p.op.blob());
                match p.op {
                    WriteOp::Put { version, .. } => {
                        next.acked[b] = Some(version);
                        next.deleted &= !bit(p.op.blob());
                        if reused {
                            next.reused |= bit(version);
                        }
                        let holding = next
                            .replicas
                            .iter()
                            .filter(|r| r.blobs[b].map(|c| c.version) == Some(version))
                            .count();
                        if holding < usize::from(REPLICAS) {
                            next.broken.insert(7);
                        }
                        let home = next.replicas.iter().all(|r| r.location == Location::Chosen);
                        if holding == usize::from(REPLICAS) && home {
                            next.last = Some(Witness::AckedInChosenLocation);
                        }
                    }
                    WriteOp::Delete { .. } => {
                        next.acked[b] = None;
                        next.acked_snapshots[b] = None;
                        next.deleted |= bit(p.op.blob());
                        next.leases[b] = Lease::Available;
                    }
                    WriteOp::Snapshot { version, .. } => {
                        next.acked_snapshots[b] = Some(version);
                    }
                }
                if p.replicas == ALL_REPLICAS {
                    next.pending = None;
                } else {
                    p.acked = true;
                    next.pending = Some(p);
                }
                Outcome::Acknowledged { op: p.op }
            }
            Action::Crash { replica } => {
                let r = next.replicas.get_mut(usize::from(replica))?;
                if !r.up || s.crashes >= self.cfg.max_crashes || s.pending.is_some() {
                    return None;
                }
                r.up = false;
                next.crashes += 1;
                Outcome::Done
            }
            Action::Restart { replica } => {
                let r = next.replicas.get_mut(usize::from(replica))?;
                if r.up {
                    return None;
                }
                r.up = true;
                Outcome::Done
            }
            _ => match self.step_request(s, &mut next, action)? {
                Ok(outcome) => outcome,
                Err(reason) => Outcome::Denied { reason },
            },
        };
        Some((outcome, next))
    }

    fn action_kind(action: &Action) -> &'static str {
        match action {
            Action::Tick => "tick",
            Action::RegenerateKey { .. } => "regenerate-key",
            Action::Switch { .. } => "switch",
            Action::IssueSas { .. } => "issue-sas",
            Action::SetPolicy { .. } => "set-policy",
            Action::RemovePolicy { .. } => "remove-policy",
            Action::SetPublicAccess { .. } => "set-public-access",
            Action::Put { .. } => "put",
            Action::Get { .. } => "get",
            Action::List { .. } => "list",
            Action::Delete { .. } => "delete",
            Action::Snapshot { .. } => "snapshot",
            Action::Lease { .. } => "lease",
            Action::Replicate { .. } => "replicate",
            Action::Commit => "commit",
            Action::Crash { .. } => "crash",
            Action::Restart { .. } => "restart",
        }
    }

    fn action_shape(&self, s: &StorageState, action: &Action) -> String {
        let kind = Self::action_kind(action);
        let lease_class =
            |blob: u8, lease: Option<u8>| match (s.leases[usize::from(blob)].active(), lease) {
                (None, None) => "unleased",
                (None, Some(_)) => "unleased+lease-id",
                (Some(_), None) => "leased+no-lease-id",
                (Some(id), Some(given)) if id == given => "leased+holder",
                (Some(_), Some(_)) => "leased+other-id",
            };
        match *action {
            Action::RegenerateKey { by, .. } => format!("{kind} by={by:?}"),
            Action::IssueSas { grant } => match grant {
                SasGrant::ReadBlob => format!("{kind} ad-hoc"),
                SasGrant::StoredPolicy(_) => format!("{kind} policy"),
            },
            Action::SetPolicy { id, policy } => {
                let verb = match s.policies.get(usize::from(id)).copied().flatten() {
                    Some(_) => "change",
                    None => "new",
                };
                format!("{kind} {verb} {}", policy.perms.letters())
            }
            Action::SetPublicAccess { level } => format!("{kind} {level:?}"),
            Action::Put {
                caller,
                blob,
                content,
                lease,
            } => format!(
                "{kind} {} {} {content:?} {}",
                caller_class(s, caller),
                target_class(s, caller, Scope::Blob(blob)),
                lease_class(blob, lease)
            ),
            Action::Delete {
                caller,
                blob,
                lease,
            } => format!(
                "{kind} {} {} {}",
                caller_class(s, caller),
                target_class(s, caller, Scope::Blob(blob)),
                lease_class(blob, lease)
            ),
            Action::Snapshot { caller, blob } => format!(
                "{kind} {} {}",
                caller_class(s, caller),
                target_class(s, caller, Scope::Blob(blob))
            ),
            Action::Get {
                caller,
                blob,
                snapshot,
                ..
            } => format!(
                "{kind} {} {}{}",
                caller_class(s, caller),
                target_class(s, caller, Scope::Blob(blob)),
                if snapshot { " snapshot" } else { "" }
            ),
            Action::List { caller, .. } => format!(
                "{kind} {} {}",
                caller_class(s, caller),
                target_class(s, caller, Scope::Container)
            ),
            Action::Lease { op, .. } => {
                let op = match op {
                    LeaseOp::Acquire { duration, .. } => format!("acquire-{duration:?}"),
                    LeaseOp::Renew { .. } => "renew".into(),
                    LeaseOp::Change { .. } => "change".into(),
                    LeaseOp::Release { .. } => "release".into(),
                    LeaseOp::Break => "break".into(),
                };
                format!("{kind} {op}").to_lowercase()
            }
            Action::Commit => match s.pending {
                Some(p) => format!("{kind} {}", p.op.kind()),
                None => kind.into(),
            },
            _ => kind.into(),
        }
    }

    fn outcome_kind(outcome: &Outcome) -> String {
        match outcome {
            Outcome::Done => "done".into(),
            Outcome::KeyRegenerated { .. } => "key-regenerated".into(),
            Outcome::AclSet => "acl-set".into(),
            Outcome::Accepted => "accepted".into(),
            Outcome::Acknowledged { op } => format!("acknowledged:{}", op.kind()),
            Outcome::Blob { .. } => "blob".into(),
            Outcome::Listed { .. } => "listed".into(),
            Outcome::Lease { lease } => match lease {
                Lease::Available => "lease:available".into(),
                Lease::Leased { .. } => "lease:leased".into(),
                Lease::Expired { .. } => "lease:expired".into(),
                Lease::Broken { .. } => "lease:broken".into(),
            },
            Outcome::Denied { reason } => format!("denied:{reason:?}"),
        }
    }

    fn claims_touched(
        &self,
        before: &StorageState,
        action: &Action,
        outcome: &Outcome,
    ) -> ClaimSet {
        if let Outcome::Denied { reason } = outcome {
            return reason.claims();
        }
        let Some((_, after)) = self.step(before, action) else {
            return ClaimSet::EMPTY;
        };
        let mut touched = ClaimSet::EMPTY;
        for n in after.broken.numbers() {
            if !before.broken.contains(n) {
                touched.insert(n);
            }
        }
        if let Some(w) = after.last {
            touched = touched.union(w.claims());
        }
        let by_kind = match action {
            Action::RegenerateKey { .. } | Action::Switch { .. } => ClaimSet::of(&[2, 8]),
            Action::IssueSas { grant } => match grant {
                SasGrant::ReadBlob => ClaimSet::of(&[3]),
                SasGrant::StoredPolicy(_) => ClaimSet::of(&[4]),
            },
            Action::SetPolicy { .. } | Action::RemovePolicy { .. } => ClaimSet::of(&[4]),
            Action::SetPublicAccess { .. } => ClaimSet::of(&[5]),
            Action::Get { .. } | Action::List { .. } => ClaimSet::of(&[6]),
            Action::Put { .. } | Action::Delete { .. } => ClaimSet::of(&[6, 11]),
            Action::Lease { .. } => ClaimSet::of(&[11]),
            Action::Replicate { .. } => ClaimSet::of(&[7, 10]),
            Action::Commit => ClaimSet::of(&[6, 7]),
            Action::Crash { .. } | Action::Restart { .. } => ClaimSet::of(&[7]),
            Action::Tick | Action::Snapshot { .. } => ClaimSet::EMPTY,
        };
        touched.union(by_kind)
    }

    fn narrate(&self, before: &StorageState, action: &Action, outcome: &Outcome) -> String {
        let lease_words = |lease: Option<u8>| match lease {
            None => "no lease id".to_string(),
            Some(id) => format!("lease id {id}"),
        };
        let what = match *action {
            Action::Tick => format!("the clock ticks to {}", before.clock + 1),
            Action::RegenerateKey { slot, by } => format!(
                "{} asks SMAPI to regenerate the {} key",
                match by {
                    Authority::Subscription => "the subscription owner",
                    Authority::AccountKey =>
                        "a holder of an account key (no subscription credentials)",
                },
                slot.name()
            ),
            Action::Switch { client, slot } => format!(
                "client {client} switches to the {} key (version {})",
                slot.name(),
                before.keys[slot.index()]
            ),
            Action::IssueSas { grant } => match grant {
                SasGrant::ReadBlob => format!(
                    "client 0 hands client 1 a SAS to read blob 0 until tick {}",
                    before.clock + 1
                ),
                SasGrant::StoredPolicy(id) => {
                    format!("client 0 hands client 1 a container SAS bound to stored policy {id}")
                }
            },
            Action::SetPolicy { id, policy } => format!(
                "client 0 sets stored policy {id} to \"{}\" until {}",
                policy.perms.letters(),
                expiry_words(policy.expiry)
            ),
            Action::RemovePolicy { id } => format!("client 0 removes stored policy {id}"),
            Action::SetPublicAccess { level } => {
                format!("client 0 sets the container's public access to {level:?}")
            }
            Action::Put {
                caller,
                blob,
                content,
                lease,
            } => format!(
                "{} puts blob {blob} ({}, {})",
                caller_name(before, caller),
                match content {
                    Content::Bytes => "new bytes",
                    Content::Zeros => "created empty, reading as zeros",
                },
                lease_words(lease)
            ),
            Action::Get {
                caller,
                blob,
                snapshot,
                replica,
            } => format!(
                "{} reads {}blob {blob} from replica {replica}",
                caller_name(before, caller),
                if snapshot { "the snapshot of " } else { "" }
            ),
            Action::List { caller, replica } => format!(
                "{} lists the container from replica {replica}",
                caller_name(before, caller)
            ),
            Action::Delete {
                caller,
                blob,
                lease,
            } => format!(
                "{} deletes blob {blob} with its snapshots ({})",
                caller_name(before, caller),
                lease_words(lease)
            ),
            Action::Snapshot { caller, blob } => {
                format!("{} snapshots blob {blob}", caller_name(before, caller))
            }
            Action::Lease { blob, op } => format!(
                "client 0 {} on blob {blob}",
                match op {
                    LeaseOp::Acquire { duration, id } => format!(
                        "acquires lease {id} ({})",
                        match duration {
                            LeaseDuration::Fixed => "one tick",
                            LeaseDuration::Infinite => "infinite",
                        }
                    ),
                    LeaseOp::Renew { id } => format!("renews lease {id}"),
                    LeaseOp::Change { id, proposed } => format!("changes lease {id} to {proposed}"),
                    LeaseOp::Release { id } => format!("releases lease {id}"),
                    LeaseOp::Break => "breaks the lease".into(),
                }
            ),
            Action::Replicate { replica } => match before.pending {
                Some(p) => format!(
                    "the {} of blob {} reaches replica {replica}",
                    p.op.kind(),
                    p.op.blob()
                ),
                None => format!("replication to replica {replica}"),
            },
            Action::Commit => match before.pending {
                Some(p) => format!(
                    "the {} of blob {} is committed on {}",
                    p.op.kind(),
                    p.op.blob(),
                    replica_list(p.replicas)
                ),
                None => "commit".into(),
            },
            Action::Crash { replica } => format!("replica {replica} crashes"),
            Action::Restart { replica } => format!("replica {replica} restarts"),
        };
        let result = match outcome {
            Outcome::Done => "done".to_string(),
            Outcome::KeyRegenerated { version, .. } => format!("now at version {version}"),
            Outcome::AclSet => "the container ACL is updated".into(),
            Outcome::Accepted => "accepted, replicating".into(),
            Outcome::Acknowledged { .. } => "the client gets its answer".into(),
            Outcome::Blob { version, bytes } => {
                if *bytes == 0 {
                    format!("version {version}, zeros")
                } else {
                    format!("version {version}, bytes of version {bytes}")
                }
            }
            Outcome::Listed { blobs } => {
                if blobs.is_empty() {
                    "an empty listing".into()
                } else {
                    let names: Vec<String> = blobs.iter().map(|b| format!("blob {b}")).collect();
                    format!("lists {}", names.join(", "))
                }
            }
            Outcome::Lease { lease } => format!("the lease is now {lease:?}"),
            Outcome::Denied { reason } => {
                format!("refused ({} {reason:?})", reason.status())
            }
        };
        format!("{what}: {result}")
    }

    fn itf_vars(&self, s: &StorageState) -> Map<String, Value> {
        let stored_map = |copies: &[Option<Stored>]| {
            itf::map(copies.iter().enumerate().filter_map(|(b, c)| {
                c.map(|c| (json!(b), json!({"version": c.version, "block": c.block})))
            }))
        };
        let versions = |values: &[Option<u8>]| {
            itf::map(
                values
                    .iter()
                    .enumerate()
                    .filter_map(|(b, v)| v.map(|v| (json!(b), json!(v)))),
            )
        };
        let bits = |mask: u8| itf::set((0..8u8).filter(|n| mask & bit(*n) != 0).map(|n| json!(n)));
        let mut vars = Map::new();
        vars.insert("scenario".into(), itf::value(&s.scenario));
        vars.insert("clock".into(), json!(s.clock));
        vars.insert(
            "keys".into(),
            itf::map(Slot::ALL.map(|slot| (json!(slot.name()), json!(s.keys[slot.index()])))),
        );
        vars.insert(
            "clients".into(),
            itf::map(
                s.clients
                    .iter()
                    .enumerate()
                    .map(|(c, cred)| (json!(c), itf::value(cred))),
            ),
        );
        vars.insert("sas_issued".into(), json!(s.sas_issued));
        vars.insert(
            "policies".into(),
            itf::map(
                s.policies
                    .iter()
                    .enumerate()
                    .filter_map(|(id, p)| p.map(|p| (json!(id), itf::value(&p)))),
            ),
        );
        vars.insert("policy_changes".into(), json!(s.policy_changes));
        vars.insert("public".into(), itf::value(&s.public));
        vars.insert("public_changes".into(), json!(s.public_changes));
        vars.insert(
            "leases".into(),
            itf::map(
                s.leases
                    .iter()
                    .enumerate()
                    .map(|(b, l)| (json!(b), itf::value(l))),
            ),
        );
        vars.insert("puts".into(), json!(s.puts));
        vars.insert("snapshots".into(), json!(s.snapshots));
        vars.insert("crashes".into(), json!(s.crashes));
        vars.insert(
            "pending".into(),
            itf::set(s.pending.iter().map(|p| {
                json!({
                    "op": itf::value(&p.op),
                    "replicas": bits(p.replicas),
                    "acked": p.acked,
                    "observed": p.observed,
                })
            })),
        );
        vars.insert(
            "replicas".into(),
            itf::map(s.replicas.iter().enumerate().map(|(r, rep)| {
                (
                    json!(r),
                    json!({
                        "location": itf::value(&rep.location),
                        "up": rep.up,
                        "blobs": stored_map(&rep.blobs),
                        "snapshots": stored_map(&rep.snapshots),
                        "blocks": itf::map(rep.blocks.iter().enumerate().map(|(k, b)| (json!(k), json!(b)))),
                    }),
                )
            })),
        );
        vars.insert("acked".into(), versions(&s.acked));
        vars.insert("acked_snapshots".into(), versions(&s.acked_snapshots));
        vars.insert("deleted".into(), bits(s.deleted));
        vars.insert("zeroed".into(), bits(s.zeroed));
        vars.insert("reused".into(), bits(s.reused));
        vars.insert("app_refused".into(), json!(s.app_refused));
        vars.insert("broken".into(), claims_itf(s.broken));
        vars
    }

    fn bounds_line(&self) -> String {
        let c = &self.cfg;
        format!(
            "max_clock={} max_puts={} max_snapshots={} max_crashes={} key_versions={} max_sas={} policy_ids={} max_policy_changes={} max_public_changes={}",
            c.max_clock,
            c.max_puts,
            c.max_snapshots,
            c.max_crashes,
            c.key_versions,
            c.max_sas,
            c.policy_ids,
            c.max_policy_changes,
            c.max_public_changes
        )
    }

    fn flaw_name(&self) -> Option<&'static str> {
        self.cfg.flaw.map(Flaw::name)
    }

    fn broken_claims(state: &StorageState) -> ClaimSet {
        state.broken
    }

    fn claim_label(n: u8) -> String {
        claim_id(n)
    }

    fn var_claims(name: &str) -> ClaimSet {
        match name {
            // What each replica holds and where it is.
            "replicas" => ClaimSet::of(&[6, 7, 9, 10]),
            "public" => ClaimSet::of(&[5]),
            "policies" => ClaimSet::of(&[4]),
            "keys" => ClaimSet::of(&[1, 2, 8]),
            "leases" => ClaimSet::of(&[11]),
            _ => ClaimSet::EMPTY,
        }
    }
}

/// A caller's credential class, for coverage: `key`, `removed-key`,
/// `sas-ad-hoc`, `sas-policy`, `anonymous`.
fn caller_class(s: &StorageState, caller: Caller) -> &'static str {
    match s.credential(caller) {
        None => "anonymous",
        Some(Credential::Key(k)) if k.version == s.keys[k.slot.index()] => "key",
        Some(Credential::Key(_)) => "removed-key",
        Some(Credential::Sas(sas)) if sas.policy.is_some() => "sas-policy",
        Some(Credential::Sas(_)) => "sas-ad-hoc",
    }
}

/// Whether the caller's SAS covers the target (`in-scope`, `out-of-scope`),
/// or the public level for anonymous callers; empty for keys.
fn target_class(s: &StorageState, caller: Caller, target: Scope) -> String {
    match s.credential(caller) {
        None => format!("public={:?}", s.public),
        Some(Credential::Key(_)) => match target {
            Scope::Container => "container".into(),
            Scope::Blob(_) => "blob".into(),
        },
        Some(Credential::Sas(sas)) => {
            if sas.scope.covers(target) {
                "in-scope".into()
            } else {
                "out-of-scope".into()
            }
        }
    }
}

/// A caller's name in narratives, with what it holds.
pub fn caller_name(s: &StorageState, caller: Caller) -> String {
    match (caller, s.credential(caller)) {
        (Caller::Client(c), Some(Credential::Key(k))) => {
            format!(
                "client {c} (with the {} key, version {})",
                k.slot.name(),
                k.version
            )
        }
        (Caller::Client(c), Some(Credential::Sas(sas))) => match sas.policy {
            Some(id) => format!("client {c} (with a SAS bound to policy {id})"),
            None => format!(
                "client {c} (with a SAS \"{}\" on {} until tick {})",
                sas.perms.unwrap_or(Perms::NONE).letters(),
                match sas.scope {
                    Scope::Container => "the container".to_string(),
                    Scope::Blob(b) => format!("blob {b}"),
                },
                sas.expiry.unwrap_or(0)
            ),
        },
        _ => "an anonymous caller".into(),
    }
}

fn expiry_words(expiry: u8) -> String {
    if expiry == u8::MAX {
        "further notice".into()
    } else {
        format!("tick {expiry}")
    }
}

fn replica_list(mask: u8) -> String {
    let names: Vec<String> = (0..REPLICAS)
        .filter(|r| mask & bit(*r) != 0)
        .map(|r| r.to_string())
        .collect();
    match names.len() {
        1 => format!("replica {}", names[0]),
        _ => format!("replicas {}", names.join(", ")),
    }
}
