//! Who may do what: Shared Key and service SAS verification, stored access
//! policies and public access, as pure functions (STO-1 to STO-5).
//!
//! Nothing here does IO or reads the clock: the shell passes the request as
//! plain data ([`RequestView`]), the account's keys as they are now
//! ([`AccountKeys`]), the container's ACL as it is now and `now_ms`.
//! [`authorize`] is the one decision; the rest are its parts, public so that
//! tests and the conformance harness can sign real requests with the same
//! canonicalization the service checks ([`sign_shared_key`], [`SasBuilder`]).
//!
//! The formats follow what the Azure SDK for Python (azure-storage-blob
//! 12.31.1, service version 2026-10-06) signs, and the refusal details
//! follow the real service's `AuthenticationErrorDetail` texts where they are
//! known. Signatures are compared in constant time (`Mac::verify_slice`).

use super::acl::{ContainerAcl, Permissions, PublicAccess};
use super::clock::{format_http_date, format_iso8601, parse_http_date, parse_iso8601, UnixMs};
use super::error::{ErrorCode, StorageError};
use crate::bugs::{BugSet, SeededBug};
use crate::secret::SecretBytes;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha256;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

type HmacSha256 = Hmac<Sha256>;

/// How far `x-ms-date` (or `Date`) may be from the service's clock, either
/// way, for a Shared Key request.
pub const MAX_CLOCK_SKEW_MS: UnixMs = 15 * 60 * 1000;

/// The oldest signed version (`sv`) of a service SAS this service accepts.
pub const OLDEST_SAS_VERSION: &str = "2015-04-05";

/// The newest signed version whose string-to-sign layout is known here (the
/// default of azure-storage-blob 12.31.1). Later versions are signed with
/// this layout too.
pub const LATEST_SAS_VERSION: &str = "2026-10-06";

/// From this version the string-to-sign carries `signedResource` and
/// `signedSnapshotTime`, and `sr=bs` exists.
const SAS_RESOURCE_VERSION: &str = "2018-11-09";

/// From this version `sr=bv` (a blob version) exists.
const SAS_BLOB_VERSION_VERSION: &str = "2019-12-12";

/// From this version the string-to-sign carries `signedEncryptionScope`.
const SAS_ENCRYPTION_SCOPE_VERSION: &str = "2020-12-06";

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

/// Query parameters of a service SAS (all but `sig`, which is read first).
const SAS_FIELDS: [&str; 15] = [
    "sv", "sr", "sp", "st", "se", "si", "sip", "spr", "ses", "rscc", "rscd", "rsce", "rscl",
    "rsct", "sig",
];

/// Query parameters that make a SAS a user delegation SAS (or a directory
/// SAS on a hierarchical namespace), which this service does not issue.
const USER_DELEGATION_FIELDS: [&str; 14] = [
    "skoid", "sktid", "skt", "ske", "sks", "skv", "skdutid", "sduoid", "saoid", "suoid", "scid",
    "srh", "srq", "sdd",
];

/// Query parameters that make a SAS an account SAS, which this service does
/// not accept.
const ACCOUNT_SAS_FIELDS: [&str; 2] = ["ss", "srt"];

/// What a SAS query value may leave unescaped (what the Python SDK's
/// `quote` leaves: unreserved characters and `/`).
const SAS_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The detail of every malformed SAS field, as the real service words it.
const NOT_WELL_FORMED: &str = "Signature fields not well formed.";

// ----- the request ----------------------------------------------------------

/// A request as [`authorize`] sees it: plain data, borrowed from the shell.
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    /// The HTTP method as received (upper case: `GET`, `PUT`, ...).
    pub method: &'a str,
    /// The URL path exactly as received, still percent-encoded and
    /// path-style: `/ACCOUNT/container/blob`.
    pub path: &'a str,
    /// The query parameters, percent-decoded, in the order received.
    pub query: &'a [(String, String)],
    /// The headers, names lowercased, values as received, in order.
    pub headers: &'a [(String, String)],
    /// The caller's address, if the shell knows it (a SAS with `sip` is
    /// refused without it).
    pub peer_ip: Option<IpAddr>,
}

impl<'a> RequestView<'a> {
    /// Every value of header `name` (any case), joined with `,`; `None` if
    /// the request does not carry it.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut values = self
            .headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim());
        let first = values.next()?;
        Some(values.fold(first.to_string(), |mut joined, value| {
            joined.push(',');
            joined.push_str(value);
            joined
        }))
    }

    /// The account named by the path's first segment.
    pub fn url_account(&self) -> &'a str {
        let path = self.path;
        let rest = path.strip_prefix('/').unwrap_or(path);
        rest.split('/').next().unwrap_or_default()
    }

    fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .count()
    }
}

