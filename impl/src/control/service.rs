//! The tokio shells: TLS servers on 127.0.0.1 (the FA's, and the FC's
//! SMAPI-facing and admin-facing ones) and the client side that dials them.
//!
//! Everything is bounded: frame size (see [`super::wire`]), handshake and
//! idle time per connection, the number of connections per server, and the
//! whole of every client call.

use super::agent::Agent;
use super::auth::{authenticate_client, ClientPolicy};
use super::error::ControlError;
use super::identity::Identity;
use super::pki::{Credential, Fingerprint};
use super::tls::{client_config, server_config, RefusalLog, ServerPolicy};
use super::wire::{
    encode, read_frame, write_frame, AgentRequest, AgentResponse, ControlRequest, ControlResponse,
    WireError,
};
use crate::bugs::BugSet;
use crate::net::{Denied, InstanceLists};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The name a client asks for when it dials a pinned FA; the pin, not the
/// name, decides.
pub const FA_SERVER_NAME: &str = "fa.fabric.internal";

/// Per-server bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// How long a client has to finish the TLS handshake, in milliseconds.
    pub handshake_timeout_ms: u64,
    /// How long a connection may stay silent (or a response take to write), in milliseconds.
    pub idle_timeout_ms: u64,
    /// Connections served at once; more are closed on accept.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            handshake_timeout_ms: 5_000,
            idle_timeout_ms: 10_000,
            max_connections: 64,
        }
    }
}

/// A request/response service behind a TLS server.
pub(super) trait Service: Send + Sync + 'static {
    type Req: DeserializeOwned + Send;
    type Resp: Serialize + Send + Sync;
    /// Serves one request from a peer authenticated as `peer`.
    fn serve(&self, peer: Identity, request: Self::Req) -> Self::Resp;
    /// The answer to a request that could not be read.
    fn error(message: String) -> Self::Resp;
    /// The bytes sent back for `request`: by default, the frame of
    /// [`Service::serve`]'s answer.
    fn reply(&self, peer: Identity, request: Self::Req) -> Result<Vec<u8>, WireError> {
        encode(&self.serve(peer, request))
    }
}

impl Service for Agent {
    type Req = AgentRequest;
    type Resp = AgentResponse;

    fn serve(&self, _peer: Identity, request: AgentRequest) -> AgentResponse {
        self.handle(request)
    }

    fn error(message: String) -> AgentResponse {
        AgentResponse::Error { message }
    }
}

/// The FC's SMAPI-facing or admin-facing desk: it tells the caller who it
/// was authenticated as. The real management operations hang off this later.
struct ControlDesk;

impl Service for ControlDesk {
    type Req = ControlRequest;
    type Resp = ControlResponse;

    fn serve(&self, peer: Identity, request: ControlRequest) -> ControlResponse {
        match request {
            ControlRequest::Hello => ControlResponse::Accepted { identity: peer },
        }
    }

    fn error(message: String) -> ControlResponse {
        ControlResponse::Error { message }
    }
}

/// A running TLS server. Dropping it stops it; [`ServerHandle::shutdown`]
/// stops it and waits.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    refusals: Arc<RefusalLog>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The client certificates it refused.
    pub fn refusals(&self) -> &Arc<RefusalLog> {
        &self.refusals
    }

    /// Stops accepting, closes every connection, and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // An error only means the server has already stopped.
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "server task ended abnormally");
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Starts the FA's TLS server for `agent`: it presents `credential` and
/// accepts only clients chained to `root` (the FC).
pub async fn spawn_fa_server(
    agent: Agent,
    credential: &Credential,
    root: CertificateDer<'static>,
    limits: ServerLimits,
) -> Result<ServerHandle, ControlError> {
    // claim: NET-3 (the FA only listens and answers; nothing here or in `Agent` dials out)
    let bugs = agent.bugs;
    spawn_server(
        agent,
        credential,
        ClientPolicy::ChainedToRoot { root },
        bugs,
        limits,
    )
    .await
}

/// Starts one of the FC's TLS servers for SMAPI or administrators: it
/// presents `credential` (the FC's) and accepts only the pinned client
/// certificates.
pub async fn spawn_fc_control_server(
    credential: &Credential,
    pinned: BTreeMap<Fingerprint, Identity>,
    limits: ServerLimits,
) -> Result<ServerHandle, ControlError> {
    let policy = ClientPolicy::Pinned {
        fingerprints: pinned,
    };
    spawn_server(ControlDesk, credential, policy, BugSet::NONE, limits).await
}

pub(super) async fn spawn_server<S: Service>(
    service: S,
    credential: &Credential,
    policy: ClientPolicy,
    bugs: BugSet,
    limits: ServerLimits,
) -> Result<ServerHandle, ControlError> {
    let refusals = Arc::new(RefusalLog::default());
    let acceptor = TlsAcceptor::from(server_config(
        credential,
        policy.clone(),
        bugs,
        refusals.clone(),
    )?);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = oneshot::channel();
    let service = Arc::new(service);
    let policy = Arc::new(policy);
    let task = tokio::spawn(async move {
        // Dropping the set (when the loop ends) aborts every connection.
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        if connections.len() >= limits.max_connections {
                            tracing::warn!(%peer, max = limits.max_connections, "too many connections; closing");
                            continue;
                        }
                        connections.spawn(serve_connection(
                            service.clone(), acceptor.clone(), tcp, policy.clone(), bugs, limits,
                        ));
                    }
                    Err(e) => {
                        // Such as running out of descriptors: back off rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        connections.shutdown().await;
    });
    tracing::info!(%addr, "TLS server listening");
    Ok(ServerHandle {
        addr,
        refusals,
        stop: Some(stop),
        task: Some(task),
    })
}

