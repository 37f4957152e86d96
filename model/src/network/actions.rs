//! The actions: the candidates in a state (`step` decides which are
//! enabled), the packet an action sends, and an action's shape for coverage.

use super::*;

impl NetworkModel {
    pub(super) fn packet_for(&self, s: &NetworkState, action: &Action) -> Option<Packet> {
        match *action {
            Action::Open { from, to, port } => Some(Packet {
                sender: from,
                src: Self::addr_of(s, from),
                dst: to,
                port,
                reply: false,
            }),
            Action::Reply { conn } => {
                let responder = Self::resolve(s, conn.target)?;
                Some(Packet {
                    sender: responder,
                    src: conn.target,
                    dst: conn.src,
                    port: conn.port,
                    reply: true,
                })
            }
            Action::Datagram { vm, src, to } => Some(Packet {
                sender: Node::Vm(vm),
                src,
                dst: to,
                port: Port::App,
                reply: false,
            }),
            Action::Broadcast { from } => Some(Packet {
                sender: from,
                src: Self::addr_of(s, from),
                dst: Addr::Broadcast,
                port: Port::App,
                reply: false,
            }),
            _ => None,
        }
    }

    /// The candidate actions, enabled or not; `step` decides.
    pub(super) fn candidate_actions(&self, s: &NetworkState, out: &mut Vec<Action>) {
        self.infrastructure_opens(out);
        for x in 0..self.instances() {
            self.guest_actions(s, x, out);
        }
        self.outside_opens(s, out);
        self.control_plane_actions(s, out);
    }

    /// The FC's and the hosts' connections and broadcasts.
    fn infrastructure_opens(&self, out: &mut Vec<Action>) {
        let fc = Node::Fc(0);
        let open = |out: &mut Vec<Action>, from: Node, to: Addr, port: Port| {
            out.push(Action::Open { from, to, port })
        };
        for h in 0..self.cfg.hosts {
            open(out, fc, Addr::Host(h), Port::Control);
        }
        for k in DEVICES {
            open(out, fc, Addr::Device(k), Port::Https);
        }
        open(out, fc, Addr::Storage, Port::App);
        for h in 0..self.cfg.hosts {
            let host = Node::Host(h);
            for r in 0..self.cfg.fc_replicas {
                open(out, host, Addr::Fc(r), Port::Control);
            }
            open(out, host, Addr::Device(DeviceKind::Switch), Port::Https);
            open(out, host, Addr::Mgmt, Port::Https);
            out.push(Action::Broadcast { from: host });
        }
    }

    /// What guest VM `x` may try: connections, datagrams (forged or not), broadcast.
    fn guest_actions(&self, s: &NetworkState, x: u8, out: &mut Vec<Action>) {
        let instances = self.instances();
        let current = |i: u8| Addr::Dip(s.placement[usize::from(i)].dip);
        let open = |out: &mut Vec<Action>, from: Node, to: Addr, port: Port| {
            out.push(Action::Open { from, to, port })
        };
        let vm = Node::Vm(x);
        open(out, vm, Addr::Fc(0), Port::Control);
        open(
            out,
            vm,
            Addr::Host(s.placement[usize::from(x)].host),
            Port::Control,
        );
        open(out, vm, Addr::Storage, Port::App);
        open(out, vm, Addr::Device(DeviceKind::Power), Port::Https);
        open(out, vm, Addr::Internet, Port::App);
        open(out, vm, Addr::Mgmt, Port::Https);
        for a in 0..self.cfg.apps {
            open(out, vm, Addr::Vip(a), Port::App);
        }
        for y in (0..instances).filter(|y| *y != x) {
            open(out, vm, current(y), Port::App);
            if Self::app_of(y) == Self::app_of(x) {
                open(out, vm, current(y), Port::FileShare);
            }
            out.push(Action::Datagram {
                vm: x,
                src: current(x),
                to: current(y),
            });
            for z in (0..instances).filter(|z| *z != x) {
                out.push(Action::Datagram {
                    vm: x,
                    src: current(z),
                    to: current(y),
                });
            }
            out.push(Action::Datagram {
                vm: x,
                src: Addr::Fc(0),
                to: current(y),
            });
        }
        out.push(Action::Broadcast { from: vm });
    }

