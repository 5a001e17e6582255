//! Delivery statistics over the log (SPEC §11): success rate, error and timeout rates, average
//! duration, per detector.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::store::log::{LogEntry, LogStatus};

/// Counts and rates for one group of entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Distinct deliveries (one e-mail to one target) with at least one attempt.
    pub deliveries: u64,
    /// Webhook attempts (success, retrying, error with a target).
    pub attempts: u64,
    /// Deliveries that ended in success.
    pub delivered: u64,
    /// Deliveries that ended in error.
    pub failed: u64,
    /// Deliveries whose retries ran out while their target was down: parked at the target,
    /// delivered in order once it answers again.
    pub parked: u64,
    /// `delivered / (delivered + failed + parked)`; null when nothing ended its retries.
    pub success_rate: Option<f64>,
    /// `failed / (delivered + failed + parked)`.
    pub error_rate: Option<f64>,
    /// Attempts that timed out, over all attempts.
    pub timeout_rate: Option<f64>,
    /// Mean duration of attempts, in milliseconds.
    pub avg_duration_ms: Option<f64>,
    /// 95th percentile of attempt durations (nearest rank), in milliseconds.
    pub p95_duration_ms: Option<u64>,
    /// E-mails skipped, held and blocked.
    pub skipped: u64,
    pub held: u64,
    pub blocked: u64,
    #[serde(skip)]
    timeouts: u64,
    #[serde(skip)]
    duration_sum: u64,
    #[serde(skip)]
    durations: Vec<u64>,
    #[serde(skip)]
    delivery_ids: HashSet<String>,
}

impl Figures {
    fn add(&mut self, e: &LogEntry) {
        // Alerts' own deliveries are not deliveries of e-mails.
        if e.delivery_id
            .as_deref()
            .is_some_and(|d| d.starts_with(crate::operator::alerts::ALERT_ID_PREFIX))
        {
            return;
        }
        if e.is_attempt() {
            self.attempts += 1;
            self.duration_sum += e.duration_ms;
            self.durations.push(e.duration_ms);
            if let Some(id) = &e.delivery_id {
                self.delivery_ids.insert(id.clone());
            }
            if e.error.as_deref().is_some_and(|t| t.starts_with("timeout")) {
                self.timeouts += 1;
            }
        }
        match e.status {
            LogStatus::Success => self.delivered += 1,
            LogStatus::Error => self.failed += 1,
            LogStatus::Skipped => self.skipped += 1,
            LogStatus::Held => self.held += 1,
            LogStatus::Blocked => self.blocked += 1,
            LogStatus::Parked if e.ends_retries() => self.parked += 1,
            LogStatus::Retrying | LogStatus::Parked => {}
        }
    }

    fn finish(mut self) -> Self {
        let ended = self.delivered + self.failed + self.parked;
        let ratio =
            |n: u64, d: u64| (d > 0).then(|| (n as f64 / d as f64 * 10_000.0).round() / 10_000.0);
        self.success_rate = ratio(self.delivered, ended);
        self.error_rate = ratio(self.failed, ended);
        self.timeout_rate = ratio(self.timeouts, self.attempts);
        self.avg_duration_ms = (self.attempts > 0)
            .then(|| (self.duration_sum as f64 / self.attempts as f64 * 10.0).round() / 10.0);
        self.p95_duration_ms = percentile(&mut self.durations, 95);
        self.deliveries = self.delivery_ids.len() as u64;
        self
    }
}

/// The `pct`th percentile of `values` by nearest rank (sorts them); `None` when empty.
pub fn percentile(values: &mut [u64], pct: u64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    crate::base::sort::sort(values);
    let rank = (values.len() as u64 * pct).div_ceil(100).max(1);
    Some(values[rank as usize - 1])
}

impl Figures {
    /// True when nothing at all was counted.
    pub fn is_empty(&self) -> bool {
        self.attempts == 0 && self.skipped == 0 && self.held == 0 && self.blocked == 0
    }
}

/// Statistics for all entries and per detector (`none` for undetected e-mails).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub entries: u64,
    pub overall: Figures,
    pub by_detector: BTreeMap<String, Figures>,
    /// Timestamp of the newest success, if any.
    pub last_success_at: Option<String>,
}

