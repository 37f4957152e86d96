//! A service SAS as parsed from the query: its fields, and the refusal of
//! malformed, unsupported or too old tokens.

use super::{OLDEST_SAS_VERSION, SAS_BLOB_VERSION_VERSION, SAS_RESOURCE_VERSION};
use crate::secret::SecretBytes;
use crate::storage::acl::Permissions;
use crate::storage::auth::auth_failed;
use crate::storage::clock::{format_iso8601, parse_iso8601, UnixMs};
use crate::storage::error::StorageError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::fmt;
use std::net::IpAddr;

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

/// The detail of every malformed SAS field, as the real service words it.
const NOT_WELL_FORMED: &str = "Signature fields not well formed.";

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
pub(in crate::storage::auth) fn valid_version(text: &str) -> bool {
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
