//! Gating (SPEC §6) through the public API, with fixed clocks in Europe/Paris.

use chrono::{TimeZone, Timelike, Utc};
use chrono_tz::{Europe::Paris, Tz};
use facteur_core::analysis::detect::Detection;
use facteur_core::config::Documents;
use facteur_core::delivery::retry::MAX_QUEUE_DELAY_SECS;
use facteur_core::gating::*;
use serde_json::Map;

const MIN_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// Paris wall-clock time (must exist and be unambiguous).
fn paris(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    Paris
        .with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .expect("unambiguous local time")
        .timestamp_millis()
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
        .timestamp_millis()
}

/// Built-in defaults: sending on, no window, no absence, links required.
fn docs() -> Documents {
    Documents::from_maps(&Map::new(), &Map::new(), &Map::new())
}

fn windowed(start: &str, end: &str) -> Documents {
    let mut d = docs();
    d.webhook.webhook_time_start = Some(start.into());
    d.webhook.webhook_time_end = Some(end.into());
    d
}

fn absent_on(days: &[&str]) -> Documents {
    let mut d = docs();
    d.webhook.absence_pause_enabled = true;
    d.webhook.absence_pause_days = days.iter().map(|s| s.to_string()).collect();
    d
}

fn state(d: &Documents, now: i64) -> WindowState {
    window_state(&d.webhook, now, Paris)
}

fn closed(opens_at_ms: i64) -> WindowState {
    WindowState::Closed { opens_at_ms }
}

fn gate_kind(d: &Documents, kind: GateKind, now: i64) -> GateDecision {
    gate(d, &kind, true, "Sujet", "<p>corps</p>", now, Paris)
}

fn send(start: Option<&str>, end: Option<&str>) -> GateDecision {
    GateDecision::Send {
        window: WindowFields {
            webhooks_time_start: start.map(Into::into),
            webhooks_time_end: end.map(Into::into),
        },
    }
}

fn skip(reason: SkipReason) -> GateDecision {
    GateDecision::Skip { reason }
}

fn hold(until_ms: i64, reason: HoldReason) -> GateDecision {
    GateDecision::Hold { until_ms, reason }
}

const URGENT: GateKind = GateKind::Desabo { urgent: true };
const DESABO: GateKind = GateKind::Desabo { urgent: false };
const ALL_KINDS: [GateKind; 4] = [GateKind::Recadrage, DESABO, URGENT, GateKind::Undetected];

// ---------------------------------------------------------------- time window edges

#[test]
fn day_window_edges() {
    let d = windowed("09:00", "18:00");
    let (day, next) = ((2026, 3, 10), paris(2026, 3, 11, 9, 0, 0));
    let at = |h, m, s| paris(day.0, day.1, day.2, h, m, s);
    assert_eq!(state(&d, at(8, 59, 59)), closed(at(9, 0, 0)));
    assert_eq!(state(&d, at(9, 0, 0)), WindowState::Open);
    assert_eq!(state(&d, at(9, 0, 1)), WindowState::Open);
    assert_eq!(state(&d, at(17, 59, 59)), WindowState::Open);
    assert_eq!(state(&d, at(18, 0, 0)), closed(next));
    assert_eq!(state(&d, at(18, 0, 1)), closed(next));
    assert_eq!(state(&d, at(0, 0, 0)), closed(at(9, 0, 0)));
}

#[test]
fn window_crossing_midnight() {
    let d = windowed("22:00", "06:00");
    assert_eq!(
        state(&d, paris(2026, 3, 10, 21, 59, 59)),
        closed(paris(2026, 3, 10, 22, 0, 0))
    );
    assert_eq!(state(&d, paris(2026, 3, 10, 22, 0, 0)), WindowState::Open);
    assert_eq!(state(&d, paris(2026, 3, 10, 23, 59, 59)), WindowState::Open);
    assert_eq!(state(&d, paris(2026, 3, 11, 0, 0, 0)), WindowState::Open);
    assert_eq!(state(&d, paris(2026, 3, 11, 5, 59, 59)), WindowState::Open);
    assert_eq!(
        state(&d, paris(2026, 3, 11, 6, 0, 0)),
        closed(paris(2026, 3, 11, 22, 0, 0))
    );
    assert_eq!(
        state(&d, paris(2026, 3, 11, 6, 0, 1)),
        closed(paris(2026, 3, 11, 22, 0, 0))
    );
}

