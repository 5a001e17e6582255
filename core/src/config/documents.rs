//! The three gating documents (SPEC §9): `webhook_config`, `processing_prefs` and
//! `runtime_flags`, as stored JSON maps ([`DocMaps`]) and as typed effective values
//! ([`Documents`]), with the one rule across fields ([`check_window`]). Their field names live
//! in one table per document ([`fields`](super::fields)); updating and resolving them walk
//! those tables (`resolve`).

use serde_json::{Map, Value};

use super::doc::ConfigDoc;
use super::kinds::parse_time_of_day;
use crate::delivery::retry::RetryPolicy;
use crate::error::ApiError;

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
}
