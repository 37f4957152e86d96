//! Storage traces (their drift and snapshots are checked for every area in
//! `areas.rs`): every trace replays against the storage service
//! in process and over HTTP (a flaw's counterexample is stopped).

use crate::{assert_replay_passes, root};
use fabric_conformance::areas::storage::replay_storage_trace;
use fabric_conformance::generate::{seed_bytes, walk_from};
use fabric_conformance::itf::{parse_trace, Trace, TraceMeta};
use fabric_conformance::replay::{collect_trace_files, Transport, Verdict};
use fabric_impl::bugs::BugSet;
use fabric_model::storage::{Action, Outcome, StorageConfig, StorageModel};
use fabric_model::TracedModel;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use stateright::Model;
use std::path::Path;

fn storage_files() -> Vec<std::path::PathBuf> {
    let files = collect_trace_files(&[root().join("traces/storage")]).expect("traces folder");
    assert!(
        files.len() >= 20,
        "expected the generated storage traces, found {}",
        files.len()
    );
    files
}

#[test]
fn every_storage_trace_replays_in_process() {
    for path in storage_files() {
        assert_replay_passes(&path, Transport::Inproc);
    }
}

#[test]
fn every_storage_trace_replays_over_http() {
    for path in storage_files() {
        assert_replay_passes(&path, Transport::Wire);
    }
}

fn walk_trace(
    model: &StorageModel,
    init: usize,
    choices: &[u32],
) -> fabric_conformance::itf::RawTrace<Action, Outcome> {
    let start = model.init_states()[init];
    let actions = walk_from(model, start, choices);
    let meta = TraceMeta {
        model: "storage".into(),
        bounds: model.bounds_line(),
        flaw: None,
        generator: "random-walk".into(),
        seed: None,
        claims: Default::default(),
        description: "property-based walk".into(),
    };
    let trace =
        Trace::from_actions_at(model, start, meta, &actions).expect("walks take enabled actions");
    parse_trace(Path::new("walk.itf.json"), &trace.to_itf(model)).expect("our own ITF parses")
}

#[test]
fn random_storage_walks_match_the_service() {
    let model = StorageConfig::default().into_model();
    let strategy = (
        0usize..2,
        proptest::collection::vec(proptest::num::u32::ANY, 1..40),
    );
    let config = Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(21)),
    )
    .run(&strategy, |(init, choices)| {
        let raw = walk_trace(&model, init, &choices);
        let report =
            replay_storage_trace(&raw, Transport::Inproc, BugSet::NONE).expect("fresh trace");
        proptest::prop_assert_eq!(report.verdict, Verdict::Matched);
        Ok(())
    })
    .expect("every walk matches");
}

#[test]
fn a_failing_storage_walk_shrinks_to_a_minimal_trace() {
    use fabric_impl::bugs::SeededBug;
    use proptest::test_runner::TestError;
    let model = StorageConfig::default().into_model();
    // Walks of the data scenario (initial state 1), with the lease fence off.
    let strategy = proptest::collection::vec(proptest::num::u32::ANY, 1..40);
    let bug = BugSet::only(SeededBug::LeaseNotCheckedOnWrite);
    let config = Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    };
    let result = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(7)),
    )
    .run(&strategy, |choices| {
        let raw = walk_trace(&model, 1, &choices);
        let report = replay_storage_trace(&raw, Transport::Inproc, bug).expect("fresh trace");
        proptest::prop_assert_eq!(report.verdict, Verdict::Matched);
        Ok(())
    });
    let Err(TestError::Fail(_, minimal)) = result else {
        panic!("the seeded bug was never caught: {result:?}");
    };
    let raw = walk_trace(&model, 1, &minimal);
    let actions: Vec<String> = raw
        .steps
        .iter()
        .map(|s| format!("{:?}", s.action))
        .collect();
    let report = replay_storage_trace(&raw, Transport::Inproc, bug).expect("fresh trace");
    let Verdict::Mismatch(mismatch) = report.verdict else {
        panic!("the shrunk walk no longer fails: {actions:?}");
    };
    // The shortest way there: write the blob (accept, three replications,
    // commit) and write it again with a lease id it does not have.
    assert!(
        mismatch.step <= 7,
        "not minimal: fails at step {} of {actions:?}",
        mismatch.step
    );
    assert!(mismatch.claims.iter().any(|c| c == "DRV-1"), "{mismatch:?}");
}
