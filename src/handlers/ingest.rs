//! `POST /api/ingress/gmail` (SPEC §2): answers in the prescribed order, and answers `queued`
//! only once the e-mail is durably on the processing queue.

use worker::{console_error, console_warn, Request, Response};

use crate::adapters::ledger::count;
use crate::adapters::net::now_ms;
use crate::context::Ctx;
use crate::http::{json, read_body_limited, OrUnavailable};
use facteur_core::base::auth::{authorized, presents_credential, CredentialPath};
use facteur_core::base::ids::blocked_logged_key;
use facteur_core::error::ApiError;
use facteur_core::gating::{sending_blocked_at_ingest, HoldReason};
use facteur_core::intake::accept::{accept_email, AcceptError, Accepted};
use facteur_core::intake::ingest::{parse_ingest_head, sender_allowed, IngestStatus};
use facteur_core::store::dedup::PROCESSED_TTL_SECS;
use facteur_core::store::log::LogEntry;
use facteur_core::store::ports::DedupStore;

fn ok(status: IngestStatus, email_id: &str) -> Response {
    json(200, &status.body(email_id))
}

/// Handles one push.
pub async fn handle(ctx: &Ctx, mut req: Request) -> Result<Response, ApiError> {
    let header = req.headers().get("Authorization").ok().flatten();
    let right = authorized(header.as_deref(), &ctx.settings.process_api_token);
    // A token presented is counted against the client's failure limit (a missing one is just
    // refused); past it, every token is answered 429, the right one too.
    if !presents_credential(header.as_deref())
        || !ctx
            .admit_credential(&req, CredentialPath::IngestBearer, right)
            .await?
    {
        return Err(ApiError::unauthorized());
    }
    let stored = ctx
        .stores
        .load_documents()
        .await
        .or_unavailable("Configuration store")?;
    let docs = ctx.settings.documents(&stored);
    let limit = u64::from(docs.prefs.max_email_size_mb) * 1_000_000;
    let bytes = read_body_limited(&mut req, limit).await?;
    let now = now_ms();
    // The request's own text is what is queued: only its head is parsed here.
    let text = String::from_utf8(bytes).map_err(|_| ApiError::invalid_json())?;
    let email = parse_ingest_head(&text)?;
    if !docs.flags.gmail_ingress_enabled {
        return Err(ApiError::ingress_disabled());
    }
    let id = email.email_id.clone();
    let dedup = &ctx.stores.dedup;
    // SPEC order: processed (row 6), allowlist (7), sending switch (8), in flight (9). The
    // refusals only read the marker; the lock is taken once the e-mail is to be queued, where
    // one call checks the marker again and locks.
    let allowed = sender_allowed(&ctx.settings.sender_allowlist, &email.sender_email);
    let blocked = sending_blocked_at_ingest(&docs, now, ctx.settings.timezone);
    if !allowed || blocked.is_some() {
        if dedup
            .is_processed(&id)
            .await
            .or_unavailable("Deduplication store")?
        {
            return Ok(ok(IngestStatus::AlreadyProcessed, &id));
        }
        if !allowed {
            dedup
                .complete(&id, PROCESSED_TTL_SECS)
                .await
                .or_unavailable("Deduplication store")?;
            ctx.stores
                .log(&LogEntry::sender_not_allowed(&id, now))
                .await;
            return Ok(ok(IngestStatus::SkippedSenderNotAllowed, &id));
        }
        let reason = blocked.unwrap_or(HoldReason::SendingDisabled);
        log_block_once_a_day(ctx, &id, reason, now).await;
        return Err(reason.refusal());
    }
    let producer = ctx.producer();
    let job = producer
        .prepare_process_job(text, &id, now)
        .await
        .map_err(|e| {
            console_error!("ingest {id}: e-mail not stored: {e}");
            ApiError::unavailable("Message store")
        })?;
    drop(email);
    let accepted = accept_email(
        &dedup.durable,
        dedup.redis.as_ref(),
        &producer,
        &job,
        ctx.settings.inflight_ttl_secs,
        PROCESSED_TTL_SECS,
    )
    .await;
    match accepted {
        Ok(Accepted::Queued { mirror }) => {
            count(|o| o.emails += 1);
            if mirror {
                ctx.in_background(mirror_marker(ctx, id.clone()));
            }
            Ok(ok(IngestStatus::Queued, &id))
        }
        Ok(Accepted::Processed) => Ok(ok(IngestStatus::AlreadyProcessed, &id)),
        Ok(Accepted::InFlight) => Ok(ok(IngestStatus::AlreadyProcessing, &id)),
        Err(AcceptError::NotQueued(e)) => {
            console_error!("ingest {id}: not enqueued: {e}");
            Err(ApiError::unavailable("Processing queue"))
        }
        Err(AcceptError::Unavailable(e)) => Err(e).or_unavailable("Deduplication store"),
    }
}

/// Copies the processed marker the dedup object wrote to Redis (SPEC's
/// `r:ss:processed_email:<id>`), after the answer: the object is the authority.
fn mirror_marker(ctx: &Ctx, id: String) -> impl std::future::Future<Output = ()> + 'static {
    let redis = ctx.redis();
    async move {
        if let Some(redis) = redis {
            if let Err(e) = redis.complete(&id, PROCESSED_TTL_SECS).await {
                console_warn!("ingest {id}: processed marker not mirrored to redis ({e})");
            }
        }
    }
}

/// The Apps Script pushes a blocked e-mail again on every run; log the block once a day per
/// e-mail and reason so the log is not flooded.
async fn log_block_once_a_day(ctx: &Ctx, email_id: &str, reason: HoldReason, now: i64) {
    let key = blocked_logged_key(email_id, reason.as_str(), now);
    if let Ok(Some(_)) = ctx.stores.docs.get(&key).await {
        return;
    }
    ctx.stores
        .log(&LogEntry::blocked(email_id, reason, now))
        .await;
    if let Err(e) = ctx.stores.docs.put(&key, "1", Some(86_400)).await {
        console_warn!("ingest: block marker not saved: {e}");
    }
}
