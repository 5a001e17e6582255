//! The per-invocation context: the settings read once from vars and secrets, the stores, and
//! the bindings the handlers hand to adapters.

use worker::{console_error, Context, Env, Fetcher, Request};

use crate::adapters::console_guard::Guard;
use crate::adapters::intake::Intake;
use crate::adapters::mailbox::MailboxClient;
use crate::adapters::net::now_ms;
use crate::adapters::offload::R2Fetch;
use crate::adapters::queues::Producer;
use crate::adapters::redis::{upstash_store, Redis};
use crate::adapters::stores::Stores;
use crate::adapters::targets::Targets;
use facteur_core::base::auth::authorized_bearer;
use facteur_core::config::bindings;
use facteur_core::error::ApiError;
use facteur_core::operator::guard::GuardCall;
use facteur_core::operator::session::{
    changes_state, console_password, cookie_value, same_origin, verify, Session, SessionKey,
    COOKIE_NAME,
};
use facteur_core::settings::Settings;

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
        })
    }

    /// Runs `work` after the answer (the invocation lives until it ends); inline-spawned when
    /// the invocation has no `waitUntil`.
    pub fn in_background(&self, work: impl std::future::Future<Output = ()> + 'static) {
        match &self.background {
            Some(c) => c.wait_until(work),
            None => wasm_bindgen_futures::spawn_local(work),
        }
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
    /// state-changing call by cookie whose `Origin` is not this console's (CSRF).
    pub async fn require_admin(&self, req: &Request) -> Result<Admin, ApiError> {
        let header = req.headers().get("Authorization").ok().flatten();
        if authorized_bearer(header.as_deref(), &self.settings.admin_token) {
            return Ok(Admin::Token);
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

    /// The console session the request's cookie opens, if any: the token must verify (form,
    /// signature, expiry) and the guard must still hold its id.
    pub async fn session(&self, req: &Request) -> Result<Option<Session>, ApiError> {
        let cookies = req.headers().get("Cookie").ok().flatten();
        let Some(token) = cookie_value(cookies.as_deref(), COOKIE_NAME) else {
            return Ok(None);
        };
        let Ok(session) = verify(&self.session_key(), token, now_ms()) else {
            return Ok(None);
        };
        let check = GuardCall::Check {
            session_id: session.id.clone(),
        };
        let open = self.guard().call(&check).await.map_err(|e| {
            console_error!("console guard: {e}");
            ApiError::unavailable("Session store")
        })?;
        Ok(open.then_some(session))
    }

    /// The console's password (`DASHBOARD_PASSWORD`, else `ADMIN_TOKEN`).
    pub fn console_password(&self) -> &str {
        console_password(
            self.settings.dashboard_password.as_deref(),
            &self.settings.admin_token,
        )
    }

    /// The key that signs session cookies.
    pub fn session_key(&self) -> SessionKey {
        SessionKey::derive(
            self.settings.session_secret.as_deref(),
            &self.settings.admin_token,
            self.console_password(),
        )
    }

    /// The console guard (sessions, wrong-password counters).
    pub fn guard(&self) -> Guard<'_> {
        Guard {
            env: &self.env,
            binding: bindings::CONSOLE_GUARD,
        }
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
