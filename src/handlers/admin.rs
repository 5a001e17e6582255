//! The admin API (bearer `ADMIN_TOKEN`): delivery logs, configuration documents, dead letters.

use serde_json::{json, Map, Value};
use worker::{console_error, Request, Response};

use crate::adapters::net::{now_ms, wasm_memory_bytes};
use crate::context::Ctx;
use crate::http::{json, query_of, read_body_limited};
use facteur_core::api::{int_param, ConfigDoc};
use facteur_core::config::{apply_update, bindings, check_window, DocMaps};
use facteur_core::error::{ApiError, ErrorCode};
use facteur_core::ingest::parse_ingest;
use facteur_core::log::{LogQuery, MAX_LOG_READ};
use facteur_core::mask::{mask_url, target_label};
use facteur_core::messages::{
    archive_key, ArchivedDelivery, DeadJob, DeadLetter, DEAD_LETTER_PREFIX,
};
use facteur_core::pipeline::{deliveries, plan, Plan};
use facteur_core::ports::{KeyValueStore, StoreError};
use facteur_core::routing::{validate_rules, RULES_BUDGET};
use facteur_core::time::{iso_utc, parse_iso};

/// Largest admin request body.
const ADMIN_BODY_LIMIT: u64 = 256 * 1024;
/// Largest dry-run body, as the ingest's largest.
const MAX_EMAIL_MB: u32 = 25;

fn store_unavailable(what: &str, e: StoreError) -> ApiError {
    console_error!("admin: {what}: {e}");
    ApiError::unavailable(what)
}

/// `GET /api/webhook_logs?days=&status=&limit=&email_id=&delivery_id=`
pub async fn webhook_logs(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req)?;
    let query = LogQuery::parse(&query_of(&req))?;
    let logs = read_logs(ctx, &query).await?;
    Ok(json(
        200,
        &json!({"success": true, "count": logs.len(), "logs": logs}),
    ))
}

async fn read_logs(
    ctx: &Ctx,
    query: &LogQuery,
) -> Result<Vec<facteur_core::log::LogEntry>, ApiError> {
    ctx.stores
        .log
        .recent(query, now_ms())
        .await
        .map_err(|e| store_unavailable("Log stores", e))
}

async fn stored_documents(ctx: &Ctx) -> Result<DocMaps, ApiError> {
    ctx.stores
        .load_documents()
        .await
        .map_err(|e| store_unavailable("Configuration store", e))
}

async fn read_json(req: &mut Request) -> Result<Value, ApiError> {
    let bytes = read_body_limited(req, ADMIN_BODY_LIMIT)
        .await
        .map_err(|e| match e.code {
            ErrorCode::PayloadTooLarge => {
                ApiError::too_large_for(ADMIN_BODY_LIMIT, "configuration documents")
            }
            _ => e,
        })?;
    serde_json::from_slice(&bytes).map_err(|_| ApiError::invalid_json())
}

fn effective(ctx: &Ctx, stored: &DocMaps, doc: ConfigDoc) -> Value {
    let mut map = ctx.settings.documents(stored).to_map(doc);
    map.insert(
        "_updated_at".into(),
        stored
            .get(doc)
            .get("_updated_at")
            .cloned()
            .unwrap_or(Value::Null),
    );
    Value::Object(map)
}

/// `GET /api/<document>`
pub async fn config_get(ctx: &Ctx, req: Request, doc: ConfigDoc) -> Result<Response, ApiError> {
    ctx.require_admin(&req)?;
    let config = if doc == ConfigDoc::RoutingRules {
        let rules = ctx
            .stores
            .load_rules()
            .await
            .map_err(|e| store_unavailable("Configuration store", e))?;
        serde_json::to_value(&rules).map_err(|_| ApiError::internal())?
    } else {
        let stored = stored_documents(ctx).await?;
        effective(ctx, &stored, doc)
    };
    Ok(json(200, &json!({"success": true, "config": config})))
}

