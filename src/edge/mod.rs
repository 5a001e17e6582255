//! The Cloudflare glue: entry points, bindings and adapters. Handlers read the environment,
//! call `crate::domain`, and talk to bindings; nothing here decides.

pub mod admin;
pub mod app;
pub mod consumer;
pub mod dedup_object;
pub mod http;
pub mod ingest;
pub mod kv;
pub mod net;
pub mod offload;
pub mod outbound;
pub mod queues;
pub mod redis;
pub mod scheduled;
pub mod stores;
pub mod zone;

use serde_json::Value;
use worker::{
    event, Context, Env, MessageBatch, Request, Response, Result, ScheduleContext, ScheduledEvent,
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    Ok(app::handle(req, env).await)
}

#[event(queue)]
async fn queue(batch: MessageBatch<Value>, env: Env, _ctx: Context) -> Result<()> {
    consumer::handle_batch(batch, env).await;
    Ok(())
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    match app::App::load(env) {
        Ok(app) => scheduled::run(&app, &event.cron()).await,
        Err(e) => worker::console_error!("scheduled {}: cannot start: {e}", event.cron()),
    }
}
