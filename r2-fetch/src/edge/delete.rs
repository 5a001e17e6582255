//! `POST /delete`: delete named objects (the main worker's erasure), answering which existed.

use worker::{Env, Request, Response};

use super::http::{self, storage};
use crate::error::ApiError;
use crate::metadata::DeleteReport;
use crate::request;

/// Handles an authorised `POST /delete`: each key is looked up (so the answer counts only what
/// was there), then the existing ones are deleted in one call.
pub async fn handle(mut req: Request, env: &Env) -> Result<Response, ApiError> {
    let keys = request::parse_delete(&http::body_text(&mut req).await?)?.keys;
    let bucket = http::bucket(env)?;
    let mut existing = Vec::new();
    for key in keys {
        if bucket
            .head(&key)
            .await
            .map_err(|e| storage("head", e))?
            .is_some()
        {
            existing.push(key);
        }
    }
    if !existing.is_empty() {
        bucket
            .delete_multiple(existing.clone())
            .await
            .map_err(|e| storage("delete", e))?;
    }
    http::ok_json(&DeleteReport::of(existing))
}
