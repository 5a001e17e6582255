//! Assembly of the stores from the environment: the delivery log in Redis when configured, else
//! in the journal object, KV behind either; the archive in the journal (large bodies in KV);
//! configuration in Redis and KV; the dedup guard in Redis and the dedup Durable Object.

use std::cell::RefCell;

use serde_json::{Map, Value};
use worker::{console_error, console_warn, Env};

use super::dedup::DurableDedup;
use super::journal::{Journal, JournalCall};
use super::kv::{Kv, KvLog};
use super::net::now_ms;
use super::redis::{upstash_store, Redis};
use facteur_core::analysis::pipeline::PlannedDelivery;
use facteur_core::analysis::routing::{validate_rules_for, RoutingRules};
use facteur_core::base::time::iso_utc;
use facteur_core::config::ConfigDoc;
use facteur_core::config::{bindings, DocMaps, TargetPolicy};
use facteur_core::delivery::target_health::parking_key;
use facteur_core::jobs::blob::INLINE_LIMIT_BYTES;
use facteur_core::jobs::delivery::DeliveryMeta;
use facteur_core::records::archive::{
    archive_key, email_archive_key, sender_key, ArchivedDelivery, EmailArchive, BODY_KEY_PREFIX,
};
use facteur_core::settings::Settings;
use facteur_core::store::dedup::DualDedup;
use facteur_core::store::fallback::{updated_at, Landed, LogFallback, MirroredKv};
use facteur_core::store::log::{LogEntry, LogQuery};
use facteur_core::store::ports::{KeyValueStore as _, LogStore, StoreError, StoreResult};

/// Configuration documents and link pairs: written to Redis and KV, read freshest.
pub type DocStore = MirroredKv<Redis, Kv>;

/// How long an isolate reuses the configuration documents it read. A change made through this
/// isolate applies at once; other isolates see it within this time (KV alone can take up to a
/// minute to propagate between locations anyway).
const CONFIG_CACHE_MS: i64 = 2_000;

thread_local! {
    static DOCS_CACHE: RefCell<Option<(i64, DocMaps)>> = const { RefCell::new(None) };
    static RULES_CACHE: RefCell<Option<(i64, RoutingRules)>> = const { RefCell::new(None) };
    static PARKING_CACHE: RefCell<std::collections::HashMap<String, (i64, bool)>> =
        RefCell::new(std::collections::HashMap::new());
}

/// What an isolate cache holds, when it was filled less than [`CONFIG_CACHE_MS`] ago.
fn fresh<T: Clone>(cell: &RefCell<Option<(i64, T)>>, now: i64) -> Option<T> {
    cell.borrow()
        .as_ref()
        .filter(|(at, _)| now - at < CONFIG_CACHE_MS)
        .map(|(_, v)| v.clone())
}

/// The primary delivery log: Redis when configured, else the journal object.
pub enum PrimaryLog {
    Redis(Redis),
    Journal(Journal),
}

impl LogStore for PrimaryLog {
    async fn append(&self, entry: &LogEntry) -> StoreResult<()> {
        match self {
            PrimaryLog::Redis(r) => r.append(entry).await,
            PrimaryLog::Journal(j) => j.append(entry).await,
        }
    }
    async fn recent(&self, query: &LogQuery, now_ms: i64) -> StoreResult<Vec<LogEntry>> {
        match self {
            PrimaryLog::Redis(r) => r.recent(query, now_ms).await,
            PrimaryLog::Journal(j) => j.recent(query, now_ms).await,
        }
    }
}

/// A stored document as a JSON object (empty when never saved, or when what is stored is not an
/// object: logged, and the defaults apply).
fn object_of(doc: ConfigDoc, raw: Option<String>) -> Map<String, Value> {
    match raw.map(|r| serde_json::from_str::<Value>(&r)) {
        Some(Ok(Value::Object(m))) => m,
        Some(_) => {
            console_error!(
                "config {}: stored value is not a JSON object; using defaults",
                doc.name()
            );
            Map::new()
        }
        None => Map::new(),
    }
}

