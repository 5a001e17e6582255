//! The client of the target objects (one Durable Object per target URL, named by its
//! `target_id`): report an attempt's outcome, park a delivery, read, pause and resume.

use serde::{Deserialize, Serialize};
use worker::{Env, Stub};

use super::objects::{post, stub};
use facteur_core::config::bindings;
use facteur_core::delivery::replay_budget::Grant;
use facteur_core::delivery::target_health::{target_id, TargetView};
use facteur_core::jobs::delivery::DeliveryJob;
use facteur_core::store::ports::{StoreError, StoreResult};

/// A call to a target object (the body of its `fetch`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TargetCall {
    /// The outcome of an attempt made elsewhere (a consumer).
    Report {
        target_url: String,
        success: bool,
        error: Option<String>,
    },
    /// Keep a delivery until the target is healthy (answered `parked: false` when the target
    /// does not park: the caller attempts it). With `exhausted`, the delivery ran out of its
    /// retries (after that many attempts, on `error`): the target parks from now on, and the
    /// delivery is always kept.
    Park {
        job: Box<DeliveryJob>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exhausted: Option<Exhausted>,
    },
    State {
        target_url: String,
    },
    Pause {
        target_url: String,
    },
    Resume {
        target_url: String,
    },
    /// Drop the parked deliveries of these e-mails (erasure).
    Erase {
        email_ids: Vec<String>,
    },
    /// Take `wanted` replays from the target's replay budget (`per_minute` a minute).
    Budget {
        target_url: String,
        wanted: u32,
        per_minute: u32,
    },
}

/// How a delivery ran out of its retries.
#[derive(Debug, Serialize, Deserialize)]
pub struct Exhausted {
    pub attempts: u32,
    pub error: String,
}

/// A target object's answer.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TargetReply {
    #[serde(default)]
    pub view: Option<TargetView>,
    #[serde(default)]
    pub parked: bool,
    #[serde(default)]
    pub erased: u64,
    /// What a `Budget` call granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Grant>,
}

/// The target objects' namespace.
pub struct Targets<'a> {
    pub env: &'a Env,
}

impl Targets<'_> {
    fn stub(&self, url: &str) -> StoreResult<Stub> {
        stub(self.env, bindings::TARGETS, &target_id(url))
    }

    /// Sends one call to the object of `url`.
    pub async fn call(&self, url: &str, call: &TargetCall) -> StoreResult<TargetReply> {
        post(&self.stub(url)?, "target object", "", call).await
    }

    /// Reports an attempt; answers the target's state after it.
    pub async fn report(
        &self,
        url: &str,
        success: bool,
        error: Option<String>,
    ) -> StoreResult<TargetView> {
        let call = TargetCall::Report {
            target_url: url.to_string(),
            success,
            error,
        };
        view(self.call(url, &call).await?)
    }

    /// Parks a delivery; `false` when the target does not park (attempt it instead).
    pub async fn park(&self, job: &DeliveryJob) -> StoreResult<bool> {
        let call = TargetCall::Park {
            job: Box::new(job.clone()),
            exhausted: None,
        };
        Ok(self.call(&job.target_url, &call).await?.parked)
    }

    /// Parks a delivery whose retries ran out after `attempts` attempts on `error`; the
    /// target parks from now on. `false` when the receiver took other deliveries since this
    /// one was made: it refuses this one and is not down (give it up instead).
    pub async fn park_exhausted(
        &self,
        job: &DeliveryJob,
        attempts: u32,
        error: String,
    ) -> StoreResult<bool> {
        let call = TargetCall::Park {
            job: Box::new(job.clone()),
            exhausted: Some(Exhausted { attempts, error }),
        };
        Ok(self.call(&job.target_url, &call).await?.parked)
    }

    /// Takes each target's replays from its budget (`wanted`: `replay_budget::wanted`), all
    /// targets at once; answers each target's grant.
    pub async fn replay_grants(
        &self,
        wanted: &[(String, u32)],
        per_minute: u32,
    ) -> StoreResult<Vec<(String, Grant)>> {
        let calls = wanted.iter().map(|(url, n)| async move {
            let call = TargetCall::Budget {
                target_url: url.clone(),
                wanted: *n,
                per_minute,
            };
            let grant =
                self.call(url, &call).await?.grant.ok_or_else(|| {
                    StoreError::unreadable("target object: no grant in its answer")
                })?;
            Ok((url.clone(), grant))
        });
        futures::future::join_all(calls).await.into_iter().collect()
    }

    /// The target's state.
    pub async fn state(&self, url: &str) -> StoreResult<TargetView> {
        let call = TargetCall::State {
            target_url: url.to_string(),
        };
        view(self.call(url, &call).await?)
    }
}

fn view(reply: TargetReply) -> StoreResult<TargetView> {
    reply
        .view
        .ok_or_else(|| StoreError::unreadable("target object: no state in its answer"))
}
