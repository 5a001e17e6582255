//! The side effects the core needs, as small traits. Adapters: Upstash REST (Redis), Workers KV
//! and the dedup Durable Object in the worker crate (`src/adapters`); in-memory ones in tests.

use crate::store::log::{LogEntry, LogQuery};

/// A store failed (unreachable, error reply, timeout). The text is for logs only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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
