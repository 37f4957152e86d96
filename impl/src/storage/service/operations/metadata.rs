//! Set Blob Metadata (Get Blob Metadata is a read, in `get_blob`).

use super::*;

impl Context<'_> {
    /// Set Blob Metadata.
    pub(in crate::storage::service) async fn set_blob_metadata(
        &self,
    ) -> Result<BlobResponse, StorageError> {
        let now_ms = self.now_ms;
        self.existing_container()?;
        let record = self
            .write(Write::SetBlobMetadata {
                key: self.blob_key(None),
                metadata: metadata_of(self.request)?,
                lease_id: self.lease_id(),
                etag: new_etag(),
                now_ms,
            })
            .await?
            .into_blob()?;
        let response = with_header(ok(200), "etag", record.etag);
        let response = with_header(response, "x-ms-request-server-encrypted", "true");
        Ok(with_header(
            response,
            "last-modified",
            format_http_date(record.last_modified_ms),
        ))
    }
}
