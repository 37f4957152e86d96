//! The storage model: pinned state counts, every property holds without a
//! flaw, and every flaw breaks exactly the claims it names.

use fabric_model::kit::{self, AreaContract, Verdicts};
use fabric_model::storage::{Flaw, StorageConfig, StorageModel, STORAGE_CLAIMS};
use stateright::Model;

fn verdicts(model: StorageModel) -> Verdicts {
    kit::verdicts(model)
}

#[test]
fn the_area_contract_holds() {
    AreaContract {
        build: |flaw| StorageConfig::default().with_flaw(flaw).into_model(),
        claims: STORAGE_CLAIMS,
        // A change here is a change of the state space: review it.
        states: 141_906,
        judge: fabric_model::storage::judged,
    }
    .check();
}

#[test]
fn flaw_names_round_trip() {
    for flaw in Flaw::ALL {
        assert_eq!(Flaw::from_name(flaw.name()), Some(flaw));
    }
    assert_eq!(Flaw::from_name("no-such-flaw"), None);
}

#[test]
fn bounds_lines_round_trip() {
    use fabric_model::TracedModel;
    for cfg in [StorageConfig::default(), StorageConfig::deep()] {
        let line = cfg.clone().into_model().bounds_line();
        assert_eq!(StorageConfig::from_bounds_line(&line), Ok(cfg));
    }
    assert!(StorageConfig::from_bounds_line("max_puts=9").is_err());
    assert!(StorageConfig::from_bounds_line("policy_ids=6").is_err());
    assert!(StorageConfig::from_bounds_line("replicas=4").is_err());
}

#[test]
fn the_model_is_deterministic() {
    let a = verdicts(StorageConfig::default().into_model()).unique_states;
    let b = verdicts(StorageConfig::default().into_model()).unique_states;
    assert_eq!(a, b);
}

#[test]
fn actions_and_outcomes_round_trip_through_json() {
    use fabric_model::storage::{Action, Outcome, Policy, POLICY_MENU};
    use fabric_model::TracedModel;
    let model = StorageConfig::default().into_model();
    let mut seen = 0;
    for s in model.init_states() {
        let mut actions = Vec::new();
        model.actions(&s, &mut actions);
        for a in actions {
            let Some((outcome, _)) = model.step(&s, &a) else {
                continue;
            };
            let text = serde_json::to_string(&a).expect("action serializes");
            assert_eq!(serde_json::from_str::<Action>(&text).expect("parses"), a);
            let text = serde_json::to_string(&outcome).expect("outcome serializes");
            assert_eq!(
                serde_json::from_str::<Outcome>(&text).expect("parses"),
                outcome
            );
            assert!(!model.narrate(&s, &a, &outcome).is_empty());
            seen += 1;
        }
        let vars = model.itf_vars(&s);
        assert!(vars.contains_key("broken") && vars.contains_key("replicas"));
    }
    assert!(seen > 0);
    let text = serde_json::to_string(&POLICY_MENU[0]).expect("policy serializes");
    assert_eq!(text, r#"{"perms":"rl","expiry":255}"#);
    assert_eq!(
        serde_json::from_str::<Policy>(&text).expect("parses"),
        POLICY_MENU[0]
    );
}

#[test]
fn the_two_scenarios_start_apart() {
    use fabric_model::storage::Scenario;
    let model = StorageConfig::default().into_model();
    let scenarios: Vec<Scenario> = model.init_states().iter().map(|s| s.scenario).collect();
    assert_eq!(scenarios, [Scenario::Access, Scenario::Data]);
}

#[test]
fn an_action_naming_a_party_outside_the_bounds_is_not_enabled_and_does_not_panic() {
    use fabric_model::storage::{
        Action, Caller, Content, LeaseOp, Outcome, Policy, SasGrant, Slot, POLICY_MENU,
    };
    use fabric_model::TracedModel;
    let model = StorageConfig::default().into_model();
    let far = Caller::Client(99);
    let policy: Policy = POLICY_MENU[0];
    let actions = [
        Action::Switch {
            client: 99,
            slot: Slot::Secondary,
        },
        Action::IssueSas {
            grant: SasGrant::StoredPolicy(99),
        },
        Action::SetPolicy { id: 99, policy },
        Action::RemovePolicy { id: 99 },
        Action::Put {
            caller: Caller::Client(0),
            blob: 99,
            content: Content::Bytes,
            lease: None,
        },
        Action::Put {
            caller: far,
            blob: 0,
            content: Content::Bytes,
            lease: None,
        },
        Action::Get {
            caller: Caller::Client(0),
            blob: 99,
            snapshot: false,
            replica: 0,
        },
        Action::Get {
            caller: Caller::Client(0),
            blob: 0,
            snapshot: true,
            replica: 99,
        },
        Action::List {
            caller: far,
            replica: 99,
        },
        Action::Delete {
            caller: Caller::Client(0),
            blob: 99,
            lease: None,
        },
        Action::Snapshot {
            caller: Caller::Client(0),
            blob: 99,
        },
        Action::Lease {
            blob: 99,
            op: LeaseOp::Break,
        },
        Action::Replicate { replica: 99 },
        Action::Crash { replica: 99 },
        Action::Restart { replica: 99 },
    ];
    let outcome = Outcome::Listed { blobs: vec![99] };
    for s in model.init_states() {
        for a in actions {
            assert_eq!(model.step(&s, &a), None, "{a:?} is enabled");
            assert_eq!(model.next_state(&s, a), None);
            // What replay reads of a decoded step answers without panicking.
            let _ = model.action_shape(&s, &a);
            let _ = model.narrate(&s, &a, &outcome);
            let _ = model.claims_touched(&s, &a, &outcome);
        }
    }
}

#[test]
fn labels_and_narratives_are_words() {
    for flaw in std::iter::once(None).chain(Flaw::ALL.map(Some)) {
        let model = StorageConfig::default().with_flaw(flaw).into_model();
        crate::assert_words_only(&model, 3_000);
    }
}
