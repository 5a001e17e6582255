//! The JSON bodies of `POST /fetch` and `POST /cleanup`, parsed and checked.

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::consts::{DEFAULT_TIMEOUT_MS, MAX_DELETE_KEYS, MAX_REQUEST_BYTES, MAX_TIMEOUT_MS};
use crate::error::ApiError;
use crate::policy;

/// Longest `provider` accepted.
const MAX_PROVIDER_BYTES: usize = 64;

/// A checked `POST /fetch` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// The caller's URL, as sent (stored as `sourceUrl`).
    pub source_url: String,
    /// The parsed, allowed URL fetched first.
    pub source: Url,
    /// Object key in the bucket.
    pub key: String,
    /// Provider name, stored as metadata.
    pub provider: String,
    /// Refuse a body that does not start with `PK`.
    pub require_zip: bool,
    /// Deadline for the source's response headers (all redirect hops together).
    pub timeout_ms: u64,
}

/// A checked `POST /cleanup` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupRequest {
    /// Objects uploaded strictly before this Unix time (ms) are deleted.
    pub older_than_ms: u64,
}

#[derive(Deserialize)]
struct RawFetch {
    source_url: Option<Value>,
    key: Option<Value>,
    provider: Option<Value>,
    require_zip: Option<Value>,
    timeout_ms: Option<Value>,
}

/// Parses a `/fetch` body: `invalid_request` for anything malformed, `host_not_allowed` for
/// a source outside the allowlist.
pub fn parse_fetch(body: &str) -> Result<FetchRequest, ApiError> {
    let raw: RawFetch = parse_object(body)?;
    let source_url = required_string(raw.source_url, "source_url")?;
    let key = required_string(raw.key, "key")?;
    let provider = required_string(raw.provider, "provider")?;
    if provider.is_empty()
        || provider.len() > MAX_PROVIDER_BYTES
        || provider.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(format!(
            "provider must be 1 to {MAX_PROVIDER_BYTES} printable bytes"
        )));
    }
    let require_zip = match raw.require_zip {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(ApiError::invalid("require_zip must be a boolean")),
    };
    let timeout_ms = match raw.timeout_ms {
        None | Some(Value::Null) => DEFAULT_TIMEOUT_MS,
        Some(v) => match v.as_u64() {
            Some(ms @ 1..=MAX_TIMEOUT_MS) => ms,
            _ => {
                return Err(ApiError::invalid(format!(
                    "timeout_ms must be an integer from 1 to {MAX_TIMEOUT_MS}"
                )))
            }
        },
    };
    policy::check_key(&key)?;
    let source = policy::check_source_url(&source_url)?;
    Ok(FetchRequest {
        source_url,
        source,
        key,
        provider,
        require_zip,
        timeout_ms,
    })
}

#[derive(Deserialize)]
struct RawCleanup {
    older_than_ms: Option<Value>,
}

/// Parses a `/cleanup` body.
pub fn parse_cleanup(body: &str) -> Result<CleanupRequest, ApiError> {
    let raw: RawCleanup = parse_object(body)?;
    let older_than_ms = match raw.older_than_ms {
        None | Some(Value::Null) => return Err(ApiError::invalid("missing field older_than_ms")),
        Some(v) => v.as_u64().ok_or_else(|| {
            ApiError::invalid("older_than_ms must be a non-negative integer (Unix ms)")
        })?,
    };
    Ok(CleanupRequest { older_than_ms })
}

/// A checked `POST /delete` request: the object keys to delete (an erasure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    /// Distinct keys, in the order given.
    pub keys: Vec<String>,
}

#[derive(Deserialize)]
struct RawDelete {
    keys: Option<Value>,
}

