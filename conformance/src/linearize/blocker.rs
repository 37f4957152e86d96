//! What the search of one key ends with, and where it got stuck.

use super::register::State;
use std::collections::BTreeSet;

/// How the search of one key ended.
pub(super) enum KeyVerdict {
    Linearizable,
    Violation(Blocker),
    Unknown,
}

/// The operation the search could not get past at its furthest point.
pub(super) struct Blocker {
    /// Index into `KeyRegister::ops`.
    pub(super) op: usize,
    /// Definite operations linearized there.
    pub(super) depth: usize,
    /// Register states in which it was stuck there.
    pub(super) states: BTreeSet<State>,
    /// A definite write that, in real time, follows every write the
    /// operation could have observed and precedes the operation.
    pub(super) overwritten_by: Option<usize>,
}
