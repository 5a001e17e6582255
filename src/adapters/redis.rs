//! The Upstash REST transport over `fetch`, with a per-isolate circuit breaker so an outage
//! costs one failed call per cool-down, not one per operation.

use std::cell::Cell;

use worker::{Headers, Method, Request, RequestInit};

use super::ledger::{count, limit_hit};
use super::net::{fetch_with_timeout, now_ms, NetError};
use facteur_core::base::mask::{redact, truncate};
use facteur_core::settings::UpstashSettings;
use facteur_core::store::ports::{StoreError, StoreResult};
use facteur_core::store::upstash::{RestTransport, UpstashStore};

/// How long Redis is skipped after a failure.
const BREAKER_COOL_DOWN_MS: i64 = 2_000;

thread_local! {
    static REDIS_SKIP_UNTIL: Cell<i64> = const { Cell::new(0) };
}

/// Whether the circuit breaker is skipping Redis now (a call failed less than the cool-down
/// ago): `/health` answers from it without a call.
pub fn breaker_open() -> bool {
    REDIS_SKIP_UNTIL.with(Cell::get) > now_ms()
}

/// POSTs to the Upstash endpoint.
#[derive(Clone)]
pub struct FetchTransport {
    settings: UpstashSettings,
    timeout_ms: u64,
}

impl RestTransport for FetchTransport {
    async fn post(&self, path: &str, body: String) -> StoreResult<(u16, String)> {
        let now = now_ms();
        if REDIS_SKIP_UNTIL.with(Cell::get) > now {
            return Err(StoreError::unreachable(
                "redis skipped after a recent failure",
            ));
        }
        // Upstash bills every command, one per element of a pipeline.
        let commands = match path {
            "/" => 1,
            _ => {
                serde_json::from_str::<Vec<serde_json::Value>>(&body).map_or(1, |c| c.len() as u64)
            }
        };
        count(|o| {
            o.subrequests += 1;
            o.redis_commands += commands;
        });
        let result = self.call(path, body).await;
        // Upstash answers an exhausted quota with an error naming its limit.
        if let Ok((status, text)) = &result {
            if *status >= 400 && text.to_ascii_lowercase().contains("limit") {
                limit_hit(
                    "Upstash commands",
                    &facteur_core::base::mask::truncate(text, 200),
                );
            }
        }
        match &result {
            Ok((status, _)) if *status < 500 && *status != 401 => {}
            _ => REDIS_SKIP_UNTIL.with(|c| c.set(now_ms() + BREAKER_COOL_DOWN_MS)),
        }
        result
    }
}

impl FetchTransport {
    async fn call(&self, path: &str, body: String) -> StoreResult<(u16, String)> {
        let url = format!(
            "{}{}",
            self.settings.url,
            if path == "/" { "" } else { path }
        );
        let headers = Headers::new();
        let auth = format!("Bearer {}", self.settings.token);
        headers
            .set("Authorization", &auth)
            .map_err(|e| StoreError::unreachable(e.to_string()))?;
        headers
            .set("Content-Type", "application/json")
            .map_err(|e| StoreError::unreachable(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(body.into()));
        let req = Request::new_with_init(&url, &init)
            .map_err(|_| StoreError::unreachable("invalid Upstash URL"))?;
        let mut resp = match fetch_with_timeout(req, self.timeout_ms).await {
            Ok(r) => r,
            Err(NetError::Timeout) => {
                return Err(StoreError::unreachable(format!(
                    "redis timeout after {} ms",
                    self.timeout_ms
                )))
            }
            Err(NetError::Failed(e)) => {
                let detail = truncate(
                    &redact(&e, &[&self.settings.url, &self.settings.token]),
                    200,
                );
                return Err(StoreError::unreachable(format!(
                    "redis unreachable: {detail}"
                )));
            }
        };
        let status = resp.status_code();
        let text = resp
            .text()
            .await
            .map_err(|_| StoreError::unreadable("redis reply unreadable"))?;
        Ok((status, text))
    }
}

/// The Redis store over the Workers fetch.
pub type Redis = UpstashStore<FetchTransport>;

/// The Redis store, when configured.
pub fn upstash_store(
    settings: &Option<UpstashSettings>,
    timeout_ms: u32,
    log_cap: u64,
) -> Option<UpstashStore<FetchTransport>> {
    settings.as_ref().map(|s| UpstashStore {
        transport: FetchTransport {
            settings: s.clone(),
            timeout_ms: u64::from(timeout_ms),
        },
        log_cap,
    })
}
