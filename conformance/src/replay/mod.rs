//! Replays a trace against the implementation through an adapter, step by
//! step, comparing each predicted outcome and the observable state with what
//! the implementation did. A replay that stops early, or skips a step, fails.

pub mod flaw_point;
mod stop;

pub use flaw_point::{CannotTake, CorrectStep, FlawPoint, COMPLETION_MAX_STEPS};

use crate::itf::RawTrace;
use fabric_model::trace::TracedModel;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;
use thiserror::Error;

/// How replay reaches the implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// Everything in this process, through the implementation's pure
    /// decisions and in-process services (fast).
    Inproc,
    /// Over real sockets on loopback: each area's own protocol (the network
    /// area's control plane over mutually authenticated TLS, storage's Blob
    /// requests over HTTP).
    Wire,
}

/// Another implementation to replay traces against (such as Azurite for
/// storage): its endpoint and the credentials to sign with.
#[derive(Clone, Debug)]
pub struct PeerEndpoint {
    /// The path-style endpoint, `http://HOST:PORT/ACCOUNT`.
    pub url: String,
    /// The account to sign for.
    pub account: String,
    /// The account's key, base64.
    pub key_base64: String,
}

/// The implementation, driven in model terms.
pub trait Adapter<M: TracedModel>
where
    M::Action: Serialize + DeserializeOwned,
{
    /// Performs `action` on the implementation and says what happened, in
    /// the model's vocabulary, and whether the implementation did anything.
    fn apply(&mut self, action: &M::Action) -> Result<Applied<M::Outcome>, AdapterError>;

    /// The implementation's state mapped onto model variables (a subset of
    /// the model's ITF variables, encoded the same way). A variable the
    /// implementation shows but that could not be read is an error, never
    /// a default value.
    fn observe(&self) -> Result<Map<String, Value>, AdapterError>;
}

/// What the implementation did at a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied<O> {
    /// The outcome, in the model's vocabulary.
    pub outcome: O,
    /// Whether the implementation was asked to do anything: `false` for a
    /// step the adapter answers itself because the implementation has no
    /// counterpart (storage's `Replicate`, which the store does inside the
    /// commit). Such a step counts toward no claim.
    pub exercised: bool,
}

impl<O> Applied<O> {
    /// A step the implementation carried out.
    pub fn exercised(outcome: O) -> Self {
        Applied {
            outcome,
            exercised: true,
        }
    }

    /// A step the adapter answered without the implementation.
    pub fn no_op(outcome: O) -> Self {
        Applied {
            outcome,
            exercised: false,
        }
    }
}

/// The adapter could not carry out a step at all.
#[derive(Debug, Error)]
pub enum AdapterError {
    /// The implementation, or the harness around it, failed at the step.
    #[error("{0}")]
    Failed(String),
    /// A peer cannot do what the step asks (crash a replica, regenerate a
    /// key, show state it does not expose): nothing after it can be compared.
    #[error("peer cannot: {0}")]
    PeerCannot(String),
    /// A peer refused with an answer the model has no name for.
    #[error("peer answered {0}")]
    PeerAnswered(String),
}

impl AdapterError {
    /// Whether the step is beyond what the peer can do, rather than a
    /// departure.
    pub fn is_peer_limit(&self) -> bool {
        matches!(self, AdapterError::PeerCannot(_))
    }
}

/// Where and how the implementation departed from the trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// The step, from 1.
    pub step: usize,
    /// The action, as JSON.
    pub action: String,
    /// What the trace predicts.
    pub expected: String,
    /// What the implementation did.
    pub observed: String,
    /// The claims the step touches.
    pub claims: Vec<String>,
}

/// How a replay ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Every step matched.
    Matched,
    /// A flaw's counterexample was stopped: at a step at or after the one
    /// where the flaw first departs from the correct model, the
    /// implementation did what the correct model does there (its outcome,
    /// and its state wherever the adapter can see it). The two steps are
    /// the same unless the flaw changes only state that the implementation
    /// shows when a later step reads it.
    StoppedAsExpected {
        /// Where the implementation stopped it, from 1 (0: its initial
        /// state already differs).
        step: usize,
        /// Where the flaw first departs from the correct model.
        flaw_step: usize,
    },
    /// The implementation departed from the trace.
    Mismatch(Mismatch),
    /// A flaw's counterexample was not stopped as the correct model would
    /// stop it: it ran to the end, departed before the flaw's step, or
    /// departed with an answer the correct model does not give.
    NotStopped {
        /// Where the flaw first departs from the correct model, from 1.
        expected_step: usize,
        /// Where it departed, if it did.
        mismatch: Option<Mismatch>,
        /// Why that is not the stop the correct model makes.
        reason: String,
    },
    /// Every step matched, but the implementation was asked to do nothing:
    /// each step was one the adapter answers itself. Such a replay shows
    /// nothing about the implementation.
    ExercisedNothing,
}