// ----- keys -----------------------------------------------------------------

/// Which of an account's two keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeySlot {
    /// `key1`.
    Primary,
    /// `key2`.
    Secondary,
}

/// An account's name and its two keys as they are now.
///
/// A key that was regenerated is simply no longer here, so a signature made
/// with it verifies under neither slot from the next request on (STO-2). An
/// empty key verifies nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountKeys {
    /// The account name.
    pub name: String,
    /// The keys: `[primary, secondary]`.
    pub keys: [SecretBytes; 2],
}

impl AccountKeys {
    /// The key in `slot`.
    pub fn key(&self, slot: KeySlot) -> &SecretBytes {
        let [primary, secondary] = &self.keys;
        match slot {
            KeySlot::Primary => primary,
            KeySlot::Secondary => secondary,
        }
    }

    /// The slot whose key signed `string_to_sign` into `signature`, checked
    /// in constant time under both keys; primary first.
    pub fn verify(&self, string_to_sign: &str, signature: &[u8]) -> Option<KeySlot> {
        let primary = verify_with(
            self.key(KeySlot::Primary).expose(),
            string_to_sign,
            signature,
        );
        let secondary = verify_with(
            self.key(KeySlot::Secondary).expose(),
            string_to_sign,
            signature,
        );
        if primary {
            Some(KeySlot::Primary)
        } else if secondary {
            Some(KeySlot::Secondary)
        } else {
            None
        }
    }
}

fn mac_for(key: &[u8]) -> Option<HmacSha256> {
    <HmacSha256 as Mac>::new_from_slice(key).ok()
}

fn verify_with(key: &[u8], string_to_sign: &str, signature: &[u8]) -> bool {
    if key.is_empty() {
        return false;
    }
    let Some(mut mac) = mac_for(key) else {
        return false;
    };
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(signature).is_ok()
}

/// The base64 HMAC-SHA256 of `string_to_sign` under `key`.
pub fn sign(key: &[u8], string_to_sign: &str) -> String {
    // HMAC takes a key of any length, so `mac_for` never fails.
    match mac_for(key) {
        Some(mut mac) => {
            mac.update(string_to_sign.as_bytes());
            STANDARD.encode(mac.finalize().into_bytes())
        }
        None => String::new(),
    }
}

// ----- Shared Key -----------------------------------------------------------

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
fn canonicalized_headers(req: &RequestView<'_>) -> Vec<(String, String)> {
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

fn auth_failed(detail: impl Into<String>) -> StorageError {
    StorageError::with_detail(ErrorCode::AuthenticationFailed, detail)
}

/// Checks a Shared Key `Authorization` header; the slot whose key signed it.
fn authenticate_shared_key(
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

// ----- service SAS ----------------------------------------------------------

/// What a service SAS is signed for (`sr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SasResource {
    /// `b`: one blob (its snapshots too).
    Blob,
    /// `bs`: one snapshot of a blob, named by the request's `snapshot`.
    BlobSnapshot,
    /// `bv`: one version of a blob, named by the request's `versionid`.
    BlobVersion,
    /// `c`: a container: every blob in it, and listing it.
    Container,
}

impl SasResource {
    /// Parses `sr`.
    pub fn parse(text: &str) -> Option<SasResource> {
        match text {
            "b" => Some(SasResource::Blob),
            "bs" => Some(SasResource::BlobSnapshot),
            "bv" => Some(SasResource::BlobVersion),
            "c" => Some(SasResource::Container),
            _ => None,
        }
    }

    /// The `sr` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            SasResource::Blob => "b",
            SasResource::BlobSnapshot => "bs",
            SasResource::BlobVersion => "bv",
            SasResource::Container => "c",
        }
    }
}

/// A time field of a SAS: the text as signed and the instant it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTime {
    /// The text exactly as in the query (it is what was signed).
    pub text: String,
    /// The instant.
    pub at_ms: UnixMs,
}

impl SignedTime {
    /// The time `at_ms`, written as the SDKs write it (`2024-05-01T12:00:00Z`).
    pub fn at(at_ms: UnixMs) -> SignedTime {
        SignedTime {
            text: format_iso8601(at_ms),
            at_ms,
        }
    }
}

/// An inclusive range of addresses (`sip`): one address or `first-last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpRange {
    /// The first address.
    pub first: IpAddr,
    /// The last address (the first, for a single address).
    pub last: IpAddr,
}

