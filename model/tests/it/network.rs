//! The network model: pinned state counts, every property holds without a
//! flaw, and every flaw breaks exactly the claims it names.

use fabric_model::kit::{self, AreaContract, Verdicts};
use fabric_model::network::{Flaw, NetworkConfig, NetworkModel, NETWORK_CLAIMS};
use stateright::Model;

fn verdicts(model: NetworkModel) -> Verdicts {
    kit::verdicts(model)
}

#[test]
fn the_area_contract_holds() {
    AreaContract {
        build: |flaw| NetworkConfig::default().with_flaw(flaw).into_model(),
        claims: NETWORK_CLAIMS,
        // A change here is a change of the state space: review it.
        states: 37_728,
        judge: fabric_model::network::judged,
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
fn the_model_is_deterministic() {
    let a = verdicts(NetworkConfig::default().into_model()).unique_states;
    let b = verdicts(NetworkConfig::default().into_model()).unique_states;
    assert_eq!(a, b);
}

#[test]
fn an_action_naming_a_party_outside_the_bounds_is_not_enabled_and_does_not_panic() {
    use fabric_model::network::{
        Action, Addr, Conn, ControlEndpoint, Forgery, Node, Outcome, Port, Principal,
    };
    use fabric_model::TracedModel;
    let model = NetworkConfig::default().into_model();
    let s = model.init_states().remove(0);
    let conn = Conn {
        initiator: Node::Vm(99),
        src: Addr::Dip(99),
        target: Addr::Vip(99),
        port: Port::App,
    };
    let actions = [
        Action::Open {
            from: Node::Vm(99),
            to: Addr::Internet,
            port: Port::App,
        },
        Action::Open {
            from: Node::Fc(0),
            to: Addr::Dip(99),
            port: Port::App,
        },
        Action::Open {
            from: Node::Internet,
            to: Addr::Vip(99),
            port: Port::App,
        },
        Action::Open {
            from: Node::Host(99),
            to: Addr::Fc(0),
            port: Port::Control,
        },
        Action::Reply { conn },
        Action::Close { conn },
        Action::Datagram {
            vm: 99,
            src: Addr::Dip(0),
            to: Addr::Dip(1),
        },
        Action::Datagram {
            vm: 0,
            src: Addr::Dip(99),
            to: Addr::Dip(1),
        },
        Action::Broadcast { from: Node::Vm(99) },
        Action::Move {
            instance: 99,
            to_host: 1,
        },
        Action::Move {
            instance: 0,
            to_host: 99,
        },
        Action::FaApply { host: 99 },
        Action::HostileResponse {
            host: 99,
            forgery: Forgery::Garbage,
        },
        Action::HostileResponse {
            host: 0,
            forgery: Forgery::AckForHost(99),
        },
        Action::Control {
            principal: Principal::RogueHost(99),
            endpoint: ControlEndpoint::Fa(0),
        },
        Action::Control {
            principal: Principal::Fc,
            endpoint: ControlEndpoint::Fa(99),
        },
    ];
    let outcome = Outcome::Delivered {
        to: vec![Node::Vm(99)],
    };
    for a in actions {
        assert_eq!(model.step(&s, &a), None, "{a:?} is enabled");
        assert_eq!(model.next_state(&s, a), None);
        // What replay reads of a decoded step answers without panicking.
        let _ = model.action_shape(&s, &a);
        let _ = model.narrate(&s, &a, &outcome);
        let _ = model.claims_touched(&s, &a, &outcome);
    }
}

#[test]
fn labels_and_narratives_are_words() {
    for flaw in std::iter::once(None).chain(Flaw::ALL.map(Some)) {
        let model = NetworkConfig::default().with_flaw(flaw).into_model();
        crate::assert_words_only(&model, 1_000);
    }
}
