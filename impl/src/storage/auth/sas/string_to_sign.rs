//! The versioned string-to-sign of a service SAS.

use super::token::SasToken;
use super::{SAS_ENCRYPTION_SCOPE_VERSION, SAS_RESOURCE_VERSION};

/// The canonicalized resource of a service SAS (names decoded):
/// `/blob/ACCOUNT/container` or `/blob/ACCOUNT/container/blob`.
pub fn sas_canonical_resource(account: &str, container: &str, blob: Option<&str>) -> String {
    let mut out = format!("/blob/{account}/{container}");
    if let Some(blob) = blob {
        out.push('/');
        out.push_str(blob);
    }
    out
}

/// The string-to-sign of a service SAS signed with an account key, for the
/// token's version; absent fields are empty lines.
///
/// From 2020-12-06 on (2026-10-06 included):
///
/// ```text
/// sp \n st \n se \n canonicalizedResource \n si \n sip \n spr \n sv \n sr \n
/// signedSnapshotTime \n ses \n rscc \n rscd \n rsce \n rscl \n rsct
/// ```
///
/// 2018-11-09 up to 2020-12-06: the same without `ses`. 2015-04-05 up to
/// 2018-11-09: the same without `sr`, `signedSnapshotTime` and `ses`.
/// (A user delegation SAS has more fields; it is not accepted here.)
pub fn sas_string_to_sign(token: &SasToken, canonical_resource: &str) -> String {
    sas_string(token, canonical_resource, token.signed_time.as_deref())
}

pub(super) fn sas_string(
    token: &SasToken,
    canonical_resource: &str,
    signed_time: Option<&str>,
) -> String {
    let text = |field: &Option<String>| field.clone().unwrap_or_default();
    let mut fields = vec![
        token.permissions.map(|p| p.to_string()).unwrap_or_default(),
        token
            .start
            .as_ref()
            .map(|t| t.text.clone())
            .unwrap_or_default(),
        token
            .expiry
            .as_ref()
            .map(|t| t.text.clone())
            .unwrap_or_default(),
        canonical_resource.to_string(),
        text(&token.identifier),
        token
            .ip
            .as_ref()
            .map(|ip| ip.text.clone())
            .unwrap_or_default(),
        text(&token.protocol),
        token.version.clone(),
    ];
    if token.version.as_str() >= SAS_RESOURCE_VERSION {
        fields.push(token.resource.as_str().to_string());
        fields.push(signed_time.unwrap_or_default().to_string());
    }
    if token.version.as_str() >= SAS_ENCRYPTION_SCOPE_VERSION {
        fields.push(text(&token.encryption_scope));
    }
    fields.extend([
        text(&token.cache_control),
        text(&token.content_disposition),
        text(&token.content_encoding),
        text(&token.content_language),
        text(&token.content_type),
    ]);
    fields.join("\n")
}
