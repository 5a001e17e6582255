//! The stable error codes of the HTTP contract and their JSON body.

use serde_json::{json, Value};

/// A stable error code; each maps to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Missing or wrong token, or no token configured (401).
    Unauthorized,
    /// Known path, wrong method (405).
    MethodNotAllowed,
    /// Unknown path, or media serving off / object absent (404).
    NotFound,
    /// Malformed body or field (400).
    InvalidRequest,
    /// Source or redirect host outside the allowlist (403).
    HostNotAllowed,
    /// No response headers before the deadline (504).
    SourceTimeout,
    /// The source could not be reached, or redirected too often (502).
    SourceUnreachable,
    /// The source answered a non-2xx status (502).
    SourceStatus,
    /// The source answered a web page (422).
    NotAFile,
    /// A ZIP was required and the body does not start with `PK` (422).
    NotZip,
    /// Declared or streamed size over the maximum (413).
    TooLarge,
    /// The body ended or failed before its declared length (502).
    SourceTruncated,
    /// R2 failed, or the worker is misconfigured (500).
    StorageError,
}

impl Code {
    /// The code as sent in the `code` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthorized => "unauthorized",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::NotFound => "not_found",
            Code::InvalidRequest => "invalid_request",
            Code::HostNotAllowed => "host_not_allowed",
            Code::SourceTimeout => "source_timeout",
            Code::SourceUnreachable => "source_unreachable",
            Code::SourceStatus => "source_status",
            Code::NotAFile => "not_a_file",
            Code::NotZip => "not_zip",
            Code::TooLarge => "too_large",
            Code::SourceTruncated => "source_truncated",
            Code::StorageError => "storage_error",
        }
    }

    /// The HTTP status answered with this code.
    pub fn status(self) -> u16 {
        match self {
            Code::Unauthorized => 401,
            Code::MethodNotAllowed => 405,
            Code::NotFound => 404,
            Code::InvalidRequest => 400,
            Code::HostNotAllowed => 403,
            Code::SourceTimeout => 504,
            Code::SourceUnreachable | Code::SourceStatus | Code::SourceTruncated => 502,
            Code::NotAFile | Code::NotZip => 422,
            Code::TooLarge => 413,
            Code::StorageError => 500,
        }
    }
}

/// An error answered to the caller: a code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The stable code.
    pub code: Code,
    /// Free text for logs and people; never parse it.
    pub message: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// `invalid_request` with `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidRequest, message)
    }

    /// `not_found` for an unknown path.
    pub fn not_found() -> Self {
        Self::new(Code::NotFound, "no such route")
    }

    /// `method_not_allowed` naming the allowed method.
    pub fn method_not_allowed(allowed: &str) -> Self {
        Self::new(
            Code::MethodNotAllowed,
            format!("only {allowed} is allowed here"),
        )
    }

    /// `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(Code::Unauthorized, "missing or wrong X-R2-FETCH-TOKEN")
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The JSON body: `{"success":false,"code":…,"message":…}`.
    pub fn body(&self) -> Value {
        json!({ "success": false, "code": self.code.as_str(), "message": self.message })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_are_stable() {
        let all = [
            (Code::Unauthorized, "unauthorized", 401),
            (Code::MethodNotAllowed, "method_not_allowed", 405),
            (Code::NotFound, "not_found", 404),
            (Code::InvalidRequest, "invalid_request", 400),
            (Code::HostNotAllowed, "host_not_allowed", 403),
            (Code::SourceTimeout, "source_timeout", 504),
            (Code::SourceUnreachable, "source_unreachable", 502),
            (Code::SourceStatus, "source_status", 502),
            (Code::NotAFile, "not_a_file", 422),
            (Code::NotZip, "not_zip", 422),
            (Code::TooLarge, "too_large", 413),
            (Code::SourceTruncated, "source_truncated", 502),
            (Code::StorageError, "storage_error", 500),
        ];
        for (code, name, status) in all {
            assert_eq!(code.as_str(), name);
            assert_eq!(code.status(), status);
        }
    }

    #[test]
    fn body_shape() {
        let e = ApiError::new(Code::NotZip, "nope");
        assert_eq!(
            e.body(),
            json!({"success": false, "code": "not_zip", "message": "nope"})
        );
        assert_eq!(e.status(), 422);
    }
}
