//! The trace vocabulary shared by every area model, and its ITF encoding.
//!
//! A trace is a path through a model: the initial state, then for each step
//! the action, the outcome the model predicts, the claims the step touches and
//! the state after it. The conformance harness writes traces as Informal Trace
//! Format (ITF) JSON and replays them against the implementation; this module
//! only says what a step is and how model values map onto ITF values.

use crate::claims::ClaimSet;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};
use stateright::Model;
use std::fmt::Debug;

/// A model whose steps can be written as traces and replayed.
///
/// `step` is the single source of truth: the model's `next_state` is `step`
/// without the outcome, so a trace's predicted outcome is exactly what the
/// checker explored.
pub trait TracedModel: Model
where
    Self::Action: Serialize + DeserializeOwned,
{
    /// The outcome of one action, as the model predicts it.
    type Outcome: Clone + Debug + PartialEq + Serialize + DeserializeOwned;

    /// The area's short name, such as `"network"`; also the traces folder.
    const AREA: &'static str;

    /// Applies `action` to `state`: the outcome and the next state, or `None`
    /// when the action is not enabled in `state`.
    fn step(
        &self,
        state: &Self::State,
        action: &Self::Action,
    ) -> Option<(Self::Outcome, Self::State)>;

    /// The action's kind, such as `"open"`; coverage is over (kind, outcome kind).
    fn action_kind(action: &Self::Action) -> &'static str;

    /// The action's shape for coverage: its kind and the classes of the
    /// parties it involves (`"open host->fc control"`), read in `state`.
    fn action_shape(&self, state: &Self::State, action: &Self::Action) -> String;

    /// The outcome's kind, such as `"delivered"` or `"dropped:VlanPolicy"`.
    fn outcome_kind(outcome: &Self::Outcome) -> String;

    /// The claims that a step speaks to: the claims a drop enforced, or the
    /// claims whose allowed case a delivery shows.
    fn claims_touched(
        &self,
        before: &Self::State,
        action: &Self::Action,
        outcome: &Self::Outcome,
    ) -> ClaimSet;

    /// One plain sentence for an auditor, without the step number or claim IDs.
    fn narrate(
        &self,
        before: &Self::State,
        action: &Self::Action,
        outcome: &Self::Outcome,
    ) -> String;

    /// The action alone as one plain phrase, without reading a state: the
    /// label the explorer shows beside a step (`app0-web opens app to DIP 4`).
    fn describe_action(&self, action: &Self::Action) -> String;

    /// The state as ITF variables (a JSON object from variable name to ITF value).
    fn itf_vars(&self, state: &Self::State) -> Map<String, Value>;

    /// The bounds, for a trace's `#meta`, as one line such as `hosts=2 apps=2`.
    fn bounds_line(&self) -> String;

    /// The flaw the model was built with, if any, by name.
    fn flaw_name(&self) -> Option<&'static str>;

    /// Claims broken so far (the ghost history), empty in a correct model.
    fn broken_claims(state: &Self::State) -> ClaimSet;

    /// The claims that state variable `name` (of [`TracedModel::itf_vars`])
    /// bears on, so that an implementation whose state differs there is
    /// known to depart on those claims; none by default.
    fn var_claims(name: &str) -> ClaimSet {
        let _ = name;
        ClaimSet::EMPTY
    }
}

/// The `key=value` words of a trace's bounds line (`hosts=2 apps=2`), each
/// value a small number; the area's config decides what the keys mean.
pub fn parse_bounds(line: &str) -> Result<Vec<(&str, u8)>, String> {
    line.split_whitespace()
        .map(|word| {
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| format!("bound {word:?} is not key=value"))?;
            let value = value
                .parse()
                .map_err(|_| format!("bound {key} has a bad value {value:?}"))?;
            Ok((key, value))
        })
        .collect()
}

/// One step of a trace, as the model predicted it.
#[derive(Clone, Debug, PartialEq)]
pub struct TracedStep<A, O, S> {
    /// The action taken.
    pub action: A,
    /// The outcome the model predicts.
    pub outcome: O,
    /// The claims the step touches.
    pub claims: ClaimSet,
    /// The state after the step.
    pub after: S,
}

/// ITF encodings of the value shapes that serde does not express.
pub mod itf {
    use super::*;

    /// An ITF set (`{"#set": [...]}`); elements are sorted by their JSON text
    /// so that equal sets encode equally.
    pub fn set<I: IntoIterator<Item = Value>>(items: I) -> Value {
        let mut items: Vec<Value> = items.into_iter().collect();
        items.sort_by_key(|v| v.to_string());
        items.dedup();
        json!({ "#set": items })
    }

    /// An ITF map (`{"#map": [[k, v], ...]}`), keys sorted by their JSON text.
    pub fn map<I: IntoIterator<Item = (Value, Value)>>(pairs: I) -> Value {
        let mut pairs: Vec<(Value, Value)> = pairs.into_iter().collect();
        pairs.sort_by_key(|(k, _)| k.to_string());
        json!({ "#map": pairs.into_iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>() })
    }

    /// An ITF tuple (`{"#tup": [...]}`).
    pub fn tup<I: IntoIterator<Item = Value>>(items: I) -> Value {
        json!({ "#tup": items.into_iter().collect::<Vec<_>>() })
    }

    /// Any serde value as ITF: records stay objects, enums become records or
    /// strings as serde writes them.
    ///
    /// # Panics
    /// Only if `value`'s `Serialize` implementation fails, which the model's
    /// plain derived types never do.
    pub fn value<T: Serialize>(value: &T) -> Value {
        serde_json::to_value(value).expect("model values serialize to JSON")
    }

    /// A claim set as an ITF set of claim ID strings.
    pub fn claims(set: ClaimSet) -> Value {
        super::itf::set(set.iter().map(|c| Value::String(c.to_string())))
    }
}
