//! The delivery log (SPEC §8): entry shape, query, and the merge of the two stores.

use serde::{Deserialize, Serialize};

use crate::analysis::routing::RuleRef;
use crate::base::json::{is_false, is_zero};

use crate::base::mask::{mask_url, target_label};
use crate::base::query::int_param;
use crate::base::query::str_param;
use crate::base::time::{iso_utc, parse_iso, DAY_MS};
use crate::error::ApiError;

/// Redis list holding the newest entries (SPEC §8).
pub const REDIS_LOG_KEY: &str = "r:ss:webhook_logs:v1";
/// Entries are kept 7 days in both stores.
pub const LOG_TTL_SECS: u64 = 7 * 86_400;
/// Redis keeps the newest 1,000 entries by default (SPEC §8).
pub const DEFAULT_REDIS_LOG_CAP: u64 = 1_000;
/// Reason of a delivery parked when its retries ran out (its target then parks too).
pub const PARKED_AFTER_RETRIES: &str = "retries_exhausted";

/// What happened to an e-mail or one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStatus {
    /// The receiver answered 2xx.
    Success,
    /// Final failure: non-retryable status, retries exhausted, or a configuration error.
    Error,
    /// An attempt failed and another one is scheduled.
    Retrying,
    /// The e-mail was deliberately not sent (policy), and marked processed.
    Skipped,
    /// The e-mail waits for the sending window to open.
    Held,
    /// Sending was refused (absence, flag); the e-mail stays with the sender.
    Blocked,
    /// The delivery waits at its paused target (neither attempted nor dead-lettered).
    Parked,
}

impl LogStatus {
    /// All statuses, in the order the API documents them.
    pub const ALL: [LogStatus; 7] = [
        LogStatus::Success,
        LogStatus::Error,
        LogStatus::Retrying,
        LogStatus::Skipped,
        LogStatus::Held,
        LogStatus::Blocked,
        LogStatus::Parked,
    ];
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStatus::Success => "success",
            LogStatus::Error => "error",
            LogStatus::Retrying => "retrying",
            LogStatus::Skipped => "skipped",
            LogStatus::Held => "held",
            LogStatus::Blocked => "blocked",
            LogStatus::Parked => "parked",
        }
    }
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<LogStatus> {
        LogStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// One line of the delivery log. Field names are those of SPEC §8, plus `id` (for merging),
/// `delivery_id`, `reason` and `next_retry_in_sec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub id: String,
    pub timestamp: String,
    pub status: LogStatus,
    #[serde(default)]
    pub webhook_url: String,
    #[serde(default)]
    pub target_url: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub email_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    #[serde(default)]
    pub detector: Option<String>,
    #[serde(default)]
    pub delivery_links_count: u32,
    /// Provider links of the e-mail left out of its payload (over the per-e-mail cap, or too
    /// long); absent when none was.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub links_dropped: u32,
    /// The routing rules ran out of their evaluation budget on this e-mail, so the rules from
    /// the one being evaluated on did not match; absent when they did not.
    #[serde(default, skip_serializing_if = "is_false")]
    pub rules_budget_exhausted: bool,
    #[serde(default)]
    pub duration_ms: u64,
    #[serde(default)]
    pub status_code: Option<u16>,
    #[serde(default)]
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_retry_in_sec: Option<u32>,
    /// The routing rule that chose this target, if one matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
}

impl LogEntry {
    /// An entry about a whole e-mail (skip, hold, block, a lost part): no target, no attempt.
    /// `id` is the deterministic entry id (see [`crate::base::ids::log_entry_id`]).
    pub fn about_email(
        id: String,
        email_id: &str,
        status: LogStatus,
        reason: &str,
        now_ms: i64,
    ) -> LogEntry {
        LogEntry {
            id,
            timestamp: iso_utc(now_ms),
            status,
            webhook_url: String::new(),
            target_url: String::new(),
            error: None,
            email_id: email_id.to_string(),
            delivery_id: None,
            detector: None,
            delivery_links_count: 0,
            links_dropped: 0,
            rules_budget_exhausted: false,
            duration_ms: 0,
            status_code: None,
            attempt: 0,
            reason: Some(reason.to_string()),
            next_retry_in_sec: None,
            rule: None,
        }
    }

