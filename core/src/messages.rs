//! Queue message bodies. Every message is a JSON text; large parts spill to the KV store so a
//! message stays under the queue's 128 KB limit.

use serde::{Deserialize, Serialize};

use super::config::bindings;
use super::log::{is_false, is_zero, LogEntry, RuleRef};
use super::pipeline::PlannedDelivery;
use super::retry::RetryPolicy;

/// Largest inline part of a message, measured as it will be written inside the message's JSON
/// (escaped); larger parts are spilled. The rest of a message stays far below the 32 KB left
/// to reach the queue's 128 KB.
pub const INLINE_LIMIT_BYTES: usize = 96 * 1024;
/// Largest message the producers send (the queue refuses more than 128 KB).
pub const MAX_MESSAGE_BYTES: usize = 127 * 1024;
/// Most messages one batch send carries (the queue's limit).
pub const MAX_BATCH_MESSAGES: usize = 100;
/// Most bytes one batch send carries (the queue allows 256 KB in all).
pub const MAX_BATCH_BYTES: usize = 250 * 1024;

/// Splits messages of these sizes, in order, into consecutive batches within both limits (a
/// message is never over [`MAX_MESSAGE_BYTES`], so each fits in a batch of its own).
pub fn batches(sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, &size) in sizes.iter().enumerate() {
        if i > start && (i - start == MAX_BATCH_MESSAGES || bytes + size > MAX_BATCH_BYTES) {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// Lifetime of a spilled part. A part still needed later (a long hold, a dead letter kept for
/// replay) has its lifetime renewed by whoever keeps it.
pub const SPILL_TTL_SECS: u64 = 14 * 86_400;

/// A message part: inline, or spilled to the KV store under `key`. Read by hand (see the
/// `Deserialize` below), written by the derive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Blob {
    Inline { data: String },
    Spilled { key: String },
}

/// The derived reading of an internally tagged enum buffers the object in serde's `Content`
/// and is instantiated once per deserializer that reads a message (several KB of wasm each):
/// the object is read as a JSON value instead, and picked apart by one non-generic function.
/// Same accepted input: an object whose `kind` is `inline` (with a string `data`) or
/// `spilled` (with a string `key`), other fields ignored.
impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        blob_from_value(serde_json::Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

fn blob_from_value(v: serde_json::Value) -> Result<Blob, serde_json::Error> {
    use serde::de::{Error, Unexpected};
    use serde_json::Value;
    let Value::Object(mut m) = v else {
        return Err(Error::invalid_type(
            Unexpected::Other("not an object"),
            &"a Blob object",
        ));
    };
    let mut string = |name: &'static str| match m.remove(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Error::invalid_type(
            Unexpected::Other("not a string"),
            &"a string",
        )),
        None => Err(Error::missing_field(name)),
    };
    let kind = string("kind")?;
    match kind.as_str() {
        "inline" => Ok(Blob::Inline {
            data: string("data")?,
        }),
        "spilled" => Ok(Blob::Spilled {
            key: string("key")?,
        }),
        other => Err(Error::unknown_variant(other, &["inline", "spilled"])),
    }
}

impl Blob {
    /// Keeps `data` inline when small enough, else names the key it must be spilled to. The
    /// caller writes the spill *before* sending the message.
    pub fn place(data: String, spill_key: String) -> (Blob, Option<(String, String)>) {
        if fits_inline(&data) {
            (Blob::Inline { data }, None)
        } else {
            (
                Blob::Spilled {
                    key: spill_key.clone(),
                },
                Some((spill_key, data)),
            )
        }
    }

    /// The payload part of a delivery message whose body is stored under `key`: the body
    /// itself when it fits inline (no store read on the delivery path), else the key.
    pub fn for_payload(body: &str, key: &str) -> Blob {
        if fits_inline(body) {
            Blob::Inline {
                data: body.to_string(),
            }
        } else {
            Blob::Spilled {
                key: key.to_string(),
            }
        }
    }
}

