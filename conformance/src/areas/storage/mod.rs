//! Replays storage traces against the storage service: each model action
//! becomes a real Blob REST request (signed with Shared Key or a SAS, or
//! anonymous), sent in process to [`StorageService::handle`](fabric_impl::storage::service::StorageService::handle) or over HTTP to
//! a [`StorageServer`](fabric_impl::storage::http::StorageServer), and the answer is read back in the model's terms.
//!
//! # How the model's steps map onto the service
//!
//! - **Time.** Model tick `t` is `BASE_MS + t * TICK_MS` on the service's
//!   clock (the harness passes the time in; over HTTP the server reads a
//!   shared clock). A tick is 15 s, the shortest fixed lease, so a lease
//!   acquired at tick `t` has ended by tick `t + 1`, and an ad hoc SAS is
//!   signed with `st = se = ` the tick it is issued in.
//! - **A write in flight.** The model accepts a put, delete or snapshot,
//!   replicates it step by step and then commits it. The service's store
//!   applies a write to all three replicas in one go. So the adapter pauses
//!   the store's committer, sends the request, and answers `Accepted` once
//!   the write is on the store's queue (a refusal answers at once);
//!   `Replicate` steps change nothing; `Commit` lets the committer go and
//!   waits for the acknowledgement. Until then no replica shows the write,
//!   as in the model.
//! - **Replicas.** Reads carry the diagnostic header `x-fabric-replica`,
//!   so a read the model serves from replica `r` is served from replica `r`.
//!   Crashes and restarts are the store's own fault hooks.
//! - **Names.** Blob `n` is `blobn` in container `data` of the emulator's
//!   account; lease id `n` is a GUID ending in `n`; policy `n` is
//!   `policyn`. A blob's model version travels in its metadata
//!   (`x-ms-meta-version`) and in its bytes (`vN`, or zeros for a page
//!   blob), so what a read returns can be judged.
//!
//! What the adapter observes after each step (see `observe.rs`): each
//! replica's location and liveness and the blobs and snapshots it holds
//! (with their versions), the public access level and the stored access
//! policies, each blob's lease, and which version of each key the service
//! holds. `Replicate` is the one step the service is not asked about; it
//! counts toward no claim.
//!
//! # Peer mode: another Blob service
//!
//! [`replay_storage_peer_file`] replays the same traces over HTTP against
//! another implementation of the Blob REST API (Azurite), with a
//! [`PeerAdapter`] (not the [`StorageAdapter`]), to see where it
//! departs from the claims. Such a peer has no fault hooks, no replica
//! header, no management endpoint and no injectable clock, and its writes
//! complete before it answers, so:
//!
//! - **Requests** go to the peer's path-style endpoint
//!   (`/ACCOUNT/container/blob`), signed with the peer's account name and
//!   key, at the peer's own API version ([`PEER_VERSION`]). Each trace gets
//!   a container of its own (`fabric-SECONDS-N`), deleted afterwards.
//! - **Time.** Tick `t` is `base + t * TICK_MS`, `base` being the real time
//!   at the adapter's start in whole seconds; a tick advances it without
//!   sleeping, and requests carry that time in `x-ms-date`. The peer judges
//!   SAS windows and policy expiries by its real clock, so those are written
//!   relative to real time instead: a time at tick `k`, written at tick `t`,
//!   is `now + (k - t) * TICK_MS`, less [`PEER_MARGIN_MS`] for a start and
//!   plus it for an expiry. An ad hoc SAS is signed afresh at each use
//!   (same key, permissions, scope and window in ticks), and the container
//!   ACL is written again at each tick while a policy has a finite expiry,
//!   so that a window the model has left is left on the peer too.
//! - **Writes.** A put, delete or snapshot is sent when the model accepts
//!   it and its answer kept: a refusal is `Denied` at once, a success is
//!   `Accepted` and `Commit` then reports `Acknowledged`. `Replicate` does
//!   nothing.
//! - **What a peer cannot do** is an
//!   [`AdapterError`](crate::replay::AdapterError) starting with
//!   [`AdapterError::PeerCannot`](crate::replay::AdapterError::PeerCannot):
//!   crash or restart a replica, regenerate a key (no
//!   management API), sign with a secondary key (one key is given), show a
//!   read or lease as it was before a write it has already applied, or let
//!   a fixed-duration lease run out at a tick; and a flaw trace whose flaw
//!   shows only in state the peer cannot show (replica placement). These
//!   end the trace: nothing after them can be compared.
//! - **Observed:** only the public access level (`Get Container ACL`).
//! - **A refusal code the model has no name for** is an
//!   [`AdapterError`](crate::replay::AdapterError) starting with
//!   [`AdapterError::PeerAnswered`](crate::replay::AdapterError::PeerAnswered),
//!   with the status and code.
//!
//! Each step's result is logged at `info` under the target `fabric_peer`
//! as `PEER-STEP {json}`, and each flaw trace's flaw step and the correct
//! model's outcome there as `PEER-TRACE {json}`.
//!
//! # The rooms
//!
//! - `names.rs`: model names and Blob names, the bytes of a version, the
//!   permissions.
//! - `requests.rs`: building and signing requests, the `Link` that sends
//!   them (in process, HTTP, peer), and the `Session` both adapters hold.
//! - `apply.rs`: the one place where each model action becomes requests,
//!   over the `BlobService` hooks each adapter implements.
//! - `adapter.rs`: [`StorageAdapter`], fabric's own service.
//! - `observe.rs`: fabric's service read back in model terms.
//! - `peer.rs`: [`PeerAdapter`], another Blob service.

