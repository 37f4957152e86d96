//! The words of the storage model: its fixed sizes, credentials and
//! access, leases, refusals, actions and outcomes.

use super::*;
use serde::{Deserialize, Serialize};
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
/// The claims this area's model checks.
pub const STORAGE_CLAIMS: ClaimSet = claims![
    STO - 1,
    STO - 2,
    STO - 3,
    STO - 4,
    STO - 5,
    STO - 6,
    STO - 7,
    STO - 8,
    STO - 9,
    GEO - 1,
    DRV - 1
];

pub(super) const ALL_REPLICAS: u8 = (1 << REPLICAS) - 1;

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

    /// Its name, as the ITF variable `keys` spells it.
    pub const fn name(self) -> &'static str {
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
    /// Ad hoc: read blob 0, signed for the tick it is issued in (start and
    /// expiry both that tick, the expiry inclusive).
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
