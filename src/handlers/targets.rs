//! Endpoint health for operators: `GET /api/targets` (every target with its state, failure
//! run, parked count, last success and last error, replay budget), `POST
//! /api/targets/<id>/pause|resume` (audited), and `GET /api/alerts` (which alert conditions
//! are firing).

use serde_json::{json, Value};
use worker::{Request, Response};

use crate::adapters::net::now_ms;
use crate::adapters::targets::TargetCall;
use crate::context::Ctx;
use crate::http::json;
use crate::http::OrUnavailable;
use facteur_core::base::mask::mask_url;
use facteur_core::base::time::iso_utc;
use facteur_core::delivery::target_health::{known_target_urls, target_id, TARGET_REGISTRY_PREFIX};
use facteur_core::error::ApiError;
use facteur_core::records::audit::AuditEvent;
use facteur_core::store::ports::{KeyValueStore, StoreError};

/// The configured targets and the registered ones.
async fn known(ctx: &Ctx) -> Result<Vec<String>, ApiError> {
    let (docs, rules) = futures::join!(ctx.stores.load_documents(), ctx.stores.load_rules());
    let docs = docs.or_unavailable("Configuration store")?;
    let rules = rules.or_unavailable("Configuration store")?;
    let default_url = ctx.settings.documents(&docs).webhook.webhook_url;
    let registry = registry(ctx).await.or_unavailable("Target registry")?;
    let rule_urls = rules.rules.iter().map(|r| r.actions.webhook_url.as_str());
    Ok(known_target_urls(
        default_url.as_deref().into_iter().chain(rule_urls),
        registry,
    ))
}

async fn registry(ctx: &Ctx) -> Result<Vec<String>, StoreError> {
    let page = ctx
        .stores
        .blobs
        .0
        .list()
        .prefix(TARGET_REGISTRY_PREFIX.to_string())
        .limit(1_000)
        .execute()
        .await
        .map_err(|e| StoreError::from_runtime(e.to_string()))?;
    let reads = page.keys.iter().map(|k| ctx.stores.blobs.get(&k.name));
    let urls = futures::future::join_all(reads).await;
    Ok(urls.into_iter().filter_map(|u| u.ok().flatten()).collect())
}

/// `GET /api/targets`
pub async fn list(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req).await?;
    let urls = known(ctx).await?;
    let objects = ctx.targets();
    let states = futures::future::join_all(urls.iter().map(|u| objects.state(u))).await;
    let mut targets: Vec<Value> = Vec::new();
    for state in states {
        let view = state.or_unavailable("Target objects")?;
        let mut v = serde_json::to_value(&view).map_err(|_| ApiError::internal())?;
        if let Value::Object(m) = &mut v {
            for (field, ms) in [
                ("last_success_at", view.last_success_ms),
                ("last_failure_at", view.last_failure_ms),
                ("next_probe_at", view.next_probe_ms),
            ] {
                m.insert(field.into(), json!(ms.map(iso_utc)));
            }
        }
        targets.push(v);
    }
    Ok(json(
        200,
        &json!({"success": true, "count": targets.len(), "targets": targets}),
    ))
}

/// `POST /api/targets/<id>/pause` and `/resume`.
pub async fn act(ctx: &Ctx, req: Request, id: &str, pause: bool) -> Result<Response, ApiError> {
    let admin = ctx.require_admin(&req).await?;
    let urls = known(ctx).await?;
    let url = urls
        .into_iter()
        .find(|u| target_id(u) == id)
        .ok_or_else(|| ApiError::no_such("target", id))?;
    let call = if pause {
        TargetCall::Pause {
            target_url: url.clone(),
        }
    } else {
        TargetCall::Resume {
            target_url: url.clone(),
        }
    };
    let reply = ctx
        .targets()
        .call(&url, &call)
        .await
        .or_unavailable("Target objects")?;
    let (target_id, target) = (id.to_string(), mask_url(&url));
    let event = if pause {
        AuditEvent::TargetPaused { target_id, target }
    } else {
        AuditEvent::TargetResumed { target_id, target }
    };
    ctx.audit(&req, &admin, event).await;
    Ok(json(
        200,
        &json!({"success": true, "target": reply.view, "at": iso_utc(now_ms())}),
    ))
}