#[test]
fn hhhmm_form_and_mixed_forms() {
    let d = windowed("08h30", "17h45");
    assert_eq!(
        state(&d, paris(2026, 3, 10, 8, 29, 59)),
        closed(paris(2026, 3, 10, 8, 30, 0))
    );
    assert_eq!(state(&d, paris(2026, 3, 10, 8, 30, 0)), WindowState::Open);
    assert_eq!(state(&d, paris(2026, 3, 10, 17, 44, 59)), WindowState::Open);
    assert_eq!(
        state(&d, paris(2026, 3, 10, 17, 45, 0)),
        closed(paris(2026, 3, 11, 8, 30, 0))
    );
    let mixed = windowed("8h30", "17:45");
    assert_eq!(
        state(&mixed, paris(2026, 3, 10, 8, 30, 0)),
        WindowState::Open
    );
    assert_eq!(
        state(&mixed, paris(2026, 3, 10, 17, 45, 0)),
        closed(paris(2026, 3, 11, 8, 30, 0))
    );
}

#[test]
fn unset_or_unusable_window_is_always_open() {
    let now = paris(2026, 3, 10, 3, 0, 0);
    assert_eq!(state(&docs(), now), WindowState::Unset);
    let mut only_start = docs();
    only_start.webhook.webhook_time_start = Some("09:00".into());
    assert_eq!(state(&only_start, now), WindowState::Unset);
    // Refused by the config API, but must neither panic nor hold forever if stored anyway.
    assert_eq!(state(&windowed("25:00", "18:00"), now), WindowState::Unset);
    assert_eq!(state(&windowed("soon", "later"), now), WindowState::Unset);
    assert_eq!(state(&windowed("09:00", "9h00"), now), WindowState::Unset);
    for kind in ALL_KINDS {
        assert_eq!(gate_kind(&docs(), kind, now), send(None, None));
    }
    // The raw end is sent whenever it is configured.
    let mut only_end = docs();
    only_end.webhook.webhook_time_end = Some("18:00".into());
    assert_eq!(gate_kind(&only_end, URGENT, now), send(None, Some("18:00")));
}

// ---------------------------------------------------------------- DST (Europe/Paris, 2026)

#[test]
fn spring_forward_2026_03_29() {
    // 02:00 CET jumps to 03:00 CEST at 01:00 UTC.
    let jump = utc(2026, 3, 29, 1, 0, 0);
    // Start inside the missing hour: opens at the first valid instant after it.
    let d = windowed("02:30", "06:00");
    assert_eq!(state(&d, paris(2026, 3, 29, 1, 30, 0)), closed(jump));
    assert_eq!(state(&d, jump - 1_000), closed(jump));
    assert_eq!(state(&d, jump), WindowState::Open);
    assert_eq!(state(&d, paris(2026, 3, 29, 5, 59, 59)), WindowState::Open);
    assert_eq!(
        state(&d, paris(2026, 3, 29, 6, 0, 0)),
        closed(paris(2026, 3, 30, 2, 30, 0))
    );
    // Start right at the end of the gap.
    let d = windowed("03:00", "06:00");
    assert_eq!(state(&d, jump - 1_000), closed(jump));
    assert_eq!(state(&d, jump), WindowState::Open);
    // End right at the end of the gap: 01:59:59 CET is the last open second.
    let d = windowed("01:00", "03:00");
    assert_eq!(state(&d, jump - 1_000), WindowState::Open);
    assert_eq!(state(&d, jump), closed(paris(2026, 3, 30, 1, 0, 0)));
    // A window lying wholly inside the missing hour does not open that day.
    let d = windowed("02:15", "02:45");
    assert_eq!(
        state(&d, paris(2026, 3, 29, 1, 0, 0)),
        closed(paris(2026, 3, 30, 2, 15, 0))
    );
    // Night window ending in the missing hour.
    let d = windowed("22:00", "02:30");
    assert_eq!(state(&d, jump - 1_000), WindowState::Open);
    assert_eq!(state(&d, jump), closed(utc(2026, 3, 29, 20, 0, 0)));
    // Opening computed across the change: 09:00 CEST is 07:00 UTC, not 08:00.
    let d = windowed("09:00", "18:00");
    let opens = utc(2026, 3, 29, 7, 0, 0);
    assert_eq!(state(&d, paris(2026, 3, 28, 20, 0, 0)), closed(opens));
    assert_eq!(opens - paris(2026, 3, 28, 20, 0, 0), 12 * HOUR_MS);
}

