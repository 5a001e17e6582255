//! Erasure (`DELETE /api/emails/<email_id>`, `DELETE /api/senders/<address>`): the subject's
//! validation, the keys that hold something about an e-mail, what was removed, and the hash
//! the audit keeps of its subject (the audit's event, `AuditEvent::erasure`, and the trail are
//! `crate::records::audit`, which no erasure touches).
//!
//! Dedup markers stay: they hold only the e-mail id, so a re-push is still not delivered twice.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::analysis::offload::{link_pair_key, plan_offload};
use crate::analysis::payload::DeliveryLink;
use crate::base::ids::{sender_email, sha256_hex};
use crate::error::ApiError;
use crate::jobs::blob::email_spill_key;
use crate::jobs::dead_letter::DEAD_LETTER_PREFIX;
use crate::records::archive::archive_key;
use crate::records::archive::email_archive_key;
use crate::records::archive::EmailArchive;
use crate::records::archive::EMAIL_ARCHIVE_PREFIX;
use crate::store::log::{LogEntry, LogStatus};

/// Longest sender address accepted (RFC 5321: 320 characters).
const MAX_ADDRESS_CHARS: usize = 320;
/// Hex characters of the subject's hash kept in the audit: enough to confirm that a given
/// address or id was erased, not to read one back.
const SUBJECT_HASH_CHARS: usize = 12;

/// What is erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureKind {
    /// One e-mail, by its id.
    Email,
    /// Every e-mail of a sender, by address.
    Sender,
}

/// Checks an e-mail id: 32 hexadecimal characters (an MD5, SPEC §2); answered lowercase.
pub fn parse_email_id(raw: &str) -> Result<String, ApiError> {
    let id = raw.trim().to_ascii_lowercase();
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(ApiError::invalid_field(
            "email_id",
            "expected 32 hexadecimal characters",
        ))
    }
}

/// Checks a sender address as the ingest reads it (`Name <a@b.c>` → `a@b.c`, lowercase).
pub fn parse_sender(raw: &str) -> Result<String, ApiError> {
    let address = sender_email(raw);
    if address.is_empty() || address.chars().count() > MAX_ADDRESS_CHARS {
        return Err(ApiError::invalid_field(
            "address",
            format!("expected a sender address of 1 to {MAX_ADDRESS_CHARS} characters"),
        ));
    }
    Ok(address)
}

/// The e-mail id of an archive record listed under [`EMAIL_ARCHIVE_PREFIX`], when the record's
/// metadata is `sender_key` (the record of an e-mail of that sender).
pub fn email_of_sender<'k>(
    key: &'k str,
    metadata: Option<&Value>,
    sender_key: &str,
) -> Option<&'k str> {
    let id = key
        .strip_prefix(EMAIL_ARCHIVE_PREFIX)
        .filter(|id| !id.is_empty())?;
    (metadata?.as_str()? == sender_key).then_some(id)
}

/// What is known of the e-mails to erase before their keys are named: their archive records
/// and the deliveries their log entries mention.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub email_ids: Vec<String>,
    pub archives: Vec<EmailArchive>,
    pub log_delivery_ids: Vec<String>,
}

impl Found {
    /// Every delivery of the e-mails: from their archive records and from their log entries
    /// (a delivery whose e-mail record was never written is still found), without repeats.
    pub fn delivery_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        let all = self.archives.iter().flat_map(|a| a.delivery_ids.iter());
        for id in all.chain(&self.log_delivery_ids) {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        ids
    }

    /// The archive record of each delivery (read first: it names the body).
    pub fn delivery_archive_keys(&self) -> Vec<String> {
        self.delivery_ids()
            .iter()
            .map(|id| archive_key(id))
            .collect()
    }

