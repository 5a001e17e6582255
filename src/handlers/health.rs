//! `GET /health` (no auth) and `GET /media/<key>` (local development).
//!
//! `/health` is public: it answers status words only (nothing from the stores' contents, no
//! error text), and what it found is reused for a few seconds per isolate, so hitting it does not
//! call Upstash (or read KV) each time; a Redis failure seen meanwhile by any request of the
//! isolate (the store's circuit breaker) shows at once.

use std::cell::RefCell;

use serde_json::{json, Value};
use worker::Response;

use crate::adapters::net::now_ms;
use crate::adapters::redis::breaker_open;
use crate::context::Ctx;
use crate::http::json;
use facteur_core::analysis::offload::{cleanup_status, LAST_CLEANUP_KEY};
use facteur_core::store::ports::KeyValueStore as _;
use facteur_core::store::upstash::{parse_single, RestTransport as _};

/// How long an isolate answers `/health` with what it last found.
const HEALTH_CACHE_MS: i64 = 5_000;

thread_local! {
    static LAST: RefCell<Option<(i64, Value)>> = const { RefCell::new(None) };
}

/// The service's state in words: Redis (`ok`, `unavailable`, `not_configured`), R2 offload
/// (`enabled`, `disabled`) and its last cleanup (`ok`, `failed`, `never`, `unknown`).
pub async fn health(ctx: &Ctx) -> Response {
    let now = now_ms();
    let cached = LAST.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(at, _)| now - at < HEALTH_CACHE_MS)
            .map(|(_, v)| v.clone())
    });
    if let Some(mut body) = cached {
        // A failure seen since (the store's circuit breaker) is news: no need to wait it out.
        if ctx.stores.redis.is_some() && breaker_open() {
            body["redis"] = "unavailable".into();
        }
        return json(200, &body);
    }
    // The transport skips Redis while its circuit breaker is open: no call then either.
    let redis = match &ctx.stores.redis {
        None => "not_configured",
        Some(r) => match r.transport.post("/", "[\"PING\"]".into()).await {
            Ok((status, text)) if parse_single(status, &text).is_ok() => "ok",
            _ => "unavailable",
        },
    };
    let last_cleanup = match ctx.settings.r2_fetch_enabled {
        false => None,
        true => Some(match ctx.stores.blobs.get(LAST_CLEANUP_KEY).await {
            Ok(saved) => cleanup_status(saved.as_deref()),
            Err(_) => "unknown",
        }),
    };
    let body = json!({
        "status": "ok", "service": "facteur", "version": env!("CARGO_PKG_VERSION"),
        "redis": redis,
        "r2_offload": if ctx.settings.r2_fetch_enabled { "enabled" } else { "disabled" },
        "r2_last_cleanup": last_cleanup,
    });
    LAST.with(|c| *c.borrow_mut() = Some((now, body.clone())));
    json(200, &body)
}
