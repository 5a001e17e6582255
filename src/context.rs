//! The per-invocation context: the settings read once from vars and secrets, the stores, and
//! the bindings the handlers hand to adapters.

use worker::{console_error, Context, Env, Fetcher, Request};

use crate::adapters::audit::AuditLog;
use crate::adapters::console_guard::{
    count_shed, forget_admitted, recently_admitted, remember_admitted, take_shed, Guard,
};
use crate::adapters::intake::Intake;
use crate::adapters::limiter::Limiters;
use crate::adapters::mailbox::MailboxClient;
use crate::adapters::net::now_ms;
use crate::adapters::offload::R2Fetch;
use crate::adapters::queues::Producer;
use crate::adapters::redis::{upstash_store, Redis};
use crate::adapters::stores::Stores;
use crate::adapters::targets::Targets;
use facteur_core::base::auth::{authorized_bearer, presents_credential, CredentialPath};
use facteur_core::base::client::{client_address, client_key};
use facteur_core::config::bindings;
use facteur_core::delivery::replay_budget::{allot, wanted, Allotment};
use facteur_core::error::ApiError;
use facteur_core::operator::guard::GuardCall;
use facteur_core::operator::session::{
    changes_state, console_password, same_origin, verified_sessions, Session, SessionKey,
};
use facteur_core::records::audit::{Actor, AuditEntry, AuditEvent};
use facteur_core::settings::Settings;
use facteur_core::store::ports::StoreResult;

/// The period of the platform's limiters (`[[ratelimits]]`, 60 s): the `Retry-After` of an
/// attempt they refuse.
const LIMITER_PERIOD_SECS: u64 = 60;

