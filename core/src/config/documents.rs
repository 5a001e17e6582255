//! The three gating documents (SPEC §9): `webhook_config`, `processing_prefs` and
//! `runtime_flags`, stored as JSON maps ([`DocMaps`]), validated field by field
//! ([`apply_update`], [`check_window`]) and resolved into typed effective values
//! ([`Documents`]). Their field names live in one table per document ([`fields`]).

use serde_json::{Map, Value};

use super::kinds::{parse_time_of_day, TargetPolicy};
use super::schema::fields;
use crate::api::ConfigDoc;
use crate::error::ApiError;
use crate::retry::RetryPolicy;

/// The three gating documents as validated JSON maps (stored form).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocMaps {
    pub webhook: Map<String, Value>,
    pub prefs: Map<String, Value>,
    pub flags: Map<String, Value>,
}

impl DocMaps {
    /// The map of one document.
    pub fn get(&self, doc: ConfigDoc) -> &Map<String, Value> {
        match doc {
            ConfigDoc::WebhookConfig => &self.webhook,
            ConfigDoc::ProcessingPrefs => &self.prefs,
            _ => &self.flags,
        }
    }
    /// The map of one document, mutably.
    pub fn get_mut(&mut self, doc: ConfigDoc) -> &mut Map<String, Value> {
        match doc {
            ConfigDoc::WebhookConfig => &mut self.webhook,
            ConfigDoc::ProcessingPrefs => &mut self.prefs,
            _ => &mut self.flags,
        }
    }
}

/// Validates a partial update of a gating document and merges it over `current`: omitted fields
/// keep their value, `null` resets a field to its default, unknown fields are refused. Errors
/// name the document and the field (also in [`ApiError::field`]). Webhook URLs must be https.
pub fn apply_update(
    doc: ConfigDoc,
    current: &Map<String, Value>,
    update: &Value,
) -> Result<Map<String, Value>, ApiError> {
    apply_update_for(doc, current, update, TargetPolicy::HttpsOnly)
}

/// [`apply_update`] with the webhook targets `policy` accepts.
pub fn apply_update_for(
    doc: ConfigDoc,
    current: &Map<String, Value>,
    update: &Value,
    policy: TargetPolicy,
) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(patch) = update else {
        return Err(ApiError::invalid_config(format!(
            "{} must be a JSON object",
            doc.name()
        )));
    };
    let specs = fields(doc);
    let mut merged = current.clone();
    for (key, value) in patch {
        if key == "_updated_at" {
            continue;
        }
        let spec = specs.iter().find(|s| s.name == key).ok_or_else(|| {
            let known: Vec<_> = specs.iter().map(|s| s.name).collect();
            ApiError::invalid_config(format!(
                "{}: unknown field {key:?} (known: {})",
                doc.name(),
                known.join(", ")
            ))
            .at(key.as_str())
        })?;
        match spec.kind.validate_for(value, policy) {
            Ok(Some(v)) => {
                merged.insert(key.clone(), v);
            }
            Ok(None) => {
                merged.remove(key);
            }
            Err(problem) => {
                return Err(
                    ApiError::invalid_config(format!("{}.{key}: {problem}", doc.name()))
                        .at(key.as_str()),
                )
            }
        }
    }
    Ok(merged)
}

/// `webhook_config`, effective values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub webhook_url: Option<String>,
    pub webhook_sending_enabled: bool,
    pub webhook_time_start: Option<String>,
    pub webhook_time_end: Option<String>,
    pub absence_pause_enabled: bool,
    pub absence_pause_days: Vec<String>,
}

/// The built-in defaults: no URL, sending on, no window, no absence.
impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            webhook_url: None,
            webhook_sending_enabled: true,
            webhook_time_start: None,
            webhook_time_end: None,
            absence_pause_enabled: false,
            absence_pause_days: Vec::new(),
        }
    }
}

/// `processing_prefs`, effective values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessingPrefs {
    pub exclude_keywords: Vec<String>,
    pub max_email_size_mb: u32,
    pub mirror_media_to_custom: bool,
    /// `retry_count`, `retry_delay_sec` and `webhook_timeout_sec`.
    pub retry: RetryPolicy,
}

/// The built-in defaults: no keyword, 25 MB, media mirrored, [`RetryPolicy::default`].
impl Default for ProcessingPrefs {
    fn default() -> Self {
        Self {
            exclude_keywords: Vec::new(),
            max_email_size_mb: 25,
            mirror_media_to_custom: true,
            retry: RetryPolicy::default(),
        }
    }
}

/// `runtime_flags`, effective values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeFlags {
    pub gmail_ingress_enabled: bool,
    pub webhook_sending_enabled: bool,
    pub allow_custom_webhook_without_links: bool,
}

/// The built-in defaults: ingress and sending on, links required for custom webhooks.
impl Default for RuntimeFlags {
    fn default() -> Self {
        Self {
            gmail_ingress_enabled: true,
            webhook_sending_enabled: true,
            allow_custom_webhook_without_links: false,
        }
    }
}

/// The three gating documents, resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Documents {
    pub webhook: WebhookConfig,
    pub prefs: ProcessingPrefs,
    pub flags: RuntimeFlags,
}

impl Documents {
    /// Overlays stored documents on the environment defaults and resolves them.
    pub fn resolve(env: &DocMaps, stored: &DocMaps) -> Documents {
        Documents::from_maps(
            &overlay(&env.webhook, &stored.webhook),
            &overlay(&env.prefs, &stored.prefs),
            &overlay(&env.flags, &stored.flags),
        )
    }

