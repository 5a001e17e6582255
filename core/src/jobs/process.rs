//! The processing-queue message: one accepted e-mail.

use serde::{Deserialize, Serialize};

use super::blob::Blob;

/// Processing-queue message: one accepted e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessJob {
    pub email_id: String,
    pub email: Blob,
    pub accepted_at_ms: i64,
    /// Set while the e-mail waits for the sending window: when it is due.
    #[serde(default)]
    pub held_until_ms: Option<i64>,
    /// Times the spilled e-mail was not found (KV can lag behind a write for a minute).
    #[serde(default)]
    pub spill_misses: u32,
    /// Accepted through Redis while the dedup object was out of reach: the consumer copies
    /// the processed marker to the object (see `crate::intake::accept`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sync_with_object: bool,
    /// Sent again after its batch crashed: to be run alone (see `crate::delivery::isolation`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspect: bool,
}

impl ProcessJob {
    /// The job of a freshly accepted e-mail; `part` holds the push request as received (read
    /// back with `crate::intake::ingest::parse_ingest`, which also reads an [`EmailRecord`](crate::analysis::email::EmailRecord)).
    pub fn accepted(email_id: &str, part: Blob, now_ms: i64) -> ProcessJob {
        ProcessJob {
            email_id: email_id.to_string(),
            email: part,
            accepted_at_ms: now_ms,
            held_until_ms: None,
            spill_misses: 0,
            sync_with_object: false,
            suspect: false,
        }
    }

    /// The same job, flagged for the consumer to copy the processed marker to the object.
    pub fn to_sync_with_object(&self) -> ProcessJob {
        ProcessJob {
            sync_with_object: true,
            ..self.clone()
        }
    }

    /// The same job, waiting for the sending window until `until_ms`.
    pub fn held_until(&self, until_ms: i64) -> ProcessJob {
        ProcessJob {
            held_until_ms: Some(until_ms),
            ..self.clone()
        }
    }

    /// The job sent again by an operator: processed afresh, as if just accepted.
    pub fn replayed(&self) -> ProcessJob {
        ProcessJob {
            held_until_ms: None,
            spill_misses: 0,
            suspect: false,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::blob::MAX_MESSAGE_BYTES;

    #[test]
    fn escaping_counts_towards_the_limit() {
        // 60 KB of quotes is 120 KB once escaped inside the message.
        let quotes = "\"".repeat(60 * 1024);
        let (b, spill) = Blob::place(quotes, "k".into());
        assert_eq!(b, Blob::Spilled { key: "k".into() });
        assert!(spill.is_some());
        let job = ProcessJob {
            email_id: "e".into(),
            email: Blob::place("\"".repeat(40 * 1024), "k".into()).0,
            accepted_at_ms: 0,
            held_until_ms: None,
            spill_misses: 0,
            sync_with_object: false,
            suspect: false,
        };
        assert!(serde_json::to_string(&job).unwrap().len() <= MAX_MESSAGE_BYTES);
    }
}
