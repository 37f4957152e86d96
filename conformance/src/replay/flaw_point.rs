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
}

impl<O: std::fmt::Debug> CorrectStep<O> {
    fn new<M>(correct: &M, step: usize, before: &M::State, action: &M::Action, outcome: O) -> Self
    where
        M: TracedModel<Outcome = O>,
        M::Action: Serialize + DeserializeOwned,
    {
        CorrectStep {
            step,
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
        let vars = inits
            .iter()
            .map(|init| differing(&correct.itf_vars(init), &raw.init_vars))
            .min_by_key(Vec::len)
            .unwrap_or_default();
        return Some(FlawPoint {
            step: 0,
            correct: None,
            vars,
            later: Vec::new(),
        });
    };
    for (i, step) in raw.steps.iter().enumerate() {
        let Some((outcome, next)) = correct.step(&state, &step.action) else {
            return Some(FlawPoint {
                step: i + 1,
                correct: None,
                vars: Vec::new(),
                later: Vec::new(),
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
        let here = CorrectStep::new(correct, i + 1, &state, &step.action, outcome);
        let mut later = Vec::new();
        let mut state = next;
        for (j, step) in raw.steps.iter().enumerate().skip(i + 1) {
            let Some((outcome, next)) = correct.step(&state, &step.action) else {
                break;
            };
            later.push(CorrectStep::new(
                correct,
                j + 1,
                &state,
                &step.action,
                outcome,
            ));
            state = next;
        }
        return Some(FlawPoint {
            step: i + 1,
            correct: Some(here),
            vars: differ,
            later,
        });
    }
    None
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
