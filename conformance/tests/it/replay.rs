//! Replay against the implementation: every trace matches at every step (or,
//! for a flaw's counterexample, is stopped exactly where the flaw let it
//! through), in process and over the wire; a damaged trace never passes: a
//! skipped step is refused by the re-check on the model, a file cut mid-JSON
//! by the reader, and a trace cut after a step counts only what it kept.

use crate::{assert_replay_passes, root};
use fabric_conformance::areas::network::{replay_network_file, replay_network_trace};
use fabric_conformance::generate::{seed_bytes, walk_from_choices};
use fabric_conformance::itf::{parse_trace, Trace, TraceFileError, TraceMeta};
use fabric_conformance::replay::Transport;
use fabric_conformance::replay::{collect_trace_files, ReplayError, ReplayReport, Verdict};
use fabric_impl::bugs::BugSet;
use fabric_model::network::{Action, NetworkConfig, NetworkModel, Outcome};
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
use std::path::Path;

fn trace_files() -> Vec<std::path::PathBuf> {
    let files = collect_trace_files(&[root().join("traces/network")]).expect("traces folder");
    assert!(
        files.len() >= 20,
        "expected the generated traces, found {}",
        files.len()
    );
    files
}

#[test]
fn every_trace_replays_in_process() {
    for path in trace_files() {
        assert_replay_passes(&path, Transport::Inproc);
    }
}

#[test]
fn every_trace_replays_over_the_wire() {
    for path in trace_files() {
        assert_replay_passes(&path, Transport::Wire);
    }
}

fn walk_trace(
    model: &NetworkModel,
    choices: &[u32],
) -> fabric_conformance::itf::RawTrace<Action, Outcome> {
    let actions = walk_from_choices(model, choices);
    let meta = TraceMeta {
        model: "network".into(),
        bounds: fabric_model::TracedModel::bounds_line(model),
        flaw: None,
        generator: "random-walk".into(),
        seed: None,
        claims: Default::default(),
        description: "property-based walk".into(),
    };
    let trace = Trace::from_actions(model, meta, &actions).expect("walks take enabled actions");
    parse_trace(Path::new("walk.itf.json"), &trace.to_itf(model)).expect("our own ITF parses")
}

fn runner(seed: u64, cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(seed)),
    )
}

#[test]
fn random_walks_match_the_implementation() {
    let model = NetworkConfig::default().into_model();
    let strategy = proptest::collection::vec(proptest::num::u32::ANY, 1..60);
    runner(11, 48)
        .run(&strategy, |choices| {
            let raw = walk_trace(&model, &choices);
            let report =
                replay_network_trace(&raw, Transport::Inproc, BugSet::NONE).expect("fresh trace");
            proptest::prop_assert_eq!(report.verdict, Verdict::Matched);
            Ok(())
        })
        .expect("every walk matches");
}

#[test]
fn a_failing_walk_shrinks_to_a_minimal_trace() {
    use fabric_impl::bugs::SeededBug;
    let model = NetworkConfig::default().into_model();
    let strategy = proptest::collection::vec(proptest::num::u32::ANY, 1..60);
    let bug = BugSet::only(SeededBug::RemoteAccessOpen);
    let result = runner(5, 256).run(&strategy, |choices| {
        let raw = walk_trace(&model, &choices);
        let report = replay_network_trace(&raw, Transport::Inproc, bug).expect("fresh trace");
        proptest::prop_assert_eq!(report.verdict, Verdict::Matched);
        Ok(())
    });
    let Err(TestError::Fail(_, minimal)) = result else {
        panic!("the seeded bug was never caught: {result:?}");
    };
    let raw = walk_trace(&model, &minimal);
    // Shrunk to the one step that opens a remote-access port to a guest.
    assert_eq!(
        raw.steps.len(),
        1,
        "not minimal: {:?}",
        raw.steps.iter().map(|s| &s.action).collect::<Vec<_>>()
    );
    assert!(raw.steps[0].claims.contains("NET-10"));
}

