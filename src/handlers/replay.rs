//! Replay of past deliveries: one by its id (`POST /api/deliveries/<delivery_id>/replay`), or in
//! bulk (`POST /api/deliveries/replay[?dry_run=true]`, the filter in the JSON body). The selection comes from the delivery log (both stores) and the archive; every
//! decision is the core's (`facteur_core::records::replay`). A dry run answers what a replay would send,
//! so its `count` is what the replay then sends, within each target's replay budget
//! (`delivery::replay_budget`): what the budget refuses is named with when to try again, and a
//! replay of which nothing could be sent is a 429. Every replay is audited.

use serde_json::{json, Value};
use worker::{console_error, Request, Response};

use crate::adapters::net::now_ms;
use crate::context::{Admin, Ctx};
use crate::http::{error_with, json, query_of, read_body_limited, OrUnavailable};
use facteur_core::base::query::str_param;
use facteur_core::config::parse_bool;
use facteur_core::delivery::replay_budget::Allotment;
use facteur_core::error::ApiError;
use facteur_core::jobs::blob::Blob;
use facteur_core::jobs::delivery::DeliveryJob;
use facteur_core::jobs::delivery::DeliveryMeta;
use facteur_core::records::archive::body_key;
use facteur_core::records::archive::ArchivedDelivery;
use facteur_core::records::archive::EmailArchive;
use facteur_core::records::audit::{filter_view, AuditEvent};
use facteur_core::records::replay::{
    reroute, reroute_item, reroute_sends, select, ReplayRequest, Rerouted, SelectedDelivery,
    Selection,
};

/// Largest filter body.
const FILTER_BODY_LIMIT: u64 = 64 * 1024;

/// `?dry_run=true|false` (absent: false), as the dead-letter bulk replay reads it.
fn dry_run(req: &Request) -> Result<bool, ApiError> {
    match str_param(&query_of(req), "dry_run") {
        None => Ok(false),
        Some(v) => {
            parse_bool(v).ok_or_else(|| ApiError::invalid_query("dry_run", "must be true or false"))
        }
    }
}

/// The archive record of each selected delivery (`None`: expired, or unreadable).
async fn archives(
    ctx: &Ctx,
    selected: &[SelectedDelivery],
) -> Result<Vec<Option<ArchivedDelivery>>, ApiError> {
    let ids: Vec<String> = selected.iter().map(|s| s.delivery_id.clone()).collect();
    ctx.stores
        .archived_deliveries(&ids)
        .await
        .or_unavailable("Delivery archive")
}

fn expired(s: &SelectedDelivery) -> Value {
    json!({"delivery_id": s.delivery_id, "email_id": s.email_id, "reason": "archive_expired"})
}

/// `POST /api/deliveries/replay[?dry_run=true]`
pub async fn replay_deliveries(ctx: &Ctx, mut req: Request) -> Result<Response, ApiError> {
    let admin = ctx.require_admin(&req).await?;
    let dry_run = dry_run(&req)?;
    let bytes = read_body_limited(&mut req, FILTER_BODY_LIMIT).await?;
    // The filter is required: `{}` selects every delivery, an empty body is a mistake.
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| ApiError::invalid_json())?;
    let request = ReplayRequest::from_json(&body)?;
    let now = now_ms();
    let entries = ctx
        .stores
        .log
        .recent(&request.log_query(now), now)
        .await
        .or_unavailable("Log stores")?;
    let selection = select(&entries, &request.filter, request.limit);
    drop(entries);
    let found = archives(ctx, &selection.deliveries).await?;
    let mut answer = if request.reroute {
        rerouted(ctx, &selection, found, dry_run, now).await?
    } else {
        as_sent(ctx, &selection, found, dry_run).await?
    };
    answer["success"] = json!(answer["failed"].as_array().is_none_or(Vec::is_empty));
    answer["dry_run"] = json!(dry_run);
    answer["reroute"] = json!(request.reroute);
    answer["more"] = json!(selection.more);
    if dry_run {
        return Ok(json(200, &answer));
    }
    let counted = |k: &str| answer[k].as_array().map_or(0, Vec::len) as u64;
    let (sent, refused, failed) = (counted("replayed"), counted("refused"), counted("failed"));
    let event = AuditEvent::DeliveriesReplayed {
        filter: filter_view(&body),
        reroute: request.reroute,
        selected: selection.deliveries.len() as u64,
        sent,
        refused,
        failed,
    };
    ctx.audit(&req, &admin, event).await;
    Ok(over_budget(ctx, &answer, sent, refused).unwrap_or_else(|| json(202, &answer)))
}

