//! Redis-first stores that fall back to Workers KV (SPEC §1, §8, §9).

use serde_json::Value;

use crate::store::log::{merge, LogEntry, LogQuery};
use crate::store::ports::{KeyValueStore, LogStore, StoreError, StoreResult};

/// Which store took a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landed {
    Primary,
    Fallback,
}

/// The delivery log: Redis when configured and answering, else KV. Reads merge both, so the
/// entries written on either side of an outage are all visible.
pub struct LogFallback<P, S> {
    pub primary: Option<P>,
    pub fallback: S,
}

impl<P: LogStore, S: LogStore> LogFallback<P, S> {
    /// Appends an entry; reports where it landed. The error (both stores failed) carries both
    /// causes.
    pub async fn append(&self, entry: &LogEntry) -> StoreResult<Landed> {
        let primary_err = match &self.primary {
            Some(p) => match p.append(entry).await {
                Ok(()) => return Ok(Landed::Primary),
                Err(e) => Some(e),
            },
            None => None,
        };
        match self.fallback.append(entry).await {
            Ok(()) => Ok(Landed::Fallback),
            Err(e) => Err(match primary_err {
                Some(p) => StoreError::both(&p, e),
                None => StoreError::new(e.kind, format!("kv: {e}")),
            }),
        }
    }

    /// Reads both stores and merges them (a failing store contributes nothing; both failing is
    /// an error).
    pub async fn recent(&self, query: &LogQuery, now_ms: i64) -> StoreResult<Vec<LogEntry>> {
        let primary = async {
            match &self.primary {
                Some(p) => Some(p.recent(query, now_ms).await),
                None => None,
            }
        };
        let (p, f) = futures::join!(primary, self.fallback.recent(query, now_ms));
        match (p, f) {
            (Some(Err(pe)), Err(fe)) => Err(StoreError::both(&pe, fe)),
            (None, Err(fe)) => Err(fe),
            (p, f) => {
                let sources = vec![
                    p.and_then(Result::ok).unwrap_or_default(),
                    f.unwrap_or_default(),
                ];
                Ok(merge(sources, query, now_ms))
            }
        }
    }
}

/// A key-value store written to both Redis and KV, so KV always holds a complete copy. Reads
/// prefer the fresher value when a `version` can be read from both (configuration documents
/// carry `_updated_at`), else Redis, else KV.
pub struct MirroredKv<P, S> {
    pub primary: Option<P>,
    pub fallback: S,
}

/// The `_updated_at` of a JSON document, for [`MirroredKv::get_freshest`].
pub fn updated_at(doc: &str) -> Option<String> {
    serde_json::from_str::<Value>(doc)
        .ok()?
        .get("_updated_at")?
        .as_str()
        .map(str::to_string)
}

impl<P: KeyValueStore, S: KeyValueStore> MirroredKv<P, S> {
    /// Reads a key from both stores and keeps the value with the greatest `version` (ties and
    /// unversioned values: Redis first). Fails only when both stores fail.
    pub async fn get_freshest(
        &self,
        key: &str,
        version: impl Fn(&str) -> Option<String>,
    ) -> StoreResult<Option<String>> {
        let primary = async {
            match &self.primary {
                Some(p) => Some(p.get(key).await),
                None => None,
            }
        };
        let (p, f) = futures::join!(primary, self.fallback.get(key));
        match (p, f) {
            (Some(Err(pe)), Err(fe)) => Err(StoreError::both(&pe, fe)),
            (None, f) => f,
            (Some(p), f) => {
                let p = p.ok().flatten();
                let f = f.ok().flatten();
                Ok(match (p, f) {
                    (Some(p), Some(f)) => {
                        if version(&f) > version(&p) {
                            Some(f)
                        } else {
                            Some(p)
                        }
                    }
                    (p, f) => p.or(f),
                })
            }
        }
    }

    /// [`MirroredKv::get_freshest`] of several keys, with one read of each store (one `MGET`).
    pub async fn get_freshest_many(
        &self,
        keys: &[&str],
        version: impl Fn(&str) -> Option<String>,
    ) -> StoreResult<Vec<Option<String>>> {
        let primary = async {
            match &self.primary {
                Some(p) => Some(p.get_many(keys).await),
                None => None,
            }
        };
        let (p, f) = futures::join!(primary, self.fallback.get_many(keys));
        match (p, f) {
            (Some(Err(pe)), Err(fe)) => Err(StoreError::both(&pe, fe)),
            (None, f) => f,
            (Some(p), f) => {
                let p = p.unwrap_or_else(|_| vec![None; keys.len()]);
                let f = f.unwrap_or_else(|_| vec![None; keys.len()]);
                Ok(p.into_iter()
                    .zip(f)
                    .map(|(p, f)| match (p, f) {
                        (Some(p), Some(f)) if version(&f) > version(&p) => Some(f),
                        (p, f) => p.or(f),
                    })
                    .collect())
            }
        }
    }

    /// Reads a key: Redis, then KV when Redis fails or lacks it.
    pub async fn get(&self, key: &str) -> StoreResult<Option<String>> {
        if let Some(p) = &self.primary {
            if let Ok(Some(v)) = p.get(key).await {
                return Ok(Some(v));
            }
        }
        self.fallback.get(key).await
    }

