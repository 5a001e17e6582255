//! Query strings and path segments: percent-decoding, and typed parameters with clear errors.

use crate::error::ApiError;

/// Splits a raw query string into decoded `(name, value)` pairs.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    decode(s, true)
}

/// Decodes one percent-encoded path segment (`%40` → `@`; a `+` stays a `+`, as in
/// `jane+tag@example.com`).
pub fn decode_segment(s: &str) -> String {
    decode(s, false)
}

fn decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Parses an optional integer query parameter within `min..=max`.
pub fn int_param(
    pairs: &[(String, String)],
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ApiError> {
    match pairs.iter().rev().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) => {
            let n: u64 = v.trim().parse().map_err(|_| {
                ApiError::invalid_query(name, format!("expected an integer, got {v:?}"))
            })?;
            if n < min || n > max {
                return Err(ApiError::invalid_query(
                    name,
                    format!("must be between {min} and {max}"),
                ));
            }
            Ok(n)
        }
    }
}

/// Returns the last value of a query parameter, if present and non-empty.
pub fn str_param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let q = query_pairs("days=3&status=success&x=%41b+c&limit=");
        assert_eq!(int_param(&q, "days", 7, 1, 30), Ok(3));
        assert_eq!(str_param(&q, "status"), Some("success"));
        assert_eq!(str_param(&q, "x"), Some("Ab c"));
        assert_eq!(str_param(&q, "limit"), None);
        let bad = query_pairs("days=abc");
        assert_eq!(
            int_param(&bad, "days", 7, 1, 30).unwrap_err().code,
            crate::error::ErrorCode::InvalidQuery
        );
        let out = query_pairs("days=99");
        assert!(int_param(&out, "days", 7, 1, 30)
            .unwrap_err()
            .message
            .contains("between 1 and 30"));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%é%"), "%é%");
    }
}
