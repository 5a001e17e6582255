//! Configuration: the typed settings read once per invocation from vars and secrets, and the
//! three gating documents (`webhook_config`, `processing_prefs`, `runtime_flags`, SPEC §9) with
//! their table-driven validation. Environment variables give the documents' defaults.

use serde_json::{Map, Value};

use super::api::ConfigDoc;
use super::error::ApiError;
use super::ingest::type_name;
use super::log::DEFAULT_REDIS_LOG_CAP;
use super::offload::{DEFAULT_FOLDER_TIMEOUT_MS, DEFAULT_LINK_TIMEOUT_MS};
use super::retry::RetryPolicy;

/// Names of every variable and secret the main worker reads.
pub mod vars {
    pub const PROCESS_API_TOKEN: &str = "PROCESS_API_TOKEN";
    pub const ADMIN_TOKEN: &str = "ADMIN_TOKEN";
    pub const UPSTASH_REDIS_REST_URL: &str = "UPSTASH_REDIS_REST_URL";
    pub const UPSTASH_REDIS_REST_TOKEN: &str = "UPSTASH_REDIS_REST_TOKEN";
    pub const WEBHOOK_SIGNING_SECRET: &str = "WEBHOOK_SIGNING_SECRET";
    pub const WEBHOOK_URL: &str = "WEBHOOK_URL";
    pub const WEBHOOK_SENDING_ENABLED: &str = "WEBHOOK_SENDING_ENABLED";
    pub const WEBHOOKS_TIME_START: &str = "WEBHOOKS_TIME_START";
    pub const WEBHOOKS_TIME_END: &str = "WEBHOOKS_TIME_END";
    pub const ABSENCE_PAUSE_ENABLED: &str = "ABSENCE_PAUSE_ENABLED";
    pub const ABSENCE_PAUSE_DAYS: &str = "ABSENCE_PAUSE_DAYS";
    pub const EXCLUDE_KEYWORDS: &str = "EXCLUDE_KEYWORDS";
    pub const MAX_EMAIL_SIZE_MB: &str = "MAX_EMAIL_SIZE_MB";
    pub const MIRROR_MEDIA_TO_CUSTOM: &str = "MIRROR_MEDIA_TO_CUSTOM";
    pub const WEBHOOK_RETRY_COUNT: &str = "WEBHOOK_RETRY_COUNT";
    pub const WEBHOOK_RETRY_DELAY: &str = "WEBHOOK_RETRY_DELAY";
    pub const WEBHOOK_TIMEOUT_SEC: &str = "WEBHOOK_TIMEOUT_SEC";
    pub const GMAIL_INGRESS_ENABLED: &str = "GMAIL_INGRESS_ENABLED";
    pub const ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: &str = "ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS";
    pub const GMAIL_SENDER_ALLOWLIST: &str = "GMAIL_SENDER_ALLOWLIST";
    pub const POLLING_TIMEZONE: &str = "POLLING_TIMEZONE";
    pub const INFLIGHT_LOCK_TTL_SEC: &str = "INFLIGHT_LOCK_TTL_SEC";
    pub const WEBHOOK_LOG_MAX_ENTRIES: &str = "WEBHOOK_LOG_MAX_ENTRIES";
    pub const REDIS_TIMEOUT_MS: &str = "REDIS_TIMEOUT_MS";
    pub const HOLD_RECHECK_MAX_SEC: &str = "HOLD_RECHECK_MAX_SEC";
    pub const R2_FETCH_ENABLED: &str = "R2_FETCH_ENABLED";
    pub const R2_FETCH_TOKEN: &str = "R2_FETCH_TOKEN";
    pub const R2_RETENTION_HOURS: &str = "R2_RETENTION_HOURS";
    pub const R2_FETCH_TIMEOUT_SEC: &str = "R2_FETCH_TIMEOUT_SEC";
    pub const R2_FETCH_FOLDER_TIMEOUT_SEC: &str = "R2_FETCH_FOLDER_TIMEOUT_SEC";
    pub const R2_SERVE_MEDIA: &str = "R2_SERVE_MEDIA";
    pub const ALERT_NO_SUCCESS_MINUTES: &str = "ALERT_NO_SUCCESS_MINUTES";
    pub const ALERT_WEBHOOK_URL: &str = "ALERT_WEBHOOK_URL";
}

