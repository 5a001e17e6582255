//! The queue consumers. Every message gets an explicit decision: ack, retry with a computed
//! delay, or give up (logged, and kept as a dead letter). Each decision is one call into the
//! core; what is left here is the side effect that carries it out.

use serde_json::Value;
use worker::{
    console_error, console_warn, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder,
    RawMessage,
};

use crate::adapters::net::now_ms;
use crate::adapters::outbound;
use crate::context::Ctx;
use facteur_core::config::{bindings, Documents};
use facteur_core::delivery::{decide, Decision};
use facteur_core::gating::hold_delay_secs;
use facteur_core::log::LogEntry;
use facteur_core::messages::{
    parse_dead_letter, part_read, Blob, DeadLetter, DeliveryJob, DeliveryMeta, EmailRecord,
    PartRead, ProcessJob, QueuedJob, DEAD_LETTER_PREFIX, DEAD_LETTER_TTL_SECS, QUEUE_EXHAUSTED,
    SPILL_TTL_SECS,
};
use facteur_core::pipeline::{deliveries, plan, Plan};
use facteur_core::ports::KeyValueStore;
use facteur_core::retry::jitter_seed;
use facteur_core::routing::RoutingRules;

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
pub async fn handle_batch(batch: MessageBatch<Value>, env: Env) {
    let ctx = match Ctx::load(env) {
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
    let messages: Vec<RawMessage> = batch.raw_iter().collect();
    match batch.queue().as_str() {
        bindings::PROCESS_QUEUE_NAME => {
            let Some(config) = load_processing_config(&ctx).await else {
                messages
                    .iter()
                    .for_each(|m| retry_later(m, INFRA_RETRY_SECS));
                return;
            };
            futures::future::join_all(messages.iter().map(|m| process(&ctx, &config, m))).await;
        }
        bindings::DELIVERY_QUEUE_NAME => {
            futures::future::join_all(messages.iter().map(|m| deliver(&ctx, m))).await;
        }
        bindings::DEAD_LETTER_QUEUE_NAME => {
            futures::future::join_all(messages.iter().map(|m| keep_dead_letter(&ctx, m))).await;
        }
        other => {
            console_error!("queue {other}: not a queue of this worker; messages retried");
            messages
                .iter()
                .for_each(|m| retry_later(m, INFRA_RETRY_SECS * 6));
        }
    }
}

/// Configuration read once per processing batch.
struct ProcessingConfig {
    docs: Documents,
    rules: RoutingRules,
}

async fn load_processing_config(ctx: &Ctx) -> Option<ProcessingConfig> {
    let (docs, rules) = futures::join!(ctx.stores.load_documents(), ctx.stores.load_rules());
    match (docs, rules) {
        (Ok(docs), Ok(rules)) => Some(ProcessingConfig {
            docs: ctx.settings.documents(&docs),
            rules,
        }),
        (Err(e), _) | (_, Err(e)) => {
            console_error!("processing: configuration unreadable ({e}); batch retried");
            None
        }
    }
}

fn text_of(msg: &RawMessage) -> String {
    let body = msg.body();
    body.as_string().unwrap_or_else(|| {
        js_sys::JSON::stringify(&body)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default()
    })
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

/// Reads the part a job needs. `None` when the job was taken care of here (sent again to wait
/// for a part not readable yet, given up, or retried after a store failure).
async fn read_part<J: QueuedJob>(ctx: &Ctx, msg: &RawMessage, job: &J) -> Option<String> {
    let found = match job.part() {
        Blob::Inline { data } => Some(data.clone()),
        Blob::Spilled { key } => match ctx.stores.blobs.get(key).await {
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

async fn process(ctx: &Ctx, config: &ProcessingConfig, msg: &RawMessage) {
    let text = text_of(msg);
    let now = now_ms();
    let Ok(job) = serde_json::from_str::<ProcessJob>(&text) else {
        console_error!("processing: unreadable message kept as a dead letter");
        return dead_letter(ctx, msg, DeadLetter::unreadable(text, now)).await;
    };
    let Some(email_text) = read_part(ctx, msg, &job).await else {
        return;
    };
    let Ok(email) = serde_json::from_str::<EmailRecord>(&email_text) else {
        let dead = job.into_dead("unreadable_email", None, now);
        return dead_letter(ctx, msg, dead).await;
    };
    let id = &email.email_id;
    let planned = plan(
        &email,
        &config.docs,
        &config.rules,
        now,
        ctx.settings.timezone,
    );
    match planned {
        Plan::Deliver {
            mut analysis,
            window,
            route,
        } => {
            if let Some(r2) = ctx.r2_fetch() {
                r2.enrich(&mut analysis.links).await;
            }
            let planned = deliveries(&email, &analysis, &window, &route.targets);
            let meta = DeliveryMeta {
                email_id: id.clone(),
                detector: analysis.detector.clone(),
                links_count: analysis.links.len() as u32,
                policy: config.docs.prefs.retry,
                created_at_ms: now,
                rule: route.rule(),
            };
            match ctx.producer().send_deliveries(&planned, &meta).await {
                Ok(()) => msg.ack(),
                Err(e) => {
                    console_error!("processing {id}: deliveries not queued ({e}); retried");
                    retry_later(msg, INFRA_RETRY_SECS);
                }
            }
        }
        Plan::Skip { analysis, reason } => {
            ctx.stores
                .log(&LogEntry::skipped(id, &analysis, &reason, now))
                .await;
            msg.ack();
        }
        Plan::Hold {
            analysis,
            until_ms,
            reason,
        } => {
            if let Blob::Spilled { key } = &job.email {
                // A hold can outlast the spill's lifetime: renew it at every hop.
                if let Err(e) = ctx
                    .stores
                    .blobs
                    .put(key, &email_text, Some(SPILL_TTL_SECS))
                    .await
                {
                    console_error!("processing {id}: spilled e-mail not renewed ({e}); retried");
                    return retry_later(msg, INFRA_RETRY_SECS);
                }
            }
            let first_hold = job.held_until_ms.is_none();
            let next = job.held_until(until_ms);
            let delay = hold_delay_secs(until_ms, now).min(ctx.settings.hold_recheck_max_secs);
            match ctx.producer().resend_process_job(&next, delay).await {
                Ok(()) => {
                    if first_hold {
                        let entry = LogEntry::held(id, &analysis, reason, until_ms, now);
                        ctx.stores.log(&entry).await;
                    }
                    msg.ack();
                }
                Err(e) => {
                    console_error!("processing {id}: hold not re-queued ({e}); retried");
                    retry_later(msg, INFRA_RETRY_SECS);
                }
            }
        }
        Plan::NoTarget { analysis } => {
            let entry = LogEntry::no_target(id, &analysis, now);
            ctx.stores.log(&entry).await;
            let reason = entry.reason.clone().unwrap_or_default();
            dead_letter(ctx, msg, job.into_dead(&reason, entry.error, now)).await;
        }
    }
}

async fn deliver(ctx: &Ctx, msg: &RawMessage) {
    let text = text_of(msg);
    let Ok(job) = serde_json::from_str::<DeliveryJob>(&text) else {
        console_error!("delivery: unreadable message kept as a dead letter");
        return dead_letter(ctx, msg, DeadLetter::unreadable(text, now_ms())).await;
    };
    let Some(body) = read_part(ctx, msg, &job).await else {
        return;
    };
    let (outcome, duration_ms) =
        outbound::attempt(&job, &body, ctx.settings.signing_secret.as_deref()).await;
    let now = now_ms();
    let decided = decide(
        &outcome,
        job.attempt,
        &job.policy,
        jitter_seed(&job.delivery_id, job.attempt),
    );
    let entry = LogEntry::attempt(&job, &outcome, duration_ms, &decided, now);
    ctx.stores.log(&entry).await;
    match decided {
        // A spilled payload is the delivery's archive: it stays until it expires.
        Decision::Ack => msg.ack(),
        Decision::Retry {
            next_attempt,
            delay_secs,
        } => {
            let next = job.at_attempt(next_attempt);
            match ctx.producer().send_delivery(&next, delay_secs).await {
                Ok(()) => msg.ack(),
                Err(e) => {
                    // The same attempt runs again; its log line repeats, nothing is lost.
                    console_error!(
                        "delivery {}: retry not queued ({e}); message retried",
                        next.delivery_id
                    );
                    retry_later(msg, delay_secs.max(INFRA_RETRY_SECS));
                }
            }
        }
        Decision::GiveUp { reason } => {
            let dead = job.into_dead(reason.as_str(), entry.error, now);
            dead_letter(ctx, msg, dead).await;
        }
    }
}

async fn keep_dead_letter(ctx: &Ctx, msg: &RawMessage) {
    let now = now_ms();
    let dead = parse_dead_letter(&text_of(msg), now);
    // A dead letter is kept for replay: the part it points to must live as long.
    if let Some(Blob::Spilled { key }) = dead.job.part() {
        if let Ok(Some(part)) = ctx.stores.blobs.get(key).await {
            let _ = ctx
                .stores
                .blobs
                .put(key, &part, Some(DEAD_LETTER_TTL_SECS))
                .await;
        }
    }
    let key = format!("{DEAD_LETTER_PREFIX}{}", dead.job.id());
    let text = serde_json::to_string(&dead).unwrap_or_default();
    match ctx
        .stores
        .blobs
        .put(&key, &text, Some(DEAD_LETTER_TTL_SECS))
        .await
    {
        Ok(()) => {
            console_warn!("dead letter kept: {} ({})", dead.job.id(), dead.reason);
            if dead.reason == QUEUE_EXHAUSTED {
                ctx.stores.log(&LogEntry::queue_exhausted(&dead, now)).await;
            }
            msg.ack();
        }
        Err(e) => {
            console_error!("dead letter {} not stored ({e}); retried", dead.job.id());
            retry_later(msg, INFRA_RETRY_SECS);
        }
    }
}
