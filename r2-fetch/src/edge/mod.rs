//! The Cloudflare glue: the entry point, the source fetch, R2. Handlers read the environment,
//! call the pure modules for every decision, and turn an [`ApiError`] into its JSON answer.

pub mod cleanup;
pub mod delete;
pub mod fetch;
pub mod http;
pub mod media;
pub mod source;
pub mod store;
pub mod stream;

use worker::{event, Context, Env, Request, Response, Result};

use crate::config::Config;
use crate::consts::headers;
use crate::error::ApiError;
use crate::policy;
use crate::routing::{self, Endpoint};

#[event(fetch)]
async fn main(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let config = http::config(&env);
    let path = req.path();
    match dispatch(req, &env, &config).await {
        Ok(resp) => Ok(resp),
        Err(e) => {
            // Routing and auth refusals are the caller's business; the rest is worth a log line.
            if !matches!(e.status(), 401 | 404 | 405) {
                worker::console_warn!("r2-fetch {path}: {e}");
            }
            Ok(http::error(&e))
        }
    }
}

async fn dispatch(
    req: Request,
    env: &Env,
    config: &Config,
) -> std::result::Result<Response, ApiError> {
    let endpoint = routing::route(req.method().as_ref(), &req.path(), config.serve_media)?;
    if endpoint.needs_token() {
        let presented = req.headers().get(headers::TOKEN).ok().flatten();
        if !policy::token_matches(presented.as_deref(), config.token.as_deref()) {
            return Err(ApiError::unauthorized());
        }
    }
    match endpoint {
        Endpoint::Fetch => fetch::handle(req, env, config).await,
        Endpoint::Cleanup => cleanup::handle(req, env).await,
        Endpoint::Delete => delete::handle(req, env).await,
        Endpoint::Media(key) => media::handle(env, &key).await,
    }
}