impl IpRange {
    /// Parses `a.b.c.d` or `a.b.c.d-e.f.g.h` (IPv6 likewise); both ends of
    /// the same family, in order.
    pub fn parse(text: &str) -> Option<IpRange> {
        let (first, last) = match text.split_once('-') {
            Some((first, last)) => (first.trim().parse().ok()?, last.trim().parse().ok()?),
            None => {
                let only: IpAddr = text.trim().parse().ok()?;
                (only, only)
            }
        };
        let range = IpRange { first, last };
        match (first, last) {
            (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => Some(range),
            (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => Some(range),
            _ => None,
        }
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as
    /// its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.first, self.last, ip.to_canonical()) {
            (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(x)) => a <= x && x <= b,
            (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(x)) => a <= x && x <= b,
            _ => false,
        }
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// The `sip` field: the text as signed and the range it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedIp {
    /// The text exactly as in the query.
    pub text: String,
    /// The range.
    pub range: IpRange,
}

/// A service SAS as parsed from the query.
///
/// `spr` is informational here: this service speaks plain HTTP on loopback,
/// and the code the real service answers for an `https`-only SAS over HTTP
/// (`AuthorizationProtocolMismatch`) is not one of its [`ErrorCode`]s, so an
/// `https`-only SAS is accepted over HTTP. `ses` is signed but not enforced
/// (there are no encryption scopes here). The `rsc*` overrides are for the
/// shell to apply to a read's response headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SasToken {
    /// `sv`: the signed version, which picks the string-to-sign layout.
    pub version: String,
    /// `sr`: what it is signed for.
    pub resource: SasResource,
    /// `sp`: the permissions (each letter at most once); `None` if left to a
    /// stored policy.
    pub permissions: Option<Permissions>,
    /// `st`: the start; `None` means from whenever it is used.
    pub start: Option<SignedTime>,
    /// `se`: the expiry; `None` only if left to a stored policy.
    pub expiry: Option<SignedTime>,
    /// `si`: the stored access policy it follows.
    pub identifier: Option<String>,
    /// `sip`: the addresses it may be used from.
    pub ip: Option<SignedIp>,
    /// `spr`: `https` or `https,http` (informational, see above).
    pub protocol: Option<String>,
    /// `ses`: the encryption scope (signed from 2020-12-06 on).
    pub encryption_scope: Option<String>,
    /// The snapshot time (`sr=bs`: the request's `snapshot`) or version
    /// (`sr=bv`: the request's `versionid`) the request names; `None`
    /// otherwise. It is signed as `signedSnapshotTime`.
    pub signed_time: Option<String>,
    /// `rscc`: the `Cache-Control` a read answers with.
    pub cache_control: Option<String>,
    /// `rscd`: the `Content-Disposition` a read answers with.
    pub content_disposition: Option<String>,
    /// `rsce`: the `Content-Encoding` a read answers with.
    pub content_encoding: Option<String>,
    /// `rscl`: the `Content-Language` a read answers with.
    pub content_language: Option<String>,
    /// `rsct`: the `Content-Type` a read answers with.
    pub content_type: Option<String>,
    /// `sig`, decoded: 32 bytes of HMAC-SHA256.
    pub signature: SecretBytes,
}

/// Whether `text` is a version: `YYYY-MM-DD`.
fn valid_version(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        })
}

/// The one value of query parameter `name` (any case); two of them are a
/// malformed SAS.
fn single<'q>(query: &'q [(String, String)], name: &str) -> Result<Option<&'q str>, StorageError> {
    let mut values = query
        .iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(auth_failed(NOT_WELL_FORMED));
    }
    Ok(first)
}

/// An optional field: absent is fine, present but blank is not.
fn optional<'q>(
    query: &'q [(String, String)],
    name: &str,
) -> Result<Option<&'q str>, StorageError> {
    match single(query, name)? {
        Some(value) if value.trim().is_empty() => Err(auth_failed(format!(
            "{name} is optional but cannot be empty"
        ))),
        other => Ok(other),
    }
}

fn mandatory<'q>(query: &'q [(String, String)], name: &str) -> Result<&'q str, StorageError> {
    optional(query, name)?
        .ok_or_else(|| auth_failed(format!("{name} is mandatory. Cannot be empty")))
}

fn signed_time(text: Option<&str>) -> Result<Option<SignedTime>, StorageError> {
    text.map(|text| {
        parse_iso8601(text)
            .map(|at_ms| SignedTime {
                text: text.to_string(),
                at_ms,
            })
            .ok_or_else(|| auth_failed(NOT_WELL_FORMED))
    })
    .transpose()
}

