//! Accepting an e-mail exactly once (SPEC §2): the one-hop path through the dedup Durable
//! Object, and the Redis path for when the object cannot be reached.
//!
//! **One hop.** The object that owns the e-mail's id checks its processed marker and in-flight
//! lock, takes the lock, sends the job to the processing queue itself, then writes the marker,
//! all in one call: the ingest waits for one round trip, one queue send and one storage write,
//! the least any durable exactly-once ingest does on this platform. Redis, when configured,
//! only mirrors the marker afterwards (off the answer's path): the object is the authority.
//!
//! **Object unreachable.** Redis decides alone (`SET NX` lock, send from the worker, marker),
//! and the job is flagged so that the processing consumer teaches the object the marker as
//! soon as it can. A re-push in the seconds between the two could then be accepted twice; the
//! delivery ids are the same, so receivers drop the repeat. Neither guard reachable: the
//! e-mail is not accepted (503, the Apps Script retries).

use crate::jobs::process::ProcessJob;
use crate::store::ports::{Claim, DedupStore, StoreError, StoreResult};

/// What the ingest answers about an e-mail it was asked to accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// On the processing queue now. `mirror`: the marker is still to be copied to Redis.
    Queued { mirror: bool },
    /// Already processed (SPEC row 6).
    Processed,
    /// Being accepted by a concurrent push (SPEC row 9).
    InFlight,
}

/// Why an e-mail was not accepted (the ingest answers 503 and the sender retries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptError {
    /// The processing queue refused the job; no marker or lock was kept.
    NotQueued(StoreError),
    /// No guard could decide.
    Unavailable(StoreError),
}

/// The dedup object's one-hop accept.
#[allow(async_fn_in_trait)]
pub trait OneHopGuard {
    /// Claims the e-mail, sends `job` to the processing queue and marks it processed. `Ok(Err)`
    /// is a queue refusal (the object released its lock); `Err` means the object itself did
    /// not answer.
    async fn accept(
        &self,
        email_id: &str,
        job: &str,
        lock_ttl_secs: u64,
        processed_ttl_secs: u64,
    ) -> StoreResult<Result<Claim, StoreError>>;
}

/// The processing queue, as the worker itself sends to it.
#[allow(async_fn_in_trait)]
pub trait JobSender {
    /// Sends one processing job.
    async fn send_job(&self, job: &str) -> StoreResult<()>;
}

/// Accepts `job` exactly once: through the object, else through Redis.
pub async fn accept_email<G: OneHopGuard, R: DedupStore, Q: JobSender>(
    object: &G,
    redis: Option<&R>,
    queue: &Q,
    job: &ProcessJob,
    lock_ttl_secs: u64,
    processed_ttl_secs: u64,
) -> Result<Accepted, AcceptError> {
    let id = &job.email_id;
    let text = to_text(job)?;
    let object_err = match object
        .accept(id, &text, lock_ttl_secs, processed_ttl_secs)
        .await
    {
        Ok(Ok(claim)) => return Ok(accepted(claim, redis.is_some())),
        Ok(Err(queue_err)) => return Err(AcceptError::NotQueued(queue_err)),
        Err(e) => e,
    };
    let Some(redis) = redis else {
        return Err(AcceptError::Unavailable(StoreError::new(
            object_err.kind,
            format!("durable object: {object_err}"),
        )));
    };
    match redis.claim(id, lock_ttl_secs).await {
        Err(e) => Err(AcceptError::Unavailable(StoreError::new(
            e.kind,
            format!("durable object: {object_err}; redis: {e}"),
        ))),
        Ok(Claim::Acquired) => {
            let flagged = to_text(&job.to_sync_with_object())?;
            if let Err(e) = queue.send_job(&flagged).await {
                // Not accepted: free the lock so the sender's retry can succeed.
                let _ = redis.release(id).await;
                return Err(AcceptError::NotQueued(e));
            }
            // The job is queued; if the marker is lost, the lock still refuses duplicates
            // until it expires.
            let _ = redis.complete(id, processed_ttl_secs).await;
            Ok(Accepted::Queued { mirror: false })
        }
        Ok(other) => Ok(accepted(other, false)),
    }
}

fn accepted(claim: Claim, redis_configured: bool) -> Accepted {
    match claim {
        Claim::Acquired => Accepted::Queued {
            mirror: redis_configured,
        },
        Claim::Processed => Accepted::Processed,
        Claim::InFlight => Accepted::InFlight,
    }
}

