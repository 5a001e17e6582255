//! Gating (SPEC §6): whether an e-mail is sent now, skipped, or held until later.
//!
//! Pure: the clock (`now_ms`, unix milliseconds, UTC) and the time zone (`POLLING_TIMEZONE`)
//! are inputs. Windows and absence days are read on the local wall clock with the zone's real
//! DST rules.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::base::time::Zone;
use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone,
    Timelike, Utc, Weekday,
};

use crate::base::time::DAY_MS;
use crate::config::{parse_time_of_day, weekday_name, Documents, WebhookConfig};
use crate::delivery::retry::next_hop_delay;
use crate::error::ApiError;

/// Value of `webhooks_time_start` when an e-mail is sent inside its window.
pub const INSIDE_WINDOW_START: &str = "maintenant";
/// How long an e-mail waits before sending is re-checked while it is disabled (15 minutes).
pub const SENDING_DISABLED_RECHECK_MS: i64 = 15 * 60 * 1_000;

/// The sending-window fields of the payload (SPEC §6), as gating decides them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowFields {
    pub webhooks_time_start: Option<String>,
    pub webhooks_time_end: Option<String>,
}

/// What detection found, as far as gating cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateKind {
    Recadrage,
    Desabo { urgent: bool },
    Undetected,
}

/// The decision for one e-mail at processing time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateDecision {
    /// Deliver now, with these payload fields.
    Send { window: WindowFields },
    /// Logged as skipped; the e-mail stays marked processed.
    Skip { reason: SkipReason },
    /// Re-checked at `until_ms` (never dropped).
    Hold { until_ms: i64, reason: HoldReason },
}

/// Why an e-mail is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The subject or body contains this `exclude_keywords` entry (as configured).
    ExcludedKeyword(String),
    /// No provider link, and `allow_custom_webhook_without_links` is false.
    NoLinks,
    /// A recadrage outside the sending window.
    RecadrageOutsideWindow,
}

