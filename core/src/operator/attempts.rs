//! Failed credentials, counted: the admin bearer token, the ingest token and the console's
//! password share one limit per client and one global budget, kept exactly by the guard's
//! `attempts` instance (a Durable Object). What it keeps and decides is here, under test.
//!
//! - **Per client** (`CF-Connecting-IP`, an IPv6 client by its /64): past
//!   [`AttemptPolicy::per_client`] failures within [`WINDOW_MS`], every credential that client
//!   presents is refused with a 429, the right one included (otherwise a 429 would only hide the
//!   wrong guesses, and the right one would still show), until the oldest counted failure leaves
//!   the window. Refused attempts that reach the guard count too, so a client that keeps trying
//!   stays refused.
//! - **Globally**: past [`AttemptPolicy::global`] failures within the window, from everyone
//!   together (many addresses, each under its own limit), clients that have not presented a
//!   right credential in the last [`KNOWN_FOR_MS`] are refused the same way; the operator's
//!   known clients keep working.
//! - **Bursts**: the failures from the first one until [`QUIET_MS`] pass without one are a
//!   burst, summarised in one audit entry when it ends (and at least every
//!   [`SUMMARY_EVERY_MS`] while it lasts), never one entry per guess; a burst that spends the
//!   global budget raises the `credential_flood` alert, and its end the recovery.

use serde::{Deserialize, Serialize};

pub use crate::base::auth::CredentialPath;
use crate::base::time::iso_utc;
use crate::records::audit::{AuditEvent, ClientFailures, PathCounts};

/// The window failures are counted over: 10 minutes.
pub const WINDOW_MS: i64 = 10 * 60_000;
/// A burst ends after this long without a failure, by default (`AUTH_BURST_QUIET_SECS`).
pub const QUIET_MS: i64 = 10 * 60_000;
/// A burst still going is summarised at least this often.
pub const SUMMARY_EVERY_MS: i64 = 3_600_000;
/// A client that presented a right credential this recently is known: the global budget does
/// not refuse it.
pub const KNOWN_FOR_MS: i64 = 30 * 86_400_000;
/// Known clients kept at most (the least recent dropped first).
pub const MAX_KNOWN: usize = 200;
/// A known client's last success is written again only when older than this (one write an
/// hour at most, not one per request).
pub const KNOWN_REFRESH_MS: i64 = 3_600_000;
/// Clients a burst keeps a count of (the smallest dropped first); the summary names the top 5.
const MAX_BURST_CLIENTS: usize = 50;
/// Clients a burst summary names.
const TOP_CLIENTS: usize = 5;

/// Failures allowed before the 429s (settings `AUTH_CLIENT_FAILURE_LIMIT`,
/// `AUTH_GLOBAL_FAILURE_LIMIT`), each within [`WINDOW_MS`], and the quiet that ends a burst
/// (`AUTH_BURST_QUIET_SECS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptPolicy {
    pub per_client: u32,
    pub global: u32,
    pub quiet_ms: i64,
}

impl Default for AttemptPolicy {
    fn default() -> Self {
        AttemptPolicy {
            per_client: 5,
            global: 100,
            quiet_ms: QUIET_MS,
        }
    }
}

/// What the guard answers about a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A right credential goes through; a wrong one gets its usual 401.
    Allowed,
    /// Refused for `retry_after_ms` whatever the credential (429); `global` when it is the
    /// global budget, not the client's own limit.
    Limited { retry_after_ms: i64, global: bool },
}

impl Admission {
    /// Seconds of `Retry-After` (at least 1), when limited.
    pub fn retry_after_secs(self) -> Option<u64> {
        match self {
            Admission::Allowed => None,
            Admission::Limited { retry_after_ms, .. } => {
                Some((retry_after_ms.max(1) as u64).div_ceil(1000))
            }
        }
    }
}

/// One client's recent failures, unix ms, oldest first (at most the limit is kept: only the
/// newest matter).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub failures: Vec<i64>,
}

impl ClientRecord {
    /// How long the client stays refused, if it is (its limit reached within the window).
    pub fn limited_for(&self, policy: &AttemptPolicy, now_ms: i64) -> Option<i64> {
        let recent: Vec<i64> = self
            .failures
            .iter()
            .copied()
            .filter(|&t| t > now_ms - WINDOW_MS && t <= now_ms)
            .collect();
        let limit = policy.per_client.max(1) as usize;
        (recent.len() >= limit).then(|| recent[recent.len() - limit] + WINDOW_MS - now_ms)
    }

