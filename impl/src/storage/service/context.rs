//! What every operation works with: the request, its address, the account,
//! the clock reading; and the helpers that build answers.

use super::*;

pub(super) struct Context<'a> {
    pub(super) account: &'a Account,
    pub(super) address: &'a Address,
    pub(super) request: &'a BlobRequest,
    pub(super) now_ms: UnixMs,
    pub(super) container: Option<ContainerRecord>,
    pub(super) snapshot: Option<String>,
    pub(super) bugs: BugSet,
}

pub(super) fn ok(status: u16) -> BlobResponse {
    BlobResponse {
        status,
        headers: Vec::new(),
        body: Bytes::new(),
    }
}

pub(super) fn with_header(
    mut response: BlobResponse,
    name: &str,
    value: impl Into<String>,
) -> BlobResponse {
    response.headers.push((name.to_string(), value.into()));
    response
}

pub(super) fn xml_response(body: String) -> BlobResponse {
    BlobResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/xml".into())],
        body: Bytes::from(body),
    }
}

/// The `x-ms-meta-*` headers of a request, checked.
pub(super) fn metadata_of(request: &BlobRequest) -> Result<Vec<(String, String)>, StorageError> {
    let mut metadata = Vec::new();
    let mut total = 0usize;
    for (name, value) in &request.headers {
        if let Some(key) = name.strip_prefix("x-ms-meta-") {
            if !ops::valid_metadata_name(key) {
                return Err(StorageError::with_detail(
                    ErrorCode::InvalidInput,
                    "metadata name",
                ));
            }
            total += key.len() + value.len();
            metadata.push((key.to_string(), value.clone()));
        }
    }
    if total > MAX_METADATA_BYTES {
        return Err(StorageError::with_detail(
            ErrorCode::InvalidInput,
            "metadata too large",
        ));
    }
    Ok(metadata)
}

pub(super) fn parse_range(text: &str, length: u64) -> Result<Option<(u64, u64)>, StorageError> {
    let Some(spec) = text.trim().strip_prefix("bytes=") else {
        return Err(StorageError::with_detail(
            ErrorCode::InvalidHeaderValue,
            "range",
        ));
    };
    let (start, end) = spec
        .split_once('-')
        .ok_or_else(|| StorageError::with_detail(ErrorCode::InvalidHeaderValue, "range"))?;
    let start: u64 = start
        .parse()
        .map_err(|_| StorageError::with_detail(ErrorCode::InvalidHeaderValue, "range"))?;
    let end: Option<u64> = if end.is_empty() {
        None
    } else {
        Some(
            end.parse()
                .map_err(|_| StorageError::with_detail(ErrorCode::InvalidHeaderValue, "range"))?,
        )
    };
    if end.is_some_and(|end| end < start) {
        return Err(StorageError::with_detail(
            ErrorCode::InvalidHeaderValue,
            "range",
        ));
    }
    if start >= length {
        return Err(StorageError::new(ErrorCode::InvalidRange));
    }
    let last = end.unwrap_or(u64::MAX).min(length - 1);
    Ok(Some((start, last)))
}

pub(super) fn blob_headers(record: &BlobRecord, now_ms: UnixMs, out: &mut Vec<(String, String)>) {
    out.push(("etag".into(), record.etag.clone()));
    out.push((
        "last-modified".into(),
        format_http_date(record.last_modified_ms),
    ));
    out.push((
        "x-ms-creation-time".into(),
        format_http_date(record.created_ms),
    ));
    out.push(("x-ms-blob-type".into(), record.blob_type.as_str().into()));
    out.push((
        "x-ms-lease-state".into(),
        record.lease.state_name(now_ms).into(),
    ));
    out.push((
        "x-ms-lease-status".into(),
        record.lease.status_name(now_ms).into(),
    ));
    if let Some(duration) = record.lease.duration_name(now_ms) {
        out.push(("x-ms-lease-duration".into(), duration.into()));
    }
    out.push(("x-ms-server-encrypted".into(), "true".into()));
    out.push(("accept-ranges".into(), "bytes".into()));
    let headers = &record.headers;
    out.push((
        "content-type".into(),
        headers
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into()),
    ));
    for (name, value) in [
        ("content-encoding", &headers.content_encoding),
        ("content-language", &headers.content_language),
        ("cache-control", &headers.cache_control),
        ("content-disposition", &headers.content_disposition),
    ] {
        if let Some(value) = value {
            out.push((name.into(), value.clone()));
        }
    }
    for (name, value) in &record.metadata {
        out.push((format!("x-ms-meta-{name}"), value.clone()));
    }
}

