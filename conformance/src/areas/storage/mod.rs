//! Replays storage traces against the storage service: each model action
//! becomes a real Blob REST request (signed with Shared Key or a SAS, or
//! anonymous), sent in process to [`StorageService::handle`] or over HTTP to
//! a [`StorageServer`], and the answer is read back in the model's terms.
//!
//! # How the model's steps map onto the service
//!
//! - **Time.** Model tick `t` is `BASE_MS + t * TICK_MS` on the service's
//!   clock (the harness passes the time in; over HTTP the server reads a
//!   shared clock). A tick is 15 s, the shortest fixed lease, so a lease
//!   acquired at tick `t` has ended by tick `t + 1`, and an ad hoc SAS is
//!   signed with `st = se = ` the tick it is issued in.
//! - **A write in flight.** The model accepts a put, delete or snapshot,
//!   replicates it step by step and then commits it. The service's store
//!   applies a write to all three replicas in one go. So the adapter pauses
//!   the store's committer, sends the request, and answers `Accepted` once
//!   the write is on the store's queue (a refusal answers at once);
//!   `Replicate` steps change nothing; `Commit` lets the committer go and
//!   waits for the acknowledgement. Until then no replica shows the write,
//!   as in the model.
//! - **Replicas.** Reads carry the diagnostic header `x-fabric-replica`,
//!   so a read the model serves from replica `r` is served from replica `r`.
//!   Crashes and restarts are the store's own fault hooks.
//! - **Names.** Blob `n` is `blobn` in container `data` of the emulator's
//!   account; lease id `n` is a GUID ending in `n`; policy `n` is
//!   `policyn`. A blob's model version travels in its metadata
//!   (`x-ms-meta-version`) and in its bytes (`vN`, or zeros for a page
//!   blob), so what a read returns can be judged.
//!
//! What the adapter observes after each step: each replica's location and
//! liveness and the blobs and snapshots it holds (with their versions), the
//! public access level and the stored access policies.
//!
//! # Peer mode: another Blob service
//!
//! [`replay_storage_peer_file`] replays the same traces over HTTP against
//! another implementation of the Blob REST API (Azurite), to see where it
//! departs from the claims. Such a peer has no fault hooks, no replica
//! header, no management endpoint and no injectable clock, and its writes
//! complete before it answers, so:
//!
//! - **Requests** go to the peer's path-style endpoint
//!   (`/ACCOUNT/container/blob`), signed with the peer's account name and
//!   key, at the peer's own API version ([`PEER_VERSION`]). Each trace gets
//!   a container of its own (`fabric-SECONDS-N`), deleted afterwards.
//! - **Time.** Tick `t` is `base + t * TICK_MS`, `base` being the real time
//!   at the adapter's start in whole seconds; a tick advances it without
//!   sleeping, and requests carry that time in `x-ms-date`. The peer judges
//!   SAS windows and policy expiries by its real clock, so those are written
//!   relative to real time instead: a time at tick `k`, written at tick `t`,
//!   is `now + (k - t) * TICK_MS`, less [`PEER_MARGIN_MS`] for a start and
//!   plus it for an expiry. An ad hoc SAS is signed afresh at each use
//!   (same key, permissions, scope and window in ticks), and the container
//!   ACL is written again at each tick while a policy has a finite expiry,
//!   so that a window the model has left is left on the peer too.
//! - **Writes.** A put, delete or snapshot is sent when the model accepts
//!   it and its answer kept: a refusal is `Denied` at once, a success is
//!   `Accepted` and `Commit` then reports `Acknowledged`. `Replicate` does
//!   nothing.
//! - **What a peer cannot do** is an [`AdapterError`] starting with
//!   [`AdapterError::PeerCannot`]: crash or restart a replica, regenerate a key (no
//!   management API), sign with a secondary key (one key is given), show a
//!   read or lease as it was before a write it has already applied, or let
//!   a fixed-duration lease run out at a tick; and a flaw trace whose flaw
//!   shows only in state the peer cannot show (replica placement). These
//!   end the trace: nothing after them can be compared.
//! - **Observed:** only the public access level (`Get Container ACL`).
//! - **A refusal code the model has no name for** is an [`AdapterError`]
//!   starting with [`AdapterError::PeerAnswered`], with the status and code.
//!
//! Each step's result is logged at `info` under the target `fabric_peer`
//! as `PEER-STEP {json}`, and each flaw trace's flaw step and the correct
//! model's outcome there as `PEER-TRACE {json}`.

use super::area::{Area, FlawRow, TraceFile};
use super::kit;
use crate::check::ModelReport;
use crate::itf::{read_trace, RawTrace};
use crate::replay::{
    recheck, replay, replay_checked, Adapter, AdapterError, CorrectStep, PeerEndpoint, ReplayError,
    ReplayReport, Transport, Verdict,
};
use anyhow::Context as _;
use bytes::Bytes;
use fabric_impl::bugs::BugSet;
use fabric_impl::secret::SecretBytes;
use fabric_impl::storage::acl::Permissions;
use fabric_impl::storage::auth::{self, RequestView, SasBuilder};
use fabric_impl::storage::clock::{
    format_http_date, format_iso8601, now_ms as real_now_ms, UnixMs,
};
use fabric_impl::storage::http::StorageServer;
use fabric_impl::storage::service::{
    AccountSpec, BlobRequest, BlobResponse, ServiceConfig, StorageService, DEFAULT_ACCOUNT,
    DEFAULT_VERSION, MANAGEMENT_PREFIX, REPLICA_HEADER,
};
use fabric_model::storage::{
    Action, Caller, Content, Denied, Flaw, Lease, LeaseDuration, LeaseOp, Location, Outcome, Perms,
    Policy, PublicAccess, SasGrant, Scenario, Slot, StorageConfig, StorageModel, WriteOp, BLOBS,
    REPLICAS,
};
use fabric_model::trace::{itf, TracedModel};
use serde_json::{json, Map, Value};
use std::cell::{Cell, RefCell};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The service time of model tick 0 (2026-01-01T00:00:00Z).
pub const BASE_MS: UnixMs = 1_767_225_600_000;
/// One model tick on the service's clock: the shortest fixed lease.
pub const TICK_MS: UnixMs = 15_000;
/// The container the model's blobs live in.
pub const CONTAINER: &str = "data";
/// The subscription's credential in replays.
const SUBSCRIPTION_TOKEN: &str = "conformance-subscription";
/// How long a step may wait for the service.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// The expiry the service gets for a policy the model keeps for good.
const FOREVER_MS: UnixMs = BASE_MS + 10 * 365 * 24 * 3600 * 1000;
/// Bytes in a model blob.
const BLOB_BYTES: usize = 512;
/// The API version of requests and SASes sent to a peer: Azurite 3.35.0's
/// own (fabric's service takes [`DEFAULT_VERSION`]).
pub const PEER_VERSION: &str = "2025-11-05";
/// How far a SAS start or a SAS or policy expiry sent to a peer lies before
/// (start) or after (expiry) the real instant that stands for its tick: the
/// peer reads them against its real clock while the replay's ticks take no
/// real time, so a window the model is inside is judged open with this much
/// to spare, and one the model has left by a tick is judged closed.
pub const PEER_MARGIN_MS: UnixMs = 7_000;
/// Containers made on a peer so far by this process.
static PEER_CONTAINERS: AtomicU32 = AtomicU32::new(0);

fn peer_cannot(what: &str) -> AdapterError {
    AdapterError::PeerCannot(what.to_string())
}

fn blob_name(blob: u8) -> String {
    format!("blob{blob}")
}

fn lease_guid(id: u8) -> String {
    format!("00000000-0000-0000-0000-{id:012}")
}

fn lease_from_guid(text: &str) -> Option<u8> {
    text.strip_prefix("00000000-0000-0000-0000-")?.parse().ok()
}

fn policy_name(id: u8) -> String {
    format!("policy{id}")
}

/// The bytes a put of `version` writes: `v<version>` then zeros.
pub fn blob_bytes(version: u8) -> Bytes {
    let mut bytes = format!("v{version}").into_bytes();
    bytes.resize(BLOB_BYTES, 0);
    Bytes::from(bytes)
}

/// What bytes say in model terms: 0 for zeros, else the version they carry.
pub fn bytes_tag(bytes: &[u8]) -> Option<u8> {
    if bytes.iter().all(|b| *b == 0) {
        return Some(0);
    }
    let text = bytes.strip_prefix(b"v")?;
    let digits: String = text
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|b| char::from(*b))
        .collect();
    digits.parse().ok()
}

