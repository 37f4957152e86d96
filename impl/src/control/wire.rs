//! The control protocol on the wire: frames of a big-endian `u32` length and
//! that many bytes of JSON.
//!
//! Every byte read is untrusted: a length beyond [`MAX_FRAME_BYTES`] is an
//! error before anything is allocated, and no input makes decoding panic.

use super::identity::Identity;
use crate::net::{HostId, InstanceLists};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame body accepted or sent, in bytes (1 MiB).
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// The length prefix, in bytes.
const PREFIX_BYTES: usize = 4;

/// What the FC asks an FA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentRequest {
    /// Replace the host's allow lists with these.
    PushLists(InstanceLists),
    /// Are you there?
    Ping,
}

/// What an FA answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentResponse {
    /// The lists are applied; `host`'s filters are now at `version`.
    Applied {
        /// The host whose FA answers, as the FA claims. The FC trusts only
        /// the host its TLS connection authenticated, never this field alone.
        host: HostId,
        /// The version of the host's filters after the push.
        version: u64,
    },
    /// Answer to [`AgentRequest::Ping`].
    Pong,
    /// The request could not be served.
    Error {
        /// Why, in words.
        message: String,
    },
}

/// What SMAPI or an administrator asks the FC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlRequest {
    /// Open a session.
    Hello,
}

/// What the FC answers SMAPI or an administrator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlResponse {
    /// The session is open for `identity`.
    Accepted {
        /// Who the FC authenticated the caller as.
        identity: Identity,
    },
    /// The request could not be served.
    Error {
        /// Why, in words.
        message: String,
    },
}

/// Why a frame could not be read, written or decoded.
#[derive(Debug, Error)]
pub enum WireError {
    /// The transport failed.
    #[error("transport: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection between frames.
    #[error("connection closed")]
    Closed,
    /// The input ended inside a frame.
    #[error("truncated frame: {needed} bytes needed, {got} present")]
    Truncated {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes there were.
        got: usize,
    },
    /// The frame's length exceeds [`MAX_FRAME_BYTES`].
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The announced or attempted length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// Bytes follow the frame.
    #[error("{0} bytes after the frame")]
    Trailing(usize),
    /// The body is not the expected JSON message.
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// At most this many characters of a peer's free text are kept.
const MAX_PEER_MESSAGE_CHARS: usize = 200;

/// A peer's free text, cut short and quoted so it cannot forge log lines.
pub(crate) fn quote_untrusted(message: &str) -> String {
    let short: String = message.chars().take(MAX_PEER_MESSAGE_CHARS).collect();
    format!("{short:?}")
}

/// Encodes `msg` as one frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, WireError> {
    let body = serde_json::to_vec(msg).map_err(|e| WireError::Malformed(e.to_string()))?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|_| body.len() <= MAX_FRAME_BYTES)
        .ok_or(WireError::TooLarge {
            len: body.len(),
            max: MAX_FRAME_BYTES,
        })?;
    let mut frame = Vec::with_capacity(PREFIX_BYTES + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// The body length a prefix announces, if it is within bounds.
fn body_len(prefix: [u8; PREFIX_BYTES]) -> Result<usize, WireError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge {
            len,
            max: MAX_FRAME_BYTES,
        });
    }
    Ok(len)
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    serde_json::from_slice(body).map_err(|e| WireError::Malformed(e.to_string()))
}

/// Decodes `bytes`, which must hold exactly one frame.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    let (prefix, rest) = bytes
        .split_first_chunk::<PREFIX_BYTES>()
        .ok_or(WireError::Truncated {
            needed: PREFIX_BYTES,
            got: bytes.len(),
        })?;
    let len = body_len(*prefix)?;
    if rest.len() < len {
        return Err(WireError::Truncated {
            needed: PREFIX_BYTES + len,
            got: bytes.len(),
        });
    }
    if rest.len() > len {
        return Err(WireError::Trailing(rest.len() - len));
    }
    parse(rest)
}

