//! The delivery-log entry of every decision, built in one call: the consumers and the ingest
//! write what these return and never fill an entry by hand.
//!
//! Entry ids are deterministic (see [`log_entry_id`]) so an entry written twice after an
//! ambiguous failure shows once when the two stores are merged.

use crate::analysis::payload::Analysis;
use crate::base::ids::log_entry_id;
use crate::base::time::iso_utc;
use crate::delivery::isolation::CRASHED;
use crate::delivery::outcome::{decide, AttemptOutcome, Decision, WhenExhausted};
use crate::delivery::retry::jitter_seed;
use crate::gating::{HoldReason, SkipReason};
use crate::jobs::dead_letter::DeadJob;
use crate::jobs::dead_letter::DeadLetter;
use crate::jobs::dead_letter::QUEUE_EXHAUSTED;
use crate::jobs::delivery::{DeliveryJob, JobKind};
use crate::jobs::queued::MAX_SPILL_MISSES;
use crate::store::log::{LogEntry, LogStatus, PARKED_AFTER_RETRIES};

/// Reason logged when no webhook URL is configured at all.
pub const NO_WEBHOOK_URL: &str = "no_webhook_url";
/// Error text logged when no webhook URL is configured at all.
pub const NO_WEBHOOK_URL_TEXT: &str =
    "no webhook URL configured (webhook_config.webhook_url or WEBHOOK_URL)";
/// Reason logged on a delivery parked at its paused target.
pub const TARGET_PAUSED: &str = "target_paused";
/// Reason logged for a sender outside a non-empty allowlist.
pub const SENDER_NOT_ALLOWED: &str = "sender_not_allowed";

/// A decision about a whole e-mail (skip, hold, block, no target): no target, no attempt.
fn decision(email_id: &str, status: LogStatus, reason: &str, now_ms: i64) -> LogEntry {
    let id = log_entry_id(&[email_id, status.as_str(), reason, &now_ms.to_string()]);
    LogEntry::about_email(id, email_id, status, reason, now_ms)
}

fn analysed(mut entry: LogEntry, analysis: &Analysis) -> LogEntry {
    entry.detector = analysis.detector.clone();
    entry.delivery_links_count = analysis.links.len() as u32;
    entry.links_dropped = analysis.links_dropped;
    entry.rules_budget_exhausted = analysis.rules_budget_exhausted;
    entry
}

impl LogEntry {
    /// The e-mail was skipped by policy (and stays marked processed).
    pub fn skipped(email_id: &str, analysis: &Analysis, reason: &SkipReason, now_ms: i64) -> Self {
        let entry = decision(email_id, LogStatus::Skipped, &reason.as_str(), now_ms);
        analysed(entry, analysis)
    }

    /// The sender is not in the allowlist: skipped at the ingest.
    pub fn sender_not_allowed(email_id: &str, now_ms: i64) -> Self {
        decision(email_id, LogStatus::Skipped, SENDER_NOT_ALLOWED, now_ms)
    }

    /// The e-mail waits until `until_ms` (logged once, at its first hold).
    pub fn held(
        email_id: &str,
        analysis: &Analysis,
        reason: HoldReason,
        until_ms: i64,
        now_ms: i64,
    ) -> Self {
        let mut entry = analysed(
            decision(email_id, LogStatus::Held, reason.as_str(), now_ms),
            analysis,
        );
        entry.delivery_links_count = 0;
        entry.error = Some(format!("held until {}", iso_utc(until_ms)));
        entry
    }

    /// Sending was refused at the ingest (absence, switch off): the e-mail stays with the sender.
    pub fn blocked(email_id: &str, reason: HoldReason, now_ms: i64) -> Self {
        decision(email_id, LogStatus::Blocked, reason.as_str(), now_ms)
    }

    /// No webhook URL is configured: a configuration error, the e-mail is dead-lettered.
    pub fn no_target(email_id: &str, analysis: &Analysis, now_ms: i64) -> Self {
        let mut entry = analysed(
            decision(email_id, LogStatus::Error, NO_WEBHOOK_URL, now_ms),
            analysis,
        );
        entry.delivery_links_count = 0;
        entry.error = Some(NO_WEBHOOK_URL_TEXT.into());
        entry
    }

