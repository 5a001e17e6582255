//! The one typed configuration: settings read once per invocation from variables and secrets
//! (their names are in [`crate::config::names`]). The environment also gives the gating
//! documents' defaults ([`Settings::env_defaults`]), read through the documents' own tables.

use serde_json::{Map, Value};

use crate::analysis::offload::{DEFAULT_FOLDER_TIMEOUT_MS, DEFAULT_LINK_TIMEOUT_MS};
use crate::base::time::{parse_zone, Zone};
use crate::config::names::vars;
use crate::config::ConfigDoc;
use crate::config::{
    check_https_url, check_window, fields, normalize_webhook_url, parse_bool, secret_weakness,
    weak_secret_message, DocMaps, Documents, TargetPolicy,
};
use crate::delivery::replay_budget::DEFAULT_PER_MINUTE;
use crate::delivery::signing::parse_secrets;
use crate::delivery::target_health::HealthPolicy;
use crate::operator::alerts::AlertThresholds;
use crate::operator::attempts::AttemptPolicy;
use crate::store::log::DEFAULT_REDIS_LOG_CAP;

/// Settings read once per invocation from variables and secrets.
#[derive(Debug, Clone)]
pub struct Settings {
    pub process_api_token: String,
    pub admin_token: String,
    pub upstash: Option<UpstashSettings>,
    /// The webhook signing secrets, separated by single spaces (several during a rotation:
    /// each one signs every webhook, see `crate::delivery::signing`).
    pub signing_secret: Option<String>,
    pub sender_allowlist: Vec<String>,
    pub timezone: Zone,
    pub inflight_ttl_secs: u64,
    /// Subrequests one invocation may make (`SUBREQUEST_BUDGET`: 50 on the Free plan, 1,000 on
    /// Paid; see `crate::delivery::budget`).
    pub subrequest_budget: u64,
    /// CPU milliseconds the processing consumer admits in one invocation (`CPU_BUDGET_MS`; 0,
    /// the default, admits by subrequests only: see `crate::delivery::budget`).
    pub cpu_budget_ms: u64,
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
    pub alert_webhook_url: Option<String>,
    /// The console's password when it is not `ADMIN_TOKEN`.
    pub dashboard_password: Option<String>,
    /// Extra secret material for the session key (optional: see `session::SessionKey`).
    pub session_secret: Option<String>,
    /// Local development: `http://` loopback targets accepted, and only loopback hosts served.
    pub dev_http_loopback: bool,
    /// Alert thresholds (`ALERT_*`).
    pub alerts: AlertThresholds,
    /// When targets are paused, probed and drained (`TARGET_*`).
    pub health: HealthPolicy,
    /// Gmail push, when configured (`GMAIL_*`).
    pub gmail: Option<GmailSettings>,
    /// Test aid (`FAULT_INJECT_PANIC_MARKER`): refused outside local development.
    pub fault_panic_marker: Option<String>,
    /// Failed credentials allowed per client and globally (`AUTH_*_FAILURE_LIMIT`).
    pub attempts: AttemptPolicy,
    /// Replays a minute per target (`REPLAY_BUDGET_PER_MINUTE`).
    pub replay_per_minute: u32,
    /// Defaults of the three gating documents, from the environment.
    pub env_defaults: DocMaps,
}

/// Gmail push (docs/gmail.md): set when the OAuth client, the token key and the topic are.
#[derive(Debug, Clone)]
pub struct GmailSettings {
    pub client_id: String,
    pub client_secret: String,
    /// Seals the refresh token at rest (AES-GCM; see `intake::gmail::oauth::token_key`).
    pub token_key: String,
    /// `projects/<project>/topics/<topic>`: where the watch publishes.
    pub topic: String,
    /// The label whose new messages are taken (a name, as in Gmail, or a label id).
    pub label: String,
    /// What a push's OIDC token must carry (`aud`, `email`); unset, pushes are refused.
    pub push: Option<PushAuth>,
}

/// The audience and service account of the push subscription.
#[derive(Debug, Clone)]
pub struct PushAuth {
    pub audience: String,
    pub service_account: String,
}

