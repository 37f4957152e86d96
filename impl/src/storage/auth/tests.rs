//! Tests of the authorization decision and its parts, against the Python
//! SDK's own signatures.

use super::*;
use crate::bugs::BugSet;
use crate::secret::SecretBytes;
use crate::storage::acl::{AccessPolicy, SignedIdentifier};
use crate::storage::acl::{ContainerAcl, Permissions, PublicAccess};
use crate::storage::clock::UnixMs;
use crate::storage::error::{ErrorCode, StorageError};
use proptest::prelude::*;
use shared_key::canonicalized_headers;
use std::fmt;
use std::net::IpAddr;

/// The key of every vector: bytes 0..64, i.e. base64
/// `AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==`.
fn key() -> Vec<u8> {
    (0u8..64).collect()
}

fn other_key() -> Vec<u8> {
    vec![7u8; 64]
}

fn keys() -> AccountKeys {
    AccountKeys {
        name: "acct".to_string(),
        keys: [SecretBytes::new(key()), SecretBytes::new(other_key())],
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn view<'a>(
    method: &'a str,
    path: &'a str,
    query: &'a [(String, String)],
    headers: &'a [(String, String)],
) -> RequestView<'a> {
    RequestView {
        method,
        path,
        query,
        headers,
        peer_ip: Some(IpAddr::from([127, 0, 0, 1])),
    }
}

/// 2024-05-06T12:00:00Z, the time of every vector.
const NOON: UnixMs = 1_714_996_800_000;
const MINUTE: UnixMs = 60_000;
const HOUR: UnixMs = 60 * MINUTE;

const BLOB: &str = "dir/a b+c.txt";
const BLOB_PATH: &str = "/acct/photos/dir/a%20b%2Bc.txt";

fn blob_target() -> Target {
    Target::Blob {
        container: "photos".to_string(),
        blob: BLOB.to_string(),
        snapshot: None,
    }
}

fn container_target() -> Target {
    Target::Container {
        container: "photos".to_string(),
    }
}

fn need(target: Target, sas_permission: Option<Permissions>) -> Need {
    Need {
        target,
        sas_permission,
        anonymous: None,
        writes: false,
    }
}

fn code<T: fmt::Debug>(result: Result<T, StorageError>) -> ErrorCode {
    match result {
        Ok(value) => panic!("expected a refusal, got {value:?}"),
        Err(error) => error.code,
    }
}

fn detail<T: fmt::Debug>(result: Result<T, StorageError>) -> String {
    match result {
        Ok(value) => panic!("expected a refusal, got {value:?}"),
        Err(error) => error.detail.unwrap_or_default(),
    }
}

// ----- Shared Key ---------------------------------------------------

/// The upload of `BLOB` with 11 bytes and three metadata entries, as
/// azure-storage-blob 12.31.1 sent it to a path-style endpoint
/// (`http://127.0.0.1:10000/acct`), header names lowercased.
fn put_blob_headers() -> Vec<(String, String)> {
    pairs(&[
        ("content-length", "11"),
        ("x-ms-meta-zeta", "1"),
        ("x-ms-meta-a_1", "u"),
        ("x-ms-meta-a1", "d"),
        ("x-ms-blob-type", "BlockBlob"),
        ("x-ms-version", "2026-10-06"),
        ("content-type", "application/octet-stream"),
        ("accept", "application/xml"),
        (
            "user-agent",
            "azsdk-python-storage-blob/12.31.1 Python/3.11.7",
        ),
        ("x-ms-date", "Mon, 06 May 2024 12:00:00 GMT"),
        (
            "x-ms-client-request-id",
            "00000000-0000-0000-0000-000000000001",
        ),
    ])
}

// The expected strings and signatures below were produced by running the
// SDK's own `SharedKeyCredentialPolicy` in /tmp/pyvenv
// (azure-storage-blob 12.31.1) against a fake transport, with the key
// above, `x-ms-date` pinned to Mon, 06 May 2024 12:00:00 GMT and
// `x-ms-client-request-id` pinned to ...0001, capturing the string it
// passed to `_add_authorization_header` and the header it set.
const SDK_PUT_BLOB_STS: &str = "PUT\n\n\n11\n\napplication/octet-stream\n\n\n\n\n\n\n\
    x-ms-blob-type:BlockBlob\n\
    x-ms-client-request-id:00000000-0000-0000-0000-000000000001\n\
    x-ms-date:Mon, 06 May 2024 12:00:00 GMT\n\
    x-ms-meta-a_1:u\n\
    x-ms-meta-a1:d\n\
    x-ms-meta-zeta:1\n\
    x-ms-version:2026-10-06\n\
    /acct/acct/photos/dir/a%20b%2Bc.txt";
const SDK_PUT_BLOB_AUTH: &str = "SharedKey acct:wf6FygWkUW4vkdbULljD7p0q8D+mcZMJEpR1pCh7qtk=";

#[test]
fn shared_key_string_to_sign_matches_the_python_sdk() {
    let headers = put_blob_headers();
    let req = view("PUT", BLOB_PATH, &[], &headers);
    assert_eq!(shared_key_string_to_sign(&req, "acct"), SDK_PUT_BLOB_STS);
    assert_eq!(sign_shared_key(&req, "acct", &key()), SDK_PUT_BLOB_AUTH);
}

