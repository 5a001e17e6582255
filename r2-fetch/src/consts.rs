//! Every binding, variable and header name the worker reads, and its fixed limits.

/// Binding names (see `r2-fetch/wrangler.toml`).
pub mod bindings {
    /// The R2 bucket the files are copied into.
    pub const MEDIA_BUCKET: &str = "MEDIA_BUCKET";
}

/// Variable and secret names.
pub mod vars {
    /// Base of the public URL of an object: `<R2_PUBLIC_BASE_URL>/<key>`.
    pub const R2_PUBLIC_BASE_URL: &str = "R2_PUBLIC_BASE_URL";
    /// Largest file accepted, in bytes (default [`super::DEFAULT_MAX_BYTES`]).
    pub const R2_FETCH_MAX_BYTES: &str = "R2_FETCH_MAX_BYTES";
    /// `true` enables `GET /media/<key>` (local development only).
    pub const R2_SERVE_MEDIA: &str = "R2_SERVE_MEDIA";
    /// Secret shared with the main worker, sent in [`super::headers::TOKEN`].
    pub const R2_FETCH_TOKEN: &str = "R2_FETCH_TOKEN";
}

/// Header names.
pub mod headers {
    /// Carries the `R2_FETCH_TOKEN` secret on `/fetch`, `/cleanup` and `/delete`.
    pub const TOKEN: &str = "X-R2-FETCH-TOKEN";
    /// Sent to the source.
    pub const USER_AGENT_VALUE: &str = "facteur-r2-fetch/0.1";
}

/// `customMetadata` keys stored on every object.
pub mod meta {
    /// The filename taken from the source.
    pub const ORIGINAL_FILENAME: &str = "originalFilename";
    /// The provider named by the caller (`dropbox`, …).
    pub const PROVIDER: &str = "provider";
    /// The URL the caller asked for (before redirects).
    pub const SOURCE_URL: &str = "sourceUrl";
    /// When the copy started (the metadata is set before the body streams), ISO 8601 UTC.
    pub const UPLOADED_AT: &str = "uploadedAt";
}

/// Default for `R2_FETCH_MAX_BYTES`: 2 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 2 << 30;
/// Default deadline for the source's response headers.
pub const DEFAULT_TIMEOUT_MS: u64 = 15_000;
/// Largest `timeout_ms` accepted.
pub const MAX_TIMEOUT_MS: u64 = 600_000;
/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;
/// Size of every multipart part but the last (R2 wants equal parts of at least 5 MiB).
pub const PART_SIZE: usize = 8 << 20;
/// Source chunks already received are merged up to this size before going to R2.
pub const COALESCE_BYTES: usize = 1 << 20;
/// Longest object key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest JSON request body read.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// R2 deletes at most this many keys per call, and lists at most this many per page.
pub const DELETE_BATCH: usize = 1000;
/// Most keys one `/delete` takes (each is looked up before the delete).
pub const MAX_DELETE_KEYS: usize = 100;
/// Keys named in a cleanup answer.
pub const REPORTED_KEYS: usize = 100;
/// Content type stored when the source sends none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";
/// Filename used when neither the headers nor the URL give one.
pub const FALLBACK_FILENAME: &str = "file";
