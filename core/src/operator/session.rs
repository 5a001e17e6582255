//! The console's sign-in, as pure functions: which password opens it, the signed session token
//! and its cookie, the CSRF check of cookie-authenticated writes, and the wrong-password limit.
//!
//! A session is a random id kept by the `ConsoleGuard` Durable Object (so signing out really
//! ends it; see `guard`) and a token `<id>.<expiry>.<signature>` in an
//! `HttpOnly; Secure; SameSite=Strict` cookie. The signature (HMAC-SHA256) lets the worker refuse a forged or expired cookie
//! without asking the object; the object's list of live ids decides the rest.

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

use crate::base::auth::constant_time_eq;
use crate::base::mask::origin;

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "facteur_session";
/// Lifetime of a session: 12 hours, the most the console allows.
pub const SESSION_TTL_MS: i64 = 12 * 3_600_000;
/// Wrong passwords allowed per client within [`FAILURE_WINDOW_MS`].
pub const MAX_FAILURES: usize = 5;
/// The window of the wrong-password limit.
pub const FAILURE_WINDOW_MS: i64 = 60_000;

/// The password that opens the console: `DASHBOARD_PASSWORD` when set, else `ADMIN_TOKEN`.
/// Empty means the console is closed.
pub fn console_password<'a>(dashboard_password: Option<&'a str>, admin_token: &'a str) -> &'a str {
    dashboard_password
        .filter(|p| !p.is_empty())
        .unwrap_or(admin_token)
}

/// True when `presented` is the password. Both are hashed first, so the comparison takes the
/// same time whatever their lengths; an empty password never matches.
pub fn password_matches(presented: &str, expected: &str) -> bool {
    !expected.is_empty()
        && constant_time_eq(
            &Sha256::digest(presented.as_bytes()),
            &Sha256::digest(expected.as_bytes()),
        )
}

/// The key that signs session tokens.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// Derives the key from `SESSION_SECRET` (optional), `ADMIN_TOKEN` and the console password:
    /// no extra secret is needed, and rotating the token or the password ends every session.
    pub fn derive(session_secret: Option<&str>, admin_token: &str, password: &str) -> SessionKey {
        let mut mac = Hmac::<Sha256>::new_from_slice(session_secret.unwrap_or("").as_bytes())
            .expect("HMAC accepts keys of any length");
        // Lengths first, so no two (token, password) pairs feed the same bytes.
        mac.update(b"facteur-console-session-v1");
        for part in [admin_token, password] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        SessionKey(mac.finalize().into_bytes().into())
    }

    fn sign(&self, id: &str, expires_ms: i64) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(format!("{id}.{expires_ms}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// A session read from a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The random id the Durable Object keeps while the session lives.
    pub id: String,
    /// Expiry, unix milliseconds.
    pub expires_ms: i64,
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    BadSignature,
    Expired,
}

/// True for a session id as [`issue`] accepts it: 32 lowercase hex digits.
pub fn valid_session_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The token of session `id` expiring at `expires_ms`.
pub fn issue(key: &SessionKey, id: &str, expires_ms: i64) -> String {
    format!("{id}.{expires_ms}.{}", key.sign(id, expires_ms))
}

/// Checks a token's form, signature and expiry.
pub fn verify(key: &SessionKey, token: &str, now_ms: i64) -> Result<Session, TokenError> {
    let mut parts = token.split('.');
    let (Some(id), Some(exp), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let expires_ms: i64 = exp.parse().map_err(|_| TokenError::Malformed)?;
    if !valid_session_id(id) || exp.starts_with(['+', '-']) {
        return Err(TokenError::Malformed);
    }
    if !constant_time_eq(key.sign(id, expires_ms).as_bytes(), sig.as_bytes()) {
        return Err(TokenError::BadSignature);
    }
    if expires_ms <= now_ms {
        return Err(TokenError::Expired);
    }
    Ok(Session {
        id: id.to_string(),
        expires_ms,
    })
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that opens a session for `max_age_secs`.
pub fn set_cookie(token: &str, max_age_secs: i64) -> String {
    format!(
        "{COOKIE_NAME}={token}; Max-Age={max_age_secs}; Path=/; HttpOnly; Secure; SameSite=Strict"
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    set_cookie("", 0)
}

/// True for methods that change state (and so need the CSRF check when a cookie authenticates).
pub fn changes_state(method: &str) -> bool {
    !["GET", "HEAD", "OPTIONS"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method))
}

/// `scheme://host[:port]` of an absolute URL, lowercased, as browsers write `Origin`.
pub fn request_origin(url: &str) -> Option<String> {
    let scheme_host = origin(url)?;
    let authority = url.split_once("://")?.1.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let port = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            port
        }
        _ => "",
    };
    let default = matches!(
        (scheme_host.split(':').next(), port),
        (Some("http"), "80") | (Some("https"), "443")
    );
    Some(if port.is_empty() || default {
        scheme_host
    } else {
        format!("{scheme_host}:{port}")
    })
}

/// The CSRF check of a state-changing request authenticated by the cookie: its `Origin` must be
/// the console's own. A missing `Origin` is refused (browsers send it on every such request).
pub fn same_origin(origin_header: Option<&str>, request_url: &str) -> bool {
    match (origin_header.map(str::trim), request_origin(request_url)) {
        (Some(o), Some(own)) => o.eq_ignore_ascii_case(&own),
        _ => false,
    }
}

/// What a sign-in attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// Open a session.
    Accepted,
    /// Answer [`SIGN_IN_FAILED`](crate::error::SIGN_IN_FAILED).
    Refused,
}

