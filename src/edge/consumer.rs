//! The queue consumers. Every message gets an explicit decision: ack, retry with a computed
//! delay, or give up (logged, and kept as a dead letter).

use serde_json::Value;
use worker::{
    console_error, console_warn, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder,
    RawMessage,
};

use super::app::App;
use super::ingest::decision_entry;
use super::net::now_ms;
use super::outbound;
use super::queues::{resend_process_job, send_dead_letter, send_deliveries, send_retry};
use crate::domain::config::{bindings, Documents};
use crate::domain::delivery::{decide, AttemptOutcome, Decision};
use crate::domain::gating::hold_delay_secs;
use crate::domain::ids::log_entry_id;
use crate::domain::log::{LogEntry, LogStatus};
use crate::domain::messages::{
    parse_dead_letter, Blob, DeadJob, DeadLetter, DeliveryJob, EmailRecord, ProcessJob,
    DEAD_LETTER_PREFIX, DEAD_LETTER_TTL_SECS, MAX_SPILL_MISSES, QUEUE_EXHAUSTED, SPILL_TTL_SECS,
};
use crate::domain::pipeline::{deliveries, plan, Plan};
use crate::domain::ports::KeyValueStore;
use crate::domain::routing::RoutingRules;
use crate::domain::time::iso_utc;

