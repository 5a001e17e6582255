//! `POST /fetch`: copy a provider's file into R2, or answer the copy already made.

use worker::{Date, Env, HttpMetadata, Request, Response};

use super::http::{self, storage};
use super::source;
use super::store::{self, ObjectMeta};
use super::stream::Guarded;
use crate::config::Config;
use crate::error::{ApiError, Code};
use crate::metadata::{self, FetchSuccess};
use crate::upload::BodyGuard;
use crate::{filename, policy, request};

/// Handles an authorised `POST /fetch`.
pub async fn handle(mut req: Request, env: &Env, config: &Config) -> Result<Response, ApiError> {
    let fr = request::parse_fetch(&http::body_text(&mut req).await?)?;
    if config.public_base_url.is_empty() {
        return Err(ApiError::new(
            Code::StorageError,
            "R2_PUBLIC_BASE_URL is not set",
        ));
    }
    let bucket = http::bucket(env)?;
    let answer =
        |original_filename: String, size: u64, content_type: String, reused: bool| FetchSuccess {
            success: true,
            r2_url: metadata::r2_url(&config.public_base_url, &fr.key),
            key: fr.key.clone(),
            original_filename,
            size,
            content_type,
            reused,
            wasm_memory_bytes: wasm_memory_bytes(),
        };

    if let Some(existing) = bucket.head(&fr.key).await.map_err(|e| storage("head", e))? {
        let (name, size, content_type) = store::describe(&existing, &fr.key);
        return http::ok_json(&answer(name, size, content_type, true));
    }

    let opened = source::open(&fr.source, fr.timeout_ms).await?;
    let mut response = opened.response;
    let header = |name: &str| response.headers().get(name).ok().flatten();
    let (content_type, content_length, content_encoding, disposition) = (
        header("content-type"),
        header("content-length"),
        header("content-encoding"),
        header("content-disposition"),
    );
    let head = match policy::check_source_head(
        response.status_code(),
        content_type.as_deref(),
        content_length.as_deref(),
        content_encoding.as_deref(),
        config.max_bytes,
    ) {
        Ok(head) => head,
        Err(e) => {
            source::discard(response);
            return Err(e);
        }
    };
    let name = filename::choose(disposition.as_deref(), &opened.url);
    let meta = ObjectMeta {
        http: HttpMetadata {
            content_type: Some(head.content_type.clone()),
            content_disposition: Some(filename::attachment_disposition(&name)),
            ..HttpMetadata::default()
        },
        custom: metadata::custom_metadata(
            &name,
            &fr.provider,
            &fr.source_url,
            Date::now().as_millis(),
        )
        .into_iter()
        .collect(),
    };

    let stream = response.stream().map_err(|e| {
        ApiError::new(
            Code::SourceTruncated,
            format!("the source body is unreadable: {e}"),
        )
    })?;
    let body = Guarded::start(
        stream,
        BodyGuard::new(head.length, config.max_bytes, fr.require_zip),
    )
    .await?;
    let size = match head.length {
        Some(length) => store::put_known_length(&bucket, &fr.key, body, length, meta).await?,
        None => store::put_unknown_length(&bucket, &fr.key, body, meta).await?,
    };
    http::ok_json(&answer(name, size, head.content_type, false))
}

/// Current size of this isolate's wasm linear memory.
fn wasm_memory_bytes() -> u64 {
    use worker::wasm_bindgen::JsCast;
    worker::wasm_bindgen::memory()
        .dyn_into::<worker::js_sys::WebAssembly::Memory>()
        .map(|m| {
            m.buffer()
                .unchecked_into::<worker::js_sys::ArrayBuffer>()
                .byte_length() as u64
        })
        .unwrap_or(0)
}
