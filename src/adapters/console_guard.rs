//! The console's guard, a Durable Object (one instance, strongly consistent): the ids of live
//! sessions, so signing out ends a session everywhere at once, and each client's recent wrong
//! passwords, so the limit holds across isolates. It keeps one text value; every decision is
//! the core's (`facteur_core::operator::guard`).

use wasm_bindgen::JsCast as _;
use worker::{durable_object, Env, Method, Request, RequestInit, Response, Result, State};

use super::net::now_ms;
use facteur_core::operator::guard::{Book, GuardCall};
use facteur_core::store::ports::{StoreError, StoreResult};

/// The one instance's name, and the storage key of its book.
const INSTANCE: &str = "console";
const BOOK_KEY: &str = "book";

/// Sessions and wrong-password counters.
#[durable_object(fetch)]
pub struct ConsoleGuard {
    state: State,
}

impl worker::DurableObject for ConsoleGuard {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let Some(call) = GuardCall::decode(&req.text().await?) else {
            return Response::error("unknown guard call", 400);
        };
        let storage = self.state.storage();
        let mut book = Book::parse(&storage.get::<String>(BOOK_KEY).await?.unwrap_or_default());
        let ok = book.apply(&call, now_ms());
        if !matches!(call, GuardCall::Check { .. }) {
            storage.put(BOOK_KEY, book.to_text()).await?;
        }
        Response::ok(if ok { "1" } else { "0" })
    }
}

/// Calls the guard.
pub struct Guard<'a> {
    pub env: &'a Env,
    pub binding: &'static str,
}

impl Guard<'_> {
    /// Sends a call; true when the guard answered yes (session opened, or open).
    pub async fn call(&self, call: &GuardCall) -> StoreResult<bool> {
        let err = |what: &str, e: worker::Error| StoreError(format!("console guard {what}: {e}"));
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
        let mut resp = stub
            .fetch_with_request(req)
            .await
            .map_err(|e| err("call", e))?;
        match (resp.status_code(), resp.text().await.as_deref()) {
            (200, Ok("1")) => Ok(true),
            (200, Ok("0")) => Ok(false),
            (status, _) => Err(StoreError(format!("console guard answered {status}"))),
        }
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
