//! The processing queue: one accepted e-mail per message, analysed, gated and routed by the
//! core; then every delivery's first attempt is made here, at once (the delivery queue only
//! carries retries, replays, and targets kept off the inline path).

use worker::{console_error, console_warn, MessageExt, RawMessage};

use super::deliver::{self, inline_ok, NotCarried};
use super::{dead_letter, read_part, retry_later, INFRA_RETRY_SECS};
use crate::adapters::net::now_ms;
use crate::context::Ctx;
use facteur_core::analysis::pipeline::{deliveries, plan, Plan, PlannedDeliveries};
use facteur_core::analysis::routing::RoutingRules;
use facteur_core::config::Documents;
use facteur_core::delivery::budget::{offload_cost, offloads, process_job_cost};
use facteur_core::gating::hold_delay_secs;
use facteur_core::intake::ingest::email_from_request;
use facteur_core::jobs::blob::Blob;
use facteur_core::jobs::blob::SPILL_TTL_SECS;
use facteur_core::jobs::delivery::DeliveryJob;
use facteur_core::jobs::delivery::DeliveryMeta;
use facteur_core::jobs::process::ProcessJob;
use facteur_core::jobs::queued::QueuedJob;
use facteur_core::records::archive::body_key;
use facteur_core::store::log::LogEntry;
use facteur_core::store::ports::{DedupStore, KeyValueStore};

/// Configuration read once per processing batch.
pub(super) struct ProcessingConfig {
    docs: Documents,
    rules: RoutingRules,
}

/// Reads the configuration documents and rules (`None`: unreadable, the batch is retried).
pub(super) async fn load_config(ctx: &Ctx) -> Option<ProcessingConfig> {
    match ctx.stores.load_config(true).await {
        Ok((docs, rules)) => Some(ProcessingConfig {
            docs: ctx.settings.documents(&docs),
            rules: rules.unwrap_or_default(),
        }),
        Err(e) => {
            console_error!("processing: configuration unreadable ({e}); batch retried");
            None
        }
    }
}

/// One accepted e-mail.
pub(super) async fn job(ctx: &Ctx, config: &ProcessingConfig, msg: &RawMessage, job: ProcessJob) {
    let now = now_ms();
    if job.sync_with_object {
        // Accepted through Redis alone: the object learns the marker now (best effort; Redis
        // keeps refusing duplicates meanwhile).
        if let Err(e) = ctx
            .stores
            .dedup
            .durable
            .complete(
                &job.email_id,
                facteur_core::store::dedup::PROCESSED_TTL_SECS,
            )
            .await
        {
            console_warn!(
                "processing {}: marker not copied to the object ({e})",
                job.email_id
            );
        }
    }
    let Some(email_text) = read_part(ctx, msg, &job).await else {
        return;
    };
    // The part's text becomes the e-mail (its body decoded in place): no second copy.
    let Ok(email) = email_from_request(email_text, job.accepted_at_ms) else {
        let dead = job.into_dead("unreadable_email", None, now);
        return dead_letter(ctx, msg, dead).await;
    };
    if let Some(marker) = &ctx.settings.fault_panic_marker {
        // Test aid (FAULT_INJECT_PANIC_MARKER): a real crash, to prove crash isolation.
        assert!(!email.subject.contains(marker.as_str()), "fault injection");
    }
    let id = email.email_id.clone();
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
                // Links past the subrequest budget go with their original URLs (and are
                // offloaded when an e-mail names them again, from a later invocation).
                let redis = ctx.stores.redis.is_some();
                let (reserve, each) = (process_job_cost(redis), offload_cost(redis));
                let n = offloads(analysis.links.len(), ctx.subrequests_left(), reserve, each);
                if n < analysis.links.len() {
                    console_warn!(
                        "e-mail {id}: {} of {} links offloaded (subrequest budget)",
                        n,
                        analysis.links.len()
                    );
                }
                r2.enrich(&mut analysis.links[..n]).await;
            }
            let meta = DeliveryMeta {
                email_id: id.clone(),
                accepted_at_ms: job.accepted_at_ms,
                detector: analysis.detector.clone(),
                links_count: analysis.links.len() as u32,
                policy: config.docs.prefs.retry,
                created_at_ms: now,
                rule: route.rule(),
            };
            let sender = email.sender_email.clone();
            let planned = deliveries(email, &analysis, &window, &route.targets);
            match first_attempts(ctx, planned, &meta, &sender).await {
                Ok(()) => msg.ack(),
                Err(NotCarried { delay_secs }) => {
                    console_error!("processing {id}: a delivery was not carried out; retried");
                    retry_later(msg, delay_secs);
                }
            }
        }
        Plan::Skip { analysis, reason } => {
            ctx.stores
                .log(&LogEntry::skipped(&id, &analysis, &reason, now))
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
                let renewed = match serde_json::to_string(&email) {
                    Ok(text) => ctx.stores.blobs.put(key, &text, Some(SPILL_TTL_SECS)).await,
                    Err(e) => Err(facteur_core::store::ports::StoreError::unreadable(
                        e.to_string(),
                    )),
                };
                if let Err(e) = renewed {
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
                        let entry = LogEntry::held(&id, &analysis, reason, until_ms, now);
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
            let entry = LogEntry::no_target(&id, &analysis, now);
            ctx.stores.log(&entry).await;
            let reason = entry.reason.clone().unwrap_or_default();
            dead_letter(ctx, msg, job.into_dead(&reason, entry.error, now)).await;
        }
    }
}

