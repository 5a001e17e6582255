//! Parsing and validating an ingest request (SPEC §2), and the answers it can get.

use serde_json::{json, Value};

use crate::analysis::email::EmailRecord;
use crate::base::ids::{email_id, sender_email};
use crate::base::json_text::{decode_in_place, escapes_valid};
use crate::error::ApiError;

/// Parses the JSON body of `POST /api/ingress/gmail` into the accepted e-mail (see
/// [`email_from_request`]; this one copies `bytes`).
pub fn parse_ingest(bytes: &[u8], received_at_ms: i64) -> Result<EmailRecord, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ApiError::invalid_json())?;
    email_from_request(text.to_string(), received_at_ms)
}

/// What the ingest needs of a request before it accepts it: every check of
/// [`email_from_request`], in the same order with the same errors, but the body only
/// validated, not decoded (it can be 25 MB: the request's own text is what is queued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestHead {
    pub email_id: String,
    pub subject: String,
    pub sender: String,
    pub sender_email: String,
    pub date: String,
}

/// Checks a push and reads everything but its body (see [`IngestHead`]).
pub fn parse_ingest_head(text: &str) -> Result<IngestHead, ApiError> {
    head_and_body(text).map(|(head, _)| head)
}

/// Reads a push (its own JSON text, as the ingest received it) into the e-mail. The text's
/// buffer becomes the body: the body's escapes are decoded in place (see
/// [`crate::base::json_text`]), so a 25 MB body is never held twice.
///
/// `sender` and `body` are required non-empty strings, checked in that order (missing, `null`
/// or `""`: `Missing field: …`; another type: `Invalid field: …`). A string of only whitespace
/// is not empty and is accepted as it is (the replaced system accepts such a `body`; a blank
/// `sender` gives an empty `sender_email`). `subject` and `date` default to `""` when missing
/// or not strings; other keys (`snippet`...) are ignored; a repeated key counts once, the last
/// one. A used string whose escapes are not Unicode (a lone surrogate) is invalid JSON.
pub fn email_from_request(text: String, received_at_ms: i64) -> Result<EmailRecord, ApiError> {
    let (head, body) = head_and_body(&text)?;
    let mut buf = text.into_bytes();
    buf.copy_within(body.clone(), 0);
    buf.truncate(body.len());
    let body = decode_in_place(buf).ok_or_else(ApiError::invalid_json)?;
    Ok(EmailRecord {
        email_id: head.email_id,
        subject: head.subject,
        sender: head.sender,
        sender_email: head.sender_email,
        body,
        date: head.date,
        received_at_ms,
    })
}

/// The head of a push and the byte range of its body's contents (between the quotes).
fn head_and_body(text: &str) -> Result<(IngestHead, std::ops::Range<usize>), ApiError> {
    use serde_json::value::RawValue;
    use std::borrow::Cow;
    use std::collections::HashMap;
    let map: HashMap<Cow<str>, &RawValue> =
        serde_json::from_str(text).map_err(|_| ApiError::invalid_json())?;
    let raw = |field: &str| map.get(field).map(|r| r.get());
    for field in ["sender", "body"] {
        match raw(field).map(raw_kind) {
            None | Some(RawKind::Null) | Some(RawKind::EmptyString) => {
                return Err(ApiError::missing_field(field))
            }
            Some(RawKind::String) => {}
            Some(RawKind::Other(name)) => {
                return Err(ApiError::invalid_field(
                    field,
                    format!("expected a string, got {name}"),
                ))
            }
        }
    }
    let string = |field: &str| -> Result<String, ApiError> {
        match raw(field) {
            Some(r) if r.starts_with('"') => {
                serde_json::from_str::<String>(r).map_err(|_| ApiError::invalid_json())
            }
            _ => Ok(String::new()),
        }
    };
    let (subject, sender, date) = (string("subject")?, string("sender")?, string("date")?);
    let body = raw("body").unwrap_or_default();
    let contents = &body.as_bytes()[1..body.len() - 1];
    if !escapes_valid(contents) {
        return Err(ApiError::invalid_json());
    }
    // The raw value borrows from `text`: its place in it.
    let start = contents.as_ptr() as usize - text.as_ptr() as usize;
    let sender_email = sender_email(&sender);
    let head = IngestHead {
        email_id: email_id(&subject, &sender_email, &date),
        subject,
        sender,
        sender_email,
        date,
    };
    Ok((head, start..start + contents.len()))
}

