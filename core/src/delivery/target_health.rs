//! Receivers that fail for hours: each target URL's health, as a state machine.
//!
//! A target is `healthy` until a delivery to it runs out of its retries on a retryable failure
//! (network errors, timeouts, 408, 425, 429, 5xx), or until a run of consecutive such failures
//! reaches [`HealthPolicy::pause_after_failures`] **and** spans at least
//! [`HealthPolicy::pause_min_span_ms`] (many deliveries failing at once): it is then **paused**. While a target is
//! paused its deliveries are **parked** (kept in the order they were accepted, neither
//! attempted nor dead-lettered, their retries not burnt) and the oldest one is tried as a
//! **probe** on a growing interval, and sooner when a new delivery arrives (at most once per
//! [`HealthPolicy::probe_base_secs`]): under traffic a receiver that is back is found within
//! seconds, without it the wait grows to [`HealthPolicy::probe_max_secs`]. The first success **resumes** it: the target **drains**
//! its parked deliveries in order, at a bounded rate, each with its own delivery id and a
//! fresh attempt count, and becomes healthy again once none is left. An operator can pause and
//! resume a target; a manual pause is not probed.

use serde::{Deserialize, Serialize};

pub use crate::base::ids::target_id;

/// Failures of one parked delivery while its target answered others, before it is set aside
/// in the dead letters: a receiver that refuses one payload (a 500 on that e-mail only) must not
/// hold the deliveries behind it. Three, so a receiver that flaps while it comes back does not
/// set aside a delivery it would have taken a minute later.
pub const MAX_REFUSALS: u32 = 3;

/// How targets are paused, probed and drained (settings `TARGET_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthPolicy {
    /// Consecutive failures that pause a target (with the span below).
    pub pause_after_failures: u32,
    /// The run must span at least this long: a burst of failures in one second is a hiccup.
    pub pause_min_span_ms: i64,
    /// First probe interval; it doubles after each failed probe...
    pub probe_base_secs: u32,
    /// ...up to this.
    pub probe_max_secs: u32,
    /// Parked deliveries sent per second while draining.
    pub drain_per_sec: u32,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            pause_after_failures: 10,
            pause_min_span_ms: 5 * 60_000,
            probe_base_secs: 30,
            probe_max_secs: 120,
            drain_per_sec: 10,
        }
    }
}

impl HealthPolicy {
    /// The wait before the probe that follows `failed_probes` failed ones.
    pub fn probe_delay_secs(&self, failed_probes: u32) -> u32 {
        self.probe_base_secs
            .saturating_mul(1u32 << failed_probes.min(20))
            .min(self.probe_max_secs)
            .max(1)
    }
}

/// Where a target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TargetState {
    Healthy,
    Paused { manual: bool, since_ms: i64 },
    Draining { since_ms: i64 },
}

/// A change worth an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    Paused,
    Resumed,
}

/// Everything a target's object knows about its health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetHealth {
    pub state: TargetState,
    /// Consecutive retryable failures, and when the run started.
    pub failure_run: u32,
    pub run_started_ms: Option<i64>,
    pub last_success_ms: Option<i64>,
    pub last_failure_ms: Option<i64>,
    pub last_error: Option<String>,
    /// Probes that failed since the target was paused.
    pub failed_probes: u32,
    /// Why the target was last paused, in words (for the console).
    #[serde(default)]
    pub pause_cause: Option<String>,
}

impl Default for TargetHealth {
    fn default() -> Self {
        TargetHealth {
            state: TargetState::Healthy,
            failure_run: 0,
            run_started_ms: None,
            last_success_ms: None,
            last_failure_ms: None,
            last_error: None,
            failed_probes: 0,
            pause_cause: None,
        }
    }
}

impl TargetHealth {
    /// True while new deliveries to the target must be parked (paused, or draining: the
    /// parked ones go first).
    pub fn parks(&self) -> bool {
        !matches!(self.state, TargetState::Healthy)
    }

    /// A retryable failure of a delivery to the target.
    pub fn record_failure(
        &mut self,
        policy: &HealthPolicy,
        error: &str,
        now_ms: i64,
    ) -> Transition {
        self.failure_run = self.failure_run.saturating_add(1);
        let started = *self.run_started_ms.get_or_insert(now_ms);
        self.last_failure_ms = Some(now_ms);
        self.last_error = Some(error.chars().take(300).collect());
        match self.state {
            TargetState::Healthy
                if self.failure_run >= policy.pause_after_failures
                    && now_ms - started >= policy.pause_min_span_ms =>
            {
                let cause = format!(
                    "{} failures in a row over {} s",
                    self.failure_run,
                    (now_ms - started) / 1000
                );
                self.pause_now(false, &cause, now_ms)
            }
            // A failure while draining: back to paused, probing again from the start.
            TargetState::Draining { .. } => {
                self.pause_now(false, "a parked delivery failed while draining", now_ms)
            }
            _ => Transition::None,
        }
    }

