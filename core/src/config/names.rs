//! The name of every variable, secret and binding the main worker reads: written once, here.

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
    /// Subrequests one invocation may make (50 on the Workers Free plan, 1,000 on Paid).
    pub const SUBREQUEST_BUDGET: &str = "SUBREQUEST_BUDGET";
    /// CPU milliseconds the processing consumer admits in one invocation (0: no CPU admission).
    pub const CPU_BUDGET_MS: &str = "CPU_BUDGET_MS";
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
    pub const DASHBOARD_PASSWORD: &str = "DASHBOARD_PASSWORD";
    pub const SESSION_SECRET: &str = "SESSION_SECRET";
    pub const DEV_ALLOW_HTTP_LOOPBACK: &str = "DEV_ALLOW_HTTP_LOOPBACK";
    pub const TARGET_PAUSE_FAILURES: &str = "TARGET_PAUSE_FAILURES";
    pub const TARGET_PAUSE_MIN_SECS: &str = "TARGET_PAUSE_MIN_SECS";
    pub const TARGET_PROBE_BASE_SECS: &str = "TARGET_PROBE_BASE_SECS";
    pub const TARGET_PROBE_MAX_SECS: &str = "TARGET_PROBE_MAX_SECS";
    pub const TARGET_DRAIN_PER_SEC: &str = "TARGET_DRAIN_PER_SEC";
    pub const ALERT_SUCCESS_RATE_MIN_PERCENT: &str = "ALERT_SUCCESS_RATE_MIN_PERCENT";
    pub const ALERT_TIMEOUT_RATE_MAX_PERCENT: &str = "ALERT_TIMEOUT_RATE_MAX_PERCENT";
    pub const ALERT_AVG_DURATION_MAX_MS: &str = "ALERT_AVG_DURATION_MAX_MS";
    pub const ALERT_REDIS_DOWN_MINUTES: &str = "ALERT_REDIS_DOWN_MINUTES";
    pub const ALERT_WINDOW_MINUTES: &str = "ALERT_WINDOW_MINUTES";
    pub const ALERT_MIN_ATTEMPTS: &str = "ALERT_MIN_ATTEMPTS";
    /// Gmail push (docs/gmail.md): the OAuth client, the key that seals the refresh token, the
    /// Pub/Sub topic the watch publishes to, the label taken, and what a push's token must say.
    pub const GMAIL_CLIENT_ID: &str = "GMAIL_CLIENT_ID";
    pub const GMAIL_CLIENT_SECRET: &str = "GMAIL_CLIENT_SECRET";
    pub const GMAIL_TOKEN_KEY: &str = "GMAIL_TOKEN_KEY";
    pub const GMAIL_PUBSUB_TOPIC: &str = "GMAIL_PUBSUB_TOPIC";
    pub const GMAIL_LABEL: &str = "GMAIL_LABEL";
    pub const GMAIL_PUSH_AUDIENCE: &str = "GMAIL_PUSH_AUDIENCE";
    pub const GMAIL_PUSH_SERVICE_ACCOUNT: &str = "GMAIL_PUSH_SERVICE_ACCOUNT";
    /// Test aid: the processing consumer crashes on e-mails whose subject contains this text.
    pub const FAULT_INJECT_PANIC_MARKER: &str = "FAULT_INJECT_PANIC_MARKER";
    /// Failed credentials allowed per client within 10 minutes, before every one is refused.
    pub const AUTH_CLIENT_FAILURE_LIMIT: &str = "AUTH_CLIENT_FAILURE_LIMIT";
    /// Failed credentials allowed from everyone within 10 minutes, before unknown clients are
    /// refused.
    pub const AUTH_GLOBAL_FAILURE_LIMIT: &str = "AUTH_GLOBAL_FAILURE_LIMIT";
    /// Seconds without a failed credential that end a burst (its audit summary is then written).
    pub const AUTH_BURST_QUIET_SECS: &str = "AUTH_BURST_QUIET_SECS";
    /// Replays a minute per target.
    pub const REPLAY_BUDGET_PER_MINUTE: &str = "REPLAY_BUDGET_PER_MINUTE";
}

/// Names of every binding of the main worker.
pub mod bindings {
    pub const KV: &str = "FACTEUR_KV";
    pub const PROCESS_QUEUE: &str = "PROCESS_QUEUE";
    pub const DELIVERY_QUEUE: &str = "DELIVERY_QUEUE";
    pub const DEAD_LETTER_QUEUE: &str = "DEAD_LETTER_QUEUE";
    pub const DEDUP: &str = "DEDUP";
    pub const TARGETS: &str = "TARGETS";
    pub const R2_FETCH: &str = "R2_FETCH";
    /// The delivery log (embedded default), the archive and the day's costs (Durable Object
    /// `JournalObject`, one instance).
    pub const JOURNAL: &str = "JOURNAL";
    /// The console's sessions and wrong-password counters (Durable Object `ConsoleGuard`).
    pub const CONSOLE_GUARD: &str = "CONSOLE_GUARD";
    /// The connected Gmail mailbox: its sync, cursor, watch and tokens (Durable Object
    /// `GmailMailbox`).
    pub const GMAIL_MAILBOX: &str = "GMAIL_MAILBOX";
    /// The console's static files (Workers Static Assets, `[assets]` in wrangler.toml).
    pub const ASSETS: &str = "ASSETS";
    /// The platform's rate limiter of failed credentials per client (`[[ratelimits]]`): it
    /// sheds a flood before it reaches the guard.
    pub const AUTH_CLIENT_LIMITER: &str = "AUTH_CLIENT_LIMITER";
    /// The same, for everyone's failed credentials together.
    pub const AUTH_GLOBAL_LIMITER: &str = "AUTH_GLOBAL_LIMITER";
    /// Queue names as the consumer sees them in `batch.queue()`.
    pub const PROCESS_QUEUE_NAME: &str = "facteur-process";
    pub const DELIVERY_QUEUE_NAME: &str = "facteur-deliver";
    pub const DEAD_LETTER_QUEUE_NAME: &str = "facteur-dead-letters";
}