/// Serialises the payload once, stores it once (by content: the archive, and the spilled part
/// of a large one), and makes every delivery's first attempt concurrently; a target that just
/// failed goes through the delivery queue instead. The archive records are written meanwhile.
async fn first_attempts(
    ctx: &Ctx,
    planned: PlannedDeliveries,
    meta: &DeliveryMeta,
    sender_email: &str,
) -> Result<(), NotCarried> {
    let body = payload_text(&planned).ok_or(NotCarried {
        delay_secs: INFRA_RETRY_SECS,
    })?;
    // The payload struct holds a copy of the body: only its serialised form is kept.
    drop(planned.payload);
    let key = body_key(&body);
    let part = Blob::for_payload(&body, &key);
    let producer = ctx.producer();
    let spilled = matches!(part, Blob::Spilled { .. });
    if spilled {
        // Retries will point to the stored body: it must be there before any is sent.
        if let Err(e) = producer.store_body(&key, &body).await {
            console_error!("e-mail {}: payload not stored ({e})", meta.email_id);
            return Err(NotCarried {
                delay_secs: INFRA_RETRY_SECS,
            });
        }
    }
    // The journal keeps the body when it travels inline; a spilled one is in KV already.
    let archive = ctx.stores.archive(
        &planned.deliveries,
        meta,
        &key,
        (!spilled).then_some(body.as_str()),
        sender_email,
        None,
    );
    let producer = &producer;
    let attempts = planned.deliveries.iter().map(|p| {
        let job = DeliveryJob::first(p, part.clone(), meta);
        let body = &body;
        async move {
            if inline_ok(&job.target_url) {
                deliver::attempt(ctx, job, body).await
            } else {
                producer.send_delivery(&job, 0).await.map_err(|e| {
                    console_error!("delivery {}: not queued ({e})", job.delivery_id);
                    NotCarried {
                        delay_secs: INFRA_RETRY_SECS,
                    }
                })
            }
        }
    });
    let ((), results) = futures::join!(archive, futures::future::join_all(attempts));
    results
        .into_iter()
        .find_map(Result::err)
        .map_or(Ok(()), Err)
}

/// The payload as JSON, written into a buffer sized once for it: growing it by doubling would
/// hold two large copies at once for a 25 MB body.
fn payload_text(planned: &PlannedDeliveries) -> Option<String> {
    let content = planned.payload.email_content.len();
    let mut buf = Vec::with_capacity(content + content / 8 + 16 * 1024);
    serde_json::to_writer(&mut buf, &planned.payload).ok()?;
    String::from_utf8(buf).ok()
}
