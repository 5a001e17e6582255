//! The journal: the delivery log and the delivery archive kept in one Durable Object's SQLite
//! database, in one table per UTC day and kind. This is the embedded default's store (no Redis,
//! no account to create), and it replaces one KV write per log entry and three per delivered
//! e-mail with one SQLite row each (KV allows 1,000 writes a day on the Workers Free plan,
//! SQLite-backed Durable Objects 100,000 rows).
//!
//! Why day tables: a table is dropped whole when its day leaves the retention, so no row is ever
//! deleted one by one (a deleted row is billed as a written one), rows are appended in time
//! order (a newest-first read walks the rowid backwards and stops at its cut-off), and no index
//! is needed (each index update is another written row). What is decided here is pure: which
//! days a read visits, which tables a day has, which are expired, and the SQL text; the object
//! (`src/objects/journal.rs`) runs it.

use crate::base::time::DAY_MS;

/// Days of log kept (SPEC §8: 7 days), plus today.
pub const LOG_DAYS: u32 = 8;
/// Days of archive kept (14 days, as dead letters and spilled parts), plus today.
pub const ARCHIVE_DAYS: u32 = 15;

/// The kinds of day table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Log entries.
    Log,
    /// One archive record per e-mail.
    Emails,
    /// One archive record per delivery.
    Deliveries,
    /// Payload bodies kept for replay (the small ones).
    Bodies,
    /// Billed operations that rode with a call that wrote no other row.
    Costs,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 5] = [
        Kind::Log,
        Kind::Emails,
        Kind::Deliveries,
        Kind::Bodies,
        Kind::Costs,
    ];

    fn prefix(self) -> &'static str {
        match self {
            Kind::Log => "log_",
            Kind::Emails => "emails_",
            Kind::Deliveries => "deliveries_",
            Kind::Bodies => "bodies_",
            Kind::Costs => "costs_",
        }
    }

    /// Days of this kind kept, today included.
    pub fn days_kept(self) -> u32 {
        match self {
            Kind::Log | Kind::Costs => LOG_DAYS,
            _ => ARCHIVE_DAYS,
        }
    }

    /// The table of day `day` (days since 1970-01-01 UTC): only digits after a fixed prefix,
    /// so the name is safe to write into SQL.
    pub fn table(self, day: u32) -> String {
        format!("{}{day}", self.prefix())
    }

    /// The `CREATE TABLE` of day `day`. The billed operations that ride with a call are kept
    /// in the `ops` column of the row the call writes anyway (the day's totals add them up), so
    /// counting costs no row of its own.
    pub fn create(self, day: u32) -> String {
        let t = self.table(day);
        match self {
            Kind::Log => format!(
                "CREATE TABLE IF NOT EXISTS {t} (ts INTEGER NOT NULL, id TEXT NOT NULL, \
                 email_id TEXT NOT NULL, delivery_id TEXT, status TEXT NOT NULL, entry TEXT NOT NULL, \
                 ops TEXT)"
            ),
            Kind::Emails => format!(
                "CREATE TABLE IF NOT EXISTS {t} (email_id TEXT PRIMARY KEY, sender_key TEXT NOT NULL, \
                 record TEXT NOT NULL, ops TEXT) WITHOUT ROWID"
            ),
            Kind::Deliveries => format!(
                "CREATE TABLE IF NOT EXISTS {t} (delivery_id TEXT PRIMARY KEY, email_id TEXT NOT NULL, \
                 record TEXT NOT NULL) WITHOUT ROWID"
            ),
            Kind::Bodies => format!(
                "CREATE TABLE IF NOT EXISTS {t} (key TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID"
            ),
            Kind::Costs => format!("CREATE TABLE IF NOT EXISTS {t} (ops TEXT NOT NULL)"),
        }
    }

    /// Reads a table's name back: its kind and day.
    pub fn parse(name: &str) -> Option<(Kind, u32)> {
        Kind::ALL.into_iter().find_map(|k| {
            let day = name.strip_prefix(k.prefix())?;
            (!day.is_empty() && day.bytes().all(|b| b.is_ascii_digit()))
                .then(|| day.parse().ok().map(|d| (k, d)))
                .flatten()
        })
    }
}

/// The table of the daily limits reached (one row per store and day, the first time).
pub const CREATE_LIMITS: &str = "CREATE TABLE IF NOT EXISTS limits (day INTEGER NOT NULL, \
store TEXT NOT NULL, at INTEGER NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (day, store)) WITHOUT ROWID";

/// `?, ?, …` for `n` values (at least one, so the SQL stays valid).
pub fn placeholders(n: usize) -> String {
    vec!["?"; n.max(1)].join(", ")
}

/// The UTC day of a time (days since 1970-01-01).
pub fn day_of(ms: i64) -> u32 {
    ms.max(0).div_euclid(DAY_MS) as u32
}

/// The days a read covering the last `days` days visits, newest first (today included).
pub fn days_back(now_ms: i64, days: u32) -> Vec<u32> {
    let today = day_of(now_ms);
    (0..days.max(1))
        .filter_map(|i| today.checked_sub(i))
        .collect()
}

/// The tables among `existing` whose day left their kind's retention at `now_ms`.
pub fn expired<'a>(existing: impl IntoIterator<Item = &'a str>, now_ms: i64) -> Vec<String> {
    let today = day_of(now_ms);
    existing
        .into_iter()
        .filter(|name| Kind::parse(name).is_some_and(|(k, day)| day + k.days_kept() <= today))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn table_names_hold_only_a_prefix_and_digits() {
        let day = day_of(NOW);
        assert_eq!(day, 20_454);
        assert_eq!(Kind::Log.table(day), "log_20454");
        assert_eq!(Kind::parse("log_20454"), Some((Kind::Log, 20_454)));
        assert_eq!(Kind::parse("bodies_1"), Some((Kind::Bodies, 1)));
        for bad in [
            "log_",
            "log_1;DROP",
            "logs_1",
            "sqlite_master",
            "_cf_KV",
            "emails_x",
        ] {
            assert_eq!(Kind::parse(bad), None, "{bad}");
        }
        assert!(Kind::Emails
            .create(day)
            .starts_with("CREATE TABLE IF NOT EXISTS emails_20454 "));
    }

    #[test]
    fn reads_go_back_day_by_day() {
        assert_eq!(days_back(NOW, 3), vec![20_454, 20_453, 20_452]);
        assert_eq!(days_back(NOW + DAY_MS - 1, 1), vec![20_454]);
        assert_eq!(days_back(0, 5), vec![0], "never before 1970");
    }

    #[test]
    fn placeholders_for_in_lists() {
        assert_eq!(placeholders(3), "?, ?, ?");
        assert_eq!(placeholders(0), "?");
    }

    #[test]
    fn days_leave_by_kind() {
        let today = day_of(NOW);
        let names = [
            Kind::Log.table(today - 7),
            Kind::Log.table(today - 8),
            Kind::Bodies.table(today - 8),
            Kind::Bodies.table(today - 15),
            "_cf_METADATA".to_string(),
        ];
        let gone = expired(names.iter().map(String::as_str), NOW);
        assert_eq!(
            gone,
            vec![Kind::Log.table(today - 8), Kind::Bodies.table(today - 15)]
        );
    }
}
