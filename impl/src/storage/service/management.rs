//! The management API: key regeneration, only with the subscription's
//! credential (STO-8).

use super::*;

impl StorageService {
    /// Regenerates the key in `slot`, if `presented` is the subscription's
    /// credential; the old key is refused from the next request on (STO-2).
    // claim: STO-8
    pub fn regenerate_key(
        &self,
        account: &str,
        slot: KeySlot,
        presented: Option<&[u8]>,
        new_key: SecretBytes,
    ) -> Result<(), StorageError> {
        let authorized = presented
            .is_some_and(|given| constant_time_eq(given, self.subscription_token.expose()))
            || self.bugs.has(SeededBug::KeyChangeWithoutSubscription);
        if !authorized {
            return Err(forbidden());
        }
        let account = self
            .accounts
            .get(account)
            .ok_or_else(|| StorageError::new(ErrorCode::InvalidUri))?;
        let mut keys = account.keys.write().unwrap_or_else(|e| e.into_inner());
        // claim: STO-2 — the old key is replaced, so the next request signed
        // with it fails.
        if !self.bugs.has(SeededBug::RemovedKeyStillAccepted) {
            keys.keys[slot_index(slot)] = new_key;
        } else {
            let other = 1 - slot_index(slot);
            keys.keys[other] = new_key;
        }
        Ok(())
    }

    /// The management API's one operation here: `POST
    /// /.management/accounts/NAME/regenerateKey` with `{"keyName":"key1"}`
    /// (or `key2`) and `Authorization: Bearer TOKEN`; answers the new keys
    /// as ARM's `listKeys` does.
    pub(super) fn management(&self, request: &BlobRequest) -> Result<BlobResponse, StorageError> {
        let rest = request
            .path
            .strip_prefix(MANAGEMENT_PREFIX)
            .unwrap_or_default();
        let Some((account, "regenerateKey")) = rest.split_once('/') else {
            return Err(StorageError::new(ErrorCode::InvalidUri));
        };
        if request.method != "POST" {
            return Err(StorageError::new(ErrorCode::UnsupportedHttpVerb));
        }
        let presented = request
            .header("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|token| token.trim().as_bytes());
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(rename = "keyName")]
            key_name: String,
        }
        let body: Body = serde_json::from_slice(&request.body).map_err(|_| {
            StorageError::with_detail(ErrorCode::InvalidInput, "expected {\"keyName\":\"key1\"}")
        })?;
        let slot = match body.key_name.as_str() {
            "key1" => KeySlot::Primary,
            "key2" => KeySlot::Secondary,
            _ => {
                return Err(StorageError::with_detail(
                    ErrorCode::InvalidInput,
                    "keyName must be key1 or key2",
                ))
            }
        };
        self.regenerate_key(account, slot, presented, fresh_key())?;
        let encode = |slot| {
            self.account_key(account, slot)
                .map(|key| base64::engine::general_purpose::STANDARD.encode(key.expose()))
                .unwrap_or_default()
        };
        let body = serde_json::json!({
            "keys": [
                {"keyName": "key1", "value": encode(KeySlot::Primary), "permissions": "FULL"},
                {"keyName": "key2", "value": encode(KeySlot::Secondary), "permissions": "FULL"},
            ]
        });
        Ok(BlobResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(body.to_string()),
        })
    }
}

/// Where the management API's paths start (not an account name: those
/// have no dots).
pub const MANAGEMENT_PREFIX: &str = "/.management/accounts/";

/// The management API's refusal: the caller is not the subscription.
pub(super) fn forbidden() -> StorageError {
    StorageError::with_detail(
        ErrorCode::ForbiddenError,
        "changing account keys needs the subscription's credentials",
    )
}
