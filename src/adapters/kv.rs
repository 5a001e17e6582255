//! Workers KV adapters: a key-value store and the fallback delivery log.

use worker::kv::KvStore;

use super::ledger::{count, limit_hit};
use facteur_core::base::time::DAY_MS;
use facteur_core::store::log::{
    kv_log_key, LogEntry, LogQuery, KV_LOG_PREFIX, LOG_TTL_SECS, MAX_LOG_READ,
};
use facteur_core::store::ports::{KeyValueStore, LogStore, StoreError, StoreResult};

/// KV refuses expirations shorter than a minute.
const KV_MIN_TTL_SECS: u64 = 60;
/// KV metadata is limited to 1,024 bytes; entries that fit are read by `list` alone.
const KV_METADATA_MAX: usize = 1_000;

fn kv_err(e: impl std::fmt::Display) -> StoreError {
    let err = StoreError::from_runtime(format!("kv: {e}"));
    if err.is_limit() {
        limit_hit(kv_limit(&err.detail), &err.detail);
    }
    err
}

/// Which KV daily limit an error names (the runtime says `KV put() limit exceeded for the day`).
fn kv_limit(detail: &str) -> &'static str {
    if detail.contains("put(") {
        "KV writes"
    } else if detail.contains("list(") {
        "KV lists"
    } else if detail.contains("delete(") {
        "KV deletes"
    } else if detail.contains("get(") {
        "KV reads"
    } else {
        "KV"
    }
}

/// Workers KV as a [`KeyValueStore`].
pub struct Kv(pub KvStore);

impl KeyValueStore for Kv {
    async fn get(&self, key: &str) -> StoreResult<Option<String>> {
        // As bytes: a JS string with a non-ASCII character near its start is copied into wasm
        // memory through a buffer three times its length (wasm-bindgen's worst case for UTF-8),
        // 75 MB for a 25 MB e-mail; bytes are copied once.
        count(|o| o.kv_reads += 1);
        let bytes = self.0.get(key).bytes().await.map_err(kv_err)?;
        bytes
            .map(|b| String::from_utf8(b).map_err(|_| kv_err("value is not UTF-8")))
            .transpose()
    }
    async fn put(&self, key: &str, value: &str, ttl_secs: Option<u64>) -> StoreResult<()> {
        // As bytes: `put(&str)` goes through serde and reads the whole value back into wasm
        // memory to check its type, a second copy of a part that can be 25 MB.
        count(|o| o.kv_writes += 1);
        let mut put = self.0.put_bytes(key, value.as_bytes()).map_err(kv_err)?;
        if let Some(ttl) = ttl_secs {
            put = put.expiration_ttl(ttl.max(KV_MIN_TTL_SECS));
        }
        put.execute().await.map_err(kv_err)
    }
    async fn delete(&self, key: &str) -> StoreResult<()> {
        count(|o| o.kv_deletes += 1);
        self.0.delete(key).await.map_err(kv_err)
    }
}

/// A key's metadata as a listing reads it.
pub type Metadata = Option<serde_json::Value>;

impl Kv {
    /// The keys under `prefix` (every page), at most `max`; with each key's metadata.
    pub async fn keys(&self, prefix: &str, max: usize) -> StoreResult<Vec<(String, Metadata)>> {
        Ok(self
            .keys_where(prefix, max, usize::MAX, |_, _| true)
            .await?
            .0)
    }

    /// The keys under `prefix` that `keep` picks from their name and metadata (no value is
    /// read), with their metadata, at most `max` of them, looking at most `max_pages` listing
    /// pages of 1,000 keys. Also answers whether the listing was seen to its end.
    pub async fn keys_where(
        &self,
        prefix: &str,
        max: usize,
        max_pages: usize,
        keep: impl Fn(&str, Option<&serde_json::Value>) -> bool,
    ) -> StoreResult<(Vec<(String, Metadata)>, bool)> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..max_pages {
            let mut list = self.0.list().prefix(prefix.to_string()).limit(1000);
            if let Some(c) = cursor.take() {
                list = list.cursor(c);
            }
            count(|o| o.kv_lists += 1);
            let page = list.execute().await.map_err(kv_err)?;
            for key in page.keys {
                if keep(&key.name, key.metadata.as_ref()) {
                    if out.len() == max {
                        return Ok((out, false));
                    }
                    out.push((key.name, key.metadata));
                }
            }
            match page.cursor {
                Some(c) if !page.list_complete => cursor = Some(c),
                _ => return Ok((out, true)),
            }
        }
        Ok((out, false))
    }

    /// Deletes `key`; answers whether it existed. Looked up by listing, so a large value (a
    /// 25 MB body) is never read just to be deleted.
    pub async fn remove(&self, key: &str) -> StoreResult<bool> {
        count(|o| o.kv_lists += 1);
        let page = self
            .0
            .list()
            .prefix(key.to_string())
            .limit(10)
            .execute()
            .await
            .map_err(kv_err)?;
        let existed = page.keys.iter().any(|k| k.name == key);
        if existed {
            count(|o| o.kv_deletes += 1);
            self.0.delete(key).await.map_err(kv_err)?;
        }
        Ok(existed)
    }

    /// Writes `value` with a text as the key's metadata (read back by [`Kv::keys`] without a
    /// `get`; KV keeps at most 1,024 bytes of it).
    pub async fn put_with_metadata(
        &self,
        key: &str,
        value: &str,
        metadata: &str,
        ttl_secs: u64,
    ) -> StoreResult<()> {
        count(|o| o.kv_writes += 1);
        self.0
            .put(key, value)
            .map_err(kv_err)?
            .metadata(metadata)
            .map_err(kv_err)?
            .expiration_ttl(ttl_secs.max(KV_MIN_TTL_SECS))
            .execute()
            .await
            .map_err(kv_err)
    }
}

