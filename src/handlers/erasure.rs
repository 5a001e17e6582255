//! Erasure: `DELETE /api/emails/<email_id>` and `DELETE /api/senders/<address>` remove
//! everything stored about the e-mails (log entries in Redis and KV, archive records and
//! bodies, dead letters, spilled parts, parked deliveries, R2 copies of their links and the
//! link pairs, sender index entries), answer what was removed, and leave an audit entry
//! (`GET /api/audit`). Which keys to look at, and what the audit keeps, is the core's
//! (`facteur_core::erasure`).

use serde_json::{json, Value};
use worker::{console_error, console_warn, Request, Response};

use crate::adapters::net::now_ms;
use crate::context::Ctx;
use crate::http::{json, query_of};
use facteur_core::api::int_param;
use facteur_core::erasure::{
    email_id_of_index_key, in_flight, link_keys, parse_email_id, parse_sender, AuditEntry,
    ErasureKind, Found, Removed, AUDIT_PREFIX, AUDIT_TTL_SECS,
};
use facteur_core::error::ApiError;
use facteur_core::ingest::parse_ingest;
use facteur_core::log::LogEntry;
use facteur_core::messages::{
    sender_index_prefix, sender_key, ArchivedDelivery, Blob, DeadJob, DeadLetter, EmailArchive,
    DEAD_LETTER_PREFIX,
};
use facteur_core::ports::KeyValueStore;

/// Who the audit names for a request with the admin token.
const WHO_ADMIN: &str = "admin token";
/// Most e-mails one erasure by sender covers (each is a few store calls).
const MAX_SENDER_EMAILS: usize = 200;
/// Most dead e-mail letters looked into for a sender.
const MAX_DEAD_EMAILS: usize = 500;

/// What was removed, and which stores failed on the way (the erasure can be run again).
#[derive(Default)]
struct Tally {
    removed: Removed,
    failed: Vec<&'static str>,
}

impl Tally {
    fn fail(&mut self, store: &'static str, e: impl std::fmt::Display) {
        console_error!("erasure: {store}: {e}");
        if !self.failed.contains(&store) {
            self.failed.push(store);
        }
    }
}

/// `DELETE /api/emails/<email_id>`
pub async fn erase_email(ctx: &Ctx, req: Request, raw_id: &str) -> Result<Response, ApiError> {
    ctx.require_admin(&req)?;
    let id = parse_email_id(raw_id)?;
    let mut tally = Tally::default();
    let warnings = erase(ctx, vec![id.clone()], &mut tally).await;
    answer(ctx, ErasureKind::Email, &id, 1, tally, warnings).await
}

