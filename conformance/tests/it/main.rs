//! Integration tests of the conformance crate: one binary, a module per concern.

mod architecture;
mod claims;
mod cli;
mod replay;
mod seeded_bugs;
mod storage_sdk;
mod storage_traces;
mod traces;

use std::path::PathBuf;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}
