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
use super::store::{ReplicatedStore, StoreConfig, StoreError, REPLICA_COUNT};
use super::xml::{self, element, DECLARATION};
use crate::bugs::{BugSet, SeededBug};
use crate::secret::SecretBytes;
use base64::Engine as _;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

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

/// An account to serve.
#[derive(Clone, Debug)]
pub struct AccountSpec {
    /// Its name (3 to 24 lowercase letters and digits).
    pub name: String,
    /// Its primary key; the secondary is derived from it until regenerated.
    pub key: SecretBytes,
    /// The location its data must stay in (GEO-1).
    pub location: String,
}

impl AccountSpec {
    /// Parses `NAME:BASE64KEY` (or `NAME:BASE64KEY@LOCATION`).
    pub fn parse(text: &str) -> Result<AccountSpec, String> {
        let (name, rest) = text
            .split_once(':')
            .ok_or_else(|| "expected NAME:BASE64KEY".to_string())?;
        let (key, location) = match rest.rsplit_once('@') {
            Some((key, location)) => (key, location.to_string()),
            None => (rest, DEFAULT_LOCATION.to_string()),
        };
        if !(3..=24).contains(&name.len())
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(format!(
                "account name {name:?} must be 3 to 24 lowercase letters and digits"
            ));
        }
        let key = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|_| format!("the key for account {name} is not base64"))?;
        if key.len() < 16 {
            return Err(format!(
                "the key for account {name} is shorter than 16 bytes"
            ));
        }
        Ok(AccountSpec {
            name: name.to_string(),
            key: SecretBytes::new(key),
            location,
        })
    }

    /// The emulator's default account.
    pub fn default_account() -> AccountSpec {
        let key = base64::engine::general_purpose::STANDARD
            .decode(DEFAULT_ACCOUNT_KEY)
            .unwrap_or_default();
        AccountSpec {
            name: DEFAULT_ACCOUNT.to_string(),
            key: SecretBytes::new(key),
            location: DEFAULT_LOCATION.to_string(),
        }
    }
}

/// A storage node: a directory standing for a machine in a location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageNode {
    /// Its name.
    pub name: String,
    /// The location it is in.
    pub location: String,
    /// Where it keeps replicas.
    pub dir: PathBuf,
}

/// Chooses three distinct nodes in `location` for an account's replicas
/// (the first three in order, so placement is stable across restarts).
// claim: GEO-1
pub fn place_replicas(
    location: &str,
    nodes: &[StorageNode],
    bugs: BugSet,
) -> Result<[usize; REPLICA_COUNT], String> {
    let mut chosen: Vec<usize> = nodes
        .iter()
        .enumerate()
        .filter(|(_, node)| node.location == location)
        .map(|(index, _)| index)
        .take(REPLICA_COUNT)
        .collect();
    if bugs.has(SeededBug::ReplicaInOtherLocation) {
        if let Some(elsewhere) = nodes.iter().position(|node| node.location != location) {
            chosen.truncate(REPLICA_COUNT - 1);
            chosen.push(elsewhere);
        }
    }
    <[usize; REPLICA_COUNT]>::try_from(chosen.as_slice()).map_err(|_| {
        format!(
            "location {location} has {} storage nodes; an account needs {REPLICA_COUNT}",
            chosen.len()
        )
    })
}

/// The service's settings.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Where the storage nodes keep their replicas.
    pub data_dir: PathBuf,
    /// The accounts served.
    pub accounts: Vec<AccountSpec>,
    /// The storage nodes (three per location by default).
    pub nodes: Vec<StorageNode>,
    /// The credential the subscription (SMAPI) presents to change keys.
    pub subscription_token: SecretBytes,
    /// How long a write waits for a crashed replica before `ServerBusy`.
    pub replica_wait_ms: u64,
    /// Seeded bugs (conformance tests only).
    pub bugs: BugSet,
}

impl ServiceConfig {
    /// Settings with three nodes in each of `local-1` and `local-2` under
    /// `data_dir`.
    pub fn new(
        data_dir: PathBuf,
        accounts: Vec<AccountSpec>,
        subscription_token: SecretBytes,
    ) -> Self {
        let nodes = ["local-1", "local-2"]
            .iter()
            .flat_map(|location| {
                let data_dir = data_dir.clone();
                (0..REPLICA_COUNT).map(move |n| StorageNode {
                    name: format!("{location}-node{n}"),
                    location: location.to_string(),
                    dir: data_dir.join(location).join(format!("node{n}")),
                })
            })
            .collect();
        ServiceConfig {
            data_dir,
            accounts,
            nodes,
            subscription_token,
            replica_wait_ms: 2_000,
            bugs: BugSet::NONE,
        }
    }
}

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

/// One account as served.
struct Account {
    keys: RwLock<AccountKeys>,
    location: String,
    replica_nodes: [usize; REPLICA_COUNT],
    store: Arc<ReplicatedStore<BlobWrite>>,
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

/// What the path names.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Address {
    account: String,
    container: Option<String>,
    blob: Option<String>,
}

fn decode_segment(text: &str) -> Result<String, StorageError> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| StorageError::with_detail(ErrorCode::InvalidUri, "path is not UTF-8"))
}

fn parse_address(path: &str) -> Result<Address, StorageError> {
    let trimmed = path
        .strip_prefix('/')
        .ok_or(StorageError::new(ErrorCode::InvalidUri))?;
    let mut parts = trimmed.splitn(3, '/');
    let account = decode_segment(parts.next().unwrap_or_default())?;
    let container = parts
        .next()
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .transpose()?;
    let blob = parts
        .next()
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .transpose()?;
    if account.is_empty() {
        return Err(StorageError::new(ErrorCode::InvalidUri));
    }
    Ok(Address {
        account,
        container,
        blob,
    })
}

