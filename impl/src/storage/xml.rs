//! The XML bodies the service reads and writes: container and blob
//! listings, and `SignedIdentifiers` (stored access policies).

use super::acl::{AccessPolicy, Permissions, SignedIdentifier, MAX_STORED_POLICIES};
use super::clock::{format_iso8601_fine, parse_iso8601};
use super::error::{push_escaped, ErrorCode, StorageError};
use quick_xml::events::Event;
use quick_xml::Reader;

/// The XML declaration the service starts bodies with.
pub const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>";

/// The largest ACL body the service reads.
pub const MAX_ACL_BODY_BYTES: usize = 64 * 1024;

/// Appends `<tag>text</tag>` with `text` escaped.
pub fn element(out: &mut String, tag: &str, text: &str) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
    push_escaped(out, text);
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

/// Renders stored access policies as `Get Container ACL` returns them.
pub fn render_identifiers(identifiers: &[SignedIdentifier]) -> String {
    let mut out = String::from(DECLARATION);
    out.push_str("<SignedIdentifiers>");
    for identifier in identifiers {
        out.push_str("<SignedIdentifier>");
        element(&mut out, "Id", &identifier.id);
        out.push_str("<AccessPolicy>");
        if let Some(start) = identifier.policy.start_ms {
            element(&mut out, "Start", &format_iso8601_fine(start));
        }
        if let Some(expiry) = identifier.policy.expiry_ms {
            element(&mut out, "Expiry", &format_iso8601_fine(expiry));
        }
        if let Some(permission) = identifier.policy.permission {
            element(&mut out, "Permission", &permission.to_string());
        }
        out.push_str("</AccessPolicy></SignedIdentifier>");
    }
    out.push_str("</SignedIdentifiers>");
    out
}

fn invalid(detail: &str) -> StorageError {
    StorageError::with_detail(ErrorCode::InvalidXmlDocument, detail)
}

