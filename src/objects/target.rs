//! The target object: one Durable Object per target URL keeps its health (see
//! `facteur_core::delivery::target_health`), the deliveries parked while it is paused (in acceptance order, in
//! its own storage), probes it with the oldest of them, and drains them in order once the
//! target answers again. It raises the `target_paused` / `target_resumed` alerts.

use std::time::Duration;

use worker::{
    console_error, console_warn, durable_object, DurableObject, Env, Request, Response, Result,
    State,
};

use crate::adapters::ledger::{count, Invocation, Rows};
use crate::adapters::net::now_ms;
use crate::adapters::outbound;
use crate::adapters::targets::{Exhausted, TargetCall, TargetReply};
use crate::context::Ctx;
use facteur_core::base::mask::mask_url;
use facteur_core::delivery::outcome::Decision;
use facteur_core::delivery::replay_budget::{ReplayBudget, DEFAULT_PER_MINUTE};
use facteur_core::delivery::target_health::{
    parked_key, parking_key, target_id, target_registry_key, HealthPolicy, TargetHealth,
    TargetState, TargetView, Transition, MAX_REFUSALS, PARKED_PREFIX,
};
use facteur_core::jobs::blob::Blob;
use facteur_core::jobs::delivery::DeliveryJob;
use facteur_core::jobs::delivery::ParkedDelivery;
use facteur_core::jobs::queued::QueuedJob;
use facteur_core::operator::alerts::target_event;
use facteur_core::records::archive::ARCHIVE_TTL_SECS;
use facteur_core::store::log::LogEntry;
use facteur_core::store::ports::KeyValueStore;

const HEALTH: &str = "health";
const URL: &str = "url";
const SEQ: &str = "seq";
const COUNT: &str = "parked";
const NEXT_PROBE: &str = "next_probe";
/// The replay budget (see `facteur_core::delivery::replay_budget`).
const REPLAY_BUDGET: &str = "replay_budget";
/// Reason logged and kept on the dead letter of a parked delivery set aside after
/// [`MAX_REFUSALS`] failures while its receiver took other deliveries.
const REFUSED: &str = "refused_by_receiver";
/// A parked delivery older than this is dead-lettered (reason `parked_too_long`) before the
/// body it points to expires: nothing is dropped silently.
const PARK_MAX_MS: i64 = (ARCHIVE_TTL_SECS as i64 - 86_400) * 1000;

/// One target's object.
#[durable_object(alarm)]
pub struct TargetObject {
    state: State,
    env: Env,
}

impl DurableObject for TargetObject {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let invocation = Invocation::begin(false);
        let resp: Result<Response> = async {
            let call: TargetCall = req.json().await?;
            let reply = match call {
                TargetCall::Report {
                    target_url,
                    success,
                    error,
                } => self.report(&target_url, success, error).await?,
                TargetCall::Park { job, exhausted } => self.park(*job, exhausted).await?,
                TargetCall::State { target_url } => self.reply(&target_url).await?,
                TargetCall::Pause { target_url } => {
                    let mut h = self.health().await?;
                    let t = h.pause(now_ms());
                    self.save(&target_url, &h).await?;
                    self.rows().delete_alarm().await?;
                    self.announce(&target_url, t, "paused by an operator").await;
                    self.reply(&target_url).await?
                }
                TargetCall::Resume { target_url } => {
                    let mut h = self.health().await?;
                    let t = h.resume(now_ms());
                    self.save(&target_url, &h).await?;
                    self.wake_in(0).await?;
                    self.announce(&target_url, t, "resumed by an operator")
                        .await;
                    self.reply(&target_url).await?
                }
                TargetCall::Erase { email_ids } => TargetReply {
                    erased: self.erase(&email_ids).await?,
                    ..TargetReply::default()
                },
                TargetCall::Budget {
                    target_url: _,
                    wanted,
                    per_minute,
                } => {
                    let now = now_ms();
                    let mut budget = self.replay_budget(per_minute, now).await?;
                    let grant = budget.take(per_minute, wanted, now);
                    self.rows().put(REPLAY_BUDGET, &budget).await?;
                    TargetReply {
                        grant: Some(grant),
                        ..TargetReply::default()
                    }
                }
            };
            Response::from_json(&reply)
        }
        .await;
        invocation.close("object target (call)");
        resp
    }

    async fn alarm(&self) -> Result<Response> {
        let invocation = Invocation::begin(false);
        count(|o| o.do_requests += 1);
        let resp: Result<Response> = async {
            let Some(url) = self.rows().get::<String>(URL).await? else {
                return Response::ok("no target");
            };
            let ctx = match Ctx::load(self.env.clone(), None) {
                Ok(ctx) => ctx,
                Err(e) => {
                    console_error!("target {}: cannot start ({e})", target_id(&url));
                    self.wake_in(60).await?;
                    return Response::ok("retry");
                }
            };
            let h = self.health().await?;
            match h.state {
                TargetState::Paused { manual: false, .. } => self.probe(&ctx, &url, h).await?,
                TargetState::Draining { .. } => self.drain(&ctx, &url, h).await?,
                // Healthy, or paused by an operator: nothing to do until a call comes.
                _ => {}
            }
            Response::ok("done")
        }
        .await;
        invocation.close("object target (alarm)");
        resp
    }
}

