//! The area registry: every claim area the harness knows, behind one
//! [`Area`] trait, listed once in [`AREAS`].
//!
//! Every command (`check`, `flaws`, `explore`, `traces generate`, `replay`,
//! `claims --check`) and the trace tests iterate the registry; no area's
//! name is matched as a string anywhere else. Adding an area is one folder
//! under `areas/` with a type implementing [`Area`], and one line in
//! [`AREAS`].
//!
//! Most of an area's answers are the same generic code over its model
//! ([`check_model`], [`explore_model`], [`model_traces`], [`flaw_rows`]); an
//! area implements the trait by saying which model, config and flaws it has,
//! and how its traces reach the implementation.

pub mod network;
pub mod storage;

use crate::check::{self, ModelReport};
use crate::generate;
use crate::graph::StateGraph;
use crate::itf::Trace;
use crate::replay::{PeerEndpoint, ReplayReport, Transport};
use anyhow::{bail, Context, Result};
use fabric_impl::bugs::BugSet;
use fabric_model::trace::TracedModel;
use fabric_model::ClaimSet;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::hash::Hash;
use std::net::SocketAddr;
use std::path::Path;
use thiserror::Error;

/// Every area, in the order commands report them.
pub static AREAS: &[&dyn Area] = &[&network::NetworkArea, &storage::StorageArea];

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
    /// random walks, rendered as files.
    fn traces(&self, progress: &mut dyn FnMut(String)) -> Result<Vec<TraceFile>>;

    /// Replays one trace file of this area against a fresh implementation
    /// with `bugs` switched on.
    fn replay_file(&self, path: &Path, transport: Transport, bugs: BugSet) -> Result<ReplayReport>;

    /// Checks, before any replay, that `peer` is an endpoint this area can
    /// replay against (a malformed one is one clear error, not one per
    /// trace); areas without a peer accept anything here.
    fn prepare_peer(&self, peer: &PeerEndpoint) -> Result<()> {
        let _ = peer;
        Ok(())
    }

    /// Replays one trace file against another implementation at `peer`;
    /// by default, an area has no peer.
    fn replay_on_peer(&self, path: &Path, peer: &PeerEndpoint) -> Result<ReplayReport> {
        let _ = peer;
        bail!(
            "{}: --peer replays storage traces only, not {} traces",
            path.display(),
            self.name()
        )
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

/// An `--model` or `--area` value that names no area.
#[derive(Debug, Error)]
#[error("unknown model {name:?}; known: {}", known_names().join(", "))]
pub struct UnknownArea {
    /// What was asked for.
    pub name: String,
}

/// The names the registry knows, `all` first.
pub fn known_names() -> Vec<&'static str> {
    std::iter::once("all")
        .chain(AREAS.iter().map(|a| a.name()))
        .collect()
}

/// The area called `name`.
pub fn area(name: &str) -> Result<&'static dyn Area, UnknownArea> {
    AREAS
        .iter()
        .copied()
        .find(|a| a.name() == name)
        .ok_or_else(|| UnknownArea { name: name.into() })
}

/// The areas `name` selects: one, or every area for `all`.
pub fn select(name: &str) -> Result<Vec<&'static dyn Area>, UnknownArea> {
    if name == "all" {
        return Ok(AREAS.to_vec());
    }
    area(name).map(|a| vec![a])
}

