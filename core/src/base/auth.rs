//! Token checks for the ingest and admin APIs.

use serde::{Deserialize, Serialize};

/// Where a credential was presented (failures are counted together, and told apart in the
/// audit's summaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialPath {
    /// `Authorization: Bearer` on the admin API.
    AdminBearer,
    /// The ingest's token (`POST /api/ingress/gmail`).
    IngestBearer,
    /// The console's password (`POST /api/session`).
    SignIn,
}

/// True when a header presents a credential at all (anything but absent or blank): only
/// presented credentials count as failed attempts, a request without one is just refused.
pub fn presents_credential(header: Option<&str>) -> bool {
    header.is_some_and(|h| !h.trim().is_empty())
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    diff == 0
}

/// The token carried by an `Authorization` header: `Bearer <t>` (scheme case-insensitive) or a
/// bare token.
pub fn presented_token(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    };
    (!token.is_empty()).then_some(token)
}

/// True when the header carries `expected`, as `Bearer <token>` or bare (the ingest: SPEC §2).
/// An unset (empty) expected token never matches, so a missing secret closes the endpoint
/// instead of opening it.
pub fn authorized(header: Option<&str>, expected: &str) -> bool {
    !expected.is_empty()
        && presented_token(header)
            .is_some_and(|t| constant_time_eq(t.as_bytes(), expected.as_bytes()))
}

/// True when the header is `Bearer <expected>` (scheme case-insensitive): the admin API takes no
/// bare token, so a token pasted without its scheme is refused rather than guessed at.
pub fn authorized_bearer(header: Option<&str>, expected: &str) -> bool {
    let bearer = header
        .and_then(|h| h.trim().split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
    bearer && authorized(header, expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_bare_tokens() {
        assert!(authorized(Some("Bearer s3cret"), "s3cret"));
        assert!(authorized(Some("bearer s3cret"), "s3cret"));
        assert!(authorized(Some("s3cret"), "s3cret"));
        assert!(!authorized(Some("Bearer wrong"), "s3cret"));
        assert!(!authorized(Some("Basic s3cret"), "s3cret"));
        assert!(!authorized(None, "s3cret"));
        assert!(!authorized(Some("Bearer "), "s3cret"));
    }

    #[test]
    fn admin_tokens_need_the_scheme() {
        assert!(authorized_bearer(Some("Bearer s3cret"), "s3cret"));
        assert!(authorized_bearer(Some(" bearer   s3cret "), "s3cret"));
        assert!(!authorized_bearer(Some("s3cret"), "s3cret"));
        assert!(!authorized_bearer(Some("Basic s3cret"), "s3cret"));
        assert!(!authorized_bearer(Some("Bearer s3cret"), ""));
        assert!(!authorized_bearer(None, "s3cret"));
    }

    #[test]
    fn only_a_header_with_something_in_it_presents_a_credential() {
        assert!(presents_credential(Some("Bearer x")));
        assert!(presents_credential(Some("Basic x")));
        assert!(presents_credential(Some("Bearer")));
        assert!(!presents_credential(Some("  ")));
        assert!(!presents_credential(None));
    }

    #[test]
    fn empty_expected_token_never_matches() {
        assert!(!authorized(Some(""), ""));
        assert!(!authorized(Some("Bearer x"), ""));
    }

    #[test]
    fn constant_time_eq_basics() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
