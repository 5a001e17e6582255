//! Routing rules (SPEC §4): the validated `routing_rules` document and the choice of the webhook
//! URL(s) an e-mail is delivered to.
//!
//! Regex conditions are compiled when evaluation first reaches them and kept in a small
//! per-isolate memo keyed by the pattern itself (see [`cached_regex`]): compiling costs far more
//! than searching (about 0.5 ms against 15 µs for a 200 KB body, natively), and a key that is the
//! pattern can never serve a stale regex after a rule update.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::{check_https_url, normalize_webhook_url};
use super::error::ApiError;
use super::ingest::type_name;

/// Longest regex value accepted, in characters (SPEC §4).
pub const MAX_REGEX_CHARS: usize = 200;
/// Compiled-size budget of one regex: a rule cannot make the worker allocate more than this,
/// whatever its pattern (`\w{200}` with Unicode classes would otherwise be megabytes).
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Longest `contains`/`equals` value, in characters; case-insensitive values compile to a
/// regex, and this keeps that regex well inside [`REGEX_SIZE_LIMIT`].
pub const MAX_VALUE_CHARS: usize = 1_000;
/// Rules per document; bounds the work done on each e-mail (a body can be 25 MB).
pub const MAX_RULES: usize = 100;
/// Conditions per rule, for the same reason.
pub const MAX_CONDITIONS: usize = 20;

/// The `routing_rules` document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRules {
    pub rules: Vec<Rule>,
    #[serde(
        rename = "_updated_at",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub updated_at: Option<String>,
}

/// One rule: all its conditions must match for its actions to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub conditions: Vec<Condition>,
    pub actions: Actions,
}

/// One test on a part of the e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub field: Field,
    pub operator: Operator,
    pub value: String,
    #[serde(default)]
    pub case_sensitive: bool,
}

/// The part of the e-mail a condition reads (`sender` is the bare lowercase address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Sender,
    Subject,
    Body,
}

/// How a condition compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operator {
    /// Substring.
    Contains,
    /// The whole value.
    Equals,
    /// Regex search anywhere in the value.
    Regex,
}

/// What a matched rule does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actions {
    pub webhook_url: String,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub stop_processing: bool,
}

/// Delivery priority of a rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    #[default]
    Normal,
    High,
}

impl Priority {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }
}

const FIELDS: [(&str, Field); 3] = [
    ("sender", Field::Sender),
    ("subject", Field::Subject),
    ("body", Field::Body),
];
const OPERATORS: [(&str, Operator); 3] = [
    ("contains", Operator::Contains),
    ("equals", Operator::Equals),
    ("regex", Operator::Regex),
];
const PRIORITIES: [(&str, Priority); 2] = [("normal", Priority::Normal), ("high", Priority::High)];

/// Compiles a condition regex with the size budget; case-insensitive unless asked otherwise.
fn compile(pattern: &str, case_sensitive: bool) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .case_insensitive(!case_sensitive)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// Compiled regexes kept between e-mails; cleared when full, which bounds its memory whatever
/// rule updates come and go.
const REGEX_MEMO_CAPACITY: usize = 128;

thread_local! {
    // A Worker isolate runs one thread; tests run many, each with its own memo.
    static REGEX_MEMO: RefCell<HashMap<(String, bool), Regex>> = RefCell::new(HashMap::new());
}

/// [`compile`] through the memo. Failures are not kept (validated rules always compile).
fn cached_regex(pattern: &str, case_sensitive: bool) -> Option<Regex> {
    let key = (pattern.to_string(), case_sensitive);
    if let Some(re) = REGEX_MEMO.with(|m| m.borrow().get(&key).cloned()) {
        return Some(re);
    }
    let re = compile(pattern, case_sensitive).ok()?;
    REGEX_MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= REGEX_MEMO_CAPACITY {
            m.clear();
        }
        m.insert(key, re.clone());
    });
    Some(re)
}

/// Validates an update of the `routing_rules` document (the whole document: partial updates
/// are not a thing for an ordered list). Missing or empty ids become `rule-N` (N = position,
/// bumped past ids already taken), webhook URLs are normalised (a Make.com token becomes its
/// hook URL), `priority` defaults to `normal`, `stop_processing` and `case_sensitive` to false.
/// Unknown keys are ignored. The first problem found is a 400 naming the rule (position, id,
/// name) and the field.
pub fn validate_rules(doc: &Value) -> Result<RoutingRules, ApiError> {
    let err = |msg: String| ApiError::invalid_config(format!("routing_rules: {msg}"));
    let obj = doc
        .as_object()
        .ok_or_else(|| err(format!("expected an object, got {}", type_name(doc))))?;
    let rules = match obj.get("rules") {
        None => return Err(err("missing field: rules (an array of rules)".into())),
        Some(Value::Array(a)) => a,
        Some(v) => {
            return Err(err(format!(
                "rules: expected an array, got {}",
                type_name(v)
            )))
        }
    };
    if rules.len() > MAX_RULES {
        return Err(err(format!(
            "too many rules ({}; at most {MAX_RULES})",
            rules.len()
        )));
    }
    let updated_at = match obj.get("_updated_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => {
            return Err(err(format!(
                "_updated_at: expected a string, got {}",
                type_name(v)
            )))
        }
    };

    let mut out = Vec::with_capacity(rules.len());
    for (i, raw) in rules.iter().enumerate() {
        let rule = validate_rule(raw).map_err(|(label, problem)| {
            err(format!(
                "rules[{i}]{}: {problem}",
                label.map(|l| format!(" ({l})")).unwrap_or_default()
            ))
        })?;
        out.push(rule);
    }
    assign_ids(&mut out).map_err(err)?;
    Ok(RoutingRules {
        rules: out,
        updated_at,
    })
}

