//! The body of a Pub/Sub push and the Gmail notification in it:
//! `{"message":{"data":<base64 of {"emailAddress","historyId"}>,"messageId","publishTime"},
//! "subscription"}`.
//!
//! A notification is a hint that the mailbox changed, never a cursor: the mailbox's object
//! lists its history from its own stored cursor (see [`crate::intake::gmail::sync`]).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The largest push body read (Gmail's are a few hundred bytes); larger is a 413.
pub const MAX_PUSH_BYTES: u64 = 16_384;

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A Gmail notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub email_address: String,
    pub history_id: u64,
    /// Pub/Sub's id of the message (for logs).
    #[serde(default)]
    pub message_id: String,
    #[serde(default)]
    pub publish_time: String,
}

#[derive(Deserialize)]
struct Envelope {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    data: String,
    #[serde(default, rename = "messageId")]
    message_id: Option<String>,
    /// Pub/Sub writes the id under both names.
    #[serde(default, rename = "message_id")]
    message_id_snake: Option<String>,
    #[serde(default, rename = "publishTime")]
    publish_time: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "emailAddress")]
    email_address: String,
    #[serde(rename = "historyId")]
    history_id: Value,
}

/// Reads a push body; the error says why it is not a Gmail notification (the push is then
/// acknowledged and ignored: Pub/Sub would deliver it again forever otherwise, and the
/// catch-up finds what it announced).
pub fn parse_push(body: &[u8]) -> Result<Notification, String> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|_| "not a Pub/Sub push envelope".to_string())?;
    let m = envelope.message;
    // Pub/Sub writes standard base64; the URL-safe alphabet is read too.
    let data: String = m
        .data
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let decoded = LENIENT
        .decode(data.as_bytes())
        .map_err(|_| "message.data is not base64".to_string())?;
    let data: Data = serde_json::from_slice(&decoded)
        .map_err(|_| "message.data is not a Gmail notification".to_string())?;
    let history_id = match &data.history_id {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .filter(|h| *h > 0)
    .ok_or_else(|| "historyId is not a positive integer".to_string())?;
    let email_address = data.email_address.trim().to_ascii_lowercase();
    if email_address.is_empty() || !email_address.contains('@') {
        return Err("emailAddress is not an address".into());
    }
    Ok(Notification {
        email_address,
        history_id,
        message_id: m.message_id.or(m.message_id_snake).unwrap_or_default(),
        publish_time: m.publish_time.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use serde_json::json;

    fn envelope(data: String) -> Vec<u8> {
        json!({"message": {"data": data, "messageId": "136969346945", "publishTime": "2026-01-01T00:00:00.123Z"},
               "subscription": "projects/p/subscriptions/s"})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn notifications() {
        let n = parse_push(&envelope(
            STANDARD.encode(r#"{"emailAddress":"Me@Example.com","historyId":9876543210}"#),
        ))
        .unwrap();
        assert_eq!(n.email_address, "me@example.com");
        assert_eq!(n.history_id, 9_876_543_210);
        assert_eq!(n.message_id, "136969346945");
        let s = parse_push(&envelope(
            URL_SAFE_NO_PAD.encode(r#"{"emailAddress":"me@example.com","historyId":"42"}"#),
        ))
        .unwrap();
        assert_eq!(s.history_id, 42);
        #[rustfmt::skip]
        let bad: [Vec<u8>; 8] = [
            b"".to_vec(),
            b"garbage".to_vec(),
            b"{}".to_vec(),
            envelope("%%%".into()),
            envelope(STANDARD.encode("not json")),
            envelope(STANDARD.encode(r#"{"emailAddress":"me@example.com","historyId":-1}"#)),
            envelope(STANDARD.encode(r#"{"emailAddress":"me@example.com","historyId":"x"}"#)),
            envelope(STANDARD.encode(r#"{"emailAddress":"nobody","historyId":1}"#)),
        ];
        for b in bad {
            assert!(parse_push(&b).is_err(), "{}", String::from_utf8_lossy(&b));
        }
    }
}
