//! Shared Key: the canonical string-to-sign, signing a request, and checking
//! an `Authorization` header (STO-1, STO-2).

use super::keys::sign;
use super::sas::token::valid_version;
use super::{auth_failed, AccountKeys, KeySlot, RequestView};
use crate::storage::clock::{format_http_date, parse_http_date, UnixMs};
use crate::storage::error::{ErrorCode, StorageError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// How far `x-ms-date` (or `Date`) may be from the service's clock, either
/// way, for a Shared Key request.
pub const MAX_CLOCK_SKEW_MS: UnixMs = 15 * 60 * 1000;

/// From this `x-ms-version` a zero `Content-Length` is signed as empty.
const EMPTY_ZERO_LENGTH_VERSION: &str = "2015-02-21";

/// The standard headers of the Shared Key string-to-sign, in order.
const SIGNED_HEADERS: [&str; 11] = [
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
];

/// The Shared Key string-to-sign of `req` for `account`, as the service
/// builds it (and as the Azure SDKs sign it):
///
/// ```text
/// VERB \n Content-Encoding \n Content-Language \n Content-Length \n
/// Content-MD5 \n Content-Type \n Date \n If-Modified-Since \n If-Match \n
/// If-None-Match \n If-Unmodified-Since \n Range \n
/// CanonicalizedHeaders CanonicalizedResource
/// ```
///
/// - `Content-Length` is empty when it is `0` (from `x-ms-version`
///   2015-02-21 on); `Date` is empty when the request carries `x-ms-date`.
/// - CanonicalizedHeaders: every `x-ms-*` header, lowercased, value trimmed,
///   repeated headers joined with `,`, each as `name:value\n`, sorted the way
///   the service sorts them (a culture-aware order in which `-` and `'` only
///   break ties; the Python SDK's `_storage_header_sort` emulates it).
/// - CanonicalizedResource: `/` + account + the raw URL path. Path-style
///   URLs carry the account themselves, so it appears twice
///   (`/acct/acct/container/blob`), exactly what the SDK signs for a
///   path-style endpoint; then, for each query parameter sorted by its
///   lowercased name, `\nname:value` with the decoded values sorted and
///   joined with `,`.
pub fn shared_key_string_to_sign(req: &RequestView<'_>, account: &str) -> String {
    shared_key_string(req, account, false)
}

/// `redact`: replace the values of headers that carry secrets (a
/// customer-provided encryption key, a copy source's credentials) so the
/// string can be echoed in a refusal.
fn shared_key_string(req: &RequestView<'_>, account: &str, redact: bool) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(req.method);
    out.push('\n');
    let has_ms_date = req.header("x-ms-date").is_some();
    let version = req.header("x-ms-version");
    for name in SIGNED_HEADERS {
        let value = match name {
            "date" if has_ms_date => None,
            "content-length" => req.header(name).filter(|length| {
                length != "0"
                    || version
                        .as_deref()
                        .is_some_and(|v| valid_version(v) && v < EMPTY_ZERO_LENGTH_VERSION)
            }),
            _ => req.header(name),
        };
        if let Some(value) = value {
            out.push_str(&value);
        }
        out.push('\n');
    }
    for (name, value) in canonicalized_headers(req) {
        out.push_str(&name);
        out.push(':');
        if redact && secret_header(&name) {
            out.push_str("[REDACTED]");
        } else {
            out.push_str(&value);
        }
        out.push('\n');
    }
    out.push('/');
    out.push_str(account);
    out.push_str(req.path);
    let mut params: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, value) in req.query {
        params
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(value.as_str());
    }
    for (name, mut values) in params {
        values.sort_unstable();
        out.push('\n');
        out.push_str(&name);
        out.push(':');
        out.push_str(&values.join(","));
    }
    out
}

fn secret_header(name: &str) -> bool {
    name.contains("authorization") || name.contains("encryption-key")
}

/// The `x-ms-*` headers, lowercased and trimmed, repeated ones joined, in
/// the service's order.
pub(super) fn canonicalized_headers(req: &RequestView<'_>) -> Vec<(String, String)> {
    let mut merged: Vec<(String, String)> = Vec::new();
    for (name, value) in req.headers {
        let name = name.trim().to_ascii_lowercase();
        if !name.starts_with("x-ms-") {
            continue;
        }
        let value = value.trim();
        match merged.iter_mut().find(|(known, _)| *known == name) {
            Some((_, joined)) => {
                joined.push(',');
                joined.push_str(value);
            }
            None => merged.push((name, value.to_string())),
        }
    }
    merged.sort_by(|(a, _), (b, _)| header_name_order(a, b));
    merged
}

