//! The two detectors of SPEC §3: `recadrage` (a framing job with a delivery time) and
//! `desabonnement_journee_tarifs` (an unsubscription, possibly urgent).

use std::sync::LazyLock;

use chrono::{DateTime, TimeDelta, Timelike};
use super::time::Zone;
use regex::{Captures, Regex};

use super::links::has_provider_link;
use super::text::norm_collapsed;

/// Detector name of a recadrage e-mail.
pub const RECADRAGE: &str = "recadrage";
/// Detector name of an unsubscription e-mail.
pub const DESABO: &str = "desabonnement_journee_tarifs";

/// Subject marker of a recadrage e-mail, matched as written.
const RECADRAGE_SUBJECT: &str = "Média Solution - Missions Recadrage - Lot";
/// Words the normalised subject must all contain when the marker is not there verbatim.
const RECADRAGE_SUBJECT_WORDS: [&str; 3] = ["media solution", "missions recadrage", "lot"];

/// What an e-mail was recognised as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection {
    /// A recadrage job, with its delivery time (`HHhMM` or `le DD/MM/YYYY à HHhMM`).
    Recadrage { delivery_time: String },
    /// An unsubscription; `urgent` decides how the sending window treats it (SPEC §6).
    Desabo { urgent: bool },
    /// Neither detector matched.
    None,
}

impl Detection {
    /// The `detector` payload value, if any.
    pub fn detector_name(&self) -> Option<&'static str> {
        match self {
            Detection::Recadrage { .. } => Some(RECADRAGE),
            Detection::Desabo { .. } => Some(DESABO),
            Detection::None => None,
        }
    }

    /// The `delivery_time` payload value (recadrage only).
    pub fn delivery_time(&self) -> Option<&str> {
        match self {
            Detection::Recadrage { delivery_time } => Some(delivery_time),
            _ => None,
        }
    }
}

/// Runs the detectors in SPEC order (recadrage first). `now_local` is the current time in
/// `POLLING_TIMEZONE`; it is only read for an urgent recadrage.
pub fn detect(subject: &str, body: &str, now_local: DateTime<Zone>) -> Detection {
    // The subject is normalised once for both detectors. Collapsing whitespace on top of SPEC's
    // `norm` only widens the recadrage subject test (a NBSP or a double space between words
    // still matches) and never changes a `\b` boundary.
    let ns = norm_collapsed(subject);
    if let Some(delivery_time) = recadrage_time(subject, &ns, body, now_local) {
        return Detection::Recadrage { delivery_time };
    }
    match desabo(&ns, body) {
        Some(urgent) => Detection::Desabo { urgent },
        None => Detection::None,
    }
}

/// The delivery time of a recadrage e-mail, or `None` when it is not one.
fn recadrage_time(subject: &str, ns: &str, body: &str, now_local: DateTime<Zone>) -> Option<String> {
    let subject_ok = subject.contains(RECADRAGE_SUBJECT)
        || RECADRAGE_SUBJECT_WORDS.iter().all(|w| ns.contains(w));
    // Cheapest checks first: the body-wide regexes only run on candidate e-mails.
    if !subject_ok || !has_provider_link(body) {
        return None;
    }
    delivery_time(ns, body, now_local)
}

/// `(?:à|a)` of SPEC §3. A decomposed `à` (`a` + U+0300) is the same character for a reader, so
/// it is accepted too; with `(?i)` this also covers `À`/`A`.
macro_rules! a_grave {
    () => {
        r"(?:à|a\x{300}?)"
    };
}

/// The date prefix shared by rules 2 and 3.
macro_rules! dated_prefix {
    () => {
        concat!(
            a_grave!(),
            r"\s+faire\s+pour\s+le\s+(\d{1,2})/(\d{1,2})/(\d{4})\s+",
            a_grave!(),
            r"\s+(?:",
            a_grave!(),
            r"\s+)?"
        )
    };
}

/// The `à faire pour [à]` prefix of rules 4 and 5.
macro_rules! todo_prefix {
    () => {
        concat!(a_grave!(), r"\s+faire\s+pour\s+(?:", a_grave!(), r"\s+)?")
    };
}

/// How a delivery-time rule's captures become the delivery time.
#[derive(Clone, Copy)]
enum Shape {
    /// Captures day, month, year, hour, minute → `le DD/MM/YYYY à HHhMM`.
    Dated,
    /// Captures hour, minute → `HHhMM`.
    Time,
}

