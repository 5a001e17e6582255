//! The mailbox's sync, as decisions: the state its Durable Object keeps, what a notification
//! changes, how a `history.list` answer is read, where the cursor may go, when to try again,
//! when the watch is renewed and when it alerts, and what the console shows.
//!
//! **A notification is a hint, not a cursor.** Its `historyId` only says the mailbox moved
//! past it: the object lists the history from its own cursor (`history.list`,
//! `historyTypes=messageAdded`, `labelId` = the label), fetches each new message, and hands it
//! to the ingest's accept path. The cursor moves only past records whose every message was
//! taken (queued, found already taken, or skipped for good: deleted, too large, invalid). Right
//! after a push the history can still be empty: one more pass runs [`EMPTY_RETRY_SECS`] later.
//! A listing that was complete moves the cursor to the mailbox's head as it was seen
//! [`HEAD_SETTLE_MS`] earlier (a head seen now could be ahead of records not listed yet). A
//! cursor Gmail no longer knows (404) starts a full sync: the label's messages of the last days
//! through `messages.list` (at most [`FULL_SYNC_MAX`]), each through the accept path, which
//! drops what was already taken.
//!
//! **Bounds, per pass** (one alarm of the object): [`MESSAGES_PER_PASS`] messages (a record is
//! never cut unless it holds more than twice that), [`HISTORY_PAGES_PER_PASS`] pages of
//! [`HISTORY_PAGE_SIZE`] records, a raw message read up to [`RAW_MAX_BYTES`] (beyond, its
//! `format=full` form, attachments left out): at most 20 calls to Google for 8 messages. More
//! to do: the next pass runs at once. Failures (429, 5xx, the network) back off from 10 s, doubling, to
//! 15 min, never sooner than Google's `Retry-After`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::base::ids::log_entry_id;
use crate::base::time::{iso_utc, DAY_MS};
use crate::intake::gmail::push::Notification;
use crate::store::log::{LogEntry, LogStatus};

/// The Gmail API, for the connected user.
pub const GMAIL_API: &str = "https://gmail.googleapis.com/gmail/v1/users/me";
/// Messages taken in one pass.
pub const MESSAGES_PER_PASS: usize = 8;
/// `history.list` pages read in one pass.
pub const HISTORY_PAGES_PER_PASS: usize = 3;
/// Records per `history.list` page.
pub const HISTORY_PAGE_SIZE: u32 = 100;
/// Messages a full sync takes (one `messages.list` page, newest first, taken oldest first).
pub const FULL_SYNC_MAX: usize = 50;
/// Bytes of a `format=raw` answer read; a larger message is read in `format=full`.
pub const RAW_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// A pass that found nothing while a notification was pending is run once more this much later.
pub const EMPTY_RETRY_SECS: u32 = 5;
/// The cron runs the catch-up on minutes divisible by this.
pub const CATCH_UP_EVERY_MINUTES: i64 = 5;
/// A head seen this long ago can become the cursor.
pub const HEAD_SETTLE_MS: i64 = 5 * 60_000;
/// The watch is renewed this often (it lasts 7 days).
pub const RENEW_EVERY_MS: i64 = DAY_MS;
/// Alert when the watch would expire within this.
pub const WATCH_ALERT_MS: i64 = 2 * DAY_MS;
/// A failed renewal is tried again after this.
pub const RENEW_RETRY_MS: i64 = 3_600_000;
/// First retry delay after a failure, and the longest.
pub const BACKOFF_BASE_SECS: u32 = 10;
pub const BACKOFF_MAX_SECS: u32 = 900;
/// A full sync looks back at most this far: dedup markers live 30 days, so an older message
/// could be delivered again.
pub const FULL_SYNC_LOOKBACK_MAX_MS: i64 = 29 * DAY_MS;

/// The bytes of a `format=full` answer read: the e-mail size limit and base64's growth.
pub fn full_max_bytes(max_email_size_mb: u32) -> u64 {
    u64::from(max_email_size_mb) * 1_400_000 + 1_000_000
}

/// Whether this minute's cron runs the Gmail catch-up.
pub fn catch_up_minute(scheduled_ms: i64) -> bool {
    (scheduled_ms.div_euclid(60_000)).rem_euclid(CATCH_UP_EVERY_MINUTES) == 0
}

/// The mailbox connected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub email_address: String,
    pub label: String,
    pub label_id: String,
    pub scope: String,
    pub connected_at_ms: i64,
}

/// The mailbox's head (its latest history id) and when it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub history_id: u64,
    pub seen_at_ms: i64,
}

/// The Pub/Sub watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    pub expiration_ms: i64,
    pub renewed_at_ms: i64,
}

/// A notification received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub at_ms: i64,
    pub history_id: u64,
    #[serde(default)]
    pub message_id: String,
}

/// What the last pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    pub at_ms: i64,
    /// `history` or `full`.
    pub kind: String,
    /// `ok`, `more` (the bounds stopped it: the next pass runs at once), `retry` (a failure:
    /// backing off), `blocked` (ingress or sending switched off: the catch-up tries again) or
    /// `reconnect` (the refresh token stopped working).
    pub outcome: String,
    #[serde(default)]
    pub detail: String,
    pub taken: u32,
    pub already: u32,
    pub skipped: u32,
}

