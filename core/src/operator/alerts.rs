//! Operator alerts with hysteresis: each condition fires once when it is crossed and once
//! "recovered" when it is back, never on every check in between.
//!
//! The cron evaluates the seed's thresholds over a sliding window of the delivery log (success
//! rate, timeout rate, average duration), Redis being unavailable for too long, and no success
//! for `ALERT_NO_SUCCESS_MINUTES`; target objects raise `target_paused` / `target_resumed` as
//! they happen, and the console's guard `credential_flood` (see `attempts`). An alert is delivered like a webhook (signed, retried, logged, dead-lettered
//! when it cannot be delivered), to `ALERT_WEBHOOK_URL`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::base::ids::sha256_hex;
use crate::base::time::iso_utc;
use crate::jobs::blob::Blob;
use crate::jobs::delivery::DeliveryJob;
use crate::jobs::delivery::JobKind;
use crate::store::log::{LogEntry, LogStatus};

/// The thresholds (settings `ALERT_*`, defaults from the seed document).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertThresholds {
    /// Success rate below this percentage fires.
    pub success_rate_min_percent: u32,
    /// Timeout rate above this percentage fires.
    pub timeout_rate_max_percent: u32,
    /// Average attempt duration above this fires.
    pub avg_duration_max_ms: u32,
    /// Redis unreachable for longer than this fires.
    pub redis_down_minutes: u32,
    /// No success for this long (with deliveries failing) fires; 0 disables it.
    pub no_success_minutes: u32,
    /// The sliding window the rates are computed over...
    pub window_minutes: u32,
    /// ...when it holds at least this many attempts (fewer say nothing either way).
    pub min_attempts: u32,
}

impl Default for AlertThresholds {
    fn default() -> Self {
        AlertThresholds {
            success_rate_min_percent: 90,
            timeout_rate_max_percent: 5,
            avg_duration_max_ms: 5_000,
            redis_down_minutes: 60,
            no_success_minutes: 0,
            window_minutes: 60,
            min_attempts: 10,
        }
    }
}

/// One condition watched by the cron.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    SuccessRateLow,
    TimeoutRateHigh,
    SlowDeliveries,
    RedisUnavailable,
    NoSuccess,
    /// A store refused an operation because a daily limit of the plan was reached.
    DailyLimitReached,
}

impl Condition {
    /// Every condition the cron evaluates.
    pub const ALL: [Condition; 6] = [
        Condition::SuccessRateLow,
        Condition::TimeoutRateHigh,
        Condition::SlowDeliveries,
        Condition::RedisUnavailable,
        Condition::NoSuccess,
        Condition::DailyLimitReached,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::SuccessRateLow => "success_rate_low",
            Condition::TimeoutRateHigh => "timeout_rate_high",
            Condition::SlowDeliveries => "slow_deliveries",
            Condition::RedisUnavailable => "redis_unavailable",
            Condition::NoSuccess => "no_success",
            Condition::DailyLimitReached => "daily_limit_reached",
        }
    }
}

/// What one check measured of a condition: `Some(firing)` with the value behind it, or
/// `None` when there is not enough to say (the state is kept as it was).
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub condition: Condition,
    pub firing: Option<bool>,
    pub value: Value,
    pub threshold: Value,
}

/// What the cron knows besides the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub now_ms: i64,
    /// Since when Redis has been failing (`None`: answering, or not configured).
    pub redis_down_since_ms: Option<i64>,
}

