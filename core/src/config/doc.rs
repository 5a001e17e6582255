//! The configuration documents (SPEC §9), by name and store key.

/// The configuration documents with their own endpoints (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigDoc {
    WebhookConfig,
    ProcessingPrefs,
    RuntimeFlags,
    RoutingRules,
}

impl ConfigDoc {
    /// All documents.
    pub const ALL: [ConfigDoc; 4] = [
        ConfigDoc::WebhookConfig,
        ConfigDoc::ProcessingPrefs,
        ConfigDoc::RuntimeFlags,
        ConfigDoc::RoutingRules,
    ];
    /// The document's name, used in its path and store key.
    pub fn name(self) -> &'static str {
        match self {
            ConfigDoc::WebhookConfig => "webhook_config",
            ConfigDoc::ProcessingPrefs => "processing_prefs",
            ConfigDoc::RuntimeFlags => "runtime_flags",
            ConfigDoc::RoutingRules => "routing_rules",
        }
    }
    /// Redis key of the document (`r:ss:config:<name>`); the KV fallback uses the same key.
    pub fn store_key(self) -> String {
        format!("r:ss:config:{}", self.name())
    }
}
