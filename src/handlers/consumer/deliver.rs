//! Delivery attempts: one POST, the core's decision, its log line, and the side effect that
//! carries the decision out. Shared by the first attempts the processing consumer makes
//! inline and by the delivery queue (retries, replays, targets kept off the inline path).

use std::cell::RefCell;
use std::collections::HashMap;

use worker::{console_error, MessageExt, RawMessage};

use super::{read_part, retry_later, INFRA_RETRY_SECS};
use crate::adapters::net::now_ms;
use crate::adapters::outbound;
use crate::context::Ctx;
use facteur_core::delivery::inline::{held_up, RecentFailures};
use facteur_core::delivery::outcome::{AttemptOutcome, Decision, GiveUpReason};
use facteur_core::delivery::target_health::target_id;
use facteur_core::jobs::delivery::DeliveryJob;
use facteur_core::jobs::delivery::JobKind;
use facteur_core::jobs::queued::QueuedJob;
use facteur_core::store::log::LogEntry;

thread_local! {
    static RECENT_FAILURES: RefCell<RecentFailures> = RefCell::new(RecentFailures::default());
    /// What this isolate last heard of targets from their objects: parks or not, since when,
    /// and whether a failure was reported since the last success (so a success is reported
    /// back only then: the healthy path never calls the objects).
    static TARGETS_SEEN: RefCell<HashMap<String, Seen>> = RefCell::new(HashMap::new());
}

#[derive(Clone, Copy)]
struct Seen {
    parks: bool,
    at_ms: i64,
    failing: bool,
}

/// How long a target's "parks" answer is trusted before its object is asked again.
const SEEN_FOR_MS: i64 = 2_000;
/// Most targets remembered (the oldest answers go first).
const MAX_SEEN: usize = 1_000;

fn seen(target: &str) -> Option<Seen> {
    TARGETS_SEEN.with(|t| t.borrow().get(target).copied())
}

fn remember(target: &str, parks: bool, failing: bool) {
    TARGETS_SEEN.with(|t| {
        let mut t = t.borrow_mut();
        if t.len() >= MAX_SEEN {
            if let Some(oldest) = t
                .iter()
                .min_by_key(|(_, s)| s.at_ms)
                .map(|(k, _)| k.clone())
            {
                t.remove(&oldest);
            }
        }
        t.insert(
            target.to_string(),
            Seen {
                parks,
                at_ms: now_ms(),
                failing,
            },
        );
    });
}

/// Parks `job` at its target when the target parks; `true` when it was parked (logged).
async fn park(ctx: &Ctx, job: &DeliveryJob, attempted: Option<(&AttemptOutcome, u64)>) -> bool {
    match ctx.targets().park(job).await {
        Ok(true) => {
            ctx.stores
                .log(&LogEntry::parked(job, attempted, now_ms()))
                .await;
            true
        }
        Ok(false) => {
            remember(&job.target_url, false, false);
            false
        }
        Err(e) => {
            // Without its object the target's health is unknown: deliver as usual.
            console_error!(
                "delivery {}: target object unreachable ({e})",
                job.delivery_id
            );
            false
        }
    }
}

/// Parks a delivery whose retries ran out (its log entry says so once it is kept). A receiver
/// that took other deliveries meanwhile refuses this one and is not down: it is given up (a
/// dead letter). Without its object the delivery cannot wait anywhere: the message comes back
/// later and the attempt is made again (nothing is dropped).
async fn park_exhausted(
    ctx: &Ctx,
    job: DeliveryJob,
    attempts: u32,
    outcome: &AttemptOutcome,
    duration_ms: u64,
    entry: LogEntry,
) -> Result<(), NotCarried> {
    let error = entry.error.clone().unwrap_or_default();
    match ctx.targets().park_exhausted(&job, attempts, error).await {
        Ok(true) => {
            ctx.stores.log(&entry).await;
            remember(&job.target_url, true, true);
            Ok(())
        }
        Ok(false) => {
            let now = now_ms();
            let reason = GiveUpReason::RetriesExhausted;
            let entry = LogEntry::attempt(
                &job,
                outcome,
                duration_ms,
                &Decision::GiveUp { reason },
                now,
            );
            ctx.stores.log(&entry).await;
            let dead = job.into_dead(reason.as_str(), entry.error, now);
            ctx.producer().send_dead_letter(&dead).await.map_err(|e| {
                console_error!("dead letter {} not sent ({e})", dead.job.id());
                NotCarried {
                    delay_secs: INFRA_RETRY_SECS,
                }
            })
        }
        Err(e) => {
            console_error!(
                "delivery {}: out of retries, not parked ({e}); tried again later",
                job.delivery_id
            );
            Err(NotCarried {
                delay_secs: INFRA_RETRY_SECS,
            })
        }
    }
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
    let webhook = job.kind == JobKind::Webhook;
    let parks = webhook
        && (seen(&job.target_url).is_some_and(|s| s.parks && now_ms() - s.at_ms < SEEN_FOR_MS)
            || ctx.stores.target_parks(&target_id(&job.target_url)).await);
    if parks && park(ctx, &job, None).await {
        return Ok(());
    }
    let (outcome, duration_ms) =
        outbound::attempt(&job, body, ctx.settings.signing_secret.as_deref()).await;
    let now = now_ms();
    // Only a failure that held the attempt up keeps the target off the inline path.
    let clear = !held_up(&outcome, duration_ms);
    RECENT_FAILURES.with(|r| r.borrow_mut().record(&job.target_url, clear, now));
    let (decided, entry) = LogEntry::judge(&job, &outcome, duration_ms, now);
    if let Decision::Park { after_attempts } = decided {
        // Out of retries: the delivery waits at its target, which parks from now on.
        return park_exhausted(ctx, job, after_attempts, &outcome, duration_ms, entry).await;
    }
    if webhook && outcome.is_retryable() {
        // The target's object counts the failure; if the target is (now) paused, the delivery
        // waits there instead of burning its retries.
        let error = outcome.error_text(job.policy.timeout_sec);
        match ctx.targets().report(&job.target_url, false, error).await {
            Ok(view) => {
                remember(&job.target_url, view.parks(), true);
                if view.parks() && park(ctx, &job, Some((&outcome, duration_ms))).await {
                    return Ok(());
                }
            }
            Err(e) => console_error!("delivery {}: failure not reported ({e})", job.delivery_id),
        }
    } else if webhook && outcome.is_success() && seen(&job.target_url).is_some_and(|s| s.failing) {
        if let Ok(view) = ctx.targets().report(&job.target_url, true, None).await {
            remember(&job.target_url, view.parks(), false);
        }
    }
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
        // Handled above, before the target is told of the failure.
        Decision::Park { .. } => Ok(()),
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
