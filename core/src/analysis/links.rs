//! File-sharing link extraction (SPEC §5): Dropbox, FromSmash and SwissTransfer links found in an
//! e-mail body, cleaned, filtered and deduplicated, each with its direct-download form.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::analysis::payload::DeliveryLink;

/// The provider regex of SPEC §5, case-insensitive, as written there. [`provider_links`] is
/// this regex written out by hand, with its Unicode meaning (`\s` is Unicode whitespace, NBSP
/// included); a test checks it against the regex run by `regex-lite`.
pub const PROVIDER_LINK_REGEX: &str =
    r#"(?i)(https?://(?:www\.)?(?:dropbox\.com|fromsmash\.com|swisstransfer\.com)[^\s<>"]*)"#;

/// The hosts of the provider regex, in its order.
const PROVIDER_HOSTS: [&str; 3] = ["dropbox.com", "fromsmash.com", "swisstransfer.com"];

/// Substrings that also count as a provider link for the recadrage detector (SPEC §3).
const PROVIDER_SUBSTRINGS: [&str; 3] = [
    "dropbox.com/scl/fo",
    "fromsmash.com/",
    "swisstransfer.com/d/",
];

/// Provider names as sent to receivers, with the host each one is recognised by.
const PROVIDERS: [(&str, &str); 3] = [
    ("dropbox", "dropbox.com"),
    ("fromsmash", "fromsmash.com"),
    ("swisstransfer", "swisstransfer.com"),
];

/// Image extensions of the Dropbox preview assets that are dropped.
const PREVIEW_EXTENSIONS: [&str; 5] = [".png", ".jpg", ".jpeg", ".webp", ".gif"];
/// Base-name prefixes of the Dropbox preview assets that are dropped.
const PREVIEW_PREFIXES: [&str; 4] = ["ms", "logo", "avatar", "profile"];

/// Links kept per e-mail (the first distinct ones, in order): every link the replaced system
/// would send, up to a bound that keeps one e-mail's payload and CPU in check (1,000 links of
/// at most [`MAX_LINK_BYTES`], and at most [`MAX_LINKS_TEXT_BYTES`] of link text in all).
/// Offloading them to R2 is bounded apart, by the invocation's subrequest budget
/// (`crate::analysis::offload::offload_count`). The others are counted in
/// [`ExtractedLinks::dropped`].
pub const MAX_LINKS_PER_EMAIL: usize = 1_000;
/// Link text kept per e-mail, in bytes (each link goes three times into every payload).
pub const MAX_LINKS_TEXT_BYTES: usize = 1 << 20;
/// Longest link kept, in bytes once cleaned: browsers and providers refuse longer URLs, and
/// three copies of each link go into every payload.
pub const MAX_LINK_BYTES: usize = 2_048;

/// Characters removed from the end of a link because, in prose, they end the sentence or close
/// a parenthesis rather than belong to the URL ("see https://fromsmash.com/abc." or
/// "(https://fromsmash.com/abc)"). No link of the three providers legitimately ends with one of
/// them; closing brackets are kept when the URL itself opened them.
const TRAILING_PUNCTUATION: &[char] = &['.', ',', ';', ':', '!', '?', '\'', '*'];

/// Whether the body holds a provider link, by the SPEC §5 regex or one of the SPEC §3
/// substrings (the recadrage precondition).
pub fn has_provider_link(body: &str) -> bool {
    PROVIDER_SUBSTRINGS.iter().any(|s| body.contains(s)) || provider_links(body).next().is_some()
}

/// Starts of the `http://` and `https://` (any case) of a body, in order: every match of the
/// provider regex starts at one. A substring search for `://` finds them, which is much faster
/// than running a regex engine over a body of up to 25 MB (`regex-lite` reads ~25 MB/s).
fn scheme_starts(body: &str) -> impl Iterator<Item = usize> + '_ {
    let bytes = body.as_bytes();
    body.match_indices("://").filter_map(move |(colon, _)| {
        let ends_with = |scheme: &[u8]| {
            colon
                .checked_sub(scheme.len())
                .and_then(|start| bytes.get(start..colon))
                .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
                .then(|| colon - scheme.len())
        };
        ends_with(b"https").or_else(|| ends_with(b"http"))
    })
}

