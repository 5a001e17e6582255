//! The stored file's name: from `Content-Disposition` (RFC 6266, RFC 5987), else from the
//! final URL, else `file`; and the `Content-Disposition` R2 serves it with.

use url::Url;

use crate::consts::FALLBACK_FILENAME;
use crate::pct;

/// Longest filename kept, in bytes (common filesystem limit).
const MAX_NAME_BYTES: usize = 255;

/// The filename for a download whose final URL is `final_url` and whose response carried
/// `content_disposition` (if any).
pub fn choose(content_disposition: Option<&str>, final_url: &Url) -> String {
    content_disposition
        .and_then(from_content_disposition)
        .or_else(|| from_url(final_url))
        .unwrap_or_else(|| FALLBACK_FILENAME.to_string())
}

/// The filename a `Content-Disposition` value names: `filename*` when it decodes to a usable
/// name, else `filename`; `None` when neither does.
pub fn from_content_disposition(value: &str) -> Option<String> {
    let params = parse_params(value);
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    param("filename*")
        .and_then(decode_ext_value)
        .and_then(|n| sanitize(&n))
        .or_else(|| {
            param("filename")
                .map(repair_utf8)
                .and_then(|n| sanitize(&n))
        })
}

/// The last path segment of `url`, percent-decoded, when it looks like a filename (has a dot).
pub fn from_url(url: &Url) -> Option<String> {
    let segment = url.path_segments()?.next_back()?;
    let name = pct::utf8_or_latin1(pct::decode_bytes(segment));
    if !name.contains('.') {
        return None;
    }
    sanitize(&name)
}

/// Bidirectional formatting characters: embeddings and overrides (U+202A–U+202E), isolates
/// (U+2066–U+2069), and the marks U+200E, U+200F, U+061C. In a filename they make
/// `invoice\u{202e}fdp.exe` display as `invoiceexe.pdf`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

/// Makes `name` safe to store: drops control and bidirectional formatting characters and any
/// directory part, trims whitespace, refuses empty, `.` and `..`, and caps the length (keeping
/// the extension).
pub fn sanitize(name: &str) -> Option<String> {
    let clean: String = name
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .collect();
    // Both separators: names come from Windows senders too.
    let base = clean.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty() || base == "." || base == ".." {
        return None;
    }
    Some(truncate(base))
}

fn truncate(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_string();
    }
    let ext = match name.rfind('.') {
        Some(i) if name.len() - i <= 16 => &name[i..],
        _ => "",
    };
    let mut cut = MAX_NAME_BYTES - ext.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{}", &name[..cut], ext)
}

/// `attachment; filename*=UTF-8''<percent-encoded name>` (RFC 6266 §4.3, RFC 5987).
pub fn attachment_disposition(name: &str) -> String {
    // attr-char allows these beyond unreserved; keeping them makes the header readable.
    format!(
        "attachment; filename*=UTF-8''{}",
        pct::encode(name, b"!#$&+^`|")
    )
}

/// Decodes an RFC 5987 `ext-value` (`charset'language'pct-encoded`); UTF-8 and ISO-8859-1
/// (and its ASCII subset) only, as the RFC requires of recipients.
fn decode_ext_value(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let charset = parts.next()?.trim();
    let _language = parts.next()?;
    let encoded = parts.next()?;
    let bytes = pct::decode_bytes(encoded);
    match charset.to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" => String::from_utf8(bytes).ok(),
        "iso-8859-1" | "latin1" | "us-ascii" => Some(pct::latin1(&bytes)),
        _ => None,
    }
}

/// Header values reach the worker as one character per byte; a plain `filename="…"` that is
/// really raw UTF-8 (many servers send that) becomes readable again, anything else is left as
/// ISO-8859-1.
fn repair_utf8(value: &str) -> String {
    if value.is_ascii() || value.chars().any(|c| u32::from(c) > 0xFF) {
        return value.to_string();
    }
    let bytes: Vec<u8> = value.chars().map(|c| u32::from(c) as u8).collect();
    String::from_utf8(bytes).unwrap_or_else(|_| value.to_string())
}

/// The parameters of a `Content-Disposition` value, names lowercased, values unquoted, in
/// order. Lenient: unquoted values may contain spaces, an unterminated quote runs to the end,
/// and a value without a disposition type is read as parameters.
fn parse_params(value: &str) -> Vec<(String, String)> {
    let mut rest = value;
    // Skip the disposition type, unless the first item is already a parameter.
    let first = rest.split(';').next().unwrap_or("");
    if !first.contains('=') {
        rest = &rest[first.len()..];
    }
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c == ';' || c.is_whitespace());
        if rest.is_empty() {
            return params;
        }
        let name_end = rest.find(['=', ';']).unwrap_or(rest.len());
        let name = rest[..name_end].trim().to_ascii_lowercase();
        rest = &rest[name_end..];
        let Some(after_eq) = rest.strip_prefix('=') else {
            continue; // a bare word: not a parameter we can use
        };
        let after_eq = after_eq.trim_start();
        let (val, remaining) = match after_eq.strip_prefix('"') {
            Some(quoted) => read_quoted(quoted),
            None => {
                let end = after_eq.find(';').unwrap_or(after_eq.len());
                (after_eq[..end].trim().to_string(), &after_eq[end..])
            }
        };
        rest = remaining;
        if !name.is_empty() {
            params.push((name, val));
        }
    }
}

