//! The queue consumers. Every message gets an explicit decision: ack, retry with a computed
//! delay, or give up (logged, and kept as a dead letter). Each decision is one call into the
//! core; what is left here is the side effect that carries it out.
//!
//! `process` handles accepted e-mails and makes every delivery's first attempt itself;
//! `deliver` the delivery queue (retries, replays, targets not tried inline);
//! `dead_letters` keeps what will not be retried on its own.

mod dead_letters;
mod deliver;
mod process;

use serde::de::DeserializeOwned;
use serde_json::Value;
use worker::{
    console_error, Context, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage,
};

use crate::adapters::ledger::count;
use crate::adapters::net::now_ms;
use crate::context::Ctx;
use facteur_core::config::bindings;
use facteur_core::delivery::budget::{
    admit, admit_cpu, cpu_ms_estimate, delivery_job_cost, process_job_cost,
};
use facteur_core::delivery::isolation::{
    alone_verdict, crash_key, plan_batch, AloneVerdict, CRASHED, CRASH_MARKER_TTL_SECS,
};
use facteur_core::jobs::blob::Blob;
use facteur_core::jobs::dead_letter::DeadLetter;
use facteur_core::jobs::delivery::DeliveryJob;
use facteur_core::jobs::process::ProcessJob;
use facteur_core::jobs::queued::QueuedJob;
use facteur_core::records::spill::part_read;
use facteur_core::records::spill::PartRead;
use facteur_core::store::log::LogEntry;
use facteur_core::store::ops::queue_units;
use facteur_core::store::ports::KeyValueStore;

/// Wait before retrying after an infrastructure failure (queue, stores).
const INFRA_RETRY_SECS: u32 = 10;

fn retry_later(msg: &RawMessage, delay_secs: u32) {
    msg.retry_with_options(
        &QueueRetryOptionsBuilder::new()
            .with_delay_seconds(delay_secs)
            .build(),
    );
}

/// Consumes one batch from any of the worker's queues.
/// `attempts[i]`: how many times message `i` was delivered (1 the first time).
pub async fn handle_batch(
    batch: MessageBatch<Value>,
    attempts: &[u32],
    env: Env,
    background: Context,
) {
    let ctx = match Ctx::load(env, Some(background)) {
        Ok(ctx) => ctx,
        Err(e) => {
            console_error!("queue {}: cannot start ({e}); batch retried", batch.queue());
            batch.retry_all_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(INFRA_RETRY_SECS * 6)
                    .build(),
            );
            return;
        }
    };
    ctx.flush_costs();
    let mut messages: Vec<RawMessage> = batch.raw_iter().collect();
    // The subrequest budget carries so many jobs; the others come back at once, in the next
    // batch (see `facteur_core::delivery::budget`).
    let redis = ctx.stores.redis.is_some();
    let cost = match batch.queue().as_str() {
        bindings::PROCESS_QUEUE_NAME => Some(process_job_cost(redis)),
        bindings::DELIVERY_QUEUE_NAME => Some(delivery_job_cost(redis)),
        _ => None,
    };
    if let Some(cost) = cost {
        let mut admitted = admit(messages.len(), cost, ctx.subrequests_left());
        if batch.queue() == bindings::PROCESS_QUEUE_NAME {
            let estimates: Vec<u64> = messages
                .iter()
                .map(|m| {
                    let text = m.body().as_string().unwrap_or_default();
                    cpu_ms_estimate(text.len(), text.contains("\"spilled\""))
                })
                .collect();
            admitted = admitted.min(admit_cpu(&estimates, ctx.settings.cpu_budget_ms));
        }
        for m in messages.drain(admitted..) {
            retry_later(&m, 0);
        }
    }
    match batch.queue().as_str() {
        bindings::PROCESS_QUEUE_NAME => {
            let Some(config) = process::load_config(&ctx).await else {
                messages
                    .iter()
                    .for_each(|m| retry_later(m, INFRA_RETRY_SECS));
                return;
            };
            let run = |m, job| process::job(&ctx, &config, m, job);
            isolated::<ProcessJob, _, _>(&ctx, &messages, attempts, run).await;
        }
        bindings::DELIVERY_QUEUE_NAME => {
            let run = |m, job| deliver::job(&ctx, m, job);
            isolated::<DeliveryJob, _, _>(&ctx, &messages, attempts, run).await;
        }
        bindings::DEAD_LETTER_QUEUE_NAME => {
            futures::future::join_all(messages.iter().map(|m| dead_letters::keep(&ctx, m))).await;
        }
        other => {
            console_error!("queue {other}: not a queue of this worker; messages retried");
            messages
                .iter()
                .for_each(|m| retry_later(m, INFRA_RETRY_SECS * 6));
        }
    }
}

/// The text of a message received (read once per message: counted as the message's read and,
/// as every message ends acked or retried, its delete).
fn text_of(msg: &RawMessage) -> String {
    let body = msg.body();
    let text = body.as_string().unwrap_or_else(|| {
        js_sys::JSON::stringify(&body)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default()
    });
    let units = queue_units(text.len());
    count(|o| {
        o.queue_reads += units;
        o.queue_deletes += units;
    });
    text
}