/// Names of every binding of the main worker.
pub mod bindings {
    pub const KV: &str = "FACTEUR_KV";
    pub const PROCESS_QUEUE: &str = "PROCESS_QUEUE";
    pub const DELIVERY_QUEUE: &str = "DELIVERY_QUEUE";
    pub const DEAD_LETTER_QUEUE: &str = "DEAD_LETTER_QUEUE";
    pub const DEDUP: &str = "DEDUP";
    pub const R2_FETCH: &str = "R2_FETCH";
    /// Queue names as the consumer sees them in `batch.queue()`.
    pub const PROCESS_QUEUE_NAME: &str = "facteur-process";
    pub const DELIVERY_QUEUE_NAME: &str = "facteur-deliver";
    pub const DEAD_LETTER_QUEUE_NAME: &str = "facteur-dead-letters";
}

/// Settings read once per invocation from variables and secrets.
#[derive(Debug, Clone)]
pub struct Settings {
    pub process_api_token: String,
    pub admin_token: String,
    pub upstash: Option<UpstashSettings>,
    pub signing_secret: Option<String>,
    pub sender_allowlist: Vec<String>,
    pub timezone: super::time::Zone,
    pub inflight_ttl_secs: u64,
    pub redis_log_cap: u64,
    pub redis_timeout_ms: u32,
    /// A held e-mail is gated again at least this often, so a configuration change (window
    /// moved, absence lifted, sending re-enabled) releases it without waiting for the old date.
    pub hold_recheck_max_secs: u32,
    pub r2_fetch_enabled: bool,
    pub r2_fetch_token: String,
    pub r2_retention_hours: u32,
    /// Per-link offload timeout (Dropbox folders: `r2_folder_timeout_ms`).
    pub r2_link_timeout_ms: u64,
    pub r2_folder_timeout_ms: u64,
    /// Serve `/media/<key>` through the main worker (local development without a public domain).
    pub r2_serve_media: bool,
    pub alert_no_success_minutes: u32,
    pub alert_webhook_url: Option<String>,
    /// Defaults of the three gating documents, from the environment.
    pub env_defaults: DocMaps,
}

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

/// Upstash REST endpoint and token.
#[derive(Debug, Clone)]
pub struct UpstashSettings {
    pub url: String,
    pub token: String,
}

/// Longest per-link offload timeout, the most r2-fetch accepts (`timeout_ms` ≤ 600,000).
pub const MAX_R2_TIMEOUT_SECS: u64 = 600;

/// Processed markers live 30 days (SPEC §2).
pub const PROCESSED_TTL_SECS: u64 = 30 * 86_400;

