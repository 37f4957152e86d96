//! Replay against the implementation: every trace matches at every step (or,
//! for a flaw's counterexample, is stopped exactly where the flaw let it
//! through), in process and over the wire; a damaged trace never passes.

use crate::{assert_replay_passes, root};
use fabric_conformance::areas::network::{replay_network_file, replay_network_trace};
use fabric_conformance::generate::{seed_bytes, walk_from_choices};
use fabric_conformance::itf::{parse_trace, Trace, TraceMeta};
use fabric_conformance::replay::Transport;
use fabric_conformance::replay::{collect_trace_files, Verdict};
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
fn a_trace_with_a_skipped_step_never_passes() {
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
    match replay_network_trace(&raw, Transport::Inproc, BugSet::NONE) {
        Ok(report) => assert!(
            !report.passed(),
            "a trace with a step removed passed: {report:?}"
        ),
        Err(e) => assert!(e.to_string().contains("step"), "{e}"),
    }
}

#[test]
fn a_trace_cut_short_is_reported_by_step_count() {
    let path = root().join("traces/network/coverage-01.itf.json");
    let report = replay_network_file(&path, Transport::Inproc, BugSet::NONE).expect("replays");
    let raw = parse_trace::<Action, Outcome>(&path, &std::fs::read_to_string(&path).expect("read"))
        .expect("parses");
    assert_eq!(report.steps_total, raw.steps.len());
    assert_eq!(report.steps_matched, report.steps_total);
    let per_claim: usize = report.claims_matched.values().sum();
    let expected: usize = raw.steps.iter().map(|s| s.claims.len()).sum();
    assert_eq!(per_claim, expected, "every step's claims are counted once");
}