    /// Fills the fields that describe one delivery: masked target, delivery id, attempt.
    pub fn for_delivery(
        mut self,
        target_url: &str,
        delivery_id: &str,
        detector: Option<String>,
        links_count: u32,
        attempt: u32,
    ) -> LogEntry {
        self.webhook_url = mask_url(target_url);
        self.target_url = target_label(target_url);
        self.delivery_id = Some(delivery_id.to_string());
        self.detector = detector;
        self.delivery_links_count = links_count;
        self.attempt = attempt;
        self
    }

    /// True for an attempt of a delivery: a success, a retry, an error, or a parking after a
    /// failed attempt (its error says how it failed; a delivery parked on arrival has none).
    pub fn is_attempt(&self) -> bool {
        self.delivery_id.is_some()
            && match self.status {
                LogStatus::Success | LogStatus::Retrying | LogStatus::Error => true,
                LogStatus::Parked => self.error.is_some(),
                _ => false,
            }
    }

    /// True for an attempt that ended the delivery's retries: delivered, given up, or parked
    /// at its target when its retries ran out (the success rate counts these).
    pub fn ends_retries(&self) -> bool {
        match self.status {
            LogStatus::Success | LogStatus::Error => true,
            LogStatus::Parked => self.reason.as_deref() == Some(PARKED_AFTER_RETRIES),
            _ => false,
        }
    }

    /// The entry's time in unix milliseconds (0 when unparsable, so it sorts last).
    pub fn unix_ms(&self) -> i64 {
        parse_iso(&self.timestamp).unwrap_or(0)
    }
}

/// A validated `GET /api/webhook_logs` query (sent as is to the journal object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogQuery {
    /// Only entries newer than this many days.
    pub days: u64,
    /// Only entries with this status.
    pub status: Option<LogStatus>,
    /// Only entries of this e-mail.
    pub email_id: Option<String>,
    /// Only entries of this delivery.
    pub delivery_id: Option<String>,
    /// Only entries of this detector (`none`: e-mails no detector recognised).
    pub detector: Option<String>,
    /// Only entries whose masked target contains this text (case-insensitive).
    pub target: Option<String>,
    /// At most this many entries.
    pub limit: usize,
    /// Entries skipped before the first one returned (pagination).
    pub offset: usize,
}

/// Every entry of the last 7 days, the first 100.
impl Default for LogQuery {
    fn default() -> Self {
        LogQuery {
            days: 7,
            status: None,
            email_id: None,
            delivery_id: None,
            detector: None,
            target: None,
            limit: 100,
            offset: 0,
        }
    }
}

/// Largest `limit` the logs API accepts.
pub const MAX_LOG_LIMIT: u64 = 10_000;
/// Most entries one read takes from each store (the newest), whatever `WEBHOOK_LOG_MAX_ENTRIES`
/// keeps in Redis: the logs API, the statistics and the alert check read at most this many,
/// so their memory and time do not grow with the setting.
pub const MAX_LOG_READ: usize = MAX_LOG_LIMIT as usize;

