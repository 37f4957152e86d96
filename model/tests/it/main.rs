//! Integration tests of the model crate: one binary, a module per area.

// A test reads as one scenario from top to bottom, so the size lint
// (100 lines) is for the library code, not for tests.
#![allow(clippy::too_many_lines)]

mod network;
mod storage;
