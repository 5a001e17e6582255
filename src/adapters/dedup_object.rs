//! The dedup Durable Object: one shard per first two hex digits of the e-mail id, holding
//! processed markers and in-flight locks with strong consistency. It keeps the exactly-once
//! promise when Redis is down or not configured.
//!
//! Processed markers are stored; in-flight locks live in the object's memory. An object has a
//! single live instance, so its memory is as authoritative as its storage while it runs, and a
//! lock only matters for the milliseconds between an ingest's claim and its completion: keeping
//! it out of storage halves the writes on the ingest path. (Should the instance restart in that
//! instant, a concurrent duplicate could be accepted; the delivery id then lets receivers drop it.)

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use worker::{
    durable_object, Env, MessageBuilder, Method, QueueContentType, Request, RequestInit, Response,
    Result, State, Stub,
};

use super::net::now_ms;
use facteur_core::config::bindings;
use facteur_core::intake::accept::OneHopGuard;
use facteur_core::store::dedup::{shard_name, DedupRecord};
use facteur_core::store::ports::{Claim, DedupStore, StoreError, StoreResult};

/// Expired records are swept this often.
const SWEEP_EVERY_MS: i64 = 6 * 3_600_000;

#[derive(Serialize, Deserialize)]
struct DedupCall {
    email_id: String,
    #[serde(default)]
    ttl_secs: u64,
    /// `/accept`: the processing job to send, and how long its marker lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    job: Option<String>,
    #[serde(default)]
    processed_ttl_secs: u64,
}

#[derive(Default, Serialize, Deserialize)]
struct DedupReply {
    #[serde(default)]
    processed: bool,
    #[serde(default)]
    claim: Option<String>,
    /// `/accept`: why the job could not be sent (the lock was released).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queue_error: Option<String>,
}

fn claim_name(c: Claim) -> &'static str {
    match c {
        Claim::Acquired => "acquired",
        Claim::InFlight => "in_flight",
        Claim::Processed => "processed",
    }
}

/// One dedup shard.
#[durable_object(alarm)]
pub struct DedupShard {
    state: State,
    env: Env,
    sweep_scheduled: Cell<bool>,
    /// In-flight locks: e-mail id → expiry (unix ms).
    locks: RefCell<HashMap<String, i64>>,
}

impl DedupShard {
    /// The stored marker combined with the in-memory lock.
    async fn record(&self, key: &str, email_id: &str) -> Result<DedupRecord> {
        let stored = self
            .state
            .storage()
            .get::<DedupRecord>(key)
            .await?
            .unwrap_or_default();
        let locked_until = self.locks.borrow().get(email_id).copied();
        Ok(DedupRecord {
            processed_until: stored.processed_until,
            locked_until,
        })
    }

    /// Takes the in-memory lock unless the e-mail is processed or locked.
    async fn claim(&self, key: &str, call: &DedupCall, now: i64) -> Result<Claim> {
        let (claim, write) = self
            .record(key, &call.email_id)
            .await?
            .claim(now, call.ttl_secs);
        if let Some(locked_until) = write.and_then(|r| r.locked_until) {
            let mut locks = self.locks.borrow_mut();
            locks.retain(|_, until| *until > now);
            locks.insert(call.email_id.clone(), locked_until);
        }
        Ok(claim)
    }

    /// The one-hop accept (see `facteur_core::intake::accept`): claim, send the job to the processing
    /// queue, write the marker. The lock covers the send, so a concurrent duplicate sees it.
    async fn accept(&self, key: &str, call: &DedupCall, now: i64) -> Result<DedupReply> {
        let claim = self.claim(key, call, now).await?;
        let reply = |claim: Claim, queue_error: Option<String>| DedupReply {
            processed: claim == Claim::Processed,
            claim: Some(claim_name(claim).into()),
            queue_error,
        };
        if claim != Claim::Acquired {
            return Ok(reply(claim, None));
        }
        let job = call.job.clone().unwrap_or_default();
        let sent = match self.env.queue(bindings::PROCESS_QUEUE) {
            Ok(q) => q
                .send(
                    MessageBuilder::new(job)
                        .content_type(QueueContentType::Text)
                        .build(),
                )
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("binding {}: {e}", bindings::PROCESS_QUEUE)),
        };
        if let Err(e) = sent {
            self.locks.borrow_mut().remove(&call.email_id);
            return Ok(reply(claim, Some(e)));
        }
        let marked = self
            .state
            .storage()
            .put(key, DedupRecord::complete(now, call.processed_ttl_secs))
            .await;
        // Queued either way. Without the marker the lock is kept until it expires, so a
        // duplicate is still refused meanwhile (the same as a lost marker in Redis).
        if marked.is_ok() {
            self.locks.borrow_mut().remove(&call.email_id);
            self.ensure_sweep().await?;
        }
        Ok(reply(claim, None))
    }

    async fn ensure_sweep(&self) -> Result<()> {
        if !self.sweep_scheduled.get() {
            if self.state.storage().get_alarm().await?.is_none() {
                self.state
                    .storage()
                    .set_alarm(std::time::Duration::from_millis(SWEEP_EVERY_MS as u64))
                    .await?;
            }
            self.sweep_scheduled.set(true);
        }
        Ok(())
    }
}