#[test]
fn shared_key_with_query_and_zero_length_matches_the_python_sdk() {
    // Put Block: the query is canonicalized sorted, values decoded.
    let headers = pairs(&[
        ("content-length", "3"),
        ("x-ms-version", "2026-10-06"),
        ("content-type", "application/octet-stream"),
        ("x-ms-date", "Mon, 06 May 2024 12:00:00 GMT"),
        (
            "x-ms-client-request-id",
            "00000000-0000-0000-0000-000000000001",
        ),
    ]);
    let query = pairs(&[("comp", "block"), ("blockid", "WW14dlkyc3RNREF4")]);
    let req = view("PUT", BLOB_PATH, &query, &headers);
    assert_eq!(
        shared_key_string_to_sign(&req, "acct"),
        "PUT\n\n\n3\n\napplication/octet-stream\n\n\n\n\n\n\n\
         x-ms-client-request-id:00000000-0000-0000-0000-000000000001\n\
         x-ms-date:Mon, 06 May 2024 12:00:00 GMT\nx-ms-version:2026-10-06\n\
         /acct/acct/photos/dir/a%20b%2Bc.txt\nblockid:WW14dlkyc3RNREF4\ncomp:block"
    );
    assert_eq!(
        sign_shared_key(&req, "acct", &key()),
        "SharedKey acct:9cv2k7OAL1ZzOrI0BKZC5GOu0s4NIn2LncRldzSyz2g="
    );
    // Create Container: the SDK sends no Content-Length; on the wire it
    // is 0, which is signed as empty.
    let headers = pairs(&[
        ("x-ms-version", "2026-10-06"),
        ("content-length", "0"),
        ("x-ms-date", "Mon, 06 May 2024 12:00:00 GMT"),
        (
            "x-ms-client-request-id",
            "00000000-0000-0000-0000-000000000001",
        ),
    ]);
    let query = pairs(&[("restype", "container")]);
    let req = view("PUT", "/acct/photos", &query, &headers);
    assert_eq!(
        sign_shared_key(&req, "acct", &key()),
        "SharedKey acct:Sjbx7UJt6+cKX0LXJA/bDQwB1RWELTck666cvbkaUag="
    );
}

#[test]
fn header_order_matches_the_python_sdk_emulation_of_the_service() {
    // Input shuffled, expected order from the SDK's `_storage_header_sort`.
    let input = [
        "x-ms-a_a",
        "x-ms-a'b",
        "x-ms-a-'",
        "x-ms-blob-content-type",
        "x-ms-a-",
        "x-ms-a_b",
        "x-ms-ab",
        "x-ms-a--b",
        "x-ms--1a",
        "x-ms-blob-type",
        "x-ms-~.'_",
        "x-ms-meta-a_1",
        "x-ms-a-b",
        "x-ms-1-b",
        "x-ms-a'-",
        "x-ms-a9",
        "x-ms-a&b",
        "x-ms-a^b",
        "x-ms-_",
        "x-ms-meta-a1",
        "x-ms-a*b",
        "x-ms-a#b",
        "x-ms-a_~1.",
        "x-ms-a'",
        "x-ms-a~b",
        "x-ms-a`b",
        "x-ms-b_b1",
        "x-ms-1",
        "x-ms-a",
        "x-ms-blobcontent",
        "x-ms-b",
        "x-ms-'~.~'",
        "x-ms-version",
        "x-ms--",
        "x-ms-a-b-",
        "x-ms-_b",
        "x-ms-meta-a",
        "x-ms-'-b_.",
        "x-ms-a%b",
        "x-ms-a+b",
        "x-ms-date",
        "x-ms-a!b",
        "x-ms-a|b",
        "x-ms-a$b",
        "x-ms-a.b",
        "x-ms-a-c",
        "x-ms-a1",
    ];
    let expected = [
        "x-ms--",
        "x-ms-_",
        "x-ms-_b",
        "x-ms-~.'_",
        "x-ms-'~.~'",
        "x-ms-1",
        "x-ms--1a",
        "x-ms-1-b",
        "x-ms-a",
        "x-ms-a'",
        "x-ms-a'-",
        "x-ms-a-",
        "x-ms-a-'",
        "x-ms-a!b",
        "x-ms-a#b",
        "x-ms-a$b",
        "x-ms-a%b",
        "x-ms-a&b",
        "x-ms-a*b",
        "x-ms-a.b",
        "x-ms-a^b",
        "x-ms-a_~1.",
        "x-ms-a_a",
        "x-ms-a_b",
        "x-ms-a`b",
        "x-ms-a|b",
        "x-ms-a~b",
        "x-ms-a+b",
        "x-ms-a1",
        "x-ms-a9",
        "x-ms-ab",
        "x-ms-a'b",
        "x-ms-a-b",
        "x-ms-a-b-",
        "x-ms-a--b",
        "x-ms-a-c",
        "x-ms-b",
        "x-ms-'-b_.",
        "x-ms-b_b1",
        "x-ms-blobcontent",
        "x-ms-blob-content-type",
        "x-ms-blob-type",
        "x-ms-date",
        "x-ms-meta-a",
        "x-ms-meta-a_1",
        "x-ms-meta-a1",
        "x-ms-version",
    ];
    let headers: Vec<(String, String)> = input
        .iter()
        .map(|name| (name.to_string(), "v".to_string()))
        .collect();
    let req = view("GET", "/acct", &[], &headers);
    let sorted: Vec<String> = canonicalized_headers(&req)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(sorted, expected);
}

fn signed_put(date: &str, slot_key: &[u8]) -> Vec<(String, String)> {
    let mut headers = put_blob_headers();
    for (name, value) in headers.iter_mut() {
        if name == "x-ms-date" {
            *value = date.to_string();
        }
    }
    let auth = sign_shared_key(&view("PUT", BLOB_PATH, &[], &headers), "acct", slot_key);
    headers.push(("authorization".to_string(), auth));
    headers
}

fn put_need() -> Need {
    Need {
        target: blob_target(),
        sas_permission: Some(Permissions::WRITE),
        anonymous: None,
        writes: true,
    }
}

