//! [`authorize`]: the one decision of who may do what (STO-1 to STO-5).

use super::anonymous::authorize_anonymous;
use super::sas::{authorize_sas, parse_sas, SasResource};
use super::shared_key::authenticate_shared_key;
use super::{AccountKeys, KeySlot, RequestView};
use crate::bugs::{BugSet, SeededBug};
use crate::storage::acl::{ContainerAcl, Permissions, PublicAccess};
use crate::storage::clock::UnixMs;
use crate::storage::error::{ErrorCode, StorageError};

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
    // mutants: the `!=` below survives: it is the seeded bug's own switch,
    // off outside the seeded-bug tests.
    if bugs.has(SeededBug::AnonymousWriteOnPublic)
        && need.writes
        && acl.is_some_and(|acl| acl.public_access != PublicAccess::Off)
    {
        return Ok(StoragePrincipal::Anonymous);
    }
    authorize_anonymous(acl, need)
}
