//! The admin API (bearer `ADMIN_TOKEN`): delivery logs, configuration documents, dead letters.

use serde_json::{json, Map, Value};
use worker::{console_error, Request, Response};

use super::app::App;
use super::http::{json, read_body_limited};
use super::net::now_ms;
use super::queues::{resend_process_job, send_retry, send_text};
use crate::domain::api::{int_param, query_pairs, ConfigDoc};
use crate::domain::config::{apply_update, bindings, check_window, DocMaps};
use crate::domain::error::ApiError;
use crate::domain::fallback::updated_at;
use crate::domain::ingest::parse_ingest;
use crate::domain::log::{LogQuery, MAX_LOG_LIMIT};
use crate::domain::mask::{mask_url, target_label};
use crate::domain::messages::{DeadJob, DeadLetter, DEAD_LETTER_PREFIX};
use crate::domain::pipeline::{deliveries, plan, Plan};
use crate::domain::ports::{KeyValueStore, StoreError};
use crate::domain::routing::{validate_rules, RoutingRules};
use crate::domain::time::{iso_utc, parse_iso};

/// Largest admin request body.
const ADMIN_BODY_LIMIT: u64 = 256 * 1024;
/// Largest dry-run body, as the ingest's largest.
const MAX_EMAIL_MB: u32 = 25;

/// The query pairs of a request. Read from the raw URL string: parsing it with the `url` crate
/// would link its IDNA tables for nothing.
fn query_of(req: &Request) -> Vec<(String, String)> {
    let url = req.inner().url();
    let without_fragment = url.split('#').next().unwrap_or("");
    without_fragment
        .split_once('?')
        .map(|(_, q)| query_pairs(q))
        .unwrap_or_default()
}

fn store_unavailable(what: &str, e: StoreError) -> ApiError {
    console_error!("admin: {what}: {e}");
    ApiError::unavailable(what)
}

/// `GET /api/webhook_logs?days=&status=&limit=&email_id=&delivery_id=`
pub async fn webhook_logs(app: &App, req: Request) -> Result<Response, ApiError> {
    app.require_admin(&req)?;
    let query = LogQuery::parse(&query_of(&req))?;
    let logs = read_logs(app, &query).await?;
    Ok(json(
        200,
        &json!({"success": true, "count": logs.len(), "logs": logs}),
    ))
}

async fn read_logs(
    app: &App,
    query: &LogQuery,
) -> Result<Vec<crate::domain::log::LogEntry>, ApiError> {
    app.stores
        .log
        .recent(query, now_ms())
        .await
        .map_err(|e| store_unavailable("Log stores", e))
}

async fn stored_documents(app: &App) -> Result<DocMaps, ApiError> {
    app.stores
        .load_documents()
        .await
        .map_err(|e| store_unavailable("Configuration store", e))
}

async fn read_json(req: &mut Request) -> Result<Value, ApiError> {
    let bytes = read_body_limited(req, ADMIN_BODY_LIMIT).await?;
    serde_json::from_slice(&bytes).map_err(|_| ApiError::invalid_json())
}

/// Loads the routing rules (none when never saved).
pub async fn load_rules(app: &App) -> Result<RoutingRules, StoreError> {
    let raw = app
        .stores
        .docs
        .get_freshest(&ConfigDoc::RoutingRules.store_key(), updated_at)
        .await?;
    let Some(raw) = raw else {
        return Ok(RoutingRules::default());
    };
    let parsed = serde_json::from_str::<Value>(&raw)
        .map_err(|e| e.to_string())
        .and_then(|v| validate_rules(&v).map_err(|e| e.message));
    Ok(parsed.unwrap_or_else(|e| {
        console_error!("routing rules: stored document invalid ({e}); no rule applies");
        RoutingRules::default()
    }))
}