#[test]
fn shared_key_accepted_under_either_key_and_the_sdk_header_verifies() {
    let mut headers = put_blob_headers();
    headers.push(("authorization".to_string(), SDK_PUT_BLOB_AUTH.to_string()));
    let req = view("PUT", BLOB_PATH, &[], &headers);
    assert_eq!(
        authorize(&req, &keys(), None, &put_need(), NOON, BugSet::NONE),
        Ok(StoragePrincipal::Account {
            slot: KeySlot::Primary
        })
    );
    let headers = signed_put("Mon, 06 May 2024 12:00:00 GMT", &other_key());
    let req = view("PUT", BLOB_PATH, &[], &headers);
    assert_eq!(
        authorize(&req, &keys(), None, &put_need(), NOON, BugSet::NONE),
        Ok(StoragePrincipal::Account {
            slot: KeySlot::Secondary
        })
    );
}

#[test]
fn shared_key_with_a_replaced_key_is_refused() {
    let headers = signed_put("Mon, 06 May 2024 12:00:00 GMT", &key());
    let req = view("PUT", BLOB_PATH, &[], &headers);
    let mut regenerated = keys();
    regenerated.keys[0] = SecretBytes::new(vec![9u8; 64]);
    let result = authorize(&req, &regenerated, None, &put_need(), NOON, BugSet::NONE);
    let text = detail(result.clone());
    assert_eq!(code(result), ErrorCode::AuthenticationFailed);
    // The detail echoes the string-to-sign but never the signature.
    assert!(
        text.contains("/acct/acct/photos/dir/a%20b%2Bc.txt"),
        "{text}"
    );
    let signature = SDK_PUT_BLOB_AUTH.trim_start_matches("SharedKey acct:");
    assert!(!text.contains(signature), "{text}");
    // An emptied slot verifies nothing either.
    let mut emptied = keys();
    emptied.keys[0] = SecretBytes::new(Vec::new());
    assert_eq!(
        code(authorize(
            &req,
            &emptied,
            None,
            &put_need(),
            NOON,
            BugSet::NONE
        )),
        ErrorCode::AuthenticationFailed
    );
}

#[test]
fn shared_key_clock_skew_beyond_fifteen_minutes_is_refused() {
    let date = "Mon, 06 May 2024 12:00:00 GMT";
    let headers = signed_put(date, &key());
    let req = view("PUT", BLOB_PATH, &[], &headers);
    let ok = |now| authorize(&req, &keys(), None, &put_need(), now, BugSet::NONE);
    assert!(ok(NOON + 15 * MINUTE).is_ok());
    assert!(ok(NOON - 15 * MINUTE).is_ok());
    let late = ok(NOON + 16 * MINUTE);
    assert!(detail(late.clone()).starts_with("Request date header too old"));
    assert_eq!(code(late), ErrorCode::AuthenticationFailed);
    assert_eq!(
        code(ok(NOON - 16 * MINUTE)),
        ErrorCode::AuthenticationFailed
    );

    let mut undated = headers.clone();
    undated.retain(|(name, _)| name != "x-ms-date");
    let req = view("PUT", BLOB_PATH, &[], &undated);
    let missing = authorize(&req, &keys(), None, &put_need(), NOON, BugSet::NONE);
    assert_eq!(detail(missing.clone()), "Request date header not specified");
    assert_eq!(code(missing), ErrorCode::AuthenticationFailed);
}

#[test]
fn malformed_authorization_headers_are_invalid_authentication_info() {
    let base = put_blob_headers();
    let with = |value: &str| {
        let mut headers = base.clone();
        headers.push(("authorization".to_string(), value.to_string()));
        headers
    };
    for value in [
        "SharedKey",
        "SharedKey acct",
        "SharedKey acct:",
        "SharedKey acct:!!!not-base64",
    ] {
        let headers = with(value);
        let req = view("PUT", BLOB_PATH, &[], &headers);
        assert_eq!(
            code(authorize(
                &req,
                &keys(),
                None,
                &put_need(),
                NOON,
                BugSet::NONE
            )),
            ErrorCode::InvalidAuthenticationInfo,
            "{value}"
        );
    }
    // Another account's name, or another scheme: AuthenticationFailed.
    let headers = with("SharedKey other:wf6FygWkUW4vkdbULljD7p0q8D+mcZMJEpR1pCh7qtk=");
    let req = view("PUT", BLOB_PATH, &[], &headers);
    assert_eq!(
        code(authorize(
            &req,
            &keys(),
            None,
            &put_need(),
            NOON,
            BugSet::NONE
        )),
        ErrorCode::AuthenticationFailed
    );
    let headers = with("SharedKeyLite acct:wf6FygWkUW4vkdbULljD7p0q8D+mcZMJEpR1pCh7qtk=");
    let req = view("PUT", BLOB_PATH, &[], &headers);
    assert_eq!(
        code(authorize(
            &req,
            &keys(),
            None,
            &put_need(),
            NOON,
            BugSet::NONE
        )),
        ErrorCode::AuthenticationFailed
    );
}

#[test]
fn secret_headers_are_redacted_from_the_echoed_string_to_sign() {
    let mut headers = signed_put("Mon, 06 May 2024 12:00:00 GMT", &other_key());
    headers.push((
        "x-ms-encryption-key".to_string(),
        "c2VjcmV0LWtleQ==".to_string(),
    ));
    let req = view("PUT", BLOB_PATH, &[], &headers);
    let mut only_primary = keys();
    only_primary.keys[1] = SecretBytes::new(Vec::new());
    let text = detail(authorize(
        &req,
        &only_primary,
        None,
        &put_need(),
        NOON,
        BugSet::NONE,
    ));
    assert!(text.contains("x-ms-encryption-key:[REDACTED]"), "{text}");
    assert!(!text.contains("c2VjcmV0LWtleQ=="), "{text}");
}