impl SkipReason {
    /// Stable snake_case log text, e.g. `excluded_keyword:SPAM`, `no_links`.
    pub fn as_str(&self) -> String {
        match self {
            SkipReason::ExcludedKeyword(k) => format!("excluded_keyword:{k}"),
            SkipReason::NoLinks => "no_links".into(),
            SkipReason::RecadrageOutsideWindow => "recadrage_outside_window".into(),
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// Why an e-mail is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    /// Global absence today.
    Absence,
    /// Outside the sending window (urgent DESABO or undetected e-mail).
    OutsideWindow,
    /// `webhook_sending_enabled` is false (runtime flag or `webhook_config`).
    SendingDisabled,
}

impl HoldReason {
    /// Stable snake_case log text: `absence`, `outside_window`, `sending_disabled`.
    pub fn as_str(&self) -> &'static str {
        match self {
            HoldReason::Absence => "absence",
            HoldReason::OutsideWindow => "outside_window",
            HoldReason::SendingDisabled => "sending_disabled",
        }
    }
}

impl HoldReason {
    /// The ingest's 409 when sending is refused for this reason (SPEC §2, row 8): the code
    /// tells the absence from the sending switch.
    pub fn refusal(self) -> ApiError {
        match self {
            HoldReason::Absence => ApiError::absence_pause(),
            _ => ApiError::sending_disabled(),
        }
    }
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sending window at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowState {
    /// No usable window: always open.
    Unset,
    /// Inside the window.
    Open,
    /// Outside; the window next opens at `opens_at_ms`.
    Closed { opens_at_ms: i64 },
}

/// The local wall-clock time at an instant (`None` only for instants chrono cannot represent).
fn wall(t_ms: i64, tz: Zone) -> Option<NaiveDateTime> {
    DateTime::<Utc>::from_timestamp_millis(t_ms).map(|t| t.with_timezone(&tz).naive_local())
}

/// Offset from UTC, in seconds, in force at an instant.
fn offset_secs(t_ms: i64, tz: Zone) -> Option<i32> {
    let utc = DateTime::<Utc>::from_timestamp_millis(t_ms)?;
    Some(
        tz.offset_from_utc_datetime(&utc.naive_utc())
            .fix()
            .local_minus_utc(),
    )
}

fn weekday_en(date: NaiveDate) -> &'static str {
    match date.weekday() {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

fn is_absence_day(w: &WebhookConfig, date: NaiveDate) -> bool {
    let day = weekday_en(date);
    // Stored days are normalised by the config API; normalising again also accepts French names
    // or odd casing coming from an environment default.
    w.absence_pause_enabled
        && w.absence_pause_days
            .iter()
            .any(|d| weekday_name(d) == Some(day))
}

/// True when the global absence pause covers today (local weekday in `tz`).
pub fn absence_today(w: &WebhookConfig, now_ms: i64, tz: Zone) -> bool {
    wall(now_ms, tz).is_some_and(|l| is_absence_day(w, l.date()))
}

/// When a hold for absence ends: the start (00:00 local) of the next day that is not an absence
/// day. With every weekday an absence day, the start of tomorrow, so the hold is re-checked
/// daily and picks up a configuration change.
pub fn absence_ends_at(w: &WebhookConfig, now_ms: i64, tz: Zone) -> i64 {
    let Some(today) = wall(now_ms, tz).map(|l| l.date()) else {
        return now_ms.saturating_add(DAY_MS);
    };
    let day = |k: u64| today.checked_add_days(Days::new(k));
    let target = (1..=7)
        .filter_map(day)
        .find(|d| !is_absence_day(w, *d))
        .or_else(|| day(1));
    target
        .and_then(|d| instants_of(d.and_time(NaiveTime::MIN), tz).first().copied())
        .unwrap_or_else(|| now_ms.saturating_add(DAY_MS))
}

/// The instants at which the wall clock shows `local`: one; two on a fall-back overlap (earliest
/// first); for a time skipped by a spring-forward gap, the first valid instant after it (the
/// end of the gap).
fn instants_of(local: NaiveDateTime, tz: Zone) -> Vec<i64> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => vec![t.timestamp_millis()],
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.timestamp_millis(), b.timestamp_millis());
            vec![a.min(b), a.max(b)]
        }
        LocalResult::None => gap_end(local, tz).into_iter().collect(),
    }
}

