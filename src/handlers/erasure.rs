//! Erasure: `DELETE /api/emails/<email_id>` and `DELETE /api/senders/<address>` remove
//! everything stored about the e-mails (log entries in the journal, Redis and KV, archive
//! records and bodies in the journal and KV, dead letters, spilled parts, parked deliveries, R2
//! copies of their links and the link pairs), answer what was removed, and leave an audit entry
//! (`GET /api/audit`, which no erasure touches). KV still holds the archive records written
//! before the archive moved to the journal (they expire within 14 days): they are looked for
//! too. Which keys to look at, and what the audit keeps, is the core's
//! (`facteur_core::records::erasure`).

use serde_json::{json, Value};
use worker::{console_error, console_warn, Request, Response};

use crate::adapters::journal::JournalCall;
use crate::adapters::net::now_ms;
use crate::adapters::targets::TargetCall;
use crate::context::Ctx;
use crate::http::json;
use facteur_core::error::ApiError;
use facteur_core::intake::ingest::parse_ingest;
use facteur_core::jobs::blob::Blob;
use facteur_core::jobs::dead_letter::DeadJob;
use facteur_core::jobs::dead_letter::DeadLetter;
use facteur_core::jobs::dead_letter::DEAD_LETTER_PREFIX;
use facteur_core::records::archive::email_archive_key;
use facteur_core::records::archive::sender_key;
use facteur_core::records::archive::ArchivedDelivery;
use facteur_core::records::archive::EMAIL_ARCHIVE_PREFIX;
use facteur_core::records::audit::{Actor, AuditEvent};
use facteur_core::records::erasure::{
    email_of_sender, in_flight, link_keys, parse_email_id, parse_sender, ErasureKind, Found,
    Removed,
};
use facteur_core::store::log::{LogEntry, LogQuery, MAX_LOG_LIMIT};
use facteur_core::store::ports::KeyValueStore;

/// Most e-mails one erasure by sender covers: each costs a few dozen store calls, and an
/// invocation may make 1,000. The answer says `more` when some are left (run it again: the
/// erased ones are no longer found).
const MAX_SENDER_EMAILS: usize = 20;
/// Most dead e-mail letters read to find a sender's e-mails that never got delivered.
const MAX_DEAD_EMAILS: usize = 100;
/// Most listing pages of e-mail records (1,000 keys each) one erasure by sender looks at: the
/// records of 100,000 e-mails, more than 14 days of an inbox (the records' lifetime) hold.
const MAX_RECORD_PAGES: usize = 100;

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
    let admin = ctx.require_admin(&req).await?;
    let id = parse_email_id(raw_id)?;
    let mut tally = Tally::default();
    let warnings = erase(ctx, vec![id.clone()], &mut tally).await;
    answer(
        ctx,
        ctx.actor(&req, &admin),
        (ErasureKind::Email, &id),
        1,
        false,
        tally,
        warnings,
    )
    .await
}

