//! The two detectors of SPEC §3: `recadrage` (a framing job with a delivery time) and
//! `desabonnement_journee_tarifs` (an unsubscription, possibly urgent).

use chrono::{DateTime, TimeDelta, Timelike};

use crate::analysis::links::{contains_url_ignore_ascii_case, has_provider_link};
use crate::base::text::{find_ascii_words, is_word_char, norm, norm_collapsed};
use crate::base::time::Zone;
use crate::gating::GateKind;

/// Detector name of a recadrage e-mail.
pub const RECADRAGE: &str = "recadrage";
/// Detector name of an unsubscription e-mail.
pub const DESABO: &str = "desabonnement_journee_tarifs";

/// Subject marker of a recadrage e-mail, matched as written.
const RECADRAGE_SUBJECT: &str = "Média Solution - Missions Recadrage - Lot";
/// Words `norm(subject)` must all contain when the marker is not there verbatim (single spaces:
/// whitespace is not collapsed for recadrage).
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

    /// What gating needs to know of this detection (SPEC §6 treats each detector its own way).
    pub fn gate_kind(&self) -> GateKind {
        match self {
            Detection::Recadrage { .. } => GateKind::Recadrage,
            Detection::Desabo { urgent } => GateKind::Desabo { urgent: *urgent },
            Detection::None => GateKind::Undetected,
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
    // SPEC §3: recadrage reads the subject's `norm` as is (a double space or a NBSP between the
    // marker's words is no match, as in the replaced system); only DESABO collapses whitespace.
    if let Some(delivery_time) = recadrage_time(subject, &norm(subject), body, now_local) {
        return Detection::Recadrage { delivery_time };
    }
    match desabo(&norm_collapsed(subject), body) {
        Some(urgent) => Detection::Desabo { urgent },
        None => Detection::None,
    }
}

/// The delivery time of a recadrage e-mail, or `None` when it is not one; `ns` is `norm(subject)`
/// (whitespace kept as it is).
fn recadrage_time(
    subject: &str,
    ns: &str,
    body: &str,
    now_local: DateTime<Zone>,
) -> Option<String> {
    let subject_ok = subject.contains(RECADRAGE_SUBJECT)
        || RECADRAGE_SUBJECT_WORDS.iter().all(|w| ns.contains(w));
    // Cheapest checks first: the body-wide searches only run on candidate e-mails.
    if !subject_ok || !has_provider_link(body) {
        return None;
    }
    delivery_time(ns, body, now_local)
}

/// The body as the delivery-time rules of SPEC §3 read it: one ASCII byte per character, so
/// the rules are plain byte comparisons with the Unicode meaning of the SPEC regexes.
///
/// - every run of Unicode whitespace (U+00A0, U+202F, tabs, newlines…) is one space: the rules
///   only have `\s+`, which matches a run whatever its length;
/// - ASCII letters are lowercased (the rules are case-insensitive; no other letter folds to one
///   of `faire pour le h`, the only letters they have);
/// - `à`, `À`, and `a`/`A` + U+0300 (a decomposed `à`, the same character for a reader) are `_`,
///   the `(?:à|a)` of the rules being `_` or `a`; a real `_` becomes `x`;
/// - other word characters of a Unicode `\w` ([`is_word_char`]) are `x` and everything else
///   (punctuation, symbols) `#`, so `\b` is a test on ASCII bytes.
///
/// Consequence: only ASCII digits are digits. `\d` was Unicode in the previous regex engine and
/// in the Python original; a time written with other digits (`١٠h`, full-width `１０h`) is no
/// longer found, and such digits still count as word characters for `\b`.
fn time_view(body: &str) -> String {
    let bytes = body.as_bytes();
    let mut view = Vec::with_capacity(bytes.len());
    let mut space = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let out = if b.is_ascii() {
            i += 1;
            ASCII_VIEW[usize::from(b)]
        } else {
            let Some(c) = body.get(i..).and_then(|rest| rest.chars().next()) else {
                break;
            };
            i += c.len_utf8();
            match c {
                c if c.is_whitespace() => SPACE,
                'à' | 'À' => b'_',
                '\u{300}' if !space && view.last() == Some(&b'a') => {
                    view.pop();
                    b'_'
                }
                c if is_word_char(c) => b'x',
                _ => b'#',
            }
        };
        if out == SPACE {
            space = true;
        } else {
            if space {
                view.push(b' ');
                space = false;
            }
            view.push(out);
        }
    }
    // Every byte pushed is ASCII.
    String::from_utf8(view).unwrap_or_default()
}

/// Marks whitespace in [`ASCII_VIEW`].
const SPACE: u8 = 0;

