//! Reading fabric's service back in model terms, after every step: each
//! replica's location and liveness and the blobs and snapshots it holds
//! (with their versions); the container's public access level and stored
//! access policies (`Get Container ACL`); each blob's lease (from the
//! store, as the service judges it at the step's time); and which version
//! of each account key the service holds.
//!
//! An observation that cannot be made is an error, never a default: a
//! replica that is up but will not list, an ACL that will not read, a
//! store that cannot be read. A value that is read but that the model has
//! no name for (a key this replay never saw, a lease id or policy expiry
//! the adapter never wrote) is observed as `{"unmapped": ...}`, which
//! equals no model value, so the step departs there. The one thing left
//! out is what the service cannot show at all: the contents of a replica
//! that is down.

use super::adapter::{StorageAdapter, FOREVER_MS};
use super::apply::BlobService;
use super::names::{between, lease_from_guid, parse_listing};
use super::requests::{public_level, success};
use super::{BASE_MS, CONTAINER, TICK_MS};
use crate::replay::AdapterError;
use fabric_impl::storage::auth::KeySlot;
use fabric_impl::storage::clock::{parse_iso8601, UnixMs};
use fabric_impl::storage::lease::LeaseState;
use fabric_impl::storage::ops::{blob_key, read_blob};
use fabric_impl::storage::service::{DEFAULT_ACCOUNT, REPLICA_HEADER};
use fabric_model::storage::{
    Lease, Location, Perms, Policy, PublicAccess, Slot, BLOBS, MAX_POLICIES, REPLICAS,
};
use fabric_model::trace::itf;
use serde_json::{json, Map, Value};

fn unreadable(what: &str, why: impl std::fmt::Display) -> AdapterError {
    AdapterError::Failed(format!("cannot observe {what}: {why}"))
}

/// An observed value the model has no name for.
fn unmapped(what: String) -> Value {
    json!({ "unmapped": what })
}

impl StorageAdapter {
    /// The implementation's state as model variables: `replicas`,
    /// `public`, `policies`, `leases` and `keys`.
    pub(super) fn observe_service(&self) -> Result<Map<String, Value>, AdapterError> {
        let mut vars = Map::new();
        vars.insert("replicas".into(), self.observed_replicas()?);
        let (public, policies) = self.observed_acl()?;
        vars.insert("public".into(), itf::value(&public));
        vars.insert("policies".into(), policies);
        vars.insert("leases".into(), self.observed_leases()?);
        vars.insert("keys".into(), self.observed_keys()?);
        Ok(vars)
    }

    /// Each replica's location, liveness, and (when up) contents.
    fn observed_replicas(&self) -> Result<Value, AdapterError> {
        let placement = self
            .service
            .replica_placement(DEFAULT_ACCOUNT)
            .ok_or_else(|| unreadable("replica placement", "the account is unknown"))?;
        let home = self
            .service
            .account_location(DEFAULT_ACCOUNT)
            .ok_or_else(|| unreadable("the account's location", "the account is unknown"))?;
        let status = self.store()?.status();
        let mut replicas = Vec::new();
        for r in 0..REPLICAS {
            let location = match placement.get(usize::from(r)) {
                Some((_, location)) if *location == home => Location::Chosen,
                Some(_) => Location::Other,
                None => return Err(unreadable("replica placement", format!("no replica {r}"))),
            };
            let up = status[usize::from(r)].up;
            let mut replica = json!({ "location": itf::value(&location), "up": up });
            // A replica that is down serves nothing, so its contents cannot
            // be shown; the model's are left uncompared until it is back.
            if up {
                let (blobs, snapshots) = self.replica_contents(r)?;
                replica["blobs"] = blobs;
                replica["snapshots"] = snapshots;
            }
            replicas.push((json!(r), replica));
        }
        Ok(itf::map(replicas))
    }

