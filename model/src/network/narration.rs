//! Plain words for an auditor: a step's sentence and the names of nodes.

use super::*;

impl NetworkModel {
    pub(super) fn narration(
        &self,
        before: &NetworkState,
        action: &Action,
        outcome: &Outcome,
    ) -> String {
        let what = Self::action_words(Some(before), action);
        let result = match outcome {
            Outcome::Delivered { to } => {
                let names: Vec<String> = to.iter().map(|n| node_name(*n)).collect();
                format!("delivered to {}", names.join(", "))
            }
            Outcome::Dropped { reason } => format!("dropped: {}", reason_words(*reason)),
            Outcome::Moved { dip } => format!("now at DIP {dip}"),
            Outcome::Applied => "the FC records the acknowledgement".to_string(),
            Outcome::Closed => "the router forgets it".to_string(),
            Outcome::Accepted => "accepted".to_string(),
            Outcome::Refused { reason } => format!("refused: {}", reason_words(*reason)),
        };
        format!("{what}: {result}")
    }

    /// What an action does, in words: read in `before` when given (a
    /// datagram's source is its own or forged, a move's old host), from the
    /// action alone otherwise (the explorer's action label).
    pub(super) fn action_words(before: Option<&NetworkState>, action: &Action) -> String {
        match *action {
            Action::Open { from, to, port } => format!(
                "{} opens {} to {}",
                node_name(from),
                port_name(port),
                addr_name(to)
            ),
            Action::Reply { conn } => format!(
                "{} replies on {}'s {} connection",
                addr_name(conn.target),
                node_name(conn.initiator),
                port_name(conn.port)
            ),
            Action::Close { conn } => format!(
                "{} closes its connection to {}",
                node_name(conn.initiator),
                addr_name(conn.target)
            ),
            Action::Datagram { vm, src, to } => {
                let own = before.map(|s| Addr::Dip(s.placement[usize::from(vm)].dip));
                let source = match own {
                    Some(own) if src == own => "its own source".to_string(),
                    Some(_) => format!("forged source {}", addr_name(src)),
                    None => format!("source {}", addr_name(src)),
                };
                format!(
                    "{} sends a datagram with {} to {}",
                    node_name(Node::Vm(vm)),
                    source,
                    addr_name(to)
                )
            }
            Action::Broadcast { from } => format!("{} broadcasts on its VLAN", node_name(from)),
            Action::Move { instance, to_host } => format!(
                "FC moves {} {}to host {} and pushes new instance lists",
                node_name(Node::Vm(instance)),
                before.map_or(String::new(), |s| format!(
                    "from host {} ",
                    s.placement[usize::from(instance)].host
                )),
                to_host
            ),
            Action::FaApply { host } => {
                format!("FA on host {host} applies the pushed instance lists and acknowledges")
            }
            Action::HostileResponse { host, forgery } => match forgery {
                Forgery::Garbage => {
                    format!("compromised FA on host {host} answers the push with garbage")
                }
                Forgery::AckForHost(g) => format!(
                    "compromised FA on host {host} answers the push with an acknowledgement for host {g}"
                ),
            },
            Action::Control {
                principal,
                endpoint,
            } => {
                format!(
                    "{} sends a control message to {}",
                    principal_name(principal),
                    endpoint_name(endpoint)
                )
            }
        }
    }
}

/// Why a packet or a control message was refused, in words.
pub(super) fn reason_words(reason: DropReason) -> &'static str {
    match reason {
        DropReason::VlanPolicy => "the VLAN policy forbids this direction",
        DropReason::ConntrackFull => "the router's connection table is full",
        DropReason::SpoofedSource => "the source address is not the sender's own",
        DropReason::InfrastructureEndpoint => "a guest may not address the infrastructure",
        DropReason::Broadcast => "no broadcast reaches or leaves a guest",
        DropReason::NotInAllowList => "the source is not on the receiver's allow list",
        DropReason::OutboundNotAllowed => {
            "the sender's application may not open connections to the Internet"
        }
        DropReason::InboundNotAllowed => "the receiver takes no connections from the Internet",
        DropReason::RemoteAccessDisabled => {
            "remote desktop, remote debugging and file sharing are off"
        }
        DropReason::NotExposed => "the edge exposes only VIPs, never a DIP",
        DropReason::CorpAcl => "the source is outside the corporate address ranges",
        DropReason::NoSuchAddress => "no node holds the address",
        DropReason::UnauthenticatedPeer => {
            "the client certificate does not chain to the fabric root"
        }
        DropReason::UnpinnedFingerprint => "the client certificate's fingerprint is not pinned",
        DropReason::UntrustedResponse => "the answer is malformed or names another host",
    }
}

/// A device's name: `power distribution unit`, `switch`, `load balancer`.
fn device_name(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Power => "power distribution unit",
        DeviceKind::Switch => "switch",
        DeviceKind::LoadBalancer => "load balancer",
    }
}

/// A node's name in narratives: `app0-web`, `host 1`, `FC 0`.
pub fn node_name(node: Node) -> String {
    match node {
        Node::Fc(n) => format!("FC {n}"),
        Node::Host(n) => format!("host {n}"),
        Node::Vm(i) => instance_name(i),
        Node::Device(k) => format!("the {}", device_name(k)),
        Node::Storage => "storage back end".into(),
        Node::Internet => "Internet".into(),
        Node::Corp => "corp".into(),
        Node::Mgmt => "management endpoint".into(),
    }
}

/// An instance's name: `app0-web`, `app1-worker`.
pub fn instance_name(i: u8) -> String {
    let role = match NetworkModel::role_of(i) {
        Role::Web => "web",
        Role::Worker => "worker",
    };
    format!("app{}-{role}", NetworkModel::app_of(i))
}

pub(super) fn addr_name(addr: Addr) -> String {
    match addr {
        Addr::Fc(n) => format!("FC {n}"),
        Addr::Host(n) => format!("host {n}"),
        Addr::Dip(d) => format!("DIP {d}"),
        Addr::Vip(a) => format!("VIP of app{a}"),
        Addr::Device(k) => format!("the {}", device_name(k)),
        Addr::Storage => "storage back end".into(),
        Addr::Internet => "Internet".into(),
        Addr::Corp => "corp".into(),
        Addr::Mgmt => "management endpoint".into(),
        Addr::Broadcast => "broadcast".into(),
    }
}

pub(super) fn port_name(port: Port) -> &'static str {
    match port {
        Port::Control => "control",
        Port::App => "app",
        Port::Https => "HTTPS",
        Port::RemoteDesktop => "remote desktop",
        Port::RemoteDebug => "remote debug",
        Port::FileShare => "file share",
    }
}

pub(super) fn principal_name(p: Principal) -> String {
    match p {
        Principal::Fc => "FC (root-chained certificate)".into(),
        Principal::Smapi => "SMAPI (pinned certificate)".into(),
        Principal::Admin => "admin (pinned certificate)".into(),
        Principal::RogueHost(h) => format!("rogue host {h} (unknown self-signed certificate)"),
    }
}

pub(super) fn endpoint_name(e: ControlEndpoint) -> String {
    match e {
        ControlEndpoint::Fa(h) => format!("FA on host {h}"),
        ControlEndpoint::FcSmapi => "FC SMAPI service".into(),
        ControlEndpoint::FcAdmin => "FC admin service".into(),
    }
}
