//! A Shared Key load generator for Azure-Blob-compatible endpoints: one
//! HTTP/1.1 keep-alive connection per client (hyper's client connection),
//! each request signed with the implementation's own signer
//! ([`sign_shared_key`]), so it targets fabric's storage service and Azurite
//! alike by endpoint URL, account and key.

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use fabric_impl::storage::auth::{sign_shared_key, RequestView};
use fabric_impl::storage::clock::{format_http_date, now_ms};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::TcpStream;

/// The `x-ms-version` every request carries: one both servers speak
/// (Azurite 3.35.0's own version; fabric accepts it too).
pub const API_VERSION: &str = "2025-11-05";

/// A server to load: where it is and how to sign for it.
#[derive(Clone, Debug)]
pub struct Target {
    /// A label for tables.
    pub name: String,
    /// `HOST:PORT`.
    pub authority: String,
    /// The account, the path's first segment (path-style URLs).
    pub account: String,
    /// The account key, decoded.
    pub key: Vec<u8>,
}

impl Target {
    /// A target from a path-style endpoint, `http://HOST:PORT/ACCOUNT`, and
    /// the account's base64 key.
    pub fn from_endpoint(name: &str, endpoint: &str, key_base64: &str) -> Result<Target> {
        let rest = endpoint
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("{endpoint}: only http:// endpoints are supported"))?;
        let (authority, account) = rest
            .split_once('/')
            .ok_or_else(|| anyhow!("{endpoint}: expected http://HOST:PORT/ACCOUNT"))?;
        let account = account.trim_end_matches('/');
        if authority.is_empty() || account.is_empty() || account.contains('/') {
            bail!("{endpoint}: expected http://HOST:PORT/ACCOUNT");
        }
        let key = STANDARD
            .decode(key_base64)
            .with_context(|| format!("the key for {name} is not base64"))?;
        Ok(Target {
            name: name.to_string(),
            authority: authority.to_string(),
            account: account.to_string(),
            key,
        })
    }
}

/// How a request is authorized.
#[derive(Clone, Debug, Default)]
pub enum Auth {
    /// Shared Key with the target's key.
    #[default]
    SharedKey,
    /// Shared Key with another key (a wrong signature).
    WrongKey,
    /// No `Authorization` header.
    Anonymous,
}

/// One request, before signing.
#[derive(Clone, Debug)]
pub struct Call {
    /// `GET`, `PUT`, ...
    pub method: &'static str,
    /// The path after the account: `/container` or `/container/blob`. Only
    /// URL-safe characters, so the path is sent and signed as written.
    pub resource: String,
    /// Query parameters, URL-safe names and values.
    pub query: Vec<(String, String)>,
    /// Extra headers (lowercase names), signed with the rest.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// How to authorize it.
    pub auth: Auth,
    /// `x-ms-date`, if not now.
    pub date_ms: Option<i64>,
    /// `x-ms-version`, if not [`API_VERSION`].
    pub version: Option<String>,
}

impl Call {
    /// A request with no query, no extra headers and no body.
    pub fn new(method: &'static str, resource: impl Into<String>) -> Call {
        Call {
            method,
            resource: resource.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::new(),
            auth: Auth::SharedKey,
            date_ms: None,
            version: None,
        }
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: &str, value: &str) -> Call {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds a header (its name lowercased).
    pub fn header(mut self, name: &str, value: &str) -> Call {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Bytes) -> Call {
        self.body = body;
        self
    }

    /// Sets how it is authorized.
    pub fn auth(mut self, auth: Auth) -> Call {
        self.auth = auth;
        self
    }

    /// Sets `x-ms-date`.
    pub fn date_ms(mut self, at_ms: i64) -> Call {
        self.date_ms = Some(at_ms);
        self
    }

    /// Sets `x-ms-version`.
    pub fn version(mut self, version: &str) -> Call {
        self.version = Some(version.to_string());
        self
    }

    /// `PUT` of a block blob.
    pub fn put_blob(resource: impl Into<String>, body: Bytes) -> Call {
        Call::new("PUT", resource)
            .header("x-ms-blob-type", "BlockBlob")
            .body(body)
    }

    /// `PUT ?restype=container`.
    pub fn create_container(container: &str) -> Call {
        Call::new("PUT", format!("/{container}")).query("restype", "container")
    }
}

/// A response, read whole.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// `x-ms-error-code`, or the `<Code>` of an XML error body.
    pub fn error_code(&self) -> Option<String> {
        if let Some(code) = self.header("x-ms-error-code") {
            return Some(code.to_string());
        }
        let text = std::str::from_utf8(&self.body).ok()?;
        let start = text.find("<Code>")? + "<Code>".len();
        let end = text[start..].find("</Code>")? + start;
        Some(text[start..end].to_string())
    }
}

/// One client: one keep-alive connection, one request at a time.
pub struct Client {
    target: Arc<Target>,
    sender: http1::SendRequest<Full<Bytes>>,
}

const WRONG_KEY: &[u8] = b"not the account key, not the account key, not it";

impl Client {
    /// Opens a connection to `target`.
    pub async fn connect(target: Arc<Target>) -> Result<Client> {
        let stream = TcpStream::connect(&target.authority)
            .await
            .with_context(|| format!("cannot connect to {} ({})", target.name, target.authority))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake failed")?;
        tokio::spawn(async move {
            // The connection ends when the client is dropped or the server
            // closes it; the next `send` reports the latter.
            let _ = connection.await;
        });
        Ok(Client { target, sender })
    }

    /// Sends `call`, signed, on this connection and reads the whole reply.
    pub async fn send(&mut self, call: &Call) -> Result<Reply> {
        let target = Arc::clone(&self.target);
        let path = format!("/{}{}", target.account, call.resource);
        let mut headers: Vec<(String, String)> = Vec::with_capacity(call.headers.len() + 4);
        headers.push((
            "x-ms-date".to_string(),
            format_http_date(call.date_ms.unwrap_or_else(now_ms)),
        ));
        headers.push((
            "x-ms-version".to_string(),
            call.version
                .clone()
                .unwrap_or_else(|| API_VERSION.to_string()),
        ));
        if !call.body.is_empty() || matches!(call.method, "PUT" | "POST") {
            headers.push(("content-length".to_string(), call.body.len().to_string()));
        }
        headers.extend(call.headers.iter().cloned());
        let key: Option<&[u8]> = match call.auth {
            Auth::SharedKey => Some(&target.key),
            Auth::WrongKey => Some(WRONG_KEY),
            Auth::Anonymous => None,
        };
        if let Some(key) = key {
            let view = RequestView {
                method: call.method,
                path: &path,
                query: &call.query,
                headers: &headers,
                peer_ip: None,
            };
            let authorization = sign_shared_key(&view, &target.account, key);
            headers.push(("authorization".to_string(), authorization));
        }
        let mut uri = path;
        for (index, (name, value)) in call.query.iter().enumerate() {
            uri.push(if index == 0 { '?' } else { '&' });
            uri.push_str(name);
            uri.push('=');
            uri.push_str(value);
        }
        let mut builder = hyper::Request::builder()
            .method(call.method)
            .uri(uri)
            .header("host", target.authority.as_str());
        for (name, value) in &headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder
            .body(Full::new(call.body.clone()))
            .context("cannot build the request")?;
        self.sender
            .ready()
            .await
            .with_context(|| format!("{}: connection closed", target.name))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .with_context(|| format!("{}: request failed", target.name))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("{}: reading the body failed", target.name))?
            .to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}