/// Parses a service SAS from the (decoded) query.
///
/// `Ok(None)`: the query carries no `sig`, so the request is not a SAS
/// request. A malformed SAS is `AuthenticationFailed` with the real
/// service's detail (`sr is mandatory. Cannot be empty`, `Signature fields
/// not well formed.`, ...): a missing or blank mandatory field, a blank
/// optional one, a repeated one, a date that does not parse, permissions
/// with an unknown or repeated letter, an unknown `sr`, a signature that is not 32
/// bytes of base64, a version older than [`OLDEST_SAS_VERSION`] (or `sr=bs`
/// before 2018-11-09, `sr=bv` before 2019-12-12). User delegation SAS
/// (`skoid` and friends) and account SAS (`ss`, `srt`) are refused as not
/// supported. Parameter names match case-insensitively, as in the service.
pub fn parse_sas(query: &[(String, String)]) -> Result<Option<SasToken>, StorageError> {
    let Some(sig) = single(query, "sig")? else {
        return Ok(None);
    };
    let present = |name: &str| query.iter().any(|(key, _)| key.eq_ignore_ascii_case(name));
    if USER_DELEGATION_FIELDS.iter().any(|name| present(name)) {
        return Err(auth_failed(
            "User delegation SAS is not supported by this service; sign with an account key.",
        ));
    }
    if ACCOUNT_SAS_FIELDS.iter().any(|name| present(name)) {
        return Err(auth_failed(
            "Account SAS is not supported by this service; use a service SAS.",
        ));
    }
    for name in SAS_FIELDS {
        single(query, name)?;
    }
    if sig.trim().is_empty() {
        return Err(auth_failed("sig is mandatory. Cannot be empty"));
    }
    let signature = STANDARD
        .decode(sig.trim())
        .map_err(|_| auth_failed(NOT_WELL_FORMED))?;
    if signature.len() != 32 {
        return Err(auth_failed("Signature size is invalid"));
    }
    let resource =
        SasResource::parse(mandatory(query, "sr")?).ok_or_else(|| auth_failed(NOT_WELL_FORMED))?;
    let identifier = optional(query, "si")?.map(str::to_string);
    let version = mandatory(query, "sv")?.trim();
    if !valid_version(version) || version < OLDEST_SAS_VERSION {
        return Err(auth_failed(format!(
            "sv is either not in the correct format or is not equal or later than version \
             {OLDEST_SAS_VERSION}"
        )));
    }
    let too_old_for = |since: &str| version < since;
    if (resource == SasResource::BlobSnapshot && too_old_for(SAS_RESOURCE_VERSION))
        || (resource == SasResource::BlobVersion && too_old_for(SAS_BLOB_VERSION_VERSION))
    {
        return Err(auth_failed(NOT_WELL_FORMED));
    }
    let start = signed_time(optional(query, "st")?)?;
    let expiry = if identifier.is_some() {
        signed_time(optional(query, "se")?)?
    } else {
        signed_time(Some(mandatory(query, "se")?))?
    };
    let ip = optional(query, "sip")?
        .map(|text| {
            IpRange::parse(text)
                .map(|range| SignedIp {
                    text: text.to_string(),
                    range,
                })
                .ok_or_else(|| auth_failed(NOT_WELL_FORMED))
        })
        .transpose()?;
    let protocol = optional(query, "spr")?;
    if protocol.is_some_and(|p| p != "https" && p != "https,http") {
        return Err(auth_failed(NOT_WELL_FORMED));
    }
    let permissions_text = if identifier.is_some() {
        optional(query, "sp")?
    } else {
        Some(mandatory(query, "sp")?)
    };
    let permissions = permissions_text
        .map(|text| Permissions::parse(text).ok_or_else(|| auth_failed(NOT_WELL_FORMED)))
        .transpose()?;
    let signed_time = match resource {
        SasResource::BlobSnapshot => single(query, "snapshot")?,
        SasResource::BlobVersion => single(query, "versionid")?,
        SasResource::Blob | SasResource::Container => None,
    };
    let owned = |name: &str| optional(query, name).map(|value| value.map(str::to_string));
    Ok(Some(SasToken {
        version: version.to_string(),
        resource,
        permissions,
        start,
        expiry,
        identifier,
        ip,
        protocol: protocol.map(str::to_string),
        encryption_scope: owned("ses")?,
        signed_time: signed_time.map(str::to_string),
        cache_control: owned("rscc")?,
        content_disposition: owned("rscd")?,
        content_encoding: owned("rsce")?,
        content_language: owned("rscl")?,
        content_type: owned("rsct")?,
        signature: SecretBytes::new(signature),
    }))
}

/// The canonicalized resource of a service SAS (names decoded):
/// `/blob/ACCOUNT/container` or `/blob/ACCOUNT/container/blob`.
pub fn sas_canonical_resource(account: &str, container: &str, blob: Option<&str>) -> String {
    let mut out = format!("/blob/{account}/{container}");
    if let Some(blob) = blob {
        out.push('/');
        out.push_str(blob);
    }
    out
}

