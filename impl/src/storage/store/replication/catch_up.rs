//! Catch-up: making one replica hold exactly what another holds, table by
//! table in bounded chunks, deletions included, in one transaction.

use super::replica::{applied_in_read, set_applied};
use super::*;

use super::{StoreError, CHUNK_BYTES, CHUNK_KEYS};
use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, TableError,
    WriteTransaction,
};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};

/// Makes `dst` hold exactly what `src` holds, in one write transaction (so
/// `dst` is never seen half copied), streaming each table in bounded chunks;
/// `dst`'s new `applied_seq`. With `guard`, aborts if that generation
/// counter moved (the replica crashed meanwhile).
pub(super) fn catch_up<T: TableSet>(
    src: &Database,
    dst: &Database,
    guard: Option<(&AtomicU64, u64)>,
) -> Result<u64, StoreError> {
    let from = src.begin_read()?;
    let seq = applied_in_read(&from)?;
    let mut txn = dst.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    for &table in T::ALL {
        copy_table(&from, &txn, table)?;
    }
    set_applied(&txn, seq)?;
    if let Some((generation, expected)) = guard {
        if generation.load(Ordering::SeqCst) != expected {
            txn.abort()?;
            return Err(StoreError::Unavailable);
        }
    }
    txn.commit()?;
    Ok(seq)
}

/// Copies what differs in `table` from `from` into `txn`: changed and new
/// entries, then deletions.
pub(super) fn copy_table<T: TableSet>(
    from: &ReadTransaction,
    txn: &WriteTransaction,
    table: T,
) -> Result<(), StoreError> {
    let mut dst = txn.open_table(table.definition())?;
    let src = match from.open_table(table.definition()) {
        Ok(src) => Some(src),
        Err(TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(src) = &src {
        let mut after: Option<String> = None;
        loop {
            let chunk = scan_chunk(src, after.as_deref(), true)?;
            let Some((last, _)) = chunk.last() else {
                break;
            };
            let last = last.clone();
            for (key, value) in &chunk {
                let same = dst
                    .get(key.as_str())?
                    .is_some_and(|old| old.value() == value.as_slice());
                if !same {
                    dst.insert(key.as_str(), value.as_slice())?;
                }
            }
            after = Some(last);
        }
    }
    // claim: STO-9 (a deletion is copied too: a key deleted on the peer is
    // removed here and its pages freed, never served again)
    let mut after: Option<String> = None;
    loop {
        let chunk = scan_chunk(&dst, after.as_deref(), false)?;
        let Some((last, _)) = chunk.last() else {
            break;
        };
        let last = last.clone();
        for (key, _) in &chunk {
            let present = match &src {
                Some(src) => src.get(key.as_str())?.is_some(),
                None => false,
            };
            if !present {
                dst.remove(key.as_str())?;
            }
        }
        after = Some(last);
    }
    Ok(())
}

/// The next entries after `after` (from the start if `None`), bounded by
/// [`CHUNK_KEYS`] and [`CHUNK_BYTES`]; values left empty unless asked for.
pub(super) fn scan_chunk<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    after: Option<&str>,
    values: bool,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let lower = match after {
        Some(key) => Bound::Excluded(key),
        None => Bound::Unbounded,
    };
    let mut chunk = Vec::new();
    let mut bytes = 0usize;
    for entry in table.range::<&str>((lower, Bound::Unbounded))? {
        let (key, value) = entry?;
        let value = if values {
            value.value().to_vec()
        } else {
            Vec::new()
        };
        bytes += key.value().len() + value.len();
        chunk.push((key.value().to_owned(), value));
        if chunk.len() >= CHUNK_KEYS || bytes >= CHUNK_BYTES {
            break;
        }
    }
    Ok(chunk)
}
