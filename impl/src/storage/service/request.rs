//! What a request addresses, which operation it is, and what that operation
//! needs to be authorized.

use super::*;

/// What the path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Address {
    pub(super) account: String,
    pub(super) container: Option<String>,
    pub(super) blob: Option<String>,
}

pub(super) fn decode_segment(text: &str) -> Result<String, StorageError> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| StorageError::with_detail(ErrorCode::InvalidUri, "path is not UTF-8"))
}

pub(super) fn parse_address(path: &str) -> Result<Address, StorageError> {
    let trimmed = path
        .strip_prefix('/')
        .ok_or(StorageError::new(ErrorCode::InvalidUri))?;
    let mut parts = trimmed.splitn(3, '/');
    let account = decode_segment(parts.next().unwrap_or_default())?;
    let container = parts
        .next()
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .transpose()?;
    let blob = parts
        .next()
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .transpose()?;
    if account.is_empty() {
        return Err(StorageError::new(ErrorCode::InvalidUri));
    }
    Ok(Address {
        account,
        container,
        blob,
    })
}

/// What operation a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Operation {
    ListContainers,
    CreateContainer,
    GetContainerProperties,
    DeleteContainer,
    SetContainerAcl,
    GetContainerAcl,
    SetContainerMetadata,
    ListBlobs,
    PutBlob,
    GetBlob,
    GetBlobProperties,
    DeleteBlob,
    SnapshotBlob,
    SetBlobMetadata,
    GetBlobMetadata,
    LeaseBlob,
    GetAccountInfo,
}

impl Operation {
    pub(super) fn writes(self) -> bool {
        use Operation::*;
        matches!(
            self,
            CreateContainer
                | DeleteContainer
                | SetContainerAcl
                | SetContainerMetadata
                | PutBlob
                | DeleteBlob
                | SnapshotBlob
                | SetBlobMetadata
                | LeaseBlob
        )
    }
}

pub(super) fn classify(
    request: &BlobRequest,
    address: &Address,
) -> Result<Operation, StorageError> {
    use Operation::*;
    let restype = request.query_value("restype");
    let comp = request.query_value("comp");
    let method = request.method.as_str();
    let unsupported = || Err(StorageError::new(ErrorCode::UnsupportedHttpVerb));
    match (&address.container, &address.blob) {
        (None, _) => match (method, restype, comp) {
            ("GET", _, Some("list")) => Ok(ListContainers),
            ("GET" | "HEAD", Some("account"), Some("properties")) => Ok(GetAccountInfo),
            _ => Err(StorageError::new(ErrorCode::InvalidUri)),
        },
        (Some(_), None) => match (method, restype, comp) {
            ("PUT", Some("container"), None) => Ok(CreateContainer),
            ("GET" | "HEAD", Some("container"), None) => Ok(GetContainerProperties),
            ("DELETE", Some("container"), None) => Ok(DeleteContainer),
            ("PUT", Some("container"), Some("acl")) => Ok(SetContainerAcl),
            ("GET" | "HEAD", Some("container"), Some("acl")) => Ok(GetContainerAcl),
            ("PUT", Some("container"), Some("metadata")) => Ok(SetContainerMetadata),
            ("GET" | "HEAD", Some("container"), Some("metadata")) => Ok(GetContainerProperties),
            ("GET", Some("container"), Some("list")) => Ok(ListBlobs),
            (_, Some("container"), _) => unsupported(),
            _ => Err(StorageError::with_detail(
                ErrorCode::InvalidQueryParameterValue,
                "restype",
            )),
        },
        (Some(_), Some(_)) => match (method, comp) {
            ("PUT", None) => Ok(PutBlob),
            ("GET", None) => Ok(GetBlob),
            ("HEAD", None) => Ok(GetBlobProperties),
            ("DELETE", None) => Ok(DeleteBlob),
            ("PUT", Some("snapshot")) => Ok(SnapshotBlob),
            ("PUT", Some("metadata")) => Ok(SetBlobMetadata),
            ("GET" | "HEAD", Some("metadata")) => Ok(GetBlobMetadata),
            ("PUT", Some("lease")) => Ok(LeaseBlob),
            (_, Some("snapshot" | "metadata" | "lease")) | (_, None) => unsupported(),
            (_, Some(_)) => Err(StorageError::with_detail(
                ErrorCode::UnsupportedQueryParameter,
                "comp",
            )),
        },
    }
}

/// What authorization an operation needs.
pub(super) fn need_of(operation: Operation, address: &Address, snapshot: Option<&str>) -> Need {
    use Operation::*;
    let container = address.container.clone().unwrap_or_default();
    let target = match &address.blob {
        Some(blob) => Target::Blob {
            container,
            blob: blob.clone(),
            snapshot: snapshot.map(str::to_string),
        },
        None if address.container.is_some() => Target::Container { container },
        None => Target::Service,
    };
    let (sas_permission, anonymous) = match operation {
        ListContainers | CreateContainer | DeleteContainer | SetContainerAcl | GetContainerAcl
        | SetContainerMetadata | GetAccountInfo => (None, None),
        GetContainerProperties => (None, Some(PublicAccess::Container)),
        ListBlobs => (Some(Permissions::LIST), Some(PublicAccess::Container)),
        PutBlob => (Some(Permissions::WRITE), None),
        GetBlob | GetBlobProperties | GetBlobMetadata => {
            (Some(Permissions::READ), Some(PublicAccess::Blob))
        }
        DeleteBlob => (Some(Permissions::DELETE), None),
        SnapshotBlob | SetBlobMetadata | LeaseBlob => (Some(Permissions::WRITE), None),
    };
    Need {
        target,
        sas_permission,
        anonymous,
        writes: operation.writes(),
    }
}