/// Parses a `/delete` body: `{"keys": [...]}`, 1 to [`MAX_DELETE_KEYS`] keys, each a key
/// `/fetch` would accept.
pub fn parse_delete(body: &str) -> Result<DeleteRequest, ApiError> {
    let raw: RawDelete = parse_object(body)?;
    let list = match raw.keys {
        None | Some(Value::Null) => return Err(ApiError::invalid("missing field keys")),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(ApiError::invalid("keys must be an array of strings")),
    };
    if list.is_empty() || list.len() > MAX_DELETE_KEYS {
        return Err(ApiError::invalid(format!(
            "keys must hold 1 to {MAX_DELETE_KEYS} keys"
        )));
    }
    let mut keys: Vec<String> = Vec::with_capacity(list.len());
    for v in list {
        let Value::String(key) = v else {
            return Err(ApiError::invalid("keys must be an array of strings"));
        };
        policy::check_key(&key)?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    Ok(DeleteRequest { keys })
}

fn parse_object<T: for<'de> Deserialize<'de>>(body: &str) -> Result<T, ApiError> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(ApiError::invalid(format!(
            "the body is larger than {MAX_REQUEST_BYTES} bytes"
        )));
    }
    let value: Value = serde_json::from_str(body)
        .map_err(|e| ApiError::invalid(format!("the body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::invalid("the body must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| ApiError::invalid(e.to_string()))
}

fn required_string(v: Option<Value>, name: &str) -> Result<String, ApiError> {
    match v {
        None | Some(Value::Null) => Err(ApiError::invalid(format!("missing field {name}"))),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::invalid(format!("{name} must be a string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;
    use serde_json::json;

    fn body(v: Value) -> String {
        v.to_string()
    }

    fn good() -> Value {
        json!({
            "source_url": "https://www.dropbox.com/scl/fo/abc?dl=1&rlkey=k",
            "key": "dropbox/1a2b3c4d/5e6f7a8b/file.zip",
            "provider": "dropbox",
            "require_zip": true,
            "timeout_ms": 120000
        })
    }

    #[test]
    fn full_request() {
        let r = parse_fetch(&body(good())).unwrap();
        assert_eq!(
            r.source_url,
            "https://www.dropbox.com/scl/fo/abc?dl=1&rlkey=k"
        );
        assert_eq!(r.source.host_str(), Some("www.dropbox.com"));
        assert_eq!(r.key, "dropbox/1a2b3c4d/5e6f7a8b/file.zip");
        assert_eq!(r.provider, "dropbox");
        assert!(r.require_zip);
        assert_eq!(r.timeout_ms, 120_000);
    }

    #[test]
    fn defaults() {
        let mut v = good();
        v.as_object_mut().unwrap().remove("require_zip");
        v.as_object_mut().unwrap().remove("timeout_ms");
        v["extra"] = json!("ignored");
        let r = parse_fetch(&body(v)).unwrap();
        assert!(!r.require_zip);
        assert_eq!(r.timeout_ms, 15_000);
    }

    #[test]
    fn invalid_requests() {
        let cases: Vec<(&str, Value)> = vec![
            ("source_url", Value::Null),
            ("source_url", json!(3)),
            ("source_url", json!("http://www.dropbox.com/a")),
            ("key", json!("")),
            ("key", json!("/a")),
            ("key", json!("a/../b")),
            ("key", json!("k".repeat(513))),
            ("provider", json!("")),
            ("provider", Value::Null),
            ("require_zip", json!("yes")),
            ("timeout_ms", json!(0)),
            ("timeout_ms", json!(600_001)),
            ("timeout_ms", json!(-1)),
            ("timeout_ms", json!(1.5)),
        ];
        for (field, value) in cases {
            let mut v = good();
            if value.is_null() {
                v.as_object_mut().unwrap().remove(field);
            } else {
                v[field] = value.clone();
            }
            let e = parse_fetch(&body(v)).unwrap_err();
            assert_eq!(e.code, Code::InvalidRequest, "{field}={value}");
        }
        for raw in ["", "not json", "[]", "\"s\"", "{"] {
            assert_eq!(
                parse_fetch(raw).unwrap_err().code,
                Code::InvalidRequest,
                "{raw}"
            );
        }
        let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_REQUEST_BYTES));
        assert_eq!(parse_fetch(&huge).unwrap_err().code, Code::InvalidRequest);
    }

    #[test]
    fn max_timeout_is_accepted() {
        let mut v = good();
        v["timeout_ms"] = json!(600_000);
        assert_eq!(parse_fetch(&body(v)).unwrap().timeout_ms, 600_000);
    }

    #[test]
    fn disallowed_host() {
        let mut v = good();
        v["source_url"] = json!("https://www.dropbox.com.evil.com/a.zip");
        assert_eq!(
            parse_fetch(&body(v)).unwrap_err().code,
            Code::HostNotAllowed
        );
    }

    #[test]
    fn delete() {
        let r = parse_delete(r#"{"keys": ["dropbox/a/b/f.zip", "x/y", "x/y"]}"#).unwrap();
        assert_eq!(
            r.keys,
            ["dropbox/a/b/f.zip", "x/y"],
            "repeats dropped, order kept"
        );
        let too_many = json!({ "keys": vec!["k"; MAX_DELETE_KEYS + 1] }).to_string();
        for bad in [
            "{}".to_string(),
            r#"{"keys": []}"#.into(),
            r#"{"keys": "a"}"#.into(),
            r#"{"keys": [1]}"#.into(),
            r#"{"keys": ["../etc"]}"#.into(),
            r#"{"keys": ["/abs"]}"#.into(),
            r#"{"keys": [""]}"#.into(),
            "[]".into(),
            too_many,
        ] {
            assert_eq!(
                parse_delete(&bad).unwrap_err().code,
                Code::InvalidRequest,
                "{bad}"
            );
        }
    }

    #[test]
    fn cleanup() {
        assert_eq!(
            parse_cleanup(r#"{"older_than_ms": 1700000000000}"#)
                .unwrap()
                .older_than_ms,
            1_700_000_000_000
        );
        for bad in [
            "{}",
            r#"{"older_than_ms": -5}"#,
            r#"{"older_than_ms": "1"}"#,
            "nope",
            "[1]",
        ] {
            assert_eq!(
                parse_cleanup(bad).unwrap_err().code,
                Code::InvalidRequest,
                "{bad}"
            );
        }
    }
}
