//! A working fabric: a userspace virtual network that enforces the isolation
//! rules, and a Fabric Controller (FC) that drives Fabric Agents (FA) over
//! mutually authenticated TLS.
//!
//! Every allow/deny decision is a plain function over plain data (see
//! [`net::decide`]); the tokio services in [`control`] are thin shells around
//! state machines that are themselves IO-free, so the conformance harness can
//! drive the same logic in process or over the wire.
//!
//! **Architecture invariant:** this crate never depends on the model or the
//! conformance harness. If it did, conformance would compare the model with
//! itself.

// Unit tests read as scenarios; the 100-line lint is for the library code,
// which the non-test build still checks.
#![cfg_attr(test, allow(clippy::too_many_lines))]

pub mod bugs;
pub mod control;
pub mod net;
pub mod secret;
pub mod storage;
