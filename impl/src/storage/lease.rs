//! Blob leases as a pure state machine: acquire, renew, change, release and
//! break, and the fence a lease puts on writes (DRV-1's storage side: "the
//! storage service itself refuses writes from any other holder").
//!
//! Time-based moves (a fixed lease expiring, a breaking lease becoming
//! broken) are not events: [`LeaseState::at`] reads them off the clock
//! passed in, so the stored state never needs a timer.

use super::clock::UnixMs;
use super::error::{ErrorCode, StorageError};
use serde::{Deserialize, Serialize};

/// The shortest fixed lease, in seconds.
pub const MIN_LEASE_DURATION_S: i64 = 15;
/// The longest fixed lease, in seconds.
pub const MAX_LEASE_DURATION_S: i64 = 60;
/// The longest break period, in seconds.
pub const MAX_BREAK_PERIOD_S: i64 = 60;

/// A lease's stored state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LeaseState {
    /// No lease.
    #[default]
    Available,
    /// Held by `id` until `expires_ms` (`None`: infinite).
    Leased {
        /// The lease id.
        id: String,
        /// When a fixed lease ends.
        expires_ms: Option<UnixMs>,
        /// The duration it was acquired with, for renewals (`None`: infinite).
        duration_s: Option<i64>,
    },
    /// Broken on request; still fences writes until `broken_ms`.
    // mutants: every arm on `Breaking` survives the conformance suite: the
    // model breaks with a zero period only, so no trace holds a breaking
    // lease; this module's unit tests pin them.
    Breaking {
        /// The lease id.
        id: String,
        /// When it becomes broken.
        broken_ms: UnixMs,
    },
    /// Broken: no longer fences writes; only release or a new acquire.
    Broken {
        /// The old lease id.
        id: String,
    },
    /// A fixed lease that ran out; renewable by its holder.
    Expired {
        /// The old lease id.
        id: String,
        /// The duration it was acquired with.
        duration_s: Option<i64>,
    },
}

/// A lease request (`x-ms-lease-action` and its headers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseAction {
    /// Acquire for `duration_s` (`None`: infinite) under `proposed_id`.
    Acquire {
        /// Seconds, 15 to 60, or `None` for infinite.
        duration_s: Option<i64>,
        /// The id to use.
        proposed_id: String,
    },
    /// Renew the lease `id`.
    Renew {
        /// The lease id.
        id: String,
    },
    /// Change the lease `id` to `proposed_id`.
    Change {
        /// The current lease id.
        id: String,
        /// The new one.
        proposed_id: String,
    },
    /// Release the lease `id`.
    Release {
        /// The lease id.
        id: String,
    },
    /// Break the lease after `period_s` (`None`: the remaining time of a
    /// fixed lease, at once for an infinite one).
    Break {
        /// Seconds, 0 to 60.
        period_s: Option<i64>,
    },
}

/// What a lease operation answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseAnswer {
    /// The lease id to return in `x-ms-lease-id` (not for break).
    pub id: Option<String>,
    /// The seconds until a break takes effect (`x-ms-lease-time`, break only).
    pub break_in_s: Option<i64>,
}

impl LeaseState {
    /// The state as of `now_ms`: a fixed lease past its end is expired, a
    /// breaking lease past its break time is broken.
    pub fn at(&self, now_ms: UnixMs) -> LeaseState {
        match self {
            LeaseState::Leased {
                id,
                expires_ms: Some(end),
                duration_s,
            } if *end <= now_ms => LeaseState::Expired {
                id: id.clone(),
                duration_s: *duration_s,
            },
            LeaseState::Breaking { id, broken_ms } if *broken_ms <= now_ms => {
                LeaseState::Broken { id: id.clone() }
            }
            other => other.clone(),
        }
    }

    /// The id of the lease that fences writes now, if any.
    pub fn active_id(&self, now_ms: UnixMs) -> Option<String> {
        match self.at(now_ms) {
            LeaseState::Leased { id, .. } | LeaseState::Breaking { id, .. } => Some(id),
            _ => None,
        }
    }