// ----- service SAS ----------------------------------------------------

// Tokens made by the SDK in /tmp/pyvenv (azure-storage-blob 12.31.1,
// sv 2026-10-06) with `generate_blob_sas`/`generate_container_sas`, the
// key above, account `acct`, container `photos`, blob `dir/a b+c.txt`,
// start 2024-05-06T11:00:00Z and expiry 13:00:00Z where given; the
// string-to-sign is the one the SDK's `sts_hook` reported.

/// `generate_blob_sas(permission=BlobSasPermissions(read, write), start, expiry)`.
const SDK_BLOB_RW: &str = "st=2024-05-06T11%3A00%3A00Z&se=2024-05-06T13%3A00%3A00Z&sp=rw&sv=2026-10-06&sr=b&sig=CbnpXW0Gk5Yvj2tPOwymRSdkCiEX4zEB19NFNu03gDA%3D";
const SDK_BLOB_RW_STS: &str = "rw\n2024-05-06T11:00:00Z\n2024-05-06T13:00:00Z\n/blob/acct/photos/dir/a b+c.txt\n\n\n\n2026-10-06\nb\n\n\n\n\n\n\n";
/// `generate_container_sas(permission=ContainerSasPermissions(read, list), start, expiry)`.
const SDK_CONTAINER_RL: &str = "st=2024-05-06T11%3A00%3A00Z&se=2024-05-06T13%3A00%3A00Z&sp=rl&sv=2026-10-06&sr=c&sig=SKqjG9gNb7lX4MzzvPDVIKJDI66vsD7aKmGZuop8epg%3D";
/// `generate_blob_sas(policy_id="pol1")`: everything else from the policy.
const SDK_BLOB_POLICY: &str =
    "sv=2026-10-06&si=pol1&sr=b&sig=U%2BfQj5qhfOi%2B8Ze/mW0lTLcw7wkxjWV/Bew46dGNanw%3D";
/// `generate_container_sas(policy_id="pol2", expiry)`.
const SDK_CONTAINER_POLICY_EXPIRY: &str = "se=2024-05-06T13%3A00%3A00Z&sv=2026-10-06&si=pol2&sr=c&sig=xhGFqualCCE4F7WoGA6IAT5N%2BoYvHlLKy8ze3GiNknk%3D";
/// `generate_blob_sas(snapshot="2024-05-06T10:00:00.0000000Z", permission="r", start, expiry)`.
const SDK_SNAPSHOT_R: &str = "st=2024-05-06T11%3A00%3A00Z&se=2024-05-06T13%3A00%3A00Z&sp=r&sv=2026-10-06&sr=bs&sig=htityg0LpZcNuZm/dXZh0T7aAC7Hfmg6IkMVzRvelhg%3D";
const SNAPSHOT: &str = "2024-05-06T10:00:00.0000000Z";
/// `generate_blob_sas(blob_name="x", permission="racwd", start, expiry,
/// ip="127.0.0.1", protocol="https,http", cache_control="no-cache",
/// content_type="text/plain", encryption_scope="scope1")`.
const SDK_BLOB_FULL: &str = "st=2024-05-06T11%3A00%3A00Z&se=2024-05-06T13%3A00%3A00Z&sp=racwd&sip=127.0.0.1&spr=https%2Chttp&sv=2026-10-06&sr=b&rscc=no-cache&rsct=text/plain&ses=scope1&sig=%2BHQ0Jgt1H1nxMkOQrXojTyjYUYY2sYusMgb3S8SAuM8%3D";
const SDK_BLOB_FULL_STS: &str = "racwd\n2024-05-06T11:00:00Z\n2024-05-06T13:00:00Z\n/blob/acct/photos/x\n\n127.0.0.1\nhttps,http\n2026-10-06\nb\n\nscope1\nno-cache\n\n\n\ntext/plain";

/// Decodes a query string the way the shell does.
fn decode_query(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(name), decode(value))
        })
        .collect()
}

fn sas_authorize(
    query_text: &str,
    path: &str,
    acl: Option<&ContainerAcl>,
    need: &Need,
    now: UnixMs,
) -> Result<StoragePrincipal, StorageError> {
    let query = decode_query(query_text);
    let req = view("GET", path, &query, &[]);
    authorize(&req, &keys(), acl, need, now, BugSet::NONE)
}

fn acl_with(id: &str, policy: AccessPolicy) -> ContainerAcl {
    ContainerAcl {
        public_access: PublicAccess::Off,
        identifiers: vec![SignedIdentifier {
            id: id.to_string(),
            policy,
        }],
    }
}

fn perms(text: &str) -> Permissions {
    Permissions::parse(text).unwrap_or_default()
}