    /// One attempt of a delivery and the decision taken after it: `success` (ack), `retrying`
    /// (with the delay before the next attempt) or `error` (given up, with why).
    pub fn attempt(
        job: &DeliveryJob,
        outcome: &AttemptOutcome,
        duration_ms: u64,
        decided: &Decision,
        now_ms: i64,
    ) -> Self {
        let (status, next_retry, reason) = match decided {
            Decision::Ack => (LogStatus::Success, None, None),
            Decision::Retry { delay_secs, .. } => (LogStatus::Retrying, Some(*delay_secs), None),
            Decision::Park { .. } => (LogStatus::Parked, None, Some(PARKED_AFTER_RETRIES)),
            Decision::GiveUp { reason } => (LogStatus::Error, None, Some(reason.as_str())),
        };
        let id = log_entry_id(&[&job.delivery_id, &job.attempt.to_string(), status.as_str()]);
        let mut entry = LogEntry::about_email(id, &job.email_id, status, "", now_ms).for_delivery(
            &job.target_url,
            &job.delivery_id,
            job.detector.clone(),
            job.links_count,
            job.attempt,
        );
        entry.reason = reason.map(str::to_string);
        entry.links_dropped = job.links_dropped;
        entry.rules_budget_exhausted = job.rules_budget_exhausted;
        entry.error = outcome.error_text(job.policy.timeout_sec);
        entry.duration_ms = duration_ms;
        entry.status_code = outcome.status_code();
        entry.next_retry_in_sec = next_retry;
        entry.rule = job.rule.clone();
        entry
    }

    /// A delivery parked at its paused target (after a failed attempt, or without one). The
    /// entry is that of the attempt when there was one, with status `parked`.
    pub fn parked(job: &DeliveryJob, attempt: Option<(&AttemptOutcome, u64)>, now_ms: i64) -> Self {
        let id = log_entry_id(&[&job.delivery_id, &job.attempt.to_string(), TARGET_PAUSED]);
        let mut entry =
            LogEntry::about_email(id, &job.email_id, LogStatus::Parked, TARGET_PAUSED, now_ms)
                .for_delivery(
                    &job.target_url,
                    &job.delivery_id,
                    job.detector.clone(),
                    job.links_count,
                    job.attempt,
                );
        entry.reason = Some(TARGET_PAUSED.into());
        if let Some((outcome, duration_ms)) = attempt {
            entry.error = outcome.error_text(job.policy.timeout_sec);
            entry.status_code = outcome.status_code();
            entry.duration_ms = duration_ms;
        }
        entry
    }

    /// The decision after one attempt of `job` (its jitter from the delivery id) and the log
    /// entry saying so.
    pub fn judge(
        job: &DeliveryJob,
        outcome: &AttemptOutcome,
        duration_ms: u64,
        now_ms: i64,
    ) -> (Decision, Self) {
        let seed = jitter_seed(&job.delivery_id, job.attempt);
        let exhausted = match job.kind {
            JobKind::Webhook => WhenExhausted::Park,
            JobKind::Alert => WhenExhausted::GiveUp,
        };
        let decided = decide(outcome, job.attempt, &job.policy, seed, exhausted);
        let entry = LogEntry::attempt(job, outcome, duration_ms, &decided, now_ms);
        (decided, entry)
    }

    /// The final `error` entry of a job whose spilled part could not be read after
    /// [`MAX_SPILL_MISSES`] tries (`delivery`: the delivery it belongs to, if any).
    pub fn missing_part(email_id: &str, delivery: Option<&DeliveryJob>, now_ms: i64) -> Self {
        let (what, reason) = match delivery {
            Some(_) => ("payload", PAYLOAD_MISSING),
            None => ("e-mail", EMAIL_MISSING),
        };
        let id = log_entry_id(&[
            email_id,
            delivery.map_or("", |d| d.delivery_id.as_str()),
            "missing",
        ]);
        let mut entry = LogEntry::about_email(id, email_id, LogStatus::Error, reason, now_ms);
        entry.error = Some(format!(
            "the stored {what} could not be read after {MAX_SPILL_MISSES} tries"
        ));
        match delivery {
            Some(d) => {
                entry.links_dropped = d.links_dropped;
                entry.rules_budget_exhausted = d.rules_budget_exhausted;
                entry.for_delivery(
                    &d.target_url,
                    &d.delivery_id,
                    d.detector.clone(),
                    d.links_count,
                    d.attempt,
                )
            }
            None => entry,
        }
    }

