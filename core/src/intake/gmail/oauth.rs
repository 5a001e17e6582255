//! Connecting the mailbox from the console: Google's authorization-code flow with PKCE (S256),
//! its state bound to the browser and the console session that started it, the token
//! endpoint's answers, the access token's lifetime, and the sealed form of the refresh token
//! (AES-GCM through WebCrypto, in the glue, with the key derived here from `GMAIL_TOKEN_KEY`).
//!
//! The flow: `POST /api/gmail/connect` (a console session, or the admin token) makes a random
//! state, a PKCE verifier and a browser binding; the mailbox's object keeps their hashes (the
//! verifier itself, which never leaves the worker) for [`CONNECT_TTL_MS`]; the answer carries
//! the authorization URL and sets the binding in a cookie (`SameSite=Lax`, so the browser sends
//! it back on Google's redirect, which the session cookie, `Strict`, is not). Google redirects
//! to [`CALLBACK_PATH`] with the code and the state: the object checks the state, the binding,
//! its age and that the session is still open, then trades the code (with the verifier) for
//! the tokens. The callback answers a small page that moves on to the console's Gmail page by
//! itself ([`back_to_console`]): a redirect would keep the navigation cross-site (it began at
//! Google), and the `Strict` session cookie would not be sent; a navigation the page starts is
//! same-site.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::base::auth::constant_time_eq;
use crate::base::ids::sha256_hex;

/// Google's consent page.
pub const AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
/// Google's token endpoint (code exchange, refresh).
pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Google's revocation endpoint (on disconnect).
pub const REVOKE_URL: &str = "https://oauth2.googleapis.com/revoke";
/// The one scope asked for: read the mailbox.
pub const SCOPE: &str = "https://www.googleapis.com/auth/gmail.readonly";
/// Where Google sends the browser back (on the console's own origin).
pub const CALLBACK_PATH: &str = "/gmail/callback";
/// The cookie that binds a connection to the browser that started it.
pub const BINDING_COOKIE: &str = "facteur_gmail_oauth";
/// How long a started connection may take.
pub const CONNECT_TTL_MS: i64 = 10 * 60_000;
/// An access token is used until this long before it expires.
pub const TOKEN_MARGIN_MS: i64 = 60_000;

/// `application/x-www-form-urlencoded` (and query strings): unreserved characters as they
/// are, everything else percent-encoded.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes all but RFC 3986's unreserved characters.
pub fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The PKCE challenge of a verifier (S256): base64url, unpadded, of its SHA-256.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The redirect URI on a console origin (`https://facteur.example.workers.dev`).
pub fn callback_uri(origin: &str) -> String {
    format!("{}{CALLBACK_PATH}", origin.trim_end_matches('/'))
}

/// Google's consent URL: offline access (a refresh token), the consent screen every time (so
/// a refresh token comes back on a reconnection too), PKCE S256.
pub fn authorization_url(
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    verifier: &str,
) -> String {
    let challenge = pkce_challenge(verifier);
    let query = form_encode(&[
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", SCOPE),
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("include_granted_scopes", "false"),
        ("state", state),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    format!("{AUTH_URL}?{query}")
}

/// The `Set-Cookie` of the browser binding (read only on the callback's path).
pub fn binding_cookie(binding: &str) -> String {
    format!(
        "{BINDING_COOKIE}={binding}; Max-Age={}; Path={CALLBACK_PATH}; HttpOnly; Secure; SameSite=Lax",
        CONNECT_TTL_MS / 1000
    )
}

/// The `Set-Cookie` that removes the binding once used.
pub fn clear_binding_cookie() -> String {
    format!("{BINDING_COOKIE}=; Max-Age=0; Path={CALLBACK_PATH}; HttpOnly; Secure; SameSite=Lax")
}

/// Where the callback sends the browser: the console's Gmail page, saying how it went.
pub fn console_location(error: Option<ConnectError>) -> String {
    match error {
        None => "/gmail?connected=1".into(),
        Some(e) => format!("/gmail?error={}", e.as_str()),
    }
}

/// The callback's page: it moves on to [`console_location`] (`Refresh` header and `<meta>`),
/// with a link for a browser that does not. Nothing from the request is in it.
pub fn back_to_console(error: Option<ConnectError>) -> (String, String) {
    let location = console_location(error);
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={location}\">\
         <title>Facteur: Gmail</title></head><body>\
         <p><a href=\"{location}\">Back to the console</a></p></body></html>"
    );
    (location, html)
}

/// A connection started and not finished, as the mailbox's object keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub state_hash: String,
    pub binding_hash: String,
    pub verifier: String,
    pub redirect_uri: String,
    /// The console session that started it (none with the admin token).
    #[serde(default)]
    pub session_id: Option<String>,
    pub created_at_ms: i64,
}

