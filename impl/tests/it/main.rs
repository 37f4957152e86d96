//! The crate's one integration-test binary; each area is a module.

// A test reads as one scenario from top to bottom, so the size lint
// (100 lines) is for the library code, not for tests.
#![allow(clippy::too_many_lines)]

mod control;
mod storage_input;