impl TargetObject {
    /// This object's storage, counting the rows it reads and writes.
    fn rows(&self) -> Rows {
        Rows(self.state.storage())
    }

    async fn health(&self) -> Result<TargetHealth> {
        Ok(self.rows().get(HEALTH).await?.unwrap_or_default())
    }

    async fn save(&self, url: &str, h: &TargetHealth) -> Result<()> {
        let storage = self.rows();
        let before = self.health().await?;
        storage.put(HEALTH, h).await?;
        if before.parks() != h.parks() {
            self.mark_parking(url, h.parks()).await;
        }
        if storage.get::<String>(URL).await?.is_none() {
            storage.put(URL, url).await?;
            // Registered once, so `GET /api/targets` knows the target.
            if let Ok(ctx) = Ctx::load(self.env.clone(), None) {
                let _ = ctx
                    .stores
                    .blobs
                    .put(&target_registry_key(&target_id(url)), url, None)
                    .await;
            }
        }
        Ok(())
    }

    /// Writes or removes the target's parking key (see `parking_key`).
    async fn mark_parking(&self, url: &str, parks: bool) {
        let Ok(ctx) = Ctx::load(self.env.clone(), None) else {
            return;
        };
        let key = parking_key(&target_id(url));
        let done = if parks {
            ctx.stores.blobs.put(&key, "1", None).await
        } else {
            ctx.stores.blobs.delete(&key).await
        };
        if let Err(e) = done {
            console_error!("target {}: parking key not updated ({e})", target_id(url));
        }
    }

    async fn count(&self) -> Result<u64> {
        Ok(self.rows().get(COUNT).await?.unwrap_or(0))
    }

    async fn reply(&self, url: &str) -> Result<TargetReply> {
        let h = self.health().await?;
        let next_probe = self.rows().get::<i64>(NEXT_PROBE).await?;
        let per_minute = Ctx::load(self.env.clone(), None)
            .map(|ctx| ctx.settings.replay_per_minute)
            .unwrap_or(DEFAULT_PER_MINUTE);
        let now = now_ms();
        let budget = self.replay_budget(per_minute, now).await?;
        Ok(TargetReply {
            view: Some(TargetView {
                replay_budget: Some(budget.view(per_minute, now)),
                ..TargetView::of(url, &h, self.count().await?, next_probe)
            }),
            ..TargetReply::default()
        })
    }

    /// The replay budget as stored, or a full one.
    async fn replay_budget(&self, per_minute: u32, now: i64) -> Result<ReplayBudget> {
        Ok(self
            .state
            .storage()
            .get::<ReplayBudget>(REPLAY_BUDGET)
            .await?
            .unwrap_or_else(|| ReplayBudget::full(per_minute, now)))
    }

    async fn wake_in(&self, secs: u32) -> Result<()> {
        self.wake_at(now_ms() + i64::from(secs) * 1000).await
    }

    /// Sets the alarm (the next probe or drain step) for `at_ms`.
    async fn wake_at(&self, at_ms: i64) -> Result<()> {
        let storage = self.rows();
        let wait = (at_ms - now_ms()).max(0) as u64;
        storage.set_alarm(Duration::from_millis(wait)).await?;
        storage.put(NEXT_PROBE, at_ms).await
    }