fn perms_to_impl(perms: Perms) -> Permissions {
    [
        (Perms::READ, Permissions::READ),
        (Perms::WRITE, Permissions::WRITE),
        (Perms::DELETE, Permissions::DELETE),
        (Perms::LIST, Permissions::LIST),
    ]
    .into_iter()
    .filter(|(model, _)| perms.contains(*model))
    .fold(Permissions::NONE, |all, (_, one)| all.union(one))
}

fn denied(response: &BlobResponse) -> Result<Outcome, AdapterError> {
    let code = response.error_code().unwrap_or("(none)").to_string();
    serde_json::from_value::<Denied>(Value::String(code.clone()))
        .map(|reason| Outcome::Denied { reason })
        .map_err(|_| {
            AdapterError::Failed(format!(
                "the service answered {} {code}, which the model has no name for",
                response.status
            ))
        })
}

fn success(response: &BlobResponse) -> bool {
    (200..300).contains(&response.status)
}

/// What a client of the model holds, in the service's terms.
#[derive(Clone, Debug)]
enum Held {
    Key(SecretBytes),
    Sas(Vec<(String, String)>),
    /// Peer mode: the ad hoc SAS on blob 0, signed afresh at each use with
    /// `key` for the window `start..=expiry` (in ticks), written relative to
    /// real time (see the module documentation).
    AdHocSas {
        key: SecretBytes,
        start: u8,
        expiry: u8,
    },
}

/// How requests reach the service.
#[derive(Clone)]
enum Link {
    InProcess(Arc<StorageService>),
    Wire {
        addr: SocketAddr,
        now_ms: Arc<AtomicI64>,
    },
    /// Another Blob service over HTTP, with its own real clock.
    Peer {
        addr: SocketAddr,
    },
}

/// The answer to a write in flight.
enum Answer {
    /// The service's answer, once the committer lets it go.
    Pending(tokio::task::JoinHandle<Result<BlobResponse, String>>),
    /// A peer's answer, given before the model commits.
    Given(BlobResponse),
}

/// A write the model has accepted and not yet committed.
struct InFlight {
    op: WriteOp,
    answer: Answer,
    snapshot_of: Option<u8>,
    /// Peer mode: the step that sent it.
    sent_at: usize,
}

/// Another Blob service to replay against: a path-style endpoint
/// (`http://HOST:PORT/ACCOUNT`), the account name to sign with and its key.
#[derive(Clone, Debug)]
pub struct PeerTarget {
    /// The endpoint as given.
    pub endpoint: String,
    addr: SocketAddr,
    /// The path that addresses the account (`/ACCOUNT`).
    prefix: String,
    account: String,
    key: SecretBytes,
}

impl PeerTarget {
    /// A peer at `endpoint` (`http://HOST:PORT/ACCOUNT`), signed for as
    /// `account` with `key_base64`.
    pub fn new(endpoint: &str, account: &str, key_base64: &str) -> anyhow::Result<PeerTarget> {
        use base64::Engine as _;
        let rest = endpoint
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("{endpoint}: only http:// endpoints are supported"))?;
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| anyhow::anyhow!("{endpoint}: expected http://HOST:PORT/ACCOUNT"))?;
        let path = path.trim_end_matches('/');
        if authority.is_empty() || path.is_empty() || path.contains('/') {
            anyhow::bail!("{endpoint}: expected http://HOST:PORT/ACCOUNT");
        }
        let addr = authority
            .to_socket_addrs()
            .with_context(|| format!("{endpoint}: cannot resolve {authority}"))?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{endpoint}: {authority} resolves to nothing"))?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(key_base64)
            .context("the peer's key is not base64")?;
        if account.is_empty() {
            anyhow::bail!("the peer's account name is empty");
        }
        Ok(PeerTarget {
            endpoint: endpoint.to_string(),
            addr,
            prefix: format!("/{path}"),
            account: account.to_string(),
            key: SecretBytes::new(key),
        })
    }
}

/// What the adapter keeps in peer mode.
struct PeerState {
    /// The trace, for the log.
    trace: String,
    /// Steps applied so far.
    step: usize,
    /// Per blob, the last tick of the fixed-duration lease acquired or
    /// renewed on it, while it is active.
    fixed_until: [Option<u8>; BLOBS as usize],
    /// Per blob, whether the model has let a fixed-duration lease run out
    /// at a tick while the peer's still runs.
    lease_ran_out: [bool; BLOBS as usize],
    /// The status and code of the latest refusal, for the log.
    refusal: RefCell<Option<String>>,
    /// Requests sent to the peer during the current step, for the log.
    requests: Cell<usize>,
    /// At a commit, the step whose write it reports and the peer's status
    /// then, for the log.
    committed: Cell<Option<(usize, u16)>>,
}

/// The storage service, driven in model terms.
pub struct StorageAdapter {
    runtime: tokio::runtime::Runtime,
    /// Fabric's service; `None` in peer mode.
    service: Option<Arc<StorageService>>,
    link: Link,
    server: Option<StorageServer>,
    _data: Option<tempfile::TempDir>,
    /// The account requests are signed for.
    account: String,
    /// The path that addresses the account (`/ACCOUNT`).
    prefix: String,
    /// The container the model's blobs live in.
    container: String,
    /// `x-ms-version` of every request.
    version: &'static str,
    /// The time of tick 0.
    base_ms: UnixMs,
    /// Set in peer mode only.
    peer: Option<PeerState>,
    clock: u8,
    key_versions: [u8; 2],
    keys: [SecretBytes; 2],
    clients: [Held; 2],
    policies: [Option<Policy>; 5],
    public: PublicAccess,
    puts: u8,
    versions: [Option<u8>; BLOBS as usize],
    snapshot_ids: [Option<String>; BLOBS as usize],
    lease_ids: [Option<u8>; BLOBS as usize],
    in_flight: Option<InFlight>,
}

async fn send(link: Link, request: BlobRequest, now_ms: UnixMs) -> Result<BlobResponse, String> {
    match link {
        Link::InProcess(service) => Ok(service.handle(request, now_ms).await),
        Link::Wire {
            addr,
            now_ms: clock,
        } => {
            clock.store(now_ms, Ordering::SeqCst);
            send_over_http(addr, request).await
        }
        Link::Peer { addr } => send_over_http(addr, request).await,
    }
}

const QUERY_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

async fn send_over_http(addr: SocketAddr, request: BlobRequest) -> Result<BlobResponse, String> {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    tokio::spawn(connection);
    let mut uri = request.path.clone();
    if !request.query.is_empty() {
        let query: Vec<String> = request
            .query
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    percent_encoding::utf8_percent_encode(k, QUERY_SET),
                    percent_encoding::utf8_percent_encode(v, QUERY_SET)
                )
            })
            .collect();
        uri = format!("{uri}?{}", query.join("&"));
    }
    let mut builder = hyper::Request::builder()
        .method(request.method.as_str())
        .uri(uri)
        .header("host", addr.to_string());
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let http_request = builder
        .body(Full::new(request.body.clone()))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let response = sender
        .send_request(http_request)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("cannot read the response body: {e}"))?
        .to_bytes();
    Ok(BlobResponse {
        status,
        headers,
        body,
    })
}

