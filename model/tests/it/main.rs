//! Integration tests of the model crate: one binary, a module per area.

mod network;
mod storage;