/// The delivery log in KV: one key per entry (newest first by key order), the entry repeated
/// in the key's metadata so a listing reads it without a `get` per key.
///
/// KV is the fallback of the primary log (Redis, or the journal): it is written only while the
/// primary fails. A write there also sets [`FALLBACK_MARK`] (at most every
/// [`MARK_EVERY_MS`] per isolate), and a read lists the KV log only when the mark says it was
/// written within the log's lifetime: the console and the alert check cost no KV list (the Free
/// plan allows 1,000 a day) while nothing fell back.
pub struct KvLog(pub KvStore);

/// Key saying when the KV log was last written (outside the log's prefix: never listed with it).
pub const FALLBACK_MARK: &str = "logmark:fallback";
/// How often an isolate renews the mark while it writes to the KV log.
pub const MARK_EVERY_MS: i64 = 10 * 60_000;

thread_local! {
    static MARKED_AT: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

impl LogStore for KvLog {
    async fn append(&self, entry: &LogEntry) -> StoreResult<()> {
        let text = serde_json::to_string(entry).map_err(kv_err)?;
        let key = kv_log_key(entry.unix_ms(), &entry.id);
        count(|o| o.kv_writes += 1);
        let mut put = self
            .0
            .put(&key, text.as_str())
            .map_err(kv_err)?
            .expiration_ttl(LOG_TTL_SECS);
        if text.len() <= KV_METADATA_MAX {
            put = put.metadata(entry).map_err(kv_err)?;
        }
        put.execute().await.map_err(kv_err)?;
        let now = entry.unix_ms().max(super::net::now_ms());
        if now - MARKED_AT.with(std::cell::Cell::get) >= MARK_EVERY_MS {
            count(|o| o.kv_writes += 1);
            let mark = self.0.put(FALLBACK_MARK, now.to_string()).map_err(kv_err)?;
            mark.expiration_ttl(LOG_TTL_SECS)
                .execute()
                .await
                .map_err(kv_err)?;
            MARKED_AT.with(|m| m.set(now));
        }
        Ok(())
    }

    /// The matching entries among the newest [`MAX_LOG_READ`] keys (a filtered query does not
    /// page through a week of fallback entries).
    async fn recent(&self, query: &LogQuery, now_ms: i64) -> StoreResult<Vec<LogEntry>> {
        let cutoff = now_ms - query.days as i64 * DAY_MS;
        // Nothing fell back since the cut-off: no listing (see `FALLBACK_MARK`).
        count(|o| o.kv_reads += 1);
        let mark = self.0.get(FALLBACK_MARK).text().await.map_err(kv_err)?;
        let last = mark.and_then(|m| m.parse::<i64>().ok());
        if last.is_none_or(|at| at < cutoff) {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        self.scan(MAX_LOG_READ, |entry| {
            if entry.unix_ms() < cutoff {
                // Keys are newest first: everything after this one is older still.
                return Visit::Stop;
            }
            if query.accepts(&entry, now_ms) {
                out.push(entry);
                if out.len() >= query.wanted() {
                    return Visit::Stop;
                }
            }
            Visit::Next
        })
        .await?;
        Ok(out)
    }
}

/// What [`KvLog::scan`] does after an entry.
enum Visit {
    Next,
    Stop,
    Delete,
}

impl KvLog {
    /// Deletes the entries `doomed` picks, whatever their age (the whole fallback log is
    /// looked at: it holds at most [`LOG_TTL_SECS`] of entries); answers them.
    pub async fn remove_where(
        &self,
        doomed: impl Fn(&LogEntry) -> bool,
    ) -> StoreResult<Vec<LogEntry>> {
        let mut out = Vec::new();
        self.scan(usize::MAX, |entry| {
            if doomed(&entry) {
                out.push(entry);
                Visit::Delete
            } else {
                Visit::Next
            }
        })
        .await?;
        Ok(out)
    }

    /// Visits at most `max_scanned` entries newest first, page by page (an entry whose text was
    /// too large for the key's metadata is read), deleting those `visit` says to.
    async fn scan(
        &self,
        max_scanned: usize,
        mut visit: impl FnMut(LogEntry) -> Visit,
    ) -> StoreResult<()> {
        let mut cursor: Option<String> = None;
        let mut scanned = 0usize;
        loop {
            let mut list = self.0.list().prefix(KV_LOG_PREFIX.to_string()).limit(1000);
            if let Some(c) = cursor.take() {
                list = list.cursor(c);
            }
            count(|o| o.kv_lists += 1);
            let page = list.execute().await.map_err(kv_err)?;
            for key in page.keys {
                scanned += 1;
                if scanned > max_scanned {
                    return Ok(());
                }
                let entry: Option<LogEntry> = match key.metadata {
                    Some(meta) => serde_json::from_value(meta).ok(),
                    None => {
                        count(|o| o.kv_reads += 1);
                        self.0.get(&key.name).json().await.map_err(kv_err)?
                    }
                };
                let Some(entry) = entry else { continue };
                match visit(entry) {
                    Visit::Next => {}
                    Visit::Stop => return Ok(()),
                    Visit::Delete => {
                        count(|o| o.kv_deletes += 1);
                        self.0.delete(&key.name).await.map_err(kv_err)?
                    }
                }
            }
            match page.cursor {
                Some(c) if !page.list_complete => cursor = Some(c),
                _ => return Ok(()),
            }
        }
    }
}
