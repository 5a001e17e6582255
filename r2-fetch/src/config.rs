//! The worker's settings, read from its variables and secret.

use crate::consts::{vars, DEFAULT_MAX_BYTES};

/// Settings for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `R2_PUBLIC_BASE_URL` without a trailing `/`; empty when unset.
    pub public_base_url: String,
    /// `R2_FETCH_MAX_BYTES`; the default when unset, zero or not a number.
    pub max_bytes: u64,
    /// `R2_SERVE_MEDIA` is `true` (or `1`, `yes`).
    pub serve_media: bool,
    /// `R2_FETCH_TOKEN`, trimmed as the main worker trims its copy (a secret pasted with its
    /// newline still matches); `None` when unset or blank.
    pub token: Option<String>,
}

impl Config {
    /// Reads every setting through `get` (a variable or secret by name).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let max_bytes = get(vars::R2_FETCH_MAX_BYTES)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_MAX_BYTES);
        let serve_media = get(vars::R2_SERVE_MEDIA)
            .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
            .unwrap_or(false);
        Config {
            public_base_url: get(vars::R2_PUBLIC_BASE_URL)
                .unwrap_or_default()
                .trim()
                .trim_end_matches('/')
                .to_string(),
            max_bytes,
            serve_media,
            token: get(vars::R2_FETCH_TOKEN)
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::from_lookup(|n| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]);
        assert_eq!(
            c,
            Config {
                public_base_url: String::new(),
                max_bytes: 2 << 30,
                serve_media: false,
                token: None
            }
        );
    }

    #[test]
    fn values() {
        let c = cfg(&[
            ("R2_PUBLIC_BASE_URL", "https://media.example/ "),
            ("R2_FETCH_MAX_BYTES", "1048576"),
            ("R2_SERVE_MEDIA", "TRUE"),
            ("R2_FETCH_TOKEN", "t"),
        ]);
        assert_eq!(c.public_base_url, "https://media.example");
        assert_eq!(c.max_bytes, 1 << 20);
        assert!(c.serve_media);
        assert_eq!(c.token.as_deref(), Some("t"));
    }

    #[test]
    fn the_token_is_trimmed_like_the_main_workers() {
        assert_eq!(
            cfg(&[("R2_FETCH_TOKEN", " s3cret\n")]).token.as_deref(),
            Some("s3cret")
        );
        assert_eq!(cfg(&[("R2_FETCH_TOKEN", " \n")]).token, None);
    }

    #[test]
    fn bad_numbers_fall_back() {
        assert_eq!(cfg(&[("R2_FETCH_MAX_BYTES", "lots")]).max_bytes, 2 << 30);
        assert_eq!(cfg(&[("R2_FETCH_MAX_BYTES", "0")]).max_bytes, 2 << 30);
        assert!(!cfg(&[("R2_SERVE_MEDIA", "false")]).serve_media);
        assert!(!cfg(&[("R2_SERVE_MEDIA", "")]).serve_media);
    }
}
