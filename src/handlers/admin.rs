//! The admin API (bearer `ADMIN_TOKEN` or a console session): delivery logs, configuration
//! documents, delivery replay, the dry run and statistics.

use serde_json::{json, Value};
use worker::{Request, Response};

use crate::adapters::net::{now_ms, wasm_memory_bytes};
use crate::context::{Admin, Ctx};
use crate::http::{json, query_of, read_body_limited, OrUnavailable};
use facteur_core::analysis::pipeline::{deliveries, plan, Plan};
use facteur_core::analysis::routing::{validate_rules_for, RoutingRules, RULES_BUDGET};
use facteur_core::base::mask::{mask_url, target_label};
use facteur_core::base::query::int_param;
use facteur_core::base::time::{iso_utc, parse_iso};
use facteur_core::config::ConfigDoc;
use facteur_core::config::{apply_update_for, check_window, field_views, DocMaps};
use facteur_core::error::{ApiError, ErrorCode};
use facteur_core::intake::ingest::parse_ingest;
use facteur_core::operator::redaction::{
    mask_document, mask_field_views, masked_rules, restore_document_url, restore_rule_urls,
};
use facteur_core::records::audit::{field_changes, rules_change, AuditEvent};
use facteur_core::store::log::{LogQuery, MAX_LOG_READ};

/// Largest admin request body.
const ADMIN_BODY_LIMIT: u64 = 256 * 1024;
/// Largest dry-run body, as the ingest's largest.
const MAX_EMAIL_MB: u32 = 25;

/// `GET /api/webhook_logs?days=&status=&limit=&offset=&email_id=&delivery_id=&detector=&target=`
/// newest first; `next_offset` is the offset of the next page, `null` on the last one.
pub async fn webhook_logs(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req).await?;
    let query = LogQuery::parse(&query_of(&req))?;
    // One entry more than the page tells whether another page follows.
    let probe = LogQuery {
        limit: query.limit + 1,
        ..query.clone()
    };
    let mut logs = read_logs(ctx, &probe).await?;
    let more = logs.len() > query.limit;
    logs.truncate(query.limit);
    Ok(json(
        200,
        &json!({
            "success": true, "count": logs.len(), "offset": query.offset,
            "next_offset": more.then_some(query.offset + query.limit), "logs": logs,
        }),
    ))
}

async fn read_logs(
    ctx: &Ctx,
    query: &LogQuery,
) -> Result<Vec<facteur_core::store::log::LogEntry>, ApiError> {
    ctx.stores
        .log
        .recent(query, now_ms())
        .await
        .or_unavailable("Log stores")
}