/// Decides a sign-in from the client's recent failures (unix ms) and whether the password
/// matched; returns the decision and the failures to keep. While the client has
/// [`MAX_FAILURES`] failures within [`FAILURE_WINDOW_MS`], every attempt is refused, the right
/// password included, and counts as another failure.
pub fn sign_in(failures: &[i64], password_ok: bool, now_ms: i64) -> (SignIn, Vec<i64>) {
    let mut recent: Vec<i64> = failures
        .iter()
        .copied()
        .filter(|&t| t > now_ms - FAILURE_WINDOW_MS && t <= now_ms)
        .collect();
    if password_ok && recent.len() < MAX_FAILURES {
        return (SignIn::Accepted, recent);
    }
    recent.push(now_ms);
    // Only the newest ones matter to the limit.
    let excess = recent.len().saturating_sub(MAX_FAILURES);
    recent.drain(..excess);
    (SignIn::Refused, recent)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    fn key() -> SessionKey {
        SessionKey::derive(None, "admin-token", "admin-token")
    }

    #[test]
    fn the_password_is_the_dashboard_one_else_the_admin_token() {
        assert_eq!(console_password(Some("pw"), "tok"), "pw");
        assert_eq!(console_password(Some(""), "tok"), "tok");
        assert_eq!(console_password(None, "tok"), "tok");
        assert_eq!(console_password(None, ""), "");
        #[rustfmt::skip]
        let table = [
            ("tok", "tok", true),
            ("tok ", "tok", false),
            ("to", "tok", false),
            ("", "", false),
            ("x", "", false),
        ];
        for (presented, expected, ok) in table {
            assert_eq!(password_matches(presented, expected), ok, "{presented:?}");
        }
    }

    #[test]
    fn tokens_verify_until_they_expire() {
        let k = key();
        let t = issue(&k, ID, 10_000);
        assert_eq!(
            verify(&k, &t, 9_999),
            Ok(Session {
                id: ID.into(),
                expires_ms: 10_000
            })
        );
        assert_eq!(verify(&k, &t, 10_000), Err(TokenError::Expired));
        let other = SessionKey::derive(None, "rotated-token", "rotated-token");
        assert_eq!(verify(&other, &t, 0), Err(TokenError::BadSignature));
        let with_secret = SessionKey::derive(Some("s"), "admin-token", "admin-token");
        assert_eq!(verify(&with_secret, &t, 0), Err(TokenError::BadSignature));
        let new_password = SessionKey::derive(None, "admin-token", "new-password");
        assert_eq!(verify(&new_password, &t, 0), Err(TokenError::BadSignature));
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let k = key();
        let t = issue(&k, ID, 10_000);
        let sig = t.rsplit('.').next().unwrap();
        #[rustfmt::skip]
        let table: [(String, TokenError); 8] = [
            (format!("{ID}.20000.{sig}"), TokenError::BadSignature),
            (format!("{}.10000.{sig}", ID.replace('0', "1")), TokenError::BadSignature),
            (format!("{ID}.10000.{sig}x"), TokenError::BadSignature),
            (format!("{ID}.10000"), TokenError::Malformed),
            (format!("{ID}.10000.{sig}.x"), TokenError::Malformed),
            (format!("{ID}.ten.{sig}"), TokenError::Malformed),
            (format!("{}.10000.{sig}", ID.to_uppercase()), TokenError::Malformed),
            (format!("{ID}.+10000.{sig}"), TokenError::Malformed),
        ];
        for (token, want) in table {
            assert_eq!(verify(&k, &token, 0), Err(want), "{token}");
        }
        assert_eq!(verify(&k, "", 0), Err(TokenError::Malformed));
    }

    #[test]
    fn cookies_are_read_by_name() {
        #[rustfmt::skip]
        let table = [
            (Some("facteur_session=abc"), Some("abc")),
            (Some("a=1; facteur_session=abc; b=2"), Some("abc")),
            (Some("a=1;facteur_session=\"abc\""), Some("abc")),
            (Some("xfacteur_session=abc"), None),
            (Some("facteur_session="), None),
            (Some("facteur_session"), None),
            (None, None),
        ];
        for (header, want) in table {
            assert_eq!(cookie_value(header, COOKIE_NAME), want, "{header:?}");
        }
        let set = set_cookie("tok", 43_200);
        for attr in [
            "facteur_session=tok",
            "Max-Age=43200",
            "Path=/",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
        ] {
            assert!(set.contains(attr), "{attr} in {set}");
        }
        assert!(clear_cookie().starts_with("facteur_session=; Max-Age=0;"));
    }

    #[test]
    fn the_origin_check_wants_the_consoles_own_origin() {
        #[rustfmt::skip]
        let table = [
            (Some("https://facteur.example.com"), "https://facteur.example.com/api/x", true),
            (Some("https://FACTEUR.example.com"), "https://facteur.example.com/api/x", true),
            (Some("http://127.0.0.1:8787"), "http://127.0.0.1:8787/api/x?y=1", true),
            (Some("https://facteur.example.com"), "https://facteur.example.com:443/api/x", true),
            (Some("http://127.0.0.1:8788"), "http://127.0.0.1:8787/api/x", false),
            (Some("https://evil.example"), "https://facteur.example.com/api/x", false),
            (Some("http://facteur.example.com"), "https://facteur.example.com/api/x", false),
            (Some("null"), "https://facteur.example.com/api/x", false),
            (None, "https://facteur.example.com/api/x", false),
            (Some("http://[::1]:8787"), "http://[::1]:8787/", true),
        ];
        for (o, url, ok) in table {
            assert_eq!(same_origin(o, url), ok, "{o:?} {url}");
        }
        for (m, writes) in [
            ("GET", false),
            ("head", false),
            ("OPTIONS", false),
            ("POST", true),
            ("PUT", true),
            ("DELETE", true),
            ("PATCH", true),
        ] {
            assert_eq!(changes_state(m), writes, "{m}");
        }
    }

    #[test]
    fn five_wrong_passwords_a_minute_then_everything_is_refused() {
        let now = 1_000_000;
        let mut failures = Vec::new();
        for i in 0..MAX_FAILURES as i64 {
            let (d, f) = sign_in(&failures, false, now + i);
            assert_eq!(d, SignIn::Refused);
            failures = f;
        }
        assert_eq!(failures.len(), MAX_FAILURES);
        // The right password is refused too while the limit holds, and counts.
        let (d, f) = sign_in(&failures, true, now + 10);
        assert_eq!(d, SignIn::Refused);
        assert_eq!(f.len(), MAX_FAILURES, "only the newest are kept");
        assert_eq!(*f.last().unwrap(), now + 10);
        // A minute after the newest failure, the right password opens again.
        let later = now + 10 + FAILURE_WINDOW_MS;
        assert_eq!(sign_in(&f, true, later).0, SignIn::Accepted);
        assert_eq!(sign_in(&f, true, later).1, Vec::<i64>::new());
        // Fewer failures than the limit do not block.
        assert_eq!(sign_in(&[now, now + 1], true, now + 2).0, SignIn::Accepted);
        // Failures from the future (a clock step back) are dropped rather than held forever.
        assert_eq!(
            sign_in(&[now + 1_000_000; 5], true, now).0,
            SignIn::Accepted
        );
    }
}
