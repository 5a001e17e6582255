//! The journal object's client and the calls it answers (`crate::objects::journal` is the
//! object): the delivery log of the embedded default (a [`LogStore`]), the delivery archive,
//! and the day's billed operations. Every call carries the isolate's counts not yet in the
//! day's totals (see `crate::adapters::ledger`), so counting costs no call of its own.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{Env, Stub};

use super::ledger::{
    flush_due, limit_hit, restore_limits, restore_unflushed, take_limits, take_unflushed,
};
use super::objects::{post, stub};
use facteur_core::config::bindings;
use facteur_core::records::archive::{ArchivedDelivery, EmailArchive};
use facteur_core::store::log::{LogEntry, LogQuery};
use facteur_core::store::ops::Ops;
use facteur_core::store::ports::{LogStore, StoreResult};

/// The one journal object's name.
pub const JOURNAL_NAME: &str = "journal";

/// A call to the journal (the body of its `fetch`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum JournalCall {
    /// Appends log entries.
    Append { entries: Vec<LogEntry> },
    /// The entries a query asks for (newest first, at most `query.wanted()`).
    Recent { query: LogQuery, now_ms: i64 },
    /// Archives an e-mail, its deliveries, and the bodies small enough to be kept here.
    Archive {
        email: EmailArchive,
        deliveries: Vec<ArchivedDelivery>,
        bodies: Vec<(String, String)>,
    },
    /// The archive records of deliveries (each `None` when not kept).
    Deliveries { delivery_ids: Vec<String> },
    /// The archive record of an e-mail.
    Email { email_id: String },
    /// A body kept here.
    Body { key: String },
    /// The e-mails a sender sent (by sender key), at most `max`.
    SenderEmails { sender_key: String, max: usize },
    /// Erases everything kept about these e-mails (log, archive, bodies).
    Erase { email_ids: Vec<String> },
    /// The billed operations of the last `days` days, and the daily limits reached.
    Days { days: u32 },
    /// Only the daily limits reached in the last `days` days.
    Limits { days: u32 },
    /// Only the operations that ride with every call.
    Count,
    /// A store reached a daily limit (kept once per store and day).
    LimitHit { store: String, detail: String },
}

/// A call and the operations riding with it.
#[derive(Debug, Serialize, Deserialize)]
pub struct JournalRequest {
    pub call: JournalCall,
    #[serde(default)]
    pub ops: Ops,
    pub now_ms: i64,
    /// Daily limits reached, seen by the caller's isolate (limit, detail).
    #[serde(default)]
    pub limits: Vec<(String, String)>,
}

/// A daily limit a store reached, as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitHit {
    pub day: u32,
    pub store: String,
    pub at_ms: i64,
    pub detail: String,
}

/// The journal's answer (fields by call).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct JournalReply {
    #[serde(default)]
    pub entries: Vec<LogEntry>,
    #[serde(default)]
    pub deliveries: Vec<Option<ArchivedDelivery>>,
    #[serde(default)]
    pub email: Option<EmailArchive>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub email_ids: Vec<String>,
    /// Erase: log entries, archive records and bodies removed.
    #[serde(default)]
    pub erased: Value,
    /// Days: `(day, operations)`, newest first.
    #[serde(default)]
    pub days: Vec<(u32, Ops)>,
    #[serde(default)]
    pub limits: Vec<LimitHit>,
}

/// The journal object.
#[derive(Clone)]
pub struct Journal {
    pub env: Env,
}

impl Journal {
    fn stub(&self) -> StoreResult<Stub> {
        stub(&self.env, bindings::JOURNAL, JOURNAL_NAME)
    }

    /// Sends one call, with the operations not yet counted in the day's totals.
    pub async fn call(&self, call: JournalCall) -> StoreResult<JournalReply> {
        let ops = take_unflushed();
        let request = JournalRequest {
            call,
            ops,
            now_ms: super::net::now_ms(),
            limits: take_limits(),
        };
        let result = self.send(&request).await;
        if let Err(e) = &result {
            restore_unflushed(&ops);
            restore_limits(request.limits);
            if e.is_limit() {
                limit_hit("Durable Objects", &e.detail);
            }
        }
        result
    }

    async fn send(&self, request: &JournalRequest) -> StoreResult<JournalReply> {
        post(&self.stub()?, "journal", "", request).await
    }
}

impl Journal {
    /// Sends the isolate's counts with a call of their own when they waited a minute for one
    /// (an isolate that only ingests, say, calls the journal for nothing else).
    pub async fn flush_if_due(&self) {
        if flush_due() {
            if let Err(e) = self.call(JournalCall::Count).await {
                worker::console_warn!("costs not counted yet ({e}); kept for the next call");
            }
        }
    }
}

/// From a Durable Object: sends its isolate's counts to the journal after its answer, when they
/// waited a minute for a journal call.
pub fn flush_costs(state: &worker::State, env: &Env) {
    if flush_due() {
        let journal = Journal { env: env.clone() };
        state.wait_until(async move { journal.flush_if_due().await });
    }
}

impl LogStore for Journal {
    async fn append(&self, entry: &LogEntry) -> StoreResult<()> {
        self.call(JournalCall::Append {
            entries: vec![entry.clone()],
        })
        .await
        .map(|_| ())
    }

    async fn recent(&self, query: &LogQuery, now_ms: i64) -> StoreResult<Vec<LogEntry>> {
        let call = JournalCall::Recent {
            query: query.clone(),
            now_ms,
        };
        Ok(self.call(call).await?.entries)
    }
}
