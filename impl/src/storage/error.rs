//! The storage service's errors: the real service's HTTP status, its
//! `x-ms-error-code` and the XML body it sends.
//!
//! Every refusal the service makes is one [`ErrorCode`]; the status and the
//! message come from the code, so a refusal can never carry the wrong status.

use std::fmt;

/// One of the Blob service's error codes, with the status it is sent with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    /// 403: the signature does not match, the key is not the account's, the
    /// SAS is outside its window or names a missing policy, or the clock skew
    /// is too large.
    AuthenticationFailed,
    /// 403: the SAS (or its stored policy) lacks the permission.
    AuthorizationPermissionMismatch,
    /// 403: the SAS's signed resource does not cover the resource asked for.
    AuthorizationResourceTypeMismatch,
    /// 403: the request is not authorized for another reason (a SAS used for
    /// an operation that needs the account key).
    AuthorizationFailure,
    /// 401: an anonymous request that needs authentication.
    NoAuthenticationInformation,
    /// 403 from the management API: the caller did not present the
    /// subscription's credentials (STO-8).
    ForbiddenError,
    /// 400: the `Authorization` header is malformed.
    InvalidAuthenticationInfo,
    /// 404: an anonymous request for something that is not public (the
    /// service does not reveal whether it exists).
    ResourceNotFound,
    /// 404: no such account.
    AccountNotFound,
    /// 404: no such container.
    ContainerNotFound,
    /// 404: no such blob (or snapshot).
    BlobNotFound,
    /// 409: the container exists already.
    ContainerAlreadyExists,
    /// 409: a create-only put (`If-None-Match: *`) of a blob that exists.
    BlobAlreadyExists,
    /// 409: a delete of a blob that has snapshots without saying what to do
    /// with them.
    SnapshotsPresent,
    /// 412: the blob has an active lease and the request carries no lease id.
    LeaseIdMissing,
    /// 412: the request's lease id is not the blob's active lease.
    LeaseIdMismatchWithBlobOperation,
    /// 412: the request carries a lease id but the blob has no active lease.
    LeaseNotPresentWithBlobOperation,
    /// 412: the container has an active lease and the request carries no
    /// lease id.
    LeaseIdMissingContainer,
    /// 409: acquire while another lease is active.
    LeaseAlreadyPresent,
    /// 409: a lease operation on a blob without a (suitable) lease.
    LeaseNotPresentWithLeaseOperation,
    /// 409: a lease operation with the wrong lease id.
    LeaseIdMismatchWithLeaseOperation,
    /// 409: renew of a broken lease.
    LeaseIsBrokenAndCannotBeRenewed,
    /// 409: acquire while the lease is breaking.
    LeaseIsBreakingAndCannotBeAcquired,
    /// 409: change while the lease is breaking.
    LeaseIsBreakingAndCannotBeChanged,
    /// 412: a conditional header's condition was not met.
    ConditionNotMet,
    /// 400: a write addressed to a snapshot (snapshots are read-only).
    InvalidOperation,
    /// 400: a header's value is malformed or unsupported (`x-ms-version`
    /// among them).
    InvalidHeaderValue,
    /// 400: a required header is missing.
    MissingRequiredHeader,
    /// 400: a query parameter's value is malformed.
    InvalidQueryParameterValue,
    /// 400: a required query parameter is missing.
    MissingRequiredQueryParameter,
    /// 400: the URI is malformed.
    InvalidUri,
    /// 400: a container or blob name breaks the naming rules.
    InvalidResourceName,
    /// 400: the XML body is malformed (or names more than five policies).
    InvalidXmlDocument,
    /// 400: an input is out of range (a lease duration, say).
    InvalidInput,
    /// 400: a value is out of its allowed range.
    OutOfRangeInput,
    /// 416: a range beyond the blob's end.
    InvalidRange,
    /// 400: the body's MD5 does not match `Content-MD5`.
    Md5Mismatch,
    /// 400: the request's headers are larger than the service accepts.
    RequestHeaderTooLarge,
    /// 413: the body is larger than the service accepts.
    RequestBodyTooLarge,
    /// 411: a write without `Content-Length`.
    MissingContentLengthHeader,
    /// 405: a method the resource does not support.
    UnsupportedHttpVerb,
    /// 400: a query parameter the service does not support.
    UnsupportedQueryParameter,
    /// 503: the service cannot take the request now (a replica is down or
    /// the write queue is full); retry.
    ServerBusy,
    /// 500: the service failed.
    InternalError,
}