impl Settings {
    /// Reads and validates the settings; `get` returns a variable or secret by name. An invalid
    /// value is an error naming the variable (its value is not echoed: it may be a secret).
    pub fn load(get: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let num = |name: &str, default: u64, min: u64, max: u64| -> Result<u64, String> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| format!("{name} must be an integer between {min} and {max}")),
            }
        };
        let flag = |name: &str, default: bool| -> Result<bool, String> {
            get(name).map_or(Ok(default), |v| {
                parse_bool(&v).ok_or_else(|| format!("{name} must be true or false"))
            })
        };
        let upstash = match (
            get(vars::UPSTASH_REDIS_REST_URL),
            get(vars::UPSTASH_REDIS_REST_TOKEN),
        ) {
            (Some(url), Some(token)) => Some(UpstashSettings {
                url: url.trim_end_matches('/').to_string(),
                token,
            }),
            (None, None) => None,
            _ => {
                return Err(
                    "UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN must be set together"
                        .into(),
                )
            }
        };
        let tz_name = get(vars::POLLING_TIMEZONE).unwrap_or_else(|| "Europe/Paris".into());
        let timezone = super::time::parse_zone(&tz_name)
            .ok_or_else(|| format!("POLLING_TIMEZONE {tz_name:?} is not an IANA time zone"))?;
        let env_doc = |doc: ConfigDoc| -> Result<Map<String, Value>, String> {
            let mut map = Map::new();
            for spec in fields(doc) {
                let Some(var) = spec.env else { continue };
                let Some(raw) = get(var) else { continue };
                let value = spec
                    .kind
                    .from_env(&raw)
                    .map_err(|e| format!("{var}: {e}"))?;
                map.insert(spec.name.to_string(), value);
            }
            Ok(map)
        };
        let env_defaults = DocMaps {
            webhook: env_doc(ConfigDoc::WebhookConfig)?,
            prefs: env_doc(ConfigDoc::ProcessingPrefs)?,
            flags: env_doc(ConfigDoc::RuntimeFlags)?,
        };
        let defaults = Documents::resolve(&env_defaults, &DocMaps::default());
        check_window(&defaults.webhook)
            .map_err(|e| format!("WEBHOOKS_TIME_START/END: {}", e.message))?;
        Ok(Settings {
            process_api_token: get(vars::PROCESS_API_TOKEN).unwrap_or_default(),
            admin_token: get(vars::ADMIN_TOKEN).unwrap_or_default(),
            upstash,
            signing_secret: get(vars::WEBHOOK_SIGNING_SECRET),
            sender_allowlist: get(vars::GMAIL_SENDER_ALLOWLIST)
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            timezone,
            inflight_ttl_secs: num(vars::INFLIGHT_LOCK_TTL_SEC, 900, 10, 86_400)?,
            redis_log_cap: num(
                vars::WEBHOOK_LOG_MAX_ENTRIES,
                DEFAULT_REDIS_LOG_CAP,
                10,
                1_000_000,
            )?,
            redis_timeout_ms: num(vars::REDIS_TIMEOUT_MS, 3_000, 50, 30_000)? as u32,
            hold_recheck_max_secs: num(vars::HOLD_RECHECK_MAX_SEC, 900, 1, 43_200)? as u32,
            r2_fetch_enabled: flag(vars::R2_FETCH_ENABLED, false)?,
            r2_fetch_token: get(vars::R2_FETCH_TOKEN).unwrap_or_default(),
            r2_retention_hours: num(vars::R2_RETENTION_HOURS, 24, 1, 24 * 365)? as u32,
            r2_link_timeout_ms: num(
                vars::R2_FETCH_TIMEOUT_SEC,
                DEFAULT_LINK_TIMEOUT_MS / 1000,
                1,
                MAX_R2_TIMEOUT_SECS,
            )? * 1000,
            r2_folder_timeout_ms: num(
                vars::R2_FETCH_FOLDER_TIMEOUT_SEC,
                DEFAULT_FOLDER_TIMEOUT_MS / 1000,
                1,
                MAX_R2_TIMEOUT_SECS,
            )? * 1000,
            r2_serve_media: flag(vars::R2_SERVE_MEDIA, false)?,
            alert_no_success_minutes: num(vars::ALERT_NO_SUCCESS_MINUTES, 0, 0, 7 * 24 * 60)?
                as u32,
            alert_webhook_url: get(vars::ALERT_WEBHOOK_URL),
            env_defaults,
        })
    }

    /// The effective documents: stored fields over environment defaults over built-in defaults.
    pub fn documents(&self, stored: &DocMaps) -> Documents {
        Documents::resolve(&self.env_defaults, stored)
    }
}

/// Parses `true/false/1/0/yes/no/on/off`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The kind of a document field, which decides its validation and normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Bool,
    /// An `https://` URL, or a Make.com token normalised to one; null clears it.
    OptHttpsUrl,
    /// `HH:MM` or `HHhMM` (kept as written); null or "" clears it.
    OptTimeOfDay,
    /// Weekday names (English or French), normalised to lowercase English.
    Weekdays,
    /// An integer in `min..=max`.
    UInt {
        min: u64,
        max: u64,
    },
    /// A list of non-empty strings.
    StringList,
}

/// One field of a document: its name, kind, and the environment variable giving its default.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub kind: FieldKind,
    pub env: Option<&'static str>,
}

const fn field(name: &'static str, kind: FieldKind, env: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        env: Some(env),
    }
}

const WEBHOOK_CONFIG_FIELDS: &[FieldSpec] = &[
    field("webhook_url", FieldKind::OptHttpsUrl, vars::WEBHOOK_URL),
    field(
        "webhook_sending_enabled",
        FieldKind::Bool,
        vars::WEBHOOK_SENDING_ENABLED,
    ),
    field(
        "webhook_time_start",
        FieldKind::OptTimeOfDay,
        vars::WEBHOOKS_TIME_START,
    ),
    field(
        "webhook_time_end",
        FieldKind::OptTimeOfDay,
        vars::WEBHOOKS_TIME_END,
    ),
    field(
        "absence_pause_enabled",
        FieldKind::Bool,
        vars::ABSENCE_PAUSE_ENABLED,
    ),
    field(
        "absence_pause_days",
        FieldKind::Weekdays,
        vars::ABSENCE_PAUSE_DAYS,
    ),
];

