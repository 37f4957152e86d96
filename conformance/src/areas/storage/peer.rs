//! [`PeerAdapter`]: another Blob service (Azurite) over HTTP, reached by
//! the same requests as fabric's service ([`super::apply`]), with the
//! hooks a peer needs: SAS windows and policy expiries written against its
//! real clock, no replica header, writes answered before the model
//! commits them, refusals read from the body too, and what a peer cannot
//! do refused as [`AdapterError::PeerCannot`] (see the module
//! documentation of [`super`]).

use super::adapter::FOREVER_SPAN_MS;
use super::apply::{apply, BlobService};
use super::names::{between, policy_name};
use super::requests::{public_level, real_at, success, Addressing, Answer, Held, Link, Session};
use super::{PEER_MARGIN_MS, PEER_VERSION, TICK_MS};
use crate::replay::{Adapter, AdapterError, Applied};
use anyhow::Context as _;
use bytes::Bytes;
use fabric_impl::secret::SecretBytes;
use fabric_impl::storage::auth::SasBuilder;
use fabric_impl::storage::clock::{now_ms as real_now_ms, UnixMs};
use fabric_impl::storage::service::{BlobRequest, BlobResponse};
use fabric_model::storage::{
    Action, Authority, Denied, Lease, Outcome, SasGrant, Scenario, Slot, StorageModel, WriteOp,
    BLOBS,
};
use fabric_model::trace::itf;
use serde_json::{json, Map, Value};
use std::cell::{Cell, RefCell};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU32, Ordering};

/// Containers made on a peer so far by this process.
static PEER_CONTAINERS: AtomicU32 = AtomicU32::new(0);

