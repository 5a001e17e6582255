//! Routing rules (SPEC §4): the validated `routing_rules` document and the choice of the webhook
//! URL(s) an e-mail is delivered to.
//!
//! `contains` and `equals` are string operations; case-insensitive ones compare the case folds
//! of both sides ([`fold_case`]). `regex` conditions run on `regex-lite` (see
//! [`validate_rules`] for the dialect) and are compiled when evaluation first reaches them, then
//! kept in a small per-isolate memo keyed by the pattern itself (see [`cached_regex`]):
//! compiling costs far more than a search of a short field, and a key that is the pattern can
//! never serve a stale regex after a rule update.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use regex_lite::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::{check_https_url, normalize_webhook_url};
use super::error::ApiError;
use super::ingest::type_name;
use super::text::{fold_case, fold_char, push_folded};

/// Longest regex value accepted, in characters (SPEC §4).
pub const MAX_REGEX_CHARS: usize = 200;
/// Compiled-size budget of one regex, in bytes of `regex-lite` NFA (~4,000 states). The engine
/// is linear in the haystack but its cost per byte grows with the number of states, so this
/// also bounds the time a rule can take on a 25 MB body; `\w{1000}\w{1000}\w{1000}` (~190 KB)
/// is refused.
pub const REGEX_SIZE_LIMIT: usize = 1 << 17;
/// Deepest group nesting accepted in a rule regex.
pub const REGEX_NEST_LIMIT: u32 = 64;
/// Longest `contains`/`equals` value, in characters.
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

/// A compiled `regex` condition, with the literal text every match contains when the pattern
/// has some: `regex-lite` has no literal prefilter and reads ~25 MB/s, so a body that lacks the
/// text is rejected by a substring search instead, and a pattern that starts with a literal is
/// searched from the first occurrence of it.
#[derive(Debug)]
struct RuleRegex {
    re: Regex,
    case_sensitive: bool,
    /// Text every match contains (the longest such run of the pattern).
    required: Option<String>,
    /// Text every match starts with.
    prefix: Option<String>,
}

impl RuleRegex {
    /// Whether the condition's regex matches `hay`, a field as written.
    fn is_match(&self, hay: &str) -> bool {
        let folded;
        let hay = if self.case_sensitive {
            hay
        } else {
            folded = fold_case(hay);
            &folded
        };
        self.required
            .as_deref()
            .is_none_or(|required| hay.contains(required))
            && self.search(hay)
    }

    /// The regex search of `hay` (case-folded when the condition is case-insensitive), from the
    /// first occurrence of the pattern's literal prefix if it has one.
    fn search(&self, hay: &str) -> bool {
        let start = match &self.prefix {
            Some(prefix) => match hay.find(prefix.as_str()) {
                Some(at) => at,
                None => return false,
            },
            None => 0,
        };
        self.re.is_match_at(hay, start)
    }
}

/// Compiles a condition regex with the size and nesting budgets. A case-insensitive pattern is
/// case-folded outside its escapes ([`fold_pattern`]) and compiled with `(?i)`: it is matched
/// against the case-folded field, and `(?i)` covers the ASCII letters (`[A-Z]`, `\x41`).
fn compile(pattern: &str, case_sensitive: bool) -> Result<RuleRegex, regex_lite::Error> {
    let (source, flags) = if case_sensitive {
        (pattern.to_string(), "")
    } else {
        (fold_pattern(pattern), "(?i)")
    };
    let re = RegexBuilder::new(&format!("{flags}{source}"))
        .size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(REGEX_NEST_LIMIT)
        .build()?;
    let literals = required_literals(&source);
    let fold = |s: String| {
        if case_sensitive {
            s
        } else {
            s.to_ascii_lowercase()
        }
    };
    Ok(RuleRegex {
        re,
        case_sensitive,
        required: literals.longest.map(fold),
        prefix: literals.prefix.map(fold),
    })
}

