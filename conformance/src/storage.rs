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

use crate::cli::Transport;
use crate::itf::{read_trace, RawTrace};
use crate::replay::{replay, Adapter, AdapterError, ReplayError, ReplayReport};
use bytes::Bytes;
use fabric_impl::bugs::BugSet;
use fabric_impl::secret::SecretBytes;
use fabric_impl::storage::acl::Permissions;
use fabric_impl::storage::auth::{self, RequestView, SasBuilder};
use fabric_impl::storage::clock::{format_http_date, format_iso8601, UnixMs};
use fabric_impl::storage::http::StorageServer;
use fabric_impl::storage::service::{
    AccountSpec, Request, Response, ServiceConfig, StorageService, DEFAULT_ACCOUNT,
    DEFAULT_VERSION, MANAGEMENT_PREFIX, REPLICA_HEADER,
};
use fabric_model::storage::{
    Action, Caller, Content, Denied, Flaw, Lease, LeaseDuration, LeaseOp, Location, Outcome, Perms,
    Policy, PublicAccess, SasGrant, Scenario, Slot, StorageConfig, StorageModel, WriteOp, BLOBS,
    REPLICAS,
};
use fabric_model::trace::itf;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
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

fn denied(response: &Response) -> Result<Outcome, AdapterError> {
    let code = response.error_code().unwrap_or("(none)").to_string();
    serde_json::from_value::<Denied>(Value::String(code.clone()))
        .map(|reason| Outcome::Denied { reason })
        .map_err(|_| {
            AdapterError(format!(
                "the service answered {} {code}, which the model has no name for",
                response.status
            ))
        })
}

fn success(response: &Response) -> bool {
    (200..300).contains(&response.status)
}

/// What a client of the model holds, in the service's terms.
#[derive(Clone, Debug)]
enum Held {
    Key(SecretBytes),
    Sas(Vec<(String, String)>),
}

/// How requests reach the service.
#[derive(Clone)]
enum Link {
    InProcess,
    Wire {
        addr: SocketAddr,
        now_ms: Arc<AtomicI64>,
    },
}

/// A write the model has accepted and not yet committed.
struct InFlight {
    op: WriteOp,
    answer: tokio::task::JoinHandle<Result<Response, String>>,
    snapshot_of: Option<u8>,
}

