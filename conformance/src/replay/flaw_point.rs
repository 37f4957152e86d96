//! The one search for the step where a flaw's counterexample first departs
//! from what the correct model does: the step the implementation must stop.
//!
//! Replay in process, over the wire and against a peer all use it, once per
//! trace.

use crate::itf::RawTrace;
use fabric_model::trace::TracedModel;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Where a trace first departs from the correct model.
#[derive(Clone, Debug)]
pub struct FlawPoint<O> {
    /// The step, from 1; 0 when the correct model has no such initial state.
    pub step: usize,
    /// The correct model's step there; `None` when it cannot take the step
    /// (or, at 0, has no such initial state).
    pub correct: Option<CorrectStep<O>>,
    /// When the outcome is the trace's, the variables that differ.
    pub vars: Vec<String>,
    /// The correct model's later steps, taken from its own state, as far as
    /// it can take them: what it answers where an implementation may stop
    /// the trace.
    pub later: Vec<CorrectStep<O>>,
    /// At step 0, the variables of the nearest correct initial state: what
    /// an implementation that stops the flaw there shows.
    pub nearest_init: Option<Map<String, Value>>,
    /// The first step, at or after the flaw's, that the correct model
    /// cannot take from its own state, if the trace has one.
    pub cannot: Option<CannotTake<O>>,
}

/// A step of the trace that the correct model cannot take where it stands.
///
/// An implementation stops the flaw there in one of two ways: it refuses
/// the step and changes nothing (the correct model does not take it
/// either), or it does in one step what the correct model does in a few
/// ending with the same action (the storage service replicates a write
/// inside its commit, where the model replicates step by step).
#[derive(Clone, Debug)]
pub struct CannotTake<O> {
    /// The step, from 1.
    pub step: usize,
    /// The correct model's variables where it cannot take the step.
    pub vars_before: Map<String, Value>,
    /// The trace's action, taken by the correct model after at most
    /// [`COMPLETION_MAX_STEPS`] steps of its own, shortest first; each
    /// narrative says which steps came first.
    pub completions: Vec<CorrectStep<O>>,
}

/// How many steps of its own the correct model may take before the trace's
/// action, in a [`CannotTake::completions`].
pub const COMPLETION_MAX_STEPS: usize = 3;

/// At most this many completions are kept, and this many states searched,
/// so that a large model costs a bounded search.
const COMPLETIONS_KEPT: usize = 8;
const COMPLETION_STATES_SEARCHED: usize = 4096;

impl<O> FlawPoint<O> {
    /// What the correct model does at `step` (from 1) of the trace: at the
    /// flaw's step, or at a later one taken from the correct model's own
    /// state. `None` where it cannot take the step, or before the flaw.
    pub fn correct_at(&self, step: usize) -> Option<&CorrectStep<O>> {
        if step == self.step {
            self.correct.as_ref()
        } else {
            self.later.iter().find(|later| later.step == step)
        }
    }
}

/// A step of a trace as the correct model takes it.
#[derive(Clone, Debug)]
pub struct CorrectStep<O> {
    /// The step, from 1.
    pub step: usize,
    /// The correct model's outcome.
    pub outcome: O,
    /// As the trace narratives put it.
    pub narrative: String,
    /// The claims it touches.
    pub claims: Vec<String>,
    /// The correct model's variables after the step.
    pub vars: Map<String, Value>,
}

impl<O: std::fmt::Debug> CorrectStep<O> {
    fn new<M>(
        correct: &M,
        step: usize,
        before: &M::State,
        action: &M::Action,
        (outcome, after): (O, &M::State),
    ) -> Self
    where
        M: TracedModel<Outcome = O>,
        M::Action: Serialize + DeserializeOwned,
    {
        CorrectStep {
            step,
            vars: correct.itf_vars(after),
            narrative: correct.narrate(before, action, &outcome),
            claims: correct
                .claims_touched(before, action, &outcome)
                .iter()
                .map(|c| c.to_string())
                .collect(),
            outcome,
        }
    }

    /// As JSON, for logs.
    pub fn to_json(&self) -> Value {
        json!({
            "step": self.step,
            "outcome": format!("{:?}", self.outcome),
            "narrative": self.narrative,
            "claims": self.claims,
        })
    }
}

