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
use thiserror::Error;

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

/// Reachable (action shape, outcome kind) pairs that no coverage trace
/// takes. The generator never leaves one on purpose: this is a defect of the
/// generator or of the graph, and the traces would cover less than they say.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error(
    "the {area} model's coverage traces leave {} reachable (action shape, outcome kind) pair(s) untaken: {}",
    .untaken.len(),
    .untaken.join("; ")
)]
pub struct UncoveredPairs {
    /// The area.
    pub area: &'static str,
    /// Each pair left, as `initial state N: shape -> outcome`.
    pub untaken: Vec<String>,
}

/// How many (action shape, outcome kind) pairs a model reaches and how many
/// its coverage traces take, per initial state (a pair reachable from two
/// initial states counts once for each, since each is its own scenario).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CoverageCount {
    /// The area.
    pub area: &'static str,
    /// The coverage traces.
    pub traces: usize,
    /// Per initial state, in the model's order: the pairs reachable from it.
    pub reachable: Vec<usize>,
    /// Per initial state: how many of those the traces starting there take.
    pub covered: Vec<usize>,
}

impl CoverageCount {
    /// Pairs reachable, over every initial state.
    pub fn pairs(&self) -> usize {
        self.reachable.iter().sum()
    }

    /// Pairs the traces take, over every initial state.
    pub fn taken(&self) -> usize {
        self.covered.iter().sum()
    }
}

impl std::fmt::Display for CoverageCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} coverage traces take {} of {} (action shape, outcome kind) pairs",
            self.area,
            self.traces,
            self.taken(),
            self.pairs()
        )?;
        if self.reachable.len() > 1 {
            let per: Vec<String> = self
                .reachable
                .iter()
                .zip(&self.covered)
                .enumerate()
                .map(|(i, (r, c))| format!("initial state {}: {c} of {r}", i + 1))
                .collect();
            write!(f, " ({})", per.join(", "))?;
        }
        Ok(())
    }
}

/// An area's coverage traces, named, and what they take.
pub struct Coverage<M: TracedModel>
where
    M::Action: Serialize + DeserializeOwned,
{
    /// (name, trace) pairs.
    pub traces: Vec<(String, Trace<M>)>,
    /// The pairs reachable and taken.
    pub count: CoverageCount,
}

/// Traces that together take every (action shape, outcome kind) pair that
/// the model can produce from each of its initial states. Each trace starts
/// at one initial state and chains shortest paths, each to the nearest
/// pair not yet taken from that initial state; a trace never mixes
/// scenarios. What the traces take is then counted again from the traces
/// themselves, and any reachable pair left is an [`UncoveredPairs`].
pub fn coverage<M: TracedModel>(
    model: &M,
    graph: &StateGraph<M>,
) -> Result<Coverage<M>, UncoveredPairs>
where
    M::State: Clone + Eq + Hash,
    M::Action: Serialize + DeserializeOwned + Clone,
{
    let reachable = reachable_pairs(graph);
    let mut traces = Vec::new();
    for (slot, &root) in graph.roots.iter().enumerate() {
        let mut uncovered = reachable[slot].clone();
        let mut at_node: HashMap<NodeIndex, Vec<(&str, &M::Action)>> = HashMap::new();
        for (key, occurrences) in &graph.coverage {
            for o in occurrences.iter().filter(|o| o.root == root) {
                at_node
                    .entry(o.from)
                    .or_default()
                    .push((key.as_str(), &o.action));
            }
        }
        loop {
            let left = uncovered.len();
            let actions = chain(model, graph, root, &at_node, &mut uncovered);
            if actions.is_empty() || uncovered.len() == left {
                // What is left, if anything, cannot be reached from this
                // initial state, or its recorded action does not take it:
                // a defect that the count below turns into an error, where
                // another trace would only loop.
                break;
            }
            let n = traces.len() + 1;
            let mut description = format!("Coverage trace {n} of the {} model", M::AREA);
            if graph.roots.len() > 1 {
                description.push_str(&format!(
                    ", from initial state {} of {}",
                    slot + 1,
                    graph.roots.len()
                ));
            }
            let trace = Trace::from_actions_at(
                model,
                graph.graph[root].clone(),
                meta(model, "coverage", None, description),
                &actions,
            )
            .expect("coverage paths are enabled actions");
            traces.push((format!("coverage-{n:02}"), trace));
        }
    }
    let taken = taken_pairs(model, graph, &traces);
    check_coverage(M::AREA, &reachable, &taken, traces.len())
        .map(|count| Coverage { traces, count })
}

