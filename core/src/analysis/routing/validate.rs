//! Validation of the `routing_rules` document ([`validate_rules`]): every problem is a 400
//! naming the rule and the field.

use serde_json::{Map, Value};

use super::regex::{cached_regex, regex_problem};
use super::{
    Actions, Condition, Field, Operator, Priority, RoutingRules, Rule, MAX_CONDITIONS,
    MAX_REGEX_CHARS, MAX_REGEX_CONDITIONS, MAX_RULES, MAX_VALUE_CHARS,
};
use crate::base::json::type_name;
use crate::config::{check_target_url, normalize_webhook_url, TargetPolicy};
use crate::error::ApiError;

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

/// Validates an update of the `routing_rules` document (the whole document: partial updates
/// are not a thing for an ordered list). What can never fit the evaluation budget of an
/// e-mail is refused: a regex that compiles to more than [`REGEX_SIZE_LIMIT`] bytes, more than
/// [`MAX_REGEX_CONDITIONS`] regex conditions. Missing or empty ids become `rule-N` (N = position,
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
///
/// [`REGEX_SIZE_LIMIT`]: super::REGEX_SIZE_LIMIT
/// [`REGEX_NEST_LIMIT`]: super::REGEX_NEST_LIMIT
/// [`fold_case`]: crate::base::text::fold_case
pub fn validate_rules(doc: &Value) -> Result<RoutingRules, ApiError> {
    validate_rules_for(doc, TargetPolicy::HttpsOnly)
}

/// [`validate_rules`] with the webhook targets `policy` accepts.
pub fn validate_rules_for(doc: &Value, policy: TargetPolicy) -> Result<RoutingRules, ApiError> {
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
    let mut regexes = 0;
    for (i, raw) in rules.iter().enumerate() {
        let rule = validate_rule(raw, policy).map_err(|(label, problem)| {
            let field = match field_path(&problem) {
                Some(path) => format!("rules[{i}].{path}"),
                None => format!("rules[{i}]"),
            };
            err(format!(
                "rules[{i}]{}: {problem}",
                label.map(|l| format!(" ({l})")).unwrap_or_default()
            ))
            .at(field)
        })?;
        regexes += rule
            .conditions
            .iter()
            .filter(|c| c.operator == Operator::Regex)
            .count();
        if regexes > MAX_REGEX_CONDITIONS {
            return Err(err(format!(
                "rules[{i}] (id {:?}, name {:?}): too many regex conditions: the rules up to \
                 this one have {regexes}, at most {MAX_REGEX_CONDITIONS} fit the evaluation \
                 budget of an e-mail",
                rule.id, rule.name
            )));
        }
        out.push(rule);
    }
    assign_ids(&mut out).map_err(|(field, message)| err(message).at(field))?;
    Ok(RoutingRules {
        rules: out,
        updated_at,
    })
}

/// The field a rule problem starts with (`conditions[0].value: empty` → `conditions[0].value`),
/// when it starts with one.
fn field_path(problem: &str) -> Option<&str> {
    let (path, _) = problem.split_once(": ")?;
    let path_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.[]".contains(c);
    (!path.is_empty() && path.chars().all(path_char)).then_some(path)
}

/// A problem in one rule: the rule's label when it could be read (`id "x", name "y"`), and the
/// problem naming the field.
type RuleProblem = (Option<String>, String);

fn validate_rule(raw: &Value, policy: TargetPolicy) -> Result<Rule, RuleProblem> {
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
        Some(Value::Object(a)) => {
            validate_actions(a, policy).map_err(|p| fail(format!("actions{p}")))?
        }
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
        cached_regex(&value, case_sensitive)
            .map_err(|e| format!(".value: {}", regex_problem(&e)))?;
    }
    Ok(Condition {
        field,
        operator,
        value,
        case_sensitive,
    })
}

fn validate_actions(obj: &Map<String, Value>, policy: TargetPolicy) -> Result<Actions, String> {
    let webhook_url = match obj.get("webhook_url") {
        None | Some(Value::Null) => {
            return Err(".webhook_url: missing (an https:// URL or a Make.com token)".into())
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(".webhook_url: must not be empty".into())
        }
        Some(Value::String(s)) => {
            let url = normalize_webhook_url(s);
            check_target_url(&url, policy).map_err(|e| format!(".webhook_url: {e}"))?;
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
fn assign_ids(rules: &mut [Rule]) -> Result<(), (String, String)> {
    let mut taken = std::collections::HashSet::new();
    for (i, r) in rules.iter().enumerate() {
        if !r.id.is_empty() && !taken.insert(r.id.clone()) {
            return Err((
                format!("rules[{i}].id"),
                format!(
                    "rules[{i}] (id {:?}, name {:?}): id: duplicate id",
                    r.id, r.name
                ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(url: &str, value: &str) -> Value {
        json!({"rules": [
            {"name": "A", "conditions": [{"field": "subject", "operator": "contains", "value": "a"}],
             "actions": {"webhook_url": "https://a.example/h"}},
            {"id": "b", "name": "B", "conditions": [{"field": "subject", "operator": "contains", "value": value}],
             "actions": {"webhook_url": url}},
        ]})
    }

    #[test]
    fn errors_name_the_rule_and_field_as_a_path() {
        #[rustfmt::skip]
        let table = [
            (rule("https://b.example/h", " "), "rules[1].conditions[0].value"),
            (rule("http://b.example/h", "b"), "rules[1].actions.webhook_url"),
            (json!({"rules": [{"name": ""}]}), "rules[0].name"),
            (json!({"rules": [5]}), "rules[0]"),
            (json!({"rules": [{"id": "x", "name": "X", "conditions": [{"field": "subject", "operator": "contains", "value": "a"}], "actions": {"webhook_url": "https://a.example/h"}},
                              {"id": "x", "name": "Y", "conditions": [{"field": "subject", "operator": "contains", "value": "a"}], "actions": {"webhook_url": "https://a.example/h"}}]}),
             "rules[1].id"),
        ];
        for (doc, field) in table {
            let err = validate_rules(&doc).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{}", err.message);
        }
        assert_eq!(validate_rules(&json!([])).unwrap_err().field, None);
        assert_eq!(field_path("expected an object, got a number"), None);
        assert_eq!(
            field_path("conditions[0].value: empty"),
            Some("conditions[0].value")
        );
    }

    #[test]
    fn loopback_targets_need_the_dev_policy() {
        let doc = rule("http://127.0.0.1:8790/hook", "b");
        assert!(validate_rules(&doc).is_err());
        let rules = validate_rules_for(&doc, TargetPolicy::AllowHttpLoopback).unwrap();
        assert_eq!(
            rules.rules[1].actions.webhook_url,
            "http://127.0.0.1:8790/hook"
        );
        let outside = rule("http://hooks.example/h", "b");
        assert!(validate_rules_for(&outside, TargetPolicy::AllowHttpLoopback).is_err());
    }
}