/// The JSON type of a raw (valid) JSON value, from its first character.
enum RawKind {
    Null,
    EmptyString,
    String,
    Other(&'static str),
}

fn raw_kind(raw: &str) -> RawKind {
    match raw.as_bytes().first() {
        Some(b'n') => RawKind::Null,
        Some(b'"') if raw == "\"\"" => RawKind::EmptyString,
        Some(b'"') => RawKind::String,
        Some(b't' | b'f') => RawKind::Other("a boolean"),
        Some(b'[') => RawKind::Other("an array"),
        Some(b'{') => RawKind::Other("an object"),
        _ => RawKind::Other("a number"),
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
    use crate::base::json::type_name;

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

    /// The parse before it decoded in place: through `serde_json::Value` (the reference).
    fn reference(bytes: &[u8]) -> Result<EmailRecord, ApiError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|_| ApiError::invalid_json())?;
        let Value::Object(mut map) = value else {
            return Err(ApiError::invalid_json());
        };
        let mut required = |field: &str| match map.remove(field) {
            None | Some(Value::Null) => Err(ApiError::missing_field(field)),
            Some(Value::String(s)) if s.is_empty() => Err(ApiError::missing_field(field)),
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(ApiError::invalid_field(
                field,
                format!("expected a string, got {}", type_name(&other)),
            )),
        };
        let (sender, body) = (required("sender")?, required("body")?);
        let mut optional = |field: &str| match map.remove(field) {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        let (subject, date) = (optional("subject"), optional("date"));
        let sender_email = sender_email(&sender);
        Ok(EmailRecord {
            email_id: email_id(&subject, &sender_email, &date),
            subject,
            sender,
            sender_email,
            body,
            date,
            received_at_ms: 0,
        })
    }

    /// The head, the in-place parse and the reference agree on every request.
    fn both(s: &str) -> Result<EmailRecord, ApiError> {
        let full = parse(s);
        assert_eq!(full, reference(s.as_bytes()), "{s}");
        match (&full, parse_ingest_head(s)) {
            (Ok(e), Ok(h)) => {
                assert_eq!(
                    (&h.email_id, &h.subject, &h.sender, &h.sender_email, &h.date),
                    (&e.email_id, &e.subject, &e.sender, &e.sender_email, &e.date),
                    "{s}"
                );
            }
            (Err(a), Err(b)) => assert_eq!(a, &b, "{s}"),
            (a, b) => panic!("{s}: full {a:?}, head {b:?}"),
        }
        full
    }

    #[test]
    fn the_head_agrees_with_the_full_parse() {
        for s in [
            r#"{"subject":"Hello","sender":"S <Sender@Example.com>","body":"<p>x</p>","date":"2026-01-01T00:00:00Z","snippet":"x"}"#,
            r#"{"sender":"a@b.c","body":"x","subject":5,"date":null}"#,
            r#"{"sender":"a@b.c","body":" "}"#,
            r#"{"sender":"a@b.c","body":"é\"\u00e9","sender":"z@y.x"}"#,
            r#"{"sender":"a@b.c","body":""}"#,
            r#"{"sender":"a@b.c","body":null}"#,
            r#"{"sender":"a@b.c","body":1.5}"#,
            r#"{"sender":"a@b.c","body":-1}"#,
            r#"{"sender":"a@b.c","body":true}"#,
            r#"{"sender":"a@b.c","body":[]}"#,
            r#"{"sender":"a@b.c","body":{"x":1}}"#,
            r#"{"sender":{},"body":"x"}"#,
            r#"{"sender":"","body":"x"}"#,
            r#"{"body":"x"}"#,
            r#"{"s\u0065nder":"a@b.c","body":"x"}"#,
            r#"{"sender":"a@b.c","body":"\ud800"}"#,
            r#"{"sender":"a@b.c","body":"x \ud83d\ude00 \u00e9\n\"q\""}"#,
            r#"{"sender":"a@b.c","body":"x","subject":"\udc00"}"#,
            "{}",
            "[]",
            "\"x\"",
            "nope",
            "",
        ] {
            let _ = both(s);
        }
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
