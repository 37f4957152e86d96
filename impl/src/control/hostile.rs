//! A compromised FA, for tests and replay: a TLS server that holds a host's
//! real FA credential (so the FC's pin matches) and answers every push with a
//! forgery instead of programming filters. It shows that the FC judges an
//! answer by the authenticated peer and by the frame bounds, never by what
//! the answer says.

use super::auth::ClientPolicy;
use super::error::ControlError;
use super::identity::Identity;
use super::pki::Credential;
use super::service::{spawn_server, ServerHandle, ServerLimits, Service};
use super::wire::{encode, AgentRequest, AgentResponse, WireError};
use crate::bugs::BugSet;
use crate::net::HostId;
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

/// What a compromised FA answers to a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostileReply {
    /// A frame whose bytes are not a response.
    Garbage,
    /// An acknowledgement that names another host.
    AckForHost(HostId),
}

/// A compromised FA: it holds its host's real credential (so the FC's pin
/// matches) and answers every request with `reply`, touching no filters.
struct HostileAgent {
    reply: HostileReply,
    /// The version the FA claims to have applied.
    version: u64,
}

/// A whole frame (the length prefix says 11 bytes) whose body is not JSON.
const GARBAGE_FRAME: &[u8] = b"\x00\x00\x00\x0b\xff\x00 not JSON";

impl Service for HostileAgent {
    type Req = AgentRequest;
    type Resp = AgentResponse;

    fn serve(&self, _peer: Identity, _request: AgentRequest) -> AgentResponse {
        match self.reply {
            HostileReply::AckForHost(host) => AgentResponse::Applied {
                host,
                version: self.version,
            },
            // Not what goes out: [`Service::reply`] sends `GARBAGE_FRAME` instead.
            HostileReply::Garbage => AgentResponse::Error {
                message: "garbage".into(),
            },
        }
    }

    fn error(message: String) -> AgentResponse {
        AgentResponse::Error { message }
    }

    fn reply(&self, peer: Identity, request: AgentRequest) -> Result<Vec<u8>, WireError> {
        match self.reply {
            HostileReply::Garbage => Ok(GARBAGE_FRAME.to_vec()),
            HostileReply::AckForHost(_) => encode(&self.serve(peer, request)),
        }
    }
}

/// Starts a compromised FA's TLS server: like
/// [`spawn_fa_server`](super::service::spawn_fa_server), it
/// presents `credential` (a host's real FA credential) and accepts only
/// clients chained to `root`, but it answers every request with `reply`
/// (claiming `version` where the reply names one) and programs nothing.
pub(crate) async fn spawn_hostile_fa_server(
    reply: HostileReply,
    version: u64,
    credential: &Credential,
    root: CertificateDer<'static>,
    bugs: BugSet,
    limits: ServerLimits,
) -> Result<ServerHandle, ControlError> {
    spawn_server(
        HostileAgent { reply, version },
        credential,
        ClientPolicy::ChainedToRoot { root },
        bugs,
        limits,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::wire::decode;

    #[test]
    fn garbage_is_a_whole_frame_that_is_not_a_response() {
        assert!(matches!(
            decode::<AgentResponse>(GARBAGE_FRAME),
            Err(WireError::Malformed(_))
        ));
        let ack = HostileAgent {
            reply: HostileReply::AckForHost(1),
            version: 4,
        }
        .reply(Identity::Fc, AgentRequest::Ping)
        .expect("encodes");
        assert_eq!(
            decode::<AgentResponse>(&ack).expect("a response"),
            AgentResponse::Applied {
                host: 1,
                version: 4
            }
        );
    }
}
