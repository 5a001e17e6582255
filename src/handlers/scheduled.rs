//! Periodic jobs (cron triggers): the R2 cleanup and the no-success alert.

use serde_json::json;
use worker::{console_error, console_log, Headers, Method, Request, RequestInit};

use crate::adapters::net::{fetch_with_timeout, now_ms};
use crate::context::Ctx;
use facteur_core::log::{LogQuery, MAX_LOG_LIMIT};
use facteur_core::offload::{cleanup_cutoff, LAST_CLEANUP_KEY};
use facteur_core::ports::KeyValueStore;
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
    match r2.cleanup(cutoff).await {
        Ok(report) => {
            console_log!("r2 cleanup: {report}");
            let saved =
                json!({"at": iso_utc(now), "older_than": iso_utc(cutoff), "report": report});
            if let Err(e) = ctx
                .stores
                .blobs
                .put(LAST_CLEANUP_KEY, &saved.to_string(), None)
                .await
            {
                console_error!("r2 cleanup: report not saved: {e}");
            }
        }
        Err(e) => console_error!("r2 cleanup failed: {e}"),
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
        limit: MAX_LOG_LIMIT as usize,
        ..LogQuery::default()
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
        let headers = Headers::new();
        let _ = headers.set("Content-Type", "application/json");
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(body.into()));
        match Request::new_with_init(url, &init) {
            Ok(req) => {
                if fetch_with_timeout(req, 10_000).await.is_err() {
                    console_error!("alert webhook unreachable");
                }
            }
            Err(_) => console_error!("ALERT_WEBHOOK_URL is not a valid URL"),
        }
    }
    let _ = ctx
        .stores
        .blobs
        .put(&sent_key, "1", Some(u64::from(minutes) * 60 + 60))
        .await;
}
