//! Get Blob, Get Blob Properties and Get Blob Metadata: ranges, snapshots and the headers of a read.

use super::*;

impl Context<'_> {
    pub(in crate::storage::service) fn get_blob(
        &self,
        operation: Operation,
    ) -> Result<BlobResponse, StorageError> {
        self.existing_container()?;
        let key = self.blob_key(self.snapshot.as_deref());
        let want_bytes = operation == Operation::GetBlob;
        let range_header = self
            .request
            .header("x-ms-range")
            .or_else(|| self.request.header("range"))
            .map(str::to_string);
        let (record, bytes) = self.read(|tables| {
            let Some(record) = ops::read_blob(tables, &key)? else {
                return Ok((None, Bytes::new()));
            };
            let bytes = if want_bytes {
                ops::read_blob_bytes(tables, &key, &record)?
            } else {
                Bytes::new()
            };
            Ok((Some(record), bytes))
        })?;
        let record = record.ok_or(StorageError::new(ErrorCode::BlobNotFound))?;
        lease::check_read(&record.lease, self.lease_id().as_deref(), self.now_ms)?;
        let mut response = ok(200);
        blob_headers(&record, self.now_ms, &mut response.headers);
        if operation == Operation::GetBlobMetadata {
            response.headers.retain(|(name, _)| {
                name.starts_with("x-ms-meta-") || name == "etag" || name == "last-modified"
            });
            return Ok(response);
        }
        let length = record.content_length;
        let range = match &range_header {
            Some(text) if want_bytes => parse_range(text, length)?,
            _ => None,
        };
        match range {
            Some((start, last)) => {
                response.status = 206;
                let (from, to) = (start as usize, last as usize + 1);
                response.body = bytes.slice(from.min(bytes.len())..to.min(bytes.len()));
                response.headers.push((
                    "content-range".into(),
                    format!("bytes {start}-{last}/{length}"),
                ));
                response
                    .headers
                    .push(("content-length".into(), (last - start + 1).to_string()));
            }
            None => {
                if let Some(md5) = &record.headers.content_md5 {
                    response.headers.push(("content-md5".into(), md5.clone()));
                }
                response
                    .headers
                    .push(("content-length".into(), length.to_string()));
                response.body = bytes;
            }
        }
        Ok(response)
    }
}