    /// The Internet's and the corporate network's connections, and the
    /// replies and closes of tracked connections.
    fn outside_opens(&self, s: &NetworkState, out: &mut Vec<Action>) {
        let instances = self.instances();
        let current = |i: u8| Addr::Dip(s.placement[usize::from(i)].dip);
        let open = |out: &mut Vec<Action>, from: Node, to: Addr, port: Port| {
            out.push(Action::Open { from, to, port })
        };
        let net = Node::Internet;
        for a in 0..self.cfg.apps {
            open(out, net, Addr::Vip(a), Port::App);
            open(out, net, Addr::Vip(a), Port::RemoteDesktop);
        }
        for y in 0..instances {
            open(out, net, current(y), Port::App);
            if Self::role_of(y) == Role::Web {
                open(out, net, current(y), Port::RemoteDebug);
            }
        }
        open(
            out,
            net,
            Addr::Device(DeviceKind::LoadBalancer),
            Port::Https,
        );
        open(out, net, Addr::Fc(0), Port::Control);
        open(out, net, Addr::Mgmt, Port::Https);
        open(out, Node::Corp, Addr::Mgmt, Port::Https);
        for conn in &s.conntrack {
            out.push(Action::Reply { conn: *conn });
            out.push(Action::Close { conn: *conn });
        }
    }

    /// Moves, FA applies and hostile answers, and control messages.
    fn control_plane_actions(&self, s: &NetworkState, out: &mut Vec<Action>) {
        let instances = self.instances();
        if s.moves < self.cfg.max_moves {
            for i in 0..instances {
                for h in (0..self.cfg.hosts).filter(|h| *h != s.placement[usize::from(i)].host) {
                    out.push(Action::Move {
                        instance: i,
                        to_host: h,
                    });
                }
            }
        }
        for h in 0..self.cfg.hosts {
            if s.pending[usize::from(h)].is_some() {
                out.push(Action::FaApply { host: h });
                out.push(Action::HostileResponse {
                    host: h,
                    forgery: Forgery::Garbage,
                });
                for g in (0..self.cfg.hosts).filter(|g| *g != h) {
                    out.push(Action::HostileResponse {
                        host: h,
                        forgery: Forgery::AckForHost(g),
                    });
                }
            }
        }
        let principals = [
            Principal::Fc,
            Principal::Smapi,
            Principal::Admin,
            Principal::RogueHost(0),
        ];
        let mut endpoints: Vec<ControlEndpoint> =
            (0..self.cfg.hosts).map(ControlEndpoint::Fa).collect();
        endpoints.extend([ControlEndpoint::FcSmapi, ControlEndpoint::FcAdmin]);
        for principal in principals {
            for endpoint in &endpoints {
                out.push(Action::Control {
                    principal,
                    endpoint: *endpoint,
                });
            }
        }
    }

    /// Whether every node, address and host that `action` names exists at
    /// these bounds; a decoded action that fails this is enabled nowhere.
    pub(super) fn in_bounds(&self, action: &Action) -> bool {
        let node = |n: Node| match n {
            Node::Fc(r) => r < self.cfg.fc_replicas,
            Node::Host(h) => h < self.cfg.hosts,
            Node::Vm(i) => i < self.instances(),
            Node::Device(_) | Node::Storage | Node::Internet | Node::Corp | Node::Mgmt => true,
        };
        let addr = |a: Addr| match a {
            Addr::Fc(r) => r < self.cfg.fc_replicas,
            Addr::Host(h) => h < self.cfg.hosts,
            Addr::Dip(d) => d < self.dips(),
            Addr::Vip(a) => a < self.cfg.apps,
            Addr::Device(_)
            | Addr::Storage
            | Addr::Internet
            | Addr::Corp
            | Addr::Mgmt
            | Addr::Broadcast => true,
        };
        let host = |h: u8| h < self.cfg.hosts;
        match *action {
            Action::Open { from, to, .. } => node(from) && addr(to),
            Action::Reply { conn } | Action::Close { conn } => {
                node(conn.initiator) && addr(conn.src) && addr(conn.target)
            }
            Action::Datagram { vm, src, to } => node(Node::Vm(vm)) && addr(src) && addr(to),
            Action::Broadcast { from } => node(from),
            Action::Move { instance, to_host } => node(Node::Vm(instance)) && host(to_host),
            Action::FaApply { host: h } => host(h),
            Action::HostileResponse { host: h, forgery } => {
                host(h)
                    && match forgery {
                        Forgery::AckForHost(g) => host(g),
                        Forgery::Garbage => true,
                    }
            }
            Action::Control {
                principal,
                endpoint,
            } => {
                let p = match principal {
                    Principal::RogueHost(h) => host(h),
                    Principal::Fc | Principal::Smapi | Principal::Admin => true,
                };
                let e = match endpoint {
                    ControlEndpoint::Fa(h) => host(h),
                    ControlEndpoint::FcSmapi | ControlEndpoint::FcAdmin => true,
                };
                p && e
            }
        }
    }

