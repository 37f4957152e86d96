//! The crate's one integration-test binary; each area is a module.

mod control;
mod storage_input;
