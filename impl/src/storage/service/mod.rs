//! The storage service: accounts and their keys, where each account's
//! replicas live, and every Blob operation from a request as plain data to a
//! response as plain data.
//!
//! [`StorageService::handle`] is the whole service without the socket: the
//! HTTP shell ([`super::http`]) and the in-process conformance adapter both
//! call it, so both exercise the same code.

use super::acl::{ContainerAcl, Permissions, PublicAccess};
use super::auth::{self, AccountKeys, KeySlot, Need, RequestView, StoragePrincipal, Target};
use super::clock::{format_http_date, format_iso8601_fine, UnixMs};
use super::error::{ErrorCode, StorageError};
use super::lease::{self, LeaseAction};
use super::ops::{
    self, Applied, BlobRecord, BlobType, BlobWrite, ContainerRecord, ContentHeaders,
    DeleteSnapshots, PutContent, Write,
};
use super::xml::{self, element, DECLARATION};
use crate::bugs::{BugSet, SeededBug};
use crate::secret::SecretBytes;
use crate::storage::store::{ReplicatedStore, StoreConfig, StoreError, REPLICA_COUNT};
use base64::Engine as _;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

mod accounts;
mod context;
mod management;
mod operations;
mod placement;
mod request;

pub use accounts::AccountSpec;
use accounts::*;
use context::*;
pub use management::MANAGEMENT_PREFIX;
pub use placement::{place_replicas, ServiceConfig, StorageNode};
use request::*;

/// The `x-ms-version` values the service speaks, oldest first.
pub const SUPPORTED_VERSIONS: &[&str] = &[
    "2019-02-02",
    "2019-07-07",
    "2019-10-10",
    "2019-12-12",
    "2020-02-10",
    "2020-04-08",
    "2020-06-12",
    "2020-08-04",
    "2020-10-02",
    "2020-12-06",
    "2021-02-12",
    "2021-04-10",
    "2021-06-08",
    "2021-08-06",
    "2021-12-02",
    "2022-11-02",
    "2023-01-03",
    "2023-05-03",
    "2023-08-03",
    "2023-11-03",
    "2024-05-04",
    "2024-08-04",
    "2024-11-04",
    "2025-01-05",
    "2025-05-05",
    "2025-07-05",
    "2025-11-05",
    "2026-02-06",
    "2026-04-06",
    "2026-06-06",
    "2026-10-06",
];

/// The version the service answers with when the request names none.
pub const DEFAULT_VERSION: &str = "2026-10-06";

/// The name of the account served when none is configured (the emulator's).
pub const DEFAULT_ACCOUNT: &str = "devstoreaccount1";

/// The emulator's well-known key for [`DEFAULT_ACCOUNT`]: public, for local
/// use only.
pub const DEFAULT_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The location accounts are placed in unless told otherwise.
pub const DEFAULT_LOCATION: &str = "local-1";

/// A diagnostic request header naming the replica (0 to 2) a read must be
/// served by; conformance replay reads each replica through it. It changes
/// nothing but which replica answers, and the request is authorized as any
/// other.
pub const REPLICA_HEADER: &str = "x-fabric-replica";

/// The largest blob a single put may carry.
pub const MAX_PUT_BYTES: u64 = 256 * 1024 * 1024;

/// The most metadata bytes (names and values) on one resource.
pub const MAX_METADATA_BYTES: usize = 8 * 1024;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No place for an account's replicas.
    #[error("cannot place account {account}: {reason}")]
    Placement {
        /// The account.
        account: String,
        /// Why.
        reason: String,
    },
    /// A replica store did not open.
    #[error("cannot open the replicas of account {account}: {source}")]
    Store {
        /// The account.
        account: String,
        /// The store's error.
        source: StoreError,
    },
    /// Two accounts with one name.
    #[error("account {0} is configured twice")]
    DuplicateAccount(String),
}

/// A request as plain data.
#[derive(Clone, Debug, Default)]
pub struct BlobRequest {
    /// The method, upper case.
    pub method: String,
    /// The URL path as received (percent-encoded).
    pub path: String,
    /// The query, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// The caller's address.
    pub peer_ip: Option<IpAddr>,
}