/// Counters since the mailbox was connected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Queued by the push path.
    pub push: u64,
    /// Queued by the ingest (the Apps Script) while the mailbox was connected.
    pub script: u64,
    /// Found by the push path already taken (by the script, or an earlier pass).
    pub already: u64,
    pub skipped_deleted: u64,
    pub skipped_too_large: u64,
    pub skipped_invalid: u64,
    pub skipped_sender: u64,
    pub notifications: u64,
    pub stale: u64,
}

/// A full sync under way: the head to resume from once done, and the messages left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullSync {
    pub head: u64,
    pub pending: Vec<String>,
}

/// The refresh token stopped working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broken {
    pub since_ms: i64,
    pub error: String,
}

/// Alerts firing (each sent once when it fires, once when it recovers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertFlags {
    pub reconnect: bool,
    pub watch_expiring: bool,
}

/// Everything the mailbox's object keeps but the sealed refresh token (stored apart).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    #[serde(default)]
    pub connection: Option<Connection>,
    /// History id the next listing starts from; `None` with a full sync to run.
    #[serde(default)]
    pub cursor: Option<u64>,
    #[serde(default)]
    pub head: Option<Head>,
    /// The highest history id notified and not listed yet.
    #[serde(default)]
    pub hint: Option<u64>,
    /// The highest history id notified and listed.
    #[serde(default)]
    pub hint_done: Option<u64>,
    #[serde(default)]
    pub empty_retry_used: bool,
    #[serde(default)]
    pub watch: Option<Watch>,
    #[serde(default)]
    pub watch_attempt_ms: Option<i64>,
    #[serde(default)]
    pub watch_error: Option<String>,
    #[serde(default)]
    pub last_notification: Option<Seen>,
    #[serde(default)]
    pub last_sync: Option<SyncReport>,
    #[serde(default)]
    pub last_ok_sync_ms: Option<i64>,
    #[serde(default)]
    pub counts: Counts,
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub retry_at_ms: Option<i64>,
    #[serde(default)]
    pub full_sync: Option<FullSync>,
    #[serde(default)]
    pub reconnect: Option<Broken>,
    #[serde(default)]
    pub alerts: AlertFlags,
}

/// What a notification came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notified {
    /// Not for this mailbox (none connected, or another address): acknowledged, nothing done.
    Ignored(&'static str),
    /// Already listed past it (a duplicate, or older than the cursor): acknowledged.
    Stale,
    /// Recorded; `sync`: a pass is to run (not while the mailbox needs reconnecting).
    Recorded { sync: bool },
}

impl Notified {
    /// The `status` answered to Pub/Sub (always with a 2xx).
    pub fn as_str(&self) -> &'static str {
        match self {
            Notified::Ignored(_) => "ignored",
            Notified::Stale => "stale",
            Notified::Recorded { .. } => "recorded",
        }
    }
}

/// One message taken by a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Queued,
    /// Already processed or being processed (the script, or an earlier pass).
    Already,
    /// Deleted between the notification and the fetch (404).
    Deleted,
    /// Over `max_email_size_mb` once converted (the ingest would answer 413).
    TooLarge,
    /// No sender or no body (the ingest would answer 400).
    Invalid,
    /// The sender is not in the allowlist (skipped and marked, as the ingest does).
    SenderNotAllowed,
}

/// Why a pass stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The bounds of one pass were reached: the next runs at once.
    More,
    /// Ingress or sending is switched off (the ingest's 409): the catch-up tries again.
    Blocked(String),
    /// Google or a store failed: back off (`retry_after_secs`: Google's `Retry-After`).
    Retry {
        why: String,
        retry_after_secs: Option<u32>,
    },
    /// The refresh token no longer works.
    Reconnect(String),
}

impl Mailbox {
    /// A notification arrives.
    pub fn notify(&mut self, n: &Notification, now_ms: i64) -> Notified {
        let Some(c) = &self.connection else {
            return Notified::Ignored("no mailbox connected");
        };
        if !c.email_address.eq_ignore_ascii_case(&n.email_address) {
            return Notified::Ignored("notification for another mailbox");
        }
        self.counts.notifications += 1;
        self.last_notification = Some(Seen {
            at_ms: now_ms,
            history_id: n.history_id,
            message_id: n.message_id.clone(),
        });
        let listed = self.cursor.unwrap_or(0).max(self.hint_done.unwrap_or(0));
        if n.history_id <= listed || self.hint.is_some_and(|h| n.history_id <= h) {
            self.counts.stale += 1;
            return Notified::Stale;
        }
        self.hint = Some(n.history_id);
        self.empty_retry_used = false;
        Notified::Recorded {
            sync: self.reconnect.is_none(),
        }
    }