/// True when `data` can travel inside a message. Quotes, backslashes and control characters
/// grow when the part is escaped into the message: the escaped form is measured (only for
/// parts that could fit at all).
fn fits_inline(data: &str) -> bool {
    data.len() <= INLINE_LIMIT_BYTES
        && serde_json::to_string(data).is_ok_and(|escaped| escaped.len() <= INLINE_LIMIT_BYTES)
}

/// The e-mail as accepted by the ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailRecord {
    pub email_id: String,
    pub subject: String,
    pub sender: String,
    pub sender_email: String,
    pub body: String,
    pub date: String,
    pub received_at_ms: i64,
}

/// Processing-queue message: one accepted e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessJob {
    pub email_id: String,
    pub email: Blob,
    pub accepted_at_ms: i64,
    /// Set while the e-mail waits for the sending window: when it is due.
    #[serde(default)]
    pub held_until_ms: Option<i64>,
    /// Times the spilled e-mail was not found (KV can lag behind a write for a minute).
    #[serde(default)]
    pub spill_misses: u32,
    /// Accepted through Redis while the dedup object was out of reach: the consumer copies
    /// the processed marker to the object (see `crate::accept`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sync_with_object: bool,
    /// Sent again after its batch crashed: to be run alone (see `crate::isolation`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspect: bool,
}

impl ProcessJob {
    /// The job of a freshly accepted e-mail; `part` holds the push request as received (read
    /// back with `crate::ingest::parse_ingest`, which also reads an [`EmailRecord`]).
    pub fn accepted(email_id: &str, part: Blob, now_ms: i64) -> ProcessJob {
        ProcessJob {
            email_id: email_id.to_string(),
            email: part,
            accepted_at_ms: now_ms,
            held_until_ms: None,
            spill_misses: 0,
            sync_with_object: false,
            suspect: false,
        }
    }

    /// The same job, flagged for the consumer to copy the processed marker to the object.
    pub fn to_sync_with_object(&self) -> ProcessJob {
        ProcessJob {
            sync_with_object: true,
            ..self.clone()
        }
    }

    /// The same job, waiting for the sending window until `until_ms`.
    pub fn held_until(&self, until_ms: i64) -> ProcessJob {
        ProcessJob {
            held_until_ms: Some(until_ms),
            ..self.clone()
        }
    }

    /// The job sent again by an operator: processed afresh, as if just accepted.
    pub fn replayed(&self) -> ProcessJob {
        ProcessJob {
            held_until_ms: None,
            spill_misses: 0,
            suspect: false,
            ..self.clone()
        }
    }
}

/// What the deliveries of one e-mail share: carried in each delivery message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryMeta {
    pub email_id: String,
    /// When the e-mail was accepted by the ingest.
    pub accepted_at_ms: i64,
    pub detector: Option<String>,
    pub links_count: u32,
    pub policy: RetryPolicy,
    pub created_at_ms: i64,
    /// The routing rule that chose the targets, if one matched.
    pub rule: Option<RuleRef>,
}

/// Delivery-queue message: one payload to one target, at one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub delivery_id: String,
    pub email_id: String,
    pub target_url: String,
    /// 1-based number of the attempt this message carries.
    pub attempt: u32,
    pub payload: Blob,
    #[serde(default)]
    pub detector: Option<String>,
    #[serde(default)]
    pub links_count: u32,
    /// Provider links of the e-mail left out of the payload (logged with every attempt).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub links_dropped: u32,
    /// The routing rules ran out of budget for this e-mail (logged with every attempt).
    #[serde(default, skip_serializing_if = "is_false")]
    pub rules_budget_exhausted: bool,
    pub policy: RetryPolicy,
    pub created_at_ms: i64,
    /// Times the spilled payload was not found (KV can lag behind a write for a minute).
    #[serde(default)]
    pub spill_misses: u32,
    /// The routing rule that chose this target, if one matched (for the log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
    /// Sent again after its batch crashed: to be run alone (see `crate::isolation`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspect: bool,
    /// When the e-mail was accepted by the ingest: parked deliveries drain in this order.
    #[serde(default)]
    pub accepted_at_ms: i64,
    /// A webhook, or an operator alert (alerts skip target health and statistics). Stored as
    /// `delivery_kind`: a dead letter is tagged `kind` and holds the job's fields beside it.
    #[serde(
        rename = "delivery_kind",
        default,
        skip_serializing_if = "JobKind::is_webhook"
    )]
    pub kind: JobKind,
}