impl BlobRequest {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first value of query parameter `name`.
    /// The first value of query parameter `name`, whatever the case of
    /// its name: Shared Key signs names lowercased, so `SNAPSHOT` must
    /// mean what `snapshot` means or a replayed request could change sense.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// How many times query parameter `name` appears, whatever its case.
    pub fn query_count(&self, name: &str) -> usize {
        self.query
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .count()
    }
}

/// A response as plain data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobResponse {
    /// The HTTP status.
    pub status: u16,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body (empty for HEAD; `Content-Length` then says the size).
    pub body: Bytes,
}

impl BlobResponse {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The error code, if the response is a refusal.
    pub fn error_code(&self) -> Option<&str> {
        self.header("x-ms-error-code")
    }
}

/// The storage service.
pub struct StorageService {
    accounts: BTreeMap<String, Account>,
    nodes: Vec<StorageNode>,
    subscription_token: SecretBytes,
    bugs: BugSet,
    /// Only for the seeded bug `PolicyChangeNotApplied`: each stored policy
    /// as a SAS first used it.
    policies_at_first_use: std::sync::Mutex<BTreeMap<String, super::acl::AccessPolicy>>,
}

impl std::fmt::Debug for StorageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageService")
            .field("accounts", &self.accounts.keys().collect::<Vec<_>>())
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

pub(super) fn new_etag() -> String {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    format!("\"0x{random:016X}\"")
}

impl StorageService {
    /// Opens every account's replicas (placing them first).
    pub fn open(config: ServiceConfig) -> Result<StorageService, ServiceError> {
        let mut accounts = BTreeMap::new();
        let specs = if config.accounts.is_empty() {
            vec![AccountSpec::default_account()]
        } else {
            config.accounts.clone()
        };
        for spec in specs {
            if accounts.contains_key(&spec.name) {
                return Err(ServiceError::DuplicateAccount(spec.name));
            }
            let replica_nodes = place_replicas(&spec.location, &config.nodes, config.bugs)
                .map_err(|reason| ServiceError::Placement {
                    account: spec.name.clone(),
                    reason,
                })?;
            let dirs = replica_nodes.map(|index| config.nodes[index].dir.join(&spec.name));
            let mut store_config = StoreConfig::new(dirs);
            store_config.replica_wait_ms = config.replica_wait_ms;
            store_config.bugs = config.bugs;
            let store =
                ReplicatedStore::open(store_config).map_err(|source| ServiceError::Store {
                    account: spec.name.clone(),
                    source,
                })?;
            let keys = AccountKeys {
                name: spec.name.clone(),
                keys: [spec.key.clone(), derive_secondary(&spec.key)],
            };
            accounts.insert(
                spec.name.clone(),
                Account {
                    keys: RwLock::new(keys),
                    location: spec.location.clone(),
                    replica_nodes,
                    store: Arc::new(store),
                },
            );
        }
        Ok(StorageService {
            accounts,
            nodes: config.nodes,
            subscription_token: config.subscription_token,
            bugs: config.bugs,
            policies_at_first_use: std::sync::Mutex::new(BTreeMap::new()),
        })
    }

    /// The accounts served, by name.
    pub fn account_names(&self) -> Vec<String> {
        self.accounts.keys().cloned().collect()
    }

    /// The current key in `slot` of `account` (for printing a connection
    /// string to the operator, and for tests).
    pub fn account_key(&self, account: &str, slot: KeySlot) -> Option<SecretBytes> {
        let account = self.accounts.get(account)?;
        let keys = account.keys.read().unwrap_or_else(|e| e.into_inner());
        Some(keys.keys[slot_index(slot)].clone())
    }

    /// The replicated store of `account` (for fault injection in tests and
    /// conformance).
    pub fn store(&self, account: &str) -> Option<Arc<ReplicatedStore<BlobWrite>>> {
        self.accounts.get(account).map(|a| Arc::clone(&a.store))
    }

    /// Where `account`'s replicas are: (node name, location) for each.
    pub fn replica_placement(&self, account: &str) -> Option<Vec<(String, String)>> {
        let account = self.accounts.get(account)?;
        Some(
            account
                .replica_nodes
                .iter()
                .filter_map(|&index| self.nodes.get(index))
                .map(|node| (node.name.clone(), node.location.clone()))
                .collect(),
        )
    }

