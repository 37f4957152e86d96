//! Plain words for an auditor: a step's sentence and the names of callers.

use super::*;

impl StorageModel {
    pub(super) fn narration(
        &self,
        before: &StorageState,
        action: &Action,
        outcome: &Outcome,
    ) -> String {
        let what = Self::action_words(Some(before), action);
        format!("{what}: {}", Self::outcome_words(outcome))
    }

    /// What an action does, in words: read in `before` when given (the
    /// caller's credential, the key's version, the clock, the pending
    /// write), from the action alone otherwise (the explorer's action label).
    pub(super) fn action_words(before: Option<&StorageState>, action: &Action) -> String {
        match *action {
            Action::Put { .. }
            | Action::Get { .. }
            | Action::List { .. }
            | Action::Delete { .. }
            | Action::Snapshot { .. }
            | Action::Lease { .. } => Self::blob_words(before, action),
            _ => Self::account_words(before, action),
        }
    }

    /// What an action on the account, its keys, the container or the
    /// replicas does, in words.
    fn account_words(before: Option<&StorageState>, action: &Action) -> String {
        match *action {
            Action::Tick => match before {
                Some(s) => format!("the clock ticks to {}", s.clock + 1),
                None => "the clock ticks".into(),
            },
            Action::RegenerateKey { slot, by } => format!(
                "{} asks SMAPI to regenerate the {} key",
                match by {
                    Authority::Subscription => "the subscription owner",
                    Authority::AccountKey =>
                        "a holder of an account key (no subscription credentials)",
                },
                slot.name()
            ),
            Action::Switch { client, slot } => format!(
                "client {client} switches to the {} key{}",
                slot.name(),
                before.map_or(String::new(), |s| format!(
                    " (version {})",
                    s.keys[slot.index()]
                ))
            ),
            Action::IssueSas { grant } => match grant {
                // Signed for the tick it is issued in: its expiry is that
                // tick, inclusive, as `caller_name` says it too.
                SasGrant::ReadBlob => format!(
                    "client 0 hands client 1 a SAS to read blob 0 until {}",
                    before.map_or("the end of this tick".into(), |s| format!(
                        "tick {}",
                        s.clock
                    ))
                ),
                SasGrant::StoredPolicy(id) => {
                    format!("client 0 hands client 1 a container SAS bound to stored policy {id}")
                }
            },
            Action::SetPolicy { id, policy } => format!(
                "client 0 sets stored policy {id} to \"{}\" until {}",
                policy.perms.letters(),
                expiry_words(policy.expiry)
            ),
            Action::RemovePolicy { id } => format!("client 0 removes stored policy {id}"),
            Action::SetPublicAccess { level } => match level {
                PublicAccess::Off => "client 0 makes the container private".into(),
                PublicAccess::Blob => {
                    "client 0 lets anyone read the container's blobs (public access \"blob\")"
                        .into()
                }
                PublicAccess::Container => {
                    "client 0 lets anyone read and list the container (public access \"container\")"
                        .into()
                }
            },
            Action::Replicate { replica } => match before.and_then(|s| s.pending) {
                Some(p) => format!(
                    "the {} of blob {} reaches replica {replica}",
                    p.op.kind(),
                    p.op.blob()
                ),
                None => format!("the pending write reaches replica {replica}"),
            },
            Action::Commit => match before.and_then(|s| s.pending) {
                Some(p) => format!(
                    "the {} of blob {} is committed on {}",
                    p.op.kind(),
                    p.op.blob(),
                    replica_list(p.replicas)
                ),
                None => "the pending write is committed".into(),
            },
            Action::Crash { replica } => format!("replica {replica} crashes"),
            Action::Restart { replica } => format!("replica {replica} restarts"),
            _ => String::new(),
        }
    }