    /// The mailbox was connected now: listing starts at the watch's history id (messages
    /// labelled before are the Apps Script's). Reconnecting the same address (after its token
    /// stopped working) keeps its cursor and counters: the next pass takes what arrived
    /// meanwhile (a cursor grown too old meanwhile is a 404, then a full sync).
    pub fn connected(
        &mut self,
        connection: Connection,
        start: u64,
        expiration_ms: i64,
        now_ms: i64,
    ) {
        let same = self.connection.as_ref().is_some_and(|c| {
            c.email_address
                .eq_ignore_ascii_case(&connection.email_address)
        });
        let watch = Watch {
            expiration_ms,
            renewed_at_ms: now_ms,
        };
        if same {
            self.connection = Some(connection);
            self.watch = Some(watch);
            self.watch_attempt_ms = Some(now_ms);
            self.watch_error = None;
            self.failures = 0;
            self.retry_at_ms = None;
            return;
        }
        *self = Mailbox {
            connection: Some(connection),
            cursor: Some(start),
            watch: Some(watch),
            watch_attempt_ms: Some(now_ms),
            alerts: self.alerts,
            ..Mailbox::default()
        };
    }

    /// Disconnected: everything goes but the alert flags (so a reconnection says "recovered").
    pub fn disconnected(&mut self) {
        *self = Mailbox {
            alerts: self.alerts,
            ..Mailbox::default()
        };
    }

    /// The ingest (the Apps Script) queued an e-mail.
    pub fn taken_by_script(&mut self) -> bool {
        if self.connection.is_none() {
            return false;
        }
        self.counts.script += 1;
        true
    }

    /// Whether a pass may run now (connected, not waiting for a reconnection or a backoff).
    pub fn may_sync(&self, now_ms: i64) -> bool {
        self.connection.is_some()
            && self.reconnect.is_none()
            && self.retry_at_ms.is_none_or(|t| t <= now_ms)
    }

    /// The refresh token was refused (`invalid_grant`): syncing stops until a reconnection;
    /// `true` when the alert is to fire now.
    pub fn token_broken(&mut self, error: &str, now_ms: i64) -> bool {
        if self.reconnect.is_none() {
            self.reconnect = Some(Broken {
                since_ms: now_ms,
                error: error.chars().take(200).collect(),
            });
        }
        let fire = !self.alerts.reconnect;
        self.alerts.reconnect = true;
        fire
    }

    /// After a (re)connection: `true` when the reconnect alert is to recover now.
    pub fn token_recovered(&mut self) -> bool {
        self.reconnect = None;
        std::mem::replace(&mut self.alerts.reconnect, false)
    }

    /// Starts a full sync: the head to resume from, and the label's messages (newest first,
    /// as `messages.list` gives them), taken oldest first.
    pub fn start_full_sync(&mut self, head: u64, newest_first: Vec<String>) {
        let mut pending: Vec<String> = newest_first.into_iter().take(FULL_SYNC_MAX).collect();
        pending.reverse();
        self.full_sync = Some(FullSync { head, pending });
    }

    /// Gmail no longer knows the cursor (404): a full sync is due.
    pub fn cursor_lost(&mut self) {
        self.cursor = None;
        self.full_sync = None;
        self.head = None;
    }

    /// Whether the watch is to be renewed now: none, renewed a day ago or more, or expiring
    /// within 6 days; after a failed attempt, not before [`RENEW_RETRY_MS`].
    pub fn renewal_due(&self, now_ms: i64) -> bool {
        if self.connection.is_none() || self.reconnect.is_some() {
            return false;
        }
        let failed_lately = self.watch_error.is_some()
            && self
                .watch_attempt_ms
                .is_some_and(|t| now_ms - t < RENEW_RETRY_MS && now_ms >= t);
        if failed_lately {
            return false;
        }
        match &self.watch {
            None => true,
            Some(w) => {
                now_ms - w.renewed_at_ms >= RENEW_EVERY_MS || w.expiration_ms - now_ms < 6 * DAY_MS
            }
        }
    }

    /// A renewal answered (`Ok(expiration)`) or failed.
    pub fn renewed(&mut self, result: Result<i64, String>, now_ms: i64) {
        self.watch_attempt_ms = Some(now_ms);
        match result {
            Ok(expiration_ms) => {
                self.watch = Some(Watch {
                    expiration_ms,
                    renewed_at_ms: now_ms,
                });
                self.watch_error = None;
            }
            Err(e) => self.watch_error = Some(e.chars().take(200).collect()),
        }
    }

    /// The watch-expiry alert: `Some(firing)` when it changes now.
    pub fn watch_alert(&mut self, now_ms: i64) -> Option<bool> {
        let expiring = self.connection.is_some()
            && self
                .watch
                .as_ref()
                .is_none_or(|w| w.expiration_ms - now_ms < WATCH_ALERT_MS);
        (expiring != self.alerts.watch_expiring).then(|| {
            self.alerts.watch_expiring = expiring;
            expiring
        })
    }