/// What a delivery carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    #[default]
    Webhook,
    Alert,
}

impl JobKind {
    fn is_webhook(&self) -> bool {
        *self == JobKind::Webhook
    }
}

/// A delivery parked at its paused target, in its object's storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedDelivery {
    pub job: DeliveryJob,
    pub parked_at_ms: i64,
}

impl DeliveryJob {
    /// The acceptance time parked deliveries are ordered by (jobs queued before it was
    /// carried fall back to their creation time).
    pub fn acceptance_ms(&self) -> i64 {
        if self.accepted_at_ms > 0 {
            self.accepted_at_ms
        } else {
            self.created_at_ms
        }
    }

    /// The first attempt of a planned delivery whose payload is `payload`.
    pub fn first(planned: &PlannedDelivery, payload: Blob, meta: &DeliveryMeta) -> DeliveryJob {
        DeliveryJob {
            delivery_id: planned.delivery_id.clone(),
            email_id: meta.email_id.clone(),
            target_url: planned.target_url.clone(),
            attempt: 1,
            payload,
            detector: meta.detector.clone(),
            links_count: meta.links_count,
            links_dropped: planned.links_dropped,
            rules_budget_exhausted: planned.rules_budget_exhausted,
            policy: meta.policy,
            created_at_ms: meta.created_at_ms,
            spill_misses: 0,
            rule: meta.rule.clone(),
            suspect: false,
            accepted_at_ms: meta.accepted_at_ms,
            kind: JobKind::Webhook,
        }
    }

    /// The same delivery at attempt `attempt`.
    pub fn at_attempt(&self, attempt: u32) -> DeliveryJob {
        DeliveryJob {
            attempt,
            ..self.clone()
        }
    }

    /// The delivery sent again by an operator: same delivery id, attempts counting afresh.
    pub fn replayed(&self) -> DeliveryJob {
        DeliveryJob {
            attempt: 1,
            spill_misses: 0,
            suspect: false,
            ..self.clone()
        }
    }
}

/// What is kept of every delivery for replay (`archive:<delivery_id>` in KV, for
/// [`ARCHIVE_TTL_SECS`]): where it went, and the key of the payload exactly as it was sent
/// (stored once per distinct payload, see [`body_key`]). The target URL stays in the store;
/// the API only ever shows it masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedDelivery {
    pub delivery_id: String,
    pub email_id: String,
    pub target_url: String,
    #[serde(default)]
    pub detector: Option<String>,
    #[serde(default)]
    pub links_count: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub links_dropped: u32,
    #[serde(default, skip_serializing_if = "is_false")]
    pub rules_budget_exhausted: bool,
    pub policy: RetryPolicy,
    pub created_at_ms: i64,
    /// KV key of the JSON body POSTed to the receiver.
    pub body_key: String,
    /// The routing rule that chose this target, if one matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
}

impl ArchivedDelivery {
    /// The archive record of a planned delivery whose payload is stored under `body_key`.
    pub fn of(planned: &PlannedDelivery, body_key: &str, meta: &DeliveryMeta) -> Self {
        ArchivedDelivery {
            delivery_id: planned.delivery_id.clone(),
            email_id: meta.email_id.clone(),
            target_url: planned.target_url.clone(),
            detector: meta.detector.clone(),
            links_count: meta.links_count,
            links_dropped: planned.links_dropped,
            rules_budget_exhausted: planned.rules_budget_exhausted,
            policy: meta.policy,
            created_at_ms: meta.created_at_ms,
            body_key: body_key.to_string(),
            rule: meta.rule.clone(),
        }
    }

