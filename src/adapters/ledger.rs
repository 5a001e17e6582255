//! The isolate's count of billed operations. Adapters add what they spend where they spend it
//! ([`count`]); each invocation logs what it spent in one structured line when it ends
//! ([`Invocation::close`]); and the counts not yet added to the day's totals ride with the next
//! call to the journal object (see `crate::adapters::journal`), or with a call of their own at
//! most once a minute.
//!
//! The counts are the isolate's: invocations running at once in one isolate (concurrent
//! requests) share them, so a line whose invocation overlapped another says so
//! (`"overlapped": true`) and may include the other's operations. The day's totals are exact
//! either way.

use std::cell::{Cell, RefCell};

use worker::{console_error, console_log};

use super::net::now_ms;
use facteur_core::store::ops::Ops;

thread_local! {
    /// Everything counted in this isolate since it started.
    static TOTAL: RefCell<Ops> = RefCell::new(Ops::default());
    /// What is not yet in the day's totals, and since when.
    static UNFLUSHED: RefCell<(Ops, i64)> = RefCell::new((Ops::default(), 0));
    /// Worker invocations running now (a Durable Object's call runs inside its caller's).
    static RUNNING: Cell<u32> = const { Cell::new(0) };
    /// Worker invocations that started while another was running.
    static OVERLAPS: Cell<u64> = const { Cell::new(0) };
}

/// The daily limits this isolate saw reached: the day, the limits seen that day, and those not
/// yet told to the journal (limit, detail).
type Limits = (u32, Vec<String>, Vec<(String, String)>);

thread_local! {
    static LIMITS: RefCell<Limits> = const { RefCell::new((0, Vec::new(), Vec::new())) };
}

/// A store refused an operation because the plan's daily limit `limit` (`KV writes`, …) was
/// reached: said once per isolate and day in the worker's log (Workers Logs) at error level,
/// and told to the journal with its next call (kept once per limit and day; the alert check
/// sends `daily_limit_reached`, and the console's overview shows it). Deliveries go on.
pub fn limit_hit(limit: &str, detail: &str) {
    let day = facteur_core::store::journal::day_of(now_ms());
    LIMITS.with(|l| {
        let mut l = l.borrow_mut();
        if l.0 != day {
            *l = (day, Vec::new(), Vec::new());
        }
        if l.1.iter().any(|s| s == limit) {
            return;
        }
        l.1.push(limit.to_string());
        l.2.push((limit.to_string(), detail.to_string()));
        console_error!(
            "DAILY LIMIT REACHED: {limit} ({detail}); what needs it fails until 00:00 UTC, deliveries go on"
        );
    });
}

/// Takes the limits reached not yet told to the journal.
pub fn take_limits() -> Vec<(String, String)> {
    LIMITS.with(|l| std::mem::take(&mut l.borrow_mut().2))
}

/// Puts back limits a journal call could not deliver.
pub fn restore_limits(limits: Vec<(String, String)>) {
    LIMITS.with(|l| l.borrow_mut().2.extend(limits));
}

/// How long counts may wait for a journal call before they get one of their own.
pub const FLUSH_EVERY_MS: i64 = 60_000;

/// Adds operations to the isolate's counts.
pub fn count(add: impl FnOnce(&mut Ops)) {
    let mut delta = Ops::default();
    add(&mut delta);
    TOTAL.with(|t| t.borrow_mut().add(&delta));
    UNFLUSHED.with(|u| {
        let mut u = u.borrow_mut();
        if u.0.is_empty() {
            u.1 = now_ms();
        }
        u.0.add(&delta);
    });
}

/// Everything counted in this isolate so far.
pub fn snapshot() -> Ops {
    TOTAL.with(|t| *t.borrow())
}

/// Takes the counts not yet in the day's totals (to send them with a journal call).
pub fn take_unflushed() -> Ops {
    UNFLUSHED.with(|u| std::mem::take(&mut u.borrow_mut().0))
}

/// Puts back counts a journal call could not deliver.
pub fn restore_unflushed(ops: &Ops) {
    UNFLUSHED.with(|u| {
        let mut u = u.borrow_mut();
        if u.0.is_empty() {
            u.1 = now_ms();
        }
        u.0.add(ops);
    });
}