/// A problem in one rule: the rule's label when it could be read (`id "x", name "y"`), and the
/// problem naming the field.
type RuleProblem = (Option<String>, String);

fn validate_rule(raw: &Value) -> Result<Rule, RuleProblem> {
    let Some(obj) = raw.as_object() else {
        return Err((None, format!("expected an object, got {}", type_name(raw))));
    };
    let id = match obj.get("id") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(v) => return Err((None, format!("id: expected a string, got {}", type_name(v)))),
    };
    let name_value = obj.get("name");
    let name = name_value
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    let label = {
        let mut parts = Vec::new();
        if !id.is_empty() {
            parts.push(format!("id {id:?}"));
        }
        if !name.is_empty() {
            parts.push(format!("name {name:?}"));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    };
    let fail = |problem: String| (label.clone(), problem);
    match name_value {
        None | Some(Value::Null) => return Err(fail("name: missing (a non-empty string)".into())),
        Some(Value::String(_)) if name.is_empty() => {
            return Err(fail("name: must not be empty".into()))
        }
        Some(Value::String(_)) => {}
        Some(v) => {
            return Err(fail(format!(
                "name: expected a string, got {}",
                type_name(v)
            )))
        }
    }
    let conditions = match obj.get("conditions") {
        None | Some(Value::Null) => {
            return Err(fail("conditions: missing (at least one condition)".into()))
        }
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(fail(
                "conditions: at least one condition is required".into(),
            ))
        }
        Some(Value::Array(a)) if a.len() > MAX_CONDITIONS => {
            return Err(fail(format!(
                "conditions: too many ({}; at most {MAX_CONDITIONS})",
                a.len()
            )))
        }
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(j, c)| validate_condition(c).map_err(|p| fail(format!("conditions[{j}]{p}"))))
            .collect::<Result<Vec<_>, _>>()?,
        Some(v) => {
            return Err(fail(format!(
                "conditions: expected an array, got {}",
                type_name(v)
            )))
        }
    };
    let actions = match obj.get("actions") {
        None | Some(Value::Null) => {
            return Err(fail("actions: missing (an object with webhook_url)".into()))
        }
        Some(Value::Object(a)) => validate_actions(a).map_err(|p| fail(format!("actions{p}")))?,
        Some(v) => {
            return Err(fail(format!(
                "actions: expected an object, got {}",
                type_name(v)
            )))
        }
    };
    Ok(Rule {
        id,
        name,
        conditions,
        actions,
    })
}

/// Reads a keyword field against its allowed values; the error is `.key: problem`.
fn keyword<T: Copy>(
    obj: &Map<String, Value>,
    key: &str,
    allowed: &[(&str, T)],
    default: Option<T>,
) -> Result<T, String> {
    let names = || {
        allowed
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match obj.get(key) {
        None | Some(Value::Null) => {
            default.ok_or_else(|| format!(".{key}: missing (one of {})", names()))
        }
        Some(Value::String(s)) => allowed
            .iter()
            .find(|(n, _)| *n == s.as_str())
            .map(|(_, v)| *v)
            .ok_or_else(|| format!(".{key}: unknown value {s:?} (expected one of {})", names())),
        Some(v) => Err(format!(".{key}: expected a string, got {}", type_name(v))),
    }
}

fn boolean(obj: &Map<String, Value>, key: &str) -> Result<bool, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(format!(".{key}: expected a boolean, got {}", type_name(v))),
    }
}

