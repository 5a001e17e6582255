//! The console's sign-in, as pure functions: which password opens it, the signed session token
//! and its cookie, and the CSRF check of cookie-authenticated writes. (Failed passwords are
//! counted with the other credentials: `crate::operator::attempts`.)
//!
//! A session is a random id kept by the `ConsoleGuard` Durable Object (so signing out really
//! ends it; see `guard`) and a token `<id>.<expiry>.<signature>` in a
//! `__Host-facteur_session` cookie (`Secure; HttpOnly; SameSite=Strict; Path=/`, no `Domain`:
//! only this host can set it). The signature (HMAC-SHA256) lets the worker refuse a forged or
//! expired cookie without asking the object; the object's list of live ids decides the rest.
//! The signing key comes from a random key the guard creates and keeps, never leaves the
//! worker, and is not derived from the admin token alone: a leaked cookie cannot be used to
//! test guesses of the token offline.

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

use crate::base::auth::constant_time_eq;
use crate::base::mask::origin;

/// Name of the session cookie. The `__Host-` prefix makes browsers take it only with `Secure`,
/// `Path=/` and no `Domain`, set by this very host: a sibling subdomain cannot plant one.
/// (Chromium and Firefox count `http://127.0.0.1` and `http://localhost` as secure, so local
/// development keeps working.)
pub const COOKIE_NAME: &str = "__Host-facteur_session";
/// Lifetime of a session: 12 hours, the most the console allows.
pub const SESSION_TTL_MS: i64 = 12 * 3_600_000;
/// Cookies of the session's name tried at most in one request (a browser sends every cookie
/// of that name it holds; a planted one must not hide the real one).
pub const MAX_SAME_NAME_COOKIES: usize = 8;
/// Bytes of the guard's random key.
pub const GUARD_KEY_BYTES: usize = 32;

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
    /// Derives the key from the guard's random key (32 bytes the guard object creates once and
    /// keeps), `SESSION_SECRET` (optional), `ADMIN_TOKEN` and the console password: no extra
    /// secret is needed, a cookie says nothing about the token without the guard's key, and
    /// rotating the token, the password or `SESSION_SECRET` ends every session.
    pub fn derive(
        guard_key: &[u8],
        session_secret: Option<&str>,
        admin_token: &str,
        password: &str,
    ) -> SessionKey {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(guard_key).expect("HMAC accepts keys of any length");
        // Lengths first, so no two (secret, token, password) triples feed the same bytes.
        mac.update(b"facteur-console-session-v2");
        for part in [session_secret.unwrap_or(""), admin_token, password] {
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

/// Every value of cookie `name` in a `Cookie` header, in order (at most
/// [`MAX_SAME_NAME_COOKIES`]): a browser sends each cookie of that name it holds, for instance
/// one a sibling subdomain planted beside the real one.
pub fn cookie_values<'a>(header: Option<&'a str>, name: &str) -> Vec<&'a str> {
    header
        .unwrap_or("")
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
        .take(MAX_SAME_NAME_COOKIES)
        .collect()
}

/// The sessions the request's session cookies hold that verify (form, signature, expiry), in
/// the order they came: the guard then decides which is open.
pub fn verified_sessions(
    key: &SessionKey,
    cookie_header: Option<&str>,
    now_ms: i64,
) -> Vec<Session> {
    let mut out: Vec<Session> = Vec::new();
    for token in cookie_values(cookie_header, COOKIE_NAME) {
        if let Ok(s) = verify(key, token, now_ms) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// The `Set-Cookie` value that opens a session for `max_age_secs` (no `Domain`, as `__Host-`
/// requires).
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

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    const GUARD_KEY: [u8; 32] = [7; 32];

    fn key() -> SessionKey {
        SessionKey::derive(&GUARD_KEY, None, "admin-token", "admin-token")
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
        let other = SessionKey::derive(&GUARD_KEY, None, "rotated-token", "rotated-token");
        assert_eq!(verify(&other, &t, 0), Err(TokenError::BadSignature));
        let with_secret = SessionKey::derive(&GUARD_KEY, Some("s"), "admin-token", "admin-token");
        assert_eq!(verify(&with_secret, &t, 0), Err(TokenError::BadSignature));
        let new_password = SessionKey::derive(&GUARD_KEY, None, "admin-token", "new-password");
        assert_eq!(verify(&new_password, &t, 0), Err(TokenError::BadSignature));
        // Knowing the token and the password is not enough: the guard's key signs too, so a
        // leaked cookie cannot be used to test guesses of the token offline.
        let other_guard = SessionKey::derive(&[8; 32], None, "admin-token", "admin-token");
        assert_eq!(verify(&other_guard, &t, 0), Err(TokenError::BadSignature));
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
    fn cookies_are_read_by_name_every_one_of_them() {
        #[rustfmt::skip]
        let table: [(Option<&str>, &[&str]); 9] = [
            (Some("__Host-facteur_session=abc"), &["abc"]),
            (Some("a=1; __Host-facteur_session=abc; b=2"), &["abc"]),
            (Some("a=1;__Host-facteur_session=\"abc\""), &["abc"]),
            (Some("__Host-facteur_session=planted; __Host-facteur_session=real"), &["planted", "real"]),
            (Some("facteur_session=abc"), &[]),
            (Some("x__Host-facteur_session=abc"), &[]),
            (Some("__Host-facteur_session="), &[]),
            (Some("__Host-facteur_session"), &[]),
            (None, &[]),
        ];
        for (header, want) in table {
            assert_eq!(cookie_values(header, COOKIE_NAME), want, "{header:?}");
        }
        let many = vec!["__Host-facteur_session=x"; 20].join("; ");
        assert_eq!(
            cookie_values(Some(&many), COOKIE_NAME).len(),
            MAX_SAME_NAME_COOKIES
        );
        let set = set_cookie("tok", 43_200);
        assert!(!set.contains("Domain"), "__Host- cookies have no Domain");
        for attr in [
            "__Host-facteur_session=tok",
            "Max-Age=43200",
            "Path=/",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
        ] {
            assert!(set.contains(attr), "{attr} in {set}");
        }
        assert!(clear_cookie().starts_with("__Host-facteur_session=; Max-Age=0;"));
    }

    #[test]
    fn a_planted_cookie_does_not_hide_the_real_one() {
        let k = key();
        let real = issue(&k, ID, 10_000);
        let other_id = "fedcba9876543210fedcba9876543210";
        let forged = issue(
            &SessionKey::derive(&[9; 32], None, "x", "x"),
            other_id,
            10_000,
        );
        let expired = issue(&k, other_id, 500);
        let header = format!(
            "__Host-facteur_session={forged}; __Host-facteur_session=garbage; __Host-facteur_session={expired}; __Host-facteur_session={real}"
        );
        let found = verified_sessions(&k, Some(&header), 1_000);
        assert_eq!(
            found,
            vec![Session {
                id: ID.into(),
                expires_ms: 10_000
            }]
        );
        assert_eq!(
            verified_sessions(&k, Some("__Host-facteur_session=garbage"), 0),
            vec![]
        );
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
}
