//! One webhook attempt: POST the payload with a timeout, no redirects followed, and report the
//! outcome for the pure decision.

use worker::{Headers, Method, Request, RequestInit, RequestRedirect};

use super::ledger::count;
use super::net::{fetch_with_timeout, now_ms, NetError};
use facteur_core::base::mask::{redact, truncate};
use facteur_core::delivery::outcome::{parse_retry_after, AttemptOutcome};
use facteur_core::delivery::signing::sign;
use facteur_core::jobs::delivery::DeliveryJob;

/// `User-Agent` of every webhook.
pub const USER_AGENT: &str = concat!(
    "Facteur/",
    env!("CARGO_PKG_VERSION"),
    " (+webhook delivery)"
);
/// `X-Source` of every webhook.
pub const X_SOURCE: &str = "facteur";

fn headers(job: &DeliveryJob, body: &str, signing_secret: Option<&str>) -> worker::Result<Headers> {
    let h = Headers::new();
    h.set("Content-Type", "application/json")?;
    h.set("User-Agent", USER_AGENT)?;
    h.set("X-Source", X_SOURCE)?;
    h.set("X-Facteur-Delivery-Id", &job.delivery_id)?;
    h.set("X-Facteur-Email-Id", &job.email_id)?;
    h.set("X-Facteur-Attempt", &job.attempt.to_string())?;
    h.set("Idempotency-Key", &job.delivery_id)?;
    // `signing_secret` holds every secret in force (several during a rotation): one signature
    // each, space-separated in `webhook-signature`.
    if let Some(secrets) = signing_secret {
        let sig = sign(secrets, &job.delivery_id, now_ms() / 1000, body);
        h.set("webhook-id", &sig.webhook_id)?;
        h.set("webhook-timestamp", &sig.webhook_timestamp)?;
        h.set("webhook-signature", &sig.webhook_signature)?;
    }
    Ok(h)
}

/// POSTs `body` to the job's target; returns the outcome and the elapsed milliseconds.
pub async fn attempt(
    job: &DeliveryJob,
    body: &str,
    signing_secret: Option<&str>,
) -> (AttemptOutcome, u64) {
    let started = now_ms();
    count(|o| o.subrequests += 1);
    let outcome = match build(job, body, signing_secret) {
        Err(e) => AttemptOutcome::Network(format!(
            "request not built: {}",
            truncate(&redact(&e.to_string(), &[&job.target_url]), 300)
        )),
        Ok(req) => match fetch_with_timeout(req, u64::from(job.policy.timeout_sec) * 1000).await {
            Ok(resp) => AttemptOutcome::Status {
                code: resp.status_code(),
                retry_after_secs: parse_retry_after(
                    resp.headers().get("Retry-After").ok().flatten().as_deref(),
                    now_ms(),
                ),
            },
            Err(NetError::Timeout) => AttemptOutcome::Timeout,
            // Fetch errors can quote the URL, which carries the receiver's secret.
            Err(NetError::Failed(e)) => {
                AttemptOutcome::Network(truncate(&redact(&e, &[&job.target_url]), 300))
            }
        },
    };
    (outcome, (now_ms() - started).max(0) as u64)
}

fn build(job: &DeliveryJob, body: &str, signing_secret: Option<&str>) -> worker::Result<Request> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers(job, body, signing_secret)?)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(body.into()));
    Request::new_with_init(&job.target_url, &init)
}
