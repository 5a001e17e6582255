//! The operations Cloudflare (and Upstash) bill, counted where they happen: each adapter adds
//! what it spends to the invocation's [`Ops`], which the worker logs once per invocation and
//! adds to the day's totals (see `crate::operator::costs` for what they cost and how many
//! e-mails a day a plan carries).

use serde::{Deserialize, Serialize};

/// Bytes of one billed queue operation: a message is billed once per started 64 KB, for each of
/// its write, read and delete.
pub const QUEUE_UNIT_BYTES: usize = 64 * 1024;

/// Billed operations of one invocation (or of a day, once added up). Every field is a count;
/// absent fields read as 0, so stored totals survive new fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ops {
    /// Worker invocations: `fetch`, queue batches, cron runs.
    pub invocations: u64,
    /// E-mails accepted by the ingest (the denominator of "per e-mail").
    pub emails: u64,
    pub kv_reads: u64,
    pub kv_writes: u64,
    pub kv_deletes: u64,
    pub kv_lists: u64,
    /// Requests to Durable Objects (each call, and each alarm).
    pub do_requests: u64,
    /// SQLite rows read and written by Durable Objects (a key read or written through the
    /// storage API is one row; `setAlarm` writes one).
    pub do_rows_read: u64,
    pub do_rows_written: u64,
    /// Queue operations, in 64 KB units: a message sent is a write, received a read, acked or
    /// retried a delete.
    pub queue_writes: u64,
    pub queue_reads: u64,
    pub queue_deletes: u64,
    /// Outbound `fetch` calls (receivers, Upstash, Google) and service-binding calls
    /// (r2-fetch); both count against the per-invocation subrequest limit.
    pub subrequests: u64,
    pub service_calls: u64,
    /// R2 operations done by r2-fetch for this worker (class A: writes, lists; class B: reads).
    pub r2_class_a: u64,
    pub r2_class_b: u64,
    /// Redis commands sent to Upstash (each command of a pipeline counts).
    pub redis_commands: u64,
}

impl Ops {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &Ops) {
        for (mine, theirs) in self.fields_mut().into_iter().zip(other.fields()) {
            *mine = mine.saturating_add(theirs);
        }
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.fields().iter().all(|n| *n == 0)
    }

    /// Queue operations in all.
    pub fn queue_ops(&self) -> u64 {
        self.queue_writes + self.queue_reads + self.queue_deletes
    }

    /// Subrequests of every kind (the per-invocation limit counts them together).
    pub fn all_subrequests(&self) -> u64 {
        self.subrequests + self.service_calls
    }

    /// Every count, in the order of the fields.
    fn fields(&self) -> [u64; 17] {
        [
            self.invocations,
            self.emails,
            self.kv_reads,
            self.kv_writes,
            self.kv_deletes,
            self.kv_lists,
            self.do_requests,
            self.do_rows_read,
            self.do_rows_written,
            self.queue_writes,
            self.queue_reads,
            self.queue_deletes,
            self.subrequests,
            self.service_calls,
            self.r2_class_a,
            self.r2_class_b,
            self.redis_commands,
        ]
    }

    fn fields_mut(&mut self) -> [&mut u64; 17] {
        [
            &mut self.invocations,
            &mut self.emails,
            &mut self.kv_reads,
            &mut self.kv_writes,
            &mut self.kv_deletes,
            &mut self.kv_lists,
            &mut self.do_requests,
            &mut self.do_rows_read,
            &mut self.do_rows_written,
            &mut self.queue_writes,
            &mut self.queue_reads,
            &mut self.queue_deletes,
            &mut self.subrequests,
            &mut self.service_calls,
            &mut self.r2_class_a,
            &mut self.r2_class_b,
            &mut self.redis_commands,
        ]
    }
}

/// What was counted between two readings of running totals (`later` − `earlier`).
pub fn difference(later: &Ops, earlier: &Ops) -> Ops {
    let mut out = *later;
    for (o, e) in out.fields_mut().into_iter().zip(earlier.fields()) {
        *o = o.saturating_sub(e);
    }
    out
}

/// The billed units of a queue message of `bytes` bytes (at least one).
pub fn queue_units(bytes: usize) -> u64 {
    bytes.div_ceil(QUEUE_UNIT_BYTES).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_and_read_back_with_missing_fields() {
        let mut day = Ops::default();
        assert!(day.is_empty());
        let one = Ops {
            kv_writes: 2,
            queue_writes: 1,
            queue_reads: 1,
            queue_deletes: 1,
            subrequests: 3,
            service_calls: 1,
            ..Ops::default()
        };
        day.add(&one);
        day.add(&one);
        assert_eq!(
            (day.kv_writes, day.queue_ops(), day.all_subrequests()),
            (4, 6, 8)
        );
        assert_eq!(difference(&day, &one), one);
        assert_eq!(difference(&one, &day), Ops::default(), "never below zero");
        let old: Ops = serde_json::from_str(r#"{"kv_writes": 5, "unknown": 1}"#).unwrap();
        assert_eq!(old.kv_writes, 5);
        assert_eq!(old.redis_commands, 0);
    }

    #[test]
    fn queue_messages_are_billed_per_started_64_kb() {
        assert_eq!(queue_units(0), 1);
        assert_eq!(queue_units(1), 1);
        assert_eq!(queue_units(64 * 1024), 1);
        assert_eq!(queue_units(64 * 1024 + 1), 2);
        assert_eq!(queue_units(127 * 1024), 2);
    }
}