/// What operation a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    ListContainers,
    CreateContainer,
    GetContainerProperties,
    DeleteContainer,
    SetContainerAcl,
    GetContainerAcl,
    SetContainerMetadata,
    ListBlobs,
    PutBlob,
    GetBlob,
    GetBlobProperties,
    DeleteBlob,
    SnapshotBlob,
    SetBlobMetadata,
    GetBlobMetadata,
    LeaseBlob,
    GetAccountInfo,
}

impl Operation {
    fn writes(self) -> bool {
        use Operation::*;
        matches!(
            self,
            CreateContainer
                | DeleteContainer
                | SetContainerAcl
                | SetContainerMetadata
                | PutBlob
                | DeleteBlob
                | SnapshotBlob
                | SetBlobMetadata
                | LeaseBlob
        )
    }
}

fn classify(request: &BlobRequest, address: &Address) -> Result<Operation, StorageError> {
    use Operation::*;
    let restype = request.query_value("restype");
    let comp = request.query_value("comp");
    let method = request.method.as_str();
    let unsupported = || Err(StorageError::new(ErrorCode::UnsupportedHttpVerb));
    match (&address.container, &address.blob) {
        (None, _) => match (method, restype, comp) {
            ("GET", _, Some("list")) => Ok(ListContainers),
            ("GET" | "HEAD", Some("account"), Some("properties")) => Ok(GetAccountInfo),
            _ => Err(StorageError::new(ErrorCode::InvalidUri)),
        },
        (Some(_), None) => match (method, restype, comp) {
            ("PUT", Some("container"), None) => Ok(CreateContainer),
            ("GET" | "HEAD", Some("container"), None) => Ok(GetContainerProperties),
            ("DELETE", Some("container"), None) => Ok(DeleteContainer),
            ("PUT", Some("container"), Some("acl")) => Ok(SetContainerAcl),
            ("GET" | "HEAD", Some("container"), Some("acl")) => Ok(GetContainerAcl),
            ("PUT", Some("container"), Some("metadata")) => Ok(SetContainerMetadata),
            ("GET" | "HEAD", Some("container"), Some("metadata")) => Ok(GetContainerProperties),
            ("GET", Some("container"), Some("list")) => Ok(ListBlobs),
            (_, Some("container"), _) => unsupported(),
            _ => Err(StorageError::with_detail(
                ErrorCode::InvalidQueryParameterValue,
                "restype",
            )),
        },
        (Some(_), Some(_)) => match (method, comp) {
            ("PUT", None) => Ok(PutBlob),
            ("GET", None) => Ok(GetBlob),
            ("HEAD", None) => Ok(GetBlobProperties),
            ("DELETE", None) => Ok(DeleteBlob),
            ("PUT", Some("snapshot")) => Ok(SnapshotBlob),
            ("PUT", Some("metadata")) => Ok(SetBlobMetadata),
            ("GET" | "HEAD", Some("metadata")) => Ok(GetBlobMetadata),
            ("PUT", Some("lease")) => Ok(LeaseBlob),
            (_, Some("snapshot" | "metadata" | "lease")) | (_, None) => unsupported(),
            (_, Some(_)) => Err(StorageError::with_detail(
                ErrorCode::UnsupportedQueryParameter,
                "comp",
            )),
        },
    }
}