/// The string-to-sign of a service SAS signed with an account key, for the
/// token's version; absent fields are empty lines.
///
/// From 2020-12-06 on (2026-10-06 included):
///
/// ```text
/// sp \n st \n se \n canonicalizedResource \n si \n sip \n spr \n sv \n sr \n
/// signedSnapshotTime \n ses \n rscc \n rscd \n rsce \n rscl \n rsct
/// ```
///
/// 2018-11-09 up to 2020-12-06: the same without `ses`. 2015-04-05 up to
/// 2018-11-09: the same without `sr`, `signedSnapshotTime` and `ses`.
/// (A user delegation SAS has more fields; it is not accepted here.)
pub fn sas_string_to_sign(token: &SasToken, canonical_resource: &str) -> String {
    sas_string(token, canonical_resource, token.signed_time.as_deref())
}

fn sas_string(token: &SasToken, canonical_resource: &str, signed_time: Option<&str>) -> String {
    let text = |field: &Option<String>| field.clone().unwrap_or_default();
    let mut fields = vec![
        token.permissions.map(|p| p.to_string()).unwrap_or_default(),
        token
            .start
            .as_ref()
            .map(|t| t.text.clone())
            .unwrap_or_default(),
        token
            .expiry
            .as_ref()
            .map(|t| t.text.clone())
            .unwrap_or_default(),
        canonical_resource.to_string(),
        text(&token.identifier),
        token
            .ip
            .as_ref()
            .map(|ip| ip.text.clone())
            .unwrap_or_default(),
        text(&token.protocol),
        token.version.clone(),
    ];
    if token.version.as_str() >= SAS_RESOURCE_VERSION {
        fields.push(token.resource.as_str().to_string());
        fields.push(signed_time.unwrap_or_default().to_string());
    }
    if token.version.as_str() >= SAS_ENCRYPTION_SCOPE_VERSION {
        fields.push(text(&token.encryption_scope));
    }
    fields.extend([
        text(&token.cache_control),
        text(&token.content_disposition),
        text(&token.content_encoding),
        text(&token.content_language),
        text(&token.content_type),
    ]);
    fields.join("\n")
}

// ----- the decision ---------------------------------------------------------

/// What a request addresses (names decoded).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The account itself (list containers, account info).
    Service,
    /// A container (its properties, ACL, metadata, blob list).
    Container {
        /// The container name.
        container: String,
    },
    /// A blob, or one of its snapshots.
    Blob {
        /// The container name.
        container: String,
        /// The blob name.
        blob: String,
        /// The snapshot the request names, if any.
        snapshot: Option<String>,
    },
}

/// What an operation needs to be authorized.
///
/// Which SAS scope may do it follows from the target: a container SAS
/// (`sr=c`) covers the container and every blob in it; a blob SAS
/// (`sr=b`/`bs`/`bv`) covers only its blob, never a container-level
/// operation (a list needs `sr=c`); no service SAS covers a service-level
/// operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    /// What the request addresses.
    pub target: Target,
    /// The permission a SAS must grant: any one of the letters given
    /// suffices (the service's rules are of the form "c or w"; pass one
    /// letter where one is needed); the empty set: any valid SAS. `None`:
    /// only the account key may do this (a SAS is refused with
    /// `AuthorizationFailure`).
    pub sas_permission: Option<Permissions>,
    /// The public level at which an anonymous caller may do it; `None`
    /// (and `Some(PublicAccess::Off)`, treated alike): never anonymously.
    pub anonymous: Option<PublicAccess>,
    /// Whether the operation writes: an anonymous write is refused 401
    /// `NoAuthenticationInformation`, an anonymous read beyond the public
    /// level 404 `ResourceNotFound`, so that existence does not leak.
    pub writes: bool,
}

/// Who a request was authorized as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoragePrincipal {
    /// Shared Key, with the key in `slot`.
    Account {
        /// The key that verified.
        slot: KeySlot,
    },
    /// A service SAS.
    Sas {
        /// What it grants (from the SAS or its stored policy, as now).
        permissions: Permissions,
        /// What it was signed for.
        resource: SasResource,
    },
    /// Nobody: a public read.
    Anonymous,
}