impl StorageAdapter {
    /// A fresh service in a temporary folder, set up as `scenario` starts,
    /// with `bugs` switched on, reached over `transport`.
    pub fn new(
        cfg: &StorageConfig,
        scenario: Scenario,
        bugs: BugSet,
        transport: Transport,
    ) -> Result<StorageAdapter, AdapterError> {
        let _ = cfg;
        let fail =
            |what: &str, e: &dyn std::fmt::Display| AdapterError::Failed(format!("{what}: {e}"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| fail("cannot start a runtime", &e))?;
        let data = tempfile::tempdir().map_err(|e| fail("cannot make a data folder", &e))?;
        let mut config = ServiceConfig::new(
            data.path().to_path_buf(),
            vec![AccountSpec::default_account()],
            SecretBytes::new(SUBSCRIPTION_TOKEN.as_bytes().to_vec()),
        );
        config.bugs = bugs;
        config.replica_wait_ms = 200;
        let service = Arc::new(
            StorageService::open(config).map_err(|e| fail("cannot open the service", &e))?,
        );
        let (link, server) = match transport {
            Transport::Inproc => (Link::InProcess(Arc::clone(&service)), None),
            Transport::Wire => {
                let now_ms = Arc::new(AtomicI64::new(BASE_MS));
                let clock = Arc::clone(&now_ms);
                let server = runtime.block_on(async {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                    StorageServer::start_with_clock(
                        listener,
                        Arc::clone(&service),
                        Arc::new(move || clock.load(Ordering::SeqCst)),
                    )
                });
                let server = server.map_err(|e| fail("cannot start the HTTP server", &e))?;
                (
                    Link::Wire {
                        addr: server.local_addr,
                        now_ms,
                    },
                    Some(server),
                )
            }
        };
        let primary = service
            .account_key(DEFAULT_ACCOUNT, auth::KeySlot::Primary)
            .ok_or_else(|| AdapterError::Failed("the account has no primary key".into()))?;
        let secondary = service
            .account_key(DEFAULT_ACCOUNT, auth::KeySlot::Secondary)
            .ok_or_else(|| AdapterError::Failed("the account has no secondary key".into()))?;
        let mut adapter = StorageAdapter {
            runtime,
            service: Some(service),
            link,
            server,
            _data: Some(data),
            account: DEFAULT_ACCOUNT.to_string(),
            prefix: format!("/{DEFAULT_ACCOUNT}"),
            container: CONTAINER.to_string(),
            version: DEFAULT_VERSION,
            base_ms: BASE_MS,
            peer: None,
            clock: 0,
            key_versions: [0, 0],
            keys: [primary.clone(), secondary],
            clients: [Held::Key(primary.clone()), Held::Key(primary)],
            policies: [None; 5],
            public: PublicAccess::Off,
            puts: 0,
            versions: [None; BLOBS as usize],
            snapshot_ids: [None, None],
            lease_ids: [None; BLOBS as usize],
            in_flight: None,
        };
        adapter.set_up(scenario)?;
        Ok(adapter)
    }

    /// Another Blob service, `peer`, in a fresh container of its own, set up
    /// as `scenario` starts; `trace` names the trace in the log.
    pub fn on_peer(
        scenario: Scenario,
        peer: &PeerTarget,
        trace: &str,
    ) -> Result<StorageAdapter, AdapterError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| AdapterError::Failed(format!("cannot start a runtime: {e}")))?;
        let base_ms = real_now_ms() / 1000 * 1000;
        let serial = PEER_CONTAINERS.fetch_add(1, Ordering::SeqCst) + 1;
        let key = peer.key.clone();
        let mut adapter = StorageAdapter {
            runtime,
            service: None,
            link: Link::Peer { addr: peer.addr },
            server: None,
            _data: None,
            account: peer.account.clone(),
            prefix: peer.prefix.clone(),
            container: format!("fabric-{}-{serial}", base_ms / 1000),
            version: PEER_VERSION,
            base_ms,
            peer: Some(PeerState {
                trace: trace.to_string(),
                step: 0,
                fixed_until: [None; BLOBS as usize],
                lease_ran_out: [false; BLOBS as usize],
                refusal: RefCell::new(None),
                requests: Cell::new(0),
                committed: Cell::new(None),
            }),
            clock: 0,
            key_versions: [0, 0],
            // The peer is given one key: the secondary slot holds none, and
            // switching to it is something the peer cannot do.
            keys: [key.clone(), SecretBytes::new(Vec::new())],
            clients: [Held::Key(key.clone()), Held::Key(key)],
            policies: [None; 5],
            public: PublicAccess::Off,
            puts: 0,
            versions: [None; BLOBS as usize],
            snapshot_ids: [None, None],
            lease_ids: [None; BLOBS as usize],
            in_flight: None,
        };
        adapter.set_up(scenario)?;
        Ok(adapter)
    }

    fn now_ms(&self) -> UnixMs {
        self.base_ms + UnixMs::from(self.clock) * TICK_MS
    }

    /// Peer mode: the real instant, in whole seconds, that stands for tick
    /// `tick` now (see the module documentation).
    fn real_at(&self, tick: u8) -> UnixMs {
        real_now_ms() / 1000 * 1000 + (i64::from(tick) - i64::from(self.clock)) * TICK_MS
    }

    /// Builds a request from `caller` (signed as it signs), at the current tick.
    fn request(
        &self,
        caller: Caller,
        method: &str,
        blob: Option<u8>,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        body: Bytes,
    ) -> BlobRequest {
        let held = match caller {
            Caller::Client(n) => self.clients.get(usize::from(n)).cloned(),
            Caller::Anonymous => None,
        };
        self.request_as(held.as_ref(), method, blob, query, headers, body)
    }

    fn request_as(
        &self,
        held: Option<&Held>,
        method: &str,
        blob: Option<u8>,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        body: Bytes,
    ) -> BlobRequest {
        let path = match blob {
            Some(b) => format!("{}/{}/{}", self.prefix, self.container, blob_name(b)),
            None => format!("{}/{}", self.prefix, self.container),
        };
        let mut request = BlobRequest {
            method: method.to_string(),
            path,
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            body: body.clone(),
            peer_ip: Some(std::net::IpAddr::from([127, 0, 0, 1])),
        };
        if method == "PUT" || method == "POST" || !body.is_empty() {
            request
                .headers
                .push(("content-length".into(), body.len().to_string()));
        }
        request
            .headers
            .push(("x-ms-version".into(), self.version.into()));
        match held {
            Some(Held::Key(key)) => {
                request
                    .headers
                    .push(("x-ms-date".into(), format_http_date(self.now_ms())));
                let view = RequestView {
                    method: &request.method,
                    path: &request.path,
                    query: &request.query,
                    headers: &request.headers,
                    peer_ip: request.peer_ip,
                };
                let authorization = auth::sign_shared_key(&view, &self.account, key.expose());
                request
                    .headers
                    .push(("authorization".into(), authorization));
            }
            Some(Held::Sas(pairs)) => request.query.extend(pairs.iter().cloned()),
            Some(Held::AdHocSas { key, start, expiry }) => {
                let pairs = SasBuilder::for_blob(&self.account, &self.container, &blob_name(0))
                    .version(self.version)
                    .permissions(Permissions::READ)
                    .start(self.real_at(*start) - PEER_MARGIN_MS)
                    .expiry(self.real_at(*expiry) + PEER_MARGIN_MS)
                    .query_pairs(key.expose());
                request.query.extend(pairs);
            }
            None => {}
        }
        request
    }

    fn call(&self, request: BlobRequest) -> Result<BlobResponse, AdapterError> {
        if let Some(peer) = &self.peer {
            peer.requests.set(peer.requests.get() + 1);
        }
        let future = send(self.link.clone(), request, self.now_ms());
        self.runtime
            .block_on(async { tokio::time::timeout(STEP_TIMEOUT, future).await })
            .map_err(|_| AdapterError::Failed("the service did not answer in time".into()))?
            .map_err(AdapterError::Failed)
    }

    fn owner_key(&self) -> Held {
        Held::Key(self.keys[0].clone())
    }

    fn expect_success(
        &self,
        what: &str,
        response: BlobResponse,
    ) -> Result<BlobResponse, AdapterError> {
        if success(&response) {
            Ok(response)
        } else {
            Err(AdapterError::Failed(format!(
                "setting up, {what} failed: {} {}",
                response.status,
                response.error_code().unwrap_or_default()
            )))
        }
    }

    fn set_up(&mut self, scenario: Scenario) -> Result<(), AdapterError> {
        let owner = self.owner_key();
        let create = self.request_as(
            Some(&owner),
            "PUT",
            None,
            &[("restype", "container")],
            &[],
            Bytes::new(),
        );
        let response = self.call(create)?;
        self.expect_success("creating the container", response)?;
        if scenario == Scenario::Access {
            for (blob, version) in [(0u8, 1u8), (1, 2)] {
                let put = self.request_as(
                    Some(&owner),
                    "PUT",
                    Some(blob),
                    &[],
                    &[
                        ("x-ms-blob-type", "BlockBlob".into()),
                        ("x-ms-meta-version", version.to_string()),
                    ],
                    blob_bytes(version),
                );
                let response = self.call(put)?;
                if !success(&response) {
                    tracing::warn!(
                        status = response.status,
                        "setting up, writing a blob failed"
                    );
                }
                let lease = self.request_as(
                    Some(&owner),
                    "PUT",
                    Some(blob),
                    &[("comp", "lease")],
                    &[
                        ("x-ms-lease-action", "acquire".into()),
                        ("x-ms-lease-duration", "-1".into()),
                        (
                            "x-ms-proposed-lease-id",
                            lease_guid(fabric_model::storage::FOREIGN_LEASE),
                        ),
                    ],
                    Bytes::new(),
                );
                // A refusal here is left for the replay to find: the initial
                // state it observes then differs from the trace's.
                let response = self.call(lease)?;
                if !success(&response) {
                    tracing::warn!(
                        status = response.status,
                        "setting up, leasing a blob failed"
                    );
                }
                self.versions[usize::from(blob)] = Some(version);
                self.lease_ids[usize::from(blob)] = Some(fabric_model::storage::FOREIGN_LEASE);
            }
            self.puts = 2;
        }
        Ok(())
    }

    fn store(
        &self,
    ) -> Result<
        Arc<fabric_impl::storage::store::ReplicatedStore<fabric_impl::storage::ops::BlobWrite>>,
        AdapterError,
    > {
        self.service
            .as_ref()
            .and_then(|service| service.store(DEFAULT_ACCOUNT))
            .ok_or_else(|| AdapterError::Failed("the account has no store".into()))
    }

    /// Sends a model write with the committer paused: `Accepted` once it is
    /// queued, or the refusal.
    fn start_write(
        &mut self,
        request: BlobRequest,
        op: WriteOp,
        snapshot_of: Option<u8>,
    ) -> Result<Outcome, AdapterError> {
        if self.in_flight.is_some() {
            return Err(AdapterError::Failed("a write is already in flight".into()));
        }
        if self.peer.is_some() {
            // The peer applies the write before it answers: keep the answer
            // for the commit.
            let response = self.call(request)?;
            if !success(&response) {
                return self.refusal(&response);
            }
            let sent_at = self.peer.as_ref().map_or(0, |peer| peer.step + 1);
            self.in_flight = Some(InFlight {
                op,
                answer: Answer::Given(response),
                snapshot_of,
                sent_at,
            });
            return Ok(Outcome::Accepted);
        }
        let store = self.store()?;
        store.pause_commits();
        let queued_before = store.queued_writes();
        let future = send(self.link.clone(), request, self.now_ms());
        let answer = self.runtime.spawn(future);
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if answer.is_finished() {
                store.resume_commits();
                let response = self
                    .runtime
                    .block_on(answer)
                    .map_err(|e| AdapterError::Failed(format!("the request task failed: {e}")))?
                    .map_err(AdapterError::Failed)?;
                if success(&response) {
                    return Err(AdapterError::Failed(format!(
                        "a write was answered {} before it was committed",
                        response.status
                    )));
                }
                return self.refusal(&response);
            }
            if store.queued_writes() > queued_before {
                self.in_flight = Some(InFlight {
                    op,
                    answer: Answer::Pending(answer),
                    snapshot_of,
                    sent_at: 0,
                });
                return Ok(Outcome::Accepted);
            }
            if Instant::now() > deadline {
                store.resume_commits();
                return Err(AdapterError::Failed(
                    "the write was neither queued nor answered".into(),
                ));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn commit(&mut self) -> Result<Outcome, AdapterError> {
        let flight = self
            .in_flight
            .take()
            .ok_or_else(|| AdapterError::Failed("commit with no write in flight".into()))?;
        let response = match flight.answer {
            Answer::Given(response) => {
                if let Some(peer) = &self.peer {
                    peer.committed.set(Some((flight.sent_at, response.status)));
                }
                response
            }
            Answer::Pending(answer) => {
                let store = self.store()?;
                store.resume_commits();
                self.runtime
                    .block_on(async { tokio::time::timeout(STEP_TIMEOUT, answer).await })
                    .map_err(|_| {
                        AdapterError::Failed("the write was not acknowledged in time".into())
                    })?
                    .map_err(|e| AdapterError::Failed(format!("the request task failed: {e}")))?
                    .map_err(AdapterError::Failed)?
            }
        };
        if !success(&response) {
            return self.refusal(&response);
        }
        let b = usize::from(flight.op.blob());
        match flight.op {
            WriteOp::Put { version, .. } => self.versions[b] = Some(version),
            WriteOp::Delete { .. } => {
                self.versions[b] = None;
                self.snapshot_ids[b] = None;
                self.lease_ids[b] = None;
                if let Some(peer) = self.peer.as_mut() {
                    peer.fixed_until[b] = None;
                    peer.lease_ran_out[b] = false;
                }
            }
            WriteOp::Snapshot { .. } => {
                if let Some(blob) = flight.snapshot_of {
                    self.snapshot_ids[usize::from(blob)] =
                        response.header("x-ms-snapshot").map(str::to_string);
                }
            }
        }
        Ok(Outcome::Acknowledged { op: flight.op })
    }

    /// Writes the container's ACL as the adapter's mirror says, signed by client 0.
    fn put_acl(
        &mut self,
        policies: [Option<Policy>; 5],
        public: PublicAccess,
    ) -> Result<Outcome, AdapterError> {
        let held = self.clients[0].clone();
        let request = self.acl_request(Some(&held), &policies, public);
        let response = self.call(request)?;
        if !success(&response) {
            return self.refusal(&response);
        }
        self.policies = policies;
        self.public = public;
        Ok(Outcome::AclSet)
    }

    /// A `Set Container ACL` request for `policies` and `public`, from `held`.
    fn acl_request(
        &self,
        held: Option<&Held>,
        policies: &[Option<Policy>; 5],
        public: PublicAccess,
    ) -> BlobRequest {
        let mut body =
            String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers>");
        for (id, policy) in policies.iter().enumerate() {
            if let Some(policy) = policy {
                body.push_str(&format!(
                    "<SignedIdentifier><Id>{}</Id><AccessPolicy><Expiry>{}</Expiry><Permission>{}</Permission></AccessPolicy></SignedIdentifier>",
                    policy_name(id as u8),
                    format_iso8601(self.policy_expiry_ms(policy.expiry)),
                    perms_to_impl(policy.perms)
                ));
            }
        }
        body.push_str("</SignedIdentifiers>");
        let mut headers = Vec::new();
        match public {
            PublicAccess::Off => {}
            PublicAccess::Blob => headers.push(("x-ms-blob-public-access", "blob".to_string())),
            PublicAccess::Container => {
                headers.push(("x-ms-blob-public-access", "container".to_string()))
            }
        }
        self.request_as(
            held,
            "PUT",
            None,
            &[("restype", "container"), ("comp", "acl")],
            &headers,
            Bytes::from(body),
        )
    }

    /// The instant a policy valid up to tick `expiry` (`u8::MAX`: for good)
    /// expires: on the service's clock, or in peer mode relative to real
    /// time (see the module documentation).
    fn policy_expiry_ms(&self, expiry: u8) -> UnixMs {
        match (&self.peer, expiry) {
            (None, u8::MAX) => FOREVER_MS,
            (None, _) => BASE_MS + UnixMs::from(expiry) * TICK_MS,
            (Some(_), u8::MAX) => self.real_at(self.clock) + (FOREVER_MS - BASE_MS),
            (Some(_), _) => self.real_at(expiry) + PEER_MARGIN_MS,
        }
    }

    fn regenerate(
        &mut self,
        slot: Slot,
        by: fabric_model::storage::Authority,
    ) -> Result<Outcome, AdapterError> {
        let key_name = match slot {
            Slot::Primary => "key1",
            Slot::Secondary => "key2",
        };
        let body = Bytes::from(json!({ "keyName": key_name }).to_string());
        let mut request = BlobRequest {
            method: "POST".into(),
            path: format!("{MANAGEMENT_PREFIX}{DEFAULT_ACCOUNT}/regenerateKey"),
            query: Vec::new(),
            headers: vec![("content-length".into(), body.len().to_string())],
            body,
            peer_ip: Some(std::net::IpAddr::from([127, 0, 0, 1])),
        };
        match by {
            fabric_model::storage::Authority::Subscription => request.headers.push((
                "authorization".into(),
                format!("Bearer {SUBSCRIPTION_TOKEN}"),
            )),
            fabric_model::storage::Authority::AccountKey => {
                request
                    .headers
                    .push(("x-ms-date".into(), format_http_date(self.now_ms())));
                request
                    .headers
                    .push(("x-ms-version".into(), DEFAULT_VERSION.into()));
                if let Held::Key(key) = &self.clients[0] {
                    let view = RequestView {
                        method: &request.method,
                        path: &request.path,
                        query: &request.query,
                        headers: &request.headers,
                        peer_ip: request.peer_ip,
                    };
                    let authorization = auth::sign_shared_key(&view, DEFAULT_ACCOUNT, key.expose());
                    request
                        .headers
                        .push(("authorization".into(), authorization));
                }
            }
        }
        let response = self.call(request)?;
        if !success(&response) {
            return self.refusal(&response);
        }
        let index = slot.index();
        let key = self
            .service
            .as_ref()
            .and_then(|service| {
                service.account_key(
                    DEFAULT_ACCOUNT,
                    match slot {
                        Slot::Primary => auth::KeySlot::Primary,
                        Slot::Secondary => auth::KeySlot::Secondary,
                    },
                )
            })
            .ok_or_else(|| AdapterError::Failed("the account lost its key".into()))?;
        self.keys[index] = key;
        self.key_versions[index] += 1;
        Ok(Outcome::KeyRegenerated {
            slot,
            version: self.key_versions[index],
        })
    }

    fn lease(&mut self, blob: u8, op: LeaseOp) -> Result<Outcome, AdapterError> {
        let (action, mut headers): (&str, Vec<(&str, String)>) = match op {
            LeaseOp::Acquire { duration, id } => (
                "acquire",
                vec![
                    (
                        "x-ms-lease-duration",
                        match duration {
                            LeaseDuration::Fixed => (TICK_MS / 1000).to_string(),
                            LeaseDuration::Infinite => "-1".into(),
                        },
                    ),
                    ("x-ms-proposed-lease-id", lease_guid(id)),
                ],
            ),
            LeaseOp::Renew { id } => ("renew", vec![("x-ms-lease-id", lease_guid(id))]),
            LeaseOp::Change { id, proposed } => (
                "change",
                vec![
                    ("x-ms-lease-id", lease_guid(id)),
                    ("x-ms-proposed-lease-id", lease_guid(proposed)),
                ],
            ),
            LeaseOp::Release { id } => ("release", vec![("x-ms-lease-id", lease_guid(id))]),
            LeaseOp::Break => ("break", vec![("x-ms-lease-break-period", "0".into())]),
        };
        headers.push(("x-ms-lease-action", action.to_string()));
        let request = self.request(
            Caller::Client(0),
            "PUT",
            Some(blob),
            &[("comp", "lease")],
            &headers,
            Bytes::new(),
        );
        let response = self.call(request)?;
        if !success(&response) {
            return self.refusal(&response);
        }
        let b = usize::from(blob);
        let answered_id = response.header("x-ms-lease-id").and_then(lease_from_guid);
        let lease = match op {
            LeaseOp::Acquire { duration, .. } => Lease::Leased {
                id: answered_id
                    .ok_or_else(|| AdapterError::Failed("acquire answered no lease id".into()))?,
                until: (duration == LeaseDuration::Fixed).then_some(self.clock),
            },
            LeaseOp::Renew { .. } | LeaseOp::Change { .. } => {
                let properties = self.request_as(
                    Some(&self.owner_key()),
                    "HEAD",
                    Some(blob),
                    &[],
                    &[],
                    Bytes::new(),
                );
                let head = self.call(properties)?;
                let fixed = head.header("x-ms-lease-duration") == Some("fixed");
                Lease::Leased {
                    id: answered_id
                        .ok_or_else(|| AdapterError::Failed("the lease answer has no id".into()))?,
                    until: fixed.then_some(self.clock),
                }
            }
            LeaseOp::Release { .. } => Lease::Available,
            LeaseOp::Break => Lease::Broken {
                id: self.lease_ids[b].ok_or_else(|| {
                    AdapterError::Failed("broke a lease the adapter never saw".into())
                })?,
            },
        };
        self.lease_ids[b] = match lease {
            Lease::Available => None,
            Lease::Leased { id, .. } | Lease::Broken { id } | Lease::Expired { id } => Some(id),
        };
        Ok(Outcome::Lease { lease })
    }

    fn get(
        &mut self,
        caller: Caller,
        blob: u8,
        snapshot: bool,
        replica: u8,
    ) -> Result<Outcome, AdapterError> {
        let snapshot_id;
        let mut query: Vec<(&str, &str)> = Vec::new();
        if snapshot {
            snapshot_id = self.snapshot_ids[usize::from(blob)]
                .clone()
                .unwrap_or_else(|| "2025-01-01T00:00:00.0000000Z".into());
            query.push(("snapshot", snapshot_id.as_str()));
        }
        let request = self.request(
            caller,
            "GET",
            Some(blob),
            &query,
            &self.replica_header(replica),
            Bytes::new(),
        );
        let response = self.call(request)?;
        if !success(&response) {
            return self.refusal(&response);
        }
        let version = response
            .header("x-ms-meta-version")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                AdapterError::Failed("the blob has no version in its metadata".into())
            })?;
        let bytes = bytes_tag(&response.body).ok_or_else(|| {
            AdapterError::Failed("the blob's bytes are not a model blob's".into())
        })?;
        Ok(Outcome::Blob { version, bytes })
    }

    fn list(&self, held: Option<&Held>, replica: u8) -> Result<BlobResponse, AdapterError> {
        let request = self.request_as(
            held,
            "GET",
            None,
            &[
                ("restype", "container"),
                ("comp", "list"),
                ("include", "snapshots,metadata"),
            ],
            &self.replica_header(replica),
            Bytes::new(),
        );
        self.call(request)
    }

    /// Each replica's blobs and snapshots, with their versions.
    fn replica_contents(&self, replica: u8) -> Option<(Value, Value)> {
        let response = self.list(Some(&self.owner_key()), replica).ok()?;
        if !success(&response) {
            return None;
        }
        let listing = parse_listing(&response.body)?;
        let mut blobs = Vec::new();
        let mut snapshots = Vec::new();
        for entry in listing {
            let blob: u8 = entry.name.strip_prefix("blob")?.parse().ok()?;
            let record = (json!(blob), json!({ "version": entry.version? }));
            if entry.snapshot {
                snapshots.push(record);
            } else {
                blobs.push(record);
            }
        }
        Some((itf::map(blobs), itf::map(snapshots)))
    }

    /// The header that names the replica serving a read; none for a peer,
    /// which has no such header (and refuses headers it does not know).
    fn replica_header(&self, replica: u8) -> Vec<(&'static str, String)> {
        if self.peer.is_some() {
            Vec::new()
        } else {
            vec![(REPLICA_HEADER, replica.to_string())]
        }
    }

    /// A refusal in model terms. A peer's refusal is also kept for the log,
    /// and one whose code the model has no name for says so in peer terms
    /// ([`AdapterError::PeerAnswered`]), with the code from the body if the header has none.
    fn refusal(&self, response: &BlobResponse) -> Result<Outcome, AdapterError> {
        let Some(peer) = &self.peer else {
            return denied(response);
        };
        let body = std::str::from_utf8(&response.body).unwrap_or_default();
        let code = response
            .error_code()
            .or_else(|| between(body, "<Code>", "</Code>"))
            .unwrap_or("(no error code)")
            .to_string();
        *peer.refusal.borrow_mut() = Some(format!("{} {code}", response.status));
        match serde_json::from_value::<Denied>(Value::String(code.clone())) {
            Ok(reason) => Ok(Outcome::Denied { reason }),
            Err(_) => {
                let message = between(body, "<Message>", "</Message>")
                    .and_then(|m| m.lines().next())
                    .map(|m| format!(" (\"{m}\")"))
                    .unwrap_or_default();
                Err(AdapterError::PeerAnswered(format!(
                    "{} {code}{message}, a code the model has no name for",
                    response.status
                )))
            }
        }
    }

    /// Stops the HTTP server, if there is one; on a peer, deletes the
    /// trace's container (if it can).
    pub fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
        if self.peer.is_some() {
            let owner = self.owner_key();
            let request = self.request_as(
                Some(&owner),
                "DELETE",
                None,
                &[("restype", "container")],
                &[],
                Bytes::new(),
            );
            match self.call(request) {
                Ok(response) if success(&response) => {}
                Ok(response) => tracing::warn!(
                    status = response.status,
                    container = self.container.as_str(),
                    "could not delete the peer container"
                ),
                Err(e) => tracing::warn!(
                    container = self.container.as_str(),
                    "could not delete the peer container: {e}"
                ),
            }
        }
    }
}

