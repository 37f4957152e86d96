//! The trace files: regenerated they equal what is on disk, every one parses
//! with the `itf` crate, narratives are snapshots, and bad files give errors
//! that say where.

use crate::{files_in, root};
use fabric_conformance::areas::kit::ModelOf;
use fabric_conformance::areas::network::{network_traces, NetworkArea};
use fabric_conformance::areas::storage::StorageArea;
use fabric_conformance::generate;
use fabric_conformance::graph::{coverage_key, StateGraph};
use fabric_conformance::itf::{parse_trace, TraceFileError};
use fabric_model::network::{Action, Outcome};
use fabric_model::TracedModel;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::hash::Hash;
use std::path::Path;

/// The network model's ITF variables, decoded by the `itf` crate into
/// typed values: `#map` into maps, `#set` into sets.
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct NetworkVars {
    #[serde(rename = "mbt::actionTaken")]
    action_taken: String,
    action: itf::Value,
    outcome: itf::Value,
    claims: BTreeSet<String>,
    placement: BTreeMap<i64, PlacementVar>,
    moves: i64,
    filters: BTreeMap<i64, BTreeMap<i64, BTreeSet<i64>>>,
    pending: BTreeSet<i64>,
    quarantine: BTreeSet<i64>,
    conntrack: Vec<itf::Value>,
    broken: BTreeSet<String>,
}

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct PlacementVar {
    host: i64,
    dip: i64,
}

#[test]
fn network_coverage_takes_every_action_kind() {
    let traces = network_traces(&mut |_| {}).expect("generation succeeds");
    let kinds: std::collections::BTreeSet<&str> = traces
        .iter()
        .filter(|(n, _, _)| n.starts_with("coverage-"))
        .flat_map(|(_, _, t)| {
            t.steps.iter().map(|s| {
                <fabric_model::network::NetworkModel as fabric_model::TracedModel>::action_kind(
                    &s.action,
                )
            })
        })
        .collect();
    for kind in [
        "open",
        "reply",
        "close",
        "datagram",
        "broadcast",
        "move",
        "fa-apply",
        "control",
    ] {
        assert!(kinds.contains(kind), "coverage never takes {kind}");
    }
}

/// Per initial state of `model`, the coverage key of every transition
/// reachable from it, by a breadth-first search of its own: not the
/// harness's graph, whose bookkeeping is what is under test.
fn pairs_from_each_initial_state<M>(model: &M) -> Vec<BTreeSet<String>>
where
    M: TracedModel,
    M::State: Clone + Eq + Hash,
    M::Action: Serialize + DeserializeOwned,
{
    let mut actions = Vec::new();
    let mut per_init = Vec::new();
    for init in model.init_states() {
        let mut keys = BTreeSet::new();
        let mut seen = HashSet::from([init.clone()]);
        let mut frontier = VecDeque::from([init]);
        while let Some(state) = frontier.pop_front() {
            actions.clear();
            model.actions(&state, &mut actions);
            for action in actions.drain(..) {
                if let Some((outcome, next)) = model.step(&state, &action) {
                    keys.insert(coverage_key(model, &state, &action, &outcome));
                    if seen.insert(next.clone()) {
                        frontier.push_back(next);
                    }
                }
            }
        }
        per_init.push(keys);
    }
    per_init
}

/// The committed coverage traces of `area`, each run on `model` from the
/// initial state its file starts at: per initial state, the coverage keys
/// they take and the action kinds of their steps.
fn committed_coverage<M>(model: &M, area: &str) -> Vec<(BTreeSet<String>, BTreeSet<&'static str>)>
where
    M: TracedModel,
    M::State: Clone,
    M::Action: Serialize + DeserializeOwned,
{
    let inits = model.init_states();
    let mut per_init = vec![(BTreeSet::new(), BTreeSet::new()); inits.len()];
    let files = files_in(&root().join("traces").join(area));
    for (name, text) in files
        .iter()
        .filter(|(n, _)| n.starts_with("coverage-") && n.ends_with(".itf.json"))
    {
        let raw = parse_trace::<M::Action, M::Outcome>(Path::new(name), text)
            .unwrap_or_else(|e| panic!("{e}"));
        let slot = inits
            .iter()
            .position(|s| model.itf_vars(s) == raw.init_vars)
            .unwrap_or_else(|| panic!("{name} starts at no initial state"));
        let mut state = inits[slot].clone();
        for (i, step) in raw.steps.iter().enumerate() {
            let (outcome, next) = model
                .step(&state, &step.action)
                .unwrap_or_else(|| panic!("{name}: step {} is not enabled", i + 1));
            assert_eq!(outcome, step.outcome, "{name}: step {}", i + 1);
            per_init[slot]
                .0
                .insert(coverage_key(model, &state, &step.action, &outcome));
            per_init[slot].1.insert(M::action_kind(&step.action));
            state = next;
        }
    }
    per_init
}

/// Asserts that `A`'s committed coverage traces take, from each initial
/// state, every (action shape, outcome kind) pair reachable from it, and
/// that the generator counts exactly those pairs; returns the action kinds
/// taken from each initial state.
fn assert_coverage_takes_every_pair<A: ModelOf>() -> Vec<BTreeSet<&'static str>> {
    let model = A::model(None, false);
    let area = <A::Model as TracedModel>::AREA;
    let reachable = pairs_from_each_initial_state(&model);
    let committed = committed_coverage(&model, area);
    for (i, (keys, (taken, _))) in reachable.iter().zip(&committed).enumerate() {
        let missing: Vec<&String> = keys.difference(taken).collect();
        assert!(
            missing.is_empty(),
            "{area}: the coverage traces from initial state {} miss {} of its {} pairs: {missing:?}",
            i + 1,
            missing.len(),
            keys.len()
        );
    }
    let graph = StateGraph::explore(&model, 5_000_000, |_| {}).expect("within bounds");
    let count = generate::coverage(&model, &graph)
        .expect("every pair is taken")
        .count;
    let sizes: Vec<usize> = reachable.iter().map(BTreeSet::len).collect();
    assert_eq!(count.reachable, sizes, "{area}: the count is not the pairs");
    assert_eq!(count.covered, sizes, "{area}: {count}");
    committed.into_iter().map(|(_, kinds)| kinds).collect()
}