    /// A delivery ran out of its retries on a retryable failure after `attempts` attempts: it
    /// is parked, and the target parks from now on (unless it already does), so the deliveries
    /// behind it wait in acceptance order instead of burning their own retries.
    pub fn retries_exhausted(&mut self, attempts: u32, error: &str, now_ms: i64) -> Transition {
        self.failure_run = self.failure_run.saturating_add(1);
        self.run_started_ms.get_or_insert(now_ms);
        self.last_failure_ms = Some(now_ms);
        self.last_error = Some(error.chars().take(300).collect());
        match self.state {
            TargetState::Paused { .. } => Transition::None,
            TargetState::Healthy | TargetState::Draining { .. } => {
                let cause = format!("a delivery failed {attempts} attempts ({error})");
                self.pause_now(false, &cause, now_ms)
            }
        }
    }

    /// True when the receiver answered a delivery at or after `since_ms`: a delivery that ran
    /// out of its retries meanwhile was refused by a live receiver, not left without one.
    pub fn answered_since(&self, since_ms: i64) -> bool {
        self.last_success_ms.is_some_and(|s| s >= since_ms)
    }

    /// When a delivery that just arrived at a probing target should make the next probe
    /// happen sooner than `next_probe_ms`: a base interval after the last try, never in the
    /// past. `None`: keep the schedule.
    pub fn probe_sooner(
        &self,
        policy: &HealthPolicy,
        next_probe_ms: Option<i64>,
        now_ms: i64,
    ) -> Option<i64> {
        if !self.probing() {
            return None;
        }
        let since = self.last_failure_ms.unwrap_or(now_ms);
        let due = (since + i64::from(policy.probe_base_secs) * 1000).max(now_ms);
        match next_probe_ms {
            Some(next) if next <= due => None,
            _ => Some(due),
        }
    }

    /// A success: the failure run ends; a paused target resumes (and drains).
    pub fn record_success(&mut self, now_ms: i64) -> Transition {
        self.failure_run = 0;
        self.run_started_ms = None;
        self.last_success_ms = Some(now_ms);
        self.failed_probes = 0;
        match self.state {
            TargetState::Paused { .. } => {
                self.state = TargetState::Draining { since_ms: now_ms };
                Transition::Resumed
            }
            _ => Transition::None,
        }
    }

    /// A probe failed: the next one waits longer.
    pub fn probe_failed(&mut self, error: &str, now_ms: i64) {
        self.failed_probes = self.failed_probes.saturating_add(1);
        self.last_failure_ms = Some(now_ms);
        self.last_error = Some(error.chars().take(300).collect());
    }

    /// An operator pauses the target.
    pub fn pause(&mut self, now_ms: i64) -> Transition {
        self.pause_now(true, "paused by an operator", now_ms)
    }

    /// An operator resumes the target: its parked deliveries drain.
    pub fn resume(&mut self, now_ms: i64) -> Transition {
        match self.state {
            TargetState::Paused { .. } => {
                self.failure_run = 0;
                self.run_started_ms = None;
                self.failed_probes = 0;
                self.state = TargetState::Draining { since_ms: now_ms };
                Transition::Resumed
            }
            _ => Transition::None,
        }
    }

    /// Nothing is left to drain: healthy again.
    pub fn drained(&mut self) {
        if matches!(self.state, TargetState::Draining { .. }) {
            self.state = TargetState::Healthy;
        }
    }

    /// True when the object should probe (an automatic pause; a manual one waits for the
    /// operator).
    pub fn probing(&self) -> bool {
        matches!(self.state, TargetState::Paused { manual: false, .. })
    }

    fn pause_now(&mut self, manual: bool, cause: &str, now_ms: i64) -> Transition {
        let was_paused = matches!(self.state, TargetState::Paused { .. });
        self.state = TargetState::Paused {
            manual,
            since_ms: now_ms,
        };
        self.failed_probes = 0;
        self.pause_cause = Some(cause.chars().take(300).collect());
        if was_paused {
            Transition::None
        } else {
            Transition::Paused
        }
    }
}