    pub(super) fn kind_of(action: &Action) -> &'static str {
        match action {
            Action::Open { .. } => "open",
            Action::Reply { .. } => "reply",
            Action::Close { .. } => "close",
            Action::Datagram { .. } => "datagram",
            Action::Broadcast { .. } => "broadcast",
            Action::Move { .. } => "move",
            Action::FaApply { .. } => "fa-apply",
            Action::HostileResponse { .. } => "hostile-response",
            Action::Control { .. } => "control",
        }
    }

    pub(super) fn shape_of(&self, s: &NetworkState, action: &Action) -> String {
        let node_class = |n: Node| match n {
            Node::Fc(_) => "fc",
            Node::Host(_) => "host",
            Node::Vm(i) if Self::role_of(i) == Role::Web => "web",
            Node::Vm(_) => "worker",
            Node::Device(_) => "device",
            Node::Storage => "storage",
            Node::Internet => "internet",
            Node::Corp => "corp",
            Node::Mgmt => "mgmt",
        };
        let addr_class = |from: Node, a: Addr| -> &'static str {
            let same_app =
                |y: u8| matches!(from, Node::Vm(x) if Self::app_of(x) == Self::app_of(y));
            match a {
                Addr::Fc(_) => "fc",
                Addr::Host(_) => "host",
                Addr::Dip(d) => match Self::owner_of(s, d) {
                    None => "free-dip",
                    Some(y) if same_app(y) => "peer-dip",
                    Some(y) if Self::role_of(y) == Role::Web => "web-dip",
                    Some(_) => "worker-dip",
                },
                Addr::Vip(a) if matches!(from, Node::Vm(x) if Self::app_of(x) == a) => "own-vip",
                Addr::Vip(_) => "vip",
                Addr::Device(_) => "device",
                Addr::Storage => "storage",
                Addr::Internet => "internet",
                Addr::Corp => "corp",
                Addr::Mgmt => "mgmt",
                Addr::Broadcast => "broadcast",
            }
        };
        match *action {
            Action::Open { from, to, port } => {
                format!(
                    "open {}->{} {}",
                    node_class(from),
                    addr_class(from, to),
                    port_name(port)
                )
            }
            Action::Reply { conn } => format!(
                "reply {}->{}",
                addr_class(conn.initiator, conn.target),
                node_class(conn.initiator)
            ),
            Action::Close { .. } => "close".into(),
            Action::Datagram { vm, src, to } => {
                let from = Node::Vm(vm);
                let source = if src == Self::addr_of(s, from) {
                    "own".to_string()
                } else {
                    format!("forged-{}", addr_class(from, src))
                };
                format!(
                    "datagram {} src={} ->{}",
                    node_class(from),
                    source,
                    addr_class(from, to)
                )
            }
            Action::Broadcast { from } => format!("broadcast {}", node_class(from)),
            Action::Move { .. } => "move".into(),
            Action::FaApply { .. } => "fa-apply".into(),
            Action::HostileResponse { forgery, .. } => match forgery {
                Forgery::Garbage => "hostile-response garbage".into(),
                Forgery::AckForHost(_) => "hostile-response ack-for-other-host".into(),
            },
            Action::Control {
                principal,
                endpoint,
            } => {
                let p = match principal {
                    Principal::Fc => "fc",
                    Principal::Smapi => "smapi",
                    Principal::Admin => "admin",
                    Principal::RogueHost(_) => "rogue",
                };
                let e = match endpoint {
                    ControlEndpoint::Fa(_) => "fa",
                    ControlEndpoint::FcSmapi => "fc-smapi",
                    ControlEndpoint::FcAdmin => "fc-admin",
                };
                format!("control {p}->{e}")
            }
        }
    }
}