    /// A fresh first attempt of the archived delivery: same delivery id, same body.
    pub fn replay_job(&self) -> DeliveryJob {
        let planned = PlannedDelivery {
            delivery_id: self.delivery_id.clone(),
            target_url: self.target_url.clone(),
            links_dropped: self.links_dropped,
            rules_budget_exhausted: self.rules_budget_exhausted,
        };
        let meta = DeliveryMeta {
            email_id: self.email_id.clone(),
            accepted_at_ms: self.created_at_ms,
            detector: self.detector.clone(),
            links_count: self.links_count,
            policy: self.policy,
            created_at_ms: self.created_at_ms,
            rule: self.rule.clone(),
        };
        let body = Blob::Spilled {
            key: self.body_key.clone(),
        };
        DeliveryJob::first(&planned, body, &meta)
    }
}

/// What is kept of every e-mail that was delivered (`archive:email:<email_id>`, for
/// [`ARCHIVE_TTL_SECS`]): its deliveries and body, so that everything stored about it can be
/// found again (replay, erasure). The sender is kept only as [`sender_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailArchive {
    pub email_id: String,
    pub sender_key: String,
    pub delivery_ids: Vec<String>,
    pub target_urls: Vec<String>,
    pub body_key: String,
    pub created_at_ms: i64,
}

impl EmailArchive {
    /// This record, keeping the deliveries of an earlier record of the same e-mail (a
    /// re-routing sends to new targets: the deliveries made before must still be found, to be
    /// erased).
    pub fn after(mut self, previous: &EmailArchive) -> EmailArchive {
        let mut ids = previous.delivery_ids.clone();
        let mut urls = previous.target_urls.clone();
        for (id, url) in self.delivery_ids.iter().zip(&self.target_urls) {
            if !ids.contains(id) {
                ids.push(id.clone());
                urls.push(url.clone());
            }
        }
        (self.delivery_ids, self.target_urls) = (ids, urls);
        self
    }
}

/// KV prefix of the e-mails' archive records.
pub const EMAIL_ARCHIVE_PREFIX: &str = "archive:email:";

/// KV key of an e-mail's archive record. Its KV metadata is the e-mail's [`sender_key`], so a
/// listing of [`EMAIL_ARCHIVE_PREFIX`] finds a sender's e-mails without reading them (erasure
/// by sender) and no separate index entry is written.
pub fn email_archive_key(email_id: &str) -> String {
    format!("{EMAIL_ARCHIVE_PREFIX}{email_id}")
}

/// A sender address as stored with an e-mail's record: a hash, so the record names nobody.
pub fn sender_key(sender_email: &str) -> String {
    super::ids::sha256_hex(&sender_email.trim().to_lowercase())[..32].to_string()
}

/// Archived deliveries and their bodies are kept as long as dead letters: 14 days.
pub const ARCHIVE_TTL_SECS: u64 = SPILL_TTL_SECS;

/// KV key of a delivery's archive record.
pub fn archive_key(delivery_id: &str) -> String {
    format!("archive:{delivery_id}")
}

/// KV key of a payload body, by its content: the targets of one e-mail share one stored body,
/// which serves both as the spilled part of large delivery messages and as the archive.
pub fn body_key(body: &str) -> String {
    format!("body:{}", &super::ids::sha256_hex(body)[..32])
}

/// Dead-letter message: a job that will not be tried again on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub reason: String,
    #[serde(default)]
    pub error: Option<String>,
    pub dead_at_ms: i64,
    pub job: DeadJob,
}

/// The job inside a dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeadJob {
    Delivery(DeliveryJob),
    Process(ProcessJob),
    /// A message that could not be read at all, kept verbatim.
    Unreadable {
        text: String,
    },
}

impl DeadLetter {
    /// A message that could not be parsed at all, kept verbatim.
    pub fn unreadable(text: String, now_ms: i64) -> DeadLetter {
        DeadLetter {
            reason: "unreadable_message".into(),
            error: None,
            dead_at_ms: now_ms,
            job: DeadJob::Unreadable { text },
        }
    }
}