    /// The location `account` was created in.
    pub fn account_location(&self, account: &str) -> Option<String> {
        self.accounts.get(account).map(|a| a.location.clone())
    }

    /// Handles one request at `now_ms`.
    pub async fn handle(&self, request: BlobRequest, now_ms: UnixMs) -> BlobResponse {
        let request_id = uuid::Uuid::new_v4().to_string();
        let version = request
            .header("x-ms-version")
            .unwrap_or(DEFAULT_VERSION)
            .to_string();
        let head = request.method == "HEAD";
        let outcome = if request.path.starts_with(MANAGEMENT_PREFIX) {
            self.management(&request)
        } else {
            self.dispatch(&request, now_ms).await
        };
        let mut response = match outcome {
            Ok(response) => response,
            Err(error) => error_response(&error, &request_id, now_ms, head),
        };
        let echoed = if SUPPORTED_VERSIONS.contains(&version.as_str()) {
            version
        } else {
            DEFAULT_VERSION.to_string()
        };
        response
            .headers
            .push(("x-ms-request-id".into(), request_id));
        response.headers.push(("x-ms-version".into(), echoed));
        response
            .headers
            .push(("date".into(), format_http_date(now_ms)));
        response
            .headers
            .push(("server".into(), "fabric-storage".into()));
        if head {
            response.body = Bytes::new();
        }
        response
    }

    /// The container's ACL as authorization reads it: as stored, or with
    /// the seeded bug `PolicyChangeNotApplied`, each policy as the service
    /// first saw it.
    // claim: STO-4 — authorization reads the stored policies as they are now.
    fn acl_as_authorized(
        &self,
        address: &Address,
        acl: &ContainerAcl,
        request: &BlobRequest,
    ) -> ContainerAcl {
        let mut acl = acl.clone();
        if !self.bugs.has(SeededBug::PolicyChangeNotApplied) {
            return acl;
        }
        let container = format!(
            "{}/{}",
            address.account,
            address.container.as_deref().unwrap_or_default()
        );
        let mut cache = self
            .policies_at_first_use
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for identifier in &acl.identifiers {
            cache
                .entry(format!("{container}/{}", identifier.id))
                .or_insert_with(|| identifier.policy.clone());
        }
        if let Some(id) = request.query_value("si") {
            if let Some(first) = cache.get(&format!("{container}/{id}")) {
                acl.identifiers.retain(|identifier| identifier.id != id);
                acl.identifiers.push(super::acl::SignedIdentifier {
                    id: id.to_string(),
                    policy: first.clone(),
                });
            }
        }
        acl
    }

    async fn dispatch(
        &self,
        request: &BlobRequest,
        now_ms: UnixMs,
    ) -> Result<BlobResponse, StorageError> {
        let address = parse_address(&request.path)?;
        let account = self
            .accounts
            .get(&address.account)
            .ok_or_else(|| StorageError::with_detail(ErrorCode::InvalidUri, "no such account"))?;
        if let Some(version) = request.header("x-ms-version") {
            if !SUPPORTED_VERSIONS.contains(&version) {
                return Err(StorageError::with_detail(
                    ErrorCode::InvalidHeaderValue,
                    "x-ms-version",
                ));
            }
        } else if request.header("authorization").is_some() {
            return Err(StorageError::with_detail(
                ErrorCode::MissingRequiredHeader,
                "x-ms-version",
            ));
        }
        if let Some(container) = &address.container {
            if !ops::valid_container_name(container) {
                return Err(StorageError::new(ErrorCode::InvalidResourceName));
            }
        }
        if let Some(blob) = &address.blob {
            if !ops::valid_blob_name(blob) {
                return Err(StorageError::new(ErrorCode::InvalidResourceName));
            }
        }
        // A parameter that decides what the request does must be said once.
        for name in ["comp", "restype", "snapshot"] {
            if request.query_count(name) > 1 {
                return Err(StorageError::with_detail(
                    ErrorCode::InvalidQueryParameterValue,
                    name,
                ));
            }
        }
        let operation = classify(request, &address)?;
        let snapshot = request.query_value("snapshot").map(str::to_string);
        let need = need_of(operation, &address, snapshot.as_deref());
        let container_record = match &address.container {
            Some(container) => {
                let key = ops::container_key(&address.account, container);
                read(&account.store, |tables| ops::read_container(tables, &key))?
            }
            None => None,
        };
        let acl = container_record
            .as_ref()
            .map(|c| self.acl_as_authorized(&address, &c.acl, request));
        let principal = {
            let keys = account.keys.read().unwrap_or_else(|e| e.into_inner());
            let view = RequestView {
                method: &request.method,
                path: &request.path,
                query: &request.query,
                headers: &request.headers,
                peer_ip: request.peer_ip,
            };
            auth::authorize(&view, &keys, acl.as_ref(), &need, now_ms, self.bugs)?
        };
        tracing::debug!(
            ?operation,
            principal = principal_kind(&principal),
            "authorized"
        );
        // Snapshots are read-only, whoever asks.
        if snapshot.is_some() && operation.writes() && operation != Operation::DeleteBlob {
            return Err(StorageError::new(ErrorCode::InvalidOperation));
        }
        let context = Context {
            account,
            address: &address,
            request,
            now_ms,
            container: container_record,
            snapshot,
            bugs: self.bugs,
        };
        context.run(operation).await
    }
}

