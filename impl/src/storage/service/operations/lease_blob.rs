//! Lease Blob: acquire, renew, change, release and break (DRV-1).

use super::*;

impl Context<'_> {
    pub(in crate::storage::service) async fn lease(&self) -> Result<BlobResponse, StorageError> {
        self.existing_container()?;
        let key = self.blob_key(None);
        if self.read(|tables| ops::read_blob(tables, &key))?.is_none() {
            return Err(StorageError::new(ErrorCode::BlobNotFound));
        }
        let request = self.request;
        let header = |name: &str| request.header(name).map(str::to_string);
        let missing =
            |name: &str| StorageError::with_detail(ErrorCode::MissingRequiredHeader, name);
        let action = match request.header("x-ms-lease-action") {
            Some("acquire") => LeaseAction::Acquire {
                duration_s: lease::parse_duration(
                    request
                        .header("x-ms-lease-duration")
                        .ok_or_else(|| missing("x-ms-lease-duration"))?,
                )?,
                proposed_id: header("x-ms-proposed-lease-id")
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            },
            Some("renew") => LeaseAction::Renew {
                id: header("x-ms-lease-id").ok_or_else(|| missing("x-ms-lease-id"))?,
            },
            Some("change") => LeaseAction::Change {
                id: header("x-ms-lease-id").ok_or_else(|| missing("x-ms-lease-id"))?,
                proposed_id: header("x-ms-proposed-lease-id")
                    .ok_or_else(|| missing("x-ms-proposed-lease-id"))?,
            },
            Some("release") => LeaseAction::Release {
                id: header("x-ms-lease-id").ok_or_else(|| missing("x-ms-lease-id"))?,
            },
            Some("break") => LeaseAction::Break {
                period_s: request
                    .header("x-ms-lease-break-period")
                    .map(|text| {
                        text.trim().parse::<i64>().map_err(|_| {
                            StorageError::with_detail(
                                ErrorCode::InvalidHeaderValue,
                                "x-ms-lease-break-period",
                            )
                        })
                    })
                    .transpose()?,
            },
            Some(_) => {
                return Err(StorageError::with_detail(
                    ErrorCode::InvalidHeaderValue,
                    "x-ms-lease-action",
                ))
            }
            None => return Err(missing("x-ms-lease-action")),
        };
        let status = match action {
            LeaseAction::Acquire { .. } => 201,
            LeaseAction::Break { .. } => 202,
            _ => 200,
        };
        let (answer, record) = self
            .write(Write::Lease {
                key: self.blob_key(None),
                action,
                now_ms: self.now_ms,
            })
            .await?
            .into_lease()?;
        let mut response = ok(status);
        response.headers.push(("etag".into(), record.etag.clone()));
        response.headers.push((
            "last-modified".into(),
            format_http_date(record.last_modified_ms),
        ));
        if let Some(id) = answer.id {
            response.headers.push(("x-ms-lease-id".into(), id));
        }
        if let Some(seconds) = answer.break_in_s {
            response
                .headers
                .push(("x-ms-lease-time".into(), seconds.to_string()));
        }
        Ok(response)
    }
}
