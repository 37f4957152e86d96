//! The oracle: each claim's own words over a request, a read or a lease.

use super::*;

// A refusal's status and code, and the claims it enforces.
impl Denied {
    /// The HTTP status the service answers with.
    pub const fn status(self) -> u16 {
        match self {
            Denied::NoAuthenticationInformation => 401,
            Denied::AuthenticationFailed
            | Denied::AuthorizationPermissionMismatch
            | Denied::AuthorizationResourceTypeMismatch
            | Denied::ForbiddenError => 403,
            Denied::ResourceNotFound | Denied::BlobNotFound => 404,
            Denied::LeaseAlreadyPresent
            | Denied::LeaseNotPresentWithLeaseOperation
            | Denied::LeaseIdMismatchWithLeaseOperation
            | Denied::LeaseIsBrokenAndCannotBeRenewed => 409,
            Denied::LeaseIdMissing
            | Denied::LeaseIdMismatchWithBlobOperation
            | Denied::LeaseNotPresentWithBlobOperation => 412,
        }
    }

    /// The error code the service answers with (`x-ms-error-code`).
    pub const fn code(self) -> &'static str {
        match self {
            Denied::AuthenticationFailed => "AuthenticationFailed",
            Denied::AuthorizationPermissionMismatch => "AuthorizationPermissionMismatch",
            Denied::AuthorizationResourceTypeMismatch => "AuthorizationResourceTypeMismatch",
            Denied::NoAuthenticationInformation => "NoAuthenticationInformation",
            Denied::ResourceNotFound => "ResourceNotFound",
            Denied::BlobNotFound => "BlobNotFound",
            Denied::LeaseIdMissing => "LeaseIdMissing",
            Denied::LeaseIdMismatchWithBlobOperation => "LeaseIdMismatchWithBlobOperation",
            Denied::LeaseNotPresentWithBlobOperation => "LeaseNotPresentWithBlobOperation",
            Denied::LeaseAlreadyPresent => "LeaseAlreadyPresent",
            Denied::LeaseNotPresentWithLeaseOperation => "LeaseNotPresentWithLeaseOperation",
            Denied::LeaseIdMismatchWithLeaseOperation => "LeaseIdMismatchWithLeaseOperation",
            Denied::LeaseIsBrokenAndCannotBeRenewed => "LeaseIsBrokenAndCannotBeRenewed",
            Denied::ForbiddenError => "ForbiddenError",
        }
    }

    /// The claims whose enforcement this refusal is.
    pub fn claims(self) -> ClaimSet {
        match self {
            Denied::AuthenticationFailed => claims![STO - 1, STO - 2, STO - 3, STO - 4],
            Denied::AuthorizationPermissionMismatch => claims![STO - 3, STO - 4],
            Denied::AuthorizationResourceTypeMismatch => claims![STO - 3],
            Denied::NoAuthenticationInformation => claims![STO - 1, STO - 5],
            Denied::ResourceNotFound => claims![STO - 5],
            Denied::BlobNotFound => claims![STO - 6],
            Denied::LeaseIdMissing
            | Denied::LeaseIdMismatchWithBlobOperation
            | Denied::LeaseNotPresentWithBlobOperation
            | Denied::LeaseAlreadyPresent
            | Denied::LeaseNotPresentWithLeaseOperation
            | Denied::LeaseIdMismatchWithLeaseOperation
            | Denied::LeaseIsBrokenAndCannotBeRenewed => claims![DRV - 1],
            Denied::ForbiddenError => claims![STO - 8],
        }
    }
}

impl StorageModel {
    /// The claims a successful request by `caller` for `access` to `target`
    /// breaks, judged in state `s` from the claims' own words: the account's
    /// keys now, the SAS's fields, the stored policies now, the public level.
    pub fn claims_broken_by_request(
        s: &StorageState,
        caller: Caller,
        target: Scope,
        access: Access,
    ) -> ClaimSet {
        let mut broken = ClaimSet::EMPTY;
        let current = |k: KeyRef| k.version == s.keys[k.slot.index()];
        match s.credential(caller) {
            None => {
                if !(access.is_read() && s.public != PublicAccess::Off) {
                    broken.insert(claim!(STO - 1));
                }
                let within_level = match access {
                    Access::Read => {
                        matches!(target, Scope::Blob(_)) && s.public != PublicAccess::Off
                    }
                    Access::List => s.public == PublicAccess::Container,
                    _ => false,
                };
                if !within_level {
                    broken.insert(claim!(STO - 5));
                }
            }
            Some(Credential::Key(k)) => {
                if !current(k) {
                    broken.insert(claim!(STO - 1));
                    broken.insert(claim!(STO - 2));
                }
            }
            Some(Credential::Sas(sas)) => {
                if !current(sas.signed_with) {
                    broken.insert(claim!(STO - 1));
                    broken.insert(claim!(STO - 2));
                }
                if access == Access::Manage || !sas.scope.covers(target) {
                    broken.insert(claim!(STO - 3));
                }
                match sas.policy {
                    None => {
                        let perms = sas.perms.unwrap_or(Perms::NONE);
                        let inside = sas.start.is_some_and(|t| t <= s.clock)
                            && sas.expiry.is_some_and(|t| s.clock <= t);
                        if !perms.contains(access.perm()) || !inside {
                            broken.insert(claim!(STO - 3));
                        }
                    }
                    Some(id) => match s.policies.get(usize::from(id)).copied().flatten() {
                        Some(p) if p.perms.contains(access.perm()) && s.clock <= p.expiry => {}
                        _ => broken.insert(claim!(STO - 4)),
                    },
                }
            }
        }
        broken
    }

