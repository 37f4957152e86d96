//! Put Blob: a block blob written whole, with its content headers, under its lease.

use super::*;

impl Context<'_> {
    // Long: the headers of a put, read and checked in the service's order, then the write.
    #[allow(clippy::too_many_lines)]
    pub(in crate::storage::service) async fn put_blob(&self) -> Result<BlobResponse, StorageError> {
        self.existing_container()?;
        let request = self.request;
        let blob_type = match request.header("x-ms-blob-type") {
            Some("BlockBlob") => BlobType::BlockBlob,
            Some("PageBlob") => BlobType::PageBlob,
            Some(_) => {
                return Err(StorageError::with_detail(
                    ErrorCode::InvalidHeaderValue,
                    "x-ms-blob-type",
                ))
            }
            None => {
                return Err(StorageError::with_detail(
                    ErrorCode::MissingRequiredHeader,
                    "x-ms-blob-type",
                ))
            }
        };
        let body = &request.body;
        let computed_md5 = base64::engine::general_purpose::STANDARD.encode(md5_digest(body));
        if let Some(given) = request.header("content-md5") {
            if given.trim() != computed_md5 {
                return Err(StorageError::new(ErrorCode::Md5Mismatch));
            }
        }
        let content = match blob_type {
            BlobType::BlockBlob => PutContent::Bytes(body.clone()),
            BlobType::PageBlob => {
                if !body.is_empty() {
                    return Err(StorageError::with_detail(
                        ErrorCode::InvalidHeaderValue,
                        "content-length",
                    ));
                }
                let length: u64 = request
                    .header("x-ms-blob-content-length")
                    .and_then(|text| text.trim().parse().ok())
                    .filter(|length| length % 512 == 0 && *length <= MAX_PUT_BYTES)
                    .ok_or_else(|| {
                        StorageError::with_detail(
                            ErrorCode::InvalidHeaderValue,
                            "x-ms-blob-content-length",
                        )
                    })?;
                PutContent::Zeros(length)
            }
        };
        let headers = ContentHeaders {
            content_type: request
                .header("x-ms-blob-content-type")
                .or_else(|| request.header("content-type"))
                .map(str::to_string),
            content_encoding: request
                .header("x-ms-blob-content-encoding")
                .map(str::to_string),
            content_language: request
                .header("x-ms-blob-content-language")
                .map(str::to_string),
            cache_control: request
                .header("x-ms-blob-cache-control")
                .map(str::to_string),
            content_disposition: request
                .header("x-ms-blob-content-disposition")
                .map(str::to_string),
            content_md5: match blob_type {
                BlobType::BlockBlob => Some(
                    request
                        .header("x-ms-blob-content-md5")
                        .map(str::to_string)
                        .unwrap_or_else(|| computed_md5.clone()),
                ),
                BlobType::PageBlob => None,
            },
        };
        self.precheck(false)?;
        let record = self
            .write(Write::PutBlob {
                container: self.container_key(),
                key: self.blob_key(None),
                blob_type,
                content,
                headers,
                metadata: metadata_of(request)?,
                lease_id: self.lease_id(),
                if_match: request.header("if-match").map(str::to_string),
                if_none_match_any: request
                    .header("if-none-match")
                    .is_some_and(|v| v.trim() == "*"),
                etag: new_etag(),
                now_ms: self.now_ms,
            })
            .await?
            .into_blob()?;
        let mut response = ok(201);
        response.headers.push(("etag".into(), record.etag.clone()));
        response.headers.push((
            "last-modified".into(),
            format_http_date(record.last_modified_ms),
        ));
        if blob_type == BlobType::BlockBlob {
            response.headers.push(("content-md5".into(), computed_md5));
        }
        response
            .headers
            .push(("x-ms-request-server-encrypted".into(), "true".into()));
        Ok(response)
    }
}
