//! The storage service under hostile input: property tests that feed it
//! malformed, unauthenticated and tampered requests, in process through
//! `StorageService::handle` and over a raw socket through the hyper shell.
//!
//! Every property here holds for every input:
//!
//! - the service never panics and never answers 5xx;
//! - every refusal carries an `x-ms-error-code` the service defines, sent
//!   with that code's status, and only the refusal statuses a bad request
//!   may get (400, 401, 403, 404, 405, 409, 411, 412, 413, 416);
//! - a request that is not a well-formed authorized request is refused;
//!   the only successes allowed without a valid signature are anonymous
//!   reads of the container made public;
//! - nothing stored is lost or changed: every table of every replica, the
//!   account keys, and what the API shows (listings, ACLs, every blob's
//!   properties and bytes) are the same after the fuzzed requests as before.
//!
//! The runners are seeded (ChaCha, fixed seeds) and persist no failures, so
//! every run sends the same requests.

use bytes::Bytes;
use fabric_impl::bugs::BugSet;
use fabric_impl::secret::SecretBytes;
use fabric_impl::storage::acl::Permissions;
use fabric_impl::storage::auth::{
    self, AccountKeys, KeySlot, Need, RequestView, SasBuilder, Target,
};
use fabric_impl::storage::clock::{format_http_date, now_ms};
use fabric_impl::storage::error::ErrorCode;
use fabric_impl::storage::http::{self, StorageServer, MAX_HEADERS, MAX_HEADER_BYTES};
use fabric_impl::storage::service::{
    AccountSpec, BlobRequest, BlobResponse, ServiceConfig, StorageService, DEFAULT_ACCOUNT,
    MAX_PUT_BYTES,
};
use fabric_impl::storage::store::Table;
use fabric_impl::storage::xml;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ----- the fixed world ------------------------------------------------------

/// 2024-05-06T12:00:00Z: every in-process request is handled at this time.
const NOW_MS: i64 = 1_714_996_800_000;
const MINUTE_MS: i64 = 60_000;
const ACCOUNT: &str = DEFAULT_ACCOUNT;
const VERSION: &str = "2026-10-06";
/// The private container, with blobs, a snapshot, a lease and stored
/// policies.
const PRIVATE: &str = "fuzzbox";
/// The container anyone may read (public access `container`).
const PUBLIC: &str = "pubbox";
/// Stands for the management API's key regeneration path.
const MANAGEMENT: &str = ".management";
const LEASE_ID: &str = "0f0f0f0f-1111-2222-3333-444444444444";
const OTHER_LEASE_ID: &str = "99999999-8888-7777-6666-555555555555";
const ALPHA_BYTES: &[u8] = b"alpha: the first blob, 36 bytes long";
const BETA_BYTES: &[u8] = b"beta gamma";
const LEASED_BYTES: &[u8] = b"leased bytes";
const OPEN_BYTES: &[u8] = b"anyone may read this";

/// The statuses a refused bad request may get.
const REFUSALS: [u16; 10] = [400, 401, 403, 404, 405, 409, 411, 412, 413, 416];

/// Every error code the service defines (written out here, so that a code
/// the service sends but does not define is caught).
const ALL_CODES: [ErrorCode; 44] = {
    use ErrorCode::*;
    [
        AuthenticationFailed,
        AuthorizationPermissionMismatch,
        AuthorizationResourceTypeMismatch,
        AuthorizationFailure,
        NoAuthenticationInformation,
        ForbiddenError,
        InvalidAuthenticationInfo,
        ResourceNotFound,
        AccountNotFound,
        ContainerNotFound,
        BlobNotFound,
        ContainerAlreadyExists,
        BlobAlreadyExists,
        SnapshotsPresent,
        LeaseIdMissing,
        LeaseIdMismatchWithBlobOperation,
        LeaseNotPresentWithBlobOperation,
        LeaseIdMissingContainer,
        LeaseAlreadyPresent,
        LeaseNotPresentWithLeaseOperation,
        LeaseIdMismatchWithLeaseOperation,
        LeaseIsBrokenAndCannotBeRenewed,
        LeaseIsBreakingAndCannotBeAcquired,
        LeaseIsBreakingAndCannotBeChanged,
        ConditionNotMet,
        InvalidOperation,
        InvalidHeaderValue,
        MissingRequiredHeader,
        InvalidQueryParameterValue,
        MissingRequiredQueryParameter,
        InvalidUri,
        InvalidResourceName,
        InvalidXmlDocument,
        InvalidInput,
        OutOfRangeInput,
        InvalidRange,
        Md5Mismatch,
        RequestHeaderTooLarge,
        RequestBodyTooLarge,
        MissingContentLengthHeader,
        UnsupportedHttpVerb,
        UnsupportedQueryParameter,
        ServerBusy,
        InternalError,
    ]
};

/// `ALL_CODES` lists every variant: the match below has no wildcard, so a
/// variant added to `ErrorCode` stops this compiling until it is listed.
#[test]
fn every_error_code_is_listed() {
    use ErrorCode::*;
    let listed = |code: ErrorCode| match code {
        AuthenticationFailed
        | AuthorizationPermissionMismatch
        | AuthorizationResourceTypeMismatch
        | AuthorizationFailure
        | NoAuthenticationInformation
        | ForbiddenError
        | InvalidAuthenticationInfo
        | ResourceNotFound
        | AccountNotFound
        | ContainerNotFound
        | BlobNotFound
        | ContainerAlreadyExists
        | BlobAlreadyExists
        | SnapshotsPresent
        | LeaseIdMissing
        | LeaseIdMismatchWithBlobOperation
        | LeaseNotPresentWithBlobOperation
        | LeaseIdMissingContainer
        | LeaseAlreadyPresent
        | LeaseNotPresentWithLeaseOperation
        | LeaseIdMismatchWithLeaseOperation
        | LeaseIsBrokenAndCannotBeRenewed
        | LeaseIsBreakingAndCannotBeAcquired
        | LeaseIsBreakingAndCannotBeChanged
        | ConditionNotMet
        | InvalidOperation
        | InvalidHeaderValue
        | MissingRequiredHeader
        | InvalidQueryParameterValue
        | MissingRequiredQueryParameter
        | InvalidUri
        | InvalidResourceName
        | InvalidXmlDocument
        | InvalidInput
        | OutOfRangeInput
        | InvalidRange
        | Md5Mismatch
        | RequestHeaderTooLarge
        | RequestBodyTooLarge
        | MissingContentLengthHeader
        | UnsupportedHttpVerb
        | UnsupportedQueryParameter
        | ServerBusy
        | InternalError => ALL_CODES.contains(&code),
    };
    assert!(ALL_CODES.iter().all(|code| listed(*code)));
    let distinct: std::collections::BTreeSet<ErrorCode> = ALL_CODES.iter().copied().collect();
    assert_eq!(distinct.len(), ALL_CODES.len());
    for code in ALL_CODES {
        assert_eq!(status_of_code(code.as_str()), Some(code.status()), "{code}");
    }
}

/// The status that goes with the code spelled `name`, if the service
/// defines such a code. (Two variants share `LeaseIdMissing`; both are 412.)
fn status_of_code(name: &str) -> Option<u16> {
    ALL_CODES
        .iter()
        .find(|code| code.as_str() == name)
        .map(|code| code.status())
}

/// A refusal names a known code and has that code's status; a success
/// names none.
fn check_error_code(status: u16, code: Option<&str>) -> Result<(), String> {
    match (status >= 400, code) {
        (true, None) => Err(format!("status {status} without x-ms-error-code")),
        (true, Some(code)) => match status_of_code(code) {
            None => Err(format!(
                "unknown x-ms-error-code {code:?} (status {status})"
            )),
            Some(expected) if expected != status => Err(format!(
                "x-ms-error-code {code} belongs with {expected}, sent with {status}"
            )),
            Some(_) => Ok(()),
        },
        (false, Some(code)) => Err(format!("status {status} with x-ms-error-code {code}")),
        (false, None) => Ok(()),
    }
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn loopback() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

fn md5_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    use md5::{Digest, Md5};
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes))
}

fn view(request: &BlobRequest) -> RequestView<'_> {
    RequestView {
        method: &request.method,
        path: &request.path,
        query: &request.query,
        headers: &request.headers,
        peer_ip: request.peer_ip,
    }
}

fn string_to_sign(request: &BlobRequest) -> String {
    auth::shared_key_string_to_sign(&view(request), ACCOUNT)
}

/// A Shared Key signed request: `x-ms-date` (at `now`) and `x-ms-version`
/// are added, `content-length` for a non-empty body, then `authorization`.
fn sign_request(
    key: &[u8],
    method: &str,
    path: &str,
    query: Vec<(String, String)>,
    mut headers: Vec<(String, String)>,
    body: &[u8],
    now: i64,
) -> BlobRequest {
    headers.push(("x-ms-date".into(), format_http_date(now)));
    headers.push(("x-ms-version".into(), VERSION.into()));
    if !body.is_empty() {
        headers.push(("content-length".into(), body.len().to_string()));
    }
    let mut request = BlobRequest {
        method: method.to_string(),
        path: path.to_string(),
        query,
        headers,
        body: Bytes::copy_from_slice(body),
        peer_ip: Some(loopback()),
    };
    let authorization = auth::sign_shared_key(&view(&request), ACCOUNT, key);
    request
        .headers
        .push(("authorization".into(), authorization));
    request
}

fn open_service(dir: &std::path::Path) -> StorageService {
    let mut config = ServiceConfig::new(
        dir.to_path_buf(),
        vec![AccountSpec::default_account()],
        SecretBytes::new(b"subscription-token-for-fuzzing".to_vec()),
    );
    config.replica_wait_ms = 500;
    StorageService::open(config).expect("the service opens")
}

fn path_of(container: &str, blob: Option<&str>) -> String {
    match blob {
        None => format!("/{ACCOUNT}/{container}"),
        Some(blob) => format!("/{ACCOUNT}/{container}/{}", blob.replace(' ', "%20")),
    }
}

/// Every table of every replica, the keys and the accounts, byte for byte.
#[derive(Debug, PartialEq, Eq)]
struct RawState {
    replicas: Vec<Vec<(Table, String, Vec<u8>)>>,
    keys: Vec<Vec<u8>>,
    accounts: Vec<String>,
}

/// What the API shows: each read's status, headers (less the request id
/// and date) and body.
type ApiState = Vec<(String, u16, Vec<(String, String)>, Bytes)>;

/// A service holding a private container with blobs, a snapshot, an
/// infinite lease and two stored access policies, and a public container.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    service: StorageService,
    key: Vec<u8>,
    keys: AccountKeys,
    snapshot: String,
    /// How often each (status, error code) came back from fuzzed requests.
    seen: std::cell::RefCell<std::collections::BTreeMap<(u16, String), usize>>,
    _dir: tempfile::TempDir,
}

