//! Evaluation of routing rules ([`route`]): which rule an e-mail matches and where it goes.

use std::cell::OnceCell;

use super::budget::{Meter, FOLD_COST, RULES_BUDGET, SCAN_COST};
use super::regex::cached_regex;
use super::RuleRef;
use super::{Condition, Field, Operator, Priority, RoutingRules, Rule, REGEX_WINDOW_BYTES};
use crate::base::text::fold_case;
use crate::config::normalize_webhook_url;

/// Where an e-mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDecision {
    /// `(id, name)` of the rule that matched, if any.
    pub matched_rule: Option<(String, String)>,
    /// Webhook URLs to deliver to, rule URL first, without duplicates; never empty.
    pub targets: Vec<String>,
    /// `normal` or `high` (the matched rule's; `normal` without a match).
    pub priority: String,
    /// The evaluation budget ran out before a rule matched: the rules from the one being
    /// evaluated on were not (a very large e-mail with many or costly conditions).
    pub budget_exhausted: bool,
    /// Units of the budget spent ([`RULES_BUDGET`] for [`route`]).
    pub budget_spent: u64,
}

impl RouteDecision {
    /// The matched rule, as the log and the delivery archive record it.
    pub fn rule(&self) -> Option<RuleRef> {
        self.matched_rule.as_ref().map(|(id, name)| RuleRef {
            id: id.clone(),
            name: name.clone(),
        })
    }
}

/// Why an e-mail has nowhere to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingError {
    /// No rule matched and no default webhook URL is configured.
    NoWebhookUrl,
}

impl std::fmt::Display for RoutingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoutingError::NoWebhookUrl => f.write_str(
                "no webhook URL: no routing rule matched and neither webhook_config.webhook_url nor WEBHOOK_URL is set",
            ),
        }
    }
}

/// The fields of one e-mail, each transformed (case-folded, lowercased, cut to the regex
/// window) at most once, only when a condition cannot be decided without it, and each
/// transformation charged to the meter when it is made. `None` from a method: the budget ran
/// out.
struct Fields<'a> {
    raw: [&'a str; 3],
    folded: [OnceCell<String>; 3],
    ascii_lower: [OnceCell<String>; 3],
    /// The regex window of the field ([`REGEX_WINDOW_BYTES`]), case-folded.
    folded_window: [OnceCell<String>; 3],
}

impl<'a> Fields<'a> {
    fn new(sender: &'a str, subject: &'a str, body: &'a str) -> Self {
        Fields {
            raw: [sender, subject, body],
            folded: Default::default(),
            ascii_lower: Default::default(),
            folded_window: Default::default(),
        }
    }

    fn index(field: Field) -> usize {
        match field {
            Field::Sender => 0,
            Field::Subject => 1,
            Field::Body => 2,
        }
    }

    fn raw(&self, field: Field) -> &'a str {
        self.raw[Self::index(field)]
    }

    /// The part of the field a regex reads: its first [`REGEX_WINDOW_BYTES`], cut on a
    /// character boundary.
    fn window(&self, field: Field) -> &'a str {
        let raw = self.raw(field);
        &raw[..floor_boundary(raw, REGEX_WINDOW_BYTES)]
    }

    /// The field case-folded ([`fold_case`]).
    fn folded(&self, field: Field, meter: &mut Meter) -> Option<&str> {
        let i = Self::index(field);
        once(&self.folded[i], meter, (self.raw[i], FOLD_COST), fold_case)
    }

    /// The regex window of the field, case-folded.
    fn folded_window(&self, field: Field, meter: &mut Meter) -> Option<&str> {
        let i = Self::index(field);
        once(
            &self.folded_window[i],
            meter,
            (self.window(field), FOLD_COST),
            fold_case,
        )
    }

    /// Whether the case fold of the field contains `needle` (already folded), the same answer
    /// as `self.folded(field).contains(needle)`, usually without folding the field.
    ///
    /// The needle's longest run of ASCII characters other than `k`, `s` and `i` (the anchor) is
    /// searched in the field with its ASCII letters lowercased (a copy that keeps every byte
    /// offset): only `x` and `X` fold to such a character `x` ([`fold_case`] sends just `K`
    /// KELVIN SIGN, `ſ` and `İ` to ASCII), so that finds every place a match can be. Each one
    /// is checked by folding the few bytes around it that a match can span (4 per needle
    /// character on each side). When the needle has no anchor, or the checks would cost more
    /// than folding the field twice, the field is folded.
    fn folded_contains(&self, field: Field, needle: &str, meter: &mut Meter) -> Option<bool> {
        let i = Self::index(field);
        let raw = self.raw[i];
        let anchor = ascii_anchor(needle);
        if anchor.is_empty() || self.folded[i].get().is_some() {
            let folded = self.folded(field, meter)?;
            meter.charge_bytes(folded.len(), SCAN_COST).then_some(())?;
            return Some(folded.contains(needle));
        }
        let lower = once(
            &self.ascii_lower[i],
            meter,
            (raw, SCAN_COST),
            str::to_ascii_lowercase,
        )?;
        meter.charge_bytes(lower.len(), SCAN_COST).then_some(())?;
        // `contains` has a SIMD search for short needles, `find` does not: most fields lack the
        // anchor, and that answer is then the cheapest one.
        if !lower.contains(anchor) {
            return Some(false);
        }
        let reach = 4 * needle.chars().count();
        let mut checks = 2 * raw.len() + 4096;
        let mut from = 0;
        while let Some(found) = lower.get(from..).and_then(|rest| rest.find(anchor)) {
            let at = from + found;
            let start = floor_boundary(raw, at.saturating_sub(reach));
            let end = ceil_boundary(raw, at + anchor.len() + reach);
            checks = checks.saturating_sub(end - start);
            if checks == 0 {
                let folded = self.folded(field, meter)?;
                meter.charge_bytes(folded.len(), SCAN_COST).then_some(())?;
                return Some(folded.contains(needle));
            }
            meter.charge_bytes(end - start, FOLD_COST).then_some(())?;
            if raw
                .get(start..end)
                .is_some_and(|window| fold_case(window).contains(needle))
            {
                return Some(true);
            }
            // The anchor starts with an ASCII byte: the next byte is a character boundary.
            // Overlapping occurrences are all looked at.
            from = at + 1;
        }
        Some(false)
    }
}

