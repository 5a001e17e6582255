//! Producing queue messages: large parts are spilled to KV first, then the message is sent.

use worker::{console_warn, Env, MessageBuilder, Queue, QueueContentType, SendMessage};

use super::kv::Kv;
use facteur_core::config::bindings;
use facteur_core::messages::{
    archive_key, body_key, email_spill_key, ArchivedDelivery, Blob, DeadLetter, DeliveryJob,
    DeliveryMeta, EmailRecord, ProcessJob, ARCHIVE_TTL_SECS, MAX_MESSAGE_BYTES, SPILL_TTL_SECS,
};
use facteur_core::pipeline::PlannedDeliveries;
use facteur_core::ports::{KeyValueStore, StoreError};

/// Why a message could not be produced.
#[derive(Debug)]
pub enum SendError {
    Spill(StoreError),
    Queue(String),
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
    serde_json::to_string(value).map_err(|e| SendError::Queue(e.to_string()))
}

/// Largest batch the queue accepts in one `sendBatch`, in bytes and messages.
const MAX_BATCH_BYTES: usize = 250 * 1024;
const MAX_BATCH_MESSAGES: usize = 100;

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
        self.env
            .queue(binding)
            .map_err(|e| SendError::Queue(format!("binding {binding}: {e}")))
    }

    /// Sends a text message, with an optional delay.
    pub async fn send_text(
        &self,
        binding: &str,
        text: String,
        delay_secs: u32,
    ) -> Result<(), SendError> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(SendError::Queue(format!(
                "message of {} bytes over the queue limit",
                text.len()
            )));
        }
        let mut msg = MessageBuilder::new(text).content_type(QueueContentType::Text);
        if delay_secs > 0 {
            msg = msg.delay_seconds(delay_secs);
        }
        self.queue(binding)?
            .send(msg.build())
            .await
            .map_err(|e| SendError::Queue(e.to_string()))
    }

    /// Puts an accepted e-mail on the processing queue.
    pub async fn send_process_job(
        &self,
        email: &EmailRecord,
        now_ms: i64,
    ) -> Result<(), SendError> {
        let blob = self
            .place(to_text(email)?, email_spill_key(&email.email_id))
            .await?;
        let job = ProcessJob::accepted(email, blob, now_ms);
        self.send_text(bindings::PROCESS_QUEUE, to_text(&job)?, 0)
            .await
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

    /// Sends the first attempts of an e-mail's deliveries, in one batch when they fit in one
    /// (all targets queued or none), else one by one (a retry of the processing message then
    /// re-sends them under the same delivery ids). The payload is serialised once and stored
    /// once (by content) for replay; a large one travels by its key, so it is stored before
    /// any message points to it. Each delivery's archive record is written alongside; a failed
    /// archive write is logged and does not hold the delivery back.
    pub async fn send_deliveries(
        &self,
        planned: &PlannedDeliveries,
        meta: &DeliveryMeta,
    ) -> Result<(), SendError> {
        let body = to_text(&planned.payload)?;
        let key = body_key(&body);
        let part = Blob::for_payload(&body, &key);
        let mut texts = Vec::with_capacity(planned.deliveries.len());
        let mut archives = Vec::with_capacity(planned.deliveries.len());
        for p in &planned.deliveries {
            texts.push(to_text(&DeliveryJob::first(p, part.clone(), meta))?);
            let record = to_text(&ArchivedDelivery::of(p, &key, meta))?;
            archives.push((archive_key(&p.delivery_id), record));
        }
        let store_body = self.blobs.put(&key, &body, Some(ARCHIVE_TTL_SECS));
        let spilled = matches!(part, Blob::Spilled { .. });
        let body_stored = if spilled {
            store_body.await.map_err(SendError::Spill)?;
            None
        } else {
            Some(store_body)
        };
        let archived = futures::future::join_all(
            archives
                .iter()
                .map(|(key, record)| self.blobs.put(key, record, Some(ARCHIVE_TTL_SECS))),
        );
        let inline_body = async {
            match body_stored {
                Some(put) => put.await,
                None => Ok(()),
            }
        };
        let (body_result, archived, sent) =
            futures::join!(inline_body, archived, self.send_jobs(texts));
        if let Err(e) = body_result {
            console_warn!("e-mail {}: payload not archived ({e})", meta.email_id);
        }
        for ((key, _), result) in archives.iter().zip(archived) {
            if let Err(e) = result {
                console_warn!("{key}: not archived for replay ({e})");
            }
        }
        sent
    }

    async fn send_jobs(&self, texts: Vec<String>) -> Result<(), SendError> {
        let total: usize = texts.iter().map(String::len).sum();
        if texts.len() > 1 && total <= MAX_BATCH_BYTES && texts.len() <= MAX_BATCH_MESSAGES {
            let batch: Vec<SendMessage<String>> = texts
                .into_iter()
                .map(|t| {
                    MessageBuilder::new(t)
                        .content_type(QueueContentType::Text)
                        .build()
                })
                .collect();
            return self
                .queue(bindings::DELIVERY_QUEUE)?
                .send_batch(batch)
                .await
                .map_err(|e| SendError::Queue(e.to_string()));
        }
        for text in texts {
            self.send_text(bindings::DELIVERY_QUEUE, text, 0).await?;
        }
        Ok(())
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

    /// Moves a job to the dead-letter queue.
    pub async fn send_dead_letter(&self, dead: &DeadLetter) -> Result<(), SendError> {
        self.send_text(bindings::DEAD_LETTER_QUEUE, to_text(dead)?, 0)
            .await
    }
}
