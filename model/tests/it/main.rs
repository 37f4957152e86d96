//! Integration tests of the model crate: one binary, a module per area.

mod network;
mod storage;

use fabric_model::ClaimSet;
use stateright::{Checker, Expectation, Model};
use std::fmt::Debug;
use std::hash::Hash;

/// Checks `model` single-threaded: the claims (by number, read from each
/// property's name by `claim_number`) whose `always` property has a
/// counterexample, the `sometimes` properties never reached, and the
/// distinct states.
pub fn verdicts<M>(
    model: M,
    claim_number: fn(&str) -> Option<u8>,
) -> (ClaimSet, Vec<&'static str>, usize)
where
    M: Model + Send + Sync + 'static,
    M::State: Clone + Debug + Hash + PartialEq + Send + Sync,
    M::Action: Clone + Debug + PartialEq + Send + Sync,
{
    let properties = model.properties();
    let checker = model.checker().threads(1).spawn_dfs().join();
    let mut broken = ClaimSet::EMPTY;
    let mut unreached = Vec::new();
    for p in &properties {
        let found = checker.discovery(p.name).is_some();
        match p.expectation {
            Expectation::Always if found => {
                broken.insert(claim_number(p.name).expect("named by claim"))
            }
            Expectation::Sometimes if !found => unreached.push(p.name),
            _ => {}
        }
    }
    (broken, unreached, checker.unique_state_count())
}
