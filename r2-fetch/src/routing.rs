//! Which endpoint a method and path reach.

use crate::error::ApiError;
use crate::pct;
use crate::policy;

/// An endpoint, once method and path are known to be right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /fetch`.
    Fetch,
    /// `POST /cleanup`.
    Cleanup,
    /// `POST /delete`.
    Delete,
    /// `GET /media/<key>`, the key percent-decoded.
    Media(String),
}

impl Endpoint {
    /// Whether the endpoint wants the `X-R2-FETCH-TOKEN` header.
    pub fn needs_token(&self) -> bool {
        !matches!(self, Endpoint::Media(_))
    }
}

/// Routes `method` and `path` (the URL path, still percent-encoded). Unknown paths, and
/// `/media/` while media serving is off, are `not_found`; a known path with another method
/// is `method_not_allowed` (before any token check: it reveals nothing).
pub fn route(method: &str, path: &str, serve_media: bool) -> Result<Endpoint, ApiError> {
    let (endpoint, allowed) = match path {
        "/fetch" => (Endpoint::Fetch, "POST"),
        "/cleanup" => (Endpoint::Cleanup, "POST"),
        "/delete" => (Endpoint::Delete, "POST"),
        _ => match path.strip_prefix("/media/") {
            Some(encoded) if serve_media => {
                let key = String::from_utf8(pct::decode_bytes(encoded))
                    .map_err(|_| ApiError::not_found())?;
                policy::check_key(&key).map_err(|_| ApiError::not_found())?;
                (Endpoint::Media(key), "GET")
            }
            _ => return Err(ApiError::not_found()),
        },
    };
    if !method.eq_ignore_ascii_case(allowed) {
        return Err(ApiError::method_not_allowed(allowed));
    }
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    #[test]
    fn routes() {
        assert_eq!(route("POST", "/fetch", false), Ok(Endpoint::Fetch));
        assert_eq!(route("POST", "/cleanup", false), Ok(Endpoint::Cleanup));
        assert_eq!(
            route("GET", "/media/a/b%20c.zip", true),
            Ok(Endpoint::Media("a/b c.zip".into()))
        );
        assert_eq!(route("POST", "/delete", false), Ok(Endpoint::Delete));
        assert!(Endpoint::Fetch.needs_token() && Endpoint::Cleanup.needs_token());
        assert!(Endpoint::Delete.needs_token());
        assert!(!Endpoint::Media("k".into()).needs_token());
    }

    #[test]
    fn errors() {
        let code = |m: &str, p: &str, s: bool| route(m, p, s).unwrap_err().code;
        assert_eq!(code("GET", "/fetch", true), Code::MethodNotAllowed);
        assert_eq!(code("PUT", "/fetch", false), Code::MethodNotAllowed);
        assert_eq!(code("GET", "/cleanup", false), Code::MethodNotAllowed);
        assert_eq!(code("DELETE", "/delete", false), Code::MethodNotAllowed);
        assert_eq!(code("POST", "/media/a.zip", true), Code::MethodNotAllowed);
        assert_eq!(code("GET", "/media/a.zip", false), Code::NotFound);
        assert_eq!(code("GET", "/media/", true), Code::NotFound);
        assert_eq!(code("GET", "/media/a/%2E%2E/b", true), Code::NotFound);
        assert_eq!(code("GET", "/media/%FF", true), Code::NotFound);
        assert_eq!(code("POST", "/", false), Code::NotFound);
        assert_eq!(code("POST", "/fetch/", false), Code::NotFound);
        assert_eq!(code("GET", "/nope", true), Code::NotFound);
    }
}
