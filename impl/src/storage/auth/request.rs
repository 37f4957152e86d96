//! The request as the decision sees it: plain data borrowed from the shell.

use std::net::IpAddr;

/// A request as [`authorize`] sees it: plain data, borrowed from the shell.
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    /// The HTTP method as received (upper case: `GET`, `PUT`, ...).
    pub method: &'a str,
    /// The URL path exactly as received, still percent-encoded and
    /// path-style: `/ACCOUNT/container/blob`.
    pub path: &'a str,
    /// The query parameters, percent-decoded, in the order received.
    pub query: &'a [(String, String)],
    /// The headers, names lowercased, values as received, in order.
    pub headers: &'a [(String, String)],
    /// The caller's address, if the shell knows it (a SAS with `sip` is
    /// refused without it).
    pub peer_ip: Option<IpAddr>,
}

impl<'a> RequestView<'a> {
    /// Every value of header `name` (any case), joined with `,`; `None` if
    /// the request does not carry it.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut values = self
            .headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim());
        let first = values.next()?;
        Some(values.fold(first.to_string(), |mut joined, value| {
            joined.push(',');
            joined.push_str(value);
            joined
        }))
    }

    /// The account named by the path's first segment.
    pub fn url_account(&self) -> &'a str {
        let path = self.path;
        let rest = path.strip_prefix('/').unwrap_or(path);
        rest.split('/').next().unwrap_or_default()
    }

    pub(super) fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .count()
    }
}
