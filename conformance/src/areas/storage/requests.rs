//! Building and signing Blob requests, and the [`Link`] that carries them
//! to the service: in process, over HTTP to fabric's server, or over HTTP
//! to a peer. [`Session`] is what both adapters hold: the link, the names
//! requests address, and the adapter's mirror of the model's variables.

use super::names::{blob_bytes, blob_name, lease_guid, perms_to_impl, policy_name};
use super::{PEER_MARGIN_MS, TICK_MS};
use crate::replay::AdapterError;
use bytes::Bytes;
use fabric_impl::secret::SecretBytes;
use fabric_impl::storage::acl::Permissions;
use fabric_impl::storage::auth::{self, RequestView, SasBuilder};
use fabric_impl::storage::clock::{
    format_http_date, format_iso8601, now_ms as real_now_ms, UnixMs,
};
use fabric_impl::storage::service::{BlobRequest, BlobResponse, StorageService};
use fabric_model::storage::{Caller, Policy, PublicAccess, Scenario, WriteOp, BLOBS};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a step may wait for the service.
pub(super) const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// What a client of the model holds, in the service's terms.
#[derive(Clone, Debug)]
pub(super) enum Held {
    Key(SecretBytes),
    Sas(Vec<(String, String)>),
    /// Peer mode: the ad hoc SAS on blob 0, signed afresh at each use with
    /// `key` for the window `start..=expiry` (in ticks), written relative to
    /// the peer's real time by [`ad_hoc_sas`] (see the module documentation).
    AdHocSas {
        key: SecretBytes,
        start: u8,
        expiry: u8,
    },
}

/// How requests reach the service.
#[derive(Clone)]
pub(super) enum Link {
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

pub(super) async fn send(
    link: Link,
    request: BlobRequest,
    now_ms: UnixMs,
) -> Result<BlobResponse, String> {
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

/// What an adapter holds of the service it drives: the runtime and link,
/// the names requests address, and its mirror of the model's variables.
pub(super) struct Session {
    pub(super) runtime: tokio::runtime::Runtime,
    pub(super) link: Link,
    /// The account requests are signed for.
    pub(super) account: String,
    /// The path that addresses the account (`/ACCOUNT`).
    pub(super) prefix: String,
    /// The container the model's blobs live in.
    pub(super) container: String,
    /// `x-ms-version` of every request.
    pub(super) version: &'static str,
    /// The time of tick 0.
    pub(super) base_ms: UnixMs,
    pub(super) clock: u8,
    pub(super) key_versions: [u8; 2],
    pub(super) keys: [SecretBytes; 2],
    pub(super) clients: [Held; 2],
    pub(super) policies: [Option<Policy>; 5],
    pub(super) public: PublicAccess,
    pub(super) puts: u8,
    pub(super) versions: [Option<u8>; BLOBS as usize],
    pub(super) snapshot_ids: [Option<String>; BLOBS as usize],
    pub(super) lease_ids: [Option<u8>; BLOBS as usize],
    pub(super) in_flight: Option<InFlight>,
    /// Requests sent since the count was last reset (for the peer's log).
    pub(super) requests: Cell<usize>,
}

/// Where a session's requests go and how they are signed.
pub(super) struct Addressing {
    pub(super) link: Link,
    pub(super) account: String,
    pub(super) prefix: String,
    pub(super) container: String,
    pub(super) version: &'static str,
    pub(super) base_ms: UnixMs,
}

impl Session {
    /// A session at tick 0 with `keys`, both clients holding the first.
    pub(super) fn new(
        runtime: tokio::runtime::Runtime,
        to: Addressing,
        keys: [SecretBytes; 2],
    ) -> Session {
        let first = keys[0].clone();
        Session {
            runtime,
            link: to.link,
            account: to.account,
            prefix: to.prefix,
            container: to.container,
            version: to.version,
            base_ms: to.base_ms,
            clock: 0,
            key_versions: [0, 0],
            keys,
            clients: [Held::Key(first.clone()), Held::Key(first)],
            policies: [None; 5],
            public: PublicAccess::Off,
            puts: 0,
            versions: [None; BLOBS as usize],
            snapshot_ids: [None, None],
            lease_ids: [None; BLOBS as usize],
            in_flight: None,
            requests: Cell::new(0),
        }
    }

    pub(super) fn now_ms(&self) -> UnixMs {
        self.base_ms + UnixMs::from(self.clock) * TICK_MS
    }

    /// What `caller` holds (nothing, for an anonymous caller).
    pub(super) fn held(&self, caller: Caller) -> Option<Held> {
        match caller {
            Caller::Client(n) => self.clients.get(usize::from(n)).cloned(),
            Caller::Anonymous => None,
        }
    }

    /// Builds a request from `caller` (signed as it signs), at the current tick.
    pub(super) fn request(
        &self,
        caller: Caller,
        method: &str,
        blob: Option<u8>,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        body: Bytes,
    ) -> BlobRequest {
        let held = self.held(caller);
        self.request_as(held.as_ref(), method, blob, query, headers, body)
    }

    pub(super) fn request_as(
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
                request.query.extend(ad_hoc_sas(self, key, *start, *expiry))
            }
            None => {}
        }
        request
    }

