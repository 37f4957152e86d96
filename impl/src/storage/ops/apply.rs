//! Each write applied to one replica's tables, as a deterministic function
//! of the write and the tables.

use super::*;

fn refuse(code: ErrorCode) -> Result<WriteOutcome, StoreError> {
    Ok(Err(StorageError::new(code)))
}

fn remove_blob(
    tables: &mut dyn TablesMut<Table>,
    key: &str,
    bugs: BugSet,
) -> Result<(), StoreError> {
    tables.delete(Table::Blobs, key)?;
    // claim: STO-9 — the bytes go with the record, in the same transaction,
    // so no later blob can be handed them and the space is free at once.
    if !bugs.has(SeededBug::OldBytesReused) {
        tables.delete(Table::Data, key)?;
    }
    Ok(())
}

/// Applies one write to one replica's tables: the same answer on every
/// replica, since it reads only what the write and the tables hold.
pub(super) fn apply_write(
    write: &Write,
    bugs: BugSet,
    tables: &mut dyn TablesMut<Table>,
) -> Result<WriteOutcome, StoreError> {
    match write {
        Write::CreateContainer { key, record } => {
            if tables.get(Table::Containers, key)?.is_some() {
                return refuse(ErrorCode::ContainerAlreadyExists);
            }
            tables.put(Table::Containers, key, &encode(record)?)?;
            Ok(Ok(Applied::Container(record.clone())))
        }
        write @ Write::DeleteContainer { .. } => apply_delete_container(write, bugs, tables),
        Write::SetContainerAcl {
            key,
            acl,
            etag,
            now_ms,
        } => {
            let Some(mut record) = read_container(tables, key)? else {
                return refuse(ErrorCode::ContainerNotFound);
            };
            // claim: STO-4 — the new policies replace the old ones in the
            // record every later authorization reads.
            record.acl = acl.clone();
            record.etag = etag.clone();
            record.last_modified_ms = *now_ms;
            tables.put(Table::Containers, key, &encode(&record)?)?;
            Ok(Ok(Applied::Container(record)))
        }
        Write::SetContainerMetadata {
            key,
            metadata,
            etag,
            now_ms,
        } => {
            let Some(mut record) = read_container(tables, key)? else {
                return refuse(ErrorCode::ContainerNotFound);
            };
            record.metadata = metadata.clone();
            record.etag = etag.clone();
            record.last_modified_ms = *now_ms;
            tables.put(Table::Containers, key, &encode(&record)?)?;
            Ok(Ok(Applied::Container(record)))
        }
        write @ Write::PutBlob { .. } => apply_put_blob(write, bugs, tables),
        write @ Write::DeleteBlob { .. } => apply_delete_blob(write, bugs, tables),
        write @ Write::Snapshot { .. } => apply_snapshot(write, tables),
        Write::SetBlobMetadata {
            key,
            metadata,
            lease_id,
            etag,
            now_ms,
        } => {
            let Some(mut record) = read_blob(tables, key)? else {
                return refuse(ErrorCode::BlobNotFound);
            };
            // claim: DRV-1
            if let Err(refusal) = lease::check_write(&record.lease, lease_id.as_deref(), *now_ms) {
                return Ok(Err(refusal));
            }
            record.metadata = metadata.clone();
            record.etag = etag.clone();
            record.last_modified_ms = *now_ms;
            tables.put(Table::Blobs, key, &encode(&record)?)?;
            Ok(Ok(Applied::Blob(record)))
        }
        Write::Lease {
            key,
            action,
            now_ms,
        } => {
            let Some(mut record) = read_blob(tables, key)? else {
                return refuse(ErrorCode::BlobNotFound);
            };
            let (state, answer) = match lease::apply(&record.lease, action, *now_ms) {
                Ok(pair) => pair,
                Err(refusal) => return Ok(Err(refusal)),
            };
            record.lease = state;
            tables.put(Table::Blobs, key, &encode(&record)?)?;
            Ok(Ok(Applied::Lease(answer, record)))
        }
    }
}

/// A put: conditions, the lease fence, then the record and its bytes.
fn apply_put_blob(
    write: &Write,
    bugs: BugSet,
    tables: &mut dyn TablesMut<Table>,
) -> Result<WriteOutcome, StoreError> {
    let Write::PutBlob {
        container,
        key,
        blob_type,
        content,
        headers,
        metadata,
        lease_id,
        if_match,
        if_none_match_any,
        etag,
        now_ms,
    } = write
    else {
        unreachable!("apply_put_blob is called with a PutBlob write only");
    };
    if tables.get(Table::Containers, container)?.is_none() {
        return refuse(ErrorCode::ContainerNotFound);
    }
    let existing = read_blob(tables, key)?;
    if let Some(old) = &existing {
        if *if_none_match_any {
            return refuse(ErrorCode::BlobAlreadyExists);
        }
        if if_match
            .as_deref()
            .is_some_and(|tag| tag != "*" && tag != old.etag)
        {
            return refuse(ErrorCode::ConditionNotMet);
        }
    } else if if_match.is_some() {
        return refuse(ErrorCode::ConditionNotMet);
    }
    let lease = existing
        .as_ref()
        .map(|old| old.lease.clone())
        .unwrap_or_default();
    // claim: DRV-1 — a write to a leased blob needs its lease id.
    if !bugs.has(SeededBug::LeaseNotCheckedOnWrite) {
        if let Err(refusal) = lease::check_write(&lease, lease_id.as_deref(), *now_ms) {
            return Ok(Err(refusal));
        }
    }
    let (length, has_data) = match content {
        PutContent::Bytes(bytes) => (bytes.len() as u64, true),
        PutContent::Zeros(length) => {
            // claim: STO-9 — a fresh page blob reads as zeros, never
            // as whatever bytes an earlier blob left under its key.
            let leftover =
                bugs.has(SeededBug::OldBytesReused) && tables.get(Table::Data, key)?.is_some();
            (*length, leftover)
        }
    };
    let record = BlobRecord {
        blob_type: *blob_type,
        etag: etag.clone(),
        created_ms: existing.as_ref().map_or(*now_ms, |old| old.created_ms),
        last_modified_ms: *now_ms,
        content_length: length,
        headers: headers.clone(),
        metadata: metadata.clone(),
        lease,
        has_data,
    };
    match content {
        PutContent::Bytes(bytes) => tables.put(Table::Data, key, bytes)?,
        PutContent::Zeros(_) => {
            if !has_data {
                tables.delete(Table::Data, key)?;
            }
        }
    }
    tables.put(Table::Blobs, key, &encode(&record)?)?;
    Ok(Ok(Applied::Blob(record)))
}

