//! The timeline of one e-mail for the console (`GET /api/emails/<email_id>`): what was decided
//! about it, every attempt of every delivery, and the payload that was sent, assembled from the
//! delivery log and the delivery archive. Targets are only ever shown masked.

use serde::Serialize;
use serde_json::Value;

use crate::analysis::routing::RuleRef;
use crate::base::mask::{mask_url, target_label};
use crate::base::time::iso_utc;
use crate::records::archive::ArchivedDelivery;
use crate::store::log::{LogEntry, LogStatus};

/// A decision about the whole e-mail: skipped, held, blocked, or no target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub timestamp: String,
    pub status: LogStatus,
    pub reason: Option<String>,
    /// `held until …`, or what went wrong.
    pub error: Option<String>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    pub timestamp: String,
    pub attempt: u32,
    pub status: LogStatus,
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    pub error: Option<String>,
    /// Why the delivery was given up (on its final `error` attempt).
    pub reason: Option<String>,
    /// When the next attempt is due, for a `retrying` attempt.
    pub next_retry_at: Option<String>,
}

/// One delivery (the e-mail to one target) and its attempts, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub delivery_id: String,
    /// Scheme and host, `/***`.
    pub webhook_url: String,
    /// A label that tells targets apart without their secrets.
    pub target_url: String,
    /// The status of the newest attempt.
    pub status: Option<LogStatus>,
    pub rule: Option<RuleRef>,
    pub attempts: Vec<Attempt>,
    /// The JSON body as sent (from the archive, kept 14 days), if still there.
    pub payload: Option<Value>,
    /// True when the archive still holds the delivery, so it can be replayed.
    pub replayable: bool,
    /// For a delivery parked at its target: when the target is probed next (from its object).
    pub next_probe_at: Option<String>,
}

impl Delivery {
    fn new(id: &str, webhook_url: String, target_url: String) -> Delivery {
        Delivery {
            delivery_id: id.to_string(),
            webhook_url,
            target_url,
            status: None,
            rule: None,
            attempts: Vec::new(),
            payload: None,
            replayable: false,
            next_probe_at: None,
        }
    }
}

/// What the console shows of an e-mail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    pub email_id: String,
    pub detector: Option<String>,
    /// From the payload: `delivery_time`, `subject`, `sender_address`, the links.
    pub delivery_time: Option<Value>,
    pub subject: Option<Value>,
    pub sender: Option<Value>,
    pub links: Value,
    /// The routing rule that matched (from the deliveries).
    pub rule: Option<RuleRef>,
    /// Decisions about the whole e-mail, oldest first.
    pub decisions: Vec<Decision>,
    pub deliveries: Vec<Delivery>,
}

impl Timeline {
    /// The deliveries whose newest attempt parked them at their target.
    pub fn parked(&self) -> impl Iterator<Item = &str> {
        self.deliveries
            .iter()
            .filter(|d| d.status == Some(LogStatus::Parked))
            .map(|d| d.delivery_id.as_str())
    }

    /// Records when the target of a parked delivery is probed next.
    pub fn set_next_probe(&mut self, delivery_id: &str, at_ms: i64) {
        if let Some(d) = self
            .deliveries
            .iter_mut()
            .find(|d| d.delivery_id == delivery_id)
        {
            d.next_probe_at = Some(iso_utc(at_ms));
        }
    }
}

/// One archived delivery and its body, as read from the store.
pub struct Archived {
    pub record: ArchivedDelivery,
    pub body: Option<Value>,
}

fn attempt_of(e: &LogEntry) -> Attempt {
    Attempt {
        timestamp: e.timestamp.clone(),
        attempt: e.attempt,
        status: e.status,
        status_code: e.status_code,
        duration_ms: e.duration_ms,
        error: e.error.clone(),
        reason: e.reason.clone().filter(|r| !r.is_empty()),
        next_retry_at: e
            .next_retry_in_sec
            .map(|s| iso_utc(e.unix_ms() + i64::from(s) * 1000)),
    }
}

/// The delivery of `id` in `list`, added by `new` when it is not there yet (deliveries are
/// few: a list keeps their first-seen order).
fn entry<'a>(
    list: &'a mut Vec<Delivery>,
    id: &str,
    new: impl FnOnce() -> Delivery,
) -> &'a mut Delivery {
    let i = match list.iter().position(|d| d.delivery_id == id) {
        Some(i) => i,
        None => {
            list.push(new());
            list.len() - 1
        }
    };
    &mut list[i]
}