    /// Counts a failure at `now_ms`.
    pub fn add(&mut self, policy: &AttemptPolicy, now_ms: i64) {
        // A clock step back must not keep failures "from the future" forever.
        self.failures
            .retain(|&t| t > now_ms - WINDOW_MS && t <= now_ms);
        self.failures.push(now_ms);
        let excess = self
            .failures
            .len()
            .saturating_sub(policy.per_client.max(1) as usize);
        self.failures.drain(..excess);
    }

    /// True when nothing in it counts any more (the record can be deleted).
    pub fn stale(&self, now_ms: i64) -> bool {
        self.failures.iter().all(|&t| t <= now_ms - WINDOW_MS)
    }
}

/// Everyone's failures per minute over the window: `(minute, count)`, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalRecord {
    pub minutes: Vec<(i64, u32)>,
}

fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(60_000)
}

impl GlobalRecord {
    fn prune(&mut self, now_ms: i64) {
        let first = minute_of(now_ms - WINDOW_MS) + 1;
        let now_minute = minute_of(now_ms);
        self.minutes.retain(|&(m, _)| m >= first && m <= now_minute);
    }

    /// Failures within the window.
    pub fn count(&self, now_ms: i64) -> u64 {
        let mut recent = self.clone();
        recent.prune(now_ms);
        recent.minutes.iter().map(|&(_, n)| u64::from(n)).sum()
    }

    /// Counts a failure at `now_ms`.
    pub fn add(&mut self, now_ms: i64) {
        self.prune(now_ms);
        let m = minute_of(now_ms);
        match self.minutes.last_mut() {
            Some((last, n)) if *last == m => *n += 1,
            _ => self.minutes.push((m, 1)),
        }
    }

    /// How long the global budget stays spent, if it is: until enough of the oldest minutes
    /// have left the window for the count to fall under the budget.
    pub fn spent_for(&self, policy: &AttemptPolicy, now_ms: i64) -> Option<i64> {
        let mut recent = self.clone();
        recent.prune(now_ms);
        let total: u64 = recent.minutes.iter().map(|&(_, n)| u64::from(n)).sum();
        let budget = u64::from(policy.global.max(1));
        if total < budget {
            return None;
        }
        let mut left = total;
        for &(m, n) in &recent.minutes {
            left -= u64::from(n);
            if left < budget {
                // That minute's count leaves the window once its start is WINDOW_MS old.
                return Some((m * 60_000 + WINDOW_MS - now_ms).max(1));
            }
        }
        Some(WINDOW_MS)
    }
}

/// The clients that presented a right credential lately, with when (most recent last).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownClients {
    pub clients: Vec<(String, i64)>,
}

impl KnownClients {
    /// True when `client` presented a right credential within [`KNOWN_FOR_MS`].
    pub fn knows(&self, client: &str, now_ms: i64) -> bool {
        self.clients
            .iter()
            .any(|(c, at)| c == client && *at > now_ms - KNOWN_FOR_MS)
    }

    /// Remembers a right credential from `client`; true when the record changed (and must be
    /// written): a new client, or one last seen more than [`KNOWN_REFRESH_MS`] ago.
    pub fn remember(&mut self, client: &str, now_ms: i64) -> bool {
        let seen = self.clients.iter().position(|(c, _)| c == client);
        if let Some(i) = seen {
            if self.clients[i].1 > now_ms - KNOWN_REFRESH_MS {
                return false;
            }
            self.clients.remove(i);
        }
        self.clients.retain(|(_, at)| *at > now_ms - KNOWN_FOR_MS);
        self.clients.push((client.to_string(), now_ms));
        let excess = self.clients.len().saturating_sub(MAX_KNOWN);
        self.clients.drain(..excess);
        true
    }
}

/// A right credential: admitted unless the client is limited, or the global budget is spent
/// and the client is not a known one.
pub fn admit(
    client: &ClientRecord,
    global: &GlobalRecord,
    known: bool,
    policy: &AttemptPolicy,
    now_ms: i64,
) -> Admission {
    if let Some(ms) = client.limited_for(policy, now_ms) {
        return Admission::Limited {
            retry_after_ms: ms,
            global: false,
        };
    }
    match global.spent_for(policy, now_ms) {
        Some(ms) if !known => Admission::Limited {
            retry_after_ms: ms,
            global: true,
        },
        _ => Admission::Allowed,
    }
}

