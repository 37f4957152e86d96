//! `fabric demo network`: a scripted tour of the rules, each attempt with
//! the verdict the script expects.

use super::{device_name, instance_name, push, runtime, start};
use anyhow::{Context, Result};
use fabric_impl::bugs::BugSet;
use fabric_impl::control::{
    ControlCaller, ControlError, Controller, Endpoint, HostileReply, RunningFabric,
};
use fabric_impl::net::{
    ports, Delivery, Denied, NodeId, Packet, RuleSet, Topology, VirtualNetwork, BROADCAST,
};
use fabric_model::network::DropReason;
use std::io::{self, Write};
use std::net::Ipv4Addr;

/// What happened to one step of the tour, or what its script expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Delivered, or accepted.
    Allowed,
    /// Refused by a rule, for the implementation's own typed reason.
    Denied(Denied),
    /// The FC rejected an FA's answer as untrusted: the controller's
    /// decision (`ControlError::UntrustedResponse`).
    AnswerRejected,
    /// Failed for a reason that is no rule's verdict (I/O, TLS, a timeout):
    /// never what the script expects.
    Failed,
}

impl Fate {
    /// The claims a refusal upholds, from the decision that made it: a
    /// denial's own ([`Denied::claims`]); for an answer the FC rejects, the
    /// model's claims of the refusal it predicts there
    /// ([`DropReason::UntrustedResponse`], onto which the conformance
    /// adapter maps that decision). None for an allowed step or a failure,
    /// which uphold nothing.
    pub fn claims(self) -> Vec<String> {
        match self {
            Fate::Denied(d) => d.claims().iter().map(|c| (*c).to_string()).collect(),
            Fate::AnswerRejected => DropReason::UntrustedResponse.claims().labels(),
            Fate::Allowed | Fate::Failed => Vec::new(),
        }
    }

    /// The fate of a control-plane call, from its result.
    fn of_control<T>(result: &Result<T, ControlError>) -> Fate {
        match result {
            Ok(_) => Fate::Allowed,
            Err(ControlError::Refused(d)) => Fate::Denied(*d),
            Err(ControlError::UntrustedResponse(_)) => Fate::AnswerRejected,
            Err(_) => Fate::Failed,
        }
    }
}

/// The exit code of a tour from each step's fate beside the script's
/// expectation: 0 when at least one step ran and every one went as
/// expected, 1 otherwise (a refusal where an allow was expected fails the
/// tour as much as the reverse).
pub fn verdict(steps: &[(Fate, Fate)]) -> i32 {
    let as_expected = steps.iter().all(|(fate, expect)| fate == expect);
    if !steps.is_empty() && as_expected {
        0
    } else {
        1
    }
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
// Over 100 lines: a flat table of the script's packets, one entry each.
#[allow(clippy::too_many_lines)]
fn first_packets(t: &Topology) -> Vec<Attempt> {
    use Denied::*;
    use Fate::{Allowed, Denied as Dropped};
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
            Dropped(VlanPolicy),
        ),
        open(
            "host 0 opens the switch's management port",
            h0,
            (t.hosts[0], t.devices[1].1, https),
            Dropped(VlanPolicy),
        ),
        open(
            "app0-web opens the power unit",
            web0,
            (dip(0), t.devices[0].1, https),
            Dropped(InfrastructureEndpoint),
        ),
        open(
            "app0-web sends with app1-web's source address",
            web0,
            (dip(2), dip(1), app),
            Dropped(SpoofedSource),
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
            Dropped(NotInAllowList),
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
            Dropped(OutboundNotAllowed),
        ),
        open(
            "app0-web broadcasts",
            web0,
            (dip(0), BROADCAST, app),
            Dropped(Broadcast),
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
            Dropped(RemoteAccessDisabled),
        ),
        open(
            "the Internet tries app0-worker's DIP",
            inet,
            (t.internet, dip(1), app),
            Dropped(NotExposed),
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
            Dropped(CorpAcl),
        ),
        open(
            "the Internet tries the load balancer's management port",
            inet,
            (t.internet, t.devices[2].1, https),
            Dropped(VlanPolicy),
        ),
    ]
}

