//! The delivery-queue message: one payload to one target, at one attempt.

use serde::{Deserialize, Serialize};

use super::blob::Blob;
use crate::analysis::pipeline::PlannedDelivery;
use crate::analysis::routing::RuleRef;
use crate::base::json::{is_false, is_zero};
use crate::delivery::retry::RetryPolicy;

/// What the deliveries of one e-mail share: carried in each delivery message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryMeta {
    pub email_id: String,
    /// When the e-mail was accepted by the ingest.
    pub accepted_at_ms: i64,
    pub detector: Option<String>,
    pub links_count: u32,
    pub policy: RetryPolicy,
    pub created_at_ms: i64,
    /// The routing rule that chose the targets, if one matched.
    pub rule: Option<RuleRef>,
}

/// Delivery-queue message: one payload to one target, at one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub delivery_id: String,
    pub email_id: String,
    pub target_url: String,
    /// 1-based number of the attempt this message carries.
    pub attempt: u32,
    pub payload: Blob,
    #[serde(default)]
    pub detector: Option<String>,
    #[serde(default)]
    pub links_count: u32,
    /// Provider links of the e-mail left out of the payload (logged with every attempt).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub links_dropped: u32,
    /// The routing rules ran out of budget for this e-mail (logged with every attempt).
    #[serde(default, skip_serializing_if = "is_false")]
    pub rules_budget_exhausted: bool,
    pub policy: RetryPolicy,
    pub created_at_ms: i64,
    /// Times the spilled payload was not found (KV can lag behind a write for a minute).
    #[serde(default)]
    pub spill_misses: u32,
    /// The routing rule that chose this target, if one matched (for the log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
    /// Sent again after its batch crashed: to be run alone (see `crate::delivery::isolation`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspect: bool,
    /// When the e-mail was accepted by the ingest: parked deliveries drain in this order.
    #[serde(default)]
    pub accepted_at_ms: i64,
    /// A webhook, or an operator alert (alerts skip target health and statistics). Stored as
    /// `delivery_kind`: a dead letter is tagged `kind` and holds the job's fields beside it.
    #[serde(
        rename = "delivery_kind",
        default,
        skip_serializing_if = "JobKind::is_webhook"
    )]
    pub kind: JobKind,
}

/// What a delivery carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    #[default]
    Webhook,
    Alert,
}

impl JobKind {
    fn is_webhook(&self) -> bool {
        *self == JobKind::Webhook
    }
}

/// A delivery parked at its paused target, in its object's storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedDelivery {
    pub job: DeliveryJob,
    pub parked_at_ms: i64,
    /// Times it failed while its target answered other deliveries (see
    /// `crate::delivery::target_health::MAX_REFUSALS`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refusals: u32,
}

impl DeliveryJob {
    /// The acceptance time parked deliveries are ordered by (jobs queued before it was
    /// carried fall back to their creation time).
    pub fn acceptance_ms(&self) -> i64 {
        if self.accepted_at_ms > 0 {
            self.accepted_at_ms
        } else {
            self.created_at_ms
        }
    }

    /// The first attempt of a webhook delivery of `payload` to `target_url`, created (and its
    /// e-mail accepted) at `now_ms`, with the default retry policy and nothing else known: the
    /// base the other constructors and the tests fill in with struct-update syntax.
    pub fn new(
        delivery_id: impl Into<String>,
        email_id: impl Into<String>,
        target_url: impl Into<String>,
        payload: Blob,
        now_ms: i64,
    ) -> DeliveryJob {
        DeliveryJob {
            delivery_id: delivery_id.into(),
            email_id: email_id.into(),
            target_url: target_url.into(),
            attempt: 1,
            payload,
            detector: None,
            links_count: 0,
            links_dropped: 0,
            rules_budget_exhausted: false,
            policy: RetryPolicy::default(),
            created_at_ms: now_ms,
            spill_misses: 0,
            rule: None,
            suspect: false,
            accepted_at_ms: now_ms,
            kind: JobKind::Webhook,
        }
    }

    /// The first attempt of a planned delivery whose payload is `payload`.
    pub fn first(planned: &PlannedDelivery, payload: Blob, meta: &DeliveryMeta) -> DeliveryJob {
        DeliveryJob {
            detector: meta.detector.clone(),
            links_count: meta.links_count,
            links_dropped: planned.links_dropped,
            rules_budget_exhausted: planned.rules_budget_exhausted,
            policy: meta.policy,
            rule: meta.rule.clone(),
            accepted_at_ms: meta.accepted_at_ms,
            ..DeliveryJob::new(
                planned.delivery_id.clone(),
                meta.email_id.clone(),
                planned.target_url.clone(),
                payload,
                meta.created_at_ms,
            )
        }
    }

    /// The same delivery at attempt `attempt`.
    pub fn at_attempt(&self, attempt: u32) -> DeliveryJob {
        DeliveryJob {
            attempt,
            ..self.clone()
        }
    }

    /// The delivery sent again by an operator: same delivery id, attempts counting afresh.
    pub fn replayed(&self) -> DeliveryJob {
        DeliveryJob {
            attempt: 1,
            spill_misses: 0,
            suspect: false,
            ..self.clone()
        }
    }
}
