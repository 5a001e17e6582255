//! The per-invocation context: the settings read once from vars and secrets, the stores, and
//! the bindings the handlers hand to adapters.

use worker::{console_error, Context, Env, Request};

use crate::adapters::offload::R2Fetch;
use crate::adapters::queues::Producer;
use crate::adapters::redis::{upstash_store, Redis};
use crate::adapters::stores::Stores;
use crate::adapters::targets::Targets;
use facteur_core::auth::authorized_bearer;
use facteur_core::config::{bindings, Settings};
use facteur_core::error::ApiError;

/// What every handler needs: the environment, the settings read from it, and the stores.
pub struct Ctx {
    pub env: Env,
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

    /// 401 unless the request carries `Authorization: Bearer <ADMIN_TOKEN>` (no bare token).
    pub fn require_admin(&self, req: &Request) -> Result<(), ApiError> {
        let header = req.headers().get("Authorization").ok().flatten();
        if authorized_bearer(header.as_deref(), &self.settings.admin_token) {
            Ok(())
        } else {
            Err(ApiError::unauthorized())
        }
    }

    /// The queue producer (it spills large parts to the blob store).
    pub fn producer(&self) -> Producer<'_> {
        Producer {
            env: &self.env,
            blobs: &self.stores.blobs,
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