/// The tour as it runs: the network, the numbered lines so far, and each
/// step's fate beside the script's expectation.
struct Tour<'a> {
    net: VirtualNetwork,
    shown: usize,
    steps: Vec<(Fate, Fate)>,
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

    /// Prints one numbered step: `allowed` with `detail` (what it reached),
    /// or `dropped` with the reason (a denial's words, else `detail`) and
    /// the claims its decision upholds ([`Fate::claims`]); and, when the
    /// fate is not the script's, what the script expected. Records both.
    fn report(&mut self, what: &str, (fate, expect): (Fate, Fate), detail: &str) -> io::Result<()> {
        self.shown += 1;
        self.steps.push((fate, expect));
        let mut line = match fate {
            Fate::Allowed => format!("allowed  {what}{detail}"),
            Fate::Denied(d) => format!("dropped  {what}: {}", reason(d)),
            Fate::AnswerRejected | Fate::Failed => format!("dropped  {what}: {detail}"),
        };
        let claims = fate.claims();
        if !claims.is_empty() {
            line.push_str(&format!(" [{}]", claims.join(", ")));
        }
        if fate != expect {
            let expected = match expect {
                Fate::Allowed => "allowed".to_string(),
                Fate::Denied(d) => format!("dropped: {}", reason(d)),
                Fate::AnswerRejected => "the answer rejected as untrusted".to_string(),
                Fate::Failed => "a failure".to_string(),
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
                self.report(a.what, (Fate::Allowed, a.expect), &detail)
            }
            Delivery::Dropped(d) => self.report(a.what, (Fate::Denied(d), a.expect), ""),
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
        steps: Vec::new(),
        out,
    };
    let rt = runtime()?;
    let fabric = start(&topology, &tour.net, &rt)?;
    let toured = tour_packets(&mut tour, &topology)
        .and_then(|()| tour_move(&mut tour, &topology, &rt, &fabric))
        .and_then(|()| tour_control(&mut tour, &rt, &fabric));
    rt.block_on(fabric.shutdown());
    toured?;
    let code = verdict(&tour.steps);
    if code != 0 {
        let unexpected = tour.steps.iter().filter(|(f, e)| f != e).count();
        writeln!(
            tour.out,
            "\n{unexpected} of {} steps did not go as the script expects",
            tour.steps.len()
        )?;
    }
    Ok(code)
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
        let detail = match &verdict {
            Ok(version) => format!(": the FC recorded version {version} for host 1"),
            Err(e) => e.to_string(),
        };
        tour.report(
            what,
            (Fate::of_control(&verdict), Fate::AnswerRejected),
            &detail,
        )?;
        controller.requeue_push(0, lists);
    }
    for h in 0..2u8 {
        if let Some(lists) = controller.take_push(h) {
            let applied = push(rt, fabric, &mut controller, h, &lists);
            match &applied {
                // An honest FA's acknowledgement is accepted: a step the
                // script expects, shown as what it did.
                Ok(version) => {
                    tour.steps.push((Fate::Allowed, Fate::Allowed));
                    writeln!(
                        tour.out,
                        "    FA on host {h} applied lists v{version} (over mutual TLS)"
                    )?;
                }
                Err(e) => tour.report(
                    &format!("the FC pushes to the FA on host {h}"),
                    (Fate::of_control(&applied), Fate::Allowed),
                    &format!("failed: {e}"),
                )?,
            }
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
    use Fate::{Allowed, Denied as Dropped};
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
            Dropped(Denied::UnauthenticatedPeer),
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
            Dropped(Denied::UnpinnedFingerprint),
        ),
    ];
    for (what, caller, endpoint, expect) in attempts {
        let sent = rt.block_on(fabric.send_control(caller, endpoint));
        let detail = match &sent {
            Ok(()) => String::new(),
            // A denial's words come from the reason; anything else is shown.
            Err(ControlError::Refused(_)) => String::new(),
            Err(e) => format!("failed: {e}"),
        };
        tour.report(what, (Fate::of_control(&sent), expect), &detail)?;
    }
    Ok(())
}