impl DeadJob {
    /// The part the job points to (a spilled one must be kept as long as the dead letter).
    pub fn part(&self) -> Option<&Blob> {
        match self {
            DeadJob::Delivery(j) => Some(&j.payload),
            DeadJob::Process(j) => Some(&j.email),
            DeadJob::Unreadable { .. } => None,
        }
    }

    /// The id a dead letter is stored and replayed under.
    pub fn id(&self) -> String {
        match self {
            DeadJob::Delivery(j) => j.delivery_id.clone(),
            DeadJob::Process(j) => format!("email_{}", j.email_id),
            DeadJob::Unreadable { text } => format!("raw_{}", &super::ids::sha256_hex(text)[..16]),
        }
    }
}

/// Reads whatever arrived on the dead-letter queue: an explicit [`DeadLetter`], or a raw job the
/// queue moved there after its own retries ran out.
pub fn parse_dead_letter(text: &str, now_ms: i64) -> DeadLetter {
    if let Ok(dl) = serde_json::from_str::<DeadLetter>(text) {
        return dl;
    }
    let job = if let Ok(j) = serde_json::from_str::<DeliveryJob>(text) {
        DeadJob::Delivery(j)
    } else if let Ok(j) = serde_json::from_str::<ProcessJob>(text) {
        DeadJob::Process(j)
    } else {
        DeadJob::Unreadable {
            text: text.to_string(),
        }
    };
    DeadLetter {
        reason: QUEUE_EXHAUSTED.into(),
        error: None,
        dead_at_ms: now_ms,
        job,
    }
}

/// A job that travels on a queue and may carry a spilled part.
pub trait QueuedJob: Clone + Serialize {
    /// Binding of the queue the job is (re)sent on.
    const QUEUE: &'static str;
    /// The part to read before the job can run (the e-mail, or the payload).
    fn part(&self) -> &Blob;
    /// Times the spilled part was not found so far.
    fn spill_misses(&self) -> u32;
    /// The same job after one more miss.
    fn with_spill_miss(&self) -> Self;
    /// The job as the content of a dead letter.
    fn into_dead_job(self) -> DeadJob;
    /// The job as a dead letter.
    fn into_dead(self, reason: &str, error: Option<String>, now_ms: i64) -> DeadLetter {
        DeadLetter {
            reason: reason.into(),
            error,
            dead_at_ms: now_ms,
            job: self.into_dead_job(),
        }
    }
    /// The final log entry when its part stays unreadable.
    fn missing_part_entry(&self, now_ms: i64) -> LogEntry;
    /// The final log entry when it crashed the worker `crashes` times on its own.
    fn crashed_entry(&self, crashes: u32, now_ms: i64) -> LogEntry;
    /// What identifies this run of the job for crash isolation.
    fn isolation_key(&self) -> String;
    /// Flagged as a suspect of a crash (see `crate::isolation`).
    fn is_suspect(&self) -> bool;
    /// The same job flagged as a suspect.
    fn as_suspect(&self) -> Self;
}

impl QueuedJob for ProcessJob {
    const QUEUE: &'static str = bindings::PROCESS_QUEUE;
    fn part(&self) -> &Blob {
        &self.email
    }
    fn spill_misses(&self) -> u32 {
        self.spill_misses
    }
    fn with_spill_miss(&self) -> Self {
        ProcessJob {
            spill_misses: self.spill_misses + 1,
            ..self.clone()
        }
    }
    fn into_dead_job(self) -> DeadJob {
        DeadJob::Process(self)
    }
    fn missing_part_entry(&self, now_ms: i64) -> LogEntry {
        LogEntry::missing_part(&self.email_id, None, now_ms)
    }
    fn crashed_entry(&self, crashes: u32, now_ms: i64) -> LogEntry {
        LogEntry::crashed(&self.email_id, None, crashes, now_ms)
    }
    fn isolation_key(&self) -> String {
        format!("email_{}", self.email_id)
    }
    fn is_suspect(&self) -> bool {
        self.suspect
    }
    fn as_suspect(&self) -> Self {
        ProcessJob {
            suspect: true,
            ..self.clone()
        }
    }
}

