//! How the network adapter's control messages travel between FC and FA: in
//! this process ([`InProcess`]), or over mutually authenticated TLS on
//! loopback ([`Wire`]).

use crate::replay::AdapterError;
use fabric_impl::bugs::BugSet;
use fabric_impl::control::agent::Agent;
use fabric_impl::control::auth::{authenticate_client, ClientPolicy};
use fabric_impl::control::identity::Identity;
use fabric_impl::control::pki::{Credential, FabricPki};
use fabric_impl::control::wire::{self, AgentRequest, AgentResponse};
use fabric_impl::control::{
    ControlCaller, ControlError, Endpoint, FabricConfig, HostileReply, RunningFabric,
};
use fabric_impl::net::{self as inet, Denied, VirtualNetwork};
use fabric_model::network::Forgery;
use fabric_model::network::{ControlEndpoint, Principal};
use rustls::pki_types::UnixTime;
use std::sync::OnceLock;

/// How control messages travel between FC and FA.
pub trait ControlTransport {
    /// Delivers `lists` to `host`'s FA, which applies them to its host's
    /// filters; returns its answer as the FC decoded it (`Err` with why when
    /// the bytes were not a response), not yet judged.
    fn deliver_push(
        &mut self,
        host: inet::HostId,
        lists: &inet::InstanceLists,
    ) -> Result<Answer, AdapterError>;

    /// Delivers `lists` to `host`'s FA, compromised, which answers with `forgery`.
    fn hostile_push(
        &mut self,
        host: inet::HostId,
        lists: &inet::InstanceLists,
        forgery: Forgery,
    ) -> Result<Answer, AdapterError>;

    /// Sends a control message as `principal` to `endpoint`; the inner
    /// result is the server's decision.
    fn control(
        &mut self,
        principal: Principal,
        endpoint: ControlEndpoint,
    ) -> Result<Result<(), Denied>, AdapterError>;
}

/// An FA's answer as the FC decoded it, or why it could not be decoded.
pub type Answer = Result<AgentResponse, String>;

/// The control plane in this process: the FA's request handler called
/// directly, and the TLS endpoints' certificate decisions called on the
/// principals' real certificates.
pub struct InProcess {
    agents: Vec<Agent>,
    pki: &'static FabricPki,
    bugs: BugSet,
}

/// One PKI for every in-process replay: generating keys per trace would
/// dominate replay time, and the decisions do not depend on which keys.
fn shared_pki(hosts: usize) -> Result<&'static FabricPki, AdapterError> {
    static PKI: OnceLock<Result<FabricPki, String>> = OnceLock::new();
    const MAX_HOSTS: usize = 16;
    if hosts > MAX_HOSTS {
        return Err(AdapterError::Failed(format!(
            "at most {MAX_HOSTS} hosts in process"
        )));
    }
    PKI.get_or_init(|| FabricPki::generate(MAX_HOSTS).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| AdapterError::Failed(format!("cannot make the fabric PKI: {e}")))
}

impl InProcess {
    /// A control plane whose FAs program `net`'s filters.
    pub fn new(net: &VirtualNetwork) -> Result<Self, AdapterError> {
        let bugs = net.rules().bugs;
        let hosts = net.topology().hosts.len();
        let agents = (0..hosts as inet::HostId)
            .map(|h| {
                let filters = net
                    .host_filters(h)
                    .ok_or_else(|| AdapterError::Failed(format!("host {h} has no filters")))?;
                Ok(Agent::new(h, filters, bugs))
            })
            .collect::<Result<_, AdapterError>>()?;
        Ok(InProcess {
            agents,
            pki: shared_pki(hosts)?,
            bugs,
        })
    }
}

/// The credential a model principal holds.
pub fn credential_of(pki: &FabricPki, principal: Principal) -> &Credential {
    match principal {
        Principal::Fc => pki.fc(),
        Principal::Smapi => pki.smapi(),
        Principal::Admin => pki.admin(),
        Principal::RogueHost(_) => pki.rogue(),
    }
}

/// The policy of the TLS endpoint a model endpoint names.
pub fn policy_of(pki: &FabricPki, endpoint: ControlEndpoint) -> ClientPolicy {
    let pinned = |c: &Credential, id: Identity| ClientPolicy::Pinned {
        fingerprints: [(c.fingerprint(), id)].into_iter().collect(),
    };
    match endpoint {
        ControlEndpoint::Fa(_) => ClientPolicy::ChainedToRoot {
            root: pki.root().clone(),
        },
        ControlEndpoint::FcSmapi => pinned(pki.smapi(), Identity::Smapi),
        ControlEndpoint::FcAdmin => pinned(pki.admin(), Identity::Admin),
    }
}

impl ControlTransport for InProcess {
    fn deliver_push(
        &mut self,
        host: inet::HostId,
        lists: &inet::InstanceLists,
    ) -> Result<Answer, AdapterError> {
        let agent = self
            .agents
            .get(usize::from(host))
            .ok_or_else(|| AdapterError::Failed(format!("no FA on host {host}")))?;
        Ok(Ok(agent.handle(AgentRequest::PushLists(lists.clone()))))
    }