#[test]
fn sdk_blob_sas_string_to_sign_and_acceptance() {
    let query = decode_query(SDK_BLOB_RW);
    let token = parse_sas(&query).ok().flatten();
    let Some(token) = token else {
        panic!("the SDK's SAS must parse");
    };
    let resource = sas_canonical_resource("acct", "photos", Some(BLOB));
    assert_eq!(sas_string_to_sign(&token, &resource), SDK_BLOB_RW_STS);
    let read = need(blob_target(), Some(Permissions::READ));
    assert_eq!(
        sas_authorize(SDK_BLOB_RW, BLOB_PATH, None, &read, NOON),
        Ok(StoragePrincipal::Sas {
            permissions: perms("rw"),
            resource: SasResource::Blob
        })
    );
    // A snapshot read through a blob SAS is allowed.
    let snapshot_read = need(
        Target::Blob {
            container: "photos".to_string(),
            blob: BLOB.to_string(),
            snapshot: Some(SNAPSHOT.to_string()),
        },
        Some(Permissions::READ),
    );
    assert!(sas_authorize(SDK_BLOB_RW, BLOB_PATH, None, &snapshot_read, NOON).is_ok());
    // Both ends of the window are inclusive.
    assert!(sas_authorize(SDK_BLOB_RW, BLOB_PATH, None, &read, NOON - HOUR).is_ok());
    assert!(sas_authorize(SDK_BLOB_RW, BLOB_PATH, None, &read, NOON + HOUR).is_ok());
}

#[test]
fn sdk_blob_sas_with_one_signature_letter_changed_is_refused() {
    let tampered = SDK_BLOB_RW.replace("sig=Cbnp", "sig=Dbnp");
    assert_ne!(tampered, SDK_BLOB_RW);
    let read = need(blob_target(), Some(Permissions::READ));
    let result = sas_authorize(&tampered, BLOB_PATH, None, &read, NOON);
    assert!(detail(result.clone()).starts_with("Signature did not match."));
    assert_eq!(code(result), ErrorCode::AuthenticationFailed);
}

#[test]
fn sdk_blob_sas_outside_its_window_is_refused() {
    let read = need(blob_target(), Some(Permissions::READ));
    let late = sas_authorize(SDK_BLOB_RW, BLOB_PATH, None, &read, NOON + HOUR + 1);
    assert!(detail(late.clone()).starts_with(
        "Signature not valid in the specified time frame: Start [Mon, 06 May 2024 11:00:00 GMT]"
    ));
    assert_eq!(code(late), ErrorCode::AuthenticationFailed);
    let early = sas_authorize(SDK_BLOB_RW, BLOB_PATH, None, &read, NOON - HOUR - 1);
    assert_eq!(code(early), ErrorCode::AuthenticationFailed);
}

#[test]
fn sdk_blob_sas_on_another_blob_is_refused_as_a_bad_signature() {
    let other = need(
        Target::Blob {
            container: "photos".to_string(),
            blob: "other.txt".to_string(),
            snapshot: None,
        },
        Some(Permissions::READ),
    );
    let result = sas_authorize(SDK_BLOB_RW, "/acct/photos/other.txt", None, &other, NOON);
    assert!(detail(result.clone()).contains("/blob/acct/photos/other.txt"));
    assert_eq!(code(result), ErrorCode::AuthenticationFailed);
}

#[test]
fn sdk_blob_sas_without_the_permission_is_refused() {
    let delete = need(blob_target(), Some(Permissions::DELETE));
    assert_eq!(
        code(sas_authorize(SDK_BLOB_RW, BLOB_PATH, None, &delete, NOON)),
        ErrorCode::AuthorizationPermissionMismatch
    );
    // Any one of the letters asked for suffices.
    let create_or_write = need(
        blob_target(),
        Some(Permissions::CREATE.union(Permissions::WRITE)),
    );
    assert!(sas_authorize(SDK_BLOB_RW, BLOB_PATH, None, &create_or_write, NOON).is_ok());
    // An operation for the account key only.
    let manage = need(blob_target(), None);
    assert_eq!(
        code(sas_authorize(SDK_BLOB_RW, BLOB_PATH, None, &manage, NOON)),
        ErrorCode::AuthorizationFailure
    );
}

#[test]
fn sdk_sas_scope_rules() {
    let list = need(container_target(), Some(Permissions::LIST));
    assert_eq!(
        sas_authorize(SDK_CONTAINER_RL, "/acct/photos", None, &list, NOON),
        Ok(StoragePrincipal::Sas {
            permissions: perms("rl"),
            resource: SasResource::Container
        })
    );
    // A container SAS covers its blobs...
    let read = need(blob_target(), Some(Permissions::READ));
    assert!(sas_authorize(SDK_CONTAINER_RL, BLOB_PATH, None, &read, NOON).is_ok());
    // ...but not another container.
    let elsewhere = need(
        Target::Container {
            container: "videos".to_string(),
        },
        Some(Permissions::LIST),
    );
    assert_eq!(
        code(sas_authorize(
            SDK_CONTAINER_RL,
            "/acct/videos",
            None,
            &elsewhere,
            NOON
        )),
        ErrorCode::AuthenticationFailed
    );
    // A blob SAS never lists; no service SAS does account-level work.
    assert_eq!(
        code(sas_authorize(
            SDK_BLOB_RW,
            "/acct/photos",
            None,
            &list,
            NOON
        )),
        ErrorCode::AuthorizationResourceTypeMismatch
    );
    let service = need(Target::Service, Some(Permissions::LIST));
    assert_eq!(
        code(sas_authorize(
            SDK_CONTAINER_RL,
            "/acct",
            None,
            &service,
            NOON
        )),
        ErrorCode::AuthorizationResourceTypeMismatch
    );
}

#[test]
fn sdk_snapshot_sas_covers_only_its_snapshot() {
    let at = |snapshot: Option<&str>| {
        need(
            Target::Blob {
                container: "photos".to_string(),
                blob: BLOB.to_string(),
                snapshot: snapshot.map(str::to_string),
            },
            Some(Permissions::READ),
        )
    };
    assert!(sas_authorize(SDK_SNAPSHOT_R, BLOB_PATH, None, &at(Some(SNAPSHOT)), NOON).is_ok());
    let other = at(Some("2024-05-06T10:00:01.0000000Z"));
    assert_eq!(
        code(sas_authorize(SDK_SNAPSHOT_R, BLOB_PATH, None, &other, NOON)),
        ErrorCode::AuthenticationFailed
    );
    assert_eq!(
        code(sas_authorize(
            SDK_SNAPSHOT_R,
            BLOB_PATH,
            None,
            &at(None),
            NOON
        )),
        ErrorCode::AuthenticationFailed
    );
}

