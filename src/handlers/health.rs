//! `GET /health` (no auth) and `GET /media/<key>` (local development).

use serde_json::json;
use worker::{console_error, Response};

use crate::adapters::offload;
use crate::context::Ctx;
use crate::http::json;
use facteur_core::error::ApiError;
use facteur_core::offload::LAST_CLEANUP_KEY;
use facteur_core::ports::KeyValueStore as _;
use facteur_core::upstash::RestTransport as _;

/// The service's state: Redis reachable or not, R2 offload, the last cleanup.
pub async fn health(ctx: &Ctx) -> Response {
    let (redis, detail) = match &ctx.stores.log.primary {
        None => ("not_configured", None),
        Some(r) => match r.transport.post("/", "[\"PING\"]".into()).await {
            Ok((200, _)) => ("ok", None),
            Ok((status, _)) => ("unavailable", Some(format!("HTTP {status}"))),
            Err(e) => ("unavailable", Some(e.0)),
        },
    };
    let last_cleanup = match ctx.settings.r2_fetch_enabled {
        true => ctx
            .stores
            .blobs
            .get(LAST_CLEANUP_KEY)
            .await
            .ok()
            .flatten()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()),
        false => None,
    };
    json(
        200,
        &json!({
            "status": "ok", "service": "facteur", "version": env!("CARGO_PKG_VERSION"),
            "redis": redis, "redis_error": detail,
            "r2_offload": if ctx.settings.r2_fetch_enabled { "enabled" } else { "disabled" },
            "r2_last_cleanup": last_cleanup,
        }),
    )
}

/// R2 objects through the main worker, only when `R2_SERVE_MEDIA` is on.
pub async fn media(ctx: &Ctx, key: &str) -> Result<Response, ApiError> {
    if !ctx.settings.r2_serve_media {
        return Err(ApiError::not_found(&format!("/media/{key}")));
    }
    let fetcher = ctx
        .env
        .service(facteur_core::config::bindings::R2_FETCH)
        .map_err(|_| ApiError::unavailable("Media store"))?;
    offload::media(&fetcher, key).await.map_err(|e| {
        console_error!("media {key}: {e}");
        ApiError::unavailable("Media store")
    })
}