/// `DELETE /api/senders/<address>`: the sender's e-mails are found through the sender index
/// (delivered e-mails) and the dead letters of e-mails that never got as far.
pub async fn erase_sender(ctx: &Ctx, req: Request, raw: &str) -> Result<Response, ApiError> {
    ctx.require_admin(&req)?;
    let address = parse_sender(raw)?;
    let mut tally = Tally::default();
    let prefix = sender_index_prefix(&sender_key(&address));
    let mut ids: Vec<String> = Vec::new();
    match ctx.stores.blobs.keys(&prefix, MAX_SENDER_EMAILS).await {
        Ok(keys) => ids.extend(
            keys.iter()
                .filter_map(|(k, _)| email_id_of_index_key(k, &prefix))
                .map(str::to_string),
        ),
        Err(e) => tally.fail("sender index", e),
    }
    for id in dead_emails_of(ctx, &address, &mut tally).await {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let emails = ids.len() as u64;
    let mut warnings = erase(ctx, ids, &mut tally).await;
    if emails as usize >= MAX_SENDER_EMAILS {
        warnings.push(format!(
            "at most {MAX_SENDER_EMAILS} e-mails per call: run it again for the rest"
        ));
    }
    answer(ctx, ErasureKind::Sender, &address, emails, tally, warnings).await
}

/// The e-mails of `address` kept whole in dead letters (never delivered, so not indexed).
async fn dead_emails_of(ctx: &Ctx, address: &str, tally: &mut Tally) -> Vec<String> {
    let prefix = format!("{DEAD_LETTER_PREFIX}email_");
    let keys = match ctx.stores.blobs.keys(&prefix, MAX_DEAD_EMAILS).await {
        Ok(keys) => keys,
        Err(e) => {
            tally.fail("dead letters", e);
            return Vec::new();
        }
    };
    let mut ids = Vec::new();
    for (key, _) in keys {
        let dead = get_json::<DeadLetter>(ctx, &key).await;
        let Some(DeadLetter {
            job: DeadJob::Process(job),
            ..
        }) = dead
        else {
            continue;
        };
        let text = match &job.email {
            Blob::Inline { data } => Some(data.clone()),
            Blob::Spilled { key } => ctx.stores.blobs.get(key).await.ok().flatten(),
        };
        let sender = text.and_then(|t| parse_ingest(t.as_bytes(), 0).ok());
        if sender.is_some_and(|e| e.sender_email == address) {
            ids.push(job.email_id);
        }
    }
    ids
}

async fn get_json<T: serde::de::DeserializeOwned>(ctx: &Ctx, key: &str) -> Option<T> {
    let text = ctx.stores.blobs.get(key).await.ok().flatten()?;
    serde_json::from_str(&text).ok()
}

/// Removes everything about `email_ids`; answers warnings for the operator.
async fn erase(ctx: &Ctx, email_ids: Vec<String>, tally: &mut Tally) -> Vec<String> {
    let mut found = Found {
        email_ids,
        ..Found::default()
    };
    for id in &found.email_ids {
        let key = facteur_core::messages::email_archive_key(id);
        if let Some(record) = get_json::<EmailArchive>(ctx, &key).await {
            found.archives.push(record);
        }
    }
    let entries = erase_log(ctx, &found.email_ids, tally).await;
    found.log_delivery_ids = entries
        .iter()
        .filter_map(|e| e.delivery_id.clone())
        .collect();
    let mut warnings = Vec::new();
    let busy = in_flight(&entries);
    if !busy.is_empty() {
        warnings.push(format!(
            "{} e-mail(s) still retrying or held: their queued messages cannot be removed and may write again; erase again once they are done",
            busy.len()
        ));
    }
    // The bodies are named by the e-mail records and by each delivery's record (a re-routed
    // e-mail has several); each body names the links (R2 copies, link pairs).
    let mut bodies: Vec<String> = found.archives.iter().map(|a| a.body_key.clone()).collect();
    for key in found.delivery_archive_keys() {
        if let Some(a) = get_json::<ArchivedDelivery>(ctx, &key).await {
            bodies.push(a.body_key);
        }
    }
    let (mut objects, mut pairs) = (Vec::new(), Vec::new());
    for (i, key) in bodies.iter().enumerate() {
        if bodies[..i].contains(key) {
            continue;
        }
        if let Ok(Some(text)) = ctx.stores.blobs.get(key).await {
            let (o, p) = link_keys(&text);
            objects.extend(
                o.into_iter()
                    .filter(|k| !objects.contains(k))
                    .collect::<Vec<_>>(),
            );
            pairs.extend(
                p.into_iter()
                    .filter(|k| !pairs.contains(k))
                    .collect::<Vec<_>>(),
            );
        }
    }
    erase_r2(ctx, &objects, tally, &mut warnings).await;
    erase_pairs(ctx, &pairs, tally).await;
    for (key, what) in found.kv_keys(&bodies) {
        match ctx.stores.blobs.remove(&key).await {
            Ok(true) => tally.removed.add(what),
            Ok(false) => {}
            Err(e) => tally.fail("kv", e),
        }
    }
    let targets: Vec<String> = found
        .archives
        .iter()
        .flat_map(|a| a.target_urls.iter().cloned())
        .collect();
    tally.removed.parked += erase_parked(ctx, &targets, &found.email_ids).await;
    warnings
}

/// Log entries of the e-mails, from Redis (LREM of the exact values) and from KV.
async fn erase_log(ctx: &Ctx, email_ids: &[String], tally: &mut Tally) -> Vec<LogEntry> {
    let doomed = |e: &LogEntry| email_ids.contains(&e.email_id);
    let mut entries = Vec::new();
    if let Some(redis) = &ctx.stores.log.primary {
        match redis.remove_log_entries(doomed).await {
            Ok(found) => entries.extend(found),
            Err(e) => tally.fail("redis log", e),
        }
    }
    match ctx.stores.log.fallback.remove_where(doomed).await {
        Ok(found) => entries.extend(found),
        Err(e) => tally.fail("kv log", e),
    }
    tally.removed.log_entries += entries.len() as u64;
    entries
}

/// R2 copies of the links, through r2-fetch (whether offload is on now or not).
async fn erase_r2(ctx: &Ctx, keys: &[String], tally: &mut Tally, warnings: &mut Vec<String>) {
    if keys.is_empty() {
        return;
    }
    match ctx.r2_fetch_binding() {
        Some(r2) => match r2.delete_objects(keys).await {
            Ok(n) => tally.removed.r2_objects += n,
            Err(e) => tally.fail("r2", e),
        },
        None => warnings.push("no R2_FETCH service binding: R2 copies were not looked for".into()),
    }
}

/// Link pairs, in Redis and KV (a pair counts once, wherever it was).
async fn erase_pairs(ctx: &Ctx, keys: &[String], tally: &mut Tally) {
    let in_redis = match &ctx.stores.docs.primary {
        Some(redis) => match redis.delete_keys(keys).await {
            Ok(existed) => existed,
            Err(e) => {
                tally.fail("redis link pairs", e);
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    for (i, key) in keys.iter().enumerate() {
        match ctx.stores.docs.fallback.remove(key).await {
            Ok(in_kv) => {
                let either = in_kv || in_redis.get(i).copied().unwrap_or(false);
                tally.removed.link_pairs += u64::from(either);
            }
            Err(e) => tally.fail("kv link pairs", e),
        }
    }
}

/// Deliveries parked for an unhealthy target (per-target Durable Objects) that belong to
/// `email_ids`; answers how many were removed.
// TODO(parked): the parked-deliveries store is being built on another branch; remove the
// e-mails' deliveries from the objects of `target_urls` here.
async fn erase_parked(_ctx: &Ctx, _target_urls: &[String], _email_ids: &[String]) -> u64 {
    0
}

/// Writes the audit entry and answers: 200 when every store answered, else 503 with what was
/// removed so far (running it again finishes the work).
async fn answer(
    ctx: &Ctx,
    kind: ErasureKind,
    subject: &str,
    emails: u64,
    mut tally: Tally,
    warnings: Vec<String>,
) -> Result<Response, ApiError> {
    let now = now_ms();
    let complete = tally.failed.is_empty();
    let entry = AuditEntry::erasure(
        kind,
        subject,
        WHO_ADMIN,
        emails,
        tally.removed,
        complete,
        now,
    );
    let text = serde_json::to_string(&entry).map_err(|_| ApiError::internal())?;
    let written = ctx
        .stores
        .blobs
        .put_with_metadata(&entry.key(now), &text, &entry, AUDIT_TTL_SECS)
        .await;
    if let Err(e) = written {
        tally.fail("audit", e);
    }
    let mut body = json!({
        "success": tally.failed.is_empty(), "kind": kind, "emails": emails,
        "removed": tally.removed, "warnings": warnings, "audit_id": entry.id,
    });
    if tally.failed.is_empty() {
        return Ok(json(200, &body));
    }
    console_warn!("erasure incomplete: {}", tally.failed.join(", "));
    let e = ApiError::unavailable(&format!("Erasure incomplete: {}", tally.failed.join(", ")));
    if let (Value::Object(b), Value::Object(err)) = (&mut body, e.body()) {
        b.extend(err);
        b.insert("failed".into(), json!(tally.failed));
    }
    Ok(json(e.status(), &body))
}

/// `GET /api/audit?limit=`: the audit trail, newest first.
pub async fn audit(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req)?;
    let limit = int_param(&query_of(&req), "limit", 100, 1, 1000)? as usize;
    let keys = ctx
        .stores
        .blobs
        .keys(AUDIT_PREFIX, limit)
        .await
        .map_err(|e| {
            console_error!("audit: {e}");
            ApiError::unavailable("Audit store")
        })?;
    let entries: Vec<Value> = keys.into_iter().filter_map(|(_, meta)| meta).collect();
    Ok(json(
        200,
        &json!({"success": true, "count": entries.len(), "entries": entries}),
    ))
}