#[test]
fn fall_back_2026_10_25() {
    // 03:00 CEST goes back to 02:00 CET at 01:00 UTC; 02:00-02:59 is lived twice.
    let back = utc(2026, 10, 25, 1, 0, 0);
    // Start in the repeated hour: first occurrence (CEST).
    let d = windowed("02:30", "06:00");
    assert_eq!(
        state(&d, paris(2026, 10, 25, 1, 0, 0)),
        closed(utc(2026, 10, 25, 0, 30, 0))
    );
    assert_eq!(state(&d, utc(2026, 10, 25, 0, 30, 0)), WindowState::Open);
    assert_eq!(state(&d, back - 1_000), WindowState::Open);
    // The wall clock reads 02:00 again: outside until 02:30 CET, the second occurrence.
    assert_eq!(state(&d, back), closed(utc(2026, 10, 25, 1, 30, 0)));
    assert_eq!(state(&d, utc(2026, 10, 25, 1, 30, 0)), WindowState::Open);
    // A window ending in the repeated hour reopens when the clock goes back into it.
    let d = windowed("01:00", "02:30");
    assert_eq!(state(&d, utc(2026, 10, 25, 0, 45, 0)), closed(back));
    assert_eq!(state(&d, back), WindowState::Open);
    // The repeated hour is inside a 02:00-03:00 window both times.
    let d = windowed("02:00", "03:00");
    assert_eq!(state(&d, utc(2026, 10, 25, 0, 0, 0)), WindowState::Open);
    assert_eq!(state(&d, back - 1_000), WindowState::Open);
    assert_eq!(state(&d, back), WindowState::Open);
    assert_eq!(state(&d, utc(2026, 10, 25, 1, 59, 59)), WindowState::Open);
    assert_eq!(
        state(&d, utc(2026, 10, 25, 2, 0, 0)),
        closed(utc(2026, 10, 26, 1, 0, 0))
    );
    // Opening computed across the change: 09:00 CET is 08:00 UTC, 14 hours after 20:00 CEST.
    let d = windowed("09:00", "18:00");
    let evening = paris(2026, 10, 24, 20, 0, 0);
    assert_eq!(state(&d, evening), closed(utc(2026, 10, 25, 8, 0, 0)));
    assert_eq!(utc(2026, 10, 25, 8, 0, 0) - evening, 14 * HOUR_MS);
}

/// Brute force: the window on the Paris wall clock, minute by minute.
fn open_by_wall_clock(start: u32, end: u32, t: i64) -> bool {
    let l = Utc.timestamp_millis_opt(t).unwrap().with_timezone(&Paris);
    let m = l.hour() * 60 + l.minute();
    if start < end {
        start <= m && m < end
    } else {
        m >= start || m < end
    }
}