const ACL_BODY: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers>\
    <SignedIdentifier><Id>pol-read</Id><AccessPolicy><Start>2024-05-01T00:00:00Z</Start>\
    <Expiry>2099-01-01T00:00:00Z</Expiry><Permission>rl</Permission></AccessPolicy></SignedIdentifier>\
    <SignedIdentifier><Id>pol-write</Id><AccessPolicy><Permission>rwdl</Permission></AccessPolicy>\
    </SignedIdentifier></SignedIdentifiers>";

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let service = open_service(dir.path());
        let key = service
            .account_key(ACCOUNT, KeySlot::Primary)
            .expect("the default account")
            .expose()
            .to_vec();
        let secondary = service
            .account_key(ACCOUNT, KeySlot::Secondary)
            .expect("the default account");
        let keys = AccountKeys {
            name: ACCOUNT.to_string(),
            keys: [SecretBytes::new(key.clone()), secondary],
        };
        let mut fixture = Fixture {
            runtime,
            service,
            key,
            keys,
            snapshot: String::new(),
            seen: Default::default(),
            _dir: dir,
        };
        fixture.populate();
        fixture
    }

    fn send(&self, request: BlobRequest) -> BlobResponse {
        self.runtime.block_on(self.service.handle(request, NOW_MS))
    }

    fn signed(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> BlobRequest {
        sign_request(
            &self.key,
            method,
            path,
            owned(query),
            owned(headers),
            body,
            NOW_MS,
        )
    }

    fn expect(&self, request: BlobRequest, status: u16, what: &str) -> BlobResponse {
        let response = self.send(request);
        assert_eq!(
            response.status,
            status,
            "setup step {what}: {:?} {}",
            response.error_code(),
            String::from_utf8_lossy(&response.body)
        );
        response
    }

    fn populate(&mut self) {
        let block = [("x-ms-blob-type", "BlockBlob")];
        self.expect(
            self.signed(
                "PUT",
                &path_of(PRIVATE, None),
                &[("restype", "container")],
                &[("x-ms-meta-owner", "fuzz")],
                b"",
            ),
            201,
            "create the private container",
        );
        self.expect(
            self.signed(
                "PUT",
                &path_of(PUBLIC, None),
                &[("restype", "container")],
                &[("x-ms-blob-public-access", "container")],
                b"",
            ),
            201,
            "create the public container",
        );
        self.expect(
            self.signed(
                "PUT",
                &path_of(PRIVATE, Some("alpha")),
                &[],
                &block,
                ALPHA_BYTES,
            ),
            201,
            "put alpha",
        );
        self.expect(
            self.signed(
                "PUT",
                &path_of(PRIVATE, Some("dir/beta gamma")),
                &[],
                &[
                    ("x-ms-blob-type", "BlockBlob"),
                    ("content-type", "text/plain"),
                    ("x-ms-meta-colour", "blue"),
                ],
                BETA_BYTES,
            ),
            201,
            "put dir/beta gamma",
        );
        self.expect(
            self.signed(
                "PUT",
                &path_of(PRIVATE, Some("leased")),
                &[],
                &block,
                LEASED_BYTES,
            ),
            201,
            "put leased",
        );
        self.expect(
            self.signed(
                "PUT",
                &path_of(PUBLIC, Some("open.txt")),
                &[],
                &block,
                OPEN_BYTES,
            ),
            201,
            "put open.txt",
        );
        let snapshot = self.expect(
            self.signed(
                "PUT",
                &path_of(PRIVATE, Some("alpha")),
                &[("comp", "snapshot")],
                &[],
                b"",
            ),
            201,
            "snapshot alpha",
        );
        self.snapshot = snapshot
            .header("x-ms-snapshot")
            .expect("a snapshot id")
            .to_string();
        self.expect(
            self.signed(
                "PUT",
                &path_of(PRIVATE, Some("leased")),
                &[("comp", "lease")],
                &[
                    ("x-ms-lease-action", "acquire"),
                    ("x-ms-lease-duration", "-1"),
                    ("x-ms-proposed-lease-id", LEASE_ID),
                ],
                b"",
            ),
            201,
            "lease leased",
        );
        self.expect(
            self.signed(
                "PUT",
                &path_of(PRIVATE, None),
                &[("restype", "container"), ("comp", "acl")],
                &[],
                ACL_BODY.as_bytes(),
            ),
            200,
            "set the ACL",
        );
    }

    fn raw_state(&self) -> RawState {
        let store = self.service.store(ACCOUNT).expect("the account's store");
        let replicas = (0..3)
            .map(|replica| {
                store
                    .read_from(replica, |tables| {
                        let mut rows = Vec::new();
                        for table in Table::ALL {
                            for (key, value) in tables.range(table, "", usize::MAX)? {
                                rows.push((table, key, value));
                            }
                        }
                        Ok(rows)
                    })
                    .expect("every replica is readable")
            })
            .collect();
        let keys = [KeySlot::Primary, KeySlot::Secondary]
            .iter()
            .map(|slot| {
                self.service
                    .account_key(ACCOUNT, *slot)
                    .expect("the account")
                    .expose()
                    .to_vec()
            })
            .collect();
        RawState {
            replicas,
            keys,
            accounts: self.service.account_names(),
        }
    }

    fn api_state(&self) -> ApiState {
        let mut reads: Vec<(String, BlobRequest)> = vec![(
            "list containers".into(),
            self.signed(
                "GET",
                &format!("/{ACCOUNT}"),
                &[("comp", "list"), ("include", "metadata")],
                &[],
                b"",
            ),
        )];
        for container in [PRIVATE, PUBLIC] {
            let path = path_of(container, None);
            for (what, query) in [
                ("properties", vec![("restype", "container")]),
                ("acl", vec![("restype", "container"), ("comp", "acl")]),
                (
                    "list",
                    vec![
                        ("restype", "container"),
                        ("comp", "list"),
                        ("include", "snapshots,metadata"),
                    ],
                ),
            ] {
                reads.push((
                    format!("{container} {what}"),
                    self.signed("GET", &path, &query, &[], b""),
                ));
            }
        }
        let snapshot = self.snapshot.clone();
        for (container, blob, query) in [
            (PRIVATE, "alpha", vec![]),
            (PRIVATE, "alpha", vec![("snapshot", snapshot.as_str())]),
            (PRIVATE, "dir/beta gamma", vec![]),
            (PRIVATE, "leased", vec![]),
            (PUBLIC, "open.txt", vec![]),
        ] {
            reads.push((
                format!("{container}/{blob} {query:?}"),
                self.signed("GET", &path_of(container, Some(blob)), &query, &[], b""),
            ));
        }
        reads
            .into_iter()
            .map(|(what, request)| {
                let response = self.send(request);
                let headers = response
                    .headers
                    .iter()
                    .filter(|(name, _)| name != "x-ms-request-id" && name != "date")
                    .cloned()
                    .collect();
                (what, response.status, headers, response.body)
            })
            .collect()
    }
}

/// Sends `request` and checks what holds for every request: no 5xx, a
/// consistent error code, and (comparing the raw state before and after)
/// no change to anything stored.
fn send_and_check(fixture: &Fixture, request: &BlobRequest) -> Result<BlobResponse, TestCaseError> {
    let before = fixture.raw_state();
    let response = fixture.send(request.clone());
    let status = response.status;
    *fixture
        .seen
        .borrow_mut()
        .entry((
            status,
            response.error_code().unwrap_or_default().to_string(),
        ))
        .or_default() += 1;
    prop_assert!(
        (200..300).contains(&status) || REFUSALS.contains(&status),
        "status {} ({:?}) for {:?}\nbody: {}",
        status,
        response.error_code(),
        request,
        String::from_utf8_lossy(&response.body)
    );
    if let Err(problem) = check_error_code(status, response.error_code()) {
        return Err(TestCaseError::fail(format!("{problem} for {request:?}")));
    }
    let after = fixture.raw_state();
    prop_assert!(
        before == after,
        "the stored state changed (status {}) after {:?}: {}",
        status,
        request,
        describe_change(&before, &after)
    );
    Ok(response)
}

/// What differs between two raw states: the keys added, removed or
/// rewritten (replica 0 and the account keys; the other replicas match it
/// or the store has diverged, which is a change too).
fn describe_change(before: &RawState, after: &RawState) -> String {
    use std::collections::BTreeMap;
    let rows = |state: &RawState| -> BTreeMap<(Table, String), Vec<u8>> {
        state.replicas[0]
            .iter()
            .map(|(table, key, value)| ((*table, key.replace('\u{0}', "/")), value.clone()))
            .collect()
    };
    let (old, new) = (rows(before), rows(after));
    let mut out = Vec::new();
    for (key, value) in &new {
        match old.get(key) {
            None => out.push(format!("added {key:?}")),
            Some(previous) if previous != value => out.push(format!("rewrote {key:?}")),
            Some(_) => {}
        }
    }
    out.extend(
        old.keys()
            .filter(|key| !new.contains_key(*key))
            .map(|key| format!("removed {key:?}")),
    );
    if before.keys != after.keys {
        out.push("the account keys changed".into());
    }
    if before.replicas.iter().any(|r| r != &before.replicas[0])
        || after.replicas.iter().any(|r| r != &after.replicas[0])
    {
        out.push("the replicas differ".into());
    }
    out.join("; ")
}

fn runner(seed: u64, cases: u32) -> TestRunner {
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    seed_bytes[8..16].copy_from_slice(b"storage!");
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    )
}

/// Runs `cases` cases of `strategy` through `test` on a fresh [`Fixture`]
/// (each case also compares the raw state before and after itself, in
/// [`send_and_check`]), and compares the full state, raw and through the
/// API, with the state before the loop every 50 cases and at the end.
/// Answers how often each (status, error code) came back.
fn fuzz<S: Strategy>(
    name: &str,
    seed: u64,
    cases: u32,
    strategy: S,
    test: impl Fn(&Fixture, S::Value) -> Result<(), TestCaseError>,
) -> Seen
where
    S::Value: std::fmt::Debug,
{
    const EVERY: usize = 50;
    let started = Instant::now();
    let fixture = Fixture::new();
    let raw = fixture.raw_state();
    let api = fixture.api_state();
    let since_check = std::cell::Cell::new(0usize);
    let result = runner(seed, cases).run(&strategy, |value| {
        test(&fixture, value)?;
        since_check.set(since_check.get() + 1);
        if since_check.get() == EVERY {
            since_check.set(0);
            prop_assert!(fixture.raw_state() == raw, "raw state drifted");
            prop_assert!(fixture.api_state() == api, "the API view drifted");
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{name}: {error}");
    }
    assert!(fixture.raw_state() == raw, "{name}: raw state changed");
    assert_eq!(fixture.api_state(), api, "{name}: the API view changed");
    let seen = fixture.seen.take();
    eprintln!(
        "{name}: {} cases sent in {:?}; (status, code) seen: {seen:?}",
        seen.values().sum::<usize>(),
        started.elapsed()
    );
    seen
}

/// How often each (status, `x-ms-error-code`) came back.
type Seen = std::collections::BTreeMap<(u16, String), usize>;

/// The fuzzing reached past the first checks: each of `codes` came back at
/// least once.
fn assert_reached(name: &str, seen: &Seen, codes: &[&str]) {
    for code in codes {
        assert!(
            seen.keys().any(|(_, seen_code)| seen_code == code),
            "{name}: never answered {code}: {seen:?}"
        );
    }
}

// ----- 1a. hostile requests -------------------------------------------------

fn methods() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(vec!["GET", "HEAD", "PUT", "DELETE", "POST"]).prop_map(String::from),
        2 => select(vec![
            "OPTIONS", "PATCH", "TRACE", "CONNECT", "MERGE", "get", "put", "Put", "delete", "",
            " GET", "GET ", "PUT\u{0}",
        ])
        .prop_map(String::from),
        1 => "[A-Za-z\\x00-\\x20]{0,10}",
    ]
}

/// A piece of a path segment: names that exist, dot segments, odd and
/// invalid percent escapes, control characters, other scripts.
fn segment_atoms() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(vec![
            "fuzzbox", "pubbox", "alpha", "leased", "open.txt", "dir", "beta%20gamma", "beta gamma",
            "$root", "$logs", "..", ".", "", "%2e%2e", "%2E", "%2F", "%2f", "%00", "%0a", "%ff",
            "%c3%28", "%e2%82", "%ed%a0%80", "%", "%g1", "%%", "%2", "a", "-", "x--y", "FUZZBOX",
            "fuzz%62ox", "%61lpha", "%70ubbox", "+", " ", "\u{0}", "\u{7f}", "\t", "\r\n", "é",
            "\u{202e}", "\u{feff}", "?", "#", ";", "\\", "//", "~",
        ])
        .prop_map(String::from),
        2 => "%[0-9A-Fa-f]{2}",
        2 => "[a-z0-9-]{1,8}",
        1 => "\\PC{1,6}",
        1 => ".{1,4}",
    ]
}

fn segment() -> impl Strategy<Value = String> {
    prop::collection::vec(segment_atoms(), 0..4).prop_map(|atoms| atoms.concat())
}

fn long_segment() -> impl Strategy<Value = String> {
    select(vec![
        "a".repeat(1025),
        "é".repeat(1024),
        "é".repeat(1025),
        "%ff".repeat(300),
        "%61".repeat(1025),
        "x".repeat(64),
        "b".repeat(100_000),
        "/".repeat(500),
    ])
}

fn paths() -> impl Strategy<Value = String> {
    let account = prop_oneof![
        6 => Just(ACCOUNT.to_string()),
        1 => select(vec![
            "DEVSTOREACCOUNT1", "devstoreaccount2", "%64evstoreaccount1", "", "..", ".management",
            "devstoreaccount1%00", "devstoreaccount1%2F",
        ])
        .prop_map(String::from),
        1 => segment(),
    ];
    let container = prop_oneof![
        4 => select(vec![PRIVATE, PUBLIC]).prop_map(String::from),
        2 => segment(),
        1 => long_segment(),
    ];
    let blob = prop_oneof![
        4 => select(vec!["alpha", "leased", "open.txt", "dir", "beta%20gamma", "missing"])
            .prop_map(String::from),
        3 => segment(),
        1 => long_segment(),
    ];
    let structured = (
        account,
        prop::option::weighted(0.9, container),
        prop::collection::vec(blob, 0..4),
        any::<bool>(),
    )
        .prop_map(|(account, container, blobs, trailing)| {
            let mut path = format!("/{account}");
            if let Some(container) = container {
                path.push('/');
                path.push_str(&container);
                for blob in blobs {
                    path.push('/');
                    path.push_str(&blob);
                }
            }
            if trailing {
                path.push('/');
            }
            path
        });
    prop_oneof![
        12 => structured,
        1 => select(vec![
            "/.management/accounts/devstoreaccount1/regenerateKey",
            "/.management/accounts/devstoreaccount1/regenerateKey/",
            "/.management/accounts//regenerateKey",
            "/.management/accounts/",
            "/.management/accounts/nobody/regenerateKey",
        ])
        .prop_map(String::from),
        1 => ".{0,40}",
        1 => select(vec!["", "/", "//", "*", "devstoreaccount1/fuzzbox/alpha", "/%"])
            .prop_map(String::from),
    ]
}

fn base64_44() -> impl Strategy<Value = String> {
    "[A-Za-z0-9+/]{43}="
}

fn query_names() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => select(vec![
            "comp", "restype", "snapshot", "sig", "sv", "sr", "sp", "se", "st", "si", "sip", "spr",
            "skoid", "ss", "srt", "ses", "rscc", "rsct", "prefix", "marker", "maxresults",
            "include", "timeout", "versionid", "COMP", "Comp", "RESTYPE", "Snapshot", "SIG", "",
        ])
        .prop_map(String::from),
        1 => ".{0,6}",
    ]
}

fn query_values() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => select(vec![
            "list", "container", "acl", "metadata", "lease", "snapshot", "properties", "account",
            "", "2024-05-06T12:00:00.0000000Z", "2024-05-06", "2099-01-01T00:00:00Z",
            "2000-01-01T00:00:00Z", "rwdlacup", "r", "w", "rr", "b", "c", "bs", "bv", "pol-read",
            "pol-write", "127.0.0.1", "10.0.0.1-10.0.0.9", "https", "https,http", "http",
            "2026-10-06", "2015-04-05", "1999-01-01", "0", "-1", "5001", "18446744073709551616",
            "snapshots,metadata", "\u{0}", "a\nb:c",
        ])
        .prop_map(String::from),
        2 => base64_44(),
        2 => ".{0,12}",
    ]
}