impl ErrorCode {
    /// The HTTP status the service answers with.
    pub const fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            NoAuthenticationInformation => 401,
            AuthenticationFailed
            | AuthorizationPermissionMismatch
            | AuthorizationResourceTypeMismatch
            | AuthorizationFailure
            | ForbiddenError => 403,
            ResourceNotFound | AccountNotFound | ContainerNotFound | BlobNotFound => 404,
            UnsupportedHttpVerb => 405,
            ContainerAlreadyExists
            | BlobAlreadyExists
            | SnapshotsPresent
            | LeaseAlreadyPresent
            | LeaseNotPresentWithLeaseOperation
            | LeaseIdMismatchWithLeaseOperation
            | LeaseIsBrokenAndCannotBeRenewed
            | LeaseIsBreakingAndCannotBeAcquired
            | LeaseIsBreakingAndCannotBeChanged => 409,
            MissingContentLengthHeader => 411,
            LeaseIdMissing
            | LeaseIdMismatchWithBlobOperation
            | LeaseNotPresentWithBlobOperation
            | LeaseIdMissingContainer
            | ConditionNotMet => 412,
            RequestBodyTooLarge => 413,
            InvalidRange => 416,
            InvalidAuthenticationInfo
            | InvalidOperation
            | InvalidHeaderValue
            | MissingRequiredHeader
            | InvalidQueryParameterValue
            | MissingRequiredQueryParameter
            | InvalidUri
            | InvalidResourceName
            | InvalidXmlDocument
            | InvalidInput
            | OutOfRangeInput
            | Md5Mismatch
            | RequestHeaderTooLarge
            | UnsupportedQueryParameter => 400,
            ServerBusy => 503,
            InternalError => 500,
        }
    }

    /// The code as the service spells it in `x-ms-error-code`.
    pub const fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            AuthenticationFailed => "AuthenticationFailed",
            AuthorizationPermissionMismatch => "AuthorizationPermissionMismatch",
            AuthorizationResourceTypeMismatch => "AuthorizationResourceTypeMismatch",
            AuthorizationFailure => "AuthorizationFailure",
            NoAuthenticationInformation => "NoAuthenticationInformation",
            ForbiddenError => "ForbiddenError",
            InvalidAuthenticationInfo => "InvalidAuthenticationInfo",
            ResourceNotFound => "ResourceNotFound",
            AccountNotFound => "AccountNotFound",
            ContainerNotFound => "ContainerNotFound",
            BlobNotFound => "BlobNotFound",
            ContainerAlreadyExists => "ContainerAlreadyExists",
            BlobAlreadyExists => "BlobAlreadyExists",
            SnapshotsPresent => "SnapshotsPresent",
            LeaseIdMissing | LeaseIdMissingContainer => "LeaseIdMissing",
            LeaseIdMismatchWithBlobOperation => "LeaseIdMismatchWithBlobOperation",
            LeaseNotPresentWithBlobOperation => "LeaseNotPresentWithBlobOperation",
            LeaseAlreadyPresent => "LeaseAlreadyPresent",
            LeaseNotPresentWithLeaseOperation => "LeaseNotPresentWithLeaseOperation",
            LeaseIdMismatchWithLeaseOperation => "LeaseIdMismatchWithLeaseOperation",
            LeaseIsBrokenAndCannotBeRenewed => "LeaseIsBrokenAndCannotBeRenewed",
            LeaseIsBreakingAndCannotBeAcquired => "LeaseIsBreakingAndCannotBeAcquired",
            LeaseIsBreakingAndCannotBeChanged => "LeaseIsBreakingAndCannotBeChanged",
            ConditionNotMet => "ConditionNotMet",
            InvalidOperation => "InvalidOperation",
            InvalidHeaderValue => "InvalidHeaderValue",
            MissingRequiredHeader => "MissingRequiredHeader",
            InvalidQueryParameterValue => "InvalidQueryParameterValue",
            MissingRequiredQueryParameter => "MissingRequiredQueryParameter",
            InvalidUri => "InvalidUri",
            InvalidResourceName => "InvalidResourceName",
            InvalidXmlDocument => "InvalidXmlDocument",
            InvalidInput => "InvalidInput",
            OutOfRangeInput => "OutOfRangeInput",
            Md5Mismatch => "Md5Mismatch",
            InvalidRange => "InvalidRange",
            RequestHeaderTooLarge => "RequestHeaderTooLarge",
            RequestBodyTooLarge => "RequestBodyTooLarge",
            MissingContentLengthHeader => "MissingContentLengthHeader",
            UnsupportedHttpVerb => "UnsupportedHttpVerb",
            UnsupportedQueryParameter => "UnsupportedQueryParameter",
            ServerBusy => "ServerBusy",
            InternalError => "InternalError",
        }
    }

    /// The service's message for the code.
    pub const fn message(self) -> &'static str {
        use ErrorCode::*;
        match self {
            AuthenticationFailed => "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
            AuthorizationPermissionMismatch => "This request is not authorized to perform this operation using this permission.",
            AuthorizationResourceTypeMismatch => "This request is not authorized to perform this operation using this resource type.",
            AuthorizationFailure => "This request is not authorized to perform this operation.",
            NoAuthenticationInformation | InvalidAuthenticationInfo => "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.",
            ForbiddenError => "The server failed to authenticate the request. Verify that the subscription's credentials are valid.",
            ResourceNotFound => "The specified resource does not exist.",
            AccountNotFound => "The specified account does not exist.",
            ContainerNotFound => "The specified container does not exist.",
            BlobNotFound => "The specified blob does not exist.",
            ContainerAlreadyExists => "The specified container already exists.",
            BlobAlreadyExists => "The specified blob already exists.",
            SnapshotsPresent => "This operation is not permitted because the blob has snapshots.",
            LeaseIdMissing | LeaseIdMissingContainer => "There is currently a lease on the blob and no lease ID was specified in the request.",
            LeaseIdMismatchWithBlobOperation => "The lease ID specified did not match the lease ID for the blob.",
            LeaseNotPresentWithBlobOperation => "There is currently no lease on the blob.",
            LeaseAlreadyPresent => "There is already a lease present.",
            LeaseNotPresentWithLeaseOperation => "There is currently no lease on the blob.",
            LeaseIdMismatchWithLeaseOperation => "The lease ID specified did not match the lease ID for the blob.",
            LeaseIsBrokenAndCannotBeRenewed => "The lease ID matched, but the lease has been broken explicitly and cannot be renewed.",
            LeaseIsBreakingAndCannotBeAcquired => "The lease ID matched, but the lease is currently in breaking state and cannot be acquired until it is broken.",
            LeaseIsBreakingAndCannotBeChanged => "The lease ID matched, but the lease is currently in breaking state and cannot be changed.",
            ConditionNotMet => "The condition specified using HTTP conditional header(s) is not met.",
            InvalidOperation => "Invalid operation against a blob snapshot.",
            InvalidHeaderValue => "The value for one of the HTTP headers is not in the correct format.",
            MissingRequiredHeader => "An HTTP header that's mandatory for this request is not specified.",
            InvalidQueryParameterValue => "Value for one of the query parameters specified in the request URI is invalid.",
            MissingRequiredQueryParameter => "A query parameter that's mandatory for this request is not specified.",
            InvalidUri => "The requested URI does not represent any resource on the server.",
            InvalidResourceName => "The specified resource name contains invalid characters.",
            InvalidXmlDocument => "XML specified is not syntactically valid.",
            InvalidInput => "One of the request inputs is not valid.",
            OutOfRangeInput => "One of the request inputs is out of range.",
            InvalidRange => "The range specified is invalid for the current size of the resource.",
            Md5Mismatch => "The MD5 value specified in the request did not match with the MD5 value calculated by the server.",
            RequestHeaderTooLarge => "The size of the request header exceeds the maximum size permitted.",
            RequestBodyTooLarge => "The request body is too large and exceeds the maximum permissible limit.",
            MissingContentLengthHeader => "The Content-Length header was not specified.",
            UnsupportedHttpVerb => "The resource doesn't support the specified HTTP verb.",
            UnsupportedQueryParameter => "One of the query parameters specified in the request URI is not supported.",
            ServerBusy => "The server is currently unable to receive requests. Please retry your request.",
            InternalError => "The server encountered an internal error. Please retry the request.",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_str(), self.status())
    }
}

