//! Outbound webhook attempts: outcome classification (SPEC §7) and the explicit decision taken
//! for every delivery message.

use crate::delivery::retry::RetryPolicy;

/// What one POST to a receiver produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The receiver answered with this status.
    Status {
        code: u16,
        retry_after_secs: Option<u32>,
    },
    /// No answer within the per-attempt timeout.
    Timeout,
    /// The connection failed (refused, reset, DNS...).
    Network(String),
}

impl AttemptOutcome {
    /// Any 2xx.
    pub fn is_success(&self) -> bool {
        matches!(self, AttemptOutcome::Status { code, .. } if (200..300).contains(code))
    }

    /// Network errors, timeouts, 408, 425, 429 and 5xx are retried; other statuses fail at once.
    pub fn is_retryable(&self) -> bool {
        match self {
            AttemptOutcome::Status { code, .. } => matches!(code, 408 | 425 | 429 | 500..=599),
            AttemptOutcome::Timeout | AttemptOutcome::Network(_) => true,
        }
    }

    /// The HTTP status, when there was one.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            AttemptOutcome::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The error text for the log (`None` on success).
    pub fn error_text(&self, timeout_sec: u32) -> Option<String> {
        match self {
            _ if self.is_success() => None,
            AttemptOutcome::Status { code, .. } => Some(format!("HTTP {code}")),
            AttemptOutcome::Timeout => Some(format!("timeout after {timeout_sec}s")),
            AttemptOutcome::Network(e) => Some(format!("network error: {e}")),
        }
    }
}

/// Parses a `Retry-After` header: delta-seconds or an HTTP date relative to `now_ms`.
pub fn parse_retry_after(value: Option<&str>, now_ms: i64) -> Option<u32> {
    let v = value?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs.min(u64::from(u32::MAX)) as u32);
    }
    let at = crate::base::time::parse_http_date(v)?;
    Some(((at - now_ms).max(0) / 1000).min(i64::from(u32::MAX)) as u32)
}

/// The decision for a delivery message after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Delivered: acknowledge.
    Ack,
    /// Schedule attempt `next_attempt` after `delay_secs`.
    Retry { next_attempt: u32, delay_secs: u32 },
    /// The retries ran out on a retryable failure: the receiver may come back, so the delivery
    /// waits at its target (which starts parking at once) to be probed and drained in order.
    Park { after_attempts: u32 },
    /// Stop: log as `error` and keep in the dead-letter queue.
    GiveUp { reason: GiveUpReason },
}

/// What ends a delivery whose retries ran out on a retryable failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenExhausted {
    /// Park at its target (webhooks: the receiver may come back, SPEC §7).
    Park,
    /// Give up (operator alerts: they have no target health to wait on).
    GiveUp,
}

/// Why a delivery was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpReason {
    /// The receiver answered a status that is not retried (e.g. 400, 404).
    NotRetryable,
    /// Every allowed attempt failed.
    RetriesExhausted,
}

impl GiveUpReason {
    /// Wire name used in logs and dead letters.
    pub fn as_str(self) -> &'static str {
        match self {
            GiveUpReason::NotRetryable => "not_retryable",
            GiveUpReason::RetriesExhausted => "retries_exhausted",
        }
    }
}