/// A wrong credential: counted for the client and globally. The answer is decided before this
/// one is counted: the failure that reaches the limit still gets its 401, the next ones 429.
pub fn fail(
    client: &mut ClientRecord,
    global: &mut GlobalRecord,
    known: bool,
    policy: &AttemptPolicy,
    now_ms: i64,
) -> Admission {
    let answer = admit(client, global, known, policy, now_ms);
    client.add(policy, now_ms);
    global.add(now_ms);
    answer
}

/// The failures of one burst, as its audit summary will tell them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Burst {
    /// When the burst began.
    pub started_ms: i64,
    /// The newest failure.
    pub last_ms: i64,
    /// Since when the failures below are counted (the end of the previous summary, or the
    /// start).
    pub since_ms: i64,
    /// Wrong credentials.
    pub failures: u64,
    /// Attempts answered 429, wrong or right (counted by the guard, or refused by the
    /// platform's limiter before reaching it).
    pub refused: u64,
    /// Attempts that reached the guard, wrong or refused, per credential path.
    pub by_path: PathCounts,
    /// Attempts per client (the largest kept).
    pub clients: Vec<(String, u64)>,
    /// Clients seen (including those no longer in `clients`).
    pub distinct_clients: u64,
    /// The global budget was spent during the burst (the `credential_flood` alert was raised).
    pub flood: bool,
}

/// What the guard must do after a failure or a check of its alarm.
#[derive(Debug, Clone, PartialEq)]
pub enum BurstStep {
    Nothing,
    /// Write this summary; the burst goes on (hourly summary).
    Summarise(AuditEvent),
    /// Write this summary; the burst is over (and the flood, if `flood_ended`).
    Close {
        summary: AuditEvent,
        flood_ended: bool,
    },
}

impl Burst {
    /// A burst beginning at `now_ms`.
    pub fn begin(now_ms: i64) -> Burst {
        Burst {
            started_ms: now_ms,
            last_ms: now_ms,
            since_ms: now_ms,
            ..Burst::default()
        }
    }

    /// Counts one attempt: a wrong credential (`failed`), a refused one (`refused`: answered
    /// 429, a right credential from a limited client included), or both.
    pub fn record(
        &mut self,
        client: &str,
        path: CredentialPath,
        failed: bool,
        refused: bool,
        now_ms: i64,
    ) {
        self.last_ms = self.last_ms.max(now_ms);
        self.failures += u64::from(failed);
        self.refused += u64::from(refused);
        self.by_path.add(path);
        match self.clients.iter_mut().find(|(c, _)| c == client) {
            Some((_, n)) => *n += 1,
            None => {
                self.distinct_clients += 1;
                self.clients.push((client.to_string(), 1));
                if self.clients.len() > MAX_BURST_CLIENTS {
                    // Drop the smallest count (the oldest of equals).
                    let (i, _) = self
                        .clients
                        .iter()
                        .enumerate()
                        .min_by_key(|(i, (_, n))| (*n, *i))
                        .expect("not empty");
                    self.clients.remove(i);
                }
            }
        }
    }

    /// Counts attempts refused before they reached the guard (the platform's limiter).
    pub fn shed(&mut self, count: u64, now_ms: i64) {
        self.refused += count;
        self.last_ms = self.last_ms.max(now_ms);
    }

    /// The audit summary of what was counted since `since_ms`, up to `now_ms`.
    pub fn summary(&self, now_ms: i64) -> AuditEvent {
        let mut top = self.clients.clone();
        top.sort_by_key(|c| std::cmp::Reverse(c.1));
        AuditEvent::FailedAttempts {
            from: iso_utc(self.since_ms),
            to: iso_utc(now_ms.max(self.last_ms)),
            failures: self.failures,
            refused: self.refused,
            by_path: self.by_path,
            clients: self.distinct_clients,
            top: top
                .into_iter()
                .take(TOP_CLIENTS)
                .map(|(client, attempts)| ClientFailures { client, attempts })
                .collect(),
            flood: self.flood,
        }
    }

    /// When the guard should look at the burst again: its end if no failure comes, or its
    /// next hourly summary, whichever is first.
    pub fn next_check_ms(&self, policy: &AttemptPolicy) -> i64 {
        (self.last_ms + policy.quiet_ms).min(self.since_ms + SUMMARY_EVERY_MS)
    }