async fn stored_documents(ctx: &Ctx) -> Result<DocMaps, ApiError> {
    ctx.stores
        .load_documents()
        .await
        .or_unavailable("Configuration store")
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

/// The effective document as served; `webhook_url` masked for the console.
fn effective(ctx: &Ctx, stored: &DocMaps, doc: ConfigDoc, admin: &Admin) -> Value {
    let mut map = ctx.settings.documents(stored).to_map(doc);
    if matches!(admin, Admin::Session(_)) {
        mask_document(&mut map);
    }
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

async fn stored_rules(ctx: &Ctx) -> Result<RoutingRules, ApiError> {
    ctx.stores
        .load_rules()
        .await
        .or_unavailable("Configuration store")
}

/// The rules as served: their URLs masked for the console.
fn rules_value(rules: &RoutingRules, admin: &Admin) -> Result<Value, ApiError> {
    let shown = match admin {
        Admin::Session(_) => serde_json::to_value(masked_rules(rules)),
        Admin::Token => serde_json::to_value(rules),
    };
    shown.map_err(|_| ApiError::internal())
}

/// `GET /api/<document>`
pub async fn config_get(ctx: &Ctx, req: Request, doc: ConfigDoc) -> Result<Response, ApiError> {
    let admin = ctx.require_admin(&req).await?;
    let config = if doc == ConfigDoc::RoutingRules {
        rules_value(&stored_rules(ctx).await?, &admin)?
    } else {
        let stored = stored_documents(ctx).await?;
        effective(ctx, &stored, doc, &admin)
    };
    Ok(json(200, &json!({"success": true, "config": config})))
}

/// `GET /api/settings`: the three gating documents, each field with its effective value, its
/// source (`stored`, `environment`, `built-in`), its fallback and its kind; URLs masked.
pub async fn settings_view(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req).await?;
    let stored = stored_documents(ctx).await?;
    let env = &ctx.settings.env_defaults;
    let docs: serde_json::Map<String, Value> = [
        ConfigDoc::WebhookConfig,
        ConfigDoc::ProcessingPrefs,
        ConfigDoc::RuntimeFlags,
    ]
    .into_iter()
    .map(|doc| {
        let mut fields = field_views(env, &stored, doc);
        mask_field_views(&mut fields);
        let updated = stored.get(doc).get("_updated_at").cloned();
        let view = json!({"fields": fields, "_updated_at": updated});
        (doc.name().to_string(), view)
    })
    .collect();
    Ok(json(200, &json!({"success": true, "documents": docs})))
}

/// `PUT /api/<document>` (POST accepted too): fields given replace the stored ones, `null`
/// resets a field to its default; routing rules are replaced as a whole. A masked webhook URL
/// sent back unchanged keeps the stored one (the console never sees URLs in full). Every save
/// is audited: the fields (or rules) that changed, with hashes of their values.
pub async fn config_put(ctx: &Ctx, mut req: Request, doc: ConfigDoc) -> Result<Response, ApiError> {
    let admin = ctx.require_admin(&req).await?;
    let mut update = read_json(&mut req).await?;
    let policy = ctx.settings.target_policy();
    if doc == ConfigDoc::RoutingRules {
        let before = stored_rules(ctx).await?;
        restore_rule_urls(&mut update, &before)?;
        let rules = validate_rules_for(&update, policy)?;
        let mut map = match serde_json::to_value(&rules) {
            Ok(Value::Object(m)) => m,
            _ => return Err(ApiError::internal()),
        };
        map.remove("_updated_at");
        let saved = ctx
            .stores
            .save_doc(doc, map)
            .await
            .or_unavailable("Configuration store")?;
        let saved = RoutingRules {
            updated_at: saved
                .get("_updated_at")
                .and_then(Value::as_str)
                .map(str::to_string),
            ..rules
        };
        let never_saved = before.updated_at.is_none() && before.rules.is_empty();
        let event = rules_change((!never_saved).then_some(&before), &saved);
        ctx.audit(&req, &admin, event).await;
        return Ok(json(
            200,
            &json!({"success": true, "config": rules_value(&saved, &admin)?}),
        ));
    }
    let mut stored = stored_documents(ctx).await?;
    let current_url = ctx.settings.documents(&stored).webhook.webhook_url;
    restore_document_url(doc, &mut update, current_url.as_deref())?;
    let mut merged = apply_update_for(doc, stored.get(doc), &update, policy)?;
    merged.remove("_updated_at");
    let mut candidate = stored.clone();
    *candidate.get_mut(doc) = merged.clone();
    check_window(&ctx.settings.documents(&candidate).webhook)?;
    let saved = ctx
        .stores
        .save_doc(doc, merged)
        .await
        .or_unavailable("Configuration store")?;
    let event = AuditEvent::ConfigChanged {
        document: doc.name().to_string(),
        fields: field_changes(stored.get(doc), &saved),
    };
    ctx.audit(&req, &admin, event).await;
    *stored.get_mut(doc) = saved;
    Ok(json(
        200,
        &json!({"success": true, "config": effective(ctx, &stored, doc, &admin)}),
    ))
}

/// `POST /api/test/dry_run`: takes an e-mail as the ingest does (plus optional `routing_rules`,
/// a document to try instead of the saved rules, and `now`, an RFC 3339 instant) and answers
/// what would happen, without sending, marking or logging anything.
pub async fn dry_run(ctx: &Ctx, mut req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req).await?;
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
        Some(draft) if !draft.is_null() => {
            // A draft from the console carries the saved rules' URLs masked.
            let mut draft = draft.clone();
            restore_rule_urls(&mut draft, &stored_rules(ctx).await?)?;
            validate_rules_for(&draft, ctx.settings.target_policy())?
        }
        _ => stored_rules(ctx).await?,
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
    ctx.require_admin(&req).await?;
    let days = int_param(&query_of(&req), "days", 7, 1, 30)?;
    let query = LogQuery {
        days,
        limit: MAX_LOG_READ,
        ..LogQuery::default()
    };
    let logs = read_logs(ctx, &query).await?;
    let stats = facteur_core::operator::stats::compute(&logs);
    Ok(json(
        200,
        &json!({"success": true, "days": days, "stats": stats}),
    ))
}

/// `GET /api/runtime`: the isolate's wasm memory, whose size is the high-water mark of all it
/// processed (the memory figures of docs/figures.md come from it).
pub async fn runtime(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req).await?;
    Ok(json(
        200,
        &json!({"success": true, "wasm_memory_bytes": wasm_memory_bytes()}),
    ))
}
