//! What every queued job has: a queue, a part to read first, its e-mail, and the marks the
//! consumer sets on it (a spilled part not found yet, a suspect of a crash).

use serde::Serialize;

use super::blob::Blob;
use super::dead_letter::{DeadJob, DeadLetter};
use super::delivery::DeliveryJob;
use super::process::ProcessJob;
use crate::config::bindings;

/// The marks a consumer sets on a job before sending it again.
pub struct Marks<'a> {
    /// Times the spilled part was not found (KV can lag behind a write for a minute).
    pub spill_misses: &'a mut u32,
    /// Sent again after its batch crashed: to be run alone (see `crate::delivery::isolation`).
    pub suspect: &'a mut bool,
}

/// A job that travels on a queue and may carry a spilled part.
pub trait QueuedJob: Clone + Serialize {
    /// Binding of the queue the job is (re)sent on.
    const QUEUE: &'static str;
    /// The e-mail the job is about.
    fn email_id(&self) -> &str;
    /// The delivery, when the job is one (its log entries name the target).
    fn delivery(&self) -> Option<&DeliveryJob>;
    /// The part to read before the job can run (the e-mail, or the payload).
    fn part(&self) -> &Blob;
    /// Times the spilled part was not found so far.
    fn spill_misses(&self) -> u32;
    /// Flagged as a suspect of a crash (see `crate::delivery::isolation`).
    fn is_suspect(&self) -> bool;
    /// The marks, to be set.
    fn marks(&mut self) -> Marks<'_>;
    /// The job as the content of a dead letter.
    fn into_dead_job(self) -> DeadJob;
    /// What identifies this run of the job for crash isolation.
    fn isolation_key(&self) -> String;

    /// The same job after one more miss of its part.
    fn with_spill_miss(&self) -> Self {
        let mut job = self.clone();
        *job.marks().spill_misses += 1;
        job
    }
    /// The same job flagged as a suspect.
    fn as_suspect(&self) -> Self {
        let mut job = self.clone();
        *job.marks().suspect = true;
        job
    }
    /// The job as a dead letter.
    fn into_dead(self, reason: &str, error: Option<String>, now_ms: i64) -> DeadLetter {
        DeadLetter {
            reason: reason.into(),
            error,
            dead_at_ms: now_ms,
            job: self.into_dead_job(),
        }
    }
}

/// Misses of a spilled part tolerated (one a minute) before the job is given up as unreadable.
pub const MAX_SPILL_MISSES: u32 = 10;

impl QueuedJob for ProcessJob {
    const QUEUE: &'static str = bindings::PROCESS_QUEUE;
    fn email_id(&self) -> &str {
        &self.email_id
    }
    fn delivery(&self) -> Option<&DeliveryJob> {
        None
    }
    fn part(&self) -> &Blob {
        &self.email
    }
    fn spill_misses(&self) -> u32 {
        self.spill_misses
    }
    fn is_suspect(&self) -> bool {
        self.suspect
    }
    fn marks(&mut self) -> Marks<'_> {
        Marks {
            spill_misses: &mut self.spill_misses,
            suspect: &mut self.suspect,
        }
    }
    fn into_dead_job(self) -> DeadJob {
        DeadJob::Process(self)
    }
    fn isolation_key(&self) -> String {
        format!("email_{}", self.email_id)
    }
}

impl QueuedJob for DeliveryJob {
    const QUEUE: &'static str = bindings::DELIVERY_QUEUE;
    fn email_id(&self) -> &str {
        &self.email_id
    }
    fn delivery(&self) -> Option<&DeliveryJob> {
        Some(self)
    }
    fn part(&self) -> &Blob {
        &self.payload
    }
    fn spill_misses(&self) -> u32 {
        self.spill_misses
    }
    fn is_suspect(&self) -> bool {
        self.suspect
    }
    fn marks(&mut self) -> Marks<'_> {
        Marks {
            spill_misses: &mut self.spill_misses,
            suspect: &mut self.suspect,
        }
    }
    fn into_dead_job(self) -> DeadJob {
        DeadJob::Delivery(self)
    }
    fn isolation_key(&self) -> String {
        format!("{}_{}", self.delivery_id, self.attempt)
    }
}