async fn serve_connection<S: Service>(
    service: Arc<S>,
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    policy: Arc<ClientPolicy>,
    bugs: BugSet,
    limits: ServerLimits,
) {
    let handshake = Duration::from_millis(limits.handshake_timeout_ms);
    let idle = Duration::from_millis(limits.idle_timeout_ms);
    let mut tls = match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            return;
        }
    };
    // The verifier accepted the chain; ask the same pure function who it is.
    let peer = match tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.split_first())
    {
        Some((end_entity, intermediates)) => {
            authenticate_client(&policy, end_entity, intermediates, UnixTime::now(), bugs)
        }
        None => Err(Denied::UnauthenticatedPeer),
    };
    let Ok(peer) = peer else {
        tracing::warn!("peer accepted by the handshake but not by the policy; closing");
        return;
    };
    loop {
        let request = match tokio::time::timeout(idle, read_frame::<_, S::Req>(&mut tls)).await {
            Ok(Ok(request)) => request,
            Ok(Err(WireError::Closed)) | Err(_) => break,
            Ok(Err(WireError::Io(e))) => {
                tracing::debug!(error = %e, "connection failed");
                break;
            }
            Ok(Err(e)) => {
                // The stream is out of step (or hostile): answer once and close.
                tracing::warn!(%peer, error = %e, "unreadable request");
                let _ = tokio::time::timeout(idle, write_frame(&mut tls, &S::error(e.to_string())))
                    .await;
                break;
            }
        };
        let reply = match service.reply(peer, request) {
            Ok(reply) => reply,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "could not encode the answer");
                break;
            }
        };
        let write = async {
            tls.write_all(&reply).await?;
            tls.flush().await
        };
        match tokio::time::timeout(idle, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "could not answer");
                break;
            }
            Err(_) => break,
        }
    }
    let _ = tokio::time::timeout(idle, tls.shutdown()).await;
}

/// Maps a transport error, telling TLS failures (such as the alert of a
/// server that refused our certificate) apart from plain IO.
fn transport_error(e: std::io::Error) -> ControlError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => ControlError::Tls(tls.clone()),
        None => ControlError::Io(e),
    }
}

fn wire_error(e: WireError) -> ControlError {
    match e {
        WireError::Io(io) => transport_error(io),
        other => ControlError::Wire(other),
    }
}

/// Sends one request to the server at `addr` and reads one response, as the
/// holder of `credential`, accepting only a server that `server` accepts.
/// The whole call, connect included, takes at most `timeout_ms`.
pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
    addr: SocketAddr,
    server: ServerPolicy,
    server_name: &str,
    credential: &Credential,
    request: &Req,
    timeout_ms: u64,
) -> Result<Resp, ControlError> {
    let (config, refused) = client_config(credential, server)?;
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|_| ControlError::Config(format!("invalid server name {server_name:?}")))?;
    let attempt = async {
        let tcp = TcpStream::connect(addr).await?;
        let mut tls = match TlsConnector::from(config).connect(name, tcp).await {
            Ok(tls) => tls,
            Err(e) => {
                let reason = *refused
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                return Err(match reason {
                    Some(reason) => ControlError::ServerNotTrusted(reason),
                    None => transport_error(e),
                });
            }
        };
        let response = exchange(&mut tls, request).await;
        // Best effort: the answer (or the failure) is already in hand.
        let _ = tls.shutdown().await;
        response
    };
    tokio::time::timeout(Duration::from_millis(timeout_ms), attempt)
        .await
        .unwrap_or(Err(ControlError::Timeout { timeout_ms }))
}

async fn exchange<T: AsyncRead + AsyncWrite + Unpin, Req: Serialize, Resp: DeserializeOwned>(
    stream: &mut T,
    request: &Req,
) -> Result<Resp, ControlError> {
    write_frame(stream, request).await.map_err(wire_error)?;
    read_frame(stream).await.map_err(wire_error)
}

/// The FC's push of `lists` to the FA at `fa_addr`, which must present the
/// certificate pinned as `fa_fingerprint`. Returns the FA's answer as
/// decoded, unjudged: [`Controller::accept_push_response`] decides what it
/// is worth. Bytes that are not a bounded, well-formed response frame are a
/// typed error, never a panic.
///
/// [`Controller::accept_push_response`]: super::controller::Controller::accept_push_response
pub async fn deliver_push(
    fa_addr: SocketAddr,
    fa_fingerprint: &Fingerprint,
    credential: &Credential,
    lists: &InstanceLists,
    timeout_ms: u64,
) -> Result<AgentResponse, ControlError> {
    let request = AgentRequest::PushLists(lists.clone());
    let server = ServerPolicy::Pinned(*fa_fingerprint);
    // claim: NET-15 (the answer is read within the frame bound and the call's timeout; decoding fails with a typed error)
    call(
        fa_addr,
        server,
        FA_SERVER_NAME,
        credential,
        &request,
        timeout_ms,
    )
    .await
}