/// The storage service, driven in model terms.
pub struct StorageAdapter {
    runtime: tokio::runtime::Runtime,
    service: Arc<StorageService>,
    link: Link,
    server: Option<StorageServer>,
    _data: tempfile::TempDir,
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

async fn send(
    service: Arc<StorageService>,
    link: Link,
    request: Request,
    now_ms: UnixMs,
) -> Result<Response, String> {
    match link {
        Link::InProcess => Ok(service.handle(request, now_ms).await),
        Link::Wire {
            addr,
            now_ms: clock,
        } => {
            clock.store(now_ms, Ordering::SeqCst);
            send_over_http(addr, request).await
        }
    }
}

const QUERY_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

async fn send_over_http(addr: SocketAddr, request: Request) -> Result<Response, String> {
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
    Ok(Response {
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
        let fail = |what: &str, e: &dyn std::fmt::Display| AdapterError(format!("{what}: {e}"));
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
            Transport::Inproc => (Link::InProcess, None),
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
            .ok_or_else(|| AdapterError("the account has no primary key".into()))?;
        let secondary = service
            .account_key(DEFAULT_ACCOUNT, auth::KeySlot::Secondary)
            .ok_or_else(|| AdapterError("the account has no secondary key".into()))?;
        let mut adapter = StorageAdapter {
            runtime,
            service,
            link,
            server,
            _data: data,
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

    fn now_ms(&self) -> UnixMs {
        BASE_MS + UnixMs::from(self.clock) * TICK_MS
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
    ) -> Request {
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
    ) -> Request {
        let path = match blob {
            Some(b) => format!("/{DEFAULT_ACCOUNT}/{CONTAINER}/{}", blob_name(b)),
            None => format!("/{DEFAULT_ACCOUNT}/{CONTAINER}"),
        };
        let mut request = Request {
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
            .push(("x-ms-version".into(), DEFAULT_VERSION.into()));
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
                let authorization = auth::sign_shared_key(&view, DEFAULT_ACCOUNT, key.expose());
                request
                    .headers
                    .push(("authorization".into(), authorization));
            }
            Some(Held::Sas(pairs)) => request.query.extend(pairs.iter().cloned()),
            None => {}
        }
        request
    }

    fn call(&self, request: Request) -> Result<Response, AdapterError> {
        let future = send(
            Arc::clone(&self.service),
            self.link.clone(),
            request,
            self.now_ms(),
        );
        self.runtime
            .block_on(async { tokio::time::timeout(STEP_TIMEOUT, future).await })
            .map_err(|_| AdapterError("the service did not answer in time".into()))?
            .map_err(AdapterError)
    }

    fn owner_key(&self) -> Held {
        Held::Key(self.keys[0].clone())
    }

    fn expect_success(&self, what: &str, response: Response) -> Result<Response, AdapterError> {
        if success(&response) {
            Ok(response)
        } else {
            Err(AdapterError(format!(
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
        Arc<fabric_impl::storage::store::ReplicatedStore<fabric_impl::storage::ops::BuggyWrite>>,
        AdapterError,
    > {
        self.service
            .store(DEFAULT_ACCOUNT)
            .ok_or_else(|| AdapterError("the account has no store".into()))
    }

    /// Sends a model write with the committer paused: `Accepted` once it is
    /// queued, or the refusal.
    fn start_write(
        &mut self,
        request: Request,
        op: WriteOp,
        snapshot_of: Option<u8>,
    ) -> Result<Outcome, AdapterError> {
        if self.in_flight.is_some() {
            return Err(AdapterError("a write is already in flight".into()));
        }
        let store = self.store()?;
        store.pause_commits();
        let queued_before = store.queued_writes();
        let future = send(
            Arc::clone(&self.service),
            self.link.clone(),
            request,
            self.now_ms(),
        );
        let answer = self.runtime.spawn(future);
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if answer.is_finished() {
                store.resume_commits();
                let response = self
                    .runtime
                    .block_on(answer)
                    .map_err(|e| AdapterError(format!("the request task failed: {e}")))?
                    .map_err(AdapterError)?;
                if success(&response) {
                    return Err(AdapterError(format!(
                        "a write was answered {} before it was committed",
                        response.status
                    )));
                }
                return denied(&response);
            }
            if store.queued_writes() > queued_before {
                self.in_flight = Some(InFlight {
                    op,
                    answer,
                    snapshot_of,
                });
                return Ok(Outcome::Accepted);
            }
            if Instant::now() > deadline {
                store.resume_commits();
                return Err(AdapterError(
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
            .ok_or_else(|| AdapterError("commit with no write in flight".into()))?;
        let store = self.store()?;
        store.resume_commits();
        let response = self
            .runtime
            .block_on(async { tokio::time::timeout(STEP_TIMEOUT, flight.answer).await })
            .map_err(|_| AdapterError("the write was not acknowledged in time".into()))?
            .map_err(|e| AdapterError(format!("the request task failed: {e}")))?
            .map_err(AdapterError)?;
        if !success(&response) {
            return denied(&response);
        }
        let b = usize::from(flight.op.blob());
        match flight.op {
            WriteOp::Put { version, .. } => self.versions[b] = Some(version),
            WriteOp::Delete { .. } => {
                self.versions[b] = None;
                self.snapshot_ids[b] = None;
                self.lease_ids[b] = None;
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
        let mut body =
            String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers>");
        for (id, policy) in policies.iter().enumerate() {
            if let Some(policy) = policy {
                let expiry = if policy.expiry == u8::MAX {
                    FOREVER_MS
                } else {
                    BASE_MS + UnixMs::from(policy.expiry) * TICK_MS
                };
                body.push_str(&format!(
                    "<SignedIdentifier><Id>{}</Id><AccessPolicy><Expiry>{}</Expiry><Permission>{}</Permission></AccessPolicy></SignedIdentifier>",
                    policy_name(id as u8),
                    format_iso8601(expiry),
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
        let request = self.request(
            Caller::Client(0),
            "PUT",
            None,
            &[("restype", "container"), ("comp", "acl")],
            &headers,
            Bytes::from(body),
        );
        let response = self.call(request)?;
        if !success(&response) {
            return denied(&response);
        }
        self.policies = policies;
        self.public = public;
        Ok(Outcome::AclSet)
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
        let mut request = Request {
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
            return denied(&response);
        }
        let index = slot.index();
        let key = self
            .service
            .account_key(
                DEFAULT_ACCOUNT,
                match slot {
                    Slot::Primary => auth::KeySlot::Primary,
                    Slot::Secondary => auth::KeySlot::Secondary,
                },
            )
            .ok_or_else(|| AdapterError("the account lost its key".into()))?;
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
            return denied(&response);
        }
        let b = usize::from(blob);
        let answered_id = response.header("x-ms-lease-id").and_then(lease_from_guid);
        let lease = match op {
            LeaseOp::Acquire { duration, .. } => Lease::Leased {
                id: answered_id
                    .ok_or_else(|| AdapterError("acquire answered no lease id".into()))?,
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
                        .ok_or_else(|| AdapterError("the lease answer has no id".into()))?,
                    until: fixed.then_some(self.clock),
                }
            }
            LeaseOp::Release { .. } => Lease::Available,
            LeaseOp::Break => Lease::Broken {
                id: self.lease_ids[b]
                    .ok_or_else(|| AdapterError("broke a lease the adapter never saw".into()))?,
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
            &[(REPLICA_HEADER, replica.to_string())],
            Bytes::new(),
        );
        let response = self.call(request)?;
        if !success(&response) {
            return denied(&response);
        }
        let version = response
            .header("x-ms-meta-version")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| AdapterError("the blob has no version in its metadata".into()))?;
        let bytes = bytes_tag(&response.body)
            .ok_or_else(|| AdapterError("the blob's bytes are not a model blob's".into()))?;
        Ok(Outcome::Blob { version, bytes })
    }

    fn list(&self, held: Option<&Held>, replica: u8) -> Result<Response, AdapterError> {
        let request = self.request_as(
            held,
            "GET",
            None,
            &[
                ("restype", "container"),
                ("comp", "list"),
                ("include", "snapshots,metadata"),
            ],
            &[(REPLICA_HEADER, replica.to_string())],
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

    /// Stops the HTTP server, if there is one.
    pub fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
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
                    .ok_or_else(|| AdapterError(format!("no client {client}")))?;
                *held = Held::Key(key);
                Ok(Outcome::Done)
            }
            Action::IssueSas { grant } => {
                let Held::Key(key) = &self.clients[0] else {
                    return Err(AdapterError("client 0 holds no key to sign with".into()));
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
                    .ok_or_else(|| AdapterError(format!("no policy slot {id}")))? = Some(policy);
                self.put_acl(policies, self.public)
            }
            Action::RemovePolicy { id } => {
                let mut policies = self.policies;
                *policies
                    .get_mut(usize::from(id))
                    .ok_or_else(|| AdapterError(format!("no policy slot {id}")))? = None;
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
                    return denied(&response);
                }
                let listing = parse_listing(&response.body)
                    .ok_or_else(|| AdapterError("the listing is not readable".into()))?;
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
                    return Err(AdapterError("replicate with no write in flight".into()));
                }
                Ok(Outcome::Done)
            }
            Action::Commit => self.commit(),
            Action::Crash { replica } => {
                self.store()?.crash(usize::from(replica));
                Ok(Outcome::Done)
            }
            Action::Restart { replica } => {
                self.store()?
                    .restart(usize::from(replica))
                    .map_err(|e| AdapterError(format!("replica {replica} did not restart: {e}")))?;
                Ok(Outcome::Done)
            }
        }
    }

    fn observe(&self) -> Map<String, Value> {
        let mut vars = Map::new();
        let placement = self
            .service
            .replica_placement(DEFAULT_ACCOUNT)
            .unwrap_or_default();
        let home = self
            .service
            .account_location(DEFAULT_ACCOUNT)
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
