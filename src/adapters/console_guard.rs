//! The console guard's client (the object is `crate::objects::guard`), and the random ids of
//! new sessions.

use wasm_bindgen::JsCast as _;
use worker::{Env, Method, Request, RequestInit};

use super::ledger::count;
use facteur_core::operator::guard::GuardCall;
use facteur_core::store::ports::{StoreError, StoreResult};

/// The one instance's name.
const INSTANCE: &str = "console";

/// Calls the guard.
pub struct Guard<'a> {
    pub env: &'a Env,
    pub binding: &'static str,
}

impl Guard<'_> {
    /// Sends a call; true when the guard answered yes (session opened, or open).
    pub async fn call(&self, call: &GuardCall) -> StoreResult<bool> {
        let err = |what: &str, e: worker::Error| {
            StoreError::from_runtime(format!("console guard {what}: {e}"))
        };
        let ns = self
            .env
            .durable_object(self.binding)
            .map_err(|e| err("binding", e))?;
        let stub = ns
            .id_from_name(INSTANCE)
            .and_then(|id| id.get_stub())
            .map_err(|e| err("stub", e))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(call.encode().into()));
        let req = Request::new_with_init("https://guard.internal/", &init)
            .map_err(|e| err("request", e))?;
        count(|o| o.do_requests += 1);
        let mut resp = stub
            .fetch_with_request(req)
            .await
            .map_err(|e| err("call", e))?;
        match (resp.status_code(), resp.text().await.as_deref()) {
            (200, Ok("1")) => Ok(true),
            (200, Ok("0")) => Ok(false),
            (status, _) => Err(StoreError::refused(format!(
                "console guard answered {status}"
            ))),
        }
    }
}

/// A new random session id: 16 bytes from the runtime's CSPRNG, as 32 hex digits.
pub fn new_session_id() -> StoreResult<String> {
    let fail = |_| StoreError::unreachable("crypto.getRandomValues unavailable");
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).map_err(fail)?;
    let get: js_sys::Function = js_sys::Reflect::get(&crypto, &"getRandomValues".into())
        .map_err(fail)?
        .dyn_into()
        .map_err(|_| StoreError::unreachable("crypto.getRandomValues is not a function"))?;
    let bytes = js_sys::Uint8Array::new_with_length(16);
    get.call1(&crypto, &bytes).map_err(fail)?;
    Ok(bytes.to_vec().iter().map(|b| format!("{b:02x}")).collect())
}
