//! Webhook URLs are secrets (a Make.com hook's path is its token): the console only ever sees
//! them masked (`https://hook.eu2.make.com/***`). These functions mask the configuration the
//! console reads, and put the stored URL back where a form sends a masked one unchanged, so an
//! operator can edit a rule's name without ever seeing or retyping its URL.

use serde_json::{Map, Value};

use crate::analysis::routing::RoutingRules;
use crate::base::mask::mask_url;
use crate::config::ConfigDoc;
use crate::error::ApiError;

/// True for a URL as [`mask_url`] writes it.
pub fn is_masked(url: &str) -> bool {
    url.ends_with("/***")
}

/// The rules with every webhook URL masked.
pub fn masked_rules(rules: &RoutingRules) -> RoutingRules {
    let mut out = rules.clone();
    for rule in &mut out.rules {
        rule.actions.webhook_url = mask_url(&rule.actions.webhook_url);
    }
    out
}

/// Masks `webhook_url` in a served `webhook_config` (other documents have no URL).
pub fn mask_document(map: &mut Map<String, Value>) {
    if let Some(Value::String(url)) = map.get_mut("webhook_url") {
        if !url.is_empty() {
            *url = mask_url(url);
        }
    }
}

/// Masks the URL fields of the settings view (`config::field_views`): value and fallback.
pub fn mask_field_views(views: &mut [Value]) {
    for view in views.iter_mut() {
        if view["kind"]["type"] != "url" {
            continue;
        }
        for key in ["value", "default"] {
            if let Some(Value::String(url)) = view.get_mut(key) {
                if !url.is_empty() {
                    *url = mask_url(url);
                }
            }
        }
    }
}

fn hidden(field: String, what: &str) -> ApiError {
    ApiError::invalid_config(format!(
        "{what}: the stored URL is hidden; keep it unchanged or enter a full URL"
    ))
    .at(field)
}

/// In a submitted `routing_rules` document, puts back the stored URL of every rule whose
/// `webhook_url` is still the mask of it (same rule id). A masked URL that matches no stored
/// rule is refused, naming the field: it would otherwise be saved as a literal `/***` URL.
pub fn restore_rule_urls(doc: &mut Value, stored: &RoutingRules) -> Result<(), ApiError> {
    let Some(rules) = doc.get_mut("rules").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    for (i, rule) in rules.iter_mut().enumerate() {
        let id = rule.get("id").and_then(Value::as_str).unwrap_or("").trim();
        let Some(url) = rule.pointer("/actions/webhook_url").and_then(Value::as_str) else {
            continue;
        };
        if !is_masked(url) {
            continue;
        }
        let original = stored
            .rules
            .iter()
            .find(|r| r.id == id && mask_url(&r.actions.webhook_url) == url)
            .map(|r| r.actions.webhook_url.clone());
        let field = format!("rules[{i}].actions.webhook_url");
        match original {
            Some(u) => rule["actions"]["webhook_url"] = Value::String(u),
            None => return Err(hidden(field.clone(), &format!("routing_rules: {field}"))),
        }
    }
    Ok(())
}

/// In a submitted update of `webhook_config`, a `webhook_url` that is the mask of the current
/// effective URL means "unchanged": it is dropped from the update. Another masked value is
/// refused.
pub fn restore_document_url(
    doc: ConfigDoc,
    update: &mut Value,
    current: Option<&str>,
) -> Result<(), ApiError> {
    let Some(map) = update
        .as_object_mut()
        .filter(|_| doc == ConfigDoc::WebhookConfig)
    else {
        return Ok(());
    };
    match map.get("webhook_url").and_then(Value::as_str) {
        Some(url) if is_masked(url) => {
            if current.is_some_and(|c| mask_url(c) == url) {
                map.remove("webhook_url");
                Ok(())
            } else {
                Err(hidden("webhook_url".into(), "webhook_config.webhook_url"))
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::routing::validate_rules;
    use serde_json::json;

    fn stored() -> RoutingRules {
        validate_rules(&json!({"rules": [
            {"id": "lab", "name": "Lab", "conditions": [{"field": "subject", "operator": "contains", "value": "x"}],
             "actions": {"webhook_url": "https://hook.eu2.make.com/s3cret-token"}},
        ]}))
        .unwrap()
    }

    #[test]
    fn rules_round_trip_through_the_console_masked() {
        let masked = masked_rules(&stored());
        let text = serde_json::to_string(&masked).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        assert_eq!(
            masked.rules[0].actions.webhook_url,
            "https://hook.eu2.make.com/***"
        );
        // The console renames the rule and sends the masked URL back: the stored one returns.
        let mut doc = serde_json::to_value(&masked).unwrap();
        doc["rules"][0]["name"] = json!("Lab 2");
        restore_rule_urls(&mut doc, &stored()).unwrap();
        let saved = validate_rules(&doc).unwrap();
        assert_eq!(
            saved.rules[0].actions.webhook_url,
            "https://hook.eu2.make.com/s3cret-token"
        );
        assert_eq!(saved.rules[0].name, "Lab 2");
    }

    #[test]
    fn a_masked_url_that_matches_nothing_is_refused() {
        #[rustfmt::skip]
        let table = [
            json!({"rules": [{"id": "other", "actions": {"webhook_url": "https://hook.eu2.make.com/***"}}]}),
            json!({"rules": [{"id": "lab", "actions": {"webhook_url": "https://elsewhere.example/***"}}]}),
            json!({"rules": [{"actions": {"webhook_url": "https://hook.eu2.make.com/***"}}]}),
        ];
        for mut doc in table {
            let e = restore_rule_urls(&mut doc, &stored()).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("rules[0].actions.webhook_url"));
        }
        let mut untouched =
            json!({"rules": [{"id": "lab", "actions": {"webhook_url": "https://new.example/h"}}]});
        restore_rule_urls(&mut untouched, &stored()).unwrap();
        assert_eq!(
            untouched["rules"][0]["actions"]["webhook_url"],
            "https://new.example/h"
        );
    }

    #[test]
    fn the_default_url_is_masked_and_kept_when_sent_back() {
        let mut served =
            json!({"webhook_url": "https://hook.example/path-secret", "webhook_time_start": null});
        mask_document(served.as_object_mut().unwrap());
        assert_eq!(served["webhook_url"], "https://hook.example/***");
        let current = Some("https://hook.example/path-secret");
        let doc = ConfigDoc::WebhookConfig;
        let mut same =
            json!({"webhook_url": "https://hook.example/***", "webhook_time_start": "09:00"});
        restore_document_url(doc, &mut same, current).unwrap();
        assert_eq!(same, json!({"webhook_time_start": "09:00"}));
        let mut other = json!({"webhook_url": "https://other.example/***"});
        let e = restore_document_url(doc, &mut other, current).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("webhook_url"));
        let mut new = json!({"webhook_url": "https://new.example/h"});
        restore_document_url(doc, &mut new, current).unwrap();
        assert_eq!(new["webhook_url"], "https://new.example/h");
        let mut views = vec![
            json!({"kind": {"type": "url"}, "value": "https://a.example/secret", "default": ""}),
            json!({"kind": {"type": "boolean"}, "value": true, "default": true}),
        ];
        mask_field_views(&mut views);
        assert_eq!(views[0]["value"], "https://a.example/***");
        assert_eq!(views[0]["default"], "");
        assert_eq!(views[1]["value"], true);
    }
}
