//! The side effects the core needs, as small traits. Adapters: Upstash REST (Redis), Workers KV
//! and the dedup Durable Object in the worker crate (`src/adapters`); in-memory ones in tests.

use crate::store::log::{LogEntry, LogQuery};

/// What kind of failure a store call met: what callers decide on (fall back, answer 503, say
/// once that a daily limit was reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// Not reached: network error, timeout, missing binding, skipped after a recent failure.
    Unreachable,
    /// Reached, and it failed: an error reply, an unexpected status.
    Refused,
    /// A limit of the platform (a daily quota of operations, a per-invocation limit): nothing
    /// was done, and retrying before the limit resets will not help.
    Limit,
    /// The reply or the stored value could not be read.
    Unreadable,
}

/// A store failed. The kind is for callers; the detail is for logs only (never answered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    pub kind: StoreFailure,
    pub detail: String,
}

impl StoreError {
    /// A failure of this kind.
    pub fn new(kind: StoreFailure, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
    /// Not reached.
    pub fn unreachable(detail: impl Into<String>) -> Self {
        Self::new(StoreFailure::Unreachable, detail)
    }
    /// Reached, and it failed.
    pub fn refused(detail: impl Into<String>) -> Self {
        Self::new(StoreFailure::Refused, detail)
    }
    /// Unreadable reply or value.
    pub fn unreadable(detail: impl Into<String>) -> Self {
        Self::new(StoreFailure::Unreadable, detail)
    }
    /// An error thrown by a binding of the runtime (KV, Durable Objects, queues), by its text:
    /// the runtime says "limit exceeded" (`KV put() limit exceeded for the day.`) or "Too many"
    /// (`Too many API requests by single worker invocation.`) when a quota stopped the call.
    pub fn from_runtime(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let lower = detail.to_ascii_lowercase();
        let kind = if lower.contains("limit exceeded") || lower.contains("too many") {
            StoreFailure::Limit
        } else {
            StoreFailure::Unreachable
        };
        Self::new(kind, detail)
    }
    /// Both sides of a fallback failed: the fallback's kind decides (it was the last resort).
    pub fn both(primary: &StoreError, fallback: StoreError) -> Self {
        Self::new(
            fallback.kind,
            format!("redis: {primary}; kv: {}", fallback.detail),
        )
    }
    /// True when a platform limit stopped the call.
    pub fn is_limit(&self) -> bool {
        self.kind == StoreFailure::Limit
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// A key-value store with expiry.
#[allow(async_fn_in_trait)]
pub trait KeyValueStore {
    /// Reads a key.
    async fn get(&self, key: &str) -> StoreResult<Option<String>>;
    /// Writes a key, with an optional time to live.
    async fn put(&self, key: &str, value: &str, ttl_secs: Option<u64>) -> StoreResult<()>;
    /// Deletes a key (absent keys are not an error).
    async fn delete(&self, key: &str) -> StoreResult<()>;
    /// Reads several keys, in order (a store that can do it in one call, Redis's `MGET`, says
    /// so; the others read one key after the other).
    async fn get_many(&self, keys: &[&str]) -> StoreResult<Vec<Option<String>>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(key).await?);
        }
        Ok(out)
    }
}

/// An append-only delivery log.
#[allow(async_fn_in_trait)]
pub trait LogStore {
    /// Appends one entry.
    async fn append(&self, entry: &LogEntry) -> StoreResult<()>;
    /// Reads entries matching `query` (the store may return more; the caller merges and cuts).
    async fn recent(&self, query: &LogQuery, now_ms: i64) -> StoreResult<Vec<LogEntry>>;
}

/// Result of trying to take an e-mail for processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The lock is ours.
    Acquired,
    /// Another request holds the lock.
    InFlight,
    /// The e-mail was already processed.
    Processed,
}

/// The exactly-once guard of the ingest (SPEC §2): processed markers and in-flight locks.
#[allow(async_fn_in_trait)]
pub trait DedupStore {
    /// True when the processed marker exists.
    async fn is_processed(&self, email_id: &str) -> StoreResult<bool>;
    /// Takes the in-flight lock unless the e-mail is processed or locked.
    async fn claim(&self, email_id: &str, lock_ttl_secs: u64) -> StoreResult<Claim>;
    /// Sets the processed marker and releases the lock.
    async fn complete(&self, email_id: &str, processed_ttl_secs: u64) -> StoreResult<()>;
    /// Releases the lock without marking (the work was not accepted).
    async fn release(&self, email_id: &str) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_errors_tell_a_limit_from_an_outage() {
        for limit in [
            "KV put() limit exceeded for the day.",
            "kv: KV list() limit exceeded for the day.",
            "Too many API requests by single worker invocation.",
        ] {
            assert!(StoreError::from_runtime(limit).is_limit(), "{limit}");
        }
        let outage = StoreError::from_runtime("Network connection lost.");
        assert_eq!(outage.kind, StoreFailure::Unreachable);
        let both = StoreError::both(
            &StoreError::unreachable("timeout"),
            StoreError::from_runtime("KV put() limit exceeded for the day."),
        );
        assert!(both.is_limit());
        assert_eq!(
            both.to_string(),
            "redis: timeout; kv: KV put() limit exceeded for the day."
        );
    }
}
