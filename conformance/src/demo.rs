//! `fabric up` and `fabric demo network`: a fabric a person can watch.

use anyhow::{Context, Result};
use fabric_impl::bugs::BugSet;
use fabric_impl::control::{
    ControlCaller, ControlError, Controller, Endpoint, FabricConfig, HostileReply, RunningFabric,
};
use fabric_impl::net::InstanceLists;
use fabric_impl::net::{
    ports, Delivery, Denied, DeviceKind, NodeId, Packet, Role, RuleSet, Topology, VirtualNetwork,
    BROADCAST,
};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::time::Duration;

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

/// What happened to one attempt of the tour, or what its script expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Delivered, or accepted.
    Allowed,
    /// Refused, for this typed reason when there is one.
    Dropped(Option<Denied>),
}

/// A denial's words without the claim IDs its message ends with; the tour
/// prints those once, from [`Denied::claims`].
fn reason(d: Denied) -> String {
    let text = d.to_string();
    let tag = format!(" ({})", d.claims().join(", "));
    match text.strip_suffix(&tag) {
        Some(words) => words.to_string(),
        None => text,
    }
}

/// One packet of the script: who sends what, and the verdict it expects.
struct Attempt {
    what: &'static str,
    sender: NodeId,
    packet: Packet,
    expect: Fate,
}

/// A new connection from `sender` (writing `src`) to `dst:port`.
fn open(
    what: &'static str,
    sender: NodeId,
    (src, dst, port): (Ipv4Addr, Ipv4Addr, u16),
    expect: Fate,
) -> Attempt {
    let packet = Packet {
        src,
        dst,
        dst_port: port,
        reply: false,
    };
    Attempt {
        what,
        sender,
        packet,
        expect,
    }
}

/// The tour's first part: packets through the virtual network, each with
/// the verdict the rules should give it.
fn first_packets(t: &Topology) -> Vec<Attempt> {
    use Denied::*;
    use Fate::{Allowed, Dropped};
    let dip = |i: usize| t.initial_placement[i].1;
    let (fc, h0, web0, web1) = (NodeId::Fc(0), NodeId::Host(0), NodeId::Vm(0), NodeId::Vm(2));
    let (inet, app, https) = (NodeId::Internet, ports::APP, ports::HTTPS);
    let mut reply = open(
        "host 0 replies to the FC",
        h0,
        (t.hosts[0], t.fc[0], ports::CONTROL),
        Allowed,
    );
    reply.packet.reply = true;
    vec![
        open(
            "FC 0 opens the FA control port on host 0",
            fc,
            (t.fc[0], t.hosts[0], ports::CONTROL),
            Allowed,
        ),
        reply,
        open(
            "host 0 opens a connection to FC 0",
            h0,
            (t.hosts[0], t.fc[0], ports::CONTROL),
            Dropped(Some(VlanPolicy)),
        ),
        open(
            "host 0 opens the switch's management port",
            h0,
            (t.hosts[0], t.devices[1].1, https),
            Dropped(Some(VlanPolicy)),
        ),
        open(
            "app0-web opens the power unit",
            web0,
            (dip(0), t.devices[0].1, https),
            Dropped(Some(InfrastructureEndpoint)),
        ),
        open(
            "app0-web sends with app1-web's source address",
            web0,
            (dip(2), dip(1), app),
            Dropped(Some(SpoofedSource)),
        ),
        open(
            "app0-web talks to app0-worker",
            web0,
            (dip(0), dip(1), app),
            Allowed,
        ),
        open(
            "app1-web talks straight to app0-worker's DIP",
            web1,
            (dip(2), dip(1), app),
            Dropped(Some(NotInAllowList)),
        ),
        open(
            "app0-web reaches app1 through its VIP",
            web0,
            (dip(0), t.vips[1], app),
            Allowed,
        ),
        open(
            "app1-web (no outbound Internet) tries app0's VIP",
            web1,
            (dip(2), t.vips[0], app),
            Dropped(Some(OutboundNotAllowed)),
        ),
        open(
            "app0-web broadcasts",
            web0,
            (dip(0), BROADCAST, app),
            Dropped(Some(Broadcast)),
        ),
        open(
            "the Internet reaches app0's VIP",
            inet,
            (t.internet, t.vips[0], app),
            Allowed,
        ),
        open(
            "the Internet opens remote desktop on app0's VIP",
            inet,
            (t.internet, t.vips[0], ports::RDP),
            Dropped(Some(RemoteAccessDisabled)),
        ),
        open(
            "the Internet tries app0-worker's DIP",
            inet,
            (t.internet, dip(1), app),
            Dropped(Some(NotExposed)),
        ),
        open(
            "corp reaches the management endpoint",
            NodeId::Corp,
            (t.corp, t.mgmt, https),
            Allowed,
        ),
        open(
            "the Internet tries the management endpoint",
            inet,
            (t.internet, t.mgmt, https),
            Dropped(Some(CorpAcl)),
        ),
        open(
            "the Internet tries the load balancer's management port",
            inet,
            (t.internet, t.devices[2].1, https),
            Dropped(Some(VlanPolicy)),
        ),
    ]
}