impl Context<'_> {
    pub(super) fn container_name(&self) -> &str {
        self.address.container.as_deref().unwrap_or_default()
    }

    pub(super) fn container_key(&self) -> String {
        ops::container_key(&self.address.account, self.container_name())
    }

    pub(super) fn blob_key(&self, snapshot: Option<&str>) -> String {
        ops::blob_key(
            &self.address.account,
            self.container_name(),
            self.address.blob.as_deref().unwrap_or_default(),
            snapshot,
        )
    }

    /// Reads from the replica named by the diagnostic header
    /// [`REPLICA_HEADER`] if the request has one (conformance reads each
    /// replica this way), else from any replica that holds every
    /// acknowledged write.
    pub(super) fn read<T>(
        &self,
        f: impl FnOnce(
            &dyn crate::storage::store::Tables<crate::storage::store::Table>,
        ) -> Result<T, StoreError>,
    ) -> Result<T, StorageError> {
        match self.request.header(REPLICA_HEADER) {
            None => read(&self.account.store, f),
            Some(text) => {
                let replica: usize = text
                    .trim()
                    .parse()
                    .ok()
                    .filter(|r| *r < REPLICA_COUNT)
                    .ok_or_else(|| {
                        StorageError::with_detail(ErrorCode::InvalidHeaderValue, REPLICA_HEADER)
                    })?;
                self.account
                    .store
                    .read_from(replica, f)
                    .map_err(store_error)
            }
        }
    }

    /// Refuses at once a write that the blob's lease fences, or (`must_exist`)
    /// a write to a blob that is not there. The store checks again when it
    /// applies the write; this only answers early, so that a refused write
    /// never waits behind the queue.
    pub(super) fn precheck(&self, must_exist: bool) -> Result<(), StorageError> {
        let key = self.blob_key(None);
        let record = self.read(|tables| ops::read_blob(tables, &key))?;
        match record {
            Some(record) if !self.bugs.has(SeededBug::LeaseNotCheckedOnWrite) || must_exist => {
                lease::check_write(&record.lease, self.lease_id().as_deref(), self.now_ms)
            }
            Some(_) => Ok(()),
            None if must_exist => Err(StorageError::new(ErrorCode::BlobNotFound)),
            None => lease::check_write(
                &lease::LeaseState::Available,
                self.lease_id().as_deref(),
                self.now_ms,
            ),
        }
    }

    pub(super) fn existing_container(&self) -> Result<&ContainerRecord, StorageError> {
        self.container
            .as_ref()
            .ok_or(StorageError::new(ErrorCode::ContainerNotFound))
    }

    pub(super) async fn write(&self, write: Write) -> Result<Applied, StorageError> {
        let command = BlobWrite {
            write,
            bugs: self.bugs,
        };
        self.account
            .store
            .write(command)
            .await
            .map_err(store_error)?
    }

    pub(super) fn lease_id(&self) -> Option<String> {
        self.request.header("x-ms-lease-id").map(str::to_string)
    }
}

pub(super) fn container_headers(
    mut response: BlobResponse,
    record: &ContainerRecord,
) -> BlobResponse {
    response.headers.push(("etag".into(), record.etag.clone()));
    response.headers.push((
        "last-modified".into(),
        format_http_date(record.last_modified_ms),
    ));
    response
}

pub(super) fn push_metadata(body: &mut String, metadata: &[(String, String)]) {
    body.push_str("<Metadata>");
    for (name, value) in metadata {
        element(body, name, value);
    }
    body.push_str("</Metadata>");
}

pub(super) fn parse_max_results(value: Option<&str>) -> Result<usize, StorageError> {
    match value {
        None => Ok(ops::MAX_LIST_RESULTS),
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=ops::MAX_LIST_RESULTS).contains(n))
            .ok_or_else(|| StorageError::with_detail(ErrorCode::OutOfRangeInput, "maxresults")),
    }
}

pub(super) fn md5_digest(bytes: &[u8]) -> [u8; 16] {
    use md5::{Digest, Md5};
    Md5::digest(bytes).into()
}