#[test]
fn network_coverage_takes_every_pair() {
    assert_coverage_takes_every_pair::<NetworkArea>();
}

#[test]
fn storage_coverage_takes_every_pair_of_both_scenarios() {
    let kinds = assert_coverage_takes_every_pair::<StorageArea>();
    assert_eq!(kinds.len(), 2, "storage has two scenarios");
    // The data scenario's own transitions, which coverage once never took.
    let data = &kinds[1];
    for kind in [
        "put",
        "replicate",
        "commit",
        "crash",
        "restart",
        "snapshot",
        "lease",
    ] {
        assert!(
            data.contains(kind),
            "storage coverage never takes {kind} in the data scenario: {data:?}"
        );
    }
}

#[test]
fn traces_generate_prints_the_pairs_reachable_and_taken() {
    let out = std::env::temp_dir().join(format!("fabric-generate-{}", std::process::id()));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fabric"))
        .args(["traces", "generate", "--model", "network", "--out"])
        .arg(&out)
        .output()
        .expect("fabric runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let model = NetworkArea::model(None, false);
    let pairs = pairs_from_each_initial_state(&model)[0].len();
    let coverage = files_in(&out.join("network"))
        .iter()
        .filter(|(n, _)| n.starts_with("coverage-") && n.ends_with(".itf.json"))
        .count();
    let line = format!(
        "network: {coverage} coverage traces take {pairs} of {pairs} (action shape, outcome kind) pairs"
    );
    assert!(stdout.lines().any(|l| l == line), "{stdout}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn every_trace_file_parses_with_the_itf_crate() {
    let dir = root().join("traces/network");
    let mut count = 0;
    for (name, text) in files_in(&dir)
        .into_iter()
        .filter(|(n, _)| n.ends_with(".itf.json"))
    {
        let trace =
            itf::trace_from_str::<NetworkVars>(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        for state in &trace.states {
            let vars = &state.value;
            assert_eq!(
                vars.placement.len(),
                4,
                "{name}: placement of every instance"
            );
            assert!(
                vars.filters.values().all(|per_app| per_app.len() == 2),
                "{name}: filters per app"
            );
            assert!(
                vars.moves <= 2
                    && vars.pending.iter().all(|h| *h < 2)
                    && vars.quarantine.len() <= 6
            );
            assert!(
                vars.conntrack.len() <= 2
                    && vars.broken.len() <= 15
                    && !vars.action_taken.is_empty()
            );
            assert!(
                vars.claims.iter().all(|c| c.starts_with("NET-")),
                "{name}: {:?}",
                vars.claims
            );
            let _ = (&vars.action, &vars.outcome);
        }
        assert!(trace.states.len() >= 2, "{name} has no step");
        assert_eq!(trace.meta.format.as_deref(), Some("ITF"));
        assert!(
            trace.meta.other.contains_key("claims"),
            "{name} names no claims"
        );
        count += 1;
    }
    assert!(
        count >= 17 + 3 + 7,
        "expected coverage, flaw and walk traces, found {count}"
    );
}

fn a_trace_text() -> String {
    std::fs::read_to_string(root().join("traces/network/coverage-01.itf.json"))
        .expect("coverage-01 exists")
}

#[test]
fn a_truncated_file_is_an_error_naming_file_and_position() {
    let text = a_trace_text();
    let truncated = &text[..text.len() / 2];
    let path = Path::new("traces/network/truncated.itf.json");
    let err =
        parse_trace::<Action, Outcome>(path, truncated).expect_err("truncated JSON is refused");
    assert!(matches!(err, TraceFileError::Json { line, column, .. } if line > 1 && column >= 1));
    let message = err.to_string();
    assert!(
        message.starts_with("traces/network/truncated.itf.json:"),
        "{message}"
    );
}

#[test]
fn a_malformed_step_is_an_error_naming_the_state() {
    let mut doc: serde_json::Value = serde_json::from_str(&a_trace_text()).expect("JSON");
    doc["states"][3]["action"] = serde_json::json!({ "Teleport": { "to": "Moon" } });
    let text = doc.to_string();
    let err = parse_trace::<Action, Outcome>(Path::new("x.itf.json"), &text)
        .expect_err("unknown action is refused");
    let message = err.to_string();
    assert!(
        message.contains("states[") && message.contains(".action"),
        "{message}"
    );
    for junk in ["", "[]", "{}", "{\"#meta\": {}}", "\u{0}"] {
        assert!(
            parse_trace::<Action, Outcome>(Path::new("junk"), junk).is_err(),
            "accepted {junk:?}"
        );
    }
}
