//! Crash isolation for queue batches: one job that crashes the worker (a panic, a memory or
//! CPU limit) must not take its batch-mates down with it, again and again.
//!
//! A crash fails the whole invocation, and the queue delivers every message of the batch
//! again. A message seen a second time without having been decided (`attempts > 1`), or one
//! flagged as such, is a **suspect**. A batch with suspects runs exactly one of them **alone**
//! first, with a crash marker written before it starts and removed when it ends: a marker
//! found on the next run counts one crash. The batch's fresh messages run after it (they were
//! not in the batch that crashed); the other suspects are sent again, flagged, to be run alone
//! in turn. A job that crashed [`MAX_CRASHES_ALONE`] times on its own is given up: logged as
//! `error` with reason `crashed`, and dead-lettered.

/// Crashes of a job run alone before it is given up.
pub const MAX_CRASHES_ALONE: u32 = 2;
/// Lifetime of a crash marker (a job comes back within minutes).
pub const CRASH_MARKER_TTL_SECS: u64 = 86_400;
/// Reason logged and kept on the dead letter of a job given up after crashes.
pub const CRASHED: &str = "crashed";

/// How one batch is run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchRun {
    /// The suspect run alone, first (index into the batch).
    pub alone: Option<usize>,
    /// Messages run together, after it.
    pub together: Vec<usize>,
    /// Suspects sent again, flagged, for a run of their own.
    pub resend: Vec<usize>,
}

/// Splits a batch by which messages are suspects.
pub fn plan_batch(suspect: &[bool]) -> BatchRun {
    let mut run = BatchRun::default();
    for (i, &s) in suspect.iter().enumerate() {
        match (s, run.alone) {
            (false, _) => run.together.push(i),
            (true, None) => run.alone = Some(i),
            (true, Some(_)) => run.resend.push(i),
        }
    }
    run
}

/// What to do with the suspect chosen to run alone, given the crashes recorded for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AloneVerdict {
    /// Run it, with a marker saying `crashes + 1` written first.
    Run { marker: u32 },
    /// It crashed this many times alone: give it up.
    GiveUp { crashes: u32 },
}

/// The verdict for a suspect whose marker says it crashed `recorded` times alone.
pub fn alone_verdict(recorded: u32) -> AloneVerdict {
    if recorded >= MAX_CRASHES_ALONE {
        AloneVerdict::GiveUp { crashes: recorded }
    } else {
        AloneVerdict::Run {
            marker: recorded + 1,
        }
    }
}

/// KV key of a job's crash marker.
pub fn crash_key(job_key: &str) -> String {
    format!("crash:{job_key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_around_one_suspect() {
        assert_eq!(
            plan_batch(&[false, false]),
            BatchRun {
                alone: None,
                together: vec![0, 1],
                resend: vec![]
            }
        );
        assert_eq!(
            plan_batch(&[false, true, false, true, true]),
            BatchRun {
                alone: Some(1),
                together: vec![0, 2],
                resend: vec![3, 4]
            }
        );
        assert_eq!(plan_batch(&[]), BatchRun::default());
    }

    #[test]
    fn a_job_is_given_up_after_crashing_alone_twice() {
        assert_eq!(alone_verdict(0), AloneVerdict::Run { marker: 1 });
        assert_eq!(alone_verdict(1), AloneVerdict::Run { marker: 2 });
        assert_eq!(alone_verdict(2), AloneVerdict::GiveUp { crashes: 2 });
        assert_eq!(crash_key("email_x"), "crash:email_x");
    }
}
