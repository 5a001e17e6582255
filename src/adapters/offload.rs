//! Link enrichment: each link is offloaded to R2 through the r2-fetch worker (service binding),
//! [`OFFLOAD_CONCURRENCY`] at a time, best effort, each within its own timeout. A failed or slow link keeps its
//! original URLs only; the webhook goes anyway.

use std::time::Duration;

use futures::future::{select, Either};
use serde_json::{json, Value};
use worker::{console_warn, web_sys, AbortController, Delay, Fetcher, Request, Response};

use super::ledger::count;
use super::stores::DocStore;
use facteur_core::analysis::offload::{
    apply, cleanup_list_pages, link_pair_key, plan_offload, OffloadRequest, Offloaded,
    OFFLOAD_CONCURRENCY,
};
use facteur_core::analysis::payload::DeliveryLink;
use facteur_core::settings::Settings;

/// Internal origin of the r2-fetch service binding (the host is not used for routing).
const R2_FETCH_ORIGIN: &str = "https://r2-fetch.internal";
/// Keys per `/delete` call (r2-fetch's limit).
const DELETE_BATCH: usize = 100;
/// Header carrying the shared token.
pub const TOKEN_HEADER: &str = "X-R2-FETCH-TOKEN";

/// The r2-fetch worker behind its service binding, with the settings and the link-pair store
/// the offload needs.
pub struct R2Fetch<'a> {
    pub fetcher: Fetcher,
    pub settings: &'a Settings,
    pub pairs: &'a DocStore,
}

impl R2Fetch<'_> {
    /// Proxies `GET /media/<key>` to r2-fetch (local development: objects downloadable without a
    /// public R2 domain).
    pub async fn media(&self, key: &str) -> worker::Result<Response> {
        count(|o| {
            o.service_calls += 1;
            o.r2_class_b += 1;
        });
        self.fetcher
            .fetch(format!("{R2_FETCH_ORIGIN}/media/{key}"), None)
            .await
    }

    /// Offloads every link it can; the others keep their original URLs only.
    pub async fn enrich(&self, links: &mut [DeliveryLink]) {
        if links.is_empty() {
            return;
        }
        // In order, OFFLOAD_CONCURRENCY at a time (waves: join_all is already in the bundle, a
        // buffered stream would add its own machinery to the wasm).
        let mut results: Vec<Option<Offloaded>> = Vec::with_capacity(links.len());
        for wave in links.chunks(OFFLOAD_CONCURRENCY) {
            results
                .extend(futures::future::join_all(wave.iter().map(|l| self.offload_one(l))).await);
        }
        apply(links, &results);
    }

    async fn offload_one(&self, link: &DeliveryLink) -> Option<Offloaded> {
        let plan = plan_offload(
            link,
            self.settings.r2_link_timeout_ms,
            self.settings.r2_folder_timeout_ms,
        );
        let pair_key = link_pair_key(&plan.source_url);
        if let Ok(Some(known)) = self.pairs.get(&pair_key).await {
            if let Ok(done) = serde_json::from_str::<Offloaded>(&known) {
                return Some(done);
            }
        }
        count(|o| o.service_calls += 1);
        match call(&self.fetcher, &self.settings.r2_fetch_token, &plan).await {
            Ok(done) => {
                // r2-fetch stored the file: one R2 write (class A).
                count(|o| o.r2_class_a += 1);
                let ttl = u64::from(self.settings.r2_retention_hours) * 3_600;
                if let Ok(text) = serde_json::to_string(&done) {
                    if let Err(e) = self.pairs.put(&pair_key, &text, Some(ttl)).await {
                        console_warn!("r2 offload: link pair not saved ({e})");
                    }
                }
                Some(done)
            }
            Err(reason) => {
                console_warn!("r2 offload of a {} link failed: {reason}", link.provider);
                None
            }
        }
    }

    /// Asks r2-fetch to delete objects uploaded before `older_than_ms`; returns its report.
    pub async fn cleanup(&self, older_than_ms: i64) -> Result<Value, String> {
        let body = json!({ "older_than_ms": older_than_ms });
        count(|o| o.service_calls += 1);
        let report = post_json(
            &self.fetcher,
            &self.settings.r2_fetch_token,
            "/cleanup",
            &body,
        )
        .await?;
        // r2-fetch lists the bucket a page at a time (each list is class A; deletes are free).
        let scanned = report["scanned"].as_u64().unwrap_or(0);
        count(|o| o.r2_class_a += cleanup_list_pages(scanned));
        Ok(report)
    }

    /// Deletes objects by key (an erasure), in calls of [`DELETE_BATCH`]; answers how many
    /// existed.
    pub async fn delete_objects(&self, keys: &[String]) -> Result<u64, String> {
        let mut deleted = 0;
        for chunk in keys.chunks(DELETE_BATCH) {
            let body = json!({ "keys": chunk });
            let token = &self.settings.r2_fetch_token;
            count(|o| o.service_calls += 1);
            let answer = post_json(&self.fetcher, token, "/delete", &body).await?;
            deleted += answer["deleted"].as_u64().unwrap_or(0);
        }
        Ok(deleted)
    }
}