    /// Each replica's blobs and snapshots, with their versions, from a
    /// listing served by that replica.
    fn replica_contents(&self, replica: u8) -> Result<(Value, Value), AdapterError> {
        let what = format!("replica {replica}'s blobs");
        let session = self.session();
        let request = session.list_request(
            Some(&session.owner_key()),
            &[(REPLICA_HEADER, replica.to_string())],
        );
        let response = session.call(request)?;
        if !success(&response) {
            return Err(unreadable(
                &what,
                format!("the listing was answered {}", response.status),
            ));
        }
        let listing = parse_listing(&response.body)
            .ok_or_else(|| unreadable(&what, "a malformed listing"))?;
        let mut blobs = Vec::new();
        let mut snapshots = Vec::new();
        for entry in listing {
            let blob: u8 = entry
                .name
                .strip_prefix("blob")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| unreadable(&what, format!("a blob named {}", entry.name)))?;
            let version = entry
                .version
                .ok_or_else(|| unreadable(&what, format!("{} has no version", entry.name)))?;
            let record = (json!(blob), json!({ "version": version }));
            if entry.snapshot {
                snapshots.push(record);
            } else {
                blobs.push(record);
            }
        }
        Ok((itf::map(blobs), itf::map(snapshots)))
    }

    /// The public level and stored access policies, as `Get Container ACL`
    /// answers them.
    fn observed_acl(&self) -> Result<(PublicAccess, Value), AdapterError> {
        let session = self.session();
        let response = session.call(session.get_acl_request())?;
        if !success(&response) {
            return Err(unreadable(
                "the container ACL",
                format!("Get Container ACL was answered {}", response.status),
            ));
        }
        let body = std::str::from_utf8(&response.body)
            .map_err(|_| unreadable("the container ACL", "a body that is not UTF-8"))?;
        let mut policies = Vec::new();
        for chunk in body.split("<SignedIdentifier>").skip(1) {
            let id = between(chunk, "<Id>", "</Id>")
                .ok_or_else(|| unreadable("a stored access policy", "no Id"))?;
            let id = match id.strip_prefix("policy").and_then(|n| n.parse::<u8>().ok()) {
                Some(n) if n < MAX_POLICIES => json!(n),
                _ => unmapped(format!("policy id {id}")),
            };
            policies.push((id, policy_of(chunk)));
        }
        Ok((public_level(&response), itf::map(policies)))
    }

    /// Each blob's lease as the service judges it now (a fixed lease past
    /// its end is expired).
    fn observed_leases(&self) -> Result<Value, AdapterError> {
        let store = self.store()?;
        let now_ms = self.session().now_ms();
        let mut leases = Vec::new();
        for blob in 0..BLOBS {
            let key = blob_key(
                DEFAULT_ACCOUNT,
                CONTAINER,
                &super::names::blob_name(blob),
                None,
            );
            let record = store
                .read(|tables| read_blob(tables, &key))
                .map_err(|e| unreadable(&format!("blob {blob}'s lease"), e))?;
            let lease = match record {
                // No blob, no lease: the model's deleted blob is available.
                None => itf::value(&Lease::Available),
                Some(record) => {
                    lease_of(&record.lease.at(now_ms)).map_or_else(unmapped, |l| itf::value(&l))
                }
            };
            leases.push((json!(blob), lease));
        }
        Ok(itf::map(leases))
    }

    /// Which version of each account key the service holds: the index of
    /// its key among the keys that slot has had. A key that is none of
    /// them (a regeneration that made a key seen before, say) is an error.
    fn observed_keys(&self) -> Result<Value, AdapterError> {
        let mut keys = Vec::new();
        for slot in Slot::ALL {
            let held = self
                .service
                .account_key(
                    DEFAULT_ACCOUNT,
                    match slot {
                        Slot::Primary => KeySlot::Primary,
                        Slot::Secondary => KeySlot::Secondary,
                    },
                )
                .ok_or_else(|| unreadable("the account keys", "the account is unknown"))?;
            let version = self.key_version(slot, &held).map_or_else(
                || unmapped(format!("a {} key this replay never saw", slot.name())),
                |version| json!(version),
            );
            keys.push((json!(slot.name()), version));
        }
        Ok(itf::map(keys))
    }
}

/// A stored policy of a `Get Container ACL` body in model terms (its
/// permissions and expiry), or an unmapped value.
fn policy_of(chunk: &str) -> Value {
    let letters = between(chunk, "<Permission>", "</Permission>").unwrap_or("");
    let Some(perms) = Perms::parse(letters) else {
        return unmapped(format!("permissions {letters}"));
    };
    let expiry_text = between(chunk, "<Expiry>", "</Expiry>").unwrap_or("(none)");
    match parse_iso8601(expiry_text).and_then(tick_of_expiry) {
        Some(expiry) => itf::value(&Policy { perms, expiry }),
        None => unmapped(format!("expiry {expiry_text}")),
    }
}

/// The tick a policy expiry written by the adapter stands for.
fn tick_of_expiry(expiry_ms: UnixMs) -> Option<u8> {
    if expiry_ms == FOREVER_MS {
        return Some(u8::MAX);
    }
    exact_tick(expiry_ms)
}

/// `at_ms` as a model tick, if it is exactly one.
fn exact_tick(at_ms: UnixMs) -> Option<u8> {
    let since_ms = at_ms.checked_sub(BASE_MS)?;
    if since_ms < 0 || since_ms % TICK_MS != 0 {
        return None;
    }
    u8::try_from(since_ms / TICK_MS).ok()
}

/// A lease in model terms. A fixed lease ending at tick `t + 1` (the
/// instant it stops fencing) is active through tick `t`.
fn lease_of(state: &LeaseState) -> Result<Lease, String> {
    let id_of = |guid: &str| {
        lease_from_guid(guid).ok_or_else(|| format!("a lease id the model has no name for: {guid}"))
    };
    Ok(match state {
        LeaseState::Available => Lease::Available,
        LeaseState::Leased { id, expires_ms, .. } => Lease::Leased {
            id: id_of(id)?,
            until: match expires_ms {
                None => None,
                Some(at_ms) => Some(
                    exact_tick(*at_ms)
                        .and_then(|end| end.checked_sub(1))
                        .ok_or_else(|| format!("a lease ending at no tick ({at_ms} ms)"))?,
                ),
            },
        },
        LeaseState::Expired { id, .. } => Lease::Expired { id: id_of(id)? },
        LeaseState::Broken { id } => Lease::Broken { id: id_of(id)? },
        // The adapter breaks with a zero break period, so a lease is never
        // still breaking when it is read.
        LeaseState::Breaking { id, broken_ms } => {
            return Err(format!("lease {id} still breaking until {broken_ms} ms"))
        }
    })
}