impl LogQuery {
    /// Parses and validates the query parameters (400 naming the parameter on error).
    pub fn parse(pairs: &[(String, String)]) -> Result<LogQuery, ApiError> {
        let days = int_param(pairs, "days", 7, 1, 30)?;
        let limit = int_param(pairs, "limit", 100, 1, MAX_LOG_LIMIT)? as usize;
        let status = match str_param(pairs, "status") {
            None => None,
            Some(s) => Some(LogStatus::parse(s).ok_or_else(|| {
                let names: Vec<_> = LogStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::invalid_query("status", format!("must be one of {}", names.join(", ")))
            })?),
        };
        let text = |name: &str| str_param(pairs, name).map(|v| v.trim().to_string());
        Ok(LogQuery {
            days,
            status,
            email_id: text("email_id"),
            delivery_id: text("delivery_id"),
            detector: text("detector"),
            target: text("target").map(|t| t.to_lowercase()),
            limit,
            offset: int_param(pairs, "offset", 0, 0, MAX_LOG_LIMIT)? as usize,
        })
    }

    /// How many matching entries a store must return for this page: the skipped ones too.
    pub fn wanted(&self) -> usize {
        self.offset + self.limit
    }

    /// True when the entry passes every filter at time `now_ms`.
    pub fn accepts(&self, entry: &LogEntry, now_ms: i64) -> bool {
        entry.unix_ms() >= now_ms - self.days as i64 * DAY_MS
            && self.status.is_none_or(|s| s == entry.status)
            && self
                .email_id
                .as_deref()
                .is_none_or(|id| id == entry.email_id)
            && self
                .delivery_id
                .as_deref()
                .is_none_or(|id| Some(id) == entry.delivery_id.as_deref())
            && self
                .detector
                .as_deref()
                .is_none_or(|d| d == entry.detector.as_deref().unwrap_or("none"))
            && self.target.as_deref().is_none_or(|t| {
                entry.webhook_url.to_lowercase().contains(t)
                    || entry.target_url.to_lowercase().contains(t)
            })
    }
}

/// Merges entries from several stores: filters, drops duplicates by `id`, sorts newest first
/// (ties broken by id for a stable order), skips `query.offset` and keeps `query.limit`.
pub fn merge(sources: Vec<Vec<LogEntry>>, query: &LogQuery, now_ms: i64) -> Vec<LogEntry> {
    let mut seen = std::collections::HashSet::new();
    let mut all: Vec<(i64, LogEntry)> = sources
        .into_iter()
        .flatten()
        .filter(|e| query.accepts(e, now_ms))
        .filter(|e| seen.insert(e.id.clone()))
        .map(|e| (e.unix_ms(), e))
        .collect();
    // Ids are unique here (duplicates dropped above): a total order.
    crate::base::sort::sort_by(&mut all, |(ta, a), (tb, b)| (ta, &a.id) > (tb, &b.id));
    all.into_iter()
        .skip(query.offset)
        .take(query.limit)
        .map(|(_, e)| e)
        .collect()
}

/// KV key of an entry in the fallback store: newest sorts first under `prefix`, and every entry
/// has its own key (KV allows one write per second per key; concurrent writers never collide).
pub fn kv_log_key(unix_ms: i64, id: &str) -> String {
    crate::base::ids::newest_first_key(KV_LOG_PREFIX, unix_ms, id)
}

