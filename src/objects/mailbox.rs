//! The Gmail mailbox's object: one Durable Object holds the connected mailbox and serialises
//! its sync. Every decision is the core's (`facteur_core::intake::gmail`); this object keeps
//! the state, calls Google, and hands each new message to the ingest's accept path
//! (`crate::adapters::intake`), so it becomes the very job the Apps Script's push would.
//!
//! - A notification is recorded (and stored) before the push is answered; a pass runs in the
//!   object's alarm, never in the push's request. One pass at a time: a push during a pass only
//!   raises the hint, and the pass ends by scheduling the next one at once.
//! - The refresh token is stored sealed (AES-GCM, `GMAIL_TOKEN_KEY`); access tokens live in
//!   the object's memory until they expire, never in storage.
//! - The cron's catch-up (every 5 minutes) renews the watch once a day, raises
//!   `gmail_watch_expiring` when it would expire within 48 h, and runs a pass; an
//!   `invalid_grant` raises `gmail_reconnect` and stops syncing until a reconnection.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use serde_json::{json, Value};
use worker::{
    console_error, console_log, console_warn, durable_object, DurableObject, Env, Request,
    Response, Result, State,
};

use crate::adapters::crypto::{open, random_hex, seal};
use crate::adapters::google::{self, Body, Gmail};
use crate::adapters::intake::mirror_marker;
use crate::adapters::journal::flush_costs;
use crate::adapters::ledger::{count, Invocation, Rows};
use crate::adapters::mailbox::MailboxCall;
use crate::adapters::net::now_ms;
use crate::context::Ctx;
use facteur_core::base::ids::{email_id, sender_email};
use facteur_core::config::Documents;
use facteur_core::error::ErrorCode;
use facteur_core::intake::gmail::api::{
    find_label, history_url, labels_url, list_url, message_url, parse_profile, parse_watch,
    profile_url, stop_url, watch_body, watch_url,
};
use facteur_core::intake::gmail::mime::{convert_message, ConvertError, GmailEmail};
use facteur_core::intake::gmail::oauth::{
    authorization_url, expires_at, scope_granted, seal_text, token_key, unseal_parts, usable,
    ConnectError, Pending, TokenAnswer, SEAL_AAD,
};
use facteur_core::intake::gmail::push::Notification;
use facteur_core::intake::gmail::sync::{
    full_max_bytes, full_sync_query, mask_address, parse_history, parse_message_list,
    skipped_entry, Connection, Mailbox, Notified, Pass, PassKind, Stop, Taken, FULL_SYNC_MAX,
    HISTORY_PAGES_PER_PASS, RAW_MAX_BYTES,
};
use facteur_core::intake::ingest::{parse_ingest_head, IngestStatus};
use facteur_core::operator::alerts::{gmail_event, GMAIL_RECONNECT, GMAIL_WATCH_EXPIRING};
use facteur_core::operator::guard::GuardCall;
use facteur_core::settings::GmailSettings;

/// Storage keys.
const STATE: &str = "mailbox";
const TOKEN: &str = "refresh_token";
const PENDING: &str = "pending";

/// The connected mailbox.
#[durable_object(alarm)]
pub struct GmailMailbox {
    state: State,
    env: Env,
    /// The state, loaded once; every change is stored before the call that made it answers.
    mailbox: RefCell<Option<Mailbox>>,
    /// The access token and when it expires (memory only).
    access: RefCell<Option<(String, i64)>>,
    /// A pass is running (in the alarm).
    syncing: Cell<bool>,
    /// Something asked for a pass while one was running: the next runs at once.
    again: Cell<bool>,
}

impl DurableObject for GmailMailbox {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            mailbox: RefCell::new(None),
            access: RefCell::new(None),
            syncing: Cell::new(false),
            again: Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let invocation = Invocation::begin(false);
        let resp = self.call(req).await;
        invocation.close("object mailbox (call)");
        flush_costs(&self.state, &self.env);
        resp
    }

    async fn alarm(&self) -> Result<Response> {
        let invocation = Invocation::begin(false);
        count(|o| o.do_requests += 1);
        let resp = self.alarm_pass().await;
        invocation.close("object mailbox (alarm)");
        flush_costs(&self.state, &self.env);
        resp
    }
}