/// Wait before retrying a message whose spilled part is not readable yet (KV propagates writes
/// within about a minute).
const SPILL_MISS_RETRY_SECS: u32 = 60;
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
    let app = match App::load(env) {
        Ok(app) => app,
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
            let context = match load_processing_context(&app).await {
                Some(c) => c,
                None => {
                    messages
                        .iter()
                        .for_each(|m| retry_later(m, INFRA_RETRY_SECS));
                    return;
                }
            };
            futures::future::join_all(messages.iter().map(|m| process(&app, &context, m))).await;
        }
        bindings::DELIVERY_QUEUE_NAME => {
            futures::future::join_all(messages.iter().map(|m| deliver(&app, m))).await;
        }
        bindings::DEAD_LETTER_QUEUE_NAME => {
            futures::future::join_all(messages.iter().map(|m| keep_dead_letter(&app, m))).await;
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
pub struct ProcessingContext {
    pub docs: Documents,
    pub rules: RoutingRules,
}

async fn load_processing_context(app: &App) -> Option<ProcessingContext> {
    let (docs, rules) = futures::join!(app.stores.load_documents(), super::admin::load_rules(app));
    match (docs, rules) {
        (Ok(docs), Ok(rules)) => Some(ProcessingContext {
            docs: app.settings.documents(&docs),
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

/// Reads a message part; `Ok(None)` when a spilled part is not (yet) readable.
async fn read_blob(app: &App, blob: &Blob) -> Result<Option<String>, String> {
    match blob {
        Blob::Inline { data } => Ok(Some(data.clone())),
        Blob::Spilled { key } => app.stores.blobs.get(key).await.map_err(|e| e.to_string()),
    }
}

/// A message that could not be parsed at all, kept verbatim.
fn unreadable(text: String, now: i64) -> DeadLetter {
    DeadLetter {
        reason: "unreadable_message".into(),
        error: None,
        dead_at_ms: now,
        job: DeadJob::Unreadable { text },
    }
}

async fn dead_letter(app: &App, msg: &RawMessage, dead: DeadLetter) {
    match send_dead_letter(app, &dead).await {
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

async fn process(app: &App, ctx: &ProcessingContext, msg: &RawMessage) {
    let text = text_of(msg);
    let now = now_ms();
    let Ok(job) = serde_json::from_str::<ProcessJob>(&text) else {
        console_error!("processing: unreadable message kept as a dead letter");
        return dead_letter(app, msg, unreadable(text, now)).await;
    };
    let email_text = match read_blob(app, &job.email).await {
        Ok(Some(t)) => t,
        Ok(None) if job.spill_misses < MAX_SPILL_MISSES => {
            let next = ProcessJob {
                spill_misses: job.spill_misses + 1,
                ..job
            };
            return match resend_process_job(app, &next, SPILL_MISS_RETRY_SECS).await {
                Ok(()) => msg.ack(),
                Err(_) => retry_later(msg, SPILL_MISS_RETRY_SECS),
            };
        }
        Ok(None) => {
            let entry = missing_part_entry(&job.email_id, None, now);
            app.stores.log(&entry).await;
            let dead = DeadLetter {
                reason: "email_missing".into(),
                error: entry.error,
                dead_at_ms: now,
                job: DeadJob::Process(job),
            };
            return dead_letter(app, msg, dead).await;
        }
        Err(_) => return retry_later(msg, INFRA_RETRY_SECS),
    };
    let Ok(email) = serde_json::from_str::<EmailRecord>(&email_text) else {
        let dead = DeadLetter {
            reason: "unreadable_email".into(),
            error: None,
            dead_at_ms: now,
            job: DeadJob::Process(job),
        };
        return dead_letter(app, msg, dead).await;
    };
    match plan(&email, &ctx.docs, &ctx.rules, now, app.settings.timezone) {
        Plan::Deliver {
            mut analysis,
            window,
            route,
        } => {
            super::offload::enrich(app, &mut analysis.links).await;
            let planned = deliveries(&email, &analysis, &window, &route.targets);
            let links = analysis.links.len() as u32;
            match send_deliveries(
                app,
                &planned,
                analysis.detector.clone(),
                links,
                ctx.docs.prefs.retry,
                now,
            )
            .await
            {
                Ok(_) => msg.ack(),
                Err(e) => {
                    console_error!(
                        "processing {}: deliveries not queued ({e}); retried",
                        email.email_id
                    );
                    retry_later(msg, INFRA_RETRY_SECS);
                }
            }
        }
        Plan::Skip { analysis, reason } => {
            let mut entry = decision_entry(&email, LogStatus::Skipped, &reason.as_str(), now);
            entry.detector = analysis.detector.clone();
            entry.delivery_links_count = analysis.links.len() as u32;
            app.stores.log(&entry).await;
            msg.ack();
        }
        Plan::Hold {
            analysis,
            until_ms,
            reason,
        } => {
            let first_hold = job.held_until_ms.is_none();
            if let Blob::Spilled { key } = &job.email {
                // A hold can outlast the spill's lifetime: renew it at every hop.
                if let Err(e) = app
                    .stores
                    .blobs
                    .put(key, &email_text, Some(SPILL_TTL_SECS))
                    .await
                {
                    console_error!(
                        "processing {}: spilled e-mail not renewed ({e}); retried",
                        email.email_id
                    );
                    return retry_later(msg, INFRA_RETRY_SECS);
                }
            }
            let next = ProcessJob {
                held_until_ms: Some(until_ms),
                ..job
            };
            let delay = hold_delay_secs(until_ms, now).min(app.settings.hold_recheck_max_secs);
            match resend_process_job(app, &next, delay).await {
                Ok(()) => {
                    if first_hold {
                        let mut entry =
                            decision_entry(&email, LogStatus::Held, reason.as_str(), now);
                        entry.detector = analysis.detector.clone();
                        entry.error = Some(format!("held until {}", iso_utc(until_ms)));
                        app.stores.log(&entry).await;
                    }
                    msg.ack();
                }
                Err(e) => {
                    console_error!(
                        "processing {}: hold not re-queued ({e}); retried",
                        email.email_id
                    );
                    retry_later(msg, INFRA_RETRY_SECS);
                }
            }
        }
        Plan::NoTarget { analysis } => {
            let mut entry = decision_entry(&email, LogStatus::Error, "no_webhook_url", now);
            entry.detector = analysis.detector.clone();
            entry.error = Some(
                "no webhook URL configured (webhook_config.webhook_url or WEBHOOK_URL)".into(),
            );
            app.stores.log(&entry).await;
            let dead = DeadLetter {
                reason: "no_webhook_url".into(),
                error: entry.error.clone(),
                dead_at_ms: now,
                job: DeadJob::Process(job),
            };
            dead_letter(app, msg, dead).await;
        }
    }
}

fn attempt_entry(
    job: &DeliveryJob,
    outcome: &AttemptOutcome,
    duration_ms: u64,
    status: LogStatus,
    now: i64,
) -> LogEntry {
    let id = log_entry_id(&[&job.delivery_id, &job.attempt.to_string(), status.as_str()]);
    let mut entry = LogEntry::about_email(id, &job.email_id, status, "", now).for_delivery(
        &job.target_url,
        &job.delivery_id,
        job.detector.clone(),
        job.links_count,
        job.attempt,
    );
    entry.reason = None;
    entry.error = outcome.error_text(job.policy.timeout_sec);
    entry.duration_ms = duration_ms;
    entry.status_code = outcome.status_code();
    entry
}

async fn deliver(app: &App, msg: &RawMessage) {
    let text = text_of(msg);
    let Ok(job) = serde_json::from_str::<DeliveryJob>(&text) else {
        console_error!("delivery: unreadable message kept as a dead letter");
        return dead_letter(app, msg, unreadable(text, now_ms())).await;
    };
    let body = match read_blob(app, &job.payload).await {
        Ok(Some(b)) => b,
        Ok(None) if job.spill_misses < MAX_SPILL_MISSES => {
            let next = DeliveryJob {
                spill_misses: job.spill_misses + 1,
                ..job
            };
            return match send_retry(app, &next, SPILL_MISS_RETRY_SECS).await {
                Ok(()) => msg.ack(),
                Err(_) => retry_later(msg, SPILL_MISS_RETRY_SECS),
            };
        }
        Ok(None) => {
            let now = now_ms();
            let entry = missing_part_entry(&job.email_id, Some(&job), now);
            app.stores.log(&entry).await;
            let dead = DeadLetter {
                reason: "payload_missing".into(),
                error: entry.error,
                dead_at_ms: now,
                job: DeadJob::Delivery(job),
            };
            return dead_letter(app, msg, dead).await;
        }
        Err(_) => return retry_later(msg, INFRA_RETRY_SECS),
    };
    let (outcome, duration_ms) =
        outbound::attempt(&job, &body, app.settings.signing_secret.as_deref()).await;
    let now = now_ms();
    let seed = u64::from_str_radix(job.delivery_id.get(4..12).unwrap_or("0"), 16).unwrap_or(0)
        ^ u64::from(job.attempt);
    match decide(&outcome, job.attempt, &job.policy, seed) {
        Decision::Ack => {
            app.stores
                .log(&attempt_entry(
                    &job,
                    &outcome,
                    duration_ms,
                    LogStatus::Success,
                    now,
                ))
                .await;
            if let Blob::Spilled { key } = &job.payload {
                if let Err(e) = app.stores.blobs.delete(key).await {
                    console_warn!(
                        "delivery {}: spilled payload not deleted ({e}); it expires",
                        job.delivery_id
                    );
                }
            }
            msg.ack();
        }
        Decision::Retry {
            next_attempt,
            delay_secs,
        } => {
            let mut entry = attempt_entry(&job, &outcome, duration_ms, LogStatus::Retrying, now);
            entry.next_retry_in_sec = Some(delay_secs);
            app.stores.log(&entry).await;
            let next = DeliveryJob {
                attempt: next_attempt,
                ..job
            };
            match send_retry(app, &next, delay_secs).await {
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
            let mut entry = attempt_entry(&job, &outcome, duration_ms, LogStatus::Error, now);
            entry.reason = Some(reason.as_str().to_string());
            app.stores.log(&entry).await;
            let dead = DeadLetter {
                reason: reason.as_str().into(),
                error: entry.error.clone(),
                dead_at_ms: now,
                job: DeadJob::Delivery(job),
            };
            dead_letter(app, msg, dead).await;
        }
    }
}

async fn keep_dead_letter(app: &App, msg: &RawMessage) {
    let now = now_ms();
    let dead = parse_dead_letter(&text_of(msg), now);
    // A dead letter is kept for replay: the part it points to must live as long.
    let spilled = match &dead.job {
        DeadJob::Delivery(j) => Some(&j.payload),
        DeadJob::Process(j) => Some(&j.email),
        DeadJob::Unreadable { .. } => None,
    };
    if let Some(Blob::Spilled { key }) = spilled {
        if let Ok(Some(part)) = app.stores.blobs.get(key).await {
            let _ = app
                .stores
                .blobs
                .put(key, &part, Some(DEAD_LETTER_TTL_SECS))
                .await;
        }
    }
    let key = format!("{DEAD_LETTER_PREFIX}{}", dead.job.id());
    let text = serde_json::to_string(&dead).unwrap_or_default();
    match app
        .stores
        .blobs
        .put(&key, &text, Some(DEAD_LETTER_TTL_SECS))
        .await
    {
        Ok(()) => {
            console_warn!("dead letter kept: {} ({})", dead.job.id(), dead.reason);
            if dead.reason == QUEUE_EXHAUSTED {
                // Moved here by the queue itself (its own retries ran out): the consumer never
                // logged a final outcome, so it is logged now.
                app.stores.log(&queue_exhausted_entry(&dead, now)).await;
            }
            msg.ack();
        }
        Err(e) => {
            console_error!("dead letter {} not stored ({e}); retried", dead.job.id());
            retry_later(msg, INFRA_RETRY_SECS);
        }
    }
}

/// The final `error` entry of a job whose spilled part could not be found.
fn missing_part_entry(email_id: &str, delivery: Option<&DeliveryJob>, now: i64) -> LogEntry {
    let (what, reason) = match delivery {
        Some(_) => ("payload", "payload_missing"),
        None => ("e-mail", "email_missing"),
    };
    let id = log_entry_id(&[
        email_id,
        delivery.map_or("", |d| d.delivery_id.as_str()),
        "missing",
    ]);
    let mut entry = LogEntry::about_email(id, email_id, LogStatus::Error, reason, now);
    entry.error = Some(format!(
        "the stored {what} could not be read after {MAX_SPILL_MISSES} tries"
    ));
    match delivery {
        Some(d) => entry.for_delivery(
            &d.target_url,
            &d.delivery_id,
            d.detector.clone(),
            d.links_count,
            d.attempt,
        ),
        None => entry,
    }
}

/// The final `error` entry of a job the queue moved to the dead letters on its own.
fn queue_exhausted_entry(dead: &DeadLetter, now: i64) -> LogEntry {
    let (email_id, delivery) = match &dead.job {
        DeadJob::Delivery(d) => (d.email_id.clone(), Some(d)),
        DeadJob::Process(p) => (p.email_id.clone(), None),
        DeadJob::Unreadable { .. } => (String::new(), None),
    };
    let mut entry = missing_part_entry(&email_id, delivery, now);
    entry.id = log_entry_id(&[&dead.job.id(), QUEUE_EXHAUSTED]);
    entry.error = Some(
        "the queue's own retries ran out (infrastructure failures); kept as a dead letter".into(),
    );
    entry.reason = Some(QUEUE_EXHAUSTED.into());
    entry
}