mod adapter;
mod apply;
mod names;
mod observe;
mod peer;
mod requests;

pub use adapter::StorageAdapter;
pub use names::{blob_bytes, bytes_tag};
pub use peer::{PeerAdapter, PeerTarget};

use super::area::AreaAdapter;
use super::kit;
use crate::itf::{read_trace, RawTrace};
use crate::replay::{
    recheck, replay, replay_checked, CorrectStep, PeerEndpoint, ReplayError, ReplayReport,
    Transport, Verdict,
};
use fabric_impl::bugs::BugSet;
use fabric_impl::storage::clock::UnixMs;
use fabric_model::storage::{Action, Flaw, Outcome, Scenario, StorageConfig, StorageModel};
use fabric_model::trace::TracedModel;
use peer::peer_cannot;
use serde_json::json;
use std::path::Path;

/// The service time of model tick 0 (2026-01-01T00:00:00Z).
pub const BASE_MS: UnixMs = 1_767_225_600_000;
/// One model tick on the service's clock: the shortest fixed lease.
pub const TICK_MS: UnixMs = 15_000;
/// The container the model's blobs live in.
pub const CONTAINER: &str = "data";
/// The API version of requests and SASes sent to a peer: Azurite 3.35.0's
/// own (fabric's service takes
/// [`DEFAULT_VERSION`](fabric_impl::storage::service::DEFAULT_VERSION)).
pub const PEER_VERSION: &str = "2025-11-05";
/// How far a SAS start or a SAS or policy expiry sent to a peer lies before
/// (start) or after (expiry) the real instant that stands for its tick: the
/// peer reads them against its real clock while the replay's ticks take no
/// real time, so a window the model is inside is judged open with this much
/// to spare, and one the model has left by a tick is judged closed.
pub const PEER_MARGIN_MS: UnixMs = 7_000;

/// The storage area (STO-1 to STO-9, GEO-1, and the storage service's side
/// of DRV-1).
pub struct StorageArea;

impl kit::ModelOf for StorageArea {
    type Model = StorageModel;
    type Flaw = Flaw;

    fn model(flaw: Option<Flaw>, deep: bool) -> StorageModel {
        let cfg = if deep {
            StorageConfig::deep()
        } else {
            StorageConfig::default()
        };
        cfg.with_flaw(flaw).into_model()
    }
}

impl AreaAdapter for StorageArea {
    fn replay_trace_file(
        &self,
        path: &Path,
        transport: Transport,
        bugs: BugSet,
    ) -> anyhow::Result<ReplayReport> {
        replay_storage_file(path, transport, bugs)
    }

    fn check_peer(&self, peer: &PeerEndpoint) -> anyhow::Result<()> {
        PeerTarget::new(&peer.url, &peer.account, &peer.key_base64).map(|_| ())
    }

    fn replay_peer_file(&self, path: &Path, peer: &PeerEndpoint) -> anyhow::Result<ReplayReport> {
        let target = PeerTarget::new(&peer.url, &peer.account, &peer.key_base64)?;
        replay_storage_peer_file(path, &target)
    }
}

/// Every storage trace, named: coverage, a counterexample per flaw, walks.
pub fn storage_traces(
    progress: &mut dyn FnMut(String),
) -> anyhow::Result<kit::NamedTraces<StorageModel>> {
    kit::traces::<StorageArea>(progress)
}

/// Replays a storage trace file against a fresh service with `bugs`.
pub fn replay_storage_file(
    path: &Path,
    transport: Transport,
    bugs: BugSet,
) -> anyhow::Result<ReplayReport> {
    let raw = read_trace::<Action, Outcome>(path)?;
    Ok(replay_storage_trace(&raw, transport, bugs)?)
}

/// Replays a storage trace against a fresh service with `bugs`.
pub fn replay_storage_trace(
    raw: &RawTrace<Action, Outcome>,
    transport: Transport,
    bugs: BugSet,
) -> Result<ReplayReport, ReplayError> {
    let (cfg, scenario, model, correct) = trace_models(raw)?;
    let mut adapter = StorageAdapter::new(&cfg, scenario, bugs, transport).map_err(|source| {
        ReplayError::Adapter {
            path: raw.path.clone(),
            step: 0,
            source,
        }
    })?;
    let report = replay(&model, &correct, raw, &mut adapter);
    adapter.shutdown();
    report
}

