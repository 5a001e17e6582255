//! The schema of the gating documents: one table per document, the single place where its
//! field names are written.
//!
//! Each [`FieldSpec`] names a field, gives its [`FieldKind`] (validation), the environment
//! variable giving its default, and the struct field of [`Documents`] it reads and writes.
//! Validating an update ([`apply_update`]), reading the environment defaults
//! ([`Settings::load`]), resolving ([`Documents::from_maps`]) and serving
//! ([`Documents::to_map`]) all walk these tables, so no two of them can disagree on a name.
//! Built-in defaults are the structs' `Default` impls.
//!
//! A table rather than `serde` derives on the structs because stored documents are read
//! leniently (a stored value of the wrong type leaves that one field at its built-in default
//! instead of failing the whole document), and because `processing_prefs.webhook_timeout_sec`
//! lives in a [`RetryPolicy`] whose serde names are fixed by the queue messages that carry it.
//! The tests `each_field_reads_and_writes_its_own_struct_field` and
//! `every_struct_field_has_a_table_entry` check that tables and structs match one to one.
//!
//! [`apply_update`]: super::apply_update
//! [`Settings::load`]: super::Settings::load
//! [`RetryPolicy`]: crate::delivery::retry::RetryPolicy

use serde_json::Value;

use super::doc::ConfigDoc;
use super::documents::Documents;
use super::kinds::FieldKind;
use super::names::vars;

/// One field of a document: its name, kind, the environment variable giving its default, and
/// where its effective value lives in [`Documents`].
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The field's name in the document (SPEC §9).
    pub name: &'static str,
    /// How an update of the field is validated and normalised.
    pub kind: FieldKind,
    /// The variable whose value is the field's default (before the built-in one).
    pub env: Option<&'static str>,
    /// The effective value, as served.
    pub(super) get: fn(&Documents) -> Value,
    /// Reads a stored value into the effective documents (leniently, see [`FieldValue`]).
    pub(super) set: fn(&mut Documents, &Value),
}

/// The [`FieldSpec`] of the document field `$name`, whose default comes from `vars::$env` and
/// whose effective value is `Documents.$path`.
macro_rules! field {
    ($name:literal, $kind:expr, $env:ident, $($path:ident).+) => {
        FieldSpec {
            name: $name,
            kind: $kind,
            env: Some(vars::$env),
            get: |d| FieldValue::to_json(&d.$($path).+),
            set: |d, v| FieldValue::read_json(&mut d.$($path).+, v),
        }
    };
}

const WEBHOOK_CONFIG_FIELDS: &[FieldSpec] = &[
    field!(
        "webhook_url",
        FieldKind::OptHttpsUrl,
        WEBHOOK_URL,
        webhook.webhook_url
    ),
    field!(
        "webhook_sending_enabled",
        FieldKind::Bool,
        WEBHOOK_SENDING_ENABLED,
        webhook.webhook_sending_enabled
    ),
    field!(
        "webhook_time_start",
        FieldKind::OptTimeOfDay,
        WEBHOOKS_TIME_START,
        webhook.webhook_time_start
    ),
    field!(
        "webhook_time_end",
        FieldKind::OptTimeOfDay,
        WEBHOOKS_TIME_END,
        webhook.webhook_time_end
    ),
    field!(
        "absence_pause_enabled",
        FieldKind::Bool,
        ABSENCE_PAUSE_ENABLED,
        webhook.absence_pause_enabled
    ),
    field!(
        "absence_pause_days",
        FieldKind::Weekdays,
        ABSENCE_PAUSE_DAYS,
        webhook.absence_pause_days
    ),
];

/// `exclude_keywords` entries: each is searched for in the subject and body of every e-mail.
pub const MAX_EXCLUDE_KEYWORDS: usize = 20;
/// Longest `exclude_keywords` entry, in characters.
pub const MAX_EXCLUDE_KEYWORD_CHARS: usize = 100;