fn date_values() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(vec![
            format_http_date(NOW_MS),
            format_http_date(NOW_MS - 16 * MINUTE_MS),
            format_http_date(NOW_MS + 16 * MINUTE_MS),
            format_http_date(NOW_MS - 14 * MINUTE_MS),
            format_http_date(0),
            "Mon, 06 May 2024 12:00:00".to_string(),
            "Mon, 32 May 2024 12:00:00 GMT".to_string(),
            "Fri, 31 Dec 9999 23:59:59 GMT".to_string(),
            "2024-05-06T12:00:00Z".to_string(),
            "garbage".to_string(),
            String::new(),
        ]),
        1 => ".{0,30}",
    ]
}

fn auth_values() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => base64_44().prop_map(|sig| format!("SharedKey {ACCOUNT}:{sig}")),
        1 => base64_44().prop_map(|sig| format!("SharedKeyLite {ACCOUNT}:{sig}")),
        1 => base64_44().prop_map(|sig| format!("sharedkey {ACCOUNT}:{sig}")),
        1 => base64_44().prop_map(|sig| format!("SharedKey otheraccount:{sig}")),
        1 => base64_44().prop_map(|sig| format!("SharedKey {ACCOUNT}:{sig}:{sig}")),
        3 => select(vec![
            format!("SharedKey {ACCOUNT}:"),
            format!("SharedKey {ACCOUNT}:!!!!"),
            format!("SharedKey {ACCOUNT}:AAAA"),
            format!("SharedKey {ACCOUNT}"),
            "SharedKey :".to_string(),
            "SharedKey".to_string(),
            "SharedKey  ".to_string(),
            String::new(),
            "   ".to_string(),
            "Bearer subscription-token-for-fuzzing-not".to_string(),
            "Bearer ".to_string(),
            "Basic ZGV2OmRldg==".to_string(),
            format!("SharedKey {ACCOUNT}:{}", "A".repeat(5000)),
        ]),
        1 => ".{0,40}",
    ]
}

fn range_values() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(vec![
            "bytes=0-3", "bytes=5-", "bytes=-5", "bytes=3-1", "bytes=0-99999999999999999999",
            "bytes=100-200", "bytes=0-0,2-3", "bytes=", "bytes=-", "items=0-1",
            "bytes=18446744073709551615-", "bytes=0-18446744073709551615", "bytes= 0-1",
            "bytes=+1-2", "bytes=35-35", "bytes=36-", "bytes=0-35", "",
        ])
        .prop_map(String::from),
        2 => (0u64..64, prop::option::of(0u64..64))
            .prop_map(|(start, end)| match end {
                Some(end) => format!("bytes={start}-{end}"),
                None => format!("bytes={start}-"),
            }),
        1 => (any::<u64>(), any::<u64>()).prop_map(|(a, b)| format!("bytes={a}-{b}")),
        1 => ".{0,16}",
    ]
}

fn any_values() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec![
            "", " ", "0", "-1", "1", "512", "1024", "abc", "*", "\"0x1\"", "BlockBlob", "PageBlob",
            "AppendBlob", "blockblob", "include", "only", "container", "blob", "private", "2", "3",
            "18446744073709551616", "\u{0}", "\t", "é", LEASE_ID, "1B2M2Y8AsgTpgAmY7PhCfg==",
        ])
        .prop_map(String::from),
        1 => ".{0,20}",
        1 => base64_44(),
    ]
}

fn metadata_names() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec!["ok", "_x", "1bad", "bad-name", "", "é", "a b", "a.b", "Owner"])
            .prop_map(String::from),
        1 => "[a-zA-Z0-9_.-]{0,10}",
    ]
}

fn headers() -> impl Strategy<Value = (String, String)> {
    let named = |names: Vec<&'static str>| select(names).prop_map(String::from);
    prop_oneof![
        3 => auth_values().prop_map(|value| ("authorization".to_string(), value)),
        3 => (named(vec!["x-ms-date", "date"]), date_values()),
        2 => (
            Just("x-ms-version".to_string()),
            prop_oneof![
                3 => select(vec![VERSION, "2019-02-02", "2009-09-19", "2030-01-01", "", "latest"])
                    .prop_map(String::from),
                1 => ".{0,12}",
            ],
        ),
        2 => (named(vec!["x-ms-range", "range"]), range_values()),
        2 => (
            named(vec![
                "x-ms-lease-id", "x-ms-lease-action", "x-ms-lease-duration",
                "x-ms-proposed-lease-id", "x-ms-lease-break-period",
            ]),
            prop_oneof![
                select(vec![
                    "acquire", "renew", "change", "release", "break", "ACQUIRE", "-1", "15", "60",
                    "14", "61", "0", "99999999999999999999", "-5", "9223372036854775808", LEASE_ID,
                ])
                .prop_map(String::from),
                any_values(),
            ],
        ),
        1 => (named(vec!["x-ms-blob-type"]), any_values()),
        1 => (named(vec!["content-md5", "x-ms-blob-content-md5"]), any_values()),
        2 => (metadata_names(), prop_oneof![3 => any_values(), 1 => Just("v".repeat(9000))])
            .prop_map(|(name, value)| (format!("x-ms-meta-{name}"), value)),
        3 => (
            prop_oneof![
                4 => named(vec![
                    "content-length", "content-type", "if-match", "if-none-match",
                    "x-ms-blob-public-access", "x-ms-delete-snapshots", "x-fabric-replica",
                    "x-ms-blob-content-length", "x-ms-client-request-id", "host",
                    "transfer-encoding", "expect", "x-ms-copy-source",
                ]),
                1 => "[a-z-]{1,12}",
            ],
            any_values(),
        ),
    ]
}

/// Small bodies: none, random bytes, ACL documents good and bad, a
/// management body.
fn bodies() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        4 => Just(Bytes::new()),
        2 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from),
        2 => select(bad_acl_documents()).prop_map(Bytes::from),
        1 => Just(Bytes::from_static(ACL_BODY.as_bytes())),
        1 => Just(Bytes::from_static(b"{\"keyName\":\"key1\"}")),
    ]
}

/// ACL bodies that are not a valid `SignedIdentifiers` document.
fn bad_acl_documents() -> Vec<String> {
    let identifier = |id: &str| {
        format!("<SignedIdentifier><Id>{id}</Id><AccessPolicy><Permission>r</Permission></AccessPolicy></SignedIdentifier>")
    };
    let six: String = (0..6).map(|n| identifier(&n.to_string())).collect();
    vec![
        format!("<SignedIdentifiers>{six}</SignedIdentifiers>"),
        "<SignedIdentifiers><SignedIdentifier>".to_string(),
        "<SignedIdentifiers>".to_string(),
        "</SignedIdentifiers>".to_string(),
        "<Other/>".to_string(),
        "<SignedIdentifiers><Other/></SignedIdentifiers>".to_string(),
        format!(
            "<SignedIdentifiers>{}{}</SignedIdentifiers>",
            identifier("dup"),
            identifier("dup")
        ),
        format!("<SignedIdentifiers>{}</SignedIdentifiers>", identifier("")),
        format!(
            "<SignedIdentifiers>{}</SignedIdentifiers>",
            identifier(&"i".repeat(65))
        ),
        "<SignedIdentifiers><SignedIdentifier><Id>x</Id><AccessPolicy><Permission>rq</Permission></AccessPolicy></SignedIdentifier></SignedIdentifiers>".to_string(),
        "<SignedIdentifiers><SignedIdentifier><Id>x</Id><AccessPolicy><Start>yesterday</Start></AccessPolicy></SignedIdentifier></SignedIdentifiers>".to_string(),
        "<SignedIdentifiers><SignedIdentifier><Id>x</Id><AccessPolicy><Expiry>2024-13-01T00:00:00Z</Expiry></AccessPolicy></SignedIdentifier></SignedIdentifiers>".to_string(),
        "<SignedIdentifiers><SignedIdentifier><Id>&xxe;</Id></SignedIdentifier></SignedIdentifiers>".to_string(),
        "<!DOCTYPE d [<!ENTITY e \"x\">]><SignedIdentifiers><SignedIdentifier><Id>&e;</Id></SignedIdentifier></SignedIdentifiers>".to_string(),
        "<SignedIdentifiers><SignedIdentifier><Id><![CDATA[x]]></Id></SignedIdentifier></SignedIdentifiers>".to_string(),
        "<SignedIdentifiers><SignedIdentifier><Id>x</Id><AccessPolicy><Start><Start>a</Start></Start></AccessPolicy></SignedIdentifier></SignedIdentifiers>".to_string(),
        "<SignedIdentifiers><SignedIdentifier><Id>x</Id></SignedIdentifier></SignedIdentifiers".to_string(),
        "<SignedIdentifiers attr=\"1\"><SignedIdentifier><Id>x</Id></SignedIdentifier></Signedidentifiers>".to_string(),
        "<SignedIdentifiers>text<SignedIdentifier><Id>x</Id></SignedIdentifier></SignedIdentifiers>".to_string(),
        "<SignedIdentifiers><SignedIdentifier><Id>&#xD800;</Id></SignedIdentifier></SignedIdentifiers>".to_string(),
        "<SignedIdentifiers><SignedIdentifier><Id>&#99999999999;</Id></SignedIdentifier></SignedIdentifiers>".to_string(),
        "<".to_string(),
        "<<<>>>".to_string(),
        "\u{feff}<SignedIdentifiers><SignedIdentifier>\u{0}</SignedIdentifier></SignedIdentifiers>".to_string(),
        "<SignedIdentifiers><SignedIdentifier><Id>x</Id><AccessPolicy><Permission>r</Permission></AccessPolicy></SignedIdentifier>".to_string(),
        "<a><b><c><d><e>deep</e></d></c></b></a>".to_string(),
    ]
}

/// Documents that are not XML at all, or not one `SignedIdentifiers`
/// element: the real service answers `InvalidXmlDocument`.
fn non_xml_acl_documents() -> Vec<String> {
    vec![
        "not xml".to_string(),
        "{\"SignedIdentifiers\":[]}".to_string(),
        "<SignedIdentifiers/>trailing text".to_string(),
        "<SignedIdentifiers></SignedIdentifiers><SignedIdentifiers></SignedIdentifiers>"
            .to_string(),
    ]
}

#[derive(Clone, Debug)]
struct Hostile {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Bytes,
}

fn hostile_requests() -> impl Strategy<Value = Hostile> {
    let chaos = (
        methods(),
        paths(),
        prop::collection::vec((query_names(), query_values()), 0..7),
        prop::collection::vec(headers(), 0..9),
        bodies(),
    )
        .prop_map(|(method, path, query, headers, body)| Hostile {
            method,
            path,
            query,
            headers,
            body,
        });
    prop_oneof![chaos, plausible_requests()]
}

/// A well-formed operation on something that exists, with a few hostile
/// headers, query pairs or a body added, and no valid signature: this
/// reaches authorization and, for public reads, the operation itself.
fn plausible_requests() -> impl Strategy<Value = Hostile> {
    /// Method, container, blob and query of a well-formed operation.
    type Operation = (
        &'static str,
        &'static str,
        Option<&'static str>,
        Vec<(&'static str, &'static str)>,
    );
    let operations: Vec<Operation> = vec![
        ("GET", PUBLIC, Some("open.txt"), vec![]),
        ("HEAD", PUBLIC, Some("open.txt"), vec![]),
        ("GET", PUBLIC, Some("open.txt"), vec![("comp", "metadata")]),
        (
            "GET",
            PUBLIC,
            Some("open.txt"),
            vec![("snapshot", "2024-05-06T12:00:00.0000000Z")],
        ),
        (
            "GET",
            PUBLIC,
            None,
            vec![("restype", "container"), ("comp", "list")],
        ),
        ("GET", PUBLIC, None, vec![("restype", "container")]),
        (
            "GET",
            PUBLIC,
            None,
            vec![("restype", "container"), ("comp", "acl")],
        ),
        ("PUT", PUBLIC, Some("open.txt"), vec![]),
        ("PUT", PUBLIC, Some("new.txt"), vec![]),
        ("DELETE", PUBLIC, Some("open.txt"), vec![]),
        ("PUT", PUBLIC, Some("open.txt"), vec![("comp", "lease")]),
        ("PUT", PUBLIC, Some("open.txt"), vec![("comp", "snapshot")]),
        ("PUT", PUBLIC, Some("open.txt"), vec![("comp", "metadata")]),
        (
            "PUT",
            PUBLIC,
            None,
            vec![("restype", "container"), ("comp", "acl")],
        ),
        (
            "PUT",
            PUBLIC,
            None,
            vec![("restype", "container"), ("comp", "metadata")],
        ),
        ("DELETE", PUBLIC, None, vec![("restype", "container")]),
        ("GET", PRIVATE, Some("alpha"), vec![]),
        (
            "GET",
            PRIVATE,
            None,
            vec![("restype", "container"), ("comp", "list")],
        ),
        ("PUT", PRIVATE, Some("alpha"), vec![]),
        ("DELETE", PRIVATE, Some("alpha"), vec![]),
        ("PUT", PRIVATE, Some("leased"), vec![("comp", "lease")]),
        (
            "PUT",
            PRIVATE,
            None,
            vec![("restype", "container"), ("comp", "acl")],
        ),
        ("DELETE", PRIVATE, None, vec![("restype", "container")]),
        ("PUT", "newbox", None, vec![("restype", "container")]),
        ("GET", "", None, vec![("comp", "list")]),
        (
            "GET",
            "",
            None,
            vec![("restype", "account"), ("comp", "properties")],
        ),
        ("POST", MANAGEMENT, None, vec![]),
    ];
    let version = prop_oneof![
        4 => Just(Some(VERSION.to_string())),
        1 => Just(None),
        1 => "[0-9-]{0,10}".prop_map(Some),
    ];
    (
        select(operations),
        version,
        prop::collection::vec(headers(), 0..4),
        prop::collection::vec((query_names(), query_values()), 0..2),
        bodies(),
    )
        .prop_map(
            |((method, container, blob, query), version, extra, more_query, body)| {
                let path = match container {
                    "" => format!("/{ACCOUNT}"),
                    MANAGEMENT => format!("/.management/accounts/{ACCOUNT}/regenerateKey"),
                    _ => path_of(container, blob),
                };
                let mut headers = Vec::new();
                if let Some(version) = version {
                    headers.push(("x-ms-version".to_string(), version));
                }
                if method == "PUT" && blob.is_some() {
                    headers.push(("x-ms-blob-type".to_string(), "BlockBlob".to_string()));
                }
                headers.extend(extra);
                let mut query = owned(&query);
                query.extend(more_query);
                Hostile {
                    method: method.to_string(),
                    path,
                    query,
                    headers,
                    body,
                }
            },
        )
}