pub(super) fn peer_cannot(what: &str) -> AdapterError {
    AdapterError::PeerCannot(what.to_string())
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

/// Another Blob service, driven in model terms.
pub struct PeerAdapter {
    session: Session,
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
    /// At a commit, the step whose write it reports and the peer's status
    /// then, for the log.
    committed: Cell<Option<(usize, u16)>>,
}

impl PeerAdapter {
    /// Another Blob service, `peer`, in a fresh container of its own, set up
    /// as `scenario` starts; `trace` names the trace in the log.
    pub fn new(
        scenario: Scenario,
        peer: &PeerTarget,
        trace: &str,
    ) -> Result<PeerAdapter, AdapterError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| AdapterError::Failed(format!("cannot start a runtime: {e}")))?;
        let base_ms = real_now_ms() / 1000 * 1000;
        let serial = PEER_CONTAINERS.fetch_add(1, Ordering::SeqCst) + 1;
        let to = Addressing {
            link: Link::Peer { addr: peer.addr },
            account: peer.account.clone(),
            prefix: peer.prefix.clone(),
            container: format!("fabric-{}-{serial}", base_ms / 1000),
            version: PEER_VERSION,
            base_ms,
        };
        // The peer is given one key: the secondary slot holds none, and
        // switching to it is something the peer cannot do.
        let keys = [peer.key.clone(), SecretBytes::new(Vec::new())];
        let mut adapter = PeerAdapter {
            session: Session::new(runtime, to, keys),
            trace: trace.to_string(),
            step: 0,
            fixed_until: [None; BLOBS as usize],
            lease_ran_out: [false; BLOBS as usize],
            refusal: RefCell::new(None),
            committed: Cell::new(None),
        };
        adapter.session.set_up(scenario)?;
        Ok(adapter)
    }

    /// Deletes the trace's container (if it can).
    pub fn shutdown(&mut self) {
        let session = &self.session;
        let request = session.request_as(
            Some(&session.owner_key()),
            "DELETE",
            None,
            &[("restype", "container")],
            &[],
            Bytes::new(),
        );
        match session.call(request) {
            Ok(response) if success(&response) => {}
            Ok(response) => tracing::warn!(
                status = response.status,
                container = session.container.as_str(),
                "could not delete the peer container"
            ),
            Err(e) => tracing::warn!(
                container = session.container.as_str(),
                "could not delete the peer container: {e}"
            ),
        }
    }

    /// The kind of the write in flight, if it is on `blob`.
    fn write_in_flight_on(&self, blob: u8) -> Option<&'static str> {
        self.session
            .in_flight
            .as_ref()
            .filter(|flight| flight.op.blob() == blob)
            .map(|flight| match flight.op {
                WriteOp::Put { .. } => "put",
                WriteOp::Delete { .. } => "delete",
                WriteOp::Snapshot { .. } => "snapshot",
            })
    }

    /// A fixed-duration lease the model let run out at a tick still runs
    /// on the peer, whose lease lasts real seconds.
    fn check_lease_time(&self, blob: u8) -> Result<(), AdapterError> {
        if self.lease_ran_out[usize::from(blob)] {
            return Err(peer_cannot(&format!(
                "let the fixed-duration lease on blob {blob} run out at a tick (its lease lasts {} s of real time and ticks do not wait)",
                TICK_MS / 1000
            )));
        }
        Ok(())
    }

    /// A read of `blob` (or its snapshot) that the write in flight would
    /// change: the peer has applied that write already.
    fn check_get(&self, blob: u8, snapshot: bool) -> Result<(), AdapterError> {
        let touched = self
            .session
            .in_flight
            .as_ref()
            .and_then(|flight| match flight.op {
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
        Ok(())
    }

    /// A listing that the write in flight would change.
    fn check_list(&self) -> Result<(), AdapterError> {
        let session = &self.session;
        let renames = session
            .in_flight
            .as_ref()
            .and_then(|flight| match flight.op {
                WriteOp::Put { blob, .. } if session.versions[usize::from(blob)].is_none() => {
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
        Ok(())
    }

    /// Logs a step's result (`PEER-STEP {json}` under `fabric_peer`).
    fn log_step(&mut self, action: &Action, result: &Result<&Outcome, &AdapterError>) {
        self.step += 1;
        let (kind, observed) = match result {
            Ok(outcome) => ("outcome", format!("{outcome:?}")),
            Err(e) if e.is_peer_limit() => ("not-applicable", e.to_string()),
            Err(e) => ("error", e.to_string()),
        };
        let line = json!({
            "trace": self.trace,
            "step": self.step,
            "action": serde_json::to_value(action).unwrap_or(Value::Null),
            "result": kind,
            "observed": observed,
            "http": self.refusal.borrow().clone(),
            "requests": self.session.requests.get(),
            "reports": self
                .committed
                .get()
                .map(|(step, status)| json!({ "step": step, "status": status })),
        });
        tracing::info!(target: "fabric_peer", "PEER-STEP {line}");
    }
}

impl BlobService for PeerAdapter {
    fn session(&self) -> &Session {
        &self.session
    }

    fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    fn check(&self, action: &Action) -> Result<(), AdapterError> {
        match *action {
            Action::Switch {
                slot: Slot::Secondary,
                ..
            } => Err(peer_cannot(
                "sign with the account's secondary key (the replay is given one key, --peer-key)",
            )),
            Action::Put { blob, .. }
            | Action::Delete { blob, .. }
            | Action::Snapshot { blob, .. } => self.check_lease_time(blob),
            Action::Lease { blob, .. } => {
                self.check_lease_time(blob)?;
                match self.write_in_flight_on(blob) {
                    Some(kind) => Err(peer_cannot(&format!(
                        "run a lease operation on blob {blob} as it was before the {kind} in flight (it applies a write before it answers)"
                    ))),
                    None => Ok(()),
                }
            }
            Action::Get { blob, snapshot, .. } => self.check_get(blob, snapshot),
            Action::List { .. } => self.check_list(),
            _ => Ok(()),
        }
    }

    /// Fixed leases the model let run out are marked; the peer's clock did
    /// not move, so the policies' expiries move instead, so that one the
    /// model has passed is passed there.
    fn ticked(&mut self, ended: u8) -> Result<(), AdapterError> {
        for b in 0..usize::from(BLOBS) {
            if self.fixed_until[b].is_some_and(|until| until <= ended) {
                self.fixed_until[b] = None;
                self.lease_ran_out[b] = true;
            }
        }
        let session = &self.session;
        if session
            .policies
            .iter()
            .flatten()
            .any(|p| p.expiry != u8::MAX)
        {
            let request = session.acl_request(
                Some(&session.owner_key()),
                &session.policies,
                session.public,
                &|expiry| self.policy_expiry_ms(expiry),
            );
            let response = session.call(request)?;
            if !success(&response) {
                return Err(AdapterError::Failed(format!(
                    "the peer refused the container ACL written again for the tick: {} {}",
                    response.status,
                    response.error_code().unwrap_or("(no error code)")
                )));
            }
        }
        Ok(())
    }

    fn regenerate(&mut self, _slot: Slot, _by: Authority) -> Result<Outcome, AdapterError> {
        Err(peer_cannot(
            "regenerate an account key (it has no management API)",
        ))
    }

    fn crash(&mut self, _replica: u8) -> Result<Outcome, AdapterError> {
        Err(peer_cannot(
            "crash a replica (it exposes no replicas and has no fault hooks)",
        ))
    }

    fn restart(&mut self, _replica: u8) -> Result<Outcome, AdapterError> {
        Err(peer_cannot(
            "restart a replica (it exposes no replicas and has no fault hooks)",
        ))
    }

    /// The ad hoc SAS is kept as its window in ticks and signed afresh at
    /// each use against the peer's real clock; a policy's SAS at the
    /// peer's version.
    fn sas(&self, grant: SasGrant, key: &SecretBytes) -> Held {
        let session = &self.session;
        match grant {
            SasGrant::ReadBlob => Held::AdHocSas {
                key: key.clone(),
                start: session.clock,
                expiry: session.clock,
            },
            SasGrant::StoredPolicy(id) => Held::Sas(
                SasBuilder::for_container(&session.account, &session.container)
                    .version(session.version)
                    .identifier(&policy_name(id))
                    .query_pairs(key.expose()),
            ),
        }
    }

    fn policy_expiry_ms(&self, expiry: u8) -> UnixMs {
        let session = &self.session;
        match expiry {
            u8::MAX => real_at(session, session.clock) + FOREVER_SPAN_MS,
            _ => real_at(session, expiry) + PEER_MARGIN_MS,
        }
    }

    /// None: a peer has no such header (and refuses headers it does not
    /// know).
    fn replica_header(&self, _replica: u8) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// Kept for the log; a code the model has no name for is
    /// [`AdapterError::PeerAnswered`], with the code from the body if the
    /// header has none.
    fn refusal(&self, response: &BlobResponse) -> Result<Outcome, AdapterError> {
        let body = std::str::from_utf8(&response.body).unwrap_or_default();
        let code = response
            .error_code()
            .or_else(|| between(body, "<Code>", "</Code>"))
            .unwrap_or("(no error code)")
            .to_string();
        *self.refusal.borrow_mut() = Some(format!("{} {code}", response.status));
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

    /// The peer applies the write before it answers: the answer is kept
    /// for the commit.
    fn send_write(
        &mut self,
        request: BlobRequest,
    ) -> Result<Result<Answer, BlobResponse>, AdapterError> {
        let response = self.session.call(request)?;
        if !success(&response) {
            return Ok(Err(response));
        }
        Ok(Ok(Answer::Given {
            response,
            sent_at: self.step + 1,
        }))
    }

    fn answer(&mut self, answer: Answer) -> Result<BlobResponse, AdapterError> {
        match answer {
            Answer::Given { response, sent_at } => {
                self.committed.set(Some((sent_at, response.status)));
                Ok(response)
            }
            Answer::Pending(_) => Err(AdapterError::Failed(
                "a peer's write has no pending answer".into(),
            )),
        }
    }

    fn applied(&mut self, action: &Action, outcome: &Outcome) {
        match (action, outcome) {
            (Action::Lease { blob, .. }, Outcome::Lease { lease }) => {
                self.fixed_until[usize::from(*blob)] = match lease {
                    Lease::Leased { until, .. } => *until,
                    _ => None,
                };
            }
            (
                Action::Commit,
                Outcome::Acknowledged {
                    op: WriteOp::Delete { blob },
                },
            ) => {
                self.fixed_until[usize::from(*blob)] = None;
                self.lease_ran_out[usize::from(*blob)] = false;
            }
            _ => {}
        }
    }
}

impl Adapter<StorageModel> for PeerAdapter {
    fn apply(&mut self, action: &Action) -> Result<Applied<Outcome>, AdapterError> {
        *self.refusal.borrow_mut() = None;
        self.session.requests.set(0);
        self.committed.set(None);
        let result = apply(self, action);
        self.log_step(action, &result.as_ref().map(|applied| &applied.outcome));
        result
    }

    /// What a peer can show of the model's variables: the public access
    /// level (`Get Container ACL`). A peer that does not answer it fails
    /// the step rather than leaving the level out.
    fn observe(&self) -> Result<Map<String, Value>, AdapterError> {
        let mut vars = Map::new();
        let session = &self.session;
        let response = session.call(session.get_acl_request())?;
        if !success(&response) {
            return Err(AdapterError::PeerAnswered(format!(
                "{} {} to Get Container ACL, so its public access level cannot be compared",
                response.status,
                response.error_code().unwrap_or("(no code)")
            )));
        }
        vars.insert("public".into(), itf::value(&public_level(&response)));
        Ok(vars)
    }
}