/// POSTs one request to r2-fetch and waits at most its timeout.
async fn call(fetcher: &Fetcher, token: &str, plan: &OffloadRequest) -> Result<Offloaded, String> {
    let controller = AbortController::default();
    let req = build(token, plan, &controller).map_err(|e| format!("request not built: {e}"))?;
    let call = Box::pin(fetcher.fetch_request(req));
    let timer = Box::pin(Delay::from(Duration::from_millis(plan.timeout_ms)));
    let first = select(call, timer).await;
    // Bound to a name so the futures borrowing locals are dropped before those locals.
    #[allow(clippy::let_and_return)]
    let outcome = match first {
        Either::Left((Ok(resp), _)) => read(resp).await,
        Either::Left((Err(e), _)) => Err(format!("r2-fetch unreachable: {e}")),
        Either::Right(((), _)) => {
            controller.abort();
            Err(format!("timeout after {} ms", plan.timeout_ms))
        }
    };
    outcome
}

fn build(
    token: &str,
    plan: &OffloadRequest,
    controller: &AbortController,
) -> worker::Result<Request> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    let headers = web_sys::Headers::new()?;
    headers.set("Content-Type", "application/json")?;
    headers.set(TOKEN_HEADER, token)?;
    init.set_headers(&headers);
    let body = serde_json::to_string(plan).map_err(|e| worker::Error::RustError(e.to_string()))?;
    init.set_body(&wasm_bindgen::JsValue::from_str(&body));
    let signal = controller.signal();
    init.set_signal(Some(&signal));
    let raw = web_sys::Request::new_with_str_and_init(&format!("{R2_FETCH_ORIGIN}/fetch"), &init)?;
    Ok(Request::from(raw))
}

async fn read(mut resp: Response) -> Result<Offloaded, String> {
    let status = resp.status_code();
    let body: Value = resp
        .json()
        .await
        .map_err(|_| format!("r2-fetch answered {status} without JSON"))?;
    if status == 200 && body["success"] == json!(true) {
        serde_json::from_value(body).map_err(|e| format!("r2-fetch answer incomplete: {e}"))
    } else {
        Err(format!(
            "r2-fetch {status} {}: {}",
            body["code"].as_str().unwrap_or("?"),
            body["message"].as_str().unwrap_or("")
        ))
    }
}

/// POSTs a JSON body to an r2-fetch endpoint with the token; answers its 200 body.
async fn post_json(
    fetcher: &Fetcher,
    token: &str,
    path: &str,
    body: &Value,
) -> Result<Value, String> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    let headers = web_sys::Headers::new().map_err(|_| "headers")?;
    headers
        .set("Content-Type", "application/json")
        .map_err(|_| "headers")?;
    headers.set(TOKEN_HEADER, token).map_err(|_| "headers")?;
    init.set_headers(&headers);
    init.set_body(&wasm_bindgen::JsValue::from_str(&body.to_string()));
    let raw = web_sys::Request::new_with_str_and_init(&format!("{R2_FETCH_ORIGIN}{path}"), &init)
        .map_err(|_| "request")?;
    count(|o| o.service_calls += 1);
    let mut resp = fetcher
        .fetch_request(Request::from(raw))
        .await
        .map_err(|e| format!("r2-fetch unreachable: {e}"))?;
    let status = resp.status_code();
    let body: Value = resp
        .json()
        .await
        .map_err(|_| format!("r2-fetch answered {status} without JSON"))?;
    if status == 200 {
        Ok(body)
    } else {
        Err(format!("r2-fetch {status}: {body}"))
    }
}
