//! Masking of URLs and secrets before anything reaches a log or a response.

/// Scheme and host of a URL (userinfo and port dropped), lowercased: `https://hook.eu2.make.com`.
/// `None` when the text is not an absolute http(s)-style URL. The host is the one the runtime's
/// (WHATWG) parser delivers to, for URLs written in ways validation now refuses too (older
/// stored documents): tabs and newlines are dropped, `\` ends the authority as `/` does, the
/// last `@` ends the credentials.
pub fn origin(url: &str) -> Option<String> {
    let url: String = url
        .trim()
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return None;
    }
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if host_port.starts_with('[') {
        host_port
            .split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or("").to_string()
    };
    if host.is_empty() {
        return None;
    }
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    ))
}

/// The masked form SPEC §8 requires for `webhook_url`: scheme + host + `/***`.
pub fn mask_url(url: &str) -> String {
    match origin(url) {
        Some(o) => format!("{o}/***"),
        None => "***".to_string(),
    }
}

/// A label for `target_url` that tells targets apart without revealing their secrets: the
/// origin and path, with every path segment longer than 6 characters cut to its first 4, and no
/// query or fragment. `https://hook.eu2.make.com/abcdef123456` → `https://hook.eu2.make.com/abcd…`.
pub fn target_label(url: &str) -> String {
    let Some(o) = origin(url) else {
        return "***".to_string();
    };
    let after_scheme = url.trim().split_once("://").map(|(_, r)| r).unwrap_or("");
    let path = after_scheme
        .find('/')
        .map(|i| &after_scheme[i..])
        .unwrap_or("")
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    let segments: Vec<String> = path
        .split('/')
        .map(|seg| {
            if seg.chars().count() > 6 {
                format!("{}…", seg.chars().take(4).collect::<String>())
            } else {
                seg.to_string()
            }
        })
        .collect();
    format!("{o}{}", segments.join("/"))
}

/// Replaces every occurrence of each secret (non-empty, at least 4 characters) in `text`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(secret) {
            out = out.replace(secret, "***");
        }
    }
    out
}

/// Cuts a text to at most `max` characters (on a character boundary), marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_to_origin() {
        assert_eq!(
            mask_url("https://hook.eu2.make.com/abc123secret"),
            "https://hook.eu2.make.com/***"
        );
        assert_eq!(
            mask_url("https://user:pw@Example.com:8443/x?y=1"),
            "https://example.com/***"
        );
        assert_eq!(
            mask_url("https://evil.example\\@good.example/x"),
            "https://evil.example/***"
        );
        assert_eq!(
            mask_url("https://ev\til.example/x"),
            "https://evil.example/***"
        );
        assert_eq!(mask_url("https://a@b@c.example/"), "https://c.example/***");
        assert_eq!(mask_url("not a url"), "***");
        assert_eq!(mask_url(""), "***");
    }

    #[test]
    fn target_labels_hide_long_segments() {
        assert_eq!(
            target_label("https://hook.eu2.make.com/abcdef123456?token=zz"),
            "https://hook.eu2.make.com/abcd…"
        );
        assert_eq!(
            target_label("https://api.example.com/v1/hooks"),
            "https://api.example.com/v1/hooks"
        );
        assert_eq!(
            target_label("https://api.example.com"),
            "https://api.example.com"
        );
    }

    #[test]
    fn redacts_secrets() {
        assert_eq!(
            redact("call https://x/abc failed", &["https://x/abc"]),
            "call *** failed"
        );
        assert_eq!(redact("short ab", &["ab"]), "short ab");
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hé", 2), "hé");
    }
}
