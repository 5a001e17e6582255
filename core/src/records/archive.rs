//! The delivery archive: what is kept of every delivery and every delivered e-mail, for
//! replay and erasure, and the keys it is stored under.

use serde::{Deserialize, Serialize};

use crate::analysis::pipeline::PlannedDelivery;
use crate::analysis::routing::RuleRef;
use crate::base::json::{is_false, is_zero};
use crate::delivery::retry::RetryPolicy;
use crate::jobs::blob::{Blob, SPILL_TTL_SECS};
use crate::jobs::delivery::{DeliveryJob, DeliveryMeta};

/// What is kept of every delivery for replay (`archive:<delivery_id>` in KV, for
/// [`ARCHIVE_TTL_SECS`]): where it went, and the key of the payload exactly as it was sent
/// (stored once per distinct payload, see [`body_key`]). The target URL stays in the store;
/// the API only ever shows it masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedDelivery {
    pub delivery_id: String,
    pub email_id: String,
    pub target_url: String,
    #[serde(default)]
    pub detector: Option<String>,
    #[serde(default)]
    pub links_count: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub links_dropped: u32,
    #[serde(default, skip_serializing_if = "is_false")]
    pub rules_budget_exhausted: bool,
    pub policy: RetryPolicy,
    pub created_at_ms: i64,
    /// KV key of the JSON body POSTed to the receiver.
    pub body_key: String,
    /// The routing rule that chose this target, if one matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
}

impl ArchivedDelivery {
    /// The archive record of a planned delivery whose payload is stored under `body_key`.
    pub fn of(planned: &PlannedDelivery, body_key: &str, meta: &DeliveryMeta) -> Self {
        ArchivedDelivery {
            delivery_id: planned.delivery_id.clone(),
            email_id: meta.email_id.clone(),
            target_url: planned.target_url.clone(),
            detector: meta.detector.clone(),
            links_count: meta.links_count,
            links_dropped: planned.links_dropped,
            rules_budget_exhausted: planned.rules_budget_exhausted,
            policy: meta.policy,
            created_at_ms: meta.created_at_ms,
            body_key: body_key.to_string(),
            rule: meta.rule.clone(),
        }
    }

    /// A fresh first attempt of the archived delivery: same delivery id, same body.
    pub fn replay_job(&self) -> DeliveryJob {
        let planned = PlannedDelivery {
            delivery_id: self.delivery_id.clone(),
            target_url: self.target_url.clone(),
            links_dropped: self.links_dropped,
            rules_budget_exhausted: self.rules_budget_exhausted,
        };
        let meta = DeliveryMeta {
            email_id: self.email_id.clone(),
            accepted_at_ms: self.created_at_ms,
            detector: self.detector.clone(),
            links_count: self.links_count,
            policy: self.policy,
            created_at_ms: self.created_at_ms,
            rule: self.rule.clone(),
        };
        let body = Blob::Spilled {
            key: self.body_key.clone(),
        };
        DeliveryJob::first(&planned, body, &meta)
    }
}

/// What is kept of every e-mail that was delivered (`archive:email:<email_id>`, for
/// [`ARCHIVE_TTL_SECS`]): its deliveries and body, so that everything stored about it can be
/// found again (replay, erasure). The sender is kept only as [`sender_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailArchive {
    pub email_id: String,
    pub sender_key: String,
    pub delivery_ids: Vec<String>,
    pub target_urls: Vec<String>,
    pub body_key: String,
    pub created_at_ms: i64,
}

impl EmailArchive {
    /// This record, keeping the deliveries of an earlier record of the same e-mail (a
    /// re-routing sends to new targets: the deliveries made before must still be found, to be
    /// erased).
    pub fn after(mut self, previous: &EmailArchive) -> EmailArchive {
        let mut ids = previous.delivery_ids.clone();
        let mut urls = previous.target_urls.clone();
        for (id, url) in self.delivery_ids.iter().zip(&self.target_urls) {
            if !ids.contains(id) {
                ids.push(id.clone());
                urls.push(url.clone());
            }
        }
        (self.delivery_ids, self.target_urls) = (ids, urls);
        self
    }
}