/// The first instant whose wall clock is at or after `local` (used for a skipped local time).
fn gap_end(local: NaiveDateTime, tz: Zone) -> Option<i64> {
    // UTC offsets stay within ±1 day, so the answer lies within 36 hours of `local` read as UTC.
    let guess = local.and_utc().timestamp_millis();
    let (mut lo, mut hi) = (guess - 36 * 3_600_000, guess + 36 * 3_600_000);
    if !(wall(lo, tz)? < local && wall(hi, tz)? >= local) {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if wall(mid, tz)? >= local {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// The first instant in `(a, b]` with a different UTC offset than `a` (given they differ).
fn transition_between(a: i64, b: i64, tz: Zone) -> Option<i64> {
    let before = offset_secs(a, tz)?;
    let (mut lo, mut hi) = (a, b);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if offset_secs(mid, tz)? == before {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}

/// A usable window, in minutes after local midnight.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: u32,
    end: u32,
}

impl Window {
    /// The window of a config. The config API refuses invalid times, one bound without the
    /// other, and start == end; should such a value still be stored (older data, a hand-edited
    /// key), the window is treated as unset rather than holding e-mails forever.
    fn of(w: &WebhookConfig) -> Option<Window> {
        let start = parse_time_of_day(w.webhook_time_start.as_deref()?)?;
        let end = parse_time_of_day(w.webhook_time_end.as_deref()?)?;
        (start != end).then_some(Window { start, end })
    }

    /// Start inclusive, end exclusive; start > end crosses midnight.
    fn contains_minute(self, m: u32) -> bool {
        if self.start < self.end {
            self.start <= m && m < self.end
        } else {
            m >= self.start || m < self.end
        }
    }

    fn is_open_at(self, t_ms: i64, tz: Zone) -> bool {
        wall(t_ms, tz).is_some_and(|l| self.contains_minute(l.hour() * 60 + l.minute()))
    }

    /// The first instant after `now_ms` at which the window is open.
    fn next_opening(self, now_ms: i64, tz: Zone) -> i64 {
        let fallback = now_ms.saturating_add(DAY_MS);
        let Some(today) = wall(now_ms, tz).map(|l| l.date()) else {
            return fallback;
        };
        let Some(start) = NaiveTime::from_hms_opt(self.start / 60, self.start % 60, 0) else {
            return fallback;
        };
        // The window opens either when the wall clock reaches `start`, or at a UTC offset change
        // that moves the wall clock into it (e.g. back into a repeated hour on a fall-back day).
        // Today's, tomorrow's and the next day's start cover a window lying wholly inside a
        // skipped hour, which does not open that day.
        let mut points: Vec<i64> = (0..=2)
            .filter_map(|k| today.checked_add_days(Days::new(k)))
            .flat_map(|d| instants_of(d.and_time(start), tz))
            .collect();
        points.push(now_ms);
        crate::base::sort::sort(&mut points);
        points.dedup();
        let transitions: Vec<i64> = points
            .windows(2)
            .filter(|p| offset_secs(p[0], tz) != offset_secs(p[1], tz))
            .filter_map(|p| transition_between(p[0], p[1], tz))
            .collect();
        points.extend(transitions);
        crate::base::sort::sort(&mut points);
        points
            .into_iter()
            .filter(|&t| t > now_ms)
            .find(|&t| self.is_open_at(t, tz))
            .unwrap_or(fallback)
    }
}

/// The sending window of `w` at `now_ms`, on the local wall clock of `tz`.
pub fn window_state(w: &WebhookConfig, now_ms: i64, tz: Zone) -> WindowState {
    let Some(win) = Window::of(w) else {
        return WindowState::Unset;
    };
    let Some(local) = wall(now_ms, tz) else {
        // Unreachable for real clocks; sending beats holding on a time we cannot read.
        return WindowState::Unset;
    };
    if win.contains_minute(local.hour() * 60 + local.minute()) {
        WindowState::Open
    } else {
        WindowState::Closed {
            opens_at_ms: win.next_opening(now_ms, tz),
        }
    }
}

/// Whether a DESABO sent while the window is closed is sent *before it opens* (SPEC §6), the case
/// in which the payload carries the raw `webhook_time_start`.
///
/// Rule: the local time of day (hours and minutes of the wall clock in `tz`) is earlier than the
/// window's start, compared on the same day. So:
/// - a window that does not cross midnight (e.g. 09:00–18:00) is *before it opens* from 00:00
///   to 08:59 and *after it closed* from 18:00 to 23:59 (no start sent);
/// - a window that crosses midnight (e.g. 22:00–06:00) is closed only between its end and its
///   start (06:00–21:59), which always lies before the start on the same day: the window opens
///   later that day, so the start is always sent.
///
/// The comparison is on the wall clock only, like the window itself; on a DST change the rare
/// window that reopens the same day after its end (a fall-back repeating its end hour) still
/// counts as closed, and a start skipped by a spring-forward gap counts as passed once the wall
/// clock is beyond it. False when there is no usable window or the time cannot be read.
pub fn before_window_opens(w: &WebhookConfig, now_ms: i64, tz: Zone) -> bool {
    let (Some(win), Some(local)) = (Window::of(w), wall(now_ms, tz)) else {
        return false;
    };
    let m = local.hour() * 60 + local.minute();
    !win.contains_minute(m) && m < win.start
}

/// Sending is allowed only when both `webhook_sending_enabled` switches are on.
fn sending_enabled(docs: &Documents) -> bool {
    docs.flags.webhook_sending_enabled && docs.webhook.webhook_sending_enabled
}

/// Why the ingest refuses new e-mails (SPEC §2 row 8, answered 409): `Absence` for a global
/// absence today, `SendingDisabled` when either `webhook_sending_enabled` is false, `None`
/// otherwise.
pub fn sending_blocked_at_ingest(docs: &Documents, now_ms: i64, tz: Zone) -> Option<HoldReason> {
    if absence_today(&docs.webhook, now_ms, tz) {
        Some(HoldReason::Absence)
    } else if !sending_enabled(docs) {
        Some(HoldReason::SendingDisabled)
    } else {
        None
    }
}

/// Lowercases and strips common Latin accents (precomposed, or combining marks of decomposed
/// text), so `Relancé` matches the keyword `relance`.
fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => out.push('a'),
            'ç' => out.push('c'),
            'è' | 'é' | 'ê' | 'ë' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' => out.push('i'),
            'ñ' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => out.push('o'),
            'ù' | 'ú' | 'û' | 'ü' => out.push('u'),
            'ý' | 'ÿ' => out.push('y'),
            'œ' => out.push_str("oe"),
            'æ' => out.push_str("ae"),
            '\u{300}'..='\u{36f}' => {}
            _ => out.push(c),
        }
    }
    out
}

