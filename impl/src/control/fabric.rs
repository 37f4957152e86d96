//! A running control plane on loopback: a fresh PKI, one FA server per host,
//! and the FC's SMAPI-facing and admin-facing servers, with the FC's (and
//! any other principal's) client side to drive them.

use super::agent::Agent;
pub use super::error::ControlError;
use super::hostile::{spawn_hostile_fa_server, HostileReply};
use super::identity::Identity;
use super::pki::{Credential, FabricPki, Fingerprint, FC_SERVER_NAME};
use super::service::{
    call, deliver_push, spawn_fa_server, spawn_fc_control_server, ServerHandle, ServerLimits,
    FA_SERVER_NAME,
};
use super::tls::{Refusal, ServerPolicy};
use super::wire::{quote_untrusted, AgentRequest, AgentResponse, ControlRequest, ControlResponse};
use crate::bugs::BugSet;
use crate::net::{HostId, InstanceLists, SharedFilters, Topology};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// How to start a fabric's control plane.
#[derive(Clone, Debug)]
pub struct FabricConfig {
    /// The layout: one FA per host; the FC replicas share the FC certificate.
    pub topology: Topology,
    /// Seeded bugs switched on.
    pub bugs: BugSet,
    /// The bound on each client call (connect, handshake, request, response), in milliseconds.
    pub timeout_ms: u64,
    /// How long a refused client waits for the server's recorded reason, in
    /// milliseconds. The server records it before it sends the alert, so
    /// this is only a safety margin.
    pub refusal_wait_ms: u64,
    /// The bounds of every server.
    pub limits: ServerLimits,
}

impl FabricConfig {
    /// Defaults for `topology`: no bugs, 5 s per call.
    pub fn new(topology: Topology) -> Self {
        FabricConfig {
            topology,
            bugs: BugSet::NONE,
            timeout_ms: 5_000,
            refusal_wait_ms: 1_000,
            limits: ServerLimits::default(),
        }
    }
}

/// Who is calling: whose credential a client presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ControlCaller {
    /// The FC (certificate chained to the fabric root).
    Fc,
    /// SMAPI (self-signed, pinned at the FC's SMAPI endpoint).
    Smapi,
    /// An administrator (self-signed, pinned at the FC's admin endpoint).
    Admin,
    /// An attacker with a self-signed certificate nobody pins.
    Rogue,
}

impl ControlCaller {
    /// Every principal.
    pub const ALL: [ControlCaller; 4] = [
        ControlCaller::Fc,
        ControlCaller::Smapi,
        ControlCaller::Admin,
        ControlCaller::Rogue,
    ];

    /// Who a server should authenticate it as; a rogue is nobody.
    pub fn identity(self) -> Option<Identity> {
        match self {
            ControlCaller::Fc => Some(Identity::Fc),
            ControlCaller::Smapi => Some(Identity::Smapi),
            ControlCaller::Admin => Some(Identity::Admin),
            ControlCaller::Rogue => None,
        }
    }
}

/// A control-plane server one can dial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Endpoint {
    /// The FA of a host.
    Fa(HostId),
    /// The FC's endpoint for SMAPI.
    FcSmapi,
    /// The FC's endpoint for administrators.
    FcAdmin,
}

/// A control plane running on 127.0.0.1.
#[derive(Debug)]
pub struct RunningFabric {
    config: FabricConfig,
    pki: FabricPki,
    fas: Vec<ServerHandle>,
    smapi: ServerHandle,
    admin: ServerHandle,
}

