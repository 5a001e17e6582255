//! Periodic jobs (cron triggers): the R2 cleanup, the alert check, and every fifth minute the
//! Gmail catch-up.

use serde_json::json;
use worker::{console_error, console_log, console_warn};

use crate::adapters::journal::JournalCall;
use crate::adapters::mailbox::MailboxCall;
use crate::adapters::net::now_ms;
use crate::context::Ctx;
use facteur_core::analysis::offload::{
    cleanup_cutoff, cleanup_report_worth_saving, LAST_CLEANUP_KEY,
};
use facteur_core::base::time::iso_utc;
use facteur_core::intake::gmail::sync::catch_up_minute;
use facteur_core::operator::alerts::{
    daily_limit_reading, read_conditions, transitions, AlertStates, Context as AlertContext,
    ALERT_STATES_KEY, REDIS_DOWN_SINCE_KEY,
};
use facteur_core::store::journal::day_of;
use facteur_core::store::log::{LogQuery, MAX_LOG_LIMIT};
use facteur_core::store::ports::KeyValueStore;
use facteur_core::store::upstash::RestTransport as _;

/// Cron of the hourly R2 cleanup (wrangler.toml `[triggers]`): a copy outlives
/// `R2_RETENTION_HOURS` by an hour at most.
pub const CLEANUP_CRON: &str = "0 * * * *";

/// Runs the job of a cron trigger (`scheduled_ms`: the time it was due); any other cron runs
/// the alert check, and on minutes divisible by 5 the Gmail catch-up.
pub async fn run(ctx: &Ctx, cron: &str, scheduled_ms: i64) {
    if cron == CLEANUP_CRON {
        r2_cleanup(ctx).await;
    } else {
        alert_check(ctx).await;
        if ctx.settings.gmail.is_some() && catch_up_minute(scheduled_ms) {
            gmail_catch_up(ctx).await;
        }
    }
}

/// One call to the Gmail mailbox's object (which does nothing when no mailbox is connected):
/// it renews the watch when due, alerts on its expiry, and runs a pass that finds what no
/// notification announced.
pub async fn gmail_catch_up(ctx: &Ctx) {
    if let Err(e) = ctx.mailbox().call(&MailboxCall::CatchUp).await {
        console_error!("gmail catch-up: mailbox unavailable ({e})");
    }
}

/// Deletes R2 objects older than the retention and keeps the report. It runs whenever the
/// service binding exists, offload on or off: copies made before `R2_FETCH_ENABLED` was turned
/// off are public until deleted.
pub async fn r2_cleanup(ctx: &Ctx) {
    let Some(r2) = ctx.r2_fetch_binding() else {
        return;
    };
    let now = now_ms();
    let cutoff = cleanup_cutoff(now, ctx.settings.r2_retention_hours);
    let (saved, ok, deleted) = match r2.cleanup(cutoff).await {
        Ok(report) => {
            console_log!("r2 cleanup: {report}");
            let deleted = report.get("deleted").and_then(|d| d.as_u64()).unwrap_or(0);
            let saved = json!({"ok": true, "at": iso_utc(now), "older_than": iso_utc(cutoff), "report": report});
            (saved, true, deleted)
        }
        Err(e) => {
            console_error!("r2 cleanup failed: {e}");
            let saved = json!({"ok": false, "at": iso_utc(now), "older_than": iso_utc(cutoff)});
            (saved, false, 0)
        }
    };
    // A KV read (100,000 a day) spares a write (1,000 a day) on the quiet hours.
    let previous = ctx.stores.blobs.get(LAST_CLEANUP_KEY).await.ok().flatten();
    if !cleanup_report_worth_saving(previous.as_deref(), ok, deleted, now) {
        return;
    }
    if let Err(e) = ctx
        .stores
        .blobs
        .put(LAST_CLEANUP_KEY, &saved.to_string(), None)
        .await
    {
        console_error!("r2 cleanup: report not saved: {e}");
    }
}

/// Evaluates the alert conditions over the log and sends an alert for each change only
/// (fired, recovered), to `ALERT_WEBHOOK_URL` through the delivery queue: signed, retried,
/// logged, dead-lettered if it cannot be delivered.
pub async fn alert_check(ctx: &Ctx) {
    let now = now_ms();
    let redis_down_since = redis_down_since(ctx, now).await;
    let t = &ctx.settings.alerts;
    let minutes = t.window_minutes.max(t.no_success_minutes);
    let query = LogQuery {
        days: (u64::from(minutes) / 1_440 + 1).min(30),
        limit: MAX_LOG_LIMIT as usize,
        ..LogQuery::default()
    };
    let entries = match ctx.stores.log.recent(&query, now).await {
        Ok(e) => e,
        Err(e) => return console_error!("alert check: log unreadable: {e}"),
    };
    let mut readings = read_conditions(
        &entries,
        t,
        AlertContext {
            now_ms: now,
            redis_down_since_ms: redis_down_since,
        },
    );
    match ctx
        .stores
        .journal
        .call(JournalCall::Limits { days: 1 })
        .await
    {
        Ok(reply) => {
            let today = day_of(now);
            let hit: Vec<String> = reply
                .limits
                .into_iter()
                .filter(|l| l.day == today)
                .map(|l| l.store)
                .collect();
            readings.push(daily_limit_reading(&hit));
        }
        Err(e) => console_error!("alert check: daily limits unreadable: {e}"),
    }
    let states: AlertStates = match ctx.stores.blobs.get(ALERT_STATES_KEY).await {
        Ok(v) => v
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default(),
        Err(e) => return console_error!("alert check: states unreadable: {e}"),
    };
    let (next, events) = transitions(&states, &readings);
    for event in &events {
        console_warn!(
            "ALERT {} {}",
            event.name,
            if event.firing { "firing" } else { "recovered" }
        );
        if let Some(url) = &ctx.settings.alert_webhook_url {
            if let Err(e) = ctx.producer().send_delivery(&event.job(url, now), 0).await {
                // The state is not saved either: the change is seen and sent again next time.
                return console_error!("alert {} not queued ({e})", event.name);
            }
        }
    }
    if next != states {
        let text = serde_json::to_string(&next).unwrap_or_default();
        if let Err(e) = ctx.stores.blobs.put(ALERT_STATES_KEY, &text, None).await {
            console_error!("alert check: states not saved: {e}");
        }
    }
}

/// Since when Redis has been failing (`None` when it answers or is not configured), as the
/// successive checks saw it.
async fn redis_down_since(ctx: &Ctx, now: i64) -> Option<i64> {
    let redis = ctx.stores.redis.as_ref()?;
    let up = matches!(
        redis.transport.post("/", "[\"PING\"]".into()).await,
        Ok((200, _))
    );
    let stored = ctx
        .stores
        .blobs
        .get(REDIS_DOWN_SINCE_KEY)
        .await
        .ok()
        .flatten()
        .and_then(|v| v.parse::<i64>().ok());
    match (up, stored) {
        (true, None) => None,
        (true, Some(_)) => {
            let _ = ctx.stores.blobs.delete(REDIS_DOWN_SINCE_KEY).await;
            None
        }
        (false, Some(since)) => Some(since),
        (false, None) => {
            let _ = ctx
                .stores
                .blobs
                .put(REDIS_DOWN_SINCE_KEY, &now.to_string(), None)
                .await;
            Some(now)
        }
    }
}