pub(super) fn principal_kind(principal: &StoragePrincipal) -> &'static str {
    match principal {
        StoragePrincipal::Account { .. } => "account key",
        StoragePrincipal::Sas { .. } => "sas",
        StoragePrincipal::Anonymous => "anonymous",
    }
}

pub(super) const fn slot_index(slot: KeySlot) -> usize {
    match slot {
        KeySlot::Primary => 0,
        KeySlot::Secondary => 1,
    }
}

pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) fn store_error(error: StoreError) -> StorageError {
    match error {
        StoreError::Busy | StoreError::Unavailable => StorageError::new(ErrorCode::ServerBusy),
        other => {
            tracing::error!(error = %other, "storage failure");
            StorageError::new(ErrorCode::InternalError)
        }
    }
}

pub(super) fn read<T>(
    store: &ReplicatedStore<BlobWrite>,
    f: impl FnOnce(
        &dyn crate::storage::store::Tables<crate::storage::store::Table>,
    ) -> Result<T, StoreError>,
) -> Result<T, StorageError> {
    store.read(f).map_err(store_error)
}

/// Renders a refusal.
pub fn error_response(
    error: &StorageError,
    request_id: &str,
    now_ms: UnixMs,
    head: bool,
) -> BlobResponse {
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(error.to_xml(request_id, &format_iso8601_fine(now_ms)))
    };
    let mut headers = vec![(
        "x-ms-error-code".to_string(),
        error.code.as_str().to_string(),
    )];
    if !head {
        headers.push(("content-type".into(), "application/xml".into()));
    }
    if error.code == ErrorCode::NoAuthenticationInformation {
        headers.push((
            "www-authenticate".into(),
            "SharedKey realm=\"fabric-storage\"".into(),
        ));
    }
    BlobResponse {
        status: error.code.status(),
        headers,
        body,
    }
}

impl Context<'_> {
    /// Runs `operation`: the dispatcher to the operations in [`operations`].
    async fn run(&self, operation: Operation) -> Result<BlobResponse, StorageError> {
        use Operation::*;
        match operation {
            GetAccountInfo => Ok(with_header(
                with_header(ok(200), "x-ms-sku-name", "Standard_RAGRS"),
                "x-ms-account-kind",
                "StorageV2",
            )),
            ListContainers => self.list_containers(),
            CreateContainer => self.create_container().await,
            GetContainerProperties => self.get_container_properties(),
            DeleteContainer => self.delete_container().await,
            SetContainerAcl => self.set_container_acl().await,
            GetContainerAcl => self.get_container_acl(),
            SetContainerMetadata => self.set_container_metadata().await,
            ListBlobs => self.list_blobs(),
            PutBlob => self.put_blob().await,
            GetBlob | GetBlobProperties | GetBlobMetadata => self.get_blob(operation),
            DeleteBlob => self.delete_blob().await,
            SnapshotBlob => self.snapshot_blob().await,
            SetBlobMetadata => self.set_blob_metadata().await,
            LeaseBlob => self.lease().await,
        }
    }
}
