//! One file per Blob operation (or small family of them): its parsing,
//! its execution and the write it sends to the replicas. The dispatcher,
//! [`Context::run`](super::Context), and what each operation needs to be
//! authorized ([`need_of`](super::request)) are in the parent.

use super::*;

mod container;
mod delete_blob;
mod get_blob;
mod lease_blob;
mod list;
mod metadata;
mod put_blob;
mod snapshot;
