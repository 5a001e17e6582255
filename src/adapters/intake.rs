//! Taking an e-mail once its request is read and checked (SPEC §2, rows 5 to 10): the runtime
//! flag, the processed marker, the allowlist, the sending switch, then one call to the dedup
//! object that queues it exactly once. The ingest (`POST /api/ingress/gmail`) and the Gmail
//! mailbox's object both take e-mails here, so an e-mail the Apps Script pushes and one the
//! Gmail push takes are the same job, with the same answers, log entries and dedup.

use worker::{console_error, console_warn};

use super::ledger::count;
use super::queues::Producer;
use super::redis::Redis;
use super::stores::Stores;
use crate::http::OrUnavailable;
use facteur_core::base::ids::blocked_logged_key;
use facteur_core::config::Documents;
use facteur_core::error::ApiError;
use facteur_core::gating::{sending_blocked_at_ingest, HoldReason};
use facteur_core::intake::accept::{accept_email, AcceptError, Accepted};
use facteur_core::intake::ingest::{sender_allowed, IngestHead, IngestStatus};
use facteur_core::settings::Settings;
use facteur_core::store::dedup::PROCESSED_TTL_SECS;
use facteur_core::store::log::LogEntry;
use facteur_core::store::ports::DedupStore;

/// What taking an e-mail came to (the 200 answers of SPEC §2).
pub struct Took {
    pub status: IngestStatus,
    pub email_id: String,
    /// The processed marker is to be mirrored to Redis (after the answer: see
    /// [`mirror_marker`]).
    pub mirror: bool,
}

/// The stores, settings and queues taking an e-mail needs.
pub struct Intake<'a> {
    pub stores: &'a Stores,
    pub settings: &'a Settings,
    pub producer: Producer<'a>,
}

impl Intake<'_> {
    /// Takes the e-mail whose request is `text` (its head already parsed and checked): answers
    /// in SPEC order, and `queued` only once the e-mail is durably on the processing queue.
    /// The errors are the ingest's: 409 (ingress or sending off), 503 (a store or the queue).
    pub async fn take(
        &self,
        text: String,
        email: &IngestHead,
        docs: &Documents,
        now: i64,
    ) -> Result<Took, ApiError> {
        if !docs.flags.gmail_ingress_enabled {
            return Err(ApiError::ingress_disabled());
        }
        let id = email.email_id.clone();
        let took = |status| Took {
            status,
            email_id: id.clone(),
            mirror: false,
        };
        let dedup = &self.stores.dedup;
        // SPEC order: processed (row 6), allowlist (7), sending switch (8), in flight (9). The
        // refusals only read the marker; the lock is taken once the e-mail is to be queued,
        // where one call checks the marker again and locks.
        let allowed = sender_allowed(&self.settings.sender_allowlist, &email.sender_email);
        let blocked = sending_blocked_at_ingest(docs, now, self.settings.timezone);
        if !allowed || blocked.is_some() {
            if dedup
                .is_processed(&id)
                .await
                .or_unavailable("Deduplication store")?
            {
                return Ok(took(IngestStatus::AlreadyProcessed));
            }
            if !allowed {
                dedup
                    .complete(&id, PROCESSED_TTL_SECS)
                    .await
                    .or_unavailable("Deduplication store")?;
                self.stores
                    .log(&LogEntry::sender_not_allowed(&id, now))
                    .await;
                return Ok(took(IngestStatus::SkippedSenderNotAllowed));
            }
            let reason = blocked.unwrap_or(HoldReason::SendingDisabled);
            self.log_block_once_a_day(&id, reason, now).await;
            return Err(reason.refusal());
        }
        let job = self
            .producer
            .prepare_process_job(text, &id, now)
            .await
            .map_err(|e| {
                console_error!("intake {id}: e-mail not stored: {e}");
                ApiError::unavailable("Message store")
            })?;
        let accepted = accept_email(
            &dedup.durable,
            dedup.redis.as_ref(),
            &self.producer,
            &job,
            self.settings.inflight_ttl_secs,
            PROCESSED_TTL_SECS,
        )
        .await;
        match accepted {
            Ok(Accepted::Queued { mirror }) => {
                count(|o| o.emails += 1);
                Ok(Took {
                    mirror,
                    ..took(IngestStatus::Queued)
                })
            }
            Ok(Accepted::Processed) => Ok(took(IngestStatus::AlreadyProcessed)),
            Ok(Accepted::InFlight) => Ok(took(IngestStatus::AlreadyProcessing)),
            Err(AcceptError::NotQueued(e)) => {
                console_error!("intake {id}: not enqueued: {e}");
                Err(ApiError::unavailable("Processing queue"))
            }
            Err(AcceptError::Unavailable(e)) => Err(e).or_unavailable("Deduplication store"),
        }
    }

    /// The Apps Script pushes a blocked e-mail again on every run (and the mailbox's catch-up
    /// meets it again): the block is logged once a day per e-mail and reason.
    async fn log_block_once_a_day(&self, email_id: &str, reason: HoldReason, now: i64) {
        let key = blocked_logged_key(email_id, reason.as_str(), now);
        if let Ok(Some(_)) = self.stores.docs.get(&key).await {
            return;
        }
        self.stores
            .log(&LogEntry::blocked(email_id, reason, now))
            .await;
        if let Err(e) = self.stores.docs.put(&key, "1", Some(86_400)).await {
            console_warn!("intake: block marker not saved: {e}");
        }
    }
}

/// Copies the processed marker the dedup object wrote to Redis (SPEC's
/// `r:ss:processed_email:<id>`), after the answer: the object is the authority.
pub async fn mirror_marker(redis: Option<Redis>, id: String) {
    if let Some(redis) = redis {
        if let Err(e) = redis.complete(&id, PROCESSED_TTL_SECS).await {
            console_warn!("intake {id}: processed marker not mirrored to redis ({e})");
        }
    }
}
