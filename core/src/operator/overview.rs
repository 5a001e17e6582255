//! The console's overview (SPEC §11): the figures of the last 24 hours and 7 days, deliveries
//! per hour by status, and the seed's alert thresholds (as configured, `ALERT_*`) as states.

use serde::Serialize;

use crate::base::time::{iso_utc, DAY_MS};
use crate::operator::alerts::AlertThresholds;
use crate::operator::stats::{compute, Figures, Stats};
use crate::store::log::{LogEntry, LogStatus};

const HOUR_MS: i64 = 3_600_000;

/// What the overview knows of Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisHealth {
    Ok,
    Unavailable,
    NotConfigured,
}

impl RedisHealth {
    /// Wire name, as `/health` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            RedisHealth::Ok => "ok",
            RedisHealth::Unavailable => "unavailable",
            RedisHealth::NotConfigured => "not_configured",
        }
    }

    /// Where the delivery log and the configuration are written now.
    pub fn log_store(self) -> &'static str {
        match self {
            RedisHealth::Ok => "redis",
            RedisHealth::Unavailable => "kv_fallback",
            RedisHealth::NotConfigured => "kv_only",
        }
    }
}

/// Deliveries of one hour, by status (`held`: held or parked, both waiting).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Start of the hour (UTC).
    pub start: String,
    pub success: u64,
    pub error: u64,
    pub retrying: u64,
    pub held: u64,
}

/// Counts entries per hour for the `hours` hours up to the current one, oldest first.
pub fn hourly(entries: &[LogEntry], now_ms: i64, hours: usize) -> Vec<Bucket> {
    let current = now_ms.div_euclid(HOUR_MS);
    let first = current - hours as i64 + 1;
    let mut buckets: Vec<Bucket> = (first..=current)
        .map(|h| Bucket {
            start: iso_utc(h * HOUR_MS),
            ..Bucket::default()
        })
        .collect();
    for e in entries {
        let hour = e.unix_ms().div_euclid(HOUR_MS);
        if hour < first || hour > current {
            continue;
        }
        let b = &mut buckets[(hour - first) as usize];
        match e.status {
            LogStatus::Success => b.success += 1,
            LogStatus::Error => b.error += 1,
            LogStatus::Retrying => b.retrying += 1,
            LogStatus::Held | LogStatus::Parked => b.held += 1,
            LogStatus::Skipped | LogStatus::Blocked => {}
        }
    }
    buckets
}

/// One alert threshold and where the service stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertState {
    pub name: &'static str,
    /// The threshold as the operator reads it.
    pub threshold: String,
    /// The measured value (a rate, milliseconds, or the Redis state).
    pub value: serde_json::Value,
    /// `ok`, `alert`, or `no_data` (nothing measured yet), `off` (Redis not configured).
    pub state: &'static str,
}

/// The alert thresholds `t` over the last 24 hours' figures, and the Redis state now.
pub fn alert_states(day: &Figures, redis: RedisHealth, t: &AlertThresholds) -> Vec<AlertState> {
    let rate =
        |name, threshold: String, value: Option<f64>, bad: &dyn Fn(f64) -> bool| AlertState {
            name,
            threshold,
            value: value.map_or(serde_json::Value::Null, serde_json::Value::from),
            state: match value {
                None => "no_data",
                Some(v) if bad(v) => "alert",
                Some(_) => "ok",
            },
        };
    let success_min = f64::from(t.success_rate_min_percent) / 100.0;
    let timeout_max = f64::from(t.timeout_rate_max_percent) / 100.0;
    let duration_max = f64::from(t.avg_duration_max_ms);
    vec![
        rate(
            "success_rate",
            format!("< {} %", t.success_rate_min_percent),
            day.success_rate,
            &|v| v < success_min,
        ),
        rate(
            "timeout_rate",
            format!("> {} %", t.timeout_rate_max_percent),
            day.timeout_rate,
            &|v| v > timeout_max,
        ),
        rate(
            "avg_duration",
            format!("> {} ms", t.avg_duration_max_ms),
            day.avg_duration_ms,
            &|v| v > duration_max,
        ),
        AlertState {
            name: "redis",
            threshold: "unavailable".into(),
            value: redis.as_str().into(),
            state: match redis {
                RedisHealth::Ok => "ok",
                RedisHealth::Unavailable => "alert",
                RedisHealth::NotConfigured => "off",
            },
        },
    ]
}

/// The overview's figures: two windows, their hourly charts and the alert states.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overview {
    pub day: Stats,
    pub week: Stats,
    /// 24 hourly buckets.
    pub day_hourly: Vec<Bucket>,
    /// 168 hourly buckets.
    pub week_hourly: Vec<Bucket>,
    pub alerts: Vec<AlertState>,
}