    /// Ends a pass: moves the cursor as far as is safe, records what it did, and says when the
    /// next pass is to run (`None`: at the next notification or catch-up).
    pub fn finish(&mut self, pass: Pass, now_ms: i64) -> Option<i64> {
        let full = pass.kind == PassKind::Full;
        if let Some(done) = pass.done_to {
            self.cursor = Some(self.cursor.map_or(done, |c| c.max(done)));
        }
        let clean = pass.stop.is_none();
        if clean && pass.complete && !full {
            let cursor = self.cursor.unwrap_or(0);
            match self.head {
                Some(h) if now_ms - h.seen_at_ms >= HEAD_SETTLE_MS => {
                    self.cursor = Some(cursor.max(h.history_id));
                    self.head = pass.head.map(|history_id| Head {
                        history_id,
                        seen_at_ms: now_ms,
                    });
                }
                Some(_) => {}
                None => {
                    self.head = pass.head.map(|history_id| Head {
                        history_id,
                        seen_at_ms: now_ms,
                    })
                }
            }
        }
        if clean && full {
            if let Some(fs) = &self.full_sync {
                if fs.pending.is_empty() {
                    self.cursor = Some(fs.head);
                    self.full_sync = None;
                }
            }
        }
        let pending_hint = self
            .hint
            .filter(|h| *h > self.hint_done.unwrap_or(0) && *h > self.cursor.unwrap_or(0));
        let found_nothing = pass.listed == 0 && pass.taken_total() == 0;
        let mut next = None;
        let outcome = match &pass.stop {
            None if pending_hint.is_some() && found_nothing && !self.empty_retry_used && !full => {
                // The history can lag a notification: look once more a little later.
                self.empty_retry_used = true;
                next = Some(now_ms + i64::from(EMPTY_RETRY_SECS) * 1000);
                "ok"
            }
            None => {
                if pass.complete {
                    self.hint_done = self.hint_done.max(pass.hint_at_start);
                }
                "ok"
            }
            Some(Stop::More) => {
                next = Some(now_ms);
                "more"
            }
            Some(Stop::Blocked(_)) => "blocked",
            Some(Stop::Retry {
                retry_after_secs, ..
            }) => {
                self.failures = self.failures.saturating_add(1);
                let delay = retry_delay_secs(self.failures, *retry_after_secs);
                next = Some(now_ms + i64::from(delay) * 1000);
                "retry"
            }
            Some(Stop::Reconnect(_)) => "reconnect",
        };
        if !matches!(pass.stop, Some(Stop::Retry { .. })) {
            self.failures = 0;
        }
        if matches!(pass.stop, None | Some(Stop::More)) {
            self.last_ok_sync_ms = Some(now_ms);
        }
        // A full sync still under way continues at once; so does a sync asked for by a
        // notification that arrived during this pass (one sync at a time: "sync again").
        let notified_meanwhile = self.hint > pass.hint_at_start;
        if clean && ((full && self.full_sync.is_some()) || notified_meanwhile) {
            next = Some(next.map_or(now_ms, |n| n.min(now_ms)));
        }
        self.retry_at_ms = next.filter(|_| outcome == "retry");
        self.last_sync = Some(SyncReport {
            at_ms: now_ms,
            kind: if full { "full" } else { "history" }.into(),
            outcome: outcome.into(),
            detail: match &pass.stop {
                Some(Stop::Blocked(why)) | Some(Stop::Reconnect(why)) => why.clone(),
                Some(Stop::Retry { why, .. }) => why.clone(),
                _ => pass.detail.clone(),
            },
            taken: pass.queued,
            already: pass.already,
            skipped: pass.skipped,
        });
        next
    }

    /// What the console shows (no token, no secret: the address is the operator's own).
    pub fn view(&self, configured: bool, label_setting: Option<&str>, now_ms: i64) -> Value {
        let at = |ms: Option<i64>| ms.map(iso_utc);
        let c = &self.counts;
        json!({
            "configured": configured,
            "connected": self.connection.is_some(),
            "email_address": self.connection.as_ref().map(|c| &c.email_address),
            "label": self.connection.as_ref().map(|c| c.label.as_str()).or(label_setting),
            "connected_at": at(self.connection.as_ref().map(|c| c.connected_at_ms)),
            "reconnect_needed": self.reconnect.as_ref().map(|b| json!({
                "since": iso_utc(b.since_ms), "error": b.error,
            })),
            "watch": self.watch.as_ref().map(|w| json!({
                "expires_at": iso_utc(w.expiration_ms),
                "renewed_at": iso_utc(w.renewed_at_ms),
                "expiring": w.expiration_ms - now_ms < WATCH_ALERT_MS,
            })),
            "watch_error": self.watch_error,
            "last_notification": self.last_notification.as_ref().map(|s| json!({
                "at": iso_utc(s.at_ms), "history_id": s.history_id.to_string(),
            })),
            "last_sync": self.last_sync.as_ref().map(|r| json!({
                "at": iso_utc(r.at_ms), "kind": r.kind, "outcome": r.outcome, "detail": r.detail,
                "taken": r.taken, "already": r.already, "skipped": r.skipped,
            })),
            "next_retry_at": at(self.retry_at_ms),
            "cursor": self.cursor.map(|c| c.to_string()),
            "full_sync_pending": self.full_sync.as_ref().map_or(0, |f| f.pending.len()),
            "taken": {
                "push": c.push, "script": c.script, "already": c.already,
                "skipped": {
                    "deleted": c.skipped_deleted, "too_large": c.skipped_too_large,
                    "invalid": c.skipped_invalid, "sender_not_allowed": c.skipped_sender,
                },
            },
            "notifications": {"received": c.notifications, "stale": c.stale},
        })
    }
}

