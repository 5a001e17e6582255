//! `GET /media/<key>` (only with `R2_SERVE_MEDIA=true`): serves an object, so the whole flow
//! works locally without a public bucket domain.

use worker::{Env, Headers, Response};

use super::http::{self, storage};
use crate::error::{ApiError, Code};

/// Streams the object at `key` with its stored HTTP metadata and ETag.
pub async fn handle(env: &Env, key: &str) -> Result<Response, ApiError> {
    let bucket = http::bucket(env)?;
    let object = bucket
        .get(key)
        .execute()
        .await
        .map_err(|e| storage("get", e))?;
    let object = object.ok_or_else(|| ApiError::new(Code::NotFound, "no such object"))?;
    let headers = Headers::new();
    object
        .write_http_metadata(Headers(headers.0.clone()))
        .map_err(|e| storage("metadata", e))?;
    let _ = headers.set("etag", &object.http_etag());
    let _ = headers.set("content-length", &object.size().to_string());
    let body = object.body().ok_or_else(|| storage("get", "no body"))?;
    let body = body.response_body().map_err(|e| storage("body", e))?;
    Ok(Response::from_body(body)
        .map_err(|e| storage("body", e))?
        .with_headers(headers))
}
