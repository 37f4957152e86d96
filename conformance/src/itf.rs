//! Traces as Informal Trace Format (ITF) JSON files, and reading them back.
//!
//! A file holds `#meta` (model, bounds, flaw, generator, seed, claims: all
//! strings, so that the `itf` crate reads them), `vars`, and `states`. State 0
//! is the initial state; each later state carries the step that led to it:
//! `mbt::actionTaken` (the action's kind, as Quint names it), `action` (its
//! parameters), `outcome` (what the model predicts) and `claims` (the claim
//! IDs the step touches), beside the model's own variables.

use fabric_model::trace::{itf as enc, TracedModel, TracedStep};
use fabric_model::ClaimSet;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Where a trace came from and what it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceMeta {
    /// The model's area, such as `network`.
    pub model: String,
    /// The model's bounds, as `key=value` words.
    pub bounds: String,
    /// The flaw the model was built with, if any.
    pub flaw: Option<String>,
    /// The generator: `coverage`, `counterexample` or `random-walk`.
    pub generator: String,
    /// The seed of a random walk.
    pub seed: Option<u64>,
    /// The claims the trace exercises.
    pub claims: BTreeSet<String>,
    /// One sentence on what the trace shows.
    pub description: String,
}

/// A trace: the initial state, then each step with its predicted outcome.
#[derive(Clone, Debug)]
pub struct Trace<M: TracedModel>
where
    M::Action: Serialize + DeserializeOwned,
{
    /// Its metadata.
    pub meta: TraceMeta,
    /// The initial state.
    pub init: M::State,
    /// The steps.
    pub steps: Vec<TracedStep<M::Action, M::Outcome, M::State>>,
}

impl<M: TracedModel> Trace<M>
where
    M::Action: Serialize + DeserializeOwned + Clone,
    M::State: Clone,
{
    /// Runs `actions` on `model` from its initial state and records each
    /// step. Fails with the index of the first action that is not enabled.
    pub fn from_actions(model: &M, meta: TraceMeta, actions: &[M::Action]) -> Result<Self, usize> {
        let init = model
            .init_states()
            .into_iter()
            .next()
            .expect("every model has an initial state");
        Self::from_actions_at(model, init, meta, actions)
    }

    /// Like [`Trace::from_actions`], from the initial state `init`.
    pub fn from_actions_at(
        model: &M,
        init: M::State,
        mut meta: TraceMeta,
        actions: &[M::Action],
    ) -> Result<Self, usize> {
        let mut state = init.clone();
        let mut steps = Vec::with_capacity(actions.len());
        let mut claims = ClaimSet::EMPTY;
        for (i, action) in actions.iter().enumerate() {
            let (outcome, next) = model.step(&state, action).ok_or(i)?;
            let touched = model.claims_touched(&state, action, &outcome);
            claims = claims.union(touched);
            steps.push(TracedStep {
                action: action.clone(),
                outcome,
                claims: touched,
                after: next.clone(),
            });
            state = next;
        }
        meta.claims.extend(claims.iter().map(|c| c.to_string()));
        Ok(Trace { meta, init, steps })
    }

    /// The state before step `i`.
    pub fn before(&self, i: usize) -> &M::State {
        if i == 0 {
            &self.init
        } else {
            &self.steps[i - 1].after
        }
    }

    /// The trace as ITF JSON text.
    pub fn to_itf(&self, model: &M) -> String {
        let mut states = Vec::with_capacity(self.steps.len() + 1);
        let mut first = model.itf_vars(&self.init);
        first.insert("mbt::actionTaken".into(), json!("init"));
        first.insert("action".into(), json!("Init"));
        first.insert("outcome".into(), json!("None"));
        first.insert("claims".into(), enc::claims(ClaimSet::EMPTY));
        states.push(with_index(first, 0));
        for (i, step) in self.steps.iter().enumerate() {
            let mut vars = model.itf_vars(&step.after);
            vars.insert(
                "mbt::actionTaken".into(),
                json!(M::action_kind(&step.action)),
            );
            vars.insert("action".into(), enc::value(&step.action));
            vars.insert("outcome".into(), enc::value(&step.outcome));
            vars.insert("claims".into(), enc::claims(step.claims));
            states.push(with_index(vars, i + 1));
        }
        let vars: Vec<String> = match states.first() {
            Some(Value::Object(m)) => m.keys().filter(|k| *k != "#meta").cloned().collect(),
            _ => Vec::new(),
        };
        let m = &self.meta;
        let doc = json!({
            "#meta": {
                "format": "ITF",
                "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
                "source": format!("fabric-model::{}", m.model),
                "description": m.description,
                "model": m.model,
                "bounds": m.bounds,
                "flaw": m.flaw.clone().unwrap_or_else(|| "none".into()),
                "generator": m.generator,
                "seed": m.seed.map(|s| s.to_string()).unwrap_or_else(|| "none".into()),
                "claims": claims_in_order(&m.claims).join(","),
            },
            "vars": vars,
            "states": states,
        });
        let mut text = serde_json::to_string_pretty(&doc).expect("JSON values serialize");
        text.push('\n');
        text
    }
}

