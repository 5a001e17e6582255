//! The subrequest budget of one invocation. Cloudflare counts every `fetch` (a webhook, a call
//! to Upstash) and every service-binding call (r2-fetch) of an invocation against a limit: 50 on
//! the Workers Free plan, 1,000 on Paid (`SUBREQUEST_BUDGET`, default 50). Past it the call
//! fails; so a consumer admits only the jobs the budget carries (the others come back at once
//! in the next batch), and offloads only the links the budget left after the webhooks.

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
    fn offloads_take_what_the_webhooks_leave() {
        assert_eq!(offloads(10, 50, 2, offload_cost(false)), 10);
        assert_eq!(offloads(400, 50, 2, offload_cost(false)), 48);
        assert_eq!(offloads(400, 50, 3, offload_cost(true)), 15);
        assert_eq!(offloads(400, 1_000, 5, 1), 400);
        assert_eq!(offloads(5, 1, 2, 1), 0);
    }
}