/// Reads every condition from the log entries (any order; alerts' own deliveries excluded).
pub fn read_conditions(entries: &[LogEntry], t: &AlertThresholds, c: Context) -> Vec<Reading> {
    let since = c.now_ms - i64::from(t.window_minutes) * 60_000;
    let attempts: Vec<&LogEntry> = entries
        .iter()
        .filter(|e| is_webhook_attempt(e) && e.unix_ms() >= since)
        .collect();
    let enough = attempts.len() as u32 >= t.min_attempts.max(1);
    let ended: Vec<&&LogEntry> = attempts.iter().filter(|e| e.ends_retries()).collect();
    let successes = ended
        .iter()
        .filter(|e| e.status == LogStatus::Success)
        .count();
    let timeouts = attempts
        .iter()
        .filter(|e| e.error.as_deref().is_some_and(|x| x.starts_with("timeout")))
        .count();
    let avg_ms = attempts.iter().map(|e| e.duration_ms).sum::<u64>() / attempts.len().max(1) as u64;
    let pct = |n: usize, d: usize| (d > 0).then(|| n as f64 * 100.0 / d as f64);
    let success_rate = pct(successes, ended.len());
    let timeout_rate = pct(timeouts, attempts.len());
    let mut readings = vec![
        Reading {
            condition: Condition::SuccessRateLow,
            firing: success_rate
                .filter(|_| enough)
                .map(|r| r < f64::from(t.success_rate_min_percent)),
            value: json!(success_rate.map(round2)),
            threshold: json!(t.success_rate_min_percent),
        },
        Reading {
            condition: Condition::TimeoutRateHigh,
            firing: timeout_rate
                .filter(|_| enough)
                .map(|r| r > f64::from(t.timeout_rate_max_percent)),
            value: json!(timeout_rate.map(round2)),
            threshold: json!(t.timeout_rate_max_percent),
        },
        Reading {
            condition: Condition::SlowDeliveries,
            firing: enough.then_some(avg_ms > u64::from(t.avg_duration_max_ms)),
            value: json!(avg_ms),
            threshold: json!(t.avg_duration_max_ms),
        },
    ];
    let down_for = c
        .redis_down_since_ms
        .map(|s| (c.now_ms - s).max(0) / 60_000);
    readings.push(Reading {
        condition: Condition::RedisUnavailable,
        firing: Some(down_for.is_some_and(|m| m > i64::from(t.redis_down_minutes))),
        value: json!(down_for),
        threshold: json!(t.redis_down_minutes),
    });
    if t.no_success_minutes > 0 {
        let window = c.now_ms - i64::from(t.no_success_minutes) * 60_000;
        let recent: Vec<&LogEntry> = entries
            .iter()
            .filter(|e| is_webhook_attempt(e) && e.unix_ms() >= window)
            .collect();
        let succeeded = recent.iter().any(|e| e.status == LogStatus::Success);
        let failing = recent.iter().any(|e| e.status != LogStatus::Success);
        readings.push(Reading {
            condition: Condition::NoSuccess,
            // Quiet (nothing attempted) is not an outage; nothing attempted at all says nothing.
            firing: (succeeded || failing).then_some(!succeeded && failing),
            value: json!(recent.len()),
            threshold: json!(t.no_success_minutes),
        });
    }
    readings
}

