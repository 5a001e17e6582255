//! `POST /api/ingress/gmail` (SPEC §2): answers in the prescribed order, and answers `queued`
//! only once the e-mail is durably on the processing queue.

use worker::{console_error, console_warn, Request, Response};

use super::app::App;
use super::http::{json, read_body_limited};
use super::net::now_ms;
use super::queues::{send_process_job, SendError};
use crate::domain::auth::authorized;
use crate::domain::config::PROCESSED_TTL_SECS;
use crate::domain::error::ApiError;
use crate::domain::gating::sending_blocked_at_ingest;
use crate::domain::ids::log_entry_id;
use crate::domain::ingest::{parse_ingest, sender_allowed, IngestStatus};
use crate::domain::log::{LogEntry, LogStatus};
use crate::domain::messages::EmailRecord;
use crate::domain::ports::{Claim, DedupStore};
use crate::domain::time::DAY_MS;

fn ok(status: IngestStatus, email_id: &str) -> Response {
    json(200, &status.body(email_id))
}

/// Handles one push.
pub async fn handle(app: &App, mut req: Request) -> Result<Response, ApiError> {
    let header = req.headers().get("Authorization").ok().flatten();
    if !authorized(header.as_deref(), &app.settings.process_api_token) {
        return Err(ApiError::unauthorized());
    }
    let stored = app.stores.load_documents().await.map_err(|e| {
        console_error!("ingest: configuration unreadable: {e}");
        ApiError::unavailable("Configuration store")
    })?;
    let docs = app.settings.documents(&stored);
    let limit = u64::from(docs.prefs.max_email_size_mb) * 1_000_000;
    let bytes = read_body_limited(&mut req, limit).await?;
    let now = now_ms();
    let email = parse_ingest(&bytes, now)?;
    drop(bytes);
    if !docs.flags.gmail_ingress_enabled {
        return Err(ApiError::ingress_disabled());
    }
    let id = email.email_id.clone();
    let dedup = &app.stores.dedup;
    // SPEC order: processed (row 6), allowlist (7), sending switch (8), in flight (9). The
    // refusals only read the marker; the lock is taken once the e-mail is to be queued, where
    // one call checks the marker again and locks.
    let allowed = sender_allowed(&app.settings.sender_allowlist, &email.sender_email);
    let blocked = sending_blocked_at_ingest(&docs, now, app.settings.timezone);
    if !allowed || blocked.is_some() {
        if dedup
            .is_processed(&id)
            .await
            .map_err(|e| unavailable("dedup", e))?
        {
            return Ok(ok(IngestStatus::AlreadyProcessed, &id));
        }
        if !allowed {
            dedup
                .complete(&id, PROCESSED_TTL_SECS)
                .await
                .map_err(|e| unavailable("dedup", e))?;
            let entry = decision_entry(&email, LogStatus::Skipped, "sender_not_allowed", now);
            app.stores.log(&entry).await;
            return Ok(ok(IngestStatus::SkippedSenderNotAllowed, &id));
        }
        let reason = blocked.unwrap_or("sending_disabled");
        log_block_once_a_day(app, &email, reason, now).await;
        return Err(ApiError::sending_disabled(reason));
    }
    match dedup
        .claim(&id, app.settings.inflight_ttl_secs)
        .await
        .map_err(|e| unavailable("dedup", e))?
    {
        Claim::Processed => return Ok(ok(IngestStatus::AlreadyProcessed, &id)),
        Claim::InFlight => return Ok(ok(IngestStatus::AlreadyProcessing, &id)),
        Claim::Acquired => {}
    }
    if let Err(e) = send_process_job(app, &email, now).await {
        // Not accepted: free the lock so the sender's retry can succeed.
        release(app, &id).await;
        let what = match e {
            SendError::Spill(_) => "Message store",
            SendError::Queue(_) => "Processing queue",
        };
        console_error!("ingest {id}: not enqueued: {e}");
        return Err(ApiError::unavailable(what));
    }
    if let Err(e) = dedup.complete(&id, PROCESSED_TTL_SECS).await {
        // The e-mail is queued; only a later duplicate push is at risk, and the lock still
        // covers it until its TTL ends.
        console_error!("ingest {id}: queued but processed marker not written: {e}");
    }
    Ok(ok(IngestStatus::Queued, &id))
}

async fn release(app: &App, id: &str) {
    if let Err(e) = app.stores.dedup.release(id).await {
        console_warn!("ingest {id}: lock not released ({e}); it expires on its own");
    }
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> ApiError {
    console_error!("ingest: {what} unavailable: {e}");
    ApiError::unavailable("Deduplication store")
}

/// A log entry for a decision taken about a whole e-mail (skip, hold, block).
pub fn decision_entry(email: &EmailRecord, status: LogStatus, reason: &str, now: i64) -> LogEntry {
    let id = log_entry_id(&[&email.email_id, status.as_str(), reason, &now.to_string()]);
    LogEntry::about_email(id, &email.email_id, status, reason, now)
}

/// The Apps Script pushes a blocked e-mail again on every run; log the block once a day per
/// e-mail and reason so the log is not flooded.
async fn log_block_once_a_day(app: &App, email: &EmailRecord, reason: &str, now: i64) {
    let key = format!(
        "r:ss:blocked_logged:{}:{reason}:{}",
        email.email_id,
        now / DAY_MS
    );
    if let Ok(Some(_)) = app.stores.docs.get(&key).await {
        return;
    }
    app.stores
        .log(&decision_entry(email, LogStatus::Blocked, reason, now))
        .await;
    if let Err(e) = app.stores.docs.put(&key, "1", Some(86_400)).await {
        console_warn!("ingest: block marker not saved: {e}");
    }
}
