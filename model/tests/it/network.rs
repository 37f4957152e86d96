//! The network model: pinned state counts, every property holds without a
//! flaw, and every flaw breaks exactly the claims it names.

use fabric_model::network::{claim_of_property, Flaw, NetworkConfig, NetworkModel};
use fabric_model::ClaimSet;
use stateright::{Expectation, Model};

fn verdicts(model: NetworkModel) -> (ClaimSet, Vec<&'static str>, usize) {
    crate::verdicts(model, |name| claim_of_property(name).map(|c| c.number))
}

#[test]
fn default_bounds_pin_the_state_count() {
    let (_, _, unique) = verdicts(NetworkConfig::default().into_model());
    // A change here is a change of the state space: review it.
    assert_eq!(unique, 33_991);
}

#[test]
fn without_a_flaw_every_claim_holds_and_every_allowed_case_is_reached() {
    let (broken, unreached, _) = verdicts(NetworkConfig::default().into_model());
    assert!(
        broken.is_empty(),
        "broken without a flaw: {:?}",
        broken.numbers().collect::<Vec<_>>()
    );
    assert!(unreached.is_empty(), "never reached: {unreached:?}");
}

#[test]
fn every_flaw_breaks_exactly_the_claims_it_names() {
    for flaw in Flaw::ALL {
        let (broken, _, _) = verdicts(NetworkConfig::default().with_flaw(Some(flaw)).into_model());
        assert_eq!(
            broken.numbers().collect::<Vec<_>>(),
            flaw.breaks().numbers().collect::<Vec<_>>(),
            "flaw {flaw} breaks other claims than it names"
        );
    }
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
    let a = verdicts(NetworkConfig::default().into_model()).2;
    let b = verdicts(NetworkConfig::default().into_model()).2;
    assert_eq!(a, b);
}