/// The first step of `raw` where `correct` does not do what the trace says
/// (another outcome, another state, or no such step at all); `None` when the
/// correct model takes the whole trace.
pub fn find<M>(correct: &M, raw: &RawTrace<M::Action, M::Outcome>) -> Option<FlawPoint<M::Outcome>>
where
    M: TracedModel,
    M::State: Clone,
    M::Action: Serialize + DeserializeOwned,
{
    let inits = correct.init_states();
    let Some(mut state) = inits
        .iter()
        .find(|init| correct.itf_vars(init) == raw.init_vars)
        .cloned()
    else {
        // The flaw shows in the initial state already: name the variables
        // of the nearest correct initial state that differ.
        let nearest = inits
            .iter()
            .map(|init| correct.itf_vars(init))
            .min_by_key(|vars| differing(vars, &raw.init_vars).len());
        return Some(FlawPoint {
            step: 0,
            correct: None,
            vars: nearest
                .as_ref()
                .map(|vars| differing(vars, &raw.init_vars))
                .unwrap_or_default(),
            later: Vec::new(),
            nearest_init: nearest,
            cannot: None,
        });
    };
    for (i, step) in raw.steps.iter().enumerate() {
        let Some((outcome, next)) = correct.step(&state, &step.action) else {
            return Some(FlawPoint {
                step: i + 1,
                correct: None,
                vars: Vec::new(),
                later: Vec::new(),
                nearest_init: None,
                cannot: Some(cannot_take(correct, i + 1, &state, &step.action)),
            });
        };
        let vars = correct.itf_vars(&next);
        if outcome == step.outcome && vars == step.vars {
            state = next;
            continue;
        }
        let differ = if outcome == step.outcome {
            differing(&vars, &step.vars)
        } else {
            Vec::new()
        };
        let here = CorrectStep::new(correct, i + 1, &state, &step.action, (outcome, &next));
        let mut later = Vec::new();
        let mut cannot = None;
        let mut state = next;
        for (j, step) in raw.steps.iter().enumerate().skip(i + 1) {
            let Some((outcome, next)) = correct.step(&state, &step.action) else {
                cannot = Some(cannot_take(correct, j + 1, &state, &step.action));
                break;
            };
            later.push(CorrectStep::new(
                correct,
                j + 1,
                &state,
                &step.action,
                (outcome, &next),
            ));
            state = next;
        }
        return Some(FlawPoint {
            step: i + 1,
            correct: Some(here),
            vars: differ,
            later,
            nearest_init: None,
            cannot,
        });
    }
    None
}

/// What the correct model does about `action`, which it cannot take in
/// `state` (step `step` of a trace): where it stands, and the same action
/// after a few steps of its own, found breadth-first.
fn cannot_take<M>(
    correct: &M,
    step: usize,
    state: &M::State,
    action: &M::Action,
) -> CannotTake<M::Outcome>
where
    M: TracedModel,
    M::State: Clone,
    M::Action: Serialize + DeserializeOwned,
{
    let mut completions = Vec::new();
    let mut frontier: Vec<(M::State, Vec<String>)> = vec![(state.clone(), Vec::new())];
    let mut searched = 0;
    let mut candidates = Vec::new();
    'depth: for _ in 0..COMPLETION_MAX_STEPS {
        let mut next_frontier = Vec::new();
        for (at, before) in &frontier {
            candidates.clear();
            correct.actions(at, &mut candidates);
            for first in candidates.drain(..) {
                searched += 1;
                if searched > COMPLETION_STATES_SEARCHED || completions.len() >= COMPLETIONS_KEPT {
                    break 'depth;
                }
                let Some((first_outcome, after)) = correct.step(at, &first) else {
                    continue;
                };
                let mut steps = before.clone();
                steps.push(correct.narrate(at, &first, &first_outcome));
                if let Some((outcome, end)) = correct.step(&after, action) {
                    let mut done = CorrectStep::new(correct, step, &after, action, (outcome, &end));
                    done.narrative = format!("after {}: {}", steps.join("; "), done.narrative);
                    completions.push(done);
                }
                next_frontier.push((after, steps));
            }
        }
        frontier = next_frontier;
    }
    CannotTake {
        step,
        vars_before: correct.itf_vars(state),
        completions,
    }
}

/// The names of the variables whose values differ between `a` and `b`.
pub fn differing(a: &Map<String, Value>, b: &Map<String, Value>) -> Vec<String> {
    let mut names: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|name| a.get(*name) != b.get(*name))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}