impl Pending {
    /// A connection started now.
    pub fn new(
        state: &str,
        binding: &str,
        verifier: &str,
        redirect_uri: &str,
        session_id: Option<String>,
        now_ms: i64,
    ) -> Pending {
        Pending {
            state_hash: sha256_hex(state),
            binding_hash: sha256_hex(binding),
            verifier: verifier.to_string(),
            redirect_uri: redirect_uri.to_string(),
            session_id,
            created_at_ms: now_ms,
        }
    }

    /// Checks Google's redirect against it: the state it was given, from the browser that
    /// started it (`bindings`: every value of the binding cookie the browser sent, since a
    /// sibling subdomain can plant one beside ours), in time. (That the session is still open
    /// is the object's to ask.)
    pub fn check(&self, state: &str, bindings: &[&str], now_ms: i64) -> Result<(), ConnectError> {
        if !constant_time_eq(sha256_hex(state).as_bytes(), self.state_hash.as_bytes()) {
            return Err(ConnectError::StateUnknown);
        }
        if now_ms - self.created_at_ms > CONNECT_TTL_MS || now_ms < self.created_at_ms {
            return Err(ConnectError::StateExpired);
        }
        let bound = bindings
            .iter()
            .any(|b| constant_time_eq(sha256_hex(b).as_bytes(), self.binding_hash.as_bytes()));
        if !bound {
            return Err(ConnectError::OtherBrowser);
        }
        Ok(())
    }
}

/// Why a connection did not complete: its code goes back to the console in the redirect
/// (`/gmail?error=<code>`), which shows the message for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    NotConfigured,
    StateUnknown,
    StateExpired,
    OtherBrowser,
    SessionClosed,
    Denied,
    NoRefreshToken,
    ScopeMissing,
    LabelNotFound,
    Google,
}

impl ConnectError {
    /// Every error (the table test covers each).
    pub const ALL: [ConnectError; 10] = [
        ConnectError::NotConfigured,
        ConnectError::StateUnknown,
        ConnectError::StateExpired,
        ConnectError::OtherBrowser,
        ConnectError::SessionClosed,
        ConnectError::Denied,
        ConnectError::NoRefreshToken,
        ConnectError::ScopeMissing,
        ConnectError::LabelNotFound,
        ConnectError::Google,
    ];

    /// Wire name, in the redirect to the console.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectError::NotConfigured => "not_configured",
            ConnectError::StateUnknown => "state_unknown",
            ConnectError::StateExpired => "state_expired",
            ConnectError::OtherBrowser => "other_browser",
            ConnectError::SessionClosed => "session_closed",
            ConnectError::Denied => "denied",
            ConnectError::NoRefreshToken => "no_refresh_token",
            ConnectError::ScopeMissing => "scope_missing",
            ConnectError::LabelNotFound => "label_not_found",
            ConnectError::Google => "google_unavailable",
        }
    }

    /// The error of a wire name.
    pub fn parse(s: &str) -> Option<ConnectError> {
        ConnectError::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// What the console says.
    pub fn message(self) -> &'static str {
        match self {
            ConnectError::NotConfigured => "Gmail push is not configured: set the GMAIL_* variables and secrets (docs/gmail.md).",
            ConnectError::StateUnknown => "This connection was not started here, or was already used: start again with Connect Gmail.",
            ConnectError::StateExpired => "The connection took more than 10 minutes: start again with Connect Gmail.",
            ConnectError::OtherBrowser => "The connection came back to another browser than the one that started it: start again from this one.",
            ConnectError::SessionClosed => "The console session that started the connection has ended: sign in and start again.",
            ConnectError::Denied => "Access was not granted on Google's page.",
            ConnectError::NoRefreshToken => "Google gave no refresh token: remove Facteur's access at myaccount.google.com/permissions, then connect again.",
            ConnectError::ScopeMissing => "Google did not grant read access to Gmail (gmail.readonly): connect again and allow it.",
            ConnectError::LabelNotFound => "The mailbox has no label named as GMAIL_LABEL says: create it (and its filter) in Gmail, then connect again.",
            ConnectError::Google => "Google could not be reached or refused the request; try again in a moment (the worker's log says why).",
        }
    }
}

