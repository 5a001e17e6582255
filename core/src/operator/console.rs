//! What the worker decides about the console's responses: the security headers every response
//! carries, which file serves a page, the sample e-mail of "send a test e-mail", and the
//! refusal to serve outside loopback while `DEV_ALLOW_HTTP_LOOPBACK` is on.

use serde_json::{json, Value};

use crate::base::time::iso_utc;
use crate::config::{is_loopback_host, vars};
use crate::error::ApiError;

/// The console's pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    SignIn,
    Overview,
    Deliveries,
    Email(String),
    DeadLetters,
    Settings,
    Rules,
    Targets,
    Audit,
    /// Gmail push: the connected mailbox, its watch and sync.
    Gmail,
}

/// The Content-Security-Policy of every response: only the console's own files, no inline
/// script or style, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// HTTP Strict Transport Security: browsers that once reached the worker over https never try
/// it over http again for a year (ignored over http, so local development is untouched).
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Headers set on every response of the main worker (pages, assets and the API).
pub const SECURITY_HEADERS: [(&str, &str); 7] = [
    ("Strict-Transport-Security", HSTS),
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    (
        "Permissions-Policy",
        "camera=(), microphone=(), geolocation=()",
    ),
];

/// The header of every API answer: they carry e-mail data (logs, timelines, payloads), which
/// no cache, shared or the browser's, may keep.
pub const NO_STORE: (&str, &str) = ("Cache-Control", "no-store");

/// True for the API's paths (`/api/…`), whose every answer carries [`NO_STORE`].
pub fn never_cached(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// The asset file that serves a page: the sign-in page has its own, every other page is the
/// console's shell (its script reads the path).
pub fn page_file(page: &Page) -> &'static str {
    match page {
        Page::SignIn => "/login.html",
        _ => "/index.html",
    }
}

/// The sender of the console's test e-mails.
pub const TEST_SENDER: &str = "Facteur console <console@facteur.invalid>";

/// The sample e-mail of "send a test e-mail": unique (its subject carries the time), with a
/// Dropbox link so it is delivered and not skipped for having none.
pub fn test_email(now_ms: i64) -> Value {
    let at = iso_utc(now_ms);
    json!({
        "subject": format!("Facteur test e-mail {at}"),
        "sender": TEST_SENDER,
        "body": "<p>A test e-mail sent from the Facteur console.</p>\
                 <p>Files: <a href=\"https://www.dropbox.com/scl/fo/facteur-test/sample?rlkey=test&amp;dl=0\">\
                 https://www.dropbox.com/scl/fo/facteur-test/sample?rlkey=test&amp;dl=0</a></p>",
        "date": at,
    })
}

/// With `DEV_ALLOW_HTTP_LOOPBACK` on, the worker serves loopback hosts only, so the variable
/// cannot silently open production to `http://` targets: any other host gets this error.
pub fn dev_host_refusal(dev_http_loopback: bool, request_url: &str) -> Option<ApiError> {
    let authority = request_url.split_once("://").map_or("", |(_, rest)| {
        rest.split(['/', '?', '#']).next().unwrap_or("")
    });
    let host = authority.rsplit('@').next().unwrap_or("");
    (dev_http_loopback && !is_loopback_host(host)).then(|| {
        ApiError::misconfigured(format!(
            "{} is set: this worker serves loopback hosts only (127.0.0.1, localhost, [::1]); \
             it is for local development, unset it anywhere else",
            vars::DEV_ALLOW_HTTP_LOOPBACK
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::links::extract_links;
    use crate::intake::ingest::parse_ingest;

    #[test]
    fn the_csp_allows_no_inline_script_nor_framing() {
        let script = CSP
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert!(!script.contains("unsafe"), "{script}");
        assert!(CSP.contains("frame-ancestors 'none'"));
        let names: Vec<_> = SECURITY_HEADERS.iter().map(|(n, _)| *n).collect();
        for h in [
            "Content-Security-Policy",
            "X-Content-Type-Options",
            "Referrer-Policy",
            "Strict-Transport-Security",
        ] {
            assert!(names.contains(&h), "{h}");
        }
    }

    #[test]
    fn the_test_email_is_valid_unique_and_has_a_link() {
        let a = test_email(1_000);
        let email = parse_ingest(a.to_string().as_bytes(), 1_000).unwrap();
        assert_eq!(extract_links(&email.body).links.len(), 1);
        assert_ne!(
            email.email_id,
            parse_ingest(test_email(2_000).to_string().as_bytes(), 2_000)
                .unwrap()
                .email_id
        );
    }

    #[test]
    fn dev_mode_serves_loopback_only() {
        #[rustfmt::skip]
        let table = [
            (true, "http://127.0.0.1:8787/api/x", false),
            (true, "http://localhost:8787/", false),
            (true, "http://[::1]:8787/", false),
            (true, "https://facteur.example.workers.dev/health", true),
            (true, "http://127.0.0.1.nip.io/", true),
            (false, "https://facteur.example.workers.dev/health", false),
        ];
        for (dev, url, refused) in table {
            let r = dev_host_refusal(dev, url);
            assert_eq!(r.is_some(), refused, "{url}");
            if let Some(e) = r {
                assert_eq!((e.status(), e.code.as_str()), (500, "misconfigured"));
                assert!(e.message.contains("DEV_ALLOW_HTTP_LOOPBACK"));
            }
        }
        assert_eq!(page_file(&Page::SignIn), "/login.html");
        assert_eq!(page_file(&Page::Audit), "/index.html");
        assert!(never_cached("/api/webhook_logs") && never_cached("/api"));
        assert!(!never_cached("/apis") && !never_cached("/assets/app.js"));
        assert_eq!(page_file(&Page::Rules), "/index.html");
    }
}