/// Rules 2 to 7 of SPEC §3, in order (rule 1, URGENCE, needs no regex on the body). All are
/// case-insensitive except rule 7, which only matches digits anyway.
static TIME_RULES: LazyLock<Vec<(Regex, Shape)>> = LazyLock::new(|| {
    let rules: [(&str, Shape); 6] = [
        (
            concat!("(?i)", dated_prefix!(), r"(\d{1,2})h(\d{0,2})"),
            Shape::Dated,
        ),
        (
            concat!("(?i)", dated_prefix!(), r"(\d{1,2}):(\d{2})"),
            Shape::Dated,
        ),
        (
            concat!("(?i)", todo_prefix!(), r"(\d{1,2})h(\d{0,2})"),
            Shape::Time,
        ),
        (
            concat!("(?i)", todo_prefix!(), r"(\d{1,2}):(\d{2})"),
            Shape::Time,
        ),
        (r"(?i)\b(\d{1,2})h(\d{0,2})\b", Shape::Time),
        (r"\b(\d{1,2}):(\d{2})\b", Shape::Time),
    ];
    rules
        .into_iter()
        .map(|(re, shape)| (Regex::new(re).expect("constant regex"), shape))
        .collect()
});

static URGENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\burgence\b").expect("constant regex"));

/// The delivery time by the first SPEC §3 rule that matches; `ns` is the normalised subject.
fn delivery_time(ns: &str, body: &str, now_local: DateTime<Zone>) -> Option<String> {
    if URGENCE.is_match(ns) {
        // Adding to a zoned time adds to the instant, so a DST change in the hour is honoured.
        // Formatted by hand: chrono's strftime parser is ~5 KB of wasm for one fixed pattern.
        let t = now_local + TimeDelta::hours(1);
        return Some(format!("{:02}h{:02}", t.hour(), t.minute()));
    }
    TIME_RULES
        .iter()
        .find_map(|(re, shape)| re.captures(body).map(|c| format_time(&c, *shape)))
}

fn format_time(c: &Captures<'_>, shape: Shape) -> String {
    let group = |i: usize| c.get(i).map_or("", |m| m.as_str());
    match shape {
        Shape::Dated => format!(
            "le {}/{}/{} à {}",
            pad(group(1), 2),
            pad(group(2), 2),
            pad(group(3), 4),
            hhmm(group(4), group(5))
        ),
        Shape::Time => hhmm(group(1), group(2)),
    }
}

fn hhmm(hour: &str, minute: &str) -> String {
    let minute = if minute.is_empty() { "00" } else { minute };
    format!("{}h{}", pad(hour, 2), pad(minute, 2))
}

/// Left-pads with zeros to `width` characters (not range checked, as SPEC says). Characters,
/// not bytes: `\d` is Unicode, as in the Python original, so a digit may be multi-byte.
fn pad(digits: &str, width: usize) -> String {
    let missing = width.saturating_sub(digits.chars().count());
    let mut out = "0".repeat(missing);
    out.push_str(digits);
    out
}

/// Body words that rule out an unsubscription (invoices, cancellations…).
const DESABO_FORBIDDEN: [&str; 6] = [
    "annulation",
    "facturation",
    "facture",
    "moment",
    "reference client",
    "total ht",
];

/// SPEC: "the lowercased raw body contains `https://www.dropbox.com/request/`". No non-ASCII
/// character lowercases to an ASCII letter of that text (only U+212A KELVIN SIGN and U+0130
/// lowercase to ASCII, `k` and `i`), so an ASCII-only case-insensitive search is the same test
/// without a lowercased copy of a body that can be 25 MB.
static DROPBOX_REQUEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i-u)https://www\.dropbox\.com/request/").expect("constant regex")
});

/// `Some(urgent)` when the e-mail is a DESABO; `ns` is the collapsed normalised subject.
fn desabo(ns: &str, body: &str) -> Option<bool> {
    let nb = norm_collapsed(body);
    let matches = nb.contains("journee")
        && nb.contains("tarifs habituels")
        && (nb.contains("desabonn") || ns.contains("desabonn") || DROPBOX_REQUEST.is_match(body))
        && !DESABO_FORBIDDEN.iter().any(|w| nb.contains(w));
    matches.then(|| {
        ["urgent", "urgence"]
            .iter()
            .any(|w| ns.contains(w) || nb.contains(w))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Zone> {
        chrono_tz::Europe::Paris
            .with_ymd_and_hms(2026, 6, 1, 9, 5, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn pads_by_characters() {
        assert_eq!(pad("7", 2), "07");
        assert_eq!(pad("123", 2), "123");
        assert_eq!(pad("", 2), "00");
    }

    #[test]
    fn recadrage_before_desabo() {
        let body = "https://fromsmash.com/x à faire pour 9h journée tarifs habituels désabonner";
        let d = detect("Média Solution - Missions Recadrage - Lot 3", body, now());
        assert_eq!(
            d,
            Detection::Recadrage {
                delivery_time: "09h00".into()
            }
        );
        assert_eq!(d.detector_name(), Some(RECADRAGE));
        assert_eq!(d.delivery_time(), Some("09h00"));
        let d = detect("Autre", body, now());
        assert_eq!(d, Detection::Desabo { urgent: false });
        assert_eq!(d.delivery_time(), None);
    }
}
