//! Periodic jobs (cron triggers): the R2 cleanup and the no-success alert.

use serde_json::json;
use worker::{console_error, console_log, Headers, Method, Request, RequestInit, RequestRedirect};

use crate::adapters::net::{fetch_with_timeout, now_ms};
use crate::context::Ctx;
use facteur_core::log::{LogQuery, MAX_LOG_LIMIT};
use facteur_core::offload::{cleanup_cutoff, LAST_CLEANUP_KEY};
use facteur_core::ports::KeyValueStore;
use facteur_core::signing::sign;
use facteur_core::stats::no_success_alert;
use facteur_core::time::iso_utc;

/// Cron of the daily R2 cleanup (wrangler.toml `[triggers]`).
pub const CLEANUP_CRON: &str = "0 3 * * *";
const ALERT_SENT_PREFIX: &str = "alert:no_success:";

/// Runs the job of a cron trigger; any other cron runs the alert check.
pub async fn run(ctx: &Ctx, cron: &str) {
    if cron == CLEANUP_CRON {
        r2_cleanup(ctx).await;
    } else {
        no_success_check(ctx).await;
    }
}

/// Deletes R2 objects older than the retention and keeps the report.
pub async fn r2_cleanup(ctx: &Ctx) {
    let Some(r2) = ctx.r2_fetch() else {
        return;
    };
    let now = now_ms();
    let cutoff = cleanup_cutoff(now, ctx.settings.r2_retention_hours);
    let saved = match r2.cleanup(cutoff).await {
        Ok(report) => {
            console_log!("r2 cleanup: {report}");
            json!({"ok": true, "at": iso_utc(now), "older_than": iso_utc(cutoff), "report": report})
        }
        Err(e) => {
            console_error!("r2 cleanup failed: {e}");
            json!({"ok": false, "at": iso_utc(now), "older_than": iso_utc(cutoff)})
        }
    };
    if let Err(e) = ctx
        .stores
        .blobs
        .put(LAST_CLEANUP_KEY, &saved.to_string(), None)
        .await
    {
        console_error!("r2 cleanup: report not saved: {e}");
    }
}

/// Alerts (once per window) when deliveries failed and none succeeded for the configured time.
pub async fn no_success_check(ctx: &Ctx) {
    let minutes = ctx.settings.alert_no_success_minutes;
    if minutes == 0 {
        return;
    }
    let now = now_ms();
    let days = (u64::from(minutes) / 1_440 + 1).min(30);
    let query = LogQuery {
        days,
        status: None,
        email_id: None,
        delivery_id: None,
        limit: MAX_LOG_LIMIT as usize,
    };
    let entries = match ctx.stores.log.recent(&query, now).await {
        Ok(e) => e,
        Err(e) => return console_error!("alert check: log unreadable: {e}"),
    };
    let Some(alert) = no_success_alert(&entries, now, minutes) else {
        return;
    };
    let window = now / (i64::from(minutes) * 60_000);
    let sent_key = format!("{ALERT_SENT_PREFIX}{window}");
    if let Ok(Some(_)) = ctx.stores.blobs.get(&sent_key).await {
        return;
    }
    let body = serde_json::to_string(&alert).unwrap_or_default();
    console_error!("ALERT {body}");
    if let Some(url) = &ctx.settings.alert_webhook_url {
        let id = format!("alert_no_success_{window}");
        match alert_request(url, &id, &body, ctx.settings.signing_secret.as_deref()) {
            Ok(req) => match fetch_with_timeout(req, 10_000).await {
                Ok(resp) if (200..300).contains(&resp.status_code()) => {}
                Ok(resp) => console_error!("alert webhook answered {}", resp.status_code()),
                Err(_) => console_error!("alert webhook unreachable"),
            },
            Err(_) => console_error!("alert webhook request not built"),
        }
    }
    let _ = ctx
        .stores
        .blobs
        .put(&sent_key, "1", Some(u64::from(minutes) * 60 + 60))
        .await;
}

/// The alert POST: JSON, no redirect followed (a 3xx is a failure, as for webhooks), signed like
/// a webhook when `WEBHOOK_SIGNING_SECRET` is set (`id` is the same for every alert of a window,
/// so a receiver can drop a repeat).
fn alert_request(
    url: &str,
    id: &str,
    body: &str,
    signing_secret: Option<&str>,
) -> worker::Result<Request> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    if let Some(secret) = signing_secret {
        let sig = sign(secret, id, now_ms() / 1000, body);
        headers.set("webhook-id", &sig.webhook_id)?;
        headers.set("webhook-timestamp", &sig.webhook_timestamp)?;
        headers.set("webhook-signature", &sig.webhook_signature)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(body.into()));
    Request::new_with_init(url, &init)
}