impl QueuedJob for DeliveryJob {
    const QUEUE: &'static str = bindings::DELIVERY_QUEUE;
    fn part(&self) -> &Blob {
        &self.payload
    }
    fn spill_misses(&self) -> u32 {
        self.spill_misses
    }
    fn with_spill_miss(&self) -> Self {
        DeliveryJob {
            spill_misses: self.spill_misses + 1,
            ..self.clone()
        }
    }
    fn into_dead_job(self) -> DeadJob {
        DeadJob::Delivery(self)
    }
    fn missing_part_entry(&self, now_ms: i64) -> LogEntry {
        LogEntry::missing_part(&self.email_id, Some(self), now_ms)
    }
    fn crashed_entry(&self, crashes: u32, now_ms: i64) -> LogEntry {
        LogEntry::crashed(&self.email_id, Some(self), crashes, now_ms)
    }
    fn isolation_key(&self) -> String {
        format!("{}_{}", self.delivery_id, self.attempt)
    }
    fn is_suspect(&self) -> bool {
        self.suspect
    }
    fn as_suspect(&self) -> Self {
        DeliveryJob {
            suspect: true,
            ..self.clone()
        }
    }
}

/// Wait before looking again for a spilled part that was not readable (KV propagates writes
/// within about a minute).
pub const SPILL_MISS_RETRY_SECS: u32 = 60;

/// What to do once a job's part was looked for.
#[derive(Debug, Clone, PartialEq)]
pub enum PartRead<J> {
    /// The part: run the job.
    Ready(String),
    /// Not readable yet: send `next` again after `delay_secs`.
    Wait { next: J, delay_secs: u32 },
    /// Still unreadable after [`MAX_SPILL_MISSES`] tries: log `entry`, keep `dead`.
    GiveUp {
        entry: Box<LogEntry>,
        dead: Box<DeadLetter>,
    },
}

/// Decides what follows a read of `job`'s part (`found`: what the store returned).
pub fn part_read<J: QueuedJob>(job: &J, found: Option<String>, now_ms: i64) -> PartRead<J> {
    if let Some(part) = found {
        return PartRead::Ready(part);
    }
    if job.spill_misses() < MAX_SPILL_MISSES {
        return PartRead::Wait {
            next: job.with_spill_miss(),
            delay_secs: SPILL_MISS_RETRY_SECS,
        };
    }
    let entry = job.missing_part_entry(now_ms);
    let reason = entry.reason.clone().unwrap_or_default();
    let dead = job.clone().into_dead(&reason, entry.error.clone(), now_ms);
    PartRead::GiveUp {
        entry: Box::new(entry),
        dead: Box::new(dead),
    }
}

/// Reason of the jobs the queue moved to the dead letters on its own (its retries ran out).
pub const QUEUE_EXHAUSTED: &str = "queue_retries_exhausted";

/// Misses of a spilled part tolerated (one a minute) before the job is given up as unreadable.
pub const MAX_SPILL_MISSES: u32 = 10;

/// KV prefix of stored dead letters.
pub const DEAD_LETTER_PREFIX: &str = "dead:";
/// Dead letters are kept as long as the payloads they point to.
pub const DEAD_LETTER_TTL_SECS: u64 = SPILL_TTL_SECS;

