//! Routing rules (SPEC §4): the validated `routing_rules` document and the choice of the webhook
//! URL(s) an e-mail is delivered to.
//!
//! `contains` and `equals` are string operations; case-insensitive ones compare the case folds
//! of both sides ([`fold_case`](crate::base::text::fold_case)). `regex` conditions run on `regex-lite`
//! (see [`validate_rules`] for the dialect) and are compiled when evaluation first reaches them,
//! then kept in a small per-isolate memo keyed by the pattern itself (`cached_regex` in
//! `regex`): compiling costs far more than a search of a short field, and a key that is the
//! pattern can never serve a stale regex after a rule update.
//!
//! Evaluation is metered (`budget`): every condition charges its work to a budget of
//! [`RULES_BUDGET`] units (~0.6 s of CPU in workerd) per e-mail, regex conditions read at most
//! the first [`REGEX_WINDOW_BYTES`] of their field, and once the budget is spent no further rule
//! is evaluated ([`RouteDecision::budget_exhausted`]). Validation refuses what could never fit:
//! a regex too costly to read even [`REGEX_MIN_READ_BYTES`] of a hostile field
//! ([`REGEX_SIZE_LIMIT`]), more regex conditions than the memo holds.
//!
//! The document's types and limits are here; evaluation ([`route`]) is in `eval`, the budget in
//! `budget`, the regex dialect (compilation, case folding of patterns, literal prefilters, the
//! memo) in `regex`, and validation ([`validate_rules`]) in `validate`.

use serde::{Deserialize, Serialize};

mod budget;
mod eval;
mod regex;
mod validate;

pub use budget::{REGEX_MIN_READ_BYTES, REGEX_WINDOW_BYTES, RULES_BUDGET};
pub use eval::{route, route_within, RouteDecision, RoutingError};
pub use validate::{validate_rules, validate_rules_for};

/// The routing rule behind a delivery (logged, carried by its messages): its id and its name
/// when it matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRef {
    pub id: String,
    pub name: String,
}

/// Longest regex value accepted, in characters (SPEC §4).
pub const MAX_REGEX_CHARS: usize = 200;
/// Compiled-size limit of one regex, in bytes of `regex-lite` NFA (~360 states of the 64-bit
/// build). The work of a regex search per byte of text is at most 2 + a quarter of this size in
/// the units the patched `regex-lite` counts (see vendor/regex-lite/FACTEUR-PATCH.md), so the
/// limit is what lets any accepted regex read [`REGEX_MIN_READ_BYTES`] of the most hostile text
/// within [`RULES_BUDGET`]: `[a-z]{200}` fits, `[a-z]{1000}[0-9]` is refused.
pub const REGEX_SIZE_LIMIT: usize =
    4 * (RULES_BUDGET / (REGEX_MIN_READ_BYTES * budget::REGEX_STEP_COST) - 2) as usize;
/// Deepest group nesting accepted in a rule regex.
pub const REGEX_NEST_LIMIT: u32 = 64;
/// Longest `contains`/`equals` value, in characters.
pub const MAX_VALUE_CHARS: usize = 1_000;
/// Rules per document; bounds the work done on each e-mail (a body can be 25 MB).
pub const MAX_RULES: usize = 100;
/// Conditions per rule, for the same reason.
pub const MAX_CONDITIONS: usize = 20;
/// Regex conditions per document: the compiled regexes of a document all stay in the
/// per-isolate memo, so evaluating an e-mail never compiles one (compiling is not metered).
pub const MAX_REGEX_CONDITIONS: usize = 100;

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
