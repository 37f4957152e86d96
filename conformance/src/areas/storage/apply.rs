//! The one place where a model action becomes Blob requests: [`apply`],
//! for fabric's service (in process or over HTTP) and for a peer alike.
//! What differs between them — the time a SAS or policy is written for,
//! the replica header, how a write is held in flight, what a peer cannot
//! do, how a refusal is read — are the hooks of [`BlobService`].

use super::names::{blob_bytes, lease_from_guid, lease_guid, parse_listing, BLOB_BYTES};
use super::requests::{success, Answer, Held, InFlight, Session};
use super::TICK_MS;
use crate::replay::{AdapterError, Applied};
use bytes::Bytes;
use fabric_impl::secret::SecretBytes;
use fabric_impl::storage::clock::UnixMs;
use fabric_impl::storage::service::{BlobRequest, BlobResponse};
use fabric_model::storage::{
    Action, Authority, Caller, Content, Lease, LeaseDuration, LeaseOp, Outcome, Policy,
    PublicAccess, SasGrant, Slot, WriteOp,
};

/// A Blob service driven in model terms: the per-transport hooks of
/// [`apply`].
pub(super) trait BlobService {
    fn session(&self) -> &Session;
    fn session_mut(&mut self) -> &mut Session;
    /// Refuses, before anything is sent, a step this service cannot take
    /// as the model means it.
    fn check(&self, action: &Action) -> Result<(), AdapterError>;
    /// The clock has moved on from tick `ended`.
    fn ticked(&mut self, ended: u8) -> Result<(), AdapterError>;
    fn regenerate(&mut self, slot: Slot, by: Authority) -> Result<Outcome, AdapterError>;
    fn crash(&mut self, replica: u8) -> Result<Outcome, AdapterError>;
    fn restart(&mut self, replica: u8) -> Result<Outcome, AdapterError>;
    /// What client 1 holds once client 0 issues `grant`, signing with `key`.
    fn sas(&self, grant: SasGrant, key: &SecretBytes) -> Held;
    /// The instant a policy valid up to tick `expiry` (`u8::MAX`: for
    /// good) expires, as this service reads it.
    fn policy_expiry_ms(&self, expiry: u8) -> UnixMs;
    /// The headers that ask for a read from `replica`.
    fn replica_header(&self, replica: u8) -> Vec<(&'static str, String)>;
    /// A refusal in model terms.
    fn refusal(&self, response: &BlobResponse) -> Result<Outcome, AdapterError>;
    /// Sends a write the model accepts: its answer to come, or the refusal.
    fn send_write(
        &mut self,
        request: BlobRequest,
    ) -> Result<Result<Answer, BlobResponse>, AdapterError>;
    /// The answer to the write in flight, at its commit.
    fn answer(&mut self, answer: Answer) -> Result<BlobResponse, AdapterError>;
    /// After a step that the service answered with `outcome`.
    fn applied(&mut self, action: &Action, outcome: &Outcome) {
        let _ = (action, outcome);
    }
}

/// Performs `action` on `service` and says what happened in model terms.
/// `Replicate` is the one step no service is asked about: a write reaches
/// every replica inside its commit, so replication has no request of its own.
pub(super) fn apply<S: BlobService>(
    s: &mut S,
    action: &Action,
) -> Result<Applied<Outcome>, AdapterError> {
    s.check(action)?;
    if let Action::Replicate { .. } = action {
        s.applied(action, &Outcome::Done);
        return Ok(Applied::no_op(Outcome::Done));
    }
    let outcome = match *action {
        Action::Tick => {
            let ended = s.session().clock;
            s.session_mut().clock += 1;
            s.ticked(ended)?;
            Outcome::Done
        }
        Action::RegenerateKey { slot, by } => s.regenerate(slot, by)?,
        Action::Switch { client, slot } => {
            let session = s.session_mut();
            let key = session.keys[slot.index()].clone();
            let held = session
                .clients
                .get_mut(usize::from(client))
                .ok_or_else(|| AdapterError::Failed(format!("no client {client}")))?;
            *held = Held::Key(key);
            Outcome::Done
        }
        Action::IssueSas { grant } => {
            let Held::Key(key) = s.session().clients[0].clone() else {
                return Err(AdapterError::Failed(
                    "client 0 holds no key to sign with".into(),
                ));
            };
            s.session_mut().clients[1] = s.sas(grant, &key);
            Outcome::Done
        }
        Action::SetPolicy { id, policy } => set_policy(s, id, Some(policy))?,
        Action::RemovePolicy { id } => set_policy(s, id, None)?,
        Action::SetPublicAccess { level } => {
            let policies = s.session().policies;
            put_acl(s, policies, level)?
        }
        Action::Put {
            caller,
            blob,
            content,
            lease,
        } => put(s, caller, blob, content, lease)?,
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
                s.session()
                    .request(caller, "DELETE", Some(blob), &[], &headers, Bytes::new());
            start_write(s, request, WriteOp::Delete { blob }, None)?
        }
        Action::Snapshot { caller, blob } => {
            let version = s.session().versions[usize::from(blob)].unwrap_or(0);
            let request = s.session().request(
                caller,
                "PUT",
                Some(blob),
                &[("comp", "snapshot")],
                &[],
                Bytes::new(),
            );
            start_write(s, request, WriteOp::Snapshot { blob, version }, Some(blob))?
        }
        Action::Lease { blob, op } => lease(s, blob, op)?,
        Action::Get {
            caller,
            blob,
            snapshot,
            replica,
        } => get(s, caller, blob, snapshot, replica)?,
        Action::List { caller, replica } => list(s, caller, replica)?,
        Action::Replicate { .. } => unreachable!("answered above without the service"),
        Action::Commit => commit(s)?,
        Action::Crash { replica } => s.crash(replica)?,
        Action::Restart { replica } => s.restart(replica)?,
    };
    s.applied(action, &outcome);
    Ok(Applied::exercised(outcome))
}

