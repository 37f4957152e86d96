//! The trace files: regenerated they equal what is on disk, every one parses
//! with the `itf` crate, narratives are snapshots, and bad files give errors
//! that say where.

use crate::{files_in, root};
use fabric_conformance::areas::network::network_traces;
use fabric_conformance::itf::{parse_trace, TraceFileError};
use fabric_model::network::{Action, Outcome};
use std::collections::{BTreeMap, BTreeSet};
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
