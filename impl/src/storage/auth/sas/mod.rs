//! Service SAS: the token ([`token`]), its versioned string-to-sign
//! ([`string_to_sign`]), its verification against a request ([`verify`]),
//! and making one ([`builder`]).

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

pub mod builder;
pub mod string_to_sign;
pub mod token;
pub mod verify;

pub use builder::{make_service_sas, SasBuilder};
pub use string_to_sign::{sas_canonical_resource, sas_string_to_sign};
pub use token::{parse_sas, IpRange, SasResource, SasToken, SignedIp, SignedTime};
pub(super) use verify::authorize_sas;
