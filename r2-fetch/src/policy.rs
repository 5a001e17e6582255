//! Who may call, which hosts may be fetched, which keys may be written, and what a source
//! response must look like before its body is copied.

use url::{Host, Url};

use crate::consts::MAX_KEY_BYTES;
use crate::error::{ApiError, Code};

/// Domains a caller may ask for (and any subdomain of them): exactly the providers whose links
/// the main worker extracts (SPEC §5). A host the main worker never sends is one more place a
/// caller holding the token could copy files from into the public bucket.
pub const SOURCE_DOMAINS: &[&str] = &["dropbox.com", "fromsmash.com", "swisstransfer.com"];

/// Extra domains a source may redirect to: Dropbox serves `dl=1` links from
/// `*.dl.dropboxusercontent.com`. Never accepted as the first URL.
pub const REDIRECT_ONLY_DOMAINS: &[&str] = &["dropboxusercontent.com"];

/// Whether a URL is the caller's own or one the source redirected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// The `source_url` of the request.
    Initial,
    /// A `Location` the source answered.
    Redirect,
}

/// Compares the presented token with the configured one in time independent of where they
/// differ. No configured (or an empty) token refuses everyone.
pub fn token_matches(presented: Option<&str>, configured: Option<&str>) -> bool {
    let (Some(p), Some(c)) = (presented, configured) else {
        return false;
    };
    if c.is_empty() {
        return false;
    }
    let (p, c) = (p.as_bytes(), c.as_bytes());
    // Fold over the configured length whatever was presented, so timing only reveals it.
    let mut diff = u8::from(p.len() != c.len());
    for (i, &cb) in c.iter().enumerate() {
        diff |= cb ^ p.get(i).copied().unwrap_or(!cb);
    }
    diff == 0
}

/// Whether `host` is one of `domains` or a subdomain of one: whole labels, case-insensitive,
/// a trailing dot ignored.
pub fn host_in(host: &str, domains: &[&str]) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if host.is_empty() || host.split('.').any(str::is_empty) {
        return false;
    }
    domains.iter().any(|d| {
        host == *d
            || (host.len() > d.len()
                && host.ends_with(d)
                && host.as_bytes()[host.len() - d.len() - 1] == b'.')
    })
}

/// Whether `host` may be fetched at this hop.
pub fn host_allowed(host: &str, hop: Hop) -> bool {
    host_in(host, SOURCE_DOMAINS) || (hop == Hop::Redirect && host_in(host, REDIRECT_ONLY_DOMAINS))
}

/// Parses and checks the caller's `source_url`: https (`invalid_request` otherwise) on an
/// allowed host (`host_not_allowed`).
pub fn check_source_url(raw: &str) -> Result<Url, ApiError> {
    let url = Url::parse(raw.trim())
        .map_err(|e| ApiError::invalid(format!("source_url is not a URL: {e}")))?;
    if url.scheme() != "https" {
        return Err(ApiError::invalid("source_url must be https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::invalid("source_url must not carry credentials"));
    }
    check_host(&url, Hop::Initial)?;
    Ok(url)
}

/// Resolves a redirect's `Location` against the URL that answered it and checks the target:
/// https and an allowed host (redirect hops also admit [`REDIRECT_ONLY_DOMAINS`]), else
/// `host_not_allowed`.
pub fn check_redirect(from: &Url, location: &str) -> Result<Url, ApiError> {
    let url = from.join(location.trim()).map_err(|e| {
        ApiError::new(
            Code::SourceStatus,
            format!("the source redirected to an invalid URL: {e}"),
        )
    })?;
    if url.scheme() != "https" {
        return Err(ApiError::new(
            Code::HostNotAllowed,
            format!(
                "the source redirected to a non-https URL ({})",
                url.scheme()
            ),
        ));
    }
    check_host(&url, Hop::Redirect)?;
    Ok(url)
}

fn check_host(url: &Url, hop: Hop) -> Result<(), ApiError> {
    let what = match hop {
        Hop::Initial => "source_url",
        Hop::Redirect => "redirect target",
    };
    let host = match url.host() {
        Some(Host::Domain(d)) => d,
        Some(_) => {
            return Err(ApiError::new(
                Code::HostNotAllowed,
                format!("{what}: IP addresses are not allowed"),
            ))
        }
        None => return Err(ApiError::invalid(format!("{what} has no host"))),
    };
    if !host_allowed(host, hop) {
        return Err(ApiError::new(
            Code::HostNotAllowed,
            format!("{what}: host {host} is not allowed"),
        ));
    }
    // Only the default https port: a provider never needs another one.
    if url.port().is_some_and(|p| p != 443) {
        return Err(ApiError::new(
            Code::HostNotAllowed,
            format!("{what}: only port 443 is allowed"),
        ));
    }
    Ok(())
}

/// Checks an object key: non-empty, at most 512 bytes, no leading `/`, no `..` path segment,
/// no control characters.
pub fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(ApiError::invalid("key must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(ApiError::invalid(format!(
            "key is longer than {MAX_KEY_BYTES} bytes"
        )));
    }
    if key.starts_with('/') {
        return Err(ApiError::invalid("key must not start with /"));
    }
    if key.split(['/', '\\']).any(|s| s == "..") {
        return Err(ApiError::invalid("key must not contain a .. segment"));
    }
    if key.chars().any(char::is_control) {
        return Err(ApiError::invalid("key must not contain control characters"));
    }
    Ok(())
}