/// Decides what happens after attempt `attempt` (1-based) produced `outcome`: the retry
/// schedule of `policy` first (a hiccup is retried quickly), then `exhausted`.
pub fn decide(
    outcome: &AttemptOutcome,
    attempt: u32,
    policy: &RetryPolicy,
    jitter_seed: u64,
    exhausted: WhenExhausted,
) -> Decision {
    if outcome.is_success() {
        return Decision::Ack;
    }
    if !outcome.is_retryable() {
        return Decision::GiveUp {
            reason: GiveUpReason::NotRetryable,
        };
    }
    if !policy.may_retry_after(attempt) {
        return match exhausted {
            WhenExhausted::Park => Decision::Park {
                after_attempts: attempt,
            },
            WhenExhausted::GiveUp => Decision::GiveUp {
                reason: GiveUpReason::RetriesExhausted,
            },
        };
    }
    let retry_after = match outcome {
        AttemptOutcome::Status {
            retry_after_secs, ..
        } => *retry_after_secs,
        _ => None,
    };
    Decision::Retry {
        next_attempt: attempt + 1,
        delay_secs: policy.delay_after(attempt, retry_after, jitter_seed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> AttemptOutcome {
        AttemptOutcome::Status {
            code,
            retry_after_secs: None,
        }
    }

    #[test]
    fn classification_table() {
        for code in [200, 201, 204, 299] {
            assert!(status(code).is_success(), "{code}");
        }
        for code in [408, 425, 429, 500, 502, 503, 504, 599] {
            assert!(status(code).is_retryable(), "{code}");
        }
        for code in [300, 301, 400, 401, 403, 404, 409, 410, 413, 422] {
            assert!(
                !status(code).is_retryable() && !status(code).is_success(),
                "{code}"
            );
        }
        assert!(AttemptOutcome::Timeout.is_retryable());
        assert!(AttemptOutcome::Network("reset".into()).is_retryable());
    }

    #[test]
    fn decisions() {
        let p = RetryPolicy {
            retry_count: 2,
            retry_delay_sec: 5,
            timeout_sec: 30,
        };
        assert_eq!(
            decide(&status(204), 1, &p, 0, WhenExhausted::GiveUp),
            Decision::Ack
        );
        assert_eq!(
            decide(&status(404), 1, &p, 0, WhenExhausted::GiveUp),
            Decision::GiveUp {
                reason: GiveUpReason::NotRetryable
            }
        );
        assert_eq!(
            decide(&status(503), 1, &p, 0, WhenExhausted::GiveUp),
            Decision::Retry {
                next_attempt: 2,
                delay_secs: 5
            }
        );
        assert_eq!(
            decide(&AttemptOutcome::Timeout, 2, &p, 0, WhenExhausted::GiveUp),
            Decision::Retry {
                next_attempt: 3,
                delay_secs: 10
            }
        );
        assert_eq!(
            decide(&AttemptOutcome::Timeout, 3, &p, 0, WhenExhausted::GiveUp),
            Decision::GiveUp {
                reason: GiveUpReason::RetriesExhausted
            }
        );
        // A webhook whose retries ran out parks; a permanent refusal still gives up at once.
        assert_eq!(
            decide(&AttemptOutcome::Timeout, 3, &p, 0, WhenExhausted::Park),
            Decision::Park { after_attempts: 3 }
        );
        assert_eq!(
            decide(&status(400), 3, &p, 0, WhenExhausted::Park),
            Decision::GiveUp {
                reason: GiveUpReason::NotRetryable
            }
        );
        assert_eq!(
            decide(&status(503), 1, &p, 0, WhenExhausted::Park),
            Decision::Retry {
                next_attempt: 2,
                delay_secs: 5
            }
        );
        let throttled = AttemptOutcome::Status {
            code: 429,
            retry_after_secs: Some(120),
        };
        assert_eq!(
            decide(&throttled, 1, &p, 0, WhenExhausted::GiveUp),
            Decision::Retry {
                next_attempt: 2,
                delay_secs: 120
            }
        );
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after(Some("30"), 0), Some(30));
        assert_eq!(
            parse_retry_after(Some("Thu, 01 Jan 1970 00:01:00 GMT"), 0),
            Some(60)
        );
        assert_eq!(
            parse_retry_after(Some("Thu, 01 Jan 1970 00:01:00 GMT"), 120_000),
            Some(0)
        );
        assert_eq!(parse_retry_after(Some("soon"), 0), None);
        assert_eq!(parse_retry_after(None, 0), None);
    }

    #[test]
    fn error_texts() {
        assert_eq!(status(500).error_text(30).as_deref(), Some("HTTP 500"));
        assert_eq!(
            AttemptOutcome::Timeout.error_text(7).as_deref(),
            Some("timeout after 7s")
        );
        assert_eq!(status(200).error_text(30), None);
    }
}