/// The time-view byte of each ASCII byte ([`SPACE`] for whitespace).
const ASCII_VIEW: [u8; 128] = {
    let mut table = [0; 128];
    let mut b = 0;
    while b < 128 {
        table[b] = match b as u8 {
            b' ' | b'\t'..=b'\r' => SPACE,
            b'_' => b'x',
            b => b.to_ascii_lowercase(),
        };
        b += 1;
    }
    table
};

/// Whether the byte of the time view at `i` is a word character (`false` out of range).
fn word_at(view: &[u8], i: usize) -> bool {
    view.get(i)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// Length of the run of ASCII digits at `i`, counted up to `cap` (enough to tell a run that is
/// too long for a rule from one that fits).
fn digits_at(view: &[u8], i: usize, cap: usize) -> usize {
    view.get(i..).map_or(0, |rest| {
        rest.iter()
            .take(cap)
            .take_while(|b| b.is_ascii_digit())
            .count()
    })
}

/// A delivery time being read from the time view: a cursor and the captured numbers.
struct Reader<'v> {
    view: &'v str,
    at: usize,
    groups: Vec<&'v str>,
}

impl<'v> Reader<'v> {
    fn new(view: &'v str, at: usize) -> Self {
        Reader {
            view,
            at,
            groups: Vec::with_capacity(5),
        }
    }

    fn byte(&self, i: usize) -> Option<u8> {
        self.view.as_bytes().get(i).copied()
    }

    /// Consumes `text` if it is next.
    fn lit(&mut self, text: &str) -> Option<()> {
        let end = self.at + text.len();
        (self.view.as_bytes().get(self.at..end)? == text.as_bytes()).then(|| self.at = end)
    }

    /// `(?:à|a)\s+`.
    fn a_grave(&mut self) -> Option<()> {
        matches!(self.byte(self.at)?, b'_' | b'a').then_some(())?;
        self.at += 1;
        self.lit(" ")
    }

    /// `(\d{min,max})` followed by something that is not a digit: the run must fit, as a longer
    /// run leaves a digit where the rest of the rule needs a letter, `/` or `:` (or, for
    /// `(\d{4})\s+`, a space); with `greedy_tail` (a final `(\d{0,2})`, nothing after it) the
    /// first `max` digits are taken whatever follows.
    fn num(&mut self, min: usize, max: usize, greedy_tail: bool) -> Option<()> {
        let run = digits_at(self.view.as_bytes(), self.at, max + 1);
        let take = if greedy_tail { run.min(max) } else { run };
        if take < min || take > max {
            return None;
        }
        self.groups.push(self.view.get(self.at..self.at + take)?);
        self.at += take;
        Some(())
    }

    /// `(?:(?:à|a)\s+)?`: the group is taken when it is there (a digit must follow either way,
    /// and `_`/`a` is not one, so the regex could not match by skipping it).
    fn optional_a_grave(&mut self) {
        let save = self.at;
        if self.a_grave().is_none() {
            self.at = save;
        }
    }

    /// `(\d{1,2})h(\d{0,2})` (`Dated`/`Time` rules 2 and 4) or `(\d{1,2}):(\d{2})` (3 and 5).
    fn clock(&mut self, colon: bool) -> Option<()> {
        self.num(1, 2, false)?;
        if colon {
            self.lit(":")?;
            self.num(2, 2, true)
        } else {
            self.lit("h")?;
            self.num(0, 2, true)
        }
    }
}

/// How a delivery-time rule's captures become the delivery time.
#[derive(Clone, Copy)]
enum Shape {
    /// Captures day, month, year, hour, minute → `le DD/MM/YYYY à HHhMM`.
    Dated,
    /// Captures hour, minute → `HHhMM`.
    Time,
}

/// The `faire pour ` of rules 2 to 5, as it is in the time view (whitespace runs are one space).
const TODO: &str = "faire pour ";

/// Rules 2 to 5 of SPEC §3 on the time view, the first match of the rule (leftmost):
/// 2. `(?:à|a)\s+faire\s+pour\s+le\s+(\d{1,2})/(\d{1,2})/(\d{4})\s+(?:à|a)\s+(?:(?:à|a)\s+)?(\d{1,2})h(\d{0,2})`
/// 3. the same date prefix with `(\d{1,2}):(\d{2})`
/// 4. `(?:à|a)\s+faire\s+pour\s+(?:(?:à|a)\s+)?(\d{1,2})h(\d{0,2})`
/// 5. `(?:à|a)\s+faire\s+pour\s+(?:(?:à|a)\s+)?(\d{1,2}):(\d{2})`
///
/// A match starts two bytes before a `faire pour ` (`_ ` or `a `), so the candidates are the
/// occurrences of that text, found by a substring search, and each is read in constant time.
fn todo_rule(view: &str, dated: bool, colon: bool) -> Option<Vec<&str>> {
    view.match_indices(TODO).find_map(|(at, _)| {
        let mut r = Reader::new(view, at.checked_sub(2)?);
        r.a_grave()?;
        r.lit(TODO)?;
        if dated {
            r.lit("le ")?;
            r.num(1, 2, false)?;
            r.lit("/")?;
            r.num(1, 2, false)?;
            r.lit("/")?;
            r.num(4, 4, false)?;
            r.lit(" ")?;
            r.a_grave()?;
        }
        r.optional_a_grave();
        r.clock(colon)?;
        Some(r.groups)
    })
}