/// The first `exclude_keywords` entry (as configured) found in the subject or body.
pub fn excluded_keyword<'a>(keywords: &'a [String], subject: &str, body: &str) -> Option<&'a str> {
    let mut wanted = keywords
        .iter()
        .map(|k| (k.trim(), fold(k.trim())))
        .filter(|(_, f)| !f.is_empty())
        .peekable();
    // Folding copies the body (which may be megabytes): only do it when there is a keyword.
    wanted.peek()?;
    let (subject, body) = (fold(subject), fold(body));
    wanted
        .find(|(_, f)| subject.contains(f.as_str()) || body.contains(f.as_str()))
        .map(|(k, _)| k)
}

/// Decides what happens to one e-mail now. Order (SPEC §6): excluded keyword, no link, global
/// absence, sending window, `webhook_sending_enabled`.
pub fn gate(
    docs: &Documents,
    kind: &GateKind,
    has_links: bool,
    subject: &str,
    body: &str,
    now_ms: i64,
    tz: Zone,
) -> GateDecision {
    if let Some(k) = excluded_keyword(&docs.prefs.exclude_keywords, subject, body) {
        return GateDecision::Skip {
            reason: SkipReason::ExcludedKeyword(k.to_string()),
        };
    }
    if !has_links && !docs.flags.allow_custom_webhook_without_links {
        return GateDecision::Skip {
            reason: SkipReason::NoLinks,
        };
    }
    let w = &docs.webhook;
    if absence_today(w, now_ms, tz) {
        return GateDecision::Hold {
            until_ms: absence_ends_at(w, now_ms, tz),
            reason: HoldReason::Absence,
        };
    }
    let end = w.webhook_time_end.clone();
    let window = match window_state(w, now_ms, tz) {
        WindowState::Unset => WindowFields {
            webhooks_time_start: None,
            webhooks_time_end: end,
        },
        WindowState::Open => WindowFields {
            webhooks_time_start: Some(INSIDE_WINDOW_START.to_string()),
            webhooks_time_end: end,
        },
        WindowState::Closed { opens_at_ms } => match kind {
            // Sent anyway. Before the window opens ([`before_window_opens`]) the receiver sees
            // when it would have opened; after it closed, no start.
            GateKind::Desabo { urgent: false } => WindowFields {
                webhooks_time_start: if before_window_opens(w, now_ms, tz) {
                    w.webhook_time_start.clone()
                } else {
                    None
                },
                webhooks_time_end: end,
            },
            GateKind::Recadrage => {
                return GateDecision::Skip {
                    reason: SkipReason::RecadrageOutsideWindow,
                }
            }
            GateKind::Desabo { urgent: true } | GateKind::Undetected => {
                return GateDecision::Hold {
                    until_ms: opens_at_ms,
                    reason: HoldReason::OutsideWindow,
                }
            }
        },
    };
    if !sending_enabled(docs) {
        return GateDecision::Hold {
            until_ms: now_ms.saturating_add(SENDING_DISABLED_RECHECK_MS),
            reason: HoldReason::SendingDisabled,
        };
    }
    GateDecision::Send { window }
}

