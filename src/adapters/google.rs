//! Google over HTTP: the OAuth token endpoint, the Gmail API, and Google's signing keys for
//! the push's tokens (kept per isolate by `kid`; when to fetch them again is the core's,
//! `facteur_core::intake::gmail::jwt::lookup`). Every call has a deadline and follows no
//! redirect; answers are read up to a size. Tokens never reach a log: errors carry the status
//! and Google's error text only.

use std::cell::RefCell;
use std::collections::HashMap;

use futures::StreamExt;
use wasm_bindgen::JsValue;
use worker::{Headers, Method, Request, RequestInit, RequestRedirect, Response};

use super::crypto::{import_rs256, verify_rs256};
use super::ledger::count;
use super::net::{fetch_with_timeout, NetError};
use facteur_core::intake::gmail::api::retry_after_secs;
use facteur_core::intake::gmail::jwt::{
    cache_secs, lookup, parse_jwks, select, Jwk, Lookup, Refusal, Token, JWKS_URL,
};
use facteur_core::intake::gmail::oauth::{
    form_encode, parse_token_answer, TokenAnswer, REVOKE_URL, TOKEN_URL,
};
use facteur_core::intake::gmail::sync::retryable;

/// Deadline of a Gmail API call.
const GMAIL_TIMEOUT_MS: u64 = 15_000;
/// Deadline of a token-endpoint call.
const TOKEN_TIMEOUT_MS: u64 = 10_000;
/// Deadline of fetching Google's keys.
const KEYS_TIMEOUT_MS: u64 = 5_000;
/// The small answers (token, keys, profile, labels, history pages) are read up to this.
pub const SMALL_ANSWER_BYTES: u64 = 2 * 1024 * 1024;

/// A call that did not answer 2xx.
#[derive(Debug, Clone)]
pub struct Fail {
    /// `None`: no answer (network error, deadline).
    pub status: Option<u16>,
    pub retry_after_secs: Option<u32>,
    pub detail: String,
}

impl Fail {
    fn net(e: NetError, what: &str) -> Fail {
        Fail {
            status: None,
            retry_after_secs: None,
            detail: match e {
                NetError::Timeout => format!("{what}: no answer in time"),
                NetError::Failed(e) => format!("{what}: {e}"),
            },
        }
    }

    /// Worth trying again later: no answer, 429 or 5xx.
    pub fn retryable(&self) -> bool {
        self.status.is_none_or(retryable)
    }
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// An answer's body, or the news that it is larger than the bytes allowed.
pub enum Body {
    Text(String),
    TooBig,
}

async fn send(
    method: Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<(&str, String)>,
    timeout_ms: u64,
) -> Result<Response, NetError> {
    let headers = Headers::new();
    if let Some(token) = bearer {
        let _ = headers.set("Authorization", &format!("Bearer {token}"));
    }
    let _ = headers.set("Accept", "application/json");
    let mut init = RequestInit::new();
    init.with_method(method)
        .with_redirect(RequestRedirect::Manual);
    if let Some((content_type, text)) = body {
        let _ = headers.set("Content-Type", content_type);
        init.with_body(Some(text.into()));
    }
    init.with_headers(headers);
    let req = Request::new_with_init(url, &init).map_err(|e| NetError::Failed(e.to_string()))?;
    count(|o| o.subrequests += 1);
    fetch_with_timeout(req, timeout_ms).await
}

/// Reads a body up to `max` bytes.
async fn read(resp: &mut Response, max: u64) -> Result<Body, String> {
    let declared = resp
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|l| l.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Ok(Body::TooBig);
    }
    let mut stream = match resp.stream() {
        Ok(s) => s,
        Err(_) => return Ok(Body::Text(String::new())),
    };
    let mut buf: Vec<u8> = Vec::with_capacity(declared.unwrap_or(0).min(max) as usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("answer cut short: {e}"))?;
        if buf.len() as u64 + chunk.len() as u64 > max {
            return Ok(Body::TooBig);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Body::Text(match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }))
}

async fn answer(mut resp: Response, what: &str, max: u64) -> Result<Body, Fail> {
    let status = resp.status_code();
    let retry_after = retry_after_secs(resp.headers().get("Retry-After").ok().flatten().as_deref());
    if (200..300).contains(&status) {
        return read(&mut resp, max).await.map_err(|e| Fail {
            status: None,
            retry_after_secs: None,
            detail: format!("{what}: {e}"),
        });
    }
    let text = match read(&mut resp, 4_096).await {
        Ok(Body::Text(t)) => t,
        _ => String::new(),
    };
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    Err(Fail {
        status: Some(status),
        retry_after_secs: retry_after,
        detail: format!(
            "{what}: HTTP {status} {}",
            text.chars().take(200).collect::<String>()
        )
        .trim()
        .to_string(),
    })
}

/// The Gmail API with an access token.
pub struct Gmail<'a> {
    pub access_token: &'a str,
}

impl Gmail<'_> {
    /// `GET` a Gmail API URL, reading at most `max` bytes of the answer.
    pub async fn get(&self, url: &str, what: &str, max: u64) -> Result<Body, Fail> {
        let resp = send(
            Method::Get,
            url,
            Some(self.access_token),
            None,
            GMAIL_TIMEOUT_MS,
        )
        .await
        .map_err(|e| Fail::net(e, what))?;
        answer(resp, what, max).await
    }

    /// `GET` a small answer (profile, labels, a history page, a message list).
    pub async fn get_small(&self, url: &str, what: &str) -> Result<String, Fail> {
        match self.get(url, what, SMALL_ANSWER_BYTES).await? {
            Body::Text(t) => Ok(t),
            Body::TooBig => Err(Fail {
                status: None,
                retry_after_secs: None,
                detail: format!("{what}: answer over {SMALL_ANSWER_BYTES} bytes"),
            }),
        }
    }

    /// `POST` a JSON body to a Gmail API URL.
    pub async fn post(&self, url: &str, what: &str, body: String) -> Result<String, Fail> {
        let resp = send(
            Method::Post,
            url,
            Some(self.access_token),
            Some(("application/json", body)),
            GMAIL_TIMEOUT_MS,
        )
        .await
        .map_err(|e| Fail::net(e, what))?;
        match answer(resp, what, SMALL_ANSWER_BYTES).await? {
            Body::Text(t) => Ok(t),
            Body::TooBig => Ok(String::new()),
        }
    }
}