#[test]
fn sdk_sas_with_every_optional_field_and_its_source_ip() {
    let query = decode_query(SDK_BLOB_FULL);
    let Some(token) = parse_sas(&query).ok().flatten() else {
        panic!("the SDK's SAS must parse");
    };
    let resource = sas_canonical_resource("acct", "photos", Some("x"));
    assert_eq!(sas_string_to_sign(&token, &resource), SDK_BLOB_FULL_STS);
    assert_eq!(token.cache_control.as_deref(), Some("no-cache"));
    let target = Target::Blob {
        container: "photos".to_string(),
        blob: "x".to_string(),
        snapshot: None,
    };
    let read = need(target, Some(Permissions::READ));
    let from = |peer: Option<IpAddr>| {
        let req = RequestView {
            peer_ip: peer,
            ..view("GET", "/acct/photos/x", &query, &[])
        };
        authorize(&req, &keys(), None, &read, NOON, BugSet::NONE)
    };
    assert!(from(Some(IpAddr::from([127, 0, 0, 1]))).is_ok());
    assert!(from(Some(
        "::ffff:127.0.0.1"
            .parse()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]))
    ))
    .is_ok());
    assert_eq!(
        code(from(Some(IpAddr::from([10, 0, 0, 1])))),
        ErrorCode::AuthenticationFailed
    );
    assert_eq!(code(from(None)), ErrorCode::AuthenticationFailed);
}

fn pol1(permission: &str, expiry_ms: UnixMs) -> AccessPolicy {
    AccessPolicy {
        start_ms: Some(NOON - HOUR),
        expiry_ms: Some(expiry_ms),
        permission: Some(perms(permission)),
    }
}

#[test]
fn sdk_policy_sas_follows_the_policy_as_it_is_now() {
    let read = need(blob_target(), Some(Permissions::READ));
    let acl = acl_with("pol1", pol1("r", NOON + HOUR));
    assert_eq!(
        sas_authorize(SDK_BLOB_POLICY, BLOB_PATH, Some(&acl), &read, NOON),
        Ok(StoragePrincipal::Sas {
            permissions: perms("r"),
            resource: SasResource::Blob
        })
    );
    // Changed permission: refused from this request on.
    let changed = acl_with("pol1", pol1("w", NOON + HOUR));
    assert_eq!(
        code(sas_authorize(
            SDK_BLOB_POLICY,
            BLOB_PATH,
            Some(&changed),
            &read,
            NOON
        )),
        ErrorCode::AuthorizationPermissionMismatch
    );
    // Changed window: expired now.
    let shortened = acl_with("pol1", pol1("r", NOON - 1));
    assert_eq!(
        code(sas_authorize(
            SDK_BLOB_POLICY,
            BLOB_PATH,
            Some(&shortened),
            &read,
            NOON
        )),
        ErrorCode::AuthenticationFailed
    );
    // Removed policy (another one left in its place), or no container at all.
    let removed = acl_with("pol9", pol1("racwdl", NOON + HOUR));
    let gone = sas_authorize(SDK_BLOB_POLICY, BLOB_PATH, Some(&removed), &read, NOON);
    assert_eq!(
        detail(gone.clone()),
        "SAS identifier cannot be found for specified signed identifier"
    );
    assert_eq!(code(gone), ErrorCode::AuthenticationFailed);
    assert_eq!(
        code(sas_authorize(SDK_BLOB_POLICY, BLOB_PATH, None, &read, NOON)),
        ErrorCode::AuthenticationFailed
    );
    // A policy without an expiry, with the SAS giving none either.
    let open = acl_with(
        "pol1",
        AccessPolicy {
            expiry_ms: None,
            ..pol1("r", NOON)
        },
    );
    assert_eq!(
        code(sas_authorize(
            SDK_BLOB_POLICY,
            BLOB_PATH,
            Some(&open),
            &read,
            NOON
        )),
        ErrorCode::AuthenticationFailed
    );
}

#[test]
fn sdk_policy_sas_fields_come_from_one_side_only() {
    let list = need(container_target(), Some(Permissions::LIST));
    let permission_only = AccessPolicy {
        start_ms: None,
        expiry_ms: None,
        permission: Some(perms("rl")),
    };
    let acl = acl_with("pol2", permission_only.clone());
    assert!(sas_authorize(
        SDK_CONTAINER_POLICY_EXPIRY,
        "/acct/photos",
        Some(&acl),
        &list,
        NOON
    )
    .is_ok());
    // The SAS carries se, so a policy with an expiry too is refused.
    let both = acl_with(
        "pol2",
        AccessPolicy {
            expiry_ms: Some(NOON + HOUR),
            ..permission_only
        },
    );
    let result = sas_authorize(
        SDK_CONTAINER_POLICY_EXPIRY,
        "/acct/photos",
        Some(&both),
        &list,
        NOON,
    );
    assert!(detail(result.clone()).contains("but not both"));
    assert_eq!(code(result), ErrorCode::AuthenticationFailed);
}

