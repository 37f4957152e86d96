//! Accounts: how one is named on the command line, and as served.

use super::*;

/// An account to serve.
#[derive(Clone, Debug)]
pub struct AccountSpec {
    /// Its name (3 to 24 lowercase letters and digits).
    pub name: String,
    /// Its primary key; the secondary is derived from it until regenerated.
    pub key: SecretBytes,
    /// The location its data must stay in (GEO-1).
    pub location: String,
}

impl AccountSpec {
    /// Parses `NAME:BASE64KEY` (or `NAME:BASE64KEY@LOCATION`).
    pub fn parse(text: &str) -> Result<AccountSpec, String> {
        let (name, rest) = text
            .split_once(':')
            .ok_or_else(|| "expected NAME:BASE64KEY".to_string())?;
        let (key, location) = match rest.rsplit_once('@') {
            Some((key, location)) => (key, location.to_string()),
            None => (rest, DEFAULT_LOCATION.to_string()),
        };
        if !(3..=24).contains(&name.len())
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(format!(
                "account name {name:?} must be 3 to 24 lowercase letters and digits"
            ));
        }
        let key = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|_| format!("the key for account {name} is not base64"))?;
        if key.len() < 16 {
            return Err(format!(
                "the key for account {name} is shorter than 16 bytes"
            ));
        }
        Ok(AccountSpec {
            name: name.to_string(),
            key: SecretBytes::new(key),
            location,
        })
    }

    /// The emulator's default account.
    pub fn default_account() -> AccountSpec {
        let key = base64::engine::general_purpose::STANDARD
            .decode(DEFAULT_ACCOUNT_KEY)
            .unwrap_or_default();
        AccountSpec {
            name: DEFAULT_ACCOUNT.to_string(),
            key: SecretBytes::new(key),
            location: DEFAULT_LOCATION.to_string(),
        }
    }
}

/// One account as served.
pub(super) struct Account {
    pub(super) keys: RwLock<AccountKeys>,
    pub(super) location: String,
    pub(super) replica_nodes: [usize; REPLICA_COUNT],
    pub(super) store: Arc<ReplicatedStore<BlobWrite>>,
}

pub(super) fn derive_secondary(primary: &SecretBytes) -> SecretBytes {
    use sha2::{Digest, Sha512};
    let mut hasher = Sha512::new();
    hasher.update(b"fabric-storage-secondary-key");
    hasher.update(primary.expose());
    SecretBytes::new(hasher.finalize().to_vec())
}

/// A new random 64-byte account key.
pub(super) fn fresh_key() -> SecretBytes {
    let bytes: Vec<u8> = (0..4)
        .flat_map(|_| uuid::Uuid::new_v4().into_bytes())
        .collect();
    SecretBytes::new(bytes)
}