/// The container a path names, decoded as the service decodes it.
fn decoded_container(path: &str) -> Option<String> {
    let rest = path.strip_prefix('/')?;
    let mut parts = rest.splitn(3, '/');
    parts.next()?;
    let container = parts.next()?;
    percent_encoding::percent_decode_str(container)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

/// 1a: arbitrary, unauthenticated (or wrongly signed) requests. The only
/// successes allowed are anonymous reads of the public container; every
/// write is refused, and nothing stored changes.
#[test]
fn hostile_requests_are_refused_and_change_nothing() {
    let seen = fuzz(
        "hostile",
        1,
        8_000,
        hostile_requests(),
        |fixture, hostile| {
            let request = BlobRequest {
                method: hostile.method.clone(),
                path: hostile.path.clone(),
                query: hostile.query.clone(),
                headers: hostile.headers.clone(),
                body: hostile.body.clone(),
                peer_ip: Some(loopback()),
            };
            let response = send_and_check(fixture, &request)?;
            if (200..300).contains(&response.status) {
                let signed = request
                    .headers
                    .iter()
                    .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
                let sas = request
                    .query
                    .iter()
                    .any(|(name, _)| name.eq_ignore_ascii_case("sig"));
                prop_assert!(
                    matches!(request.method.as_str(), "GET" | "HEAD")
                        && !signed
                        && !sas
                        && decoded_container(&request.path).as_deref() == Some(PUBLIC),
                    "{} for a request that is neither authorized nor a public read: {:?}",
                    response.status,
                    request
                );
            }
            Ok(())
        },
    );
    assert!(
        seen.keys().any(|(status, _)| (200..300).contains(status)),
        "no public read succeeded: {seen:?}"
    );
    assert_reached(
        "hostile",
        &seen,
        &[
            "AuthenticationFailed",
            "InvalidAuthenticationInfo",
            "NoAuthenticationInformation",
            "ResourceNotFound",
            "InvalidUri",
            "InvalidResourceName",
            "UnsupportedHttpVerb",
            "InvalidRange",
            "ForbiddenError",
        ],
    );
}

// ----- 1b. a valid signed request, mutated once -----------------------------

/// The valid, Shared Key signed requests the mutations start from: writes
/// (that would change what is stored, were they sent unmutated) and reads.
fn base_request(fixture: &Fixture, index: usize) -> BlobRequest {
    let alpha = path_of(PRIVATE, Some("alpha"));
    let container = path_of(PRIVATE, None);
    let block = ("x-ms-blob-type", "BlockBlob");
    let body = b"mutant bytes";
    let md5 = md5_base64(body);
    match index % 16 {
        0 => fixture.signed(
            "PUT",
            &alpha,
            &[],
            &[block, ("content-md5", &md5), ("x-ms-meta-tag", "m")],
            body,
        ),
        1 => fixture.signed(
            "PUT",
            &path_of(PRIVATE, Some("fresh blob")),
            &[("timeout", "30")],
            &[block, ("content-md5", &md5), ("content-type", "text/plain")],
            body,
        ),
        2 => fixture.signed(
            "DELETE",
            &path_of(PRIVATE, Some("dir/beta gamma")),
            &[],
            &[],
            b"",
        ),
        3 => fixture.signed(
            "DELETE",
            &alpha,
            &[],
            &[("x-ms-delete-snapshots", "include")],
            b"",
        ),
        4 => fixture.signed(
            "PUT",
            &container,
            &[("restype", "container"), ("comp", "acl")],
            &[("x-ms-blob-public-access", "container")],
            b"<SignedIdentifiers></SignedIdentifiers>",
        ),
        5 => fixture.signed(
            "PUT",
            &container,
            &[("restype", "container"), ("comp", "metadata")],
            &[("x-ms-meta-owner", "mallory")],
            b"",
        ),
        6 => fixture.signed(
            "PUT",
            &alpha,
            &[("comp", "metadata")],
            &[("x-ms-meta-a", "1")],
            b"",
        ),
        7 => fixture.signed("PUT", &alpha, &[("comp", "snapshot")], &[], b""),
        8 => fixture.signed(
            "PUT",
            &path_of(PRIVATE, Some("leased")),
            &[("comp", "lease")],
            &[
                ("x-ms-lease-action", "break"),
                ("x-ms-lease-break-period", "0"),
            ],
            b"",
        ),
        9 => fixture.signed(
            "PUT",
            &path_of(PRIVATE, Some("leased")),
            &[("comp", "lease")],
            &[
                ("x-ms-lease-action", "release"),
                ("x-ms-lease-id", LEASE_ID),
            ],
            b"",
        ),
        10 => fixture.signed(
            "PUT",
            &path_of("newbox", None),
            &[("restype", "container")],
            &[],
            b"",
        ),
        11 => fixture.signed(
            "DELETE",
            &path_of(PUBLIC, None),
            &[("restype", "container")],
            &[],
            b"",
        ),
        12 => fixture.signed(
            "PUT",
            &path_of(PUBLIC, Some("open.txt")),
            &[],
            &[block, ("content-md5", &md5)],
            body,
        ),
        13 => fixture.signed(
            "PUT",
            &path_of(PRIVATE, Some("leased")),
            &[],
            &[block, ("x-ms-lease-id", LEASE_ID), ("content-md5", &md5)],
            body,
        ),
        14 => fixture.signed("GET", &alpha, &[], &[("x-ms-range", "bytes=0-4")], b""),
        _ => fixture.signed(
            "GET",
            &container,
            &[("restype", "container"), ("comp", "list")],
            &[],
            b"",
        ),
    }
}

/// One change to a signed request. Every kind changes what the signature
/// covers or breaks the `Authorization` header itself, so the mutated
/// request is never a validly signed one (see `apply`). Left out on
/// purpose, because they keep the string-to-sign and so may legitimately
/// stay authorized: changing a query name's case, reordering repeated query
/// values, padding header values with spaces, adding `Content-Length: 0`,
/// adding or changing `Date` (not signed when `x-ms-date` is there),
/// unsigned headers, `sharedkey` in lower case, and the body, except where
/// the request carries `Content-MD5` (then a changed body is refused as
/// `Md5Mismatch`).
#[derive(Clone, Debug)]
enum Mutation {
    Method(String),
    PathAppend(String),
    PathEncodeChar(usize),
    PathReplaceSegment(usize, String),
    QueryAdd(String, String),
    QueryRemove(usize),
    QuerySetValue(usize, String),
    QueryDuplicate(usize),
    HeaderSet(String, String),
    HeaderRemove(usize),
    HeaderDuplicate(usize),
    DateShift(i64),
    AuthFlipBit(usize),
    AuthTruncate(usize),
    AuthScheme(String),
    AuthAccount(String),
    AuthRemove,
    AuthDuplicate,
    AuthGarbage(String),
    AuthOtherKey(Vec<u8>),
    Body(Vec<u8>),
}

const SIGNED_STANDARD_HEADERS: [&str; 11] = [
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
    "x-ms-range",
];

fn mutations() -> impl Strategy<Value = Mutation> {
    let header_names = prop_oneof![
        3 => select(SIGNED_STANDARD_HEADERS.to_vec()).prop_map(String::from),
        3 => select(vec![
            "x-ms-version", "x-ms-blob-type", "x-ms-lease-id", "x-ms-lease-action",
            "x-ms-delete-snapshots", "x-ms-blob-public-access", "x-ms-meta-tag",
            "x-ms-client-request-id", "x-ms-lease-break-period", "x-ms-snapshot",
        ])
        .prop_map(String::from),
        1 => "x-ms-[a-z-]{1,10}",
    ];
    prop_oneof![
        2 => select(vec!["GET", "HEAD", "PUT", "DELETE", "POST", "put", "MERGE", ""])
            .prop_map(|m| Mutation::Method(m.to_string())),
        1 => prop_oneof![
            select(vec!["/", "x", "%20", "/..", "%2F", "/.", "%00"]).prop_map(String::from),
            "[a-z%/.]{1,4}",
        ]
        .prop_map(Mutation::PathAppend),
        1 => any::<usize>().prop_map(Mutation::PathEncodeChar),
        1 => (any::<usize>(), segment()).prop_map(|(n, s)| Mutation::PathReplaceSegment(n, s)),
        2 => (query_names(), query_values()).prop_map(|(n, v)| Mutation::QueryAdd(n, v)),
        1 => any::<usize>().prop_map(Mutation::QueryRemove),
        1 => (any::<usize>(), query_values()).prop_map(|(n, v)| Mutation::QuerySetValue(n, v)),
        1 => any::<usize>().prop_map(Mutation::QueryDuplicate),
        3 => (header_names, any_values()).prop_map(|(n, v)| Mutation::HeaderSet(n, v)),
        2 => any::<usize>().prop_map(Mutation::HeaderRemove),
        1 => any::<usize>().prop_map(Mutation::HeaderDuplicate),
        1 => prop_oneof![-20i64..20, Just(-16), Just(16), Just(100_000)]
            .prop_filter("a different time", |m| *m != 0)
            .prop_map(|minutes| Mutation::DateShift(minutes * MINUTE_MS)),
        2 => any::<usize>().prop_map(Mutation::AuthFlipBit),
        1 => any::<usize>().prop_map(Mutation::AuthTruncate),
        1 => select(vec!["SharedKeyLite", "Bearer", "", "SharedKey2", "Shared Key"])
            .prop_map(|s| Mutation::AuthScheme(s.to_string())),
        1 => select(vec!["devstoreaccount2", "DEVSTOREACCOUNT1", "", "devstoreaccount1x"])
            .prop_map(|s| Mutation::AuthAccount(s.to_string())),
        1 => Just(Mutation::AuthRemove),
        1 => Just(Mutation::AuthDuplicate),
        1 => auth_values().prop_map(Mutation::AuthGarbage),
        1 => prop::collection::vec(any::<u8>(), 16..64).prop_map(Mutation::AuthOtherKey),
        1 => prop::collection::vec(any::<u8>(), 0..32).prop_map(Mutation::Body),
    ]
}

/// Whether the mutation touches the `Authorization` header (the rest must
/// change the string-to-sign).
fn breaks_authorization(mutation: &Mutation) -> bool {
    matches!(
        mutation,
        Mutation::AuthFlipBit(_)
            | Mutation::AuthTruncate(_)
            | Mutation::AuthScheme(_)
            | Mutation::AuthAccount(_)
            | Mutation::AuthRemove
            | Mutation::AuthDuplicate
            | Mutation::AuthGarbage(_)
            | Mutation::AuthOtherKey(_)
    )
}

fn differ(new: String, old: Option<&str>) -> String {
    if old.map(str::trim) == Some(new.trim()) {
        format!("{new}z")
    } else {
        new
    }
}

/// Applies `mutation` to `request`; `None` if it does not apply (a body
/// change to a request without `Content-MD5`).
fn apply(request: &BlobRequest, mutation: &Mutation, key: &[u8]) -> Option<BlobRequest> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = request.clone();
    let auth_index = out
        .headers
        .iter()
        .position(|(name, _)| name == "authorization")?;
    let auth_value = out.headers[auth_index].1.clone();
    let (scheme_account, signature) = auth_value.rsplit_once(':')?;
    let (_, account) = scheme_account.split_once(' ')?;
    match mutation {
        Mutation::Method(method) => {
            out.method = differ(method.clone(), Some(&request.method));
        }
        Mutation::PathAppend(suffix) => out.path.push_str(suffix),
        Mutation::PathEncodeChar(n) => {
            let chars: Vec<(usize, char)> = out
                .path
                .char_indices()
                .filter(|(_, c)| c.is_ascii_alphanumeric())
                .collect();
            let (at, c) = chars[n % chars.len()];
            out.path
                .replace_range(at..at + 1, &format!("%{:02X}", c as u32));
        }
        Mutation::PathReplaceSegment(n, segment) => {
            let mut segments: Vec<String> = out.path.split('/').map(String::from).collect();
            let index = 1 + n % (segments.len() - 1);
            let old = segments[index].clone();
            segments[index] = if *segment == old {
                format!("{segment}x")
            } else {
                segment.clone()
            };
            out.path = segments.join("/");
        }
        Mutation::QueryAdd(name, value) => out.query.push((name.clone(), value.clone())),
        Mutation::QueryRemove(n) => {
            if out.query.is_empty() {
                out.query.push(("comp".into(), "list".into()));
            } else {
                let index = n % out.query.len();
                out.query.remove(index);
            }
        }
        Mutation::QuerySetValue(n, value) => {
            if out.query.is_empty() {
                out.query.push(("restype".into(), value.clone()));
            } else {
                let index = n % out.query.len();
                let old = out.query[index].1.clone();
                out.query[index].1 = if *value == old {
                    format!("{value}z")
                } else {
                    value.clone()
                };
            }
        }
        Mutation::QueryDuplicate(n) => {
            if out.query.is_empty() {
                out.query.push(("timeout".into(), "30".into()));
            } else {
                let pair = out.query[n % out.query.len()].clone();
                out.query.push(pair);
            }
        }
        Mutation::HeaderSet(name, value) => {
            let mut value = value.clone();
            let standard = !name.starts_with("x-ms-");
            if standard
                && (value.trim().is_empty() || (name == "content-length" && value.trim() == "0"))
            {
                // An empty standard header (or a zero length) signs as an
                // absent one.
                value = "7".to_string();
            }
            match out.headers.iter_mut().find(|(n, _)| n == name) {
                Some((_, old)) => *old = differ(value, Some(old)),
                None => out.headers.insert(0, (name.clone(), value)),
            }
        }
        Mutation::HeaderRemove(n) => {
            // Only headers the signature covers, and with a value it shows.
            let signed: Vec<usize> = out
                .headers
                .iter()
                .enumerate()
                .filter(|(_, (name, value))| {
                    (name.starts_with("x-ms-") || SIGNED_STANDARD_HEADERS.contains(&name.as_str()))
                        && (name.starts_with("x-ms-") || !value.trim().is_empty())
                })
                .map(|(index, _)| index)
                .collect();
            let index = signed[n % signed.len()];
            out.headers.remove(index);
        }
        Mutation::HeaderDuplicate(n) => {
            let signed: Vec<usize> = out
                .headers
                .iter()
                .enumerate()
                .filter(|(_, (name, _))| name.starts_with("x-ms-") || name == "content-md5")
                .map(|(index, _)| index)
                .collect();
            let pair = out.headers[signed[n % signed.len()]].clone();
            out.headers.push(pair);
        }
        Mutation::DateShift(shift) => {
            for (name, value) in out.headers.iter_mut() {
                if name == "x-ms-date" {
                    *value = format_http_date(NOW_MS + shift);
                }
            }
        }
        Mutation::AuthFlipBit(n) => {
            let mut bytes = b64.decode(signature).ok()?;
            let bit = n % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            out.headers[auth_index].1 = format!("{scheme_account}:{}", b64.encode(bytes));
        }
        Mutation::AuthTruncate(n) => {
            let keep = n % signature.len();
            out.headers[auth_index].1 = format!("{scheme_account}:{}", &signature[..keep]);
        }
        Mutation::AuthScheme(scheme) => {
            out.headers[auth_index].1 = format!("{scheme} {account}:{signature}");
        }
        Mutation::AuthAccount(other) => {
            out.headers[auth_index].1 = format!("SharedKey {other}:{signature}");
        }
        Mutation::AuthRemove => {
            out.headers.remove(auth_index);
        }
        Mutation::AuthDuplicate => {
            out.headers
                .push(("authorization".into(), auth_value.clone()));
        }
        Mutation::AuthGarbage(value) => {
            out.headers[auth_index].1 = differ(value.clone(), Some(&auth_value));
        }
        Mutation::AuthOtherKey(other) => {
            if other.as_slice() == key {
                return None;
            }
            out.headers.remove(auth_index);
            let forged = auth::sign_shared_key(&view(&out), ACCOUNT, other);
            out.headers
                .insert(auth_index, ("authorization".into(), forged));
        }
        Mutation::Body(body) => {
            if request.header("content-md5").is_none() || body.as_slice() == request.body.as_ref() {
                return None;
            }
            out.body = Bytes::from(body.clone());
        }
    }
    Some(out)
}

