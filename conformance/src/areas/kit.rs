//! What every area's [`Area`](super::area::Area) impl repeats: checking, exploring and
//! generating the traces of its model, and its flaw table as rows.

use super::area::{FlawRow, TraceFile};
use crate::check::{self, ModelReport};
use crate::generate::{self, CoverageCount};
use crate::graph::StateGraph;
use crate::itf::Trace;
use anyhow::{bail, Context, Result};
use fabric_model::kit::FlawTable;
use fabric_model::trace::TracedModel;
use fabric_model::ClaimSet;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::hash::Hash;
use std::net::SocketAddr;

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
/// random walks; and what the coverage traces take. A reachable coverage
/// pair that no trace takes is an error
/// ([`generate::UncoveredPairs`]), never a smaller coverage set.
pub fn model_traces<M>(
    model: M,
    flawed: Vec<(String, M)>,
    progress: &mut dyn FnMut(String),
) -> Result<(NamedTraces<M>, CoverageCount)>
where
    M: TracedModel + Clone,
    M::State: Clone + Eq + Hash,
    M::Action: Serialize + DeserializeOwned + Clone,
{
    progress(format!("exploring the {} model", M::AREA));
    let graph = StateGraph::explore(&model, 5_000_000, |_| {})?;
    let mut traces = Vec::new();
    progress("choosing coverage paths".into());
    let coverage = generate::coverage(&model, &graph)?;
    for (name, trace) in coverage.traces {
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
    Ok((traces, coverage.count))
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

/// How to build an area's model: all the kit needs to answer most of
/// [`Area`](super::area::Area) for it.
pub trait ModelOf {
    /// The area's model.
    type Model: TracedModel<
            State: Clone + Debug + Hash + Eq + Send + Sync,
            Action: Clone + Debug + PartialEq + Send + Sync + Serialize + DeserializeOwned,
        > + Clone
        + Send
        + Sync
        + 'static;
    /// The model's deliberate flaws.
    type Flaw: FlawTable;

    /// The model at its default (or, with `deep`, larger) bounds, with `flaw`.
    fn model(flaw: Option<Self::Flaw>, deep: bool) -> Self::Model;
}

/// The flaw of `A` named `name`, if there is one.
fn flaw_named<A: ModelOf>(name: &str) -> Option<A::Flaw> {
    A::Flaw::all()
        .iter()
        .copied()
        .find(|f| f.flaw_name() == name)
}

/// `A`'s properties at default bounds, as (claim ID, name).
pub fn properties<A: ModelOf>() -> Vec<(String, &'static str)> {
    property_rows(&A::model(None, false))
}

/// `A`'s flaws as rows.
pub fn flaws<A: ModelOf>() -> Vec<FlawRow> {
    flaw_rows::<A::Model, _>(
        A::Flaw::all(),
        A::Flaw::flaw_name,
        A::Flaw::claims_broken,
        A::Flaw::flaw_description,
    )
}

/// Checks `A`'s model with `flaw`; `None` when `flaw` is not one of `A`'s.
pub fn check<A: ModelOf>(
    flaw: Option<&str>,
    deep: bool,
    threads: usize,
    progress: &mut dyn FnMut(usize),
) -> Option<ModelReport> {
    let flaw = match flaw {
        None => None,
        Some(name) => Some(flaw_named::<A>(name)?),
    };
    Some(check::check_model(A::model(flaw, deep), threads, progress))
}

/// Serves the explorer for `A`'s model with `flaw` (an unknown flaw is an
/// error listing `A`'s).
pub fn explore<A: ModelOf>(flaw: Option<&str>, addr: SocketAddr) -> Result<()> {
    let flaw = find_flaw(
        <A::Model as TracedModel>::AREA,
        A::Flaw::all(),
        A::Flaw::flaw_name,
        flaw,
    )?;
    explore_model(A::model(flaw, false), addr)
}

/// Traces of model `M`, each with its name and the model (its flaw
/// included) that made it.
pub type NamedTraces<M> = Vec<(String, M, Trace<M>)>;

/// Every trace of `A`: coverage, one counterexample per flaw, random walks.
pub fn traces<A: ModelOf>(progress: &mut dyn FnMut(String)) -> Result<NamedTraces<A::Model>> {
    Ok(counted_traces::<A>(progress)?.0)
}

/// Like [`traces`], with what the coverage traces take.
pub fn counted_traces<A: ModelOf>(
    progress: &mut dyn FnMut(String),
) -> Result<(NamedTraces<A::Model>, CoverageCount)> {
    let flawed = A::Flaw::all()
        .iter()
        .map(|&flaw| (flaw.to_string(), A::model(Some(flaw), false)))
        .collect();
    model_traces(A::model(None, false), flawed, progress)
}
