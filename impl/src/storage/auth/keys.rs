//! An account's two keys, signing and constant-time verification.

use crate::secret::SecretBytes;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Which of an account's two keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeySlot {
    /// `key1`.
    Primary,
    /// `key2`.
    Secondary,
}

/// An account's name and its two keys as they are now.
///
/// A key that was regenerated is simply no longer here, so a signature made
/// with it verifies under neither slot from the next request on (STO-2). An
/// empty key verifies nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountKeys {
    /// The account name.
    pub name: String,
    /// The keys: `[primary, secondary]`.
    pub keys: [SecretBytes; 2],
}

impl AccountKeys {
    /// The key in `slot`.
    pub fn key(&self, slot: KeySlot) -> &SecretBytes {
        let [primary, secondary] = &self.keys;
        match slot {
            KeySlot::Primary => primary,
            KeySlot::Secondary => secondary,
        }
    }

    /// The slot whose key signed `string_to_sign` into `signature`, checked
    /// in constant time under both keys; primary first.
    pub fn verify(&self, string_to_sign: &str, signature: &[u8]) -> Option<KeySlot> {
        let primary = verify_with(
            self.key(KeySlot::Primary).expose(),
            string_to_sign,
            signature,
        );
        let secondary = verify_with(
            self.key(KeySlot::Secondary).expose(),
            string_to_sign,
            signature,
        );
        if primary {
            Some(KeySlot::Primary)
        } else if secondary {
            Some(KeySlot::Secondary)
        } else {
            None
        }
    }
}

fn mac_for(key: &[u8]) -> Option<HmacSha256> {
    <HmacSha256 as Mac>::new_from_slice(key).ok()
}

fn verify_with(key: &[u8], string_to_sign: &str, signature: &[u8]) -> bool {
    if key.is_empty() {
        return false;
    }
    let Some(mut mac) = mac_for(key) else {
        return false;
    };
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(signature).is_ok()
}

/// The base64 HMAC-SHA256 of `string_to_sign` under `key`.
pub fn sign(key: &[u8], string_to_sign: &str) -> String {
    // HMAC takes a key of any length, so `mac_for` never fails.
    match mac_for(key) {
        Some(mut mac) => {
            mac.update(string_to_sign.as_bytes());
            STANDARD.encode(mac.finalize().into_bytes())
        }
        None => String::new(),
    }
}