/// KV prefix of the e-mails' archive records.
pub const EMAIL_ARCHIVE_PREFIX: &str = "archive:email:";

/// KV key of an e-mail's archive record. Its KV metadata is the e-mail's [`sender_key`], so a
/// listing of [`EMAIL_ARCHIVE_PREFIX`] finds a sender's e-mails without reading them (erasure
/// by sender) and no separate index entry is written.
pub fn email_archive_key(email_id: &str) -> String {
    format!("{EMAIL_ARCHIVE_PREFIX}{email_id}")
}

/// A sender address as stored with an e-mail's record: a hash, so the record names nobody.
pub fn sender_key(sender_email: &str) -> String {
    crate::base::ids::sha256_hex(&sender_email.trim().to_lowercase())[..32].to_string()
}

/// Archived deliveries and their bodies are kept as long as dead letters: 14 days.
pub const ARCHIVE_TTL_SECS: u64 = SPILL_TTL_SECS;

/// KV key of a delivery's archive record.
pub fn archive_key(delivery_id: &str) -> String {
    format!("archive:{delivery_id}")
}

/// Prefix of the payload bodies' keys.
pub const BODY_KEY_PREFIX: &str = "body:";

/// Key of a payload body, by its content: the targets of one e-mail share one stored body,
/// which serves both as the spilled part of large delivery messages (in KV) and as the archive
/// (in the journal when small).
pub fn body_key(body: &str) -> String {
    format!(
        "{BODY_KEY_PREFIX}{}",
        &crate::base::ids::sha256_hex(body)[..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archived_delivery_replays_as_a_first_attempt() {
        let a = ArchivedDelivery {
            delivery_id: "dlv_1".into(),
            email_id: "e".into(),
            target_url: "https://x.example/h".into(),
            detector: Some("recadrage".into()),
            links_count: 2,
            links_dropped: 7,
            rules_budget_exhausted: true,
            policy: RetryPolicy::default(),
            created_at_ms: 5,
            body_key: body_key("{}"),
            rule: Some(RuleRef {
                id: "r1".into(),
                name: "Make".into(),
            }),
        };
        assert_eq!(a.body_key, body_key("{}"));
        assert_ne!(a.body_key, body_key("{ }"));
        assert!(a.body_key.starts_with("body:") && a.body_key.len() == 37);
        let job = a.replay_job();
        assert_eq!((job.attempt, job.spill_misses), (1, 0));
        assert_eq!(
            job.payload,
            Blob::Spilled {
                key: a.body_key.clone()
            }
        );
        assert_eq!(job.delivery_id, "dlv_1");
        assert_eq!(job.target_url, a.target_url);
        assert_eq!(
            job.rule, a.rule,
            "the replay logs the rule that chose the target"
        );
        assert_eq!(job.links_dropped, 7, "the cut is still logged on a replay");
        assert!(job.rules_budget_exhausted);
        assert_eq!(archive_key("dlv_1"), "archive:dlv_1");
        let back: ArchivedDelivery =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn a_new_e_mail_record_keeps_the_earlier_deliveries() {
        let record = |ids: &[&str], body: &str| EmailArchive {
            email_id: "e".into(),
            sender_key: "s".into(),
            delivery_ids: ids.iter().map(|i| format!("dlv_{i}")).collect(),
            target_urls: ids.iter().map(|i| format!("https://{i}")).collect(),
            body_key: body.into(),
            created_at_ms: 0,
        };
        let merged = record(&["b", "c"], "body:new").after(&record(&["a", "b"], "body:old"));
        assert_eq!(merged.delivery_ids, ["dlv_a", "dlv_b", "dlv_c"]);
        assert_eq!(merged.target_urls, ["https://a", "https://b", "https://c"]);
        assert_eq!(merged.body_key, "body:new");
    }
}
