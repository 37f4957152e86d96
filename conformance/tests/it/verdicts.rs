//! The replay's verdicts, judged with a scripted implementation: an adapter
//! that answers each step as the trace says, except where a test tells it
//! otherwise. So each test pins one rule of `replay_checked`: a flaw's
//! counterexample is stopped only where and as the correct model stops it,
//! a step the adapter answers alone counts toward no claim, and a replay
//! that exercised nothing fails.

use crate::root;
use fabric_conformance::areas::replay_file;
use fabric_conformance::itf::{read_trace, RawTrace, Trace};
use fabric_conformance::replay::{
    recheck, replay_checked, Adapter, AdapterError, Applied, Transport, Verdict,
};
use fabric_impl::bugs::{BugSet, SeededBug};
use fabric_model::network::{Action, DropReason, Flaw, NetworkConfig, NetworkModel, Node, Outcome};
use fabric_model::storage::{Action as StorageAction, Outcome as StorageOutcome};
use fabric_model::TracedModel;
use serde_json::{Map, Value};
use stateright::Model;

/// A scripted answer: at this step (from 1), this outcome, and this state
/// if given (else the trace's).
type Answer = (usize, Outcome, Option<Map<String, Value>>);

/// Answers step `n` (from 1) with `answers[n]` if given, else as the trace
/// says, and shows the trace's state after each step.
struct Scripted {
    trace: RawTrace<Action, Outcome>,
    answers: Vec<Answer>,
    no_op: bool,
    step: usize,
}

impl Scripted {
    fn new(trace: &RawTrace<Action, Outcome>) -> Scripted {
        Scripted {
            trace: trace.clone(),
            answers: Vec::new(),
            no_op: false,
            step: 0,
        }
    }
}

impl Adapter<NetworkModel> for Scripted {
    fn apply(&mut self, _action: &Action) -> Result<Applied<Outcome>, AdapterError> {
        self.step += 1;
        let outcome = self
            .answers
            .iter()
            .find(|(n, _, _)| *n == self.step)
            .map_or_else(
                || self.trace.steps[self.step - 1].outcome.clone(),
                |(_, outcome, _)| outcome.clone(),
            );
        Ok(if self.no_op {
            Applied::no_op(outcome)
        } else {
            Applied::exercised(outcome)
        })
    }

    fn observe(&self) -> Result<Map<String, Value>, AdapterError> {
        if let Some((_, _, Some(vars))) = self.answers.iter().find(|(n, _, _)| *n == self.step) {
            return Ok(vars.clone());
        }
        Ok(match self.step {
            0 => self.trace.init_vars.clone(),
            n => self.trace.steps[n - 1].vars.clone(),
        })
    }
}

fn network_trace(name: &str) -> RawTrace<Action, Outcome> {
    read_trace(&root().join("traces/network").join(name)).expect("a committed trace")
}

fn models(trace: &RawTrace<Action, Outcome>) -> (NetworkModel, NetworkModel) {
    let cfg = NetworkConfig::from_bounds_line(&trace.meta.bounds).expect("bounds");
    let flaw = trace
        .meta
        .flaw
        .as_deref()
        .map(|name| Flaw::from_name(name).expect("a known flaw"));
    (cfg.clone().with_flaw(flaw).into_model(), cfg.into_model())
}

fn verdict_of(trace: &RawTrace<Action, Outcome>, adapter: &mut Scripted) -> Verdict {
    let (model, correct) = models(trace);
    let checked = recheck(&model, &correct, trace).expect("a fresh trace");
    replay_checked(trace, &checked, adapter)
        .expect("the scripted adapter never fails")
        .verdict
}

