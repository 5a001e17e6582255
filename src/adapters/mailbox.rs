//! The Gmail mailbox's client (the object is `crate::objects::mailbox`) and the calls it
//! answers. One object holds the connected mailbox: its sync, cursor, watch and tokens.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{console_warn, Env, Method, Request, RequestInit};

use facteur_core::config::bindings;
use facteur_core::intake::gmail::push::Notification;
use facteur_core::store::ports::{StoreError, StoreResult};

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
        binding: Option<String>,
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
        let err = |what: &str, e: worker::Error| {
            StoreError::from_runtime(format!("gmail mailbox {what}: {e}"))
        };
        let stub = self
            .env
            .durable_object(bindings::GMAIL_MAILBOX)
            .and_then(|ns| ns.get_by_name(INSTANCE))
            .map_err(|e| err("stub", e))?;
        let body =
            serde_json::to_string(call).map_err(|e| StoreError::unreadable(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(body.into()));
        let req = Request::new_with_init("https://mailbox.internal/", &init)
            .map_err(|e| err("request", e))?;
        let mut resp = stub
            .fetch_with_request(req)
            .await
            .map_err(|e| err("call", e))?;
        if resp.status_code() != 200 {
            return Err(StoreError::refused(format!(
                "gmail mailbox answered {}",
                resp.status_code()
            )));
        }
        resp.json()
            .await
            .map_err(|e| StoreError::unreadable(format!("gmail mailbox reply: {e}")))
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
