//! Producing queue messages: large parts are spilled to KV first, then the message is sent.

use worker::{BatchMessageBuilder, Env, MessageBuilder, Queue, QueueContentType};

use super::kv::Kv;
use super::ledger::{count, limit_hit};
use facteur_core::config::bindings;
use facteur_core::intake::accept::JobSender;
use facteur_core::jobs::blob::batches;
use facteur_core::jobs::blob::email_spill_key;
use facteur_core::jobs::blob::Blob;
use facteur_core::jobs::blob::MAX_MESSAGE_BYTES;
use facteur_core::jobs::blob::SPILL_TTL_SECS;
use facteur_core::jobs::dead_letter::DeadLetter;
use facteur_core::jobs::delivery::DeliveryJob;
use facteur_core::jobs::process::ProcessJob;
use facteur_core::records::archive::ArchivedDelivery;
use facteur_core::records::archive::ARCHIVE_TTL_SECS;
use facteur_core::store::ops::queue_units;
use facteur_core::store::ports::{KeyValueStore, StoreError, StoreResult};

impl JobSender for Producer<'_> {
    async fn send_job(&self, job: &str) -> StoreResult<()> {
        self.send_text(bindings::PROCESS_QUEUE, job.to_string(), 0)
            .await
            .map_err(SendError::into_store_error)
    }
}

/// A queue's refusal; a daily limit (Queues on the Free plan) is said once (see
/// `ledger::limit_hit`).
fn queue_err(e: worker::Error) -> StoreError {
    let err = StoreError::from_runtime(e.to_string());
    if err.is_limit() {
        limit_hit("Queues operations", &err.detail);
    }
    err
}

/// Why a message could not be produced.
#[derive(Debug)]
pub enum SendError {
    Spill(StoreError),
    Queue(StoreError),
}

impl SendError {
    /// The store failure behind it (its kind tells a daily limit from an outage).
    pub fn into_store_error(self) -> StoreError {
        match self {
            SendError::Spill(e) => StoreError::new(e.kind, format!("spill failed: {e}")),
            SendError::Queue(e) => StoreError::new(e.kind, format!("queue send failed: {e}")),
        }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Spill(e) => write!(f, "spill failed: {e}"),
            SendError::Queue(e) => write!(f, "queue send failed: {e}"),
        }
    }
}

/// The worker's three queues, and the blob store large parts spill to.
pub struct Producer<'a> {
    pub env: &'a Env,
    pub blobs: &'a Kv,
}

fn to_text<T: serde::Serialize>(value: &T) -> Result<String, SendError> {
    serde_json::to_string(value)
        .map_err(|e| SendError::Queue(StoreError::unreadable(e.to_string())))
}

impl Producer<'_> {
    async fn place(&self, data: String, key: String) -> Result<Blob, SendError> {
        let (blob, spill) = Blob::place(data, key);
        if let Some((key, data)) = spill {
            self.blobs
                .put(&key, &data, Some(SPILL_TTL_SECS))
                .await
                .map_err(SendError::Spill)?;
        }
        Ok(blob)
    }

    fn queue(&self, binding: &str) -> Result<Queue, SendError> {
        self.env.queue(binding).map_err(|e| {
            SendError::Queue(StoreError::unreachable(format!("binding {binding}: {e}")))
        })
    }

    /// Sends a text message, with an optional delay.
    pub async fn send_text(
        &self,
        binding: &str,
        text: String,
        delay_secs: u32,
    ) -> Result<(), SendError> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(SendError::Queue(StoreError::refused(format!(
                "message of {} bytes over the queue limit",
                text.len()
            ))));
        }
        let units = queue_units(text.len());
        count(|o| o.queue_writes += units);
        let mut msg = MessageBuilder::new(text).content_type(QueueContentType::Text);
        if delay_secs > 0 {
            msg = msg.delay_seconds(delay_secs);
        }
        self.queue(binding)?
            .send(msg.build())
            .await
            .map_err(|e| SendError::Queue(queue_err(e)))
    }

    /// The processing job of an accepted e-mail: the push request's own text, stored first
    /// when too large to travel in the message (the consumer parses it again).
    pub async fn prepare_process_job(
        &self,
        request: String,
        email_id: &str,
        now_ms: i64,
    ) -> Result<ProcessJob, SendError> {
        let blob = self.place(request, email_spill_key(email_id)).await?;
        Ok(ProcessJob::accepted(email_id, blob, now_ms))
    }

    /// Re-sends a processing job (a hold hop, a replay), keeping its spilled e-mail.
    pub async fn resend_process_job(
        &self,
        job: &ProcessJob,
        delay_secs: u32,
    ) -> Result<(), SendError> {
        self.send_text(bindings::PROCESS_QUEUE, to_text(job)?, delay_secs)
            .await
    }

    /// Stores a payload body too large to travel inline (by content, see `body_key`) for the
    /// archive's lifetime; the journal keeps the others.
    pub async fn store_body(&self, key: &str, body: &str) -> Result<(), StoreError> {
        self.blobs.put(key, body, Some(ARCHIVE_TTL_SECS)).await
    }

    /// Sends an archived delivery again, as a first attempt under its own delivery id.
    pub async fn replay_archived(&self, archived: &ArchivedDelivery) -> Result<(), SendError> {
        self.send_delivery(&archived.replay_job(), 0).await
    }

    /// Sends an attempt of a delivery after `delay_secs` (a retry, a replay).
    pub async fn send_delivery(&self, job: &DeliveryJob, delay_secs: u32) -> Result<(), SendError> {
        self.send_text(bindings::DELIVERY_QUEUE, to_text(job)?, delay_secs)
            .await
    }

    /// Sends first attempts of deliveries in as few queue calls as the batch limits allow (bulk
    /// replays); answers one result per job (a failed batch fails each of its jobs).
    pub async fn send_deliveries(&self, jobs: &[DeliveryJob]) -> Vec<StoreResult<()>> {
        let texts: Vec<StoreResult<String>> = jobs
            .iter()
            .map(|j| to_text(j).map_err(SendError::into_store_error))
            .collect();
        let sizes: Vec<usize> = texts
            .iter()
            .map(|t| t.as_ref().map_or(0, String::len))
            .collect();
        let mut results = Vec::with_capacity(jobs.len());
        for range in batches(&sizes) {
            let texts = &texts[range];
            let messages: StoreResult<Vec<String>> = texts.iter().cloned().collect();
            let sent = match (messages, self.queue(bindings::DELIVERY_QUEUE)) {
                (Ok(m), Ok(queue)) => {
                    let units: u64 = m.iter().map(|t| queue_units(t.len())).sum();
                    count(|o| o.queue_writes += units);
                    let batch = BatchMessageBuilder::new().messages(m.into_iter().map(|t| {
                        MessageBuilder::new(t)
                            .content_type(QueueContentType::Text)
                            .build()
                    }));
                    queue.send_batch(batch.build()).await.map_err(queue_err)
                }
                (Err(e), _) => Err(e),
                (_, Err(e)) => Err(e.into_store_error()),
            };
            results.extend(texts.iter().map(|_| sent.clone()));
        }
        results
    }

    /// Moves a job to the dead-letter queue.
    pub async fn send_dead_letter(&self, dead: &DeadLetter) -> Result<(), SendError> {
        self.send_text(bindings::DEAD_LETTER_QUEUE, to_text(dead)?, 0)
            .await
    }
}
