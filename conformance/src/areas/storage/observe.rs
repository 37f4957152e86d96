//! Reading fabric's service back in model terms: each replica's location
//! and liveness and the blobs and snapshots it holds (with their
//! versions), and the public access level; and reading a blob listing.

use super::adapter::StorageAdapter;
use super::apply::BlobService;
use super::names::parse_listing;
use super::requests::{public_level, success};
use fabric_impl::storage::service::{DEFAULT_ACCOUNT, REPLICA_HEADER};
use fabric_model::storage::{Location, PublicAccess, REPLICAS};
use fabric_model::trace::itf;
use serde_json::{json, Map, Value};

impl StorageAdapter {
    /// The implementation's state as model variables: `replicas` and
    /// `public`.
    pub(super) fn observe_service(&self) -> Map<String, Value> {
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

    /// Each replica's blobs and snapshots, with their versions.
    fn replica_contents(&self, replica: u8) -> Option<(Value, Value)> {
        let session = self.session();
        let request = session.list_request(
            Some(&session.owner_key()),
            &[(REPLICA_HEADER, replica.to_string())],
        );
        let response = session.call(request).ok()?;
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

    /// The public level as the service reports it (`Get Container ACL`).
    fn observed_public(&self) -> PublicAccess {
        let session = self.session();
        match session.call(session.get_acl_request()) {
            Ok(response) => public_level(&response),
            Err(_) => PublicAccess::Off,
        }
    }
}
