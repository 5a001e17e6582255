//! The audit trail in KV (`audit:<inverted time>:<id>`, newest first, 400 days): one write per
//! change, the entry also the key's metadata so a listing reads no value (an entry too large
//! for the metadata is read whole). What an entry holds, and the filters, are the core's
//! (`records::audit`, `operator::audit`).

use serde_json::Value;

use super::kv::Kv;
use facteur_core::operator::audit::{AuditQuery, MAX_AUDIT_SCAN};
use facteur_core::records::audit::{AuditEntry, AUDIT_PREFIX, AUDIT_TTL_SECS};
use facteur_core::store::ports::{KeyValueStore as _, StoreError, StoreResult};

/// The audit trail.
pub struct AuditLog<'a> {
    pub kv: &'a Kv,
}

impl AuditLog<'_> {
    /// Writes an entry made at `now_ms`.
    pub async fn record(&self, entry: &AuditEntry, now_ms: i64) -> StoreResult<()> {
        let text =
            serde_json::to_string(entry).map_err(|e| StoreError::unreadable(e.to_string()))?;
        self.kv
            .put_with_metadata(&entry.key(now_ms), &text, &entry.metadata(), AUDIT_TTL_SECS)
            .await
    }

    /// The entries `query` selects, newest first (among the newest [`MAX_AUDIT_SCAN`]).
    pub async fn list(&self, query: &AuditQuery, now_ms: i64) -> StoreResult<Vec<AuditEntry>> {
        let read = |meta: Option<&Value>| {
            meta.and_then(Value::as_str)
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .and_then(|v| AuditEntry::read(&v))
        };
        let pages = MAX_AUDIT_SCAN.div_ceil(1_000);
        let (keys, _) = self
            .kv
            .keys_where(AUDIT_PREFIX, query.limit, pages, |_, meta| {
                read(meta).is_some_and(|e| query.matches(&e, now_ms))
            })
            .await?;
        let mut out = Vec::with_capacity(keys.len());
        for (key, meta) in keys {
            let Some(mut entry) = read(meta.as_ref()) else {
                continue;
            };
            if entry.truncated {
                // Too large for the metadata: the value holds it whole.
                let whole = self.kv.get(&key).await?;
                if let Some(full) = whole
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                    .and_then(|v| AuditEntry::read(&v))
                {
                    entry = full;
                }
            }
            out.push(entry);
        }
        Ok(out)
    }
}
