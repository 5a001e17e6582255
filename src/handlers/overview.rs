//! The console's read views: `GET /api/overview` (health, figures, hourly chart, alert states)
//! and `GET /api/emails/<email_id>` (the timeline of one e-mail). Both read the delivery log;
//! the computations are the core's (`overview`, `timeline`).

use serde_json::{json, Value};
use worker::{console_error, Request, Response};

use crate::adapters::net::now_ms;
use crate::context::Ctx;
use crate::http::json;
use facteur_core::analysis::offload::LAST_CLEANUP_KEY;
use facteur_core::base::time::iso_utc;
use facteur_core::error::ApiError;
use facteur_core::operator::overview::{overview as compute_overview, RedisHealth};
use facteur_core::operator::timeline::{timeline, Archived};
use facteur_core::records::archive::archive_key;
use facteur_core::records::archive::ArchivedDelivery;
use facteur_core::store::log::{LogEntry, LogQuery, MAX_LOG_LIMIT};
use facteur_core::store::ports::KeyValueStore as _;
use facteur_core::store::upstash::RestTransport as _;

async fn read_logs(ctx: &Ctx, query: &LogQuery) -> Result<Vec<LogEntry>, ApiError> {
    ctx.stores.log.recent(query, now_ms()).await.map_err(|e| {
        console_error!("console: log stores: {e}");
        ApiError::unavailable("Log stores")
    })
}

async fn redis_health(ctx: &Ctx) -> (RedisHealth, Option<String>) {
    match &ctx.stores.log.primary {
        None => (RedisHealth::NotConfigured, None),
        Some(r) => match r.transport.post("/", "[\"PING\"]".into()).await {
            Ok((200, _)) => (RedisHealth::Ok, None),
            Ok((status, _)) => (RedisHealth::Unavailable, Some(format!("HTTP {status}"))),
            Err(e) => (RedisHealth::Unavailable, Some(e.0)),
        },
    }
}

async fn stored_json(ctx: &Ctx, key: &str) -> Option<Value> {
    let text = ctx.stores.blobs.get(key).await.ok().flatten()?;
    serde_json::from_str(&text).ok()
}

/// `GET /api/overview`
pub async fn overview(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req).await?;
    let query = LogQuery {
        days: 7,
        limit: MAX_LOG_LIMIT as usize * 10,
        ..LogQuery::default()
    };
    let cleanup = async {
        match ctx.settings.r2_fetch_enabled {
            true => stored_json(ctx, LAST_CLEANUP_KEY).await,
            false => None,
        }
    };
    let (logs, (redis, redis_error), last_cleanup) =
        futures::join!(read_logs(ctx, &query), redis_health(ctx), cleanup);
    let now = now_ms();
    let figures = compute_overview(&logs?, now, redis, &ctx.settings.alerts);
    Ok(json(
        200,
        &json!({
            "success": true,
            "generated_at": iso_utc(now),
            "health": {
                "redis": redis.as_str(),
                "redis_error": redis_error,
                "log_store": redis.log_store(),
                "r2_offload": if ctx.settings.r2_fetch_enabled { "enabled" } else { "disabled" },
                "r2_last_cleanup": last_cleanup,
                "last_success_at": figures.week.last_success_at,
                "version": env!("CARGO_PKG_VERSION"),
            },
            "overview": figures,
        }),
    ))
}

/// `GET /api/emails/<email_id>`: what was decided, every attempt of every delivery and the
/// payload as sent (from the archive, 14 days).
pub async fn email(ctx: &Ctx, req: Request, email_id: &str) -> Result<Response, ApiError> {
    ctx.require_admin(&req).await?;
    let query = LogQuery {
        days: 30,
        email_id: Some(email_id.to_string()),
        limit: MAX_LOG_LIMIT as usize,
        ..LogQuery::default()
    };
    let logs = read_logs(ctx, &query).await?;
    let mut ids: Vec<&str> = Vec::new();
    for id in logs.iter().filter_map(|e| e.delivery_id.as_deref()) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let mut archived = Vec::new();
    for id in ids {
        let text = ctx.stores.blobs.get(&archive_key(id)).await.ok().flatten();
        let Some(record) = text.and_then(|t| serde_json::from_str::<ArchivedDelivery>(&t).ok())
        else {
            continue;
        };
        let body = stored_json(ctx, &record.body_key).await;
        archived.push(Archived { record, body });
    }
    if logs.is_empty() && archived.is_empty() {
        return Err(ApiError::no_such(
            "e-mail in the log (kept 7 days)",
            email_id,
        ));
    }
    Ok(json(
        200,
        &json!({"success": true, "email": timeline(email_id, &logs, archived)}),
    ))
}
