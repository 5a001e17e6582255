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

use crate::base::ids::target_id;
use crate::base::mask::mask_url;

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

/// Replays asked of each target, in the order targets first appear (`None`: a replay with no
/// target, such as an e-mail processed again, which the budget does not count).
pub fn wanted(targets: &[Option<&str>]) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = Vec::new();
    for t in targets.iter().flatten() {
        match out.iter_mut().find(|(u, _)| u == t) {
            Some((_, n)) => *n += 1,
            None => out.push((t.to_string(), 1)),
        }
    }
    out
}

/// What the budget allows of one target, as the answers show it (URL masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetAllotment {
    pub target_id: String,
    pub target: String,
    pub sent: u32,
    pub refused: u32,
    /// When to try the refused ones again.
    pub retry_after_secs: Option<u64>,
    pub budget: BudgetView,
}

/// Which replays are sent, and each target's part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allotment {
    /// One per replay, in the order given: sent (or refused).
    pub send: Vec<bool>,
    pub per_target: Vec<TargetAllotment>,
}

impl Allotment {
    /// Replays refused.
    pub fn refused(&self) -> u64 {
        self.send.iter().filter(|s| !**s).count() as u64
    }

    /// Replays sent.
    pub fn sent(&self) -> u64 {
        self.send.iter().filter(|s| **s).count() as u64
    }

    /// When the first refused replay can go (the soonest of the targets that refused).
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.per_target
            .iter()
            .filter_map(|t| t.retry_after_secs)
            .min()
    }
}

/// Sends the first replays of each target its grant allows (`grants` answers [`wanted`]);
/// replays without a target are always sent.
pub fn allot(targets: &[Option<&str>], grants: &[(String, Grant)]) -> Allotment {
    let mut left: Vec<(&str, u32)> = grants
        .iter()
        .map(|(u, g)| (u.as_str(), g.granted))
        .collect();
    let mut per_target: Vec<TargetAllotment> = grants
        .iter()
        .map(|(u, g)| TargetAllotment {
            target_id: target_id(u),
            target: mask_url(u),
            sent: 0,
            refused: 0,
            retry_after_secs: None,
            budget: g.budget,
        })
        .collect();
    let send = targets
        .iter()
        .map(|t| {
            let Some(t) = t else { return true };
            let Some(i) = left.iter().position(|(u, _)| u == t) else {
                // Not asked of the budget: refused rather than sent unbudgeted.
                return false;
            };
            if left[i].1 > 0 {
                left[i].1 -= 1;
                per_target[i].sent += 1;
                true
            } else {
                per_target[i].refused += 1;
                let ms = grants[i].1.retry_after_ms.unwrap_or(60_000);
                per_target[i].retry_after_secs = Some((ms.max(1) as u64).div_ceil(1000));
                false
            }
        })
        .collect();
    Allotment { send, per_target }
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
    fn a_bulk_replay_is_allotted_per_target_in_order() {
        let a = "https://a.example/hook/secret";
        let b = "https://b.example/x";
        let targets = [Some(a), Some(b), Some(a), None, Some(a), Some(b)];
        assert_eq!(
            wanted(&targets),
            vec![(a.to_string(), 3), (b.to_string(), 2)]
        );
        let mut ba = ReplayBudget::full(2, 0);
        let mut bb = ReplayBudget::full(5, 0);
        let grants = vec![
            (a.to_string(), ba.take(2, 3, 0)),
            (b.to_string(), bb.take(5, 2, 0)),
        ];
        let allotment = allot(&targets, &grants);
        assert_eq!(allotment.send, [true, true, true, true, false, true]);
        assert_eq!((allotment.sent(), allotment.refused()), (5, 1));
        assert_eq!(allotment.retry_after_secs(), Some(30));
        let first = &allotment.per_target[0];
        assert_eq!((first.sent, first.refused), (2, 1));
        assert_eq!(first.target, "https://a.example/***", "masked");
        assert_eq!(first.target_id, target_id(a));
        assert_eq!(allotment.per_target[1].retry_after_secs, None);
        // A target nobody asked the budget for is refused, never sent unbudgeted.
        assert_eq!(allot(&[Some("https://c.example/")], &[]).send, [false]);
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