/// Computes the statistics of a set of log entries (newest first or in any order).
pub fn compute(entries: &[LogEntry]) -> Stats {
    let mut overall = Figures::default();
    let mut by_detector: BTreeMap<String, Figures> = BTreeMap::new();
    let mut last_success: Option<&LogEntry> = None;
    for e in entries {
        overall.add(e);
        by_detector
            .entry(e.detector.clone().unwrap_or_else(|| "none".into()))
            .or_default()
            .add(e);
        if e.status == LogStatus::Success && last_success.is_none_or(|l| e.unix_ms() > l.unix_ms())
        {
            last_success = Some(e);
        }
    }
    Stats {
        entries: entries.len() as u64,
        overall: overall.finish(),
        by_detector: by_detector
            .into_iter()
            .map(|(k, v)| (k, v.finish()))
            .collect(),
        last_success_at: last_success.map(|e| e.timestamp.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::time::iso_utc;

    fn entry(
        status: &str,
        detector: Option<&str>,
        error: Option<&str>,
        ms: u64,
        at: i64,
    ) -> LogEntry {
        serde_json::from_value(serde_json::json!({
            "id": format!("{status}{at}"), "timestamp": iso_utc(at), "status": status, "email_id": "e",
            "delivery_id": "dlv_x", "detector": detector, "error": error, "duration_ms": ms,
        }))
        .unwrap()
    }

    #[test]
    fn rates_and_groups() {
        let entries = vec![
            entry("success", Some("recadrage"), None, 100, 5),
            entry("retrying", Some("recadrage"), Some("timeout after 30s"), 30_000, 4),
            entry("success", None, None, 200, 3),
            entry("error", None, Some("HTTP 404"), 50, 2),
            serde_json::from_value(serde_json::json!({"id":"s","timestamp": iso_utc(1), "status":"skipped","email_id":"e"})).unwrap(),
        ];
        let s = compute(&entries);
        assert_eq!(s.entries, 5);
        assert_eq!(s.overall.attempts, 4);
        assert_eq!(s.overall.delivered, 2);
        assert_eq!(s.overall.failed, 1);
        assert_eq!(s.overall.success_rate, Some(0.6667));
        assert_eq!(s.overall.timeout_rate, Some(0.25));
        assert_eq!(s.overall.avg_duration_ms, Some(7587.5));
        assert_eq!(s.overall.p95_duration_ms, Some(30_000));
        assert_eq!(s.overall.deliveries, 1, "all four attempts carry dlv_x");
        assert_eq!(s.overall.skipped, 1);
        assert_eq!(s.by_detector["recadrage"].success_rate, Some(1.0));
        assert_eq!(s.by_detector["none"].failed, 1);
        assert_eq!(s.last_success_at.as_deref(), Some(iso_utc(5).as_str()));
    }

    #[test]
    fn parked_deliveries_count_as_ended_attempts_not_as_errors() {
        let mut exhausted = entry("parked", None, Some("HTTP 503"), 40, 3);
        exhausted.reason = Some("retries_exhausted".into());
        let mut behind = entry("parked", None, None, 0, 4);
        behind.reason = Some("target_paused".into());
        let entries = vec![entry("success", None, None, 10, 1), exhausted, behind];
        let s = compute(&entries);
        assert_eq!(s.overall.attempts, 2, "parked on arrival is not an attempt");
        assert_eq!(
            (s.overall.delivered, s.overall.failed, s.overall.parked),
            (1, 0, 1)
        );
        assert_eq!(s.overall.success_rate, Some(0.5));
        assert_eq!(s.overall.error_rate, Some(0.0));
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        #[rustfmt::skip]
        let table: [(&[u64], u64, Option<u64>); 7] = [
            (&[], 95, None),
            (&[7], 95, Some(7)),
            (&[1, 2], 95, Some(2)),
            (&[3, 1, 2], 50, Some(2)),
            (&[10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 95, Some(100)),
            (&[10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 90, Some(90)),
            (&[5; 20], 95, Some(5)),
        ];
        for (values, pct, want) in table {
            assert_eq!(
                percentile(&mut values.to_vec(), pct),
                want,
                "{values:?} p{pct}"
            );
        }
        let mut twenty: Vec<u64> = (1..=20).collect();
        assert_eq!(percentile(&mut twenty, 95), Some(19));
    }

    #[test]
    fn empty_log_has_no_rates() {
        let s = compute(&[]);
        assert_eq!(s.overall.success_rate, None);
        assert_eq!(s.overall.avg_duration_ms, None);
        assert!(s.last_success_at.is_none());
    }
}