impl RunningFabric {
    /// Generates the PKI and starts one FA server per host (programming
    /// `filters[host]`, which the caller shares with its virtual network),
    /// and the FC's SMAPI and admin servers.
    pub async fn start(
        config: FabricConfig,
        filters: Vec<SharedFilters>,
    ) -> Result<RunningFabric, ControlError> {
        let hosts = config.topology.hosts.len();
        if filters.len() != hosts {
            return Err(ControlError::Config(format!(
                "{} filter sets for {hosts} hosts",
                filters.len()
            )));
        }
        if hosts > usize::from(HostId::MAX) + 1 {
            return Err(ControlError::Config(format!(
                "{hosts} hosts exceed the host id range"
            )));
        }
        let pki = FabricPki::generate(hosts)?;
        let mut fas = Vec::with_capacity(hosts);
        for (host, (filters, credential)) in
            (0..=HostId::MAX).zip(filters.into_iter().zip(pki.fas()))
        {
            let agent = Agent::new(host, filters, config.bugs);
            fas.push(spawn_fa_server(agent, credential, pki.root().clone(), config.limits).await?);
        }
        let pin = |c: &Credential, who| BTreeMap::from([(c.fingerprint(), who)]);
        let smapi =
            spawn_fc_control_server(pki.fc(), pin(pki.smapi(), Identity::Smapi), config.limits)
                .await?;
        let admin =
            spawn_fc_control_server(pki.fc(), pin(pki.admin(), Identity::Admin), config.limits)
                .await?;
        Ok(RunningFabric {
            config,
            pki,
            fas,
            smapi,
            admin,
        })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &FabricConfig {
        &self.config
    }

    /// Its certificates.
    pub fn pki(&self) -> &FabricPki {
        &self.pki
    }

    fn credential(&self, principal: ControlCaller) -> &Credential {
        match principal {
            ControlCaller::Fc => self.pki.fc(),
            ControlCaller::Smapi => self.pki.smapi(),
            ControlCaller::Admin => self.pki.admin(),
            ControlCaller::Rogue => self.pki.rogue(),
        }
    }

    fn server(&self, endpoint: Endpoint) -> Result<&ServerHandle, ControlError> {
        match endpoint {
            Endpoint::Fa(host) => self
                .fas
                .get(usize::from(host))
                .ok_or(ControlError::NoSuchHost(host)),
            Endpoint::FcSmapi => Ok(&self.smapi),
            Endpoint::FcAdmin => Ok(&self.admin),
        }
    }

    /// The address `endpoint` listens on.
    pub fn addr(&self, endpoint: Endpoint) -> Option<SocketAddr> {
        self.server(endpoint).ok().map(ServerHandle::addr)
    }

    /// The client certificates `endpoint` has refused so far.
    pub fn refusals(&self, endpoint: Endpoint) -> Vec<Refusal> {
        self.server(endpoint)
            .map(|s| s.refusals().entries())
            .unwrap_or_default()
    }

    /// Every endpoint, named, for printing.
    pub fn endpoints(&self) -> Vec<(String, SocketAddr)> {
        let mut out: Vec<_> = self
            .fas
            .iter()
            .enumerate()
            .map(|(h, s)| (format!("fa-{h}"), s.addr()))
            .collect();
        out.push(("fc-smapi".into(), self.smapi.addr()));
        out.push(("fc-admin".into(), self.admin.addr()));
        out
    }

    /// Every certificate's fingerprint, named, for printing and pinning.
    pub fn fingerprints(&self) -> Vec<(String, Fingerprint)> {
        let mut out = vec![
            ("root".to_string(), Fingerprint::of(self.pki.root())),
            ("fc".to_string(), self.pki.fc().fingerprint()),
        ];
        out.extend(
            self.pki
                .fas()
                .iter()
                .enumerate()
                .map(|(h, c)| (format!("fa-{h}"), c.fingerprint())),
        );
        out.push(("smapi".into(), self.pki.smapi().fingerprint()));
        out.push(("admin".into(), self.pki.admin().fingerprint()));
        out.push(("rogue".into(), self.pki.rogue().fingerprint()));
        out
    }

    /// The FC pushes `lists` to `host`'s FA over mutually authenticated TLS
    /// and returns the FA's answer as decoded, unjudged: the FC's decision
    /// about it is [`Controller::accept_push_response`], with `host` as the
    /// authenticated peer.
    ///
    /// [`Controller::accept_push_response`]: super::controller::Controller::accept_push_response
    pub async fn deliver_push(
        &self,
        host: HostId,
        lists: &InstanceLists,
    ) -> Result<AgentResponse, ControlError> {
        let server = self.server(Endpoint::Fa(host))?;
        let fa = self.pki.fa(host).ok_or(ControlError::NoSuchHost(host))?;
        let fc = self.pki.fc();
        let mark = server.refusals().mark();
        let result = deliver_push(
            server.addr(),
            &fa.fingerprint(),
            fc,
            lists,
            self.config.timeout_ms,
        )
        .await;
        self.explain(server, fc, mark, result).await
    }

    /// The FC pushes `lists` to a compromised FA of `host` and returns what
    /// the FC's client decoded of its answer.
    ///
    /// A one-off TLS server on 127.0.0.1 presents `host`'s real FA
    /// credential (the FA is compromised, so the FC's pin matches) and, as a
    /// real FA does, requires a client certificate chained to the fabric
    /// root. It reads the push and answers with `reply`: for
    /// [`HostileReply::Garbage`] a frame whose body is not JSON (a typed
    /// [`ControlError::Wire`] here), for [`HostileReply::AckForHost`]`(g)`
    /// `AgentResponse::Applied { host: g, version: lists.version }`. The FC dials
    /// it exactly as [`RunningFabric::deliver_push`] dials the real FA,
    /// within the configured timeout; the one-off server is shut down before
    /// this returns. Host `host`'s real FA is not touched.
    pub async fn deliver_push_to_hostile_fa(
        &self,
        host: HostId,
        lists: &InstanceLists,
        reply: HostileReply,
    ) -> Result<AgentResponse, ControlError> {
        let fa = self.pki.fa(host).ok_or(ControlError::NoSuchHost(host))?;
        let server = spawn_hostile_fa_server(
            reply,
            lists.version,
            fa,
            self.pki.root().clone(),
            self.config.bugs,
            self.config.limits,
        )
        .await?;
        let fc = self.pki.fc();
        let mark = server.refusals().mark();
        let result = deliver_push(
            server.addr(),
            &fa.fingerprint(),
            fc,
            lists,
            self.config.timeout_ms,
        )
        .await;
        let result = self.explain(&server, fc, mark, result).await;
        server.shutdown().await;
        result
    }

    /// `principal` connects to `endpoint` with its own credential and makes
    /// the simplest request there (Ping to an FA, Hello to the FC).
    ///
    /// A refused certificate gives [`ControlError::Refused`] with the reason
    /// the server recorded.
    pub async fn send_control(
        &self,
        principal: ControlCaller,
        endpoint: Endpoint,
    ) -> Result<(), ControlError> {
        let server = self.server(endpoint)?;
        let credential = self.credential(principal);
        let mark = server.refusals().mark();
        let timeout_ms = self.config.timeout_ms;
        let result = match endpoint {
            Endpoint::Fa(host) => {
                let fa = self.pki.fa(host).ok_or(ControlError::NoSuchHost(host))?;
                let policy = ServerPolicy::Pinned(fa.fingerprint());
                let response: Result<AgentResponse, _> = call(
                    server.addr(),
                    policy,
                    FA_SERVER_NAME,
                    credential,
                    &AgentRequest::Ping,
                    timeout_ms,
                )
                .await;
                response.and_then(|r| match r {
                    AgentResponse::Pong => Ok(()),
                    other => Err(unexpected(&other)),
                })
            }
            Endpoint::FcSmapi | Endpoint::FcAdmin => {
                let policy = ServerPolicy::ChainedToRoot {
                    root: self.pki.root().clone(),
                };
                let response: Result<ControlResponse, _> = call(
                    server.addr(),
                    policy,
                    FC_SERVER_NAME,
                    credential,
                    &ControlRequest::Hello,
                    timeout_ms,
                )
                .await;
                response.and_then(|r| match r {
                    ControlResponse::Accepted { identity }
                        if principal.identity().is_none_or(|i| i == identity) =>
                    {
                        Ok(())
                    }
                    other => Err(unexpected(&other)),
                })
            }
        };
        self.explain(server, credential, mark, result).await
    }

    /// Replaces a transport failure by the server's recorded refusal of
    /// `credential`, if the server recorded one since `mark`.
    async fn explain<T>(
        &self,
        server: &ServerHandle,
        credential: &Credential,
        mark: u64,
        result: Result<T, ControlError>,
    ) -> Result<T, ControlError> {
        match result {
            // Failures after a completed exchange, or our own refusal of the
            // server, are not the server refusing us: report them as they are.
            Ok(_)
            | Err(ControlError::UntrustedResponse(_))
            | Err(ControlError::ServerNotTrusted(_))
            | Err(ControlError::Config(_)) => result,
            Err(e) => {
                let fingerprint = credential.fingerprint();
                match server
                    .refusals()
                    .wait_for(&fingerprint, mark, self.config.refusal_wait_ms)
                    .await
                {
                    Some(reason) => Err(ControlError::Refused(reason)),
                    None => Err(e),
                }
            }
        }
    }

    /// Stops every server and waits for them.
    pub async fn shutdown(self) {
        for fa in self.fas {
            fa.shutdown().await;
        }
        self.smapi.shutdown().await;
        self.admin.shutdown().await;
    }
}

fn unexpected<T: std::fmt::Debug>(response: &T) -> ControlError {
    ControlError::UntrustedResponse(format!(
        "unexpected answer {}",
        quote_untrusted(&format!("{response:?}"))
    ))
}