/// What the token endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAnswer {
    Granted(Grant),
    /// `invalid_grant`: the refresh token (or the code) is no longer valid: revoked, expired
    /// (a Testing app's tokens last 7 days), or the password changed. Only a new connection
    /// helps.
    InvalidGrant(String),
    /// 429 or 5xx: try again later.
    Retryable(String),
    /// Another refusal (a wrong client id or secret…): a configuration problem.
    Refused(String),
}

/// Tokens granted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Grant {
    pub access_token: String,
    #[serde(default = "default_expiry")]
    pub expires_in: i64,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: String,
}

fn default_expiry() -> i64 {
    3_599
}

/// Reads an answer of the token endpoint. Its error text is kept short, and never holds a
/// token (Google's error bodies carry none).
pub fn parse_token_answer(status: u16, body: &str) -> TokenAnswer {
    #[derive(Deserialize)]
    struct Failure {
        #[serde(default)]
        error: String,
        #[serde(default)]
        error_description: String,
    }
    if status == 200 {
        return match serde_json::from_str::<Grant>(body) {
            Ok(g) if !g.access_token.is_empty() => TokenAnswer::Granted(g),
            _ => TokenAnswer::Retryable("token endpoint answered 200 without a token".into()),
        };
    }
    let failure = serde_json::from_str::<Failure>(body).ok();
    let text = failure.as_ref().map_or_else(
        || format!("HTTP {status}"),
        |f| {
            let desc: String = f.error_description.chars().take(160).collect();
            format!("HTTP {status} {} {desc}", f.error)
                .trim()
                .to_string()
        },
    );
    match (status, failure.as_ref().map(|f| f.error.as_str())) {
        (_, Some("invalid_grant")) => TokenAnswer::InvalidGrant(text),
        (429 | 500..=599, _) => TokenAnswer::Retryable(text),
        _ => TokenAnswer::Refused(text),
    }
}

/// Whether the granted scopes (space separated) include [`SCOPE`].
pub fn scope_granted(scope: &str) -> bool {
    scope.split_whitespace().any(|s| s == SCOPE)
}

/// When an access token granted now for `expires_in` seconds expires.
pub fn expires_at(now_ms: i64, expires_in_secs: i64) -> i64 {
    now_ms + expires_in_secs.clamp(0, 86_400) * 1000
}

/// Whether an access token expiring at `expires_at_ms` can still be used.
pub fn usable(expires_at_ms: i64, now_ms: i64) -> bool {
    now_ms + TOKEN_MARGIN_MS < expires_at_ms
}

/// The AES-256-GCM key that seals refresh tokens, derived from `GMAIL_TOKEN_KEY`.
pub fn token_key(secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"facteur gmail refresh token v1\n");
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// Additional data bound to every sealed token (a sealed value cannot be reused elsewhere).
pub const SEAL_AAD: &[u8] = b"facteur:gmail:refresh_token";

/// The stored form of a sealed token: `v1.<iv>.<ciphertext>`, base64url.
pub fn seal_text(iv: &[u8], ciphertext: &[u8]) -> String {
    format!(
        "v1.{}.{}",
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(ciphertext)
    )
}

