//! Pure stateright models of the fabric's security claims.
//!
//! Each area of `CLAIMS.md` gets one [`stateright::Model`] with a `Config`
//! struct of bounds and an `into_model()` that builds it, in the manner of
//! stateright's own examples. Today there are two areas, [`network`] (claims
//! NET-1 to NET-15) and [`storage`] (claims STO-1 to STO-9, GEO-1 and the
//! storage side of DRV-1); drives, secrets and lifecycle follow the same
//! shape.
//!
//! # How to read a property
//!
//! Every claim is a pair of named properties:
//!
//! - an `always` property named `"NET-1 main VLAN never initiates to FC VLAN"`:
//!   the claim as a statement over every reachable state within the bounds;
//! - a `sometimes` property named `"NET-1 reached: FC opens into main VLAN"`:
//!   a witness that the interesting allowed case is reachable, so that the
//!   `always` does not hold by vacuity (a network that drops everything would
//!   satisfy every isolation claim).
//!
//! Claims are stated over what the network *delivered*, judged by an oracle
//! ([`network::claims_broken_by`]) that knows nothing of the mechanism (router,
//! connection tracking, packet filters, allow lists). The mechanism decides;
//! the oracle judges. A sticky ghost set of broken claims keeps the history, so
//! an `always` over it is the same as an `always` over every delivery ever made
//! while the state space stays small.
//!
//! # Flaws
//!
//! Each model has an `enum Flaw` of deliberate defects. A flaw removes one
//! mechanism that the seed documents describe, and names the claims it breaks.
//! The checker must find a counterexample for exactly those claims.
//!
//! # Purity
//!
//! Nothing here does IO, reads a clock or draws a random number: the same
//! config explores the same states, which is why state counts are pinned in
//! tests.

// Unit tests read as scenarios; the 100-line lint is for the library code,
// which the non-test build still checks.
#![cfg_attr(test, allow(clippy::too_many_lines))]

pub mod claims;
pub mod kit;
pub mod network;
pub mod storage;
pub mod trace;

pub use claims::{claim_of_property, ClaimId, ClaimSet, Prefix};
pub use trace::{TracedModel, TracedStep};