fn no_need() -> Need {
    Need {
        target: Target::Service,
        sas_permission: None,
        anonymous: None,
        writes: true,
    }
}

/// 1b: a valid Shared Key signed request with one field mutated is refused
/// (4xx), the signature no longer verifies, and nothing stored changes.
#[test]
fn mutated_signed_requests_are_refused_and_change_nothing() {
    let fixture = Fixture::new();
    // The starting points are valid: the signature verifies, and the reads
    // succeed when sent as they are.
    for index in 0..16 {
        let request = base_request(&fixture, index);
        let verdict = auth::authorize(
            &view(&request),
            &fixture.keys,
            None,
            &no_need(),
            NOW_MS,
            BugSet::NONE,
        );
        assert!(
            matches!(verdict, Ok(auth::StoragePrincipal::Account { .. })),
            "base request {index} does not verify: {verdict:?}"
        );
    }
    for index in [14, 15] {
        let status = fixture.send(base_request(&fixture, index)).status;
        assert!((200..300).contains(&status), "base read {index}: {status}");
    }
    drop(fixture);
    let strategy = (0usize..16, mutations());
    let seen = fuzz(
        "mutated",
        2,
        5_000,
        strategy,
        |fixture, (index, mutation)| {
            let original = base_request(fixture, index);
            let Some(request) = apply(&original, &mutation, &fixture.key) else {
                return Ok(());
            };
            let keeps_authorization = !breaks_authorization(&mutation);
            if keeps_authorization && !matches!(mutation, Mutation::Body(_)) {
                // The construction promise: the signed content changed.
                prop_assert_ne!(
                    string_to_sign(&request),
                    string_to_sign(&original),
                    "mutation {:?} kept the string-to-sign",
                    mutation
                );
            }
            let authorizations = request
                .headers
                .iter()
                .filter(|(name, _)| name == "authorization")
                .count();
            if authorizations > 0 && !matches!(mutation, Mutation::Body(_)) {
                let verdict = auth::authorize(
                    &view(&request),
                    &fixture.keys,
                    None,
                    &no_need(),
                    NOW_MS,
                    BugSet::NONE,
                );
                prop_assert!(
                    verdict.is_err(),
                    "the mutated request still authenticates: {:?}",
                    request
                );
            }
            let response = send_and_check(fixture, &request)?;
            prop_assert!(
                REFUSALS.contains(&response.status),
                "status {} for mutated request {:?} (mutation {:?})",
                response.status,
                request,
                mutation
            );
            Ok(())
        },
    );
    assert_reached(
        "mutated",
        &seen,
        &[
            "AuthenticationFailed",
            "InvalidAuthenticationInfo",
            "NoAuthenticationInformation",
            "Md5Mismatch",
        ],
    );
}

// ----- 1b'. a valid SAS request, mutated once --------------------------------

/// The valid SAS requests the SAS mutations start from: each, sent as it is,
/// is an authorized write.
fn sas_base(fixture: &Fixture, index: usize) -> BlobRequest {
    let blob_sas = |blob: &str, permissions: &str| {
        SasBuilder::for_blob(ACCOUNT, PRIVATE, blob)
            .permissions(Permissions::parse(permissions).unwrap_or_default())
            .start(NOW_MS - 60 * MINUTE_MS)
            .expiry(NOW_MS + 60 * MINUTE_MS)
            .query_pairs(&fixture.key)
    };
    let container_sas = SasBuilder::for_container(ACCOUNT, PRIVATE)
        .permissions(Permissions::parse("rwdl").unwrap_or_default())
        .expiry(NOW_MS + 60 * MINUTE_MS)
        .query_pairs(&fixture.key);
    let policy_sas = SasBuilder::for_container(ACCOUNT, PRIVATE)
        .identifier("pol-write")
        .expiry(NOW_MS + 60 * MINUTE_MS)
        .query_pairs(&fixture.key);
    let request = |method: &str,
                   blob: &str,
                   query: Vec<(String, String)>,
                   headers: &[(&str, &str)],
                   body: &[u8]| {
        let mut headers = owned(headers);
        headers.push(("x-ms-version".into(), VERSION.into()));
        BlobRequest {
            method: method.to_string(),
            path: path_of(PRIVATE, Some(blob)),
            query,
            headers,
            body: Bytes::copy_from_slice(body),
            peer_ip: Some(loopback()),
        }
    };
    let with = |mut first: Vec<(String, String)>, sas: Vec<(String, String)>| {
        first.extend(sas);
        first
    };
    let block = [("x-ms-blob-type", "BlockBlob")];
    match index % 7 {
        0 => request(
            "PUT",
            "alpha",
            blob_sas("alpha", "rw"),
            &block,
            b"sas bytes",
        ),
        1 => request(
            "DELETE",
            "dir/beta gamma",
            blob_sas("dir/beta gamma", "d"),
            &[],
            b"",
        ),
        2 => request(
            "PUT",
            "leased",
            with(owned(&[("comp", "lease")]), blob_sas("leased", "w")),
            &[
                ("x-ms-lease-action", "break"),
                ("x-ms-lease-break-period", "0"),
            ],
            b"",
        ),
        3 => request("PUT", "fresh", container_sas, &block, b"sas bytes"),
        4 => request("PUT", "fresh", policy_sas, &block, b"sas bytes"),
        5 => request(
            "DELETE",
            "alpha",
            blob_sas("alpha", "d"),
            &[("x-ms-delete-snapshots", "include")],
            b"",
        ),
        _ => request(
            "PUT",
            "alpha",
            with(owned(&[("comp", "metadata")]), blob_sas("alpha", "w")),
            &[("x-ms-meta-by", "sas")],
            b"",
        ),
    }
}

/// One change to a SAS request. Each changes a field the SAS signature
/// covers, the signature itself, or the resource it was signed for, so the
/// SAS no longer verifies. Left out on purpose, because a SAS does not sign
/// them and the request may legitimately stay authorized: the method,
/// headers, body, other query parameters, the case of a SAS field's name,
/// the blob's name under a container SAS, and re-encoding a name to the
/// same decoded name.
#[derive(Clone, Debug)]
enum SasMutation {
    FieldSet(String, String),
    FieldRemove(usize),
    FieldDuplicate(usize),
    SigFlipBit(usize),
    SigTruncate(usize),
    SigRemove,
    SigReplace(String),
    OtherContainer(String),
    OtherBlob(String),
}

const SAS_SIGNED_FIELDS: [&str; 11] = [
    "sp", "st", "se", "sv", "sr", "si", "sip", "spr", "ses", "rscc", "rsct",
];

fn sas_mutations() -> impl Strategy<Value = SasMutation> {
    let values = prop_oneof![
        3 => select(vec![
            "r", "w", "d", "rw", "rwd", "rwdl", "racwdl", "", "q", "ww", "b", "c", "bs", "bv",
            "x", "pol-read", "pol-write", "nope", "127.0.0.1", "10.0.0.1",
            "0.0.0.0-255.255.255.255", "https", "https,http", "http", "2026-10-06",
            "2019-02-02", "2015-04-05", "2014-02-14", "2024-05-06T11:00:00Z",
            "2024-05-06T13:00:00Z", "2024-05-06", "2099-01-01T00:00:00Z", "no-cache",
            "text/plain",
        ])
        .prop_map(String::from),
        1 => ".{0,12}",
    ];
    prop_oneof![
        4 => (select(SAS_SIGNED_FIELDS.to_vec()), values)
            .prop_map(|(name, value)| SasMutation::FieldSet(name.to_string(), value)),
        2 => any::<usize>().prop_map(SasMutation::FieldRemove),
        1 => any::<usize>().prop_map(SasMutation::FieldDuplicate),
        2 => any::<usize>().prop_map(SasMutation::SigFlipBit),
        1 => any::<usize>().prop_map(SasMutation::SigTruncate),
        1 => Just(SasMutation::SigRemove),
        1 => base64_44().prop_map(SasMutation::SigReplace),
        1 => select(vec![PUBLIC, "newbox", "fuzzbox2", "fuzzbox-"])
            .prop_map(|name| SasMutation::OtherContainer(name.to_string())),
        1 => select(vec!["alpha2", "leased", "ALPHA", "open.txt", "alpha/", "dir/beta"])
            .prop_map(|name| SasMutation::OtherBlob(name.to_string())),
    ]
}

/// Applies `mutation`; `None` if it does not apply (another blob under a
/// container SAS, which that SAS covers).
fn apply_sas(request: &BlobRequest, mutation: &SasMutation) -> Option<BlobRequest> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = request.clone();
    let sig = out.query.iter().position(|(name, _)| name == "sig")?;
    let signed: Vec<usize> = out
        .query
        .iter()
        .enumerate()
        .filter(|(_, (name, _))| SAS_SIGNED_FIELDS.contains(&name.as_str()))
        .map(|(index, _)| index)
        .collect();
    let (container, blob) = sas_target(&out.path);
    match mutation {
        SasMutation::FieldSet(name, value) => {
            match out.query.iter_mut().find(|(n, _)| n == name) {
                Some((_, old)) => *old = differ(value.clone(), Some(old)),
                // An empty optional field is refused; either way it is a
                // change.
                None => out.query.insert(0, (name.clone(), value.clone())),
            }
        }
        SasMutation::FieldRemove(n) => {
            out.query.remove(signed[n % signed.len()]);
        }
        SasMutation::FieldDuplicate(n) => {
            let pair = out.query[signed[n % signed.len()]].clone();
            out.query.push(pair);
        }
        SasMutation::SigFlipBit(n) => {
            let mut bytes = b64.decode(&out.query[sig].1).ok()?;
            let bit = n % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            out.query[sig].1 = b64.encode(bytes);
        }
        SasMutation::SigTruncate(n) => {
            let keep = n % out.query[sig].1.len();
            out.query[sig].1.truncate(keep);
        }
        SasMutation::SigRemove => {
            out.query.remove(sig);
        }
        SasMutation::SigReplace(value) => {
            out.query[sig].1 = differ(value.clone(), Some(&request.query[sig].1));
        }
        SasMutation::OtherContainer(name) => {
            out.path = path_of(name, blob.as_deref());
        }
        SasMutation::OtherBlob(name) => {
            let container_sas = out.query.iter().any(|(n, v)| n == "sr" && v == "c");
            if container_sas || blob.as_deref() == Some(name.as_str()) {
                return None;
            }
            out.path = path_of(&container, Some(name));
        }
    }
    Some(out)
}