/// The flaw trace whose flaw step the correct model refuses, with that
/// step and the correct model's answer and state there.
fn refused_flaw_step() -> (
    RawTrace<Action, Outcome>,
    usize,
    Outcome,
    Map<String, Value>,
) {
    let trace = network_trace("flaw-remote-access-open.itf.json");
    let (model, correct) = models(&trace);
    let point = recheck(&model, &correct, &trace)
        .expect("fresh")
        .point
        .expect("a flaw trace departs from the correct model");
    let here = point.correct.expect("the correct model takes the step");
    assert_eq!(
        here.outcome,
        Outcome::Dropped {
            reason: DropReason::RemoteAccessDisabled
        },
        "the test's premise: the correct model refuses remote access at the flaw step"
    );
    (trace, point.step, here.outcome, here.vars)
}

#[test]
fn a_flaw_stopped_as_the_correct_model_stops_it_passes() {
    let (trace, step, outcome, vars) = refused_flaw_step();
    let mut adapter = Scripted::new(&trace);
    adapter.answers.push((step, outcome, Some(vars)));
    assert_eq!(
        verdict_of(&trace, &mut adapter),
        Verdict::StoppedAsExpected {
            step,
            flaw_step: step
        }
    );
}

#[test]
fn a_flaw_stopped_for_the_wrong_reason_fails() {
    let (trace, step, _, vars) = refused_flaw_step();
    let mut adapter = Scripted::new(&trace);
    // Refused, at the right step, but not for the reason the correct model
    // refuses: before, any departure at or after the flaw's step passed.
    let wrong = Outcome::Dropped {
        reason: DropReason::Broadcast,
    };
    adapter.answers.push((step, wrong, Some(vars)));
    match verdict_of(&trace, &mut adapter) {
        Verdict::NotStopped {
            expected_step,
            mismatch: Some(m),
            reason,
        } => {
            assert_eq!((expected_step, m.step), (step, step));
            assert!(reason.contains("RemoteAccessDisabled"), "{reason}");
        }
        other => panic!("a wrong refusal counted as a stop: {other:?}"),
    }
}

#[test]
fn a_flaw_stopped_with_the_right_answer_but_the_wrong_state_fails() {
    let (trace, step, outcome, mut vars) = refused_flaw_step();
    vars.insert("placement".into(), Value::String("elsewhere".into()));
    let mut adapter = Scripted::new(&trace);
    adapter.answers.push((step, outcome, Some(vars)));
    assert!(
        matches!(
            verdict_of(&trace, &mut adapter),
            Verdict::NotStopped { reason, .. } if reason.contains("placement")
        ),
        "the state after the stop is not the correct model's"
    );
}

#[test]
fn a_flaw_trace_the_implementation_runs_through_fails() {
    let (trace, step, _, _) = refused_flaw_step();
    let mut adapter = Scripted::new(&trace);
    assert!(matches!(
        verdict_of(&trace, &mut adapter),
        Verdict::NotStopped { expected_step, mismatch: None, .. } if expected_step == step
    ));
}

#[test]
fn a_departure_before_the_flaw_step_is_no_stop() {
    // A flaw trace of more than one step, departing at step 1 with the
    // correct model's own answer there: still before the flaw.
    let trace = network_trace("flaw-fc-reuses-ip-early.itf.json");
    let (model, correct) = models(&trace);
    let point = recheck(&model, &correct, &trace)
        .expect("fresh")
        .point
        .expect("departs");
    assert!(
        point.step > 1,
        "the test's premise: the flaw shows after step 1"
    );
    let mut adapter = Scripted::new(&trace);
    adapter.answers.push((
        1,
        Outcome::Refused {
            reason: DropReason::NoSuchAddress,
        },
        None,
    ));
    match verdict_of(&trace, &mut adapter) {
        Verdict::NotStopped {
            mismatch: Some(m),
            reason,
            ..
        } => {
            assert_eq!(m.step, 1);
            assert!(reason.contains("before the flaw's step"), "{reason}");
        }
        other => panic!("an early departure counted as a stop: {other:?}"),
    }
}