/// Authorizes `req` for `need`, with the account's keys as they are now and
/// the container's ACL as it is now (`acl` is `None` when the container does
/// not exist).
///
/// - An `Authorization` header means Shared Key (only the `SharedKey`
///   scheme; others are refused as not supported): a malformed header is
///   `InvalidAuthenticationInfo`; a missing, unparseable or more than 15
///   minutes skewed `x-ms-date`/`Date`, another account's name, or a
///   signature that verifies under neither key is `AuthenticationFailed`.
/// - Otherwise a `sig` in the query means a service SAS: malformed →
///   `AuthenticationFailed`; a scope that cannot cover the target →
///   `AuthorizationResourceTypeMismatch`; a signature that does not verify
///   for the resource the request addresses (another blob or container, a
///   replaced key) → `AuthenticationFailed`; an operation only the account
///   key may do → `AuthorizationFailure`; a missing stored policy, a field
///   in both the SAS and its policy, a time outside the window or an address
///   outside `sip` → `AuthenticationFailed`; a missing permission →
///   `AuthorizationPermissionMismatch`.
/// - Otherwise the request is anonymous: allowed at the container's public
///   level, else `NoAuthenticationInformation` for a write and
///   `ResourceNotFound` for a read.
pub fn authorize(
    req: &RequestView<'_>,
    keys: &AccountKeys,
    acl: Option<&ContainerAcl>,
    need: &Need,
    now_ms: UnixMs,
    bugs: BugSet,
) -> Result<StoragePrincipal, StorageError> {
    if req.header_count("authorization") > 0 {
        let slot = match authenticate_shared_key(req, keys, now_ms) {
            Err(error)
                if bugs.has(SeededBug::SignatureNotVerified)
                    && error.code == ErrorCode::AuthenticationFailed =>
            {
                KeySlot::Primary
            }
            other => other?,
        };
        return Ok(StoragePrincipal::Account { slot });
    }
    if let Some(token) = parse_sas(req.query)? {
        return authorize_sas(req, keys, acl, need, &token, now_ms, bugs);
    }
    if bugs.has(SeededBug::AnonymousWriteOnPublic)
        && need.writes
        && acl.is_some_and(|acl| acl.public_access != PublicAccess::Off)
    {
        return Ok(StoragePrincipal::Anonymous);
    }
    authorize_anonymous(acl, need)
}

fn authorize_sas(
    req: &RequestView<'_>,
    keys: &AccountKeys,
    acl: Option<&ContainerAcl>,
    need: &Need,
    token: &SasToken,
    now_ms: UnixMs,
    bugs: BugSet,
) -> Result<StoragePrincipal, StorageError> {
    // claim: STO-3 (only its scope: the signed resource type must be able to
    // cover what the request addresses)
    let (container, blob, signed_time) = match (&need.target, token.resource) {
        (Target::Service, _) => {
            return Err(StorageError::with_detail(
                ErrorCode::AuthorizationResourceTypeMismatch,
                "A service SAS cannot authorize an account-level operation.",
            ))
        }
        (Target::Container { .. }, SasResource::Blob)
        | (Target::Container { .. }, SasResource::BlobSnapshot)
        | (Target::Container { .. }, SasResource::BlobVersion) => {
            return Err(StorageError::with_detail(
                ErrorCode::AuthorizationResourceTypeMismatch,
                "A blob SAS cannot authorize a container-level operation.",
            ))
        }
        (Target::Container { container }, SasResource::Container)
        | (Target::Blob { container, .. }, SasResource::Container) => (container, None, None),
        (
            Target::Blob {
                container, blob, ..
            },
            SasResource::Blob,
        ) => (container, Some(blob.as_str()), None),
        (
            Target::Blob {
                container,
                blob,
                snapshot,
            },
            SasResource::BlobSnapshot,
        ) => (container, Some(blob.as_str()), snapshot.as_deref()),
        (
            Target::Blob {
                container, blob, ..
            },
            SasResource::BlobVersion,
        ) => (container, Some(blob.as_str()), token.signed_time.as_deref()),
    };

    // The string-to-sign names the resource the request addresses, so a SAS
    // for another blob or container does not verify.
    let canonical_resource = sas_canonical_resource(&keys.name, container, blob);
    let string_to_sign = sas_string(token, &canonical_resource, signed_time);
    // claim: STO-1 (a SAS signed by a key the account holds)
    // claim: STO-2 (a replaced key no longer verifies)
    // claim: STO-3 (only its scope: the signature covers the resource)
    if keys
        .verify(&string_to_sign, token.signature.expose())
        .is_none()
    {
        return Err(auth_failed(format!(
            "Signature did not match. String to sign used was {string_to_sign}"
        )));
    }

    let Some(needed) = need.sas_permission else {
        return Err(StorageError::with_detail(
            ErrorCode::AuthorizationFailure,
            "This operation needs the account key; a SAS cannot authorize it.",
        ));
    };

    // claim: STO-4 (a policy-bound SAS takes its missing fields from the
    // stored policy as it is now: changed or removed, from this request on)
    let (permissions, start_ms, expiry_ms) = match &token.identifier {
        None => (
            token.permissions,
            token.start.as_ref().map(|t| t.at_ms),
            token.expiry.as_ref().map(|t| t.at_ms),
        ),
        Some(id) => {
            let policy = acl.and_then(|acl| acl.policy(id)).ok_or_else(|| {
                auth_failed("SAS identifier cannot be found for specified signed identifier")
            })?;
            if token.expiry.is_none() && policy.expiry_ms.is_none() {
                return Err(auth_failed(
                    "Signed expiry must be specified in signature or SAS identifier",
                ));
            }
            if token.permissions.is_none() && policy.permission.is_none() {
                return Err(auth_failed(
                    "Signed permission must be specified in signature or SAS identifier",
                ));
            }
            if (token.start.is_some() && policy.start_ms.is_some())
                || (token.expiry.is_some() && policy.expiry_ms.is_some())
                || (token.permissions.is_some() && policy.permission.is_some())
            {
                return Err(auth_failed(
                    "Access policy fields can be associated with signature or SAS identifier \
                     but not both",
                ));
            }
            (
                token.permissions.or(policy.permission),
                token.start.as_ref().map(|t| t.at_ms).or(policy.start_ms),
                token.expiry.as_ref().map(|t| t.at_ms).or(policy.expiry_ms),
            )
        }
    };
    let Some(expiry_ms) = expiry_ms else {
        return Err(auth_failed("se is mandatory. Cannot be empty"));
    };
    let permissions = permissions.unwrap_or(Permissions::NONE);

    // claim: STO-3 (only inside its window, both ends inclusive)
    let start_ms = start_ms.unwrap_or(now_ms);
    if start_ms > expiry_ms {
        return Err(auth_failed(format!(
            "Signed expiry time [{}] must be after signed start time [{}]",
            format_http_date(expiry_ms),
            format_http_date(start_ms)
        )));
    }
    let expiry_ms = if bugs.has(SeededBug::SasExpiryIgnored) {
        UnixMs::MAX
    } else {
        expiry_ms
    };
    if now_ms < start_ms || now_ms > expiry_ms {
        return Err(auth_failed(format!(
            "Signature not valid in the specified time frame: Start [{}] - Expiry [{}] - \
             Current [{}]",
            format_http_date(start_ms),
            format_http_date(expiry_ms),
            format_http_date(now_ms)
        )));
    }

    // claim: STO-3 (only from its addresses)
    if let Some(ip) = &token.ip {
        match req.peer_ip {
            Some(peer) if ip.range.contains(peer) => {}
            Some(peer) => {
                return Err(auth_failed(format!(
                    "This request is not authorized to perform this operation using this \
                     source IP {peer}."
                )))
            }
            None => {
                return Err(auth_failed(
                    "This request is not authorized to perform this operation: its source IP \
                     is unknown and the SAS restricts it.",
                ))
            }
        }
    }

    // claim: STO-3 (only its permissions)
    if !grants(permissions, needed) {
        return Err(StorageError::new(
            ErrorCode::AuthorizationPermissionMismatch,
        ));
    }
    Ok(StoragePrincipal::Sas {
        permissions,
        resource: token.resource,
    })
}