/// The (container, blob) a path names, decoded.
fn sas_target(path: &str) -> (String, Option<String>) {
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    let rest = path.strip_prefix('/').unwrap_or(path);
    let mut parts = rest.splitn(3, '/');
    parts.next();
    let container = decode(parts.next().unwrap_or_default());
    let blob = parts.next().map(decode);
    (container, blob)
}

/// What a SAS request's signature must cover: its string-to-sign and the
/// signature; `None` if the SAS does not even parse.
fn sas_signed_content(request: &BlobRequest) -> Option<(String, Vec<u8>)> {
    let token = auth::parse_sas(&request.query).ok()??;
    let (container, blob) = sas_target(&request.path);
    let blob = match token.resource {
        auth::SasResource::Container => None,
        _ => blob,
    };
    let resource = auth::sas_canonical_resource(ACCOUNT, &container, blob.as_deref());
    Some((
        auth::sas_string_to_sign(&token, &resource),
        token.signature.expose().to_vec(),
    ))
}

/// 1b, SAS: a valid SAS request with one signed field, the signature or the
/// resource changed is refused (4xx) and changes nothing.
#[test]
fn mutated_sas_requests_are_refused_and_change_nothing() {
    // Each base, sent as it is to a fresh service, succeeds.
    for index in 0..7 {
        let fresh = Fixture::new();
        let response = fresh.send(sas_base(&fresh, index));
        assert!(
            (200..300).contains(&response.status),
            "SAS base {index}: {} {:?} {}",
            response.status,
            response.error_code(),
            String::from_utf8_lossy(&response.body)
        );
    }
    let strategy = (0usize..7, sas_mutations());
    let seen = fuzz(
        "mutated SAS",
        6,
        4_000,
        strategy,
        |fixture, (index, mutation)| {
            let original = sas_base(fixture, index);
            let Some(request) = apply_sas(&original, &mutation) else {
                return Ok(());
            };
            // The construction promise: what the signature covers changed.
            prop_assert_ne!(
                sas_signed_content(&request),
                sas_signed_content(&original),
                "mutation {:?} kept the signed content",
                mutation
            );
            let response = send_and_check(fixture, &request)?;
            prop_assert!(
                REFUSALS.contains(&response.status),
                "status {} for mutated SAS request {:?} (mutation {:?})",
                response.status,
                request,
                mutation
            );
            Ok(())
        },
    );
    assert_reached(
        "mutated SAS",
        &seen,
        &["AuthenticationFailed", "NoAuthenticationInformation"],
    );
}

// ----- 1c. authorized requests with a bad payload ---------------------------

/// Validly signed requests that are nonetheless malformed or not allowed
/// now: each must be refused and change nothing.
#[derive(Clone, Debug)]
enum BadWrite {
    AclDocument(String),
    AclMutated(Vec<u8>),
    BlobType(Option<String>),
    ContentMd5(String),
    MetadataName(String),
    MetadataTooLarge(usize),
    PageBlob { body: Vec<u8>, length: String },
    LeaseFence(usize, Option<String>),
    LeaseAction(String),
    LeaseDuration(String),
    LeaseBreakPeriod(String),
    LeaseConflict(usize, String),
    SnapshotWrite(usize),
    DeleteRefused(usize, String),
    CreateExisting(String),
    CreateBadName(String),
    CreateBadPublicAccess(String),
    ContainerMetadataName(String),
    IfMatch(String),
    IfNoneMatchStar,
    SnapshotOfMissing(String),
    BlobMetadataOnLeased(Option<String>),
}

/// An independent check of the metadata-name rule (a C# identifier).
fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn bad_writes() -> impl Strategy<Value = BadWrite> {
    let not_lease = |text: &String| text != LEASE_ID;
    prop_oneof![
        3 => select(bad_acl_documents()).prop_map(BadWrite::AclDocument),
        2 => (0usize..ACL_BODY.len(), any::<u8>(), 0usize..3).prop_map(|(at, byte, how)| {
            let mut body = ACL_BODY.as_bytes().to_vec();
            match how {
                0 => body.truncate(at.max(1)),
                1 => body[at] = byte,
                _ => body.insert(at, byte),
            }
            BadWrite::AclMutated(body)
        }),
        1 => prop::option::of(any_values())
            .prop_filter("not a blob type", |t| !matches!(t.as_deref(), Some("BlockBlob" | "PageBlob")))
            .prop_map(BadWrite::BlobType),
        1 => prop_oneof![any_values(), "[A-Za-z0-9+/]{22}=="].prop_map(BadWrite::ContentMd5),
        1 => metadata_names()
            .prop_filter("an invalid name", |name| !valid_identifier(name))
            .prop_map(BadWrite::MetadataName),
        1 => (8 * 1024usize..9 * 1024).prop_map(BadWrite::MetadataTooLarge),
        1 => (
            prop::collection::vec(any::<u8>(), 0..8),
            prop_oneof![select(vec!["513", "1", "-512", "x", "", "268435968"]).prop_map(String::from), any_values()],
        )
            .prop_filter("refused", |(body, length)| {
                !body.is_empty()
                    || !length
                        .trim()
                        .parse::<u64>()
                        .is_ok_and(|n| n % 512 == 0 && n <= MAX_PUT_BYTES)
            })
            .prop_map(|(body, length)| BadWrite::PageBlob { body, length }),
        2 => (0usize..2, prop::option::of(prop_oneof![Just(LEASE_ID.to_string()), any_values()]))
            .prop_filter("fenced", |(blob, id)| match blob {
                0 => id.is_some(),
                _ => id.as_deref() != Some(LEASE_ID),
            })
            .prop_map(|(blob, id)| BadWrite::LeaseFence(blob, id)),
        1 => any_values()
            .prop_filter("not an action", |a| {
                !matches!(a.as_str(), "acquire" | "renew" | "change" | "release" | "break")
            })
            .prop_map(BadWrite::LeaseAction),
        1 => prop_oneof![
            select(vec!["14", "61", "0", "-2", "abc", "", "99999999999999999999"]).prop_map(String::from),
            any_values(),
        ]
        .prop_filter("not a duration", |d| {
            !d.trim()
                .parse::<i64>()
                .is_ok_and(|n| n == -1 || (15..=60).contains(&n))
        })
        .prop_map(BadWrite::LeaseDuration),
        1 => any_values()
            .prop_filter("not a number", |p| p.trim().parse::<i64>().is_err())
            .prop_map(BadWrite::LeaseBreakPeriod),
        2 => (0usize..6, any_values().prop_filter("not the lease", not_lease))
            .prop_map(|(kind, id)| BadWrite::LeaseConflict(kind, id)),
        1 => (0usize..4).prop_map(BadWrite::SnapshotWrite),
        1 => (0usize..5, any_values()).prop_map(|(kind, value)| BadWrite::DeleteRefused(kind, value)),
        1 => select(vec![PRIVATE, PUBLIC]).prop_map(|c| BadWrite::CreateExisting(c.to_string())),
        1 => prop_oneof![
            select(vec!["ab", "-abc", "abc-", "a--b", "ABC", "a_b", "$other"]).prop_map(String::from),
            Just("a".repeat(64)),
            "[a-z0-9-]{0,3}[A-Z_.][a-z]{0,3}",
        ]
        .prop_map(BadWrite::CreateBadName),
        1 => any_values()
            .prop_filter("not a level", |v| !matches!(v.trim(), "" | "blob" | "container"))
            .prop_map(BadWrite::CreateBadPublicAccess),
        1 => metadata_names()
            .prop_filter("an invalid name", |name| !valid_identifier(name))
            .prop_map(BadWrite::ContainerMetadataName),
        1 => any_values()
            .prop_filter("not a wildcard", |v| v.trim() != "*")
            .prop_map(BadWrite::IfMatch),
        1 => Just(BadWrite::IfNoneMatchStar),
        1 => select(vec!["missing", "dir", "alpha/", "ALPHA", "dir/beta"]).prop_map(|b| BadWrite::SnapshotOfMissing(b.to_string())),
        1 => prop::option::of(any_values().prop_filter("not the lease", not_lease))
            .prop_map(BadWrite::BlobMetadataOnLeased),
    ]
}

fn bad_write_request(fixture: &Fixture, bad: &BadWrite) -> Option<BlobRequest> {
    let alpha = path_of(PRIVATE, Some("alpha"));
    let leased = path_of(PRIVATE, Some("leased"));
    let container = path_of(PRIVATE, None);
    let block = ("x-ms-blob-type", "BlockBlob");
    let acl_query = [("restype", "container"), ("comp", "acl")];
    let lease_query = [("comp", "lease")];
    let put = |path: &str, headers: &[(&str, &str)], body: &[u8]| {
        fixture.signed("PUT", path, &[], headers, body)
    };
    Some(match bad {
        BadWrite::AclDocument(body) => {
            fixture.signed("PUT", &container, &acl_query, &[], body.as_bytes())
        }
        BadWrite::AclMutated(body) => {
            // Only mutations the parser refuses: an accepted one is a valid
            // write (this leans on the parser to tell).
            let accepted = xml::parse_identifiers(body).is_ok_and(|identifiers| {
                fabric_impl::storage::acl::ContainerAcl {
                    public_access: Default::default(),
                    identifiers,
                }
                .validate()
                .is_ok()
            });
            if accepted {
                return None;
            }
            fixture.signed("PUT", &container, &acl_query, &[], body)
        }
        BadWrite::BlobType(blob_type) => match blob_type {
            Some(value) => put(&alpha, &[("x-ms-blob-type", value)], b"new"),
            None => put(&alpha, &[], b"new"),
        },
        BadWrite::ContentMd5(md5) => {
            if md5.trim() == md5_base64(b"new") {
                return None;
            }
            put(&alpha, &[block, ("content-md5", md5)], b"new")
        }
        BadWrite::MetadataName(name) => put(
            &alpha,
            &[block, (&format!("x-ms-meta-{name}"), "v")],
            b"new",
        ),
        BadWrite::MetadataTooLarge(size) => {
            let value = "v".repeat(*size);
            put(&alpha, &[block, ("x-ms-meta-big", &value)], b"new")
        }
        BadWrite::PageBlob { body, length } => put(
            &path_of(PRIVATE, Some("page")),
            &[
                ("x-ms-blob-type", "PageBlob"),
                ("x-ms-blob-content-length", length),
            ],
            body,
        ),
        BadWrite::LeaseFence(blob, id) => {
            let path = if *blob == 0 { &alpha } else { &leased };
            match id {
                Some(id) => put(path, &[block, ("x-ms-lease-id", id)], b"new"),
                None => put(path, &[block], b"new"),
            }
        }
        BadWrite::LeaseAction(action) => fixture.signed(
            "PUT",
            &alpha,
            &lease_query,
            &[("x-ms-lease-action", action)],
            b"",
        ),
        BadWrite::LeaseDuration(duration) => fixture.signed(
            "PUT",
            &alpha,
            &lease_query,
            &[
                ("x-ms-lease-action", "acquire"),
                ("x-ms-lease-duration", duration),
            ],
            b"",
        ),
        BadWrite::LeaseBreakPeriod(period) => fixture.signed(
            "PUT",
            &leased,
            &lease_query,
            &[
                ("x-ms-lease-action", "break"),
                ("x-ms-lease-break-period", period),
            ],
            b"",
        ),
        BadWrite::LeaseConflict(kind, id) => {
            let headers: Vec<(&str, &str)> = match kind {
                0 => vec![
                    ("x-ms-lease-action", "acquire"),
                    ("x-ms-lease-duration", "-1"),
                    ("x-ms-proposed-lease-id", id),
                ],
                1 => vec![("x-ms-lease-action", "renew"), ("x-ms-lease-id", id)],
                2 => vec![("x-ms-lease-action", "release"), ("x-ms-lease-id", id)],
                // A change proposing the id already held is an idempotent
                // retry and succeeds; this one proposes another.
                3 => vec![
                    ("x-ms-lease-action", "change"),
                    ("x-ms-lease-id", id),
                    ("x-ms-proposed-lease-id", OTHER_LEASE_ID),
                ],
                4 => vec![("x-ms-lease-action", "renew"), ("x-ms-lease-id", LEASE_ID)],
                _ => vec![("x-ms-lease-action", "release"), ("x-ms-lease-id", id)],
            };
            // Kinds 0 to 3 on the leased blob; 4 and 5 on alpha, which has
            // no lease.
            let path = if *kind < 4 { &leased } else { &alpha };
            fixture.signed("PUT", path, &lease_query, &headers, b"")
        }
        BadWrite::SnapshotWrite(kind) => {
            let snapshot = fixture.snapshot.as_str();
            match kind {
                0 => fixture.signed("PUT", &alpha, &[("snapshot", snapshot)], &[block], b"new"),
                1 => fixture.signed(
                    "PUT",
                    &alpha,
                    &[("snapshot", snapshot), ("comp", "metadata")],
                    &[("x-ms-meta-a", "1")],
                    b"",
                ),
                2 => fixture.signed(
                    "PUT",
                    &alpha,
                    &[("snapshot", snapshot), ("comp", "snapshot")],
                    &[],
                    b"",
                ),
                _ => fixture.signed(
                    "PUT",
                    &alpha,
                    &[("snapshot", snapshot), ("comp", "lease")],
                    &[
                        ("x-ms-lease-action", "acquire"),
                        ("x-ms-lease-duration", "-1"),
                    ],
                    b"",
                ),
            }
        }
        BadWrite::DeleteRefused(kind, value) => match kind {
            // alpha has a snapshot.
            0 => fixture.signed("DELETE", &alpha, &[], &[], b""),
            1 => {
                if matches!(value.as_str(), "include" | "only") {
                    return None;
                }
                fixture.signed(
                    "DELETE",
                    &alpha,
                    &[],
                    &[("x-ms-delete-snapshots", value)],
                    b"",
                )
            }
            2 => fixture.signed("DELETE", &leased, &[], &[], b""),
            3 => fixture.signed(
                "DELETE",
                &alpha,
                &[("snapshot", fixture.snapshot.as_str())],
                &[("x-ms-delete-snapshots", "include")],
                b"",
            ),
            _ => fixture.signed("DELETE", &path_of(PRIVATE, Some("missing")), &[], &[], b""),
        },
        BadWrite::CreateExisting(name) => fixture.signed(
            "PUT",
            &path_of(name, None),
            &[("restype", "container")],
            &[],
            b"",
        ),
        BadWrite::CreateBadName(name) => fixture.signed(
            "PUT",
            &path_of(name, None),
            &[("restype", "container")],
            &[],
            b"",
        ),
        BadWrite::CreateBadPublicAccess(level) => fixture.signed(
            "PUT",
            &path_of("brandnew", None),
            &[("restype", "container")],
            &[("x-ms-blob-public-access", level)],
            b"",
        ),
        BadWrite::ContainerMetadataName(name) => fixture.signed(
            "PUT",
            &container,
            &[("restype", "container"), ("comp", "metadata")],
            &[(&format!("x-ms-meta-{name}"), "v")],
            b"",
        ),
        BadWrite::IfMatch(etag) => put(&alpha, &[block, ("if-match", etag)], b"new"),
        BadWrite::IfNoneMatchStar => put(&alpha, &[block, ("if-none-match", "*")], b"new"),
        BadWrite::SnapshotOfMissing(blob) => fixture.signed(
            "PUT",
            &path_of(PRIVATE, Some(blob)),
            &[("comp", "snapshot")],
            &[],
            b"",
        ),
        BadWrite::BlobMetadataOnLeased(id) => match id {
            Some(id) => fixture.signed(
                "PUT",
                &leased,
                &[("comp", "metadata")],
                &[("x-ms-meta-a", "1"), ("x-ms-lease-id", id)],
                b"",
            ),
            None => fixture.signed(
                "PUT",
                &leased,
                &[("comp", "metadata")],
                &[("x-ms-meta-a", "1")],
                b"",
            ),
        },
    })
}