fn set_policy<S: BlobService>(
    s: &mut S,
    id: u8,
    policy: Option<Policy>,
) -> Result<Outcome, AdapterError> {
    let mut policies = s.session().policies;
    *policies
        .get_mut(usize::from(id))
        .ok_or_else(|| AdapterError::Failed(format!("no policy slot {id}")))? = policy;
    let public = s.session().public;
    put_acl(s, policies, public)
}

/// Writes the container's ACL as `policies` and `public`, signed by client 0.
fn put_acl<S: BlobService>(
    s: &mut S,
    policies: [Option<Policy>; 5],
    public: PublicAccess,
) -> Result<Outcome, AdapterError> {
    let session = s.session();
    let held = session.clients[0].clone();
    let request = session.acl_request(Some(&held), &policies, public, &|expiry| {
        s.policy_expiry_ms(expiry)
    });
    let response = session.call(request)?;
    if !success(&response) {
        return s.refusal(&response);
    }
    let session = s.session_mut();
    session.policies = policies;
    session.public = public;
    Ok(Outcome::AclSet)
}

fn put<S: BlobService>(
    s: &mut S,
    caller: Caller,
    blob: u8,
    content: Content,
    lease: Option<u8>,
) -> Result<Outcome, AdapterError> {
    let version = s.session().puts + 1;
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
    let request = s
        .session()
        .request(caller, "PUT", Some(blob), &[], &headers, body);
    let op = WriteOp::Put {
        blob,
        version,
        content,
    };
    let outcome = start_write(s, request, op, None)?;
    if outcome == Outcome::Accepted {
        s.session_mut().puts = version;
    }
    Ok(outcome)
}

/// Sends a model write: `Accepted` once it is in flight, or the refusal.
fn start_write<S: BlobService>(
    s: &mut S,
    request: BlobRequest,
    op: WriteOp,
    snapshot_of: Option<u8>,
) -> Result<Outcome, AdapterError> {
    match s.send_write(request)? {
        Ok(answer) => {
            s.session_mut().in_flight = Some(InFlight {
                op,
                answer,
                snapshot_of,
            });
            Ok(Outcome::Accepted)
        }
        Err(response) => s.refusal(&response),
    }
}