/// The label the Apps Script uses too, so both ways take the same messages.
pub const DEFAULT_GMAIL_LABEL: &str = "facteur/to-push";
/// The shortest `GMAIL_TOKEN_KEY` accepted (`openssl rand -base64 32` gives 44 characters).
pub const MIN_TOKEN_KEY_CHARS: usize = 32;

/// Upstash REST endpoint and token.
#[derive(Debug, Clone)]
pub struct UpstashSettings {
    pub url: String,
    pub token: String,
}

/// Longest per-link offload timeout, the most r2-fetch accepts (`timeout_ms` ≤ 600,000).
pub const MAX_R2_TIMEOUT_SECS: u64 = 600;

/// Reads the `GMAIL_*` settings: none set, Gmail push is off; the four that make it work must
/// be set together, and the push's two together. Errors name variables, never values.
fn gmail_settings(get: &impl Fn(&str) -> Option<String>) -> Result<Option<GmailSettings>, String> {
    let required = [
        vars::GMAIL_CLIENT_ID,
        vars::GMAIL_CLIENT_SECRET,
        vars::GMAIL_TOKEN_KEY,
        vars::GMAIL_PUBSUB_TOPIC,
    ];
    let values: Vec<Option<String>> = required.iter().map(|n| get(n)).collect();
    let push = (
        get(vars::GMAIL_PUSH_AUDIENCE),
        get(vars::GMAIL_PUSH_SERVICE_ACCOUNT),
    );
    if values.iter().all(Option::is_none) {
        if push.0.is_some() || push.1.is_some() {
            return Err(format!(
                "{} and {} need Gmail push configured: {} must be set too",
                vars::GMAIL_PUSH_AUDIENCE,
                vars::GMAIL_PUSH_SERVICE_ACCOUNT,
                required.join(", ")
            ));
        }
        return Ok(None);
    }
    let missing: Vec<&str> = required
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "Gmail push needs {} set together; missing: {}",
            required.join(", "),
            missing.join(", ")
        ));
    }
    let [client_id, client_secret, token_key, topic] =
        <[Option<String>; 4]>::try_from(values).map_err(|_| "unreachable".to_string())?;
    let (client_id, client_secret, token_key, topic) = (
        client_id.unwrap_or_default(),
        client_secret.unwrap_or_default(),
        token_key.unwrap_or_default(),
        topic.unwrap_or_default(),
    );
    if token_key.chars().count() < MIN_TOKEN_KEY_CHARS {
        return Err(format!(
            "{} must be at least {MIN_TOKEN_KEY_CHARS} characters (openssl rand -base64 32)",
            vars::GMAIL_TOKEN_KEY
        ));
    }
    let segments: Vec<&str> = topic.split('/').collect();
    let topic_ok = segments.len() == 4
        && segments[0] == "projects"
        && segments[2] == "topics"
        && !segments[1].is_empty()
        && !segments[3].is_empty();
    if !topic_ok {
        return Err(format!(
            "{} must be projects/<project>/topics/<topic>",
            vars::GMAIL_PUBSUB_TOPIC
        ));
    }
    let push = match push {
        (None, None) => None,
        (Some(audience), Some(service_account)) => {
            if !service_account.contains('@') || service_account.contains(char::is_whitespace) {
                return Err(format!(
                    "{} must be a service account's e-mail address",
                    vars::GMAIL_PUSH_SERVICE_ACCOUNT
                ));
            }
            Some(PushAuth {
                audience,
                service_account: service_account.to_ascii_lowercase(),
            })
        }
        _ => {
            return Err(format!(
                "{} and {} must be set together",
                vars::GMAIL_PUSH_AUDIENCE,
                vars::GMAIL_PUSH_SERVICE_ACCOUNT
            ))
        }
    };
    Ok(Some(GmailSettings {
        client_id,
        client_secret,
        token_key,
        topic,
        label: get(vars::GMAIL_LABEL).unwrap_or_else(|| DEFAULT_GMAIL_LABEL.into()),
        push,
    }))
}

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
        // Tokens and passwords anyone could guess are refused before anything is served.
        let secret = |name: &str| -> Result<Option<String>, String> {
            match get(name) {
                Some(v) => match secret_weakness(&v) {
                    Some(why) => Err(weak_secret_message(name, why)),
                    None => Ok(Some(v)),
                },
                None => Ok(None),
            }
        };
        let process_api_token = secret(vars::PROCESS_API_TOKEN)?;
        let admin_token = secret(vars::ADMIN_TOKEN)?;
        let dashboard_password = secret(vars::DASHBOARD_PASSWORD)?;
        let session_secret = secret(vars::SESSION_SECRET)?;
        if process_api_token.is_some() && process_api_token == admin_token {
            return Err(format!(
                "{} must differ from {}: the ingest's token (kept in the Apps Script) must not open the admin API",
                vars::PROCESS_API_TOKEN,
                vars::ADMIN_TOKEN
            ));
        }
        if process_api_token.is_some() && process_api_token == dashboard_password {
            return Err(format!(
                "{} must differ from {}: the ingest's token must not open the console",
                vars::DASHBOARD_PASSWORD,
                vars::PROCESS_API_TOKEN
            ));
        }
        let upstash = match (
            get(vars::UPSTASH_REDIS_REST_URL),
            get(vars::UPSTASH_REDIS_REST_TOKEN),
        ) {
            (Some(url), Some(token)) => {
                // The token travels with every call: never in clear.
                if !url.to_ascii_lowercase().starts_with("https://") {
                    return Err(format!(
                        "{} must be an https:// URL (its token travels with every call)",
                        vars::UPSTASH_REDIS_REST_URL
                    ));
                }
                Some(UpstashSettings {
                    url: url.trim_end_matches('/').to_string(),
                    token,
                })
            }
            (None, None) => None,
            _ => {
                return Err(
                    "UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN must be set together"
                        .into(),
                )
            }
        };
        let dev_http_loopback = flag(vars::DEV_ALLOW_HTTP_LOOPBACK, false)?;
        let fault_panic_marker = get(vars::FAULT_INJECT_PANIC_MARKER);
        if fault_panic_marker.is_some() && !dev_http_loopback {
            return Err(format!(
                "{} is a test aid for local development only (with {}): unset it",
                vars::FAULT_INJECT_PANIC_MARKER,
                vars::DEV_ALLOW_HTTP_LOOPBACK
            ));
        }
        let policy = TargetPolicy::for_dev_flag(dev_http_loopback);
        let tz_name = get(vars::POLLING_TIMEZONE).unwrap_or_else(|| "Europe/Paris".into());
        let timezone = parse_zone(&tz_name)
            .ok_or_else(|| format!("POLLING_TIMEZONE {tz_name:?} is not an IANA time zone"))?;
        let env_doc = |doc: ConfigDoc| -> Result<Map<String, Value>, String> {
            let mut map = Map::new();
            for spec in fields(doc) {
                let Some(var) = spec.env else { continue };
                let Some(raw) = get(var) else { continue };
                let value = spec
                    .kind
                    .from_env(&raw, policy)
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
        let signing_secret = get(vars::WEBHOOK_SIGNING_SECRET)
            .map(|raw| parse_secrets(&raw))
            .transpose()
            .map_err(|e| format!("{}: {e}", vars::WEBHOOK_SIGNING_SECRET))?;
        // Validated as a webhook URL (the alert is one): the host posted to is the host logged.
        let alert_webhook_url = match get(vars::ALERT_WEBHOOK_URL) {
            None => None,
            Some(raw) => {
                let url = normalize_webhook_url(&raw);
                check_https_url(&url).map_err(|e| format!("ALERT_WEBHOOK_URL {e}"))?;
                Some(url)
            }
        };
        let gmail = gmail_settings(&get)?;
        Ok(Settings {
            process_api_token: process_api_token.unwrap_or_default(),
            admin_token: admin_token.unwrap_or_default(),
            upstash,
            signing_secret,
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
            subrequest_budget: num(vars::SUBREQUEST_BUDGET, 50, 10, 1_000)?,
            cpu_budget_ms: num(vars::CPU_BUDGET_MS, 0, 0, 300_000)?,
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
            alert_webhook_url,
            dashboard_password,
            session_secret,
            dev_http_loopback,
            alerts: AlertThresholds {
                success_rate_min_percent: num(vars::ALERT_SUCCESS_RATE_MIN_PERCENT, 90, 0, 100)?
                    as u32,
                timeout_rate_max_percent: num(vars::ALERT_TIMEOUT_RATE_MAX_PERCENT, 5, 0, 100)?
                    as u32,
                avg_duration_max_ms: num(vars::ALERT_AVG_DURATION_MAX_MS, 5_000, 1, 600_000)?
                    as u32,
                redis_down_minutes: num(vars::ALERT_REDIS_DOWN_MINUTES, 60, 0, 7 * 24 * 60)? as u32,
                no_success_minutes: num(vars::ALERT_NO_SUCCESS_MINUTES, 0, 0, 7 * 24 * 60)? as u32,
                window_minutes: num(vars::ALERT_WINDOW_MINUTES, 60, 1, 7 * 24 * 60)? as u32,
                min_attempts: num(vars::ALERT_MIN_ATTEMPTS, 10, 1, 100_000)? as u32,
            },
            health: HealthPolicy {
                pause_after_failures: num(vars::TARGET_PAUSE_FAILURES, 10, 1, 10_000)? as u32,
                pause_min_span_ms: num(vars::TARGET_PAUSE_MIN_SECS, 300, 0, 7 * 86_400)? as i64
                    * 1000,
                probe_base_secs: num(vars::TARGET_PROBE_BASE_SECS, 30, 1, 3_600)? as u32,
                probe_max_secs: num(vars::TARGET_PROBE_MAX_SECS, 120, 1, 86_400)? as u32,
                drain_per_sec: num(vars::TARGET_DRAIN_PER_SEC, 10, 1, 1_000)? as u32,
            },
            gmail,
            fault_panic_marker,
            attempts: AttemptPolicy {
                per_client: num(vars::AUTH_CLIENT_FAILURE_LIMIT, 5, 1, 1_000)? as u32,
                global: num(vars::AUTH_GLOBAL_FAILURE_LIMIT, 100, 1, 100_000)? as u32,
                quiet_ms: num(vars::AUTH_BURST_QUIET_SECS, 600, 1, 86_400)? as i64 * 1000,
            },
            replay_per_minute: num(
                vars::REPLAY_BUDGET_PER_MINUTE,
                u64::from(DEFAULT_PER_MINUTE),
                1,
                10_000,
            )? as u32,
            env_defaults,
        })
    }

    /// The webhook targets accepted: https only, unless `DEV_ALLOW_HTTP_LOOPBACK` is on.
    pub fn target_policy(&self) -> TargetPolicy {
        TargetPolicy::for_dev_flag(self.dev_http_loopback)
    }

    /// The effective documents: stored fields over environment defaults over built-in defaults.
    pub fn documents(&self, stored: &DocMaps) -> Documents {
        Documents::resolve(&self.env_defaults, stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::retry::RetryPolicy;

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

    const ADMIN: &str = "test-admin-Wd5nG8hJt2Ks6Yp3";
    const PROCESS: &str = "test-process-Q7b2Xk9mPz4vLc8R";

    #[test]
    fn weak_or_shared_secrets_are_refused_by_name_never_by_value() {
        #[rustfmt::skip]
        let table: [(&[(&str, &str)], &str); 12] = [
            (&[("ADMIN_TOKEN", "dev-admin-token")], "ADMIN_TOKEN is too weak (shorter than 24 characters)"),
            (&[("PROCESS_API_TOKEN", "test-process-token")], "PROCESS_API_TOKEN is too weak (shorter"),
            (&[("DASHBOARD_PASSWORD", "hunter2")], "DASHBOARD_PASSWORD is too weak (shorter"),
            (&[("SESSION_SECRET", "tiny!")], "SESSION_SECRET is too weak"),
            (&[("ADMIN_TOKEN", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")], "ADMIN_TOKEN is too weak (one character repeated)"),
            (&[("ADMIN_TOKEN", "123456789012345678901234567890")], "ADMIN_TOKEN is too weak (only digits)"),
            (&[("ADMIN_TOKEN", "abcd1234abcd1234abcd1234abcd1234")], "ADMIN_TOKEN is too weak (a short pattern repeated)"),
            (&[("ADMIN_TOKEN", ADMIN), ("PROCESS_API_TOKEN", ADMIN)], "PROCESS_API_TOKEN must differ from ADMIN_TOKEN"),
            (&[("PROCESS_API_TOKEN", PROCESS), ("DASHBOARD_PASSWORD", PROCESS)], "DASHBOARD_PASSWORD must differ from PROCESS_API_TOKEN"),
            (&[("FAULT_INJECT_PANIC_MARKER", "[boom]")], "FAULT_INJECT_PANIC_MARKER is a test aid for local development only"),
            (&[("UPSTASH_REDIS_REST_URL", "http://x.upstash.io"), ("UPSTASH_REDIS_REST_TOKEN", "tok-xyz")], "UPSTASH_REDIS_REST_URL must be an https:// URL"),
            (&[("AUTH_CLIENT_FAILURE_LIMIT", "none")], "AUTH_CLIENT_FAILURE_LIMIT must be an integer"),
        ];
        for (pairs, want) in table {
            let err = Settings::load(env(pairs)).unwrap_err();
            assert!(err.starts_with(want), "{pairs:?}: {err}");
            for (_, value) in pairs {
                assert!(
                    !err.contains(value),
                    "{pairs:?}: the value is not echoed: {err}"
                );
            }
        }
        // Strong and distinct, or unset (the endpoint is then closed): accepted.
        let s = Settings::load(env(&[
            ("ADMIN_TOKEN", ADMIN),
            ("PROCESS_API_TOKEN", PROCESS),
            ("DASHBOARD_PASSWORD", "correct horse battery staple"),
            ("DASHBOARD_PASSWORD", ADMIN),
            ("FAULT_INJECT_PANIC_MARKER", "[boom]"),
            ("DEV_ALLOW_HTTP_LOOPBACK", "true"),
        ]))
        .unwrap();
        assert_eq!(
            s.dashboard_password.as_deref(),
            Some("correct horse battery staple")
        );
        assert_eq!(s.fault_panic_marker.as_deref(), Some("[boom]"));
        assert_eq!(Settings::load(env(&[])).unwrap().admin_token, "");
        // The example values of `make dev` pass the same rules.
        let example =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.dev.vars.example"))
                .unwrap();
        let pairs: Vec<(String, String)> = example
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let dev = Settings::load(env(&refs)).unwrap_or_else(|e| panic!(".dev.vars.example: {e}"));
        assert!(!dev.admin_token.is_empty() && !dev.process_api_token.is_empty());
    }

    #[test]
    fn settings_defaults() {
        let s = Settings::load(env(&[])).unwrap();
        assert_eq!(s.attempts, AttemptPolicy::default());
        assert_eq!(s.replay_per_minute, 100);
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
            ("ADMIN_TOKEN", ADMIN),
            ("PROCESS_API_TOKEN", PROCESS),
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
        let local = "http://127.0.0.1:8790/hook";
        let err = Settings::load(env(&[("WEBHOOK_URL", local)])).unwrap_err();
        assert!(err.contains("DEV_ALLOW_HTTP_LOOPBACK"), "{err}");
        let dev = Settings::load(env(&[
            ("WEBHOOK_URL", local),
            ("DEV_ALLOW_HTTP_LOOPBACK", "true"),
        ]))
        .unwrap();
        assert_eq!(
            dev.documents(&DocMaps::default())
                .webhook
                .webhook_url
                .as_deref(),
            Some(local)
        );
        assert_eq!(dev.target_policy(), TargetPolicy::AllowHttpLoopback);
        let err = Settings::load(env(&[("WEBHOOKS_TIME_START", "09:00")])).unwrap_err();
        assert!(err.contains("set together"), "{err}");
    }

    #[test]
    fn secrets_and_alert_urls_are_checked_at_load() {
        let err = Settings::load(env(&[("WEBHOOK_SIGNING_SECRET", "whsec_***")])).unwrap_err();
        assert!(
            err.starts_with("WEBHOOK_SIGNING_SECRET") && !err.contains("***"),
            "{err}"
        );
        let s = Settings::load(env(&[("WEBHOOK_SIGNING_SECRET", "whsec_c2VjcmV0")])).unwrap();
        assert_eq!(s.signing_secret.as_deref(), Some("whsec_c2VjcmV0"));
        for bad in [
            "http://alerts.example/x",
            "https://u:p@alerts.example/",
            "https://127.0.0.1/x",
        ] {
            let err = Settings::load(env(&[("ALERT_WEBHOOK_URL", bad)])).unwrap_err();
            assert!(err.starts_with("ALERT_WEBHOOK_URL"), "{bad}: {err}");
            assert!(!err.contains(bad), "the value is not echoed: {err}");
        }
        let s = Settings::load(env(&[("ALERT_WEBHOOK_URL", " tok123 ")])).unwrap();
        assert_eq!(
            s.alert_webhook_url.as_deref(),
            Some("https://hook.eu2.make.com/tok123")
        );
    }

    #[test]
    fn gmail_push_settings() {
        assert!(Settings::load(env(&[])).unwrap().gmail.is_none());
        let full = [
            ("GMAIL_CLIENT_ID", "123.apps.googleusercontent.com"),
            ("GMAIL_CLIENT_SECRET", "GOCSPX-secret-value"),
            ("GMAIL_TOKEN_KEY", "k3y-k3y-k3y-k3y-k3y-k3y-k3y-k3y-k3y"),
            ("GMAIL_PUBSUB_TOPIC", "projects/facteur-123/topics/gmail"),
        ];
        let g = Settings::load(env(&full)).unwrap().gmail.unwrap();
        assert_eq!(g.label, DEFAULT_GMAIL_LABEL);
        assert!(g.push.is_none());
        let mut with_push = full.to_vec();
        with_push.push(("GMAIL_PUSH_AUDIENCE", "https://f.example/api/gmail/push"));
        with_push.push((
            "GMAIL_PUSH_SERVICE_ACCOUNT",
            "Push@P.iam.gserviceaccount.com",
        ));
        with_push.push(("GMAIL_LABEL", "Label_42"));
        let g = Settings::load(env(&with_push)).unwrap().gmail.unwrap();
        assert_eq!(
            g.push.unwrap().service_account,
            "push@p.iam.gserviceaccount.com"
        );
        assert_eq!(g.label, "Label_42");
        #[rustfmt::skip]
        let bad: [(Vec<(&str, &str)>, &str); 6] = [
            (vec![full[0]], "missing: GMAIL_CLIENT_SECRET, GMAIL_TOKEN_KEY, GMAIL_PUBSUB_TOPIC"),
            (vec![full[0], full[1], ("GMAIL_TOKEN_KEY", "short"), full[3]], "GMAIL_TOKEN_KEY must be"),
            (vec![full[0], full[1], full[2], ("GMAIL_PUBSUB_TOPIC", "gmail")], "GMAIL_PUBSUB_TOPIC must be"),
            ([full.to_vec(), vec![("GMAIL_PUSH_AUDIENCE", "a")]].concat(), "set together"),
            ([full.to_vec(), vec![("GMAIL_PUSH_AUDIENCE", "a"), ("GMAIL_PUSH_SERVICE_ACCOUNT", "nobody")]].concat(), "GMAIL_PUSH_SERVICE_ACCOUNT must be"),
            (vec![("GMAIL_PUSH_AUDIENCE", "a"), ("GMAIL_PUSH_SERVICE_ACCOUNT", "a@b.c")], "need Gmail push configured"),
        ];
        for (vars, want) in bad {
            let err = Settings::load(env(&vars)).unwrap_err();
            assert!(err.contains(want), "{vars:?}: {err}");
            for (_, value) in &vars {
                if value.len() > 5 {
                    assert!(!err.contains(value), "the value is not echoed: {err}");
                }
            }
        }
    }

    #[test]
    fn signing_secrets_for_a_rotation() {
        let s = Settings::load(env(&[(
            "WEBHOOK_SIGNING_SECRET",
            " whsec_c2VjcmV0   old-raw-secret ",
        )]))
        .unwrap();
        assert_eq!(
            s.signing_secret.as_deref(),
            Some("whsec_c2VjcmV0 old-raw-secret")
        );
        let err = Settings::load(env(&[(
            "WEBHOOK_SIGNING_SECRET",
            "whsec_c2VjcmV0 whsec_%%%",
        )]))
        .unwrap_err();
        assert!(
            err.starts_with("WEBHOOK_SIGNING_SECRET: secret 2 of 2"),
            "{err}"
        );
        assert!(!err.contains("%%%") && !err.contains("c2VjcmV0"), "{err}");
    }
}