/// 1c: validly signed writes that are malformed (bad XML, bad headers) or
/// not allowed now (leases, snapshots, conditions, names) are refused with
/// a 4xx and change nothing.
#[test]
fn authorized_bad_writes_are_refused_and_change_nothing() {
    let seen = fuzz("bad writes", 3, 2_500, bad_writes(), |fixture, bad| {
        let Some(request) = bad_write_request(fixture, &bad) else {
            return Ok(());
        };
        let response = send_and_check(fixture, &request)?;
        prop_assert!(
            REFUSALS.contains(&response.status),
            "status {} for {:?}",
            response.status,
            bad
        );
        Ok(())
    });
    assert_reached(
        "bad writes",
        &seen,
        &[
            "InvalidXmlDocument",
            "InvalidHeaderValue",
            "MissingRequiredHeader",
            "InvalidInput",
            "Md5Mismatch",
            "LeaseIdMissing",
            "LeaseIdMismatchWithBlobOperation",
            "LeaseNotPresentWithBlobOperation",
            "LeaseAlreadyPresent",
            "LeaseIdMismatchWithLeaseOperation",
            "LeaseNotPresentWithLeaseOperation",
            "InvalidOperation",
            "SnapshotsPresent",
            "ContainerAlreadyExists",
            "BlobAlreadyExists",
            "ConditionNotMet",
            "InvalidResourceName",
            "BlobNotFound",
        ],
    );
}

/// 1c, reads: a signed read of alpha with any `x-ms-range`/`Range` either
/// succeeds with exactly the bytes the answer claims, or is refused with
/// 400 or 416.
#[test]
fn authorized_range_reads_answer_consistently() {
    let strategy = (select(vec!["x-ms-range", "range"]), range_values());
    let seen = fuzz("ranges", 4, 1_000, strategy, |fixture, (name, range)| {
        let request = fixture.signed(
            "GET",
            &path_of(PRIVATE, Some("alpha")),
            &[],
            &[(name, &range)],
            b"",
        );
        let response = send_and_check(fixture, &request)?;
        let length = ALPHA_BYTES.len() as u64;
        match response.status {
            200 => prop_assert_eq!(response.body.as_ref(), ALPHA_BYTES),
            206 => {
                let content_range = response.header("content-range").unwrap_or_default();
                let parsed = content_range
                    .strip_prefix("bytes ")
                    .and_then(|rest| rest.split_once('/'))
                    .and_then(|(span, total)| {
                        let (start, last) = span.split_once('-')?;
                        Some((
                            start.parse::<u64>().ok()?,
                            last.parse::<u64>().ok()?,
                            total.parse::<u64>().ok()?,
                        ))
                    });
                let Some((start, last, total)) = parsed else {
                    return Err(TestCaseError::fail(format!(
                        "206 with content-range {content_range:?} for {range:?}"
                    )));
                };
                prop_assert_eq!(total, length);
                prop_assert!(
                    start <= last && last < length,
                    "{} for {:?}",
                    content_range,
                    range
                );
                prop_assert_eq!(
                    response.body.as_ref(),
                    &ALPHA_BYTES[start as usize..=last as usize]
                );
            }
            400 | 416 => {}
            other => {
                return Err(TestCaseError::fail(format!(
                    "status {other} for range {range:?}"
                )))
            }
        }
        Ok(())
    });
    assert!(
        seen.contains_key(&(206, String::new())),
        "no range read: {seen:?}"
    );
    assert_reached("ranges", &seen, &["InvalidRange", "InvalidHeaderValue"]);
}

// ----- defects found: each a minimal failing case ---------------------------

/// The Shared Key signature covers query names lowercased, but the service
/// reads `snapshot` (and `comp`, `restype`) case-sensitively. So the owner's
/// signed `DELETE blob?snapshot=S`, replayed by anyone with `SNAPSHOT=S`
/// (same string-to-sign, so the same signature verifies), is taken as a
/// delete of the base blob: once the snapshot is gone, the blob is deleted.
#[test]
fn a_replayed_snapshot_delete_cannot_delete_the_base_blob() {
    let fixture = Fixture::new();
    let victim = path_of(PRIVATE, Some("victim"));
    let put = fixture.signed(
        "PUT",
        &victim,
        &[],
        &[("x-ms-blob-type", "BlockBlob")],
        b"v",
    );
    fixture.expect(put, 201, "put victim");
    let snapshot = fixture.signed("PUT", &victim, &[("comp", "snapshot")], &[], b"");
    let snapshot = fixture.expect(snapshot, 201, "snapshot victim");
    let snapshot = snapshot.header("x-ms-snapshot").expect("a snapshot id");
    let delete = fixture.signed("DELETE", &victim, &[("snapshot", snapshot)], &[], b"");
    fixture.expect(delete.clone(), 202, "the owner deletes the snapshot");
    let mut replay = delete.clone();
    replay.query = vec![("SNAPSHOT".to_string(), snapshot.to_string())];
    assert_eq!(string_to_sign(&replay), string_to_sign(&delete));
    let replayed = fixture.send(replay).status;
    let victim_now = fixture
        .send(fixture.signed("GET", &victim, &[], &[], b""))
        .status;
    assert!(
        replayed >= 400 && victim_now == 200,
        "replay answered {replayed}; a GET of the base blob now answers {victim_now}"
    );
}

/// Set Container ACL accepts a body that is not a `SignedIdentifiers`
/// document (plain text, JSON, text after the root, two roots) as an empty
/// policy list, and so clears the container's stored policies; the service
/// answers `InvalidXmlDocument` for malformed XML elsewhere.
#[test]
fn a_non_xml_acl_body_is_refused() {
    let fixture = Fixture::new();
    let before = fixture.raw_state();
    let mut accepted = Vec::new();
    for body in non_xml_acl_documents() {
        let request = fixture.signed(
            "PUT",
            &path_of(PRIVATE, None),
            &[("restype", "container"), ("comp", "acl")],
            &[],
            body.as_bytes(),
        );
        let response = fixture.send(request);
        if response.status != 400 {
            accepted.push((body, response.status));
        }
    }
    assert!(accepted.is_empty(), "accepted as ACLs: {accepted:?}");
    assert!(fixture.raw_state() == before, "the stored ACL changed");
}

// ----- 3. SAS parsing -------------------------------------------------------

fn sas_query_strings() -> impl Strategy<Value = String> {
    let atoms = select(vec![
        "&",
        "&",
        "=",
        "=",
        "%",
        "+",
        "%2",
        "%zz",
        "%ff",
        "%C3%A9",
        "%00",
        "%0A",
        "%3D",
        "%26",
        "sig",
        "sv",
        "sr",
        "sp",
        "se",
        "st",
        "si",
        "sip",
        "spr",
        "snapshot",
        "versionid",
        "skoid",
        "ss",
        "srt",
        "ses",
        "rscc",
        "SIG",
        "Sv",
        "sR",
        "2026-10-06",
        "2015-04-05",
        "2018-11-09",
        "b",
        "c",
        "bs",
        "bv",
        "r",
        "rwdl",
        "rr",
        "x",
        "2024-05-06T12:00:00Z",
        "2024-05-06",
        "2024-05-06T12:00Z",
        "1.2.3.4",
        "1.2.3.4-5.6.7.8",
        "::1",
        "https",
        "https,http",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "é",
        " ",
    ]);
    let pair = (
        prop_oneof![
            4 => select(vec![
                "sig", "sv", "sr", "sp", "se", "st", "si", "sip", "spr", "snapshot", "versionid",
                "skoid", "ss", "srt", "ses", "rscc", "rscd", "rsce", "rscl", "rsct", "SIG", "Se",
            ])
            .prop_map(String::from),
            1 => ".{0,5}",
        ],
        prop_oneof![query_values(), ".{0,24}"],
    )
        .prop_map(|(name, value)| {
            let encode = |text: &str| {
                percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            };
            format!("{}={}", encode(&name), encode(&value))
        });
    prop_oneof![
        3 => prop::collection::vec(atoms, 0..40).prop_map(|atoms| atoms.concat()),
        3 => prop::collection::vec(pair, 0..14).prop_map(|pairs| pairs.join("&")),
        2 => (any::<usize>(), any::<u8>(), 0usize..3).prop_map(|(at, byte, how)| {
            let mut text = valid_sas_query().into_bytes();
            let at = at % text.len();
            match how {
                0 => text.truncate(at),
                1 => text[at] = byte,
                _ => text.insert(at, byte),
            }
            String::from_utf8_lossy(&text).into_owned()
        }),
        1 => ".{0,120}",
        1 => Just("sig=x&".repeat(70)),
    ]
}

fn valid_sas_query() -> String {
    SasBuilder::for_blob(ACCOUNT, PRIVATE, "alpha")
        .permissions(Permissions::parse("rw").unwrap_or_default())
        .start(NOW_MS - MINUTE_MS)
        .expiry(NOW_MS + 60 * MINUTE_MS)
        .query_string(&[7u8; 64])
}

/// 3: any query string through `http::parse_query` and `auth::parse_sas`:
/// no panic; refusals are 400 (the query) or 403 (the SAS); a query without
/// `sig` is not a SAS; a SAS that parses has a 32-byte signature.
#[test]
fn sas_parsing_of_arbitrary_query_strings() {
    let valid = http::parse_query(&valid_sas_query()).expect("the builder's query parses");
    assert!(matches!(auth::parse_sas(&valid), Ok(Some(_))));
    let result = runner(5, 10_000).run(&sas_query_strings(), |text| {
        let pairs = match http::parse_query(&text) {
            Ok(pairs) => pairs,
            Err(error) => {
                prop_assert_eq!(error.code.status(), 400, "{:?} for {:?}", error, text);
                return Ok(());
            }
        };
        prop_assert!(pairs.len() <= http::MAX_QUERY_PARAMETERS);
        let has_sig = pairs
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("sig"));
        match auth::parse_sas(&pairs) {
            Ok(None) => prop_assert!(!has_sig, "sig ignored in {:?}", text),
            Ok(Some(token)) => {
                prop_assert!(has_sig);
                prop_assert_eq!(token.signature.expose().len(), 32);
            }
            Err(error) => {
                prop_assert!(
                    matches!(error.code.status(), 400 | 403),
                    "{:?} for {:?}",
                    error,
                    text
                );
                prop_assert!(has_sig, "{:?} refused without a sig: {:?}", text, error);
            }
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

// ----- 2. bounds over HTTP ---------------------------------------------------

/// How long any one exchange may take before the server counts as hung.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What came back on a connection: a response, or the server closed (or
/// reset) it first.
#[derive(Debug)]
enum Answer {
    Response(RawResponse),
    Closed(String),
}

fn parse_head(head: &[u8]) -> Option<(u16, Vec<(String, String)>)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Some((status, headers))
}

/// Reads one response from `stream`, however the server ends it; panics if
/// nothing happens within [`EXCHANGE_TIMEOUT`].
async fn read_answer<R: AsyncReadExt + Unpin>(stream: &mut R) -> Answer {
    let work = async {
        let mut buffer = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let Some((status, headers)) = parse_head(&buffer[..end]) else {
                    return Answer::Closed(format!(
                        "unparseable head {:?}",
                        String::from_utf8_lossy(&buffer[..end])
                    ));
                };
                let length: usize = headers
                    .iter()
                    .find(|(name, _)| name == "content-length")
                    .and_then(|(_, value)| value.parse().ok())
                    .unwrap_or(0);
                let mut body = buffer[end + 4..].to_vec();
                while body.len() < length {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => body.extend_from_slice(&chunk[..n]),
                    }
                }
                return Answer::Response(RawResponse {
                    status,
                    headers,
                    body,
                });
            }
            match stream.read(&mut chunk).await {
                Ok(0) => return Answer::Closed("closed before a response".into()),
                Err(error) => return Answer::Closed(format!("{error}")),
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, work)
        .await
        .expect("the server answered or closed the connection in time")
}

async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    if let Err(error) = stream.write_all(bytes).await {
        // The server may stop reading and close early; what it sent is
        // still worth reading.
        let answer = read_answer(&mut stream).await;
        return match answer {
            Answer::Response(response) => Answer::Response(response),
            Answer::Closed(why) => Answer::Closed(format!("write failed ({error}); {why}")),
        };
    }
    read_answer(&mut stream).await
}

