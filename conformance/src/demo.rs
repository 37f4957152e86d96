//! `fabric up` and `fabric demo network`: a fabric a person can watch.

use anyhow::{Context, Result};
use fabric_impl::bugs::BugSet;
use fabric_impl::control::{
    ControlCaller, ControlError, Controller, Endpoint, FabricConfig, HostileReply, RunningFabric,
};
use fabric_impl::net::InstanceLists;
use fabric_impl::net::{
    ports, Delivery, NodeId, Packet, RuleSet, Topology, VirtualNetwork, BROADCAST,
};
use std::time::Duration;

fn instance_name(topology: &Topology, i: u8) -> String {
    let (app, role) = topology.instances[usize::from(i)];
    format!("app{app}-{}", format!("{role:?}").to_lowercase())
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

/// `fabric up`: starts FAs and the FC's services on loopback, prints the
/// topology, pushes the instance lists once, and runs until Ctrl-C (or
/// `for_secs`).
pub fn up(hosts: u8, apps: u8, for_secs: Option<u64>) -> Result<i32> {
    anyhow::ensure!((1..=16).contains(&hosts), "--hosts must be 1 to 16");
    anyhow::ensure!((1..=6).contains(&apps), "--apps must be 1 to 6");
    let topology = Topology::example(2, hosts, apps, 2);
    let net = VirtualNetwork::new(topology.clone(), RuleSet::for_topology(&topology, 64));
    let rt = runtime()?;
    let fabric = start(&topology, &net, &rt)?;
    println!(
        "fabric up: {} FC replicas, {hosts} hosts, {apps} applications",
        topology.fc.len()
    );
    println!("\nvirtual network (userspace switch; these addresses never leave the process):");
    for (i, ip) in topology.fc.iter().enumerate() {
        println!("  FC {i:<12} {ip:<16} FC VLAN");
    }
    for (h, ip) in topology.hosts.iter().enumerate() {
        println!("  host {h:<10} {ip:<16} main VLAN (root OS and FA)");
    }
    for (i, (host, ip)) in topology.initial_placement.iter().enumerate() {
        println!(
            "  {:<15} {ip:<16} main VLAN, on host {host}",
            instance_name(&topology, i as u8)
        );
    }
    for (a, vip) in topology.vips.iter().enumerate() {
        let p = topology.apps[a];
        println!(
            "  VIP of app{a:<6} {vip:<16} edge (outbound Internet: {}, inbound: {})",
            p.outbound_internet, p.inbound_internet
        );
    }
    for (kind, ip) in &topology.devices {
        println!("  {:<15} {ip:<16} device VLAN", format!("{kind:?}"));
    }
    println!(
        "  {:<15} {:<16} behind the corporate ACL",
        "management", topology.mgmt
    );
    println!("\ncontrol plane (mutually authenticated TLS on loopback):");
    for (name, addr) in fabric.endpoints() {
        let label = match name.strip_prefix("fa-") {
            Some(h) => format!("FA on host {h}"),
            None => name.clone(),
        };
        println!("  {label:<15} {addr}");
    }
    println!("\ncertificates (sha256 fingerprints; FC chained to the root, the others pinned):");
    for (name, fp) in fabric.fingerprints() {
        println!("  {name:<15} sha256:{fp}");
    }
    let storage_data =
        std::env::temp_dir().join(format!("fabric-up-storage-{}", std::process::id()));
    let token = crate::serve::random_token();
    let storage = std::sync::Arc::new(crate::serve::open_service(
        storage_data.clone(),
        &[],
        &token,
    )?);
    let storage_server = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        fabric_impl::storage::http::StorageServer::start(listener, std::sync::Arc::clone(&storage))
    });
    let storage_server = storage_server.context("cannot start the storage service")?;
    println!(
        "\nstorage (Azure Blob REST, path-style; three replicas under {}):",
        storage_data.display()
    );
    crate::serve::print_endpoints(
        &storage,
        &format!("http://{}", storage_server.local_addr),
        &token,
    );
    let mut fc = Controller::new(topology.clone());
    let lists = fc.lists();
    println!();
    for h in 0..hosts {
        match push(&rt, &fabric, &mut fc, h, &lists) {
            Ok(v) => println!("FC pushed instance lists v{v} to the FA on host {h}: applied"),
            Err(e) => println!("FC push to the FA on host {h} failed: {e}"),
        }
    }
    match for_secs {
        Some(secs) => {
            println!("\nrunning for {secs} s");
            std::thread::sleep(Duration::from_secs(secs));
        }
        None => {
            println!("\nrunning; press Ctrl-C to stop");
            rt.block_on(tokio::signal::ctrl_c())
                .context("cannot wait for Ctrl-C")?;
        }
    }
    rt.block_on(storage_server.shutdown());
    rt.block_on(fabric.shutdown());
    drop(storage);
    let _ = std::fs::remove_dir_all(&storage_data);
    println!("fabric stopped");
    Ok(0)
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