/// Every store the worker uses.
pub struct Stores {
    /// The delivery log (Redis when configured, else the journal; KV behind either; reads
    /// merge both).
    pub log: LogFallback<PrimaryLog, KvLog>,
    /// Redis, when configured (the log's primary then, and the health checks' subject).
    pub redis: Option<Redis>,
    /// The journal object: the embedded default's log, the archive, the day's costs.
    pub journal: Journal,
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
        let journal = Journal { env: env.clone() };
        let primary = match redis() {
            Some(r) => PrimaryLog::Redis(r),
            None => PrimaryLog::Journal(journal.clone()),
        };
        Ok(Stores {
            log: LogFallback {
                primary: Some(primary),
                fallback: KvLog(kv()?),
            },
            redis: redis(),
            journal,
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
            Ok(Landed::Fallback) => console_warn!(
                "delivery log: {} unavailable, entry {} written to KV",
                if self.redis.is_some() {
                    "redis"
                } else {
                    "the journal"
                },
                entry.id
            ),
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

    /// Archives the deliveries of an e-mail (for replay, the timeline and erasure) with their
    /// payload body `key` (`body`: given when small enough for the journal; a larger one is in
    /// KV already, spilled for its messages). The e-mail's record keeps the deliveries of
    /// `previous` (a re-routing). A failed write is logged and holds nothing back.
    pub async fn archive(
        &self,
        deliveries: &[PlannedDelivery],
        meta: &DeliveryMeta,
        key: &str,
        body: Option<&str>,
        sender_email: &str,
        previous: Option<&EmailArchive>,
    ) {
        let email = EmailArchive {
            email_id: meta.email_id.clone(),
            sender_key: sender_key(sender_email),
            delivery_ids: deliveries.iter().map(|p| p.delivery_id.clone()).collect(),
            target_urls: deliveries.iter().map(|p| p.target_url.clone()).collect(),
            body_key: key.to_string(),
            created_at_ms: meta.created_at_ms,
        };
        let email = match previous {
            Some(p) => email.after(p),
            None => email,
        };
        let call = JournalCall::Archive {
            deliveries: deliveries
                .iter()
                .map(|p| ArchivedDelivery::of(p, key, meta))
                .collect(),
            bodies: body
                .filter(|b| b.len() <= INLINE_LIMIT_BYTES)
                .map(|b| vec![(key.to_string(), b.to_string())])
                .unwrap_or_default(),
            email,
        };
        if let Err(e) = self.journal.call(call).await {
            console_warn!("e-mail {}: not archived ({e})", meta.email_id);
        }
    }

    /// The archive record of a delivery.
    pub async fn archived_delivery(
        &self,
        delivery_id: &str,
    ) -> StoreResult<Option<ArchivedDelivery>> {
        let found = self.archived_deliveries(&[delivery_id.to_string()]).await?;
        Ok(found.into_iter().next().flatten())
    }

    /// The archive records of deliveries, in one journal call (KV for those archived before
    /// the archive moved to the journal).
    pub async fn archived_deliveries(
        &self,
        delivery_ids: &[String],
    ) -> StoreResult<Vec<Option<ArchivedDelivery>>> {
        let call = JournalCall::Deliveries {
            delivery_ids: delivery_ids.to_vec(),
        };
        let mut found = self.journal.call(call).await?.deliveries;
        found.resize(delivery_ids.len(), None);
        for (id, record) in delivery_ids.iter().zip(found.iter_mut()) {
            if record.is_none() {
                *record = self
                    .blobs
                    .get(&archive_key(id))
                    .await?
                    .and_then(|t| serde_json::from_str(&t).ok());
            }
        }
        Ok(found)
    }

    /// The archive record of an e-mail (KV for those archived before the move).
    pub async fn archived_email(&self, email_id: &str) -> StoreResult<Option<EmailArchive>> {
        let call = JournalCall::Email {
            email_id: email_id.to_string(),
        };
        match self.journal.call(call).await?.email {
            Some(record) => Ok(Some(record)),
            None => Ok(self
                .blobs
                .get(&email_archive_key(email_id))
                .await?
                .and_then(|t| serde_json::from_str(&t).ok())),
        }
    }

    /// A spilled message part: KV holds spilled e-mails and large payloads; a replayed
    /// delivery names its archived body, which the journal keeps when it is small.
    pub async fn part(&self, key: &str) -> StoreResult<Option<String>> {
        match self.blobs.get(key).await? {
            Some(part) => Ok(Some(part)),
            None if key.starts_with(BODY_KEY_PREFIX) => {
                let call = JournalCall::Body {
                    key: key.to_string(),
                };
                Ok(self.journal.call(call).await?.body)
            }
            None => Ok(None),
        }
    }

    /// A payload body by its key: the journal keeps the small ones, KV the large ones.
    pub async fn body(&self, key: &str) -> StoreResult<Option<String>> {
        let call = JournalCall::Body {
            key: key.to_string(),
        };
        match self.journal.call(call).await?.body {
            Some(body) => Ok(Some(body)),
            None => self.blobs.get(key).await,
        }
    }

    /// Loads the stored gating documents (absent documents are empty maps), reusing this
    /// isolate's copy for [`CONFIG_CACHE_MS`]; one read of each store (one `MGET` in Redis).
    pub async fn load_documents(&self) -> StoreResult<DocMaps> {
        Ok(self.load_config(false).await?.0)
    }

    /// The gating documents and, with `rules`, the routing rules, in one read of each store
    /// (the processing consumer needs both: one `MGET` in Redis instead of four `GET`s).
    pub async fn load_config(&self, rules: bool) -> StoreResult<(DocMaps, Option<RoutingRules>)> {
        let now = now_ms();
        if let Some(docs) = DOCS_CACHE.with(|c| fresh(c, now)) {
            if !rules {
                return Ok((docs, None));
            }
            if let Some(r) = RULES_CACHE.with(|c| fresh(c, now)) {
                return Ok((docs, Some(r)));
            }
        }
        let mut keys = vec![
            ConfigDoc::WebhookConfig.store_key(),
            ConfigDoc::ProcessingPrefs.store_key(),
            ConfigDoc::RuntimeFlags.store_key(),
        ];
        if rules {
            keys.push(ConfigDoc::RoutingRules.store_key());
        }
        let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut raw = self
            .docs
            .get_freshest_many(&key_refs, updated_at)
            .await?
            .into_iter();
        let mut doc = |d: ConfigDoc| object_of(d, raw.next().flatten());
        let docs = DocMaps {
            webhook: doc(ConfigDoc::WebhookConfig),
            prefs: doc(ConfigDoc::ProcessingPrefs),
            flags: doc(ConfigDoc::RuntimeFlags),
        };
        DOCS_CACHE.with(|c| *c.borrow_mut() = Some((now, docs.clone())));
        let rules = rules.then(|| self.rules_of(raw.next().flatten()));
        if let Some(r) = &rules {
            RULES_CACHE.with(|c| *c.borrow_mut() = Some((now, r.clone())));
        }
        Ok((docs, rules))
    }

    /// True when the target `id` parks (paused or draining), from its parking key, which its
    /// object writes when it pauses and removes when it is healthy again; this isolate reuses
    /// the answer for [`CONFIG_CACHE_MS`]. One KV read a target (never a listing: the Free plan
    /// allows 100,000 reads but only 1,000 lists a day). False when KV cannot be read
    /// (deliveries then go as usual; a failure still reaches the target's object).
    pub async fn target_parks(&self, id: &str) -> bool {
        let now = now_ms();
        let cached = PARKING_CACHE.with(|c| {
            c.borrow()
                .get(id)
                .filter(|(at, _)| now - at < CONFIG_CACHE_MS)
                .map(|(_, parks)| *parks)
        });
        if let Some(parks) = cached {
            return parks;
        }
        let parks = match self.blobs.get(&parking_key(id)).await {
            Ok(found) => found.is_some(),
            Err(e) => {
                console_warn!("parking key of {id} unreadable ({e})");
                false
            }
        };
        PARKING_CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= 1_000 {
                c.clear();
            }
            c.insert(id.to_string(), (now, parks));
        });
        parks
    }