#[test]
fn sas_with_a_replaced_key_is_refused() {
    let read = need(blob_target(), Some(Permissions::READ));
    let query = decode_query(SDK_BLOB_RW);
    let req = view("GET", BLOB_PATH, &query, &[]);
    let mut regenerated = keys();
    regenerated.keys[0] = SecretBytes::new(vec![3u8; 64]);
    assert_eq!(
        code(authorize(
            &req,
            &regenerated,
            None,
            &read,
            NOON,
            BugSet::NONE
        )),
        ErrorCode::AuthenticationFailed
    );
    // The same SAS signed with the secondary key survives the primary's regeneration.
    let builder = SasBuilder::for_blob("acct", "photos", BLOB)
        .permissions(perms("r"))
        .expiry(NOON + HOUR);
    let query = builder.query_pairs(&other_key());
    let req = view("GET", BLOB_PATH, &query, &[]);
    assert!(authorize(&req, &regenerated, None, &read, NOON, BugSet::NONE).is_ok());
}

#[test]
fn builder_reproduces_the_sdk_tokens() {
    let blob = SasBuilder::for_blob("acct", "photos", BLOB)
        .permissions(perms("rw"))
        .start(NOON - HOUR)
        .expiry(NOON + HOUR);
    assert_eq!(blob.string_to_sign(), SDK_BLOB_RW_STS);
    assert_eq!(blob.query_string(&key()), SDK_BLOB_RW);
    let container = SasBuilder::for_container("acct", "photos")
        .permissions(perms("rl"))
        .start(NOON - HOUR)
        .expiry(NOON + HOUR);
    assert_eq!(make_service_sas(&container, &key()), SDK_CONTAINER_RL);
    let policy = SasBuilder::for_blob("acct", "photos", BLOB).identifier("pol1");
    assert_eq!(policy.query_string(&key()), SDK_BLOB_POLICY);
    let snapshot = SasBuilder::for_blob("acct", "photos", BLOB)
        .snapshot(SNAPSHOT)
        .permissions(perms("r"))
        .start(NOON - HOUR)
        .expiry(NOON + HOUR);
    assert_eq!(snapshot.query_string(&key()), SDK_SNAPSHOT_R);
}

#[test]
fn older_versions_sign_their_own_layout() {
    let base = SasBuilder::for_blob("acct", "photos", "x")
        .permissions(perms("r"))
        .expiry(NOON + HOUR);
    let v2015 = base.clone().version("2015-04-05");
    assert_eq!(
        v2015.string_to_sign(),
        "r\n\n2024-05-06T13:00:00Z\n/blob/acct/photos/x\n\n\n\n2015-04-05\n\n\n\n\n"
    );
    let v2018 = base.clone().version("2018-11-09");
    assert_eq!(
        v2018.string_to_sign(),
        "r\n\n2024-05-06T13:00:00Z\n/blob/acct/photos/x\n\n\n\n2018-11-09\nb\n\n\n\n\n\n"
    );
    let v2020 = base.clone().version("2020-12-06");
    assert_eq!(
        v2020.string_to_sign(),
        "r\n\n2024-05-06T13:00:00Z\n/blob/acct/photos/x\n\n\n\n2020-12-06\nb\n\n\n\n\n\n\n"
    );
    let read = need(
        Target::Blob {
            container: "photos".to_string(),
            blob: "x".to_string(),
            snapshot: None,
        },
        Some(Permissions::READ),
    );
    for builder in [v2015, v2018, v2020] {
        let query = builder.query_pairs(&key());
        let req = view("GET", "/acct/photos/x", &query, &[]);
        assert!(
            authorize(&req, &keys(), None, &read, NOON, BugSet::NONE).is_ok(),
            "{builder:?}"
        );
    }
    let too_old = base.version("2015-02-21").query_pairs(&key());
    let req = view("GET", "/acct/photos/x", &too_old, &[]);
    assert_eq!(
        code(authorize(&req, &keys(), None, &read, NOON, BugSet::NONE)),
        ErrorCode::AuthenticationFailed
    );
}

#[test]
fn malformed_sas_fields_are_authentication_failed() {
    assert_eq!(parse_sas(&pairs(&[("sv", "2026-10-06")])), Ok(None));
    let valid = decode_query(SDK_BLOB_RW);
    let with = |name: &str, value: &str| {
        let mut query: Vec<(String, String)> =
            valid.iter().filter(|(n, _)| n != name).cloned().collect();
        query.push((name.to_string(), value.to_string()));
        query
    };
    let cases = [
        with("sp", "rr"),
        with("sp", ""),
        with("se", "tomorrow"),
        with("sr", "d"),
        with("sr", ""),
        with("sv", "2014-02-14"),
        with("sig", "short"),
        with("sip", "10.0.0.9-10.0.0.1"),
        with("spr", "http"),
        with("skoid", "00000000-0000-0000-0000-000000000000"),
        with("srt", "sco"),
        valid.iter().filter(|(n, _)| n != "se").cloned().collect(),
        valid
            .iter()
            .chain(valid.iter().filter(|(n, _)| n == "sp"))
            .cloned()
            .collect(),
    ];
    for query in cases {
        assert_eq!(
            parse_sas(&query).map_err(|e| e.code),
            Err(ErrorCode::AuthenticationFailed),
            "{query:?}"
        );
    }
    let missing_sr: Vec<(String, String)> =
        valid.iter().filter(|(n, _)| n != "sr").cloned().collect();
    assert_eq!(
        parse_sas(&missing_sr).map_err(|e| e.detail),
        Err(Some("sr is mandatory. Cannot be empty".to_string()))
    );
}

// ----- anonymous --------------------------------------------------------