/// Statuses answered with a `Location` to follow.
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// What the headers of a final (non-redirect) response say about the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceHead {
    /// Byte length of the body when it is known up front.
    pub length: Option<u64>,
    /// Content type to store.
    pub content_type: String,
}

/// Decides from the final response's headers whether to copy its body: a 2xx
/// (`source_status`), not a web page (`not_a_file`), a declared length within `max_bytes`
/// (`too_large`, before anything is downloaded).
pub fn check_source_head(
    status: u16,
    content_type: Option<&str>,
    content_length: Option<&str>,
    content_encoding: Option<&str>,
    max_bytes: u64,
) -> Result<SourceHead, ApiError> {
    if !(200..300).contains(&status) {
        return Err(ApiError::new(
            Code::SourceStatus,
            format!("the source answered HTTP {status}"),
        ));
    }
    let content_type = content_type.map(str::trim).filter(|t| !t.is_empty());
    let media_type = content_type.map(|t| {
        t.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    if matches!(
        media_type.as_deref(),
        Some("text/html" | "application/xhtml+xml")
    ) {
        return Err(ApiError::new(
            Code::NotAFile,
            "the source answered a web page, not a file",
        ));
    }
    // The runtime decompresses encoded bodies, so Content-Length then counts the wrong bytes.
    let encoded = content_encoding
        .map(str::trim)
        .is_some_and(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"));
    let length = if encoded {
        None
    } else {
        content_length.and_then(|l| l.trim().parse::<u64>().ok())
    };
    if let Some(len) = length.filter(|&l| l > max_bytes) {
        return Err(too_large(Some(len), max_bytes));
    }
    Ok(SourceHead {
        length,
        content_type: content_type
            .unwrap_or(crate::consts::DEFAULT_CONTENT_TYPE)
            .to_string(),
    })
}

/// `too_large`, naming the declared size when there is one.
pub fn too_large(declared: Option<u64>, max_bytes: u64) -> ApiError {
    let message = match declared {
        Some(len) => format!("the file is {len} bytes, more than the maximum of {max_bytes}"),
        None => format!("the file is larger than the maximum of {max_bytes} bytes"),
    };
    ApiError::new(Code::TooLarge, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(token_matches(Some("secret"), Some("secret")));
        assert!(!token_matches(Some("secreT"), Some("secret")));
        assert!(!token_matches(Some("secret1"), Some("secret")));
        assert!(!token_matches(Some("secre"), Some("secret")));
        assert!(!token_matches(Some(""), Some("secret")));
        assert!(!token_matches(None, Some("secret")));
        assert!(!token_matches(Some("secret"), None));
        assert!(!token_matches(Some(""), Some("")));
        assert!(!token_matches(None, None));
    }

    #[test]
    fn allowlist_matches_whole_labels() {
        for host in [
            "dropbox.com",
            "www.dropbox.com",
            "WWW.DropBox.COM",
            "www.dropbox.com.",
            "fromsmash.com",
            "dl.fromsmash.com",
            "www.swisstransfer.com",
        ] {
            assert!(host_allowed(host, Hop::Initial), "{host}");
        }
        for host in [
            "evildropbox.com",
            "www.dropbox.com.evil.com",
            "dropbox.co",
            "dropbox.com..",
            ".dropbox.com",
            "www..dropbox.com",
            "com",
            "",
            "dl.dropboxusercontent.com",
            "wetransfer.com",
            "we.tl.wetransfer.com",
            "wetransfer.com.evil",
        ] {
            assert!(!host_allowed(host, Hop::Initial), "{host}");
        }
    }

    #[test]
    fn dropboxusercontent_only_for_redirects() {
        assert!(host_allowed(
            "uc1234.dl.dropboxusercontent.com",
            Hop::Redirect
        ));
        assert!(host_allowed("dropboxusercontent.com", Hop::Redirect));
        assert!(!host_allowed(
            "uc1234.dl.dropboxusercontent.com",
            Hop::Initial
        ));
        assert!(!host_allowed("evildropboxusercontent.com", Hop::Redirect));
        assert!(!host_allowed("example.com", Hop::Redirect));
    }

    #[test]
    fn source_url_checks() {
        assert!(check_source_url("https://www.dropbox.com/scl/fo/abc?dl=1&rlkey=x").is_ok());
        assert!(check_source_url("https://www.dropbox.com.:443/s/a.zip").is_ok());
        let code = |u: &str| check_source_url(u).unwrap_err().code;
        assert_eq!(code("http://www.dropbox.com/a"), Code::InvalidRequest);
        assert_eq!(code("ftp://www.dropbox.com/a"), Code::InvalidRequest);
        assert_eq!(code("not a url"), Code::InvalidRequest);
        assert_eq!(
            code("https://user:pw@www.dropbox.com/a"),
            Code::InvalidRequest
        );
        assert_eq!(code("https://evil.com/a"), Code::HostNotAllowed);
        assert_eq!(
            code("https://www.dropbox.com.evil.com/a"),
            Code::HostNotAllowed
        );
        assert_eq!(code("https://evildropbox.com/a"), Code::HostNotAllowed);
        assert_eq!(
            code("https://dl.dropboxusercontent.com/a"),
            Code::HostNotAllowed
        );
        assert_eq!(code("https://1.2.3.4/a"), Code::HostNotAllowed);
        assert_eq!(code("https://[::1]/a"), Code::HostNotAllowed);
        assert_eq!(code("https://www.dropbox.com:8443/a"), Code::HostNotAllowed);
    }

    #[test]
    fn redirect_checks() {
        let from = Url::parse("https://www.dropbox.com/scl/fo/abc?dl=1").unwrap();
        let to = check_redirect(
            &from,
            "https://uc9.dl.dropboxusercontent.com/zip_download_get/x",
        )
        .unwrap();
        assert_eq!(to.host_str(), Some("uc9.dl.dropboxusercontent.com"));
        let rel = check_redirect(&from, "/scl/fo/abc/other?dl=1").unwrap();
        assert_eq!(
            rel.as_str(),
            "https://www.dropbox.com/scl/fo/abc/other?dl=1"
        );
        let code = |l: &str| check_redirect(&from, l).unwrap_err().code;
        assert_eq!(
            code("http://uc9.dl.dropboxusercontent.com/x"),
            Code::HostNotAllowed
        );
        assert_eq!(code("https://evil.com/x"), Code::HostNotAllowed);
        assert_eq!(code("https://169.254.169.254/latest"), Code::HostNotAllowed);
        assert_eq!(code("https://"), Code::SourceStatus);
    }

    #[test]
    fn key_checks() {
        assert!(check_key("dropbox/1a2b3c4d/5e6f7a8b/file.zip").is_ok());
        assert!(check_key("dropbox/1a2b3c4d/5e6f7a8b/my..file.zip").is_ok());
        assert!(check_key("dropbox/a/b/café €.zip").is_ok());
        assert!(check_key(&"k".repeat(512)).is_ok());
        for bad in [
            "",
            "/abs/key",
            "a/../b",
            "../a",
            "a/..",
            "..",
            "a\\..\\b",
            "a\nb",
            &"k".repeat(513),
        ] {
            assert_eq!(
                check_key(bad).unwrap_err().code,
                Code::InvalidRequest,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn redirect_statuses() {
        for s in [301, 302, 303, 307, 308] {
            assert!(is_redirect(s));
        }
        for s in [200, 204, 300, 304, 404] {
            assert!(!is_redirect(s));
        }
    }

    #[test]
    fn head_checks() {
        let max = 1000;
        let ok = check_source_head(200, Some("application/zip"), Some("12"), None, max).unwrap();
        assert_eq!(
            ok,
            SourceHead {
                length: Some(12),
                content_type: "application/zip".into()
            }
        );
        let none = check_source_head(206, None, None, None, max).unwrap();
        assert_eq!(
            none,
            SourceHead {
                length: None,
                content_type: "application/octet-stream".into()
            }
        );
        let gz =
            check_source_head(200, Some("application/zip"), Some("12"), Some("gzip"), max).unwrap();
        assert_eq!(gz.length, None);
        let ident = check_source_head(200, None, Some("12"), Some("identity"), max).unwrap();
        assert_eq!(ident.length, Some(12));
        assert_eq!(
            check_source_head(200, None, Some("junk"), None, max)
                .unwrap()
                .length,
            None
        );
        assert_eq!(
            check_source_head(200, None, Some("1000"), None, max)
                .unwrap()
                .length,
            Some(1000)
        );

        let err = |s, t, l| check_source_head(s, t, l, None, max).unwrap_err();
        let e = err(404, None, None);
        assert_eq!(e.code, Code::SourceStatus);
        assert!(e.message.contains("404"));
        assert_eq!(err(500, Some("text/html"), None).code, Code::SourceStatus);
        assert_eq!(
            err(200, Some("text/html; charset=utf-8"), None).code,
            Code::NotAFile
        );
        assert_eq!(err(200, Some("TEXT/HTML"), None).code, Code::NotAFile);
        assert_eq!(
            err(200, Some("application/zip"), Some("1001")).code,
            Code::TooLarge
        );
    }
}
