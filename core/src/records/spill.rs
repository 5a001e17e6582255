//! What follows a read of a job's spilled part: run it, look again a minute later, or give it
//! up (logged and dead-lettered) once it stayed unreadable.

use crate::jobs::dead_letter::DeadLetter;
use crate::jobs::queued::{QueuedJob, MAX_SPILL_MISSES};
use crate::store::log::LogEntry;

/// Wait before looking again for a spilled part that was not readable (KV propagates writes
/// within about a minute).
pub const SPILL_MISS_RETRY_SECS: u32 = 60;

/// What to do once a job's part was looked for.
#[derive(Debug, Clone, PartialEq)]
pub enum PartRead<J> {
    /// The part: run the job.
    Ready(String),
    /// Not readable yet: send `next` again after `delay_secs`.
    Wait { next: J, delay_secs: u32 },
    /// Still unreadable after [`MAX_SPILL_MISSES`] tries: log `entry`, keep `dead`.
    GiveUp {
        entry: Box<LogEntry>,
        dead: Box<DeadLetter>,
    },
}

/// Decides what follows a read of `job`'s part (`found`: what the store returned).
pub fn part_read<J: QueuedJob>(job: &J, found: Option<String>, now_ms: i64) -> PartRead<J> {
    if let Some(part) = found {
        return PartRead::Ready(part);
    }
    if job.spill_misses() < MAX_SPILL_MISSES {
        return PartRead::Wait {
            next: job.with_spill_miss(),
            delay_secs: SPILL_MISS_RETRY_SECS,
        };
    }
    let entry = LogEntry::missing_part(job.email_id(), job.delivery(), now_ms);
    let reason = entry.reason.clone().unwrap_or_default();
    let dead = job.clone().into_dead(&reason, entry.error.clone(), now_ms);
    PartRead::GiveUp {
        entry: Box::new(entry),
        dead: Box::new(dead),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::blob::Blob;
    use crate::jobs::process::ProcessJob;

    fn spilled_job(misses: u32) -> ProcessJob {
        ProcessJob {
            email_id: "e".into(),
            email: Blob::Spilled { key: "k".into() },
            accepted_at_ms: 0,
            held_until_ms: None,
            spill_misses: misses,
            sync_with_object: false,
            suspect: false,
        }
    }

    #[test]
    fn part_reads_wait_then_give_up() {
        let job = spilled_job(0);
        assert_eq!(
            part_read(&job, Some("x".into()), 0),
            PartRead::Ready("x".into())
        );
        match part_read(&job, None, 0) {
            PartRead::Wait { next, delay_secs } => {
                assert_eq!(next.spill_misses, 1);
                assert_eq!(delay_secs, SPILL_MISS_RETRY_SECS);
            }
            other => panic!("{other:?}"),
        }
        match part_read(&spilled_job(MAX_SPILL_MISSES), None, 7) {
            PartRead::GiveUp { entry, dead } => {
                assert_eq!(dead.reason, "email_missing");
                assert_eq!(dead.error, entry.error);
                assert_eq!(dead.dead_at_ms, 7);
                assert_eq!(dead.job.id(), "email_e");
            }
            other => panic!("{other:?}"),
        }
    }
}
