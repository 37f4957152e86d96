//! Integration tests of the model crate: one binary, a module per area.

// A test reads as one scenario from top to bottom, so the size lint
// (100 lines) is for the library code, not for tests.
#![allow(clippy::too_many_lines)]

mod network;
mod storage;

use fabric_model::TracedModel;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::Hash;

/// What a Rust `Debug` value leaves in a sentence.
const DEBUG_MARKS: [&str; 4] = ["{", "}", "Some(", "::"];

/// Walks `model` depth first over its first `limit` distinct states and
/// asserts that every candidate action's explorer label and every enabled
/// step's narrative are words: no `Debug` value shows through.
pub fn assert_words_only<M>(model: &M, limit: usize)
where
    M: TracedModel,
    M::State: Clone + Debug + Hash + Eq,
    M::Action: Clone + Debug + Serialize + DeserializeOwned,
{
    let words = |text: &str, what: &dyn Fn() -> String| {
        for mark in DEBUG_MARKS {
            assert!(!text.contains(mark), "{} has {mark:?}: {text}", what());
        }
    };
    let mut seen = HashSet::new();
    let mut stack = model.init_states();
    let mut actions = Vec::new();
    while let Some(state) = stack.pop() {
        if seen.len() >= limit || !seen.insert(state.clone()) {
            continue;
        }
        actions.clear();
        model.actions(&state, &mut actions);
        for action in &actions {
            let label = model.describe_action(action);
            words(&label, &|| format!("the label of {action:?}"));
            assert_eq!(model.format_action(action), label, "the explorer's label");
            if let Some((outcome, next)) = model.step(&state, action) {
                let sentence = model.narrate(&state, action, &outcome);
                words(&sentence, &|| format!("the narrative of {action:?}"));
                stack.push(next);
            }
        }
    }
}