/// The order in which the service sorts canonicalized header names: first
/// by the characters that carry weight (punctuation `! # $ % & * . ^ _ \` | ~ +`,
/// then digits, then letters, case-insensitively; everything else, `-` and
/// `'` among them, is skipped), then, for names equal so far, position by
/// position where an ordinary character < the end of the name < `'` < `-`;
/// finally byte order, so the order is total.
fn header_name_order(a: &str, b: &str) -> Ordering {
    let primary = |name: &str| {
        name.bytes()
            .map(primary_weight)
            .filter(|weight| *weight != 0)
            .collect::<Vec<u8>>()
    };
    match primary(a).cmp(&primary(b)) {
        Ordering::Equal => {}
        other => return other,
    }
    let (mut left, mut right) = (a.bytes(), b.bytes());
    loop {
        match (left.next(), right.next()) {
            (None, None) => break,
            (x, y) => {
                let (x, y) = (secondary_rank(x), secondary_rank(y));
                if x != y {
                    return x.cmp(&y);
                }
            }
        }
    }
    a.as_bytes().cmp(b.as_bytes())
}

fn primary_weight(byte: u8) -> u8 {
    match byte {
        b'!' => 1,
        b'#' => 2,
        b'$' => 3,
        b'%' => 4,
        b'&' => 5,
        b'*' => 6,
        b'.' => 7,
        b'^' => 8,
        b'_' => 9,
        b'`' => 10,
        b'|' => 11,
        b'~' => 12,
        b'+' => 13,
        b'0'..=b'9' => 20 + (byte - b'0'),
        b'a'..=b'z' => 40 + (byte - b'a'),
        b'A'..=b'Z' => 40 + (byte - b'A'),
        _ => 0,
    }
}

fn secondary_rank(byte: Option<u8>) -> u8 {
    match byte {
        None => 1,
        Some(b'\'') => 2,
        Some(b'-') => 3,
        Some(_) => 0,
    }
}

/// The `Authorization` header value that signs `req` with `key`:
/// `SharedKey account:signature`.
pub fn sign_shared_key(req: &RequestView<'_>, account: &str, key: &[u8]) -> String {
    let string_to_sign = shared_key_string_to_sign(req, account);
    format!("SharedKey {account}:{}", sign(key, &string_to_sign))
}

/// Checks a Shared Key `Authorization` header; the slot whose key signed it.
pub(super) fn authenticate_shared_key(
    req: &RequestView<'_>,
    keys: &AccountKeys,
    now_ms: UnixMs,
) -> Result<KeySlot, StorageError> {
    if req.header_count("authorization") > 1 {
        return Err(StorageError::with_detail(
            ErrorCode::InvalidAuthenticationInfo,
            "Duplicate authorization headers found",
        ));
    }
    let value = req.header("authorization").unwrap_or_default();
    let malformed = || {
        StorageError::with_detail(
            ErrorCode::InvalidAuthenticationInfo,
            "The Authorization header must be 'SharedKey account:signature'.",
        )
    };
    let (scheme, parameters) = value.trim().split_once(' ').ok_or_else(malformed)?;
    let parameters = parameters.trim();
    if scheme.is_empty() || parameters.is_empty() {
        return Err(malformed());
    }

    // The clock check comes before the signature, as in the real service.
    let date_text = req.header("x-ms-date").or_else(|| req.header("date"));
    let Some(date_text) = date_text else {
        return Err(auth_failed("Request date header not specified"));
    };
    let Some(date_ms) = parse_http_date(&date_text) else {
        return Err(auth_failed("The Date header in the request is incorrect."));
    };
    if date_ms < now_ms.saturating_sub(MAX_CLOCK_SKEW_MS) {
        return Err(auth_failed(format!(
            "Request date header too old: '{}'",
            format_http_date(date_ms)
        )));
    }
    if date_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
        return Err(auth_failed(format!(
            "Request date header too far in the future: '{}'",
            format_http_date(date_ms)
        )));
    }

    if !scheme.eq_ignore_ascii_case("SharedKey") {
        let shown: String = scheme.chars().take(32).collect();
        return Err(auth_failed(format!(
            "Authentication scheme {shown} is not supported"
        )));
    }
    let mut parts = parameters.split(':').filter(|part| !part.is_empty());
    let (Some(account), Some(signature), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed());
    };
    if account != keys.name || req.url_account() != keys.name {
        return Err(auth_failed(
            "The account in the Authorization header is not the account of the requested resource.",
        ));
    }
    let signature = STANDARD.decode(signature.trim()).map_err(|_| {
        StorageError::with_detail(
            ErrorCode::InvalidAuthenticationInfo,
            "Signature is not a valid base64 string.",
        )
    })?;
    let string_to_sign = shared_key_string_to_sign(req, &keys.name);
    // claim: STO-1 (the signature verifies under a key the account holds)
    // claim: STO-2 (only the keys as they are now: a replaced key is gone)
    keys.verify(&string_to_sign, &signature).ok_or_else(|| {
        auth_failed(format!(
            "The MAC signature found in the HTTP request is not the same as any computed \
             signature. Server used following string to sign: '{}'.",
            shared_key_string(req, &keys.name, true)
        ))
    })
}
