//! Per-invocation context and request dispatch.

use serde_json::json;
use worker::{console_error, Env, Request, Response};

use super::http::{error, json};
use super::stores::Stores;
use super::{admin, ingest};
use crate::domain::api::{route, Route};
use crate::domain::auth::authorized;
use crate::domain::config::Settings;
use crate::domain::error::ApiError;
use crate::domain::ports::KeyValueStore as _;
use crate::domain::upstash::RestTransport as _;

/// What every handler needs: the environment, the settings read from it, and the stores.
pub struct App {
    pub env: Env,
    pub settings: Settings,
    pub stores: Stores,
}

impl App {
    /// Reads settings and builds stores; a misconfiguration is logged in full and answered as a
    /// generic 500 naming no secret.
    pub fn load(env: Env) -> Result<App, ApiError> {
        let settings = Settings::load(|name| {
            env.var(name)
                .map(|v| v.to_string())
                .ok()
                .or_else(|| env.secret(name).map(|s| s.to_string()).ok())
        })
        .map_err(|e| {
            console_error!("configuration error: {e}");
            ApiError {
                status: 500,
                code: "misconfigured",
                message: format!("Configuration error: {e}"),
            }
        })?;
        let stores = Stores::new(&env, &settings).map_err(|e| {
            console_error!("binding error: {e}");
            ApiError {
                status: 500,
                code: "misconfigured",
                message: "A binding is missing (see README: wrangler.toml)".into(),
            }
        })?;
        Ok(App {
            env,
            settings,
            stores,
        })
    }

    /// 401 unless the request carries the admin token.
    pub fn require_admin(&self, req: &Request) -> Result<(), ApiError> {
        let header = req.headers().get("Authorization").ok().flatten();
        if authorized(header.as_deref(), &self.settings.admin_token) {
            Ok(())
        } else {
            Err(ApiError::unauthorized())
        }
    }
}

/// Serves one HTTP request. Never fails: every error becomes a JSON response.
pub async fn handle(req: Request, env: Env) -> Response {
    match dispatch(req, env).await {
        Ok(resp) => resp,
        Err(e) => error(&e),
    }
}

async fn dispatch(req: Request, env: Env) -> Result<Response, ApiError> {
    let path = req.path();
    let route = route(req.method().as_ref(), &path)?;
    let app = App::load(env)?;
    match route {
        Route::Health => Ok(health(&app).await),
        Route::Ingest => ingest::handle(&app, req).await,
        Route::WebhookLogs => admin::webhook_logs(&app, req).await,
        Route::ConfigGet(doc) => admin::config_get(&app, req, doc).await,
        Route::ConfigPut(doc) => admin::config_put(&app, req, doc).await,
        Route::DeadLetters => admin::dead_letters(&app, req).await,
        Route::DeadLetterReplay(id) => admin::dead_letter_replay(&app, req, &id).await,
        Route::DryRun => admin::dry_run(&app, req).await,
        Route::Stats => admin::stats(&app, req).await,
        Route::Media(key) if app.settings.r2_serve_media => {
            super::offload::media(&app, &key).await.map_err(|e| {
                console_error!("media {key}: {e}");
                ApiError::unavailable("Media store")
            })
        }
        Route::Media(_) => Err(ApiError::not_found(&path)),
    }
}

async fn health(app: &App) -> Response {
    let (redis, detail) = match &app.stores.log.primary {
        None => ("not_configured", None),
        Some(r) => match r.transport.post("/", "[\"PING\"]".into()).await {
            Ok((200, _)) => ("ok", None),
            Ok((status, _)) => ("unavailable", Some(format!("HTTP {status}"))),
            Err(e) => ("unavailable", Some(e.0)),
        },
    };
    let last_cleanup = match app.settings.r2_fetch_enabled {
        true => app
            .stores
            .blobs
            .get(super::scheduled::LAST_CLEANUP_KEY)
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
            "r2_offload": if app.settings.r2_fetch_enabled { "enabled" } else { "disabled" },
            "r2_last_cleanup": last_cleanup,
        }),
    )
}