/// One entry of a blob listing.
struct Listed {
    name: String,
    snapshot: bool,
    version: Option<u8>,
}

/// Reads names, snapshot marks and `version` metadata from a listing.
fn parse_listing(body: &[u8]) -> Option<Vec<Listed>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = Vec::new();
    for chunk in text.split("<Blob>").skip(1) {
        let name = between(chunk, "<Name>", "</Name>")?.to_string();
        let snapshot = chunk.contains("<Snapshot>");
        let version = between(chunk, "<version>", "</version>").and_then(|v| v.parse().ok());
        out.push(Listed {
            name,
            snapshot,
            version,
        });
    }
    Some(out)
}

fn between<'t>(text: &'t str, open: &str, close: &str) -> Option<&'t str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

impl Adapter<StorageModel> for StorageAdapter {
    fn apply(&mut self, action: &Action) -> Result<Outcome, AdapterError> {
        let Some(peer) = &self.peer else {
            return self.apply_here(action);
        };
        *peer.refusal.borrow_mut() = None;
        peer.requests.set(0);
        peer.committed.set(None);
        let result = self.apply_on_peer(action);
        self.log_peer_step(action, &result);
        result
    }

    fn observe(&self) -> Map<String, Value> {
        if self.peer.is_some() {
            return self.observe_peer();
        }
        let mut vars = Map::new();
        let placement = self
            .service
            .as_ref()
            .and_then(|service| service.replica_placement(DEFAULT_ACCOUNT))
            .unwrap_or_default();
        let home = self
            .service
            .as_ref()
            .and_then(|service| service.account_location(DEFAULT_ACCOUNT))
            .unwrap_or_default();
        let status = self.store().map(|store| store.status()).ok();
        let mut replicas = Vec::new();
        for r in 0..REPLICAS {
            let location = match placement.get(usize::from(r)) {
                Some((_, location)) if *location == home => Location::Chosen,
                _ => Location::Other,
            };
            let up = status.as_ref().is_some_and(|s| s[usize::from(r)].up);
            let mut replica = json!({ "location": itf::value(&location), "up": up });
            if up {
                if let Some((blobs, snapshots)) = self.replica_contents(r) {
                    replica["blobs"] = blobs;
                    replica["snapshots"] = snapshots;
                }
            }
            replicas.push((json!(r), replica));
        }
        vars.insert("replicas".into(), itf::map(replicas));
        vars.insert("public".into(), itf::value(&self.observed_public()));
        vars
    }
}

