//! The explored state graph of a model, in petgraph.
//!
//! Exploration is breadth-first from the initial states, so the tree of first
//! discoveries gives a shortest path to every state; a flaw's counterexample
//! is the tree path to the first state where a claim is broken, which is then
//! a shortest counterexample (stateright's own paths are not guaranteed
//! minimal). Edges are deduplicated per (from, to) pair; the first action
//! found is kept.

use fabric_model::trace::TracedModel;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;
use thiserror::Error;

/// Exploration stopped before it was complete.
#[derive(Debug, Error)]
#[error("the model has more than {limit} states; raise the limit or lower the bounds")]
pub struct TooManyStates {
    /// The limit that was hit.
    pub limit: usize,
}

/// Where a (action shape, outcome kind) pair shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence<A> {
    /// The state the action is taken in.
    pub from: NodeIndex,
    /// The initial state that `from` was first reached from.
    pub root: NodeIndex,
    /// The action.
    pub action: A,
}

/// At most this many occurrences are kept per coverage key and initial
/// state, so that trace chaining can find a near one without keeping every
/// edge. Counted per initial state because a key that one scenario reaches
/// first would otherwise fill its list there and look unreachable from the
/// other.
const OCCURRENCES_PER_KEY: usize = 64;

/// Coverage keys as exploration finds them.
struct Recorder<A> {
    /// The initial states, in order.
    roots: Vec<NodeIndex>,
    /// Per key, how many occurrences each initial state (by its position in
    /// `roots`) has kept, and the occurrences.
    keys: BTreeMap<String, (Vec<usize>, Vec<Occurrence<A>>)>,
}

impl<A: Clone> Recorder<A> {
    fn new(roots: Vec<NodeIndex>) -> Self {
        Recorder {
            roots,
            keys: BTreeMap::new(),
        }
    }

    /// Notes that `action`, taken at `from` (first reached from `root`),
    /// has coverage key `key`.
    fn record(&mut self, key: String, from: NodeIndex, root: NodeIndex, action: &A) {
        let slot = self
            .roots
            .iter()
            .position(|r| *r == root)
            .expect("every node's origin is a root");
        let roots = self.roots.len();
        let (kept, occurrences) = self
            .keys
            .entry(key)
            .or_insert_with(|| (vec![0; roots], Vec::new()));
        if kept[slot] < OCCURRENCES_PER_KEY {
            kept[slot] += 1;
            occurrences.push(Occurrence {
                from,
                root,
                action: action.clone(),
            });
        }
    }

    fn finish(self) -> BTreeMap<String, Vec<Occurrence<A>>> {
        self.keys
            .into_iter()
            .map(|(key, (_, occurrences))| (key, occurrences))
            .collect()
    }
}

/// A model's explored state graph.
pub struct StateGraph<M: TracedModel>
where
    M::Action: Serialize + DeserializeOwned,
{
    /// States as nodes, actions as edges.
    pub graph: DiGraph<M::State, M::Action>,
    /// Each node's BFS-tree parent and the action taken from it.
    pub parent: Vec<Option<(NodeIndex, M::Action)>>,
    /// The first initial state's node.
    pub root: NodeIndex,
    /// Every initial state's node.
    pub roots: Vec<NodeIndex>,
    /// Per coverage key, where it occurs, in the order found (so the first
    /// of each initial state is the shallowest from it); at most
    /// `OCCURRENCES_PER_KEY` per initial state.
    pub coverage: BTreeMap<String, Vec<Occurrence<M::Action>>>,
    /// Per `always` property, the shallowest state that violates it.
    pub first_broken: BTreeMap<&'static str, NodeIndex>,
    /// Transitions taken, counting repeats.
    pub transitions: u64,
    /// Each state's node.
    pub index: HashMap<M::State, NodeIndex>,
    /// Each node's initial state, indexed by node: the root of its BFS-tree
    /// path.
    origin: Vec<NodeIndex>,
}

/// A model's coverage key for a step: the action's shape and the outcome kind.
pub fn coverage_key<M: TracedModel>(
    model: &M,
    state: &M::State,
    action: &M::Action,
    outcome: &M::Outcome,
) -> String
where
    M::Action: Serialize + DeserializeOwned,
{
    format!(
        "{} -> {}",
        model.action_shape(state, action),
        M::outcome_kind(outcome)
    )
}