const PROCESSING_PREFS_FIELDS: &[FieldSpec] = &[
    field(
        "exclude_keywords",
        FieldKind::StringList,
        vars::EXCLUDE_KEYWORDS,
    ),
    field(
        "max_email_size_mb",
        FieldKind::UInt { min: 1, max: 25 },
        vars::MAX_EMAIL_SIZE_MB,
    ),
    field(
        "mirror_media_to_custom",
        FieldKind::Bool,
        vars::MIRROR_MEDIA_TO_CUSTOM,
    ),
    field(
        "retry_count",
        FieldKind::UInt { min: 0, max: 10 },
        vars::WEBHOOK_RETRY_COUNT,
    ),
    field(
        "retry_delay_sec",
        FieldKind::UInt { min: 0, max: 600 },
        vars::WEBHOOK_RETRY_DELAY,
    ),
    field(
        "webhook_timeout_sec",
        FieldKind::UInt { min: 1, max: 300 },
        vars::WEBHOOK_TIMEOUT_SEC,
    ),
];

const RUNTIME_FLAGS_FIELDS: &[FieldSpec] = &[
    field(
        "gmail_ingress_enabled",
        FieldKind::Bool,
        vars::GMAIL_INGRESS_ENABLED,
    ),
    field(
        "webhook_sending_enabled",
        FieldKind::Bool,
        vars::WEBHOOK_SENDING_ENABLED,
    ),
    field(
        "allow_custom_webhook_without_links",
        FieldKind::Bool,
        vars::ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS,
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

const WEEKDAYS: [(&str, &str); 7] = [
    ("monday", "lundi"),
    ("tuesday", "mardi"),
    ("wednesday", "mercredi"),
    ("thursday", "jeudi"),
    ("friday", "vendredi"),
    ("saturday", "samedi"),
    ("sunday", "dimanche"),
];

/// Normalises a weekday name (English or French, any case) to lowercase English.
pub fn weekday_name(s: &str) -> Option<&'static str> {
    let s = s.trim().to_lowercase();
    WEEKDAYS
        .iter()
        .find(|(en, fr)| *en == s || *fr == s)
        .map(|(en, _)| *en)
}

/// Parses `HH:MM`, `HHhMM` or `HHh` into minutes after midnight.
pub fn parse_time_of_day(s: &str) -> Option<u32> {
    let s = s.trim();
    let (h, m) = s.split_once(':').or_else(|| s.split_once(['h', 'H']))?;
    let digits = |x: &str, max_len: usize| {
        !x.is_empty() && x.len() <= max_len && x.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(h, 2) || !(m.is_empty() && !s.contains(':') || m.len() == 2 && digits(m, 2)) {
        return None;
    }
    let (h, m): (u32, u32) = (
        h.parse().ok()?,
        if m.is_empty() { 0 } else { m.parse().ok()? },
    );
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Normalises a Make.com token (`abc123` or `abc123@hook.eu2.make.com`) to its https URL;
/// other values are returned trimmed.
pub fn normalize_webhook_url(raw: &str) -> String {
    let s = raw.trim();
    if s.contains("://") {
        return s.to_string();
    }
    let token_ok = |t: &str| {
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    match s.split_once('@') {
        Some((token, host))
            if token_ok(token) && host.ends_with("make.com") && !host.contains('/') =>
        {
            format!("https://{host}/{token}")
        }
        None if token_ok(s) => format!("https://hook.eu2.make.com/{s}"),
        _ => s.to_string(),
    }
}

/// Checks an https URL with a host.
pub fn check_https_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or("must be an https:// URL")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("must be an https:// URL with a host".into());
    }
    if url.chars().any(char::is_whitespace) {
        return Err("must not contain spaces".into());
    }
    Ok(())
}

impl FieldKind {
    /// Validates and normalises a JSON value; `Ok(None)` means "reset to the default".
    pub fn validate(self, v: &Value) -> Result<Option<Value>, String> {
        if v.is_null() {
            return Ok(None);
        }
        let wrong = || format!("expected {}, got {}", self.expected(), type_name(v));
        match self {
            FieldKind::Bool => v.as_bool().map(|b| Some(Value::Bool(b))).ok_or_else(wrong),
            FieldKind::OptHttpsUrl => {
                let s = v.as_str().ok_or_else(wrong)?;
                if s.trim().is_empty() {
                    return Ok(Some(Value::String(String::new())));
                }
                let url = normalize_webhook_url(s);
                check_https_url(&url)?;
                Ok(Some(Value::String(url)))
            }
            FieldKind::OptTimeOfDay => {
                let s = v.as_str().ok_or_else(wrong)?;
                if s.trim().is_empty() {
                    return Ok(Some(Value::String(String::new())));
                }
                parse_time_of_day(s).ok_or_else(|| {
                    format!("expected HH:MM or HHhMM (00:00 to 23:59), got {s:?}")
                })?;
                Ok(Some(Value::String(s.trim().to_string())))
            }
            FieldKind::Weekdays => {
                let items = v.as_array().ok_or_else(wrong)?;
                let mut days: Vec<Value> = Vec::new();
                for item in items {
                    let s = item
                        .as_str()
                        .ok_or_else(|| format!("expected day names, got {}", type_name(item)))?;
                    let day = weekday_name(s)
                        .ok_or_else(|| format!("unknown day name {s:?} (use monday..sunday)"))?;
                    if !days.iter().any(|d| d == day) {
                        days.push(Value::String(day.into()));
                    }
                }
                Ok(Some(Value::Array(days)))
            }
            FieldKind::UInt { min, max } => {
                let n = v.as_u64().filter(|_| v.is_u64()).ok_or_else(wrong)?;
                if n < min || n > max {
                    return Err(format!("must be between {min} and {max}, got {n}"));
                }
                Ok(Some(Value::from(n)))
            }
            FieldKind::StringList => {
                let items = v.as_array().ok_or_else(wrong)?;
                let mut out = Vec::new();
                for item in items {
                    let s = item
                        .as_str()
                        .ok_or_else(|| format!("expected strings, got {}", type_name(item)))?;
                    if !s.trim().is_empty() {
                        out.push(Value::String(s.trim().to_string()));
                    }
                }
                Ok(Some(Value::Array(out)))
            }
        }
    }

    fn expected(self) -> &'static str {
        match self {
            FieldKind::Bool => "a boolean",
            FieldKind::OptHttpsUrl | FieldKind::OptTimeOfDay => "a string",
            FieldKind::Weekdays | FieldKind::StringList => "an array of strings",
            FieldKind::UInt { .. } => "an integer",
        }
    }

    /// Reads an environment variable's text as this kind (lists are comma separated).
    pub fn from_env(self, raw: &str) -> Result<Value, String> {
        let value = match self {
            FieldKind::Bool => Value::Bool(parse_bool(raw).ok_or("must be true or false")?),
            FieldKind::UInt { .. } => Value::from(
                raw.trim()
                    .parse::<u64>()
                    .map_err(|_| "must be an integer")?,
            ),
            FieldKind::Weekdays | FieldKind::StringList => Value::Array(
                raw.split(',')
                    .map(|s| Value::String(s.trim().to_string()))
                    .collect(),
            ),
            FieldKind::OptHttpsUrl | FieldKind::OptTimeOfDay => Value::String(raw.to_string()),
        };
        self.validate(&value).map(|v| v.unwrap_or(Value::Null))
    }
}

/// Validates a partial update of a gating document and merges it over `current`: omitted fields
/// keep their value, `null` resets a field to its default, unknown fields are refused. Errors
/// name the document and the field.
pub fn apply_update(
    doc: ConfigDoc,
    current: &Map<String, Value>,
    update: &Value,
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
        })?;
        match spec.kind.validate(value) {
            Ok(Some(v)) => {
                merged.insert(key.clone(), v);
            }
            Ok(None) => {
                merged.remove(key);
            }
            Err(problem) => {
                return Err(ApiError::invalid_config(format!(
                    "{}.{key}: {problem}",
                    doc.name()
                )))
            }
        }
    }
    Ok(merged)
}