/// Case-folds the characters of a pattern that stand for themselves, so that the pattern meets
/// a case-folded field: non-ASCII literals outside escapes are folded (`É` → `é`; `İ`, which
/// folds to two characters, becomes the group `(?:i̇)`), and in a class the folded character or
/// range is added next to the original (`[À-Ö]` → `[À-Öà-ö]`). ASCII is left to `(?i)`. The
/// character after a backslash is never touched (`\D`, `\S`, `\W`, `\B` keep their meaning),
/// nor are group names.
fn fold_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    // Just after `[` or `[^`, where `]` is a literal.
    let mut class_start = false;
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push('\\');
            if let Some(n) = chars.next() {
                out.push(n);
                // The argument of `\x7F`, `\x{..}`, `\u`, `\U`, `\pL`, `\p{..}`: copied as is.
                let fixed = match n {
                    'x' => 2,
                    'u' => 4,
                    'U' => 8,
                    'p' | 'P' => 1,
                    _ => 0,
                };
                if fixed > 0 && chars.peek() == Some(&'{') {
                    for d in chars.by_ref() {
                        out.push(d);
                        if d == '}' {
                            break;
                        }
                    }
                } else {
                    out.extend(chars.by_ref().take(fixed));
                }
            }
            class_start = false;
            continue;
        }
        if in_class {
            let first = std::mem::take(&mut class_start);
            match c {
                ']' if !first => {
                    in_class = false;
                    out.push(']');
                }
                '[' if chars.peek() == Some(&':') => {
                    // `[[:alpha:]]`: copied up to its `:]`.
                    out.push('[');
                    let mut prev = '[';
                    for d in chars.by_ref() {
                        out.push(d);
                        if prev == ':' && d == ']' {
                            break;
                        }
                        prev = d;
                    }
                }
                c => {
                    let mut look = chars.clone();
                    let range_end = match (look.next(), look.next()) {
                        (Some('-'), Some(d)) if !matches!(d, ']' | '\\' | '[') => Some(d),
                        _ => None,
                    };
                    if let Some(d) = range_end {
                        chars = look;
                        out.extend([c, '-', d]);
                        if !(c.is_ascii() && d.is_ascii()) {
                            if let (Some(fc), Some(fd)) = (fold_char(c), fold_char(d)) {
                                if fc <= fd && (fc, fd) != (c, d) {
                                    out.extend([fc, '-', fd]);
                                }
                            }
                        }
                    } else {
                        out.push(c);
                        if let Some(f) = fold_char(c).filter(|&f| !c.is_ascii() && f != c) {
                            out.push(f);
                        }
                    }
                }
            }
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
            }
            '(' if chars.peek() == Some(&'?') => {
                out.push('(');
                let mut look = chars.clone();
                look.next();
                let named = match look.next() {
                    Some('<') => !matches!(look.next(), Some('=' | '!')),
                    Some('P') => look.next() == Some('<'),
                    _ => false,
                };
                if named {
                    // `(?<name>` / `(?P<name>`: copied up to its `>`.
                    for d in chars.by_ref() {
                        out.push(d);
                        if d == '>' {
                            break;
                        }
                    }
                }
            }
            c if c.is_ascii() => out.push(c),
            c => match fold_char(c) {
                Some(f) => out.push(f),
                None => {
                    out.push_str("(?:");
                    push_folded(c, &mut out);
                    out.push(')');
                }
            },
        }
    }
    out
}

/// Literal text a pattern's matches must contain.
#[derive(Debug, Default, PartialEq, Eq)]
struct Literals {
    /// The longest run of literal characters of the top-level sequence.
    longest: Option<String>,
    /// The run the pattern starts with, if it starts with one.
    prefix: Option<String>,
}