const PROCESSING_PREFS_FIELDS: &[FieldSpec] = &[
    field!(
        "exclude_keywords",
        FieldKind::StringList {
            max_items: MAX_EXCLUDE_KEYWORDS,
            max_chars: MAX_EXCLUDE_KEYWORD_CHARS,
        },
        EXCLUDE_KEYWORDS,
        prefs.exclude_keywords
    ),
    field!(
        "max_email_size_mb",
        FieldKind::UInt { min: 1, max: 25 },
        MAX_EMAIL_SIZE_MB,
        prefs.max_email_size_mb
    ),
    field!(
        "mirror_media_to_custom",
        FieldKind::Bool,
        MIRROR_MEDIA_TO_CUSTOM,
        prefs.mirror_media_to_custom
    ),
    field!(
        "retry_count",
        FieldKind::UInt { min: 0, max: 10 },
        WEBHOOK_RETRY_COUNT,
        prefs.retry.retry_count
    ),
    field!(
        "retry_delay_sec",
        FieldKind::UInt { min: 0, max: 600 },
        WEBHOOK_RETRY_DELAY,
        prefs.retry.retry_delay_sec
    ),
    // The document's name, not the `RetryPolicy` field's (queue messages carry `timeout_sec`).
    field!(
        "webhook_timeout_sec",
        FieldKind::UInt { min: 1, max: 300 },
        WEBHOOK_TIMEOUT_SEC,
        prefs.retry.timeout_sec
    ),
];

const RUNTIME_FLAGS_FIELDS: &[FieldSpec] = &[
    field!(
        "gmail_ingress_enabled",
        FieldKind::Bool,
        GMAIL_INGRESS_ENABLED,
        flags.gmail_ingress_enabled
    ),
    field!(
        "webhook_sending_enabled",
        FieldKind::Bool,
        WEBHOOK_SENDING_ENABLED,
        flags.webhook_sending_enabled
    ),
    field!(
        "allow_custom_webhook_without_links",
        FieldKind::Bool,
        ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS,
        flags.allow_custom_webhook_without_links
    ),
];

/// The fields of a gating document (routing rules have their own schema).
pub fn fields(doc: ConfigDoc) -> &'static [FieldSpec] {
    match doc {
        ConfigDoc::WebhookConfig => WEBHOOK_CONFIG_FIELDS,
        ConfigDoc::ProcessingPrefs => PROCESSING_PREFS_FIELDS,
        ConfigDoc::RuntimeFlags => RUNTIME_FLAGS_FIELDS,
        ConfigDoc::RoutingRules => &[],
    }
}

/// How an effective value is served and read from its stored JSON. Reading is lenient, as
/// stored documents are not validated again: a value of another type leaves a `bool` or an
/// integer as it is (its built-in default), and an optional string or a list empty.
trait FieldValue {
    fn to_json(&self) -> Value;
    fn read_json(&mut self, v: &Value);
}

impl FieldValue for bool {
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
    fn read_json(&mut self, v: &Value) {
        if let Some(b) = v.as_bool() {
            *self = b;
        }
    }
}

impl FieldValue for u32 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
    fn read_json(&mut self, v: &Value) {
        // Stored values were range-checked when written (`FieldKind::UInt` bounds fit a u32).
        if let Some(n) = v.as_u64() {
            *self = n as u32;
        }
    }
}

/// Empty is unset: a field cleared with `""` reads as `None`.
impl FieldValue for Option<String> {
    fn to_json(&self) -> Value {
        self.clone().map_or(Value::Null, Value::String)
    }
    fn read_json(&mut self, v: &Value) {
        *self = v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    }
}

impl FieldValue for Vec<String> {
    fn to_json(&self) -> Value {
        self.clone().into()
    }
    fn read_json(&mut self, v: &Value) {
        *self = v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DocMaps, ProcessingPrefs, RuntimeFlags, WebhookConfig};
    use crate::delivery::retry::RetryPolicy;
    use serde_json::{json, Map};

    /// A valid, non-default stored value for `spec` (`default` is its built-in default).
    fn sample(spec: &FieldSpec, default: &Value) -> Value {
        match spec.kind {
            FieldKind::Bool => Value::Bool(!default.as_bool().unwrap()),
            FieldKind::UInt { min, max } => Value::from(if default.as_u64() == Some(min) {
                max
            } else {
                min
            }),
            FieldKind::OptHttpsUrl => json!("https://example.test/hook"),
            FieldKind::OptTimeOfDay => json!("07:15"),
            FieldKind::Weekdays => json!(["friday"]),
            FieldKind::StringList { .. } => json!(["sample"]),
        }
    }