impl StorageAdapter {
    /// A step on fabric's service (and the parts of a peer's steps that
    /// are sent the same way).
    // Long: one arm per model action (to become one mapping shared with the peer).
    #[allow(clippy::too_many_lines)]
    fn apply_here(&mut self, action: &Action) -> Result<Outcome, AdapterError> {
        match *action {
            Action::Tick => {
                self.clock += 1;
                Ok(Outcome::Done)
            }
            Action::RegenerateKey { slot, by } => self.regenerate(slot, by),
            Action::Switch { client, slot } => {
                let key = self.keys[slot.index()].clone();
                let held = self
                    .clients
                    .get_mut(usize::from(client))
                    .ok_or_else(|| AdapterError::Failed(format!("no client {client}")))?;
                *held = Held::Key(key);
                Ok(Outcome::Done)
            }
            Action::IssueSas { grant } => {
                let Held::Key(key) = &self.clients[0] else {
                    return Err(AdapterError::Failed(
                        "client 0 holds no key to sign with".into(),
                    ));
                };
                let builder = match grant {
                    SasGrant::ReadBlob => {
                        SasBuilder::for_blob(DEFAULT_ACCOUNT, CONTAINER, &blob_name(0))
                            .permissions(Permissions::READ)
                            .start(self.now_ms())
                            .expiry(self.now_ms())
                    }
                    SasGrant::StoredPolicy(id) => {
                        SasBuilder::for_container(DEFAULT_ACCOUNT, CONTAINER)
                            .identifier(&policy_name(id))
                    }
                };
                let pairs = builder.query_pairs(key.expose());
                self.clients[1] = Held::Sas(pairs);
                Ok(Outcome::Done)
            }
            Action::SetPolicy { id, policy } => {
                let mut policies = self.policies;
                *policies
                    .get_mut(usize::from(id))
                    .ok_or_else(|| AdapterError::Failed(format!("no policy slot {id}")))? =
                    Some(policy);
                self.put_acl(policies, self.public)
            }
            Action::RemovePolicy { id } => {
                let mut policies = self.policies;
                *policies
                    .get_mut(usize::from(id))
                    .ok_or_else(|| AdapterError::Failed(format!("no policy slot {id}")))? = None;
                self.put_acl(policies, self.public)
            }
            Action::SetPublicAccess { level } => self.put_acl(self.policies, level),
            Action::Put {
                caller,
                blob,
                content,
                lease,
            } => {
                let version = self.puts + 1;
                let mut headers = vec![("x-ms-meta-version", version.to_string())];
                let body = match content {
                    Content::Bytes => {
                        headers.push(("x-ms-blob-type", "BlockBlob".into()));
                        blob_bytes(version)
                    }
                    Content::Zeros => {
                        headers.push(("x-ms-blob-type", "PageBlob".into()));
                        headers.push(("x-ms-blob-content-length", BLOB_BYTES.to_string()));
                        Bytes::new()
                    }
                };
                if let Some(id) = lease {
                    headers.push(("x-ms-lease-id", lease_guid(id)));
                }
                let request = self.request(caller, "PUT", Some(blob), &[], &headers, body);
                let outcome = self.start_write(
                    request,
                    WriteOp::Put {
                        blob,
                        version,
                        content,
                    },
                    None,
                )?;
                if outcome == Outcome::Accepted {
                    self.puts = version;
                }
                Ok(outcome)
            }
            Action::Delete {
                caller,
                blob,
                lease,
            } => {
                let mut headers = vec![("x-ms-delete-snapshots", "include".to_string())];
                if let Some(id) = lease {
                    headers.push(("x-ms-lease-id", lease_guid(id)));
                }
                let request =
                    self.request(caller, "DELETE", Some(blob), &[], &headers, Bytes::new());
                self.start_write(request, WriteOp::Delete { blob }, None)
            }
            Action::Snapshot { caller, blob } => {
                let version = self.versions[usize::from(blob)].unwrap_or(0);
                let request = self.request(
                    caller,
                    "PUT",
                    Some(blob),
                    &[("comp", "snapshot")],
                    &[],
                    Bytes::new(),
                );
                self.start_write(request, WriteOp::Snapshot { blob, version }, Some(blob))
            }
            Action::Lease { blob, op } => self.lease(blob, op),
            Action::Get {
                caller,
                blob,
                snapshot,
                replica,
            } => self.get(caller, blob, snapshot, replica),
            Action::List { caller, replica } => {
                let held = match caller {
                    Caller::Client(n) => self.clients.get(usize::from(n)).cloned(),
                    Caller::Anonymous => None,
                };
                let response = self.list(held.as_ref(), replica)?;
                if !success(&response) {
                    return self.refusal(&response);
                }
                let listing = parse_listing(&response.body)
                    .ok_or_else(|| AdapterError::Failed("the listing is not readable".into()))?;
                let mut blobs: Vec<u8> = listing
                    .iter()
                    .filter(|entry| !entry.snapshot)
                    .filter_map(|entry| entry.name.strip_prefix("blob")?.parse().ok())
                    .collect();
                blobs.sort_unstable();
                Ok(Outcome::Listed { blobs })
            }
            Action::Replicate { .. } => {
                if self.in_flight.is_none() {
                    return Err(AdapterError::Failed(
                        "replicate with no write in flight".into(),
                    ));
                }
                Ok(Outcome::Done)
            }
            Action::Commit => self.commit(),
            Action::Crash { replica } => {
                self.store()?.crash(usize::from(replica));
                Ok(Outcome::Done)
            }
            Action::Restart { replica } => {
                self.store()?.restart(usize::from(replica)).map_err(|e| {
                    AdapterError::Failed(format!("replica {replica} did not restart: {e}"))
                })?;
                Ok(Outcome::Done)
            }
        }
    }

