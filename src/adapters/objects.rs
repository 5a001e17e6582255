//! Calling a Durable Object: each client (dedup shards, targets, the console guard, the
//! journal, the Gmail mailbox) posts one JSON call to a stub and reads one JSON answer here.

use serde::{de::DeserializeOwned, Serialize};
use worker::{Env, Method, Request, RequestInit, Stub};

use super::ledger::count;
use facteur_core::base::mask::truncate;
use facteur_core::store::ports::{StoreError, StoreResult};

/// The stub of the object named `instance` in namespace `binding`.
pub fn stub(env: &Env, binding: &str, instance: &str) -> StoreResult<Stub> {
    let ns = env
        .durable_object(binding)
        .map_err(|e| StoreError::unreachable(format!("{binding} binding: {e}")))?;
    ns.id_from_name(instance)
        .and_then(|id| id.get_stub())
        .map_err(|e| StoreError::from_runtime(format!("{binding} stub: {e}")))
}

/// Posts `call` to `stub` (at `path`, which objects with several operations read) and reads
/// its answer; one billed Durable Object request. `name` names the object in errors. An
/// answer other than 200 is refused with its status and the start of its body, unless that
/// body is the runtime's "limit exceeded" (then it is a limit: see `StoreError::is_limit`).
pub async fn post<T: DeserializeOwned>(
    stub: &Stub,
    name: &str,
    path: &str,
    call: &impl Serialize,
) -> StoreResult<T> {
    let body = serde_json::to_string(call).map_err(|e| StoreError::unreadable(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init(&format!("https://object.internal/{path}"), &init)
        .map_err(|e| StoreError::unreachable(format!("{name} request: {e}")))?;
    count(|o| o.do_requests += 1);
    let mut resp = stub
        .fetch_with_request(req)
        .await
        .map_err(|e| StoreError::from_runtime(format!("{name}: {e}")))?;
    if resp.status_code() != 200 {
        let text = resp.text().await.unwrap_or_default();
        let detail = format!(
            "{name} answered {}: {}",
            resp.status_code(),
            truncate(&text, 200)
        );
        let runtime = StoreError::from_runtime(detail.clone());
        return Err(if runtime.is_limit() {
            runtime
        } else {
            StoreError::refused(detail)
        });
    }
    resp.json()
        .await
        .map_err(|e| StoreError::unreadable(format!("{name} reply: {e}")))
}
