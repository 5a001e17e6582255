//! Which first attempts the processing consumer makes itself.
//!
//! A delivery's first attempt is made inline, as soon as the e-mail is processed, so a lone
//! e-mail reaches its receiver without waiting for a second queue hop. A receiver whose last
//! failure held the attempt ([`held_up`]: a timeout, or an answer slower than
//! [`SLOW_FAILURE_MS`]) is not tried inline for [`INLINE_COOL_DOWN_MS`]: its deliveries go
//! through the delivery queue, so a slow or dead receiver never holds up the processing of
//! other e-mails. A fast refusal (a 503 in milliseconds, a connection refused) holds nothing
//! up: the next e-mail still goes inline (sending it through the queue would cost three queue
//! operations for nothing). Each isolate keeps its own memory of this (losing it only costs one
//! inline attempt).

use std::collections::HashMap;

use crate::delivery::outcome::AttemptOutcome;

/// A failed attempt slower than this held the processing consumer up.
pub const SLOW_FAILURE_MS: u64 = 1_000;

/// True when an attempt that produced `outcome` in `duration_ms` held the consumer up: a
/// timeout, or a failure slower than [`SLOW_FAILURE_MS`].
pub fn held_up(outcome: &AttemptOutcome, duration_ms: u64) -> bool {
    !outcome.is_success()
        && (matches!(outcome, AttemptOutcome::Timeout) || duration_ms > SLOW_FAILURE_MS)
}

/// How long a target that failed is kept off the inline path.
pub const INLINE_COOL_DOWN_MS: i64 = 60_000;
/// Most targets remembered at once; expired ones are dropped first.
const MAX_REMEMBERED: usize = 1_000;

/// Targets that failed lately, with the time until which they are not tried inline.
#[derive(Debug, Default)]
pub struct RecentFailures {
    until: HashMap<String, i64>,
}

impl RecentFailures {
    /// True when the first attempt to `target` may be made inline at `now_ms`.
    pub fn inline_ok(&self, target: &str, now_ms: i64) -> bool {
        self.until.get(target).is_none_or(|&t| t <= now_ms)
    }

    /// Remembers an attempt to `target`: `cleared` when it held nothing up (a success, a fast
    /// refusal: see [`held_up`]), which clears the target; else it cools down.
    pub fn record(&mut self, target: &str, cleared: bool, now_ms: i64) {
        if cleared {
            self.until.remove(target);
            return;
        }
        if self.until.len() >= MAX_REMEMBERED {
            self.until.retain(|_, t| *t > now_ms);
            if self.until.len() >= MAX_REMEMBERED {
                // Still full of live entries: the oldest deadline goes.
                if let Some(oldest) = self
                    .until
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| k.clone())
                {
                    self.until.remove(&oldest);
                }
            }
        }
        self.until
            .insert(target.to_string(), now_ms + INLINE_COOL_DOWN_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_target_cools_down_then_comes_back() {
        let mut r = RecentFailures::default();
        assert!(r.inline_ok("https://a", 0));
        r.record("https://a", false, 1_000);
        assert!(!r.inline_ok("https://a", 1_001));
        assert!(r.inline_ok("https://b", 1_001), "other targets unaffected");
        assert!(r.inline_ok("https://a", 1_000 + INLINE_COOL_DOWN_MS));
        r.record("https://a", false, 2_000);
        r.record("https://a", true, 2_001);
        assert!(r.inline_ok("https://a", 2_002), "a success clears it");
    }

    #[test]
    fn only_a_failure_that_held_the_consumer_up_counts() {
        let status = |code| AttemptOutcome::Status {
            code,
            retry_after_secs: None,
        };
        assert!(held_up(&AttemptOutcome::Timeout, 30_000));
        assert!(held_up(&status(503), 2_500), "a slow 503");
        assert!(!held_up(&status(503), 12), "a fast 503 held nothing up");
        assert!(!held_up(&AttemptOutcome::Network("refused".into()), 3));
        assert!(!held_up(&status(200), 5_000), "a slow success is a success");
    }

    #[test]
    fn memory_is_bounded() {
        let mut r = RecentFailures::default();
        for i in 0..(MAX_REMEMBERED as i64 + 50) {
            r.record(&format!("https://t{i}"), false, i);
        }
        assert!(r.until.len() <= MAX_REMEMBERED);
        let last = format!("https://t{}", MAX_REMEMBERED + 49);
        assert!(
            !r.inline_ok(&last, MAX_REMEMBERED as i64 + 49),
            "the newest is kept"
        );
    }
}