    /// A step on a peer: what it cannot do is refused as such, the rest is
    /// sent as to fabric's service (see the module documentation).
    // Long: one arm per model action (to become one mapping shared with the peer).
    #[allow(clippy::too_many_lines)]
    fn apply_on_peer(&mut self, action: &Action) -> Result<Outcome, AdapterError> {
        match *action {
            Action::Tick => {
                let ended = self.clock;
                self.clock += 1;
                if let Some(peer) = self.peer.as_mut() {
                    for b in 0..usize::from(BLOBS) {
                        if peer.fixed_until[b].is_some_and(|until| until <= ended) {
                            peer.fixed_until[b] = None;
                            peer.lease_ran_out[b] = true;
                        }
                    }
                }
                // The peer's clock did not move: move the policies' expiries
                // instead, so that one the model has passed is passed there.
                if self.policies.iter().flatten().any(|p| p.expiry != u8::MAX) {
                    let owner = self.owner_key();
                    let request = self.acl_request(Some(&owner), &self.policies, self.public);
                    let response = self.call(request)?;
                    if !success(&response) {
                        return Err(AdapterError::Failed(format!(
                            "the peer refused the container ACL written again for the tick: {} {}",
                            response.status,
                            response.error_code().unwrap_or("(no error code)")
                        )));
                    }
                }
                Ok(Outcome::Done)
            }
            Action::RegenerateKey { .. } => Err(peer_cannot(
                "regenerate an account key (it has no management API)",
            )),
            Action::Switch {
                slot: Slot::Secondary,
                ..
            } => Err(peer_cannot(
                "sign with the account's secondary key (the replay is given one key, --peer-key)",
            )),
            Action::Switch {
                client,
                slot: Slot::Primary,
            } => {
                let key = self.keys[0].clone();
                let held = self
                    .clients
                    .get_mut(usize::from(client))
                    .ok_or_else(|| AdapterError::Failed(format!("no client {client}")))?;
                *held = Held::Key(key);
                Ok(Outcome::Done)
            }
            Action::IssueSas { grant } => {
                let Held::Key(key) = &self.clients[0] else {
                    return Err(AdapterError::Failed(
                        "client 0 holds no key to sign with".into(),
                    ));
                };
                let held = match grant {
                    SasGrant::ReadBlob => Held::AdHocSas {
                        key: key.clone(),
                        start: self.clock,
                        expiry: self.clock,
                    },
                    SasGrant::StoredPolicy(id) => Held::Sas(
                        SasBuilder::for_container(&self.account, &self.container)
                            .version(self.version)
                            .identifier(&policy_name(id))
                            .query_pairs(key.expose()),
                    ),
                };
                self.clients[1] = held;
                Ok(Outcome::Done)
            }
            Action::SetPolicy { .. }
            | Action::RemovePolicy { .. }
            | Action::SetPublicAccess { .. } => self.apply_here(action),
            Action::Put { blob, .. }
            | Action::Delete { blob, .. }
            | Action::Snapshot { blob, .. } => {
                self.check_lease_time(blob)?;
                self.apply_here(action)
            }
            Action::Lease { blob, .. } => {
                self.check_lease_time(blob)?;
                if let Some(kind) = self.write_in_flight_on(blob) {
                    return Err(peer_cannot(&format!(
                        "run a lease operation on blob {blob} as it was before the {kind} in flight (it applies a write before it answers)"
                    )));
                }
                let outcome = self.apply_here(action)?;
                if let (Outcome::Lease { lease }, Some(peer)) = (&outcome, self.peer.as_mut()) {
                    peer.fixed_until[usize::from(blob)] = match lease {
                        Lease::Leased { until, .. } => *until,
                        _ => None,
                    };
                }
                Ok(outcome)
            }
            Action::Get { blob, snapshot, .. } => {
                let touched = self.in_flight.as_ref().and_then(|flight| match flight.op {
                    WriteOp::Put { blob: b, .. } if b == blob && !snapshot => Some("put"),
                    WriteOp::Snapshot { blob: b, .. } if b == blob && snapshot => Some("snapshot"),
                    WriteOp::Delete { blob: b } if b == blob => Some("delete"),
                    _ => None,
                });
                if let Some(kind) = touched {
                    let what = if snapshot {
                        format!("the snapshot of blob {blob}")
                    } else {
                        format!("blob {blob}")
                    };
                    return Err(peer_cannot(&format!(
                        "show {what} as it was before the {kind} in flight (it applies a write before it answers)"
                    )));
                }
                self.apply_here(action)
            }
            Action::List { .. } => {
                let renames = self.in_flight.as_ref().and_then(|flight| match flight.op {
                    WriteOp::Put { blob, .. } if self.versions[usize::from(blob)].is_none() => {
                        Some("put")
                    }
                    WriteOp::Delete { .. } => Some("delete"),
                    _ => None,
                });
                if let Some(kind) = renames {
                    return Err(peer_cannot(&format!(
                        "list the container as it was before the {kind} in flight (it applies a write before it answers)"
                    )));
                }
                self.apply_here(action)
            }
            Action::Replicate { .. } => Ok(Outcome::Done),
            Action::Commit => self.commit(),
            Action::Crash { .. } => Err(peer_cannot(
                "crash a replica (it exposes no replicas and has no fault hooks)",
            )),
            Action::Restart { .. } => Err(peer_cannot(
                "restart a replica (it exposes no replicas and has no fault hooks)",
            )),
        }
    }

