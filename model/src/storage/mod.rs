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
//! Its claims are [`STORAGE_CLAIMS`]: STO-1 to STO-9, GEO-1 and DRV-1,
//! each its own ID in a [`ClaimSet`]. DRV-1 is here only for
//! its storage side, the lease fence ("the storage service itself refuses
//! writes from any other holder"): the lease flaw breaks no STO claim, and
//! the drive model keeps mounts, snapshots and VM failure.
//!
//! Anonymous refusals: a read beyond the public level answers 404
//! `ResourceNotFound` (the service does not reveal that private data
//! exists); a write answers 401 `NoAuthenticationInformation`.

// The rooms every area has, read in this order (rustfmt sorts the lines):
// vocabulary (here with state.rs beside it: the state's types, split off
// for length), config, mechanism, oracle, actions, step, properties, flaws,
// narration, itf.
mod actions;
mod config;
mod flaws;
mod itf;
mod mechanism;
mod narration;
mod oracle;
mod properties;
mod state;
mod step;
mod vocabulary;

pub use config::*;
pub use flaws::*;
pub use narration::*;
pub use properties::*;
pub use state::*;
pub use vocabulary::*;

use crate::claims::ClaimSet;
use crate::{claim, claims};
