//! Judging how a replay ended: whether a departure from a flaw's trace is
//! the stop the correct model makes there.

use super::{state_mismatch, Departure, FlawPoint, ReplayReport, Verdict, COMPLETION_MAX_STEPS};
use serde_json::{Map, Value};
use std::fmt::Debug;

/// How a replay ended, from where the flaw departs from the correct model
/// (`point`, for a flaw's counterexample) and where the implementation
/// departed from the trace.
pub(super) fn verdict<O: PartialEq + Debug>(
    point: Option<&FlawPoint<O>>,
    departure: Option<Departure<O>>,
    report: &ReplayReport,
) -> Verdict {
    match (point, departure) {
        (None, None) if report.steps_matched == report.steps_no_op => Verdict::ExercisedNothing,
        (None, None) => Verdict::Matched,
        (None, Some(d)) => Verdict::Mismatch(d.mismatch),
        (Some(point), None) => Verdict::NotStopped {
            expected_step: point.step,
            mismatch: None,
            reason: "the implementation took every step as the flawed model does".into(),
        },
        (Some(point), Some(d)) => match judge_stop(point, &d) {
            Ok(()) => Verdict::StoppedAsExpected {
                step: d.mismatch.step,
                flaw_step: point.step,
            },
            Err(reason) => Verdict::NotStopped {
                expected_step: point.step,
                mismatch: Some(d.mismatch),
                reason,
            },
        },
    }
}

/// Whether the implementation's departure `d` is the correct model's stop
/// of the flaw at `point`: at or after the flaw's step, with the correct
/// model's outcome there and its state wherever the adapter can see it.
/// A departure for another reason is not a stop, however early or late.
fn judge_stop<O: PartialEq + Debug>(point: &FlawPoint<O>, d: &Departure<O>) -> Result<(), String> {
    let step = d.mismatch.step;
    if step < point.step {
        return Err(format!(
            "it departed at step {step}, before the flaw's step {}",
            point.step
        ));
    }
    if step == 0 {
        let vars = point
            .nearest_init
            .as_ref()
            .ok_or_else(|| "no initial state of the correct model to compare with".to_string())?;
        return agrees(step, None, vars, d);
    }
    if let Some(correct) = point.correct_at(step) {
        return agrees(step, Some(&correct.outcome), &correct.vars, d);
    }
    let Some(cannot) = point.cannot.as_ref().filter(|c| c.step == step) else {
        return Err(format!(
            "the trace ends for the correct model before step {step}, so the departure there cannot be judged"
        ));
    };
    // The correct model does not take the step: refusing it and changing
    // nothing is what it does.
    if !d.outcome_as_traced && state_mismatch(&d.state, &cannot.vars_before).is_none() {
        return Ok(());
    }
    // Or the implementation did at once what the correct model does in a
    // few steps ending with this one.
    if cannot
        .completions
        .iter()
        .any(|c| agrees(step, Some(&c.outcome), &c.vars, d).is_ok())
    {
        return Ok(());
    }
    Err(format!(
        "at step {step}, which the correct model cannot take, it neither refused the step leaving the state as it was nor did what the correct model does within {COMPLETION_MAX_STEPS} steps of its own"
    ))
}

/// Whether departure `d` at `step` has outcome `want` (if any) and shows
/// `vars` wherever the adapter can see them.
fn agrees<O: PartialEq + Debug>(
    step: usize,
    want: Option<&O>,
    vars: &Map<String, Value>,
    d: &Departure<O>,
) -> Result<(), String> {
    if let (Some(want), Some(seen)) = (want, &d.outcome) {
        if want != seen {
            return Err(format!(
                "at step {step} it answered {seen:?}, where the correct model answers {want:?}"
            ));
        }
    }
    if let Some((_, want, seen)) = state_mismatch(&d.state, vars) {
        return Err(format!(
            "at step {step} it shows {seen}, where the correct model has {want}"
        ));
    }
    Ok(())
}
