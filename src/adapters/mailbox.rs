//! The Gmail mailbox's client (the object is `crate::objects::mailbox`) and the calls it
//! answers. One object holds the connected mailbox: its sync, cursor, watch and tokens.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{console_warn, Env};

use super::objects::{post, stub};
use facteur_core::config::bindings;
use facteur_core::intake::gmail::push::Notification;
use facteur_core::store::ports::StoreResult;

/// The one instance's name (one mailbox per deployment).
pub const INSTANCE: &str = "mailbox";

/// A call to the mailbox's object (the body of its `fetch`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MailboxCall {
    /// A push's notification, already authenticated: recorded before the answer.
    Notify { notification: Notification },
    /// The cron's catch-up: renew the watch when due, check its expiry, run a pass. Nothing
    /// when no mailbox is connected.
    CatchUp,
    /// "Sync now" from the console: a pass at once, backoff forgotten.
    SyncNow,
    /// What the console shows.
    Status,
    /// The ingest (the Apps Script) queued an e-mail.
    ScriptTaken,
    /// Starts connecting: answers the consent URL and the browser binding.
    ConnectStart {
        session_id: Option<String>,
        redirect_uri: String,
    },
    /// Google's redirect came back.
    ConnectFinish {
        state: String,
        code: String,
        /// Every value of the binding cookie the browser sent.
        bindings: Vec<String>,
    },
    /// Stops the watch, revokes and forgets the tokens.
    Disconnect,
}

/// The mailbox's object.
#[derive(Clone)]
pub struct MailboxClient {
    pub env: Env,
}

impl MailboxClient {
    /// Sends a call; the object's JSON answer.
    pub async fn call(&self, call: &MailboxCall) -> StoreResult<Value> {
        let stub = stub(&self.env, bindings::GMAIL_MAILBOX, INSTANCE)?;
        post(&stub, "gmail mailbox", "", call).await
    }

    /// Counts an e-mail the ingest queued (off the answer's path).
    pub fn count_script_taken(&self) -> impl std::future::Future<Output = ()> + 'static {
        let client = self.clone();
        async move {
            if let Err(e) = client.call(&MailboxCall::ScriptTaken).await {
                console_warn!("gmail mailbox: script count not recorded ({e})");
            }
        }
    }
}