/// `DELETE /api/senders/<address>`: the sender's e-mails are found through the sender key their
/// records carry as metadata (delivered e-mails) and the dead letters of e-mails that never got
/// as far.
pub async fn erase_sender(ctx: &Ctx, req: Request, raw: &str) -> Result<Response, ApiError> {
    let admin = ctx.require_admin(&req).await?;
    let address = parse_sender(raw)?;
    let mut tally = Tally::default();
    let key = sender_key(&address);
    let mut ids: Vec<String> = Vec::new();
    let call = JournalCall::SenderEmails {
        sender_key: key.clone(),
        max: MAX_SENDER_EMAILS + 1,
    };
    match ctx.stores.journal.call(call).await {
        Ok(reply) => ids.extend(reply.email_ids),
        Err(e) => tally.fail("journal", e),
    }
    let mut listed_all = true;
    // Records written to KV before the archive moved to the journal name their sender's key in
    // their metadata: the listing reads no value.
    let found = ctx
        .stores
        .blobs
        .keys_where(
            EMAIL_ARCHIVE_PREFIX,
            MAX_SENDER_EMAILS + 1,
            MAX_RECORD_PAGES,
            |k, meta| email_of_sender(k, meta, &key).is_some(),
        )
        .await;
    match found {
        Ok((keys, complete)) => {
            listed_all = complete;
            for id in keys
                .iter()
                .filter_map(|(k, meta)| email_of_sender(k, meta.as_ref(), &key))
            {
                if !ids.iter().any(|i| i == id) {
                    ids.push(id.to_string());
                }
            }
        }
        Err(e) => tally.fail("e-mail records", e),
    }
    for id in dead_emails_of(ctx, &address, &mut tally).await {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let more = ids.len() > MAX_SENDER_EMAILS || !listed_all;
    ids.truncate(MAX_SENDER_EMAILS);
    let emails = ids.len() as u64;
    let warnings = erase(ctx, ids, &mut tally).await;
    answer(
        ctx,
        ctx.actor(&req, &admin),
        (ErasureKind::Sender, &address),
        emails,
        more,
        tally,
        warnings,
    )
    .await
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

/// Reads a key whose value names more to erase. `Err` when the store failed: the key is then
/// kept for the next run, which reads it again.
async fn read(ctx: &Ctx, key: &str, tally: &mut Tally) -> Result<Option<String>, ()> {
    ctx.stores
        .blobs
        .get(key)
        .await
        .map_err(|e| tally.fail("kv", e))
}

/// Removes everything about `email_ids`; answers warnings for the operator.
async fn erase(ctx: &Ctx, email_ids: Vec<String>, tally: &mut Tally) -> Vec<String> {
    let mut found = Found {
        email_ids,
        ..Found::default()
    };
    // Keys that name what else to erase and could not be read stay for the next run.
    let mut keep: Vec<String> = Vec::new();
    for id in &found.email_ids {
        match ctx.stores.archived_email(id).await {
            Ok(record) => found.archives.extend(record),
            Err(e) => tally.fail("journal", e),
        }
        let key = email_archive_key(id);
        match read(ctx, &key, tally).await {
            Ok(text) => found
                .archives
                .extend(text.and_then(|t| serde_json::from_str(&t).ok())),
            Err(()) => keep.push(key),
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
    for id in found.delivery_ids() {
        match ctx.stores.archived_delivery(&id).await {
            Ok(record) => bodies.extend(record.map(|a| a.body_key)),
            Err(e) => tally.fail("journal", e),
        }
    }
    for key in found.delivery_archive_keys() {
        match read(ctx, &key, tally).await {
            Ok(text) => bodies.extend(
                text.and_then(|t| serde_json::from_str::<ArchivedDelivery>(&t).ok())
                    .map(|a| a.body_key),
            ),
            Err(()) => keep.push(key),
        }
    }
    let (mut objects, mut pairs) = (Vec::new(), Vec::new());
    for (i, key) in bodies.iter().enumerate() {
        if bodies[..i].contains(key) {
            continue;
        }
        match ctx
            .stores
            .body(key)
            .await
            .map_err(|e| tally.fail("bodies", e))
        {
            Ok(Some(text)) => {
                let (o, p) = link_keys(&text);
                for (all, new) in [(&mut objects, o), (&mut pairs, p)] {
                    for key in new {
                        if !all.contains(&key) {
                            all.push(key);
                        }
                    }
                }
            }
            Ok(None) => {}
            Err(()) => keep.push(key.clone()),
        }
    }
    let r2_done = erase_r2(ctx, &objects, tally, &mut warnings).await;
    let pairs_done = erase_pairs(ctx, &pairs, tally).await;
    if !(r2_done && pairs_done) {
        // The bodies are the only record of the links: kept until their copies are gone.
        keep.extend(bodies.iter().cloned());
    }
    if keep.is_empty() {
        // The journal's log entries were counted when read; its records and bodies are
        // counted here.
        let call = JournalCall::Erase {
            email_ids: found.email_ids.clone(),
        };
        match ctx.stores.journal.call(call).await {
            Ok(reply) => {
                tally.removed.archives += reply.erased["archive_records"].as_u64().unwrap_or(0);
                tally.removed.bodies += reply.erased["bodies"].as_u64().unwrap_or(0);
            }
            Err(e) => tally.fail("journal", e),
        }
    }
    for (key, what) in found.kv_keys(&bodies) {
        if keep.contains(&key) {
            continue;
        }
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
    tally.removed.parked += erase_parked(ctx, &targets, &found.email_ids, tally).await;
    warnings
}

/// Log entries of the e-mails, from the journal (read here, removed with the e-mails' records),
/// Redis (LREM of the exact values) and KV.
async fn erase_log(ctx: &Ctx, email_ids: &[String], tally: &mut Tally) -> Vec<LogEntry> {
    let doomed = |e: &LogEntry| email_ids.contains(&e.email_id);
    let mut entries = Vec::new();
    for id in email_ids {
        let query = LogQuery {
            days: 30,
            email_id: Some(id.clone()),
            limit: MAX_LOG_LIMIT as usize,
            ..LogQuery::default()
        };
        let call = JournalCall::Recent {
            query,
            now_ms: now_ms(),
        };
        match ctx.stores.journal.call(call).await {
            Ok(reply) => entries.extend(reply.entries),
            Err(e) => tally.fail("journal", e),
        }
    }
    if let Some(redis) = &ctx.stores.redis {
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

/// R2 copies of the links, through r2-fetch (whether offload is on now or not); false when
/// r2-fetch failed.
async fn erase_r2(
    ctx: &Ctx,
    keys: &[String],
    tally: &mut Tally,
    warnings: &mut Vec<String>,
) -> bool {
    if keys.is_empty() {
        return true;
    }
    let before = tally.failed.len();
    let Some(r2) = ctx.r2_fetch_binding() else {
        warnings.push("no R2_FETCH service binding: R2 copies were not looked for".into());
        return true;
    };
    match r2.delete_objects(keys).await {
        Ok(n) => tally.removed.r2_objects += n,
        Err(e) => tally.fail("r2", e),
    }
    tally.failed.len() == before
}

/// Link pairs, in Redis and KV (a pair counts once, wherever it was); false when a store
/// failed.
async fn erase_pairs(ctx: &Ctx, keys: &[String], tally: &mut Tally) -> bool {
    let before = tally.failed.len();
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
    tally.failed.len() == before
}

/// Parked deliveries of the e-mails, asked of the object of each target they were sent to.
async fn erase_parked(
    ctx: &Ctx,
    target_urls: &[String],
    email_ids: &[String],
    tally: &mut Tally,
) -> u64 {
    let mut erased = 0;
    let mut asked: Vec<&String> = Vec::new();
    let call = TargetCall::Erase {
        email_ids: email_ids.to_vec(),
    };
    for url in target_urls {
        if asked.contains(&url) {
            continue;
        }
        asked.push(url);
        match ctx.targets().call(url, &call).await {
            Ok(reply) => erased += reply.erased,
            Err(e) => tally.fail("parked deliveries", e),
        }
    }
    erased
}

/// Writes the audit entry and answers: 200 when every store answered, else 503 with what was
/// removed so far (running it again finishes the work).
async fn answer(
    ctx: &Ctx,
    actor: Actor,
    (kind, subject): (ErasureKind, &str),
    emails: u64,
    more: bool,
    mut tally: Tally,
    warnings: Vec<String>,
) -> Result<Response, ApiError> {
    let complete = tally.failed.is_empty();
    let event = AuditEvent::erasure(kind, subject, emails, tally.removed, complete);
    let audit_id = match ctx.try_audit(&actor, event).await {
        Ok(entry) => Some(entry.id),
        Err(e) => {
            tally.fail("audit", e);
            None
        }
    };
    let mut body = json!({
        "success": tally.failed.is_empty(), "kind": kind, "emails": emails,
        "more": more, "removed": tally.removed, "warnings": warnings,
        "audit_id": audit_id,
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
