//! Evaluation of routing rules ([`route`]): which rule an e-mail matches and where it goes.

use std::cell::OnceCell;

use super::regex::cached_regex;
use super::{Condition, Field, Operator, Priority, RoutingRules};
use crate::config::normalize_webhook_url;
use crate::log::RuleRef;
use crate::text::fold_case;

/// Where an e-mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDecision {
    /// `(id, name)` of the rule that matched, if any.
    pub matched_rule: Option<(String, String)>,
    /// Webhook URLs to deliver to, rule URL first, without duplicates; never empty.
    pub targets: Vec<String>,
    /// `normal` or `high` (the matched rule's; `normal` without a match).
    pub priority: String,
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

/// The fields of one e-mail, each case-folded at most once, and only when a case-insensitive
/// condition cannot be decided without it (a body can be 25 MB: see [`Fields::folded_contains`]).
struct Fields<'a> {
    raw: [&'a str; 3],
    folded: [OnceCell<String>; 3],
    ascii_lower: [OnceCell<String>; 3],
}

impl<'a> Fields<'a> {
    fn new(sender: &'a str, subject: &'a str, body: &'a str) -> Self {
        Fields {
            raw: [sender, subject, body],
            folded: Default::default(),
            ascii_lower: Default::default(),
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

    /// The field case-folded ([`fold_case`]).
    fn folded(&self, field: Field) -> &str {
        let i = Self::index(field);
        self.folded[i].get_or_init(|| fold_case(self.raw[i]))
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
    fn folded_contains(&self, field: Field, needle: &str) -> bool {
        let i = Self::index(field);
        let raw = self.raw[i];
        let anchor = ascii_anchor(needle);
        if anchor.is_empty() || self.folded[i].get().is_some() {
            return self.folded(field).contains(needle);
        }
        let lower = self.ascii_lower[i].get_or_init(|| raw.to_ascii_lowercase());
        // `contains` has a SIMD search for short needles, `find` does not: most fields lack the
        // anchor, and that answer is then the cheapest one.
        if !lower.contains(anchor) {
            return false;
        }
        let reach = 4 * needle.chars().count();
        let mut budget = 2 * raw.len() + 4096;
        let mut from = 0;
        while let Some(found) = lower.get(from..).and_then(|rest| rest.find(anchor)) {
            let at = from + found;
            let start = floor_boundary(raw, at.saturating_sub(reach));
            let end = ceil_boundary(raw, at + anchor.len() + reach);
            budget = budget.saturating_sub(end - start);
            if budget == 0 {
                return self.folded(field).contains(needle);
            }
            if raw
                .get(start..end)
                .is_some_and(|window| fold_case(window).contains(needle))
            {
                return true;
            }
            // The anchor starts with an ASCII byte: the next byte is a character boundary.
            // Overlapping occurrences are all looked at.
            from = at + 1;
        }
        false
    }
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

/// Whether one condition holds. Case-insensitive `contains` and `equals` compare case folds
/// ([`fold_case`]: `σ`, `ς` and `Σ` are one letter, accents are kept).
fn condition_matches(c: &Condition, fields: &Fields<'_>) -> bool {
    let value = c.value.as_str();
    let raw = fields.raw(c.field);
    match (c.operator, c.case_sensitive) {
        (Operator::Contains, true) => raw.contains(value),
        (Operator::Equals, true) => raw == value,
        (Operator::Contains, false) => fields.folded_contains(c.field, &fold_case(value)),
        (Operator::Equals, false) => {
            let value = fold_case(value);
            // Folding never makes a text shorter in characters, and a character is at most
            // 4 bytes: a field of more bytes than that cannot fold to the value.
            raw.len() <= 4 * value.chars().count() && fold_case(raw) == value
        }
        // Validated documents always compile; a stored document that no longer does (an older,
        // laxer writer, or a pattern the previous engine took and `regex-lite` does not, such as
        // a nested class `[a[b]]`) makes the condition false rather than the e-mail fail.
        (Operator::Regex, case_sensitive) => {
            let Some(re) = cached_regex(value, case_sensitive) else {
                return false;
            };
            if case_sensitive {
                re.is_match(raw)
            } else {
                re.required
                    .as_deref()
                    .is_none_or(|r| fields.folded_contains(c.field, r))
                    && re.search(fields.folded(c.field))
            }
        }
    }
}

/// Picks the targets of an e-mail: the first rule (in order) whose conditions all match sends to
/// its URL, plus the default URL unless `stop_processing` or the URLs are equal; no match sends
/// to the default URL. `default_url` is `webhook_config.webhook_url`, else `WEBHOOK_URL`; blank
/// counts as absent.
pub fn route(
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
    let matched = rules
        .rules
        .iter()
        .find(|r| r.conditions.iter().all(|c| condition_matches(c, &fields)));
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
            })
        }
        None => default_url
            .map(|d| RouteDecision {
                matched_rule: None,
                targets: vec![d],
                priority: Priority::Normal.as_str().to_string(),
            })
            .ok_or(RoutingError::NoWebhookUrl),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::MAX_VALUE_CHARS;

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
        assert!(condition_matches(&cond(Operator::Equals), &fields));
        assert!(condition_matches(&cond(Operator::Contains), &fields));
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
                fields.folded_contains(Field::Body, &needle),
                expected,
                "{hay:?} {needle:?}"
            );
        }
        assert!(hits > 2_000, "{hits}");
        // Many candidates exhaust the budget: the field is folded, same answer.
        let hay = format!("{}ABÉ", "ab".repeat(50_000));
        let fields = Fields::new("", "", &hay);
        assert!(fields.folded_contains(Field::Body, "abé"));
        assert!(fields.folded[2].get().is_some(), "fell back to folding");
        assert!(!Fields::new("", "", &hay).folded_contains(Field::Body, "abéa"));
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
