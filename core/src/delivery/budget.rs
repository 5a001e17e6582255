//! The budgets of one invocation: subrequests and CPU. Cloudflare counts every `fetch` (a webhook, a call
//! to Upstash) and every service-binding call (r2-fetch) of an invocation against a limit: 50 on
//! the Workers Free plan, 1,000 on Paid (`SUBREQUEST_BUDGET`, default 50). Past it the call
//! fails; so a consumer admits only the jobs the budget carries (the others come back at once
//! in the next batch), and offloads only the links the budget left after the webhooks.
//!
//! CPU can be budgeted alike (`CPU_BUDGET_MS`): the processing consumer then admits the e-mails
//! whose expected CPU fits. It is off by default (0) because every e-mail set back costs a queue
//! operation, the meter that binds first on the Free plan, while a batch that overruns the CPU
//! limit is already contained: the queue redelivers it and the consumer's crash isolation runs
//! its e-mails alone (`crate::delivery::isolation`). A typical e-mail takes 2 to 4 ms.

/// Subrequests a processing job may need besides its offloads: its webhook attempts (one per
/// target; two targets is the common case with a rule), and its log entry's call to Upstash
/// when Redis is configured (the configuration is read once a batch).
pub fn process_job_cost(redis: bool) -> u64 {
    2 + u64::from(redis)
}

/// Subrequests a delivery job may need: its attempt, and its log entry in Redis when configured.
pub fn delivery_job_cost(redis: bool) -> u64 {
    1 + u64::from(redis)
}

/// CPU milliseconds the processing of an e-mail whose message is `bytes` long is expected to
/// take in workerd: 2 ms, and 1 ms per 25 KB (measured by `bench/core.mjs`: 4 ms for 50 KB of
/// HTML, 9 ms for 200 KB). A spilled e-mail's message is small but its e-mail is large: it is
/// counted as the whole budget (it runs alone).
pub fn cpu_ms_estimate(bytes: usize, spilled: bool) -> u64 {
    if spilled {
        u64::MAX
    } else {
        2 + (bytes / 25_000) as u64
    }
}

/// How many of the first messages fit in `budget_ms` of CPU, each costing its estimate (at
/// least one: a single e-mail's CPU is what it is; all of them when `budget_ms` is 0, off).
pub fn admit_cpu(estimates: &[u64], budget_ms: u64) -> usize {
    if budget_ms == 0 {
        return estimates.len();
    }
    let mut spent = 0u64;
    let mut n = 0;
    for &e in estimates {
        spent = spent.saturating_add(e);
        if spent > budget_ms && n > 0 {
            break;
        }
        n += 1;
    }
    n
}

/// How many of `jobs` jobs of `cost` subrequests each fit in `left` (at least one, so a batch
/// always moves: a single job's work is bounded by its own offload budget).
pub fn admit(jobs: usize, cost: u64, left: u64) -> usize {
    let fits = (left / cost.max(1)) as usize;
    fits.clamp(1.min(jobs), jobs)
}

/// Subrequests one offloaded link costs: the call to r2-fetch, and with Redis configured the
/// read and the write of its link pair there.
pub fn offload_cost(redis: bool) -> u64 {
    1 + if redis { 2 } else { 0 }
}

/// How many of `links` links to offload with `left` subrequests at `cost` each, keeping
/// `reserve` for the webhooks and log writes still to come.
pub fn offloads(links: usize, left: u64, reserve: u64, cost: u64) -> usize {
    ((left.saturating_sub(reserve) / cost.max(1)) as usize).min(links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_free_plan_budget_admits_what_it_carries() {
        // 20 e-mails of a batch, KV only: 25 fit in 50 subrequests, so all 20.
        assert_eq!(admit(20, process_job_cost(false), 50), 20);
        // With Redis: 3 each, 16 fit (the queues' batches hold 16).
        assert_eq!(admit(20, process_job_cost(true), 50), 16);
        // Never none: one job always runs.
        assert_eq!(admit(20, 80, 50), 1);
        assert_eq!(admit(0, 5, 50), 0);
        assert_eq!(admit(3, 5, 1_000), 3);
    }

    #[test]
    fn the_cpu_budget_admits_typical_e_mails_while_they_fit() {
        let typical = cpu_ms_estimate(50_000, false);
        assert_eq!(typical, 4);
        assert_eq!(admit_cpu(&[typical; 16], 10), 2, "the Free plan's 10 ms");
        assert_eq!(admit_cpu(&[typical; 16], 30_000), 16, "Paid");
        let spilled = cpu_ms_estimate(100, true);
        assert_eq!(
            admit_cpu(&[spilled, typical], 10),
            1,
            "a large e-mail runs alone"
        );
        assert_eq!(admit_cpu(&[typical, spilled], 10), 1);
        assert_eq!(admit_cpu(&[], 10), 0);
        assert_eq!(admit_cpu(&[spilled, typical, typical], 0), 3, "off");
    }

    #[test]
    fn offloads_take_what_the_webhooks_leave() {
        assert_eq!(offloads(10, 50, 2, offload_cost(false)), 10);
        assert_eq!(offloads(400, 50, 2, offload_cost(false)), 48);
        assert_eq!(offloads(400, 50, 3, offload_cost(true)), 15);
        assert_eq!(offloads(400, 1_000, 5, 1), 400);
        assert_eq!(offloads(5, 1, 2, 1), 0);
    }
}