    /// Loads one stored document as a JSON object (empty when never saved).
    pub async fn load_doc(&self, doc: ConfigDoc) -> StoreResult<Map<String, Value>> {
        let raw = self.docs.get_freshest(&doc.store_key(), updated_at).await?;
        Ok(object_of(doc, raw))
    }

    /// Loads the routing rules (none when never saved; a stored document that no longer
    /// validates is logged and ignored, so no rule applies rather than a wrong one).
    pub async fn load_rules(&self) -> StoreResult<RoutingRules> {
        let raw = self
            .docs
            .get_freshest(&ConfigDoc::RoutingRules.store_key(), updated_at)
            .await?;
        Ok(self.rules_of(raw))
    }

    fn rules_of(&self, raw: Option<String>) -> RoutingRules {
        let Some(raw) = raw else {
            return RoutingRules::default();
        };
        let parsed = serde_json::from_str::<Value>(&raw)
            .map_err(|e| e.to_string())
            .and_then(|v| validate_rules_for(&v, self.target_policy).map_err(|e| e.message));
        parsed.unwrap_or_else(|e| {
            console_error!("routing rules: stored document invalid ({e}); no rule applies");
            RoutingRules::default()
        })
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
        let forget = || {
            DOCS_CACHE.with(|c| *c.borrow_mut() = None);
            RULES_CACHE.with(|c| *c.borrow_mut() = None);
        };
        forget();
        self.docs.put(&doc.store_key(), &text, None).await?;
        forget();
        Ok(map)
    }
}