/// The result of replaying one trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// The file.
    pub path: PathBuf,
    /// The generator that made it.
    pub generator: String,
    /// Steps in the trace.
    pub steps_total: usize,
    /// Steps whose outcome and state matched.
    pub steps_matched: usize,
    /// Of those, steps the adapter answered itself (see
    /// [`Applied::no_op`]); they count toward no claim.
    pub steps_no_op: usize,
    /// Per claim ID, matched steps touching it.
    pub claims_matched: BTreeMap<String, usize>,
    /// How it ended.
    pub verdict: Verdict,
}

impl ReplayReport {
    /// Whether the replay is a success: all matched, or a counterexample
    /// stopped where it should be.
    pub fn passed(&self) -> bool {
        matches!(
            self.verdict,
            Verdict::Matched | Verdict::StoppedAsExpected { .. }
        )
    }
}

/// The trace does not fit the model it names.
#[derive(Debug, Error)]
pub enum ReplayError {
    /// The trace's bounds or flaw cannot be read.
    #[error("{path}: {message}")]
    Meta {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The trace has no step: replaying it would show nothing.
    #[error("{path}: the trace has no step, so replaying it exercises nothing")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The trace disagrees with the current model: regenerate it.
    #[error("{path}: step {step}: the trace disagrees with the current model ({message}); run `fabric traces generate`")]
    Stale {
        /// The file.
        path: PathBuf,
        /// The step, from 1.
        step: usize,
        /// What was wrong.
        message: String,
    },
    /// The adapter could not carry out a step.
    #[error("{path}: step {step}: {source}")]
    Adapter {
        /// The file.
        path: PathBuf,
        /// The step, from 1.
        step: usize,
        /// The cause.
        source: AdapterError,
    },
}

/// The first observed variable that disagrees with `expected`: its name,
/// and the expected and observed texts.
fn state_mismatch(
    observed: &Map<String, Value>,
    expected: &Map<String, Value>,
) -> Option<(String, String, String)> {
    for (name, value) in observed {
        let want = expected.get(name).unwrap_or(&Value::Null);
        if !covers(want, value) {
            return Some((
                name.clone(),
                format!("{name} = {want}"),
                format!("{name} = {value}"),
            ));
        }
    }
    None
}

/// Whether `observed` agrees with `expected` wherever it says anything: an
/// object may leave out fields, an ITF map (`#map`) must have the same keys
/// with each value compared the same way, and everything else must be
/// equal. Adapters observe what the
/// implementation can show (a replica's blobs, not the model's block
/// numbers) and the rest of the model's state is not compared.
pub fn covers(expected: &Value, observed: &Value) -> bool {
    match (expected, observed) {
        (Value::Object(want), Value::Object(seen)) => {
            if let (Some(Value::Array(want)), Some(Value::Array(seen))) =
                (want.get("#map"), seen.get("#map"))
            {
                return seen.iter().all(|entry| {
                    let key = entry.get(0);
                    want.iter()
                        .find(|candidate| candidate.get(0) == key)
                        .is_some_and(|candidate| {
                            covers(
                                candidate.get(1).unwrap_or(&Value::Null),
                                entry.get(1).unwrap_or(&Value::Null),
                            )
                        })
                }) && want.len() == seen.len();
            }
            seen.iter().all(|(key, value)| {
                want.get(key)
                    .is_some_and(|expected| covers(expected, value))
            })
        }
        (Value::Array(want), Value::Array(seen)) => {
            want.len() == seen.len() && want.iter().zip(seen).all(|(w, s)| covers(w, s))
        }
        _ => expected == observed,
    }
}

/// Replays `raw` against `adapter`. `model` is the model the trace was made
/// with (its flaw included) and `correct` the same bounds without a flaw;
/// the trace is first checked against `model` so that a stale trace is an
/// error rather than a false verdict.
pub fn replay<M, A>(
    model: &M,
    correct: &M,
    raw: &RawTrace<M::Action, M::Outcome>,
    adapter: &mut A,
) -> Result<ReplayReport, ReplayError>
where
    M: TracedModel,
    M::State: Clone,
    M::Action: Serialize + DeserializeOwned + Clone + Debug,
    A: Adapter<M>,
{
    let checked = recheck(model, correct, raw)?;
    replay_checked(raw, &checked, adapter)
}

/// What re-running a trace on its model found, before the implementation
/// is touched.
#[derive(Clone, Debug)]
pub struct Rechecked<O> {
    /// Where the trace departs from the correct model, if it does.
    pub point: Option<FlawPoint<O>>,
    /// Per step, the claims it touches as the model says, whatever the
    /// file says: a tally of claims is never read from the file.
    pub step_claims: Vec<Vec<String>>,
}

/// Checks `raw` against `model` step by step (a trace the current model
/// does not take is [`ReplayError::Stale`], one with no step is
/// [`ReplayError::Empty`]), takes each step's claims from the model, and
/// finds where the trace departs from `correct`: the flaw's point, which a
/// flaw trace must have.
pub fn recheck<M>(
    model: &M,
    correct: &M,
    raw: &RawTrace<M::Action, M::Outcome>,
) -> Result<Rechecked<M::Outcome>, ReplayError>
where
    M: TracedModel,
    M::State: Clone,
    M::Action: Serialize + DeserializeOwned + Debug,
{
    let stale = |step: usize, message: String| ReplayError::Stale {
        path: raw.path.clone(),
        step,
        message,
    };
    let mut state = model
        .init_states()
        .into_iter()
        .find(|init| model.itf_vars(init) == raw.init_vars)
        .ok_or_else(|| {
            stale(
                0,
                "no initial state of the model has these variables".into(),
            )
        })?;
    if raw.steps.is_empty() {
        return Err(ReplayError::Empty {
            path: raw.path.clone(),
        });
    }
    let mut step_claims = Vec::with_capacity(raw.steps.len());
    for (i, step) in raw.steps.iter().enumerate() {
        let (outcome, next) = model
            .step(&state, &step.action)
            .ok_or_else(|| stale(i + 1, format!("{:?} is not enabled", step.action)))?;
        step_claims.push(
            model
                .claims_touched(&state, &step.action, &outcome)
                .labels(),
        );
        if outcome != step.outcome {
            return Err(stale(
                i + 1,
                format!("model predicts {outcome:?}, trace says {:?}", step.outcome),
            ));
        }
        if model.itf_vars(&next) != step.vars {
            return Err(stale(i + 1, "state variables differ".into()));
        }
        state = next;
    }
    let point = flaw_point::find(correct, raw);
    if raw.meta.flaw.is_some() && point.is_none() {
        return Err(stale(
            raw.steps.len(),
            "a counterexample that the correct model also takes".into(),
        ));
    }
    Ok(Rechecked { point, step_claims })
}

/// Where the implementation first departed from the trace, with what it
/// answered and showed there.
struct Departure<O> {
    mismatch: Mismatch,
    /// Whether the outcome was the trace's (so the state departed).
    outcome_as_traced: bool,
    /// Its outcome; `None` when the initial state already differs.
    outcome: Option<O>,
    /// What the adapter observed after the step.
    state: Map<String, Value>,
}

/// Replays `raw`, already re-checked against its model (`checked`), on
/// `adapter`.
pub fn replay_checked<M, A>(
    raw: &RawTrace<M::Action, M::Outcome>,
    checked: &Rechecked<M::Outcome>,
    adapter: &mut A,
) -> Result<ReplayReport, ReplayError>
where
    M: TracedModel,
    M::Action: Serialize + DeserializeOwned + Clone + Debug,
    A: Adapter<M>,
{
    assert_eq!(
        checked.step_claims.len(),
        raw.steps.len(),
        "replay_checked is given the recheck of another trace"
    );
    let adapter_error = |step: usize| {
        move |source| ReplayError::Adapter {
            path: raw.path.clone(),
            step,
            source,
        }
    };
    let mut report = ReplayReport {
        path: raw.path.clone(),
        generator: raw.meta.generator.clone(),
        steps_total: raw.steps.len(),
        steps_matched: 0,
        steps_no_op: 0,
        claims_matched: BTreeMap::new(),
        verdict: Verdict::Matched,
    };
    let init = adapter.observe().map_err(adapter_error(0))?;
    // The initial state has no step's claims: a difference there concerns
    // the claims of the variable that differs.
    let mut departure =
        state_mismatch(&init, &raw.init_vars).map(|(name, expected, observed)| Departure {
            mismatch: Mismatch {
                step: 0,
                action: "(initial state)".into(),
                expected,
                observed,
                claims: M::var_claims(&name).iter().map(|c| c.to_string()).collect(),
            },
            outcome_as_traced: true,
            outcome: None,
            state: init.clone(),
        });
    for (i, step) in raw.steps.iter().enumerate() {
        if departure.is_some() {
            break;
        }
        let applied = adapter.apply(&step.action).map_err(adapter_error(i + 1))?;
        let state = adapter.observe().map_err(adapter_error(i + 1))?;
        let found = if applied.outcome != step.outcome {
            Some((
                format!("{:?}", step.outcome),
                format!("{:?}", applied.outcome),
            ))
        } else {
            state_mismatch(&state, &step.vars).map(|(_, expected, observed)| (expected, observed))
        };
        if let Some((expected, observed)) = found {
            departure = Some(Departure {
                mismatch: Mismatch {
                    step: i + 1,
                    action: serde_json::to_string(&step.action).unwrap_or_default(),
                    expected,
                    observed,
                    claims: checked.step_claims[i].clone(),
                },
                outcome_as_traced: applied.outcome == step.outcome,
                outcome: Some(applied.outcome),
                state,
            });
            break;
        }
        report.steps_matched += 1;
        if !applied.exercised {
            report.steps_no_op += 1;
            continue;
        }
        for claim in &checked.step_claims[i] {
            *report.claims_matched.entry(claim.clone()).or_default() += 1;
        }
    }
    report.verdict = stop::verdict(checked.point.as_ref(), departure, &report);
    Ok(report)
}

/// Every `.itf.json` file under `paths` (files as given, folders searched
/// recursively), sorted.
pub fn collect_trace_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.to_string_lossy().ends_with(".itf.json") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    Ok(out)
}
