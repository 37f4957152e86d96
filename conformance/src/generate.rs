//! Trace generation from the explored graph: a transition-coverage set, one
//! counterexample per flaw, and seeded random walks.

use crate::graph::{coverage_key, StateGraph};
use crate::itf::{Trace, TraceMeta};
use fabric_model::trace::TracedModel;
use petgraph::graph::NodeIndex;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

/// A coverage trace ends after this many steps and the next starts afresh,
/// so that each stays readable.
pub const COVERAGE_TRACE_MAX_STEPS: usize = 24;

fn meta<M: TracedModel>(
    model: &M,
    generator: &str,
    seed: Option<u64>,
    description: String,
) -> TraceMeta
where
    M::Action: Serialize + DeserializeOwned,
{
    TraceMeta {
        model: M::AREA.to_string(),
        bounds: model.bounds_line(),
        flaw: model.flaw_name().map(str::to_string),
        generator: generator.to_string(),
        seed,
        claims: BTreeSet::new(),
        description,
    }
}

/// Traces that together take every (action shape, outcome kind) pair that
/// the model can produce, each reached by a shortest path from where the
/// trace stands. Returns (name, trace) pairs.
pub fn coverage<M: TracedModel>(model: &M, graph: &StateGraph<M>) -> Vec<(String, Trace<M>)>
where
    M::State: Clone + Eq + Hash,
    M::Action: Serialize + DeserializeOwned + Clone,
{
    let mut uncovered: BTreeSet<&str> = graph.coverage.keys().map(String::as_str).collect();
    let mut at_node: HashMap<NodeIndex, Vec<(&str, &M::Action)>> = HashMap::new();
    for (key, occurrences) in &graph.coverage {
        for o in occurrences {
            at_node
                .entry(o.from)
                .or_default()
                .push((key.as_str(), &o.action));
        }
    }
    let mut traces = Vec::new();
    while !uncovered.is_empty() {
        let mut actions: Vec<M::Action> = Vec::new();
        let mut node = graph.root;
        let mut state = graph.graph[node].clone();
        while actions.len() < COVERAGE_TRACE_MAX_STEPS {
            let goal = |n: NodeIndex| {
                at_node
                    .get(&n)
                    .is_some_and(|v| v.iter().any(|(k, _)| uncovered.contains(k)))
            };
            let Some(path) = graph.path_between(node, goal) else {
                break;
            };
            let mut walk = path;
            // The node the path ends at has an uncovered key: take it.
            let mut end = graph.graph[node].clone();
            for a in &walk {
                end = model
                    .step(&end, a)
                    .expect("graph edges are enabled actions")
                    .1;
            }
            let end_node = graph.index[&end];
            let (_, action) = at_node[&end_node]
                .iter()
                .find(|(k, _)| uncovered.contains(k))
                .expect("the goal holds at the path's end");
            walk.push((*action).clone());
            for a in walk {
                let (outcome, next) = model
                    .step(&state, &a)
                    .expect("graph edges are enabled actions");
                uncovered.remove(coverage_key(model, &state, &a, &outcome).as_str());
                state = next;
                actions.push(a);
            }
            node = graph.index[&state];
        }
        if actions.is_empty() {
            // Nothing left is reachable from the root: cannot happen for keys
            // found by exploring from the root, but never loop forever.
            break;
        }
        let n = traces.len() + 1;
        let description = format!("Coverage trace {n} of the {} model", M::AREA);
        let trace =
            Trace::from_actions(model, meta(model, "coverage", None, description), &actions)
                .expect("coverage paths are enabled actions");
        traces.push((format!("coverage-{n:02}"), trace));
    }
    traces
}

/// The shortest counterexample of a flawed model: the path to the shallowest
/// state where any claim is broken. `None` when no claim breaks.
pub fn counterexample<M: TracedModel>(model: &M, graph: &StateGraph<M>) -> Option<Trace<M>>
where
    M::State: Clone + Eq + Hash,
    M::Action: Serialize + DeserializeOwned + Clone,
{
    let node = graph
        .first_broken
        .values()
        .min_by_key(|n| graph.path_to(**n).len())?;
    let actions = graph.path_to(*node);
    let flaw = model.flaw_name().unwrap_or("none");
    let description = format!(
        "Counterexample: flaw {flaw} breaks a claim of the {} model",
        M::AREA
    );
    Trace::from_actions_at(
        model,
        graph.graph[graph.root_of(*node)].clone(),
        meta(model, "counterexample", None, description),
        &actions,
    )
    .ok()
}

/// A random walk of up to `steps` enabled actions from the model's first
/// initial state, chosen by `choices` (each taken modulo the number of
/// enabled actions).
pub fn walk_from_choices<M: TracedModel>(model: &M, choices: &[u32]) -> Vec<M::Action>
where
    M::State: Clone,
    M::Action: Serialize + DeserializeOwned + Clone,
{
    let init = model
        .init_states()
        .into_iter()
        .next()
        .expect("every model has an initial state");
    walk_from(model, init, choices)
}

/// Like [`walk_from_choices`], from the initial state `init`.
pub fn walk_from<M: TracedModel>(model: &M, init: M::State, choices: &[u32]) -> Vec<M::Action>
where
    M::State: Clone,
    M::Action: Serialize + DeserializeOwned + Clone,
{
    let mut state = init;
    let mut actions = Vec::new();
    let mut candidates = Vec::new();
    for choice in choices {
        candidates.clear();
        model.actions(&state, &mut candidates);
        let enabled: Vec<(M::Action, M::State)> = candidates
            .drain(..)
            .filter_map(|a| model.step(&state, &a).map(|(_, s)| (a, s)))
            .collect();
        if enabled.is_empty() {
            break;
        }
        let (action, next) = enabled[*choice as usize % enabled.len()].clone();
        actions.push(action);
        state = next;
    }
    actions
}

/// A seeded random walk of `steps` steps, as a trace. A model with several
/// initial states (one per scenario) starts from initial state `seed`
/// modulo their number, so consecutive seeds walk every scenario.
pub fn random_walk<M: TracedModel>(model: &M, seed: u64, steps: usize) -> Trace<M>
where
    M::State: Clone,
    M::Action: Serialize + DeserializeOwned + Clone,
{
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(seed)),
    );
    let choices: Vec<u32> = proptest::collection::vec(proptest::num::u32::ANY, steps)
        .new_tree(&mut runner)
        .map(|tree| tree.current())
        .unwrap_or_default();
    let inits = model.init_states();
    let init = inits[(seed % inits.len() as u64) as usize].clone();
    let actions = walk_from(model, init.clone(), &choices);
    let description = format!("Random walk of the {} model (seed {seed})", M::AREA);
    Trace::from_actions_at(
        model,
        init,
        meta(model, "random-walk", Some(seed), description),
        &actions,
    )
    .expect("walks take enabled actions")
}

/// 32 seed bytes for proptest's ChaCha from a `u64`.
pub fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&(seed.wrapping_add(i as u64)).to_le_bytes());
    }
    bytes
}