fn effective(app: &App, stored: &DocMaps, doc: ConfigDoc) -> Value {
    let mut map = app.settings.documents(stored).to_map(doc);
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
pub async fn config_get(app: &App, req: Request, doc: ConfigDoc) -> Result<Response, ApiError> {
    app.require_admin(&req)?;
    let config = if doc == ConfigDoc::RoutingRules {
        let rules = load_rules(app)
            .await
            .map_err(|e| store_unavailable("Configuration store", e))?;
        serde_json::to_value(&rules).map_err(|_| ApiError::internal())?
    } else {
        let stored = stored_documents(app).await?;
        effective(app, &stored, doc)
    };
    Ok(json(200, &json!({"success": true, "config": config})))
}

/// `PUT /api/<document>` (POST accepted too): fields given replace the stored ones, `null`
/// resets a field to its default; routing rules are replaced as a whole.
pub async fn config_put(app: &App, mut req: Request, doc: ConfigDoc) -> Result<Response, ApiError> {
    app.require_admin(&req)?;
    let update = read_json(&mut req).await?;
    if doc == ConfigDoc::RoutingRules {
        let rules = validate_rules(&update)?;
        let mut map = match serde_json::to_value(&rules) {
            Ok(Value::Object(m)) => m,
            _ => return Err(ApiError::internal()),
        };
        map.remove("_updated_at");
        let saved = app
            .stores
            .save_doc(doc, map)
            .await
            .map_err(|e| store_unavailable("Configuration store", e))?;
        return Ok(json(200, &json!({"success": true, "config": saved})));
    }
    let mut stored = stored_documents(app).await?;
    let mut merged = apply_update(doc, stored.get(doc), &update)?;
    merged.remove("_updated_at");
    let mut candidate = stored.clone();
    *candidate.get_mut(doc) = merged.clone();
    check_window(&app.settings.documents(&candidate).webhook)?;
    let saved = app
        .stores
        .save_doc(doc, merged)
        .await
        .map_err(|e| store_unavailable("Configuration store", e))?;
    *stored.get_mut(doc) = saved;
    Ok(json(
        200,
        &json!({"success": true, "config": effective(app, &stored, doc)}),
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

/// `GET /api/dead_letters?limit=`
pub async fn dead_letters(app: &App, req: Request) -> Result<Response, ApiError> {
    app.require_admin(&req)?;
    let limit = int_param(&query_of(&req), "limit", 100, 1, 1000)?;
    let page = app
        .stores
        .blobs
        .0
        .list()
        .prefix(DEAD_LETTER_PREFIX.to_string())
        .limit(limit)
        .execute()
        .await
        .map_err(|e| store_unavailable("Dead-letter store", StoreError(e.to_string())))?;
    let mut items = Vec::new();
    for key in page.keys {
        if let Ok(Some(text)) = app.stores.blobs.get(&key.name).await {
            if let Ok(dead) = serde_json::from_str::<DeadLetter>(&text) {
                items.push(dead_letter_summary(&dead));
            }
        }
    }
    Ok(json(
        200,
        &json!({"success": true, "count": items.len(), "dead_letters": items}),
    ))
}

/// `POST /api/dead_letters/<id>/replay`: queues the job again with a fresh attempt count.
pub async fn dead_letter_replay(app: &App, req: Request, id: &str) -> Result<Response, ApiError> {
    app.require_admin(&req)?;
    let key = format!("{DEAD_LETTER_PREFIX}{id}");
    let text = app
        .stores
        .blobs
        .get(&key)
        .await
        .map_err(|e| store_unavailable("Dead-letter store", e))?;
    let dead: DeadLetter = text
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| ApiError::no_such("dead letter", id))?;
    let sent = match &dead.job {
        DeadJob::Delivery(job) => {
            send_retry(
                app,
                &crate::domain::messages::DeliveryJob {
                    attempt: 1,
                    spill_misses: 0,
                    ..job.clone()
                },
                0,
            )
            .await
        }
        DeadJob::Process(job) => {
            resend_process_job(
                app,
                &crate::domain::messages::ProcessJob {
                    held_until_ms: None,
                    spill_misses: 0,
                    ..job.clone()
                },
                0,
            )
            .await
        }
        DeadJob::Unreadable { text } => {
            send_text(app, bindings::PROCESS_QUEUE, text.clone(), 0).await
        }
    };
    sent.map_err(|e| {
        console_error!("replay {id}: {e}");
        ApiError::unavailable("Queue")
    })?;
    if let Err(e) = app.stores.blobs.delete(&key).await {
        console_error!("replay {id}: queued, dead letter not deleted: {e}");
    }
    Ok(json(
        202,
        &json!({"success": true, "status": "replayed", "id": id}),
    ))
}

/// `POST /api/test/dry_run`: takes an e-mail as the ingest does (plus optional `routing_rules`,
/// a document to try instead of the saved rules, and `now`, an RFC 3339 instant) and answers
/// what would happen, without sending, marking or logging anything.
pub async fn dry_run(app: &App, mut req: Request) -> Result<Response, ApiError> {
    app.require_admin(&req)?;
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
        _ => load_rules(app)
            .await
            .map_err(|e| store_unavailable("Configuration store", e))?,
    };
    let stored = stored_documents(app).await?;
    let docs = app.settings.documents(&stored);
    let plan = plan(&email, &docs, &rules, now, app.settings.timezone);
    let analysis = plan.analysis().clone();
    let mut out = json!({
        "success": true,
        "email_id": email.email_id,
        "sender_email": email.sender_email,
        "detector": analysis.detector,
        "delivery_time": analysis.delivery_time,
        "delivery_links": analysis.links,
        "evaluated_at": iso_utc(now),
        "r2_offload": if app.settings.r2_fetch_enabled { "not simulated: links would be offloaded before sending" } else { "disabled" },
    });
    let extra = match &plan {
        Plan::Deliver {
            analysis,
            window,
            route,
        } => {
            let planned = deliveries(&email, analysis, window, &route.targets);
            json!({
                "decision": "deliver",
                "matched_rule": route.matched_rule.as_ref().map(|(id, name)| json!({"id": id, "name": name})),
                "priority": route.priority,
                "deliveries": planned.iter().map(|p| json!({
                    "delivery_id": p.delivery_id,
                    "webhook_url": mask_url(&p.target_url),
                    "target_url": target_label(&p.target_url),
                    "payload": p.payload,
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
pub async fn stats(app: &App, req: Request) -> Result<Response, ApiError> {
    app.require_admin(&req)?;
    let days = int_param(&query_of(&req), "days", 7, 1, 30)?;
    let query = LogQuery {
        days,
        status: None,
        email_id: None,
        delivery_id: None,
        limit: MAX_LOG_LIMIT as usize * 10,
    };
    let logs = read_logs(app, &query).await?;
    let stats = crate::domain::stats::compute(&logs);
    Ok(json(
        200,
        &json!({"success": true, "days": days, "stats": stats}),
    ))
}