/// Rules 6 and 7 of SPEC §3 on the time view: `\b(\d{1,2})h(\d{0,2})\b` and
/// `\b(\d{1,2}):(\d{2})\b`, the first match. A match starts at a digit after a non-word byte,
/// i.e. at the start of a run of digits, so each run is looked at once.
fn clock_anywhere(view: &str, colon: bool) -> Option<Vec<&str>> {
    let bytes = view.as_bytes();
    let mut i = 0;
    while let Some(offset) = bytes.get(i..)?.iter().position(u8::is_ascii_digit) {
        let start = i + offset;
        let run = start + digits_at(bytes, start, usize::MAX);
        i = run;
        if start > 0 && word_at(bytes, start - 1) {
            continue;
        }
        let mut r = Reader::new(view, start);
        // The `\b` after the minutes: a digit (a run too long for them) or a letter right
        // after is no boundary.
        if r.clock(colon).is_some() && !word_at(bytes, r.at) {
            return Some(r.groups);
        }
    }
    None
}

/// A delivery-time rule on the time view: the captured numbers of its first match.
type TimeRule = fn(&str) -> Option<Vec<&str>>;

/// Rules 2 to 7 of SPEC §3, in order (rule 1, URGENCE, reads the subject).
const TIME_RULES: [(TimeRule, Shape); 6] = [
    (|v| todo_rule(v, true, false), Shape::Dated),
    (|v| todo_rule(v, true, true), Shape::Dated),
    (|v| todo_rule(v, false, false), Shape::Time),
    (|v| todo_rule(v, false, true), Shape::Time),
    (|v| clock_anywhere(v, false), Shape::Time),
    (|v| clock_anywhere(v, true), Shape::Time),
];

/// The delivery time by the first SPEC §3 rule that matches; `ns` is `norm(subject)`.
fn delivery_time(ns: &str, body: &str, now_local: DateTime<Zone>) -> Option<String> {
    if contains_word(ns, "urgence") {
        // Adding to a zoned time adds to the instant, so a DST change in the hour is honoured.
        // Formatted by hand: chrono's strftime parser is ~5 KB of wasm for one fixed pattern.
        let t = now_local + TimeDelta::hours(1);
        return Some(format!("{:02}h{:02}", t.hour(), t.minute()));
    }
    let view = time_view(body);
    TIME_RULES
        .iter()
        .find_map(|(rule, shape)| rule(&view).map(|groups| format_time(&groups, *shape)))
}

/// `\bword\b` with Unicode word characters ([`is_word_char`]), `word` starting and ending with
/// one.
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

fn format_time(groups: &[&str], shape: Shape) -> String {
    let group = |i: usize| groups.get(i).copied().unwrap_or("");
    match shape {
        Shape::Dated => format!(
            "le {}/{}/{} à {}",
            pad(group(0), 2),
            pad(group(1), 2),
            pad(group(2), 4),
            hhmm(group(3), group(4))
        ),
        Shape::Time => hhmm(group(0), group(1)),
    }
}

fn hhmm(hour: &str, minute: &str) -> String {
    let minute = if minute.is_empty() { "00" } else { minute };
    format!("{}h{}", pad(hour, 2), pad(minute, 2))
}

/// Left-pads with zeros to `width` characters (not range checked, as SPEC says).
fn pad(digits: &str, width: usize) -> String {
    let missing = width.saturating_sub(digits.chars().count());
    let mut out = "0".repeat(missing);
    out.push_str(digits);
    out
}

/// SPEC: "the lowercased raw body contains `https://www.dropbox.com/request/`". No non-ASCII
/// character lowercases to an ASCII letter of that text (only U+212A KELVIN SIGN and U+0130
/// lowercase to ASCII, `k` and `i`), so an ASCII-only case-insensitive search is the same test
/// without a lowercased copy of a body that can be 25 MB.
const DROPBOX_REQUEST: &str = "https://www.dropbox.com/request/";