/// The literal runs of a pattern's top-level sequence: characters that stand for themselves,
/// not quantified, not in a group, a class or an escape other than an escaped punctuation
/// (`\.`). Every match contains each run, so a field without one cannot match. Conservative:
/// nothing is claimed for a top-level alternation, inline flags (`(?i)`, `(?x)` change what a
/// character means) or a hex escape. The pattern is a valid one (it compiled).
fn required_literals(pattern: &str) -> Literals {
    let cs: Vec<char> = pattern.chars().collect();
    let mut runs: Vec<(bool, String)> = Vec::new();
    let mut run = String::new();
    let mut run_at_start = true;
    let mut i = 0;
    let end_run = |run: &mut String, runs: &mut Vec<(bool, String)>, at_start: bool| {
        if !run.is_empty() {
            runs.push((at_start, std::mem::take(run)));
        }
    };
    while i < cs.len() {
        // One atom: a literal character, or something that is not one.
        let (literal, next) = match cs[i] {
            '|' | ')' => return Literals::default(),
            '(' => {
                if is_inline_flags(&cs, i) {
                    return Literals::default();
                }
                match skip_group(&cs, i) {
                    Some(next) => (None, next),
                    None => return Literals::default(),
                }
            }
            '[' => match skip_class(&cs, i) {
                Some(next) => (None, next),
                None => return Literals::default(),
            },
            '\\' => match cs.get(i + 1) {
                Some('x' | 'u' | 'U' | 'p' | 'P') | None => return Literals::default(),
                // Classes, assertions (`\b`, `\<`, `\>`), control characters.
                Some(&n)
                    if n.is_ascii_alphanumeric() || n.is_whitespace() || matches!(n, '<' | '>') =>
                {
                    (None, i + 2)
                }
                Some(&n) => (Some(n), i + 2),
            },
            '.' | '^' | '$' => (None, i + 1),
            '?' | '*' | '+' | '{' => return Literals::default(),
            c => (Some(c), i + 1),
        };
        // Its quantifier, if any.
        let mut after = next;
        let quantified = matches!(cs.get(after), Some('?' | '*' | '+' | '{'));
        if quantified {
            if cs.get(after) == Some(&'{') {
                match cs[after..].iter().position(|&c| c == '}') {
                    Some(close) => after += close + 1,
                    None => return Literals::default(),
                }
            } else {
                after += 1;
            }
            if matches!(cs.get(after), Some('?' | '*' | '+' | '{')) {
                // A lazy `?` is fine; anything else stacked is not worth reading.
                if cs.get(after) == Some(&'?') {
                    after += 1;
                } else {
                    return Literals::default();
                }
            }
        }
        match literal {
            Some(c) if !quantified => run.push(c),
            _ => {
                let at_start = run_at_start;
                end_run(&mut run, &mut runs, at_start);
                run_at_start = false;
            }
        }
        i = after;
    }
    end_run(&mut run, &mut runs, run_at_start);
    Literals {
        prefix: runs.first().filter(|(s, _)| *s).map(|(_, r)| r.clone()),
        longest: runs
            .into_iter()
            .map(|(_, r)| r)
            .max_by_key(|r| r.chars().count()),
    }
}

/// `(?flags)` at `i`: inline flags for the rest of the group.
fn is_inline_flags(cs: &[char], i: usize) -> bool {
    if cs.get(i + 1) != Some(&'?') {
        return false;
    }
    let flags = cs[i + 2..]
        .iter()
        .take_while(|c| c.is_ascii_alphabetic() || **c == '-')
        .count();
    flags > 0 && cs.get(i + 2 + flags) == Some(&')')
}

