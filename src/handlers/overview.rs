//! `GET /api/overview`: health, figures, the hourly chart and alert states, from the delivery
//! log; the computation is the core's (`operator::overview`).

use serde_json::json;
use worker::{Request, Response};

use crate::adapters::journal::JournalCall;
use crate::adapters::net::now_ms;
use crate::context::Ctx;
use crate::http::json;
use crate::http::OrUnavailable;
use facteur_core::analysis::offload::LAST_CLEANUP_KEY;
use facteur_core::base::time::iso_utc;
use facteur_core::error::ApiError;
use facteur_core::operator::costs::cost_view;
use facteur_core::operator::overview::{overview as compute_overview, RedisHealth};
use facteur_core::store::log::{LogEntry, LogQuery, MAX_LOG_LIMIT};
use facteur_core::store::ops::Ops;
use facteur_core::store::upstash::RestTransport as _;

async fn read_logs(ctx: &Ctx, query: &LogQuery) -> Result<Vec<LogEntry>, ApiError> {
    ctx.stores
        .log
        .recent(query, now_ms())
        .await
        .or_unavailable("Log stores")
}

async fn redis_health(ctx: &Ctx) -> (RedisHealth, Option<String>) {
    match &ctx.stores.redis {
        None => (RedisHealth::NotConfigured, None),
        Some(r) => match r.transport.post("/", "[\"PING\"]".into()).await {
            Ok((200, _)) => (RedisHealth::Ok, None),
            Ok((status, _)) => (RedisHealth::Unavailable, Some(format!("HTTP {status}"))),
            Err(e) => (RedisHealth::Unavailable, Some(e.detail)),
        },
    }
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
            true => ctx.stores.blob_json(LAST_CLEANUP_KEY).await,
            false => None,
        }
    };
    let days = ctx.stores.journal.call(JournalCall::Days { days: 1 });
    let (logs, (redis, redis_error), last_cleanup, days) =
        futures::join!(read_logs(ctx, &query), redis_health(ctx), cleanup, days);
    // What today's e-mails spent, and the daily limits reached (an unreadable journal leaves
    // them out, the overview still answers).
    let (cost, limits) = match days {
        Ok(reply) => {
            let today = reply.days.first().map(|(_, ops)| *ops).unwrap_or_default();
            (cost_view(&today, &Ops::default()), reply.limits)
        }
        Err(e) => {
            worker::console_warn!("overview: costs unreadable ({e})");
            (None, Vec::new())
        }
    };
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
            "costs": {"today": cost, "limits_reached": limits},
        }),
    ))
}
