//! Outbound HTTP with a deadline: the fetch races a timer and is aborted when the timer wins.

use std::time::Duration;

use futures::future::{select, Either};
use worker::{AbortController, Delay, Fetch, Request, Response};

/// Why an outbound call produced no response.
pub enum NetError {
    Timeout,
    Failed(String),
}

/// Sends `req` and waits at most `timeout_ms` for the response headers.
pub async fn fetch_with_timeout(req: Request, timeout_ms: u64) -> Result<Response, NetError> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(req);
    let call = Box::pin(fetch.send_with_signal(&signal));
    let timer = Box::pin(Delay::from(Duration::from_millis(timeout_ms)));
    let first = select(call, timer).await;
    // Bound to a name so the futures borrowing locals are dropped before those locals.
    #[allow(clippy::let_and_return)]
    let result = match first {
        Either::Left((Ok(resp), _)) => Ok(resp),
        Either::Left((Err(e), _)) => Err(NetError::Failed(e.to_string())),
        Either::Right(((), _)) => {
            controller.abort();
            Err(NetError::Timeout)
        }
    };
    result
}

/// Current time in unix milliseconds.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// Size of this isolate's wasm memory. It only ever grows, so it is the high-water mark of
/// everything the isolate did since it started.
pub fn wasm_memory_bytes() -> u64 {
    use worker::wasm_bindgen::JsCast;
    worker::wasm_bindgen::memory()
        .dyn_into::<worker::js_sys::WebAssembly::Memory>()
        .map(|m| {
            m.buffer()
                .dyn_into::<worker::js_sys::ArrayBuffer>()
                .map_or(0, |b| u64::from(b.byte_length()))
        })
        .unwrap_or(0)
}
