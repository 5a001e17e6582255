//! What a webhook URL may be (webhook_config, WEBHOOK_URL, routing rules, ALERT_WEBHOOK_URL):
//! `https://`, then a host that every parser reads the same way, so the host the runtime's URL
//! parser (WHATWG) delivers to is the host the log shows ([`crate::base::mask::mask_url`]).
//!
//! Refused: credentials (`https://user:pw@host`, and with them every `@` trick), backslashes
//! (WHATWG reads `\` as `/`), control characters and whitespace (WHATWG drops tabs and
//! newlines, joining what was around them), percent-encoded or non-ASCII hosts (decoded or
//! turned into punycode by WHATWG: write the `xn--` form), IP literals (IPv6 in brackets, and
//! any host WHATWG would read as an IPv4 address: a last label of digits or `0x…`), and
//! `localhost`. A webhook is sent from Cloudflare's network, where neither an IP literal of
//! yours nor `localhost` names anything of yours.

/// The lowercase host of an accepted webhook URL, or why the URL is refused.
pub fn webhook_host(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or("must be an https:// URL")?;
    if let Some(c) = url
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == '\\')
    {
        return Err(match c {
            '\\' => "must not contain a backslash".into(),
            c if c.is_whitespace() => "must not contain spaces".into(),
            c => format!("must not contain control characters (U+{:04X})", c as u32),
        });
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("must not contain credentials (user:password@)".into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !authority.starts_with('[') => (h, Some(p)),
        _ => (authority, None),
    };
    if let Some(p) = port {
        let ok = !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65_535).contains(&n));
        if !ok {
            return Err("invalid port (a number from 1 to 65535)".into());
        }
    }
    check_host(host)?;
    Ok(host.to_ascii_lowercase())
}

/// Checks a URL given as a webhook target (see the module documentation for what is refused).
pub fn check_https_url(url: &str) -> Result<(), String> {
    webhook_host(url).map(|_| ())
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("must be an https:// URL with a host".into());
    }
    if host.starts_with('[') {
        return Err("IP addresses are not accepted as webhook hosts; use a host name".into());
    }
    if !host.is_ascii() {
        return Err(
            "the host must be ASCII: write an internationalised name in its xn-- form".into(),
        );
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.len() > 253 || !labels.iter().all(label_ok) {
        return Err(
            "invalid host: letters, digits, '-' and '_' in dot-separated labels of at most 63 \
             characters"
                .into(),
        );
    }
    let last = labels.last().copied().unwrap_or("");
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || last.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"))
            && last[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if numeric {
        return Err("IP addresses are not accepted as webhook hosts; use a host name".into());
    }
    let lower = name.to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Err("localhost is not accepted as a webhook host".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_hosts() {
        for (url, host) in [
            ("https://hook.eu2.make.com/abc", "hook.eu2.make.com"),
            (
                "https://Hooks.Example.COM:8443/x?y=1#z",
                "hooks.example.com",
            ),
            ("https://a-b_c.example./p", "a-b_c.example."),
            ("https://xn--bcher-kva.example/", "xn--bcher-kva.example"),
            ("https://123.example.com", "123.example.com"),
            ("https://example.com/a@b?c=d@e", "example.com"),
            ("https://intranet/hook", "intranet"),
        ] {
            assert_eq!(webhook_host(url).as_deref(), Ok(host), "{url}");
        }
    }

    #[test]
    fn refused_urls_say_why() {
        for (url, why) in [
            ("http://example.com", "https://"),
            ("HTTPS://example.com", "https://"),
            ("https://", "with a host"),
            ("https:///example.com", "with a host"),
            ("https://u:p@example.com/", "credentials"),
            ("https://evil.com\\@good.com/", "backslash"),
            ("https://good.com\\.evil.com/", "backslash"),
            ("https://exa\tmple.com/", "spaces"),
            ("https://example.com/a b", "spaces"),
            ("https://example.com/\u{7f}", "control"),
            ("https://ex%61mple.com/", "invalid host"),
            ("https://bücher.example/", "xn--"),
            ("https://[::1]/", "IP addresses"),
            ("https://127.0.0.1/", "IP addresses"),
            ("https://0x7f.1/", "IP addresses"),
            ("https://2130706433/", "IP addresses"),
            ("https://example.0x1F/", "IP addresses"),
            ("https://localhost:8443/", "localhost"),
            ("https://api.LOCALHOST./", "localhost"),
            ("https://example.com:0/", "port"),
            ("https://example.com:99999/", "port"),
            ("https://example.com:/", "port"),
            ("https://example..com/", "invalid host"),
        ] {
            let err = webhook_host(url).expect_err(url);
            assert!(err.contains(why), "{url}: {err}");
        }
    }
}
