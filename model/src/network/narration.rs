//! Plain words for an auditor: a step's sentence and the names of nodes.

use super::*;

impl NetworkModel {
    pub(super) fn narration(
        &self,
        before: &NetworkState,
        action: &Action,
        outcome: &Outcome,
    ) -> String {
        let what = match *action {
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
                let own = Addr::Dip(before.placement[usize::from(vm)].dip);
                let source = if src == own {
                    "its own source".to_string()
                } else {
                    format!("forged source {}", addr_name(src))
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
                "FC moves {} from host {} to host {} and pushes new instance lists",
                node_name(Node::Vm(instance)),
                before.placement[usize::from(instance)].host,
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
        };
        let result = match outcome {
            Outcome::Delivered { to } => {
                let names: Vec<String> = to.iter().map(|n| node_name(*n)).collect();
                format!("delivered to {}", names.join(", "))
            }
            Outcome::Dropped { reason } => format!("dropped ({reason:?})"),
            Outcome::Moved { dip } => format!("now at DIP {dip}"),
            Outcome::Applied => "the FC records the acknowledgement".to_string(),
            Outcome::Closed => "the router forgets it".to_string(),
            Outcome::Accepted => "accepted".to_string(),
            Outcome::Refused { reason } => format!("refused ({reason:?})"),
        };
        format!("{what}: {result}")
    }
}

/// A node's name in narratives: `app0-web`, `host 1`, `FC 0`.
pub fn node_name(node: Node) -> String {
    match node {
        Node::Fc(n) => format!("FC {n}"),
        Node::Host(n) => format!("host {n}"),
        Node::Vm(i) => instance_name(i),
        Node::Device(k) => format!("device {k:?}"),
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
        Addr::Device(k) => format!("device {k:?}"),
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
