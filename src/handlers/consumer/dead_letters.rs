//! The dead-letter queue: every job that will not be tried again on its own is kept in KV for
//! the operator (list, replay), with the part it points to.

use worker::{console_error, console_warn, MessageExt, RawMessage};

use super::{retry_later, text_of, INFRA_RETRY_SECS};
use crate::adapters::net::now_ms;
use crate::context::Ctx;
use facteur_core::jobs::blob::Blob;
use facteur_core::jobs::dead_letter::parse_dead_letter;
use facteur_core::jobs::dead_letter::DEAD_LETTER_PREFIX;
use facteur_core::jobs::dead_letter::DEAD_LETTER_TTL_SECS;
use facteur_core::jobs::dead_letter::QUEUE_EXHAUSTED;
use facteur_core::store::log::LogEntry;
use facteur_core::store::ports::KeyValueStore;

/// Keeps one dead letter.
pub(super) async fn keep(ctx: &Ctx, msg: &RawMessage) {
    let now = now_ms();
    let dead = parse_dead_letter(&text_of(msg), now);
    // A dead letter is kept for replay: the part it points to must live as long.
    if let Some(Blob::Spilled { key }) = dead.job.part() {
        if let Ok(Some(part)) = ctx.stores.blobs.get(key).await {
            let _ = ctx
                .stores
                .blobs
                .put(key, &part, Some(DEAD_LETTER_TTL_SECS))
                .await;
        }
    }
    let key = format!("{DEAD_LETTER_PREFIX}{}", dead.job.id());
    let text = serde_json::to_string(&dead).unwrap_or_default();
    match ctx
        .stores
        .blobs
        .put(&key, &text, Some(DEAD_LETTER_TTL_SECS))
        .await
    {
        Ok(()) => {
            console_warn!("dead letter kept: {} ({})", dead.job.id(), dead.reason);
            if dead.reason == QUEUE_EXHAUSTED {
                ctx.stores.log(&LogEntry::queue_exhausted(&dead, now)).await;
            }
            msg.ack();
        }
        Err(e) => {
            console_error!("dead letter {} not stored ({e}); retried", dead.job.id());
            retry_later(msg, INFRA_RETRY_SECS);
        }
    }
}