    /// What is due at `now_ms`: the summary of a burst that ended, or of an hour of one still
    /// going (its counts then start again).
    pub fn step(&mut self, policy: &AttemptPolicy, now_ms: i64) -> BurstStep {
        if now_ms >= self.last_ms + policy.quiet_ms {
            return BurstStep::Close {
                summary: self.summary(self.last_ms),
                flood_ended: self.flood,
            };
        }
        if now_ms >= self.since_ms + SUMMARY_EVERY_MS {
            let summary = self.summary(now_ms);
            *self = Burst {
                started_ms: self.started_ms,
                last_ms: self.last_ms,
                since_ms: now_ms,
                flood: self.flood,
                ..Burst::default()
            };
            return BurstStep::Summarise(summary);
        }
        BurstStep::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: AttemptPolicy = AttemptPolicy {
        per_client: 5,
        global: 20,
        quiet_ms: QUIET_MS,
    };

    #[test]
    fn five_failures_then_every_credential_of_that_client_is_refused_for_the_window() {
        let (mut c, mut g) = (ClientRecord::default(), GlobalRecord::default());
        let t0 = 1_000_000_000;
        for i in 0..5 {
            assert_eq!(fail(&mut c, &mut g, false, &P, t0 + i), Admission::Allowed);
        }
        // The sixth failure is refused, and so is the right credential.
        let sixth = fail(&mut c, &mut g, false, &P, t0 + 10);
        assert!(matches!(sixth, Admission::Limited { global: false, .. }));
        let right = admit(&c, &g, true, &P, t0 + 11);
        let Admission::Limited { retry_after_ms, .. } = right else {
            panic!("{right:?}")
        };
        // Refused until the oldest of the five newest failures leaves the window.
        assert_eq!(retry_after_ms, t0 + 1 + WINDOW_MS - (t0 + 11));
        assert_eq!(right.retry_after_secs(), Some(600));
        assert_eq!(c.failures.len(), 5, "only the newest are kept");
        // Another client is not limited.
        assert_eq!(
            admit(&ClientRecord::default(), &g, true, &P, t0 + 11),
            Admission::Allowed
        );
        // Once the window has passed, the right credential goes through again.
        assert_eq!(
            admit(&c, &g, true, &P, t0 + 10 + WINDOW_MS),
            Admission::Allowed
        );
        assert!(c.stale(t0 + 10 + WINDOW_MS));
        // Failures "from the future" (a clock step back) do not hold a client.
        let future = ClientRecord {
            failures: vec![t0 + WINDOW_MS * 5; 5],
        };
        assert_eq!(admit(&future, &g, true, &P, t0), Admission::Allowed);
    }

    #[test]
    fn the_global_budget_refuses_unknown_clients_and_lets_known_ones_in() {
        let mut g = GlobalRecord::default();
        let t0 = 600_000_000;
        // 20 failures from 20 clients, each under its own limit.
        for i in 0..20 {
            let mut c = ClientRecord::default();
            let a = fail(&mut c, &mut g, false, &P, t0 + i * 1_000);
            assert_eq!(a, Admission::Allowed, "failure {i}");
        }
        assert_eq!(g.count(t0 + 20_000), 20);
        let fresh = ClientRecord::default();
        let stranger = admit(&fresh, &g, false, &P, t0 + 20_000);
        assert!(matches!(stranger, Admission::Limited { global: true, .. }));
        assert_eq!(
            admit(&fresh, &g, true, &P, t0 + 20_000),
            Admission::Allowed,
            "the operator's known client"
        );
        // All 20 fell in the first minute of t0: the budget is back once it leaves the window.
        let Some(ms) = g.spent_for(&P, t0 + 20_000) else {
            panic!("spent")
        };
        let back = t0 + 20_000 + ms;
        assert_eq!(g.spent_for(&P, back), None);
        assert_eq!(admit(&fresh, &g, false, &P, back), Admission::Allowed);
        assert!(g.count(back) < 20);
    }

    #[test]
    fn global_counts_are_per_minute_and_expire() {
        let mut g = GlobalRecord::default();
        for m in 0..15 {
            g.add(m * 60_000 + 5);
            g.add(m * 60_000 + 6);
        }
        assert_eq!(g.count(14 * 60_000 + 10), 20, "the last 10 minutes");
        assert!(g.minutes.len() <= 10, "{:?}", g.minutes);
        let policy = AttemptPolicy { global: 15, ..P };
        // 20 in the window, budget 15: the 3 oldest minutes (6 failures) must leave it.
        let ms = g.spent_for(&policy, 14 * 60_000 + 10).unwrap();
        assert_eq!(14 * 60_000 + 10 + ms, 7 * 60_000 + WINDOW_MS);
        assert!(ms <= WINDOW_MS, "never longer than the window");
    }

    #[test]
    fn known_clients_are_remembered_without_a_write_per_request() {
        let mut k = KnownClients::default();
        assert!(k.remember("203.0.113.7", 0));
        assert!(!k.remember("203.0.113.7", 1_000), "seen within the hour");
        assert!(k.remember("203.0.113.7", KNOWN_REFRESH_MS + 1));
        assert!(k.knows("203.0.113.7", KNOWN_FOR_MS));
        assert!(!k.knows("203.0.113.7", KNOWN_REFRESH_MS + 1 + KNOWN_FOR_MS));
        assert!(!k.knows("198.51.100.4", 0));
        for i in 0..(MAX_KNOWN + 3) {
            k.remember(&format!("10.0.0.{i}"), 10 + i as i64);
        }
        assert_eq!(k.clients.len(), MAX_KNOWN);
        assert!(!k.knows("203.0.113.7", 1_000), "the least recent dropped");
    }

    #[test]
    fn a_burst_is_summarised_once_it_ends_and_hourly_while_it_lasts() {
        let t0 = 1_700_000_000_000;
        let mut b = Burst::begin(t0);
        for i in 0..30 {
            let client = format!("198.51.100.{}", i % 7);
            let path = if i % 3 == 0 {
                CredentialPath::SignIn
            } else {
                CredentialPath::AdminBearer
            };
            b.record(&client, path, true, i >= 5, t0 + i * 1_000);
        }
        b.shed(100, t0 + 30_000);
        assert_eq!(b.step(&P, t0 + 60_000), BurstStep::Nothing);
        assert_eq!(b.next_check_ms(&P), t0 + 30_000 + QUIET_MS);
        let BurstStep::Close {
            summary,
            flood_ended,
        } = b.step(&P, t0 + 30_000 + QUIET_MS)
        else {
            panic!("the burst is over")
        };
        assert!(!flood_ended);
        let AuditEvent::FailedAttempts {
            failures,
            refused,
            by_path,
            clients,
            top,
            from,
            to,
            ..
        } = summary
        else {
            panic!("{summary:?}")
        };
        assert_eq!((failures, refused, clients), (30, 125, 7));
        assert_eq!((by_path.sign_in, by_path.admin_bearer), (10, 20));
        assert_eq!(top.len(), 5);
        assert_eq!(top[0].attempts, 5, "the busiest first");
        assert_eq!(from, iso_utc(t0));
        assert_eq!(to, iso_utc(t0 + 30_000), "up to the last failure");

        // A flood that never stops: one summary an hour, counts starting again.
        let mut long = Burst::begin(t0);
        long.flood = true;
        let mut summaries = 0;
        for minute in 0..180 {
            let now = t0 + minute * 60_000;
            long.record("203.0.113.9", CredentialPath::IngestBearer, true, true, now);
            if let BurstStep::Summarise(_) = long.step(&P, now) {
                summaries += 1;
            }
        }
        assert_eq!(summaries, 2, "after one and two hours");
        assert_eq!(long.failures, 59, "counted since the last summary");
        assert!(long.flood, "the flood goes on");
    }

    #[test]
    fn a_burst_keeps_its_largest_clients() {
        let mut b = Burst::begin(0);
        for i in 0..(MAX_BURST_CLIENTS + 20) {
            b.record(&format!("c{i}"), CredentialPath::SignIn, true, false, 1);
        }
        b.record("c60", CredentialPath::SignIn, false, true, 2);
        assert_eq!(
            (b.failures, b.refused),
            (70, 1),
            "a right credential refused is no failure"
        );
        assert_eq!(b.clients.len(), MAX_BURST_CLIENTS);
        assert_eq!(b.distinct_clients, (MAX_BURST_CLIENTS + 20) as u64);
        assert!(b.clients.iter().any(|(c, n)| c == "c60" && *n == 2));
    }
}
