//! `POST /cleanup`: delete every object uploaded before a cutoff.

use worker::{Env, Request, Response};

use super::http::{self, storage};
use crate::consts::DELETE_BATCH;
use crate::error::ApiError;
use crate::metadata::CleanupReport;
use crate::request;

/// Handles an authorised `POST /cleanup`: lists the bucket page by page (pages of
/// [`DELETE_BATCH`]) and deletes each page's expired objects in one call.
pub async fn handle(mut req: Request, env: &Env) -> Result<Response, ApiError> {
    let cutoff = request::parse_cleanup(&http::body_text(&mut req).await?)?.older_than_ms;
    let bucket = http::bucket(env)?;
    let mut report = CleanupReport::default();
    let mut cursor: Option<String> = None;
    loop {
        let mut list = bucket.list().limit(DELETE_BATCH as u32);
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let page = list.execute().await.map_err(|e| storage("list", e))?;
        let mut expired = Vec::new();
        for object in page.objects() {
            report.scanned();
            if CleanupReport::is_expired(object.uploaded().as_millis(), cutoff) {
                expired.push((object.key(), object.size()));
            }
        }
        if !expired.is_empty() {
            let keys: Vec<String> = expired.iter().map(|(k, _)| k.clone()).collect();
            bucket
                .delete_multiple(keys)
                .await
                .map_err(|e| storage("delete", e))?;
            for (key, size) in &expired {
                report.deleted(key, *size);
            }
        }
        cursor = page.cursor().filter(|_| page.truncated());
        if cursor.is_none() {
            break;
        }
    }
    http::ok_json(&report.finish())
}