/// The tour as it runs: the network, the numbered lines so far, and how
/// many verdicts differed from the script.
struct Tour<'a> {
    net: VirtualNetwork,
    shown: usize,
    unexpected: usize,
    out: &'a mut dyn Write,
}

impl Tour<'_> {
    fn node_name(&self, n: NodeId) -> String {
        match n {
            NodeId::Vm(i) => instance_name(self.net.topology(), i),
            NodeId::Fc(i) => format!("FC {i}"),
            NodeId::Host(h) => format!("host {h}"),
            NodeId::Device(kind) => format!("the {}", device_name(kind)),
            NodeId::Storage => "storage".into(),
            NodeId::Internet => "the Internet".into(),
            NodeId::Corp => "corp".into(),
            NodeId::Mgmt => "the management endpoint".into(),
        }
    }

    /// Prints one numbered attempt: `allowed` with `detail` (what it
    /// reached), or `dropped` with the reason and the claims it upholds
    /// (from a typed denial, else `claims`); and, when the verdict is not
    /// the script's, what the script expected.
    fn report(
        &mut self,
        what: &str,
        (fate, expect): (Fate, Fate),
        detail: &str,
        claims: &[&str],
    ) -> io::Result<()> {
        self.shown += 1;
        let mut line = match fate {
            Fate::Allowed => format!("allowed  {what}{detail}"),
            Fate::Dropped(d) => {
                let (words, claims) = match d {
                    Some(d) => (reason(d), d.claims()),
                    None => (detail.to_string(), claims),
                };
                let mut line = format!("dropped  {what}: {words}");
                if !claims.is_empty() {
                    line.push_str(&format!(" [{}]", claims.join(", ")));
                }
                line
            }
        };
        if fate != expect {
            self.unexpected += 1;
            let expected = match expect {
                Fate::Allowed => "allowed".to_string(),
                Fate::Dropped(Some(d)) => format!("dropped: {}", reason(d)),
                Fate::Dropped(None) => "dropped".to_string(),
            };
            line.push_str(&format!("  <- UNEXPECTED: the script expects {expected}"));
        }
        writeln!(self.out, "{:>2}. {line}", self.shown)
    }

    /// Sends one scripted packet and reports its verdict.
    fn send(&mut self, a: &Attempt) -> io::Result<()> {
        match self.net.send(a.sender, a.packet) {
            Delivery::Delivered(to) => {
                let names: Vec<String> = to.iter().map(|n| self.node_name(*n)).collect();
                let detail = format!(": delivered to {}", names.join(", "));
                self.report(a.what, (Fate::Allowed, a.expect), &detail, &[])
            }
            Delivery::Dropped(d) => {
                self.report(a.what, (Fate::Dropped(Some(d)), a.expect), "", &[])
            }
        }
    }
}

/// The topology `fabric demo network` tours: two FC replicas, two hosts,
/// two applications of a web and a worker instance each.
pub fn tour_topology() -> Topology {
    Topology::example(2, 2, 2, 2)
}

/// `fabric demo network`: a scripted tour of the rules on an in-process
/// virtual network, with the control plane over real TLS; 1 when a verdict
/// is not the one the script expects.
pub fn network() -> Result<i32> {
    let topology = tour_topology();
    let rules = RuleSet::for_topology(&topology, 64);
    network_with(rules, &mut io::stdout())
}

/// [`network`] with the virtual network enforcing `rules` (made for
/// [`tour_topology`]), printing to `out`: 0 when every verdict is the
/// script's, 1 otherwise.
pub fn network_with(rules: RuleSet, out: &mut dyn Write) -> Result<i32> {
    let topology = tour_topology();
    let mut tour = Tour {
        net: VirtualNetwork::new(topology.clone(), rules),
        shown: 0,
        unexpected: 0,
        out,
    };
    let rt = runtime()?;
    let fabric = start(&topology, &tour.net, &rt)?;
    let toured = tour_packets(&mut tour, &topology)
        .and_then(|()| tour_move(&mut tour, &topology, &rt, &fabric))
        .and_then(|()| tour_control(&mut tour, &rt, &fabric));
    rt.block_on(fabric.shutdown());
    toured?;
    if tour.unexpected > 0 {
        writeln!(
            tour.out,
            "\n{} of {} verdicts are not the ones the script expects",
            tour.unexpected, tour.shown
        )?;
        return Ok(1);
    }
    Ok(0)
}

