//! The replay budget of a target: replays to one target (one by id or in bulk, of past
//! deliveries or of dead letters) are limited to `per_minute` a minute (setting
//! `REPLAY_BUDGET_PER_MINUTE`), counted exactly by the target's own Durable Object. It is a
//! bucket of `per_minute` replays that refills continuously (one every `60 / per_minute`
//! seconds): a full bucket sends a batch at once, a loop of bulk replays gets the rate.
//!
//! Over the budget a replay is **refused**, not queued: the answer names what was not sent and
//! when the budget allows the next one, and the operator runs it again then. (Queued with a
//! delay, a loop of replays would pile up work the receiver gets anyway.)

use serde::{Deserialize, Serialize};

/// The default budget (`REPLAY_BUDGET_PER_MINUTE`).
pub const DEFAULT_PER_MINUTE: u32 = 100;

/// What a target's object keeps: milli-replays available at `at_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayBudget {
    pub milli: u64,
    pub at_ms: i64,
}

/// What a request for replays got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Replays that may be sent now (the first ones asked for).
    pub granted: u32,
    /// When the rest are refused: how long until the budget allows one more.
    pub retry_after_ms: Option<i64>,
    /// The budget after this request.
    pub budget: BudgetView,
}

/// The budget as the Targets page and the replay answers show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetView {
    pub per_minute: u32,
    /// Replays that could be sent now.
    pub available: u32,
    /// When the bucket is full again (`None`: it is).
    pub full_at_ms: Option<i64>,
}

fn capacity(per_minute: u32) -> u64 {
    u64::from(per_minute.max(1)) * 1000
}

impl ReplayBudget {
    /// The budget of a target that never replayed: full.
    pub fn full(per_minute: u32, now_ms: i64) -> ReplayBudget {
        ReplayBudget {
            milli: capacity(per_minute),
            at_ms: now_ms,
        }
    }

    /// Milli-replays available at `now_ms` (refilled since `at_ms`, at most the capacity).
    fn available_milli(&self, per_minute: u32, now_ms: i64) -> u64 {
        let elapsed = (now_ms - self.at_ms).max(0) as u64;
        // per_minute × 1000 milli per 60,000 ms.
        let refill = elapsed.saturating_mul(u64::from(per_minute.max(1))) / 60;
        self.milli.saturating_add(refill).min(capacity(per_minute))
    }

    /// Milliseconds until `milli` more are available.
    fn wait_ms(per_minute: u32, milli: u64) -> i64 {
        (milli.saturating_mul(60)).div_ceil(u64::from(per_minute.max(1))) as i64
    }

    /// Takes up to `wanted` replays at `now_ms`.
    pub fn take(&mut self, per_minute: u32, wanted: u32, now_ms: i64) -> Grant {
        let available = self.available_milli(per_minute, now_ms);
        let granted = wanted.min((available / 1000) as u32);
        self.milli = available - u64::from(granted) * 1000;
        self.at_ms = now_ms;
        let retry_after_ms =
            (granted < wanted).then(|| Self::wait_ms(per_minute, 1000 - self.milli % 1000).max(1));
        Grant {
            granted,
            retry_after_ms,
            budget: self.view(per_minute, now_ms),
        }
    }

    /// The budget at `now_ms`.
    pub fn view(&self, per_minute: u32, now_ms: i64) -> BudgetView {
        let available = self.available_milli(per_minute, now_ms);
        let missing = capacity(per_minute) - available;
        BudgetView {
            per_minute,
            available: (available / 1000) as u32,
            full_at_ms: (missing > 0).then(|| now_ms + Self::wait_ms(per_minute, missing)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_then_the_rate() {
        let t0 = 1_000_000;
        let mut b = ReplayBudget::full(60, t0);
        let g = b.take(60, 100, t0);
        assert_eq!(g.granted, 60, "a full minute's worth at once");
        assert_eq!(g.retry_after_ms, Some(1_000), "one a second after that");
        assert_eq!(g.budget.available, 0);
        assert_eq!(g.budget.full_at_ms, Some(t0 + 60_000));
        // A loop of bulk replays gets one a second, no more.
        let g = b.take(60, 100, t0 + 500);
        assert_eq!((g.granted, g.retry_after_ms), (0, Some(500)));
        let g = b.take(60, 100, t0 + 10_000);
        assert_eq!((g.granted, g.retry_after_ms), (10, Some(1_000)));
        // Asking for fewer than available leaves the rest.
        let mut b = ReplayBudget::full(100, t0);
        let g = b.take(100, 30, t0);
        assert_eq!(
            (g.granted, g.retry_after_ms, g.budget.available),
            (30, None, 70)
        );
        // Never more than the bucket holds, however long it waited.
        assert_eq!(b.view(100, t0 + 86_400_000).available, 100);
        assert_eq!(b.view(100, t0 + 86_400_000).full_at_ms, None);
    }

    #[test]
    fn a_small_budget_and_a_clock_step_back() {
        let mut b = ReplayBudget::full(3, 0);
        assert_eq!(b.take(3, 5, 0).granted, 3);
        let g = b.take(3, 1, 0);
        assert_eq!((g.granted, g.retry_after_ms), (0, Some(20_000)));
        assert_eq!(b.take(3, 1, 20_000).granted, 1);
        // A clock going back refills nothing (and never panics).
        assert_eq!(b.take(3, 1, 10_000).granted, 0);
        let stored = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<ReplayBudget>(&stored).unwrap(), b);
    }
}