    /// The final `error` entry of a job given up after crashing the worker `crashes` times when
    /// run alone (see [`crate::delivery::isolation`]).
    pub fn crashed(
        email_id: &str,
        delivery: Option<&DeliveryJob>,
        crashes: u32,
        now_ms: i64,
    ) -> Self {
        let mut entry = LogEntry::missing_part(email_id, delivery, now_ms);
        entry.id = log_entry_id(&[
            email_id,
            delivery.map_or("", |d| d.delivery_id.as_str()),
            CRASHED,
        ]);
        entry.reason = Some(CRASHED.into());
        entry.error = Some(format!(
            "the worker crashed (panic or resource limit) {crashes} times processing it alone; kept as a dead letter"
        ));
        entry
    }

    /// The final `error` entry of a job the queue moved to the dead letters on its own (its
    /// retries of infrastructure failures ran out): the consumer never logged an outcome.
    pub fn queue_exhausted(dead: &DeadLetter, now_ms: i64) -> Self {
        let (email_id, delivery) = match &dead.job {
            DeadJob::Delivery(d) => (d.email_id.as_str(), Some(d)),
            DeadJob::Process(p) => (p.email_id.as_str(), None),
            DeadJob::Unreadable { .. } => ("", None),
        };
        let mut entry = LogEntry::missing_part(email_id, delivery, now_ms);
        entry.id = log_entry_id(&[&dead.job.id(), QUEUE_EXHAUSTED]);
        entry.error = Some(
            "the queue's own retries ran out (infrastructure failures); kept as a dead letter"
                .into(),
        );
        entry.reason = Some(QUEUE_EXHAUSTED.into());
        entry
    }
}