/// Whether `have` grants any one letter of `needed` (or `needed` is empty).
fn grants(have: Permissions, needed: Permissions) -> bool {
    needed.is_empty()
        || needed.to_string().chars().any(|letter| {
            Permissions::parse(letter.encode_utf8(&mut [0; 4]))
                .is_some_and(|one| have.contains(one))
        })
}

fn authorize_anonymous(
    acl: Option<&ContainerAcl>,
    need: &Need,
) -> Result<StoragePrincipal, StorageError> {
    // claim: STO-5 (anonymous requests only read public data within its level)
    if let (Some(level), Some(acl)) = (need.anonymous, acl) {
        if level != PublicAccess::Off
            && acl.public_access != PublicAccess::Off
            && acl.public_access.admits(level)
        {
            return Ok(StoragePrincipal::Anonymous);
        }
    }
    if need.writes {
        Err(StorageError::new(ErrorCode::NoAuthenticationInformation))
    } else {
        Err(StorageError::new(ErrorCode::ResourceNotFound))
    }
}

// ----- making a SAS ---------------------------------------------------------

/// Makes a service SAS query string, signed with an account key, in the
/// layout of [`sas_string_to_sign`] and the parameter order of the Python
/// SDK (`st`, `se`, `sp`, `sip`, `spr`, `sv`, `si`, `sr`, `sig`).
///
/// Like the SDK, a snapshot SAS (`sr=bs`) does not put `snapshot` in the
/// query: the request for the snapshot carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SasBuilder {
    account: String,
    container: String,
    blob: Option<String>,
    snapshot: Option<String>,
    version: String,
    permissions: Option<Permissions>,
    start_ms: Option<UnixMs>,
    expiry_ms: Option<UnixMs>,
    identifier: Option<String>,
    ip: Option<IpRange>,
    protocol: Option<String>,
}