/// A 429 when the budget refused every replay and nothing was sent (the body still names them).
fn over_budget(ctx: &Ctx, answer: &Value, sent: u64, refused: u64) -> Option<Response> {
    (sent == 0 && refused > 0).then(|| {
        let retry = answer["retry_after_secs"].as_u64().unwrap_or(60);
        let e = ApiError::replay_budget(retry, ctx.settings.replay_per_minute);
        error_with(&e, answer.clone())
    })
}

/// Applies the replay budget to `jobs`: the ones it lets through, and the answer's fields
/// about the others (`refused`, `budget`, `retry_after_secs`).
async fn within_budget(
    ctx: &Ctx,
    jobs: Vec<DeliveryJob>,
) -> Result<(Vec<DeliveryJob>, Value), ApiError> {
    let targets: Vec<Option<&str>> = jobs.iter().map(|j| Some(j.target_url.as_str())).collect();
    let allotment: Allotment = ctx.replay_allotment(&targets).await?;
    let mut sent = Vec::new();
    let mut refused = Vec::new();
    for (job, go) in jobs.into_iter().zip(&allotment.send) {
        if *go {
            sent.push(job);
        } else {
            refused.push(json!({
                "delivery_id": job.delivery_id, "email_id": job.email_id,
                "target": facteur_core::base::mask::mask_url(&job.target_url),
                "reason": "replay_budget",
            }));
        }
    }
    let fields = json!({
        "refused": refused, "budget": allotment.per_target,
        "retry_after_secs": allotment.retry_after_secs(),
    });
    Ok((sent, fields))
}

/// Merges `fields` into the object `answer`.
fn merge(mut answer: Value, fields: Value) -> Value {
    if let (Value::Object(a), Value::Object(f)) = (&mut answer, fields) {
        a.extend(f);
    }
    answer
}

/// Replays each archived delivery as it was sent: same delivery id, same body.
async fn as_sent(
    ctx: &Ctx,
    selection: &Selection,
    found: Vec<Option<ArchivedDelivery>>,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let mut items = Vec::new();
    let mut jobs = Vec::new();
    let mut missing = Vec::new();
    for (s, archived) in selection.deliveries.iter().zip(found) {
        match archived {
            Some(a) => {
                items.push(s.item());
                jobs.push(a.replay_job());
            }
            None => missing.push(expired(s)),
        }
    }
    if dry_run {
        return Ok(json!({"count": items.len(), "items": items, "unavailable": missing}));
    }
    let count = jobs.len();
    let (jobs, budget) = within_budget(ctx, jobs).await?;
    let (replayed, failed) = send(ctx, &jobs).await;
    Ok(merge(
        json!({"count": count, "replayed": replayed, "failed": failed, "unavailable": missing}),
        budget,
    ))
}

/// Sends the jobs in batches; answers the delivery ids sent and those that failed.
async fn send(ctx: &Ctx, jobs: &[DeliveryJob]) -> (Vec<Value>, Vec<Value>) {
    let results = ctx.producer().send_deliveries(jobs).await;
    let mut replayed = Vec::new();
    let mut failed = Vec::new();
    for (job, result) in jobs.iter().zip(results) {
        match result {
            Ok(()) => replayed.push(json!(job.delivery_id)),
            Err(e) => {
                console_error!("replay {}: {e}", job.delivery_id);
                failed.push(json!({"delivery_id": job.delivery_id, "email_id": job.email_id, "message": "queue unavailable"}));
            }
        }
    }
    (replayed, failed)
}

