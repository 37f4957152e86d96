//! The network model: pinned state counts, every property holds without a
//! flaw, and every flaw breaks exactly the claims it names.

use fabric_model::kit::{self, AreaContract, Verdicts};
use fabric_model::network::{claim_of_property, Flaw, NetworkConfig, NetworkModel};
use stateright::{Expectation, Model};

fn verdicts(model: NetworkModel) -> Verdicts {
    kit::verdicts(model, |name| claim_of_property(name).map(|c| c.number))
}

#[test]
fn the_area_contract_holds() {
    AreaContract {
        build: |flaw| NetworkConfig::default().with_flaw(flaw).into_model(),
        claim_number: |name| claim_of_property(name).map(|c| c.number),
        label: |n| format!("NET-{n}"),
        // A change here is a change of the state space: review it.
        states: 33_991,
    }
    .check();
}

#[test]
fn every_claim_has_a_flaw_that_breaks_it_and_a_property_pair() {
    let properties = NetworkConfig::default().into_model().properties();
    for n in 1..=15u8 {
        assert!(
            Flaw::ALL.iter().any(|f| f.breaks().contains(n)),
            "NET-{n} has no flaw"
        );
        let named: Vec<_> = properties
            .iter()
            .filter(|p| claim_of_property(p.name).map(|c| c.number) == Some(n))
            .collect();
        assert_eq!(named.len(), 2, "NET-{n} needs one always and one sometimes");
        assert!(named.iter().any(|p| p.expectation == Expectation::Always));
        assert!(named
            .iter()
            .any(|p| p.expectation == Expectation::Sometimes));
    }
}

#[test]
fn flaw_names_round_trip() {
    for flaw in Flaw::ALL {
        assert_eq!(Flaw::from_name(flaw.name()), Some(flaw));
    }
    assert_eq!(Flaw::from_name("no-such-flaw"), None);
}

#[test]
fn the_model_is_deterministic() {
    let a = verdicts(NetworkConfig::default().into_model()).unique_states;
    let b = verdicts(NetworkConfig::default().into_model()).unique_states;
    assert_eq!(a, b);
}