    fn hostile_push(
        &mut self,
        _host: inet::HostId,
        lists: &inet::InstanceLists,
        forgery: Forgery,
    ) -> Result<Answer, AdapterError> {
        Ok(match forgery {
            // The FC decodes whatever came back with the implementation's own decoder.
            Forgery::Garbage => {
                let mut frame = 9u32.to_be_bytes().to_vec();
                frame.extend_from_slice(b"\xffgarbage");
                wire::decode::<AgentResponse>(&frame).map_err(|e| e.to_string())
            }
            Forgery::AckForHost(g) => Ok(AgentResponse::Applied {
                host: g,
                version: lists.version,
            }),
        })
    }

    fn control(
        &mut self,
        principal: Principal,
        endpoint: ControlEndpoint,
    ) -> Result<Result<(), Denied>, AdapterError> {
        let credential = credential_of(self.pki, principal);
        let chain = credential.chain();
        let (end_entity, intermediates) = chain
            .split_first()
            .ok_or_else(|| AdapterError::Failed("empty certificate chain".into()))?;
        let policy = policy_of(self.pki, endpoint);
        Ok(authenticate_client(
            &policy,
            end_entity,
            intermediates,
            UnixTime::now(),
            self.bugs,
        )
        .map(|_| ()))
    }
}

/// The control plane over the wire: a real FC and real FAs on loopback,
/// mutually authenticated TLS between them, driven from a private runtime.
pub struct Wire {
    runtime: tokio::runtime::Runtime,
    fabric: Option<RunningFabric>,
}

fn endpoint_to_impl(e: ControlEndpoint) -> Endpoint {
    match e {
        ControlEndpoint::Fa(h) => Endpoint::Fa(h),
        ControlEndpoint::FcSmapi => Endpoint::FcSmapi,
        ControlEndpoint::FcAdmin => Endpoint::FcAdmin,
    }
}

fn principal_to_impl(p: Principal) -> ControlCaller {
    match p {
        Principal::Fc => ControlCaller::Fc,
        Principal::Smapi => ControlCaller::Smapi,
        Principal::Admin => ControlCaller::Admin,
        Principal::RogueHost(_) => ControlCaller::Rogue,
    }
}

/// What came back over the wire: an answer (decoded, or why not), or a
/// failure to reach the FA at all.
fn wire_answer(result: Result<AgentResponse, ControlError>) -> Result<Answer, AdapterError> {
    match result {
        Ok(response) => Ok(Ok(response)),
        Err(e @ (ControlError::Wire(_) | ControlError::UntrustedResponse(_))) => {
            Ok(Err(e.to_string()))
        }
        Err(e) => Err(AdapterError::Failed(format!("push failed: {e}"))),
    }
}

impl Wire {
    /// Starts FAs for `net`'s hosts (programming its filters) and the FC's
    /// services, on loopback.
    pub fn start(net: &VirtualNetwork) -> Result<Self, AdapterError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AdapterError::Failed(format!("cannot start a runtime: {e}")))?;
        let hosts = net.topology().hosts.len() as inet::HostId;
        let filters = (0..hosts)
            .map(|h| {
                net.host_filters(h)
                    .ok_or_else(|| AdapterError::Failed(format!("host {h} has no filters")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut config = FabricConfig::new(net.topology().clone());
        config.bugs = net.rules().bugs;
        let fabric = runtime
            .block_on(RunningFabric::start(config, filters))
            .map_err(|e| AdapterError::Failed(format!("cannot start the fabric: {e}")))?;
        Ok(Wire {
            runtime,
            fabric: Some(fabric),
        })
    }

    fn fabric(&self) -> Result<&RunningFabric, AdapterError> {
        self.fabric
            .as_ref()
            .ok_or_else(|| AdapterError::Failed("the fabric was shut down".into()))
    }

    /// Stops every service.
    pub fn shutdown(&mut self) {
        if let Some(fabric) = self.fabric.take() {
            self.runtime.block_on(fabric.shutdown());
        }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl ControlTransport for Wire {
    fn deliver_push(
        &mut self,
        host: inet::HostId,
        lists: &inet::InstanceLists,
    ) -> Result<Answer, AdapterError> {
        let fabric = self.fabric()?;
        wire_answer(self.runtime.block_on(fabric.deliver_push(host, lists)))
    }

    fn hostile_push(
        &mut self,
        host: inet::HostId,
        lists: &inet::InstanceLists,
        forgery: Forgery,
    ) -> Result<Answer, AdapterError> {
        let reply = match forgery {
            Forgery::Garbage => HostileReply::Garbage,
            Forgery::AckForHost(g) => HostileReply::AckForHost(g),
        };
        let fabric = self.fabric()?;
        wire_answer(
            self.runtime
                .block_on(fabric.deliver_push_to_hostile_fa(host, lists, reply)),
        )
    }

    fn control(
        &mut self,
        principal: Principal,
        endpoint: ControlEndpoint,
    ) -> Result<Result<(), Denied>, AdapterError> {
        let fabric = self.fabric()?;
        match self
            .runtime
            .block_on(fabric.send_control(principal_to_impl(principal), endpoint_to_impl(endpoint)))
        {
            Ok(()) => Ok(Ok(())),
            Err(ControlError::Refused(d)) => Ok(Err(d)),
            Err(e) => Err(AdapterError::Failed(format!("control message failed: {e}"))),
        }
    }
}