    /// The health policy (`TARGET_*`), or the defaults when the settings cannot be read.
    fn policy(&self) -> HealthPolicy {
        Ctx::load(self.env.clone(), None)
            .map(|ctx| ctx.settings.health)
            .unwrap_or_default()
    }

    async fn report(&self, url: &str, success: bool, error: Option<String>) -> Result<TargetReply> {
        let mut h = self.health().await?;
        let now = now_ms();
        let Ok(ctx) = Ctx::load(self.env.clone(), None) else {
            return self.reply(url).await;
        };
        let t = if success {
            h.record_success(now)
        } else {
            h.record_failure(
                &ctx.settings.health,
                error.as_deref().unwrap_or("failed"),
                now,
            )
        };
        self.save(url, &h).await?;
        match t {
            Transition::Paused => {
                self.wake_in(ctx.settings.health.probe_delay_secs(0))
                    .await?;
            }
            Transition::Resumed => self.wake_in(0).await?,
            Transition::None => {}
        }
        self.announce(url, t, error.as_deref().unwrap_or("")).await;
        self.reply(url).await
    }

    /// Parks a delivery unless the target is healthy with nothing parked (then the caller
    /// attempts it); a delivery out of retries is always kept, and the target parks from then
    /// on. Attempts count afresh when it is drained. A delivery arriving while the target is
    /// probed brings the next probe closer (see `TargetHealth::probe_sooner`).
    async fn park(&self, job: DeliveryJob, exhausted: Option<Exhausted>) -> Result<TargetReply> {
        let mut h = self.health().await?;
        let count = self.count().await?;
        let storage = self.rows();
        if let Some(Exhausted { attempts, error }) = &exhausted {
            if h.answered_since(job.created_at_ms) {
                // The receiver took other deliveries since this one was made: it refuses this
                // one, it is not down. Parking would hold the others behind it: the caller
                // gives it up (a dead letter, replayable).
                return Ok(TargetReply::default());
            }
            let t = h.retries_exhausted(*attempts, error, now_ms());
            self.save(&job.target_url, &h).await?;
            if t == Transition::Paused {
                self.wake_in(self.policy().probe_delay_secs(0)).await?;
            }
            self.announce(&job.target_url, t, error).await;
        } else if !h.parks() && count == 0 {
            return Ok(TargetReply::default());
        }
        let seq: u64 = storage.get(SEQ).await?.unwrap_or(0);
        let parked = ParkedDelivery {
            job: job.replayed(),
            parked_at_ms: now_ms(),
            refusals: 0,
        };
        storage
            .put(&parked_key(job.acceptance_ms(), seq), &parked)
            .await?;
        storage.put(SEQ, seq + 1).await?;
        storage.put(COUNT, count + 1).await?;
        let next_probe = storage.get::<i64>(NEXT_PROBE).await?;
        if storage.get_alarm().await?.is_none() {
            self.wake_in(if h.probing() { 1 } else { 0 }).await?;
        } else if let Some(due) = h.probe_sooner(&self.policy(), next_probe, now_ms()) {
            self.wake_at(due).await?;
        }
        Ok(TargetReply {
            parked: true,
            ..TargetReply::default()
        })
    }

    /// The oldest parked deliveries, up to `limit`, with their storage keys.
    async fn oldest(&self, limit: usize) -> Result<Vec<(String, ParkedDelivery)>> {
        self.parked_from(PARKED_PREFIX, limit).await
    }

    /// Up to `limit` parked deliveries in acceptance order, from key `start` on (inclusive).
    async fn parked_from(
        &self,
        start: &str,
        limit: usize,
    ) -> Result<Vec<(String, ParkedDelivery)>> {
        let opts = worker::ListOptions::new()
            .prefix(PARKED_PREFIX)
            .start(start)
            .limit(limit);
        let map = self.rows().list_with_options(opts).await?;
        let mut out = Vec::new();
        for entry in map.entries() {
            let pair: js_sys::Array = entry?.into();
            let key = pair.get(0).as_string().unwrap_or_default();
            if let Ok(p) = serde_wasm_bindgen::from_value::<ParkedDelivery>(pair.get(1)) {
                out.push((key, p));
            }
        }
        Ok(out)
    }

