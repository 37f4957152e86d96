//! The storage adapter observes every model variable the service can show
//! (replicas, public level, stored policies, leases, keys) and compares all
//! of them: a change the trace does not have, in any of them, is a
//! departure. Before, policies, leases and keys were never read, so each
//! change below went unseen.

use fabric_conformance::areas::storage::StorageAdapter;
use fabric_conformance::replay::{covers, Adapter, Transport};
use fabric_impl::bugs::BugSet;
use fabric_model::storage::{
    Action, Authority, LeaseOp, Perms, Policy, Scenario, Slot, StorageConfig,
};
use fabric_model::TracedModel;
use serde_json::{Map, Value};
use stateright::Model;

/// The model's initial variables for `scenario`.
fn model_init(cfg: &StorageConfig, scenario: Scenario) -> Map<String, Value> {
    let model = cfg.clone().into_model();
    let init = model
        .init_states()
        .into_iter()
        .find(|s| s.scenario == scenario)
        .expect("an initial state per scenario");
    model.itf_vars(&init)
}

/// The names of the observed variables that `expected` does not cover.
fn differing(observed: &Map<String, Value>, expected: &Map<String, Value>) -> Vec<String> {
    observed
        .iter()
        .filter(|(name, value)| !covers(expected.get(*name).unwrap_or(&Value::Null), value))
        .map(|(name, _)| name.clone())
        .collect()
}

/// Sets up `scenario`, checks that the observation names every variable
/// the service shows and agrees with the model's initial state, then takes
/// `action` (which the trace does not have) and returns what then differs.
fn departs_after(scenario: Scenario, action: Action) -> Vec<String> {
    let cfg = StorageConfig::default();
    let expected = model_init(&cfg, scenario);
    let mut adapter = StorageAdapter::new(&cfg, scenario, BugSet::NONE, Transport::Inproc)
        .expect("the service starts");
    let observed = adapter.observe().expect("the service shows its state");
    let mut names: Vec<&str> = observed.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["keys", "leases", "policies", "public", "replicas"]);
    assert_eq!(differing(&observed, &expected), Vec::<String>::new());
    adapter.apply(&action).expect("the service takes the step");
    let after = adapter.observe().expect("the service shows its state");
    adapter.shutdown();
    differing(&after, &expected)
}

#[test]
fn a_key_the_trace_does_not_regenerate_is_seen() {
    let action = Action::RegenerateKey {
        slot: Slot::Secondary,
        by: Authority::Subscription,
    };
    assert_eq!(departs_after(Scenario::Access, action), ["keys"]);
}

#[test]
fn a_policy_the_trace_does_not_set_is_seen() {
    let action = Action::SetPolicy {
        id: 0,
        policy: Policy {
            perms: Perms::READ,
            expiry: 1,
        },
    };
    assert_eq!(departs_after(Scenario::Access, action), ["policies"]);
}

#[test]
fn a_lease_the_trace_does_not_take_is_seen() {
    // The Access scenario's blobs exist, each under lease 9.
    let action = Action::Lease {
        blob: 1,
        op: LeaseOp::Release { id: 9 },
    };
    assert_eq!(departs_after(Scenario::Access, action), ["leases"]);
}