/// The token endpoint: a form (a code exchange or a refresh); a network failure is
/// [`TokenAnswer::Retryable`].
pub async fn token(form: &[(&str, &str)]) -> TokenAnswer {
    let body = form_encode(form);
    let resp = match send(
        Method::Post,
        TOKEN_URL,
        None,
        Some(("application/x-www-form-urlencoded", body)),
        TOKEN_TIMEOUT_MS,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return TokenAnswer::Retryable(Fail::net(e, "token endpoint").detail),
    };
    let mut resp = resp;
    let status = resp.status_code();
    match read(&mut resp, 64 * 1024).await {
        Ok(Body::Text(text)) => parse_token_answer(status, &text),
        _ => TokenAnswer::Retryable(format!("token endpoint: HTTP {status}, answer unreadable")),
    }
}

/// Revokes a token at Google (on disconnect; best effort).
pub async fn revoke(token_value: &str) -> Result<(), Fail> {
    let resp = send(
        Method::Post,
        REVOKE_URL,
        None,
        Some((
            "application/x-www-form-urlencoded",
            form_encode(&[("token", token_value)]),
        )),
        TOKEN_TIMEOUT_MS,
    )
    .await
    .map_err(|e| Fail::net(e, "revocation"))?;
    answer(resp, "revocation", 4_096).await.map(|_| ())
}

/// Why a push's token could not be verified.
pub enum KeyError {
    Refused(Refusal),
    /// Google's keys could not be fetched and the token's key is not held: the push is
    /// answered 503 (Pub/Sub delivers it again).
    Unavailable(String),
}

/// Google's keys as this isolate holds them.
#[derive(Default)]
struct Keys {
    keys: Vec<Jwk>,
    fresh_until_ms: i64,
    last_fetch_ms: Option<i64>,
    imported: HashMap<String, JsValue>,
}

thread_local! {
    static KEYS: RefCell<Keys> = RefCell::new(Keys::default());
}

async fn fetch_keys() -> Result<(Vec<Jwk>, u64), String> {
    let mut resp = send(Method::Get, JWKS_URL, None, None, KEYS_TIMEOUT_MS)
        .await
        .map_err(|e| Fail::net(e, "Google's keys").detail)?;
    let status = resp.status_code();
    if status != 200 {
        return Err(format!("Google's keys: HTTP {status}"));
    }
    let max_age = cache_secs(
        resp.headers()
            .get("Cache-Control")
            .ok()
            .flatten()
            .as_deref(),
    );
    match read(&mut resp, 256 * 1024).await? {
        Body::Text(t) => Ok((parse_jwks(&t)?, max_age)),
        Body::TooBig => Err("Google's keys: answer too large".into()),
    }
}

/// Verifies a push token's RS256 signature with Google's key of its `kid`.
pub async fn verify_token(token: &Token<'_>, now_ms: i64) -> Result<(), KeyError> {
    let decision = KEYS.with(|k| {
        let k = k.borrow();
        lookup(
            select(&k.keys, &token.kid).is_some(),
            k.fresh_until_ms,
            k.last_fetch_ms,
            now_ms,
        )
    });
    match decision {
        Lookup::Use => {}
        Lookup::Refuse => return Err(KeyError::Refused(Refusal::UnknownKey)),
        Lookup::Fetch => {
            KEYS.with(|k| k.borrow_mut().last_fetch_ms = Some(now_ms));
            match fetch_keys().await {
                Ok((keys, max_age)) => KEYS.with(|k| {
                    let mut k = k.borrow_mut();
                    k.keys = keys;
                    k.imported.clear();
                    k.fresh_until_ms = now_ms + max_age as i64 * 1000;
                }),
                Err(e) => {
                    let held = KEYS.with(|k| select(&k.borrow().keys, &token.kid).is_some());
                    if !held {
                        return Err(KeyError::Unavailable(e));
                    }
                    worker::console_warn!("gmail push: {e}; the key held is used");
                }
            }
        }
    }
    let (jwk, imported) = KEYS.with(|k| {
        let k = k.borrow();
        (
            select(&k.keys, &token.kid).cloned(),
            k.imported.get(&token.kid).cloned(),
        )
    });
    let Some(jwk) = jwk else {
        return Err(KeyError::Refused(Refusal::UnknownKey));
    };
    let key = match imported {
        Some(key) => key,
        None => {
            let key = import_rs256(&jwk.webcrypto())
                .await
                .map_err(|e| KeyError::Unavailable(format!("key {} not imported: {e}", jwk.kid)))?;
            KEYS.with(|k| k.borrow_mut().imported.insert(jwk.kid.clone(), key.clone()));
            key
        }
    };
    match verify_rs256(&key, token.signing_input.as_bytes(), &token.signature).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(KeyError::Refused(Refusal::BadSignature)),
        // A signature of the wrong length is refused by WebCrypto with an error.
        Err(_) => Err(KeyError::Refused(Refusal::BadSignature)),
    }
}