/// Per initial state (in `graph.roots` order), the coverage keys of the
/// transitions in its part of the graph.
pub fn reachable_pairs<M: TracedModel>(graph: &StateGraph<M>) -> Vec<BTreeSet<&str>>
where
    M::Action: Serialize + DeserializeOwned,
{
    graph
        .roots
        .iter()
        .map(|root| {
            graph
                .coverage
                .iter()
                .filter(|(_, occurrences)| occurrences.iter().any(|o| o.root == *root))
                .map(|(key, _)| key.as_str())
                .collect()
        })
        .collect()
}

/// Per initial state, the coverage keys that `traces` take, read from the
/// traces' own steps.
fn taken_pairs<M: TracedModel>(
    model: &M,
    graph: &StateGraph<M>,
    traces: &[(String, Trace<M>)],
) -> Vec<BTreeSet<String>>
where
    M::State: Clone + Eq + Hash,
    M::Action: Serialize + DeserializeOwned + Clone,
{
    let mut taken = vec![BTreeSet::new(); graph.roots.len()];
    for (_, trace) in traces {
        let Some(slot) = graph
            .roots
            .iter()
            .position(|r| graph.graph[*r] == trace.init)
        else {
            continue;
        };
        let mut before = &trace.init;
        for step in &trace.steps {
            taken[slot].insert(coverage_key(model, before, &step.action, &step.outcome));
            before = &step.after;
        }
    }
    taken
}

/// The count of pairs `reachable` and `taken`, per initial state, or the
/// pairs reachable and not taken.
pub fn check_coverage(
    area: &'static str,
    reachable: &[BTreeSet<&str>],
    taken: &[BTreeSet<String>],
    traces: usize,
) -> Result<CoverageCount, UncoveredPairs> {
    let mut untaken = Vec::new();
    let mut count = CoverageCount {
        area,
        traces,
        ..CoverageCount::default()
    };
    for (slot, keys) in reachable.iter().enumerate() {
        let took = taken.get(slot);
        let left: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| !took.is_some_and(|t| t.contains(*k)))
            .collect();
        count.reachable.push(keys.len());
        count.covered.push(keys.len() - left.len());
        untaken.extend(
            left.iter()
                .map(|k| format!("initial state {}: {k}", slot + 1)),
        );
    }
    if untaken.is_empty() {
        Ok(count)
    } else {
        Err(UncoveredPairs { area, untaken })
    }
}