fn validate_condition(raw: &Value) -> Result<Condition, String> {
    let obj = raw
        .as_object()
        .ok_or_else(|| format!(": expected an object, got {}", type_name(raw)))?;
    let field = keyword(obj, "field", &FIELDS, None)?;
    let operator = keyword(obj, "operator", &OPERATORS, None)?;
    let case_sensitive = boolean(obj, "case_sensitive")?;
    let value = match obj.get("value") {
        None | Some(Value::Null) => return Err(".value: missing (a non-empty string)".into()),
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(".value: must not be empty".into())
        }
        Some(Value::String(s)) => s.clone(),
        Some(v) => return Err(format!(".value: expected a string, got {}", type_name(v))),
    };
    let chars = value.chars().count();
    if operator != Operator::Regex && chars > MAX_VALUE_CHARS {
        return Err(format!(
            ".value: too long ({chars} characters; at most {MAX_VALUE_CHARS})"
        ));
    }
    if operator == Operator::Regex {
        if chars > MAX_REGEX_CHARS {
            return Err(format!(
                ".value: regex too long ({chars} characters; at most {MAX_REGEX_CHARS})"
            ));
        }
        compile(&value, case_sensitive).map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => {
                format!(
                    ".value: regex too complex (compiles to more than {REGEX_SIZE_LIMIT} bytes)"
                )
            }
            // The parser's message spans several lines (pattern, caret, then `error: …`); its
            // last part says what is wrong.
            e => {
                let text = e.to_string();
                let what = text.rsplit("error: ").next().unwrap_or(&text);
                format!(".value: invalid regex: {}", what.trim().replace('\n', " "))
            }
        })?;
    }
    Ok(Condition {
        field,
        operator,
        value,
        case_sensitive,
    })
}

fn validate_actions(obj: &Map<String, Value>) -> Result<Actions, String> {
    let webhook_url = match obj.get("webhook_url") {
        None | Some(Value::Null) => {
            return Err(".webhook_url: missing (an https:// URL or a Make.com token)".into())
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(".webhook_url: must not be empty".into())
        }
        Some(Value::String(s)) => {
            let url = normalize_webhook_url(s);
            check_https_url(&url).map_err(|e| format!(".webhook_url: {e}"))?;
            url
        }
        Some(v) => {
            return Err(format!(
                ".webhook_url: expected a string, got {}",
                type_name(v)
            ))
        }
    };
    let priority = keyword(obj, "priority", &PRIORITIES, Some(Priority::Normal))?;
    let stop_processing = boolean(obj, "stop_processing")?;
    Ok(Actions {
        webhook_url,
        priority,
        stop_processing,
    })
}

/// Gives every rule without an id `rule-N` (its 1-based position, bumped while taken) and
/// rejects duplicate explicit ids.
fn assign_ids(rules: &mut [Rule]) -> Result<(), String> {
    let mut taken = std::collections::HashSet::new();
    for (i, r) in rules.iter().enumerate() {
        if !r.id.is_empty() && !taken.insert(r.id.clone()) {
            return Err(format!(
                "rules[{i}] (id {:?}, name {:?}): id: duplicate id",
                r.id, r.name
            ));
        }
    }
    for (i, r) in rules.iter_mut().enumerate() {
        if r.id.is_empty() {
            let mut n = i + 1;
            while taken.contains(&format!("rule-{n}")) {
                n += 1;
            }
            r.id = format!("rule-{n}");
            taken.insert(r.id.clone());
        }
    }
    Ok(())
}

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

/// Whether one condition holds. Case-insensitive `contains` and `equals` run through the regex
/// engine on the escaped value: Unicode case folding (so `σ`, `ς` and `Σ` are one letter) with no
/// lowercased copy of a body that can be 25 MB, and a literal search that skips ahead with the
/// engine's prefilters.
fn condition_matches(c: &Condition, sender: &str, subject: &str, body: &str) -> bool {
    let hay = match c.field {
        Field::Sender => sender,
        Field::Subject => subject,
        Field::Body => body,
    };
    let pattern = match (c.operator, c.case_sensitive) {
        (Operator::Contains, true) => return hay.contains(c.value.as_str()),
        (Operator::Equals, true) => return hay == c.value,
        (Operator::Contains, false) => regex::escape(&c.value),
        (Operator::Equals, false) => format!(r"\A(?:{})\z", regex::escape(&c.value)),
        (Operator::Regex, _) => c.value.clone(),
    };
    // Validated documents always compile; a stored document that no longer does (an older,
    // laxer writer) makes the condition false rather than the e-mail fail.
    cached_regex(&pattern, c.case_sensitive).is_some_and(|re| re.is_match(hay))
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
    let matched = rules.rules.iter().find(|r| {
        r.conditions
            .iter()
            .all(|c| condition_matches(c, sender_email, subject, body))
    });
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

    #[test]
    fn longest_case_insensitive_literal_compiles() {
        // Letters with several case variants (k/K/KELVIN SIGN, s/S/long s, σ/ς/Σ) are the
        // largest once case-folded.
        let value: String = "kſσsK".chars().cycle().take(MAX_VALUE_CHARS).collect();
        assert!(compile(&regex::escape(&value), false).is_ok());
        assert!(compile(&format!(r"\A(?:{})\z", regex::escape(&value)), false).is_ok());
    }

    #[test]
    fn memo_returns_the_same_regex_and_survives_being_full() {
        for i in 0..(REGEX_MEMO_CAPACITY * 2) {
            assert!(cached_regex(&format!("a{i}"), true).is_some());
        }
        assert!(cached_regex("(", false).is_none());
        let re = cached_regex("x+y", false).expect("compiles");
        assert!(re.is_match("XXY"));
        assert!(REGEX_MEMO.with(|m| m.borrow().len()) <= REGEX_MEMO_CAPACITY);
    }
}