    /// `x-ms-lease-state`.
    // mutants: survives the conformance suite, whose adapter reads leases
    // from the store; the SDK suite reads the header.
    pub fn state_name(&self, now_ms: UnixMs) -> &'static str {
        match self.at(now_ms) {
            LeaseState::Available => "available",
            LeaseState::Leased { .. } => "leased",
            LeaseState::Breaking { .. } => "breaking",
            LeaseState::Broken { .. } => "broken",
            LeaseState::Expired { .. } => "expired",
        }
    }

    /// `x-ms-lease-status`.
    pub fn status_name(&self, now_ms: UnixMs) -> &'static str {
        if self.active_id(now_ms).is_some() {
            "locked"
        } else {
            "unlocked"
        }
    }

    /// `x-ms-lease-duration`, only while leased.
    pub fn duration_name(&self, now_ms: UnixMs) -> Option<&'static str> {
        match self.at(now_ms) {
            LeaseState::Leased {
                expires_ms: None, ..
            } => Some("infinite"),
            LeaseState::Leased { .. } => Some("fixed"),
            _ => None,
        }
    }
}

fn lease_error(code: ErrorCode) -> StorageError {
    StorageError::new(code)
}

/// Checks a lease duration header value: `-1` (infinite) or 15 to 60.
pub fn parse_duration(text: &str) -> Result<Option<i64>, StorageError> {
    let value: i64 = text.trim().parse().map_err(|_| {
        StorageError::with_detail(ErrorCode::InvalidHeaderValue, "x-ms-lease-duration")
    })?;
    match value {
        -1 => Ok(None),
        MIN_LEASE_DURATION_S..=MAX_LEASE_DURATION_S => Ok(Some(value)),
        _ => Err(StorageError::with_detail(
            ErrorCode::InvalidHeaderValue,
            "x-ms-lease-duration",
        )),
    }
}