    /// The kind of the write in flight, if it is on `blob`.
    fn write_in_flight_on(&self, blob: u8) -> Option<&'static str> {
        self.in_flight
            .as_ref()
            .filter(|flight| flight.op.blob() == blob)
            .map(|flight| match flight.op {
                WriteOp::Put { .. } => "put",
                WriteOp::Delete { .. } => "delete",
                WriteOp::Snapshot { .. } => "snapshot",
            })
    }

    /// Peer mode: a fixed-duration lease the model let run out at a tick
    /// still runs on the peer, whose lease lasts real seconds.
    fn check_lease_time(&self, blob: u8) -> Result<(), AdapterError> {
        let ran_out = self
            .peer
            .as_ref()
            .is_some_and(|peer| peer.lease_ran_out[usize::from(blob)]);
        if ran_out {
            return Err(peer_cannot(&format!(
                "let the fixed-duration lease on blob {blob} run out at a tick (its lease lasts {} s of real time and ticks do not wait)",
                TICK_MS / 1000
            )));
        }
        Ok(())
    }

    /// Logs a peer step's result (`PEER-STEP {json}` under `fabric_peer`).
    fn log_peer_step(&mut self, action: &Action, result: &Result<Outcome, AdapterError>) {
        let Some(peer) = self.peer.as_mut() else {
            return;
        };
        peer.step += 1;
        let (kind, observed) = match result {
            Ok(outcome) => ("outcome", format!("{outcome:?}")),
            Err(e) if e.is_peer_limit() => ("not-applicable", e.to_string()),
            Err(e) => ("error", e.to_string()),
        };
        let line = json!({
            "trace": peer.trace,
            "step": peer.step,
            "action": serde_json::to_value(action).unwrap_or(Value::Null),
            "result": kind,
            "observed": observed,
            "http": peer.refusal.borrow().clone(),
            "requests": peer.requests.get(),
            "reports": peer
                .committed
                .get()
                .map(|(step, status)| json!({ "step": step, "status": status })),
        });
        tracing::info!(target: "fabric_peer", "PEER-STEP {line}");
    }

    /// What a peer can show of the model's variables: the public access
    /// level (`Get Container ACL`), if it answers.
    fn observe_peer(&self) -> Map<String, Value> {
        let mut vars = Map::new();
        let request = self.request_as(
            Some(&self.owner_key()),
            "GET",
            None,
            &[("restype", "container"), ("comp", "acl")],
            &[],
            Bytes::new(),
        );
        match self.call(request) {
            Ok(response) if success(&response) => {
                let level = match response.header("x-ms-blob-public-access") {
                    Some("blob") => PublicAccess::Blob,
                    Some("container") => PublicAccess::Container,
                    _ => PublicAccess::Off,
                };
                vars.insert("public".into(), itf::value(&level));
            }
            Ok(response) => tracing::warn!(
                status = response.status,
                "the peer did not show the container ACL"
            ),
            Err(e) => tracing::warn!("the peer did not show the container ACL: {e}"),
        }
        vars
    }
}

impl StorageAdapter {
    /// The public level as the service reports it (`Get Container ACL`).
    fn observed_public(&self) -> PublicAccess {
        let request = self.request_as(
            Some(&self.owner_key()),
            "GET",
            None,
            &[("restype", "container"), ("comp", "acl")],
            &[],
            Bytes::new(),
        );
        match self.call(request) {
            Ok(response) => match response.header("x-ms-blob-public-access") {
                Some("blob") => PublicAccess::Blob,
                Some("container") => PublicAccess::Container,
                _ => PublicAccess::Off,
            },
            Err(_) => PublicAccess::Off,
        }
    }
}