/// Runs a batch with crash isolation (see `facteur_core::delivery::isolation`): unreadable messages are
/// dead-lettered, one suspect runs alone first under a crash marker (or is given up after
/// crashing too often), the fresh messages run together after it, the other suspects are sent
/// again to run alone in turn.
async fn isolated<'m, J, F, Fut>(ctx: &Ctx, messages: &'m [RawMessage], attempts: &[u32], run: F)
where
    J: QueuedJob + DeserializeOwned,
    F: Fn(&'m RawMessage, J) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut jobs: Vec<(&RawMessage, J, bool)> = Vec::with_capacity(messages.len());
    for (i, msg) in messages.iter().enumerate() {
        let text = text_of(msg);
        match serde_json::from_str::<J>(&text) {
            Ok(job) => {
                let suspect = attempts.get(i).is_some_and(|&a| a > 1) || job.is_suspect();
                jobs.push((msg, job, suspect));
            }
            Err(_) => unreadable(ctx, msg, text, J::QUEUE).await,
        }
    }
    let split = plan_batch(&jobs.iter().map(|(_, _, s)| *s).collect::<Vec<_>>());
    let mut slots: Vec<Option<(&RawMessage, J, bool)>> = jobs.into_iter().map(Some).collect();
    if let Some((msg, job, _)) = split.alone.and_then(|i| slots[i].take()) {
        run_alone(ctx, msg, job, &run).await;
    }
    for i in split.resend {
        if let Some((msg, job, _)) = slots[i].take() {
            let text = serde_json::to_string(&job.as_suspect()).unwrap_or_default();
            match ctx.producer().send_text(J::QUEUE, text, 0).await {
                Ok(()) => msg.ack(),
                Err(_) => retry_later(msg, 0),
            }
        }
    }
    let together = split
        .together
        .into_iter()
        .filter_map(|i| slots[i].take())
        .map(|(msg, job, _)| run(msg, job));
    futures::future::join_all(together).await;
}

/// Runs a suspect on its own, under a crash marker that counts the runs it did not survive.
async fn run_alone<'m, J, F, Fut>(ctx: &Ctx, msg: &'m RawMessage, job: J, run: &F)
where
    J: QueuedJob,
    F: Fn(&'m RawMessage, J) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let key = crash_key(&job.isolation_key());
    let recorded = match ctx.stores.blobs.get(&key).await {
        Ok(v) => v.and_then(|v| v.parse().ok()).unwrap_or(0),
        Err(e) => {
            console_error!("crash marker {key} unreadable ({e}); message retried");
            return retry_later(msg, INFRA_RETRY_SECS);
        }
    };
    match alone_verdict(recorded) {
        AloneVerdict::GiveUp { crashes } => {
            let now = now_ms();
            let entry = LogEntry::crashed(job.email_id(), job.delivery(), crashes, now);
            ctx.stores.log(&entry).await;
            dead_letter(ctx, msg, job.into_dead(CRASHED, entry.error, now)).await;
            let _ = ctx.stores.blobs.delete(&key).await;
        }
        AloneVerdict::Run { marker } => {
            let marked = ctx
                .stores
                .blobs
                .put(&key, &marker.to_string(), Some(CRASH_MARKER_TTL_SECS))
                .await;
            if let Err(e) = marked {
                console_error!("crash marker {key} not written ({e}); message retried");
                return retry_later(msg, INFRA_RETRY_SECS);
            }
            run(msg, job).await;
            let _ = ctx.stores.blobs.delete(&key).await;
        }
    }
}

/// Sends a job to the dead letters, then acks its message (retried if the send fails).
async fn dead_letter(ctx: &Ctx, msg: &RawMessage, dead: DeadLetter) {
    match ctx.producer().send_dead_letter(&dead).await {
        Ok(()) => msg.ack(),
        Err(e) => {
            console_error!(
                "dead letter {} not sent ({e}); message retried",
                dead.job.id()
            );
            retry_later(msg, INFRA_RETRY_SECS);
        }
    }
}

/// A message that cannot be parsed at all, kept verbatim as a dead letter.
async fn unreadable(ctx: &Ctx, msg: &RawMessage, text: String, queue: &str) {
    console_error!("{queue}: unreadable message kept as a dead letter");
    dead_letter(ctx, msg, DeadLetter::unreadable(text, now_ms())).await
}

/// Reads the part a job needs. `None` when the job was taken care of here (sent again to wait
/// for a part not readable yet, given up, or retried after a store failure).
async fn read_part<J: QueuedJob>(ctx: &Ctx, msg: &RawMessage, job: &J) -> Option<String> {
    let found = match job.part() {
        Blob::Inline { data } => Some(data.clone()),
        Blob::Spilled { key } => match ctx.stores.part(key).await {
            Ok(found) => found,
            Err(e) => {
                console_error!("part {key} unreadable ({e}); message retried");
                retry_later(msg, INFRA_RETRY_SECS);
                return None;
            }
        },
    };
    match part_read(job, found, now_ms()) {
        PartRead::Ready(part) => Some(part),
        PartRead::Wait { next, delay_secs } => {
            let text = serde_json::to_string(&next).unwrap_or_default();
            match ctx.producer().send_text(J::QUEUE, text, delay_secs).await {
                Ok(()) => msg.ack(),
                Err(_) => retry_later(msg, delay_secs),
            }
            None
        }
        PartRead::GiveUp { entry, dead } => {
            ctx.stores.log(&entry).await;
            dead_letter(ctx, msg, *dead).await;
            None
        }
    }
}
