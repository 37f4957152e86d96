//! Model names and their Blob names: blob `n` is `blobn`, lease id `n` a
//! GUID ending in `n`, policy `n` is `policyn`; a blob's model version in
//! its bytes; model permissions as the service's.

use bytes::Bytes;
use fabric_impl::storage::acl::Permissions;
use fabric_model::storage::Perms;

/// Bytes in a model blob.
pub(super) const BLOB_BYTES: usize = 512;

pub(super) fn blob_name(blob: u8) -> String {
    format!("blob{blob}")
}

pub(super) fn lease_guid(id: u8) -> String {
    format!("00000000-0000-0000-0000-{id:012}")
}

pub(super) fn lease_from_guid(text: &str) -> Option<u8> {
    text.strip_prefix("00000000-0000-0000-0000-")?.parse().ok()
}

pub(super) fn policy_name(id: u8) -> String {
    format!("policy{id}")
}

/// The bytes a put of `version` writes: `v<version>` then zeros.
pub fn blob_bytes(version: u8) -> Bytes {
    let mut bytes = format!("v{version}").into_bytes();
    bytes.resize(BLOB_BYTES, 0);
    Bytes::from(bytes)
}

/// What bytes say in model terms: 0 for zeros, else the version they carry.
pub fn bytes_tag(bytes: &[u8]) -> Option<u8> {
    if bytes.iter().all(|b| *b == 0) {
        return Some(0);
    }
    let text = bytes.strip_prefix(b"v")?;
    let digits: String = text
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|b| char::from(*b))
        .collect();
    digits.parse().ok()
}

pub(super) fn perms_to_impl(perms: Perms) -> Permissions {
    [
        (Perms::READ, Permissions::READ),
        (Perms::WRITE, Permissions::WRITE),
        (Perms::DELETE, Permissions::DELETE),
        (Perms::LIST, Permissions::LIST),
    ]
    .into_iter()
    .filter(|(model, _)| perms.contains(*model))
    .fold(Permissions::NONE, |all, (_, one)| all.union(one))
}

/// The text between `open` and `close` in `text`.
pub(super) fn between<'t>(text: &'t str, open: &str, close: &str) -> Option<&'t str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

/// One entry of a blob listing.
pub(super) struct Listed {
    pub(super) name: String,
    pub(super) snapshot: bool,
    pub(super) version: Option<u8>,
}

/// Reads names, snapshot marks and `version` metadata from a listing.
pub(super) fn parse_listing(body: &[u8]) -> Option<Vec<Listed>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = Vec::new();
    for chunk in text.split("<Blob>").skip(1) {
        let name = between(chunk, "<Name>", "</Name>")?.to_string();
        let snapshot = chunk.contains("<Snapshot>");
        let version = between(chunk, "<version>", "</version>").and_then(|v| v.parse().ok());
        out.push(Listed {
            name,
            snapshot,
            version,
        });
    }
    Some(out)
}
