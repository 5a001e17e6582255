//! The entry points (`fetch`, `queue`, `scheduled`) and the HTTP dispatch: each reads the
//! environment into a [`Ctx`], hands the work to one handler, and turns its error into a
//! response in one place.

use serde_json::Value;
use worker::wasm_bindgen::prelude::{wasm_bindgen, JsValue};
use worker::{
    event, Context, Env, MessageBatch, Request, Response, Result, ScheduleContext, ScheduledEvent,
};

use crate::adapters::ledger::Invocation;
use crate::context::Ctx;
use crate::handlers::{
    admin, alerts, audit, console, consumer, dead_letters, erasure, gmail, gmail_push, health,
    ingest, media, overview, replay, scheduled, session, targets, timeline,
};
use crate::http::{error, with_headers, with_security_headers};
use facteur_core::base::mask::truncate;
use facteur_core::error::ApiError;
use facteur_core::http::routes::{route, Route};
use facteur_core::operator::console::{dev_host_refusal, never_cached, NO_STORE};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let invocation = Invocation::begin(true);
    let what = format!(
        "fetch {} {}",
        req.method().as_ref(),
        truncate(&req.path(), 80)
    );
    let resp = handle(req, env, ctx).await;
    invocation.close(&what);
    Ok(resp)
}

/// The queue entry point, written out instead of `#[event(queue)]` so that the consumer can
/// read how many times each message was delivered (`attempts`, which worker 0.8.7 does not
/// expose): crash isolation depends on it.
#[wasm_bindgen]
pub async fn queue(
    batch: worker::worker_sys::MessageBatch,
    env: Env,
    ctx: worker::worker_sys::Context,
) -> std::result::Result<JsValue, JsValue> {
    let attempts: Vec<u32> = batch
        .messages()
        .map(|messages| {
            messages
                .iter()
                .map(|m| {
                    js_sys::Reflect::get(&m, &JsValue::from_str("attempts"))
                        .ok()
                        .and_then(|a| a.as_f64())
                        .map_or(1, |a| a as u32)
                })
                .collect()
        })
        .unwrap_or_default();
    let invocation = Invocation::begin(true);
    let batch: MessageBatch<Value> = MessageBatch::from(batch);
    let what = format!("queue {} ({} messages)", batch.queue(), attempts.len());
    consumer::handle_batch(batch, &attempts, env, Context::new(ctx)).await;
    invocation.close(&what);
    Ok(JsValue::UNDEFINED)
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let invocation = Invocation::begin(true);
    match Ctx::load(env, None) {
        Ok(ctx) => {
            scheduled::run(&ctx, &event.cron(), event.schedule() as i64).await;
            ctx.stores.journal.flush_if_due().await;
        }
        Err(e) => worker::console_error!("scheduled {}: cannot start: {e}", event.cron()),
    }
    invocation.close(&format!("cron {}", event.cron()));
}

/// Serves one HTTP request. Never fails: every error becomes a JSON response. Every response
/// carries the security headers (CSP, HSTS, nosniff, no referrer, no framing), and every API
/// answer `Cache-Control: no-store` (they carry e-mail data).
pub async fn handle(req: Request, env: Env, background: Context) -> Response {
    let api = never_cached(&req.path());
    let resp = with_security_headers(match dispatch(req, env, background).await {
        Ok(resp) => resp,
        Err(e) => error(&e),
    });
    if api {
        with_headers(resp, &[NO_STORE])
    } else {
        resp
    }
}

async fn dispatch(
    req: Request,
    env: Env,
    background: Context,
) -> std::result::Result<Response, ApiError> {
    let path = req.path();
    let route = route(req.method().as_ref(), &path)?;
    let ctx = Ctx::load(env, Some(background))?;
    ctx.flush_costs();
    if let Some(refusal) = dev_host_refusal(ctx.settings.dev_http_loopback, &req.inner().url()) {
        return Err(refusal);
    }
    match route {
        Route::Health => Ok(health::health(&ctx).await),
        Route::Ingest => ingest::handle(&ctx, req).await,
        Route::WebhookLogs => admin::webhook_logs(&ctx, req).await,
        Route::ConfigGet(doc) => admin::config_get(&ctx, req, doc).await,
        Route::ConfigPut(doc) => admin::config_put(&ctx, req, doc).await,
        Route::DeadLetters => dead_letters::list(&ctx, req).await,
        Route::DeadLetterReplay(id) => dead_letters::replay_one(&ctx, req, &id).await,
        Route::DeadLettersReplay => dead_letters::replay_matching(&ctx, req).await,
        Route::DeliveryReplay(id) => replay::replay_one(&ctx, req, &id).await,
        Route::DeliveriesReplay => replay::replay_deliveries(&ctx, req).await,
        Route::EraseEmail(id) => erasure::erase_email(&ctx, req, &id).await,
        Route::EraseSender(address) => erasure::erase_sender(&ctx, req, &address).await,
        Route::Audit => audit::list(&ctx, req).await,
        Route::DryRun => admin::dry_run(&ctx, req).await,
        Route::Stats => admin::stats(&ctx, req).await,
        Route::Runtime => admin::runtime(&ctx, req).await,
        Route::Targets => targets::list(&ctx, req).await,
        Route::TargetAction { id, pause } => targets::act(&ctx, req, &id, pause).await,
        Route::Alerts => alerts::alerts(&ctx, req).await,
        Route::Media(key) => media::media(&ctx, &key).await,
        Route::SessionInfo => session::info(&ctx, req).await,
        Route::SignIn => session::sign_in(&ctx, req).await,
        Route::SignOut => session::sign_out(&ctx, req).await,
        Route::Overview => overview::overview(&ctx, req).await,
        Route::EmailTimeline(id) => timeline::timeline(&ctx, req, &id).await,
        Route::SettingsView => admin::settings_view(&ctx, req).await,
        Route::GmailPush => gmail_push::push(&ctx, req).await,
        Route::GmailStatus => gmail::status(&ctx, req).await,
        Route::GmailConnect => gmail::connect(&ctx, req).await,
        Route::GmailCallback => gmail::callback(&ctx, req).await,
        Route::GmailSync => gmail::sync_now(&ctx, req).await,
        Route::GmailDisconnect => gmail::disconnect(&ctx, req).await,
        Route::Page(page) => console::page(&ctx, req, page).await,
        Route::Asset(name) => console::asset(&ctx, req, &name).await,
        Route::TestEmail => {
            // The sample e-mail goes through the ingest itself: same answers, same guarantees.
            let admin = ctx.require_admin(&req).await?;
            let sent = ingest::handle(&ctx, console::test_email_request(&ctx, &req)?).await;
            console::audit_test_email(&ctx, &req, &admin, sent).await
        }
    }
}