/// Reads a quoted string (opening quote already consumed) with `\` escapes; returns the value
/// and what follows up to the next `;`.
fn read_quoted(s: &str) -> (String, &str) {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, next)) = chars.next() {
                    out.push(next);
                }
            }
            '"' => {
                let after = &s[i + 1..];
                let end = after.find(';').unwrap_or(after.len());
                return (out, &after[end..]);
            }
            _ => out.push(c),
        }
    }
    (out, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cd(v: &str) -> Option<String> {
        from_content_disposition(v)
    }

    fn url(u: &str) -> Url {
        Url::parse(u).unwrap()
    }

    #[test]
    fn quoted_filename() {
        assert_eq!(
            cd(r#"attachment; filename="report.zip""#).as_deref(),
            Some("report.zip")
        );
    }

    #[test]
    fn unquoted_token() {
        assert_eq!(
            cd("attachment; filename=report.zip").as_deref(),
            Some("report.zip")
        );
    }

    #[test]
    fn unquoted_with_spaces_is_read_to_the_semicolon() {
        assert_eq!(
            cd("attachment; filename=my report.zip; size=3").as_deref(),
            Some("my report.zip")
        );
    }

    #[test]
    fn inline_disposition_too() {
        assert_eq!(cd(r#"inline; filename="a.pdf""#).as_deref(), Some("a.pdf"));
    }

    #[test]
    fn no_disposition_type() {
        assert_eq!(cd(r#"filename="a.pdf""#).as_deref(), Some("a.pdf"));
    }

    #[test]
    fn quoted_escapes() {
        assert_eq!(
            cd(r#"attachment; filename="say \"hi\".txt""#).as_deref(),
            Some(r#"say "hi".txt"#)
        );
        assert_eq!(
            cd(r#"attachment; filename="a\\b.txt""#).as_deref(),
            Some("b.txt")
        );
    }

    #[test]
    fn semicolon_inside_quotes() {
        assert_eq!(
            cd(r#"attachment; filename="a;b.zip"; x=y"#).as_deref(),
            Some("a;b.zip")
        );
    }

    #[test]
    fn ext_value_preferred_over_plain() {
        let v = r#"attachment; filename="EURO rates.zip"; filename*=UTF-8''%E2%82%AC%20rates.zip"#;
        assert_eq!(cd(v).as_deref(), Some("€ rates.zip"));
    }

    #[test]
    fn ext_value_first_also_wins() {
        let v = r#"attachment; filename*=utf-8''na%C3%AFve.zip; filename="naive.zip""#;
        assert_eq!(cd(v).as_deref(), Some("naïve.zip"));
    }

    #[test]
    fn ext_value_with_language() {
        assert_eq!(
            cd("attachment; filename*=UTF-8'en'a%20b.txt").as_deref(),
            Some("a b.txt")
        );
    }

    #[test]
    fn ext_value_iso_8859_1() {
        assert_eq!(
            cd("attachment; filename*=iso-8859-1'en'%A3%20rates.txt").as_deref(),
            Some("£ rates.txt")
        );
    }

    #[test]
    fn ext_value_unknown_charset_falls_back_to_plain() {
        let v = r#"attachment; filename*=shift_jis''%82%A0.txt; filename="fallback.txt""#;
        assert_eq!(cd(v).as_deref(), Some("fallback.txt"));
    }

    #[test]
    fn ext_value_bad_utf8_falls_back_to_plain() {
        let v = r#"attachment; filename*=UTF-8''%FF%FE.txt; filename="ok.txt""#;
        assert_eq!(cd(v).as_deref(), Some("ok.txt"));
    }

    #[test]
    fn ext_value_quoted_leniently() {
        assert_eq!(
            cd(r#"attachment; filename*="UTF-8''a%20b.zip""#).as_deref(),
            Some("a b.zip")
        );
    }

    #[test]
    fn ext_value_without_quotes_is_ignored() {
        assert_eq!(cd("attachment; filename*=a.zip"), None);
    }

    #[test]
    fn parameter_names_are_case_insensitive() {
        assert_eq!(
            cd(r#"ATTACHMENT; FileName="A.ZIP""#).as_deref(),
            Some("A.ZIP")
        );
        assert_eq!(
            cd("attachment; FILENAME*=UTF-8''x.zip").as_deref(),
            Some("x.zip")
        );
    }

    #[test]
    fn raw_utf8_in_plain_filename_is_repaired() {
        // "é" sent as raw UTF-8 bytes arrives as the two characters "Ã©".
        assert_eq!(
            cd("attachment; filename=\"caf\u{C3}\u{A9}.zip\"").as_deref(),
            Some("café.zip")
        );
    }

    #[test]
    fn latin1_plain_filename_is_kept() {
        assert_eq!(
            cd("attachment; filename=\"caf\u{E9}.zip\"").as_deref(),
            Some("café.zip")
        );
    }

    #[test]
    fn path_components_are_stripped() {
        assert_eq!(
            cd(r#"attachment; filename="../../etc/passwd""#).as_deref(),
            Some("passwd")
        );
        assert_eq!(
            cd(r#"attachment; filename="C:\\Users\\me\\a.zip""#).as_deref(),
            Some("a.zip")
        );
        assert_eq!(
            cd("attachment; filename*=UTF-8''..%2F..%2Fx.zip").as_deref(),
            Some("x.zip")
        );
    }

    #[test]
    fn empty_dot_and_dotdot_are_refused() {
        assert_eq!(cd(r#"attachment; filename="""#), None);
        assert_eq!(cd(r#"attachment; filename=".""#), None);
        assert_eq!(cd(r#"attachment; filename="..""#), None);
        assert_eq!(cd(r#"attachment; filename="a/..""#), None);
        assert_eq!(cd(r#"attachment; filename="   ""#), None);
        assert_eq!(
            cd("attachment; filename*=UTF-8''%2E%2E; filename=\"good.bin\"").as_deref(),
            Some("good.bin")
        );
    }

    #[test]
    fn control_characters_are_dropped() {
        assert_eq!(
            cd("attachment; filename=\"a\tb\r\n.zip\"").as_deref(),
            Some("ab.zip")
        );
    }

    #[test]
    fn bidirectional_overrides_are_dropped() {
        assert_eq!(
            cd("attachment; filename*=UTF-8''invoice%E2%80%AEfdp.exe").as_deref(),
            Some("invoicefdp.exe")
        );
        let every: String = ('\u{202a}'..='\u{202e}')
            .chain('\u{2066}'..='\u{2069}')
            .chain(['\u{200e}', '\u{200f}', '\u{61c}'])
            .collect();
        assert_eq!(
            sanitize(&format!("a{every}b.zip")).as_deref(),
            Some("ab.zip")
        );
        assert_eq!(sanitize(&every), None);
    }

    #[test]
    fn no_filename_parameter() {
        assert_eq!(cd("attachment"), None);
        assert_eq!(cd("inline; size=12"), None);
        assert_eq!(cd(""), None);
    }

    #[test]
    fn unterminated_quote_runs_to_the_end() {
        assert_eq!(
            cd(r#"attachment; filename="open.zip"#).as_deref(),
            Some("open.zip")
        );
    }

    #[test]
    fn first_of_duplicate_parameters_wins() {
        assert_eq!(
            cd(r#"attachment; filename="a.zip"; filename="b.zip""#).as_deref(),
            Some("a.zip")
        );
    }

    #[test]
    fn bare_words_are_skipped() {
        assert_eq!(
            cd(r#"attachment; weird; filename="a.zip""#).as_deref(),
            Some("a.zip")
        );
    }

    #[test]
    fn long_names_keep_their_extension() {
        let long = format!("{}.zip", "é".repeat(200));
        let name = cd(&format!("attachment; filename=\"{long}\"")).unwrap();
        assert!(name.len() <= MAX_NAME_BYTES);
        assert!(name.ends_with("é.zip"));
    }

    #[test]
    fn url_fallback() {
        assert_eq!(
            from_url(&url("https://www.dropbox.com/s/abc/My%20File.zip?dl=1")).as_deref(),
            Some("My File.zip")
        );
        assert_eq!(
            from_url(&url(
                "https://x.dl.dropboxusercontent.com/a/b/caf%C3%A9.pdf"
            ))
            .as_deref(),
            Some("café.pdf")
        );
        assert_eq!(
            from_url(&url("https://www.dropbox.com/scl/fo/abc123?dl=1")),
            None
        );
        assert_eq!(from_url(&url("https://www.dropbox.com/")), None);
        assert_eq!(from_url(&url("https://www.dropbox.com/a/%2E%2E")), None);
    }

    #[test]
    fn choose_prefers_the_header_then_the_url_then_file() {
        let u = url("https://dl.dropboxusercontent.com/x/from-url.zip");
        assert_eq!(choose(Some(r#"attachment; filename="h.zip""#), &u), "h.zip");
        assert_eq!(choose(Some("attachment"), &u), "from-url.zip");
        assert_eq!(choose(None, &u), "from-url.zip");
        assert_eq!(
            choose(None, &url("https://www.dropbox.com/scl/fo/abc")),
            "file"
        );
    }

    #[test]
    fn attachment_disposition_round_trips() {
        for name in [
            "a.zip",
            "€ rates.zip",
            "say \"hi\".txt",
            "a;b,c.zip",
            "naïve%.zip",
        ] {
            let header = attachment_disposition(name);
            assert!(header.is_ascii(), "{header}");
            assert_eq!(cd(&header).as_deref(), Some(name));
        }
        assert_eq!(
            attachment_disposition("€ a.zip"),
            "attachment; filename*=UTF-8''%E2%82%AC%20a.zip"
        );
    }
}
