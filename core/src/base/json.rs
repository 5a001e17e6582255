//! JSON helpers: type names for error messages, and serde's `skip_serializing_if` predicates.

use serde_json::Value;

/// JSON type name, for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Serde's `skip_serializing_if` for counters that are usually zero.
pub fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Serde's `skip_serializing_if` for flags that are usually off.
pub fn is_false(b: &bool) -> bool {
    !*b
}