impl SasBuilder {
    /// A container SAS (`sr=c`) at [`LATEST_SAS_VERSION`].
    pub fn for_container(account: &str, container: &str) -> SasBuilder {
        SasBuilder {
            account: account.to_string(),
            container: container.to_string(),
            blob: None,
            snapshot: None,
            version: LATEST_SAS_VERSION.to_string(),
            permissions: None,
            start_ms: None,
            expiry_ms: None,
            identifier: None,
            ip: None,
            protocol: None,
        }
    }

    /// A blob SAS (`sr=b`) at [`LATEST_SAS_VERSION`].
    pub fn for_blob(account: &str, container: &str, blob: &str) -> SasBuilder {
        SasBuilder {
            blob: Some(blob.to_string()),
            ..SasBuilder::for_container(account, container)
        }
    }

    /// Makes it a snapshot SAS (`sr=bs`) for snapshot `snapshot` of the blob.
    pub fn snapshot(mut self, snapshot: &str) -> SasBuilder {
        self.snapshot = Some(snapshot.to_string());
        self
    }

    /// The signed version (`sv`).
    pub fn version(mut self, version: &str) -> SasBuilder {
        self.version = version.to_string();
        self
    }

    /// The permissions (`sp`).
    pub fn permissions(mut self, permissions: Permissions) -> SasBuilder {
        self.permissions = Some(permissions);
        self
    }

    /// The start (`st`).
    pub fn start(mut self, at_ms: UnixMs) -> SasBuilder {
        self.start_ms = Some(at_ms);
        self
    }

    /// The expiry (`se`).
    pub fn expiry(mut self, at_ms: UnixMs) -> SasBuilder {
        self.expiry_ms = Some(at_ms);
        self
    }

    /// The stored access policy (`si`).
    pub fn identifier(mut self, id: &str) -> SasBuilder {
        self.identifier = Some(id.to_string());
        self
    }

    /// The addresses it may be used from (`sip`).
    pub fn ip(mut self, range: IpRange) -> SasBuilder {
        self.ip = Some(range);
        self
    }

    /// The protocols (`spr`: `https` or `https,http`).
    pub fn protocol(mut self, protocol: &str) -> SasBuilder {
        self.protocol = Some(protocol.to_string());
        self
    }

    fn resource(&self) -> SasResource {
        match (&self.blob, &self.snapshot) {
            (None, _) => SasResource::Container,
            (Some(_), None) => SasResource::Blob,
            (Some(_), Some(_)) => SasResource::BlobSnapshot,
        }
    }

    fn unsigned(&self) -> SasToken {
        SasToken {
            version: self.version.clone(),
            resource: self.resource(),
            permissions: self.permissions,
            start: self.start_ms.map(SignedTime::at),
            expiry: self.expiry_ms.map(SignedTime::at),
            identifier: self.identifier.clone(),
            ip: self.ip.map(|range| SignedIp {
                text: range.to_string(),
                range,
            }),
            protocol: self.protocol.clone(),
            encryption_scope: None,
            signed_time: self.snapshot.clone(),
            cache_control: None,
            content_disposition: None,
            content_encoding: None,
            content_language: None,
            content_type: None,
            signature: SecretBytes::new(Vec::new()),
        }
    }

    /// The string it signs.
    pub fn string_to_sign(&self) -> String {
        let resource = sas_canonical_resource(&self.account, &self.container, self.blob.as_deref());
        sas_string_to_sign(&self.unsigned(), &resource)
    }

    /// The SAS as decoded query pairs, signed with `key`.
    pub fn query_pairs(&self, key: &[u8]) -> Vec<(String, String)> {
        let token = self.unsigned();
        let signature = sign(key, &self.string_to_sign());
        let fields = [
            ("st", token.start.map(|t| t.text)),
            ("se", token.expiry.map(|t| t.text)),
            ("sp", token.permissions.map(|p| p.to_string())),
            ("sip", token.ip.map(|ip| ip.text)),
            ("spr", token.protocol),
            ("sv", Some(token.version)),
            ("si", token.identifier),
            ("sr", Some(token.resource.as_str().to_string())),
            ("sig", Some(signature)),
        ];
        fields
            .into_iter()
            .filter_map(|(name, value)| value.map(|value| (name.to_string(), value)))
            .collect()
    }

    /// The SAS as a query string (without `?`), signed with `key`.
    pub fn query_string(&self, key: &[u8]) -> String {
        self.query_pairs(key)
            .iter()
            .map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, SAS_VALUE)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// A service SAS query string for `builder`, signed with `key`.
pub fn make_service_sas(builder: &SasBuilder, key: &[u8]) -> String {
    builder.query_string(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::acl::{AccessPolicy, SignedIdentifier};
    use proptest::prelude::*;

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
}
