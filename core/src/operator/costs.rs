//! What the counted operations cost: the daily limits of the Workers Free plan (and Upstash's
//! free tier) and how many e-mails a day fit under them, naming the limit that binds first; and
//! the Workers Paid prices, as dollars per million e-mails past what the plan includes.
//!
//! Figures as published on 2026-12-06 (Cloudflare's Workers, KV, Durable Objects, Queues and R2
//! pricing pages; Upstash's Redis pricing page): they change, so they are data here and in
//! docs/costs.md, in one table each.

use serde::Serialize;

use crate::store::ops::Ops;

/// When the prices and limits below were read.
pub const PRICES_READ_ON: &str = "2026-12-06";

/// One metered kind of operation: its Free plan daily limit and its Paid price.
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    /// What the limit is called in Cloudflare's (or Upstash's) pages.
    pub name: &'static str,
    /// Its count in an [`Ops`].
    pub count: fn(&Ops) -> u64,
    /// Daily limit on the Workers Free plan (Upstash: its free tier's monthly commands over
    /// 30.4 days); `None`: no daily limit.
    pub free_per_day: Option<u64>,
    /// Paid price per million past the plan's inclusions, in dollars.
    pub paid_per_million: f64,
}

/// Every metered operation Facteur spends.
pub const METERS: [Meter; 13] = [
    Meter {
        name: "Workers requests",
        count: |o| o.invocations,
        free_per_day: Some(100_000),
        paid_per_million: 0.30,
    },
    Meter {
        name: "KV reads",
        count: |o| o.kv_reads,
        free_per_day: Some(100_000),
        paid_per_million: 0.50,
    },
    Meter {
        name: "KV writes",
        count: |o| o.kv_writes,
        free_per_day: Some(1_000),
        paid_per_million: 5.00,
    },
    Meter {
        name: "KV deletes",
        count: |o| o.kv_deletes,
        free_per_day: Some(1_000),
        paid_per_million: 5.00,
    },
    Meter {
        name: "KV lists",
        count: |o| o.kv_lists,
        free_per_day: Some(1_000),
        paid_per_million: 5.00,
    },
    Meter {
        name: "Durable Objects requests",
        count: |o| o.do_requests,
        free_per_day: Some(100_000),
        paid_per_million: 0.15,
    },
    Meter {
        name: "Durable Objects rows read",
        count: |o| o.do_rows_read,
        free_per_day: Some(5_000_000),
        paid_per_million: 0.001,
    },
    Meter {
        name: "Durable Objects rows written",
        count: |o| o.do_rows_written,
        free_per_day: Some(100_000),
        paid_per_million: 1.00,
    },
    Meter {
        name: "Queues operations",
        count: |o| o.queue_ops(),
        free_per_day: Some(10_000),
        paid_per_million: 0.40,
    },
    Meter {
        name: "R2 class A operations",
        count: |o| o.r2_class_a,
        free_per_day: Some(1_000_000 / 30),
        paid_per_million: 4.50,
    },
    Meter {
        name: "R2 class B operations",
        count: |o| o.r2_class_b,
        free_per_day: Some(10_000_000 / 30),
        paid_per_million: 0.36,
    },
    Meter {
        name: "Upstash commands",
        count: |o| o.redis_commands,
        free_per_day: Some(500_000 * 10 / 304),
        paid_per_million: 2.00,
    },
    Meter {
        name: "Subrequests",
        count: |o| o.all_subrequests(),
        free_per_day: None,
        paid_per_million: 0.0,
    },
];

/// Subrequests (fetch and service-binding calls) one invocation may make on the Free plan.
pub const FREE_SUBREQUESTS_PER_INVOCATION: u64 = 50;
/// CPU milliseconds one invocation may use on the Free plan.
pub const FREE_CPU_MS_PER_INVOCATION: u64 = 10;
/// The Workers Paid subscription, per month.
pub const PAID_BASE_PER_MONTH: f64 = 5.0;

/// How many e-mails a day a plan carries, and what stops it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ceiling {
    /// E-mails a day before the first daily limit is reached (`None`: no limit binds).
    pub emails_per_day: Option<u64>,
    /// The limit reached first.
    pub binds: Option<&'static str>,
}