/// The index after the group opened at `i`, classes and escapes inside taken into account.
fn skip_group(cs: &[char], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j < cs.len() {
        match cs[j] {
            '\\' => j += 2,
            '[' => j = skip_class(cs, j)?,
            '(' => {
                depth += 1;
                j += 1;
            }
            ')' => {
                depth = depth.checked_sub(1)?;
                j += 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => j += 1,
        }
    }
    None
}

/// The index after the class opened at `i` (`[^]x]`, `[[:alpha:]]` and escapes included).
fn skip_class(cs: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if cs.get(j) == Some(&'^') {
        j += 1;
    }
    if cs.get(j) == Some(&']') {
        j += 1;
    }
    while j < cs.len() {
        match cs[j] {
            '\\' => j += 2,
            '[' if cs.get(j + 1) == Some(&':') => {
                let close = cs[j + 2..].windows(2).position(|w| w == [':', ']'])?;
                j += 2 + close + 2;
            }
            '[' => return None,
            ']' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// Compiled regexes kept between e-mails; cleared when full, which bounds its memory whatever
/// rule updates come and go.
const REGEX_MEMO_CAPACITY: usize = 128;

thread_local! {
    // A Worker isolate runs one thread; tests run many, each with its own memo.
    static REGEX_MEMO: RefCell<HashMap<(String, bool), Rc<RuleRegex>>> =
        RefCell::new(HashMap::new());
}

/// [`compile`] through the memo. Failures are not kept (validated rules always compile).
fn cached_regex(pattern: &str, case_sensitive: bool) -> Option<Rc<RuleRegex>> {
    let key = (pattern.to_string(), case_sensitive);
    if let Some(re) = REGEX_MEMO.with(|m| m.borrow().get(&key).cloned()) {
        return Some(re);
    }
    let re = Rc::new(compile(pattern, case_sensitive).ok()?);
    REGEX_MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= REGEX_MEMO_CAPACITY {
            m.clear();
        }
        m.insert(key, Rc::clone(&re));
    });
    Some(re)
}

/// Why a rule regex was refused, after `.value: `. `regex-lite` reports one-line messages;
/// those about constructs it does not have say so, and name the dialect.
fn regex_problem(e: &regex_lite::Error) -> String {
    let msg = e.to_string();
    match msg.as_str() {
        "compiled regex exceeded size limit" => {
            format!("regex too complex (compiles to more than {REGEX_SIZE_LIMIT} bytes)")
        }
        "pattern has too much nesting" => {
            format!("regex too complex (groups nested more than {REGEX_NEST_LIMIT} deep)")
        }
        "found open group without closing ')'" | "expected closing ')', but got end of pattern" => {
            "invalid regex: unclosed group (a '(' has no matching ')')".into()
        }
        "found closing ')' without matching '('" => {
            "invalid regex: unopened group (a ')' has no matching '(')".into()
        }
        m if m.contains("not supported") => format!(
            "unsupported regex construct: {m}; rule regexes are ASCII-only: \\d \\w \\s \\b and (?i) \
             cover ASCII characters, and there are no \\p{{..}} classes, look-around, \
             backreferences or nested classes"
        ),
        m => format!("invalid regex: {m}"),
    }
}

/// Validates an update of the `routing_rules` document (the whole document: partial updates
/// are not a thing for an ordered list). Missing or empty ids become `rule-N` (N = position,
/// bumped past ids already taken), webhook URLs are normalised (a Make.com token becomes its
/// hook URL), `priority` defaults to `normal`, `stop_processing` and `case_sensitive` to false.
/// Unknown keys are ignored. The first problem found is a 400 naming the rule (position, id,
/// name) and the field.
///
/// # The `regex` dialect
/// Rule regexes are compiled by `regex-lite` (the syntax of the `regex` crate, at most
/// [`MAX_REGEX_CHARS`] characters, [`REGEX_SIZE_LIMIT`] bytes compiled, groups nested at most
/// [`REGEX_NEST_LIMIT`] deep; searches are linear in the field). Its limits:
/// - `\d`, `\w`, `\s`, `\b` and the POSIX classes are ASCII-only: `\w` does not match `é`,
///   `\s` does not match a non-breaking space, `\b` sees `é` as a non-word character;
/// - no Unicode classes (`\p{L}`, `\pN`…), no look-around, no backreferences, no nested or
///   set-operation classes: such a pattern is refused, the message naming the rule and why;
/// - case-insensitive rules (the default) match the case-folded field ([`fold_case`]): literal
///   characters are folded too, `(?i)` covers ASCII, so `Média` matches `MÉDIA`; characters
///   written as escapes (`\x{C9}`, also as the end of a class range) are not folded, and an
///   inline `(?-i)` cannot see the original case.
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
        compile(&value, case_sensitive).map_err(|e| format!(".value: {}", regex_problem(&e)))?;
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
    fn literal_runs_of_patterns() {
        let lit = |p: &str, prefix: Option<&str>, longest: Option<&str>| {
            assert_eq!(
                required_literals(p),
                Literals {
                    prefix: prefix.map(str::to_string),
                    longest: longest.map(str::to_string),
                },
                "{p}"
            );
        };
        lit(r"commande\s+n°\s*\d{6}", Some("commande"), Some("commande"));
        lit("^devis", None, Some("devis"));
        lit("REF-[0-9]+$", Some("REF-"), Some("REF-"));
        lit("ab?cd", Some("a"), Some("cd"));
        lit(r"x\.y\-z", Some("x.y-z"), Some("x.y-z"));
        lit(r"\bfacture\b", None, Some("facture"));
        lit("a{2}bc", None, Some("bc"));
        lit("a{2,}?bc", None, Some("bc"));
        lit("(foo)+bar", None, Some("bar"));
        lit("[)(]x", None, Some("x"));
        lit("[]x]y", None, Some("y"));
        lit("[[:alpha:]]yz", None, Some("yz"));
        lit(r"a\<bc\>", Some("a"), Some("bc"));
        lit("é+ab", None, Some("ab"));
        lit(r"a\sb\tc", Some("a"), Some("c"));
        // Nothing claimed.
        lit("a|b", None, None);
        lit("(?i)abc", None, None);
        lit("(?x)a b", None, None);
        lit(r"\x41bc", None, None);
        lit(r"\u{41}bc", None, None);
        lit(r"\d+", None, None);
        lit("a*", None, None);
        lit("", None, None);
    }

    #[test]
    fn patterns_are_folded_outside_escapes() {
        let cases = [
            ("MÉDIA", "MéDIA"),
            ("ΟΔΟΣ", "οδοσ"),
            (r"\D\S\W\BÉ", r"\D\S\W\Bé"),
            ("[À-Ö]", "[À-Öà-ö]"),
            ("[A-É]x", "[A-Éa-é]x"),
            ("[A-Z]", "[A-Z]"),
            ("[Z-a]", "[Z-a]"),
            ("[É]", "[Éé]"),
            ("[^Éx]", "[^Ééx]"),
            ("[]É]", "[]Éé]"),
            ("[[:alpha:]É]", "[[:alpha:]Éé]"),
            (r"[\x{C0}-\x{D6}]", r"[\x{C0}-\x{D6}]"),
            (r"[\x{C0}-É]", r"[\x{C0}-Éé]"),
            (r"[\xC0-É]x", r"[\xC0-Éé]x"),
            (r"\u00C9É", r"\u00C9é"),
            ("İ+", "(?:i\u{307})+"),
            ("[İ]", "[İ]"),
            ("(?P<Émile>É)(?<Zoé>É)(?:É)", "(?P<Émile>é)(?<Zoé>é)(?:é)"),
        ];
        for (pattern, folded) in cases {
            assert_eq!(fold_pattern(pattern), folded, "{pattern}");
            assert!(compile(pattern, false).is_ok(), "{pattern}");
        }
    }

    #[test]
    fn literal_prefilter_never_changes_the_answer() {
        let patterns = [
            r"commande\s+n°\s*\d+",
            "^devis",
            "REF-[0-9]+$",
            "ab?cd",
            r"\bfac\b",
            "a{2}bc",
            "(ab)+c",
            "[À-Ö]+x",
            "ÉTÉ",
            r"x\.y",
            "ca$",
            "^a.c",
            "(?:x|y)z",
            "zz",
            "b",
        ];
        let alphabet = [
            "a", "b", "c", "d", "x", "y", "z", "É", "é", "t", "T", "fac", "REF-", "1", "42", ".",
            " ", "\u{a0}", "commande", " n° ", "devis", "DEVIS", "ab", "À", "ö",
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for p in patterns {
            for case_sensitive in [true, false] {
                let rule = compile(p, case_sensitive).expect("compiles");
                let plain = if case_sensitive {
                    Regex::new(p)
                } else {
                    Regex::new(&format!("(?i){}", fold_pattern(p)))
                }
                .expect("compiles");
                for _ in 0..2_000 {
                    let mut next = || {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x
                    };
                    let len = next() % 12;
                    let hay: String = (0..len)
                        .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                        .collect();
                    let prepared = if case_sensitive {
                        hay.clone()
                    } else {
                        fold_case(&hay)
                    };
                    assert_eq!(
                        rule.is_match(&hay),
                        plain.is_match(&prepared),
                        "{p} {case_sensitive} {hay:?}"
                    );
                }
            }
        }
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
