//! Snapshot Blob.

use super::*;

impl Context<'_> {
    /// Snapshot Blob: a read-only copy of the blob as it is now.
    pub(in crate::storage::service) async fn snapshot_blob(
        &self,
    ) -> Result<BlobResponse, StorageError> {
        let now_ms = self.now_ms;
        self.existing_container()?;
        let key = self.blob_key(None);
        if self.read(|tables| ops::read_blob(tables, &key))?.is_none() {
            return Err(StorageError::new(ErrorCode::BlobNotFound));
        }
        let snapshot_id = format_iso8601_fine(now_ms);
        let record = self
            .write(Write::Snapshot {
                key: self.blob_key(None),
                snapshot_key: self.blob_key(Some(&snapshot_id)),
                lease_id: self.lease_id(),
                now_ms,
            })
            .await?
            .into_snapshot()?;
        let response = with_header(ok(201), "x-ms-snapshot", snapshot_id);
        let response = with_header(response, "etag", record.etag);
        Ok(with_header(
            response,
            "last-modified",
            format_http_date(record.last_modified_ms),
        ))
    }
}