#[test]
fn a_replay_of_no_op_steps_only_exercises_nothing_and_fails() {
    let trace = network_trace("coverage-01.itf.json");
    let mut adapter = Scripted::new(&trace);
    adapter.no_op = true;
    let (model, correct) = models(&trace);
    let checked = recheck(&model, &correct, &trace).expect("fresh");
    let report = replay_checked(&trace, &checked, &mut adapter).expect("replays");
    assert_eq!(report.verdict, Verdict::ExercisedNothing);
    assert!(!report.passed());
    assert_eq!(report.steps_no_op, trace.steps.len());
    assert!(
        report.claims_matched.is_empty(),
        "a step answered by the adapter alone counted toward {:?}",
        report.claims_matched
    );
}

#[test]
fn storage_replicate_steps_count_toward_no_claim() {
    // The storage service replicates inside the commit, so the adapter
    // answers `Replicate` alone: such a step is matched but counts for no
    // claim (before, 6 of GEO-1's 8 matched steps were such steps).
    let path = root().join("traces/storage/walk-seed-1.itf.json");
    let raw = read_trace::<StorageAction, StorageOutcome>(&path).expect("a committed trace");
    let replicates: Vec<_> = raw
        .steps
        .iter()
        .filter(|s| matches!(s.action, StorageAction::Replicate { .. }))
        .collect();
    assert!(
        !replicates.is_empty(),
        "the test's premise: the walk replicates"
    );
    let report = replay_file(&path, Transport::Inproc, BugSet::NONE).expect("replays");
    assert_eq!(report.verdict, Verdict::Matched);
    assert_eq!(report.steps_no_op, replicates.len());
    let mut expected = std::collections::BTreeMap::<String, usize>::new();
    for step in raw
        .steps
        .iter()
        .filter(|s| !matches!(s.action, StorageAction::Replicate { .. }))
    {
        for claim in &step.claims {
            *expected.entry(claim.clone()).or_default() += 1;
        }
    }
    assert_eq!(report.claims_matched, expected);
}

#[test]
fn an_edited_flaw_trace_the_implementation_departs_from_for_another_reason_fails() {
    // The flaw trace with one step added that the flawed model takes (a
    // guest's broadcast, dropped), replayed against an implementation with
    // the flaw's own mechanism removed (so it follows the counterexample)
    // and broadcast filtering removed too (so it departs at the added
    // step). Before, any departure at or after the flaw's step was a stop.
    let path = root().join("traces/network/flaw-remote-access-open.itf.json");
    let raw = read_trace::<Action, Outcome>(&path).expect("a committed trace");
    let (model, _) = models(&raw);
    let mut state = model
        .init_states()
        .into_iter()
        .find(|s| model.itf_vars(s) == raw.init_vars)
        .expect("the trace's initial state");
    let init = state.clone();
    let mut actions: Vec<Action> = raw.steps.iter().map(|s| s.action).collect();
    for action in &actions {
        state = model.step(&state, action).expect("the trace's step").1;
    }
    let mut candidates = Vec::new();
    model.actions(&state, &mut candidates);
    let broadcast = candidates
        .into_iter()
        .find(|a| {
            matches!(a, Action::Broadcast { from: Node::Vm(_) })
                && matches!(
                    model.step(&state, a),
                    Some((
                        Outcome::Dropped {
                            reason: DropReason::Broadcast
                        },
                        _
                    ))
                )
        })
        .expect("a guest can broadcast after the counterexample");
    actions.push(broadcast);
    let trace = Trace::from_actions_at(&model, init, raw.meta.clone(), &actions)
        .expect("the flawed model takes every step");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let edited = dir.path().join("flaw-remote-access-open.itf.json");
    std::fs::write(&edited, trace.to_itf(&model)).expect("written");
    let bugs = BugSet::only(SeededBug::RemoteAccessOpen).with(SeededBug::BroadcastPasses);
    let report = replay_file(&edited, Transport::Inproc, bugs).expect("replays");
    match report.verdict {
        Verdict::NotStopped {
            expected_step: 1,
            mismatch: Some(m),
            reason,
        } => {
            assert_eq!(m.step, 2);
            assert!(reason.contains("Broadcast"), "{reason}");
        }
        other => panic!("a departure for another reason passed as a stop: {other:?}"),
    }
}