    #[test]
    fn each_field_reads_and_writes_its_own_struct_field() {
        // Storing one field changes that field, and only it, in every document served: so each
        // entry reads the struct field it writes, and no two entries share a struct field.
        let defaults = Documents::default();
        let gating = [
            ConfigDoc::WebhookConfig,
            ConfigDoc::ProcessingPrefs,
            ConfigDoc::RuntimeFlags,
        ];
        for doc in gating {
            let names: Vec<_> = defaults.to_map(doc).keys().cloned().collect();
            let mut expected: Vec<_> = fields(doc).iter().map(|s| s.name.to_string()).collect();
            expected.sort();
            assert_eq!(names, expected, "{}: served fields", doc.name());
            for spec in fields(doc) {
                let value = sample(spec, &defaults.to_map(doc)[spec.name]);
                assert_eq!(
                    spec.kind.validate(&value),
                    Ok(Some(value.clone())),
                    "{}.{}: the sample is a stored value",
                    doc.name(),
                    spec.name
                );
                let mut stored = DocMaps::default();
                stored.get_mut(doc).insert(spec.name.into(), value.clone());
                let docs = Documents::resolve(&DocMaps::default(), &stored);
                for other in gating {
                    let mut want = defaults.to_map(other);
                    if other == doc {
                        want.insert(spec.name.into(), value.clone());
                    }
                    assert_eq!(docs.to_map(other), want, "{}.{}", doc.name(), spec.name);
                }
            }
        }
    }

    #[test]
    fn fields_are_those_of_the_spec() {
        // SPEC §9 on purpose a second time: renaming a table entry renames an API field.
        let names = |doc| fields(doc).iter().map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(
            names(ConfigDoc::WebhookConfig),
            [
                "webhook_url",
                "webhook_sending_enabled",
                "webhook_time_start",
                "webhook_time_end",
                "absence_pause_enabled",
                "absence_pause_days"
            ]
        );
        assert_eq!(
            names(ConfigDoc::ProcessingPrefs),
            [
                "exclude_keywords",
                "max_email_size_mb",
                "mirror_media_to_custom",
                "retry_count",
                "retry_delay_sec",
                "webhook_timeout_sec"
            ]
        );
        assert_eq!(
            names(ConfigDoc::RuntimeFlags),
            [
                "gmail_ingress_enabled",
                "webhook_sending_enabled",
                "allow_custom_webhook_without_links"
            ]
        );
        assert!(names(ConfigDoc::RoutingRules).is_empty());
    }

    #[test]
    fn every_struct_field_has_a_table_entry() {
        // Exhaustive patterns: a field added to one of these structs does not compile here
        // until it is listed, and then the counts below want its table entry. With the test
        // above (entries map to distinct struct fields), tables and structs match one to one.
        let Documents {
            webhook,
            prefs,
            flags,
        } = Documents::default();
        let WebhookConfig {
            webhook_url: _,
            webhook_sending_enabled: _,
            webhook_time_start: _,
            webhook_time_end: _,
            absence_pause_enabled: _,
            absence_pause_days: _,
        } = webhook;
        let ProcessingPrefs {
            exclude_keywords: _,
            max_email_size_mb: _,
            mirror_media_to_custom: _,
            retry:
                RetryPolicy {
                    retry_count: _,
                    retry_delay_sec: _,
                    timeout_sec: _,
                },
        } = prefs;
        let RuntimeFlags {
            gmail_ingress_enabled: _,
            webhook_sending_enabled: _,
            allow_custom_webhook_without_links: _,
        } = flags;
        assert_eq!(fields(ConfigDoc::WebhookConfig).len(), 6);
        assert_eq!(fields(ConfigDoc::ProcessingPrefs).len(), 6);
        assert_eq!(fields(ConfigDoc::RuntimeFlags).len(), 3);
    }

    #[test]
    fn stored_values_of_the_wrong_type_read_as_defaults() {
        let webhook = json!({"webhook_sending_enabled": "no", "webhook_url": 3, "absence_pause_days": ["monday", 1]});
        let prefs =
            json!({"max_email_size_mb": -1, "retry_count": 2.5, "exclude_keywords": "spam"});
        let d = Documents::from_maps(
            webhook.as_object().unwrap(),
            prefs.as_object().unwrap(),
            &Map::new(),
        );
        let mut want = Documents::default();
        want.webhook.absence_pause_days = vec!["monday".into()];
        assert_eq!(d, want);
    }
}