    async fn remove(&self, key: &str) -> Result<()> {
        let storage = self.rows();
        storage.delete(key).await?;
        let count = self.count().await?;
        storage.put(COUNT, count.saturating_sub(1)).await
    }

    /// Tries the oldest parked delivery; the first success resumes the target. When the oldest
    /// fails, the next one is tried too: if the receiver takes it, it is up and refuses only the
    /// oldest (counted, see [`Self::refused`]), which must not hold the others.
    async fn probe(&self, ctx: &Ctx, url: &str, mut h: TargetHealth) -> Result<()> {
        let mut oldest = self.oldest(2).await?.into_iter();
        let Some((key, parked)) = oldest.next() else {
            // Nothing to probe with: the next parked delivery will be.
            return self.wake_in(ctx.settings.health.probe_max_secs).await;
        };
        let (mut answered, error) = match self.attempt(ctx, &key, parked.clone()).await? {
            Tried::Answered => (true, String::new()),
            Tried::Failed(error) => (false, error),
        };
        if !answered {
            if let Some((next_key, next)) = oldest.next() {
                if let Tried::Answered = self.attempt(ctx, &next_key, next).await? {
                    answered = true;
                    self.refused(ctx, &key, parked).await?;
                }
            }
        }
        let now = now_ms();
        if answered {
            let t = h.record_success(now);
            self.save(url, &h).await?;
            self.announce(url, t, "the probe was answered").await;
            return self.wake_in(0).await;
        }
        h.probe_failed(&error, now);
        self.save(url, &h).await?;
        let delay = ctx.settings.health.probe_delay_secs(h.failed_probes);
        self.wake_in(delay).await
    }

    /// Sends up to `drain_per_sec` parked deliveries in order, then comes back a second later;
    /// healthy again once none is left. A delivery that fails while draining (the receiver
    /// answered the probe just before) counts a refusal: once set aside the drain goes on,
    /// else the target pauses again and is probed.
    async fn drain(&self, ctx: &Ctx, url: &str, mut h: TargetHealth) -> Result<()> {
        let started = now_ms();
        let batch = self
            .oldest(ctx.settings.health.drain_per_sec as usize)
            .await?;
        if batch.is_empty() {
            h.drained();
            self.save(url, &h).await?;
            self.rows().delete(NEXT_PROBE).await?;
            return Ok(());
        }
        for (key, parked) in batch {
            if let Tried::Failed(error) = self.attempt(ctx, &key, parked.clone()).await? {
                if self.refused(ctx, &key, parked).await? {
                    continue;
                }
                let t = h.record_failure(&ctx.settings.health, &error, now_ms());
                self.save(url, &h).await?;
                self.announce(url, t, &error).await;
                return self.wake_in(ctx.settings.health.probe_delay_secs(0)).await;
            }
        }
        let elapsed = (now_ms() - started).max(0);
        self.rows()
            .set_alarm(Duration::from_millis((1_000 - elapsed).max(0) as u64))
            .await
    }

    /// A parked delivery failed while its receiver answered others: one more refusal. At
    /// [`MAX_REFUSALS`] it is set aside in the dead letters (logged, replayable) so it holds
    /// nobody; `true` then.
    async fn refused(&self, ctx: &Ctx, key: &str, mut parked: ParkedDelivery) -> Result<bool> {
        parked.refusals += 1;
        if parked.refusals < MAX_REFUSALS {
            self.rows().put(key, &parked).await?;
            return Ok(false);
        }
        let now = now_ms();
        let job = parked.job;
        let mut entry = LogEntry::parked(&job, None, now);
        entry.status = facteur_core::store::log::LogStatus::Error;
        entry.reason = Some(REFUSED.into());
        entry.error = Some(format!(
            "failed {MAX_REFUSALS} times while its receiver took other deliveries; set aside as a dead letter so it holds nobody"
        ));
        ctx.stores.log(&entry).await;
        self.dead_letter(ctx, job, REFUSED, entry.error, now).await;
        self.remove(key).await?;
        Ok(true)
    }