/// The Free plan's ceiling for `spent` (operations of `spent.emails` e-mails, whatever the day
/// held) on top of `idle` (what a day without mail spends: cron runs and the like).
pub fn free_ceiling(spent: &Ops, idle_per_day: &Ops) -> Ceiling {
    let emails = spent.emails.max(1) as f64;
    let mut best: Option<(f64, &'static str)> = None;
    for m in METERS {
        let (Some(limit), per) = (m.free_per_day, (m.count)(spent) as f64 / emails) else {
            continue;
        };
        if per <= 0.0 {
            continue;
        }
        let room = limit.saturating_sub((m.count)(idle_per_day)) as f64;
        let fits = room / per;
        if best.is_none_or(|(b, _)| fits < b) {
            best = Some((fits, m.name));
        }
    }
    Ceiling {
        emails_per_day: best.map(|(n, _)| n.floor() as u64),
        binds: best.map(|(_, name)| name),
    }
}

/// Dollars per million e-mails on the Paid plan past its monthly inclusions, for operations
/// like `spent` (of `spent.emails` e-mails). CPU time is priced apart ([`paid_cpu_per_million`]).
pub fn paid_per_million(spent: &Ops) -> f64 {
    let emails = spent.emails.max(1) as f64;
    METERS
        .iter()
        .map(|m| (m.count)(spent) as f64 / emails * m.paid_per_million)
        .sum()
}

/// Dollars per million e-mails of CPU time, at `cpu_ms_per_email` ($0.02 per million CPU-ms).
pub fn paid_cpu_per_million(cpu_ms_per_email: f64) -> f64 {
    cpu_ms_per_email * 0.02
}

/// What one e-mail spends, by meter (those it spends at all), with the day's totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostView {
    pub emails: u64,
    /// `(meter, operations per e-mail)`, rounded to two decimals.
    pub per_email: Vec<(&'static str, f64)>,
    pub free: Ceiling,
    /// Dollars per million e-mails on the Paid plan, past its inclusions (CPU apart).
    pub paid_per_million: f64,
    pub prices_read_on: &'static str,
}

/// The cost view of a day's totals (`None` before the first e-mail).
pub fn cost_view(day: &Ops, idle_per_day: &Ops) -> Option<CostView> {
    if day.emails == 0 {
        return None;
    }
    let emails = day.emails as f64;
    let per_email = METERS
        .iter()
        .filter_map(|m| {
            let n = (m.count)(day);
            (n > 0).then(|| (m.name, (n as f64 / emails * 100.0).round() / 100.0))
        })
        .collect();
    Some(CostView {
        emails: day.emails,
        per_email,
        free: free_ceiling(day, idle_per_day),
        paid_per_million: (paid_per_million(day) * 100.0).round() / 100.0,
        prices_read_on: PRICES_READ_ON,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_email(f: impl FnOnce(&mut Ops)) -> Ops {
        let mut o = Ops {
            emails: 100,
            ..Ops::default()
        };
        f(&mut o);
        o
    }

    #[test]
    fn the_limit_reached_first_binds() {
        // 3.3 KV writes an e-mail: 1,000 writes a day carry 303 e-mails.
        let kv = per_email(|o| {
            o.kv_writes = 330;
            o.queue_writes = 100;
            o.queue_reads = 100;
            o.queue_deletes = 100;
        });
        let c = free_ceiling(&kv, &Ops::default());
        assert_eq!((c.emails_per_day, c.binds), (Some(303), Some("KV writes")));
        // Without KV writes, three queue operations an e-mail carry 3,333.
        let queues = per_email(|o| {
            o.queue_writes = 100;
            o.queue_reads = 100;
            o.queue_deletes = 100;
            o.do_requests = 300;
        });
        let c = free_ceiling(&queues, &Ops::default());
        assert_eq!(
            (c.emails_per_day, c.binds),
            (Some(3_333), Some("Queues operations"))
        );
        // What an idle day spends comes off the room first.
        let idle = Ops {
            queue_writes: 1_000,
            ..Ops::default()
        };
        assert_eq!(free_ceiling(&queues, &idle).emails_per_day, Some(3_000));
    }

    #[test]
    fn nothing_metered_binds_nothing() {
        let c = free_ceiling(&per_email(|o| o.subrequests = 100), &Ops::default());
        assert_eq!(
            c,
            Ceiling {
                emails_per_day: None,
                binds: None
            }
        );
    }

    #[test]
    fn paid_dollars_per_million_e_mails() {
        // Four KV writes an e-mail: $20 per million (the figure of the KV-only archive).
        let kv = per_email(|o| o.kv_writes = 400);
        assert!((paid_per_million(&kv) - 20.0).abs() < 1e-9);
        let mix = per_email(|o| {
            o.do_requests = 300; // 0.45
            o.do_rows_written = 500; // 5.00
            o.queue_writes = 100; // three queue ops: 1.20
            o.queue_reads = 100;
            o.queue_deletes = 100;
            o.invocations = 200; // 0.60
        });
        assert!((paid_per_million(&mix) - 7.25).abs() < 1e-9);
        assert!((paid_cpu_per_million(5.0) - 0.1).abs() < 1e-9);
    }

    #[test]
    fn the_view_says_per_e_mail_what_was_spent() {
        assert_eq!(cost_view(&Ops::default(), &Ops::default()), None);
        let v = cost_view(&per_email(|o| o.kv_reads = 250), &Ops::default()).unwrap();
        assert_eq!(v.per_email, vec![("KV reads", 2.5)]);
        assert_eq!(v.free.binds, Some("KV reads"));
        assert_eq!(v.free.emails_per_day, Some(40_000));
    }
}
