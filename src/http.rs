//! HTTP helpers: JSON responses, the one place an [`ApiError`] becomes a response, and a body
//! reader that stops at a size limit instead of buffering an oversized body.

use futures::StreamExt;
use serde_json::Value;
use worker::{console_error, Headers, Request, Response};

use facteur_core::base::query::query_pairs;
use facteur_core::error::ApiError;
use facteur_core::operator::console::SECURITY_HEADERS;

/// A JSON response with a status.
pub fn json(status: u16, body: &Value) -> Response {
    match Response::from_json(body) {
        Ok(r) => r.with_status(status),
        Err(_) => Response::error("{\"success\":false}", 500).expect("static response"),
    }
}

/// The one way a failed dependency (a store, a queue, an object) becomes an answer: the error
/// is logged in full here, and the client gets a 503 naming only what was unavailable.
pub trait OrUnavailable<T> {
    /// `Ok` as it is; an error logged, and answered as `what` unavailable.
    fn or_unavailable(self, what: &str) -> Result<T, ApiError>;
}

impl<T, E: std::fmt::Display> OrUnavailable<T> for Result<T, E> {
    fn or_unavailable(self, what: &str) -> Result<T, ApiError> {
        self.map_err(|e| {
            console_error!("{what} unavailable: {e}");
            ApiError::unavailable(what)
        })
    }
}

/// The response for an error (with `Retry-After` when the error says when to try again).
pub fn error(e: &ApiError) -> Response {
    error_with(e, Value::Null)
}

/// The response for an error whose body also carries `extra`'s fields (what was done before
/// the refusal, say).
pub fn error_with(e: &ApiError, extra: Value) -> Response {
    let mut body = e.body();
    if let (Value::Object(b), Value::Object(x)) = (&mut body, extra) {
        for (k, v) in x {
            b.entry(k).or_insert(v);
        }
    }
    let resp = json(e.status(), &body);
    match e.retry_after_secs {
        Some(secs) => with_headers(resp, &[("Retry-After", &secs.to_string())]),
        None => resp,
    }
}

/// The response with the security headers every response carries (CSP, nosniff, no referrer,
/// no framing). The headers are copied first: those of a fetched response (the assets) are
/// read-only.
pub fn with_security_headers(resp: Response) -> Response {
    with_headers(resp, &SECURITY_HEADERS)
}

/// The response with `set` headers set over a copy of its own.
pub fn with_headers(resp: Response, set: &[(&str, &str)]) -> Response {
    let headers = Headers::new();
    for (name, value) in resp.headers().entries() {
        let _ = headers.append(&name, &value);
    }
    for (name, value) in set {
        let _ = headers.set(name, value);
    }
    resp.with_headers(headers)
}

/// A `303 See Other` to a path of this worker.
pub fn see_other(location: &str) -> Response {
    let headers = Headers::new();
    let _ = headers.set("Location", location);
    let _ = headers.set("Cache-Control", "no-store");
    Response::empty()
        .map(|r| r.with_status(303).with_headers(headers))
        .unwrap_or_else(|_| error(&ApiError::internal()))
}

/// The query pairs of a request. Read from the raw URL string: parsing it with the `url` crate
/// would link its IDNA tables for nothing.
pub fn query_of(req: &Request) -> Vec<(String, String)> {
    let url = req.inner().url();
    let without_fragment = url.split('#').next().unwrap_or("");
    without_fragment
        .split_once('?')
        .map(|(_, q)| query_pairs(q))
        .unwrap_or_default()
}

/// Reads the body, refusing (413) anything over `limit` bytes, by its declared length or while
/// reading it.
pub async fn read_body_limited(req: &mut Request, limit: u64) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|len| len.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(limit));
    }
    let mut stream = match req.stream() {
        Ok(s) => s,
        // No body at all reads as empty.
        Err(_) => return Ok(Vec::new()),
    };
    // Sized once from the declared length: growing by doubling would briefly hold two copies
    // of a 25 MB body.
    let mut buf: Vec<u8> = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::invalid_json())?;
        if buf.len() as u64 + chunk.len() as u64 > limit {
            return Err(ApiError::too_large(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}
