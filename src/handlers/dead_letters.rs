//! Dead letters: the list (`GET /api/dead_letters`, with filters), the replay of one
//! (`POST /api/dead_letters/<id>/replay`) and of every one a filter selects
//! (`POST /api/dead_letters/replay`, `?dry_run=true` to count them first). What is shown and
//! selected is the core's (`dead_letters`). Replays of deliveries are within their target's
//! replay budget (`delivery::replay_budget`; an e-mail processed again is not a delivery and
//! is not counted); every replay is audited.

use serde_json::{json, Value};
use worker::{console_error, Request, Response};

use crate::context::{Admin, Ctx};
use crate::http::{error_with, json, query_of, read_body_limited, OrUnavailable};
use facteur_core::base::query::int_param;
use facteur_core::base::query::str_param;
use facteur_core::config::{bindings, parse_bool};
use facteur_core::error::ApiError;
use facteur_core::jobs::dead_letter::DeadJob;
use facteur_core::jobs::dead_letter::DeadLetter;
use facteur_core::jobs::dead_letter::DEAD_LETTER_PREFIX;
use facteur_core::operator::dead_letters::{summary, DeadFilter};
use facteur_core::records::audit::{dead_letter_ref, filter_view, AuditEvent};
use facteur_core::store::ports::KeyValueStore;

/// Most dead letters one call lists or selects.
const MAX_DEAD_LETTERS: usize = 500;
/// Most dead-letter records a list reads: a KV `get` each, within the 1,000 KV operations an
/// invocation may make (the listing pages count too).
const MAX_READS: usize = 900;
/// Most records a bulk replay reads: with a delete per replayed one, still within 1,000.
const MAX_REPLAY_READS: usize = 500;
/// Most dead letters one bulk replay sends: each is a queue send and a KV delete, and a call
/// makes at most 1,000 subrequests. The answer says when more are left (`more`).
const MAX_BULK_REPLAY: usize = 400;
/// Largest filter body.
const FILTER_BODY_LIMIT: u64 = 64 * 1024;

/// What [`load`] found: the dead letters a filter selects, and the records that could not be
/// read (their id and why: never silently left out).
struct Loaded {
    items: Vec<DeadLetter>,
    unreadable: Vec<Value>,
}

/// Reads up to `max` dead letters that pass `filter` (KV keys in order, at most
/// `max_reads` records).
async fn load(
    ctx: &Ctx,
    filter: &DeadFilter,
    max: usize,
    max_reads: usize,
) -> Result<Loaded, ApiError> {
    let mut found = Loaded {
        items: Vec::new(),
        unreadable: Vec::new(),
    };
    // At most `max_reads` names (one listing page), then one read each, in key order.
    let keys = ctx
        .stores
        .blobs
        .keys(DEAD_LETTER_PREFIX, max_reads)
        .await
        .or_unavailable("Dead-letter store")?;
    for (name, _) in keys {
        let id = name.strip_prefix(DEAD_LETTER_PREFIX).unwrap_or(&name);
        let dead = match ctx.stores.blobs.get(&name).await {
            Ok(Some(text)) => match serde_json::from_str::<DeadLetter>(&text) {
                Ok(dead) => dead,
                Err(_) => {
                    found
                        .unreadable
                        .push(json!({"id": id, "problem": "not a dead-letter record"}));
                    continue;
                }
            },
            // Expired between the listing and the read.
            Ok(None) => continue,
            Err(e) => {
                console_error!("dead letter {id} unreadable: {e}");
                found
                    .unreadable
                    .push(json!({"id": id, "problem": "store read failed"}));
                continue;
            }
        };
        if filter.matches(&dead) {
            found.items.push(dead);
            if found.items.len() >= max {
                break;
            }
        }
    }
    Ok(found)
}

/// Queues a dead letter's job again (fresh attempt count, same delivery id) and drops it.
async fn replay(ctx: &Ctx, dead: &DeadLetter) -> Result<(), ApiError> {
    let id = dead.job.id();
    let producer = ctx.producer();
    let sent = match &dead.job {
        DeadJob::Delivery(job) => producer.send_delivery(&job.replayed(), 0).await,
        DeadJob::Process(job) => producer.resend_process_job(&job.replayed(), 0).await,
        DeadJob::Unreadable { text } => {
            producer
                .send_text(bindings::PROCESS_QUEUE, text.clone(), 0)
                .await
        }
    };
    sent.map_err(|e| {
        console_error!("replay {id}: {e}");
        ApiError::unavailable("Queue")
    })?;
    if let Err(e) = ctx
        .stores
        .blobs
        .delete(&format!("{DEAD_LETTER_PREFIX}{id}"))
        .await
    {
        console_error!("replay {id}: queued, dead letter not deleted: {e}");
    }
    Ok(())
}