    pub(super) fn call(&self, request: BlobRequest) -> Result<BlobResponse, AdapterError> {
        self.requests.set(self.requests.get() + 1);
        let future = send(self.link.clone(), request, self.now_ms());
        self.runtime
            .block_on(async { tokio::time::timeout(STEP_TIMEOUT, future).await })
            .map_err(|_| AdapterError::Failed("the service did not answer in time".into()))?
            .map_err(AdapterError::Failed)
    }

    pub(super) fn owner_key(&self) -> Held {
        Held::Key(self.keys[0].clone())
    }

    pub(super) fn expect_success(
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

    pub(super) fn set_up(&mut self, scenario: Scenario) -> Result<(), AdapterError> {
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

    /// A `Set Container ACL` request for `policies` and `public`, from
    /// `held`, a policy valid up to tick `k` expiring at `expiry_ms(k)`.
    pub(super) fn acl_request(
        &self,
        held: Option<&Held>,
        policies: &[Option<Policy>; 5],
        public: PublicAccess,
        expiry_ms: &dyn Fn(u8) -> UnixMs,
    ) -> BlobRequest {
        let mut body =
            String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers>");
        for (id, policy) in policies.iter().enumerate() {
            if let Some(policy) = policy {
                body.push_str(&format!(
                    "<SignedIdentifier><Id>{}</Id><AccessPolicy><Expiry>{}</Expiry><Permission>{}</Permission></AccessPolicy></SignedIdentifier>",
                    policy_name(id as u8),
                    format_iso8601(expiry_ms(policy.expiry)),
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

    /// A `Get Container ACL` request signed with the owner's key.
    pub(super) fn get_acl_request(&self) -> BlobRequest {
        self.request_as(
            Some(&self.owner_key()),
            "GET",
            None,
            &[("restype", "container"), ("comp", "acl")],
            &[],
            Bytes::new(),
        )
    }

    /// A `List Blobs` request (with snapshots and metadata) from `held`.
    pub(super) fn list_request(
        &self,
        held: Option<&Held>,
        replica_header: &[(&str, String)],
    ) -> BlobRequest {
        self.request_as(
            held,
            "GET",
            None,
            &[
                ("restype", "container"),
                ("comp", "list"),
                ("include", "snapshots,metadata"),
            ],
            replica_header,
            Bytes::new(),
        )
    }
}

/// Whether the service said yes.
pub(super) fn success(response: &BlobResponse) -> bool {
    (200..300).contains(&response.status)
}

/// The public access level a `Get Container ACL` answer names.
pub(super) fn public_level(response: &BlobResponse) -> PublicAccess {
    match response.header("x-ms-blob-public-access") {
        Some("blob") => PublicAccess::Blob,
        Some("container") => PublicAccess::Container,
        _ => PublicAccess::Off,
    }
}

/// The answer to a write in flight.
pub(super) enum Answer {
    /// The service's answer, once the committer lets it go.
    Pending(tokio::task::JoinHandle<Result<BlobResponse, String>>),
    /// A peer's answer, given before the model commits, to the request sent
    /// at step `sent_at`.
    Given {
        response: BlobResponse,
        sent_at: usize,
    },
}

/// A write the model has accepted and not yet committed.
pub(super) struct InFlight {
    pub(super) op: WriteOp,
    pub(super) answer: Answer,
    pub(super) snapshot_of: Option<u8>,
}

/// The real instant, in whole seconds, that stands for tick `tick` now,
/// the session being at its own tick (see the module documentation).
pub(super) fn real_at(session: &Session, tick: u8) -> UnixMs {
    real_now_ms() / 1000 * 1000 + (i64::from(tick) - i64::from(session.clock)) * TICK_MS
}

/// The query pairs of the ad hoc SAS on blob 0 signed with `key` for the
/// window `start..=expiry` (in ticks), against the peer's real clock now:
/// [`PEER_MARGIN_MS`] before the start and after the expiry.
pub(super) fn ad_hoc_sas(
    session: &Session,
    key: &SecretBytes,
    start: u8,
    expiry: u8,
) -> Vec<(String, String)> {
    SasBuilder::for_blob(&session.account, &session.container, &blob_name(0))
        .version(session.version)
        .permissions(Permissions::READ)
        .start(real_at(session, start) - PEER_MARGIN_MS)
        .expiry(real_at(session, expiry) + PEER_MARGIN_MS)
        .query_pairs(key.expose())
}