/// `PUT /api/<document>` (POST accepted too): fields given replace the stored ones, `null`
/// resets a field to its default; routing rules are replaced as a whole.
pub async fn config_put(ctx: &Ctx, mut req: Request, doc: ConfigDoc) -> Result<Response, ApiError> {
    ctx.require_admin(&req)?;
    let update = read_json(&mut req).await?;
    if doc == ConfigDoc::RoutingRules {
        let rules = validate_rules(&update)?;
        let mut map = match serde_json::to_value(&rules) {
            Ok(Value::Object(m)) => m,
            _ => return Err(ApiError::internal()),
        };
        map.remove("_updated_at");
        let saved = ctx
            .stores
            .save_doc(doc, map)
            .await
            .map_err(|e| store_unavailable("Configuration store", e))?;
        return Ok(json(200, &json!({"success": true, "config": saved})));
    }
    let mut stored = stored_documents(ctx).await?;
    let mut merged = apply_update(doc, stored.get(doc), &update)?;
    merged.remove("_updated_at");
    let mut candidate = stored.clone();
    *candidate.get_mut(doc) = merged.clone();
    check_window(&ctx.settings.documents(&candidate).webhook)?;
    let saved = ctx
        .stores
        .save_doc(doc, merged)
        .await
        .map_err(|e| store_unavailable("Configuration store", e))?;
    *stored.get_mut(doc) = saved;
    Ok(json(
        200,
        &json!({"success": true, "config": effective(ctx, &stored, doc)}),
    ))
}

fn dead_letter_summary(dead: &DeadLetter) -> Value {
    let mut v = json!({
        "id": dead.job.id(),
        "reason": dead.reason,
        "error": dead.error,
        "dead_at": iso_utc(dead.dead_at_ms),
    });
    let extra: Map<String, Value> = match &dead.job {
        DeadJob::Delivery(j) => json!({
            "kind": "delivery", "email_id": j.email_id, "delivery_id": j.delivery_id,
            "webhook_url": mask_url(&j.target_url), "target_url": target_label(&j.target_url), "attempts": j.attempt,
        }),
        DeadJob::Process(j) => json!({"kind": "email", "email_id": j.email_id}),
        DeadJob::Unreadable { .. } => json!({"kind": "unreadable"}),
    }
    .as_object()
    .cloned()
    .unwrap_or_default();
    if let Value::Object(m) = &mut v {
        m.extend(extra);
    }
    v
}

/// Most dead letters listed at once: one KV `list` and one `get` each must stay within the
/// KV operations an invocation may make (1,000).
const MAX_DEAD_LETTERS_LISTED: u64 = 500;

/// `GET /api/dead_letters?limit=`: the dead letters, and the ones that could not be read
/// (`unreadable`: the id and why), never silently left out.
pub async fn dead_letters(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req)?;
    let limit = int_param(&query_of(&req), "limit", 100, 1, MAX_DEAD_LETTERS_LISTED)?;
    let page = ctx
        .stores
        .blobs
        .0
        .list()
        .prefix(DEAD_LETTER_PREFIX.to_string())
        .limit(limit)
        .execute()
        .await
        .map_err(|e| store_unavailable("Dead-letter store", StoreError(e.to_string())))?;
    let (mut items, mut unreadable) = (Vec::new(), Vec::new());
    for key in page.keys {
        let id = key
            .name
            .strip_prefix(DEAD_LETTER_PREFIX)
            .unwrap_or(&key.name);
        match ctx.stores.blobs.get(&key.name).await {
            Ok(Some(text)) => match serde_json::from_str::<DeadLetter>(&text) {
                Ok(dead) => items.push(dead_letter_summary(&dead)),
                Err(_) => unreadable.push(json!({"id": id, "problem": "not a dead-letter record"})),
            },
            // Expired between the listing and the read.
            Ok(None) => {}
            Err(e) => {
                console_error!("dead letter {id} unreadable: {e}");
                unreadable.push(json!({"id": id, "problem": "store read failed"}));
            }
        }
    }
    Ok(json(
        200,
        &json!({"success": true, "count": items.len(), "dead_letters": items, "unreadable": unreadable}),
    ))
}

/// `POST /api/dead_letters/<id>/replay`: queues the job again with a fresh attempt count.
pub async fn dead_letter_replay(ctx: &Ctx, req: Request, id: &str) -> Result<Response, ApiError> {
    ctx.require_admin(&req)?;
    let key = format!("{DEAD_LETTER_PREFIX}{id}");
    let text = ctx
        .stores
        .blobs
        .get(&key)
        .await
        .map_err(|e| store_unavailable("Dead-letter store", e))?;
    let dead: DeadLetter = text
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| ApiError::no_such("dead letter", id))?;
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
    if let Err(e) = ctx.stores.blobs.delete(&key).await {
        console_error!("replay {id}: queued, dead letter not deleted: {e}");
    }
    Ok(json(
        202,
        &json!({"success": true, "status": "replayed", "id": id}),
    ))
}