/// Whether `text` at `at` starts with `prefix`, ASCII case-insensitively.
fn starts_with_ignore_ascii_case(text: &[u8], at: usize, prefix: &str) -> bool {
    text.get(at..at + prefix.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Whether `body` contains `url` (an absolute URL, ASCII), ASCII case-insensitively: the
/// `(?i-u)` search of an ASCII text, without a lowercased copy of the body.
pub fn contains_url_ignore_ascii_case(body: &str, url: &str) -> bool {
    let bytes = body.as_bytes();
    let Some((scheme, _)) = url.split_once("://") else {
        return false;
    };
    body.match_indices("://").any(|(colon, _)| {
        colon
            .checked_sub(scheme.len())
            .is_some_and(|start| starts_with_ignore_ascii_case(bytes, start, url))
    })
}

/// The matches of the provider regex of SPEC §5 ([`PROVIDER_LINK_REGEX`]) in a body, in order,
/// without overlaps, as `find_iter` would give them:
/// `https?://`, then `www.` if a host follows it, then one of the hosts (all ASCII
/// case-insensitive), then everything up to the first Unicode whitespace, `<`, `>` or `"`.
fn provider_links(body: &str) -> impl Iterator<Item = &str> + '_ {
    let bytes = body.as_bytes();
    let mut resume = 0;
    scheme_starts(body).filter_map(move |start| {
        if start < resume {
            // Inside the previous match (a URL quoted in another one's query).
            return None;
        }
        let scheme = if bytes.get(start + 4) == Some(&b':') {
            "http://"
        } else {
            "https://"
        };
        let after_scheme = start + scheme.len();
        let host_at = |at: usize| {
            PROVIDER_HOSTS
                .iter()
                .find(|h| starts_with_ignore_ascii_case(bytes, at, h))
                .map(|h| at + h.len())
        };
        let host_end = if starts_with_ignore_ascii_case(bytes, after_scheme, "www.") {
            host_at(after_scheme + 4).or_else(|| host_at(after_scheme))
        } else {
            host_at(after_scheme)
        }?;
        let tail = body.get(host_end..)?;
        let end = host_end
            + tail
                .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
                .unwrap_or(tail.len());
        resume = end;
        body.get(start..end)
    })
}

/// The links of an e-mail: the ones kept, and how many were left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractedLinks {
    /// Distinct links in order of appearance, at most [`MAX_LINKS_PER_EMAIL`].
    pub links: Vec<DeliveryLink>,
    /// Provider links left out: every occurrence after the first [`MAX_LINKS_PER_EMAIL`]
    /// distinct links or [`MAX_LINKS_TEXT_BYTES`] of link text (repeats of a kept link are not
    /// counted), and links longer than [`MAX_LINK_BYTES`].
    pub dropped: u32,
}

/// Extracts the provider links of a body, in order of appearance, deduplicated on the exact
/// cleaned URL (the first occurrence wins), Dropbox preview images left out, at most
/// [`MAX_LINKS_PER_EMAIL`] of them.
pub fn extract_links(body: &str) -> ExtractedLinks {
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = ExtractedLinks::default();
    let mut text_bytes = 0usize;
    for m in provider_links(body) {
        let Some(url) = clean_url(m) else {
            continue;
        };
        let Some(provider) = provider_of(&url) else {
            continue;
        };
        if provider == "dropbox" && is_dropbox_preview_asset(&url) {
            continue;
        }
        if seen.contains(url.as_ref()) {
            continue;
        }
        if url.len() > MAX_LINK_BYTES
            || out.links.len() >= MAX_LINKS_PER_EMAIL
            || text_bytes + url.len() > MAX_LINKS_TEXT_BYTES
        {
            // Not remembered: the set stays as small as the kept links, whatever the body.
            out.dropped = out.dropped.saturating_add(1);
            continue;
        }
        text_bytes += url.len();
        let url = url.into_owned();
        seen.insert(url.clone());
        let direct_url = if provider == "dropbox" {
            dropbox_direct_url(&url)
        } else {
            url.clone()
        };
        out.links.push(DeliveryLink {
            provider: provider.to_string(),
            raw_url: url,
            direct_url,
            r2_url: None,
            original_filename: None,
        });
    }
    out
}