fn to_text(job: &ProcessJob) -> Result<String, AcceptError> {
    serde_json::to_string(job)
        .map_err(|e| AcceptError::NotQueued(StoreError::unreadable(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::blob::Blob;
    use crate::store::dedup::memory::MemoryDedup;
    use crate::store::dedup::DedupRecord;
    use futures::executor::block_on;
    use std::cell::{Cell, RefCell};

    /// The object: a dedup state machine plus the queue it sends to.
    #[derive(Default)]
    struct Object {
        state: MemoryDedup,
        queue: Queue,
    }

    #[derive(Default)]
    struct Queue {
        sent: RefCell<Vec<String>>,
        down: Cell<bool>,
    }

    impl JobSender for Queue {
        async fn send_job(&self, job: &str) -> StoreResult<()> {
            if self.down.get() {
                return Err(StoreError::unreachable("queue down"));
            }
            self.sent.borrow_mut().push(job.to_string());
            Ok(())
        }
    }

    impl OneHopGuard for Object {
        async fn accept(
            &self,
            id: &str,
            job: &str,
            lock: u64,
            processed: u64,
        ) -> StoreResult<Result<Claim, StoreError>> {
            match self.state.claim(id, lock).await? {
                Claim::Acquired => {}
                refused => return Ok(Ok(refused)),
            }
            if let Err(e) = self.queue.send_job(job).await {
                self.state.release(id).await?;
                return Ok(Err(e));
            }
            self.state.complete(id, processed).await?;
            Ok(Ok(Claim::Acquired))
        }
    }

    fn job(id: &str) -> ProcessJob {
        ProcessJob {
            email_id: id.into(),
            email: Blob::Inline { data: "{}".into() },
            accepted_at_ms: 0,
            held_until_ms: None,
            spill_misses: 0,
            sync_with_object: false,
            suspect: false,
        }
    }

    fn accept(
        o: &Object,
        r: Option<&MemoryDedup>,
        q: &Queue,
        id: &str,
    ) -> Result<Accepted, AcceptError> {
        block_on(accept_email(o, r, q, &job(id), 900, 3600))
    }

    #[test]
    fn the_object_accepts_once_in_one_call_and_redis_only_mirrors() {
        let (o, r, q) = (Object::default(), MemoryDedup::default(), Queue::default());
        assert_eq!(
            accept(&o, Some(&r), &q, "a"),
            Ok(Accepted::Queued { mirror: true })
        );
        assert_eq!(accept(&o, Some(&r), &q, "a"), Ok(Accepted::Processed));
        assert_eq!(o.queue.sent.borrow().len(), 1, "the object sent the job");
        assert!(q.sent.borrow().is_empty(), "the worker sent nothing");
        assert_eq!(
            r.rec("a"),
            DedupRecord::default(),
            "redis untouched on the path"
        );
        assert_eq!(
            accept(&o, None, &q, "b"),
            Ok(Accepted::Queued { mirror: false })
        );
    }

    #[test]
    fn a_concurrent_push_sees_the_lock() {
        let (o, q) = (Object::default(), Queue::default());
        block_on(o.state.claim("c", 900)).unwrap();
        assert_eq!(accept(&o, None, &q, "c"), Ok(Accepted::InFlight));
    }

    #[test]
    fn a_queue_refusal_keeps_nothing() {
        let (o, q) = (Object::default(), Queue::default());
        o.queue.down.set(true);
        assert!(matches!(
            accept(&o, None, &q, "d"),
            Err(AcceptError::NotQueued(_))
        ));
        assert!(!o.state.rec("d").is_locked(0) && !o.state.rec("d").is_processed(0));
        o.queue.down.set(false);
        assert_eq!(
            accept(&o, None, &q, "d"),
            Ok(Accepted::Queued { mirror: false })
        );
    }

    #[test]
    fn with_the_object_out_of_reach_redis_decides_and_the_job_asks_for_a_sync() {
        let (o, r, q) = (Object::default(), MemoryDedup::default(), Queue::default());
        o.state.down.set(true);
        assert_eq!(
            accept(&o, Some(&r), &q, "e"),
            Ok(Accepted::Queued { mirror: false })
        );
        assert_eq!(accept(&o, Some(&r), &q, "e"), Ok(Accepted::Processed));
        let sent: ProcessJob = serde_json::from_str(&q.sent.borrow()[0]).unwrap();
        assert!(
            sent.sync_with_object,
            "the consumer must teach the object the marker"
        );
        assert!(r.rec("e").is_processed(0));
        q.down.set(true);
        assert!(matches!(
            accept(&o, Some(&r), &q, "f"),
            Err(AcceptError::NotQueued(_))
        ));
        assert!(!r.rec("f").is_locked(0), "the redis lock is given back");
    }

    #[test]
    fn no_guard_no_acceptance() {
        let (o, r, q) = (Object::default(), MemoryDedup::default(), Queue::default());
        o.state.down.set(true);
        assert!(matches!(
            accept(&o, None, &q, "g"),
            Err(AcceptError::Unavailable(_))
        ));
        r.down.set(true);
        assert!(matches!(
            accept(&o, Some(&r), &q, "g"),
            Err(AcceptError::Unavailable(_))
        ));
        assert!(q.sent.borrow().is_empty());
    }
}
