//! The control plane's error type, shared by the IO-free decisions and the
//! tokio shells.

use super::wire::WireError;
use crate::net::{Denied, HostId};
use thiserror::Error;

/// Why a control-plane operation failed.
#[derive(Debug, Error)]
pub enum ControlError {
    /// Certificates could not be generated.
    #[error("certificate generation: {0}")]
    Pki(#[from] rcgen::Error),
    /// The transport failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// TLS failed (configuration, handshake, or an alert from the peer).
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// A frame could not be read, written or decoded.
    #[error("wire: {0}")]
    Wire(#[from] WireError),
    /// The operation did not finish in time.
    #[error("timed out after {timeout_ms} ms")]
    Timeout {
        /// The time allowed, in milliseconds.
        timeout_ms: u64,
    },
    /// The server refused our certificate, for the reason it recorded.
    #[error("refused by the server: {0}")]
    Refused(Denied),
    /// We refused the server's certificate.
    #[error("server certificate not trusted: {0}")]
    ServerNotTrusted(Denied),
    /// The peer answered something it should not have.
    #[error("untrusted response rejected: {0}")]
    UntrustedResponse(String),
    /// The fabric has no such host.
    #[error("no such host: {0}")]
    NoSuchHost(HostId),
    /// The fabric was set up inconsistently.
    #[error("configuration: {0}")]
    Config(String),
}
