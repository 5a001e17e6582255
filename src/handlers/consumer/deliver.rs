//! Delivery attempts: one POST, the core's decision, its log line, and the side effect that
//! carries the decision out. Shared by the first attempts the processing consumer makes
//! inline and by the delivery queue (retries, replays, targets kept off the inline path).

use std::cell::RefCell;

use worker::{console_error, MessageExt, RawMessage};

use super::{read_part, retry_later, INFRA_RETRY_SECS};
use crate::adapters::net::now_ms;
use crate::adapters::outbound;
use crate::context::Ctx;
use facteur_core::delivery::{decide, Decision};
use facteur_core::inline::RecentFailures;
use facteur_core::log::LogEntry;
use facteur_core::messages::{DeliveryJob, QueuedJob};
use facteur_core::retry::jitter_seed;

thread_local! {
    static RECENT_FAILURES: RefCell<RecentFailures> = RefCell::new(RecentFailures::default());
}

/// True when the first attempt to `target` may be made inline now.
pub(super) fn inline_ok(target: &str) -> bool {
    RECENT_FAILURES.with(|r| r.borrow().inline_ok(target, now_ms()))
}

/// A decision that could not be carried out (the queue refused the retry or the dead letter):
/// the message that brought the job must be retried after `delay_secs`.
pub(super) struct NotCarried {
    pub delay_secs: u32,
}

/// Makes one attempt of `job` with `body`, logs it, and carries out the decision: nothing
/// more on success, the next attempt queued with its delay, or the dead letter.
pub(super) async fn attempt(ctx: &Ctx, job: DeliveryJob, body: &str) -> Result<(), NotCarried> {
    let (outcome, duration_ms) =
        outbound::attempt(&job, body, ctx.settings.signing_secret.as_deref()).await;
    let now = now_ms();
    RECENT_FAILURES.with(|r| {
        r.borrow_mut()
            .record(&job.target_url, outcome.is_success(), now)
    });
    let decided = decide(
        &outcome,
        job.attempt,
        &job.policy,
        jitter_seed(&job.delivery_id, job.attempt),
    );
    let entry = LogEntry::attempt(&job, &outcome, duration_ms, &decided, now);
    ctx.stores.log(&entry).await;
    match decided {
        Decision::Ack => Ok(()),
        Decision::Retry {
            next_attempt,
            delay_secs,
        } => {
            let next = job.at_attempt(next_attempt);
            ctx.producer()
                .send_delivery(&next, delay_secs)
                .await
                .map_err(|e| {
                    // The same attempt runs again; its log line repeats, nothing is lost.
                    console_error!("delivery {}: retry not queued ({e})", next.delivery_id);
                    NotCarried {
                        delay_secs: delay_secs.max(INFRA_RETRY_SECS),
                    }
                })
        }
        Decision::GiveUp { reason } => {
            let dead = job.into_dead(reason.as_str(), entry.error, now);
            ctx.producer().send_dead_letter(&dead).await.map_err(|e| {
                console_error!("dead letter {} not sent ({e})", dead.job.id());
                NotCarried {
                    delay_secs: INFRA_RETRY_SECS,
                }
            })
        }
    }
}

/// One job of the delivery queue.
pub(super) async fn job(ctx: &Ctx, msg: &RawMessage, job: DeliveryJob) {
    let Some(body) = read_part(ctx, msg, &job).await else {
        return;
    };
    match attempt(ctx, job, &body).await {
        Ok(()) => msg.ack(),
        Err(NotCarried { delay_secs }) => retry_later(msg, delay_secs),
    }
}