    /// Every KV key to delete, with the count it adds to: the deliveries' archive records
    /// and dead letters, the `bodies` (read before: they name the links), and per e-mail its
    /// spilled part, processing dead letter and archive record.
    pub fn kv_keys(&self, bodies: &[String]) -> Vec<(String, Counted)> {
        let deliveries = self.delivery_ids();
        let mut keys: Vec<(String, Counted)> = Vec::new();
        for id in &deliveries {
            keys.push((archive_key(id), Counted::Archives));
            keys.push((format!("{DEAD_LETTER_PREFIX}{id}"), Counted::DeadLetters));
        }
        for (i, body) in bodies.iter().enumerate() {
            if !bodies[..i].contains(body) {
                keys.push((body.clone(), Counted::Bodies));
            }
        }
        for id in &self.email_ids {
            keys.push((email_spill_key(id), Counted::Spilled));
            keys.push((
                format!("{DEAD_LETTER_PREFIX}email_{id}"),
                Counted::DeadLetters,
            ));
            keys.push((email_archive_key(id), Counted::Archives));
        }
        keys
    }
}

/// Which count of [`Removed`] a deleted key adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Archives,
    Bodies,
    DeadLetters,
    Spilled,
}

/// The R2 object keys and link-pair keys of the links an archived payload carries. Keys are
/// derived from each link as the offload derived them, so a copy that finished after its
/// offload timed out is found too.
pub fn link_keys(payload: &str) -> (Vec<String>, Vec<String>) {
    let parsed = serde_json::from_str::<Value>(payload).ok();
    let links = DeliveryLink::list_from(parsed.as_ref().and_then(|v| v.get("delivery_links")));
    links
        .iter()
        .map(|l| {
            // Timeouts do not change the key.
            let plan = plan_offload(l, 0, 0);
            (plan.key, link_pair_key(&plan.source_url))
        })
        .unzip()
}

/// The e-mails of `entries` still under way: a delivery whose newest entry is `retrying`, or
/// an e-mail whose newest entry is `held`. Their queue messages cannot be removed, and may
/// write again once they run.
pub fn in_flight(entries: &[LogEntry]) -> Vec<String> {
    // The entries of the e-mails being erased: few enough to compare each with all.
    fn subject(e: &LogEntry) -> &str {
        e.delivery_id.as_deref().unwrap_or(&e.email_id)
    }
    let mut out: Vec<String> = Vec::new();
    for e in entries {
        let newer = entries
            .iter()
            .any(|o| subject(o) == subject(e) && o.unix_ms() > e.unix_ms());
        let busy = matches!(e.status, LogStatus::Retrying | LogStatus::Held);
        if busy && !newer && !out.contains(&e.email_id) {
            out.push(e.email_id.clone());
        }
    }
    out
}

/// What an erasure removed, store by store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// Log entries, Redis and KV together.
    pub log_entries: u64,
    /// Archive records: one per delivery, one per e-mail.
    pub archives: u64,
    /// Payload bodies.
    pub bodies: u64,
    pub dead_letters: u64,
    /// Spilled e-mails.
    pub spilled: u64,
    pub r2_objects: u64,
    pub link_pairs: u64,
    /// Deliveries parked for an unhealthy target.
    pub parked: u64,
}

impl Removed {
    /// Adds one removed key to its count.
    pub fn add(&mut self, what: Counted) {
        let count = match what {
            Counted::Archives => &mut self.archives,
            Counted::Bodies => &mut self.bodies,
            Counted::DeadLetters => &mut self.dead_letters,
            Counted::Spilled => &mut self.spilled,
        };
        *count += 1;
    }
}

/// The truncated hash of an erasure's subject, as the audit keeps it.
pub fn subject_hash(kind: ErasureKind, subject: &str) -> String {
    let tag = match kind {
        ErasureKind::Email => "email",
        ErasureKind::Sender => "sender",
    };
    sha256_hex(&format!("{tag}:{subject}"))[..SUBJECT_HASH_CHARS].to_string()
}

#[cfg(test)]
mod tests;