/// Reports attempts the platform's limiter refused to the guard's burst.
async fn report_shed((env, binding): (Env, &'static str), count: u32) {
    let guard = Guard { env: &env, binding };
    if let Err(e) = guard.call(&GuardCall::Shed { count }).await {
        console_error!("console guard: refused attempts not reported: {e}");
    }
}

/// Who is making an admin call.
pub enum Admin {
    /// The bearer `ADMIN_TOKEN` (curl, scripts): not subject to the CSRF check.
    Token,
    /// A console session, by its cookie.
    Session(Session),
}

/// What every handler needs: the environment, the settings read from it, and the stores.
pub struct Ctx {
    /// Private: handlers reach bindings through the adapters this context hands out.
    env: Env,
    pub settings: Settings,
    pub stores: Stores,
    /// The invocation's `waitUntil`, for work that must finish but not before the answer.
    background: Option<Context>,
    /// The isolate's counts when the invocation started (see [`Ctx::subrequests_left`]).
    started: facteur_core::store::ops::Ops,
}

impl Ctx {
    /// Reads settings and builds stores; a misconfiguration is logged in full and answered as a
    /// generic error naming the variable, never its value.
    pub fn load(env: Env, background: Option<Context>) -> Result<Ctx, ApiError> {
        let settings = Settings::load(|name| {
            env.var(name)
                .map(|v| v.to_string())
                .ok()
                .or_else(|| env.secret(name).map(|s| s.to_string()).ok())
        })
        .map_err(|e| {
            console_error!("configuration error: {e}");
            ApiError::misconfigured(format!("Configuration error: {e}"))
        })?;
        let stores = Stores::new(&env, &settings).map_err(|e| {
            console_error!("binding error: {e}");
            ApiError::misconfigured("A binding is missing (see README: wrangler.toml)")
        })?;
        Ok(Ctx {
            env,
            settings,
            stores,
            background,
            started: crate::adapters::ledger::snapshot(),
        })
    }

    /// Subrequests left in this invocation's budget (`SUBREQUEST_BUDGET`), from the isolate's
    /// counts since it started: invocations running at once in the isolate share them, so the
    /// figure errs on the safe side.
    pub fn subrequests_left(&self) -> u64 {
        let spent = facteur_core::store::ops::difference(
            &crate::adapters::ledger::snapshot(),
            &self.started,
        );
        self.settings
            .subrequest_budget
            .saturating_sub(spent.all_subrequests())
    }

    /// Runs `work` after the answer (the invocation lives until it ends); inline-spawned when
    /// the invocation has no `waitUntil`.
    pub fn in_background(&self, work: impl std::future::Future<Output = ()> + 'static) {
        match &self.background {
            Some(c) => c.wait_until(work),
            None => wasm_bindgen_futures::spawn_local(work),
        }
    }

    /// Sends the isolate's counts to the journal after the answer, when they waited a minute
    /// for a journal call (see `adapters::ledger`).
    pub fn flush_costs(&self) {
        let journal = self.stores.journal.clone();
        self.in_background(async move { journal.flush_if_due().await });
    }

    /// A Redis store of its own (for background work that outlives a borrow of the context).
    pub fn redis(&self) -> Option<Redis> {
        upstash_store(
            &self.settings.upstash,
            self.settings.redis_timeout_ms,
            self.settings.redis_log_cap,
        )
    }

    /// 401 unless the request carries the admin token or an open console session; 403 for a
    /// state-changing call by cookie whose `Origin` is not this console's (CSRF); 429 while the
    /// client is past the failed-credential limit (see [`Ctx::admit_credential`]).
    pub async fn require_admin(&self, req: &Request) -> Result<Admin, ApiError> {
        let header = req.headers().get("Authorization").ok().flatten();
        if presents_credential(header.as_deref()) {
            let right = authorized_bearer(header.as_deref(), &self.settings.admin_token);
            if self
                .admit_credential(req, CredentialPath::AdminBearer, right)
                .await?
            {
                return Ok(Admin::Token);
            }
            // A wrong bearer token is counted, then the cookie decides (the console sends none).
        }
        let session = self
            .session(req)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        if changes_state(req.method().as_ref()) {
            let origin = req.headers().get("Origin").ok().flatten();
            if !same_origin(origin.as_deref(), &req.inner().url()) {
                return Err(ApiError::cross_site());
            }
        }
        Ok(Admin::Session(session))
    }

    /// The client's address (`CF-Connecting-IP`).
    pub fn client(&self, req: &Request) -> String {
        client_address(
            req.headers()
                .get("CF-Connecting-IP")
                .ok()
                .flatten()
                .as_deref(),
        )
    }

    /// Counts a presented credential (the admin bearer token, the ingest's token, the console's
    /// password) against the client's limit and the global budget: `Ok(true)` when it is right
    /// and the client is admitted, `Ok(false)` when it is wrong (the caller answers its 401),
    /// a 429 while the client is limited, whatever the credential, and a 503 when the guard
    /// cannot say. Wrong ones go through the platform's limiters first, which refuse a flood
    /// before it reaches the guard.
    pub async fn admit_credential(
        &self,
        req: &Request,
        path: CredentialPath,
        right: bool,
    ) -> Result<bool, ApiError> {
        let client = client_key(&self.client(req));
        let guard = self.guard();
        if right {
            if recently_admitted(&client) {
                return Ok(true);
            }
            let call = GuardCall::Admit {
                client: client.clone(),
                path,
            };
            let reply = guard.call(&call).await.map_err(|e| {
                console_error!("console guard: {e}");
                ApiError::unavailable("Credential guard")
            })?;
            if let Some(secs) = reply.retry_after_secs {
                return Err(ApiError::too_many_attempts(secs));
            }
            remember_admitted(&client);
            return Ok(true);
        }
        forget_admitted(&client);
        let limiters = Limiters { env: &self.env };
        let shed = !limiters.allow(bindings::AUTH_CLIENT_LIMITER, &client).await
            || !limiters.allow(bindings::AUTH_GLOBAL_LIMITER, "all").await;
        if shed {
            // Refused here, counted in the guard's burst now and then (never a call each).
            if let Some(count) = count_shed() {
                self.in_background(report_shed(self.guard_owned(), count));
            }
            return Err(ApiError::too_many_attempts(LIMITER_PERIOD_SECS));
        }
        let call = GuardCall::Fail {
            client,
            path,
            shed: take_shed(),
        };
        match guard.call(&call).await {
            Ok(reply) => match reply.retry_after_secs {
                Some(secs) => Err(ApiError::too_many_attempts(secs)),
                None => Ok(false),
            },
            // Uncounted, still wrong.
            Err(e) => {
                console_error!("console guard: failure not counted: {e}");
                Ok(false)
            }
        }
    }

    /// The console session the request's cookies open, if any: a token must verify (form,
    /// signature, expiry) and the guard must still hold its id. Every session cookie the
    /// request carries is tried (a sibling subdomain may have planted one).
    pub async fn session(&self, req: &Request) -> Result<Option<Session>, ApiError> {
        let cookies = req.headers().get("Cookie").ok().flatten();
        if cookies.is_none() {
            return Ok(None);
        }
        let key = self.session_key().await?;
        for session in verified_sessions(&key, cookies.as_deref(), now_ms()) {
            let check = GuardCall::Check {
                session_id: session.id.clone(),
            };
            let open = self.guard().call(&check).await.map_err(|e| {
                console_error!("console guard: {e}");
                ApiError::unavailable("Session store")
            })?;
            if open.ok {
                return Ok(Some(session));
            }
        }
        Ok(None)
    }

    /// Who made a change, as the audit names them.
    pub fn actor(&self, req: &Request, admin: &Admin) -> Actor {
        let from = self.client(req);
        match admin {
            Admin::Token => Actor::admin_token(&from),
            Admin::Session(s) => Actor::session(&s.id, &from),
        }
    }

    /// Records a change in the audit trail (one KV write): who (`admin`), from where and when,
    /// and what (`event`). A failed write is logged with the entry, never lost silently.
    pub async fn audit(&self, req: &Request, admin: &Admin, event: AuditEvent) {
        let _ = self.try_audit(&self.actor(req, admin), event).await;
    }

    /// Records a change in the audit trail; the error, if the write failed (the entry is then
    /// in the worker's log).
    pub async fn try_audit(&self, actor: &Actor, event: AuditEvent) -> StoreResult<AuditEntry> {
        let now = now_ms();
        let entry = AuditEntry::new(actor, &event, now);
        let log = AuditLog {
            kv: &self.stores.blobs,
        };
        match log.record(&entry, now).await {
            Ok(()) => Ok(entry),
            Err(e) => {
                console_error!(
                    "audit: entry not written ({e}): {}",
                    serde_json::to_string(&entry).unwrap_or_default()
                );
                Err(e)
            }
        }
    }

    /// Which of these replays (each by its target; `None`: not budgeted) the targets' replay
    /// budgets let through now (`delivery::replay_budget`); 503 when a target object cannot
    /// say (nothing is sent unbudgeted).
    pub async fn replay_allotment(&self, targets: &[Option<&str>]) -> Result<Allotment, ApiError> {
        let wanted = wanted(targets);
        let grants = if wanted.is_empty() {
            Vec::new()
        } else {
            self.targets()
                .replay_grants(&wanted, self.settings.replay_per_minute)
                .await
                .map_err(|e| {
                    console_error!("replay budget: {e}");
                    ApiError::unavailable("Replay budget")
                })?
        };
        Ok(allot(targets, &grants))
    }

    /// The audit trail, to read.
    pub fn audit_log(&self) -> AuditLog<'_> {
        AuditLog {
            kv: &self.stores.blobs,
        }
    }

    /// The console's password (`DASHBOARD_PASSWORD`, else `ADMIN_TOKEN`).
    pub fn console_password(&self) -> &str {
        console_password(
            self.settings.dashboard_password.as_deref(),
            &self.settings.admin_token,
        )
    }

    /// The key that signs session cookies: the guard's random key, `SESSION_SECRET`, the
    /// admin token and the password (`SessionKey::derive`).
    pub async fn session_key(&self) -> Result<SessionKey, ApiError> {
        let guard_key = self.guard().session_key().await.map_err(|e| {
            console_error!("console guard: {e}");
            ApiError::unavailable("Session store")
        })?;
        Ok(SessionKey::derive(
            &guard_key,
            self.settings.session_secret.as_deref(),
            &self.settings.admin_token,
            self.console_password(),
        ))
    }

    /// The console guard (sessions and their key; failed credentials).
    pub fn guard(&self) -> Guard<'_> {
        Guard {
            env: &self.env,
            binding: bindings::CONSOLE_GUARD,
        }
    }

    /// The console guard, for work that outlives a borrow of the context.
    fn guard_owned(&self) -> (Env, &'static str) {
        (self.env.clone(), bindings::CONSOLE_GUARD)
    }

    /// The queue producer (it spills large parts to the blob store).
    pub fn producer(&self) -> Producer<'_> {
        Producer {
            env: &self.env,
            blobs: &self.stores.blobs,
        }
    }

    /// The step of taking an e-mail the ingest and the Gmail mailbox share.
    pub fn intake(&self) -> Intake<'_> {
        Intake {
            stores: &self.stores,
            settings: &self.settings,
            producer: self.producer(),
        }
    }

    /// The Gmail mailbox's object.
    pub fn mailbox(&self) -> MailboxClient {
        MailboxClient {
            env: self.env.clone(),
        }
    }

    /// The target objects (health, parked deliveries).
    pub fn targets(&self) -> Targets<'_> {
        Targets { env: &self.env }
    }

    /// The r2-fetch client, when offload is enabled and the service binding exists.
    pub fn r2_fetch(&self) -> Option<R2Fetch<'_>> {
        if !self.settings.r2_fetch_enabled {
            return None;
        }
        let client = self.r2_fetch_binding();
        if client.is_none() {
            console_error!("r2 offload enabled but the R2_FETCH service binding is missing; links sent as they are");
        }
        client
    }

    /// The console's static files (Workers Static Assets).
    pub fn assets(&self) -> Result<Fetcher, ApiError> {
        self.env.assets(bindings::ASSETS).map_err(|_| {
            ApiError::misconfigured(
                "The ASSETS binding is missing (wrangler.toml [assets], see docs/configuration.md)",
            )
        })
    }

    /// The r2-fetch client whenever the service binding exists, offload on or not (an erasure
    /// removes what an earlier configuration copied).
    pub fn r2_fetch_binding(&self) -> Option<R2Fetch<'_>> {
        let fetcher = self.env.service(bindings::R2_FETCH).ok()?;
        Some(R2Fetch {
            fetcher,
            settings: &self.settings,
            pairs: &self.stores.docs,
        })
    }
}
