//! The console guard's client (the object is `crate::objects::guard`; its two instances and
//! the calls they answer are the core's `operator::guard`), the isolate's copies of what it
//! may keep between requests, and random bytes from the runtime's CSPRNG.

use std::cell::{Cell, RefCell};

use wasm_bindgen::JsCast as _;
use worker::Env;

use super::net::now_ms;
use super::objects::{post, stub};
use facteur_core::operator::guard::{parse_key, GuardCall, GuardReply};
use facteur_core::store::ports::{StoreError, StoreResult};

/// How long this isolate lets a client that presented a right credential through without
/// asking the guard again. A failure from that client in this isolate ends it at once; one in
/// another isolate is seen within this time. Only a client holding the right credential is
/// remembered, so an attacker gains nothing from it; the ingest's bursts (the Apps Script
/// pushes a batch a minute) then cost one call to the guard, not one per e-mail.
const ADMITTED_FOR_MS: i64 = 10_000;
/// Clients remembered at most.
const MAX_ADMITTED: usize = 64;
/// Attempts refused by the platform's limiter are reported to the guard at most this often, or
/// once this many are pending: a flood of thousands costs the guard tens of calls, and the
/// burst's count is short by fewer than a batch per isolate.
const SHED_REPORT_EVERY_MS: i64 = 10_000;
const SHED_REPORT_BATCH: u32 = 100;

thread_local! {
    /// The guard's session key, once read (it never changes).
    static KEY: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
    /// Clients admitted lately: (client key, until).
    static ADMITTED: RefCell<Vec<(String, i64)>> = const { RefCell::new(Vec::new()) };
    /// Attempts refused by the limiter not yet reported, and when the last report went.
    static SHED: Cell<(u32, i64)> = const { Cell::new((0, 0)) };
}

/// Calls the guard.
pub struct Guard<'a> {
    pub env: &'a Env,
    pub binding: &'static str,
}

impl Guard<'_> {
    /// Sends a call to the instance that answers it.
    pub async fn call(&self, call: &GuardCall) -> StoreResult<GuardReply> {
        let stub = stub(self.env, self.binding, call.instance())?;
        post(&stub, "console guard", "", call).await
    }

    /// The guard's session key (read once per isolate).
    pub async fn session_key(&self) -> StoreResult<Vec<u8>> {
        if let Some(key) = KEY.with(|k| k.borrow().clone()) {
            return Ok(key);
        }
        let reply = self.call(&GuardCall::Key).await?;
        let key = reply
            .key
            .as_deref()
            .and_then(parse_key)
            .ok_or_else(|| StoreError::unreadable("console guard: no session key"))?;
        KEY.with(|k| *k.borrow_mut() = Some(key.clone()));
        Ok(key)
    }
}

/// True when this isolate admitted `client` less than [`ADMITTED_FOR_MS`] ago.
pub fn recently_admitted(client: &str) -> bool {
    let now = now_ms();
    ADMITTED.with(|a| {
        a.borrow()
            .iter()
            .any(|(c, until)| c == client && *until > now)
    })
}

/// Remembers that the guard admitted `client`.
pub fn remember_admitted(client: &str) {
    let now = now_ms();
    ADMITTED.with(|a| {
        let mut a = a.borrow_mut();
        a.retain(|(c, until)| c != client && *until > now);
        a.push((client.to_string(), now + ADMITTED_FOR_MS));
        let excess = a.len().saturating_sub(MAX_ADMITTED);
        a.drain(..excess);
    });
}

/// Forgets `client` (it presented a wrong credential).
pub fn forget_admitted(client: &str) {
    ADMITTED.with(|a| a.borrow_mut().retain(|(c, _)| c != client));
}

/// Counts an attempt the platform's limiter refused; answers the count to report now, if a
/// report is due (then reset).
pub fn count_shed() -> Option<u32> {
    let now = now_ms();
    SHED.with(|s| {
        let (n, last) = s.get();
        if now - last >= SHED_REPORT_EVERY_MS || n + 1 >= SHED_REPORT_BATCH {
            s.set((0, now));
            Some(n + 1)
        } else {
            s.set((n + 1, last));
            None
        }
    })
}

/// The refused attempts not reported yet (they ride on the next failure's call), reset.
pub fn take_shed() -> u32 {
    SHED.with(|s| {
        let (n, last) = s.get();
        s.set((0, last));
        n
    })
}

/// `n` random bytes from the runtime's CSPRNG (`crypto.getRandomValues`).
pub fn random_bytes(n: u32) -> StoreResult<Vec<u8>> {
    let fail = |_| StoreError::unreachable("crypto.getRandomValues unavailable");
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).map_err(fail)?;
    let get: js_sys::Function = js_sys::Reflect::get(&crypto, &"getRandomValues".into())
        .map_err(fail)?
        .dyn_into()
        .map_err(|_| StoreError::unreachable("crypto.getRandomValues is not a function"))?;
    let bytes = js_sys::Uint8Array::new_with_length(n);
    get.call1(&crypto, &bytes).map_err(fail)?;
    Ok(bytes.to_vec())
}

/// A new random session id: 16 bytes from the runtime's CSPRNG, as 32 hex digits.
pub fn new_session_id() -> StoreResult<String> {
    Ok(random_bytes(16)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
