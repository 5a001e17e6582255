//! Assembly of the stores from the environment: Redis first, KV and the dedup Durable Object
//! behind it.

use std::cell::RefCell;

use serde_json::{Map, Value};
use worker::{console_error, console_warn, Env};

use super::dedup::DurableDedup;
use super::kv::{Kv, KvLog};
use super::net::now_ms;
use super::redis::{upstash_store, Redis};
use facteur_core::analysis::routing::{validate_rules_for, RoutingRules};
use facteur_core::base::time::iso_utc;
use facteur_core::config::ConfigDoc;
use facteur_core::config::{bindings, DocMaps, TargetPolicy};
use facteur_core::delivery::target_health::PARKING_PREFIX;
use facteur_core::settings::Settings;
use facteur_core::store::dedup::DualDedup;
use facteur_core::store::fallback::{updated_at, Landed, LogFallback, MirroredKv};
use facteur_core::store::log::LogEntry;
use facteur_core::store::ports::{KeyValueStore as _, StoreError, StoreResult};

/// Configuration documents and link pairs: written to Redis and KV, read freshest.
pub type DocStore = MirroredKv<Redis, Kv>;

/// How long an isolate reuses the configuration documents it read. A change made through this
/// isolate applies at once; other isolates see it within this time (KV alone can take up to a
/// minute to propagate between locations anyway).
const CONFIG_CACHE_MS: i64 = 2_000;

thread_local! {
    static DOCS_CACHE: RefCell<Option<(i64, DocMaps)>> = const { RefCell::new(None) };
    static PARKING_CACHE: RefCell<Option<(i64, Vec<String>)>> = const { RefCell::new(None) };
}

/// What an isolate cache holds, when it was filled less than [`CONFIG_CACHE_MS`] ago.
fn fresh<T: Clone>(cell: &RefCell<Option<(i64, T)>>, now: i64) -> Option<T> {
    cell.borrow()
        .as_ref()
        .filter(|(at, _)| now - at < CONFIG_CACHE_MS)
        .map(|(_, v)| v.clone())
}

/// Every store the worker uses.
pub struct Stores {
    /// The delivery log (Redis, else KV; reads merge both).
    pub log: LogFallback<Redis, KvLog>,
    /// Configuration documents and link pairs (written to both, read freshest).
    pub docs: DocStore,
    /// Exactly-once guard (Redis and the Durable Object, both written).
    pub dedup: DualDedup<Redis, DurableDedup>,
    /// Spilled message parts and dead letters (KV only: durable, large values).
    pub blobs: Kv,
    /// The webhook targets stored routing rules may name (https only outside local development).
    pub target_policy: TargetPolicy,
}

impl Stores {
    /// Builds the stores; fails only when the KV binding is missing.
    pub fn new(env: &Env, settings: &Settings) -> worker::Result<Stores> {
        let redis = || {
            upstash_store(
                &settings.upstash,
                settings.redis_timeout_ms,
                settings.redis_log_cap,
            )
        };
        let kv = || env.kv(bindings::KV);
        Ok(Stores {
            log: LogFallback {
                primary: redis(),
                fallback: KvLog(kv()?),
            },
            docs: MirroredKv {
                primary: redis(),
                fallback: Kv(kv()?),
            },
            dedup: DualDedup {
                redis: redis(),
                durable: DurableDedup {
                    env: env.clone(),
                    binding: bindings::DEDUP,
                },
            },
            blobs: Kv(kv()?),
            target_policy: settings.target_policy(),
        })
    }

    /// Appends a log entry. When both stores fail the entry is written to the worker's own log
    /// (Workers Logs) in full, so it is never silently lost.
    pub async fn log(&self, entry: &LogEntry) {
        match self.log.append(entry).await {
            Ok(Landed::Primary) => {}
            Ok(Landed::Fallback) => {
                if self.log.primary.is_some() {
                    console_warn!(
                        "delivery log: redis unavailable, entry {} written to KV",
                        entry.id
                    );
                }
            }
            Err(e) => console_error!(
                "delivery log: both stores failed ({e}); entry kept here: {}",
                serde_json::to_string(entry).unwrap_or_default()
            ),
        }
    }