impl GmailMailbox {
    fn rows(&self) -> Rows {
        Rows(self.state.storage())
    }

    async fn alarm_pass(&self) -> Result<Response> {
        self.load().await?;
        self.sync().await?;
        Response::ok("done")
    }

    async fn call(&self, mut req: Request) -> Result<Response> {
        let call: MailboxCall = req.json().await?;
        self.load().await?;
        let reply = match call {
            MailboxCall::Notify { notification } => self.notify(&notification).await?,
            MailboxCall::CatchUp => self.catch_up().await?,
            MailboxCall::SyncNow => self.sync_now().await?,
            MailboxCall::Status => self.status().await?,
            MailboxCall::ScriptTaken => {
                if self.with(Mailbox::taken_by_script) {
                    self.save().await?;
                }
                json!({"success": true})
            }
            MailboxCall::ConnectStart {
                session_id,
                redirect_uri,
            } => self.connect_start(session_id, &redirect_uri).await?,
            MailboxCall::ConnectFinish {
                state,
                code,
                bindings,
            } => {
                let bindings: Vec<&str> = bindings.iter().map(String::as_str).collect();
                let result = self.connect_finish(&state, &code, &bindings).await;
                match result {
                    Ok((address, session_id)) => {
                        json!({"ok": true, "email_address": address, "session_id": session_id})
                    }
                    Err(e) => json!({"ok": false, "error": e.as_str()}),
                }
            }
            MailboxCall::Disconnect => self.disconnect().await?,
        };
        Response::from_json(&reply)
    }

    async fn load(&self) -> Result<()> {
        if self.mailbox.borrow().is_none() {
            let stored: Option<Mailbox> = self.rows().get(STATE).await?;
            *self.mailbox.borrow_mut() = Some(stored.unwrap_or_default());
        }
        Ok(())
    }

    fn with<T>(&self, f: impl FnOnce(&mut Mailbox) -> T) -> T {
        f(self
            .mailbox
            .borrow_mut()
            .get_or_insert_with(Mailbox::default))
    }

    fn read<T>(&self, f: impl FnOnce(&Mailbox) -> T) -> T {
        self.with(|m| f(m))
    }

    async fn save(&self) -> Result<()> {
        let m = self.read(Clone::clone);
        self.rows().put(STATE, &m).await
    }

    fn ctx(&self) -> std::result::Result<Ctx, String> {
        Ctx::load(self.env.clone(), None).map_err(|e| e.to_string())
    }

    /// Asks for a pass at `at_ms` (not before a backoff ends; an earlier alarm is kept). While
    /// a pass runs, it only marks "sync again".
    async fn schedule(&self, at_ms: i64) -> Result<()> {
        if self.syncing.get() {
            self.again.set(true);
            return Ok(());
        }
        let at = self.read(|m| m.retry_at_ms).map_or(at_ms, |r| r.max(at_ms));
        // An alarm due now is the earliest there can be: no need to read the one set.
        if at > now_ms() {
            let current = self.rows().get_alarm().await?;
            if current.is_some_and(|cur| cur <= at) {
                return Ok(());
            }
        }
        self.wake_at(at).await
    }

    async fn wake_at(&self, at_ms: i64) -> Result<()> {
        let wait = (at_ms - now_ms()).max(0) as u64;
        self.state
            .storage()
            .set_alarm(Duration::from_millis(wait))
            .await
    }

    async fn notify(&self, n: &Notification) -> Result<Value> {
        let now = now_ms();
        let outcome = self.with(|m| m.notify(n, now));
        let reason = match &outcome {
            Notified::Ignored(why) => Some(*why),
            _ => None,
        };
        if !matches!(outcome, Notified::Ignored(_)) {
            // Stored before the push is answered: the hint is not lost.
            self.save().await?;
        }
        if outcome == (Notified::Recorded { sync: true }) {
            self.schedule(now).await?;
        }
        Ok(json!({
            "success": true,
            "status": outcome.as_str(),
            "reason": reason,
            "history_id": n.history_id.to_string(),
        }))
    }