/// Trims, decodes HTML entities and removes prose punctuation from a regex match. `None` when
/// nothing of a URL is left. Borrowed unless an entity was decoded: a body can hold hundreds of
/// thousands of links, and only the kept ones need their own copy.
fn clean_url(matched: &str) -> Option<Cow<'_, str>> {
    let trimmed = matched.trim();
    let mut url: Cow<'_, str> = if trimmed.contains('&') {
        // Attribute rules: a legacy entity without its `;` followed by `=` or a letter stays
        // literal, so a query such as `?a=1&copy=2` or `&not=3` is not turned into `©=2`;
        // `&amp;`, numeric and `;`-terminated named entities are decoded everywhere.
        let decoded = htmlize::unescape_attribute(trimmed);
        // An entity may have encoded a character the regex stops at (`&nbsp;`, `&quot;`,
        // `&gt;`): the URL ends there, as it would have had the character been written out.
        let end = decoded.find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'));
        let cut = decoded[..end.unwrap_or(decoded.len())].trim().len();
        match decoded {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..cut]),
            Cow::Owned(mut o) => {
                o.truncate(cut);
                Cow::Owned(o)
            }
        }
    } else {
        Cow::Borrowed(trimmed)
    };
    // Bracket counts are taken once (one pass over the bytes: all of them are ASCII) and updated
    // as closers are removed, so a match made of a million `)` costs linear time.
    const PAIRS: [(u8, u8); 3] = [(b'(', b')'), (b'[', b']'), (b'{', b'}')];
    let (mut opens, mut closes) = ([0usize; 3], [0usize; 3]);
    for b in url.bytes() {
        if let Some(i) = PAIRS.iter().position(|&(open, _)| open == b) {
            opens[i] += 1;
        } else if let Some(i) = PAIRS.iter().position(|&(_, close)| close == b) {
            closes[i] += 1;
        }
    }
    let mut keep = url.len();
    while let Some(&last) = url.as_bytes()[..keep].last() {
        let unbalanced = PAIRS
            .iter()
            .position(|&(_, close)| close == last)
            .filter(|&i| closes[i] > opens[i]);
        if let Some(i) = unbalanced {
            closes[i] -= 1;
        } else if !TRAILING_PUNCTUATION.contains(&char::from(last)) {
            // Every character cut is ASCII: `keep` stays on a character boundary.
            break;
        }
        keep -= 1;
    }
    match &mut url {
        Cow::Borrowed(b) => *b = &b[..keep],
        Cow::Owned(o) => o.truncate(keep),
    }
    (!url.is_empty()).then_some(url)
}

/// The provider of a cleaned URL, decided on its host (so `?ref=dropbox.com` in a FromSmash URL
/// does not make it a Dropbox link), case-insensitively.
fn provider_of(url: &str) -> Option<&'static str> {
    let host = split_url(url).host.as_bytes();
    PROVIDERS
        .iter()
        .find(|(_, domain)| {
            host.windows(domain.len())
                .any(|w| w.eq_ignore_ascii_case(domain.as_bytes()))
        })
        .map(|(name, _)| *name)
}

/// The parts of an absolute URL this module looks at.
struct UrlParts<'a> {
    host: &'a str,
    path: &'a str,
    query: Option<&'a str>,
}

fn split_url(url: &str) -> UrlParts<'_> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let without_fragment = after_scheme.split('#').next().unwrap_or("");
    let (before_query, query) = match without_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (without_fragment, None),
    };
    let (host, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    UrlParts { host, path, query }
}