/// `M`'s properties as (claim ID, name): a property is named by its claim ID.
pub fn property_rows<M: TracedModel>(model: &M) -> Vec<(String, &'static str)>
where
    M::Action: Serialize + DeserializeOwned,
{
    model
        .properties()
        .iter()
        .map(|p| {
            let claim = p.name.split_whitespace().next().unwrap_or_default();
            (claim.to_string(), p.name)
        })
        .collect()
}

/// Rows for flaws `all` of model `M`, given each flaw's name, claims and
/// description.
pub fn flaw_rows<M: TracedModel, F: Copy>(
    all: &[F],
    name: impl Fn(F) -> &'static str,
    breaks: impl Fn(F) -> ClaimSet,
    description: impl Fn(F) -> &'static str,
) -> Vec<FlawRow>
where
    M::Action: Serialize + DeserializeOwned,
{
    all.iter()
        .map(|&f| FlawRow {
            model: M::AREA,
            name: name(f),
            breaks: breaks(f).labels(),
            description: description(f),
        })
        .collect()
}

/// The flaw named `name` among `all`, or an error listing them.
pub fn find_flaw<F: Copy>(
    area: &str,
    all: &[F],
    name: impl Fn(F) -> &'static str,
    wanted: Option<&str>,
) -> Result<Option<F>> {
    let Some(wanted) = wanted else {
        return Ok(None);
    };
    match all.iter().copied().find(|&f| name(f) == wanted) {
        Some(f) => Ok(Some(f)),
        None => {
            let names: Vec<&str> = all.iter().map(|&f| name(f)).collect();
            bail!(
                "unknown flaw {wanted:?}; the {area} model's flaws are: {}",
                names.join(", ")
            )
        }
    }
}

/// Checks `model`, see [`check::check_model`].
pub fn check_model<M>(model: M, threads: usize, progress: &mut dyn FnMut(usize)) -> ModelReport
where
    M: TracedModel + Clone + Send + Sync + 'static,
    M::State: Clone + Debug + Hash + Eq + Send + Sync,
    M::Action: Clone + Debug + PartialEq + Send + Sync + Serialize + DeserializeOwned,
{
    check::check_model(model, threads, progress)
}

/// Serves stateright's explorer for `model` on `addr`.
pub fn explore_model<M>(model: M, addr: SocketAddr) -> Result<()>
where
    M: stateright::Model + Send + Sync + 'static,
    M::State: Debug + Hash + Send + Sync + Clone + PartialEq,
    M::Action: Debug + Send + Sync + Clone + PartialEq,
{
    // The explorer runs until the process is stopped.
    let _ = model.checker().serve(addr);
    Ok(())
}

/// Random walks generated per model.
pub const WALK_SEEDS: [u64; 3] = [1, 2, 3];
/// Steps per random walk.
pub const WALK_STEPS: usize = 40;

/// Coverage traces of `model`, a counterexample for each of `flawed`, and
/// random walks.
pub fn model_traces<M>(
    model: M,
    flawed: Vec<(String, M)>,
    progress: &mut dyn FnMut(String),
) -> Result<Vec<(String, M, Trace<M>)>>
where
    M: TracedModel + Clone,
    M::State: Clone + Eq + Hash,
    M::Action: Serialize + DeserializeOwned + Clone,
{
    progress(format!("exploring the {} model", M::AREA));
    let graph = StateGraph::explore(&model, 5_000_000, |_| {})?;
    let mut traces = Vec::new();
    progress("choosing coverage paths".into());
    for (name, trace) in generate::coverage(&model, &graph) {
        traces.push((name, model.clone(), trace));
    }
    for (flaw, flawed) in flawed {
        progress(format!("counterexample for {flaw}"));
        let graph = StateGraph::explore_until(&flawed, 5_000_000, true, |_| {})?;
        let trace = generate::counterexample(&flawed, &graph)
            .with_context(|| format!("flaw {flaw} breaks no claim"))?;
        traces.push((format!("flaw-{flaw}"), flawed, trace));
    }
    for seed in WALK_SEEDS {
        traces.push((
            format!("walk-seed-{seed}"),
            model.clone(),
            generate::random_walk(&model, seed, WALK_STEPS),
        ));
    }
    Ok(traces)
}

/// Renders traces as files (ITF and narrative).
pub fn render<M>(traces: &[(String, M, Trace<M>)]) -> Vec<TraceFile>
where
    M: TracedModel,
    M::State: Clone,
    M::Action: Serialize + DeserializeOwned + Clone,
{
    traces
        .iter()
        .map(|(name, model, trace)| TraceFile {
            name: name.clone(),
            itf: trace.to_itf(model),
            narrative: crate::narrative::narrate(model, trace),
        })
        .collect()
}

/// Replaces the traces in `out/<area>/` with `files`; returns how many.
pub fn write_traces(out: &Path, area: &dyn Area, files: &[TraceFile]) -> Result<usize> {
    let dir = out.join(area.name());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Stale files of an earlier generation would otherwise linger.
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".itf.json") || name.ends_with(".md") {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    for file in files {
        let itf_path = dir.join(format!("{}.itf.json", file.name));
        std::fs::write(&itf_path, &file.itf)
            .with_context(|| format!("cannot write {}", itf_path.display()))?;
        let md_path = dir.join(format!("{}.md", file.name));
        std::fs::write(&md_path, &file.narrative)
            .with_context(|| format!("cannot write {}", md_path.display()))?;
    }
    Ok(files.len())
}

/// Generates and writes every trace of `area` under `out/<area>/`.
pub fn generate_traces(
    out: &Path,
    area: &dyn Area,
    progress: &mut dyn FnMut(String),
) -> Result<usize> {
    let files = area.traces(progress)?;
    write_traces(out, area, &files)
}

/// Replays one trace file of any area: the area is the one its `#meta`
/// names.
pub fn replay_file(path: &Path, transport: Transport, bugs: BugSet) -> Result<ReplayReport> {
    trace_area(path)?.replay_file(path, transport, bugs)
}

/// Replays one trace file of any area against another implementation.
pub fn replay_on_peer(path: &Path, peer: &PeerEndpoint) -> Result<ReplayReport> {
    trace_area(path)?.replay_on_peer(path, peer)
}

/// The area whose model a trace file names in its `#meta`.
pub fn trace_area(path: &Path) -> Result<&'static dyn Area> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a JSON trace file", path.display()))?;
    let model = value
        .get("#meta")
        .and_then(|m| m.get("model"))
        .and_then(|m| m.as_str())
        .with_context(|| format!("{}: #meta names no model", path.display()))?;
    area(model).with_context(|| format!("{}: no adapter for this trace", path.display()))
}