/// A Shared Key signed HTTP/1.1 request as bytes, signed over exactly the
/// headers sent (as the shell lowercases and trims them).
fn http_request(
    key: &[u8],
    method: &str,
    path: &str,
    raw_query: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut headers = owned(&[("host", "127.0.0.1"), ("connection", "close")]);
    headers.extend(owned(extra));
    if body.is_empty() {
        // `sign_request` adds the length of a non-empty body.
        headers.push(("content-length".into(), "0".into()));
    }
    let query = http::parse_query(raw_query).expect("a test query parses");
    let signed = sign_request(key, method, path, query, headers, body, now_ms());
    let target = if raw_query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{raw_query}")
    };
    let mut out = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
    for (name, value) in &signed.headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn expect_response(answer: Answer, what: &str) -> RawResponse {
    match answer {
        Answer::Response(response) => response,
        Answer::Closed(why) => panic!("{what}: no response ({why})"),
    }
}

/// A 4xx. The shell's and the service's answers carry `x-ms-request-id`
/// and a consistent error code; hyper's own answers to a head it cannot
/// parse carry neither and are 400 or 431.
fn assert_refusal(response: &RawResponse, what: &str) {
    assert!(
        (400..500).contains(&response.status),
        "{what}: status {} {:?}",
        response.status,
        response.headers
    );
    if response.header("x-ms-request-id").is_some() {
        if let Err(problem) = check_error_code(response.status, response.header("x-ms-error-code"))
        {
            panic!("{what}: {problem}");
        }
    } else {
        assert!(
            matches!(response.status, 400 | 431),
            "{what}: hyper answered {}",
            response.status
        );
    }
}

/// A request head with `headers` after a plain GET line, unsigned.
fn head_with(headers: &[(String, String)]) -> Vec<u8> {
    let mut out =
        b"GET /devstoreaccount1/boundsbox?restype=container HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            .to_vec();
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// 2: the shell's bounds, over a real socket. Each oversize request gets a
/// 4xx (or the connection is closed), none hangs, a half-sent request does
/// not stall other clients, and afterwards the server still serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bounds_hold_and_the_server_keeps_serving() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let service = Arc::new(open_service(dir.path()));
    let key = service
        .account_key(ACCOUNT, KeySlot::Primary)
        .expect("the account")
        .expose()
        .to_vec();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = StorageServer::start(listener, Arc::clone(&service)).expect("the server starts");
    let addr = server.local_addr;

    let created = expect_response(
        exchange(
            addr,
            &http_request(
                &key,
                "PUT",
                "/devstoreaccount1/boundsbox",
                "restype=container",
                &[],
                b"",
            ),
        )
        .await,
        "create boundsbox",
    );
    assert_eq!(created.status, 201, "{created:?}");

    // 64 KiB of headers: more than the shell reads (MAX_HEADER_BYTES plus
    // 16 KiB of buffer), so hyper refuses the head itself.
    let pad = |count: usize, size: usize| -> Vec<(String, String)> {
        (0..count)
            .map(|n| (format!("x-pad-{n}"), "p".repeat(size)))
            .collect()
    };
    let big = exchange(addr, &head_with(&pad(32, 2048))).await;
    match &big {
        Answer::Response(response) => {
            assert_refusal(response, "64 KiB of headers");
            assert_eq!(response.status, 431, "64 KiB of headers: {response:?}");
        }
        Answer::Closed(_) => {}
    }
    // 40 KiB: within hyper's buffer, over MAX_HEADER_BYTES: the shell's own
    // refusal.
    let medium = expect_response(
        exchange(addr, &head_with(&pad(20, 2048))).await,
        "40 KiB of headers",
    );
    assert_refusal(&medium, "40 KiB of headers");
    assert_eq!(medium.status, 400);
    assert_eq!(
        medium.header("x-ms-error-code"),
        Some("RequestHeaderTooLarge")
    );
    const { assert!(20 * 2048 > MAX_HEADER_BYTES) };

    // More than MAX_HEADERS headers, each small.
    let many = exchange(addr, &head_with(&pad(MAX_HEADERS + 50, 4))).await;
    match &many {
        Answer::Response(response) => {
            assert_refusal(response, "too many headers");
            assert_eq!(response.status, 431, "too many headers: {response:?}");
        }
        Answer::Closed(_) => {}
    }

    // A declared body over the limit is refused from the headers alone: the
    // body is never sent, and the answer still comes.
    let declared = format!(
        "PUT /devstoreaccount1/boundsbox/huge HTTP/1.1\r\nhost: 127.0.0.1\r\n\
         x-ms-blob-type: BlockBlob\r\ncontent-length: {}\r\n\r\n",
        MAX_PUT_BYTES + 1
    );
    let sent_at = Instant::now();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(declared.as_bytes())
        .await
        .expect("send the head");
    let too_long = expect_response(read_answer(&mut stream).await, "declared length");
    assert_eq!(too_long.status, 413, "{too_long:?}");
    assert_eq!(
        too_long.header("x-ms-error-code"),
        Some("RequestBodyTooLarge")
    );
    assert!(sent_at.elapsed() < EXCHANGE_TIMEOUT);
    drop(stream);

    // A chunked body that goes one byte over the limit is cut off with 413.
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            b"PUT /devstoreaccount1/boundsbox/chunked HTTP/1.1\r\nhost: 127.0.0.1\r\n\
              x-ms-blob-type: BlockBlob\r\ntransfer-encoding: chunked\r\n\r\n",
        )
        .await
        .expect("send the head");
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let chunk = vec![b'c'; 1 << 20];
        let frame_head = format!("{:x}\r\n", chunk.len());
        let mut sent = 0u64;
        while sent <= MAX_PUT_BYTES {
            let last = sent == MAX_PUT_BYTES;
            let data: &[u8] = if last { b"!" } else { &chunk };
            let head = if last {
                "1\r\n".to_string()
            } else {
                frame_head.clone()
            };
            if writer.write_all(head.as_bytes()).await.is_err()
                || writer.write_all(data).await.is_err()
                || writer.write_all(b"\r\n").await.is_err()
            {
                return sent;
            }
            sent += data.len() as u64;
        }
        sent
    });
    let chunked = read_answer(&mut reader).await;
    let sent = writing.await.expect("the writer ends");
    let chunked = expect_response(chunked, "chunked over the limit");
    assert_eq!(chunked.status, 413, "{chunked:?} after {sent} bytes");
    assert_eq!(
        chunked.header("x-ms-error-code"),
        Some("RequestBodyTooLarge")
    );
    assert!(sent > MAX_PUT_BYTES, "refused after only {sent} bytes");
    drop(reader);

    // Half-sent requests (a head cut off mid-header, a body shorter than it
    // declared) do not stop another client from being served.
    let mut half_head = TcpStream::connect(addr).await.expect("connect");
    half_head
        .write_all(b"PUT /devstoreaccount1/boundsbox/slow HTTP/1.1\r\nhost: 127.0.0.1\r\nx-ms-ver")
        .await
        .expect("send half a head");
    let mut half_body = TcpStream::connect(addr).await.expect("connect");
    half_body
        .write_all(
            b"PUT /devstoreaccount1/boundsbox/slow HTTP/1.1\r\nhost: 127.0.0.1\r\n\
              x-ms-blob-type: BlockBlob\r\ncontent-length: 1000\r\n\r\n0123456789",
        )
        .await
        .expect("send part of a body");
    let served_at = Instant::now();
    let put = expect_response(
        exchange(
            addr,
            &http_request(
                &key,
                "PUT",
                "/devstoreaccount1/boundsbox/during",
                "",
                &[("x-ms-blob-type", "BlockBlob")],
                b"served meanwhile",
            ),
        )
        .await,
        "a put while others are half-sent",
    );
    assert_eq!(put.status, 201, "{put:?}");
    assert!(served_at.elapsed() < Duration::from_secs(2));
    drop(half_head);
    drop(half_body);

    // Malformed heads and bodies: hyper's own 400, the shell's refusal with
    // an error code, or a closed connection; never a hang, never 5xx.
    let many_params = (0..http::MAX_QUERY_PARAMETERS + 1)
        .map(|n| format!("p{n}=v"))
        .collect::<Vec<_>>()
        .join("&");
    let malformed: Vec<(Vec<u8>, Option<&str>)> = vec![
        (b"GET\r\n\r\n".to_vec(), None),
        (b"GET / HTTP/9.9\r\n\r\n".to_vec(), None),
        (b"\x00\x01\x02\x03\r\n\r\n".to_vec(), None),
        (
            b"GET /devstoreaccount1/\xff\xfe HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
            None,
        ),
        (
            b"GET /devstoreaccount1/boundsbox?restype=container HTTP/1.1\r\nhost: x\r\n\
              x-ms-meta-a: \xe9t\xe9\r\n\r\n"
                .to_vec(),
            Some("InvalidHeaderValue"),
        ),
        (
            b"GET /devstoreaccount1/boundsbox?restype=container&comp=%ff HTTP/1.1\r\nhost: x\r\n\r\n"
                .to_vec(),
            Some("InvalidQueryParameterValue"),
        ),
        (
            format!("GET /devstoreaccount1/boundsbox?{many_params} HTTP/1.1\r\nhost: x\r\n\r\n")
                .into_bytes(),
            Some("InvalidQueryParameterValue"),
        ),
        (
            b"PUT /devstoreaccount1/boundsbox/x HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n"
                .to_vec(),
            None,
        ),
        (
            b"PUT /devstoreaccount1/boundsbox/x HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\
              content-length: 6\r\n\r\nhello!"
                .to_vec(),
            None,
        ),
        (
            b"PUT /devstoreaccount1/boundsbox/x HTTP/1.1\r\nhost: x\r\n\
              transfer-encoding: chunked\r\n\r\nZZZ\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
            None,
        ),
        (
            b"PUT /devstoreaccount1/boundsbox/x HTTP/1.1\r\nhost: x\r\n\
              transfer-encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nhello\r\n"
                .to_vec(),
            None,
        ),
        (
            b"GET http://evil/devstoreaccount1/boundsbox?restype=container HTTP/1.1\r\nhost: x\r\n\r\n"
                .to_vec(),
            None,
        ),
    ];
    for (bytes, code) in &malformed {
        let what = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned();
        let answer = exchange(addr, bytes).await;
        eprintln!(
            "{what:?}: {}",
            match &answer {
                Answer::Response(response) => format!(
                    "{} {:?}",
                    response.status,
                    response.header("x-ms-error-code")
                ),
                Answer::Closed(why) => format!("closed ({why})"),
            }
        );
        match answer {
            Answer::Response(response) => {
                assert_refusal(&response, &what);
                if let Some(code) = code {
                    assert_eq!(response.status, 400, "{what}: {response:?}");
                    assert_eq!(response.header("x-ms-error-code"), Some(*code), "{what}");
                }
            }
            Answer::Closed(why) => assert!(code.is_none(), "{what}: closed ({why})"),
        }
    }

    // Afterwards the server still serves an authorized write and read.
    let body = b"after the bounds";
    let put = expect_response(
        exchange(
            addr,
            &http_request(
                &key,
                "PUT",
                "/devstoreaccount1/boundsbox/after",
                "",
                &[("x-ms-blob-type", "BlockBlob")],
                body,
            ),
        )
        .await,
        "put after the bounds",
    );
    assert_eq!(put.status, 201, "{put:?}");
    let get = expect_response(
        exchange(
            addr,
            &http_request(
                &key,
                "GET",
                "/devstoreaccount1/boundsbox/after",
                "",
                &[],
                b"",
            ),
        )
        .await,
        "get after the bounds",
    );
    assert_eq!(get.status, 200, "{get:?}");
    assert_eq!(get.body, body);
    // Nothing the refused requests carried was stored.
    for blob in ["huge", "chunked", "slow"] {
        let got = expect_response(
            exchange(
                addr,
                &http_request(
                    &key,
                    "GET",
                    &format!("/devstoreaccount1/boundsbox/{blob}"),
                    "",
                    &[],
                    b"",
                ),
            )
            .await,
            "get a refused blob",
        );
        assert_eq!(got.status, 404, "{blob}: {got:?}");
    }
    server.shutdown().await;
    eprintln!(
        "http bounds: {:?}; 64 KiB: {big:?}; too many: {many:?}",
        started.elapsed()
    );
}