    /// A JSON value kept in the blob store, if it is there and readable (for views that show
    /// what they find and nothing else).
    pub async fn blob_json(&self, key: &str) -> Option<Value> {
        let text = self.blobs.get(key).await.ok().flatten()?;
        serde_json::from_str(&text).ok()
    }

    /// Loads the stored gating documents (absent documents are empty maps), reusing this
    /// isolate's copy for [`CONFIG_CACHE_MS`].
    pub async fn load_documents(&self) -> StoreResult<DocMaps> {
        let now = now_ms();
        if let Some(docs) = DOCS_CACHE.with(|c| fresh(c, now)) {
            return Ok(docs);
        }
        let (w, p, f) = futures::join!(
            self.load_doc(ConfigDoc::WebhookConfig),
            self.load_doc(ConfigDoc::ProcessingPrefs),
            self.load_doc(ConfigDoc::RuntimeFlags)
        );
        let docs = DocMaps {
            webhook: w?,
            prefs: p?,
            flags: f?,
        };
        DOCS_CACHE.with(|c| *c.borrow_mut() = Some((now, docs.clone())));
        Ok(docs)
    }

    /// The ids of the targets that park (paused or draining), from their parking keys, reused
    /// by this isolate for [`CONFIG_CACHE_MS`]. Empty when KV cannot be listed (deliveries
    /// then go as usual; a failure still reaches the target's object).
    pub async fn parking_targets(&self) -> Vec<String> {
        let now = now_ms();
        if let Some(ids) = PARKING_CACHE.with(|c| fresh(c, now)) {
            return ids;
        }
        let listed = self
            .blobs
            .0
            .list()
            .prefix(PARKING_PREFIX.to_string())
            .limit(1_000)
            .execute()
            .await;
        let ids: Vec<String> = match listed {
            Ok(page) => page
                .keys
                .iter()
                .filter_map(|k| k.name.strip_prefix(PARKING_PREFIX).map(str::to_string))
                .collect(),
            Err(e) => {
                console_warn!("parking targets unreadable ({e})");
                Vec::new()
            }
        };
        PARKING_CACHE.with(|c| *c.borrow_mut() = Some((now, ids.clone())));
        ids
    }

    /// Loads one stored document as a JSON object (empty when never saved).
    pub async fn load_doc(&self, doc: ConfigDoc) -> StoreResult<Map<String, Value>> {
        let raw = self.docs.get_freshest(&doc.store_key(), updated_at).await?;
        Ok(match raw.map(|r| serde_json::from_str::<Value>(&r)) {
            Some(Ok(Value::Object(m))) => m,
            Some(_) => {
                console_error!(
                    "config {}: stored value is not a JSON object; using defaults",
                    doc.name()
                );
                Map::new()
            }
            None => Map::new(),
        })
    }

    /// Loads the routing rules (none when never saved; a stored document that no longer
    /// validates is logged and ignored, so no rule applies rather than a wrong one).
    pub async fn load_rules(&self) -> StoreResult<RoutingRules> {
        let raw = self
            .docs
            .get_freshest(&ConfigDoc::RoutingRules.store_key(), updated_at)
            .await?;
        let Some(raw) = raw else {
            return Ok(RoutingRules::default());
        };
        let parsed = serde_json::from_str::<Value>(&raw)
            .map_err(|e| e.to_string())
            .and_then(|v| validate_rules_for(&v, self.target_policy).map_err(|e| e.message));
        Ok(parsed.unwrap_or_else(|e| {
            console_error!("routing rules: stored document invalid ({e}); no rule applies");
            RoutingRules::default()
        }))
    }

    /// Saves a document with a fresh `_updated_at`; returns what was saved.
    pub async fn save_doc(
        &self,
        doc: ConfigDoc,
        mut map: Map<String, Value>,
    ) -> StoreResult<Map<String, Value>> {
        map.insert("_updated_at".into(), Value::String(iso_utc(now_ms())));
        let text =
            serde_json::to_string(&map).map_err(|e| StoreError::unreadable(e.to_string()))?;
        DOCS_CACHE.with(|c| *c.borrow_mut() = None);
        self.docs.put(&doc.store_key(), &text, None).await?;
        DOCS_CACHE.with(|c| *c.borrow_mut() = None);
        Ok(map)
    }
}
