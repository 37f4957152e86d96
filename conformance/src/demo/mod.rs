//! `fabric up` and `fabric demo network`: a fabric a person can watch.
//! What both share is here: names in words, the runtime, starting the
//! control plane, and the FC's push.

mod network;
mod up;

pub use network::{network, network_with, tour_topology, verdict, Fate};
pub use up::up;

use anyhow::{Context, Result};
use fabric_impl::bugs::BugSet;
use fabric_impl::control::{ControlError, Controller, FabricConfig, RunningFabric};
use fabric_impl::net::{DeviceKind, InstanceLists, Role, Topology, VirtualNetwork};

fn instance_name(topology: &Topology, i: u8) -> String {
    let (app, role) = topology.instances[usize::from(i)];
    let role = match role {
        Role::Web => "web",
        Role::Worker => "worker",
    };
    format!("app{app}-{role}")
}

fn device_name(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Power => "power unit",
        DeviceKind::Switch => "switch",
        DeviceKind::LoadBalancer => "load balancer",
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn start(
    topology: &Topology,
    net: &VirtualNetwork,
    rt: &tokio::runtime::Runtime,
) -> Result<RunningFabric> {
    let filters = (0..topology.hosts.len() as u8)
        .filter_map(|h| net.host_filters(h))
        .collect();
    rt.block_on(RunningFabric::start(
        FabricConfig::new(topology.clone()),
        filters,
    ))
    .context("cannot start the control plane")
}

/// The FC pushes `lists` to `host` over TLS and judges the answer with its
/// own decision function.
fn push(
    rt: &tokio::runtime::Runtime,
    fabric: &RunningFabric,
    fc: &mut Controller,
    host: u8,
    lists: &InstanceLists,
) -> Result<u64, ControlError> {
    let response = rt.block_on(fabric.deliver_push(host, lists))?;
    fc.accept_push_response(host, lists, &response, BugSet::NONE)
}