/// `webhook_config`, effective values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookConfig {
    pub webhook_url: Option<String>,
    pub webhook_sending_enabled: bool,
    pub webhook_time_start: Option<String>,
    pub webhook_time_end: Option<String>,
    pub absence_pause_enabled: bool,
    pub absence_pause_days: Vec<String>,
}

/// `processing_prefs`, effective values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessingPrefs {
    pub exclude_keywords: Vec<String>,
    pub max_email_size_mb: u32,
    pub mirror_media_to_custom: bool,
    pub retry: RetryPolicy,
}

/// `runtime_flags`, effective values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeFlags {
    pub gmail_ingress_enabled: bool,
    pub webhook_sending_enabled: bool,
    pub allow_custom_webhook_without_links: bool,
}

/// The three gating documents, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documents {
    pub webhook: WebhookConfig,
    pub prefs: ProcessingPrefs,
    pub flags: RuntimeFlags,
}

fn opt_str(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k)
        .and_then(Value::as_str)
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}
fn bool_or(m: &Map<String, Value>, k: &str, d: bool) -> bool {
    m.get(k).and_then(Value::as_bool).unwrap_or(d)
}
fn u32_or(m: &Map<String, Value>, k: &str, d: u32) -> u32 {
    m.get(k).and_then(Value::as_u64).map_or(d, |n| n as u32)
}
fn list(m: &Map<String, Value>, k: &str) -> Vec<String> {
    m.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
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
        let defaults = RetryPolicy::default();
        Documents {
            webhook: WebhookConfig {
                webhook_url: opt_str(webhook, "webhook_url"),
                webhook_sending_enabled: bool_or(webhook, "webhook_sending_enabled", true),
                webhook_time_start: opt_str(webhook, "webhook_time_start"),
                webhook_time_end: opt_str(webhook, "webhook_time_end"),
                absence_pause_enabled: bool_or(webhook, "absence_pause_enabled", false),
                absence_pause_days: list(webhook, "absence_pause_days"),
            },
            prefs: ProcessingPrefs {
                exclude_keywords: list(prefs, "exclude_keywords"),
                max_email_size_mb: u32_or(prefs, "max_email_size_mb", 25),
                mirror_media_to_custom: bool_or(prefs, "mirror_media_to_custom", true),
                retry: RetryPolicy {
                    retry_count: u32_or(prefs, "retry_count", defaults.retry_count),
                    retry_delay_sec: u32_or(prefs, "retry_delay_sec", defaults.retry_delay_sec),
                    timeout_sec: u32_or(prefs, "webhook_timeout_sec", defaults.timeout_sec),
                },
            },
            flags: RuntimeFlags {
                gmail_ingress_enabled: bool_or(flags, "gmail_ingress_enabled", true),
                webhook_sending_enabled: bool_or(flags, "webhook_sending_enabled", true),
                allow_custom_webhook_without_links: bool_or(
                    flags,
                    "allow_custom_webhook_without_links",
                    false,
                ),
            },
        }
    }

    /// The effective document as served by `GET /api/<name>` (every field, defaults filled).
    pub fn to_map(&self, doc: ConfigDoc) -> Map<String, Value> {
        let mut m = Map::new();
        let s = |o: &Option<String>| o.clone().map_or(Value::Null, Value::String);
        match doc {
            ConfigDoc::WebhookConfig => {
                let w = &self.webhook;
                m.insert("webhook_url".into(), s(&w.webhook_url));
                m.insert(
                    "webhook_sending_enabled".into(),
                    w.webhook_sending_enabled.into(),
                );
                m.insert("webhook_time_start".into(), s(&w.webhook_time_start));
                m.insert("webhook_time_end".into(), s(&w.webhook_time_end));
                m.insert(
                    "absence_pause_enabled".into(),
                    w.absence_pause_enabled.into(),
                );
                m.insert(
                    "absence_pause_days".into(),
                    w.absence_pause_days.clone().into(),
                );
            }
            ConfigDoc::ProcessingPrefs => {
                let p = &self.prefs;
                m.insert("exclude_keywords".into(), p.exclude_keywords.clone().into());
                m.insert("max_email_size_mb".into(), p.max_email_size_mb.into());
                m.insert(
                    "mirror_media_to_custom".into(),
                    p.mirror_media_to_custom.into(),
                );
                m.insert("retry_count".into(), p.retry.retry_count.into());
                m.insert("retry_delay_sec".into(), p.retry.retry_delay_sec.into());
                m.insert("webhook_timeout_sec".into(), p.retry.timeout_sec.into());
            }
            ConfigDoc::RuntimeFlags => {
                let f = &self.flags;
                m.insert(
                    "gmail_ingress_enabled".into(),
                    f.gmail_ingress_enabled.into(),
                );
                m.insert(
                    "webhook_sending_enabled".into(),
                    f.webhook_sending_enabled.into(),
                );
                m.insert(
                    "allow_custom_webhook_without_links".into(),
                    f.allow_custom_webhook_without_links.into(),
                );
            }
            ConfigDoc::RoutingRules => {}
        }
        m
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

/// Cross-field rule of `webhook_config`: start and end both set or both empty, and different.
pub fn check_window(w: &WebhookConfig) -> Result<(), ApiError> {
    match (&w.webhook_time_start, &w.webhook_time_end) {
        (None, None) => Ok(()),
        (Some(s), Some(e)) => {
            if parse_time_of_day(s) == parse_time_of_day(e) {
                Err(ApiError::invalid_config(format!(
                    "webhook_config.webhook_time_start and webhook_time_end must differ (both {s:?})"
                )))
            } else {
                Ok(())
            }
        }
        _ => Err(ApiError::invalid_config(
            "webhook_config.webhook_time_start and webhook_time_end must be set together (or both empty)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn settings_defaults() {
        let s = Settings::load(env(&[])).unwrap();
        assert_eq!(s.timezone, chrono_tz::Europe::Paris);
        assert_eq!(s.inflight_ttl_secs, 900);
        assert!(s.upstash.is_none());
        assert_eq!(
            s.documents(&DocMaps::default()).prefs.retry,
            RetryPolicy::default()
        );
        assert_eq!(s.documents(&DocMaps::default()).prefs.max_email_size_mb, 25);
        assert!(
            s.documents(&DocMaps::default()).flags.gmail_ingress_enabled
                && s.documents(&DocMaps::default())
                    .prefs
                    .mirror_media_to_custom
        );
    }

    #[test]
    fn settings_from_env() {
        let s = Settings::load(env(&[
            ("WEBHOOK_URL", "tok123"),
            ("WEBHOOK_RETRY_COUNT", "5"),
            ("WEBHOOK_RETRY_DELAY", "1"),
            ("GMAIL_SENDER_ALLOWLIST", " A@b.c, ,d@e.f"),
            ("ABSENCE_PAUSE_DAYS", "Lundi,sunday"),
            ("UPSTASH_REDIS_REST_URL", "https://x.upstash.io/"),
            ("UPSTASH_REDIS_REST_TOKEN", "t"),
        ]))
        .unwrap();
        assert_eq!(
            s.documents(&DocMaps::default())
                .webhook
                .webhook_url
                .as_deref(),
            Some("https://hook.eu2.make.com/tok123")
        );
        assert_eq!(s.documents(&DocMaps::default()).prefs.retry.retry_count, 5);
        assert_eq!(s.sender_allowlist, ["a@b.c", "d@e.f"]);
        assert_eq!(
            s.documents(&DocMaps::default()).webhook.absence_pause_days,
            ["monday", "sunday"]
        );
        assert_eq!(s.upstash.unwrap().url, "https://x.upstash.io");
    }

    #[test]
    fn settings_errors_name_the_variable() {
        for (k, v) in [
            ("WEBHOOK_RETRY_COUNT", "11"),
            ("POLLING_TIMEZONE", "Mars/Olympus"),
            ("WEBHOOK_URL", "http://insecure.example"),
            ("INFLIGHT_LOCK_TTL_SEC", "x"),
            ("UPSTASH_REDIS_REST_URL", "https://only-url"),
        ] {
            let err = Settings::load(env(&[(k, v)])).unwrap_err();
            assert!(err.contains(k.split('_').next().unwrap()), "{k}: {err}");
        }
        let err = Settings::load(env(&[("WEBHOOKS_TIME_START", "09:00")])).unwrap_err();
        assert!(err.contains("set together"), "{err}");
    }

    #[test]
    fn time_of_day_forms() {
        assert_eq!(parse_time_of_day("09:30"), Some(570));
        assert_eq!(parse_time_of_day("9h30"), Some(570));
        assert_eq!(parse_time_of_day("18h"), Some(1080));
        assert_eq!(parse_time_of_day("23:59"), Some(1439));
        for bad in [
            "24:00", "12:60", "12:5", "12", "ab:cd", "", "9:", "123:00", "12h5",
        ] {
            assert_eq!(parse_time_of_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn make_tokens_normalise() {
        assert_eq!(
            normalize_webhook_url("abc123"),
            "https://hook.eu2.make.com/abc123"
        );
        assert_eq!(
            normalize_webhook_url("abc123@hook.us1.make.com"),
            "https://hook.us1.make.com/abc123"
        );
        assert_eq!(normalize_webhook_url(" https://x.y/z "), "https://x.y/z");
    }

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
        assert!(check_window(&w).is_err());
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