    /// Resolves validated maps (built-in defaults where a field is absent).
    pub fn from_maps(
        webhook: &Map<String, Value>,
        prefs: &Map<String, Value>,
        flags: &Map<String, Value>,
    ) -> Documents {
        let mut docs = Documents::default();
        for (doc, map) in [
            (ConfigDoc::WebhookConfig, webhook),
            (ConfigDoc::ProcessingPrefs, prefs),
            (ConfigDoc::RuntimeFlags, flags),
        ] {
            for spec in fields(doc) {
                if let Some(value) = map.get(spec.name) {
                    (spec.set)(&mut docs, value);
                }
            }
        }
        docs
    }

    /// The effective document as served by `GET /api/<name>` (every field, defaults filled).
    pub fn to_map(&self, doc: ConfigDoc) -> Map<String, Value> {
        fields(doc)
            .iter()
            .map(|spec| (spec.name.to_string(), (spec.get)(self)))
            .collect()
    }
}

/// Overlays a stored document's fields on the environment defaults.
pub fn overlay(defaults: &Map<String, Value>, stored: &Map<String, Value>) -> Map<String, Value> {
    let mut m = defaults.clone();
    for (k, v) in stored {
        if k != "_updated_at" {
            m.insert(k.clone(), v.clone());
        }
    }
    m
}

fn window_incomplete() -> ApiError {
    ApiError::invalid_config(
        "webhook_config.webhook_time_start and webhook_time_end must be set together (or both empty)",
    )
}

/// Cross-field rule of `webhook_config`: start and end both set or both empty, and different.
pub fn check_window(w: &WebhookConfig) -> Result<(), ApiError> {
    match (&w.webhook_time_start, &w.webhook_time_end) {
        (None, None) => Ok(()),
        (Some(s), Some(e)) => {
            if parse_time_of_day(s) == parse_time_of_day(e) {
                Err(ApiError::invalid_config(format!(
                    "webhook_config.webhook_time_start and webhook_time_end must differ (both {s:?})"
                ))
                .at("webhook_time_end"))
            } else {
                Ok(())
            }
        }
        (None, Some(_)) => Err(window_incomplete().at("webhook_time_start")),
        (Some(_), None) => Err(window_incomplete().at("webhook_time_end")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn updates_validate_and_merge() {
        let current = Map::new();
        let doc = ConfigDoc::WebhookConfig;
        let m = apply_update(
            doc,
            &current,
            &json!({"webhook_time_start":"22h00","absence_pause_days":["Samedi"]}),
        )
        .unwrap();
        assert_eq!(m["absence_pause_days"], json!(["saturday"]));
        let m2 = apply_update(doc, &m, &json!({"webhook_time_start": null})).unwrap();
        assert!(m2.get("webhook_time_start").is_none());
        let cases = [
            (
                json!({"absence_pause_days":["funday"]}),
                "absence_pause_days",
            ),
            (json!({"webhook_time_start":"25:00"}), "webhook_time_start"),
            (json!({"webhook_url":"http://x.y"}), "webhook_url"),
            (
                json!({"webhook_sending_enabled":"yes"}),
                "webhook_sending_enabled",
            ),
            (json!({"nope":1}), "nope"),
        ];
        for (update, field) in cases {
            let err = apply_update(doc, &current, &update).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(err.message.contains(field), "{field}: {}", err.message);
            assert_eq!(
                err.field.as_deref(),
                Some(field),
                "the error names its field"
            );
        }
        let prefs = ConfigDoc::ProcessingPrefs;
        assert!(apply_update(prefs, &current, &json!({"retry_count": 11}))
            .unwrap_err()
            .message
            .contains("between 0 and 10"));
        assert!(
            apply_update(prefs, &current, &json!({"retry_delay_sec": -1}))
                .unwrap_err()
                .message
                .contains("integer")
        );
        assert!(apply_update(prefs, &current, &json!({"webhook_timeout_sec": 0})).is_err());
        assert!(apply_update(prefs, &current, &json!({"webhook_timeout_sec": 1.5})).is_err());
        assert!(apply_update(prefs, &current, &json!([1])).is_err());
    }

    #[test]
    fn window_cross_field_rule() {
        let mut w = WebhookConfig {
            webhook_time_start: Some("09:00".into()),
            webhook_time_end: Some("9h00".into()),
            ..Default::default()
        };
        assert!(check_window(&w).unwrap_err().message.contains("differ"));
        w.webhook_time_end = None;
        assert_eq!(
            check_window(&w).unwrap_err().field.as_deref(),
            Some("webhook_time_end")
        );
        w.webhook_time_end = Some("18:00".into());
        assert!(check_window(&w).is_ok());
    }

    #[test]
    fn effective_documents_round_trip() {
        let d = Documents::from_maps(&Map::new(), &Map::new(), &Map::new());
        let m = d.to_map(ConfigDoc::ProcessingPrefs);
        assert_eq!(m["retry_count"], 3);
        assert_eq!(m["webhook_timeout_sec"], 30);
        let back = Documents::from_maps(
            &d.to_map(ConfigDoc::WebhookConfig),
            &m,
            &d.to_map(ConfigDoc::RuntimeFlags),
        );
        assert_eq!(back, d);
    }
}
