//! `fabric up`: a fabric on loopback, and its topology in aligned tables.

use super::{device_name, instance_name, push, runtime, start};
use anyhow::{Context, Result};
use fabric_impl::control::{Controller, RunningFabric};
use fabric_impl::net::{RuleSet, Topology, VirtualNetwork};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::time::Duration;

/// Writes `rows` indented by two spaces, every column but the last padded
/// to its longest entry, two spaces apart.
fn write_table(out: &mut dyn Write, rows: &[Vec<String>]) -> io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::from(" ");
        for (c, cell) in row.iter().enumerate() {
            line.push(' ');
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$} ", w = widths[c]));
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The virtual network's nodes, a row each: name, address, where.
fn network_rows(topology: &Topology) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row =
        |name: String, ip: Ipv4Addr, place: String| rows.push(vec![name, ip.to_string(), place]);
    for (i, ip) in topology.fc.iter().enumerate() {
        row(format!("FC {i}"), *ip, "FC VLAN".into());
    }
    for (h, ip) in topology.hosts.iter().enumerate() {
        row(
            format!("host {h}"),
            *ip,
            "main VLAN (root OS and FA)".into(),
        );
    }
    for (i, (host, ip)) in topology.initial_placement.iter().enumerate() {
        let name = instance_name(topology, i as u8);
        row(name, *ip, format!("main VLAN, on host {host}"));
    }
    for (a, vip) in topology.vips.iter().enumerate() {
        let p = topology.apps[a];
        let place = format!(
            "edge (outbound Internet: {}, inbound: {})",
            p.outbound_internet, p.inbound_internet
        );
        row(format!("VIP of app{a}"), *vip, place);
    }
    for (kind, ip) in &topology.devices {
        row(device_name(*kind).into(), *ip, "device VLAN".into());
    }
    row(
        "management".into(),
        topology.mgmt,
        "behind the corporate ACL".into(),
    );
    rows
}

/// Prints what `fabric up` started: the virtual network, the control
/// plane's endpoints and certificates, and the storage service.
fn print_topology(
    out: &mut dyn Write,
    topology: &Topology,
    fabric: &RunningFabric,
    storage: (&fabric_impl::storage::service::StorageService, &str, &str),
    storage_data: &std::path::Path,
) -> io::Result<()> {
    writeln!(
        out,
        "\nvirtual network (userspace switch; these addresses never leave the process):"
    )?;
    write_table(out, &network_rows(topology))?;
    writeln!(
        out,
        "\ncontrol plane (mutually authenticated TLS on loopback):"
    )?;
    let endpoints: Vec<Vec<String>> = fabric
        .endpoints()
        .into_iter()
        .map(|(name, addr)| {
            let label = match name.strip_prefix("fa-") {
                Some(h) => format!("FA on host {h}"),
                None => name,
            };
            vec![label, addr.to_string()]
        })
        .collect();
    write_table(out, &endpoints)?;
    writeln!(
        out,
        "\ncertificates (sha256 fingerprints; FC chained to the root, the others pinned):"
    )?;
    let fingerprints: Vec<Vec<String>> = fabric
        .fingerprints()
        .into_iter()
        .map(|(name, fp)| vec![name, format!("sha256:{fp}")])
        .collect();
    write_table(out, &fingerprints)?;
    writeln!(
        out,
        "\nstorage (Azure Blob REST, path-style; three replicas under {}):",
        storage_data.display()
    )?;
    let (service, endpoint, token) = storage;
    crate::serve::print_endpoints(out, service, endpoint, token)
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
    let mut out = io::stdout();
    writeln!(
        out,
        "fabric up: {} FC replicas, {hosts} hosts, {apps} applications",
        topology.fc.len()
    )?;
    let fabric = start(&topology, &net, &rt)?;
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
    let endpoint = format!("http://{}", storage_server.local_addr);
    // A failure to print (standard output closed) still stops the services.
    let ran = print_topology(
        &mut out,
        &topology,
        &fabric,
        (&storage, &endpoint, &token),
        &storage_data,
    )
    .map_err(anyhow::Error::from)
    .and_then(|()| push_and_wait(&mut out, &rt, &fabric, &topology, for_secs));
    rt.block_on(storage_server.shutdown());
    rt.block_on(fabric.shutdown());
    drop(storage);
    let _ = std::fs::remove_dir_all(&storage_data);
    ran?;
    writeln!(out, "fabric stopped")?;
    Ok(0)
}

/// `fabric up`'s second half: the FC pushes the instance lists to every FA
/// once, then the fabric runs for `for_secs` or until Ctrl-C.
fn push_and_wait(
    out: &mut dyn Write,
    rt: &tokio::runtime::Runtime,
    fabric: &RunningFabric,
    topology: &Topology,
    for_secs: Option<u64>,
) -> Result<()> {
    let mut fc = Controller::new(topology.clone());
    let lists = fc.lists();
    writeln!(out)?;
    for h in 0..topology.hosts.len() as u8 {
        match push(rt, fabric, &mut fc, h, &lists) {
            Ok(v) => writeln!(
                out,
                "FC pushed instance lists v{v} to the FA on host {h}: applied"
            )?,
            Err(e) => writeln!(out, "FC push to the FA on host {h} failed: {e}")?,
        }
    }
    match for_secs {
        Some(secs) => {
            writeln!(out, "\nrunning for {secs} s")?;
            std::thread::sleep(Duration::from_secs(secs));
        }
        None => {
            writeln!(out, "\nrunning; press Ctrl-C to stop")?;
            rt.block_on(tokio::signal::ctrl_c())
                .context("cannot wait for Ctrl-C")?;
        }
    }
    Ok(())
}
