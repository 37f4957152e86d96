//! Container access control as data: SAS permissions, stored access policies
//! (at most five per container) and the public access level.

use super::clock::UnixMs;
use super::error::{ErrorCode, StorageError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The most stored access policies a container may hold.
pub const MAX_STORED_POLICIES: usize = 5;

/// The longest policy id the service accepts.
pub const MAX_POLICY_ID_CHARS: usize = 64;

/// SAS permissions, in the service's canonical letter order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Permissions(u16);

/// The permission letters, in the order the SDKs write them.
const LETTERS: &[u8; 15] = b"racwdxyltfmeiop";

impl Permissions {
    /// No permission.
    pub const NONE: Permissions = Permissions(0);
    /// `r`: read content, properties, metadata.
    pub const READ: Permissions = Permissions(1 << 0);
    /// `a`: add a block or append.
    pub const ADD: Permissions = Permissions(1 << 1);
    /// `c`: create a new blob.
    pub const CREATE: Permissions = Permissions(1 << 2);
    /// `w`: write content, properties, metadata; snapshot; lease.
    pub const WRITE: Permissions = Permissions(1 << 3);
    /// `d`: delete.
    pub const DELETE: Permissions = Permissions(1 << 4);
    /// `l`: list blobs (container scope only).
    pub const LIST: Permissions = Permissions(1 << 7);

    /// Parses permission letters (`racwdxyltfmeiop`, in any order); an
    /// unknown or repeated letter is `None`.
    pub fn parse(text: &str) -> Option<Permissions> {
        let mut bits = 0u16;
        for byte in text.bytes() {
            let index = LETTERS.iter().position(|&l| l == byte)?;
            if bits & (1 << index) != 0 {
                return None;
            }
            bits |= 1 << index;
        }
        Some(Permissions(bits))
    }

    /// Whether every permission in `other` is here.
    pub const fn contains(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets together.
    pub const fn union(self, other: Permissions) -> Permissions {
        Permissions(self.0 | other.0)
    }

    /// Whether there is no permission at all.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, letter) in LETTERS.iter().enumerate() {
            if self.0 & (1 << index) != 0 {
                write!(f, "{}", char::from(*letter))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permissions({self})")
    }
}

/// Who may read a container without a signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PublicAccess {
    /// Nobody: every request needs a signature.
    #[default]
    Off,
    /// Anyone may read blobs (content, properties, metadata), not list.
    Blob,
    /// Anyone may read blobs, list them, and read the container's
    /// properties.
    Container,
}

impl PublicAccess {
    /// Parses `x-ms-blob-public-access`; an absent header means off.
    pub fn from_header(value: Option<&str>) -> Result<PublicAccess, StorageError> {
        match value.map(str::trim) {
            None | Some("") => Ok(PublicAccess::Off),
            Some("blob") => Ok(PublicAccess::Blob),
            Some("container") => Ok(PublicAccess::Container),
            Some(_) => Err(StorageError::with_detail(
                ErrorCode::InvalidHeaderValue,
                "x-ms-blob-public-access",
            )),
        }
    }

    /// The header value the service sends back, if any.
    pub const fn header_value(self) -> Option<&'static str> {
        match self {
            PublicAccess::Off => None,
            PublicAccess::Blob => Some("blob"),
            PublicAccess::Container => Some("container"),
        }
    }

    /// Whether this level admits at least `needed`.
    pub const fn admits(self, needed: PublicAccess) -> bool {
        matches!(
            (self, needed),
            (_, PublicAccess::Off)
                | (PublicAccess::Blob, PublicAccess::Blob)
                | (PublicAccess::Container, _)
        )
    }
}

/// A stored access policy: any field may be left for the SAS to give.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccessPolicy {
    /// When it starts.
    pub start_ms: Option<UnixMs>,
    /// When it ends.
    pub expiry_ms: Option<UnixMs>,
    /// What it grants.
    pub permission: Option<Permissions>,
}

/// A stored access policy with its id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedIdentifier {
    /// The id a SAS names in `si`.
    pub id: String,
    /// The policy.
    pub policy: AccessPolicy,
}

/// A container's access control list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContainerAcl {
    /// The public access level.
    pub public_access: PublicAccess,
    /// The stored access policies, at most [`MAX_STORED_POLICIES`].
    pub identifiers: Vec<SignedIdentifier>,
}

impl ContainerAcl {
    /// The stored policy named `id`, if any.
    pub fn policy(&self, id: &str) -> Option<&AccessPolicy> {
        self.identifiers
            .iter()
            .find(|identifier| identifier.id == id)
            .map(|identifier| &identifier.policy)
    }

    /// Checks the limits the service enforces on a new ACL.
    pub fn validate(&self) -> Result<(), StorageError> {
        if self.identifiers.len() > MAX_STORED_POLICIES {
            return Err(StorageError::with_detail(
                ErrorCode::InvalidXmlDocument,
                "more than five signed identifiers",
            ));
        }
        for (index, identifier) in self.identifiers.iter().enumerate() {
            if identifier.id.is_empty() || identifier.id.chars().count() > MAX_POLICY_ID_CHARS {
                return Err(StorageError::with_detail(
                    ErrorCode::InvalidXmlDocument,
                    "signed identifier id must be 1 to 64 characters",
                ));
            }
            if self.identifiers[..index]
                .iter()
                .any(|other| other.id == identifier.id)
            {
                return Err(StorageError::with_detail(
                    ErrorCode::InvalidXmlDocument,
                    "duplicate signed identifier id",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_parse_in_any_order_and_print_canonically() {
        let rwdl = Permissions::parse("rwdl");
        assert_eq!(rwdl.map(|p| p.to_string()), Some("rwdl".to_string()));
        assert_eq!(Permissions::parse("ldwr"), rwdl);
        assert_eq!(
            Permissions::parse("racwdxyltfmeiop").map(|p| p.to_string()),
            Some("racwdxyltfmeiop".to_string())
        );
        assert_eq!(Permissions::parse("rq"), None);
        assert_eq!(Permissions::parse("rr"), None);
        let read = Permissions::parse("r").unwrap_or_default();
        assert!(read.contains(Permissions::READ));
        assert!(!read.contains(Permissions::WRITE));
    }

    #[test]
    fn acl_limits() {
        let policy = |id: &str| SignedIdentifier {
            id: id.to_string(),
            policy: AccessPolicy::default(),
        };
        let mut acl = ContainerAcl {
            public_access: PublicAccess::Off,
            identifiers: (0..5).map(|n| policy(&n.to_string())).collect(),
        };
        assert_eq!(acl.validate(), Ok(()));
        acl.identifiers.push(policy("6"));
        assert_eq!(
            acl.validate().map_err(|e| e.code),
            Err(ErrorCode::InvalidXmlDocument)
        );
        acl.identifiers = vec![policy("a"), policy("a")];
        assert_eq!(
            acl.validate().map_err(|e| e.code),
            Err(ErrorCode::InvalidXmlDocument)
        );
    }
}
