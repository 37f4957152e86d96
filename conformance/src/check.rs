//! `fabric check`: runs the model checker over every property of a model and
//! reports states, speed, and a verdict per property; for every broken claim
//! a shortest counterexample.

use crate::graph::StateGraph;
use crate::itf::{Trace, TraceMeta};
use crate::narrative;
use fabric_model::trace::TracedModel;
use serde::de::DeserializeOwned;
use serde::Serialize;
use stateright::{Checker, Expectation};
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The verdict on one property.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PropertyVerdict {
    /// The claim ID.
    pub claim: String,
    /// `always` or `sometimes`.
    pub kind: &'static str,
    /// The property's name.
    pub name: &'static str,
    /// Whether it holds (`always`) or was reached (`sometimes`).
    pub ok: bool,
}

/// A shortest counterexample for a broken claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Counterexample {
    /// The claims broken at its last step.
    pub claims: Vec<String>,
    /// Its steps as numbered narrative lines.
    pub steps: Vec<String>,
}

/// What `fabric check` found for one model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelReport {
    /// The model.
    pub model: String,
    /// Its bounds.
    pub bounds: String,
    /// Its flaw, if any.
    pub flaw: Option<String>,
    /// States visited, counting repeats.
    pub states: usize,
    /// Distinct states.
    pub unique_states: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Distinct states per second.
    pub states_per_second: f64,
    /// One verdict per property.
    pub properties: Vec<PropertyVerdict>,
    /// A shortest counterexample, when a claim is broken.
    pub counterexample: Option<Counterexample>,
}

impl ModelReport {
    /// Every `always` holds and every `sometimes` was reached.
    pub fn ok(&self) -> bool {
        self.properties.iter().all(|p| p.ok)
    }
}

/// Checks `model` on `threads` threads: stateright's depth-first checker for
/// the verdicts, and, when a claim is broken, a breadth-first pass for a
/// shortest counterexample.
pub fn check_model<M>(model: M, threads: usize, mut progress: impl FnMut(usize)) -> ModelReport
where
    M: TracedModel + Clone + Send + Sync + 'static,
    M::State: Clone + Debug + Hash + Eq + Send + Sync,
    M::Action: Clone + Debug + PartialEq + Send + Sync + Serialize + DeserializeOwned,
{
    let properties = model.properties();
    let started = Instant::now();
    let checker = model.clone().checker().threads(threads.max(1)).spawn_dfs();
    while !checker.is_done() {
        progress(checker.unique_state_count());
        std::thread::sleep(Duration::from_millis(100));
    }
    let checker = checker.join();
    let seconds = started.elapsed().as_secs_f64();
    progress(checker.unique_state_count());
    let verdicts: Vec<PropertyVerdict> = properties
        .iter()
        .map(|p| {
            let found = checker.discovery(p.name).is_some();
            let (kind, ok) = match p.expectation {
                Expectation::Always => ("always", !found),
                Expectation::Sometimes => ("sometimes", found),
                Expectation::Eventually => ("eventually", !found),
            };
            PropertyVerdict {
                // Properties are named by their claim ID first.
                claim: p
                    .name
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                kind,
                name: p.name,
                ok,
            }
        })
        .collect();
    let broken = verdicts.iter().any(|v| v.kind == "always" && !v.ok);
    let counterexample = if broken {
        shortest_counterexample(&model)
    } else {
        None
    };
    ModelReport {
        model: M::AREA.to_string(),
        bounds: model.bounds_line(),
        flaw: model.flaw_name().map(str::to_string),
        states: checker.state_count(),
        unique_states: checker.unique_state_count(),
        seconds,
        states_per_second: checker.unique_state_count() as f64 / seconds.max(1e-9),
        properties: verdicts,
        counterexample,
    }
}

/// Breadth-first to the shallowest broken state: a shortest counterexample.
pub fn shortest_counterexample<M>(model: &M) -> Option<Counterexample>
where
    M: TracedModel,
    M::State: Clone + Hash + Eq,
    M::Action: Clone + Serialize + DeserializeOwned,
{
    let graph = StateGraph::explore_until(model, 5_000_000, true, |_| {}).ok()?;
    let node = graph
        .first_broken
        .values()
        .min_by_key(|n| graph.path_to(**n).len())?;
    let actions = graph.path_to(*node);
    let meta = TraceMeta {
        model: M::AREA.into(),
        bounds: model.bounds_line(),
        flaw: model.flaw_name().map(str::to_string),
        generator: "counterexample".into(),
        seed: None,
        claims: BTreeSet::new(),
        description: "counterexample".into(),
    };
    let init = graph.graph[graph.root_of(*node)].clone();
    let trace = Trace::from_actions_at(model, init, meta, &actions).ok()?;
    let last = trace.steps.last()?;
    let mut claims: Vec<String> = model
        .properties()
        .iter()
        .filter(|p| p.expectation == Expectation::Always && !(p.condition)(model, &last.after))
        .filter_map(|p| p.name.split_whitespace().next().map(str::to_string))
        .collect();
    claims.dedup();
    let text = narrative::narrate(model, &trace);
    let steps = text
        .lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .collect();
    Some(Counterexample { claims, steps })
}

/// The report as a text table.
pub fn render_text(r: &ModelReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "model {} ({}), flaw: {}",
        r.model,
        r.bounds,
        r.flaw.as_deref().unwrap_or("none")
    );
    let _ = writeln!(
        out,
        "  {} distinct states ({} visited) in {:.2} s, {:.0} states/s",
        r.unique_states, r.states, r.seconds, r.states_per_second
    );
    let _ = writeln!(
        out,
        "  {:<7} {:<10} {:<12} PROPERTY",
        "CLAIM", "KIND", "VERDICT"
    );
    for p in &r.properties {
        let verdict = match (p.kind, p.ok) {
            ("sometimes", true) => "reached",
            ("sometimes", false) => "UNREACHED",
            (_, true) => "holds",
            (_, false) => "BROKEN",
        };
        let name = p
            .name
            .strip_prefix(p.claim.as_str())
            .unwrap_or(p.name)
            .trim();
        let _ = writeln!(
            out,
            "  {:<7} {:<10} {:<12} {}",
            p.claim, p.kind, verdict, name
        );
    }
    if let Some(c) = &r.counterexample {
        let _ = writeln!(
            out,
            "\n  shortest counterexample ({} steps, breaks {}):",
            c.steps.len(),
            c.claims.join(", ")
        );
        for s in &c.steps {
            let _ = writeln!(out, "    {s}");
        }
    }
    out
}
