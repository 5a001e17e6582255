//! `GET /media/<key>`: R2 objects through the main worker (local development without a public
//! bucket domain).

use crate::context::Ctx;
use facteur_core::error::ApiError;
use worker::{console_error, Response};

/// R2 objects through the main worker, only when `R2_SERVE_MEDIA` is on and the r2-fetch
/// binding exists (404 otherwise: nothing is served here). The object, or r2-fetch's own JSON
/// error, is passed on; any other failure (r2-fetch not running: the runtime's text error
/// page) becomes a JSON 503.
pub async fn media(ctx: &Ctx, key: &str) -> Result<Response, ApiError> {
    let not_served = || ApiError::not_found(&format!("/media/{key}"));
    if !ctx.settings.r2_serve_media {
        return Err(not_served());
    }
    let Some(r2_fetch) = ctx.r2_fetch_binding() else {
        console_error!("R2_SERVE_MEDIA is on but the R2_FETCH service binding is missing");
        return Err(not_served());
    };
    let resp = r2_fetch.media(key).await.map_err(|e| {
        console_error!("media {key}: {e}");
        ApiError::unavailable("Media store")
    })?;
    let json = resp
        .headers()
        .get("Content-Type")
        .ok()
        .flatten()
        .is_some_and(|t| t.starts_with("application/json"));
    if resp.status_code() < 400 || json {
        Ok(resp)
    } else {
        console_error!(
            "media {key}: r2-fetch answered {} without JSON",
            resp.status_code()
        );
        Err(ApiError::unavailable("Media store"))
    }
}