#[test]
fn opening_instants_match_brute_force_around_dst_changes() {
    let windows = [
        ("02:30", "06:00", 150, 360),
        ("01:00", "02:30", 60, 150),
        ("02:00", "03:00", 120, 180),
        ("02:15", "02:45", 135, 165),
        ("22:00", "02:30", 1320, 150),
        ("03:00", "02:00", 180, 120),
        ("09:00", "18:00", 540, 1080),
    ];
    let mut checked = 0;
    for first in [utc(2026, 3, 28, 0, 7, 13), utc(2026, 10, 24, 0, 7, 13)] {
        for (s, e, start, end) in windows {
            let d = windowed(s, e);
            for step in 0..(48 * 4) {
                let now = first + step * 15 * MIN_MS;
                let got = state(&d, now);
                assert_eq!(
                    got == WindowState::Open,
                    open_by_wall_clock(start, end, now),
                    "{s}-{e} at {now}"
                );
                if let WindowState::Closed { opens_at_ms } = got {
                    // The first whole minute after `now` at which the wall clock is in the window.
                    let mut t = (now / MIN_MS + 1) * MIN_MS;
                    while !open_by_wall_clock(start, end, t) {
                        t += MIN_MS;
                    }
                    assert_eq!(opens_at_ms, t, "{s}-{e} at {now}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1_000, "{checked}");
}

#[test]
fn other_time_zones() {
    let d = windowed("09:00", "18:00");
    let ny: Tz = "America/New_York".parse().unwrap();
    // 2026-03-10 12:00 UTC is 08:00 in New York (EDT since 2026-03-08).
    let now = utc(2026, 3, 10, 12, 0, 0);
    assert_eq!(
        window_state(&d.webhook, now, ny),
        WindowState::Closed {
            opens_at_ms: utc(2026, 3, 10, 13, 0, 0)
        }
    );
    assert_eq!(window_state(&d.webhook, now, Paris), WindowState::Open);
}

// ---------------------------------------------------------------- per-detector policy

#[test]
fn outside_window_policy_for_each_kind() {
    let d = windowed("09:00", "18:00");
    let now = paris(2026, 3, 10, 20, 0, 0);
    let opens = paris(2026, 3, 11, 9, 0, 0);
    // After the window closed: sent, without the start (see the table below).
    assert_eq!(gate_kind(&d, DESABO, now), send(None, Some("18:00")));
    assert_eq!(
        gate_kind(&d, GateKind::Recadrage, now),
        skip(SkipReason::RecadrageOutsideWindow)
    );
    assert_eq!(
        gate_kind(&d, URGENT, now),
        hold(opens, HoldReason::OutsideWindow)
    );
    assert_eq!(
        gate_kind(&d, GateKind::Undetected, now),
        hold(opens, HoldReason::OutsideWindow)
    );
    // Before the window opens the same day.
    let early = paris(2026, 3, 10, 7, 0, 0);
    assert_eq!(
        gate_kind(&d, URGENT, early),
        hold(paris(2026, 3, 10, 9, 0, 0), HoldReason::OutsideWindow)
    );
    // The raw start is sent as written.
    let h = windowed("08h30", "17h45");
    assert_eq!(
        gate_kind(&h, DESABO, early),
        send(Some("08h30"), Some("17h45"))
    );
}

#[test]
fn desabo_outside_the_window_carries_the_start_only_before_it_opens() {
    // SPEC §6: the raw start is sent "when a DESABO is sent before it opens". Rule: the local
    // time of day is earlier than the start on the same day; a window crossing midnight is
    // closed only between its end and its start, which is always before the start.
    // (label, start, end, now, expected webhooks_time_start)
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, &str, i64, Option<&str>)> = vec![
        ("day: midnight is before it opens", "09:00", "18:00", paris(2026, 3, 10, 0, 0, 0), Some("09:00")),
        ("day: 08:59:59 is before it opens", "09:00", "18:00", paris(2026, 3, 10, 8, 59, 59), Some("09:00")),
        ("day: 09:00 is inside", "09:00", "18:00", paris(2026, 3, 10, 9, 0, 0), Some("maintenant")),
        ("day: 17:59:59 is inside", "09:00", "18:00", paris(2026, 3, 10, 17, 59, 59), Some("maintenant")),
        ("day: 18:00 is after it closed", "09:00", "18:00", paris(2026, 3, 10, 18, 0, 0), None),
        ("day: 18:00:59 is after it closed", "09:00", "18:00", paris(2026, 3, 10, 18, 0, 59), None),
        ("day: 21:00 is after it closed", "09:00", "18:00", paris(2026, 3, 10, 21, 0, 0), None),
        ("day: 23:59:59 is after it closed", "09:00", "18:00", paris(2026, 3, 10, 23, 59, 59), None),
        ("day, HHhMM: before, start as written", "08h30", "17h45", paris(2026, 3, 10, 8, 29, 0), Some("08h30")),
        ("day, HHhMM: after", "08h30", "17h45", paris(2026, 3, 10, 17, 45, 0), None),
        ("day, HHh: before, start as written", "08h", "17h", paris(2026, 3, 10, 7, 0, 0), Some("08h")),
        ("day, HHh: after", "08h", "17h", paris(2026, 3, 10, 17, 0, 0), None),
        ("night: 05:59:59 is inside", "22:00", "06:00", paris(2026, 3, 11, 5, 59, 59), Some("maintenant")),
        ("night: 06:00 is before it opens (tonight)", "22:00", "06:00", paris(2026, 3, 11, 6, 0, 0), Some("22:00")),
        ("night: noon is before it opens", "22:00", "06:00", paris(2026, 3, 11, 12, 0, 0), Some("22:00")),
        ("night: 21:59:59 is before it opens", "22:00", "06:00", paris(2026, 3, 11, 21, 59, 59), Some("22:00")),
        ("night: 22:00 is inside", "22:00", "06:00", paris(2026, 3, 11, 22, 0, 0), Some("maintenant")),
        ("night: 00:00 is inside", "22:00", "06:00", paris(2026, 3, 12, 0, 0, 0), Some("maintenant")),
        ("night, one-hour gap: 02:30", "03:00", "02:00", paris(2026, 3, 10, 2, 30, 0), Some("03:00")),
        // DST: the wall clock decides. 02:45 CEST on 2026-10-25 is after a 01:00-02:30 window
        // closed, though the clock going back reopens it at 02:00 CET.
        ("fall back: after the end, before the repeat", "01:00", "02:30", utc(2026, 10, 25, 0, 45, 0), None),
        ("fall back: the repeated hour is inside", "01:00", "02:30", utc(2026, 10, 25, 1, 0, 0), Some("maintenant")),
        // A window inside the skipped hour of 2026-03-29 does not open that day.
        ("spring gap: before the skipped start", "02:15", "02:45", paris(2026, 3, 29, 1, 0, 0), Some("02:15")),
        ("spring gap: clock past the skipped window", "02:15", "02:45", paris(2026, 3, 29, 3, 0, 0), None),
    ];
    for (label, start, end, now, expected) in cases {
        let d = windowed(start, end);
        assert_eq!(
            gate_kind(&d, DESABO, now),
            send(expected, Some(end)),
            "{label}"
        );
        let closed_before = expected.is_some_and(|s| s != "maintenant");
        assert_eq!(
            before_window_opens(&d.webhook, now, Paris),
            closed_before,
            "{label}"
        );
    }
    // No usable window: never "before it opens".
    let now = paris(2026, 3, 10, 3, 0, 0);
    assert!(!before_window_opens(&docs().webhook, now, Paris));
    assert!(!before_window_opens(
        &windowed("25:00", "18:00").webhook,
        now,
        Paris
    ));
}

#[test]
fn inside_window_every_kind_is_sent_now() {
    let d = windowed("09:00", "18:00");
    let now = paris(2026, 3, 10, 12, 0, 0);
    for kind in ALL_KINDS {
        assert_eq!(
            gate_kind(&d, kind, now),
            send(Some("maintenant"), Some("18:00")),
            "{kind:?}"
        );
    }
}

#[test]
fn held_email_is_sent_when_rechecked_at_the_opening() {
    let d = windowed("09:00", "18:00");
    let GateDecision::Hold { until_ms, .. } =
        gate_kind(&d, GateKind::Undetected, paris(2026, 3, 10, 23, 0, 0))
    else {
        panic!("expected a hold");
    };
    assert_eq!(
        gate_kind(&d, GateKind::Undetected, until_ms),
        send(Some("maintenant"), Some("18:00"))
    );
}

// ---------------------------------------------------------------- absence

#[test]
fn absence_on_each_weekday() {
    let names = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    // 2026-03-02 is a Monday.
    for (i, absent) in names.iter().enumerate() {
        let d = absent_on(&[absent]);
        for (j, day) in names.iter().enumerate() {
            let noon = paris(2026, 3, 2 + j as u32, 12, 0, 0);
            assert_eq!(
                absence_today(&d.webhook, noon, Paris),
                i == j,
                "absent {absent}, on {day}"
            );
        }
        let mut off = d.clone();
        off.webhook.absence_pause_enabled = false;
        assert!(!absence_today(
            &off.webhook,
            paris(2026, 3, 2 + i as u32, 12, 0, 0),
            Paris
        ));
    }
}

#[test]
fn absence_uses_the_local_day() {
    let sunday = absent_on(&["sunday"]);
    let monday = absent_on(&["monday"]);
    // 23:30 UTC on Sunday is already Monday 00:30 in Paris.
    let t = utc(2026, 3, 8, 23, 30, 0);
    assert!(!absence_today(&sunday.webhook, t, Paris));
    assert!(absence_today(&monday.webhook, t, Paris));
    assert!(absence_today(
        &sunday.webhook,
        paris(2026, 3, 8, 23, 59, 59),
        Paris
    ));
    assert!(!absence_today(
        &sunday.webhook,
        paris(2026, 3, 9, 0, 0, 0),
        Paris
    ));
    // French names from an environment default are understood too.
    assert!(absence_today(
        &absent_on(&["Samedi"]).webhook,
        paris(2026, 3, 7, 12, 0, 0),
        Paris
    ));
}

#[test]
fn absence_holds_everything_until_the_next_working_day() {
    let d = absent_on(&["saturday", "sunday"]);
    let saturday = paris(2026, 3, 7, 10, 0, 0);
    let monday = paris(2026, 3, 9, 0, 0, 0);
    for kind in ALL_KINDS {
        assert_eq!(
            gate_kind(&d, kind, saturday),
            hold(monday, HoldReason::Absence),
            "{kind:?}"
        );
    }
    // Before the window and before the sending switch.
    let mut both = d.clone();
    both.webhook.webhook_time_start = Some("09:00".into());
    both.webhook.webhook_time_end = Some("18:00".into());
    both.flags.webhook_sending_enabled = false;
    assert_eq!(
        gate_kind(&both, URGENT, paris(2026, 3, 8, 12, 0, 0)),
        hold(monday, HoldReason::Absence)
    );
    // Monday itself is not held.
    assert_eq!(gate_kind(&d, URGENT, monday), send(None, None));
}

#[test]
fn absence_hold_end_edge_cases() {
    // Across the spring change: Monday 00:00 CEST is Sunday 22:00 UTC.
    let d = absent_on(&["sunday"]);
    assert_eq!(
        gate_kind(&d, URGENT, paris(2026, 3, 29, 12, 0, 0)),
        hold(utc(2026, 3, 29, 22, 0, 0), HoldReason::Absence)
    );
    // Every day an absence day: re-checked at the start of tomorrow.
    let all = absent_on(&[
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]);
    assert_eq!(
        gate_kind(&all, URGENT, paris(2026, 3, 10, 15, 0, 0)),
        hold(paris(2026, 3, 11, 0, 0, 0), HoldReason::Absence)
    );
}

// ---------------------------------------------------------------- keywords and links

#[test]
fn exclude_keywords() {
    let mut d = docs();
    d.prefs.exclude_keywords = vec!["SPAM".into(), "Réunion".into(), "relance".into()];
    let now = paris(2026, 3, 10, 12, 0, 0);
    let run = |subject: &str, body: &str| gate(&d, &URGENT, true, subject, body, now, Paris);
    let excluded = |k: &str| skip(SkipReason::ExcludedKeyword(k.into()));
    assert_eq!(run("Buy spam now", "x"), excluded("SPAM"));
    assert_eq!(run("Hello", "<p>This is SpAm</p>"), excluded("SPAM"));
    assert_eq!(run("REUNION lundi", "x"), excluded("Réunion"));
    assert_eq!(run("Relancé", "x"), excluded("relance"));
    assert_eq!(run("Rele\u{301}ve", "une relance"), excluded("relance"));
    assert_eq!(run("Bonjour", "Rien à signaler"), send(None, None));
    // Order of the list decides which keyword is reported.
    assert_eq!(run("spam et réunion", "x"), excluded("SPAM"));
    // Keywords win over everything else: no links, absence, window.
    let mut strict = absent_on(&["tuesday"]);
    strict.prefs.exclude_keywords = vec!["spam".into()];
    assert_eq!(
        gate(&strict, &URGENT, false, "spam", "", now, Paris),
        excluded("spam")
    );
    // Blank keywords never exclude everything.
    let mut blank = docs();
    blank.prefs.exclude_keywords = vec!["  ".into(), String::new()];
    assert_eq!(
        gate(&blank, &URGENT, true, "a", "b", now, Paris),
        send(None, None)
    );
}

#[test]
fn no_links_policy() {
    let now = paris(2026, 3, 10, 12, 0, 0);
    let mut d = docs();
    assert_eq!(
        gate(&d, &URGENT, false, "s", "b", now, Paris),
        skip(SkipReason::NoLinks)
    );
    assert_eq!(
        gate(&d, &GateKind::Undetected, false, "s", "b", now, Paris),
        skip(SkipReason::NoLinks)
    );
    assert_eq!(
        gate(&d, &URGENT, true, "s", "b", now, Paris),
        send(None, None)
    );
    d.flags.allow_custom_webhook_without_links = true;
    assert_eq!(
        gate(&d, &URGENT, false, "s", "b", now, Paris),
        send(None, None)
    );
    assert_eq!(
        gate(&d, &GateKind::Undetected, false, "s", "b", now, Paris),
        send(None, None)
    );
    // Checked before absence and the window.
    let mut w = windowed("09:00", "18:00");
    w.webhook.absence_pause_enabled = true;
    w.webhook.absence_pause_days = vec!["tuesday".into()];
    let night = paris(2026, 3, 10, 22, 0, 0);
    assert_eq!(
        gate(&w, &GateKind::Recadrage, false, "s", "b", night, Paris),
        skip(SkipReason::NoLinks)
    );
}

// ---------------------------------------------------------------- sending switch

#[test]
fn sending_disabled_by_either_document() {
    let now = paris(2026, 3, 10, 12, 0, 0);
    let recheck = now + 15 * MIN_MS;
    let mut by_flag = docs();
    by_flag.flags.webhook_sending_enabled = false;
    let mut by_config = docs();
    by_config.webhook.webhook_sending_enabled = false;
    for d in [&by_flag, &by_config] {
        for kind in ALL_KINDS {
            assert_eq!(
                gate_kind(d, kind, now),
                hold(recheck, HoldReason::SendingDisabled),
                "{kind:?}"
            );
        }
    }
    // The window comes first: a recadrage outside it is skipped, an urgent DESABO waits for the
    // opening, a non-urgent DESABO (sent outside the window) waits for the switch.
    let mut w = windowed("09:00", "18:00");
    w.flags.webhook_sending_enabled = false;
    let night = paris(2026, 3, 10, 22, 0, 0);
    assert_eq!(
        gate_kind(&w, GateKind::Recadrage, night),
        skip(SkipReason::RecadrageOutsideWindow)
    );
    assert_eq!(
        gate_kind(&w, URGENT, night),
        hold(paris(2026, 3, 11, 9, 0, 0), HoldReason::OutsideWindow)
    );
    assert_eq!(
        gate_kind(&w, DESABO, night),
        hold(night + 15 * MIN_MS, HoldReason::SendingDisabled)
    );
}

#[test]
fn ingest_blocking() {
    let tuesday = paris(2026, 3, 10, 12, 0, 0);
    assert_eq!(sending_blocked_at_ingest(&docs(), tuesday, Paris), None);
    assert_eq!(
        sending_blocked_at_ingest(&absent_on(&["tuesday"]), tuesday, Paris),
        Some(HoldReason::Absence)
    );
    assert_eq!(
        sending_blocked_at_ingest(&absent_on(&["monday", "wednesday"]), tuesday, Paris),
        None
    );
    let mut by_flag = docs();
    by_flag.flags.webhook_sending_enabled = false;
    assert_eq!(
        sending_blocked_at_ingest(&by_flag, tuesday, Paris),
        Some(HoldReason::SendingDisabled)
    );
    let mut by_config = docs();
    by_config.webhook.webhook_sending_enabled = false;
    assert_eq!(
        sending_blocked_at_ingest(&by_config, tuesday, Paris),
        Some(HoldReason::SendingDisabled)
    );
    let mut both = absent_on(&["tuesday"]);
    both.flags.webhook_sending_enabled = false;
    assert_eq!(
        sending_blocked_at_ingest(&both, tuesday, Paris),
        Some(HoldReason::Absence)
    );
    // The window never blocks the ingest: held e-mails wait in the queue.
    assert_eq!(
        sending_blocked_at_ingest(
            &windowed("09:00", "18:00"),
            paris(2026, 3, 10, 23, 0, 0),
            Paris
        ),
        None
    );
}

// ---------------------------------------------------------------- holds and texts

#[test]
fn hold_delays() {
    let now = 1_767_225_600_000;
    assert_eq!(hold_delay_secs(now, now), 0);
    assert_eq!(hold_delay_secs(now - 5_000, now), 0);
    assert_eq!(hold_delay_secs(now + 1, now), 1);
    assert_eq!(hold_delay_secs(now + 1_000, now), 1);
    assert_eq!(hold_delay_secs(now + 1_001, now), 2);
    assert_eq!(hold_delay_secs(now + 15 * MIN_MS, now), 900);
    assert_eq!(
        hold_delay_secs(now + 12 * HOUR_MS, now),
        MAX_QUEUE_DELAY_SECS
    );
    assert_eq!(
        hold_delay_secs(now + 12 * HOUR_MS + 1_000, now),
        MAX_QUEUE_DELAY_SECS
    );
    assert_eq!(
        hold_delay_secs(now + 3 * 24 * HOUR_MS, now),
        MAX_QUEUE_DELAY_SECS
    );
    assert_eq!(hold_delay_secs(i64::MAX, i64::MIN), MAX_QUEUE_DELAY_SECS);
    assert_eq!(hold_delay_secs(i64::MIN, i64::MAX), 0);
    // A 30-hour hold is three hops: 12 h, 12 h, 6 h.
    let until = now + 30 * HOUR_MS;
    let (mut t, mut hops) = (now, Vec::new());
    loop {
        let delay = hold_delay_secs(until, t);
        if delay == 0 {
            break;
        }
        hops.push(delay);
        t += i64::from(delay) * 1_000;
    }
    assert_eq!(hops, [43_200, 43_200, 21_600]);
}

#[test]
fn reason_texts_are_stable() {
    assert_eq!(
        SkipReason::ExcludedKeyword("SPAM".into()).as_str(),
        "excluded_keyword:SPAM"
    );
    assert_eq!(SkipReason::NoLinks.as_str(), "no_links");
    assert_eq!(
        SkipReason::RecadrageOutsideWindow.as_str(),
        "recadrage_outside_window"
    );
    assert_eq!(HoldReason::Absence.as_str(), "absence");
    assert_eq!(HoldReason::OutsideWindow.as_str(), "outside_window");
    assert_eq!(HoldReason::SendingDisabled.as_str(), "sending_disabled");
    assert_eq!(HoldReason::OutsideWindow.to_string(), "outside_window");
    assert_eq!(SkipReason::NoLinks.to_string(), "no_links");
}

#[test]
fn kinds_from_detections() {
    let recadrage = Detection::Recadrage {
        delivery_time: "10h00".into(),
    };
    assert_eq!(recadrage.gate_kind(), GateKind::Recadrage);
    assert_eq!(Detection::Desabo { urgent: true }.gate_kind(), URGENT);
    assert_eq!(Detection::Desabo { urgent: false }.gate_kind(), DESABO);
    assert_eq!(Detection::None.gate_kind(), GateKind::Undetected);
}

#[test]
fn absurd_clocks_do_not_panic() {
    let mut d = windowed("09:00", "18:00");
    d.webhook.absence_pause_enabled = true;
    d.webhook.absence_pause_days = vec!["monday".into()];
    for now in [i64::MIN, i64::MAX, 0, -1] {
        let _ = window_state(&d.webhook, now, Paris);
        let _ = absence_today(&d.webhook, now, Paris);
        let _ = sending_blocked_at_ingest(&d, now, Paris);
        for kind in ALL_KINDS {
            let _ = gate(&d, &kind, false, "", "", now, Paris);
            let _ = gate(&d, &kind, true, "", "", now, Paris);
        }
    }
}