/// A storage trace's bounds, scenario, model (with its flaw) and the
/// correct model.
fn trace_models(
    raw: &RawTrace<Action, Outcome>,
) -> Result<(StorageConfig, Scenario, StorageModel, StorageModel), ReplayError> {
    let meta_error = |message: String| ReplayError::Meta {
        path: raw.path.clone(),
        message,
    };
    if raw.meta.model != "storage" {
        return Err(meta_error(format!(
            "not a storage trace but {:?}",
            raw.meta.model
        )));
    }
    let cfg = StorageConfig::from_bounds_line(&raw.meta.bounds).map_err(meta_error)?;
    let flaw = match &raw.meta.flaw {
        None => None,
        Some(name) => Some(
            Flaw::from_name(name).ok_or_else(|| meta_error(format!("unknown flaw {name:?}")))?,
        ),
    };
    let scenario: Scenario = raw
        .init_vars
        .get("scenario")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .ok_or_else(|| meta_error("the initial state names no scenario".into()))?;
    let model = cfg.clone().with_flaw(flaw).into_model();
    let correct = cfg.clone().into_model();
    Ok((cfg, scenario, model, correct))
}

/// The model variables a peer's observation holds.
const PEER_OBSERVES: &[&str] = &["public"];

/// Replays a storage trace file against another Blob service, `peer`.
pub fn replay_storage_peer_file(path: &Path, peer: &PeerTarget) -> anyhow::Result<ReplayReport> {
    let raw = read_trace::<Action, Outcome>(path)?;
    Ok(replay_storage_trace_on_peer(&raw, peer)?)
}

/// Replays a storage trace against another Blob service, `peer`, in a
/// container of its own (see the module documentation). A flaw trace whose
/// flaw shows only in variables the peer cannot show, and that the peer
/// otherwise follows to the end, is an
/// [`AdapterError`](crate::replay::AdapterError) at the flaw's step saying
/// so ([`AdapterError::PeerCannot`](crate::replay::AdapterError::PeerCannot)),
/// not a flaw left unstopped.
pub fn replay_storage_trace_on_peer(
    raw: &RawTrace<Action, Outcome>,
    peer: &PeerTarget,
) -> Result<ReplayReport, ReplayError> {
    let (_, scenario, model, correct) = trace_models(raw)?;
    let trace = raw.path.display().to_string();
    let checked = recheck(&model, &correct, raw)?;
    let point = &checked.point;
    if let (Some(point), Some(_)) = (&point, &raw.meta.flaw) {
        let line = json!({
            "trace": trace,
            "flaw": raw.meta.flaw,
            "flaw_step": point.step,
            "correct": point.correct.as_ref().map(CorrectStep::to_json),
            "vars": point.vars,
            "later": point.later.iter().map(CorrectStep::to_json).collect::<Vec<_>>(),
        });
        tracing::info!(target: "fabric_peer", "PEER-TRACE {line}");
    }
    let mut adapter =
        PeerAdapter::new(scenario, peer, &trace).map_err(|source| ReplayError::Adapter {
            path: raw.path.clone(),
            step: 0,
            source,
        })?;
    let report = replay_checked(raw, &checked, &mut adapter);
    adapter.shutdown();
    let report = report?;
    if let (
        Verdict::NotStopped {
            expected_step,
            mismatch: None,
            ..
        },
        Some(point),
    ) = (&report.verdict, &point)
    {
        let same_outcome = point.step == 0
            || raw.steps.get(point.step - 1).is_some_and(|step| {
                point.correct.as_ref().map(|correct| &correct.outcome) == Some(&step.outcome)
            });
        let unseen = !point.vars.is_empty()
            && point
                .vars
                .iter()
                .all(|name| !PEER_OBSERVES.contains(&name.as_str()));
        if same_outcome && unseen {
            let shown: Vec<String> = point
                .vars
                .iter()
                .filter(|name| !StorageModel::var_claims(name).is_empty())
                .map(|name| {
                    let claims: Vec<String> = StorageModel::var_claims(name)
                        .iter()
                        .map(|c| c.to_string())
                        .collect();
                    format!("`{name}` ({})", claims.join(", "))
                })
                .collect();
            return Err(ReplayError::Adapter {
                path: raw.path.clone(),
                step: *expected_step,
                source: peer_cannot(&format!(
                    "show {}, where this flaw shows at step {expected_step}: the peer shows only the public access level, and answered every step as the trace says",
                    shown.join(" and ")
                )),
            });
        }
    }
    Ok(report)
}