/// `history` (from the cursor) or `full` (after a lost cursor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassKind {
    History,
    Full,
}

/// One pass as it runs: what it took, how far its records are done, why it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    pub kind: PassKind,
    /// The last record whose messages were all taken.
    pub done_to: Option<u64>,
    /// The listing reached its last page.
    pub complete: bool,
    /// The mailbox's head the listing answered.
    pub head: Option<u64>,
    /// Records listed.
    pub listed: u32,
    pub queued: u32,
    pub already: u32,
    pub skipped: u32,
    pub stop: Option<Stop>,
    pub detail: String,
    /// The mailbox's hint when the pass started: a notification arriving during the pass is
    /// not listed by it, and makes the next pass run at once.
    pub hint_at_start: Option<u64>,
    taken_ids: Vec<String>,
}

impl Pass {
    /// A pass starting, with the mailbox's hint at that moment.
    pub fn new(kind: PassKind, hint_at_start: Option<u64>) -> Pass {
        Pass {
            kind,
            hint_at_start,
            done_to: None,
            complete: false,
            head: None,
            listed: 0,
            queued: 0,
            already: 0,
            skipped: 0,
            stop: None,
            detail: String::new(),
            taken_ids: Vec::new(),
        }
    }

    /// Messages taken so far, whatever became of them.
    pub fn taken_total(&self) -> u32 {
        self.queued + self.already + self.skipped
    }

    /// Whether a new record may start (the message budget).
    pub fn may_start_record(&self) -> bool {
        (self.taken_total() as usize) < MESSAGES_PER_PASS
    }

    /// Whether a message may be taken within a record already started.
    pub fn may_take_in_record(&self) -> bool {
        (self.taken_total() as usize) < 2 * MESSAGES_PER_PASS
    }

    /// Whether this pass already took the message (it can appear in several records).
    pub fn already_taken(&self, id: &str) -> bool {
        self.taken_ids.iter().any(|t| t == id)
    }

    /// A message's outcome, counted (`counts`: the mailbox's totals).
    pub fn count(&mut self, id: &str, t: Taken, counts: &mut Counts) {
        self.taken_ids.push(id.to_string());
        match t {
            Taken::Queued => {
                self.queued += 1;
                counts.push += 1;
            }
            Taken::Already => {
                self.already += 1;
                counts.already += 1;
            }
            Taken::Deleted => {
                self.skipped += 1;
                counts.skipped_deleted += 1;
            }
            Taken::TooLarge => {
                self.skipped += 1;
                counts.skipped_too_large += 1;
            }
            Taken::Invalid => {
                self.skipped += 1;
                counts.skipped_invalid += 1;
            }
            Taken::SenderNotAllowed => {
                self.skipped += 1;
                counts.skipped_sender += 1;
            }
        }
    }

    /// Every message of this record was taken.
    pub fn record_done(&mut self, record_id: u64) {
        self.done_to = Some(self.done_to.map_or(record_id, |d| d.max(record_id)));
    }
}

/// One record of `history.list`: its id and the messages added to the label in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: u64,
    pub messages: Vec<String>,
}

/// One page of `history.list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub records: Vec<Record>,
    pub next_page_token: Option<String>,
    pub history_id: Option<u64>,
}

fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Reads a `history.list` answer: each record's messages added with the label (drafts left
/// out), in order.
pub fn parse_history(text: &str, label_id: &str) -> Result<HistoryPage, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("history unreadable: {e}"))?;
    let mut records = Vec::new();
    for r in v["history"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let Some(id) = id_of(&r["id"]) else { continue };
        let mut messages: Vec<String> = Vec::new();
        for added in r["messagesAdded"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let m = &added["message"];
            let Some(mid) = m["id"].as_str().filter(|s| !s.is_empty()) else {
                continue;
            };
            let labels: Vec<&str> = m["labelIds"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let labelled = labels.is_empty() || labels.contains(&label_id);
            if labelled && !labels.contains(&"DRAFT") && !messages.iter().any(|x| x == mid) {
                messages.push(mid.to_string());
            }
        }
        records.push(Record { id, messages });
    }
    records.sort_by_key(|r| r.id);
    Ok(HistoryPage {
        records,
        next_page_token: v["nextPageToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        history_id: id_of(&v["historyId"]),
    })
}

/// The ids of a `messages.list` answer, in its order (newest first).
pub fn parse_message_list(text: &str) -> Result<Vec<String>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("list unreadable: {e}"))?;
    Ok(v["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect())
}

/// The `q` of a full sync: messages since a day before the last good pass, never further back
/// than [`FULL_SYNC_LOOKBACK_MAX_MS`] (in Gmail's `after:<epoch seconds>`).
pub fn full_sync_query(last_ok_sync_ms: Option<i64>, now_ms: i64) -> String {
    let floor = now_ms - FULL_SYNC_LOOKBACK_MAX_MS;
    let since = last_ok_sync_ms.map_or(floor, |t| (t - DAY_MS).max(floor));
    format!("after:{}", since.div_euclid(1000))
}

/// The delay before the next pass after `failures` consecutive failures.
pub fn retry_delay_secs(failures: u32, retry_after_secs: Option<u32>) -> u32 {
    let exp = failures.saturating_sub(1).min(16);
    let backoff = BACKOFF_BASE_SECS
        .saturating_mul(1u32 << exp)
        .min(BACKOFF_MAX_SECS);
    backoff.max(retry_after_secs.unwrap_or(0).min(3_600))
}

/// Whether an answer status is worth retrying (429, 5xx).
pub fn retryable(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// The delivery-log entry of a message the push path skipped for good (`too_large`,
/// `invalid`): the e-mail's timeline says why it was not delivered.
pub fn skipped_entry(email_id: &str, reason: &str, error: &str, now_ms: i64) -> LogEntry {
    let id = log_entry_id(&[email_id, "skipped", reason, &now_ms.to_string()]);
    let mut e = LogEntry::about_email(id, email_id, LogStatus::Skipped, reason, now_ms);
    e.error = Some(error.to_string());
    e
}

/// An address for the worker's log: `j***@example.com`.
pub fn mask_address(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected() -> Mailbox {
        let mut m = Mailbox::default();
        m.connected(
            Connection {
                email_address: "me@example.com".into(),
                label: "facteur/to-push".into(),
                label_id: "Label_1".into(),
                scope: crate::intake::gmail::oauth::SCOPE.into(),
                connected_at_ms: 0,
            },
            100,
            7 * DAY_MS,
            0,
        );
        m
    }

    fn note(history_id: u64) -> Notification {
        Notification {
            email_address: "Me@Example.com".to_lowercase(),
            history_id,
            message_id: "m".into(),
            publish_time: String::new(),
        }
    }

    #[test]
    fn notifications_are_hints() {
        let mut none = Mailbox::default();
        assert!(matches!(none.notify(&note(5), 1), Notified::Ignored(_)));
        let mut m = connected();
        let mut other = note(500);
        other.email_address = "someone@else.example".into();
        assert_eq!(
            m.notify(&other, 1),
            Notified::Ignored("notification for another mailbox")
        );
        assert_eq!(m.notify(&note(90), 1), Notified::Stale, "before the cursor");
        assert_eq!(m.notify(&note(150), 2), Notified::Recorded { sync: true });
        assert_eq!(m.notify(&note(150), 3), Notified::Stale, "a duplicate");
        assert_eq!(
            m.notify(&note(120), 4),
            Notified::Stale,
            "out of order, older"
        );
        assert_eq!(m.notify(&note(160), 5), Notified::Recorded { sync: true });
        assert_eq!(m.hint, Some(160));
        assert_eq!(
            m.cursor,
            Some(100),
            "the cursor never comes from a notification"
        );
        assert_eq!((m.counts.notifications, m.counts.stale), (5, 3));
        m.token_broken("invalid_grant", 6);
        assert_eq!(m.notify(&note(170), 7), Notified::Recorded { sync: false });
        assert_eq!(Notified::Stale.as_str(), "stale");
    }

    #[test]
    fn the_cursor_moves_only_past_taken_records() {
        let mut m = connected();
        m.notify(&note(130), 0);
        let mut p = Pass::new(PassKind::History, m.hint);
        p.listed = 3;
        p.count("a", Taken::Queued, &mut m.counts);
        p.record_done(110);
        p.count("b", Taken::Already, &mut m.counts);
        p.record_done(120);
        p.stop = Some(Stop::Retry {
            why: "HTTP 503".into(),
            retry_after_secs: None,
        });
        let next = m.finish(p, 1_000);
        assert_eq!(m.cursor, Some(120), "not past the record that failed");
        assert_eq!(next, Some(1_000 + 10_000), "backing off 10 s");
        assert_eq!(m.retry_at_ms, Some(11_000));
        assert!(!m.may_sync(5_000) && m.may_sync(11_000));
        assert_eq!(m.last_sync.as_ref().unwrap().outcome, "retry");
        assert_eq!((m.counts.push, m.counts.already), (1, 1));

        // The next pass completes: the hint is done; the head is remembered, not used yet.
        let mut p = Pass::new(PassKind::History, m.hint);
        p.listed = 1;
        p.count("c", Taken::Queued, &mut m.counts);
        p.record_done(130);
        p.complete = true;
        p.head = Some(140);
        assert_eq!(m.finish(p, 20_000), None);
        assert_eq!((m.cursor, m.failures, m.retry_at_ms), (Some(130), 0, None));
        assert_eq!(m.hint_done, Some(130));
        assert_eq!(m.head.map(|h| h.history_id), Some(140));

        // A complete listing five minutes later moves the cursor to the settled head.
        let mut p = Pass::new(PassKind::History, m.hint);
        p.complete = true;
        p.head = Some(150);
        m.finish(p, 20_000 + HEAD_SETTLE_MS);
        assert_eq!(m.cursor, Some(140));
        assert_eq!(m.head.map(|h| h.history_id), Some(150));

        // The bounds stop a pass: the next runs at once, the cursor stays at the last record.
        let mut p = Pass::new(PassKind::History, m.hint);
        for i in 0..MESSAGES_PER_PASS {
            assert!(p.may_start_record());
            p.count(&format!("m{i}"), Taken::Queued, &mut m.counts);
            p.record_done(150 + i as u64);
        }
        assert!(!p.may_start_record() && p.may_take_in_record());
        p.stop = Some(Stop::More);
        let now = 1_000_000;
        assert_eq!(m.finish(p, now), Some(now));
        assert_eq!(m.cursor, Some(150 + MESSAGES_PER_PASS as u64 - 1));
    }

    #[test]
    fn an_empty_history_after_a_push_is_looked_at_once_more() {
        let mut m = connected();
        m.notify(&note(200), 0);
        let mut p = Pass::new(PassKind::History, m.hint);
        p.complete = true;
        p.head = Some(150);
        assert_eq!(m.finish(p.clone(), 1_000), Some(1_000 + 5_000));
        assert_eq!(m.hint_done, None, "the hint is still pending");
        assert_eq!(m.finish(p, 6_000), None, "only once");
        assert_eq!(m.hint_done, Some(200));
        assert_eq!(m.notify(&note(200), 7_000), Notified::Stale);
    }

    #[test]
    fn a_push_during_a_pass_makes_one_more_pass() {
        let mut m = connected();
        m.notify(&note(150), 0);
        let mut p = Pass::new(PassKind::History, m.hint);
        p.listed = 1;
        p.count("a", Taken::Queued, &mut m.counts);
        p.record_done(150);
        p.complete = true;
        // While the pass runs, a storm of pushes: each only raises the hint.
        for h in [151, 152, 153] {
            assert_eq!(m.notify(&note(h), 1), Notified::Recorded { sync: true });
        }
        assert_eq!(m.finish(p, 2), Some(2), "sync again, at once");
        assert_eq!(m.hint_done, Some(150), "the newer hints are not listed yet");
        let mut p = Pass::new(PassKind::History, m.hint);
        p.complete = true;
        p.listed = 1;
        p.record_done(153);
        assert_eq!(m.finish(p, 3), None);
        assert_eq!(m.hint_done, Some(153));
    }

    #[test]
    fn blocked_and_reconnect_stop_without_a_retry_loop() {
        let mut m = connected();
        let mut p = Pass::new(PassKind::History, m.hint);
        p.stop = Some(Stop::Blocked("Webhook sending disabled".into()));
        assert_eq!(m.finish(p, 1), None, "the catch-up tries again");
        assert_eq!(m.last_sync.as_ref().unwrap().outcome, "blocked");
        assert!(m.token_broken("HTTP 400 invalid_grant", 2));
        assert!(!m.token_broken("again", 3), "the alert fires once");
        assert!(!m.may_sync(4));
        assert!(!m.renewal_due(10 * DAY_MS));
        assert_eq!(m.reconnect.as_ref().unwrap().since_ms, 2);
        assert!(m.token_recovered());
        assert!(!m.token_recovered());
    }

    #[test]
    fn full_sync_after_a_lost_cursor() {
        let mut m = connected();
        m.cursor_lost();
        assert_eq!(m.cursor, None);
        m.start_full_sync(900, (0..60).map(|i| format!("n{i}")).collect());
        let fs = m.full_sync.clone().unwrap();
        assert_eq!(fs.pending.len(), FULL_SYNC_MAX);
        assert_eq!(fs.pending[0], "n49", "oldest first");
        m.full_sync.as_mut().unwrap().pending.drain(..8);
        let mut p = Pass::new(PassKind::Full, m.hint);
        p.stop = None;
        assert_eq!(m.finish(p, 5), Some(5), "still under way: at once");
        assert_eq!(m.cursor, None);
        m.full_sync.as_mut().unwrap().pending.clear();
        assert_eq!(m.finish(Pass::new(PassKind::Full, m.hint), 6), None);
        assert_eq!((m.cursor, m.full_sync.is_none()), (Some(900), true));
        let day = DAY_MS;
        assert_eq!(
            full_sync_query(Some(10 * day), 12 * day),
            format!("after:{}", 9 * day / 1000)
        );
        assert_eq!(
            full_sync_query(None, 40 * day),
            format!("after:{}", 11 * day / 1000)
        );
    }

    #[test]
    fn watch_renewal_and_its_alert() {
        let mut m = connected();
        m.watch = Some(Watch {
            expiration_ms: 5 * DAY_MS,
            renewed_at_ms: 0,
        });
        assert!(
            m.renewal_due(1),
            "a watch expiring within 6 days is renewed at once"
        );
        m.renewed(Ok(7 * DAY_MS), 0);
        assert!(!m.renewal_due(DAY_MS - 1));
        assert!(m.renewal_due(DAY_MS));
        m.renewed(Err("HTTP 403".into()), DAY_MS);
        assert!(!m.renewal_due(DAY_MS + 1), "a failed renewal waits an hour");
        assert!(m.renewal_due(DAY_MS + RENEW_RETRY_MS));
        assert_eq!(m.watch_alert(4 * DAY_MS), None);
        assert_eq!(m.watch_alert(5 * DAY_MS + 1), Some(true), "within 48 h");
        assert_eq!(m.watch_alert(5 * DAY_MS + 2), None, "once");
        m.renewed(Ok(12 * DAY_MS), 5 * DAY_MS + 3);
        assert_eq!(m.watch_error, None);
        assert_eq!(m.watch_alert(5 * DAY_MS + 4), Some(false), "recovered");
        let v = m.view(true, None, 5 * DAY_MS + 5);
        assert_eq!(v["watch"]["expiring"], false);
        assert_eq!(v["email_address"], "me@example.com");
        assert_eq!(v["cursor"], "100");
    }

    #[test]
    fn history_pages() {
        let text = json!({
            "history": [
                {"id": "130", "messagesAdded": [
                    {"message": {"id": "m2", "labelIds": ["Label_1", "INBOX"]}},
                    {"message": {"id": "m2", "labelIds": ["Label_1"]}}]},
                {"id": "120", "messages": [{"id": "m1"}], "messagesAdded": [
                    {"message": {"id": "m1", "labelIds": ["INBOX", "Label_1"]}}]},
                {"id": "140", "messagesAdded": [
                    {"message": {"id": "d1", "labelIds": ["DRAFT", "Label_1"]}},
                    {"message": {"id": "o1", "labelIds": ["Label_9"]}},
                    {"message": {"id": "u1"}}]},
                {"id": "x"}
            ],
            "nextPageToken": "p2",
            "historyId": "150"
        })
        .to_string();
        let page = parse_history(&text, "Label_1").unwrap();
        assert_eq!(
            page.records,
            vec![
                Record {
                    id: 120,
                    messages: vec!["m1".into()]
                },
                Record {
                    id: 130,
                    messages: vec!["m2".into()]
                },
                Record {
                    id: 140,
                    messages: vec!["u1".into()]
                },
            ]
        );
        assert_eq!(page.next_page_token.as_deref(), Some("p2"));
        assert_eq!(page.history_id, Some(150));
        let empty = parse_history(r#"{"historyId":"7"}"#, "L").unwrap();
        assert!(empty.records.is_empty() && empty.next_page_token.is_none());
        assert!(parse_history("<html>", "L").is_err());
        assert_eq!(
            parse_message_list(r#"{"messages":[{"id":"b"},{"id":"a"}],"resultSizeEstimate":2}"#)
                .unwrap(),
            ["b", "a"]
        );
        assert_eq!(
            parse_message_list(r#"{"resultSizeEstimate":0}"#).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn backoff_and_small_helpers() {
        #[rustfmt::skip]
        let table = [(1, None, 10), (2, None, 20), (3, None, 40), (7, None, 640), (8, None, 900),
                     (40, None, 900), (1, Some(120), 120), (1, Some(99_999), 3_600)];
        for (failures, retry_after, want) in table {
            assert_eq!(
                retry_delay_secs(failures, retry_after),
                want,
                "{failures} {retry_after:?}"
            );
        }
        assert!(retryable(429) && retryable(503) && !retryable(404) && !retryable(400));
        assert!(catch_up_minute(0) && catch_up_minute(5 * 60_000 + 59_999));
        assert!(!catch_up_minute(60_000) && !catch_up_minute(4 * 60_000));
        assert_eq!(full_max_bytes(25), 36_000_000);
        assert_eq!(mask_address("jane@example.com"), "j***@example.com");
        assert_eq!(mask_address("nobody"), "***");
        let e = skipped_entry("abc", "too_large", "31 MB", 0);
        assert_eq!(
            (e.status, e.reason.as_deref()),
            (LogStatus::Skipped, Some("too_large"))
        );
    }

    #[test]
    fn reconnecting_the_same_mailbox_keeps_its_cursor() {
        let mut m = connected();
        m.counts.push = 3;
        m.token_broken("invalid_grant", 10);
        let again = m.connection.clone().unwrap();
        m.connected(again.clone(), 500, 9 * DAY_MS, 20);
        assert!(m.token_recovered());
        assert_eq!(
            m.cursor,
            Some(100),
            "the cursor of before: what arrived meanwhile is taken"
        );
        assert_eq!(m.counts.push, 3);
        assert!(m.may_sync(21));
        let other = Connection {
            email_address: "other@example.com".into(),
            ..again
        };
        m.connected(other, 700, 9 * DAY_MS, 30);
        assert_eq!(
            (m.cursor, m.counts.push),
            (Some(700), 0),
            "another mailbox starts afresh"
        );
    }

    #[test]
    fn the_script_counts_while_connected_and_disconnect_keeps_alerts() {
        let mut m = Mailbox::default();
        assert!(!m.taken_by_script());
        let mut m2 = connected();
        assert!(m2.taken_by_script());
        assert_eq!(m2.counts.script, 1);
        m2.alerts.reconnect = true;
        m2.disconnected();
        assert!(m2.connection.is_none() && m2.alerts.reconnect);
        m.alerts.watch_expiring = true;
        assert_eq!(
            m.watch_alert(0),
            Some(false),
            "not connected: nothing expires"
        );
    }
}