/// A target as the API shows it (the URL masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetView {
    /// Stable id of the target in the API (see [`target_id`]).
    pub id: String,
    /// The masked URL (scheme, host, `/***`).
    pub target: String,
    #[serde(flatten)]
    pub state: TargetState,
    pub failure_run: u32,
    pub parked: u64,
    pub last_success_ms: Option<i64>,
    pub last_failure_ms: Option<i64>,
    pub last_error: Option<String>,
    /// Why the target was last paused.
    pub pause_cause: Option<String>,
    pub next_probe_ms: Option<i64>,
    /// The target's replay budget (see `replay_budget`), when its object says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_budget: Option<crate::delivery::replay_budget::BudgetView>,
}

impl TargetView {
    /// The view of a target's health, with what its object holds.
    pub fn of(url: &str, h: &TargetHealth, parked: u64, next_probe_ms: Option<i64>) -> Self {
        TargetView {
            id: target_id(url),
            target: crate::base::mask::mask_url(url),
            state: h.state,
            failure_run: h.failure_run,
            parked,
            last_success_ms: h.last_success_ms,
            last_failure_ms: h.last_failure_ms,
            last_error: h.last_error.clone(),
            pause_cause: h.pause_cause.clone().filter(|_| h.parks()),
            // Only a pause after failures is probed; the object's alarm may still be set for a
            // drain or a pause by hand, which is not a probe.
            next_probe_ms: next_probe_ms.filter(|_| h.probing()),
            replay_budget: None,
        }
    }

    /// True while deliveries to it are parked.
    pub fn parks(&self) -> bool {
        !matches!(self.state, TargetState::Healthy)
    }
}

/// KV key of a target's registry entry (its URL), written by its object: `GET /api/targets`
/// lists targets that ever failed or were paused, besides the configured ones.
pub fn target_registry_key(id: &str) -> String {
    format!("{TARGET_REGISTRY_PREFIX}{id}")
}

/// Prefix of the target registry keys.
pub const TARGET_REGISTRY_PREFIX: &str = "target:";

/// KV key present while a target parks (paused or draining), written by its object: every
/// consumer reads the set of these (cached a couple of seconds), so a pause made by an
/// operator, or seen by another isolate, applies everywhere without a call per delivery.
pub fn parking_key(id: &str) -> String {
    format!("{PARKING_PREFIX}{id}")
}

/// Prefix of the parking keys.
pub const PARKING_PREFIX: &str = "parking:";

/// Every target worth listing: the configured ones (the default URL, then each rule's URL) and
/// those the registry knows (targets that failed or were paused once), without repeats, in
/// that order.
pub fn known_target_urls<'a>(
    configured: impl IntoIterator<Item = &'a str>,
    registry: Vec<String>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let configured = configured.into_iter().map(str::to_string);
    for url in configured.chain(registry) {
        if !url.is_empty() && !out.contains(&url) {
            out.push(url);
        }
    }
    out
}

/// Storage key of a parked delivery: acceptance time first, so a listing of the parked keys
/// is the order the e-mails were accepted in; `seq` breaks ties in parking order.
pub fn parked_key(accepted_at_ms: i64, seq: u64) -> String {
    format!("{PARKED_PREFIX}{:013}:{seq:010}", accepted_at_ms.max(0))
}

