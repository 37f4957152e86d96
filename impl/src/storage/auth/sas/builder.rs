//! Making a service SAS (for the harness, the benches and tests).

use super::string_to_sign::{sas_canonical_resource, sas_string_to_sign};
use super::token::{IpRange, SasResource, SasToken, SignedIp, SignedTime};
use super::LATEST_SAS_VERSION;
use crate::secret::SecretBytes;
use crate::storage::acl::Permissions;
use crate::storage::auth::keys::sign;
use crate::storage::clock::UnixMs;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What a SAS query value may leave unescaped (what the Python SDK's
/// `quote` leaves: unreserved characters and `/`).
const SAS_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

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