/// A delete of a blob, its snapshots, or one snapshot.
fn apply_delete_blob(
    write: &Write,
    bugs: BugSet,
    tables: &mut dyn TablesMut<Table>,
) -> Result<WriteOutcome, StoreError> {
    let Write::DeleteBlob {
        container,
        key,
        snapshot_key,
        snapshot_prefix,
        snapshots,
        lease_id,
        now_ms,
    } = write
    else {
        unreachable!("apply_delete_blob is called with a DeleteBlob write only");
    };
    if tables.get(Table::Containers, container)?.is_none() {
        return refuse(ErrorCode::ContainerNotFound);
    }
    if let Some(snapshot_key) = snapshot_key {
        if read_blob(tables, snapshot_key)?.is_none() {
            return refuse(ErrorCode::BlobNotFound);
        }
        remove_blob(tables, snapshot_key, bugs)?;
        return Ok(Ok(Applied::Deleted));
    }
    let Some(base) = read_blob(tables, key)? else {
        return refuse(ErrorCode::BlobNotFound);
    };
    // claim: DRV-1
    if let Err(refusal) = lease::check_write(&base.lease, lease_id.as_deref(), *now_ms) {
        return Ok(Err(refusal));
    }
    let taken: Vec<String> = tables
        .range(Table::Blobs, snapshot_prefix, MAX_LIST_RESULTS)?
        .into_iter()
        .map(|(snapshot, _)| snapshot)
        .filter(|snapshot| snapshot != key)
        .collect();
    match snapshots {
        DeleteSnapshots::Refuse if !taken.is_empty() => return refuse(ErrorCode::SnapshotsPresent),
        DeleteSnapshots::Only => {
            for snapshot in &taken {
                remove_blob(tables, snapshot, bugs)?;
            }
            return Ok(Ok(Applied::Deleted));
        }
        _ => {}
    }
    // claim: STO-6 — the blob and its snapshots go in one
    // transaction on every replica before the delete is answered.
    for snapshot in &taken {
        remove_blob(tables, snapshot, bugs)?;
    }
    remove_blob(tables, key, bugs)?;
    Ok(Ok(Applied::Deleted))
}

/// A container's delete, with every blob in it.
fn apply_delete_container(
    write: &Write,
    bugs: BugSet,
    tables: &mut dyn TablesMut<Table>,
) -> Result<WriteOutcome, StoreError> {
    let Write::DeleteContainer { key, prefix } = write else {
        unreachable!("apply_delete_container is called with a DeleteContainer write only");
    };
    if tables.get(Table::Containers, key)?.is_none() {
        return refuse(ErrorCode::ContainerNotFound);
    }
    let blobs = tables.range(Table::Blobs, prefix, MAX_BLOBS_PER_CONTAINER_DELETE + 1)?;
    if blobs.len() > MAX_BLOBS_PER_CONTAINER_DELETE {
        return refuse(ErrorCode::ServerBusy);
    }
    for (blob, _) in blobs {
        remove_blob(tables, &blob, bugs)?;
    }
    tables.delete(Table::Containers, key)?;
    Ok(Ok(Applied::Deleted))
}

/// A snapshot: a copy of the blob's record and bytes under the snapshot's key.
fn apply_snapshot(
    write: &Write,
    tables: &mut dyn TablesMut<Table>,
) -> Result<WriteOutcome, StoreError> {
    let Write::Snapshot {
        key,
        snapshot_key,
        lease_id,
        now_ms,
    } = write
    else {
        unreachable!("apply_snapshot is called with a Snapshot write only");
    };
    let Some(base) = read_blob(tables, key)? else {
        return refuse(ErrorCode::BlobNotFound);
    };
    if let Err(refusal) = lease::check_read(&base.lease, lease_id.as_deref(), *now_ms) {
        return Ok(Err(refusal));
    }
    let mut snapshot = base.clone();
    snapshot.lease = LeaseState::Available;
    if base.has_data {
        let bytes = read_blob_bytes(tables, key, &base)?;
        tables.put(Table::Data, snapshot_key, &bytes)?;
    }
    tables.put(Table::Blobs, snapshot_key, &encode(&snapshot)?)?;
    Ok(Ok(Applied::Snapshot(snapshot)))
}
