//! Environment reading and JSON answers.

use serde::Serialize;
use worker::{Bucket, Env, Headers, Request, Response, ResponseBuilder};

use crate::config::Config;
use crate::consts::{bindings, MAX_REQUEST_BYTES};
use crate::error::{ApiError, Code};

/// The settings from the worker's variables and secret.
pub fn config(env: &Env) -> Config {
    Config::from_lookup(|name| {
        env.var(name)
            .map(|v| v.to_string())
            .or_else(|_| env.secret(name).map(|s| s.to_string()))
            .ok()
    })
}

/// The media bucket, or `storage_error` when the binding is missing.
pub fn bucket(env: &Env) -> Result<Bucket, ApiError> {
    env.bucket(bindings::MEDIA_BUCKET).map_err(|e| {
        ApiError::new(
            Code::StorageError,
            format!("the {} binding is missing: {e}", bindings::MEDIA_BUCKET),
        )
    })
}

/// `storage_error` wrapping an R2 failure.
pub fn storage(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(Code::StorageError, format!("R2 {what} failed: {e}"))
}

/// The request body as text, refusing bodies too large to be a request.
pub async fn body_text(req: &mut Request) -> Result<String, ApiError> {
    use futures::StreamExt;
    let too_large =
        || ApiError::invalid(format!("the body is larger than {MAX_REQUEST_BYTES} bytes"));
    let declared = req.headers().get("Content-Length").ok().flatten();
    if declared
        .and_then(|l| l.trim().parse::<usize>().ok())
        .is_some_and(|n| n > MAX_REQUEST_BYTES)
    {
        return Err(too_large());
    }
    // Read chunk by chunk and stop past the limit: a body without a declared length is never
    // buffered whole.
    let mut bytes = Vec::new();
    if let Ok(mut stream) = req.stream() {
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::invalid(format!("the body could not be read: {e}")))?;
            if bytes.len() + chunk.len() > MAX_REQUEST_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
    }
    String::from_utf8(bytes).map_err(|_| ApiError::invalid("the body is not UTF-8"))
}

/// A 200 JSON answer.
pub fn ok_json<T: Serialize>(body: &T) -> Result<Response, ApiError> {
    Response::from_json(body)
        .map_err(|e| ApiError::new(Code::StorageError, format!("answer not serialised: {e}")))
}

/// The JSON answer for an error; infallible, so no failure ever becomes an unstructured 500.
pub fn error(e: &ApiError) -> Response {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    ResponseBuilder::new()
        .with_status(e.status())
        .with_headers(headers)
        .fixed(e.body().to_string().into_bytes())
}