/// What authorization an operation needs.
fn need_of(operation: Operation, address: &Address, snapshot: Option<&str>) -> Need {
    use Operation::*;
    let container = address.container.clone().unwrap_or_default();
    let target = match &address.blob {
        Some(blob) => Target::Blob {
            container,
            blob: blob.clone(),
            snapshot: snapshot.map(str::to_string),
        },
        None if address.container.is_some() => Target::Container { container },
        None => Target::Service,
    };
    let (sas_permission, anonymous) = match operation {
        ListContainers | CreateContainer | DeleteContainer | SetContainerAcl | GetContainerAcl
        | SetContainerMetadata | GetAccountInfo => (None, None),
        GetContainerProperties => (None, Some(PublicAccess::Container)),
        ListBlobs => (Some(Permissions::LIST), Some(PublicAccess::Container)),
        PutBlob => (Some(Permissions::WRITE), None),
        GetBlob | GetBlobProperties | GetBlobMetadata => {
            (Some(Permissions::READ), Some(PublicAccess::Blob))
        }
        DeleteBlob => (Some(Permissions::DELETE), None),
        SnapshotBlob | SetBlobMetadata | LeaseBlob => (Some(Permissions::WRITE), None),
    };
    Need {
        target,
        sas_permission,
        anonymous,
        writes: operation.writes(),
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

fn new_etag() -> String {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    format!("\"0x{random:016X}\"")
}

fn derive_secondary(primary: &SecretBytes) -> SecretBytes {
    use sha2::{Digest, Sha512};
    let mut hasher = Sha512::new();
    hasher.update(b"fabric-storage-secondary-key");
    hasher.update(primary.expose());
    SecretBytes::new(hasher.finalize().to_vec())
}

/// Where the management API's paths start (not an account name: those
/// have no dots).
pub const MANAGEMENT_PREFIX: &str = "/.management/accounts/";

/// A new random 64-byte account key.
fn fresh_key() -> SecretBytes {
    let bytes: Vec<u8> = (0..4)
        .flat_map(|_| uuid::Uuid::new_v4().into_bytes())
        .collect();
    SecretBytes::new(bytes)
}

/// The management API's refusal: the caller is not the subscription.
fn forbidden() -> StorageError {
    StorageError::with_detail(
        ErrorCode::ForbiddenError,
        "changing account keys needs the subscription's credentials",
    )
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

    /// Regenerates the key in `slot`, if `presented` is the subscription's
    /// credential; the old key is refused from the next request on (STO-2).
    // claim: STO-8
    pub fn regenerate_key(
        &self,
        account: &str,
        slot: KeySlot,
        presented: Option<&[u8]>,
        new_key: SecretBytes,
    ) -> Result<(), StorageError> {
        let authorized = presented
            .is_some_and(|given| constant_time_eq(given, self.subscription_token.expose()))
            || self.bugs.has(SeededBug::KeyChangeWithoutSubscription);
        if !authorized {
            return Err(forbidden());
        }
        let account = self
            .accounts
            .get(account)
            .ok_or_else(|| StorageError::new(ErrorCode::InvalidUri))?;
        let mut keys = account.keys.write().unwrap_or_else(|e| e.into_inner());
        // claim: STO-2 — the old key is replaced, so the next request signed
        // with it fails.
        if !self.bugs.has(SeededBug::RemovedKeyStillAccepted) {
            keys.keys[slot_index(slot)] = new_key;
        } else {
            let other = 1 - slot_index(slot);
            keys.keys[other] = new_key;
        }
        Ok(())
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

    /// The management API's one operation here: `POST
    /// /.management/accounts/NAME/regenerateKey` with `{"keyName":"key1"}`
    /// (or `key2`) and `Authorization: Bearer TOKEN`; answers the new keys
    /// as ARM's `listKeys` does.
    fn management(&self, request: &BlobRequest) -> Result<BlobResponse, StorageError> {
        let rest = request
            .path
            .strip_prefix(MANAGEMENT_PREFIX)
            .unwrap_or_default();
        let Some((account, "regenerateKey")) = rest.split_once('/') else {
            return Err(StorageError::new(ErrorCode::InvalidUri));
        };
        if request.method != "POST" {
            return Err(StorageError::new(ErrorCode::UnsupportedHttpVerb));
        }
        let presented = request
            .header("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|token| token.trim().as_bytes());
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(rename = "keyName")]
            key_name: String,
        }
        let body: Body = serde_json::from_slice(&request.body).map_err(|_| {
            StorageError::with_detail(ErrorCode::InvalidInput, "expected {\"keyName\":\"key1\"}")
        })?;
        let slot = match body.key_name.as_str() {
            "key1" => KeySlot::Primary,
            "key2" => KeySlot::Secondary,
            _ => {
                return Err(StorageError::with_detail(
                    ErrorCode::InvalidInput,
                    "keyName must be key1 or key2",
                ))
            }
        };
        self.regenerate_key(account, slot, presented, fresh_key())?;
        let encode = |slot| {
            self.account_key(account, slot)
                .map(|key| base64::engine::general_purpose::STANDARD.encode(key.expose()))
                .unwrap_or_default()
        };
        let body = serde_json::json!({
            "keys": [
                {"keyName": "key1", "value": encode(KeySlot::Primary), "permissions": "FULL"},
                {"keyName": "key2", "value": encode(KeySlot::Secondary), "permissions": "FULL"},
            ]
        });
        Ok(BlobResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(body.to_string()),
        })
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

fn principal_kind(principal: &StoragePrincipal) -> &'static str {
    match principal {
        StoragePrincipal::Account { .. } => "account key",
        StoragePrincipal::Sas { .. } => "sas",
        StoragePrincipal::Anonymous => "anonymous",
    }
}

const fn slot_index(slot: KeySlot) -> usize {
    match slot {
        KeySlot::Primary => 0,
        KeySlot::Secondary => 1,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn store_error(error: StoreError) -> StorageError {
    match error {
        StoreError::Busy | StoreError::Unavailable => StorageError::new(ErrorCode::ServerBusy),
        other => {
            tracing::error!(error = %other, "storage failure");
            StorageError::new(ErrorCode::InternalError)
        }
    }
}

fn read<T>(
    store: &ReplicatedStore<BlobWrite>,
    f: impl FnOnce(&dyn super::store::Tables<super::store::Table>) -> Result<T, StoreError>,
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

struct Context<'a> {
    account: &'a Account,
    address: &'a Address,
    request: &'a BlobRequest,
    now_ms: UnixMs,
    container: Option<ContainerRecord>,
    snapshot: Option<String>,
    bugs: BugSet,
}

fn ok(status: u16) -> BlobResponse {
    BlobResponse {
        status,
        headers: Vec::new(),
        body: Bytes::new(),
    }
}

fn with_header(mut response: BlobResponse, name: &str, value: impl Into<String>) -> BlobResponse {
    response.headers.push((name.to_string(), value.into()));
    response
}

fn xml_response(body: String) -> BlobResponse {
    BlobResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/xml".into())],
        body: Bytes::from(body),
    }
}

/// The `x-ms-meta-*` headers of a request, checked.
fn metadata_of(request: &BlobRequest) -> Result<Vec<(String, String)>, StorageError> {
    let mut metadata = Vec::new();
    let mut total = 0usize;
    for (name, value) in &request.headers {
        if let Some(key) = name.strip_prefix("x-ms-meta-") {
            if !ops::valid_metadata_name(key) {
                return Err(StorageError::with_detail(
                    ErrorCode::InvalidInput,
                    "metadata name",
                ));
            }
            total += key.len() + value.len();
            metadata.push((key.to_string(), value.clone()));
        }
    }
    if total > MAX_METADATA_BYTES {
        return Err(StorageError::with_detail(
            ErrorCode::InvalidInput,
            "metadata too large",
        ));
    }
    Ok(metadata)
}

fn parse_range(text: &str, length: u64) -> Result<Option<(u64, u64)>, StorageError> {
    let Some(spec) = text.trim().strip_prefix("bytes=") else {
        return Err(StorageError::with_detail(
            ErrorCode::InvalidHeaderValue,
            "range",
        ));
    };
    let (start, end) = spec
        .split_once('-')
        .ok_or_else(|| StorageError::with_detail(ErrorCode::InvalidHeaderValue, "range"))?;
    let start: u64 = start
        .parse()
        .map_err(|_| StorageError::with_detail(ErrorCode::InvalidHeaderValue, "range"))?;
    let end: Option<u64> = if end.is_empty() {
        None
    } else {
        Some(
            end.parse()
                .map_err(|_| StorageError::with_detail(ErrorCode::InvalidHeaderValue, "range"))?,
        )
    };
    if end.is_some_and(|end| end < start) {
        return Err(StorageError::with_detail(
            ErrorCode::InvalidHeaderValue,
            "range",
        ));
    }
    if start >= length {
        return Err(StorageError::new(ErrorCode::InvalidRange));
    }
    let last = end.unwrap_or(u64::MAX).min(length - 1);
    Ok(Some((start, last)))
}

fn blob_headers(record: &BlobRecord, now_ms: UnixMs, out: &mut Vec<(String, String)>) {
    out.push(("etag".into(), record.etag.clone()));
    out.push((
        "last-modified".into(),
        format_http_date(record.last_modified_ms),
    ));
    out.push((
        "x-ms-creation-time".into(),
        format_http_date(record.created_ms),
    ));
    out.push(("x-ms-blob-type".into(), record.blob_type.as_str().into()));
    out.push((
        "x-ms-lease-state".into(),
        record.lease.state_name(now_ms).into(),
    ));
    out.push((
        "x-ms-lease-status".into(),
        record.lease.status_name(now_ms).into(),
    ));
    if let Some(duration) = record.lease.duration_name(now_ms) {
        out.push(("x-ms-lease-duration".into(), duration.into()));
    }
    out.push(("x-ms-server-encrypted".into(), "true".into()));
    out.push(("accept-ranges".into(), "bytes".into()));
    let headers = &record.headers;
    out.push((
        "content-type".into(),
        headers
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into()),
    ));
    for (name, value) in [
        ("content-encoding", &headers.content_encoding),
        ("content-language", &headers.content_language),
        ("cache-control", &headers.cache_control),
        ("content-disposition", &headers.content_disposition),
    ] {
        if let Some(value) = value {
            out.push((name.into(), value.clone()));
        }
    }
    for (name, value) in &record.metadata {
        out.push((format!("x-ms-meta-{name}"), value.clone()));
    }
}

impl Context<'_> {
    fn container_name(&self) -> &str {
        self.address.container.as_deref().unwrap_or_default()
    }

    fn container_key(&self) -> String {
        ops::container_key(&self.address.account, self.container_name())
    }

    fn blob_key(&self, snapshot: Option<&str>) -> String {
        ops::blob_key(
            &self.address.account,
            self.container_name(),
            self.address.blob.as_deref().unwrap_or_default(),
            snapshot,
        )
    }

    /// Reads from the replica named by the diagnostic header
    /// [`REPLICA_HEADER`] if the request has one (conformance reads each
    /// replica this way), else from any replica that holds every
    /// acknowledged write.
    fn read<T>(
        &self,
        f: impl FnOnce(&dyn super::store::Tables<super::store::Table>) -> Result<T, StoreError>,
    ) -> Result<T, StorageError> {
        match self.request.header(REPLICA_HEADER) {
            None => read(&self.account.store, f),
            Some(text) => {
                let replica: usize = text
                    .trim()
                    .parse()
                    .ok()
                    .filter(|r| *r < REPLICA_COUNT)
                    .ok_or_else(|| {
                        StorageError::with_detail(ErrorCode::InvalidHeaderValue, REPLICA_HEADER)
                    })?;
                self.account
                    .store
                    .read_from(replica, f)
                    .map_err(store_error)
            }
        }
    }

    /// Refuses at once a write that the blob's lease fences, or (`must_exist`)
    /// a write to a blob that is not there. The store checks again when it
    /// applies the write; this only answers early, so that a refused write
    /// never waits behind the queue.
    fn precheck(&self, must_exist: bool) -> Result<(), StorageError> {
        let key = self.blob_key(None);
        let record = self.read(|tables| ops::read_blob(tables, &key))?;
        match record {
            Some(record) if !self.bugs.has(SeededBug::LeaseNotCheckedOnWrite) || must_exist => {
                lease::check_write(&record.lease, self.lease_id().as_deref(), self.now_ms)
            }
            Some(_) => Ok(()),
            None if must_exist => Err(StorageError::new(ErrorCode::BlobNotFound)),
            None => lease::check_write(
                &lease::LeaseState::Available,
                self.lease_id().as_deref(),
                self.now_ms,
            ),
        }
    }

    fn existing_container(&self) -> Result<&ContainerRecord, StorageError> {
        self.container
            .as_ref()
            .ok_or(StorageError::new(ErrorCode::ContainerNotFound))
    }

    async fn write(&self, write: Write) -> Result<Applied, StorageError> {
        let command = BlobWrite {
            write,
            bugs: self.bugs,
        };
        self.account
            .store
            .write(command)
            .await
            .map_err(store_error)?
    }

    fn lease_id(&self) -> Option<String> {
        self.request.header("x-ms-lease-id").map(str::to_string)
    }

    async fn run(&self, operation: Operation) -> Result<BlobResponse, StorageError> {
        use Operation::*;
        let now_ms = self.now_ms;
        match operation {
            GetAccountInfo => Ok(with_header(
                with_header(ok(200), "x-ms-sku-name", "Standard_RAGRS"),
                "x-ms-account-kind",
                "StorageV2",
            )),
            ListContainers => self.list_containers(),
            CreateContainer => {
                let public_access =
                    PublicAccess::from_header(self.request.header("x-ms-blob-public-access"))?;
                let record = ContainerRecord {
                    etag: new_etag(),
                    last_modified_ms: now_ms,
                    metadata: metadata_of(self.request)?,
                    acl: ContainerAcl {
                        public_access,
                        identifiers: Vec::new(),
                    },
                };
                let record = self
                    .write(Write::CreateContainer {
                        key: self.container_key(),
                        record,
                    })
                    .await?
                    .into_container()?;
                Ok(container_headers(ok(201), &record))
            }
            GetContainerProperties => {
                let record = self.existing_container()?;
                let mut response = container_headers(ok(200), record);
                for (name, value) in &record.metadata {
                    response
                        .headers
                        .push((format!("x-ms-meta-{name}"), value.clone()));
                }
                if let Some(level) = record.acl.public_access.header_value() {
                    response
                        .headers
                        .push(("x-ms-blob-public-access".into(), level.into()));
                }
                response
                    .headers
                    .push(("x-ms-lease-state".into(), "available".into()));
                response
                    .headers
                    .push(("x-ms-lease-status".into(), "unlocked".into()));
                Ok(response)
            }
            DeleteContainer => {
                self.existing_container()?;
                self.write(Write::DeleteContainer {
                    key: self.container_key(),
                    prefix: ops::blob_prefix(&self.address.account, self.container_name()),
                })
                .await?;
                Ok(ok(202))
            }
            SetContainerAcl => {
                self.existing_container()?;
                let public_access =
                    PublicAccess::from_header(self.request.header("x-ms-blob-public-access"))?;
                let identifiers = xml::parse_identifiers(&self.request.body)?;
                let acl = ContainerAcl {
                    public_access,
                    identifiers,
                };
                acl.validate()?;
                let record = self
                    .write(Write::SetContainerAcl {
                        key: self.container_key(),
                        acl,
                        etag: new_etag(),
                        now_ms,
                    })
                    .await?
                    .into_container()?;
                Ok(container_headers(ok(200), &record))
            }
            GetContainerAcl => {
                let record = self.existing_container()?;
                let mut response = xml_response(xml::render_identifiers(&record.acl.identifiers));
                response = container_headers(response, record);
                if let Some(level) = record.acl.public_access.header_value() {
                    response
                        .headers
                        .push(("x-ms-blob-public-access".into(), level.into()));
                }
                Ok(response)
            }
            SetContainerMetadata => {
                self.existing_container()?;
                let record = self
                    .write(Write::SetContainerMetadata {
                        key: self.container_key(),
                        metadata: metadata_of(self.request)?,
                        etag: new_etag(),
                        now_ms,
                    })
                    .await?
                    .into_container()?;
                Ok(container_headers(ok(200), &record))
            }
            ListBlobs => self.list_blobs(),
            PutBlob => self.put_blob().await,
            GetBlob | GetBlobProperties | GetBlobMetadata => self.get_blob(operation),
            DeleteBlob => {
                self.existing_container()?;
                let snapshots = match self.request.header("x-ms-delete-snapshots") {
                    None => DeleteSnapshots::Refuse,
                    Some("include") => DeleteSnapshots::Include,
                    Some("only") => DeleteSnapshots::Only,
                    Some(_) => {
                        return Err(StorageError::with_detail(
                            ErrorCode::InvalidHeaderValue,
                            "x-ms-delete-snapshots",
                        ))
                    }
                };
                if self.snapshot.is_some() && snapshots != DeleteSnapshots::Refuse {
                    return Err(StorageError::with_detail(
                        ErrorCode::InvalidQueryParameterValue,
                        "snapshot",
                    ));
                }
                if self.snapshot.is_none() {
                    self.precheck(true)?;
                }
                self.write(Write::DeleteBlob {
                    container: self.container_key(),
                    key: self.blob_key(None),
                    snapshot_key: self.snapshot.as_deref().map(|s| self.blob_key(Some(s))),
                    snapshot_prefix: self.blob_key(None),
                    snapshots,
                    lease_id: self.lease_id(),
                    now_ms,
                })
                .await?;
                Ok(with_header(ok(202), "x-ms-delete-type-permanent", "true"))
            }
            SnapshotBlob => {
                self.existing_container()?;
                let key = self.blob_key(None);
                if self.read(|tables| ops::read_blob(tables, &key))?.is_none() {
                    return Err(StorageError::new(ErrorCode::BlobNotFound));
                }
                let snapshot_id = format_iso8601_fine(now_ms);
                let record = self
                    .write(Write::Snapshot {
                        key: self.blob_key(None),
                        snapshot_key: self.blob_key(Some(&snapshot_id)),
                        lease_id: self.lease_id(),
                        now_ms,
                    })
                    .await?
                    .into_snapshot()?;
                let response = with_header(ok(201), "x-ms-snapshot", snapshot_id);
                let response = with_header(response, "etag", record.etag);
                Ok(with_header(
                    response,
                    "last-modified",
                    format_http_date(record.last_modified_ms),
                ))
            }
            SetBlobMetadata => {
                self.existing_container()?;
                let record = self
                    .write(Write::SetBlobMetadata {
                        key: self.blob_key(None),
                        metadata: metadata_of(self.request)?,
                        lease_id: self.lease_id(),
                        etag: new_etag(),
                        now_ms,
                    })
                    .await?
                    .into_blob()?;
                let response = with_header(ok(200), "etag", record.etag);
                let response = with_header(response, "x-ms-request-server-encrypted", "true");
                Ok(with_header(
                    response,
                    "last-modified",
                    format_http_date(record.last_modified_ms),
                ))
            }
            LeaseBlob => self.lease().await,
        }
    }

    fn list_containers(&self) -> Result<BlobResponse, StorageError> {
        let prefix = self.request.query_value("prefix").unwrap_or_default();
        let marker = self.request.query_value("marker").unwrap_or_default();
        let max_results = parse_max_results(self.request.query_value("maxresults"))?;
        let scan = format!("{}\u{0}{prefix}", self.address.account);
        let account_prefix = format!("{}\u{0}", self.address.account);
        let entries = read(&self.account.store, |tables| {
            let mut out = Vec::new();
            for (key, bytes) in tables.range(
                super::store::Table::Containers,
                &scan,
                ops::MAX_LIST_RESULTS,
            )? {
                let name = key
                    .strip_prefix(&account_prefix)
                    .unwrap_or_default()
                    .to_string();
                let record: Option<ContainerRecord> = serde_json::from_slice(&bytes).ok();
                if let Some(record) = record {
                    out.push((name, record));
                }
            }
            Ok(out)
        })?;
        let mut body = String::from(DECLARATION);
        body.push_str(&format!(
            "<EnumerationResults ServiceEndpoint=\"/{}/\">",
            self.address.account
        ));
        element(&mut body, "Prefix", prefix);
        element(&mut body, "Marker", marker);
        element(&mut body, "MaxResults", &max_results.to_string());
        body.push_str("<Containers>");
        let mut next_marker = String::new();
        let after_marker = entries.iter().filter(|(name, _)| name.as_str() >= marker);
        for (shown, (name, record)) in after_marker.enumerate() {
            if shown == max_results {
                next_marker = name.clone();
                break;
            }
            body.push_str("<Container>");
            element(&mut body, "Name", name);
            body.push_str("<Properties>");
            element(
                &mut body,
                "Last-Modified",
                &format_http_date(record.last_modified_ms),
            );
            element(&mut body, "Etag", &record.etag);
            element(&mut body, "LeaseStatus", "unlocked");
            element(&mut body, "LeaseState", "available");
            if let Some(level) = record.acl.public_access.header_value() {
                element(&mut body, "PublicAccess", level);
            }
            element(&mut body, "HasImmutabilityPolicy", "false");
            element(&mut body, "HasLegalHold", "false");
            body.push_str("</Properties>");
            if self.include("metadata") {
                push_metadata(&mut body, &record.metadata);
            }
            body.push_str("</Container>");
        }
        body.push_str("</Containers>");
        element(&mut body, "NextMarker", &next_marker);
        body.push_str("</EnumerationResults>");
        Ok(xml_response(body))
    }

    fn include(&self, what: &str) -> bool {
        self.request
            .query_value("include")
            .is_some_and(|list| list.split(',').any(|item| item.trim() == what))
    }

    fn list_blobs(&self) -> Result<BlobResponse, StorageError> {
        self.existing_container()?;
        let prefix = self.request.query_value("prefix").unwrap_or_default();
        let marker = self.request.query_value("marker").unwrap_or_default();
        let max_results = parse_max_results(self.request.query_value("maxresults"))?;
        let with_snapshots = self.include("snapshots");
        let container_prefix = ops::blob_prefix(&self.address.account, self.container_name());
        let entries = self.read(|tables| {
            ops::list_blobs(tables, &container_prefix, prefix, ops::MAX_LIST_RESULTS)
        })?;
        let mut body = String::from(DECLARATION);
        body.push_str(&format!(
            "<EnumerationResults ServiceEndpoint=\"/{}/\" ContainerName=\"",
            self.address.account
        ));
        super::error::push_escaped(&mut body, self.container_name());
        body.push_str("\">");
        element(&mut body, "Prefix", prefix);
        element(&mut body, "Marker", marker);
        element(&mut body, "MaxResults", &max_results.to_string());
        body.push_str("<Blobs>");
        let mut next_marker = String::new();
        let visible = entries
            .iter()
            .filter(|(_, snapshot, _)| with_snapshots || snapshot.is_none())
            .filter(|(name, _, _)| name.as_str() >= marker);
        for (shown, (name, snapshot, record)) in visible.enumerate() {
            if shown == max_results {
                next_marker = name.clone();
                break;
            }
            body.push_str("<Blob>");
            element(&mut body, "Name", name);
            if let Some(snapshot) = snapshot {
                element(&mut body, "Snapshot", snapshot);
            }
            body.push_str("<Properties>");
            element(
                &mut body,
                "Creation-Time",
                &format_http_date(record.created_ms),
            );
            element(
                &mut body,
                "Last-Modified",
                &format_http_date(record.last_modified_ms),
            );
            element(&mut body, "Etag", &record.etag);
            element(
                &mut body,
                "Content-Length",
                &record.content_length.to_string(),
            );
            element(
                &mut body,
                "Content-Type",
                record
                    .headers
                    .content_type
                    .as_deref()
                    .unwrap_or("application/octet-stream"),
            );
            if let Some(md5) = &record.headers.content_md5 {
                element(&mut body, "Content-MD5", md5);
            }
            element(&mut body, "BlobType", record.blob_type.as_str());
            element(&mut body, "AccessTier", "Hot");
            element(&mut body, "AccessTierInferred", "true");
            element(
                &mut body,
                "LeaseStatus",
                record.lease.status_name(self.now_ms),
            );
            element(
                &mut body,
                "LeaseState",
                record.lease.state_name(self.now_ms),
            );
            if let Some(duration) = record.lease.duration_name(self.now_ms) {
                element(&mut body, "LeaseDuration", duration);
            }
            element(&mut body, "ServerEncrypted", "true");
            body.push_str("</Properties>");
            if self.include("metadata") {
                push_metadata(&mut body, &record.metadata);
            }
            body.push_str("</Blob>");
        }
        body.push_str("</Blobs>");
        element(&mut body, "NextMarker", &next_marker);
        body.push_str("</EnumerationResults>");
        Ok(xml_response(body))
    }

    async fn put_blob(&self) -> Result<BlobResponse, StorageError> {
        self.existing_container()?;
        let request = self.request;
        let blob_type = match request.header("x-ms-blob-type") {
            Some("BlockBlob") => BlobType::BlockBlob,
            Some("PageBlob") => BlobType::PageBlob,
            Some(_) => {
                return Err(StorageError::with_detail(
                    ErrorCode::InvalidHeaderValue,
                    "x-ms-blob-type",
                ))
            }
            None => {
                return Err(StorageError::with_detail(
                    ErrorCode::MissingRequiredHeader,
                    "x-ms-blob-type",
                ))
            }
        };
        let body = &request.body;
        let computed_md5 = base64::engine::general_purpose::STANDARD.encode(md5_digest(body));
        if let Some(given) = request.header("content-md5") {
            if given.trim() != computed_md5 {
                return Err(StorageError::new(ErrorCode::Md5Mismatch));
            }
        }
        let content = match blob_type {
            BlobType::BlockBlob => PutContent::Bytes(body.clone()),
            BlobType::PageBlob => {
                if !body.is_empty() {
                    return Err(StorageError::with_detail(
                        ErrorCode::InvalidHeaderValue,
                        "content-length",
                    ));
                }
                let length: u64 = request
                    .header("x-ms-blob-content-length")
                    .and_then(|text| text.trim().parse().ok())
                    .filter(|length| length % 512 == 0 && *length <= MAX_PUT_BYTES)
                    .ok_or_else(|| {
                        StorageError::with_detail(
                            ErrorCode::InvalidHeaderValue,
                            "x-ms-blob-content-length",
                        )
                    })?;
                PutContent::Zeros(length)
            }
        };
        let headers = ContentHeaders {
            content_type: request
                .header("x-ms-blob-content-type")
                .or_else(|| request.header("content-type"))
                .map(str::to_string),
            content_encoding: request
                .header("x-ms-blob-content-encoding")
                .map(str::to_string),
            content_language: request
                .header("x-ms-blob-content-language")
                .map(str::to_string),
            cache_control: request
                .header("x-ms-blob-cache-control")
                .map(str::to_string),
            content_disposition: request
                .header("x-ms-blob-content-disposition")
                .map(str::to_string),
            content_md5: match blob_type {
                BlobType::BlockBlob => Some(
                    request
                        .header("x-ms-blob-content-md5")
                        .map(str::to_string)
                        .unwrap_or_else(|| computed_md5.clone()),
                ),
                BlobType::PageBlob => None,
            },
        };
        self.precheck(false)?;
        let record = self
            .write(Write::PutBlob {
                container: self.container_key(),
                key: self.blob_key(None),
                blob_type,
                content,
                headers,
                metadata: metadata_of(request)?,
                lease_id: self.lease_id(),
                if_match: request.header("if-match").map(str::to_string),
                if_none_match_any: request
                    .header("if-none-match")
                    .is_some_and(|v| v.trim() == "*"),
                etag: new_etag(),
                now_ms: self.now_ms,
            })
            .await?
            .into_blob()?;
        let mut response = ok(201);
        response.headers.push(("etag".into(), record.etag.clone()));
        response.headers.push((
            "last-modified".into(),
            format_http_date(record.last_modified_ms),
        ));
        if blob_type == BlobType::BlockBlob {
            response.headers.push(("content-md5".into(), computed_md5));
        }
        response
            .headers
            .push(("x-ms-request-server-encrypted".into(), "true".into()));
        Ok(response)
    }

    fn get_blob(&self, operation: Operation) -> Result<BlobResponse, StorageError> {
        self.existing_container()?;
        let key = self.blob_key(self.snapshot.as_deref());
        let want_bytes = operation == Operation::GetBlob;
        let range_header = self
            .request
            .header("x-ms-range")
            .or_else(|| self.request.header("range"))
            .map(str::to_string);
        let (record, bytes) = self.read(|tables| {
            let Some(record) = ops::read_blob(tables, &key)? else {
                return Ok((None, Bytes::new()));
            };
            let bytes = if want_bytes {
                ops::read_blob_bytes(tables, &key, &record)?
            } else {
                Bytes::new()
            };
            Ok((Some(record), bytes))
        })?;
        let record = record.ok_or(StorageError::new(ErrorCode::BlobNotFound))?;
        lease::check_read(&record.lease, self.lease_id().as_deref(), self.now_ms)?;
        let mut response = ok(200);
        blob_headers(&record, self.now_ms, &mut response.headers);
        if operation == Operation::GetBlobMetadata {
            response.headers.retain(|(name, _)| {
                name.starts_with("x-ms-meta-") || name == "etag" || name == "last-modified"
            });
            return Ok(response);
        }
        let length = record.content_length;
        let range = match &range_header {
            Some(text) if want_bytes => parse_range(text, length)?,
            _ => None,
        };
        match range {
            Some((start, last)) => {
                response.status = 206;
                let (from, to) = (start as usize, last as usize + 1);
                response.body = bytes.slice(from.min(bytes.len())..to.min(bytes.len()));
                response.headers.push((
                    "content-range".into(),
                    format!("bytes {start}-{last}/{length}"),
                ));
                response
                    .headers
                    .push(("content-length".into(), (last - start + 1).to_string()));
            }
            None => {
                if let Some(md5) = &record.headers.content_md5 {
                    response.headers.push(("content-md5".into(), md5.clone()));
                }
                response
                    .headers
                    .push(("content-length".into(), length.to_string()));
                response.body = bytes;
            }
        }
        Ok(response)
    }

    async fn lease(&self) -> Result<BlobResponse, StorageError> {
        self.existing_container()?;
        let key = self.blob_key(None);
        if self.read(|tables| ops::read_blob(tables, &key))?.is_none() {
            return Err(StorageError::new(ErrorCode::BlobNotFound));
        }
        let request = self.request;
        let header = |name: &str| request.header(name).map(str::to_string);
        let missing =
            |name: &str| StorageError::with_detail(ErrorCode::MissingRequiredHeader, name);
        let action = match request.header("x-ms-lease-action") {
            Some("acquire") => LeaseAction::Acquire {
                duration_s: lease::parse_duration(
                    request
                        .header("x-ms-lease-duration")
                        .ok_or_else(|| missing("x-ms-lease-duration"))?,
                )?,
                proposed_id: header("x-ms-proposed-lease-id")
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            },
            Some("renew") => LeaseAction::Renew {
                id: header("x-ms-lease-id").ok_or_else(|| missing("x-ms-lease-id"))?,
            },
            Some("change") => LeaseAction::Change {
                id: header("x-ms-lease-id").ok_or_else(|| missing("x-ms-lease-id"))?,
                proposed_id: header("x-ms-proposed-lease-id")
                    .ok_or_else(|| missing("x-ms-proposed-lease-id"))?,
            },
            Some("release") => LeaseAction::Release {
                id: header("x-ms-lease-id").ok_or_else(|| missing("x-ms-lease-id"))?,
            },
            Some("break") => LeaseAction::Break {
                period_s: request
                    .header("x-ms-lease-break-period")
                    .map(|text| {
                        text.trim().parse::<i64>().map_err(|_| {
                            StorageError::with_detail(
                                ErrorCode::InvalidHeaderValue,
                                "x-ms-lease-break-period",
                            )
                        })
                    })
                    .transpose()?,
            },
            Some(_) => {
                return Err(StorageError::with_detail(
                    ErrorCode::InvalidHeaderValue,
                    "x-ms-lease-action",
                ))
            }
            None => return Err(missing("x-ms-lease-action")),
        };
        let status = match action {
            LeaseAction::Acquire { .. } => 201,
            LeaseAction::Break { .. } => 202,
            _ => 200,
        };
        let (answer, record) = self
            .write(Write::Lease {
                key: self.blob_key(None),
                action,
                now_ms: self.now_ms,
            })
            .await?
            .into_lease()?;
        let mut response = ok(status);
        response.headers.push(("etag".into(), record.etag.clone()));
        response.headers.push((
            "last-modified".into(),
            format_http_date(record.last_modified_ms),
        ));
        if let Some(id) = answer.id {
            response.headers.push(("x-ms-lease-id".into(), id));
        }
        if let Some(seconds) = answer.break_in_s {
            response
                .headers
                .push(("x-ms-lease-time".into(), seconds.to_string()));
        }
        Ok(response)
    }
}

fn container_headers(mut response: BlobResponse, record: &ContainerRecord) -> BlobResponse {
    response.headers.push(("etag".into(), record.etag.clone()));
    response.headers.push((
        "last-modified".into(),
        format_http_date(record.last_modified_ms),
    ));
    response
}

fn push_metadata(body: &mut String, metadata: &[(String, String)]) {
    body.push_str("<Metadata>");
    for (name, value) in metadata {
        element(body, name, value);
    }
    body.push_str("</Metadata>");
}

fn parse_max_results(value: Option<&str>) -> Result<usize, StorageError> {
    match value {
        None => Ok(ops::MAX_LIST_RESULTS),
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=ops::MAX_LIST_RESULTS).contains(n))
            .ok_or_else(|| StorageError::with_detail(ErrorCode::OutOfRangeInput, "maxresults")),
    }
}

fn md5_digest(bytes: &[u8]) -> [u8; 16] {
    use md5::{Digest, Md5};
    Md5::digest(bytes).into()
}
