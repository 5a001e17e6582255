//! The console's guard, a Durable Object (strongly consistent) with two instances, each with
//! its own storage (see `facteur_core::operator::guard`):
//!
//! - `console`: the random key that signs session cookies, and the ids of live sessions (one
//!   row each), so signing out ends a session everywhere at once;
//! - `attempts`: failed credentials per client and globally, the known clients, and the
//!   current burst, whose summary it writes to the audit trail when the burst ends (its alarm)
//!   and whose flood it announces as an alert.
//!
//! Every decision is the core's (`operator::guard`, `operator::attempts`); its client is
//! `crate::adapters::console_guard`.

use serde::{de::DeserializeOwned, Serialize};
use serde_json::json;
use worker::{
    console_error, console_warn, durable_object, Env, ListOptions, Request, Response, Result, State,
};

use crate::adapters::console_guard::random_bytes;
use crate::adapters::journal::flush_costs;
use crate::adapters::ledger::{Invocation, Rows};
use crate::adapters::net::now_ms;
use crate::context::Ctx;
use facteur_core::base::auth::CredentialPath;
use facteur_core::operator::alerts::flood_event;
use facteur_core::operator::attempts::{
    admit, fail, Admission, AttemptPolicy, Burst, BurstStep, ClientRecord, GlobalRecord,
    KnownClients,
};
use facteur_core::operator::guard::{
    parse_key, sessions_to_drop, GuardCall, GuardReply, BURST_ROW, CLIENT_ROW_PREFIX, GLOBAL_ROW,
    KEY_ROW, KNOWN_ROW, SESSION_ROW_PREFIX,
};
use facteur_core::operator::session::GUARD_KEY_BYTES;
use facteur_core::records::audit::{Actor, AuditEvent};

/// Rows of the old single-value state (before the two instances), dropped when met.
const OLD_BOOK_ROW: &str = "book";

/// Sessions and their key, or failed credentials (by instance).
#[durable_object(alarm)]
pub struct ConsoleGuard {
    state: State,
    env: Env,
}

impl worker::DurableObject for ConsoleGuard {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let invocation = Invocation::begin(false);
        let resp = self.call(req).await;
        invocation.close("object guard (call)");
        flush_costs(&self.state, &self.env);
        resp
    }

    /// The attempts instance's check of its burst: summarised once it is over (or every hour
    /// while it goes on).
    async fn alarm(&self) -> Result<Response> {
        let invocation = Invocation::begin(false);
        let resp = self.check_burst().await;
        invocation.close("object guard (alarm)");
        flush_costs(&self.state, &self.env);
        resp
    }
}

impl ConsoleGuard {
    fn rows(&self) -> Rows {
        Rows(self.state.storage())
    }

    async fn call(&self, mut req: Request) -> Result<Response> {
        let Ok(call) = serde_json::from_str::<GuardCall>(&req.text().await?) else {
            return Response::error("unknown guard call", 400);
        };
        let now = now_ms();
        let reply = match call {
            GuardCall::Key => self.key().await?,
            GuardCall::Open {
                session_id,
                expires_ms,
            } => self.open(&session_id, expires_ms, now).await?,
            GuardCall::Check { session_id } => {
                let open = match GuardCall::session_row(&session_id) {
                    Some(row) => self.load::<i64>(&row).await?.is_some_and(|exp| exp > now),
                    None => false,
                };
                yes(open)
            }
            GuardCall::Close { session_id } => {
                if let Some(row) = GuardCall::session_row(&session_id) {
                    self.rows().delete(&row).await?;
                }
                yes(true)
            }
            GuardCall::Admit { client, path } => self.admit(&client, path, now).await?,
            GuardCall::Fail { client, path, shed } => self.fail(&client, path, shed, now).await?,
            GuardCall::Shed { count } => {
                self.shed(count, now).await?;
                yes(true)
            }
        };
        Response::from_json(&reply)
    }

    /// The attempts instance's check of its burst: summarised once it is over (or every hour
    /// while it goes on).
    async fn check_burst(&self) -> Result<Response> {
        let now = now_ms();
        let Some(mut burst) = self.load::<Burst>(BURST_ROW).await? else {
            return Response::ok("no burst");
        };
        let policy = self.policy();
        match burst.step(&policy, now) {
            BurstStep::Nothing => {
                self.arm(burst.next_check_ms(&policy), now).await?;
            }
            BurstStep::Summarise(summary) => {
                self.write_audit(summary).await;
                self.save(BURST_ROW, &burst).await?;
                self.prune_clients(now).await?;
                self.arm(burst.next_check_ms(&policy), now).await?;
            }
            BurstStep::Close {
                summary,
                flood_ended,
            } => {
                self.write_audit(summary).await;
                if flood_ended {
                    self.alert(false, &burst).await;
                }
                self.rows().delete(BURST_ROW).await?;
                self.prune_clients(now).await?;
            }
        }
        Response::ok("done")
    }
}

