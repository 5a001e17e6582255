//! The dedup Durable Object: one shard per first two hex digits of the e-mail id, holding
//! processed markers and in-flight locks with strong consistency (its client and the calls it
//! answers are in `crate::adapters::dedup`).
//!
//! Processed markers are stored; in-flight locks live in the object's memory. An object has a
//! single live instance, so its memory is as authoritative as its storage while it runs, and a
//! lock only matters for the milliseconds between an ingest's claim and its completion: keeping
//! it out of storage halves the writes on the ingest path. (Should the instance restart in that
//! instant, a concurrent duplicate could be accepted; the delivery id then lets receivers drop it.)

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use worker::{
    durable_object, Env, MessageBuilder, QueueContentType, Request, Response, Result, State,
};

use crate::adapters::dedup::{claim_name, DedupCall, DedupReply};
use crate::adapters::journal::flush_costs;
use crate::adapters::ledger::{count, Invocation, Rows};
use crate::adapters::net::now_ms;
use facteur_core::config::bindings;
use facteur_core::store::dedup::DedupRecord;
use facteur_core::store::ports::Claim;

/// Expired records are swept this often.
const SWEEP_EVERY_MS: i64 = 6 * 3_600_000;

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
    /// This object's storage, counting the rows it reads and writes.
    fn rows(&self) -> Rows {
        Rows(self.state.storage())
    }

    /// The stored marker combined with the in-memory lock.
    async fn record(&self, key: &str, email_id: &str) -> Result<DedupRecord> {
        let stored = self
            .rows()
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
        let units = facteur_core::store::ops::queue_units(job.len());
        count(|o| o.queue_writes += units);
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
            .rows()
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
            if self.rows().get_alarm().await?.is_none() {
                self.rows()
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
        let invocation = Invocation::begin(false);
        let resp: Result<Response> = async {
            let call: DedupCall = req.json().await?;
            let key = format!("d:{}", call.email_id);
            let now = now_ms();
            let storage = self.rows();
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
        .await;
        invocation.close("object dedup (call)");
        flush_costs(&self.state, &self.env);
        resp
    }

    async fn alarm(&self) -> Result<Response> {
        let invocation = Invocation::begin(false);
        count(|o| o.do_requests += 1);
        let resp: Result<Response> = async {
            let storage = self.rows();
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
        .await;
        invocation.close("object dedup (alarm)");
        resp
    }
}