/// The IV and ciphertext of a stored sealed token.
pub fn unseal_parts(text: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let rest = text.strip_prefix("v1.")?;
    let (iv, ct) = rest.split_once('.')?;
    let iv = URL_SAFE_NO_PAD.decode(iv).ok()?;
    let ct = URL_SAFE_NO_PAD.decode(ct).ok()?;
    (iv.len() == 12 && ct.len() > 16).then_some((iv, ct))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_and_the_consent_url() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let url = authorization_url(
            "123.apps.googleusercontent.com",
            &callback_uri("https://facteur.example.workers.dev/"),
            "st4te",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        );
        assert!(url.starts_with("https://accounts.google.com/o/oauth2/v2/auth?client_id=123.apps.googleusercontent.com&"));
        for part in [
            "redirect_uri=https%3A%2F%2Ffacteur.example.workers.dev%2Fgmail%2Fcallback",
            "scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fgmail.readonly",
            "access_type=offline",
            "prompt=consent",
            "state=st4te",
            "code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method=S256",
            "response_type=code",
        ] {
            assert!(url.contains(part), "{part} in {url}");
        }
        assert!(
            !url.contains("dBjftJeZ4CVP"),
            "the verifier never leaves the worker"
        );
        assert_eq!(form_encode(&[("a b", "c&d=é")]), "a%20b=c%26d%3D%C3%A9");
        assert!(binding_cookie("b1").contains("SameSite=Lax"));
        assert!(binding_cookie("b1").contains("Path=/gmail/callback"));
        assert!(clear_binding_cookie().contains("Max-Age=0"));
        let (location, html) = back_to_console(Some(ConnectError::Denied));
        assert_eq!(location, "/gmail?error=denied");
        assert!(html.contains("content=\"0;url=/gmail?error=denied\""));
        assert_eq!(back_to_console(None).0, "/gmail?connected=1");
    }

    #[test]
    fn the_state_is_bound_to_the_browser_and_expires() {
        let p = Pending::new(
            "state",
            "binding",
            "v",
            "https://x/cb",
            Some("s1".into()),
            1_000,
        );
        assert!(!p.state_hash.contains("state") && !p.binding_hash.contains("binding"));
        #[rustfmt::skip]
        let table = [
            ("state", &["binding"][..], 1_000 + CONNECT_TTL_MS, Ok(())),
            ("other", &["binding"], 2_000, Err(ConnectError::StateUnknown)),
            ("state", &["binding"], 1_001 + CONNECT_TTL_MS, Err(ConnectError::StateExpired)),
            ("state", &["binding"], 999, Err(ConnectError::StateExpired)),
            ("state", &[], 2_000, Err(ConnectError::OtherBrowser)),
            ("state", &["bindinG"], 2_000, Err(ConnectError::OtherBrowser)),
            // A cookie planted beside ours neither passes alone nor hides ours.
            ("state", &["planted", "binding"], 2_000, Ok(())),
            ("state", &["planted"], 2_000, Err(ConnectError::OtherBrowser)),
        ];
        for (state, binding, now, want) in table {
            assert_eq!(
                p.check(state, binding, now),
                want,
                "{state} {binding:?} {now}"
            );
        }
    }

    #[test]
    fn connect_errors_have_a_code_and_a_message() {
        let codes: std::collections::HashSet<_> =
            ConnectError::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(codes.len(), ConnectError::ALL.len());
        for e in ConnectError::ALL {
            assert_eq!(ConnectError::parse(e.as_str()), Some(e));
            assert!(e.message().ends_with('.') || e.message().ends_with(')'));
        }
        assert_eq!(ConnectError::parse("<script>"), None);
    }

    #[test]
    fn token_answers() {
        let granted = parse_token_answer(
            200,
            r#"{"access_token":"ya29.x","expires_in":3599,"refresh_token":"1//r","scope":"https://www.googleapis.com/auth/gmail.readonly","token_type":"Bearer"}"#,
        );
        let TokenAnswer::Granted(g) = granted else {
            panic!("{granted:?}")
        };
        assert_eq!(
            (g.expires_in, g.refresh_token.as_deref()),
            (3_599, Some("1//r"))
        );
        assert!(scope_granted(&g.scope));
        assert!(!scope_granted("openid email"));
        #[rustfmt::skip]
        let table: [(u16, &str, &str); 6] = [
            (400, r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#, "invalid_grant"),
            (401, r#"{"error":"invalid_client","error_description":"The OAuth client was not found."}"#, "refused"),
            (503, "<html>", "retryable"),
            (429, r#"{"error":"rate_limit_exceeded"}"#, "retryable"),
            (200, r#"{"error":"x"}"#, "retryable"),
            (403, "", "refused"),
        ];
        for (status, body, want) in table {
            let kind = match parse_token_answer(status, body) {
                TokenAnswer::Granted(_) => "granted",
                TokenAnswer::InvalidGrant(t) => {
                    assert!(t.contains("invalid_grant") && t.contains("revoked"), "{t}");
                    "invalid_grant"
                }
                TokenAnswer::Retryable(_) => "retryable",
                TokenAnswer::Refused(_) => "refused",
            };
            assert_eq!(kind, want, "{status} {body}");
        }
    }

    #[test]
    fn token_lifetimes_and_sealing() {
        let at = expires_at(1_000, 3_599);
        assert_eq!(at, 3_600_000);
        assert!(usable(at, at - TOKEN_MARGIN_MS - 1));
        assert!(!usable(at, at - TOKEN_MARGIN_MS));
        assert_eq!(expires_at(0, -5), 0);
        assert_ne!(token_key("a"), token_key("b"));
        assert_eq!(token_key("a"), token_key("a"));
        let sealed = seal_text(&[7; 12], &[9; 40]);
        assert!(sealed.starts_with("v1."));
        assert_eq!(unseal_parts(&sealed), Some((vec![7; 12], vec![9; 40])));
        for bad in ["", "v1.", "v2.AAAA.BBBB", "v1.AAAA.BBBB", "v1.!!.!!"] {
            assert_eq!(unseal_parts(bad), None, "{bad}");
        }
    }
}