/// A Dropbox preview image (SPEC §5): `/scl/fi/` path, `raw=1` in the query, an image extension
/// and a base name that is or starts with `ms`, `logo`, `avatar` or `profile`. Every part is
/// compared case-insensitively.
fn is_dropbox_preview_asset(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let parts = split_url(&lower);
    if !parts.path.starts_with("/scl/fi/") {
        return false;
    }
    if !parts
        .query
        .is_some_and(|q| q.split('&').any(|p| p == "raw=1"))
    {
        return false;
    }
    let file = parts.path.rsplit('/').next().unwrap_or("");
    let Some(ext) = PREVIEW_EXTENSIONS.iter().find(|e| file.ends_with(*e)) else {
        return false;
    };
    let base = &file[..file.len() - ext.len()];
    PREVIEW_PREFIXES.iter().any(|p| base.starts_with(p))
}

/// The direct-download form of a Dropbox URL: every `dl` query parameter set to `1`, or `dl=1`
/// appended when there is none. The rest of the query (`rlkey`, `st`, …) and the fragment are
/// kept as they are.
pub fn dropbox_direct_url(url: &str) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let mut out = match before_fragment.split_once('?') {
        None => format!("{before_fragment}?dl=1"),
        Some((base, query)) => {
            let mut found = false;
            let params: Vec<&str> = query
                .split('&')
                .map(|p| {
                    if p == "dl" || p.starts_with("dl=") {
                        found = true;
                        "dl=1"
                    } else {
                        p
                    }
                })
                .collect();
            let mut query = params.join("&");
            if !found {
                if !query.is_empty() && !query.ends_with('&') {
                    query.push('&');
                }
                query.push_str("dl=1");
            }
            format!("{base}?{query}")
        }
    };
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SPEC §5 regex run by `regex-lite`, whose `\s` is ASCII: each match is cut at its
    /// first Unicode whitespace and the search resumes there (a plain `find_iter` would skip a
    /// second link after a NBSP).
    fn reference_links(body: &str) -> Vec<&str> {
        let re = regex_lite::Regex::new(PROVIDER_LINK_REGEX).expect("SPEC regex");
        let mut out = Vec::new();
        let mut at = 0;
        while let Some(m) = re.find_at(body, at) {
            let end = m
                .as_str()
                .find(char::is_whitespace)
                .map_or(m.end(), |i| m.start() + i);
            out.push(&body[m.start()..end]);
            at = end;
        }
        out
    }

    #[test]
    fn hand_written_matcher_agrees_with_the_spec_regex() {
        let alphabet = [
            "https://",
            "http://",
            "HTTPS://",
            "hTTp://",
            "://",
            "www.",
            "WWW.",
            "dropbox.com",
            "DropBox.COM",
            "fromsmash.com",
            "swisstransfer.com",
            "dropbox.co",
            "/",
            "?",
            "&amp;",
            "dl=0",
            " ",
            "\u{a0}",
            "\u{2009}",
            "\u{3000}",
            "\n",
            "<",
            ">",
            "\"",
            "'",
            ")",
            ".",
            "é",
            "x",
            "ſ",
            "\u{212a}",
            "h",
            "s",
            "t",
            "p",
            ":",
        ];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut found = 0;
        for _ in 0..10_000 {
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let len = next() % 20;
            let body: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let expected = reference_links(&body);
            found += expected.len();
            assert_eq!(
                provider_links(&body).collect::<Vec<_>>(),
                expected,
                "{body:?}"
            );
        }
        assert!(found > 500, "the inputs hold links ({found})");
    }

    #[test]
    fn ascii_case_insensitive_url_search() {
        let url = "https://www.dropbox.com/request/";
        assert!(contains_url_ignore_ascii_case(
            "x HTTPS://WWW.DropBox.com/REQUEST/a",
            url
        ));
        assert!(contains_url_ignore_ascii_case(
            "https://www.dropbox.com/request/",
            url
        ));
        assert!(!contains_url_ignore_ascii_case(
            "https://www.dropbox.com/request",
            url
        ));
        assert!(!contains_url_ignore_ascii_case(
            "ttps://www.dropbox.com/request/",
            url
        ));
        assert!(!contains_url_ignore_ascii_case(
            "httpſ://www.dropbox.com/request/",
            url
        ));
        assert!(!contains_url_ignore_ascii_case("", url));
    }

    #[test]
    fn cleans_entities_and_punctuation() {
        assert_eq!(
            clean_url("https://www.dropbox.com/s/a?dl=0&amp;rlkey=k).").as_deref(),
            Some("https://www.dropbox.com/s/a?dl=0&rlkey=k")
        );
        assert_eq!(
            clean_url("https://fromsmash.com/x&nbsp;suite").as_deref(),
            Some("https://fromsmash.com/x")
        );
        assert_eq!(
            clean_url("https://fromsmash.com/a(b)").as_deref(),
            Some("https://fromsmash.com/a(b)")
        );
        assert_eq!(
            clean_url("https://fromsmash.com/a?x=1&copy=2").as_deref(),
            Some("https://fromsmash.com/a?x=1&copy=2")
        );
    }

    #[test]
    fn links_are_capped_and_the_cut_counted() {
        let body: String = (0..MAX_LINKS_PER_EMAIL + 30)
            .map(|i| format!("https://fromsmash.com/L{i} "))
            .collect();
        // Repeats of a kept link are not cut, repeats of a cut one are counted each time.
        let cut = MAX_LINKS_PER_EMAIL + 10;
        let body = format!("{body} https://fromsmash.com/L0 https://fromsmash.com/L{cut}");
        let got = extract_links(&body);
        assert_eq!(got.links.len(), MAX_LINKS_PER_EMAIL);
        assert_eq!(got.links[0].raw_url, "https://fromsmash.com/L0");
        assert_eq!(
            got.links.last().map(|l| l.raw_url.as_str()),
            Some(format!("https://fromsmash.com/L{}", MAX_LINKS_PER_EMAIL - 1).as_str())
        );
        assert_eq!(got.dropped, 31);
    }

    #[test]
    fn four_hundred_dropbox_links_all_travel() {
        let body: String = (0..400)
            .map(|i| format!("<a href=\"https://www.dropbox.com/scl/fi/f{i}/doc{i}.pdf?rlkey=k{i}&dl=0\">f</a>"))
            .collect();
        let got = extract_links(&body);
        assert_eq!((got.links.len(), got.dropped), (400, 0));
    }

    #[test]
    fn link_text_is_bounded_in_all() {
        // 600 links of 2,000 bytes: 1 MiB holds 524 of them.
        let body: String = (0..600)
            .map(|i| format!("https://fromsmash.com/{i:04}{} ", "x".repeat(1_974)))
            .collect();
        let got = extract_links(&body);
        assert_eq!(got.links.len(), MAX_LINKS_TEXT_BYTES / 2_000);
        assert_eq!(got.dropped as usize, 600 - MAX_LINKS_TEXT_BYTES / 2_000);
    }

    #[test]
    fn overlong_links_are_dropped_and_counted() {
        let long = format!("https://fromsmash.com/{}", "a".repeat(MAX_LINK_BYTES));
        let fits = format!("https://fromsmash.com/{}", "b".repeat(MAX_LINK_BYTES - 22));
        assert_eq!(fits.len(), MAX_LINK_BYTES);
        let got = extract_links(&format!("{long} {fits} {long}"));
        assert_eq!(got.links.len(), 1);
        assert_eq!(got.links[0].raw_url, fits);
        assert_eq!(got.dropped, 2);
    }

    #[test]
    fn direct_url_forms() {
        let d = dropbox_direct_url;
        assert_eq!(
            d("https://www.dropbox.com/s/a"),
            "https://www.dropbox.com/s/a?dl=1"
        );
        assert_eq!(
            d("https://www.dropbox.com/s/a?"),
            "https://www.dropbox.com/s/a?dl=1"
        );
        assert_eq!(
            d("https://www.dropbox.com/s/a?dl=0"),
            "https://www.dropbox.com/s/a?dl=1"
        );
        assert_eq!(
            d("https://www.dropbox.com/s/a?rlkey=k&dl=0#f"),
            "https://www.dropbox.com/s/a?rlkey=k&dl=1#f"
        );
        assert_eq!(
            d("https://www.dropbox.com/s/a?rlkey=k&mdl=0"),
            "https://www.dropbox.com/s/a?rlkey=k&mdl=0&dl=1"
        );
    }
}
