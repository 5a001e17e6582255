//! Parsing and validating an ingest request (SPEC §2), and the answers it can get.

use serde_json::{json, Value};

use super::error::ApiError;
use super::ids::{email_id, sender_email};
use super::messages::EmailRecord;

/// Parses the JSON body of `POST /api/ingress/gmail` into the accepted e-mail.
///
/// `sender` and `body` are required non-empty strings, checked in that order (missing, `null` or
/// `""`: `Missing field: …`; another type: `Invalid field: …`). A string of only whitespace is
/// not empty and is accepted as it is (the replaced system accepts such a `body`; a blank
/// `sender` gives an empty `sender_email`). `subject` and `date` default to `""` when missing
/// or not strings; other keys (`snippet`...) are ignored.
pub fn parse_ingest(bytes: &[u8], received_at_ms: i64) -> Result<EmailRecord, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|_| ApiError::invalid_json())?;
    let Value::Object(mut map) = value else {
        return Err(ApiError::invalid_json());
    };
    // Fields are taken out of the parsed map, not copied: a body can be 25 MB.
    let mut required = |field: &str| -> Result<String, ApiError> {
        match map.remove(field) {
            None | Some(Value::Null) => Err(ApiError::missing_field(field)),
            Some(Value::String(s)) if s.is_empty() => Err(ApiError::missing_field(field)),
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(ApiError::invalid_field(
                field,
                format!("expected a string, got {}", type_name(&other)),
            )),
        }
    };
    let sender = required("sender")?;
    let body = required("body")?;
    let mut optional = |field: &str| match map.remove(field) {
        Some(Value::String(s)) => s,
        _ => String::new(),
    };
    let subject = optional("subject");
    let date = optional("date");
    let sender_email = sender_email(&sender);
    Ok(EmailRecord {
        email_id: email_id(&subject, &sender_email, &date),
        subject,
        sender,
        sender_email,
        body,
        date,
        received_at_ms,
    })
}

/// JSON type name, for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The 200 answers of the ingest (SPEC §2, rows 6, 7, 9, 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestStatus {
    AlreadyProcessed,
    SkippedSenderNotAllowed,
    AlreadyProcessing,
    Queued,
}

impl IngestStatus {
    /// Wire name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            IngestStatus::AlreadyProcessed => "already_processed",
            IngestStatus::SkippedSenderNotAllowed => "skipped_sender_not_allowed",
            IngestStatus::AlreadyProcessing => "already_processing",
            IngestStatus::Queued => "queued",
        }
    }

    /// The JSON body answered with HTTP 200.
    pub fn body(self, email_id: &str) -> Value {
        json!({"success": true, "status": self.as_str(), "email_id": email_id})
    }
}

/// True when the allowlist is empty or holds the sender (exact lowercase match).
pub fn sender_allowed(allowlist: &[String], sender_email: &str) -> bool {
    allowlist.is_empty() || allowlist.iter().any(|a| a == sender_email)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<EmailRecord, ApiError> {
        parse_ingest(s.as_bytes(), 0)
    }

    #[test]
    fn valid_request() {
        let e = parse(r#"{"subject":"Hello","sender":"S <Sender@Example.com>","body":"<p>x</p>","date":"2026-01-01T00:00:00Z","snippet":"x"}"#).unwrap();
        assert_eq!(e.email_id, "ef626f4a3197550e73b6e5a1b3cdc39e");
        assert_eq!(e.sender_email, "sender@example.com");
        assert_eq!(e.sender, "S <Sender@Example.com>");
    }

    #[test]
    fn defaults_for_subject_and_date() {
        let e = parse(r#"{"sender":"a@b.c","body":"x","subject":5,"date":null}"#).unwrap();
        assert_eq!((e.subject.as_str(), e.date.as_str()), ("", ""));
    }

    #[test]
    fn errors_in_spec_order() {
        assert_eq!(parse("not json").unwrap_err(), ApiError::invalid_json());
        assert_eq!(parse("[1,2]").unwrap_err(), ApiError::invalid_json());
        assert_eq!(parse("\"str\"").unwrap_err(), ApiError::invalid_json());
        assert_eq!(parse("{}").unwrap_err(), ApiError::missing_field("sender"));
        assert_eq!(
            parse(r#"{"sender":"","body":""}"#).unwrap_err(),
            ApiError::missing_field("sender")
        );
        assert_eq!(
            parse(r#"{"sender":"  ","body":""}"#).unwrap_err(),
            ApiError::missing_field("body"),
            "a blank sender is not empty: the body is checked next"
        );
        assert_eq!(
            parse(r#"{"sender":"a@b.c"}"#).unwrap_err(),
            ApiError::missing_field("body")
        );
        assert_eq!(
            parse(r#"{"sender":"a@b.c","body":""}"#).unwrap_err(),
            ApiError::missing_field("body")
        );
        let wrong = parse(r#"{"sender":42,"body":"x"}"#).unwrap_err();
        assert_eq!(wrong.status(), 400);
        assert!(wrong.message.contains("sender") && wrong.message.contains("a number"));
    }

    #[test]
    fn whitespace_only_strings_are_not_empty() {
        let e = parse(r#"{"sender":"a@b.c","body":" \n\t\u00a0"}"#).unwrap();
        assert_eq!(e.body, " \n\t\u{a0}", "kept as sent");
        let e = parse(r#"{"sender":"   ","body":"x","subject":"S","date":"D"}"#).unwrap();
        assert_eq!(e.sender, "   ");
        assert_eq!(e.sender_email, "");
        assert_eq!(e.email_id, email_id("S", "", "D"));
    }

    #[test]
    fn statuses_and_allowlist() {
        assert_eq!(IngestStatus::Queued.body("x")["status"], "queued");
        assert!(sender_allowed(&[], "a@b.c"));
        assert!(sender_allowed(&["a@b.c".into()], "a@b.c"));
        assert!(!sender_allowed(&["a@b.c".into()], "z@b.c"));
    }
}