/// Plans each selected e-mail again with the current rules and settings, and sends the
/// deliveries the core picks (`reroute_sends`).
async fn rerouted(
    ctx: &Ctx,
    selection: &Selection,
    found: Vec<Option<ArchivedDelivery>>,
    dry_run: bool,
    now: i64,
) -> Result<Value, ApiError> {
    let (stored, rules) = futures::join!(ctx.stores.load_documents(), ctx.stores.load_rules());
    let docs = ctx
        .settings
        .documents(&stored.or_unavailable("Configuration store")?);
    let rules = rules.or_unavailable("Configuration store")?;
    // One body per e-mail: the first selected delivery of each e-mail with an archive.
    let mut emails: Vec<(&str, String)> = Vec::new();
    let mut missing = Vec::new();
    for (s, archived) in selection.deliveries.iter().zip(found) {
        match archived {
            None => missing.push(expired(s)),
            Some(a) if !emails.iter().any(|(id, _)| *id == s.email_id) => {
                emails.push((&s.email_id, a.body_key))
            }
            Some(_) => {}
        }
    }
    let (mut items, mut decisions, mut jobs) = (Vec::new(), Vec::new(), Vec::new());
    let producer = ctx.producer();
    for (email_id, key) in emails {
        let text = ctx.stores.body(&key).await.ok().flatten();
        let (planned, rule) = match text
            .and_then(|t| reroute(&t, &docs, &rules, now, ctx.settings.timezone))
        {
            None => {
                missing.push(json!({"email_id": email_id, "reason": "archive_expired"}));
                continue;
            }
            Some(Rerouted::NotSent { decision, reason }) => {
                decisions
                    .push(json!({"email_id": email_id, "decision": decision, "reason": reason}));
                continue;
            }
            Some(Rerouted::Deliver(planned, rule)) => (planned, rule),
        };
        let sends = reroute_sends(&planned, selection);
        decisions
            .push(json!({"email_id": email_id, "decision": "deliver", "deliveries": sends.len()}));
        items.extend(
            sends
                .iter()
                .map(|(p, before)| reroute_item(email_id, p, before)),
        );
        if dry_run || sends.is_empty() {
            continue;
        }
        let body = serde_json::to_string(&planned.payload).map_err(|_| ApiError::internal())?;
        let key = body_key(&body);
        let meta = DeliveryMeta {
            email_id: email_id.to_string(),
            detector: planned.payload.detector.clone(),
            links_count: planned.payload.delivery_links.len() as u32,
            policy: docs.prefs.retry,
            created_at_ms: now,
            rule,
            // A re-routed replay parks behind what its target already holds.
            accepted_at_ms: now,
        };
        // A body too large to travel inline is stored before any message points to it; the
        // journal keeps the others with the archive, which follows the new plan.
        let part = Blob::for_payload(&body, &key);
        let spilled = matches!(part, Blob::Spilled { .. });
        if spilled {
            producer
                .store_body(&key, &body)
                .await
                .or_unavailable("Delivery archive")?;
        }
        let sent: Vec<_> = sends.iter().map(|(p, _)| (*p).clone()).collect();
        let previous: Option<EmailArchive> =
            ctx.stores.archived_email(email_id).await.ok().flatten();
        let sender = &planned.payload.sender_email;
        let inline_body = (!spilled).then_some(body.as_str());
        ctx.stores
            .archive(&sent, &meta, &key, inline_body, sender, previous.as_ref())
            .await;
        jobs.extend(
            sent.iter()
                .map(|p| DeliveryJob::first(p, part.clone(), &meta)),
        );
    }
    if dry_run {
        return Ok(
            json!({"count": items.len(), "items": items, "emails": decisions, "unavailable": missing}),
        );
    }
    let count = jobs.len();
    let (jobs, budget) = within_budget(ctx, jobs).await?;
    let (replayed, failed) = send(ctx, &jobs).await;
    Ok(merge(
        json!({
            "count": count, "replayed": replayed, "failed": failed,
            "emails": decisions, "unavailable": missing,
        }),
        budget,
    ))
}

/// `POST /api/deliveries/<delivery_id>/replay`: sends an archived delivery again, with its
/// payload as it was sent and its own delivery id (receivers drop the repeat if they had it),
/// within its target's replay budget (429 over it).
pub async fn replay_one(ctx: &Ctx, req: Request, id: &str) -> Result<Response, ApiError> {
    let admin: Admin = ctx.require_admin(&req).await?;
    let archived: ArchivedDelivery = ctx
        .stores
        .archived_delivery(id)
        .await
        .or_unavailable("Delivery archive")?
        .ok_or_else(|| ApiError::no_such("archived delivery (kept 14 days)", id))?;
    let allotment = ctx
        .replay_allotment(&[Some(archived.target_url.as_str())])
        .await?;
    if allotment.refused() > 0 {
        let retry = allotment.retry_after_secs().unwrap_or(60);
        let e = ApiError::replay_budget(retry, ctx.settings.replay_per_minute);
        return Ok(error_with(&e, json!({"budget": allotment.per_target})));
    }
    ctx.producer()
        .replay_archived(&archived)
        .await
        .map_err(|e| {
            console_error!("replay {id}: {e}");
            ApiError::unavailable("Delivery queue")
        })?;
    let event = AuditEvent::DeliveryReplayed {
        delivery_id: id.to_string(),
    };
    ctx.audit(&req, &admin, event).await;
    Ok(json(
        202,
        &json!({"success": true, "status": "replayed", "delivery_id": id, "budget": allotment.per_target}),
    ))
}