/// KV key of the spilled e-mail body.
pub fn email_spill_key(email_id: &str) -> String {
    format!("blob:email:{email_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_read_as_the_derive_read_them() {
        let read = |t: &str| serde_json::from_str::<Blob>(t).map_err(|e| e.to_string());
        assert_eq!(
            read(r#"{"data":"x","kind":"inline","other":1}"#),
            Ok(Blob::Inline { data: "x".into() })
        );
        assert_eq!(
            read(r#"{"kind":"spilled","key":"k"}"#),
            Ok(Blob::Spilled { key: "k".into() })
        );
        for bad in [
            r#"{"data":"x"}"#,
            r#"{"kind":"inline"}"#,
            r#"{"kind":"spilled","key":1}"#,
            r#"{"kind":"other","key":"k"}"#,
            r#""inline""#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
        let blob = Blob::Inline {
            data: "é\"".into()
        };
        let text = serde_json::to_string(&blob).unwrap();
        assert_eq!(text, r#"{"kind":"inline","data":"é\""}"#);
        assert_eq!(read(&text), Ok(blob));
        let value = serde_json::to_value(Blob::Spilled { key: "k".into() }).unwrap();
        assert_eq!(
            serde_json::from_value::<Blob>(value).unwrap(),
            Blob::Spilled { key: "k".into() }
        );
    }

    #[test]
    fn small_parts_stay_inline_and_large_parts_spill() {
        let (b, spill) = Blob::place("x".repeat(10), "k".into());
        assert_eq!(
            b,
            Blob::Inline {
                data: "x".repeat(10)
            }
        );
        assert!(spill.is_none());
        let big = "é".repeat(INLINE_LIMIT_BYTES);
        let (b, spill) = Blob::place(big.clone(), "k".into());
        assert_eq!(b, Blob::Spilled { key: "k".into() });
        assert_eq!(spill, Some(("k".into(), big)));
    }

    #[test]
    fn a_dead_alert_delivery_reads_back() {
        let event = crate::alerts::AlertEvent {
            name: "success_rate".into(),
            firing: true,
            details: serde_json::Value::Null,
        };
        let job = event.job("https://alerts.example/x", 0);
        assert_eq!(job.kind, JobKind::Alert);
        let dead = DeadLetter {
            job: DeadJob::Delivery(job.clone()),
            reason: "retries_exhausted".into(),
            error: None,
            dead_at_ms: 1,
        };
        let text = serde_json::to_string(&dead).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (&v["job"]["kind"], &v["job"]["delivery_kind"]),
            (&serde_json::json!("delivery"), &serde_json::json!("alert"))
        );
        let back: DeadLetter = serde_json::from_str(&text).unwrap();
        assert_eq!(back.job, DeadJob::Delivery(job));
    }

    #[test]
    fn batches_keep_order_and_both_limits() {
        assert!(batches(&[]).is_empty());
        assert_eq!(batches(&[10; 250]), [0..100, 100..200, 200..250]);
        let big = MAX_MESSAGE_BYTES;
        assert_eq!(batches(&[big, big, 10, big]), [0..1, 1..3, 3..4]);
        assert_eq!(batches(&[5]), vec![0..1]);
    }

    #[test]
    fn escaping_counts_towards_the_limit() {
        // 60 KB of quotes is 120 KB once escaped inside the message.
        let quotes = "\"".repeat(60 * 1024);
        let (b, spill) = Blob::place(quotes, "k".into());
        assert_eq!(b, Blob::Spilled { key: "k".into() });
        assert!(spill.is_some());
        let job = ProcessJob {
            email_id: "e".into(),
            email: Blob::place("\"".repeat(40 * 1024), "k".into()).0,
            accepted_at_ms: 0,
            held_until_ms: None,
            spill_misses: 0,
            sync_with_object: false,
            suspect: false,
        };
        assert!(serde_json::to_string(&job).unwrap().len() <= MAX_MESSAGE_BYTES);
    }

    fn spilled_job(misses: u32) -> ProcessJob {
        ProcessJob {
            email_id: "e".into(),
            email: Blob::Spilled { key: "k".into() },
            accepted_at_ms: 0,
            held_until_ms: None,
            spill_misses: misses,
            sync_with_object: false,
            suspect: false,
        }
    }

    #[test]
    fn part_reads_wait_then_give_up() {
        let job = spilled_job(0);
        assert_eq!(
            part_read(&job, Some("x".into()), 0),
            PartRead::Ready("x".into())
        );
        match part_read(&job, None, 0) {
            PartRead::Wait { next, delay_secs } => {
                assert_eq!(next.spill_misses, 1);
                assert_eq!(delay_secs, SPILL_MISS_RETRY_SECS);
            }
            other => panic!("{other:?}"),
        }
        match part_read(&spilled_job(MAX_SPILL_MISSES), None, 7) {
            PartRead::GiveUp { entry, dead } => {
                assert_eq!(dead.reason, "email_missing");
                assert_eq!(dead.error, entry.error);
                assert_eq!(dead.dead_at_ms, 7);
                assert_eq!(dead.job.id(), "email_e");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_archived_delivery_replays_as_a_first_attempt() {
        let a = ArchivedDelivery {
            delivery_id: "dlv_1".into(),
            email_id: "e".into(),
            target_url: "https://x.example/h".into(),
            detector: Some("recadrage".into()),
            links_count: 2,
            links_dropped: 7,
            rules_budget_exhausted: true,
            policy: RetryPolicy::default(),
            created_at_ms: 5,
            body_key: body_key("{}"),
            rule: Some(RuleRef {
                id: "r1".into(),
                name: "Make".into(),
            }),
        };
        assert_eq!(a.body_key, body_key("{}"));
        assert_ne!(a.body_key, body_key("{ }"));
        assert!(a.body_key.starts_with("body:") && a.body_key.len() == 37);
        let job = a.replay_job();
        assert_eq!((job.attempt, job.spill_misses), (1, 0));
        assert_eq!(
            job.payload,
            Blob::Spilled {
                key: a.body_key.clone()
            }
        );
        assert_eq!(job.delivery_id, "dlv_1");
        assert_eq!(job.target_url, a.target_url);
        assert_eq!(
            job.rule, a.rule,
            "the replay logs the rule that chose the target"
        );
        assert_eq!(job.links_dropped, 7, "the cut is still logged on a replay");
        assert!(job.rules_budget_exhausted);
        assert_eq!(archive_key("dlv_1"), "archive:dlv_1");
        let back: ArchivedDelivery =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn a_new_e_mail_record_keeps_the_earlier_deliveries() {
        let record = |ids: &[&str], body: &str| EmailArchive {
            email_id: "e".into(),
            sender_key: "s".into(),
            delivery_ids: ids.iter().map(|i| format!("dlv_{i}")).collect(),
            target_urls: ids.iter().map(|i| format!("https://{i}")).collect(),
            body_key: body.into(),
            created_at_ms: 0,
        };
        let merged = record(&["b", "c"], "body:new").after(&record(&["a", "b"], "body:old"));
        assert_eq!(merged.delivery_ids, ["dlv_a", "dlv_b", "dlv_c"]);
        assert_eq!(merged.target_urls, ["https://a", "https://b", "https://c"]);
        assert_eq!(merged.body_key, "body:new");
    }

    #[test]
    fn dead_letters_parse_both_shapes() {
        let job = DeliveryJob {
            delivery_id: "dlv_1".into(),
            email_id: "e".into(),
            target_url: "https://x".into(),
            attempt: 2,
            payload: Blob::Inline { data: "{}".into() },
            detector: None,
            links_count: 0,
            links_dropped: 0,
            rules_budget_exhausted: false,
            policy: RetryPolicy::default(),
            created_at_ms: 1,
            spill_misses: 0,
            rule: None,
            suspect: false,
            accepted_at_ms: 0,
            kind: JobKind::Webhook,
        };
        let raw = serde_json::to_string(&job).unwrap();
        let dl = parse_dead_letter(&raw, 5);
        assert_eq!(dl.reason, "queue_retries_exhausted");
        assert_eq!(dl.job.id(), "dlv_1");
        let explicit = DeadLetter {
            reason: "not_retryable".into(),
            error: Some("HTTP 404".into()),
            dead_at_ms: 9,
            job: DeadJob::Delivery(job),
        };
        let back = parse_dead_letter(&serde_json::to_string(&explicit).unwrap(), 0);
        assert_eq!(back, explicit);
        let raw = parse_dead_letter("{not json", 0);
        assert_eq!(
            raw.job,
            DeadJob::Unreadable {
                text: "{not json".into()
            }
        );
        assert!(raw.job.id().starts_with("raw_"));
    }
}
