//! Writes a guarded source body into R2: one streamed `put` when the length is known, fixed-size
//! multipart parts when it is not.

use std::collections::HashMap;

use futures::StreamExt;
use worker::{Bucket, FixedLengthStream, HttpMetadata, MultipartUpload, Object, UploadedPart};

use super::http::storage;
use super::stream::Guarded;
use crate::consts::{meta, DEFAULT_CONTENT_TYPE, PART_SIZE};
use crate::error::{ApiError, Code};
use crate::upload::PartBuffer;

/// What is stored with the object.
#[derive(Clone)]
pub struct ObjectMeta {
    /// Content type and disposition served with it.
    pub http: HttpMetadata,
    /// `customMetadata`.
    pub custom: HashMap<String, String>,
}

/// What an existing object says about itself: (original filename, size, content type).
pub fn describe(object: &Object, key: &str) -> (String, u64, String) {
    let filename = object
        .custom_metadata()
        .ok()
        .and_then(|m| m.get(meta::ORIGINAL_FILENAME).cloned())
        .unwrap_or_else(|| key.rsplit('/').next().unwrap_or(key).to_string());
    let content_type = object
        .http_metadata()
        .content_type
        .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string());
    (filename, object.size(), content_type)
}

/// Streams `body` (declared `length` bytes) into `key` with a single put; returns the size.
pub async fn put_known_length(
    bucket: &Bucket,
    key: &str,
    body: Guarded,
    length: u64,
    meta: ObjectMeta,
) -> Result<u64, ApiError> {
    let failure = body.failure();
    let put = bucket
        .put(key, FixedLengthStream::wrap(body, length))
        .http_metadata(meta.http)
        .custom_metadata(meta.custom)
        .execute()
        .await;
    match put {
        Ok(_) => Ok(length),
        // The stream's own reason beats R2's "the input errored".
        Err(e) => Err(failure
            .borrow_mut()
            .take()
            .unwrap_or_else(|| storage("put", e))),
    }
}

/// Copies `body` of unknown length into `key`: parts of [`PART_SIZE`] bytes, the upload created
/// only once a first part is full (a smaller body is a single put) and aborted on any
/// failure. Returns the size.
pub async fn put_unknown_length(
    bucket: &Bucket,
    key: &str,
    mut body: Guarded,
    meta: ObjectMeta,
) -> Result<u64, ApiError> {
    let mut upload: Option<MultipartUpload> = None;
    let outcome = copy_parts(bucket, key, &mut body, &meta, &mut upload).await;
    match (outcome, upload) {
        (Ok(Some(parts)), Some(upload)) => {
            // A failed complete cannot be aborted (complete consumes the upload, and asking for
            // its id first logs a runtime warning on every upload); R2 expires incomplete
            // uploads by itself.
            upload
                .complete(parts)
                .await
                .map_err(|e| storage("multipart complete", e))?;
            Ok(body.seen())
        }
        (Ok(_), _) => Ok(body.seen()),
        (Err(e), upload) => {
            if let Some(upload) = upload {
                if let Err(abort) = upload.abort().await {
                    worker::console_warn!("r2-fetch: multipart abort of {key} failed: {abort}");
                }
            }
            Err(e)
        }
    }
}

/// Reads the whole body into parts. `Ok(Some(parts))` when a multipart upload holds it (to
/// complete), `Ok(None)` when it was small enough for the single put already done.
async fn copy_parts(
    bucket: &Bucket,
    key: &str,
    body: &mut Guarded,
    meta: &ObjectMeta,
    upload: &mut Option<MultipartUpload>,
) -> Result<Option<Vec<UploadedPart>>, ApiError> {
    let failure = body.failure();
    let mut buffer = PartBuffer::new(PART_SIZE);
    let mut done: Vec<UploadedPart> = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            failure
                .borrow_mut()
                .take()
                .unwrap_or_else(|| ApiError::new(Code::SourceTruncated, e.to_string()))
        })?;
        for part in buffer.push(&chunk) {
            if upload.is_none() {
                let created = bucket
                    .create_multipart_upload(key)
                    .http_metadata(meta.http.clone())
                    .custom_metadata(meta.custom.clone())
                    .execute()
                    .await
                    .map_err(|e| storage("multipart create", e))?;
                *upload = Some(created);
            }
            if let Some(up) = upload.as_ref() {
                done.push(upload_part(up, done.len() + 1, part).await?);
            }
        }
    }
    let rest = buffer.finish();
    match upload.as_ref() {
        Some(up) => {
            if !rest.is_empty() {
                done.push(upload_part(up, done.len() + 1, rest).await?);
            }
            Ok(Some(done))
        }
        None => {
            bucket
                .put(key, rest)
                .http_metadata(meta.http.clone())
                .custom_metadata(meta.custom.clone())
                .execute()
                .await
                .map_err(|e| storage("put", e))?;
            Ok(None)
        }
    }
}

async fn upload_part(
    upload: &MultipartUpload,
    number: usize,
    bytes: Vec<u8>,
) -> Result<UploadedPart, ApiError> {
    let number = u16::try_from(number)
        .map_err(|_| ApiError::new(Code::TooLarge, "too many multipart parts"))?;
    upload
        .upload_part(number, bytes)
        .await
        .map_err(|e| storage(&format!("upload of part {number}"), e))
}
