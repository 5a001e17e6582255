//! The dedup state machine kept by each Durable Object shard, and the combination of the Redis
//! guard with the Durable Object guard.
//!
//! Both guards are always written, so either one alone keeps the exactly-once promise: while
//! Redis is down the Durable Object answers, and markers set during the outage are still seen
//! once Redis is back. Only when both fail does the ingest answer 503 (the Apps Script retries).

use serde::{Deserialize, Serialize};

use crate::store::ports::{Claim, DedupStore, StoreError, StoreResult};

/// Processed markers live 30 days (SPEC §2).
pub const PROCESSED_TTL_SECS: u64 = 30 * 86_400;

/// The record a shard keeps for one e-mail (expiry times in unix milliseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<i64>,
}

impl DedupRecord {
    /// True while the processed marker is alive.
    pub fn is_processed(&self, now_ms: i64) -> bool {
        self.processed_until.is_some_and(|t| t > now_ms)
    }
    /// True while the lock is alive.
    pub fn is_locked(&self, now_ms: i64) -> bool {
        self.locked_until.is_some_and(|t| t > now_ms)
    }
    /// Claims the e-mail; returns the answer and the record to store (if it changed).
    pub fn claim(self, now_ms: i64, ttl_secs: u64) -> (Claim, Option<DedupRecord>) {
        if self.is_processed(now_ms) {
            (Claim::Processed, None)
        } else if self.is_locked(now_ms) {
            (Claim::InFlight, None)
        } else {
            let rec = DedupRecord {
                processed_until: None,
                locked_until: Some(now_ms + ttl_secs as i64 * 1000),
            };
            (Claim::Acquired, Some(rec))
        }
    }
    /// Marks processed and unlocks.
    pub fn complete(now_ms: i64, ttl_secs: u64) -> DedupRecord {
        DedupRecord {
            processed_until: Some(now_ms + ttl_secs as i64 * 1000),
            locked_until: None,
        }
    }
    /// Unlocks; `None` when nothing is left to keep.
    pub fn release(self, now_ms: i64) -> Option<DedupRecord> {
        self.is_processed(now_ms).then_some(DedupRecord {
            locked_until: None,
            ..self
        })
    }
    /// True when the record can be deleted.
    pub fn expired(&self, now_ms: i64) -> bool {
        !self.is_processed(now_ms) && !self.is_locked(now_ms)
    }
}

/// Number of Durable Object shards; an e-mail goes to the shard named by its id's first two
/// hex digits.
pub fn shard_name(email_id: &str) -> String {
    format!("dedup-{}", email_id.get(..2).unwrap_or("00"))
}

/// Redis (optional) and the Durable Object guard, used together.
pub struct DualDedup<R, D> {
    pub redis: Option<R>,
    pub durable: D,
}

impl<R: DedupStore, D: DedupStore> DualDedup<R, D> {
    async fn both<T>(
        &self,
        on_redis: impl std::future::Future<Output = StoreResult<T>>,
        on_durable: impl std::future::Future<Output = StoreResult<T>>,
    ) -> (Option<StoreResult<T>>, StoreResult<T>) {
        match &self.redis {
            Some(_) => {
                let (r, d) = futures::join!(on_redis, on_durable);
                (Some(r), d)
            }
            None => (None, on_durable.await),
        }
    }
}

fn both_failed(r: Option<StoreError>, d: StoreError) -> StoreError {
    match r {
        Some(r) => StoreError::new(d.kind, format!("redis: {r}; durable object: {d}")),
        None => d,
    }
}

impl<R: DedupStore, D: DedupStore> DedupStore for DualDedup<R, D> {
    async fn is_processed(&self, email_id: &str) -> StoreResult<bool> {
        if let Some(redis) = &self.redis {
            if let Ok(true) = redis.is_processed(email_id).await {
                return Ok(true);
            }
        }
        self.durable.is_processed(email_id).await
    }

