//! The API error type: every failure the HTTP layer can answer, with a stable code.
//!
//! One place turns an [`ApiError`] into a status and a JSON body
//! (`{"success":false,"code":…,"message":…}`); internal details are logged by the edge, never
//! returned.

use serde_json::{json, Value};

/// The one answer of every failed sign-in (wrong or missing password, console closed), so a
/// failure tells nothing about why. Past the failure limit the answer is a 429 instead
/// ([`ApiError::too_many_attempts`]), whatever the password.
pub const SIGN_IN_FAILED: &str = "Sign-in failed: wrong password";

/// The stable code of every error the main worker answers, with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Unauthorized,
    Forbidden,
    InvalidJson,
    MissingField,
    InvalidField,
    InvalidQuery,
    InvalidConfig,
    PayloadTooLarge,
    NotFound,
    MethodNotAllowed,
    IngressDisabled,
    SendingDisabled,
    AbsencePause,
    /// An optional feature (Gmail push) is not configured: the call cannot do anything.
    NotConfigured,
    Unavailable,
    Misconfigured,
    Internal,
    /// Too many failed credentials from this client, or from everyone (the global budget).
    TooManyAttempts,
    /// The replay budget of a target is spent for now.
    ReplayBudget,
}

impl ErrorCode {
    /// Every code (the table test checks each one's name and status).
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::InvalidJson,
        ErrorCode::MissingField,
        ErrorCode::InvalidField,
        ErrorCode::InvalidQuery,
        ErrorCode::InvalidConfig,
        ErrorCode::PayloadTooLarge,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::IngressDisabled,
        ErrorCode::SendingDisabled,
        ErrorCode::AbsencePause,
        ErrorCode::NotConfigured,
        ErrorCode::Unavailable,
        ErrorCode::Misconfigured,
        ErrorCode::Internal,
        ErrorCode::TooManyAttempts,
        ErrorCode::ReplayBudget,
    ];

    /// The wire name, in the `code` field of every error body.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::IngressDisabled => "ingress_disabled",
            ErrorCode::SendingDisabled => "sending_disabled",
            ErrorCode::AbsencePause => "absence_pause",
            ErrorCode::NotConfigured => "not_configured",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Misconfigured => "misconfigured",
            ErrorCode::Internal => "internal",
            ErrorCode::TooManyAttempts => "too_many_attempts",
            ErrorCode::ReplayBudget => "replay_budget",
        }
    }

    /// The HTTP status answered with this code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::InvalidJson
            | ErrorCode::MissingField
            | ErrorCode::InvalidField
            | ErrorCode::InvalidQuery
            | ErrorCode::InvalidConfig => 400,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::IngressDisabled
            | ErrorCode::SendingDisabled
            | ErrorCode::AbsencePause
            | ErrorCode::NotConfigured => 409,
            ErrorCode::Unavailable => 503,
            ErrorCode::Misconfigured | ErrorCode::Internal => 500,
            ErrorCode::TooManyAttempts | ErrorCode::ReplayBudget => 429,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answered to an HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Stable machine-readable code; decides the HTTP status.
    pub code: ErrorCode,
    /// Human-readable message naming the problem.
    pub message: String,
    /// The field at fault, as a path (`webhook_time_start`, `rules[1].conditions[0].value`),
    /// when one is known: the console shows the message beside it.
    pub field: Option<String>,
    /// Seconds to wait before trying again (a 429): the `Retry-After` header and
    /// `retry_after_secs` in the body.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            retry_after_secs: None,
        }
    }
    /// The same error, naming the field at fault.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code.status()
    }
    /// 401, with the message SPEC §2 prescribes.
    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "Unauthorized")
    }
    /// 401 for a failed console sign-in: one answer whatever the cause.
    pub fn sign_in_failed() -> Self {
        Self::new(ErrorCode::Unauthorized, SIGN_IN_FAILED)
    }
    /// 401 saying what was wrong with the credential (never its value): a push whose token
    /// does not verify.
    pub fn unauthorized_because(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }
    /// 403: the credential is genuine but not one this endpoint takes (a push token for
    /// another audience or signer).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    /// 403 for a cookie-authenticated write whose `Origin` is not the console's (CSRF).
    pub fn cross_site() -> Self {
        Self::new(
            ErrorCode::Forbidden,
            "Cross-site request refused: a write signed in by cookie must come from this console (Origin header)",
        )
    }
    /// 400 for a body that is not a JSON object (SPEC §2 message).
    pub fn invalid_json() -> Self {
        Self::new(ErrorCode::InvalidJson, "Invalid JSON payload")
    }
    /// 400 for a required field that is absent or empty.
    pub fn missing_field(field: &str) -> Self {
        Self::new(ErrorCode::MissingField, format!("Missing field: {field}"))
    }
    /// 400 for a field of the wrong type or value.
    pub fn invalid_field(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::InvalidField,
            format!("Invalid field: {field}: {problem}"),
        )
    }
    /// 400 for a malformed query parameter.
    pub fn invalid_query(param: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::InvalidQuery,
            format!("Invalid query parameter '{param}': {problem}"),
        )
    }
    /// 400 for a configuration document that fails validation.
    pub fn invalid_config(problem: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidConfig, problem)
    }
    /// 413 for a body over the limit.
    pub fn too_large(limit_bytes: u64) -> Self {
        Self::too_large_for(limit_bytes, "max_email_size_mb")
    }
    /// 413 for a body over a limit other than the e-mail size (`what` says which).
    pub fn too_large_for(limit_bytes: u64, what: &str) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!("Request body exceeds the limit of {limit_bytes} bytes ({what})"),
        )
    }
    /// 404 for an unknown path.
    pub fn not_found(path: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("No route for {path}"))
    }
    /// 404 for an unknown resource.
    pub fn no_such(what: &str, id: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("No {what} with id {id}"))
    }
    /// 405 for a known path with the wrong method.
    pub fn method_not_allowed(method: &str, allowed: &[&str]) -> Self {
        Self::new(
            ErrorCode::MethodNotAllowed,
            format!("Method {method} not allowed; use {}", allowed.join(", ")),
        )
    }
    /// 409: Gmail ingress switched off by the runtime flag (SPEC §2).
    pub fn ingress_disabled() -> Self {
        Self::new(ErrorCode::IngressDisabled, "Gmail ingress disabled")
    }
    /// 409: sending blocked by the sending switch (SPEC §2).
    pub fn sending_disabled() -> Self {
        Self::new(ErrorCode::SendingDisabled, "Webhook sending disabled")
    }
    /// 409: sending blocked by the global absence (SPEC §2): same message, its own code.
    pub fn absence_pause() -> Self {
        Self::new(ErrorCode::AbsencePause, "Webhook sending disabled")
    }
    /// 409: an optional feature is not configured (`what` says which, and how to set it).
    pub fn not_configured(what: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotConfigured, what)
    }
    /// 503: a dependency the request cannot do without failed (the client should retry).
    pub fn unavailable(what: &str) -> Self {
        Self::new(
            ErrorCode::Unavailable,
            format!("{what} unavailable, retry later"),
        )
    }
    /// 500: the worker's own configuration is wrong (the message names the variable or
    /// binding, never a value).
    pub fn misconfigured(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Misconfigured, message)
    }
    /// 500 for a failure that is ours; details are logged, not returned.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "Internal error")
    }
    /// 429: past the failed-credential limit (this client's, or the global budget). Every
    /// credential is refused until `retry_after_secs` have passed, the right one included, so
    /// the answer says nothing about the one presented.
    pub fn too_many_attempts(retry_after_secs: u64) -> Self {
        let secs = retry_after_secs.max(1);
        Self {
            retry_after_secs: Some(secs),
            ..Self::new(
                ErrorCode::TooManyAttempts,
                format!("Too many failed attempts; every credential is refused for now, retry in {secs} s"),
            )
        }
    }
    /// 429: the replay budget of the targets concerned is spent; nothing was sent.
    pub fn replay_budget(retry_after_secs: u64, per_minute: u32) -> Self {
        let secs = retry_after_secs.max(1);
        Self {
            retry_after_secs: Some(secs),
            ..Self::new(
                ErrorCode::ReplayBudget,
                format!("Replay budget spent ({per_minute} replays a minute per target); nothing was sent, retry in {secs} s"),
            )
        }
    }

    /// The JSON body answered to the client (`field` only when known).
    pub fn body(&self) -> Value {
        let mut body =
            json!({"success": false, "code": self.code.as_str(), "message": self.message});
        if let (Some(field), Value::Object(map)) = (&self.field, &mut body) {
            map.insert("field".into(), Value::String(field.clone()));
        }
        if let (Some(secs), Value::Object(map)) = (self.retry_after_secs, &mut body) {
            map.insert("retry_after_secs".into(), Value::from(secs));
        }
        body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status(), self.code, self.message)
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
            ApiError::absence_pause().body()["message"],
            "Webhook sending disabled"
        );
        assert_eq!(ApiError::absence_pause().body()["code"], "absence_pause");
        assert_eq!(
            ApiError::sending_disabled().code,
            ErrorCode::SendingDisabled
        );
        assert_eq!(ApiError::unauthorized().body()["success"], false);
        assert!(ApiError::unauthorized().body().get("field").is_none());
        let at = ApiError::invalid_config("x: bad").at("webhook_time_start");
        assert_eq!(at.body()["field"], "webhook_time_start");
        assert!(at.body().get("retry_after_secs").is_none());
        let limited = ApiError::too_many_attempts(0);
        assert_eq!(limited.status(), 429);
        assert_eq!(
            limited.retry_after_secs,
            Some(1),
            "never a Retry-After of 0"
        );
        assert_eq!(limited.body()["retry_after_secs"], 1);
        assert_eq!(
            ApiError::replay_budget(42, 100).body()["code"],
            "replay_budget"
        );
    }

    #[test]
    fn every_code_has_one_name_and_its_status() {
        #[rustfmt::skip]
        let table: [(ErrorCode, &str, u16); 19] = [
            (ErrorCode::Unauthorized, "unauthorized", 401),
            (ErrorCode::Forbidden, "forbidden", 403),
            (ErrorCode::InvalidJson, "invalid_json", 400),
            (ErrorCode::MissingField, "missing_field", 400),
            (ErrorCode::InvalidField, "invalid_field", 400),
            (ErrorCode::InvalidQuery, "invalid_query", 400),
            (ErrorCode::InvalidConfig, "invalid_config", 400),
            (ErrorCode::PayloadTooLarge, "payload_too_large", 413),
            (ErrorCode::NotFound, "not_found", 404),
            (ErrorCode::MethodNotAllowed, "method_not_allowed", 405),
            (ErrorCode::IngressDisabled, "ingress_disabled", 409),
            (ErrorCode::SendingDisabled, "sending_disabled", 409),
            (ErrorCode::AbsencePause, "absence_pause", 409),
            (ErrorCode::NotConfigured, "not_configured", 409),
            (ErrorCode::Unavailable, "unavailable", 503),
            (ErrorCode::Misconfigured, "misconfigured", 500),
            (ErrorCode::Internal, "internal", 500),
            (ErrorCode::TooManyAttempts, "too_many_attempts", 429),
            (ErrorCode::ReplayBudget, "replay_budget", 429),
        ];
        assert_eq!(table.len(), ErrorCode::ALL.len());
        for (code, (listed, name, status)) in ErrorCode::ALL.iter().zip(table) {
            assert_eq!(
                *code, listed,
                "ALL and the table list codes in the same order"
            );
            assert_eq!((code.as_str(), code.status()), (name, status), "{code:?}");
        }
        let names: std::collections::HashSet<_> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "names are unique");
        // The match in `status` is exhaustive: a new code fails to compile until it has one.
    }
}