/// Queue delay, in whole seconds (rounded up), before a held e-mail is looked at again: 0 when
/// due, at most the queue's maximum delay (a longer hold is re-enqueued hop by hop).
pub fn hold_delay_secs(until_ms: i64, now_ms: i64) -> u32 {
    let remaining_ms = until_ms.saturating_sub(now_ms);
    if remaining_ms <= 0 {
        return 0;
    }
    let secs = (remaining_ms as u64).div_ceil(1_000);
    next_hop_delay(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Paris;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .timestamp_millis()
    }

    fn naive(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
    }

    #[test]
    fn fold_lowercases_and_strips_accents() {
        assert_eq!(fold("Relancé ÇA Œuvre"), "relance ca oeuvre");
        assert_eq!(fold("re\u{301}union"), "reunion");
        assert_eq!(fold("Straße"), "straße");
    }

    #[test]
    fn window_membership() {
        let day = Window {
            start: 540,
            end: 1080,
        };
        assert!(!day.contains_minute(539));
        assert!(day.contains_minute(540));
        assert!(day.contains_minute(1079));
        assert!(!day.contains_minute(1080));
        let night = Window {
            start: 1320,
            end: 360,
        };
        assert!(
            night.contains_minute(1439) && night.contains_minute(0) && night.contains_minute(359)
        );
        assert!(!night.contains_minute(360) && !night.contains_minute(1319));
    }

    #[test]
    fn local_times_resolve_across_dst() {
        // Plain time: one instant.
        assert_eq!(
            instants_of(naive(2026, 3, 10, 9, 0), Paris),
            [utc(2026, 3, 10, 8, 0)]
        );
        // Skipped 02:30 on 2026-03-29: the gap ends at 03:00 CEST = 01:00 UTC.
        assert_eq!(
            instants_of(naive(2026, 3, 29, 2, 30), Paris),
            [utc(2026, 3, 29, 1, 0)]
        );
        // Repeated 02:30 on 2026-10-25: CEST first, then CET.
        assert_eq!(
            instants_of(naive(2026, 10, 25, 2, 30), Paris),
            [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)]
        );
    }

    #[test]
    fn transitions_are_found_exactly() {
        let t = transition_between(utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 12, 0), Paris);
        assert_eq!(t, Some(utc(2026, 3, 29, 1, 0)));
        let t = transition_between(utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 12, 0), Paris);
        assert_eq!(t, Some(utc(2026, 10, 25, 1, 0)));
    }

    #[test]
    fn unusable_windows_are_unset() {
        let w = |s: Option<&str>, e: Option<&str>| WebhookConfig {
            webhook_time_start: s.map(Into::into),
            webhook_time_end: e.map(Into::into),
            ..Default::default()
        };
        assert!(Window::of(&w(Some("09:00"), Some("18h00"))).is_some());
        assert!(Window::of(&w(Some("09:00"), None)).is_none());
        assert!(Window::of(&w(None, Some("18:00"))).is_none());
        assert!(Window::of(&w(Some("25:00"), Some("18:00"))).is_none());
        assert!(Window::of(&w(Some("9h00"), Some("09:00"))).is_none());
    }
}
