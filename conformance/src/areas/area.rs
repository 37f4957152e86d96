//! The [`Area`] trait: a claim area as every command sees it.

use super::kit::{self, ModelOf};
use crate::check::ModelReport;
use crate::generate::CoverageCount;
use crate::replay::{PeerEndpoint, ReplayReport, Transport};
use anyhow::{bail, Result};
use fabric_impl::bugs::BugSet;
use fabric_model::trace::TracedModel;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::Path;

/// A claim area as every command sees it: its model, flaws, traces and the
/// way its traces are replayed against the implementation.
pub trait Area: Sync {
    /// The area's short name (`network`): `--model`'s value, the traces
    /// folder and the `model` of a trace's `#meta`.
    fn name(&self) -> &'static str;

    /// The model's properties at default bounds, each as (claim ID, name).
    fn properties(&self) -> Vec<(String, &'static str)>;

    /// The model's deliberate flaws, each with the claims it breaks.
    fn flaws(&self) -> Vec<FlawRow>;

    /// Checks the model at default (or, with `deep`, larger) bounds, built
    /// with `flaw`; `None` when `flaw` is not one of this area's.
    fn check(
        &self,
        flaw: Option<&str>,
        deep: bool,
        threads: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Option<ModelReport>;

    /// Serves stateright's explorer for the model with `flaw` on `addr`
    /// until the process is stopped.
    fn explore(&self, flaw: Option<&str>, addr: SocketAddr) -> Result<()>;

    /// Every trace of the area: coverage, one counterexample per flaw, and
    /// random walks, rendered as files; and what the coverage traces take.
    fn traces(&self, progress: &mut dyn FnMut(String)) -> Result<GeneratedTraces>;

    /// Replays one trace file of this area against a fresh implementation
    /// with `bugs` switched on.
    fn replay_file(&self, path: &Path, transport: Transport, bugs: BugSet) -> Result<ReplayReport>;

    /// Checks, before any replay, that `peer` is an endpoint this area can
    /// replay against (a malformed one is one clear error, not one per
    /// trace); areas without a peer accept anything here.
    fn prepare_peer(&self, peer: &PeerEndpoint) -> Result<()>;

    /// Replays one trace file against another implementation at `peer`.
    fn replay_on_peer(&self, path: &Path, peer: &PeerEndpoint) -> Result<ReplayReport>;
}

/// What an area writes itself: how to build its model ([`ModelOf`]) and
/// how its traces reach the implementation. [`Area`] follows from it.
pub trait AreaAdapter: ModelOf + Sync {
    /// Replays one trace file of this area against a fresh implementation
    /// with `bugs` switched on.
    fn replay_trace_file(
        &self,
        path: &Path,
        transport: Transport,
        bugs: BugSet,
    ) -> Result<ReplayReport>;

    /// See [`Area::prepare_peer`]; by default there is no peer to check.
    fn check_peer(&self, peer: &PeerEndpoint) -> Result<()> {
        let _ = peer;
        Ok(())
    }

    /// See [`Area::replay_on_peer`]; by default, an area has no peer.
    fn replay_peer_file(&self, path: &Path, peer: &PeerEndpoint) -> Result<ReplayReport> {
        let _ = peer;
        bail!(
            "{}: --peer replays only the traces of areas with a peer, and the {} area has none",
            path.display(),
            <Self::Model as TracedModel>::AREA
        )
    }
}

impl<A: AreaAdapter> Area for A {
    fn name(&self) -> &'static str {
        <A::Model as TracedModel>::AREA
    }

    fn properties(&self) -> Vec<(String, &'static str)> {
        kit::properties::<A>()
    }

    fn flaws(&self) -> Vec<FlawRow> {
        kit::flaws::<A>()
    }

    fn check(
        &self,
        flaw: Option<&str>,
        deep: bool,
        threads: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Option<ModelReport> {
        kit::check::<A>(flaw, deep, threads, progress)
    }

    fn explore(&self, flaw: Option<&str>, addr: SocketAddr) -> Result<()> {
        kit::explore::<A>(flaw, addr)
    }

    fn traces(&self, progress: &mut dyn FnMut(String)) -> Result<GeneratedTraces> {
        let (traces, coverage) = kit::counted_traces::<A>(progress)?;
        Ok(GeneratedTraces {
            files: kit::render(&traces),
            coverage,
        })
    }

    fn replay_file(&self, path: &Path, transport: Transport, bugs: BugSet) -> Result<ReplayReport> {
        self.replay_trace_file(path, transport, bugs)
    }

    fn prepare_peer(&self, peer: &PeerEndpoint) -> Result<()> {
        self.check_peer(peer)
    }

    fn replay_on_peer(&self, path: &Path, peer: &PeerEndpoint) -> Result<ReplayReport> {
        self.replay_peer_file(path, peer)
    }
}

/// A generated trace, rendered: the ITF file and the narrative beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceFile {
    /// The file name without extension (`flaw-fa-merges-lists`).
    pub name: String,
    /// The ITF JSON text.
    pub itf: String,
    /// The Markdown narrative.
    pub narrative: String,
}

/// Every trace of an area, rendered, with what its coverage traces take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedTraces {
    /// The files, coverage traces first.
    pub files: Vec<TraceFile>,
    /// The (action shape, outcome kind) pairs reachable and taken.
    pub coverage: CoverageCount,
}

/// A deliberate flaw of some model, as `fabric flaws` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlawRow {
    /// The model.
    pub model: &'static str,
    /// The flaw's name.
    #[serde(rename = "flaw")]
    pub name: &'static str,
    /// The claim IDs it breaks.
    pub breaks: Vec<String>,
    /// The mechanism it removes.
    pub description: &'static str,
}