    async fn status(&self) -> Result<Value> {
        let gmail = self.ctx().ok().and_then(|c| c.settings.gmail);
        let mut view = self.read(|m| {
            m.view(
                gmail.is_some(),
                gmail.as_ref().map(|g| g.label.as_str()),
                now_ms(),
            )
        });
        // Whether a pass is running now, and when the next one is due.
        let next = self.rows().get_alarm().await?;
        if let Value::Object(map) = &mut view {
            map.insert("syncing".into(), json!(self.syncing.get()));
            map.insert(
                "next_pass_at".into(),
                json!(next.map(facteur_core::base::time::iso_utc)),
            );
        }
        Ok(view)
    }

    async fn sync_now(&self) -> Result<Value> {
        if self.read(|m| m.connection.is_none()) {
            return Ok(json!({"success": true, "status": "not_connected"}));
        }
        if self.read(|m| m.reconnect.is_some()) {
            return Ok(json!({"success": true, "status": "reconnect_needed"}));
        }
        self.with(|m| m.retry_at_ms = None);
        self.save().await?;
        self.schedule(now_ms()).await?;
        Ok(json!({"success": true, "status": "scheduled"}))
    }

    /// The cron's catch-up: nothing at all without a connected mailbox.
    async fn catch_up(&self) -> Result<Value> {
        if self.read(|m| m.connection.is_none()) {
            return Ok(json!({"success": true, "status": "not_connected"}));
        }
        let ctx = match self.ctx() {
            Ok(c) => c,
            Err(e) => {
                console_error!("gmail catch-up: cannot start ({e})");
                return Ok(json!({"success": false, "status": "misconfigured"}));
            }
        };
        let now = now_ms();
        if self.read(|m| m.renewal_due(now)) {
            self.renew(&ctx).await;
        }
        if let Some(firing) = self.with(|m| m.watch_alert(now)) {
            let expires = self.read(|m| m.watch.as_ref().map(|w| w.expiration_ms));
            let details = json!({"expires_at": expires.map(facteur_core::base::time::iso_utc),
                "error": self.read(|m| m.watch_error.clone())});
            self.announce(&ctx, GMAIL_WATCH_EXPIRING, firing, details)
                .await;
        }
        self.save().await?;
        if self.read(|m| m.may_sync(now)) {
            self.schedule(now).await?;
        }
        Ok(json!({"success": true, "status": "caught_up"}))
    }

    /// Renews the watch (the same call as at connection: it answers a new expiry).
    async fn renew(&self, ctx: &Ctx) {
        let now = now_ms();
        let Some(g) = &ctx.settings.gmail else { return };
        let token = match self.access_token(ctx).await {
            Ok(t) => t,
            Err(stop) => {
                self.on_stop(ctx, &stop).await;
                self.with(|m| m.renewed(Err(stop_text(&stop)), now));
                return;
            }
        };
        let label_id = self.read(|m| m.connection.as_ref().map(|c| c.label_id.clone()));
        let Some(label_id) = label_id else { return };
        let gmail = Gmail {
            access_token: &token,
        };
        let result = match gmail
            .post(&watch_url(), "watch", watch_body(&g.topic, &label_id))
            .await
        {
            Ok(text) => parse_watch(&text).map(|(_, expiration)| expiration),
            Err(f) => {
                if f.status == Some(401) {
                    self.access.borrow_mut().take();
                }
                Err(f.detail)
            }
        };
        match &result {
            Ok(exp) => console_log!(
                "gmail: watch renewed until {}",
                facteur_core::base::time::iso_utc(*exp)
            ),
            Err(e) => console_warn!("gmail: watch not renewed ({e})"),
        }
        self.with(|m| m.renewed(result, now));
    }

    /// The refresh token, unsealed.
    async fn refresh_token(&self, g: &GmailSettings) -> std::result::Result<String, Stop> {
        let sealed: Option<String> =
            self.state
                .storage()
                .get(TOKEN)
                .await
                .map_err(|e| Stop::Retry {
                    why: format!("storage: {e}"),
                    retry_after_secs: None,
                })?;
        let Some(sealed) = sealed else {
            return Err(Stop::Reconnect("no refresh token is stored".into()));
        };
        let unreadable = || {
            Stop::Reconnect(
                "the stored refresh token cannot be opened (GMAIL_TOKEN_KEY changed?)".into(),
            )
        };
        let (iv, ct) = unseal_parts(&sealed).ok_or_else(unreadable)?;
        let plain = open(&token_key(&g.token_key), SEAL_AAD, &iv, &ct)
            .await
            .map_err(|_| unreadable())?;
        String::from_utf8(plain).map_err(|_| unreadable())
    }