/// The daily-limit condition: firing while a store reached a daily limit of the plan today
/// (`hit`: the limits reached, as the journal keeps them); it recovers on the next day.
pub fn daily_limit_reading(hit: &[String]) -> Reading {
    Reading {
        condition: Condition::DailyLimitReached,
        firing: Some(!hit.is_empty()),
        value: json!(hit),
        threshold: json!("a daily limit of the plan"),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A webhook attempt of the log (not a decision about an e-mail, not an alert's delivery).
fn is_webhook_attempt(e: &LogEntry) -> bool {
    e.is_attempt()
        && e.delivery_id
            .as_deref()
            .is_some_and(|d| !d.starts_with(ALERT_ID_PREFIX))
}

/// Which conditions are firing now (kept in KV between checks).
pub type AlertStates = BTreeMap<Condition, bool>;

/// An alert to send: a condition crossed, or back.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub name: String,
    pub firing: bool,
    pub details: Value,
}

/// Applies readings to the stored states: the new states, and an event for each change only.
pub fn transitions(states: &AlertStates, readings: &[Reading]) -> (AlertStates, Vec<AlertEvent>) {
    let mut next = states.clone();
    let mut events = Vec::new();
    for r in readings {
        let Some(firing) = r.firing else { continue };
        let was = states.get(&r.condition).copied().unwrap_or(false);
        next.insert(r.condition, firing);
        if firing != was {
            events.push(AlertEvent {
                name: r.condition.as_str().to_string(),
                firing,
                details: json!({"value": r.value, "threshold": r.threshold}),
            });
        }
    }
    (next, events)
}

/// The event of a target paused or resumed (raised by its object, once per change).
pub fn target_event(paused: bool, masked_target: &str, details: Value) -> AlertEvent {
    AlertEvent {
        name: if paused {
            "target_paused"
        } else {
            "target_resumed"
        }
        .to_string(),
        firing: paused,
        details: json!({"target": masked_target, "details": details}),
    }
}

/// The event of a flood of failed credentials: raised by the guard when a burst spends the
/// global budget (`firing`), and when that burst ends (recovered).
pub fn flood_event(firing: bool, details: Value) -> AlertEvent {
    AlertEvent {
        name: "credential_flood".to_string(),
        firing,
        details,
    }
}

/// Alert of the Gmail mailbox: its refresh token stopped working (`invalid_grant`); the Apps
/// Script keeps delivering meanwhile.
pub const GMAIL_RECONNECT: &str = "gmail_reconnect";
/// Alert of the Gmail mailbox: its watch would expire within 48 h (renewals failing).
pub const GMAIL_WATCH_EXPIRING: &str = "gmail_watch_expiring";

/// An event of the Gmail mailbox (raised by its object, once per change).
pub fn gmail_event(name: &str, firing: bool, mailbox: &str, details: Value) -> AlertEvent {
    AlertEvent {
        name: name.to_string(),
        firing,
        details: json!({"mailbox": mailbox, "details": details}),
    }
}

/// Prefix of alert delivery ids (`alt_…`), which keeps alerts out of statistics and target
/// health.
pub const ALERT_ID_PREFIX: &str = "alt_";

impl AlertEvent {
    /// The JSON body sent to `ALERT_WEBHOOK_URL`.
    pub fn payload(&self, now_ms: i64) -> Value {
        json!({
            "type": "facteur.alert",
            "alert": self.name,
            "state": if self.firing { "firing" } else { "recovered" },
            "at": iso_utc(now_ms),
            "details": self.details,
        })
    }

    /// The delivery of this alert to `url` (signed and retried like a webhook; no target
    /// health, no statistics).
    pub fn job(&self, url: &str, now_ms: i64) -> DeliveryJob {
        let payload = Blob::Inline {
            data: self.payload(now_ms).to_string(),
        };
        DeliveryJob {
            kind: JobKind::Alert,
            ..DeliveryJob::new(self.delivery_id(now_ms), "", url, payload, now_ms)
        }
    }

    /// A delivery id for this event at this time: receivers drop a repeated alert on it.
    pub fn delivery_id(&self, now_ms: i64) -> String {
        let digest = sha256_hex(&format!("{}\n{}\n{now_ms}", self.name, self.firing));
        format!("{ALERT_ID_PREFIX}{}", &digest[..24])
    }
}

/// KV key of the stored alert states.
pub const ALERT_STATES_KEY: &str = "alerts:states";
/// KV key of when Redis started failing, as seen by the cron.
pub const REDIS_DOWN_SINCE_KEY: &str = "alerts:redis_down_since";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::dead_letter::{DeadJob, DeadLetter};

    fn attempt(ms: i64, status: LogStatus, error: Option<&str>, duration_ms: u64) -> LogEntry {
        let mut e = LogEntry::about_email(format!("l{ms}"), "e", status, "", ms);
        e.delivery_id = Some(format!("dlv_{ms}"));
        e.error = error.map(str::to_string);
        e.duration_ms = duration_ms;
        e
    }

    fn t() -> AlertThresholds {
        AlertThresholds {
            min_attempts: 4,
            no_success_minutes: 10,
            ..AlertThresholds::default()
        }
    }

    fn firing(readings: &[Reading], c: Condition) -> Option<bool> {
        readings
            .iter()
            .find(|r| r.condition == c)
            .and_then(|r| r.firing)
    }

    #[test]
    fn thresholds_of_the_seed() {
        let now = 100 * 60_000;
        let c = Context {
            now_ms: now,
            redis_down_since_ms: None,
        };
        let ok = (0..10)
            .map(|i| attempt(now - i * 1_000, LogStatus::Success, None, 100))
            .collect::<Vec<_>>();
        let r = read_conditions(&ok, &t(), c);
        assert_eq!(firing(&r, Condition::SuccessRateLow), Some(false));
        assert_eq!(firing(&r, Condition::TimeoutRateHigh), Some(false));
        assert_eq!(firing(&r, Condition::SlowDeliveries), Some(false));
        assert_eq!(firing(&r, Condition::NoSuccess), Some(false));
        let mut bad = ok[..8].to_vec();
        bad.push(attempt(
            now,
            LogStatus::Error,
            Some("timeout after 30s"),
            30_000,
        ));
        bad.push(attempt(now, LogStatus::Error, Some("HTTP 500"), 9_000));
        let r = read_conditions(&bad, &t(), c);
        assert_eq!(
            firing(&r, Condition::SuccessRateLow),
            Some(true),
            "80 % < 90 %"
        );
        assert_eq!(
            firing(&r, Condition::TimeoutRateHigh),
            Some(true),
            "10 % > 5 %"
        );
        assert_eq!(
            firing(&r, Condition::SlowDeliveries),
            Some(false),
            "avg 3,980 ms"
        );
        let few = &bad[8..];
        let r = read_conditions(few, &t(), c);
        assert_eq!(
            firing(&r, Condition::SuccessRateLow),
            None,
            "too few to say"
        );
        let old = vec![attempt(now - 61 * 60_000, LogStatus::Error, None, 1); 20];
        assert_eq!(
            firing(&read_conditions(&old, &t(), c), Condition::SuccessRateLow),
            None
        );
    }

    #[test]
    fn redis_down_for_an_hour_and_no_success() {
        let now = 500 * 60_000;
        let down = |since| Context {
            now_ms: now,
            redis_down_since_ms: since,
        };
        let failing = vec![attempt(
            now - 60_000,
            LogStatus::Retrying,
            Some("HTTP 503"),
            5,
        )];
        let r = read_conditions(&failing, &t(), down(Some(now - 61 * 60_000)));
        assert_eq!(firing(&r, Condition::RedisUnavailable), Some(true));
        assert_eq!(firing(&r, Condition::NoSuccess), Some(true));
        let r = read_conditions(&[], &t(), down(Some(now - 59 * 60_000)));
        assert_eq!(firing(&r, Condition::RedisUnavailable), Some(false));
        assert_eq!(
            firing(&r, Condition::NoSuccess),
            None,
            "quiet is not an outage"
        );
    }

    #[test]
    fn alerts_fire_once_and_recover_once() {
        let reading = |firing| Reading {
            condition: Condition::SuccessRateLow,
            firing,
            value: json!(50),
            threshold: json!(90),
        };
        let (s1, e1) = transitions(&AlertStates::new(), &[reading(Some(true))]);
        assert_eq!(e1.len(), 1);
        assert!(e1[0].firing);
        let (s2, e2) = transitions(&s1, &[reading(Some(true))]);
        assert!(e2.is_empty(), "still firing: no second alert");
        let (s3, e3) = transitions(&s2, &[reading(None)]);
        assert!(e3.is_empty() && s3 == s2, "no verdict keeps the state");
        let (_, e4) = transitions(&s3, &[reading(Some(false))]);
        assert_eq!(e4.len(), 1);
        assert!(!e4[0].firing);
        assert_eq!(e4[0].payload(0)["state"], "recovered");
        let flood = flood_event(true, json!({"failures": 120}));
        assert_eq!(flood.payload(0)["alert"], "credential_flood");
        assert_eq!(flood.payload(0)["state"], "firing");
        assert!(e4[0].delivery_id(0).starts_with(ALERT_ID_PREFIX));
    }

    #[test]
    fn gmail_events() {
        let e = gmail_event(
            GMAIL_RECONNECT,
            true,
            "m***@example.com",
            json!({"error": "x"}),
        );
        let p = e.payload(0);
        assert_eq!(
            (p["alert"].as_str(), p["state"].as_str()),
            (Some("gmail_reconnect"), Some("firing"))
        );
        assert_eq!(p["details"]["mailbox"], "m***@example.com");
        let r = gmail_event(GMAIL_WATCH_EXPIRING, false, "m", Value::Null);
        assert_eq!(r.payload(0)["state"], "recovered");
        assert_ne!(e.delivery_id(0), r.delivery_id(0));
    }

    #[test]
    fn alert_deliveries_are_not_counted() {
        let now = 100 * 60_000;
        let mut e = attempt(now, LogStatus::Error, None, 1);
        e.delivery_id = Some("alt_x".into());
        let c = Context {
            now_ms: now,
            redis_down_since_ms: None,
        };
        let r = read_conditions(&vec![e; 20], &t(), c);
        assert_eq!(firing(&r, Condition::SuccessRateLow), None);
    }

    #[test]
    fn a_daily_limit_fires_once_and_recovers_the_next_day() {
        let hit = vec!["KV writes".to_string()];
        let states = AlertStates::new();
        let (states, events) = transitions(&states, &[daily_limit_reading(&hit)]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].name, "daily_limit_reached");
        let (states, events) = transitions(&states, &[daily_limit_reading(&hit)]);
        assert!(events.is_empty(), "once while it lasts");
        let (_, events) = transitions(&states, &[daily_limit_reading(&[])]);
        assert_eq!((events.len(), events[0].firing), (1, false));
    }

    #[test]
    fn a_dead_alert_delivery_reads_back() {
        let event = AlertEvent {
            name: "success_rate".into(),
            firing: true,
            details: serde_json::Value::Null,
        };
        let job = event.job("https://alerts.example/x", 0);
        assert_eq!(job.kind, JobKind::Alert);
        let dead = DeadLetter {
            job: DeadJob::Delivery(job.clone()),
            reason: "retries_exhausted".into(),
            error: None,
            dead_at_ms: 1,
        };
        let text = serde_json::to_string(&dead).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (&v["job"]["kind"], &v["job"]["delivery_kind"]),
            (&serde_json::json!("delivery"), &serde_json::json!("alert"))
        );
        let back: DeadLetter = serde_json::from_str(&text).unwrap();
        assert_eq!(back.job, DeadJob::Delivery(job));
    }
}