/// Prefix of the fallback log keys in KV.
pub const KV_LOG_PREFIX: &str = "log:";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::query::query_pairs;
    use crate::base::time::iso_utc;

    fn entry(id: &str, ms: i64, status: LogStatus) -> LogEntry {
        LogEntry {
            id: id.into(),
            timestamp: iso_utc(ms),
            status,
            webhook_url: String::new(),
            target_url: String::new(),
            error: None,
            email_id: format!("e-{id}"),
            delivery_id: None,
            detector: None,
            delivery_links_count: 0,
            links_dropped: 0,
            rules_budget_exhausted: false,
            duration_ms: 0,
            status_code: None,
            attempt: 1,
            reason: None,
            next_retry_in_sec: None,
            rule: None,
        }
    }

    #[test]
    fn query_validation_names_the_parameter() {
        assert!(LogQuery::parse(&query_pairs("status=bogus"))
            .unwrap_err()
            .message
            .contains("'status'"));
        assert!(LogQuery::parse(&query_pairs("limit=0"))
            .unwrap_err()
            .message
            .contains("'limit'"));
        assert!(LogQuery::parse(&query_pairs("days=x"))
            .unwrap_err()
            .message
            .contains("'days'"));
        let q = LogQuery::parse(&query_pairs("days=2&status=error&limit=5")).unwrap();
        assert_eq!((q.days, q.status, q.limit), (2, Some(LogStatus::Error), 5));
    }

    #[test]
    fn merge_dedups_sorts_filters_and_limits() {
        let now = 10 * DAY_MS;
        let q = LogQuery::parse(&query_pairs("days=7&limit=3")).unwrap();
        let redis = vec![
            entry("a", now - 1000, LogStatus::Success),
            entry("b", now - 3000, LogStatus::Error),
        ];
        let kv = vec![
            entry("a", now - 1000, LogStatus::Success),
            entry("c", now - 2000, LogStatus::Success),
            entry("old", now - 8 * DAY_MS, LogStatus::Success),
            entry("d", now - 4000, LogStatus::Success),
        ];
        let merged = merge(vec![redis, kv], &q, now);
        let ids: Vec<_> = merged.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "b"]);
        let only_errors = LogQuery::parse(&query_pairs("status=error")).unwrap();
        let merged = merge(
            vec![vec![
                entry("b", now, LogStatus::Error),
                entry("x", now, LogStatus::Success),
            ]],
            &only_errors,
            now,
        );
        assert_eq!(merged.len(), 1);
    }

    #[test]
    fn filters_by_detector_and_target_and_pages() {
        let now = 10 * DAY_MS;
        let mut a = entry("a", now - 1, LogStatus::Success);
        a.detector = Some("recadrage".into());
        a.webhook_url = "https://hook.eu2.make.com/***".into();
        a.target_url = "https://hook.eu2.make.com/abcd…".into();
        let mut b = entry("b", now - 2, LogStatus::Success);
        b.webhook_url = "https://hooks.example/***".into();
        let c = entry("c", now - 3, LogStatus::Error);
        let all = || vec![vec![a.clone(), b.clone(), c.clone()]];
        let ids = |q: &str| -> Vec<String> {
            let q = LogQuery::parse(&query_pairs(q)).unwrap();
            merge(all(), &q, now).into_iter().map(|e| e.id).collect()
        };
        #[rustfmt::skip]
        let table: [(&str, &[&str]); 8] = [
            ("", &["a", "b", "c"]),
            ("detector=recadrage", &["a"]),
            ("detector=none", &["b", "c"]),
            ("target=MAKE.com", &["a"]),
            ("target=abcd", &["a"]),
            ("target=hooks.example", &["b"]),
            ("limit=2&offset=1", &["b", "c"]),
            ("limit=1&offset=3", &[]),
        ];
        for (q, want) in table {
            assert_eq!(ids(q), want.to_vec(), "{q}");
        }
        let q = LogQuery::parse(&query_pairs("limit=10&offset=5")).unwrap();
        assert_eq!(q.wanted(), 15);
        assert!(LogQuery::parse(&query_pairs("offset=-1")).is_err());
    }

    #[test]
    fn kv_keys_sort_newest_first() {
        let older = kv_log_key(1_000, "x");
        let newer = kv_log_key(2_000, "x");
        assert!(newer < older);
        assert!(older.starts_with(KV_LOG_PREFIX));
    }

    #[test]
    fn entry_json_round_trip_has_spec_fields() {
        let e = entry("a", 0, LogStatus::Retrying);
        let v = serde_json::to_value(&e).unwrap();
        for k in [
            "timestamp",
            "status",
            "webhook_url",
            "target_url",
            "error",
            "email_id",
            "detector",
            "delivery_links_count",
            "duration_ms",
            "status_code",
            "attempt",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert_eq!(v["status"], "retrying");
        let back: LogEntry = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
