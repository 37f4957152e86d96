//! An Azure-Blob-compatible storage service: path-style REST over HTTP,
//! Shared Key and SAS authorization, stored access policies, public access,
//! block blobs with snapshots and leases, and three durable replicas.
//!
//! The layers, from the wire in:
//!
//! - [`http`]: the hyper shell. It bounds what it reads, turns a request
//!   into plain data, reads the clock once and calls the service.
//! - [`auth`]: pure. Shared Key canonicalization and signature check, SAS
//!   parsing and verification, and [`auth::authorize`], the one decision
//!   that says who may do what (STO-1 to STO-5).
//! - [`ops`]: pure decisions over stored records: lease rules, snapshot
//!   rules, what a put or delete does to a blob (DRV-1, STO-6, STO-9).
//! - [`store`]: three replicas, each a redb database in its own directory;
//!   a write is acknowledged only once all three hold it durably, and reads
//!   come only from a replica that has every acknowledged write (STO-6,
//!   STO-7).
//! - [`service`]: accounts and their keys (STO-2, STO-8), replica placement
//!   (GEO-1), and the operations that join the above.

pub mod acl;
pub mod auth;
pub mod clock;
pub mod error;
pub mod http;
pub mod lease;
pub mod ops;
pub mod service;
pub mod store;
pub mod xml;