fn commit<S: BlobService>(s: &mut S) -> Result<Outcome, AdapterError> {
    let flight = s
        .session_mut()
        .in_flight
        .take()
        .ok_or_else(|| AdapterError::Failed("commit with no write in flight".into()))?;
    let response = s.answer(flight.answer)?;
    if !success(&response) {
        return s.refusal(&response);
    }
    let session = s.session_mut();
    let b = usize::from(flight.op.blob());
    match flight.op {
        WriteOp::Put { version, .. } => session.versions[b] = Some(version),
        WriteOp::Delete { .. } => {
            session.versions[b] = None;
            session.snapshot_ids[b] = None;
            session.lease_ids[b] = None;
        }
        WriteOp::Snapshot { .. } => {
            if let Some(blob) = flight.snapshot_of {
                session.snapshot_ids[usize::from(blob)] =
                    response.header("x-ms-snapshot").map(str::to_string);
            }
        }
    }
    Ok(Outcome::Acknowledged { op: flight.op })
}

fn lease_request<S: BlobService>(s: &S, blob: u8, op: LeaseOp) -> BlobRequest {
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
    s.session().request(
        Caller::Client(0),
        "PUT",
        Some(blob),
        &[("comp", "lease")],
        &headers,
        Bytes::new(),
    )
}

fn lease<S: BlobService>(s: &mut S, blob: u8, op: LeaseOp) -> Result<Outcome, AdapterError> {
    let request = lease_request(s, blob, op);
    let session = s.session();
    let response = session.call(request)?;
    if !success(&response) {
        return s.refusal(&response);
    }
    let b = usize::from(blob);
    let answered_id = response.header("x-ms-lease-id").and_then(lease_from_guid);
    let lease = match op {
        LeaseOp::Acquire { duration, .. } => Lease::Leased {
            id: answered_id
                .ok_or_else(|| AdapterError::Failed("acquire answered no lease id".into()))?,
            until: (duration == LeaseDuration::Fixed).then_some(session.clock),
        },
        LeaseOp::Renew { .. } | LeaseOp::Change { .. } => {
            let properties = session.request_as(
                Some(&session.owner_key()),
                "HEAD",
                Some(blob),
                &[],
                &[],
                Bytes::new(),
            );
            let head = session.call(properties)?;
            let fixed = head.header("x-ms-lease-duration") == Some("fixed");
            Lease::Leased {
                id: answered_id
                    .ok_or_else(|| AdapterError::Failed("the lease answer has no id".into()))?,
                until: fixed.then_some(session.clock),
            }
        }
        LeaseOp::Release { .. } => Lease::Available,
        LeaseOp::Break => Lease::Broken {
            id: session.lease_ids[b].ok_or_else(|| {
                AdapterError::Failed("broke a lease the adapter never saw".into())
            })?,
        },
    };
    s.session_mut().lease_ids[b] = match lease {
        Lease::Available => None,
        Lease::Leased { id, .. } | Lease::Broken { id } | Lease::Expired { id } => Some(id),
    };
    Ok(Outcome::Lease { lease })
}

fn get<S: BlobService>(
    s: &mut S,
    caller: Caller,
    blob: u8,
    snapshot: bool,
    replica: u8,
) -> Result<Outcome, AdapterError> {
    let session = s.session();
    let snapshot_id;
    let mut query: Vec<(&str, &str)> = Vec::new();
    if snapshot {
        snapshot_id = session.snapshot_ids[usize::from(blob)]
            .clone()
            .unwrap_or_else(|| "2025-01-01T00:00:00.0000000Z".into());
        query.push(("snapshot", snapshot_id.as_str()));
    }
    let request = session.request(
        caller,
        "GET",
        Some(blob),
        &query,
        &s.replica_header(replica),
        Bytes::new(),
    );
    let response = session.call(request)?;
    if !success(&response) {
        return s.refusal(&response);
    }
    let version = response
        .header("x-ms-meta-version")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AdapterError::Failed("the blob has no version in its metadata".into()))?;
    let bytes = super::names::bytes_tag(&response.body)
        .ok_or_else(|| AdapterError::Failed("the blob's bytes are not a model blob's".into()))?;
    Ok(Outcome::Blob { version, bytes })
}

fn list<S: BlobService>(s: &mut S, caller: Caller, replica: u8) -> Result<Outcome, AdapterError> {
    let session = s.session();
    let held = session.held(caller);
    let request = session.list_request(held.as_ref(), &s.replica_header(replica));
    let response = session.call(request)?;
    if !success(&response) {
        return s.refusal(&response);
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
