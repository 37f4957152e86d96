//! The HTTP shell: accepts connections, bounds what it reads, turns each
//! request into a [`BlobRequest`](super::service::BlobRequest), reads the clock once
//! and hands it to the [`StorageService`].

use super::clock::now_ms;
use super::error::{ErrorCode, StorageError};
use super::service::{error_response, BlobRequest, BlobResponse, StorageService, MAX_PUT_BYTES};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The most header bytes (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The most headers a request may carry.
pub const MAX_HEADERS: usize = 100;

/// How long a connection may take to send its headers.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;

/// Where the shell reads the time.
pub type Clock = Arc<dyn Fn() -> super::clock::UnixMs + Send + Sync>;

/// A running HTTP front end.
#[derive(Debug)]
pub struct StorageServer {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl StorageServer {
    /// Serves `service` on `listener` until [`StorageServer::shutdown`].
    pub fn start(
        listener: TcpListener,
        service: Arc<StorageService>,
    ) -> std::io::Result<StorageServer> {
        Self::start_with_clock(listener, service, Arc::new(now_ms))
    }

    /// As [`StorageServer::start`], reading the time from `clock` (the
    /// conformance harness runs the service on the model's clock).
    pub fn start_with_clock(
        listener: TcpListener,
        service: Arc<StorageService>,
        clock: Clock,
    ) -> std::io::Result<StorageServer> {
        let local_addr = listener.local_addr()?;
        let (shutdown, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = stopped.changed() => break,
                };
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = Arc::clone(&service);
                let clock = Arc::clone(&clock);
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let handler = service_fn(move |request| {
                        let service = Arc::clone(&service);
                        let now = clock();
                        async move {
                            Ok::<_, std::convert::Infallible>(
                                serve(&service, request, peer, now).await,
                            )
                        }
                    });
                    let mut builder = http1::Builder::new();
                    builder
                        .max_buf_size(MAX_HEADER_BYTES + 16 * 1024)
                        .max_headers(MAX_HEADERS)
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(Duration::from_millis(HEADER_READ_TIMEOUT_MS));
                    let connection = builder.serve_connection(TokioIo::new(stream), handler);
                    tokio::pin!(connection);
                    tokio::select! {
                        result = connection.as_mut() => {
                            if let Err(error) = result {
                                tracing::debug!(%error, %peer, "connection ended");
                            }
                        }
                        _ = stopped.changed() => connection.as_mut().graceful_shutdown(),
                    }
                });
            }
        });
        Ok(StorageServer {
            local_addr,
            shutdown,
            task,
        })
    }

    /// Stops accepting and waits for the accept loop to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

async fn serve(
    service: &StorageService,
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
    now: super::clock::UnixMs,
) -> hyper::Response<Full<Bytes>> {
    let head = request.method() == hyper::Method::HEAD;
    let response = match read_request(request, peer).await {
        Ok(request) => service.handle(request, now).await,
        Err(error) => {
            let request_id = uuid::Uuid::new_v4().to_string();
            let mut response = error_response(&error, &request_id, now, head);
            response
                .headers
                .push(("x-ms-request-id".into(), request_id));
            response
        }
    };
    to_hyper(response)
}

fn to_hyper(response: BlobResponse) -> hyper::Response<Full<Bytes>> {
    let mut builder = hyper::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Full::new(response.body))
        .unwrap_or_else(|error| {
            tracing::error!(%error, "could not build a response");
            let mut fallback = hyper::Response::new(Full::new(Bytes::new()));
            *fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
}

/// Turns a hyper request into plain data, bounded: headers by
/// [`MAX_HEADER_BYTES`], the body by [`MAX_PUT_BYTES`].
async fn read_request(
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> Result<BlobRequest, StorageError> {
    let (parts, body) = request.into_parts();
    let mut header_bytes = 0usize;
    let mut headers = Vec::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        header_bytes += name.as_str().len() + value.len();
        if header_bytes > MAX_HEADER_BYTES {
            return Err(StorageError::new(ErrorCode::RequestHeaderTooLarge));
        }
        let value = value
            .to_str()
            .map_err(|_| StorageError::with_detail(ErrorCode::InvalidHeaderValue, name.as_str()))?;
        headers.push((name.as_str().to_ascii_lowercase(), value.trim().to_string()));
    }
    let query = match parts.uri.query() {
        Some(text) => parse_query(text)?,
        None => Vec::new(),
    };
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    StorageError::with_detail(ErrorCode::InvalidHeaderValue, "content-length")
                })
        })
        .transpose()?;
    if declared.is_some_and(|length| length > MAX_PUT_BYTES) {
        return Err(StorageError::new(ErrorCode::RequestBodyTooLarge));
    }
    let limit = usize::try_from(MAX_PUT_BYTES).unwrap_or(usize::MAX);
    let body = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|error| {
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                StorageError::new(ErrorCode::RequestBodyTooLarge)
            } else {
                StorageError::with_detail(ErrorCode::InvalidInput, "the body could not be read")
            }
        })?
        .to_bytes();
    Ok(BlobRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query,
        headers,
        body,
        peer_ip: Some(peer.ip()),
    })
}

/// The most query parameters a request may carry.
pub const MAX_QUERY_PARAMETERS: usize = 64;

/// Decodes a query string (`+` is a space, as form encoding has it).
pub fn parse_query(text: &str) -> Result<Vec<(String, String)>, StorageError> {
    let mut pairs = Vec::new();
    for part in text.split('&').filter(|part| !part.is_empty()) {
        if pairs.len() == MAX_QUERY_PARAMETERS {
            return Err(StorageError::with_detail(
                ErrorCode::InvalidQueryParameterValue,
                "too many parameters",
            ));
        }
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let decode = |text: &str| {
            let spaced = text.replace('+', " ");
            percent_encoding::percent_decode_str(&spaced)
                .decode_utf8()
                .map(|decoded| decoded.into_owned())
                .map_err(|_| {
                    StorageError::with_detail(ErrorCode::InvalidQueryParameterValue, "not UTF-8")
                })
        };
        pairs.push((decode(name)?, decode(value)?));
    }
    Ok(pairs)
}