/// Parses a `Set Container ACL` body. An empty body clears the policies.
/// More than five identifiers, unknown elements in a policy, bad dates or
/// permissions are `InvalidXmlDocument`.
// Long: one pass of the XML reader over the identifiers and their policies.
#[allow(clippy::too_many_lines)]
pub fn parse_identifiers(body: &[u8]) -> Result<Vec<SignedIdentifier>, StorageError> {
    if body.len() > MAX_ACL_BODY_BYTES {
        return Err(StorageError::new(ErrorCode::RequestBodyTooLarge));
    }
    let text = std::str::from_utf8(body).map_err(|_| invalid("body is not UTF-8"))?;
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut path: Vec<String> = Vec::new();
    let mut identifiers = Vec::new();
    let mut current: Option<SignedIdentifier> = None;
    let mut leaf_text = String::new();
    // Exactly one root element, and nothing but whitespace around it.
    let mut roots = 0usize;
    loop {
        let event = reader.read_event().map_err(|_| invalid("malformed XML"))?;
        match event {
            Event::Start(start) => {
                if !std::mem::take(&mut leaf_text).trim().is_empty() {
                    return Err(invalid("unexpected text"));
                }
                if path.is_empty() {
                    roots += 1;
                    if roots > 1 {
                        return Err(invalid("more than one root element"));
                    }
                }
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                if path.len() >= 4 {
                    return Err(invalid("unexpected nesting"));
                }
                let expected = match path.len() {
                    0 => name == "SignedIdentifiers",
                    1 => name == "SignedIdentifier",
                    2 => name == "Id" || name == "AccessPolicy",
                    _ => matches!(name.as_str(), "Start" | "Expiry" | "Permission"),
                };
                if !expected {
                    return Err(invalid("unexpected element"));
                }
                if name == "SignedIdentifier" {
                    if identifiers.len() >= MAX_STORED_POLICIES {
                        return Err(invalid("more than five signed identifiers"));
                    }
                    current = Some(SignedIdentifier {
                        id: String::new(),
                        policy: AccessPolicy::default(),
                    });
                }
                path.push(name);
            }
            Event::Empty(empty) => {
                if !std::mem::take(&mut leaf_text).trim().is_empty() {
                    return Err(invalid("unexpected text"));
                }
                if path.is_empty() {
                    roots += 1;
                    if roots > 1 {
                        return Err(invalid("more than one root element"));
                    }
                }
                let name = String::from_utf8_lossy(empty.name().as_ref()).into_owned();
                let allowed = (path.len() == 2 && name == "AccessPolicy")
                    || (path.len() == 3
                        && matches!(name.as_str(), "Start" | "Expiry" | "Permission"))
                    || (path.is_empty() && name == "SignedIdentifiers");
                if !allowed {
                    return Err(invalid("unexpected element"));
                }
            }
            Event::Text(text) => {
                let value = text.decode().map_err(|_| invalid("malformed text"))?;
                leaf_text.push_str(&value);
            }
            Event::GeneralRef(reference) => {
                let name = reference
                    .decode()
                    .map_err(|_| invalid("malformed entity"))?;
                leaf_text.push(resolve_entity(&name).ok_or_else(|| invalid("unknown entity"))?);
            }
            Event::End(_) => {
                let closed = path.pop();
                let value = std::mem::take(&mut leaf_text);
                match closed.as_deref() {
                    Some("SignedIdentifier") => {
                        if let Some(identifier) = current.take() {
                            identifiers.push(identifier);
                        }
                    }
                    Some(leaf @ ("Id" | "Start" | "Expiry" | "Permission")) => {
                        let Some(identifier) = current.as_mut() else {
                            return Err(invalid("text outside a signed identifier"));
                        };
                        assign(identifier, leaf, value.trim())?;
                    }
                    _ if !value.trim().is_empty() => return Err(invalid("unexpected text")),
                    _ => {}
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::CData(_) => return Err(invalid("unexpected content")),
        }
    }
    if !path.is_empty() {
        return Err(invalid("unclosed element"));
    }
    if roots != 1 || !leaf_text.trim().is_empty() {
        return Err(invalid("expected one SignedIdentifiers document"));
    }
    Ok(identifiers)
}

fn assign(identifier: &mut SignedIdentifier, leaf: &str, value: &str) -> Result<(), StorageError> {
    match leaf {
        "Id" => identifier.id = value.to_string(),
        "Start" => {
            identifier.policy.start_ms =
                Some(parse_iso8601(value).ok_or_else(|| invalid("bad Start"))?)
        }
        "Expiry" => {
            identifier.policy.expiry_ms =
                Some(parse_iso8601(value).ok_or_else(|| invalid("bad Expiry"))?)
        }
        _ => {
            identifier.policy.permission =
                Some(Permissions::parse(value).ok_or_else(|| invalid("bad Permission"))?)
        }
    }
    Ok(())
}

/// Resolves XML's predefined entities and character references.
fn resolve_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_round_trip() {
        let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers><SignedIdentifier><Id>read&amp;only</Id><AccessPolicy><Start>2024-05-01T00:00:00Z</Start><Expiry>2024-05-02T00:00:00.0000000Z</Expiry><Permission>rl</Permission></AccessPolicy></SignedIdentifier><SignedIdentifier><Id>bare</Id><AccessPolicy /></SignedIdentifier></SignedIdentifiers>";
        let parsed = parse_identifiers(body.as_bytes());
        let Ok(parsed) = parsed else {
            panic!("rejected: {parsed:?}");
        };
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].id, "read&only");
        assert_eq!(
            parsed[0].policy.permission.map(|p| p.to_string()),
            Some("rl".into())
        );
        assert_eq!(parsed[1].policy, AccessPolicy::default());
        let again = parse_identifiers(render_identifiers(&parsed).as_bytes());
        assert_eq!(again, Ok(parsed));
    }

    #[test]
    fn bad_acl_bodies_are_invalid_xml() {
        let six: String = (0..6)
            .map(|n| format!("<SignedIdentifier><Id>{n}</Id><AccessPolicy/></SignedIdentifier>"))
            .collect();
        for body in [
            format!("<SignedIdentifiers>{six}</SignedIdentifiers>"),
            "<SignedIdentifiers><SignedIdentifier>".to_string(),
            "<Other/>".to_string(),
            "<SignedIdentifiers><SignedIdentifier><Id>x</Id><AccessPolicy><Permission>rqw</Permission></AccessPolicy></SignedIdentifier></SignedIdentifiers>".to_string(),
        ] {
            assert_eq!(
                parse_identifiers(body.as_bytes()).map_err(|e| e.code),
                Err(ErrorCode::InvalidXmlDocument),
                "{body}"
            );
        }
        assert_eq!(parse_identifiers(b""), Ok(Vec::new()));
    }
}