/// One coverage trace's actions from `root`: shortest paths chained, each
/// to the nearest node with an `uncovered` key (as `at_node` lists them),
/// that key's action taken there, until the trace is long enough or nothing
/// uncovered is reachable from where it stands. Removes from `uncovered`
/// every key the trace takes.
fn chain<'g, M: TracedModel>(
    model: &M,
    graph: &StateGraph<M>,
    root: NodeIndex,
    at_node: &HashMap<NodeIndex, Vec<(&'g str, &'g M::Action)>>,
    uncovered: &mut BTreeSet<&'g str>,
) -> Vec<M::Action>
where
    M::State: Clone + Eq + Hash,
    M::Action: Serialize + DeserializeOwned + Clone,
{
    let mut actions: Vec<M::Action> = Vec::new();
    let mut node = root;
    let mut state = graph.graph[node].clone();
    while actions.len() < COVERAGE_TRACE_MAX_STEPS {
        let goal = |n: NodeIndex| {
            at_node
                .get(&n)
                .is_some_and(|v| v.iter().any(|(k, _)| uncovered.contains(k)))
        };
        let Some(mut walk) = graph.path_between(node, goal) else {
            break;
        };
        // The node the path ends at has an uncovered key: take it.
        let mut end = state.clone();
        for a in &walk {
            end = model
                .step(&end, a)
                .expect("graph edges are enabled actions")
                .1;
        }
        let (_, action) = at_node[&graph.index[&end]]
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
    actions
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

#[cfg(test)]
mod tests {
    use super::*;
    use fabric_model::ClaimSet;
    use serde_json::{Map, Value};

    /// A counter with two initial states, 0 and 10: `up` until 2 (from 0)
    /// or 11 (from 10); `down` only from 10. So `up -> ok` is reachable from
    /// both, `down -> ok` only from the second.
    #[derive(Clone)]
    struct Counter;

    #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
    enum Step {
        Up,
        Down,
    }

    impl stateright::Model for Counter {
        type State = u8;
        type Action = Step;

        fn init_states(&self) -> Vec<u8> {
            vec![0, 10]
        }

        fn actions(&self, _: &u8, actions: &mut Vec<Step>) {
            actions.extend([Step::Up, Step::Down]);
        }

        fn next_state(&self, state: &u8, action: Step) -> Option<u8> {
            self.step(state, &action).map(|(_, next)| next)
        }
    }

    impl TracedModel for Counter {
        type Outcome = String;
        const AREA: &'static str = "counter";

        fn step(&self, state: &u8, action: &Step) -> Option<(String, u8)> {
            let next = match (action, *state) {
                (Step::Up, 0 | 1 | 10) => state + 1,
                (Step::Down, 10) => 9,
                _ => return None,
            };
            Some(("ok".into(), next))
        }

        fn action_kind(action: &Step) -> &'static str {
            match action {
                Step::Up => "up",
                Step::Down => "down",
            }
        }

        fn action_shape(&self, _: &u8, action: &Step) -> String {
            Self::action_kind(action).into()
        }

        fn outcome_kind(outcome: &String) -> String {
            outcome.clone()
        }

        fn claims_touched(&self, _: &u8, _: &Step, _: &String) -> ClaimSet {
            ClaimSet::EMPTY
        }

        fn narrate(&self, _: &u8, action: &Step, _: &String) -> String {
            format!("{action:?}")
        }

        fn describe_action(&self, action: &Step) -> String {
            format!("{action:?}")
        }

        fn itf_vars(&self, state: &u8) -> Map<String, Value> {
            Map::from_iter([("n".to_string(), Value::from(*state))])
        }

        fn bounds_line(&self) -> String {
            String::new()
        }

        fn flaw_name(&self) -> Option<&'static str> {
            None
        }

        fn broken_claims(_: &u8) -> ClaimSet {
            ClaimSet::EMPTY
        }
    }

    fn graph() -> StateGraph<Counter> {
        StateGraph::explore(&Counter, 100, |_| {}).expect("a small model")
    }

    #[test]
    fn every_initial_state_s_pairs_are_covered_by_traces_that_start_there() {
        let graph = graph();
        let coverage = coverage(&Counter, &graph).expect("everything is reachable");
        assert_eq!(coverage.count.reachable, vec![1, 2]);
        assert_eq!(coverage.count.covered, vec![1, 2]);
        let traces: Vec<(u8, Vec<Step>)> = coverage
            .traces
            .iter()
            .map(|(_, t)| (t.init, t.steps.iter().map(|s| s.action.clone()).collect()))
            .collect();
        // From 10, `down` ends where `up` cannot be taken: a second trace
        // starts at 10 again, never at 0, whose `up` is already covered.
        assert_eq!(
            traces,
            vec![
                (0, vec![Step::Up]),
                (10, vec![Step::Down]),
                (10, vec![Step::Up])
            ]
        );
        let text = coverage.count.to_string();
        assert!(text.contains("take 3 of 3"), "{text}");
        assert!(text.contains("initial state 2: 2 of 2"), "{text}");
    }

    #[test]
    fn a_pair_no_trace_can_take_is_an_error_naming_it() {
        let mut graph = graph();
        let root = graph.roots[0];
        // A key the graph claims is taken by `up` at 0, where `up` has
        // another key: no trace can take it, and generation must not loop.
        graph.coverage.insert(
            "teleport -> ok".into(),
            vec![crate::graph::Occurrence {
                from: root,
                root,
                action: Step::Up,
            }],
        );
        let Err(error) = coverage(&Counter, &graph) else {
            panic!("an untakeable pair was accepted");
        };
        assert_eq!(error.untaken, vec!["initial state 1: teleport -> ok"]);
        assert!(error.to_string().contains("teleport -> ok"), "{error}");
    }

    #[test]
    fn the_count_names_each_untaken_pair_by_initial_state() {
        let reachable = vec![
            BTreeSet::from(["a -> ok"]),
            BTreeSet::from(["a -> ok", "b -> ok"]),
        ];
        let taken = vec![BTreeSet::from(["a -> ok".to_string()]), BTreeSet::new()];
        let error = check_coverage("x", &reachable, &taken, 1).expect_err("b is left");
        assert_eq!(
            error.untaken,
            vec!["initial state 2: a -> ok", "initial state 2: b -> ok"]
        );
        let taken = vec![
            BTreeSet::from(["a -> ok".to_string()]),
            BTreeSet::from(["a -> ok".to_string(), "b -> ok".to_string()]),
        ];
        let count = check_coverage("x", &reachable, &taken, 2).expect("all taken");
        assert_eq!((count.pairs(), count.taken()), (3, 3));
    }
}
