//! `GET /api/alerts`: the alert conditions firing now, the thresholds, and where alerts go
//! (masked).

use crate::context::Ctx;
use crate::http::json;
use crate::http::OrUnavailable;
use facteur_core::error::ApiError;
use facteur_core::operator::alerts::{AlertStates, ALERT_STATES_KEY};
use facteur_core::store::ports::KeyValueStore;
use serde_json::json;
use worker::{Request, Response};

/// `GET /api/alerts`
pub async fn alerts(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req).await?;
    let states: AlertStates = ctx
        .stores
        .blobs
        .get(ALERT_STATES_KEY)
        .await
        .or_unavailable("Alert states")?
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default();
    let t = &ctx.settings.alerts;
    Ok(json(
        200,
        &json!({
            "success": true,
            "firing": states.iter().filter(|(_, f)| **f).map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
            "thresholds": {
                "success_rate_min_percent": t.success_rate_min_percent,
                "timeout_rate_max_percent": t.timeout_rate_max_percent,
                "avg_duration_max_ms": t.avg_duration_max_ms,
                "redis_down_minutes": t.redis_down_minutes,
                "no_success_minutes": t.no_success_minutes,
                "window_minutes": t.window_minutes,
                "min_attempts": t.min_attempts,
            },
            "alert_webhook": ctx.settings.alert_webhook_url.as_deref().map(facteur_core::base::mask::mask_url),
        }),
    ))
}