    /// The Durable Object is asked first and Redis only once the object granted the lock, so
    /// two concurrent claims can never each win a different guard (and both give up, leaving
    /// the e-mail unqueued). Either guard alone decides while the other is unreachable.
    async fn claim(&self, email_id: &str, ttl: u64) -> StoreResult<Claim> {
        let durable = self.durable.claim(email_id, ttl).await;
        let Some(redis) = &self.redis else {
            return durable;
        };
        match durable {
            Ok(Claim::Acquired) => match redis.claim(email_id, ttl).await {
                Ok(Claim::Acquired) | Err(_) => Ok(Claim::Acquired),
                Ok(other) => {
                    // Redis knows better (a marker or a lock set while the object was out of
                    // reach): give the object's lock back, and teach it the marker.
                    let _ = match other {
                        Claim::Processed => {
                            self.durable.complete(email_id, PROCESSED_TTL_SECS).await
                        }
                        _ => self.durable.release(email_id).await,
                    };
                    Ok(other)
                }
            },
            Ok(refused) => Ok(refused),
            Err(durable_err) => redis
                .claim(email_id, ttl)
                .await
                .map_err(|e| both_failed(Some(e), durable_err)),
        }
    }

    async fn complete(&self, email_id: &str, ttl: u64) -> StoreResult<()> {
        let redis_done = async {
            match &self.redis {
                Some(r) => r.complete(email_id, ttl).await,
                None => Ok(()),
            }
        };
        match self
            .both(redis_done, self.durable.complete(email_id, ttl))
            .await
        {
            (_, Ok(())) | (Some(Ok(())), _) => Ok(()),
            (r, Err(d)) => Err(both_failed(r.and_then(Result::err), d)),
        }
    }

    async fn release(&self, email_id: &str) -> StoreResult<()> {
        let redis_done = async {
            match &self.redis {
                Some(r) => r.release(email_id).await,
                None => Ok(()),
            }
        };
        match self.both(redis_done, self.durable.release(email_id)).await {
            (_, Ok(())) | (Some(Ok(())), _) => Ok(()),
            (r, Err(d)) => Err(both_failed(r.and_then(Result::err), d)),
        }
    }
}

#[cfg(test)]
pub mod memory {
    //! An in-memory guard for host tests, with a switch to make it fail.
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;

    #[derive(Default)]
    pub struct MemoryDedup {
        pub records: RefCell<HashMap<String, DedupRecord>>,
        pub down: Cell<bool>,
        pub now_ms: Cell<i64>,
    }

    impl MemoryDedup {
        fn check(&self) -> StoreResult<()> {
            if self.down.get() {
                Err(StoreError::unreachable("down"))
            } else {
                Ok(())
            }
        }
        pub fn rec(&self, id: &str) -> DedupRecord {
            self.records.borrow().get(id).copied().unwrap_or_default()
        }
    }