fn yes(ok: bool) -> GuardReply {
    GuardReply {
        ok,
        ..GuardReply::default()
    }
}

impl ConsoleGuard {
    async fn load<T: DeserializeOwned>(&self, row: &str) -> Result<Option<T>> {
        let text = self.rows().get::<String>(row).await?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    async fn save<T: Serialize>(&self, row: &str, value: &T) -> Result<()> {
        let text =
            serde_json::to_string(value).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.rows().put(row, text).await
    }

    /// Sets the alarm for `at_ms` (at least a second from now).
    async fn arm(&self, at_ms: i64, now: i64) -> Result<()> {
        let wait = (at_ms - now).max(1_000) as u64;
        self.state
            .storage()
            .set_alarm(std::time::Duration::from_millis(wait))
            .await
    }

    /// The session key, made from 32 random bytes the first time.
    async fn key(&self) -> Result<GuardReply> {
        let storage = self.rows();
        let stored = self.load::<String>(KEY_ROW).await?;
        let key = match stored.filter(|k| parse_key(k).is_some()) {
            Some(k) => k,
            None => {
                let bytes = random_bytes(GUARD_KEY_BYTES as u32)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                let k = hex_of(&bytes);
                self.save(KEY_ROW, &k).await?;
                // The state kept before sessions had their own rows and key: every session
                // signed with the old key is over anyway.
                storage.delete(OLD_BOOK_ROW).await?;
                k
            }
        };
        Ok(GuardReply {
            ok: true,
            key: Some(key),
            ..GuardReply::default()
        })
    }

    /// Opens a session; drops expired ones and the oldest beyond the maximum.
    async fn open(&self, session_id: &str, expires_ms: i64, now: i64) -> Result<GuardReply> {
        let Some(row) = GuardCall::session_row(session_id) else {
            return Ok(yes(false));
        };
        let storage = self.rows();
        let listed = storage
            .list_with_options(ListOptions::new().prefix(SESSION_ROW_PREFIX))
            .await?;
        let mut live: Vec<(String, i64)> = Vec::new();
        for entry in listed.entries() {
            let pair: js_sys::Array = entry?.into();
            let key = pair.get(0).as_string().unwrap_or_default();
            let exp = pair
                .get(1)
                .as_string()
                .and_then(|t| t.parse::<i64>().ok())
                .unwrap_or(0);
            if let Some(id) = key.strip_prefix(SESSION_ROW_PREFIX) {
                live.push((id.to_string(), exp));
            }
        }
        live.push((session_id.to_string(), expires_ms));
        let drop = sessions_to_drop(&live, now);
        let opened = !drop.iter().any(|id| id == session_id);
        for id in drop {
            if id != session_id {
                storage.delete(&format!("{SESSION_ROW_PREFIX}{id}")).await?;
            }
        }
        if opened {
            self.save(&row, &expires_ms).await?;
        }
        Ok(yes(opened))
    }

    /// The policy (`AUTH_*`), or the defaults when the settings cannot be read.
    fn policy(&self) -> AttemptPolicy {
        Ctx::load(self.env.clone(), None)
            .map(|ctx| ctx.settings.attempts)
            .unwrap_or_default()
    }

    async fn client_row(&self, client: &str) -> Result<(String, ClientRecord)> {
        let row = format!("{CLIENT_ROW_PREFIX}{client}");
        let record = self.load(&row).await?.unwrap_or_default();
        Ok((row, record))
    }

    /// A right credential: admitted unless limited; a known client is remembered.
    async fn admit(&self, client: &str, path: CredentialPath, now: i64) -> Result<GuardReply> {
        let policy = self.policy();
        let (_, record) = self.client_row(client).await?;
        let global: GlobalRecord = self.load(GLOBAL_ROW).await?.unwrap_or_default();
        let mut known: KnownClients = self.load(KNOWN_ROW).await?.unwrap_or_default();
        let answer = admit(&record, &global, known.knows(client, now), &policy, now);
        if answer == Admission::Allowed {
            if known.remember(client, now) {
                self.save(KNOWN_ROW, &known).await?;
            }
            return Ok(yes(true));
        }
        // A right credential refused while the client is limited: part of the burst.
        self.count(client, path, false, true, false, now).await?;
        Ok(limited(answer))
    }

    /// A wrong credential: counted for the client, globally and in the burst.
    async fn fail(
        &self,
        client: &str,
        path: CredentialPath,
        shed: u32,
        now: i64,
    ) -> Result<GuardReply> {
        let policy = self.policy();
        let (row, mut record) = self.client_row(client).await?;
        let mut global: GlobalRecord = self.load(GLOBAL_ROW).await?.unwrap_or_default();
        let known: KnownClients = self.load(KNOWN_ROW).await?.unwrap_or_default();
        let answer = fail(
            &mut record,
            &mut global,
            known.knows(client, now),
            &policy,
            now,
        );
        self.save(&row, &record).await?;
        self.save(GLOBAL_ROW, &global).await?;
        let spent = global.spent_for(&policy, now).is_some();
        let refused = answer != Admission::Allowed;
        self.count(client, path, true, refused, spent, now).await?;
        if shed > 0 {
            self.shed(shed, now).await?;
        }
        Ok(if refused { limited(answer) } else { yes(false) })
    }

    /// Counts an attempt in the burst (beginning one if none is going), arms the alarm that
    /// summarises it, and raises the flood alert the first time the global budget is spent.
    async fn count(
        &self,
        client: &str,
        path: CredentialPath,
        failed: bool,
        refused: bool,
        budget_spent: bool,
        now: i64,
    ) -> Result<()> {
        let existing = self.load::<Burst>(BURST_ROW).await?;
        let new = existing.is_none();
        let mut burst = existing.unwrap_or_else(|| Burst::begin(now));
        burst.record(client, path, failed, refused, now);
        let flood_begins = budget_spent && !burst.flood;
        burst.flood |= budget_spent;
        self.save(BURST_ROW, &burst).await?;
        if new {
            self.arm(burst.next_check_ms(&self.policy()), now).await?;
        }
        if flood_begins {
            self.alert(true, &burst).await;
        }
        Ok(())
    }

    /// Attempts the platform's limiter refused, counted in the burst (one begins if none is
    /// going: a flood the limiter refuses whole still gets its summary).
    async fn shed(&self, count: u32, now: i64) -> Result<()> {
        let existing = self.load::<Burst>(BURST_ROW).await?;
        let new = existing.is_none();
        let mut burst = existing.unwrap_or_else(|| Burst::begin(now));
        burst.shed(u64::from(count), now);
        self.save(BURST_ROW, &burst).await?;
        if new {
            self.arm(burst.next_check_ms(&self.policy()), now).await?;
        }
        Ok(())
    }

    /// Drops the rows of clients whose failures no longer count.
    async fn prune_clients(&self, now: i64) -> Result<()> {
        let storage = self.rows();
        let listed = storage
            .list_with_options(ListOptions::new().prefix(CLIENT_ROW_PREFIX))
            .await?;
        let mut stale = Vec::new();
        for entry in listed.entries() {
            let pair: js_sys::Array = entry?.into();
            let key = pair.get(0).as_string().unwrap_or_default();
            let record: Option<ClientRecord> = pair
                .get(1)
                .as_string()
                .and_then(|t| serde_json::from_str(&t).ok());
            if record.is_none_or(|r| r.stale(now)) {
                stale.push(key);
            }
        }
        for key in stale {
            storage.delete(&key).await?;
        }
        Ok(())
    }

    /// Writes a burst's summary to the audit trail (by the guard, from no client).
    async fn write_audit(&self, summary: AuditEvent) {
        match Ctx::load(self.env.clone(), None) {
            Ok(ctx) => {
                let _ = ctx.try_audit(&Actor::guard(), summary).await;
            }
            Err(e) => console_error!("guard: burst summary not written ({e})"),
        }
    }

    /// The `credential_flood` alert (or its recovery), to `ALERT_WEBHOOK_URL` through the
    /// delivery queue, as every alert.
    async fn alert(&self, firing: bool, burst: &Burst) {
        let now = now_ms();
        let details = json!({
            "failures": burst.failures, "refused": burst.refused,
            "clients": burst.distinct_clients,
            "since": facteur_core::base::time::iso_utc(burst.started_ms),
        });
        let event = flood_event(firing, details);
        console_warn!(
            "ALERT {} {}",
            event.name,
            if firing { "firing" } else { "recovered" }
        );
        let Ok(ctx) = Ctx::load(self.env.clone(), None) else {
            return;
        };
        let Some(url) = &ctx.settings.alert_webhook_url else {
            return;
        };
        if let Err(e) = ctx.producer().send_delivery(&event.job(url, now), 0).await {
            console_error!("alert {} not queued ({e})", event.name);
        }
    }
}

fn limited(answer: Admission) -> GuardReply {
    GuardReply {
        ok: false,
        retry_after_secs: answer.retry_after_secs(),
        global: matches!(answer, Admission::Limited { global: true, .. }),
        ..GuardReply::default()
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