/// Writes `msg` as one frame and flushes.
pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> Result<(), WireError> {
    let frame = encode(msg)?;
    w.write_all(&frame).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one frame. A clean end of stream before the frame starts is
/// [`WireError::Closed`]; an end inside it is [`WireError::Truncated`].
pub async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
) -> Result<T, WireError> {
    let mut prefix = [0u8; PREFIX_BYTES];
    let got = read_up_to(r, &mut prefix).await?;
    if got == 0 {
        return Err(WireError::Closed);
    }
    if got < PREFIX_BYTES {
        return Err(WireError::Truncated {
            needed: PREFIX_BYTES,
            got,
        });
    }
    let len = body_len(prefix)?;
    let mut body = vec![0u8; len];
    let got = read_up_to(r, &mut body).await?;
    if got < len {
        return Err(WireError::Truncated {
            needed: PREFIX_BYTES + len,
            got: PREFIX_BYTES + got,
        });
    }
    parse(&body)
}

/// Fills `buf` as far as the stream allows; returns how many bytes were read.
async fn read_up_to<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> Result<usize, WireError> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::net::Ipv4Addr;

    fn lists() -> InstanceLists {
        InstanceLists {
            version: 7,
            apps: BTreeMap::from([(0, BTreeSet::from([Ipv4Addr::new(192, 0, 2, 100)]))]),
        }
    }

    #[test]
    fn round_trip() {
        let req = AgentRequest::PushLists(lists());
        assert_eq!(
            decode::<AgentRequest>(&encode(&req).expect("encode")).expect("decode"),
            req
        );
        let resp = ControlResponse::Accepted {
            identity: Identity::Fa(3),
        };
        assert_eq!(
            decode::<ControlResponse>(&encode(&resp).expect("encode")).expect("decode"),
            resp
        );
    }

    #[test]
    fn hostile_input_is_an_error() {
        let frame = encode(&AgentRequest::Ping).expect("encode");
        for cut in 0..frame.len() {
            assert!(
                matches!(
                    decode::<AgentRequest>(&frame[..cut]),
                    Err(WireError::Truncated { .. })
                ),
                "cut at {cut}"
            );
        }
        let mut long = frame.clone();
        long.push(b' ');
        assert!(matches!(
            decode::<AgentRequest>(&long),
            Err(WireError::Trailing(1))
        ));
        assert!(matches!(
            decode::<AgentRequest>(&[0xff, 0xff, 0xff, 0xff]),
            Err(WireError::TooLarge {
                len: 0xffff_ffff,
                ..
            })
        ));
        let mut wrong = 4u32.to_be_bytes().to_vec();
        wrong.extend_from_slice(b"\"x\"}");
        assert!(matches!(
            decode::<AgentRequest>(&wrong),
            Err(WireError::Malformed(_))
        ));
        // A well-formed frame of the wrong message type.
        let pong = encode(&AgentResponse::Pong).expect("encode");
        assert!(matches!(
            decode::<AgentRequest>(&pong),
            Err(WireError::Malformed(_))
        ));
    }

    #[test]
    fn oversized_messages_are_not_sent() {
        let big = AgentResponse::Error {
            message: "x".repeat(MAX_FRAME_BYTES),
        };
        assert!(matches!(encode(&big), Err(WireError::TooLarge { .. })));
    }

    #[tokio::test]
    async fn stream_reads() {
        let frame = encode(&AgentRequest::Ping).expect("encode");
        let mut two = frame.clone();
        two.extend_from_slice(&frame);
        let mut r = two.as_slice();
        assert_eq!(
            read_frame::<_, AgentRequest>(&mut r).await.expect("first"),
            AgentRequest::Ping
        );
        assert_eq!(
            read_frame::<_, AgentRequest>(&mut r).await.expect("second"),
            AgentRequest::Ping
        );
        assert!(matches!(
            read_frame::<_, AgentRequest>(&mut r).await,
            Err(WireError::Closed)
        ));
        let mut cut = &frame[..frame.len() - 1];
        assert!(matches!(
            read_frame::<_, AgentRequest>(&mut cut).await,
            Err(WireError::Truncated { .. })
        ));
        let mut huge: &[u8] = &[0x7f, 0xff, 0xff, 0xff, b'{'];
        assert!(matches!(
            read_frame::<_, AgentRequest>(&mut huge).await,
            Err(WireError::TooLarge { .. })
        ));
    }
}
