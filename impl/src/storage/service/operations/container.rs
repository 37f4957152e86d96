//! The container operations: create, properties, delete, ACL, metadata.

use super::*;

impl Context<'_> {
    /// Create Container: a new container with its metadata and public level.
    pub(in crate::storage::service) async fn create_container(
        &self,
    ) -> Result<BlobResponse, StorageError> {
        let now_ms = self.now_ms;
        let public_access =
            PublicAccess::from_header(self.request.header("x-ms-blob-public-access"))?;
        let record = ContainerRecord {
            etag: new_etag(),
            last_modified_ms: now_ms,
            metadata: metadata_of(self.request)?,
            acl: ContainerAcl {
                public_access,
                identifiers: Vec::new(),
            },
        };
        let record = self
            .write(Write::CreateContainer {
                key: self.container_key(),
                record,
            })
            .await?
            .into_container()?;
        Ok(container_headers(ok(201), &record))
    }

    /// Get Container Properties (and Get Container Metadata).
    pub(in crate::storage::service) fn get_container_properties(
        &self,
    ) -> Result<BlobResponse, StorageError> {
        let record = self.existing_container()?;
        let mut response = container_headers(ok(200), record);
        for (name, value) in &record.metadata {
            response
                .headers
                .push((format!("x-ms-meta-{name}"), value.clone()));
        }
        if let Some(level) = record.acl.public_access.header_value() {
            response
                .headers
                .push(("x-ms-blob-public-access".into(), level.into()));
        }
        response
            .headers
            .push(("x-ms-lease-state".into(), "available".into()));
        response
            .headers
            .push(("x-ms-lease-status".into(), "unlocked".into()));
        Ok(response)
    }

    /// Delete Container, with every blob in it.
    pub(in crate::storage::service) async fn delete_container(
        &self,
    ) -> Result<BlobResponse, StorageError> {
        self.existing_container()?;
        self.write(Write::DeleteContainer {
            key: self.container_key(),
            prefix: ops::blob_prefix(&self.address.account, self.container_name()),
        })
        .await?;
        Ok(ok(202))
    }

    /// Set Container ACL: the public level and the stored access policies.
    pub(in crate::storage::service) async fn set_container_acl(
        &self,
    ) -> Result<BlobResponse, StorageError> {
        let now_ms = self.now_ms;
        self.existing_container()?;
        let public_access =
            PublicAccess::from_header(self.request.header("x-ms-blob-public-access"))?;
        let identifiers = xml::parse_identifiers(&self.request.body)?;
        let acl = ContainerAcl {
            public_access,
            identifiers,
        };
        acl.validate()?;
        let record = self
            .write(Write::SetContainerAcl {
                key: self.container_key(),
                acl,
                etag: new_etag(),
                now_ms,
            })
            .await?
            .into_container()?;
        Ok(container_headers(ok(200), &record))
    }

    /// Get Container ACL.
    pub(in crate::storage::service) fn get_container_acl(
        &self,
    ) -> Result<BlobResponse, StorageError> {
        let record = self.existing_container()?;
        let mut response = xml_response(xml::render_identifiers(&record.acl.identifiers));
        response = container_headers(response, record);
        if let Some(level) = record.acl.public_access.header_value() {
            response
                .headers
                .push(("x-ms-blob-public-access".into(), level.into()));
        }
        Ok(response)
    }

    /// Set Container Metadata.
    pub(in crate::storage::service) async fn set_container_metadata(
        &self,
    ) -> Result<BlobResponse, StorageError> {
        let now_ms = self.now_ms;
        self.existing_container()?;
        let record = self
            .write(Write::SetContainerMetadata {
                key: self.container_key(),
                metadata: metadata_of(self.request)?,
                etag: new_etag(),
                now_ms,
            })
            .await?
            .into_container()?;
        Ok(container_headers(ok(200), &record))
    }
}
