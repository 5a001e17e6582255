//! Updating and resolving the gating documents through their field tables: a partial update
//! is validated field by field and merged ([`apply_update`]); stored maps over environment
//! defaults over built-in defaults give the effective [`Documents`].

use serde_json::{Map, Value};

use super::doc::ConfigDoc;
use super::documents::{DocMaps, Documents};
use super::kinds::TargetPolicy;
use super::schema::fields;
use crate::error::ApiError;

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