    /// What a request on a blob does, in words.
    fn blob_words(before: Option<&StorageState>, action: &Action) -> String {
        let name = |caller: Caller| match before {
            Some(s) => caller_name(s, caller),
            None => match caller {
                Caller::Client(c) => format!("client {c}"),
                Caller::Anonymous => "an anonymous caller".into(),
            },
        };
        let lease_words = |lease: Option<u8>| match lease {
            None => "no lease id".to_string(),
            Some(id) => format!("lease id {id}"),
        };
        match *action {
            Action::Put {
                caller,
                blob,
                content,
                lease,
            } => format!(
                "{} puts blob {blob} ({}, {})",
                name(caller),
                match content {
                    Content::Bytes => "new bytes",
                    Content::Zeros => "created empty, reading as zeros",
                },
                lease_words(lease)
            ),
            Action::Get {
                caller,
                blob,
                snapshot,
                replica,
            } => format!(
                "{} reads {}blob {blob} from replica {replica}",
                name(caller),
                if snapshot { "the snapshot of " } else { "" }
            ),
            Action::List { caller, replica } => format!(
                "{} lists the container from replica {replica}",
                name(caller)
            ),
            Action::Delete {
                caller,
                blob,
                lease,
            } => format!(
                "{} deletes blob {blob} with its snapshots ({})",
                name(caller),
                lease_words(lease)
            ),
            Action::Snapshot { caller, blob } => {
                format!("{} snapshots blob {blob}", name(caller))
            }
            Action::Lease { blob, op } => format!(
                "client 0 {} on blob {blob}",
                match op {
                    LeaseOp::Acquire { duration, id } => format!(
                        "acquires lease {id} ({})",
                        match duration {
                            LeaseDuration::Fixed => "one tick",
                            LeaseDuration::Infinite => "infinite",
                        }
                    ),
                    LeaseOp::Renew { id } => format!("renews lease {id}"),
                    LeaseOp::Change { id, proposed } => format!("changes lease {id} to {proposed}"),
                    LeaseOp::Release { id } => format!("releases lease {id}"),
                    LeaseOp::Break => "breaks the lease".into(),
                }
            ),
            _ => String::new(),
        }
    }

    /// What came of it, in words.
    fn outcome_words(outcome: &Outcome) -> String {
        match outcome {
            Outcome::Done => "done".to_string(),
            Outcome::KeyRegenerated { version, .. } => format!("now at version {version}"),
            Outcome::AclSet => "the container ACL is updated".into(),
            Outcome::Accepted => "accepted, replicating".into(),
            Outcome::Acknowledged { .. } => "the client gets its answer".into(),
            Outcome::Blob { version, bytes } => {
                if *bytes == 0 {
                    format!("version {version}, zeros")
                } else {
                    format!("version {version}, bytes of version {bytes}")
                }
            }
            Outcome::Listed { blobs } => {
                if blobs.is_empty() {
                    "an empty listing".into()
                } else {
                    let names: Vec<String> = blobs.iter().map(|b| format!("blob {b}")).collect();
                    format!("lists {}", names.join(", "))
                }
            }
            Outcome::Lease { lease } => match *lease {
                Lease::Available => "the blob is not leased now".into(),
                Lease::Leased { id, until } => format!(
                    "lease {id} is now active until {}",
                    match until {
                        Some(tick) => format!("tick {tick}"),
                        None => "released or broken".into(),
                    }
                ),
                Lease::Expired { id } => format!("lease {id} has now expired"),
                Lease::Broken { id } => format!("lease {id} is now broken"),
            },
            Outcome::Denied { reason } => {
                format!("refused ({} {})", reason.status(), reason.code())
            }
        }
    }
}

/// A caller's name in narratives, with what it holds.
pub fn caller_name(s: &StorageState, caller: Caller) -> String {
    match (caller, s.credential(caller)) {
        (Caller::Client(c), Some(Credential::Key(k))) => {
            format!(
                "client {c} (with the {} key, version {})",
                k.slot.name(),
                k.version
            )
        }
        (Caller::Client(c), Some(Credential::Sas(sas))) => match sas.policy {
            Some(id) => format!("client {c} (with a SAS bound to policy {id})"),
            None => format!(
                "client {c} (with a SAS \"{}\" on {} until tick {})",
                sas.perms.unwrap_or(Perms::NONE).letters(),
                match sas.scope {
                    Scope::Container => "the container".to_string(),
                    Scope::Blob(b) => format!("blob {b}"),
                },
                sas.expiry.unwrap_or(0)
            ),
        },
        _ => "an anonymous caller".into(),
    }
}

pub(super) fn expiry_words(expiry: u8) -> String {
    if expiry == u8::MAX {
        "further notice".into()
    } else {
        format!("tick {expiry}")
    }
}

pub(super) fn replica_list(mask: u8) -> String {
    let names: Vec<String> = (0..REPLICAS)
        .filter(|r| mask & bit(*r) != 0)
        .map(|r| r.to_string())
        .collect();
    match names.len() {
        1 => format!("replica {}", names[0]),
        _ => format!("replicas {}", names.join(", ")),
    }
}
