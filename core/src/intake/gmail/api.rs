//! The Gmail API calls the mailbox makes, as URLs and bodies, and the small answers it reads
//! (profile, labels, watch). Quotas (per user, 250 units a second): `history.list` 2 units,
//! `messages.get` 5, `messages.list` 5, `users.getProfile` 1, `labels.list` 1, `users.watch`
//! 100 (once a day), `users.stop` 1; a pass uses at most about 100 units.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::intake::gmail::oauth::percent;
use crate::intake::gmail::sync::{GMAIL_API, HISTORY_PAGE_SIZE};

/// `users.history.list` from `start`, for messages added with the label.
pub fn history_url(start: u64, label_id: &str, page_token: Option<&str>) -> String {
    let mut url = format!(
        "{GMAIL_API}/history?startHistoryId={start}&historyTypes=messageAdded&labelId={}&maxResults={HISTORY_PAGE_SIZE}",
        percent(label_id)
    );
    if let Some(t) = page_token {
        url.push_str(&format!("&pageToken={}", percent(t)));
    }
    url
}

/// `users.messages.get` in `format` (`raw` or `full`).
pub fn message_url(id: &str, format: &str) -> String {
    format!("{GMAIL_API}/messages/{}?format={format}", percent(id))
}

/// `users.messages.list` of the label, matching `q`, one page of `max`.
pub fn list_url(label_id: &str, q: &str, max: usize) -> String {
    format!(
        "{GMAIL_API}/messages?labelIds={}&q={}&maxResults={max}&includeSpamTrash=false",
        percent(label_id),
        percent(q)
    )
}

/// `users.getProfile`.
pub fn profile_url() -> String {
    format!("{GMAIL_API}/profile")
}

/// `users.labels.list`.
pub fn labels_url() -> String {
    format!("{GMAIL_API}/labels")
}

/// `users.watch`.
pub fn watch_url() -> String {
    format!("{GMAIL_API}/watch")
}

/// `users.stop`.
pub fn stop_url() -> String {
    format!("{GMAIL_API}/stop")
}

/// The body of `users.watch`: notify the topic of changes to the label only.
pub fn watch_body(topic: &str, label_id: &str) -> String {
    json!({"topicName": topic, "labelIds": [label_id], "labelFilterBehavior": "INCLUDE"})
        .to_string()
}

fn number(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The mailbox's address and head (`users.getProfile`).
pub fn parse_profile(text: &str) -> Result<(String, u64), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("profile unreadable: {e}"))?;
    let address = v["emailAddress"]
        .as_str()
        .filter(|a| a.contains('@'))
        .ok_or("profile without emailAddress")?;
    let head = number(&v["historyId"]).ok_or("profile without historyId")?;
    Ok((address.to_ascii_lowercase(), head))
}

/// The id of the label `wanted` names: a label id as it is, else a label name (case ignored).
pub fn find_label(text: &str, wanted: &str) -> Result<Option<String>, String> {
    #[derive(Deserialize)]
    struct Label {
        id: String,
        #[serde(default)]
        name: String,
    }
    #[derive(Deserialize)]
    struct Labels {
        #[serde(default)]
        labels: Vec<Label>,
    }
    let labels: Labels =
        serde_json::from_str(text).map_err(|e| format!("labels unreadable: {e}"))?;
    let by_id = labels.labels.iter().find(|l| l.id == wanted);
    let by_name = || {
        labels
            .labels
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(wanted))
    };
    Ok(by_id.or_else(by_name).map(|l| l.id.clone()))
}

/// The watch's start (history id) and expiry (unix ms), from `users.watch`.
pub fn parse_watch(text: &str) -> Result<(u64, i64), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("watch unreadable: {e}"))?;
    let start = number(&v["historyId"]).ok_or("watch without historyId")?;
    let expiration = number(&v["expiration"]).ok_or("watch without expiration")?;
    Ok((start, expiration as i64))
}

/// A `Retry-After` in seconds (HTTP dates are not sent by Google's APIs).
pub fn retry_after_secs(header: Option<&str>) -> Option<u32> {
    header.and_then(|h| h.trim().parse::<u32>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            history_url(42, "Label_1", None),
            "https://gmail.googleapis.com/gmail/v1/users/me/history?startHistoryId=42&historyTypes=messageAdded&labelId=Label_1&maxResults=100"
        );
        assert!(history_url(42, "L", Some("a/b")).ends_with("&pageToken=a%2Fb"));
        assert_eq!(
            message_url("18c/x", "raw"),
            "https://gmail.googleapis.com/gmail/v1/users/me/messages/18c%2Fx?format=raw"
        );
        assert!(list_url("Label_1", "after:1700000000", 50)
            .contains("labelIds=Label_1&q=after%3A1700000000&maxResults=50"));
        let body: Value =
            serde_json::from_str(&watch_body("projects/p/topics/t", "Label_1")).unwrap();
        assert_eq!(body["labelIds"][0], "Label_1");
        assert_eq!(body["labelFilterBehavior"], "INCLUDE");
        assert!(profile_url().ends_with("/profile") && labels_url().ends_with("/labels"));
        assert!(watch_url().ends_with("/watch") && stop_url().ends_with("/stop"));
    }

    #[test]
    fn answers() {
        assert_eq!(
            parse_profile(
                r#"{"emailAddress":"Me@Example.com","messagesTotal":3,"historyId":"1234"}"#
            ),
            Ok(("me@example.com".into(), 1234))
        );
        assert!(parse_profile(r#"{"historyId":"1"}"#).is_err());
        let labels = r#"{"labels":[{"id":"INBOX","name":"INBOX","type":"system"},{"id":"Label_7","name":"Facteur/To-Push","type":"user"}]}"#;
        assert_eq!(
            find_label(labels, "facteur/to-push"),
            Ok(Some("Label_7".into()))
        );
        assert_eq!(find_label(labels, "Label_7"), Ok(Some("Label_7".into())));
        assert_eq!(find_label(labels, "INBOX"), Ok(Some("INBOX".into())));
        assert_eq!(find_label(labels, "nope"), Ok(None));
        assert!(find_label("x", "a").is_err());
        assert_eq!(
            parse_watch(r#"{"historyId":"1234567","expiration":"1431990098200"}"#),
            Ok((1_234_567, 1_431_990_098_200))
        );
        assert!(parse_watch("{}").is_err());
        assert_eq!(retry_after_secs(Some(" 30 ")), Some(30));
        assert_eq!(
            retry_after_secs(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
    }
}