    /// An access token: the one held while it lasts, else a new one from the refresh token.
    async fn access_token(&self, ctx: &Ctx) -> std::result::Result<String, Stop> {
        let now = now_ms();
        if let Some((t, exp)) = self.access.borrow().clone() {
            if usable(exp, now) {
                return Ok(t);
            }
        }
        let Some(g) = &ctx.settings.gmail else {
            return Err(Stop::Blocked("Gmail push is not configured".into()));
        };
        let refresh = self.refresh_token(g).await?;
        let answer = google::token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &g.client_id),
            ("client_secret", &g.client_secret),
        ])
        .await;
        match answer {
            TokenAnswer::Granted(grant) => {
                let token = grant.access_token.clone();
                *self.access.borrow_mut() =
                    Some((grant.access_token, expires_at(now, grant.expires_in)));
                Ok(token)
            }
            TokenAnswer::InvalidGrant(t) => Err(Stop::Reconnect(t)),
            TokenAnswer::Retryable(t) => Err(Stop::Retry {
                why: t,
                retry_after_secs: None,
            }),
            TokenAnswer::Refused(t) => Err(Stop::Retry {
                why: format!(
                    "the token endpoint refused the refresh ({t}): check GMAIL_CLIENT_ID and GMAIL_CLIENT_SECRET"
                ),
                retry_after_secs: None,
            }),
        }
    }

    /// What a stop means beyond the pass: a refresh token that stopped working alerts.
    async fn on_stop(&self, ctx: &Ctx, stop: &Stop) {
        if let Stop::Reconnect(why) = stop {
            self.access.borrow_mut().take();
            let fire = self.with(|m| m.token_broken(why, now_ms()));
            console_warn!("gmail: the mailbox must be reconnected ({why})");
            if fire {
                self.announce(ctx, GMAIL_RECONNECT, true, json!({"error": why}))
                    .await;
            }
        }
    }

    /// Sends an alert of the mailbox (once per change) to `ALERT_WEBHOOK_URL`.
    async fn announce(&self, ctx: &Ctx, name: &str, firing: bool, details: Value) {
        let mailbox = self
            .read(|m| {
                m.connection
                    .as_ref()
                    .map(|c| mask_address(&c.email_address))
            })
            .unwrap_or_default();
        let event = gmail_event(name, firing, &mailbox, details);
        console_warn!(
            "ALERT {} {}",
            event.name,
            if firing { "firing" } else { "recovered" }
        );
        let Some(url) = &ctx.settings.alert_webhook_url else {
            return;
        };
        if let Err(e) = ctx
            .producer()
            .send_delivery(&event.job(url, now_ms()), 0)
            .await
        {
            console_error!("alert {} not queued ({e})", event.name);
        }
    }

    /// The alarm: one bounded pass, then the next one scheduled if there is more to do.
    async fn sync(&self) -> Result<()> {
        let now = now_ms();
        let (connected, may, retry_at) =
            self.read(|m| (m.connection.is_some(), m.may_sync(now), m.retry_at_ms));
        if !connected {
            return Ok(());
        }
        if !may {
            if let Some(at) = retry_at.filter(|t| *t > now) {
                self.wake_at(at).await?;
            }
            return Ok(());
        }
        self.syncing.set(true);
        self.again.set(false);
        let pass = self.pass().await;
        self.syncing.set(false);
        let now = now_ms();
        let mut next = self.with(|m| m.finish(pass, now));
        if self.again.replace(false) && self.read(|m| m.may_sync(now)) {
            next = Some(next.map_or(now, |n| n.min(now)));
        }
        self.save().await?;
        if let Some(report) = self.read(|m| m.last_sync.clone()) {
            if report.outcome != "ok" || report.taken + report.skipped > 0 {
                console_log!(
                    "gmail: {} pass {}: {} queued, {} already taken, {} skipped{}",
                    report.kind,
                    report.outcome,
                    report.taken,
                    report.already,
                    report.skipped,
                    if report.detail.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", report.detail)
                    }
                );
            }
        }
        if let Some(at) = next {
            self.wake_at(at).await?;
        }
        Ok(())
    }

    async fn pass(&self) -> Pass {
        let (full, hint) = self.read(|m| (m.cursor.is_none(), m.hint));
        let mut pass = Pass::new(
            if full {
                PassKind::Full
            } else {
                PassKind::History
            },
            hint,
        );
        let retry = |why: String| Stop::Retry {
            why,
            retry_after_secs: None,
        };
        let ctx = match self.ctx() {
            Ok(c) => c,
            Err(e) => {
                pass.stop = Some(retry(format!("cannot start: {e}")));
                return pass;
            }
        };
        let token = match self.access_token(&ctx).await {
            Ok(t) => t,
            Err(stop) => {
                self.on_stop(&ctx, &stop).await;
                pass.stop = Some(stop);
                return pass;
            }
        };
        let docs = match ctx.stores.load_documents().await {
            Ok(stored) => ctx.settings.documents(&stored),
            Err(e) => {
                pass.stop = Some(retry(format!("configuration store: {e}")));
                return pass;
            }
        };
        let gmail = Gmail {
            access_token: &token,
        };
        if full {
            self.full_pass(&ctx, &gmail, &docs, &mut pass).await;
        } else {
            self.history_pass(&ctx, &gmail, &docs, &mut pass).await;
        }
        pass
    }

    /// A Gmail API failure: 401 drops the access token held (the next pass gets a new one).
    fn gmail_stop(&self, f: &google::Fail) -> Stop {
        if f.status == Some(401) {
            self.access.borrow_mut().take();
        }
        Stop::Retry {
            why: f.detail.clone(),
            retry_after_secs: f.retry_after_secs,
        }
    }

    async fn history_pass(&self, ctx: &Ctx, gmail: &Gmail<'_>, docs: &Documents, pass: &mut Pass) {
        let (cursor, label_id) = self.read(|m| {
            (
                m.cursor.unwrap_or(0),
                m.connection
                    .as_ref()
                    .map(|c| c.label_id.clone())
                    .unwrap_or_default(),
            )
        });
        let mut page_token: Option<String> = None;
        for _ in 0..HISTORY_PAGES_PER_PASS {
            let url = history_url(cursor, &label_id, page_token.as_deref());
            let text = match gmail.get_small(&url, "history.list").await {
                Ok(t) => t,
                Err(f) if f.status == Some(404) => {
                    // Gmail no longer keeps history that old: a full sync.
                    console_warn!("gmail: cursor {cursor} too old (404): full sync");
                    self.with(Mailbox::cursor_lost);
                    pass.detail = "the cursor was too old (404): a full sync follows".into();
                    pass.stop = Some(Stop::More);
                    return;
                }
                Err(f) => {
                    pass.stop = Some(self.gmail_stop(&f));
                    return;
                }
            };
            let page = match parse_history(&text, &label_id) {
                Ok(p) => p,
                Err(e) => {
                    pass.stop = Some(Stop::Retry {
                        why: e,
                        retry_after_secs: None,
                    });
                    return;
                }
            };
            pass.head = page.history_id.or(pass.head);
            for record in page.records {
                pass.listed += 1;
                if record.id <= cursor {
                    continue;
                }
                if !pass.may_start_record() {
                    pass.stop = Some(Stop::More);
                    return;
                }
                for id in &record.messages {
                    if pass.already_taken(id) {
                        continue;
                    }
                    if !pass.may_take_in_record() {
                        pass.stop = Some(Stop::More);
                        return;
                    }
                    match self.take(ctx, gmail, id, docs).await {
                        Ok(t) => self.with(|m| pass.count(id, t, &mut m.counts)),
                        Err(stop) => {
                            pass.stop = Some(stop);
                            return;
                        }
                    }
                }
                pass.record_done(record.id);
            }
            match page.next_page_token {
                None => {
                    pass.complete = true;
                    return;
                }
                Some(t) => page_token = Some(t),
            }
        }
        pass.stop = Some(Stop::More);
    }

    async fn full_pass(&self, ctx: &Ctx, gmail: &Gmail<'_>, docs: &Documents, pass: &mut Pass) {
        if self.read(|m| m.full_sync.is_none()) {
            let profile = match gmail.get_small(&profile_url(), "getProfile").await {
                Ok(t) => parse_profile(&t),
                Err(f) => {
                    pass.stop = Some(self.gmail_stop(&f));
                    return;
                }
            };
            let head = match profile {
                Ok((_, head)) => head,
                Err(e) => {
                    pass.stop = Some(Stop::Retry {
                        why: e,
                        retry_after_secs: None,
                    });
                    return;
                }
            };
            let (label_id, last_ok) = self.read(|m| {
                (
                    m.connection
                        .as_ref()
                        .map(|c| c.label_id.clone())
                        .unwrap_or_default(),
                    m.last_ok_sync_ms,
                )
            });
            let url = list_url(
                &label_id,
                &full_sync_query(last_ok, now_ms()),
                FULL_SYNC_MAX,
            );
            let ids = match gmail.get_small(&url, "messages.list").await {
                Ok(t) => parse_message_list(&t),
                Err(f) => {
                    pass.stop = Some(self.gmail_stop(&f));
                    return;
                }
            };
            match ids {
                Ok(ids) => {
                    console_log!(
                        "gmail: full sync of {} messages from head {head}",
                        ids.len()
                    );
                    self.with(|m| m.start_full_sync(head, ids));
                }
                Err(e) => {
                    pass.stop = Some(Stop::Retry {
                        why: e,
                        retry_after_secs: None,
                    });
                    return;
                }
            }
        }
        while pass.may_start_record() {
            let next = self.read(|m| {
                m.full_sync
                    .as_ref()
                    .and_then(|f| f.pending.first().cloned())
            });
            let Some(id) = next else { break };
            pass.listed += 1;
            match self.take(ctx, gmail, &id, docs).await {
                Ok(t) => self.with(|m| {
                    pass.count(&id, t, &mut m.counts);
                    if let Some(f) = m.full_sync.as_mut() {
                        f.pending.retain(|p| p != &id);
                    }
                }),
                Err(stop) => {
                    pass.stop = Some(stop);
                    return;
                }
            }
        }
        pass.complete = self.read(|m| m.full_sync.as_ref().is_none_or(|f| f.pending.is_empty()));
    }

    /// Fetches one message (`format=raw`, else `format=full` when larger than Facteur reads
    /// raw), converts it to what the Apps Script sends, and takes it as the ingest does.
    async fn take(
        &self,
        ctx: &Ctx,
        gmail: &Gmail<'_>,
        id: &str,
        docs: &Documents,
    ) -> std::result::Result<Taken, Stop> {
        let max_mb = docs.prefs.max_email_size_mb;
        let mut text = None;
        for (format, max) in [("raw", RAW_MAX_BYTES), ("full", full_max_bytes(max_mb))] {
            match gmail
                .get(&message_url(id, format), "messages.get", max)
                .await
            {
                Ok(Body::Text(t)) => {
                    text = Some(t);
                    break;
                }
                Ok(Body::TooBig) => continue,
                Err(f) if f.status == Some(404) => {
                    console_warn!("gmail: message {id} was deleted before it was fetched: skipped");
                    return Ok(Taken::Deleted);
                }
                Err(f) => return Err(self.gmail_stop(&f)),
            }
        }
        let Some(text) = text else {
            console_warn!(
                "gmail: message {id} is over {max_mb} MB even without its attachments: skipped"
            );
            return Ok(Taken::TooLarge);
        };
        let email: GmailEmail = match convert_message(&text) {
            Ok(e) => e,
            Err(ConvertError::BodyNotInline) => {
                console_warn!(
                    "gmail: message {id}: its body is too large to be read inline: skipped"
                );
                return Ok(Taken::TooLarge);
            }
            Err(e) => {
                console_warn!("gmail: message {id} unreadable ({e}): skipped");
                return Ok(Taken::Invalid);
            }
        };
        drop(text);
        let now = now_ms();
        let request = email.ingest_text();
        let c = &email.email;
        let the_id = || email_id(&c.subject, &sender_email(&c.sender), &email.date());
        let limit = u64::from(max_mb) * 1_000_000;
        if request.len() as u64 > limit {
            let why = format!(
                "the e-mail is {} bytes once converted, over max_email_size_mb ({max_mb} MB)",
                request.len()
            );
            console_warn!("gmail: message {id}: {why}: skipped");
            ctx.stores
                .log(&skipped_entry(&the_id(), "too_large", &why, now))
                .await;
            return Ok(Taken::TooLarge);
        }
        let head = match parse_ingest_head(&request) {
            Ok(h) => h,
            Err(e) => {
                console_warn!("gmail: message {id}: {}: skipped", e.message);
                ctx.stores
                    .log(&skipped_entry(&the_id(), "invalid", &e.message, now))
                    .await;
                return Ok(Taken::Invalid);
            }
        };
        match ctx.intake().take(request, &head, docs, now).await {
            Ok(took) => {
                if took.mirror {
                    ctx.in_background(mirror_marker(ctx.redis(), took.email_id.clone()));
                }
                Ok(match took.status {
                    IngestStatus::Queued => {
                        console_log!("gmail: message {id} queued as e-mail {}", took.email_id);
                        Taken::Queued
                    }
                    IngestStatus::AlreadyProcessed | IngestStatus::AlreadyProcessing => {
                        Taken::Already
                    }
                    IngestStatus::SkippedSenderNotAllowed => Taken::SenderNotAllowed,
                })
            }
            Err(e) if e.status() == 409 && e.code != ErrorCode::NotConfigured => {
                Err(Stop::Blocked(e.message))
            }
            Err(e) => Err(Stop::Retry {
                why: e.message,
                retry_after_secs: None,
            }),
        }
    }

    async fn connect_start(&self, session_id: Option<String>, redirect_uri: &str) -> Result<Value> {
        let Some(g) = self.ctx().ok().and_then(|c| c.settings.gmail) else {
            return Ok(json!({"error": ConnectError::NotConfigured.as_str()}));
        };
        let (state, binding, verifier) = match (random_hex(16), random_hex(16), random_hex(32)) {
            (Ok(s), Ok(b), Ok(v)) => (s, b, v),
            _ => return Err(worker::Error::RustError("no random bytes".into())),
        };
        let pending = Pending::new(
            &state,
            &binding,
            &verifier,
            redirect_uri,
            session_id,
            now_ms(),
        );
        self.rows().put(PENDING, &pending).await?;
        Ok(json!({
            "authorization_url": authorization_url(&g.client_id, redirect_uri, &state, &verifier),
            "binding": binding,
        }))
    }

    async fn connect_finish(
        &self,
        state: &str,
        code: &str,
        bindings: &[&str],
    ) -> std::result::Result<(String, Option<String>), ConnectError> {
        let google_failed = |what: &str, detail: &str| {
            console_warn!("gmail connect: {what}: {detail}");
            ConnectError::Google
        };
        let ctx = self.ctx().map_err(|_| ConnectError::NotConfigured)?;
        let Some(g) = ctx.settings.gmail.clone() else {
            return Err(ConnectError::NotConfigured);
        };
        let storage = self.rows();
        let pending: Option<Pending> = storage
            .get(PENDING)
            .await
            .map_err(|e| google_failed("storage", &e.to_string()))?;
        let Some(pending) = pending else {
            return Err(ConnectError::StateUnknown);
        };
        let now = now_ms();
        if let Err(e) = pending.check(state, bindings, now) {
            if e == ConnectError::StateExpired {
                let _ = storage.delete(PENDING).await;
            }
            return Err(e);
        }
        if let Some(session_id) = &pending.session_id {
            let check = GuardCall::Check {
                session_id: session_id.clone(),
            };
            match ctx.guard().call(&check).await {
                Ok(reply) if reply.ok => {}
                Ok(_) => return Err(ConnectError::SessionClosed),
                Err(e) => return Err(google_failed("session store", &e.to_string())),
            }
        }
        // One use: a replayed redirect finds nothing.
        let _ = storage.delete(PENDING).await;
        let grant = match google::token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", &pending.verifier),
            ("redirect_uri", &pending.redirect_uri),
            ("client_id", &g.client_id),
            ("client_secret", &g.client_secret),
        ])
        .await
        {
            TokenAnswer::Granted(grant) => grant,
            TokenAnswer::InvalidGrant(t) | TokenAnswer::Retryable(t) | TokenAnswer::Refused(t) => {
                return Err(google_failed("code exchange", &t))
            }
        };
        if !scope_granted(&grant.scope) {
            return Err(ConnectError::ScopeMissing);
        }
        let Some(refresh) = grant.refresh_token.clone() else {
            return Err(ConnectError::NoRefreshToken);
        };
        let gmail = Gmail {
            access_token: &grant.access_token,
        };
        let (address, _) = gmail
            .get_small(&profile_url(), "getProfile")
            .await
            .map_err(|f| google_failed("profile", &f.detail))
            .and_then(|t| parse_profile(&t).map_err(|e| google_failed("profile", &e)))?;
        let labels = gmail
            .get_small(&labels_url(), "labels.list")
            .await
            .map_err(|f| google_failed("labels", &f.detail))?;
        let label_id = find_label(&labels, &g.label)
            .map_err(|e| google_failed("labels", &e))?
            .ok_or(ConnectError::LabelNotFound)?;
        let (start, expiration) = gmail
            .post(&watch_url(), "watch", watch_body(&g.topic, &label_id))
            .await
            .map_err(|f| google_failed("watch", &f.detail))
            .and_then(|t| parse_watch(&t).map_err(|e| google_failed("watch", &e)))?;
        let (iv, sealed) = seal(&token_key(&g.token_key), SEAL_AAD, refresh.as_bytes())
            .await
            .map_err(|e| google_failed("sealing", &e))?;
        storage
            .put(TOKEN, seal_text(&iv, &sealed))
            .await
            .map_err(|e| google_failed("storage", &e.to_string()))?;
        *self.access.borrow_mut() = Some((
            grant.access_token.clone(),
            expires_at(now, grant.expires_in),
        ));
        let connection = Connection {
            email_address: address.clone(),
            label: g.label.clone(),
            label_id,
            scope: grant.scope.clone(),
            connected_at_ms: now,
        };
        let recovered = self.with(|m| {
            m.connected(connection, start, expiration, now);
            m.token_recovered()
        });
        let watch_alert = self.with(|m| m.watch_alert(now));
        self.save()
            .await
            .map_err(|e| google_failed("storage", &e.to_string()))?;
        console_log!(
            "gmail: {} connected, watching from history {start}",
            mask_address(&address)
        );
        if recovered {
            self.announce(&ctx, GMAIL_RECONNECT, false, json!({"reconnected": true}))
                .await;
        }
        if let Some(firing) = watch_alert {
            self.announce(&ctx, GMAIL_WATCH_EXPIRING, firing, Value::Null)
                .await;
        }
        // A reconnection takes at once what arrived while the token did not work.
        if let Err(e) = self.schedule(now_ms()).await {
            console_warn!("gmail connect: no pass scheduled ({e})");
        }
        Ok((address, pending.session_id))
    }

    async fn disconnect(&self) -> Result<Value> {
        let Some(address) = self.read(|m| m.connection.as_ref().map(|c| c.email_address.clone()))
        else {
            return Ok(json!({"success": true, "status": "not_connected"}));
        };
        if let Ok(ctx) = self.ctx() {
            if let Some(g) = ctx.settings.gmail.clone() {
                // Best effort: the watch stops, the grant is revoked at Google.
                if let Ok(token) = self.access_token(&ctx).await {
                    let gmail = Gmail {
                        access_token: &token,
                    };
                    if let Err(f) = gmail.post(&stop_url(), "stop", "{}".into()).await {
                        console_warn!("gmail disconnect: watch not stopped ({f})");
                    }
                }
                if let Ok(refresh) = self.refresh_token(&g).await {
                    if let Err(f) = google::revoke(&refresh).await {
                        console_warn!("gmail disconnect: token not revoked ({f})");
                    }
                }
            }
        }
        let storage = self.rows();
        storage.delete(TOKEN).await?;
        storage.delete_alarm().await?;
        self.access.borrow_mut().take();
        self.with(Mailbox::disconnected);
        self.save().await?;
        console_log!("gmail: mailbox disconnected");
        Ok(json!({"success": true, "status": "disconnected", "email_address": address}))
    }
}

fn stop_text(stop: &Stop) -> String {
    match stop {
        Stop::More => "more".into(),
        Stop::Blocked(w) | Stop::Reconnect(w) => w.clone(),
        Stop::Retry { why, .. } => why.clone(),
    }
}