/// A refusal with the detail that goes into the XML body (never a secret).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}{}", detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
pub struct StorageError {
    /// The error code.
    pub code: ErrorCode,
    /// What exactly was wrong (`AuthenticationErrorDetail`, or the header's
    /// name for `InvalidHeaderValue`); free of secrets.
    pub detail: Option<String>,
}

impl StorageError {
    /// A refusal with no detail.
    pub const fn new(code: ErrorCode) -> Self {
        StorageError { code, detail: None }
    }

    /// A refusal with a detail.
    pub fn with_detail(code: ErrorCode, detail: impl Into<String>) -> Self {
        StorageError {
            code,
            detail: Some(detail.into()),
        }
    }

    /// The XML body the service sends with the error.
    pub fn to_xml(&self, request_id: &str, time: &str) -> String {
        let mut body = String::with_capacity(256);
        body.push_str("\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>");
        body.push_str(self.code.as_str());
        body.push_str("</Code><Message>");
        push_escaped(&mut body, self.code.message());
        body.push_str("\nRequestId:");
        push_escaped(&mut body, request_id);
        body.push_str("\nTime:");
        push_escaped(&mut body, time);
        body.push_str("</Message>");
        if let Some(detail) = &self.detail {
            let tag = match self.code {
                ErrorCode::AuthenticationFailed => "AuthenticationErrorDetail",
                ErrorCode::InvalidHeaderValue | ErrorCode::MissingRequiredHeader => "HeaderName",
                ErrorCode::InvalidQueryParameterValue
                | ErrorCode::MissingRequiredQueryParameter
                | ErrorCode::UnsupportedQueryParameter => "QueryParameterName",
                _ => "Detail",
            };
            body.push('<');
            body.push_str(tag);
            body.push('>');
            push_escaped(&mut body, detail);
            body.push_str("</");
            body.push_str(tag);
            body.push('>');
        }
        body.push_str("</Error>");
        body
    }
}

impl From<ErrorCode> for StorageError {
    fn from(code: ErrorCode) -> Self {
        StorageError::new(code)
    }
}

/// Appends `text` to `out` with XML's five special characters escaped.
pub fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}