/// Assembles the timeline of `email_id` from its log entries, newest first as the log answers
/// them, and the archive of its deliveries. A delivery seen only in the archive (not logged
/// yet, or its log expired) is listed without attempts.
pub fn timeline(email_id: &str, entries: &[LogEntry], archived: Vec<Archived>) -> Timeline {
    let mut deliveries: Vec<Delivery> = Vec::new();
    let mut decisions = Vec::new();
    let mut detector = None;
    for e in entries.iter().rev().filter(|e| e.email_id == email_id) {
        detector = detector.or_else(|| e.detector.clone());
        let Some(id) = &e.delivery_id else {
            decisions.push(Decision {
                timestamp: e.timestamp.clone(),
                status: e.status,
                reason: e.reason.clone(),
                error: e.error.clone(),
            });
            continue;
        };
        let d = entry(&mut deliveries, id, || {
            Delivery::new(id, e.webhook_url.clone(), e.target_url.clone())
        });
        d.status = Some(e.status);
        d.rule = d.rule.take().or_else(|| e.rule.clone());
        d.attempts.push(attempt_of(e));
    }
    let mut payload_fields: Option<Value> = None;
    for a in archived
        .into_iter()
        .filter(|a| a.record.email_id == email_id)
    {
        let r = &a.record;
        detector = detector.or_else(|| r.detector.clone());
        let d = entry(&mut deliveries, &r.delivery_id, || {
            let (masked, label) = (mask_url(&r.target_url), target_label(&r.target_url));
            Delivery::new(&r.delivery_id, masked, label)
        });
        d.rule = d.rule.take().or_else(|| r.rule.clone());
        d.replayable = true;
        if payload_fields.is_none() {
            payload_fields = a.body.clone();
        }
        d.payload = a.body;
    }
    let field = |k: &str| payload_fields.as_ref().and_then(|p| p.get(k)).cloned();
    Timeline {
        email_id: email_id.to_string(),
        detector,
        delivery_time: field("delivery_time").filter(|v| !v.is_null()),
        subject: field("subject"),
        sender: field("sender_address"),
        links: field("delivery_links").unwrap_or(Value::Array(Vec::new())),
        rule: deliveries.iter().find_map(|d| d.rule.clone()),
        decisions,
        deliveries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::retry::RetryPolicy;
    use serde_json::json;

    fn log(v: Value) -> LogEntry {
        let mut base = json!({"id": "x", "email_id": "e1", "attempt": 0});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        if base["id"] == "x" {
            base["id"] = json!(format!("{}-{}", base["timestamp"], base["status"]));
        }
        serde_json::from_value(base).unwrap()
    }

    fn archived(id: &str, url: &str, body: Option<Value>) -> Archived {
        Archived {
            record: ArchivedDelivery {
                delivery_id: id.into(),
                email_id: "e1".into(),
                target_url: url.into(),
                detector: Some("recadrage".into()),
                links_count: 1,
                links_dropped: 0,
                rules_budget_exhausted: false,
                policy: RetryPolicy::default(),
                created_at_ms: 0,
                body_key: "body:x".into(),
                rule: Some(RuleRef {
                    id: "r1".into(),
                    name: "Lab".into(),
                }),
            },
            body,
        }
    }

    #[test]
    fn attempts_group_by_delivery_with_their_retries() {
        // Newest first, as the log answers.
        let entries = [
            log(
                json!({"timestamp": iso_utc(3_000), "status": "success", "delivery_id": "dlv_a", "attempt": 2, "status_code": 200, "duration_ms": 12, "webhook_url": "https://a.example/***"}),
            ),
            log(
                json!({"timestamp": iso_utc(1_000), "status": "retrying", "delivery_id": "dlv_a", "attempt": 1, "status_code": 503, "error": "HTTP 503", "next_retry_in_sec": 5, "webhook_url": "https://a.example/***", "detector": "recadrage"}),
            ),
            log(
                json!({"timestamp": iso_utc(900), "status": "error", "delivery_id": "dlv_b", "attempt": 1, "status_code": 404, "reason": "not_retryable"}),
            ),
            log(
                json!({"timestamp": iso_utc(500), "status": "held", "reason": "outside_window", "error": "held until …"}),
            ),
            log(
                json!({"email_id": "other", "timestamp": iso_utc(1), "status": "success", "delivery_id": "dlv_z"}),
            ),
        ];
        let body = json!({"subject": "S <b>", "sender_address": "A <a@b.c>", "delivery_time": "10h00",
                          "delivery_links": [{"provider": "dropbox"}]});
        let t = timeline(
            "e1",
            &entries,
            vec![archived(
                "dlv_a",
                "https://a.example/secret-path?k=v",
                Some(body.clone()),
            )],
        );
        assert_eq!(t.detector.as_deref(), Some("recadrage"));
        assert_eq!(t.subject, Some(json!("S <b>")));
        assert_eq!(t.delivery_time, Some(json!("10h00")));
        assert_eq!(t.links, json!([{"provider": "dropbox"}]));
        assert_eq!(t.rule.as_ref().map(|r| r.name.as_str()), Some("Lab"));
        assert_eq!(t.decisions.len(), 1);
        assert_eq!(t.decisions[0].status, LogStatus::Held);
        assert_eq!(t.deliveries.len(), 2, "dlv_z belongs to another e-mail");
        // In the order first seen: dlv_b's only attempt came before dlv_a's success.
        let a = &t.deliveries[1];
        assert_eq!(a.delivery_id, "dlv_a");
        assert_eq!(a.status, Some(LogStatus::Success));
        let steps: Vec<_> = a
            .attempts
            .iter()
            .map(|x| (x.attempt, x.status_code))
            .collect();
        assert_eq!(steps, [(1, Some(503)), (2, Some(200))]);
        assert_eq!(
            a.attempts[0].next_retry_at.as_deref(),
            Some(iso_utc(6_000).as_str())
        );
        assert_eq!(a.payload, Some(body));
        assert!(a.replayable);
        let b = &t.deliveries[0];
        assert_eq!((b.status, b.replayable), (Some(LogStatus::Error), false));
        assert_eq!(b.attempts[0].reason.as_deref(), Some("not_retryable"));
    }

    #[test]
    fn an_archived_delivery_without_log_lines_is_listed_masked() {
        let t = timeline(
            "e1",
            &[],
            vec![archived("dlv_a", "https://hook.example/s3cr3t-token", None)],
        );
        let d = &t.deliveries[0];
        assert_eq!(d.webhook_url, "https://hook.example/***");
        assert!(!d.target_url.contains("s3cr3t"), "{}", d.target_url);
        assert!(d.attempts.is_empty() && d.replayable && d.status.is_none());
        assert_eq!(t.links, json!([]));
        let text = serde_json::to_string(&t).unwrap();
        assert!(!text.contains("s3cr3t-token"), "no unmasked target: {text}");
    }
}
