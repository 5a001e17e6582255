//! Time formatting for logs and payloads. The clock is always an input (unix milliseconds).

use chrono::{DateTime, SecondsFormat, Utc};

pub use facteur_zone::{parse_zone, Zone};

/// Milliseconds in one day.
pub const DAY_MS: i64 = 86_400_000;

/// ISO-8601 UTC with milliseconds: `2026-01-01T00:00:00.000Z` (sorts lexicographically).
pub fn iso_utc(unix_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(unix_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 timestamp to unix milliseconds.
pub fn parse_iso(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// Parses an HTTP date (`Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`) to unix milliseconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|d| d.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_utc(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
        assert_eq!(
            parse_iso("2026-01-01T00:00:00.123Z"),
            Some(1_767_225_600_123)
        );
        assert_eq!(
            parse_iso("2026-01-01T01:00:00+01:00"),
            Some(1_767_225_600_000)
        );
        assert_eq!(parse_iso("yesterday"), None);
        assert_eq!(
            parse_http_date("Thu, 01 Jan 2026 00:00:10 GMT"),
            Some(1_767_225_610_000)
        );
    }
}