impl worker::DurableObject for DedupShard {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            sweep_scheduled: Cell::new(false),
            locks: RefCell::new(HashMap::new()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let call: DedupCall = req.json().await?;
        let key = format!("d:{}", call.email_id);
        let now = now_ms();
        let storage = self.state.storage();
        let reply = match req.path().as_str() {
            "/is_processed" => DedupReply {
                processed: self.record(&key, &call.email_id).await?.is_processed(now),
                ..Default::default()
            },
            "/claim" => {
                let claim = self.claim(&key, &call, now).await?;
                DedupReply {
                    processed: claim == Claim::Processed,
                    claim: Some(claim_name(claim).into()),
                    ..Default::default()
                }
            }
            "/accept" => self.accept(&key, &call, now).await?,
            "/complete" => {
                storage
                    .put(&key, DedupRecord::complete(now, call.ttl_secs))
                    .await?;
                self.locks.borrow_mut().remove(&call.email_id);
                self.ensure_sweep().await?;
                DedupReply {
                    processed: true,
                    ..Default::default()
                }
            }
            "/release" => {
                self.locks.borrow_mut().remove(&call.email_id);
                DedupReply::default()
            }
            other => return Response::error(format!("unknown dedup call {other}"), 404),
        };
        Response::from_json(&reply)
    }

    async fn alarm(&self) -> Result<Response> {
        let storage = self.state.storage();
        let now = now_ms();
        let all = storage.list().await?;
        let mut expired: Vec<String> = Vec::new();
        for entry in all.entries() {
            let pair: js_sys::Array = entry?.into();
            let key = pair.get(0).as_string().unwrap_or_default();
            let rec: Option<DedupRecord> = serde_wasm_bindgen::from_value(pair.get(1)).ok();
            if rec.is_none_or(|r| r.expired(now)) {
                expired.push(key);
            }
        }
        for chunk in expired.chunks(128) {
            storage.delete_multiple(chunk.to_vec()).await?;
        }
        storage
            .set_alarm(std::time::Duration::from_millis(SWEEP_EVERY_MS as u64))
            .await?;
        Response::ok("swept")
    }
}

/// Calls the shard that owns an e-mail.
pub struct DurableDedup {
    pub env: Env,
    pub binding: &'static str,
}

impl DurableDedup {
    fn stub(&self, email_id: &str) -> StoreResult<Stub> {
        let ns = self
            .env
            .durable_object(self.binding)
            .map_err(|e| StoreError(format!("dedup binding: {e}")))?;
        ns.id_from_name(&shard_name(email_id))
            .and_then(|id| id.get_stub())
            .map_err(|e| StoreError(format!("dedup stub: {e}")))
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
        let email_id = call.email_id.as_str();
        let body = serde_json::to_string(call).map_err(|e| StoreError(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(body.into()));
        let req = Request::new_with_init(&format!("https://dedup.internal/{op}"), &init)
            .map_err(|e| StoreError(e.to_string()))?;
        let mut resp = self
            .stub(email_id)?
            .fetch_with_request(req)
            .await
            .map_err(|e| StoreError(format!("dedup object: {e}")))?;
        if resp.status_code() != 200 {
            return Err(StoreError(format!(
                "dedup object answered {}",
                resp.status_code()
            )));
        }
        resp.json()
            .await
            .map_err(|e| StoreError(format!("dedup reply: {e}")))
    }
}

impl OneHopGuard for DurableDedup {
    async fn accept(
        &self,
        email_id: &str,
        job: &str,
        lock_ttl_secs: u64,
        processed_ttl_secs: u64,
    ) -> StoreResult<std::result::Result<Claim, String>> {
        let call = DedupCall {
            email_id: email_id.into(),
            ttl_secs: lock_ttl_secs,
            job: Some(job.to_string()),
            processed_ttl_secs,
        };
        let reply = self.send("accept", &call).await?;
        if let Some(e) = reply.queue_error {
            return Ok(Err(e));
        }
        parse_claim(reply.claim.as_deref()).map(Ok)
    }
}

fn parse_claim(claim: Option<&str>) -> StoreResult<Claim> {
    match claim {
        Some("acquired") => Ok(Claim::Acquired),
        Some("in_flight") => Ok(Claim::InFlight),
        Some("processed") => Ok(Claim::Processed),
        other => Err(StoreError(format!(
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