    impl DedupStore for MemoryDedup {
        async fn is_processed(&self, id: &str) -> StoreResult<bool> {
            self.check()?;
            Ok(self.rec(id).is_processed(self.now_ms.get()))
        }
        async fn claim(&self, id: &str, ttl: u64) -> StoreResult<Claim> {
            self.check()?;
            let (c, rec) = self.rec(id).claim(self.now_ms.get(), ttl);
            if let Some(rec) = rec {
                self.records.borrow_mut().insert(id.into(), rec);
            }
            Ok(c)
        }
        async fn complete(&self, id: &str, ttl: u64) -> StoreResult<()> {
            self.check()?;
            self.records
                .borrow_mut()
                .insert(id.into(), DedupRecord::complete(self.now_ms.get(), ttl));
            Ok(())
        }
        async fn release(&self, id: &str) -> StoreResult<()> {
            self.check()?;
            match self.rec(id).release(self.now_ms.get()) {
                Some(r) => self.records.borrow_mut().insert(id.into(), r),
                None => self.records.borrow_mut().remove(id),
            };
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory::MemoryDedup;
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn record_state_machine() {
        let r = DedupRecord::default();
        let (c, rec) = r.claim(1_000, 10);
        assert_eq!(c, Claim::Acquired);
        let rec = rec.unwrap();
        assert_eq!(rec.claim(5_000, 10).0, Claim::InFlight);
        assert_eq!(
            rec.claim(11_001, 10).0,
            Claim::Acquired,
            "an expired lock is free"
        );
        let done = DedupRecord::complete(2_000, 60);
        assert_eq!(done.claim(3_000, 10).0, Claim::Processed);
        assert!(done.expired(62_001));
        assert_eq!(rec.release(2_000), None);
    }

    fn dual() -> DualDedup<MemoryDedup, MemoryDedup> {
        DualDedup {
            redis: Some(MemoryDedup::default()),
            durable: MemoryDedup::default(),
        }
    }

    #[test]
    fn one_claim_wins_and_markers_survive_a_redis_outage() {
        block_on(async {
            let d = dual();
            assert_eq!(d.claim("e", 900).await, Ok(Claim::Acquired));
            assert_eq!(d.claim("e", 900).await, Ok(Claim::InFlight));
            d.complete("e", 3600).await.unwrap();
            assert_eq!(d.claim("e", 900).await, Ok(Claim::Processed));

            d.redis.as_ref().unwrap().down.set(true);
            assert_eq!(d.is_processed("e").await, Ok(true));
            assert_eq!(d.claim("f", 900).await, Ok(Claim::Acquired));
            assert_eq!(d.claim("f", 900).await, Ok(Claim::InFlight));
            d.complete("f", 3600).await.unwrap();

            d.redis.as_ref().unwrap().down.set(false);
            assert_eq!(
                d.is_processed("f").await,
                Ok(true),
                "marker set during the outage is still seen"
            );
            assert_eq!(d.claim("f", 900).await, Ok(Claim::Processed));
        });
    }

    #[test]
    fn refused_claim_leaves_no_lock_behind() {
        block_on(async {
            let d = dual();
            // Redis alone remembers a lock (e.g. taken while the object was unreachable).
            d.redis.as_ref().unwrap().claim("g", 900).await.unwrap();
            assert_eq!(d.claim("g", 900).await, Ok(Claim::InFlight));
            assert!(!d.durable.rec("g").is_locked(0), "durable lock released");
        });
    }

    #[test]
    fn a_marker_only_redis_has_wins_and_is_copied_to_the_object() {
        block_on(async {
            let d = dual();
            d.redis.as_ref().unwrap().complete("m", 3600).await.unwrap();
            assert_eq!(d.claim("m", 900).await, Ok(Claim::Processed));
            assert!(
                d.durable.rec("m").is_processed(0),
                "the object learnt the marker"
            );
            assert!(!d.durable.rec("m").is_locked(0));
        });
    }

    #[test]
    fn the_object_decides_first_and_redis_is_not_asked_when_it_refuses() {
        block_on(async {
            let d = dual();
            d.durable.claim("n", 900).await.unwrap();
            d.redis.as_ref().unwrap().down.set(true);
            assert_eq!(d.claim("n", 900).await, Ok(Claim::InFlight));
            d.redis.as_ref().unwrap().down.set(false);
            assert!(
                !d.redis.as_ref().unwrap().rec("n").is_locked(0),
                "redis untouched"
            );
        });
    }

    #[test]
    fn both_down_is_an_error() {
        block_on(async {
            let d = dual();
            d.redis.as_ref().unwrap().down.set(true);
            d.durable.down.set(true);
            assert!(d.claim("h", 900).await.is_err());
            assert!(d.complete("h", 900).await.is_err());
        });
    }

    #[test]
    fn without_redis_the_durable_object_decides() {
        block_on(async {
            let d: DualDedup<MemoryDedup, MemoryDedup> = DualDedup {
                redis: None,
                durable: MemoryDedup::default(),
            };
            assert_eq!(d.claim("i", 900).await, Ok(Claim::Acquired));
            d.complete("i", 60).await.unwrap();
            assert_eq!(d.is_processed("i").await, Ok(true));
        });
    }

    #[test]
    fn shards() {
        assert_eq!(shard_name("ef626f4a"), "dedup-ef");
        assert_eq!(shard_name(""), "dedup-00");
    }
}