/// The value of a cell, made from `input` the first time once `cost` per byte of it is
/// charged; `None` when the budget cannot pay for it.
fn once<'c>(
    cell: &'c OnceCell<String>,
    meter: &mut Meter,
    (input, cost): (&str, u64),
    make: impl FnOnce(&str) -> String,
) -> Option<&'c str> {
    if let Some(v) = cell.get() {
        return Some(v);
    }
    meter.charge_bytes(input.len(), cost).then_some(())?;
    Some(cell.get_or_init(|| make(input)))
}
/// The longest run of ASCII characters of a folded needle that no non-ASCII character folds to
/// (all but `k`, `s`, `i`), or `""`.
fn ascii_anchor(needle: &str) -> &str {
    needle
        .split(|c: char| !c.is_ascii() || matches!(c, 'k' | 's' | 'i'))
        .max_by_key(|run| run.len())
        .unwrap_or("")
}

/// The character boundary at or before `i` (`i` clamped to the text).
fn floor_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The character boundary at or after `i` (`i` clamped to the text).
fn ceil_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Whether one condition holds (`None`: the budget ran out first). Case-insensitive
/// `contains` and `equals` compare case folds ([`fold_case`]: `σ`, `ς` and `Σ` are one letter,
/// accents are kept).
fn condition_matches(c: &Condition, fields: &Fields<'_>, meter: &mut Meter) -> Option<bool> {
    let value = c.value.as_str();
    let raw = fields.raw(c.field);
    match (c.operator, c.case_sensitive) {
        (Operator::Contains, true) => meter
            .charge_bytes(raw.len(), SCAN_COST)
            .then(|| raw.contains(value)),
        (Operator::Equals, true) => meter
            .charge_bytes(raw.len().min(value.len()), SCAN_COST)
            .then(|| raw == value),
        (Operator::Contains, false) => fields.folded_contains(c.field, &fold_case(value), meter),
        (Operator::Equals, false) => {
            let value = fold_case(value);
            // Folding never makes a text shorter in characters, and a character is at most
            // 4 bytes: a field of more bytes than that cannot fold to the value.
            if raw.len() > 4 * value.chars().count() {
                return Some(false);
            }
            meter
                .charge_bytes(raw.len(), FOLD_COST)
                .then(|| fold_case(raw) == value)
        }
        // Validated documents always compile; a stored document that no longer does (an older,
        // laxer writer, or a pattern the previous engine took and `regex-lite` does not, such as
        // a nested class `[a[b]]`) makes the condition false rather than the e-mail fail.
        (Operator::Regex, case_sensitive) => {
            let Ok(re) = cached_regex(value, case_sensitive) else {
                return Some(false);
            };
            let hay = if case_sensitive {
                fields.window(c.field)
            } else {
                fields.folded_window(c.field, meter)?
            };
            re.matches(hay, meter)
        }
    }
}

