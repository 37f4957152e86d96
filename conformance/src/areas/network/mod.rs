//! The network area: model actions carried out on the implementation's
//! virtual network and control plane ([`adapter`]), over one of two control
//! transports ([`transport`]), and the implementation's state read back in
//! model terms.

pub mod adapter;
pub mod transport;

pub use adapter::{port_number, reason_to_model, rules_for, topology_for, NetworkAdapter};
pub use transport::{credential_of, policy_of, Answer, ControlTransport, InProcess, Wire};

use super::area::AreaAdapter;
use super::kit;
use crate::itf::{read_trace, RawTrace};
use crate::replay::{replay, AdapterError, ReplayError, ReplayReport, Transport};
use fabric_impl::bugs::BugSet;
use fabric_model::network::{Action, Flaw, NetworkConfig, NetworkModel, Outcome};
use std::path::Path;

/// The network-isolation area (NET-1 to NET-15).
pub struct NetworkArea;

impl kit::ModelOf for NetworkArea {
    type Model = NetworkModel;
    type Flaw = Flaw;

    fn model(flaw: Option<Flaw>, deep: bool) -> NetworkModel {
        let cfg = if deep {
            NetworkConfig::deep()
        } else {
            NetworkConfig::default()
        };
        cfg.with_flaw(flaw).into_model()
    }
}

impl AreaAdapter for NetworkArea {
    fn replay_trace_file(
        &self,
        path: &Path,
        transport: Transport,
        bugs: BugSet,
    ) -> anyhow::Result<ReplayReport> {
        replay_network_file(path, transport, bugs)
    }
}

/// Every network trace, named: coverage, a counterexample per flaw, walks.
pub fn network_traces(
    progress: &mut dyn FnMut(String),
) -> anyhow::Result<kit::NamedTraces<NetworkModel>> {
    kit::traces::<NetworkArea>(progress)
}

/// Replays a network trace read from a file.
pub fn replay_network_file(
    path: &Path,
    transport: Transport,
    bugs: BugSet,
) -> anyhow::Result<ReplayReport> {
    let raw = read_trace::<Action, Outcome>(path)?;
    Ok(replay_network_trace(&raw, transport, bugs)?)
}

/// Replays a network trace against a fresh implementation with `bugs`.
pub fn replay_network_trace(
    raw: &RawTrace<Action, Outcome>,
    transport: Transport,
    bugs: BugSet,
) -> Result<ReplayReport, ReplayError> {
    let meta_error = |message: String| ReplayError::Meta {
        path: raw.path.clone(),
        message,
    };
    if raw.meta.model != "network" {
        return Err(meta_error(format!(
            "not a network trace but {:?}",
            raw.meta.model
        )));
    }
    let cfg = NetworkConfig::from_bounds_line(&raw.meta.bounds).map_err(meta_error)?;
    let flaw = match &raw.meta.flaw {
        None => None,
        Some(name) => Some(
            Flaw::from_name(name).ok_or_else(|| meta_error(format!("unknown flaw {name:?}")))?,
        ),
    };
    let model = cfg.clone().with_flaw(flaw).into_model();
    let correct = cfg.clone().into_model();
    let adapter_error = |source: AdapterError| ReplayError::Adapter {
        path: raw.path.clone(),
        step: 0,
        source,
    };
    match transport {
        Transport::Inproc => {
            let mut adapter =
                NetworkAdapter::new(&cfg, bugs, InProcess::new).map_err(adapter_error)?;
            replay(&model, &correct, raw, &mut adapter)
        }
        Transport::Wire => {
            let mut adapter =
                NetworkAdapter::new(&cfg, bugs, Wire::start).map_err(adapter_error)?;
            let report = replay(&model, &correct, raw, &mut adapter);
            adapter.transport_mut().shutdown();
            report
        }
    }
}
