//! The conformance harness: explores the model into a graph, generates traces
//! from it, writes and reads them as ITF JSON with a Markdown narrative beside
//! each, and replays them step by step against the implementation, in process
//! or over the wire. It also holds the `fabric` command-line tool.
//!
//! The harness is the only place where the model and the implementation meet:
//! `fabric-impl` depends on neither.

// Unit tests read as scenarios; the 100-line lint is for the library code,
// which the non-test build still checks.
#![cfg_attr(test, allow(clippy::too_many_lines))]

pub mod areas;
pub mod check;
pub mod claims;
pub mod cli;
pub mod demo;
pub mod generate;
pub mod graph;
pub mod itf;
pub mod linearize;
pub mod narrative;
pub mod replay;
pub mod serve;

pub use graph::StateGraph;
pub use itf::{Trace, TraceMeta};
