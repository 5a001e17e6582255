//! Dead letters: jobs that will not be tried again on their own, kept for an operator.

use serde::{Deserialize, Serialize};

use super::blob::{Blob, SPILL_TTL_SECS};
use super::delivery::DeliveryJob;
use super::process::ProcessJob;

/// Dead-letter message: a job that will not be tried again on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub reason: String,
    #[serde(default)]
    pub error: Option<String>,
    pub dead_at_ms: i64,
    pub job: DeadJob,
}

/// The job inside a dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeadJob {
    Delivery(DeliveryJob),
    Process(ProcessJob),
    /// A message that could not be read at all, kept verbatim.
    Unreadable {
        text: String,
    },
}

impl DeadLetter {
    /// A message that could not be parsed at all, kept verbatim.
    pub fn unreadable(text: String, now_ms: i64) -> DeadLetter {
        DeadLetter {
            reason: "unreadable_message".into(),
            error: None,
            dead_at_ms: now_ms,
            job: DeadJob::Unreadable { text },
        }
    }
}

impl DeadJob {
    /// The part the job points to (a spilled one must be kept as long as the dead letter).
    pub fn part(&self) -> Option<&Blob> {
        match self {
            DeadJob::Delivery(j) => Some(&j.payload),
            DeadJob::Process(j) => Some(&j.email),
            DeadJob::Unreadable { .. } => None,
        }
    }

    /// The id a dead letter is stored and replayed under.
    pub fn id(&self) -> String {
        match self {
            DeadJob::Delivery(j) => j.delivery_id.clone(),
            DeadJob::Process(j) => format!("email_{}", j.email_id),
            DeadJob::Unreadable { text } => {
                format!("raw_{}", &crate::base::ids::sha256_hex(text)[..16])
            }
        }
    }
}

/// Reads whatever arrived on the dead-letter queue: an explicit [`DeadLetter`], or a raw job the
/// queue moved there after its own retries ran out.
pub fn parse_dead_letter(text: &str, now_ms: i64) -> DeadLetter {
    if let Ok(dl) = serde_json::from_str::<DeadLetter>(text) {
        return dl;
    }
    let job = if let Ok(j) = serde_json::from_str::<DeliveryJob>(text) {
        DeadJob::Delivery(j)
    } else if let Ok(j) = serde_json::from_str::<ProcessJob>(text) {
        DeadJob::Process(j)
    } else {
        DeadJob::Unreadable {
            text: text.to_string(),
        }
    };
    DeadLetter {
        reason: QUEUE_EXHAUSTED.into(),
        error: None,
        dead_at_ms: now_ms,
        job,
    }
}

/// Reason of the jobs the queue moved to the dead letters on its own (its retries ran out).
pub const QUEUE_EXHAUSTED: &str = "queue_retries_exhausted";

/// KV prefix of stored dead letters.
pub const DEAD_LETTER_PREFIX: &str = "dead:";
/// Dead letters are kept as long as the payloads they point to.
pub const DEAD_LETTER_TTL_SECS: u64 = SPILL_TTL_SECS;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_parse_both_shapes() {
        let job = DeliveryJob {
            attempt: 2,
            accepted_at_ms: 0,
            ..DeliveryJob::new(
                "dlv_1",
                "e",
                "https://x",
                Blob::Inline { data: "{}".into() },
                1,
            )
        };
        let raw = serde_json::to_string(&job).unwrap();
        let dl = parse_dead_letter(&raw, 5);
        assert_eq!(dl.reason, "queue_retries_exhausted");
        assert_eq!(dl.job.id(), "dlv_1");
        let explicit = DeadLetter {
            reason: "not_retryable".into(),
            error: Some("HTTP 404".into()),
            dead_at_ms: 9,
            job: DeadJob::Delivery(job),
        };
        let back = parse_dead_letter(&serde_json::to_string(&explicit).unwrap(), 0);
        assert_eq!(back, explicit);
        let raw = parse_dead_letter("{not json", 0);
        assert_eq!(
            raw.job,
            DeadJob::Unreadable {
                text: "{not json".into()
            }
        );
        assert!(raw.job.id().starts_with("raw_"));
    }
}