/// The tour's first part: packets through the virtual network.
fn tour_packets(tour: &mut Tour<'_>, topology: &Topology) -> Result<()> {
    writeln!(
        tour.out,
        "A tour of the virtual network: each attempt and its verdict; a refusal \
         says why and names the claims it upholds.\n"
    )?;
    for attempt in first_packets(topology) {
        tour.send(&attempt)?;
    }
    Ok(())
}

/// The tour's second part: the FC moves an instance, a compromised FA lies
/// about the push, the honest FAs apply it.
fn tour_move(
    tour: &mut Tour<'_>,
    t: &Topology,
    rt: &tokio::runtime::Runtime,
    fabric: &RunningFabric,
) -> Result<()> {
    let dip = |i: usize| t.initial_placement[i].1;
    let (web0, worker0) = (NodeId::Vm(0), NodeId::Vm(1));
    writeln!(
        tour.out,
        "\nThe FC moves app0-worker to host 0 and pushes new instance lists over TLS:\n"
    )?;
    let mut controller = Controller::new(t.clone());
    let new_ip = controller.move_instance(1, 0).context("the move")?;
    tour.net.attach(1, 0, new_ip);
    writeln!(
        tour.out,
        "    app0-worker now at {new_ip} on host 0; its old DIP {} is quarantined",
        dip(1)
    )?;
    tour.send(&open(
        "app0-web talks to app0-worker before host 0's FA applied",
        web0,
        (dip(0), new_ip, ports::APP),
        Fate::Allowed,
    ))?;
    if let Some(lists) = controller.take_push(0) {
        // A compromised FA on host 0 answers for host 1: the FC believes only
        // the peer it authenticated.
        let what = "a compromised FA on host 0 acknowledges the push for host 1";
        let hostile = HostileReply::AckForHost(1);
        let verdict = rt
            .block_on(fabric.deliver_push_to_hostile_fa(0, &lists, hostile))
            .and_then(|r| controller.accept_push_response(0, &lists, &r, BugSet::NONE));
        let expect = Fate::Dropped(None);
        match verdict {
            Ok(_) => tour.report(what, (Fate::Allowed, expect), "", &[])?,
            Err(e) => tour.report(
                what,
                (Fate::Dropped(None), expect),
                &e.to_string(),
                &["NET-15"],
            )?,
        }
        controller.requeue_push(0, lists);
    }
    for h in 0..2u8 {
        if let Some(lists) = controller.take_push(h) {
            let version = push(rt, fabric, &mut controller, h, &lists).context("push over TLS")?;
            writeln!(
                tour.out,
                "    FA on host {h} applied lists v{version} (over mutual TLS)"
            )?;
        }
    }
    tour.send(&open(
        "app0-worker talks to app0-web after the FAs applied",
        worker0,
        (new_ip, dip(0), ports::APP),
        Fate::Allowed,
    ))?;
    Ok(())
}

/// The tour's last part: control messages over mutually authenticated TLS,
/// from callers the FA and the FC should and should not accept.
fn tour_control(
    tour: &mut Tour<'_>,
    rt: &tokio::runtime::Runtime,
    fabric: &RunningFabric,
) -> Result<()> {
    use Fate::{Allowed, Dropped};
    writeln!(
        tour.out,
        "\nControl messages over mutually authenticated TLS:\n"
    )?;
    let attempts = [
        (
            "the FC commands the FA on host 0",
            ControlCaller::Fc,
            Endpoint::Fa(0),
            Allowed,
        ),
        (
            "a rogue host commands the FA on host 0",
            ControlCaller::Rogue,
            Endpoint::Fa(0),
            Dropped(Some(Denied::UnauthenticatedPeer)),
        ),
        (
            "SMAPI calls the FC",
            ControlCaller::Smapi,
            Endpoint::FcSmapi,
            Allowed,
        ),
        (
            "SMAPI calls the FC's admin service",
            ControlCaller::Smapi,
            Endpoint::FcAdmin,
            Dropped(Some(Denied::UnpinnedFingerprint)),
        ),
    ];
    for (what, caller, endpoint, expect) in attempts {
        match rt.block_on(fabric.send_control(caller, endpoint)) {
            Ok(()) => tour.report(what, (Allowed, expect), "", &[])?,
            Err(ControlError::Refused(d)) => {
                tour.report(what, (Dropped(Some(d)), expect), "", &[])?
            }
            // Not a refusal by the rules: a failure, never what the script expects.
            Err(e) => tour.report(what, (Dropped(None), expect), &format!("failed: {e}"), &[])?,
        }
    }
    Ok(())
}
