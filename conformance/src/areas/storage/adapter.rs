//! [`StorageAdapter`]: fabric's own storage service, in process or over
//! HTTP to a [`StorageServer`], with its fault hooks (crash and restart a
//! replica), its management endpoint (regenerate a key), the replica
//! header, and writes held on the store's paused queue until the model
//! commits them.

use super::apply::{apply, BlobService};
use super::names::blob_name;
use super::requests::{send, success, Addressing, Answer, Held, Link, Session, STEP_TIMEOUT};
use super::{BASE_MS, CONTAINER, TICK_MS};
use crate::replay::{Adapter, AdapterError, Applied, Transport};
use bytes::Bytes;
use fabric_impl::bugs::BugSet;
use fabric_impl::secret::SecretBytes;
use fabric_impl::storage::acl::Permissions;
use fabric_impl::storage::auth::{self, RequestView, SasBuilder};
use fabric_impl::storage::clock::{format_http_date, UnixMs};
use fabric_impl::storage::http::StorageServer;
use fabric_impl::storage::ops::BlobWrite;
use fabric_impl::storage::service::{
    AccountSpec, BlobRequest, BlobResponse, ServiceConfig, StorageService, DEFAULT_ACCOUNT,
    DEFAULT_VERSION, MANAGEMENT_PREFIX, REPLICA_HEADER,
};
use fabric_impl::storage::store::ReplicatedStore;
use fabric_model::storage::{
    Action, Authority, Denied, Outcome, SasGrant, Scenario, Slot, StorageConfig, StorageModel,
};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The subscription's credential in replays.
const SUBSCRIPTION_TOKEN: &str = "conformance-subscription";
/// The expiry the service gets for a policy the model keeps for good.
pub(super) const FOREVER_MS: UnixMs = BASE_MS + 10 * 365 * 24 * 3600 * 1000;
/// `FOREVER_MS` as a span from tick 0, for a peer's real clock.
pub(super) const FOREVER_SPAN_MS: UnixMs = FOREVER_MS - BASE_MS;

/// The storage service, driven in model terms.
pub struct StorageAdapter {
    session: Session,
    /// Per key slot, every key it has had, in order: the model's key
    /// version is the index.
    key_history: [Vec<SecretBytes>; 2],
    pub(super) service: Arc<StorageService>,
    server: Option<StorageServer>,
    _data: tempfile::TempDir,
}

fn fail(what: &str, e: &dyn std::fmt::Display) -> AdapterError {
    AdapterError::Failed(format!("{what}: {e}"))
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
        let (link, server) = link_to(&runtime, &service, transport)?;
        let key = |slot, what: &str| {
            service
                .account_key(DEFAULT_ACCOUNT, slot)
                .ok_or_else(|| AdapterError::Failed(format!("the account has no {what} key")))
        };
        let keys = [
            key(auth::KeySlot::Primary, "primary")?,
            key(auth::KeySlot::Secondary, "secondary")?,
        ];
        let to = Addressing {
            link,
            account: DEFAULT_ACCOUNT.to_string(),
            prefix: format!("/{DEFAULT_ACCOUNT}"),
            container: CONTAINER.to_string(),
            version: DEFAULT_VERSION,
            base_ms: BASE_MS,
        };
        let mut adapter = StorageAdapter {
            key_history: keys.clone().map(|key| vec![key]),
            session: Session::new(runtime, to, keys),
            service,
            server,
            _data: data,
        };
        adapter.session.set_up(scenario)?;
        Ok(adapter)
    }

    /// The version of `slot`'s key that `key` is: the latest of the keys
    /// it has had that equals it.
    pub(super) fn key_version(&self, slot: Slot, key: &SecretBytes) -> Option<u8> {
        self.key_history[slot.index()]
            .iter()
            .rposition(|seen| seen.expose() == key.expose())
            .and_then(|version| u8::try_from(version).ok())
    }

    pub(super) fn store(&self) -> Result<Arc<ReplicatedStore<BlobWrite>>, AdapterError> {
        self.service
            .store(DEFAULT_ACCOUNT)
            .ok_or_else(|| AdapterError::Failed("the account has no store".into()))
    }

    /// Stops the HTTP server, if there is one.
    pub fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            self.session.runtime.block_on(server.shutdown());
        }
    }

    /// A `regenerateKey` request to the management endpoint, by `by`.
    fn regenerate_request(&self, slot: Slot, by: Authority) -> BlobRequest {
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
            Authority::Subscription => request.headers.push((
                "authorization".into(),
                format!("Bearer {SUBSCRIPTION_TOKEN}"),
            )),
            Authority::AccountKey => {
                request
                    .headers
                    .push(("x-ms-date".into(), format_http_date(self.session.now_ms())));
                request
                    .headers
                    .push(("x-ms-version".into(), DEFAULT_VERSION.into()));
                if let Held::Key(key) = &self.session.clients[0] {
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
        request
    }
}

/// The link to `service` over `transport`, and the HTTP server if one is
/// started.
fn link_to(
    runtime: &tokio::runtime::Runtime,
    service: &Arc<StorageService>,
    transport: Transport,
) -> Result<(Link, Option<StorageServer>), AdapterError> {
    match transport {
        Transport::Inproc => Ok((Link::InProcess(Arc::clone(service)), None)),
        Transport::Wire => {
            let now_ms = Arc::new(AtomicI64::new(BASE_MS));
            let clock = Arc::clone(&now_ms);
            let server = runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                StorageServer::start_with_clock(
                    listener,
                    Arc::clone(service),
                    Arc::new(move || clock.load(Ordering::SeqCst)),
                )
            });
            let server = server.map_err(|e| fail("cannot start the HTTP server", &e))?;
            let link = Link::Wire {
                addr: server.local_addr,
                now_ms,
            };
            Ok((link, Some(server)))
        }
    }
}