#[test]
fn anonymous_access_follows_the_public_level() {
    let public_blobs = ContainerAcl {
        public_access: PublicAccess::Blob,
        identifiers: Vec::new(),
    };
    let read = Need {
        anonymous: Some(PublicAccess::Blob),
        ..need(blob_target(), Some(Permissions::READ))
    };
    let list = Need {
        anonymous: Some(PublicAccess::Container),
        ..need(container_target(), Some(Permissions::LIST))
    };
    let write = Need {
        anonymous: None,
        writes: true,
        ..need(blob_target(), Some(Permissions::WRITE))
    };
    let req = view("GET", BLOB_PATH, &[], &[]);
    assert_eq!(
        authorize(
            &req,
            &keys(),
            Some(&public_blobs),
            &read,
            NOON,
            BugSet::NONE
        ),
        Ok(StoragePrincipal::Anonymous)
    );
    assert_eq!(
        code(authorize(
            &req,
            &keys(),
            Some(&public_blobs),
            &list,
            NOON,
            BugSet::NONE
        )),
        ErrorCode::ResourceNotFound
    );
    assert_eq!(
        code(authorize(
            &req,
            &keys(),
            Some(&public_blobs),
            &write,
            NOON,
            BugSet::NONE
        )),
        ErrorCode::NoAuthenticationInformation
    );
    let public_container = ContainerAcl {
        public_access: PublicAccess::Container,
        identifiers: Vec::new(),
    };
    assert_eq!(
        authorize(
            &req,
            &keys(),
            Some(&public_container),
            &list,
            NOON,
            BugSet::NONE
        ),
        Ok(StoragePrincipal::Anonymous)
    );
    // `Some(PublicAccess::Off)` means never, like `None`.
    let never = Need {
        anonymous: Some(PublicAccess::Off),
        ..read.clone()
    };
    assert_eq!(
        code(authorize(
            &req,
            &keys(),
            Some(&public_container),
            &never,
            NOON,
            BugSet::NONE
        )),
        ErrorCode::ResourceNotFound
    );
    let private = ContainerAcl::default();
    assert_eq!(
        code(authorize(
            &req,
            &keys(),
            Some(&private),
            &read,
            NOON,
            BugSet::NONE
        )),
        ErrorCode::ResourceNotFound
    );
    assert_eq!(
        code(authorize(&req, &keys(), None, &read, NOON, BugSet::NONE)),
        ErrorCode::ResourceNotFound
    );
}

// ----- never a panic ----------------------------------------------------

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "sig",
            "sv",
            "sr",
            "sp",
            "st",
            "se",
            "si",
            "sip",
            "spr",
            "ses",
            "rscc",
            "snapshot",
            "versionid",
            "skoid",
            "srt",
            "SIG",
            "comp",
        ])
        .prop_map(str::to_string),
        ".{0,8}",
    ]
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "2026-10-06",
            "2015-04-05",
            "b",
            "bs",
            "bv",
            "c",
            "r",
            "rw",
            "racwdl",
            "2024-05-06T11:00:00Z",
            "2024-05-06",
            "127.0.0.1",
            "1.2.3.4-1.2.3.9",
            "https",
            "CbnpXW0Gk5Yvj2tPOwymRSdkCiEX4zEB19NFNu03gDA=",
            "pol1",
            "",
        ])
        .prop_map(str::to_string),
        ".{0,40}",
    ]
}

fn header_strategy() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![
            prop::sample::select(vec![
                "authorization",
                "x-ms-date",
                "date",
                "content-length",
                "x-ms-version",
                "x-ms-meta-a",
            ])
            .prop_map(str::to_string),
            ".{0,12}",
        ],
        prop_oneof![
            prop::sample::select(vec![
                "SharedKey acct:CbnpXW0Gk5Yvj2tPOwymRSdkCiEX4zEB19NFNu03gDA=",
                "SharedKey acct:",
                "Mon, 06 May 2024 12:00:00 GMT",
                "0",
            ])
            .prop_map(str::to_string),
            ".{0,60}",
        ],
    )
}

fn target_strategy() -> impl Strategy<Value = Target> {
    prop_oneof![
        Just(Target::Service),
        Just(container_target()),
        Just(blob_target()),
        Just(Target::Blob {
            container: "photos".to_string(),
            blob: BLOB.to_string(),
            snapshot: Some(SNAPSHOT.to_string()),
        }),
    ]
}

proptest! {
    #[test]
    fn parse_sas_and_authorize_never_panic(
        query in prop::collection::vec((name_strategy(), value_strategy()), 0..10),
        headers in prop::collection::vec(header_strategy(), 0..6),
        path in ".{0,30}",
        target in target_strategy(),
        permission in prop::option::of(prop::sample::select(vec!["r", "w", "l", "d", "rw", ""])),
        public in prop::sample::select(vec![PublicAccess::Off, PublicAccess::Blob, PublicAccess::Container]),
        anonymous in prop::option::of(prop::sample::select(vec![PublicAccess::Off, PublicAccess::Blob, PublicAccess::Container])),
        writes in any::<bool>(),
        now in 0i64..4_000_000_000_000,
        with_acl in any::<bool>(),
    ) {
        if let Err(error) = parse_sas(&query) {
            prop_assert_eq!(error.code.status(), 403);
        }
        let acl = ContainerAcl {
            public_access: public,
            identifiers: vec![SignedIdentifier { id: "pol1".to_string(), policy: pol1("r", NOON + HOUR) }],
        };
        let need = Need {
            target,
            sas_permission: permission.map(perms),
            anonymous,
            writes,
        };
        let req = view("GET", &path, &query, &headers);
        let result = authorize(&req, &keys(), with_acl.then_some(&acl), &need, now, BugSet::NONE);
        if let Err(error) = result {
            prop_assert!(matches!(error.code.status(), 400 | 401 | 403 | 404), "{:?}", error);
            let text = error.detail.unwrap_or_default();
            prop_assert!(!text.contains("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"));
        }
    }
}
