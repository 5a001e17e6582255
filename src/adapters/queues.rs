//! Producing queue messages: large parts are spilled to KV first, then the message is sent.

use worker::{Env, MessageBuilder, Queue, QueueContentType, SendMessage};

use super::kv::Kv;
use facteur_core::config::bindings;
use facteur_core::messages::{
    email_spill_key, payload_spill_key, Blob, DeadLetter, DeliveryJob, DeliveryMeta, EmailRecord,
    ProcessJob, MAX_MESSAGE_BYTES, SPILL_TTL_SECS,
};
use facteur_core::pipeline::PlannedDelivery;
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

    /// Builds the first-attempt delivery jobs of an e-mail (spilling large payloads) and sends
    /// them, in one batch when they fit in one (all targets queued or none), else one by one (a
    /// retry of the processing message then re-sends them under the same delivery ids).
    pub async fn send_deliveries(
        &self,
        planned: &[PlannedDelivery],
        meta: &DeliveryMeta,
    ) -> Result<(), SendError> {
        let mut texts = Vec::with_capacity(planned.len());
        for p in planned {
            let payload = self
                .place(to_text(&p.payload)?, payload_spill_key(&p.delivery_id))
                .await?;
            texts.push(to_text(&DeliveryJob::first(p, payload, meta))?);
        }
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
