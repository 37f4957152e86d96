//! Time as the storage service reads and writes it: milliseconds since the
//! Unix epoch inside, RFC 1123 dates in headers, ISO 8601 in SAS fields and
//! access policies.
//!
//! The service never reads the clock in a decision: the shell reads it once
//! per request and passes `now_ms` in.

use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Milliseconds since the Unix epoch.
pub type UnixMs = i64;

/// The current time, for the shell to pass into decisions.
pub fn now_ms() -> UnixMs {
    let now = OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as UnixMs
}

fn to_datetime(at_ms: UnixMs) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn to_ms(at: OffsetDateTime) -> UnixMs {
    (at.unix_timestamp_nanos() / 1_000_000) as UnixMs
}

/// Formats `at_ms` as an HTTP date: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn format_http_date(at_ms: UnixMs) -> String {
    httpdate_from(to_datetime(at_ms))
}

fn httpdate_from(at: OffsetDateTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[at.weekday().number_days_from_monday() as usize],
        at.day(),
        MONTHS[at.month() as usize - 1],
        at.year(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Parses an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`), as `x-ms-date` and
/// `Date` carry it.
pub fn parse_http_date(text: &str) -> Option<UnixMs> {
    let trimmed = text.trim();
    // RFC 2822 parsing in `time` wants a numeric zone; HTTP dates say GMT.
    let numeric = trimmed
        .strip_suffix("GMT")
        .map(|head| format!("{head}+0000"));
    let candidate = numeric.as_deref().unwrap_or(trimmed);
    OffsetDateTime::parse(candidate, &Rfc2822).ok().map(to_ms)
}

/// Formats `at_ms` as ISO 8601 with seconds, as SAS fields are written:
/// `2024-05-01T12:00:00Z`.
pub fn format_iso8601(at_ms: UnixMs) -> String {
    let at = to_datetime(at_ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        at.month() as u8,
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Formats `at_ms` with seven fractional digits, as the service writes
/// dates in XML bodies and snapshot ids: `2024-05-01T12:00:00.1230000Z`.
pub fn format_iso8601_fine(at_ms: UnixMs) -> String {
    let at = to_datetime(at_ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}0000Z",
        at.year(),
        at.month() as u8,
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// Parses the ISO 8601 forms SAS fields and access policies use: a UTC date
/// (`2024-05-01`), a time to the minute or second (`2024-05-01T12:00Z`,
/// `2024-05-01T12:00:00Z`) or with up to seven fractional digits, or an
/// offset instead of `Z`.
pub fn parse_iso8601(text: &str) -> Option<UnixMs> {
    let text = text.trim();
    if text.len() > 40 || !text.is_ascii() {
        return None;
    }
    if text.len() == 10 {
        let date = time::Date::parse(
            text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .ok()?;
        return Some(to_ms(
            PrimitiveDateTime::new(date, time::Time::MIDNIGHT).assume_utc(),
        ));
    }
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(to_ms(at));
    }
    // Minute precision: `2024-05-01T12:00Z`.
    let head = text.strip_suffix('Z')?;
    let at = PrimitiveDateTime::parse(
        head,
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]"),
    )
    .ok()?;
    Some(to_ms(at.assume_offset(UtcOffset::UTC)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_round_trip() {
        let at = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(at, Some(784_111_777_000));
        assert_eq!(
            format_http_date(784_111_777_000),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn iso_dates_in_every_sas_form() {
        let second = parse_iso8601("2024-05-01T12:00:00Z");
        assert_eq!(second, Some(1_714_564_800_000));
        assert_eq!(parse_iso8601("2024-05-01T12:00Z"), second);
        assert_eq!(parse_iso8601("2024-05-01T12:00:00.0000000Z"), second);
        assert_eq!(parse_iso8601("2024-05-01T14:00:00+02:00"), second);
        assert_eq!(parse_iso8601("2024-05-01"), Some(1_714_521_600_000));
        assert_eq!(format_iso8601(1_714_564_800_000), "2024-05-01T12:00:00Z");
        assert_eq!(
            format_iso8601_fine(1_714_564_800_123),
            "2024-05-01T12:00:00.1230000Z"
        );
        assert_eq!(parse_iso8601("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_iso8601(""), None);
    }
}