struct Tour {
    net: VirtualNetwork,
    shown: usize,
}

impl Tour {
    fn node_name(&self, n: NodeId) -> String {
        match n {
            NodeId::Vm(i) => instance_name(self.net.topology(), i),
            NodeId::Fc(i) => format!("FC {i}"),
            NodeId::Host(h) => format!("host {h}"),
            other => format!("{other:?}").to_lowercase(),
        }
    }

    fn send(&mut self, what: &str, sender: NodeId, pkt: Packet, claims: &[&str]) {
        self.shown += 1;
        let line = match self.net.send(sender, pkt) {
            Delivery::Delivered(to) => {
                let names: Vec<String> = to.iter().map(|n| self.node_name(*n)).collect();
                format!(
                    "allowed  {what}: delivered to {} [{}]",
                    names.join(", "),
                    claims.join(", ")
                )
            }
            Delivery::Dropped(d) => {
                format!("dropped  {what}: {d:?} ({d}) [{}]", d.claims().join(", "))
            }
        };
        println!("{:>2}. {line}", self.shown);
    }
}

/// `fabric demo network`: a scripted tour of the rules on an in-process
/// virtual network, with the control plane over real TLS.
pub fn network() -> Result<i32> {
    let topology = Topology::example(2, 2, 2, 2);
    let t = topology.clone();
    let mut tour = Tour {
        net: VirtualNetwork::new(topology.clone(), RuleSet::for_topology(&topology, 64)),
        shown: 0,
    };
    let rt = runtime()?;
    let fabric = start(&topology, &tour.net, &rt)?;
    let dip = |i: usize| t.initial_placement[i].1;
    let (fc, h0, web0, worker0, web1) = (
        NodeId::Fc(0),
        NodeId::Host(0),
        NodeId::Vm(0),
        NodeId::Vm(1),
        NodeId::Vm(2),
    );
    println!(
        "A tour of the virtual network: each attempt, its verdict, and the claims at stake.\n"
    );
    tour.send(
        "FC 0 opens the FA control port on host 0",
        fc,
        Packet {
            src: t.fc[0],
            dst: t.hosts[0],
            dst_port: ports::CONTROL,
            reply: false,
        },
        &["NET-1"],
    );
    tour.send(
        "host 0 replies to the FC",
        h0,
        Packet {
            src: t.hosts[0],
            dst: t.fc[0],
            dst_port: ports::CONTROL,
            reply: true,
        },
        &["NET-1", "NET-3"],
    );
    tour.send(
        "host 0 opens a connection to FC 0",
        h0,
        Packet {
            src: t.hosts[0],
            dst: t.fc[0],
            dst_port: ports::CONTROL,
            reply: false,
        },
        &["NET-1", "NET-3"],
    );
    tour.send(
        "host 0 opens the switch's management port",
        h0,
        Packet {
            src: t.hosts[0],
            dst: t.devices[1].1,
            dst_port: ports::HTTPS,
            reply: false,
        },
        &["NET-2"],
    );
    tour.send(
        "app0-web opens the power unit",
        web0,
        Packet {
            src: dip(0),
            dst: t.devices[0].1,
            dst_port: ports::HTTPS,
            reply: false,
        },
        &["NET-6"],
    );
    tour.send(
        "app0-web sends with app1-web's source address",
        web0,
        Packet {
            src: dip(2),
            dst: dip(1),
            dst_port: ports::APP,
            reply: false,
        },
        &["NET-4"],
    );
    tour.send(
        "app0-web talks to app0-worker",
        web0,
        Packet {
            src: dip(0),
            dst: dip(1),
            dst_port: ports::APP,
            reply: false,
        },
        &["NET-4", "NET-5", "NET-8"],
    );
    tour.send(
        "app1-web talks straight to app0-worker's DIP",
        web1,
        Packet {
            src: dip(2),
            dst: dip(1),
            dst_port: ports::APP,
            reply: false,
        },
        &["NET-8", "NET-9"],
    );
    tour.send(
        "app0-web reaches app1 through its VIP",
        web0,
        Packet {
            src: dip(0),
            dst: t.vips[1],
            dst_port: ports::APP,
            reply: false,
        },
        &["NET-9"],
    );
    tour.send(
        "app1-web (no outbound Internet) tries app0's VIP",
        web1,
        Packet {
            src: dip(2),
            dst: t.vips[0],
            dst_port: ports::APP,
            reply: false,
        },
        &["NET-9"],
    );
    tour.send(
        "app0-web broadcasts",
        web0,
        Packet {
            src: dip(0),
            dst: BROADCAST,
            dst_port: ports::APP,
            reply: false,
        },
        &["NET-7"],
    );
    tour.send(
        "the Internet reaches app0's VIP",
        NodeId::Internet,
        Packet {
            src: t.internet,
            dst: t.vips[0],
            dst_port: ports::APP,
            reply: false,
        },
        &["NET-10", "NET-11"],
    );
    tour.send(
        "the Internet opens remote desktop on app0's VIP",
        NodeId::Internet,
        Packet {
            src: t.internet,
            dst: t.vips[0],
            dst_port: ports::RDP,
            reply: false,
        },
        &["NET-10"],
    );
    tour.send(
        "the Internet tries app0-worker's DIP",
        NodeId::Internet,
        Packet {
            src: t.internet,
            dst: dip(1),
            dst_port: ports::APP,
            reply: false,
        },
        &["NET-11"],
    );
    tour.send(
        "corp reaches the management endpoint",
        NodeId::Corp,
        Packet {
            src: t.corp,
            dst: t.mgmt,
            dst_port: ports::HTTPS,
            reply: false,
        },
        &["NET-12"],
    );
    tour.send(
        "the Internet tries the management endpoint",
        NodeId::Internet,
        Packet {
            src: t.internet,
            dst: t.mgmt,
            dst_port: ports::HTTPS,
            reply: false,
        },
        &["NET-12"],
    );
    tour.send(
        "the Internet tries the load balancer's management port",
        NodeId::Internet,
        Packet {
            src: t.internet,
            dst: t.devices[2].1,
            dst_port: ports::HTTPS,
            reply: false,
        },
        &["NET-13"],
    );

    println!("\nThe FC moves app0-worker to host 0 and pushes new instance lists over TLS:\n");
    let mut controller = Controller::new(topology.clone());
    let new_ip = controller.move_instance(1, 0).context("the move")?;
    tour.net.attach(1, 0, new_ip);
    println!(
        "    app0-worker now at {new_ip} on host 0; its old DIP {} is quarantined",
        dip(1)
    );
    tour.send(
        "app0-web talks to app0-worker before host 0's FA applied",
        web0,
        Packet {
            src: dip(0),
            dst: new_ip,
            dst_port: ports::APP,
            reply: false,
        },
        &["NET-8"],
    );
    if let Some(lists) = controller.take_push(0) {
        // A compromised FA on host 0 answers for host 1: the FC believes only
        // the peer it authenticated.
        tour.shown += 1;
        let what = "a compromised FA on host 0 acknowledges the push for host 1";
        let hostile = HostileReply::AckForHost(1);
        let verdict = rt
            .block_on(fabric.deliver_push_to_hostile_fa(0, &lists, hostile))
            .and_then(|r| controller.accept_push_response(0, &lists, &r, BugSet::NONE));
        match verdict {
            Ok(_) => println!("{:>2}. allowed  {what} [NET-15]", tour.shown),
            Err(e) => println!("{:>2}. dropped  {what}: {e} [NET-15]", tour.shown),
        }
        controller.requeue_push(0, lists);
    }
    for h in 0..2u8 {
        if let Some(lists) = controller.take_push(h) {
            let version =
                push(&rt, &fabric, &mut controller, h, &lists).context("push over TLS")?;
            println!("    FA on host {h} applied lists v{version} (over mutual TLS)");
        }
    }
    tour.send(
        "app0-worker talks to app0-web after the FAs applied",
        worker0,
        Packet {
            src: new_ip,
            dst: dip(0),
            dst_port: ports::APP,
            reply: false,
        },
        &["NET-8"],
    );

    println!("\nControl messages over mutually authenticated TLS:\n");
    let attempts = [
        (
            "the FC commands the FA on host 0",
            ControlCaller::Fc,
            Endpoint::Fa(0),
        ),
        (
            "a rogue host commands the FA on host 0",
            ControlCaller::Rogue,
            Endpoint::Fa(0),
        ),
        (
            "SMAPI calls the FC",
            ControlCaller::Smapi,
            Endpoint::FcSmapi,
        ),
        (
            "SMAPI calls the FC's admin service",
            ControlCaller::Smapi,
            Endpoint::FcAdmin,
        ),
    ];
    for (what, principal, endpoint) in attempts {
        tour.shown += 1;
        let line = match rt.block_on(fabric.send_control(principal, endpoint)) {
            Ok(()) => format!("allowed  {what} [NET-14]"),
            Err(ControlError::Refused(d)) => format!("dropped  {what}: {d:?} ({d}) [NET-14]"),
            Err(e) => format!("error    {what}: {e}"),
        };
        println!("{:>2}. {line}", tour.shown);
    }
    rt.block_on(fabric.shutdown());
    Ok(0)
}
