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
//!
//! The parts: [`request`] (the request as plain data), [`keys`] (an
//! account's keys, signing, verification), [`shared_key`], [`sas`] (token,
//! string-to-sign, verification, builder), [`anonymous`] and [`authorize`]
//! (the decision that joins them).

use super::error::{ErrorCode, StorageError};

pub mod anonymous;
pub mod authorize;
pub mod keys;
pub mod request;
pub mod sas;
pub mod shared_key;
#[cfg(test)]
mod tests;

pub use authorize::{authorize, Need, StoragePrincipal, Target};
pub use keys::{sign, AccountKeys, KeySlot};
pub use request::RequestView;
pub use sas::{
    make_service_sas, parse_sas, sas_canonical_resource, sas_string_to_sign, IpRange, SasBuilder,
    SasResource, SasToken, SignedIp, SignedTime, LATEST_SAS_VERSION, OLDEST_SAS_VERSION,
};
pub use shared_key::{shared_key_string_to_sign, sign_shared_key, MAX_CLOCK_SKEW_MS};

fn auth_failed(detail: impl Into<String>) -> StorageError {
    StorageError::with_detail(ErrorCode::AuthenticationFailed, detail)
}