/// Computes the overview from the entries of the last 7 days (or more; older ones are ignored).
pub fn overview(
    entries: &[LogEntry],
    now_ms: i64,
    redis: RedisHealth,
    t: &AlertThresholds,
) -> Overview {
    let since = |ms: i64| -> Vec<LogEntry> {
        entries
            .iter()
            .filter(|e| e.unix_ms() > now_ms - ms)
            .cloned()
            .collect()
    };
    let day = compute(&since(DAY_MS));
    let week = compute(&since(7 * DAY_MS));
    let alerts = alert_states(&day.overall, redis, t);
    Overview {
        day_hourly: hourly(entries, now_ms, 24),
        week_hourly: hourly(entries, now_ms, 24 * 7),
        day,
        week,
        alerts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: &str, at: i64, ms: u64, error: Option<&str>) -> LogEntry {
        serde_json::from_value(serde_json::json!({
            "id": format!("{status}{at}"), "timestamp": iso_utc(at), "status": status,
            "email_id": "e", "delivery_id": format!("dlv_{at}"), "duration_ms": ms, "error": error,
        }))
        .unwrap()
    }

    #[test]
    fn hourly_buckets_count_by_status_oldest_first() {
        let now = 100 * HOUR_MS + 30 * 60_000;
        let entries = [
            entry("success", now, 1, None),
            entry("success", now - 29 * 60_000, 1, None),
            entry("retrying", now - 31 * 60_000, 1, None),
            entry("error", now - 23 * HOUR_MS, 1, None),
            entry("held", now - 2 * HOUR_MS, 0, None),
            entry("skipped", now, 0, None),
            entry("success", now - 24 * HOUR_MS, 1, None),
            entry("success", now + HOUR_MS, 1, None),
        ];
        let b = hourly(&entries, now, 24);
        assert_eq!(b.len(), 24);
        assert_eq!(b[23].start, iso_utc(100 * HOUR_MS));
        assert_eq!(b[0].start, iso_utc(77 * HOUR_MS));
        assert_eq!((b[23].success, b[23].retrying), (2, 0));
        assert_eq!(b[22].retrying, 1);
        assert_eq!(b[21].held, 1);
        assert_eq!(b[0].error, 1, "23 hours ago is the first bucket");
        let total: u64 = b
            .iter()
            .map(|x| x.success + x.error + x.retrying + x.held)
            .sum();
        assert_eq!(
            total, 5,
            "outside the window and skipped entries are not counted"
        );
        assert_eq!(hourly(&entries, now, 168).len(), 168);
    }

    #[test]
    fn thresholds_become_states() {
        let states = |entries: &[LogEntry], redis| {
            let f = compute(entries).overall;
            alert_states(&f, redis, &AlertThresholds::default())
                .into_iter()
                .map(|a| (a.name, a.state))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            states(&[], RedisHealth::NotConfigured),
            [
                ("success_rate", "no_data"),
                ("timeout_rate", "no_data"),
                ("avg_duration", "no_data"),
                ("redis", "off")
            ]
        );
        // 9 successes and 1 error: 90 % is not below 90 %.
        let mut healthy: Vec<LogEntry> = (0..9).map(|i| entry("success", i, 100, None)).collect();
        healthy.push(entry("error", 9, 100, Some("HTTP 500")));
        assert_eq!(
            states(&healthy, RedisHealth::Ok),
            [
                ("success_rate", "ok"),
                ("timeout_rate", "ok"),
                ("avg_duration", "ok"),
                ("redis", "ok")
            ]
        );
        // 8 of 10, one timeout in 10 attempts (10 %), 6 s on average.
        let mut bad: Vec<LogEntry> = (0..8).map(|i| entry("success", i, 6_000, None)).collect();
        bad.push(entry("error", 8, 6_000, Some("timeout after 30s")));
        bad.push(entry("error", 9, 6_000, None));
        assert_eq!(
            states(&bad, RedisHealth::Unavailable),
            [
                ("success_rate", "alert"),
                ("timeout_rate", "alert"),
                ("avg_duration", "alert"),
                ("redis", "alert")
            ]
        );
    }

    #[test]
    fn configured_thresholds_apply() {
        let mut entries: Vec<LogEntry> = (0..8).map(|i| entry("success", i, 100, None)).collect();
        entries.push(entry("error", 8, 100, None));
        entries.push(entry("error", 9, 100, None));
        let f = compute(&entries).overall;
        let t = AlertThresholds {
            success_rate_min_percent: 75,
            avg_duration_max_ms: 50,
            ..AlertThresholds::default()
        };
        let states = alert_states(&f, RedisHealth::Ok, &t);
        assert_eq!(
            (states[0].state, states[0].threshold.as_str()),
            ("ok", "< 75 %")
        );
        assert_eq!(
            (states[2].state, states[2].threshold.as_str()),
            ("alert", "> 50 ms")
        );
    }

    #[test]
    fn windows_split_the_day_from_the_week() {
        let now = 30 * DAY_MS;
        let entries = [
            entry("success", now - HOUR_MS, 100, None),
            entry("error", now - 3 * DAY_MS, 300, Some("HTTP 404")),
            entry("success", now - 8 * DAY_MS, 100, None),
        ];
        let o = overview(&entries, now, RedisHealth::Ok, &AlertThresholds::default());
        assert_eq!((o.day.overall.delivered, o.day.overall.failed), (1, 0));
        assert_eq!((o.week.overall.delivered, o.week.overall.failed), (1, 1));
        assert_eq!(o.week.overall.p95_duration_ms, Some(300));
        assert_eq!(o.day_hourly.iter().map(|b| b.success).sum::<u64>(), 1);
        assert_eq!(o.week_hourly.iter().map(|b| b.error).sum::<u64>(), 1);
        assert_eq!(o.alerts[0].state, "ok");
        assert_eq!(RedisHealth::Unavailable.log_store(), "kv_fallback");
    }
}