/// Applies `action` to the lease `state` at `now_ms`: the new state and the
/// answer, or the service's refusal.
// claim: DRV-1
// Long: the lease state machine is one match over (state, action), read as a table.
#[allow(clippy::too_many_lines)]
pub fn apply(
    state: &LeaseState,
    action: &LeaseAction,
    now_ms: UnixMs,
) -> Result<(LeaseState, LeaseAnswer), StorageError> {
    let current = state.at(now_ms);
    let ends = |duration_s: Option<i64>| duration_s.map(|s| now_ms + s * 1000);
    match action {
        LeaseAction::Acquire {
            duration_s,
            proposed_id,
        } => {
            match &current {
                LeaseState::Leased { id, .. } if id != proposed_id => {
                    return Err(lease_error(ErrorCode::LeaseAlreadyPresent))
                }
                LeaseState::Breaking { id, .. } if id == proposed_id => {
                    return Err(lease_error(ErrorCode::LeaseIsBreakingAndCannotBeAcquired))
                }
                LeaseState::Breaking { .. } => {
                    return Err(lease_error(ErrorCode::LeaseAlreadyPresent))
                }
                _ => {}
            }
            Ok((
                LeaseState::Leased {
                    id: proposed_id.clone(),
                    expires_ms: ends(*duration_s),
                    duration_s: *duration_s,
                },
                LeaseAnswer {
                    id: Some(proposed_id.clone()),
                    break_in_s: None,
                },
            ))
        }
        LeaseAction::Renew { id } => match &current {
            LeaseState::Leased {
                id: held,
                duration_s,
                ..
            }
            | LeaseState::Expired {
                id: held,
                duration_s,
            } => {
                if held != id {
                    return Err(lease_error(ErrorCode::LeaseIdMismatchWithLeaseOperation));
                }
                Ok((
                    LeaseState::Leased {
                        id: id.clone(),
                        expires_ms: ends(*duration_s),
                        duration_s: *duration_s,
                    },
                    LeaseAnswer {
                        id: Some(id.clone()),
                        break_in_s: None,
                    },
                ))
            }
            LeaseState::Breaking { id: held, .. } | LeaseState::Broken { id: held } => {
                if held != id {
                    Err(lease_error(ErrorCode::LeaseIdMismatchWithLeaseOperation))
                } else {
                    Err(lease_error(ErrorCode::LeaseIsBrokenAndCannotBeRenewed))
                }
            }
            LeaseState::Available => Err(lease_error(ErrorCode::LeaseNotPresentWithLeaseOperation)),
        },
        LeaseAction::Change { id, proposed_id } => match &current {
            LeaseState::Leased {
                id: held,
                expires_ms,
                duration_s,
            } => {
                if held != id && held != proposed_id {
                    return Err(lease_error(ErrorCode::LeaseIdMismatchWithLeaseOperation));
                }
                Ok((
                    LeaseState::Leased {
                        id: proposed_id.clone(),
                        expires_ms: *expires_ms,
                        duration_s: *duration_s,
                    },
                    LeaseAnswer {
                        id: Some(proposed_id.clone()),
                        break_in_s: None,
                    },
                ))
            }
            LeaseState::Breaking { .. } => {
                Err(lease_error(ErrorCode::LeaseIsBreakingAndCannotBeChanged))
            }
            _ => Err(lease_error(ErrorCode::LeaseNotPresentWithLeaseOperation)),
        },
        LeaseAction::Release { id } => match &current {
            LeaseState::Leased { id: held, .. }
            | LeaseState::Breaking { id: held, .. }
            | LeaseState::Broken { id: held }
            | LeaseState::Expired { id: held, .. } => {
                if held != id {
                    return Err(lease_error(ErrorCode::LeaseIdMismatchWithLeaseOperation));
                }
                Ok((
                    LeaseState::Available,
                    LeaseAnswer {
                        id: Some(id.clone()),
                        break_in_s: None,
                    },
                ))
            }
            LeaseState::Available => Err(lease_error(ErrorCode::LeaseNotPresentWithLeaseOperation)),
        },
        // mutants: the break-period and remaining-time arithmetic below
        // survives the conformance suite (the model breaks with a zero
        // period only); this module's unit tests pin it.
        LeaseAction::Break { period_s } => {
            if let Some(period) = period_s {
                if !(0..=MAX_BREAK_PERIOD_S).contains(period) {
                    return Err(StorageError::with_detail(
                        ErrorCode::InvalidHeaderValue,
                        "x-ms-lease-break-period",
                    ));
                }
            }
            match &current {
                LeaseState::Leased { id, expires_ms, .. } => {
                    let remaining_ms = expires_ms.map_or(0, |end| (end - now_ms).max(0));
                    let wait_ms = period_s.map_or(remaining_ms, |s| {
                        (s * 1000).min(if expires_ms.is_some() {
                            remaining_ms
                        } else {
                            i64::MAX
                        })
                    });
                    let state = if wait_ms == 0 {
                        LeaseState::Broken { id: id.clone() }
                    } else {
                        LeaseState::Breaking {
                            id: id.clone(),
                            broken_ms: now_ms + wait_ms,
                        }
                    };
                    Ok((
                        state,
                        LeaseAnswer {
                            id: None,
                            break_in_s: Some((wait_ms + 999) / 1000),
                        },
                    ))
                }
                LeaseState::Breaking { id, broken_ms } => {
                    let requested = period_s.map_or(*broken_ms, |s| now_ms + s * 1000);
                    let until = requested.min(*broken_ms);
                    let state = if until <= now_ms {
                        LeaseState::Broken { id: id.clone() }
                    } else {
                        LeaseState::Breaking {
                            id: id.clone(),
                            broken_ms: until,
                        }
                    };
                    Ok((
                        state,
                        LeaseAnswer {
                            id: None,
                            break_in_s: Some(((until - now_ms).max(0) + 999) / 1000),
                        },
                    ))
                }
                LeaseState::Broken { id } | LeaseState::Expired { id, .. } => Ok((
                    LeaseState::Broken { id: id.clone() },
                    LeaseAnswer {
                        id: None,
                        break_in_s: Some(0),
                    },
                )),
                LeaseState::Available => {
                    Err(lease_error(ErrorCode::LeaseNotPresentWithLeaseOperation))
                }
            }
        }
    }
}

/// The fence: may a write (or delete) carrying `lease_id` go ahead on a blob
/// whose lease is `state`?
// claim: DRV-1
pub fn check_write(
    state: &LeaseState,
    lease_id: Option<&str>,
    now_ms: UnixMs,
) -> Result<(), StorageError> {
    match (state.active_id(now_ms), lease_id) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(lease_error(ErrorCode::LeaseNotPresentWithBlobOperation)),
        (Some(_), None) => Err(lease_error(ErrorCode::LeaseIdMissing)),
        (Some(held), Some(given)) if held == given => Ok(()),
        (Some(_), Some(_)) => Err(lease_error(ErrorCode::LeaseIdMismatchWithBlobOperation)),
    }
}