/// True when counts have waited [`FLUSH_EVERY_MS`] for a journal call.
pub fn flush_due() -> bool {
    UNFLUSHED.with(|u| {
        let u = u.borrow();
        !u.0.is_empty() && now_ms() - u.1 >= FLUSH_EVERY_MS
    })
}

/// One invocation's share of the counts.
pub struct Invocation {
    start: Ops,
    overlaps_at_start: u64,
    worker: bool,
}

impl Invocation {
    /// Starts counting an invocation (`fetch`, a queue batch, a cron run, a Durable Object call
    /// or alarm). A worker invocation (`worker_request`) is one billed request; a Durable
    /// Object's call is counted by its caller, and its alarm by the object (one request).
    pub fn begin(worker_request: bool) -> Invocation {
        let start = TOTAL.with(|t| *t.borrow());
        if worker_request {
            count(|o| o.invocations += 1);
            let running = RUNNING.with(|r| {
                r.set(r.get() + 1);
                r.get()
            });
            if running > 1 {
                OVERLAPS.with(|o| o.set(o.get() + 1));
            }
        }
        Invocation {
            start,
            overlaps_at_start: OVERLAPS.with(Cell::get),
            worker: worker_request,
        }
    }

    /// Ends it: logs what it spent (`what` names it: `fetch POST /api/ingress/gmail`,
    /// `queue facteur-process`, …) as one JSON line, `{"facteur_ops": …}`.
    pub fn close(self, what: &str) {
        let now_total = TOTAL.with(|t| *t.borrow());
        let others = RUNNING.with(Cell::get) > u32::from(self.worker);
        let overlapped = OVERLAPS.with(Cell::get) != self.overlaps_at_start || others;
        if self.worker {
            RUNNING.with(|r| r.set(r.get().saturating_sub(1)));
        }
        let spent = facteur_core::store::ops::difference(&now_total, &self.start);
        let line = serde_json::json!({
            "facteur_ops": spent,
            "invocation": what,
            "overlapped": overlapped,
        });
        console_log!("{line}");
    }
}

/// A Durable Object's storage that counts the SQLite rows it reads and writes (a key read or
/// written through the storage API is one row, `setAlarm` writes one).
pub struct Rows(pub worker::Storage);

impl Rows {
    /// Reads a key.
    pub async fn get<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> worker::Result<Option<T>> {
        count(|o| o.do_rows_read += 1);
        self.0.get(key).await
    }
    /// Writes a key.
    pub async fn put<T: serde::Serialize>(&self, key: &str, value: T) -> worker::Result<()> {
        count(|o| o.do_rows_written += 1);
        self.0.put(key, value).await
    }
    /// Deletes a key.
    pub async fn delete(&self, key: &str) -> worker::Result<bool> {
        count(|o| o.do_rows_written += 1);
        self.0.delete(key).await
    }
    /// Deletes keys.
    pub async fn delete_multiple(&self, keys: Vec<String>) -> worker::Result<usize> {
        let n = keys.len() as u64;
        count(|o| o.do_rows_written += n);
        self.0.delete_multiple(keys).await
    }
    /// Lists keys (each row listed is read).
    pub async fn list_with_options(
        &self,
        opts: worker::ListOptions<'_>,
    ) -> worker::Result<worker::js_sys::Map> {
        let map = self.0.list_with_options(opts).await?;
        let n = u64::from(map.size());
        count(|o| o.do_rows_read += n);
        Ok(map)
    }
    /// Lists every key.
    pub async fn list(&self) -> worker::Result<worker::js_sys::Map> {
        let map = self.0.list().await?;
        let n = u64::from(map.size());
        count(|o| o.do_rows_read += n);
        Ok(map)
    }
    /// The alarm, if set.
    pub async fn get_alarm(&self) -> worker::Result<Option<i64>> {
        self.0.get_alarm().await
    }
    /// Sets the alarm.
    pub async fn set_alarm(&self, after: std::time::Duration) -> worker::Result<()> {
        count(|o| o.do_rows_written += 1);
        self.0.set_alarm(after).await
    }
    /// Removes the alarm.
    pub async fn delete_alarm(&self) -> worker::Result<()> {
        count(|o| o.do_rows_written += 1);
        self.0.delete_alarm().await
    }
}
