//! Producing queue messages: large parts are spilled to KV first, then the message is sent.

use worker::{MessageBuilder, Queue, QueueContentType, SendMessage};

use super::app::App;
use crate::domain::config::bindings;
use crate::domain::messages::{
    email_spill_key, payload_spill_key, Blob, DeadLetter, DeliveryJob, EmailRecord, ProcessJob,
    MAX_MESSAGE_BYTES, SPILL_TTL_SECS,
};
use crate::domain::pipeline::PlannedDelivery;
use crate::domain::ports::{KeyValueStore, StoreError};
use crate::domain::retry::RetryPolicy;

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

async fn place(app: &App, data: String, key: String) -> Result<Blob, SendError> {
    let (blob, spill) = Blob::place(data, key);
    if let Some((key, data)) = spill {
        app.stores
            .blobs
            .put(&key, &data, Some(SPILL_TTL_SECS))
            .await
            .map_err(SendError::Spill)?;
    }
    Ok(blob)
}

fn queue(app: &App, binding: &str) -> Result<Queue, SendError> {
    app.env
        .queue(binding)
        .map_err(|e| SendError::Queue(format!("binding {binding}: {e}")))
}

/// Sends a text message, with an optional delay.
pub async fn send_text(
    app: &App,
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
    queue(app, binding)?
        .send(msg.build())
        .await
        .map_err(|e| SendError::Queue(e.to_string()))
}

fn to_text<T: serde::Serialize>(value: &T) -> Result<String, SendError> {
    serde_json::to_string(value).map_err(|e| SendError::Queue(e.to_string()))
}

/// Puts an accepted e-mail on the processing queue.
pub async fn send_process_job(
    app: &App,
    email: &EmailRecord,
    now_ms: i64,
) -> Result<(), SendError> {
    let blob = place(app, to_text(email)?, email_spill_key(&email.email_id)).await?;
    let job = ProcessJob {
        email_id: email.email_id.clone(),
        email: blob,
        accepted_at_ms: now_ms,
        held_until_ms: None,
        spill_misses: 0,
    };
    send_text(app, bindings::PROCESS_QUEUE, to_text(&job)?, 0).await
}

/// Re-sends a processing job (a hold hop), keeping its spilled e-mail.
pub async fn resend_process_job(
    app: &App,
    job: &ProcessJob,
    delay_secs: u32,
) -> Result<(), SendError> {
    send_text(app, bindings::PROCESS_QUEUE, to_text(job)?, delay_secs).await
}

/// Largest batch the queue accepts in one `sendBatch`, in bytes and messages.
const MAX_BATCH_BYTES: usize = 250 * 1024;
const MAX_BATCH_MESSAGES: usize = 100;

/// Builds the first-attempt delivery jobs of an e-mail (spilling large payloads) and sends
/// them, in one batch when they fit in one (all targets queued or none), else one by one (a
/// retry of the processing message then re-sends them under the same delivery ids).
pub async fn send_deliveries(
    app: &App,
    planned: &[PlannedDelivery],
    detector: Option<String>,
    links_count: u32,
    policy: RetryPolicy,
    now_ms: i64,
) -> Result<(), SendError> {
    let mut texts = Vec::with_capacity(planned.len());
    for p in planned {
        let payload = place(app, to_text(&p.payload)?, payload_spill_key(&p.delivery_id)).await?;
        let job = DeliveryJob {
            delivery_id: p.delivery_id.clone(),
            email_id: p.payload.microsoft_graph_email_id.clone(),
            target_url: p.target_url.clone(),
            attempt: 1,
            payload,
            detector: detector.clone(),
            links_count,
            policy,
            created_at_ms: now_ms,
            spill_misses: 0,
        };
        texts.push(to_text(&job)?);
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
        return queue(app, bindings::DELIVERY_QUEUE)?
            .send_batch(batch)
            .await
            .map_err(|e| SendError::Queue(e.to_string()));
    }
    for text in texts {
        send_text(app, bindings::DELIVERY_QUEUE, text, 0).await?;
    }
    Ok(())
}

/// Sends the next attempt of a delivery after `delay_secs`.
pub async fn send_retry(app: &App, job: &DeliveryJob, delay_secs: u32) -> Result<(), SendError> {
    send_text(app, bindings::DELIVERY_QUEUE, to_text(job)?, delay_secs).await
}

/// Moves a job to the dead-letter queue.
pub async fn send_dead_letter(app: &App, dead: &DeadLetter) -> Result<(), SendError> {
    send_text(app, bindings::DEAD_LETTER_QUEUE, to_text(dead)?, 0).await
}
