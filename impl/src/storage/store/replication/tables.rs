//! The state machine's view of a replica: a set of tables, read from a
//! snapshot or written inside one batch's transaction, and the command
//! that is applied to them.

use super::*;
use redb::{
    Database, ReadTransaction, ReadableTable, TableDefinition, TableError, WriteTransaction,
};
use std::sync::Arc;

/// The set of key/value tables a state machine keeps in every replica
/// (keys are strings, values bytes): the one thing the core needs to know
/// about the state, to create the tables and to copy them in a catch-up.
pub trait TableSet: Copy + std::fmt::Debug + Send + Sync + 'static {
    /// Every table, in a fixed order: `ALL[t.index()] == t`.
    const ALL: &'static [Self];

    /// The table's name in each replica's database.
    fn name(self) -> &'static str;

    /// The table's position in [`TableSet::ALL`].
    fn index(self) -> usize;

    /// The table's redb definition.
    fn definition(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(self.name())
    }
}

/// Read access to one consistent snapshot of the tables.
pub trait Tables<T: TableSet> {
    /// The value stored under `key`, if any.
    fn get(&self, table: T, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The entries whose keys start with `prefix`, in key order, at most
    /// `limit` of them.
    fn range(
        &self,
        table: T,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

/// Read and write access to the tables, inside one write transaction.
pub trait TablesMut<T: TableSet>: Tables<T> {
    /// Stores `value` under `key`, replacing any previous value.
    fn put(&mut self, table: T, key: &str, value: &[u8]) -> Result<(), StoreError>;

    /// Removes `key`; whether it was there.
    fn delete(&mut self, table: T, key: &str) -> Result<bool, StoreError>;
}

/// A deterministic state-machine command: applied to each replica in the
/// same order, it must compute the same output on each. It never reads a
/// clock, a random source or anything else outside `tables` and itself.
///
/// An `Err` from `apply` aborts the batch's transaction on that replica. If
/// every replica fails the same command with the same (non-I/O) error, that
/// command's caller gets the error and the rest of the batch is applied
/// without it; a command should therefore decide before it writes, and keep
/// refusals it wants to persist nothing for in its `Output`.
pub trait Command: Send + Sync + 'static {
    /// What the command answers its caller.
    type Output: Send + PartialEq + std::fmt::Debug + 'static;

    /// The tables the state machine's state lives in.
    type Table: TableSet;

    /// Applies the command to replica `replica` (0 to 2). A correct command
    /// ignores which replica it is on; the index exists so that seeded bugs
    /// can make replicas diverge.
    fn apply(
        &self,
        replica: usize,
        tables: &mut dyn TablesMut<Self::Table>,
    ) -> Result<Self::Output, StoreError>;
}

pub(super) fn get_in<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(table.get(key)?.map(|value| value.value().to_vec()))
}

pub(super) fn range_in<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    prefix: &str,
    limit: usize,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut found = Vec::new();
    if limit == 0 {
        return Ok(found);
    }
    for entry in table.range::<&str>(prefix..)? {
        let (key, value) = entry?;
        let key = key.value();
        if !key.starts_with(prefix) {
            break;
        }
        found.push((key.to_owned(), value.value().to_vec()));
        if found.len() >= limit {
            break;
        }
    }
    Ok(found)
}

/// A read snapshot of one replica.
pub(super) struct ReadTables {
    pub(super) txn: ReadTransaction,
    // Dropped after `txn`: keeps the database open while it is read.
    pub(super) _db: Arc<Database>,
}

impl ReadTables {
    pub(super) fn with_table<S: TableSet, T>(
        &self,
        table: S,
        empty: T,
        f: impl FnOnce(&redb::ReadOnlyTable<&'static str, &'static [u8]>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self.txn.open_table(table.definition()) {
            Ok(t) => f(&t),
            Err(TableError::TableDoesNotExist(_)) => Ok(empty),
            Err(e) => Err(e.into()),
        }
    }
}

impl<T: TableSet> Tables<T> for ReadTables {
    fn get(&self, table: T, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_table(table, None, |t| get_in(t, key))
    }

    fn range(
        &self,
        table: T,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.with_table(table, Vec::new(), |t| range_in(t, prefix, limit))
    }
}

/// The tables of one write transaction, open for a whole batch.
pub(super) struct WriteTables<'t> {
    /// One per table, at its [`TableSet::index`].
    pub(super) tables: Vec<redb::Table<'t, &'static str, &'static [u8]>>,
}

impl<'t> WriteTables<'t> {
    pub(super) fn open<T: TableSet>(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        let mut tables = Vec::with_capacity(T::ALL.len());
        for &table in T::ALL {
            tables.push(txn.open_table(table.definition())?);
        }
        Ok(WriteTables { tables })
    }
}

impl<T: TableSet> Tables<T> for WriteTables<'_> {
    fn get(&self, table: T, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        get_in(&self.tables[table.index()], key)
    }

    fn range(
        &self,
        table: T,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        range_in(&self.tables[table.index()], prefix, limit)
    }
}

impl<T: TableSet> TablesMut<T> for WriteTables<'_> {
    fn put(&mut self, table: T, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.tables[table.index()].insert(key, value)?;
        Ok(())
    }

    fn delete(&mut self, table: T, key: &str) -> Result<bool, StoreError> {
        // claim: STO-9 (removing the key frees its pages, which redb reuses
        // for later writes once no snapshot holds them; the key is never
        // readable again from a snapshot at or after this batch)
        let removed = self.tables[table.index()].remove(key)?.is_some();
        Ok(removed)
    }
}