/// Whether every condition of a rule holds (`None`: the budget ran out first).
fn rule_matches(rule: &Rule, fields: &Fields<'_>, meter: &mut Meter) -> Option<bool> {
    for c in &rule.conditions {
        if !condition_matches(c, fields, meter)? {
            return Some(false);
        }
    }
    Some(true)
}

/// Picks the targets of an e-mail: the first rule (in order) whose conditions all match sends to
/// its URL, plus the default URL unless `stop_processing` or the URLs are equal; no match sends
/// to the default URL. `default_url` is `webhook_config.webhook_url`, else `WEBHOOK_URL`; blank
/// counts as absent. The rules are evaluated within [`RULES_BUDGET`].
pub fn route(
    rules: &RoutingRules,
    default_url: Option<&str>,
    sender_email: &str,
    subject: &str,
    body: &str,
) -> Result<RouteDecision, RoutingError> {
    route_within(
        RULES_BUDGET,
        rules,
        default_url,
        sender_email,
        subject,
        body,
    )
}

/// [`route`] within a budget of `budget` units: when it runs out, the rule being evaluated and
/// the ones after it do not match, and the decision says so.
pub fn route_within(
    budget: u64,
    rules: &RoutingRules,
    default_url: Option<&str>,
    sender_email: &str,
    subject: &str,
    body: &str,
) -> Result<RouteDecision, RoutingError> {
    let default_url = default_url
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(normalize_webhook_url);
    let fields = Fields::new(sender_email, subject, body);
    let mut meter = Meter::new(budget);
    let mut matched = None;
    for rule in &rules.rules {
        match rule_matches(rule, &fields, &mut meter) {
            Some(true) => {
                matched = Some(rule);
                break;
            }
            Some(false) => {}
            None => break,
        }
    }
    let (budget_exhausted, budget_spent) = (meter.exhausted(), meter.spent(budget));
    match matched {
        Some(rule) => {
            let mut targets = vec![rule.actions.webhook_url.clone()];
            if let Some(d) = default_url {
                if !rule.actions.stop_processing && d != rule.actions.webhook_url {
                    targets.push(d);
                }
            }
            Ok(RouteDecision {
                matched_rule: Some((rule.id.clone(), rule.name.clone())),
                targets,
                priority: rule.actions.priority.as_str().to_string(),
                budget_exhausted,
                budget_spent,
            })
        }
        None => default_url
            .map(|d| RouteDecision {
                matched_rule: None,
                targets: vec![d],
                priority: Priority::Normal.as_str().to_string(),
                budget_exhausted,
                budget_spent,
            })
            .ok_or(RoutingError::NoWebhookUrl),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::routing::MAX_VALUE_CHARS;

    fn unmetered() -> Meter {
        Meter::new(u64::MAX)
    }

    #[test]
    fn longest_case_insensitive_literal_matches() {
        // Letters with several case variants (k/K/KELVIN SIGN, s/S/long s, σ/ς/Σ): the longest
        // value matches itself written in the other cases. (With the previous engine these
        // values compiled to a regex, and this test checked that it fitted.)
        let value: String = "kſσsK".chars().cycle().take(MAX_VALUE_CHARS).collect();
        let other: String = "\u{212a}SΣſk"
            .chars()
            .cycle()
            .take(MAX_VALUE_CHARS)
            .collect();
        let cond = |operator| Condition {
            field: Field::Body,
            operator,
            value: value.clone(),
            case_sensitive: false,
        };
        let fields = Fields::new("", "", &other);
        let m = &mut unmetered();
        assert_eq!(
            condition_matches(&cond(Operator::Equals), &fields, m),
            Some(true)
        );
        assert_eq!(
            condition_matches(&cond(Operator::Contains), &fields, m),
            Some(true)
        );
    }

    #[test]
    fn anchored_search_agrees_with_folding_the_field() {
        let alphabet = [
            "a",
            "A",
            "b",
            "k",
            "K",
            "\u{212a}",
            "s",
            "S",
            "ſ",
            "i",
            "I",
            "İ",
            "\u{307}",
            "é",
            "É",
            "σ",
            "ς",
            "Σ",
            "ß",
            "1",
            " ",
            "ab",
            "AB",
            "abé",
            "ABÉ",
            "kſi",
            "\u{1f600}",
        ];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut pick = |max: u64| -> String {
            let len = next() % max;
            (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect()
        };
        let mut hits = 0;
        for _ in 0..20_000 {
            let hay = pick(30);
            let needle = fold_case(&pick(5));
            let fields = Fields::new("", "", &hay);
            let expected = fold_case(&hay).contains(&needle);
            hits += usize::from(expected);
            assert_eq!(
                fields.folded_contains(Field::Body, &needle, &mut unmetered()),
                Some(expected),
                "{hay:?} {needle:?}"
            );
        }
        assert!(hits > 2_000, "{hits}");
        // Many candidates exhaust the budget: the field is folded, same answer.
        let hay = format!("{}ABÉ", "ab".repeat(50_000));
        let fields = Fields::new("", "", &hay);
        assert_eq!(
            fields.folded_contains(Field::Body, "abé", &mut unmetered()),
            Some(true)
        );
        assert!(fields.folded[2].get().is_some(), "fell back to folding");
        assert_eq!(
            Fields::new("", "", &hay).folded_contains(Field::Body, "abéa", &mut unmetered()),
            Some(false)
        );
    }

    fn rules(conditions: &[(&str, &str, &str)]) -> RoutingRules {
        let doc = serde_json::json!({"rules": conditions.iter().enumerate().map(|(i, (field, op, value))| {
            serde_json::json!({"id": format!("r{i}"), "name": format!("R{i}"),
                "conditions": [{"field": field, "operator": op, "value": value}],
                "actions": {"webhook_url": format!("https://hook.example/r{i}")}})
        }).collect::<Vec<_>>()});
        crate::analysis::routing::validate_rules(&doc).expect("valid rules")
    }

    fn matched(d: &RouteDecision) -> Option<&str> {
        d.matched_rule.as_ref().map(|(id, _)| id.as_str())
    }

    #[test]
    fn rules_past_the_budget_do_not_match_and_the_decision_says_so() {
        let body = format!("{} needle", "x".repeat(1_000_000));
        let rs = rules(&[
            ("body", "contains", "absent"),
            ("body", "contains", "needle"),
        ]);
        let default = Some("https://hook.example/default");
        let full = route(&rs, default, "a@b.c", "s", &body).unwrap();
        assert_eq!(matched(&full), Some("r1"));
        assert!(!full.budget_exhausted);
        // Enough for the first body scan only: the second rule is not evaluated.
        let one_scan = (body.len() as u64) * SCAN_COST * 3;
        let cut = route_within(one_scan, &rs, default, "a@b.c", "s", &body).unwrap();
        assert_eq!(matched(&cut), None);
        assert_eq!(cut.targets, ["https://hook.example/default"]);
        assert!(cut.budget_exhausted && cut.budget_spent <= one_scan);
        // A rule that matches before the budget runs out still wins.
        let first = rules(&[("subject", "equals", "s"), ("body", "contains", "absent")]);
        let cheap = route_within(100, &first, default, "a@b.c", "s", &body).unwrap();
        assert_eq!(
            (matched(&cheap), cheap.budget_exhausted),
            (Some("r0"), false)
        );
    }

    #[test]
    fn a_regex_reads_the_window_of_its_field() {
        let body = format!("{} needle", "x".repeat(REGEX_WINDOW_BYTES));
        let rs = rules(&[("body", "regex", "need+le"), ("body", "contains", "needle")]);
        let d = route(&rs, None, "a@b.c", "s", &body).unwrap();
        assert_eq!(matched(&d), Some("r1"), "the regex stops at the window");
        let early = format!("needle {body}");
        assert_eq!(
            matched(&route(&rs, None, "a@b.c", "s", &early).unwrap()),
            Some("r0")
        );
    }

    #[test]
    fn a_costly_regex_on_hostile_text_stops_at_the_budget() {
        // The heaviest counted repetition accepted, on the text that keeps all its states busy.
        let body = "a".repeat(REGEX_WINDOW_BYTES);
        let rs = rules(&[
            ("body", "regex", "[a-z]{200}[0-9]"),
            ("sender", "equals", "a@b.c"),
        ]);
        let d = route(&rs, Some("https://hook.example/d"), "a@b.c", "s", &body).unwrap();
        assert!(d.budget_exhausted, "{d:?}");
        assert_eq!(matched(&d), None, "no rule after the one that ran out");
        assert!(d.budget_spent <= RULES_BUDGET);
        // The same regex reads a small body in full.
        let small = format!("{}7", "a".repeat(300));
        let d = route(&rs, None, "x@y.z", "s", &small).unwrap();
        assert_eq!((matched(&d), d.budget_exhausted), (Some("r0"), false));
    }

    #[test]
    fn anchors() {
        assert_eq!(ascii_anchor("colorimétrie"), "color");
        assert_eq!(ascii_anchor("commande"), "commande");
        assert_eq!(ascii_anchor("devis 2026"), " 2026");
        assert_eq!(ascii_anchor("ski"), "");
        assert_eq!(ascii_anchor("οδοσ"), "");
    }
}
