//! Delete Blob.

use super::*;

impl Context<'_> {
    /// Delete Blob (or one snapshot, or its snapshots).
    pub(in crate::storage::service) async fn delete_blob(
        &self,
    ) -> Result<BlobResponse, StorageError> {
        let now_ms = self.now_ms;
        self.existing_container()?;
        let snapshots = match self.request.header("x-ms-delete-snapshots") {
            None => DeleteSnapshots::Refuse,
            Some("include") => DeleteSnapshots::Include,
            Some("only") => DeleteSnapshots::Only,
            Some(_) => {
                return Err(StorageError::with_detail(
                    ErrorCode::InvalidHeaderValue,
                    "x-ms-delete-snapshots",
                ))
            }
        };
        if self.snapshot.is_some() && snapshots != DeleteSnapshots::Refuse {
            return Err(StorageError::with_detail(
                ErrorCode::InvalidQueryParameterValue,
                "snapshot",
            ));
        }
        if self.snapshot.is_none() {
            self.precheck(true)?;
        }
        self.write(Write::DeleteBlob {
            container: self.container_key(),
            key: self.blob_key(None),
            snapshot_key: self.snapshot.as_deref().map(|s| self.blob_key(Some(s))),
            snapshot_prefix: self.blob_key(None),
            snapshots,
            lease_id: self.lease_id(),
            now_ms,
        })
        .await?;
        Ok(with_header(ok(202), "x-ms-delete-type-permanent", "true"))
    }
}