/// Reason of a delivery whose spilled payload could not be read.
pub const PAYLOAD_MISSING: &str = "payload_missing";
/// Reason of a processing job whose spilled e-mail could not be read.
pub const EMAIL_MISSING: &str = "email_missing";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::payload::DeliveryLink;
    use crate::delivery::outcome::GiveUpReason;
    use crate::jobs::blob::Blob;

    fn job(attempt: u32) -> DeliveryJob {
        let payload = Blob::Inline { data: "{}".into() };
        DeliveryJob {
            attempt,
            detector: Some("recadrage".into()),
            links_count: 2,
            links_dropped: 3,
            rules_budget_exhausted: true,
            rule: Some(crate::analysis::routing::RuleRef {
                id: "r1".into(),
                name: "Make".into(),
            }),
            ..DeliveryJob::new(
                "dlv_0123456789abcdef01234567",
                "e1",
                "https://hook.example/secret-path",
                payload,
                0,
            )
        }
    }

    fn analysis() -> Analysis {
        Analysis {
            detector: Some("recadrage".into()),
            delivery_time: None,
            links: vec![DeliveryLink {
                provider: "dropbox".into(),
                raw_url: "https://www.dropbox.com/x".into(),
                direct_url: "https://www.dropbox.com/x?dl=1".into(),
                r2_url: None,
                original_filename: None,
            }],
            links_dropped: 4,
            rules_budget_exhausted: false,
        }
    }

    #[test]
    fn attempt_entries_follow_the_decision() {
        let j = job(2);
        let failed = AttemptOutcome::Status {
            code: 503,
            retry_after_secs: None,
        };
        let retry = Decision::Retry {
            next_attempt: 3,
            delay_secs: 10,
        };
        let e = LogEntry::attempt(&j, &failed, 42, &retry, 1_000);
        assert_eq!(e.status, LogStatus::Retrying);
        assert_eq!(e.next_retry_in_sec, Some(10));
        assert_eq!(e.reason, None);
        assert_eq!(e.error.as_deref(), Some("HTTP 503"));
        assert_eq!(
            (e.status_code, e.duration_ms, e.attempt),
            (Some(503), 42, 2)
        );
        assert_eq!(e.webhook_url, "https://hook.example/***");
        assert_eq!((e.delivery_links_count, e.links_dropped), (2, 3));
        assert_eq!(e.rule.as_ref().map(|r| r.id.as_str()), Some("r1"));
        assert!(
            e.rules_budget_exhausted,
            "the budget cut is logged with the attempt"
        );
        let give_up = Decision::GiveUp {
            reason: GiveUpReason::RetriesExhausted,
        };
        let e2 = LogEntry::attempt(&j, &failed, 42, &give_up, 1_000);
        assert_eq!(e2.status, LogStatus::Error);
        assert_eq!(e2.reason.as_deref(), Some("retries_exhausted"));
        assert_ne!(e.id, e2.id);
        let ok = AttemptOutcome::Status {
            code: 204,
            retry_after_secs: None,
        };
        let e3 = LogEntry::attempt(&j, &ok, 5, &Decision::Ack, 1_000);
        assert_eq!((e3.status, e3.error.clone()), (LogStatus::Success, None));
        // The same attempt logged twice has the same id (merged once).
        assert_eq!(
            e3.id,
            LogEntry::attempt(&j, &ok, 9, &Decision::Ack, 2_000).id
        );
    }

    #[test]
    fn decisions_about_an_email() {
        let a = analysis();
        let s = LogEntry::skipped("e1", &a, &SkipReason::NoLinks, 0);
        assert_eq!(
            (s.status, s.reason.as_deref(), s.delivery_links_count),
            (LogStatus::Skipped, Some("no_links"), 1)
        );
        assert_eq!(s.links_dropped, 4, "the link cut is logged on the e-mail");
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["links_dropped"], 4);
        let none = LogEntry::skipped("e1", &Analysis::default(), &SkipReason::NoLinks, 0);
        assert!(serde_json::to_value(&none)
            .unwrap()
            .get("links_dropped")
            .is_none());
        assert_eq!(s.detector.as_deref(), Some("recadrage"));
        let h = LogEntry::held("e1", &a, HoldReason::OutsideWindow, 86_400_000, 0);
        assert_eq!(h.status, LogStatus::Held);
        assert_eq!(
            h.error.as_deref(),
            Some("held until 1970-01-02T00:00:00.000Z")
        );
        let n = LogEntry::no_target("e1", &a, 0);
        assert_eq!(
            (n.status, n.reason.as_deref()),
            (LogStatus::Error, Some(NO_WEBHOOK_URL))
        );
        let b = LogEntry::blocked("e1", HoldReason::Absence, 0);
        assert_eq!(
            (b.status, b.reason.as_deref()),
            (LogStatus::Blocked, Some("absence"))
        );
        assert_eq!(
            LogEntry::sender_not_allowed("e1", 0).reason.as_deref(),
            Some(SENDER_NOT_ALLOWED)
        );
    }

    #[test]
    fn lost_parts_and_queue_exhaustion() {
        let j = job(3);
        let m = LogEntry::missing_part("e1", Some(&j), 0);
        assert_eq!(m.reason.as_deref(), Some(PAYLOAD_MISSING));
        assert_eq!(m.links_dropped, 3);
        assert_eq!(m.delivery_id.as_deref(), Some(j.delivery_id.as_str()));
        assert!(m.error.unwrap().contains("payload"));
        let m = LogEntry::missing_part("e1", None, 0);
        assert_eq!(m.reason.as_deref(), Some(EMAIL_MISSING));
        let dead = DeadLetter {
            reason: QUEUE_EXHAUSTED.into(),
            error: None,
            dead_at_ms: 0,
            job: DeadJob::Delivery(j),
        };
        let q = LogEntry::queue_exhausted(&dead, 0);
        assert_eq!(q.reason.as_deref(), Some(QUEUE_EXHAUSTED));
        assert_eq!(q.status, LogStatus::Error);
    }
}
