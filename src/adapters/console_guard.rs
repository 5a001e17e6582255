//! The console's guard, a Durable Object (one instance, strongly consistent): the ids of live
//! sessions, so signing out ends a session everywhere at once, and each client's recent wrong
//! passwords, so the limit holds across isolates. Every decision is the core's
//! (`facteur_core::session`); this object only keeps the state.

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast as _;
use worker::{
    durable_object, Env, ListOptions, Method, Request, RequestInit, Response, Result, State,
};

use super::net::now_ms;
use facteur_core::ports::{StoreError, StoreResult};
use facteur_core::session::{sign_in, SignIn, FAILURE_WINDOW_MS};

/// The one instance's name.
const INSTANCE: &str = "console";
/// Longest client key kept (an IPv6 address is 39 characters).
const MAX_CLIENT_CHARS: usize = 64;

#[derive(Serialize, Deserialize, Default)]
struct GuardCall {
    #[serde(default)]
    client: String,
    #[serde(default)]
    password_ok: bool,
    #[serde(default)]
    session_id: String,
    #[serde(default)]
    expires_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct GuardReply {
    ok: bool,
}

/// Sessions and wrong-password counters.
#[durable_object]
pub struct ConsoleGuard {
    state: State,
}

impl ConsoleGuard {
    /// Drops expired sessions (one per browser signed in) and the counters of clients whose
    /// failures are all out of the window.
    async fn sweep(&self, now: i64) -> Result<()> {
        let storage = self.state.storage();
        let mut expired = Vec::new();
        for (prefix, window) in [("s:", 0), ("f:", FAILURE_WINDOW_MS)] {
            let rows = storage
                .list_with_options(ListOptions::new().prefix(prefix))
                .await?;
            for entry in rows.entries() {
                let pair: js_sys::Array = entry?.into();
                // A session row holds its expiry; a counter row, its failures (newest last).
                let value = pair.get(1);
                let until = match value.dyn_ref::<js_sys::Array>() {
                    Some(failures) => failures.pop().as_f64(),
                    None => value.as_f64(),
                };
                if until.is_none_or(|t| t as i64 + window <= now) {
                    expired.push(pair.get(0).as_string().unwrap_or_default());
                }
            }
        }
        if !expired.is_empty() {
            storage.delete_multiple(expired).await?;
        }
        Ok(())
    }
}

impl worker::DurableObject for ConsoleGuard {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let call: GuardCall = req.json().await?;
        let storage = self.state.storage();
        let now = now_ms();
        let session_key = format!("s:{}", call.session_id);
        let ok = match req.path().as_str() {
            "/sign_in" => {
                let client: String = call.client.chars().take(MAX_CLIENT_CHARS).collect();
                let key = format!("f:{client}");
                let failures: Vec<i64> = storage.get(&key).await?.unwrap_or_default();
                let (decision, keep) = sign_in(&failures, call.password_ok, now);
                if keep.is_empty() {
                    storage.delete(&key).await?;
                } else {
                    storage.put(&key, keep).await?;
                }
                let accepted = decision == SignIn::Accepted;
                if accepted {
                    self.sweep(now).await?;
                    storage.put(&session_key, call.expires_ms).await?;
                }
                accepted
            }
            "/check" => storage
                .get::<i64>(&session_key)
                .await?
                .is_some_and(|exp| exp > now),
            "/sign_out" => storage.delete(&session_key).await?,
            other => return Response::error(format!("unknown guard call {other}"), 404),
        };
        Response::from_json(&GuardReply { ok })
    }
}

/// Calls the guard.
pub struct Guard<'a> {
    pub env: &'a Env,
    pub binding: &'static str,
}

impl Guard<'_> {
    async fn call(&self, op: &str, call: &GuardCall) -> StoreResult<bool> {
        let err = |what: &str, e: worker::Error| StoreError(format!("console guard {what}: {e}"));
        let ns = self
            .env
            .durable_object(self.binding)
            .map_err(|e| err("binding", e))?;
        let stub = ns
            .id_from_name(INSTANCE)
            .and_then(|id| id.get_stub())
            .map_err(|e| err("stub", e))?;
        let body = serde_json::to_string(call).map_err(|e| StoreError(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(body.into()));
        let req = Request::new_with_init(&format!("https://guard.internal/{op}"), &init)
            .map_err(|e| err("request", e))?;
        let mut resp = stub
            .fetch_with_request(req)
            .await
            .map_err(|e| err("call", e))?;
        if resp.status_code() != 200 {
            return Err(StoreError(format!(
                "console guard answered {}",
                resp.status_code()
            )));
        }
        let reply: GuardReply = resp.json().await.map_err(|e| err("reply", e))?;
        Ok(reply.ok)
    }

    /// Records a sign-in attempt of `client`; opens session `session_id` until `expires_ms`
    /// when the password matched and the client is not over the limit. True when opened.
    pub async fn sign_in(
        &self,
        client: &str,
        password_ok: bool,
        session_id: &str,
        expires_ms: i64,
    ) -> StoreResult<bool> {
        let call = GuardCall {
            client: client.into(),
            password_ok,
            session_id: session_id.into(),
            expires_ms,
        };
        self.call("sign_in", &call).await
    }

    /// True while session `session_id` is open.
    pub async fn is_open(&self, session_id: &str) -> StoreResult<bool> {
        let call = GuardCall {
            session_id: session_id.into(),
            ..GuardCall::default()
        };
        self.call("check", &call).await
    }

    /// Ends session `session_id`.
    pub async fn sign_out(&self, session_id: &str) -> StoreResult<()> {
        let call = GuardCall {
            session_id: session_id.into(),
            ..GuardCall::default()
        };
        self.call("sign_out", &call).await.map(|_| ())
    }
}

/// A new random session id: 16 bytes from the runtime's CSPRNG, as 32 hex digits.
pub fn new_session_id() -> StoreResult<String> {
    let fail = |_| StoreError("crypto.getRandomValues unavailable".into());
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).map_err(fail)?;
    let get: js_sys::Function = js_sys::Reflect::get(&crypto, &"getRandomValues".into())
        .map_err(fail)?
        .dyn_into()
        .map_err(|_| StoreError("crypto.getRandomValues is not a function".into()))?;
    let bytes = js_sys::Uint8Array::new_with_length(16);
    get.call1(&crypto, &bytes).map_err(fail)?;
    Ok(bytes.to_vec().iter().map(|b| format!("{b:02x}")).collect())
}
