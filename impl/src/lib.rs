//! impl