    /// One attempt of a parked delivery: on an answer (2xx, or a refusal that is not the
    /// target being down) it leaves the queue (delivered, or dead-lettered); on a failure it
    /// stays at its place and is logged `parked`.
    async fn attempt(&self, ctx: &Ctx, key: &str, parked: ParkedDelivery) -> Result<Tried> {
        let job = parked.job;
        let now = now_ms();
        if now - parked.parked_at_ms > PARK_MAX_MS {
            let mut entry = LogEntry::parked(&job, None, now);
            entry.status = facteur_core::store::log::LogStatus::Error;
            entry.reason = Some("parked_too_long".into());
            entry.error =
                Some("parked longer than its stored body lives; kept as a dead letter".into());
            ctx.stores.log(&entry).await;
            self.dead_letter(ctx, job, "parked_too_long", entry.error, now)
                .await;
            self.remove(key).await?;
            return Ok(Tried::Answered);
        }
        let body = match &job.payload {
            Blob::Inline { data } => Some(data.clone()),
            Blob::Spilled { key } => match ctx.stores.part(key).await {
                Ok(found) => found,
                Err(e) => return Ok(Tried::Failed(format!("store unavailable: {e}"))),
            },
        };
        let Some(body) = body else {
            let entry = LogEntry::missing_part(&job.email_id, Some(&job), now);
            ctx.stores.log(&entry).await;
            let reason = entry.reason.clone().unwrap_or_default();
            self.dead_letter(ctx, job, &reason, entry.error, now).await;
            self.remove(key).await?;
            return Ok(Tried::Answered);
        };
        let (outcome, duration_ms) =
            outbound::attempt(&job, &body, ctx.settings.signing_secret.as_deref()).await;
        let now = now_ms();
        if outcome.is_retryable() {
            let entry = LogEntry::parked(&job, Some((&outcome, duration_ms)), now);
            ctx.stores.log(&entry).await;
            return Ok(Tried::Failed(entry.error.unwrap_or_default()));
        }
        let (decided, entry) = LogEntry::judge(&job, &outcome, duration_ms, now);
        ctx.stores.log(&entry).await;
        if let Decision::GiveUp { reason } = decided {
            self.dead_letter(ctx, job, reason.as_str(), entry.error, now)
                .await;
        }
        self.remove(key).await?;
        Ok(Tried::Answered)
    }

    async fn dead_letter(
        &self,
        ctx: &Ctx,
        job: DeliveryJob,
        reason: &str,
        error: Option<String>,
        now: i64,
    ) {
        let dead = job.into_dead(reason, error, now);
        if let Err(e) = ctx.producer().send_dead_letter(&dead).await {
            console_error!("dead letter {} not sent ({e})", dead.job.id());
        }
    }

    /// Drops the parked deliveries of these e-mails; how many.
    async fn erase(&self, email_ids: &[String]) -> Result<u64> {
        const PAGE: usize = 500;
        let mut erased = 0;
        let mut start = PARKED_PREFIX.to_string();
        loop {
            let page = self.parked_from(&start, PAGE).await?;
            for (key, p) in &page {
                if email_ids.contains(&p.job.email_id) {
                    self.remove(key).await?;
                    erased += 1;
                }
            }
            match page.last() {
                // Keys sort by acceptance; the next page starts just after this one's last key.
                Some((last, _)) if page.len() == PAGE => start = format!("{last}\0"),
                _ => return Ok(erased),
            }
        }
    }

    /// Sends the alert of a pause or a resumption (once per change).
    async fn announce(&self, url: &str, t: Transition, why: &str) {
        let paused = match t {
            Transition::None => return,
            Transition::Paused => true,
            Transition::Resumed => false,
        };
        let Ok(ctx) = Ctx::load(self.env.clone(), None) else {
            return;
        };
        let h = self.health().await.unwrap_or_default();
        let now = now_ms();
        let details = serde_json::json!({
            "id": target_id(url), "failure_run": h.failure_run, "why": why,
            "parked": self.count().await.unwrap_or(0),
        });
        let event = target_event(paused, &mask_url(url), details);
        console_warn!("ALERT {} {}", event.name, mask_url(url));
        let Some(alert_url) = &ctx.settings.alert_webhook_url else {
            return;
        };
        if let Err(e) = ctx
            .producer()
            .send_delivery(&event.job(alert_url, now), 0)
            .await
        {
            console_error!("alert {} not queued ({e})", event.name);
        }
    }
}

/// What an attempt of a parked delivery showed of the target.
enum Tried {
    /// The target answered (the delivery left the queue).
    Answered,
    /// The target is still down; why.
    Failed(String),
}