/// `GET /api/dead_letters?limit=&kind=&reason=&email_id=&target=`
pub async fn list(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req).await?;
    let query = query_of(&req);
    let limit = int_param(&query, "limit", 100, 1, MAX_DEAD_LETTERS as u64)? as usize;
    let filter = DeadFilter::from_query(&query)?;
    let found = load(ctx, &filter, limit, MAX_READS).await?;
    let items: Vec<Value> = found.items.iter().map(summary).collect();
    Ok(json(
        200,
        &json!({"success": true, "count": items.len(), "dead_letters": items, "unreadable": found.unreadable}),
    ))
}

/// The target a dead letter's replay is budgeted under (a delivery's; none for an e-mail).
fn budgeted(dead: &DeadLetter) -> Option<&str> {
    match &dead.job {
        DeadJob::Delivery(job) => Some(job.target_url.as_str()),
        _ => None,
    }
}

/// `POST /api/dead_letters/<id>/replay`
pub async fn replay_one(ctx: &Ctx, req: Request, id: &str) -> Result<Response, ApiError> {
    let admin: Admin = ctx.require_admin(&req).await?;
    let text = ctx
        .stores
        .blobs
        .get(&format!("{DEAD_LETTER_PREFIX}{id}"))
        .await
        .or_unavailable("Dead-letter store")?;
    let dead: DeadLetter = text
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| ApiError::no_such("dead letter", id))?;
    let allotment = ctx.replay_allotment(&[budgeted(&dead)]).await?;
    if allotment.refused() > 0 {
        let retry = allotment.retry_after_secs().unwrap_or(60);
        let e = ApiError::replay_budget(retry, ctx.settings.replay_per_minute);
        return Ok(error_with(&e, json!({"budget": allotment.per_target})));
    }
    replay(ctx, &dead).await?;
    let event = AuditEvent::DeadLetterReplayed {
        id: dead_letter_ref(id),
    };
    ctx.audit(&req, &admin, event).await;
    Ok(json(
        202,
        &json!({"success": true, "status": "replayed", "id": id, "budget": allotment.per_target}),
    ))
}

/// `POST /api/dead_letters/replay[?dry_run=true]` with the filter as the JSON body (`{}`: all).
/// A dry run answers `{count, items}` and sends nothing; otherwise up to 400 selected dead
/// letters are replayed and the answer says which were, which failed, and whether more are left.
pub async fn replay_matching(ctx: &Ctx, mut req: Request) -> Result<Response, ApiError> {
    let admin: Admin = ctx.require_admin(&req).await?;
    let bytes = read_body_limited(&mut req, FILTER_BODY_LIMIT).await?;
    let dry_run = match str_param(&query_of(&req), "dry_run") {
        None => false,
        Some(v) => parse_bool(v)
            .ok_or_else(|| ApiError::invalid_query("dry_run", "must be true or false"))?,
    };
    // The filter is required: `{}` selects every dead letter, an empty body is a mistake.
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| ApiError::invalid_json())?;
    let filter = DeadFilter::from_json(&body)?;
    let selected = load(ctx, &filter, MAX_DEAD_LETTERS, MAX_REPLAY_READS)
        .await?
        .items;
    if dry_run {
        let items: Vec<Value> = selected.iter().map(summary).collect();
        return Ok(json(
            200,
            &json!({"success": true, "dry_run": true, "count": items.len(), "items": items}),
        ));
    }
    let batch = &selected[..selected.len().min(MAX_BULK_REPLAY)];
    let targets: Vec<Option<&str>> = batch.iter().map(budgeted).collect();
    let allotment = ctx.replay_allotment(&targets).await?;
    let mut replayed = Vec::new();
    let mut failed = Vec::new();
    let mut refused = Vec::new();
    for (dead, go) in batch.iter().zip(&allotment.send) {
        if !go {
            refused.push(json!({"id": dead.job.id(), "reason": "replay_budget"}));
            continue;
        }
        match replay(ctx, dead).await {
            Ok(()) => replayed.push(Value::String(dead.job.id())),
            Err(e) => failed.push(json!({"id": dead.job.id(), "message": e.message})),
        }
    }
    let event = AuditEvent::DeadLettersReplayed {
        filter: filter_view(&body),
        selected: batch.len() as u64,
        sent: replayed.len() as u64,
        refused: refused.len() as u64,
        failed: failed.len() as u64,
    };
    ctx.audit(&req, &admin, event).await;
    let answer = json!({
        "success": failed.is_empty(), "dry_run": false, "count": batch.len(),
        "replayed": replayed, "failed": failed, "more": selected.len() > batch.len(),
        "refused": refused, "budget": allotment.per_target,
        "retry_after_secs": allotment.retry_after_secs(),
    });
    if allotment.sent() == 0 && allotment.refused() > 0 {
        let retry = allotment.retry_after_secs().unwrap_or(60);
        let e = ApiError::replay_budget(retry, ctx.settings.replay_per_minute);
        return Ok(error_with(&e, answer));
    }
    Ok(json(202, &answer))
}