/// A refusal in model terms, or an error if its code has no model name.
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

impl BlobService for StorageAdapter {
    fn session(&self) -> &Session {
        &self.session
    }

    fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    fn check(&self, action: &Action) -> Result<(), AdapterError> {
        if matches!(action, Action::Replicate { .. }) && self.session.in_flight.is_none() {
            return Err(AdapterError::Failed(
                "replicate with no write in flight".into(),
            ));
        }
        Ok(())
    }

    fn ticked(&mut self, _ended: u8) -> Result<(), AdapterError> {
        Ok(())
    }

    fn regenerate(&mut self, slot: Slot, by: Authority) -> Result<Outcome, AdapterError> {
        let request = self.regenerate_request(slot, by);
        let response = self.session.call(request)?;
        if !success(&response) {
            return self.refusal(&response);
        }
        let index = slot.index();
        let key_slot = match slot {
            Slot::Primary => auth::KeySlot::Primary,
            Slot::Secondary => auth::KeySlot::Secondary,
        };
        let key = self
            .service
            .account_key(DEFAULT_ACCOUNT, key_slot)
            .ok_or_else(|| AdapterError::Failed("the account lost its key".into()))?;
        self.key_history[index].push(key.clone());
        self.session.keys[index] = key;
        self.session.key_versions[index] += 1;
        Ok(Outcome::KeyRegenerated {
            slot,
            version: self.session.key_versions[index],
        })
    }

    fn crash(&mut self, replica: u8) -> Result<Outcome, AdapterError> {
        self.store()?.crash(usize::from(replica));
        Ok(Outcome::Done)
    }

    fn restart(&mut self, replica: u8) -> Result<Outcome, AdapterError> {
        self.store()?
            .restart(usize::from(replica))
            .map_err(|e| AdapterError::Failed(format!("replica {replica} did not restart: {e}")))?;
        Ok(Outcome::Done)
    }

    /// Signed for the service's clock: the ad hoc SAS with `st = se =` now.
    fn sas(&self, grant: SasGrant, key: &SecretBytes) -> Held {
        let now = self.session.now_ms();
        let builder = match grant {
            SasGrant::ReadBlob => SasBuilder::for_blob(DEFAULT_ACCOUNT, CONTAINER, &blob_name(0))
                .permissions(Permissions::READ)
                .start(now)
                .expiry(now),
            SasGrant::StoredPolicy(id) => SasBuilder::for_container(DEFAULT_ACCOUNT, CONTAINER)
                .identifier(&super::names::policy_name(id)),
        };
        Held::Sas(builder.query_pairs(key.expose()))
    }

    fn policy_expiry_ms(&self, expiry: u8) -> UnixMs {
        match expiry {
            u8::MAX => FOREVER_MS,
            _ => BASE_MS + UnixMs::from(expiry) * TICK_MS,
        }
    }

    fn replica_header(&self, replica: u8) -> Vec<(&'static str, String)> {
        vec![(REPLICA_HEADER, replica.to_string())]
    }

    fn refusal(&self, response: &BlobResponse) -> Result<Outcome, AdapterError> {
        denied(response)
    }

    /// Sends the write with the committer paused: in flight once it is
    /// queued, or the refusal.
    fn send_write(
        &mut self,
        request: BlobRequest,
    ) -> Result<Result<Answer, BlobResponse>, AdapterError> {
        if self.session.in_flight.is_some() {
            return Err(AdapterError::Failed("a write is already in flight".into()));
        }
        let store = self.store()?;
        store.pause_commits();
        let queued_before = store.queued_writes();
        let session = &self.session;
        let answer = session
            .runtime
            .spawn(send(session.link.clone(), request, session.now_ms()));
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if answer.is_finished() {
                store.resume_commits();
                let response = session
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
                return Ok(Err(response));
            }
            if store.queued_writes() > queued_before {
                return Ok(Ok(Answer::Pending(answer)));
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

    /// Lets the committer go and waits for the acknowledgement.
    fn answer(&mut self, answer: Answer) -> Result<BlobResponse, AdapterError> {
        match answer {
            Answer::Given { response, .. } => Ok(response),
            Answer::Pending(answer) => {
                self.store()?.resume_commits();
                self.session
                    .runtime
                    .block_on(async { tokio::time::timeout(STEP_TIMEOUT, answer).await })
                    .map_err(|_| {
                        AdapterError::Failed("the write was not acknowledged in time".into())
                    })?
                    .map_err(|e| AdapterError::Failed(format!("the request task failed: {e}")))?
                    .map_err(AdapterError::Failed)
            }
        }
    }
}

impl Adapter<StorageModel> for StorageAdapter {
    fn apply(&mut self, action: &Action) -> Result<Applied<Outcome>, AdapterError> {
        apply(self, action)
    }

    fn observe(&self) -> Result<Map<String, Value>, AdapterError> {
        self.observe_service()
    }
}