/// A read may carry a lease id; if it does, it must be the active one.
pub fn check_read(
    state: &LeaseState,
    lease_id: Option<&str>,
    now_ms: UnixMs,
) -> Result<(), StorageError> {
    match lease_id {
        None => Ok(()),
        Some(_) => check_write(state, lease_id, now_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acquire(duration_s: Option<i64>, id: &str) -> LeaseAction {
        LeaseAction::Acquire {
            duration_s,
            proposed_id: id.to_string(),
        }
    }

    fn code<T>(result: Result<T, StorageError>) -> Option<ErrorCode> {
        result.err().map(|e| e.code)
    }

    #[test]
    fn a_lease_fences_writes_until_released() {
        let (leased, answer) =
            apply(&LeaseState::Available, &acquire(None, "a"), 0).unwrap_or_default_for_test();
        assert_eq!(answer.id.as_deref(), Some("a"));
        assert_eq!(
            code(check_write(&leased, None, 5)),
            Some(ErrorCode::LeaseIdMissing)
        );
        assert_eq!(
            code(check_write(&leased, Some("b"), 5)),
            Some(ErrorCode::LeaseIdMismatchWithBlobOperation)
        );
        assert_eq!(check_write(&leased, Some("a"), 5), Ok(()));
        assert_eq!(
            code(apply(&leased, &acquire(None, "b"), 5)),
            Some(ErrorCode::LeaseAlreadyPresent)
        );
        let (released, _) = apply(&leased, &LeaseAction::Release { id: "a".into() }, 6)
            .unwrap_or_default_for_test();
        assert_eq!(released, LeaseState::Available);
        assert_eq!(
            code(check_write(&released, Some("a"), 7)),
            Some(ErrorCode::LeaseNotPresentWithBlobOperation)
        );
    }

    #[test]
    fn fixed_leases_expire_and_renew() {
        let (leased, _) =
            apply(&LeaseState::Available, &acquire(Some(15), "a"), 0).unwrap_or_default_for_test();
        assert_eq!(leased.state_name(14_999), "leased");
        assert_eq!(leased.state_name(15_000), "expired");
        assert_eq!(check_write(&leased, None, 15_000), Ok(()));
        let (renewed, _) = apply(&leased, &LeaseAction::Renew { id: "a".into() }, 20_000)
            .unwrap_or_default_for_test();
        assert_eq!(renewed.state_name(34_999), "leased");
        assert_eq!(
            parse_duration("14").map_err(|e| e.code),
            Err(ErrorCode::InvalidHeaderValue)
        );
        assert_eq!(parse_duration("-1"), Ok(None));
    }

    #[test]
    fn breaking_fences_then_frees() {
        let (leased, _) =
            apply(&LeaseState::Available, &acquire(None, "a"), 0).unwrap_or_default_for_test();
        let (breaking, answer) = apply(&leased, &LeaseAction::Break { period_s: Some(10) }, 0)
            .unwrap_or_default_for_test();
        assert_eq!(answer.break_in_s, Some(10));
        assert_eq!(
            code(check_write(&breaking, None, 9_999)),
            Some(ErrorCode::LeaseIdMissing)
        );
        assert_eq!(check_write(&breaking, None, 10_000), Ok(()));
        assert_eq!(
            code(apply(
                &breaking,
                &LeaseAction::Renew { id: "a".into() },
                10_000
            )),
            Some(ErrorCode::LeaseIsBrokenAndCannotBeRenewed)
        );
        assert_eq!(
            code(apply(
                &breaking,
                &LeaseAction::Change {
                    id: "a".into(),
                    proposed_id: "b".into()
                },
                5
            )),
            Some(ErrorCode::LeaseIsBreakingAndCannotBeChanged)
        );
        let (now_broken, _) = apply(&leased, &LeaseAction::Break { period_s: Some(0) }, 0)
            .unwrap_or_default_for_test();
        assert_eq!(now_broken, LeaseState::Broken { id: "a".into() });
        assert!(apply(&now_broken, &acquire(None, "b"), 1).is_ok());
    }

    trait ForTest {
        fn unwrap_or_default_for_test(self) -> (LeaseState, LeaseAnswer);
    }

    impl ForTest for Result<(LeaseState, LeaseAnswer), StorageError> {
        fn unwrap_or_default_for_test(self) -> (LeaseState, LeaseAnswer) {
            match self {
                Ok(pair) => pair,
                Err(error) => panic!("lease operation refused: {error}"),
            }
        }
    }
}
