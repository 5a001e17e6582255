//! Identifiers: `sender_email`, `email_id` (SPEC §2), delivery ids and store keys.

use md5::{Digest as _, Md5};
use sha2::Sha256;

/// Redis/KV key prefix of the processed marker (SPEC §2).
pub const PROCESSED_PREFIX: &str = "r:ss:processed_email:";
/// Redis key prefix of the in-flight lock (SPEC §2).
pub const INFLIGHT_PREFIX: &str = "r:ss:inflight_email:";

/// The address part of a `From`-style sender: `Name <a@b.c>` → `a@b.c`, trimmed and lowercased.
pub fn sender_email(sender: &str) -> String {
    let inner = match (sender.rfind('<'), sender.rfind('>')) {
        (Some(open), Some(close)) if open < close => &sender[open + 1..close],
        _ => sender,
    };
    inner.trim().to_lowercase()
}

/// Lowercase hex MD5 of `subject|sender_email|date` (the id the Python deployment used).
pub fn email_id(subject: &str, sender_email: &str, date: &str) -> String {
    let mut hasher = Md5::new();
    hasher.update(subject.as_bytes());
    hasher.update(b"|");
    hasher.update(sender_email.as_bytes());
    hasher.update(b"|");
    hasher.update(date.as_bytes());
    hex::encode(hasher.finalize())
}

/// Lowercase hex SHA-256 of a string.
pub fn sha256_hex(input: &str) -> String {
    hex::encode(Sha256::digest(input.as_bytes()))
}

/// Stable id of one delivery (one e-mail to one target). Receivers use it to drop duplicates;
/// it is the same across retries and across re-processing of the same e-mail.
pub fn delivery_id(email_id: &str, target_url: &str) -> String {
    let digest = sha256_hex(&format!("{email_id}\n{target_url}"));
    format!("dlv_{}", &digest[..24])
}

/// Deterministic id of a log entry, so a write retried after an ambiguous failure is recognised
/// as the same entry when the two stores are merged.
pub fn log_entry_id(parts: &[&str]) -> String {
    let digest = sha256_hex(&parts.join("\n"));
    format!("log_{}", &digest[..20])
}

/// A KV key under `prefix` that lists newest first (KV lists keys in byte order): the inverted
/// time, then the entry's own id, so concurrent writers never share a key.
pub fn newest_first_key(prefix: &str, unix_ms: i64, id: &str) -> String {
    let inverted = 9_999_999_999_999i64.saturating_sub(unix_ms.max(0));
    format!("{prefix}{inverted:013}:{id}")
}

/// Key of the processed marker of an e-mail.
pub fn processed_key(email_id: &str) -> String {
    format!("{PROCESSED_PREFIX}{email_id}")
}

/// Key of the in-flight lock of an e-mail.
pub fn inflight_key(email_id: &str) -> String {
    format!("{INFLIGHT_PREFIX}{email_id}")
}

/// Key of the marker that says a block of this e-mail for `reason` was logged today: the Apps
/// Script pushes a blocked e-mail on every run, and the log records the block once a day.
pub fn blocked_logged_key(email_id: &str, reason: &str, now_ms: i64) -> String {
    format!(
        "r:ss:blocked_logged:{email_id}:{reason}:{}",
        now_ms / crate::base::time::DAY_MS
    )
}

/// The id of a target URL in the API and in its object's name: a hash, so neither shows the
/// URL's secret path.
pub fn target_id(url: &str) -> String {
    format!("tgt_{}", &sha256_hex(url)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_email_id() {
        assert_eq!(
            email_id("Hello", "sender@example.com", "2026-01-01T00:00:00Z"),
            "ef626f4a3197550e73b6e5a1b3cdc39e"
        );
    }

    #[test]
    fn sender_email_forms() {
        assert_eq!(
            sender_email("Jane Doe <Jane@Example.COM>"),
            "jane@example.com"
        );
        assert_eq!(sender_email("  a@b.c "), "a@b.c");
        assert_eq!(sender_email("\"x\" < A@B.C >"), "a@b.c");
        assert_eq!(sender_email("broken <a@b.c"), "broken <a@b.c");
    }

    #[test]
    fn delivery_id_is_stable_and_target_specific() {
        let a = delivery_id("e1", "https://a.example/x");
        assert_eq!(a, delivery_id("e1", "https://a.example/x"));
        assert_ne!(a, delivery_id("e1", "https://b.example/x"));
        assert!(a.starts_with("dlv_") && a.len() == 28);
    }
}