    /// Judges a read that returned `seen` for `blob` (or its snapshot)
    /// against the ghost history: `(linearizable, shows the write in flight)`.
    /// With `presence_only`, only whether it exists is compared (a listing).
    pub fn judge_read(
        s: &StorageState,
        blob: u8,
        snapshot: bool,
        seen: Option<u8>,
        presence_only: bool,
    ) -> (bool, bool) {
        let same = |a: Option<u8>, b: Option<u8>| {
            if presence_only {
                a.is_some() == b.is_some()
            } else {
                a == b
            }
        };
        let before = s.acked_value(blob, snapshot);
        match s.pending.filter(|p| !p.acked) {
            None => (same(seen, before), false),
            Some(p) => {
                let after = p.op.after(blob, snapshot, before);
                if p.observed {
                    (same(seen, after), false)
                } else {
                    let ok = same(seen, before) || same(seen, after);
                    (ok, same(seen, after) && !same(after, before))
                }
            }
        }
    }

    /// The allowed case a successful request shows, before data witnesses.
    pub(super) fn request_witness(
        s: &StorageState,
        caller: Caller,
        access: Access,
    ) -> Option<Witness> {
        match (s.credential(caller), access) {
            (None, Access::Read) => Some(Witness::AnonymousPublicRead),
            (Some(Credential::Sas(sas)), Access::Read) => Some(if sas.policy.is_some() {
                Witness::PolicySasRead
            } else {
                Witness::SasRead
            }),
            (Some(Credential::Key(k)), _) if k.version >= 1 => {
                let rotated = s.keys.iter().all(|v| *v >= 1);
                if caller == Caller::Client(0) && rotated && !s.app_refused {
                    Some(Witness::RotationCompleted)
                } else {
                    Some(Witness::SharedKeyServed)
                }
            }
            _ => None,
        }
    }

    /// Authorizes a request and applies the oracle's judgement of the
    /// decision to `next`: a refusal of a current key breaks STO-2, a
    /// success is judged by [`Self::claims_broken_by_request`].
    pub(super) fn request(
        &self,
        s: &StorageState,
        next: &mut StorageState,
        caller: Caller,
        target: Scope,
        access: Access,
    ) -> Result<(), Denied> {
        match self.authorize(s, caller, target, access) {
            Ok(()) => {
                next.broken = next
                    .broken
                    .union(Self::claims_broken_by_request(s, caller, target, access));
                next.last = Self::request_witness(s, caller, access);
                Ok(())
            }
            Err(reason) => {
                if reason == Denied::AuthenticationFailed {
                    if caller == Caller::Client(0) {
                        next.app_refused = true;
                    }
                    // STO-2: an application holding a current key never loses access.
                    if let Some(Credential::Key(k)) = s.credential(caller) {
                        if k.version == s.keys[k.slot.index()] {
                            next.broken.insert(claim!(STO - 2));
                        }
                    }
                }
                Err(reason)
            }
        }
    }

    /// The oracle's judgement of a read result.
    pub(super) fn observe(
        &self,
        s: &StorageState,
        next: &mut StorageState,
        blob: u8,
        snapshot: bool,
        seen: Option<u8>,
        presence_only: bool,
    ) {
        let (ok, shows_pending) = Self::judge_read(s, blob, snapshot, seen, presence_only);
        if !ok {
            next.broken.insert(claim!(STO - 6));
        }
        if shows_pending {
            if let Some(p) = next.pending.as_mut() {
                p.observed = true;
            }
        }
    }

    /// DRV-1's oracle on an accepted put or delete carrying `lease`.
    pub(super) fn judge_lease(
        &self,
        s: &StorageState,
        next: &mut StorageState,
        blob: u8,
        lease: Option<u8>,
    ) {
        if let Some(id) = s.leases[usize::from(blob)].active() {
            if lease == Some(id) {
                next.last = Some(Witness::LeaseHolderWrote);
            } else {
                next.broken.insert(claim!(DRV - 1));
            }
        }
    }
}
