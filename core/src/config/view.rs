//! The gating documents as the console's settings page shows them: every field's effective
//! value, where it comes from (`stored`, `environment` or `built-in`), the value it falls back
//! to when the stored one is removed, and its kind.

use serde_json::{json, Value};

use super::doc::ConfigDoc;
use super::documents::{DocMaps, Documents};
use super::schema::fields;

/// Where an effective value comes from.
pub fn source(env: &DocMaps, stored: &DocMaps, doc: ConfigDoc, field: &str) -> &'static str {
    if stored.get(doc).contains_key(field) {
        "stored"
    } else if env.get(doc).contains_key(field) {
        "environment"
    } else {
        "built-in"
    }
}

/// The fields of a gating document, in table order:
/// `{name, value, source, default, env_var, kind}`.
pub fn field_views(env: &DocMaps, stored: &DocMaps, doc: ConfigDoc) -> Vec<Value> {
    let effective = Documents::resolve(env, stored).to_map(doc);
    let fallback = Documents::resolve(env, &DocMaps::default()).to_map(doc);
    fields(doc)
        .iter()
        .map(|spec| {
            json!({
                "name": spec.name,
                "value": effective.get(spec.name),
                "source": source(env, stored, doc, spec.name),
                "default": fallback.get(spec.name),
                "env_var": spec.env,
                "kind": spec.kind.describe(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn maps(webhook: Value) -> DocMaps {
        DocMaps {
            webhook: webhook.as_object().cloned().unwrap_or_else(Map::new),
            ..DocMaps::default()
        }
    }

    #[test]
    fn each_field_says_where_its_value_comes_from() {
        let env = maps(json!({"webhook_time_start": "08:00", "webhook_time_end": "18:00"}));
        let stored = maps(json!({"webhook_time_start": "09:00", "_updated_at": "x"}));
        let views = field_views(&env, &stored, ConfigDoc::WebhookConfig);
        let by_name = |n: &str| views.iter().find(|v| v["name"] == n).unwrap().clone();
        #[rustfmt::skip]
        let table = [
            ("webhook_time_start", json!("09:00"), "stored", json!("08:00")),
            ("webhook_time_end", json!("18:00"), "environment", json!("18:00")),
            ("webhook_sending_enabled", json!(true), "built-in", json!(true)),
            ("webhook_url", Value::Null, "built-in", Value::Null),
        ];
        for (name, value, source, default) in table {
            let v = by_name(name);
            assert_eq!(
                (&v["value"], v["source"].as_str(), &v["default"]),
                (&value, Some(source), &default),
                "{name}"
            );
        }
        assert_eq!(
            by_name("webhook_time_start")["env_var"],
            "WEBHOOKS_TIME_START"
        );
        assert_eq!(by_name("webhook_time_start")["kind"]["type"], "time_of_day");
        assert_eq!(views.len(), fields(ConfigDoc::WebhookConfig).len());
        let prefs = field_views(&env, &stored, ConfigDoc::ProcessingPrefs);
        let retry = prefs.iter().find(|v| v["name"] == "retry_count").unwrap();
        assert_eq!(
            retry["kind"],
            json!({"type": "integer", "min": 0, "max": 10})
        );
    }
}
