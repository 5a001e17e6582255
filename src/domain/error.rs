//! The API error type: every failure the HTTP layer can answer, with a stable code.
//!
//! One place turns an [`ApiError`] into a status and a JSON body
//! (`{"success":false,"code":…,"message":…}`); internal details are logged by the edge, never
//! returned.

use serde_json::{json, Value};

/// An error answered to an HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable message naming the problem.
    pub message: String,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    /// 401, with the message SPEC §2 prescribes.
    pub fn unauthorized() -> Self {
        Self::new(401, "unauthorized", "Unauthorized")
    }
    /// 400 for a body that is not a JSON object (SPEC §2 message).
    pub fn invalid_json() -> Self {
        Self::new(400, "invalid_json", "Invalid JSON payload")
    }
    /// 400 for a required field that is absent or empty.
    pub fn missing_field(field: &str) -> Self {
        Self::new(400, "missing_field", format!("Missing field: {field}"))
    }
    /// 400 for a field of the wrong type or value.
    pub fn invalid_field(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "invalid_field",
            format!("Invalid field: {field}: {problem}"),
        )
    }
    /// 400 for a malformed query parameter.
    pub fn invalid_query(param: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "invalid_query",
            format!("Invalid query parameter '{param}': {problem}"),
        )
    }
    /// 400 for a configuration document that fails validation.
    pub fn invalid_config(problem: impl Into<String>) -> Self {
        Self::new(400, "invalid_config", problem)
    }
    /// 413 for a body over the limit.
    pub fn too_large(limit_bytes: u64) -> Self {
        Self::new(
            413,
            "payload_too_large",
            format!("Request body exceeds the limit of {limit_bytes} bytes (max_email_size_mb)"),
        )
    }
    /// 404 for an unknown path.
    pub fn not_found(path: &str) -> Self {
        Self::new(404, "not_found", format!("No route for {path}"))
    }
    /// 404 for an unknown resource.
    pub fn no_such(what: &str, id: &str) -> Self {
        Self::new(404, "not_found", format!("No {what} with id {id}"))
    }
    /// 405 for a known path with the wrong method.
    pub fn method_not_allowed(method: &str, allowed: &[&str]) -> Self {
        Self::new(
            405,
            "method_not_allowed",
            format!("Method {method} not allowed; use {}", allowed.join(", ")),
        )
    }
    /// 409: Gmail ingress switched off by the runtime flag (SPEC §2).
    pub fn ingress_disabled() -> Self {
        Self::new(409, "ingress_disabled", "Gmail ingress disabled")
    }
    /// 409: sending blocked by global absence or the runtime flag (SPEC §2).
    pub fn sending_disabled(reason: &str) -> Self {
        let mut e = Self::new(409, "sending_disabled", "Webhook sending disabled");
        if !reason.is_empty() {
            e.code = if reason == "absence" {
                "absence_pause"
            } else {
                "sending_disabled"
            };
        }
        e
    }
    /// 503: a dependency the request cannot do without failed (the client should retry).
    pub fn unavailable(what: &str) -> Self {
        Self::new(
            503,
            "unavailable",
            format!("{what} unavailable, retry later"),
        )
    }
    /// 500 for a failure that is ours; details are logged, not returned.
    pub fn internal() -> Self {
        Self::new(500, "internal", "Internal error")
    }

    /// The JSON body answered to the client.
    pub fn body(&self) -> Value {
        json!({"success": false, "code": self.code, "message": self.message})
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_messages_are_exact() {
        assert_eq!(ApiError::unauthorized().body()["message"], "Unauthorized");
        assert_eq!(
            ApiError::invalid_json().body()["message"],
            "Invalid JSON payload"
        );
        assert_eq!(
            ApiError::missing_field("sender").body()["message"],
            "Missing field: sender"
        );
        assert_eq!(
            ApiError::ingress_disabled().body()["message"],
            "Gmail ingress disabled"
        );
        assert_eq!(
            ApiError::sending_disabled("absence").body()["message"],
            "Webhook sending disabled"
        );
        assert_eq!(ApiError::sending_disabled("absence").code, "absence_pause");
        assert_eq!(ApiError::unauthorized().body()["success"], false);
    }
}