/// `Some(urgent)` when the e-mail is a DESABO; `ns` is the collapsed normalised subject.
/// Every word looked for is ASCII, so the body is read through [`find_ascii_words`]: the
/// same answers as searching `norm_collapsed(body)`, in memory that does not grow with the
/// body (it can be 25 MB of Hangul, which NFD triples).
fn desabo(ns: &str, body: &str) -> Option<bool> {
    // The first five are looked for; the rest, words of invoices and cancellations, rule an
    // unsubscription out.
    const WORDS: [&str; 11] = [
        "journee",
        "tarifs habituels",
        "desabonn",
        "urgent",
        "urgence",
        "annulation",
        "facturation",
        "facture",
        "moment",
        "reference client",
        "total ht",
    ];
    let found = find_ascii_words(body, &WORDS);
    let nb = |w: &str| WORDS.iter().position(|x| *x == w).is_some_and(|i| found[i]);
    let matches = nb("journee")
        && nb("tarifs habituels")
        && (nb("desabonn")
            || ns.contains("desabonn")
            || contains_url_ignore_ascii_case(body, DROPBOX_REQUEST))
        && !found[5..].iter().any(|&forbidden| forbidden);
    matches.then(|| {
        ["urgent", "urgence"]
            .iter()
            .any(|w| ns.contains(w) || nb(w))
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

    /// Random strings over `alphabet` (xorshift, reproducible).
    fn random_strings<'a>(alphabet: &'a [&'a str], n: usize) -> impl Iterator<Item = String> + 'a {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..n).map(move |_| {
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let len = next() % 24;
            (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect()
        })
    }

    /// The SPEC §3 rules 2 to 7 as regexes, on the time view (`(?:à|a)` is `(?:_|a)` there),
    /// run by `regex-lite`: the reference the hand-written rules must agree with.
    fn reference_rules() -> Vec<regex_lite::Regex> {
        let a = "(?:_|a)";
        let dated = format!(
            r"(?i){a}\s+faire\s+pour\s+le\s+(\d{{1,2}})/(\d{{1,2}})/(\d{{4}})\s+{a}\s+(?:{a}\s+)?"
        );
        let todo = format!(r"(?i){a}\s+faire\s+pour\s+(?:{a}\s+)?");
        [
            format!(r"{dated}(\d{{1,2}})h(\d{{0,2}})"),
            format!(r"{dated}(\d{{1,2}}):(\d{{2}})"),
            format!(r"{todo}(\d{{1,2}})h(\d{{0,2}})"),
            format!(r"{todo}(\d{{1,2}}):(\d{{2}})"),
            r"(?i)\b(\d{1,2})h(\d{0,2})\b".to_string(),
            r"\b(\d{1,2}):(\d{2})\b".to_string(),
        ]
        .iter()
        .map(|p| regex_lite::Regex::new(p).expect("reference regex"))
        .collect()
    }

    #[test]
    fn hand_written_rules_agree_with_the_spec_regexes() {
        let reference = reference_rules();
        let alphabet = [
            "à",
            "À",
            "a",
            "A",
            "a\u{300}",
            "\u{300}",
            " ",
            "  ",
            "\u{a0}",
            "\n",
            "faire",
            "FAIRE",
            "pour",
            "le",
            "h",
            "H",
            ":",
            "/",
            "0",
            "1",
            "9",
            "12",
            "2026",
            "123",
            "x",
            "é",
            "_",
            "-",
            "<b>",
            "«",
            "١",
            "½",
            " à faire pour ",
            "le 1/2/2026 ",
            "9h",
            "10:30",
        ];
        let mut matched = 0;
        for body in random_strings(&alphabet, 10_000) {
            let view = time_view(&body);
            for ((rule, _), re) in TIME_RULES.iter().zip(&reference) {
                let expected: Option<Vec<&str>> = re.captures(&view).map(|c| {
                    c.iter()
                        .skip(1)
                        .map(|m| m.map_or("", |m| m.as_str()))
                        .collect()
                });
                matched += usize::from(expected.is_some());
                assert_eq!(rule(&view), expected, "{body:?} (view {view:?})");
            }
        }
        assert!(matched > 250, "the inputs exercise the rules ({matched})");
    }

    #[test]
    fn time_view_maps_every_character_to_one_ascii_byte() {
        let cases = [
            ("À faire\u{a0}\u{202f} pour", "_ faire pour"),
            ("A\u{300}a\u{300}\u{300} a \u{300}", "__x a x"),
            ("Étude_9H «ok» ١٠ ½", "xtudex9h #ok# xx x"),
            ("\t\n x \r\n", " x"),
            ("", ""),
        ];
        for (body, view) in cases {
            assert_eq!(time_view(body), view, "{body:?}");
        }
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
