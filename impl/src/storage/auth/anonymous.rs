//! Anonymous access: a public read at the container's public level (STO-5).

use super::{Need, StoragePrincipal};
use crate::storage::acl::{ContainerAcl, PublicAccess};
use crate::storage::error::{ErrorCode, StorageError};

pub(super) fn authorize_anonymous(
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
