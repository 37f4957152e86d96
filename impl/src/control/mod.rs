//! The control plane: the FC's placement logic and the FC and FA services
//! that carry instance lists over mutually authenticated TLS.
//!
//! The FC connects to each FA; an FA never connects anywhere (claim: NET-3).
//! [`controller`], [`agent`] and [`auth`] are the IO-free decision logic;
//! [`tls`] and [`service`] are the thin tokio and rustls shells around them;
//! [`fabric`] starts a whole control plane on loopback; [`hostile`] is a
//! compromised FA for tests and replay. [`identity`] is the leaf every
//! module may import: no file of `control/` imports a file that imports it
//! back.

pub mod agent;
pub mod auth;
pub mod controller;
pub mod error;
pub mod fabric;
pub mod hostile;
pub mod identity;
pub mod pki;
pub mod service;
pub mod tls;
pub mod wire;

pub use agent::Agent;
pub use auth::{authenticate_client, authenticate_fc_server, authenticate_server, ClientPolicy};
pub use controller::{Controller, MoveError};
pub use error::ControlError;
pub use fabric::{ControlCaller, Endpoint, FabricConfig, RunningFabric};
pub use hostile::HostileReply;
pub use identity::Identity;
pub use pki::{Credential, FabricPki, Fingerprint};
pub use service::{ServerHandle, ServerLimits};
pub use tls::{Refusal, RefusalLog, ServerPolicy, MAX_REFUSALS};
pub use wire::{
    AgentRequest, AgentResponse, ControlRequest, ControlResponse, WireError, MAX_FRAME_BYTES,
};
