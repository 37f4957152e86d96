//! Checking a service SAS against the request it comes with: scope,
//! signature, stored policy, time window, source address, permissions
//! (STO-1 to STO-4).

use super::string_to_sign::{sas_canonical_resource, sas_string};
use super::token::{SasResource, SasToken};
use crate::bugs::{BugSet, SeededBug};
use crate::storage::acl::{ContainerAcl, Permissions};
use crate::storage::auth::{auth_failed, AccountKeys, Need, RequestView, StoragePrincipal, Target};
use crate::storage::clock::{format_http_date, UnixMs};
use crate::storage::error::{ErrorCode, StorageError};

pub(in crate::storage::auth) fn authorize_sas(
    req: &RequestView<'_>,
    keys: &AccountKeys,
    acl: Option<&ContainerAcl>,
    need: &Need,
    token: &SasToken,
    now_ms: UnixMs,
    bugs: BugSet,
) -> Result<StoragePrincipal, StorageError> {
    let (container, blob, signed_time) = scope(need, token)?;
    verify_signature(keys, token, container, blob, signed_time)?;
    let Some(needed) = need.sas_permission else {
        return Err(StorageError::with_detail(
            ErrorCode::AuthorizationFailure,
            "This operation needs the account key; a SAS cannot authorize it.",
        ));
    };
    let (permissions, start_ms, expiry_ms) = effective_fields(token, acl)?;
    let Some(expiry_ms) = expiry_ms else {
        return Err(auth_failed("se is mandatory. Cannot be empty"));
    };
    let permissions = permissions.unwrap_or(Permissions::NONE);
    check_window(start_ms, expiry_ms, now_ms, bugs)?;
    check_source(req, token)?;

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

/// The container, blob and signed snapshot or version time that the
/// string-to-sign names: what the request addresses, if the token's scope
/// can cover it.
fn scope<'n>(
    need: &'n Need,
    token: &'n SasToken,
) -> Result<(&'n str, Option<&'n str>, Option<&'n str>), StorageError> {
    // claim: STO-3 (only its scope: the signed resource type must be able to
    // cover what the request addresses)
    Ok(match (&need.target, token.resource) {
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
    })
}

/// Checks the token's signature over the resource the request addresses.
fn verify_signature(
    keys: &AccountKeys,
    token: &SasToken,
    container: &str,
    blob: Option<&str>,
    signed_time: Option<&str>,
) -> Result<(), StorageError> {
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
    Ok(())
}

/// The permissions, start and expiry in force: the token's own, or those it
/// takes from its stored access policy as the policy is now.
#[allow(clippy::type_complexity)]
fn effective_fields(
    token: &SasToken,
    acl: Option<&ContainerAcl>,
) -> Result<(Option<Permissions>, Option<UnixMs>, Option<UnixMs>), StorageError> {
    // claim: STO-4 (a policy-bound SAS takes its missing fields from the
    // stored policy as it is now: changed or removed, from this request on)
    Ok(match &token.identifier {
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
            // mutants: this test's `&&`/`||` survive the conformance suite:
            // the storage model has no SAS that repeats its policy's field.
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
    })
}

/// Checks that `now_ms` is inside the window from `start_ms` (now when
/// absent) to `expiry_ms`.
fn check_window(
    start_ms: Option<UnixMs>,
    expiry_ms: UnixMs,
    now_ms: UnixMs,
    bugs: BugSet,
) -> Result<(), StorageError> {
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
    Ok(())
}

/// Checks the caller's address against the token's `sip`, if it has one.
fn check_source(req: &RequestView<'_>, token: &SasToken) -> Result<(), StorageError> {
    // claim: STO-3 (only from its addresses)
    // mutants: survives the conformance suite: the storage model has no SAS
    // with an address range (`sip`); the auth unit tests check it.
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
    Ok(())
}

/// Whether `have` grants any one letter of `needed` (or `needed` is empty).
fn grants(have: Permissions, needed: Permissions) -> bool {
    needed.is_empty()
        || needed.to_string().chars().any(|letter| {
            Permissions::parse(letter.encode_utf8(&mut [0; 4]))
                .is_some_and(|one| have.contains(one))
        })
}
