//! List Containers and List Blobs: prefix, marker, page size, and what to include.

use super::*;

impl Context<'_> {
    pub(in crate::storage::service) fn list_containers(
        &self,
    ) -> Result<BlobResponse, StorageError> {
        let prefix = self.request.query_value("prefix").unwrap_or_default();
        let marker = self.request.query_value("marker").unwrap_or_default();
        let max_results = parse_max_results(self.request.query_value("maxresults"))?;
        let scan = format!("{}\u{0}{prefix}", self.address.account);
        let account_prefix = format!("{}\u{0}", self.address.account);
        let entries = read(&self.account.store, |tables| {
            let mut out = Vec::new();
            for (key, bytes) in tables.range(
                crate::storage::store::Table::Containers,
                &scan,
                ops::MAX_LIST_RESULTS,
            )? {
                let name = key
                    .strip_prefix(&account_prefix)
                    .unwrap_or_default()
                    .to_string();
                let record: Option<ContainerRecord> = serde_json::from_slice(&bytes).ok();
                if let Some(record) = record {
                    out.push((name, record));
                }
            }
            Ok(out)
        })?;
        let mut body = String::from(DECLARATION);
        body.push_str(&format!(
            "<EnumerationResults ServiceEndpoint=\"/{}/\">",
            self.address.account
        ));
        element(&mut body, "Prefix", prefix);
        element(&mut body, "Marker", marker);
        element(&mut body, "MaxResults", &max_results.to_string());
        body.push_str("<Containers>");
        let mut next_marker = String::new();
        let after_marker = entries.iter().filter(|(name, _)| name.as_str() >= marker);
        for (shown, (name, record)) in after_marker.enumerate() {
            if shown == max_results {
                next_marker = name.clone();
                break;
            }
            body.push_str("<Container>");
            element(&mut body, "Name", name);
            body.push_str("<Properties>");
            element(
                &mut body,
                "Last-Modified",
                &format_http_date(record.last_modified_ms),
            );
            element(&mut body, "Etag", &record.etag);
            element(&mut body, "LeaseStatus", "unlocked");
            element(&mut body, "LeaseState", "available");
            if let Some(level) = record.acl.public_access.header_value() {
                element(&mut body, "PublicAccess", level);
            }
            element(&mut body, "HasImmutabilityPolicy", "false");
            element(&mut body, "HasLegalHold", "false");
            body.push_str("</Properties>");
            if self.include("metadata") {
                push_metadata(&mut body, &record.metadata);
            }
            body.push_str("</Container>");
        }
        body.push_str("</Containers>");
        element(&mut body, "NextMarker", &next_marker);
        body.push_str("</EnumerationResults>");
        Ok(xml_response(body))
    }

    pub(in crate::storage::service) fn include(&self, what: &str) -> bool {
        self.request
            .query_value("include")
            .is_some_and(|list| list.split(',').any(|item| item.trim() == what))
    }

    pub(in crate::storage::service) fn list_blobs(&self) -> Result<BlobResponse, StorageError> {
        self.existing_container()?;
        let prefix = self.request.query_value("prefix").unwrap_or_default();
        let marker = self.request.query_value("marker").unwrap_or_default();
        let max_results = parse_max_results(self.request.query_value("maxresults"))?;
        let with_snapshots = self.include("snapshots");
        let container_prefix = ops::blob_prefix(&self.address.account, self.container_name());
        let entries = self.read(|tables| {
            ops::list_blobs(tables, &container_prefix, prefix, ops::MAX_LIST_RESULTS)
        })?;
        let mut body = String::from(DECLARATION);
        body.push_str(&format!(
            "<EnumerationResults ServiceEndpoint=\"/{}/\" ContainerName=\"",
            self.address.account
        ));
        crate::storage::error::push_escaped(&mut body, self.container_name());
        body.push_str("\">");
        element(&mut body, "Prefix", prefix);
        element(&mut body, "Marker", marker);
        element(&mut body, "MaxResults", &max_results.to_string());
        body.push_str("<Blobs>");
        let mut next_marker = String::new();
        let visible = entries
            .iter()
            .filter(|(_, snapshot, _)| with_snapshots || snapshot.is_none())
            .filter(|(name, _, _)| name.as_str() >= marker);
        for (shown, (name, snapshot, record)) in visible.enumerate() {
            if shown == max_results {
                next_marker = name.clone();
                break;
            }
            body.push_str("<Blob>");
            element(&mut body, "Name", name);
            if let Some(snapshot) = snapshot {
                element(&mut body, "Snapshot", snapshot);
            }
            body.push_str("<Properties>");
            element(
                &mut body,
                "Creation-Time",
                &format_http_date(record.created_ms),
            );
            element(
                &mut body,
                "Last-Modified",
                &format_http_date(record.last_modified_ms),
            );
            element(&mut body, "Etag", &record.etag);
            element(
                &mut body,
                "Content-Length",
                &record.content_length.to_string(),
            );
            element(
                &mut body,
                "Content-Type",
                record
                    .headers
                    .content_type
                    .as_deref()
                    .unwrap_or("application/octet-stream"),
            );
            if let Some(md5) = &record.headers.content_md5 {
                element(&mut body, "Content-MD5", md5);
            }
            element(&mut body, "BlobType", record.blob_type.as_str());
            element(&mut body, "AccessTier", "Hot");
            element(&mut body, "AccessTierInferred", "true");
            element(
                &mut body,
                "LeaseStatus",
                record.lease.status_name(self.now_ms),
            );
            element(
                &mut body,
                "LeaseState",
                record.lease.state_name(self.now_ms),
            );
            if let Some(duration) = record.lease.duration_name(self.now_ms) {
                element(&mut body, "LeaseDuration", duration);
            }
            element(&mut body, "ServerEncrypted", "true");
            body.push_str("</Properties>");
            if self.include("metadata") {
                push_metadata(&mut body, &record.metadata);
            }
            body.push_str("</Blob>");
        }
        body.push_str("</Blobs>");
        element(&mut body, "NextMarker", &next_marker);
        body.push_str("</EnumerationResults>");
        Ok(xml_response(body))
    }
}
