//! The dedup Durable Object's client and the calls it answers (`crate::objects::dedup` is the
//! object): one shard per first two hex digits of the e-mail id, holding processed markers and
//! in-flight locks with strong consistency. It keeps the exactly-once promise when Redis is
//! down or not configured.

use serde::{Deserialize, Serialize};
use worker::{Env, Stub};

use super::objects::{post, stub};
use facteur_core::intake::accept::OneHopGuard;
use facteur_core::store::dedup::shard_name;
use facteur_core::store::ports::{Claim, DedupStore, StoreError, StoreResult};

/// A call to a shard (the path names the operation).
#[derive(Serialize, Deserialize)]
pub(crate) struct DedupCall {
    pub(crate) email_id: String,
    #[serde(default)]
    pub(crate) ttl_secs: u64,
    /// `/accept`: the processing job to send, and how long its marker lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) job: Option<String>,
    #[serde(default)]
    pub(crate) processed_ttl_secs: u64,
}

/// A shard's answer.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct DedupReply {
    #[serde(default)]
    pub(crate) processed: bool,
    #[serde(default)]
    pub(crate) claim: Option<String>,
    /// `/accept`: why the job could not be sent (the lock was released).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) queue_error: Option<String>,
}

/// The wire name of a claim.
pub(crate) fn claim_name(c: Claim) -> &'static str {
    match c {
        Claim::Acquired => "acquired",
        Claim::InFlight => "in_flight",
        Claim::Processed => "processed",
    }
}

/// Calls the shard that owns an e-mail.
pub struct DurableDedup {
    pub env: Env,
    pub binding: &'static str,
}

impl DurableDedup {
    fn stub(&self, email_id: &str) -> StoreResult<Stub> {
        stub(&self.env, self.binding, &shard_name(email_id))
    }

    async fn call(&self, op: &str, email_id: &str, ttl_secs: u64) -> StoreResult<DedupReply> {
        self.send(
            op,
            &DedupCall {
                email_id: email_id.into(),
                ttl_secs,
                job: None,
                processed_ttl_secs: 0,
            },
        )
        .await
    }

    async fn send(&self, op: &str, call: &DedupCall) -> StoreResult<DedupReply> {
        let stub = self.stub(call.email_id.as_str())?;
        post(&stub, "dedup object", op, call).await
    }
}

impl OneHopGuard for DurableDedup {
    async fn accept(
        &self,
        email_id: &str,
        job: &str,
        lock_ttl_secs: u64,
        processed_ttl_secs: u64,
    ) -> StoreResult<std::result::Result<Claim, StoreError>> {
        let call = DedupCall {
            email_id: email_id.into(),
            ttl_secs: lock_ttl_secs,
            job: Some(job.to_string()),
            processed_ttl_secs,
        };
        let reply = self.send("accept", &call).await?;
        if let Some(e) = reply.queue_error {
            // The runtime's text, relayed by the object: read again for a limit.
            return Ok(Err(StoreError::from_runtime(format!(
                "processing queue: {e}"
            ))));
        }
        parse_claim(reply.claim.as_deref()).map(Ok)
    }
}

fn parse_claim(claim: Option<&str>) -> StoreResult<Claim> {
    match claim {
        Some("acquired") => Ok(Claim::Acquired),
        Some("in_flight") => Ok(Claim::InFlight),
        Some("processed") => Ok(Claim::Processed),
        other => Err(StoreError::unreadable(format!(
            "dedup object: unexpected claim {other:?}"
        ))),
    }
}

impl DedupStore for DurableDedup {
    async fn is_processed(&self, email_id: &str) -> StoreResult<bool> {
        Ok(self.call("is_processed", email_id, 0).await?.processed)
    }
    async fn claim(&self, email_id: &str, ttl: u64) -> StoreResult<Claim> {
        parse_claim(self.call("claim", email_id, ttl).await?.claim.as_deref())
    }
    async fn complete(&self, email_id: &str, ttl: u64) -> StoreResult<()> {
        self.call("complete", email_id, ttl).await.map(|_| ())
    }
    async fn release(&self, email_id: &str) -> StoreResult<()> {
        self.call("release", email_id, 0).await.map(|_| ())
    }
}