/// Claim IDs sorted by area, then by number (NET-2 before NET-10).
pub fn claims_in_order(claims: &BTreeSet<String>) -> Vec<String> {
    let mut v: Vec<String> = claims.iter().cloned().collect();
    v.sort_by_key(|id| match id.split_once('-') {
        Some((area, n)) => (area.to_string(), n.parse::<u32>().unwrap_or(u32::MAX)),
        None => (id.clone(), 0),
    });
    v
}

fn with_index(mut vars: Map<String, Value>, index: usize) -> Value {
    vars.insert("#meta".into(), json!({ "index": index }));
    Value::Object(vars)
}

/// A trace file that could not be read, with where.
#[derive(Debug, Error)]
pub enum TraceFileError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid JSON (truncated, say).
    #[error("{path}:{line}:{column}: not valid JSON: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// The JSON is not a trace of this harness.
    #[error("{path}: {at}: {message}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// Where in the document: `#meta`, `states[3].action`...
        at: String,
        /// What was wrong.
        message: String,
    },
}

/// One step read back from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct RawStep<A, O> {
    /// The action.
    pub action: A,
    /// The outcome the file predicts.
    pub outcome: O,
    /// The claims the file says the step touches.
    pub claims: BTreeSet<String>,
    /// The state variables after the step, as ITF values.
    pub vars: Map<String, Value>,
}

/// A trace read back from a file, not yet checked against the model.
#[derive(Clone, Debug)]
pub struct RawTrace<A, O> {
    /// The file.
    pub path: PathBuf,
    /// Its metadata.
    pub meta: TraceMeta,
    /// The initial state's variables.
    pub init_vars: Map<String, Value>,
    /// The steps.
    pub steps: Vec<RawStep<A, O>>,
}

/// Reads a trace file.
pub fn read_trace<A: DeserializeOwned, O: DeserializeOwned>(
    path: &Path,
) -> Result<RawTrace<A, O>, TraceFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| TraceFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_trace(path, &text)
}

/// Parses trace text; `path` only names it in errors.
pub fn parse_trace<A: DeserializeOwned, O: DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<RawTrace<A, O>, TraceFileError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| TraceFileError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let shape = |at: &str, message: &str| TraceFileError::Shape {
        path: path.to_path_buf(),
        at: at.to_string(),
        message: message.to_string(),
    };
    let meta = doc
        .get("#meta")
        .and_then(Value::as_object)
        .ok_or_else(|| shape("#meta", "missing or not an object"))?;
    let text_of = |key: &str| -> Result<String, TraceFileError> {
        meta.get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| shape(&format!("#meta.{key}"), "missing or not a string"))
    };
    let flaw = text_of("flaw")?;
    let seed = text_of("seed")?;
    let meta = TraceMeta {
        model: text_of("model")?,
        bounds: text_of("bounds")?,
        flaw: (flaw != "none").then_some(flaw),
        generator: text_of("generator")?,
        seed: if seed == "none" {
            None
        } else {
            Some(
                seed.parse()
                    .map_err(|_| shape("#meta.seed", "not a number or \"none\""))?,
            )
        },
        claims: text_of("claims")?
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        description: text_of("description")?,
    };
    let states = doc
        .get("states")
        .and_then(Value::as_array)
        .ok_or_else(|| shape("states", "missing or not a list"))?;
    let mut init_vars = None;
    let mut steps = Vec::with_capacity(states.len().saturating_sub(1));
    for (i, state) in states.iter().enumerate() {
        let at = |field: &str| format!("states[{i}]{field}");
        let mut vars = state
            .as_object()
            .cloned()
            .ok_or_else(|| shape(&at(""), "not an object"))?;
        vars.remove("#meta");
        let action = vars
            .remove("action")
            .ok_or_else(|| shape(&at(".action"), "missing"))?;
        let outcome = vars
            .remove("outcome")
            .ok_or_else(|| shape(&at(".outcome"), "missing"))?;
        let claims = vars
            .remove("claims")
            .ok_or_else(|| shape(&at(".claims"), "missing"))?;
        vars.remove("mbt::actionTaken");
        if i == 0 {
            init_vars = Some(vars);
            continue;
        }
        let action: A =
            serde_json::from_value(action).map_err(|e| shape(&at(".action"), &e.to_string()))?;
        let outcome: O =
            serde_json::from_value(outcome).map_err(|e| shape(&at(".outcome"), &e.to_string()))?;
        let claims = claims
            .get("#set")
            .and_then(Value::as_array)
            .ok_or_else(|| shape(&at(".claims"), "not an ITF set"))?
            .iter()
            .map(|c| {
                c.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| shape(&at(".claims"), "a claim ID is not a string"))
            })
            .collect::<Result<_, _>>()?;
        steps.push(RawStep {
            action,
            outcome,
            claims,
            vars,
        });
    }
    let init_vars =
        init_vars.ok_or_else(|| shape("states", "empty: a trace needs its initial state"))?;
    Ok(RawTrace {
        path: path.to_path_buf(),
        meta,
        init_vars,
        steps,
    })
}