/// Prefix of the parked deliveries' storage keys.
pub const PARKED_PREFIX: &str = "p:";

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> HealthPolicy {
        HealthPolicy {
            pause_after_failures: 3,
            pause_min_span_ms: 1_000,
            probe_base_secs: 2,
            probe_max_secs: 10,
            drain_per_sec: 5,
        }
    }

    #[test]
    fn a_run_pauses_only_when_long_and_spread_enough() {
        let (p, mut h) = (policy(), TargetHealth::default());
        assert_eq!(h.record_failure(&p, "HTTP 503", 0), Transition::None);
        assert_eq!(h.record_failure(&p, "HTTP 503", 10), Transition::None);
        assert_eq!(
            h.record_failure(&p, "HTTP 503", 20),
            Transition::None,
            "three failures within 20 ms are a hiccup"
        );
        assert!(!h.parks());
        assert_eq!(h.record_failure(&p, "timeout", 1_000), Transition::Paused);
        assert!(h.parks() && h.probing());
        assert_eq!(h.record_failure(&p, "timeout", 1_100), Transition::None);
        assert_eq!(h.last_error.as_deref(), Some("timeout"));
    }

    #[test]
    fn a_success_breaks_the_run() {
        let (p, mut h) = (policy(), TargetHealth::default());
        for t in [0, 500, 900] {
            h.record_failure(&p, "x", t);
        }
        h.record_success(950);
        assert_eq!(h.record_failure(&p, "x", 2_000), Transition::None);
        assert_eq!(h.failure_run, 1);
    }

    #[test]
    fn probe_resume_drain() {
        let (p, mut h) = (policy(), TargetHealth::default());
        for t in [0, 500, 1_000] {
            h.record_failure(&p, "x", t);
        }
        assert!(h.probing());
        h.probe_failed("still down", 3_000);
        h.probe_failed("still down", 7_000);
        assert_eq!(p.probe_delay_secs(h.failed_probes), 8);
        assert_eq!(p.probe_delay_secs(10), 10, "capped");
        assert_eq!(h.record_success(20_000), Transition::Resumed);
        assert!(matches!(h.state, TargetState::Draining { .. }) && h.parks());
        assert_eq!(h.failed_probes, 0);
        // A failure while draining pauses again.
        assert_eq!(h.record_failure(&p, "x", 21_000), Transition::Paused);
        assert_eq!(h.record_success(22_000), Transition::Resumed);
        h.drained();
        assert_eq!(h.state, TargetState::Healthy);
        assert!(!h.parks());
    }

    #[test]
    fn operators_pause_and_resume() {
        let mut h = TargetHealth::default();
        assert_eq!(h.pause(5), Transition::Paused);
        assert!(h.parks() && !h.probing(), "a manual pause is not probed");
        let view = TargetView::of("https://h.example/x", &h, 1, Some(99));
        assert_eq!(view.next_probe_ms, None, "and shows no next probe");
        assert_eq!(h.pause(6), Transition::None);
        assert_eq!(h.resume(7), Transition::Resumed);
        assert_eq!(h.resume(8), Transition::None);
        h.drained();
        assert_eq!(h.state, TargetState::Healthy);
    }

    #[test]
    fn a_delivery_out_of_retries_parks_the_target_at_once() {
        let mut h = TargetHealth::default();
        // One failure: far from the run that pauses a target on its own.
        assert_eq!(h.record_failure(&policy(), "HTTP 503", 0), Transition::None);
        assert_eq!(
            h.retries_exhausted(4, "HTTP 503", 35_000),
            Transition::Paused
        );
        assert!(h.parks() && h.probing());
        assert_eq!(h.failure_run, 2);
        assert!(h.pause_cause.as_deref().unwrap().contains("4 attempts"));
        // Others running out while it is paused change nothing (one alert).
        assert_eq!(h.retries_exhausted(4, "timeout", 36_000), Transition::None);
        // While draining, it pauses again.
        h.record_success(40_000);
        assert_eq!(
            h.retries_exhausted(2, "HTTP 502", 41_000),
            Transition::Paused
        );
        // Paused by hand stays paused by hand.
        let mut manual = TargetHealth::default();
        manual.pause(0);
        assert_eq!(manual.retries_exhausted(4, "x", 1), Transition::None);
        assert!(!manual.probing());
    }

    #[test]
    fn a_success_after_a_delivery_was_made_means_the_receiver_is_up() {
        let mut h = TargetHealth::default();
        assert!(!h.answered_since(0));
        h.record_success(5_000);
        assert!(h.answered_since(5_000) && h.answered_since(1_000));
        assert!(!h.answered_since(6_000));
    }

    #[test]
    fn a_new_delivery_brings_the_next_probe_closer() {
        let p = policy(); // probes from 2 s
        let mut h = TargetHealth::default();
        assert_eq!(h.probe_sooner(&p, None, 0), None, "healthy: no probe");
        h.retries_exhausted(4, "HTTP 503", 10_000);
        // A probe scheduled far away (after failed probes) comes to 2 s after the last try.
        assert_eq!(h.probe_sooner(&p, Some(600_000), 10_500), Some(12_000));
        // Never in the past, never later than what is scheduled.
        assert_eq!(h.probe_sooner(&p, Some(600_000), 50_000), Some(50_000));
        assert_eq!(h.probe_sooner(&p, Some(11_000), 10_500), None);
        h.pause(60_000);
        assert_eq!(
            h.probe_sooner(&p, Some(600_000), 70_000),
            None,
            "manual: no probe"
        );
    }

    #[test]
    fn known_targets_are_listed_once() {
        let urls = known_target_urls(
            ["https://a", "https://b", ""],
            vec!["https://c".into(), "https://a".into()],
        );
        assert_eq!(urls, ["https://a", "https://b", "https://c"]);
        assert_ne!(target_id("https://a"), target_id("https://b"));
        assert!(target_id("https://a").starts_with("tgt_"));
    }

    #[test]
    fn parked_keys_sort_by_acceptance() {
        let a = parked_key(1_000, 7);
        let b = parked_key(2_000, 1);
        let c = parked_key(2_000, 2);
        assert!(a < b && b < c);
        assert!(a.starts_with(PARKED_PREFIX));
    }
}