/// `POST /api/deliveries/<delivery_id>/replay`: sends an archived delivery again, with its
/// payload as it was sent and its own delivery id (receivers drop the repeat if they had it).
pub async fn delivery_replay(ctx: &Ctx, req: Request, id: &str) -> Result<Response, ApiError> {
    ctx.require_admin(&req)?;
    let text = ctx
        .stores
        .blobs
        .get(&archive_key(id))
        .await
        .map_err(|e| store_unavailable("Delivery archive", e))?;
    let archived: ArchivedDelivery = text
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| ApiError::no_such("archived delivery (kept 14 days)", id))?;
    ctx.producer()
        .replay_archived(&archived)
        .await
        .map_err(|e| {
            console_error!("replay {id}: {e}");
            ApiError::unavailable("Delivery queue")
        })?;
    Ok(json(
        202,
        &json!({"success": true, "status": "replayed", "delivery_id": id}),
    ))
}

/// `POST /api/test/dry_run`: takes an e-mail as the ingest does (plus optional `routing_rules`,
/// a document to try instead of the saved rules, and `now`, an RFC 3339 instant) and answers
/// what would happen, without sending, marking or logging anything.
pub async fn dry_run(ctx: &Ctx, mut req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req)?;
    let bytes = read_body_limited(&mut req, u64::from(MAX_EMAIL_MB) * 1_000_000).await?;
    let input: Value = serde_json::from_slice(&bytes).map_err(|_| ApiError::invalid_json())?;
    let now = match input.get("now") {
        None | Some(Value::Null) => now_ms(),
        Some(v) => v.as_str().and_then(parse_iso).ok_or_else(|| {
            ApiError::invalid_field(
                "now",
                "expected an RFC 3339 instant such as 2026-05-04T09:30:00+02:00",
            )
        })?,
    };
    let email = parse_ingest(&bytes, now)?;
    let rules = match input.get("routing_rules") {
        Some(doc) if !doc.is_null() => validate_rules(doc)?,
        _ => ctx
            .stores
            .load_rules()
            .await
            .map_err(|e| store_unavailable("Configuration store", e))?,
    };
    let stored = stored_documents(ctx).await?;
    let docs = ctx.settings.documents(&stored);
    let plan = plan(&email, &docs, &rules, now, ctx.settings.timezone);
    let analysis = plan.analysis().clone();
    let mut out = json!({
        "success": true,
        "email_id": email.email_id,
        "sender_email": email.sender_email,
        "detector": analysis.detector,
        "delivery_time": analysis.delivery_time,
        "delivery_links": analysis.links,
        "links_dropped": analysis.links_dropped,
        "evaluated_at": iso_utc(now),
        "r2_offload": if ctx.settings.r2_fetch_enabled { "not simulated: links would be offloaded before sending" } else { "disabled" },
    });
    let extra = match &plan {
        Plan::Deliver {
            analysis,
            window,
            route,
        } => {
            let planned = deliveries(email.clone(), analysis, window, &route.targets);
            let payload = &planned.payload;
            json!({
                "decision": "deliver",
                "matched_rule": route.matched_rule.as_ref().map(|(id, name)| json!({"id": id, "name": name})),
                "priority": route.priority,
                "rules_budget": {"spent": route.budget_spent, "of": RULES_BUDGET, "exhausted": route.budget_exhausted},
                "deliveries": planned.deliveries.iter().map(|p| json!({
                    "delivery_id": p.delivery_id,
                    "webhook_url": mask_url(&p.target_url),
                    "target_url": target_label(&p.target_url),
                    "payload": payload,
                })).collect::<Vec<_>>(),
            })
        }
        Plan::Skip { reason, .. } => json!({"decision": "skip", "reason": reason.as_str()}),
        Plan::Hold {
            until_ms, reason, ..
        } => {
            json!({"decision": "hold", "reason": reason.as_str(), "held_until": iso_utc(*until_ms)})
        }
        Plan::NoTarget { .. } => {
            json!({"decision": "no_target", "reason": "no webhook URL configured (webhook_config.webhook_url or WEBHOOK_URL)"})
        }
    };
    if let (Value::Object(o), Value::Object(e)) = (&mut out, extra) {
        o.extend(e);
    }
    Ok(json(200, &out))
}

/// `GET /api/stats?days=7`: delivery statistics over the log.
pub async fn stats(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req)?;
    let days = int_param(&query_of(&req), "days", 7, 1, 30)?;
    let query = LogQuery {
        days,
        status: None,
        email_id: None,
        delivery_id: None,
        limit: MAX_LOG_READ,
    };
    let logs = read_logs(ctx, &query).await?;
    let stats = facteur_core::stats::compute(&logs);
    Ok(json(
        200,
        &json!({"success": true, "days": days, "stats": stats}),
    ))
}

/// `GET /api/runtime`: the isolate's wasm memory, whose size is the high-water mark of all it
/// processed (the memory figures of README come from it).
pub fn runtime(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req)?;
    Ok(json(
        200,
        &json!({"success": true, "wasm_memory_bytes": wasm_memory_bytes()}),
    ))
}