impl<M: TracedModel> StateGraph<M>
where
    M::State: Clone + Eq + Hash,
    M::Action: Serialize + DeserializeOwned + Clone,
{
    /// Explores `model` breadth-first, up to `max_states` states;
    /// `progress` is called with the number of states so far.
    pub fn explore(
        model: &M,
        max_states: usize,
        progress: impl FnMut(usize),
    ) -> Result<Self, TooManyStates> {
        Self::explore_until(model, max_states, false, progress)
    }

    /// Like [`StateGraph::explore`], but stops at the first state where a
    /// claim is broken when `stop_at_broken` is set (breadth-first, so that
    /// state is at the least depth).
    pub fn explore_until(
        model: &M,
        max_states: usize,
        stop_at_broken: bool,
        mut progress: impl FnMut(usize),
    ) -> Result<Self, TooManyStates> {
        let mut graph = DiGraph::new();
        let mut index: HashMap<M::State, NodeIndex> = HashMap::new();
        let mut parent = Vec::new();
        let mut origin = Vec::new();
        let mut edges: HashSet<(NodeIndex, NodeIndex)> = HashSet::new();
        let mut transitions = 0u64;
        let mut first_broken = BTreeMap::new();
        // Judged by the `always` properties themselves, not by a ghost that
        // a model may or may not keep.
        let always: Vec<_> = model
            .properties()
            .into_iter()
            .filter(|p| p.expectation == stateright::Expectation::Always)
            .collect();
        let mut frontier = std::collections::VecDeque::new();
        let mut roots = Vec::new();
        for init in model.init_states() {
            if index.contains_key(&init) {
                continue;
            }
            let n = graph.add_node(init.clone());
            for p in always.iter().filter(|p| !(p.condition)(model, &init)) {
                first_broken.entry(p.name).or_insert(n);
            }
            index.insert(init, n);
            parent.push(None);
            origin.push(n);
            roots.push(n);
            frontier.push_back(n);
        }
        let root = *roots.first().expect("every model has an initial state");
        let mut coverage = Recorder::new(roots.clone());
        let mut actions = Vec::new();
        while let Some(at) = frontier.pop_front() {
            if stop_at_broken && !first_broken.is_empty() {
                break;
            }
            let state = graph[at].clone();
            actions.clear();
            model.actions(&state, &mut actions);
            for action in actions.drain(..) {
                let Some((outcome, next)) = model.step(&state, &action) else {
                    continue;
                };
                transitions += 1;
                let root = origin[at.index()];
                coverage.record(
                    coverage_key(model, &state, &action, &outcome),
                    at,
                    root,
                    &action,
                );
                let to = match index.get(&next) {
                    Some(n) => *n,
                    None => {
                        if graph.node_count() >= max_states {
                            return Err(TooManyStates { limit: max_states });
                        }
                        let violated: Vec<&'static str> = always
                            .iter()
                            .filter(|p| !(p.condition)(model, &next))
                            .map(|p| p.name)
                            .collect();
                        let n = graph.add_node(next.clone());
                        index.insert(next, n);
                        parent.push(Some((at, action.clone())));
                        origin.push(root);
                        for name in violated {
                            first_broken.entry(name).or_insert(n);
                        }
                        frontier.push_back(n);
                        if graph.node_count() % 4096 == 0 {
                            progress(graph.node_count());
                        }
                        n
                    }
                };
                if edges.insert((at, to)) {
                    graph.add_edge(at, to, action);
                }
            }
        }
        progress(graph.node_count());
        Ok(StateGraph {
            graph,
            parent,
            root,
            coverage: coverage.finish(),
            first_broken,
            transitions,
            index,
            roots,
            origin,
        })
    }

    /// The actions of the BFS-tree path from the root to `node`: a shortest path.
    pub fn path_to(&self, node: NodeIndex) -> Vec<M::Action> {
        let mut actions = Vec::new();
        let mut at = node;
        while let Some((from, action)) = &self.parent[at.index()] {
            actions.push(action.clone());
            at = *from;
        }
        actions.reverse();
        actions
    }

    /// The initial state that `node` was first reached from.
    pub fn root_of(&self, node: NodeIndex) -> NodeIndex {
        self.origin[node.index()]
    }

    /// A shortest path from `start` to any node for which `goal` holds, as
    /// the nodes and the actions between them.
    pub fn path_between(
        &self,
        start: NodeIndex,
        goal: impl Fn(NodeIndex) -> bool,
    ) -> Option<Vec<M::Action>> {
        let (_, nodes) = petgraph::algo::astar(&self.graph, start, goal, |_| 1u32, |_| 0)?;
        let actions = nodes
            .windows(2)
            .map(|w| {
                let edge = self
                    .graph
                    .find_edge(w[0], w[1])
                    .expect("astar walks existing edges");
                self.graph[edge].clone()
            })
            .collect();
        Some(actions)
    }

    /// Number of states.
    pub fn state_count(&self) -> usize {
        self.graph.node_count()
    }
}