#[test]
fn a_trace_with_a_skipped_step_is_refused_as_stale_before_the_implementation_runs() {
    let path = root().join("traces/network/walk-seed-1.itf.json");
    let text = std::fs::read_to_string(&path).expect("walk-seed-1");
    let mut doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let states = doc["states"].as_array_mut().expect("states");
    // Remove the first step that changed the state: what follows no longer fits.
    let vars = |s: &serde_json::Value| {
        let mut s = s.clone();
        for k in ["#meta", "action", "outcome", "claims", "mbt::actionTaken"] {
            s.as_object_mut().expect("object").remove(k);
        }
        s
    };
    let changing = (1..states.len())
        .find(|i| vars(&states[*i]) != vars(&states[i - 1]))
        .expect("a step changes the state");
    assert!(
        changing + 1 < states.len(),
        "the change is not the last step"
    );
    states.remove(changing);
    let damaged = serde_json::to_string(&doc).expect("JSON");
    let raw = parse_trace(&path, &damaged).expect("still well-formed");
    // The re-check on the model refuses it at the step that now follows the
    // gap (states[i] is step i), before any step reaches the
    // implementation: a stale trace is an error, never a verdict.
    match replay_network_trace(&raw, Transport::Inproc, BugSet::NONE) {
        Err(ReplayError::Stale { step, .. }) => assert_eq!(step, changing, "the wrong step"),
        other => panic!("a trace with a step removed was not refused as stale: {other:?}"),
    }
}

#[test]
fn a_trace_with_its_last_steps_cut_is_reported_by_its_step_count() {
    let path = root().join("traces/network/coverage-01.itf.json");
    let text = std::fs::read_to_string(&path).expect("coverage-01");
    let whole = parse_trace::<Action, Outcome>(&path, &text).expect("parses");
    let total = whole.steps.len();
    assert!(total >= 4, "coverage-01 has {total} steps");
    // Keep the initial state and the first half of the steps: still a
    // trace the model takes.
    let kept = total / 2;
    let mut doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    doc["states"]
        .as_array_mut()
        .expect("states")
        .truncate(kept + 1);
    let cut_text = serde_json::to_string(&doc).expect("JSON");
    let cut = parse_trace::<Action, Outcome>(&path, &cut_text).expect("a prefix is well-formed");
    assert_eq!(cut.steps.len(), kept, "nothing was cut");
    let report = replay_network_trace(&cut, Transport::Inproc, BugSet::NONE).expect("replays");
    let whole_report =
        replay_network_trace(&whole, Transport::Inproc, BugSet::NONE).expect("replays");
    // What ran is what is counted: the kept steps, not the file's original
    // length, and fewer claims than the whole trace matched.
    assert_eq!(report.verdict, Verdict::Matched);
    assert_eq!((report.steps_total, report.steps_matched), (kept, kept));
    assert_eq!(whole_report.steps_total, total);
    let tally = |r: &ReplayReport| -> usize { r.claims_matched.values().sum() };
    assert!(
        tally(&report) < tally(&whole_report),
        "cutting steps did not lower the tally: {} and {}",
        tally(&report),
        tally(&whole_report)
    );
}

#[test]
fn a_trace_file_cut_mid_json_is_an_error_naming_file_and_position() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(root().join("traces/network/coverage-01.itf.json"))
        .expect("coverage-01");
    // Two thirds of the bytes: inside a state's object, with no closing
    // brace or bracket.
    let cut = &text[..text.len() * 2 / 3];
    assert!(serde_json::from_str::<serde_json::Value>(cut).is_err());
    let bad = dir.path().join("cut.itf.json");
    std::fs::write(&bad, cut).expect("write");
    let error = replay_network_file(&bad, Transport::Inproc, BugSet::NONE)
        .expect_err("a file cut mid-JSON never replays");
    let message = format!("{error:#}");
    let file = error
        .downcast_ref::<TraceFileError>()
        .unwrap_or_else(|| panic!("not a trace file error: {message}"));
    let TraceFileError::Json { line, column, .. } = file else {
        panic!("not a JSON error: {message}");
    };
    // The position is where the text ends: the last line, at its end.
    let last_line = cut.lines().count();
    assert_eq!(*line, last_line, "{message}");
    assert!(*column > 0, "{message}");
    assert!(
        message.contains("cut.itf.json:") && message.contains("EOF"),
        "{message}"
    );
}