    /// Writes both stores; succeeds when at least one took the value.
    pub async fn put(&self, key: &str, value: &str, ttl_secs: Option<u64>) -> StoreResult<Landed> {
        let primary = async {
            match &self.primary {
                Some(p) => Some(p.put(key, value, ttl_secs).await),
                None => None,
            }
        };
        let (p, f) = futures::join!(primary, self.fallback.put(key, value, ttl_secs));
        match (p, f) {
            (Some(Ok(())), _) => Ok(Landed::Primary),
            (_, Ok(())) => Ok(Landed::Fallback),
            (Some(Err(pe)), Err(fe)) => Err(StoreError::both(&pe, fe)),
            (None, Err(fe)) => Err(fe),
        }
    }
}

#[cfg(test)]
pub mod memory {
    //! In-memory stores for host tests, each with a switch to make it fail.
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;

    #[derive(Default)]
    pub struct MemoryKv {
        pub map: RefCell<BTreeMap<String, String>>,
        pub down: Cell<bool>,
    }

    impl MemoryKv {
        fn check(&self) -> StoreResult<()> {
            if self.down.get() {
                Err(StoreError::unreachable("down"))
            } else {
                Ok(())
            }
        }
    }

    impl KeyValueStore for MemoryKv {
        async fn get(&self, key: &str) -> StoreResult<Option<String>> {
            self.check()?;
            Ok(self.map.borrow().get(key).cloned())
        }
        async fn put(&self, key: &str, value: &str, _ttl: Option<u64>) -> StoreResult<()> {
            self.check()?;
            self.map.borrow_mut().insert(key.into(), value.into());
            Ok(())
        }
        async fn delete(&self, key: &str) -> StoreResult<()> {
            self.check()?;
            self.map.borrow_mut().remove(key);
            Ok(())
        }
    }

    #[derive(Default)]
    pub struct MemoryLog {
        pub entries: RefCell<Vec<LogEntry>>,
        pub down: Cell<bool>,
    }

    impl LogStore for MemoryLog {
        async fn append(&self, entry: &LogEntry) -> StoreResult<()> {
            if self.down.get() {
                return Err(StoreError::unreachable("down"));
            }
            self.entries.borrow_mut().push(entry.clone());
            Ok(())
        }
        async fn recent(&self, _q: &LogQuery, _now: i64) -> StoreResult<Vec<LogEntry>> {
            if self.down.get() {
                return Err(StoreError::unreachable("down"));
            }
            Ok(self.entries.borrow().clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory::{MemoryKv, MemoryLog};
    use super::*;
    use crate::base::time::iso_utc;
    use crate::store::log::LogStatus;
    use futures::executor::block_on;

    fn entry(id: &str, ms: i64) -> LogEntry {
        serde_json::from_value(serde_json::json!({
            "id": id, "timestamp": iso_utc(ms), "status": "success", "email_id": "e"
        }))
        .unwrap()
    }

    #[test]
    fn log_switches_to_kv_and_reads_both_halves() {
        block_on(async {
            let log = LogFallback {
                primary: Some(MemoryLog::default()),
                fallback: MemoryLog::default(),
            };
            let q = LogQuery::default();
            assert_eq!(log.append(&entry("a", 1_000)).await, Ok(Landed::Primary));
            log.primary.as_ref().unwrap().down.set(true);
            assert_eq!(log.append(&entry("b", 2_000)).await, Ok(Landed::Fallback));
            assert!(
                log.recent(&q, 3_000).await.unwrap().len() == 1,
                "redis down: only the KV half"
            );
            log.primary.as_ref().unwrap().down.set(false);
            assert_eq!(log.append(&entry("c", 3_000)).await, Ok(Landed::Primary));
            let ids: Vec<String> = log
                .recent(&q, 4_000)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.id)
                .collect();
            assert_eq!(ids, ["c", "b", "a"]);
            assert_eq!(
                log.recent(&q, 4_000).await.unwrap()[0].status,
                LogStatus::Success
            );
        });
    }

    #[test]
    fn log_without_redis_and_total_failure() {
        block_on(async {
            let log: LogFallback<MemoryLog, MemoryLog> = LogFallback {
                primary: None,
                fallback: MemoryLog::default(),
            };
            assert_eq!(log.append(&entry("a", 1)).await, Ok(Landed::Fallback));
            log.fallback.down.set(true);
            assert!(log
                .append(&entry("b", 2))
                .await
                .unwrap_err()
                .detail
                .contains("kv"));
        });
    }

    #[test]
    fn mirrored_kv_prefers_the_freshest_document() {
        block_on(async {
            let kv = MirroredKv {
                primary: Some(MemoryKv::default()),
                fallback: MemoryKv::default(),
            };
            kv.put(
                "k",
                r#"{"_updated_at":"2026-01-01T00:00:00.000Z","v":1}"#,
                None,
            )
            .await
            .unwrap();
            kv.primary.as_ref().unwrap().down.set(true);
            assert_eq!(
                kv.put(
                    "k",
                    r#"{"_updated_at":"2026-01-02T00:00:00.000Z","v":2}"#,
                    None
                )
                .await,
                Ok(Landed::Fallback)
            );
            kv.primary.as_ref().unwrap().down.set(false);
            let got = kv.get_freshest("k", updated_at).await.unwrap().unwrap();
            assert!(
                got.contains("\"v\":2"),
                "the update made during the outage wins: {got}"
            );
            let many = kv
                .get_freshest_many(&["k", "absent"], updated_at)
                .await
                .unwrap();
            assert_eq!(many, vec![Some(got.clone()), None], "the same, key by key");
            assert!(
                kv.get("k").await.unwrap().unwrap().contains("\"v\":1"),
                "plain get prefers redis"
            );
            kv.fallback.down.set(true);
            kv.primary.as_ref().unwrap().down.set(true);
            assert!(kv.get_freshest("k", updated_at).await.is_err());
            assert!(kv.put("k", "x", None).await.is_err());
        });
    }
}
