//! Retry schedules as data, and the delay maths (pure).

use serde::{Deserialize, Serialize};

/// Longest delay a Cloudflare Queue accepts on a message (12 hours).
pub const MAX_QUEUE_DELAY_SECS: u32 = 43_200;
/// Ceiling of one computed backoff step, before `Retry-After` is considered.
pub const MAX_BACKOFF_SECS: u32 = 3_600;

/// How a delivery is retried; carried in every delivery message so a config change applies to
/// the next e-mail, not to deliveries already under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0..=10): attempts in all = `retry_count + 1`.
    pub retry_count: u32,
    /// Base delay in seconds (0..=600); attempt `n` waits `base * 2^(n-1)`.
    pub retry_delay_sec: u32,
    /// Per-attempt timeout in seconds (1..=300).
    pub timeout_sec: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retry_count: 3,
            retry_delay_sec: 5,
            timeout_sec: 30,
        }
    }
}

impl RetryPolicy {
    /// True when another attempt may follow attempt number `attempt` (1-based).
    pub fn may_retry_after(&self, attempt: u32) -> bool {
        attempt <= self.retry_count
    }

    /// Delay before the attempt that follows attempt `attempt` (1-based): exponential backoff
    /// from `retry_delay_sec`, capped at [`MAX_BACKOFF_SECS`], stretched by up to 10% of jitter
    /// (`jitter_seed` spreads receivers' retry storms deterministically), and never shorter than
    /// a receiver's `Retry-After` (capped at the queue maximum).
    pub fn delay_after(
        &self,
        attempt: u32,
        retry_after_secs: Option<u32>,
        jitter_seed: u64,
    ) -> u32 {
        let exp = attempt.saturating_sub(1).min(20);
        let base = self
            .retry_delay_sec
            .saturating_mul(1u32 << exp)
            .min(MAX_BACKOFF_SECS);
        let jitter = if base >= 10 {
            (jitter_seed % (u64::from(base) / 10 + 1)) as u32
        } else {
            0
        };
        let computed = base + jitter;
        let wanted = retry_after_secs.map_or(computed, |ra| computed.max(ra));
        wanted.min(MAX_QUEUE_DELAY_SECS)
    }
}

/// The jitter seed of one attempt of one delivery: derived from the delivery id, so the
/// retries of many deliveries spread out, and the same attempt always gets the same delay.
pub fn jitter_seed(delivery_id: &str, attempt: u32) -> u64 {
    let hex = delivery_id.get(4..12).unwrap_or("0");
    u64::from_str_radix(hex, 16).unwrap_or(0) ^ u64::from(attempt)
}

/// Splits a wait longer than the queue's maximum delay into the delay of the next hop: a held
/// message is re-enqueued hop by hop until it is due.
pub fn next_hop_delay(remaining_secs: u64) -> u32 {
    remaining_secs.min(u64::from(MAX_QUEUE_DELAY_SECS)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_allowed() {
        let p = RetryPolicy::default();
        assert!(p.may_retry_after(1));
        assert!(p.may_retry_after(3));
        assert!(!p.may_retry_after(4));
        let none = RetryPolicy {
            retry_count: 0,
            ..p
        };
        assert!(!none.may_retry_after(1));
    }

    #[test]
    fn exponential_growth_without_jitter_below_ten_seconds() {
        let p = RetryPolicy {
            retry_count: 10,
            retry_delay_sec: 1,
            timeout_sec: 30,
        };
        let delays: Vec<u32> = (1..=4).map(|a| p.delay_after(a, None, 12345)).collect();
        assert_eq!(delays, [1, 2, 4, 8]);
    }

    #[test]
    fn jitter_is_bounded_and_deterministic() {
        let p = RetryPolicy {
            retry_count: 10,
            retry_delay_sec: 100,
            timeout_sec: 30,
        };
        for seed in 0..500 {
            let d = p.delay_after(1, None, seed);
            assert!((100..=110).contains(&d), "{d}");
            assert_eq!(d, p.delay_after(1, None, seed));
        }
    }

    #[test]
    fn caps_and_retry_after() {
        let p = RetryPolicy {
            retry_count: 10,
            retry_delay_sec: 600,
            timeout_sec: 30,
        };
        assert!(p.delay_after(10, None, 0) <= MAX_BACKOFF_SECS + MAX_BACKOFF_SECS / 10);
        assert_eq!(p.delay_after(1, Some(7_200), 0), 7_200);
        assert_eq!(p.delay_after(1, Some(999_999), 0), MAX_QUEUE_DELAY_SECS);
        let zero = RetryPolicy {
            retry_count: 3,
            retry_delay_sec: 0,
            timeout_sec: 30,
        };
        assert_eq!(zero.delay_after(3, None, 99), 0);
        assert_eq!(zero.delay_after(1, Some(3), 99), 3);
        assert!(p.delay_after(u32::MAX, None, 0) <= MAX_QUEUE_DELAY_SECS);
    }

    #[test]
    fn jitter_seeds_come_from_the_delivery_id() {
        assert_eq!(jitter_seed("dlv_00000010abcdef", 1), 0x10 ^ 1);
        assert_ne!(
            jitter_seed("dlv_0123456789ab", 1),
            jitter_seed("dlv_0123456789ab", 2)
        );
        assert_eq!(jitter_seed("short", 3), 3);
        assert_eq!(jitter_seed("dlv_zzzzzzzz", 3), 3);
    }

    #[test]
    fn hops() {
        assert_eq!(next_hop_delay(10), 10);
        assert_eq!(next_hop_delay(100_000), MAX_QUEUE_DELAY_SECS);
    }
}