/// The storage area (STO-1 to STO-9, GEO-1, and the storage service's side
/// of DRV-1).
pub struct StorageArea;

impl Area for StorageArea {
    fn name(&self) -> &'static str {
        "storage"
    }

    fn properties(&self) -> Vec<(String, &'static str)> {
        kit::property_rows(&StorageConfig::default().into_model())
    }

    fn flaws(&self) -> Vec<FlawRow> {
        kit::flaw_rows::<StorageModel, _>(&Flaw::ALL, Flaw::name, Flaw::breaks, Flaw::description)
    }

    fn check(
        &self,
        flaw: Option<&str>,
        deep: bool,
        threads: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Option<ModelReport> {
        let flaw = match flaw {
            None => None,
            Some(name) => Some(Flaw::from_name(name)?),
        };
        let cfg = if deep {
            StorageConfig::deep()
        } else {
            StorageConfig::default()
        };
        Some(kit::check_model(
            cfg.with_flaw(flaw).into_model(),
            threads,
            progress,
        ))
    }

    fn explore(&self, flaw: Option<&str>, addr: SocketAddr) -> anyhow::Result<()> {
        let flaw = kit::find_flaw("storage", &Flaw::ALL, Flaw::name, flaw)?;
        kit::explore_model(StorageConfig::default().with_flaw(flaw).into_model(), addr)
    }

    fn traces(&self, progress: &mut dyn FnMut(String)) -> anyhow::Result<Vec<TraceFile>> {
        Ok(kit::render(&storage_traces(progress)?))
    }

    fn replay_file(
        &self,
        path: &Path,
        transport: Transport,
        bugs: BugSet,
    ) -> anyhow::Result<ReplayReport> {
        replay_storage_file(path, transport, bugs)
    }

    fn prepare_peer(&self, peer: &PeerEndpoint) -> anyhow::Result<()> {
        PeerTarget::new(&peer.url, &peer.account, &peer.key_base64).map(|_| ())
    }

    fn replay_on_peer(&self, path: &Path, peer: &PeerEndpoint) -> anyhow::Result<ReplayReport> {
        let target = PeerTarget::new(&peer.url, &peer.account, &peer.key_base64)?;
        replay_storage_peer_file(path, &target)
    }
}

/// Every storage trace: coverage, one counterexample per flaw, random walks
/// (alternating between the two scenarios).
pub fn storage_traces(
    progress: &mut dyn FnMut(String),
) -> anyhow::Result<Vec<(String, StorageModel, crate::Trace<StorageModel>)>> {
    let flawed = Flaw::ALL
        .into_iter()
        .map(|flaw| {
            (
                flaw.to_string(),
                StorageConfig::default().with_flaw(Some(flaw)).into_model(),
            )
        })
        .collect();
    kit::model_traces(StorageConfig::default().into_model(), flawed, progress)
}

/// Replays a storage trace file against a fresh service with `bugs`.
pub fn replay_storage_file(
    path: &Path,
    transport: Transport,
    bugs: BugSet,
) -> anyhow::Result<ReplayReport> {
    let raw = read_trace::<Action, Outcome>(path)?;
    Ok(replay_storage_trace(&raw, transport, bugs)?)
}

/// Replays a storage trace against a fresh service with `bugs`.
pub fn replay_storage_trace(
    raw: &RawTrace<Action, Outcome>,
    transport: Transport,
    bugs: BugSet,
) -> Result<ReplayReport, ReplayError> {
    let (cfg, scenario, model, correct) = trace_models(raw)?;
    let mut adapter = StorageAdapter::new(&cfg, scenario, bugs, transport).map_err(|source| {
        ReplayError::Adapter {
            path: raw.path.clone(),
            step: 0,
            source,
        }
    })?;
    let report = replay(&model, &correct, raw, &mut adapter);
    adapter.shutdown();
    report
}

/// A storage trace's bounds, scenario, model (with its flaw) and the
/// correct model.
fn trace_models(
    raw: &RawTrace<Action, Outcome>,
) -> Result<(StorageConfig, Scenario, StorageModel, StorageModel), ReplayError> {
    let meta_error = |message: String| ReplayError::Meta {
        path: raw.path.clone(),
        message,
    };
    if raw.meta.model != "storage" {
        return Err(meta_error(format!(
            "not a storage trace but {:?}",
            raw.meta.model
        )));
    }
    let cfg = StorageConfig::from_bounds_line(&raw.meta.bounds).map_err(meta_error)?;
    let flaw = match &raw.meta.flaw {
        None => None,
        Some(name) => Some(
            Flaw::from_name(name).ok_or_else(|| meta_error(format!("unknown flaw {name:?}")))?,
        ),
    };
    let scenario: Scenario = raw
        .init_vars
        .get("scenario")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .ok_or_else(|| meta_error("the initial state names no scenario".into()))?;
    let model = cfg.clone().with_flaw(flaw).into_model();
    let correct = cfg.clone().into_model();
    Ok((cfg, scenario, model, correct))
}

/// The model variables a peer's observation holds.
const PEER_OBSERVES: &[&str] = &["public"];

/// Replays a storage trace file against another Blob service, `peer`.
pub fn replay_storage_peer_file(path: &Path, peer: &PeerTarget) -> anyhow::Result<ReplayReport> {
    let raw = read_trace::<Action, Outcome>(path)?;
    Ok(replay_storage_trace_on_peer(&raw, peer)?)
}

/// Replays a storage trace against another Blob service, `peer`, in a
/// container of its own (see the module documentation). A flaw trace whose
/// flaw shows only in variables the peer cannot show, and that the peer
/// otherwise follows to the end, is an [`AdapterError`] at the flaw's step
/// saying so ([`AdapterError::PeerCannot`]), not a flaw left unstopped.
pub fn replay_storage_trace_on_peer(
    raw: &RawTrace<Action, Outcome>,
    peer: &PeerTarget,
) -> Result<ReplayReport, ReplayError> {
    let (_, scenario, model, correct) = trace_models(raw)?;
    let trace = raw.path.display().to_string();
    let point = recheck(&model, &correct, raw)?;
    if let (Some(point), Some(_)) = (&point, &raw.meta.flaw) {
        let line = json!({
            "trace": trace,
            "flaw": raw.meta.flaw,
            "flaw_step": point.step,
            "correct": point.correct.as_ref().map(CorrectStep::to_json),
            "vars": point.vars,
            "later": point.later.iter().map(CorrectStep::to_json).collect::<Vec<_>>(),
        });
        tracing::info!(target: "fabric_peer", "PEER-TRACE {line}");
    }
    let mut adapter =
        StorageAdapter::on_peer(scenario, peer, &trace).map_err(|source| ReplayError::Adapter {
            path: raw.path.clone(),
            step: 0,
            source,
        })?;
    let report = replay_checked(raw, point.as_ref().map(|p| p.step), &mut adapter);
    adapter.shutdown();
    let report = report?;
    if let (
        Verdict::NotStopped {
            expected_step,
            mismatch: None,
        },
        Some(point),
    ) = (&report.verdict, &point)
    {
        let same_outcome = point.step == 0
            || raw.steps.get(point.step - 1).is_some_and(|step| {
                point.correct.as_ref().map(|correct| &correct.outcome) == Some(&step.outcome)
            });
        let unseen = !point.vars.is_empty()
            && point
                .vars
                .iter()
                .all(|name| !PEER_OBSERVES.contains(&name.as_str()));
        if same_outcome && unseen {
            let shown: Vec<String> = point
                .vars
                .iter()
                .filter(|name| !StorageModel::var_claims(name).is_empty())
                .map(|name| {
                    let claims: Vec<String> = StorageModel::var_claims(name)
                        .iter()
                        .map(|c| c.to_string())
                        .collect();
                    format!("`{name}` ({})", claims.join(", "))
                })
                .collect();
            return Err(ReplayError::Adapter {
                path: raw.path.clone(),
                step: *expected_step,
                source: peer_cannot(&format!(
                    "show {}, where this flaw shows at step {expected_step}: the peer shows only the public access level, and answered every step as the trace says",
                    shown.join(" and ")
                )),
            });
        }
    }
    Ok(report)
}
