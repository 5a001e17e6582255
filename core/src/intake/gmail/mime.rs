//! A Gmail message turned into exactly what the Apps Script sends (`{subject, sender, body,
//! date}`, SPEC §2), so that an e-mail taken by the push is the job the ingest would make of
//! it, with the same `email_id`.
//!
//! - `subject`: the `Subject` header, unfolded, its RFC 2047 encoded-words decoded (as
//!   `getSubject()` returns it); `""` without one.
//! - `sender`: the `From` header, unfolded and decoded the same way (`getFrom()`); only its
//!   address enters the `email_id`.
//! - `body`: the first `text/html` part that is not an attachment, else the first `text/plain`
//!   one (`getBody()` else `getPlainBody()`), decoded from its transfer encoding
//!   (quoted-printable, base64) and its charset ([`crate::intake::gmail::charset`]).
//! - `date`: the message's `internalDate` (the time Gmail took it) as `new
//!   Date(ms).toISOString()` writes it, `YYYY-MM-DDTHH:MM:SS.mmmZ`: what `getDate()` gives.
//!
//! Two forms of `messages.get` are read: `format=raw` (the RFC 822 bytes, base64url, parsed
//! here) and `format=full` (Gmail's own part tree, each part's data base64url and already out
//! of its transfer encoding; used for messages whose raw form is over the bytes Facteur reads:
//! their attachments are not sent inline). The walk is bounded: at most [`MAX_PARTS`] parts,
//! [`MAX_DEPTH`] levels of nesting.

use std::borrow::Cow;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use crate::base::time::iso_utc;
use crate::intake::gmail::charset::{decode, header_text};

/// Parts looked at in one message, at most.
pub const MAX_PARTS: usize = 256;
/// Levels of `multipart/*` nesting followed, at most.
pub const MAX_DEPTH: usize = 16;

/// Base64 as e-mail and Google write it: padding or not, trailing bits tolerated.
const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// Which part the body came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Html,
    Text,
    /// No text part at all: the body is empty (the ingest refuses it, as it would the script's).
    None,
}

/// The fields of the Apps Script's push, from a message's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    pub subject: String,
    pub sender: String,
    pub body: String,
    pub kind: BodyKind,
}

/// Why a message could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvertError {
    /// The answer of `messages.get` is not the JSON of a message.
    Unreadable(String),
    /// The message has no `internalDate` (Gmail always gives one).
    NoDate,
    /// `format=full` gave the body part by attachment id only (it is too large to be inline).
    BodyNotInline,
}

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvertError::Unreadable(e) => write!(f, "message unreadable: {e}"),
            ConvertError::NoDate => f.write_str("message without internalDate"),
            ConvertError::BodyNotInline => {
                f.write_str("the body part is only available as an attachment (too large)")
            }
        }
    }
}

/// A message as `messages.get` answers it (`format=raw` or `format=full`).
#[derive(Debug, Deserialize)]
pub struct ApiMessage<'a> {
    #[serde(default)]
    pub id: String,
    #[serde(default, rename = "internalDate")]
    pub internal_date: Option<String>,
    #[serde(default, rename = "labelIds")]
    pub label_ids: Vec<String>,
    #[serde(default, rename = "sizeEstimate")]
    pub size_estimate: Option<u64>,
    #[serde(default, borrow)]
    pub raw: Option<Cow<'a, str>>,
    #[serde(default)]
    pub payload: Option<FullPart>,
}

/// One part of `format=full`.
#[derive(Debug, Default, Deserialize)]
pub struct FullPart {
    #[serde(default, rename = "mimeType")]
    pub mime_type: String,
    #[serde(default)]
    pub filename: String,
    #[serde(default)]
    pub headers: Vec<NameValue>,
    #[serde(default)]
    pub body: Option<PartBody>,
    #[serde(default)]
    pub parts: Vec<FullPart>,
}

/// A header of `format=full`.
#[derive(Debug, Default, Deserialize)]
pub struct NameValue {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// A part's body in `format=full`.
#[derive(Debug, Default, Deserialize)]
pub struct PartBody {
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default, rename = "attachmentId")]
    pub attachment_id: Option<String>,
}

/// A message converted, with its Gmail id and date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GmailEmail {
    pub gmail_id: String,
    pub internal_date_ms: i64,
    pub email: Converted,
}

impl GmailEmail {
    /// The `date` the Apps Script sends: `message.getDate().toISOString()`.
    pub fn date(&self) -> String {
        iso_utc(self.internal_date_ms)
    }

    /// The ingest request the Apps Script would send for this message (its JSON text): the
    /// processing job carries it as it carries a pushed request.
    pub fn ingest_text(&self) -> String {
        json!({
            "subject": self.email.subject,
            "sender": self.email.sender,
            "body": self.email.body,
            "date": self.date(),
        })
        .to_string()
    }
}

/// Reads the answer of `messages.get` (`format=raw` or `format=full`).
pub fn convert_message(json: &str) -> Result<GmailEmail, ConvertError> {
    let msg: ApiMessage =
        serde_json::from_str(json).map_err(|e| ConvertError::Unreadable(e.to_string()))?;
    let internal_date_ms = msg
        .internal_date
        .as_deref()
        .and_then(|d| d.trim().parse::<i64>().ok())
        .ok_or(ConvertError::NoDate)?;
    let email = match (&msg.raw, &msg.payload) {
        (Some(raw), _) => from_raw(&base64url(raw.as_bytes())),
        (None, Some(payload)) => from_full(payload)?,
        (None, None) => return Err(ConvertError::Unreadable("neither raw nor payload".into())),
    };
    Ok(GmailEmail {
        gmail_id: msg.id,
        internal_date_ms,
        email,
    })
}

/// Base64url as the Gmail API writes it (padding optional; anything else outside the alphabet
/// skipped).
pub fn base64url(data: &[u8]) -> Vec<u8> {
    let clean = keep_alphabet(data, b'-', b'_');
    URL_SAFE.decode(clean.as_ref()).unwrap_or_default()
}

/// Base64 inside MIME (line breaks, and anything else outside the alphabet, skipped).
pub fn base64_mime(data: &[u8]) -> Vec<u8> {
    let clean = keep_alphabet(data, b'+', b'/');
    STANDARD.decode(clean.as_ref()).unwrap_or_default()
}

fn keep_alphabet(data: &[u8], c62: u8, c63: u8) -> Cow<'_, [u8]> {
    let ok = |b: &u8| b.is_ascii_alphanumeric() || *b == c62 || *b == c63;
    let mut clean: Cow<[u8]> = if data.iter().all(ok) {
        Cow::Borrowed(data)
    } else {
        Cow::Owned(data.iter().copied().filter(ok).collect())
    };
    // A lone last character carries no byte: dropped rather than failing the whole part.
    if clean.len() % 4 == 1 {
        clean.to_mut().pop();
    }
    clean
}

/// Quoted-printable (RFC 2045): `=XX` is a byte, `=` at the end of a line joins it to the next;
/// an `=` followed by anything else is kept as it is.
pub fn quoted_printable(data: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] != b'=' {
            out.push(data[i]);
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < data.len() && (data[j] == b' ' || data[j] == b'\t') {
            j += 1;
        }
        if j == data.len() {
            i = j;
        } else if data[j] == b'\n' {
            i = j + 1;
        } else if data[j] == b'\r' && data.get(j + 1) == Some(&b'\n') {
            i = j + 2;
        } else if let (Some(hi), Some(lo)) = (
            data.get(i + 1).copied().and_then(hex),
            data.get(i + 2).copied().and_then(hex),
        ) {
            out.push(hi * 16 + lo);
            i += 3;
        } else {
            out.push(b'=');
            i += 1;
        }
    }
    out
}

/// Decodes a header value's RFC 2047 encoded-words (`=?UTF-8?B?…?=`, `=?ISO-8859-1?Q?…?=`):
/// whitespace between two encoded-words is dropped, adjacent words in one charset are decoded
/// together (a character may be split across them), text outside them is kept as it is.
pub fn decode_words(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    // The encoded-word run being gathered: its charset and bytes.
    let mut run: Option<(String, Vec<u8>)> = None;
    let flush = |run: &mut Option<(String, Vec<u8>)>, out: &mut String| {
        if let Some((charset, bytes)) = run.take() {
            out.push_str(&decode(bytes, Some(&charset)));
        }
    };
    let mut rest = value;
    while let Some((start, end, charset, bytes)) = next_word(rest) {
        let before = &rest[..start];
        let joins = run.is_some() && before.chars().all(char::is_whitespace);
        if !joins {
            flush(&mut run, &mut out);
            out.push_str(before);
        }
        match &mut run {
            Some((c, b)) if c.eq_ignore_ascii_case(&charset) => b.extend_from_slice(&bytes),
            _ => {
                flush(&mut run, &mut out);
                run = Some((charset, bytes));
            }
        }
        rest = &rest[end..];
    }
    flush(&mut run, &mut out);
    out.push_str(rest);
    out
}

/// The next well-formed encoded-word in `s`: its byte range, charset and decoded bytes.
fn next_word(s: &str) -> Option<(usize, usize, String, Vec<u8>)> {
    let mut from = 0;
    while let Some(rel) = s[from..].find("=?") {
        let start = from + rel;
        if let Some(found) = word_at(s, start) {
            return Some(found);
        }
        from = start + 2;
    }
    None
}

fn word_at(s: &str, start: usize) -> Option<(usize, usize, String, Vec<u8>)> {
    let inner = &s[start + 2..];
    let (charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let text = &rest[..rest.find("?=")?];
    let charset_ok = !charset.is_empty()
        && charset
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:*".contains(&b));
    if !charset_ok || text.contains(char::is_whitespace) {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => base64_mime(text.as_bytes()),
        "Q" | "q" => quoted_printable(text.replace('_', " ").as_bytes()),
        _ => return None,
    };
    // `=?` charset `?` encoding `?` text `?=`
    let end = start + 2 + charset.len() + 1 + encoding.len() + 1 + text.len() + 2;
    // RFC 2231 adds a language after `*`: `UTF-8*fr`.
    let charset = charset.split('*').next().unwrap_or(charset).to_string();
    Some((start, end, charset, bytes))
}

/// A header's name (lowercase) and value (unfolded, as text, encoded-words not yet decoded).
type Headers = Vec<(String, String)>;

fn header<'h>(headers: &'h Headers, name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The lines of `data` as (start, end without the line break, start of the next line).
fn lines(data: &[u8]) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        let start = pos;
        let (end, next) = match data[start..].iter().position(|&b| b == b'\n') {
            Some(rel) => (start + rel, start + rel + 1),
            None => (data.len(), data.len()),
        };
        pos = next;
        let end = if end > start && data[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        Some((start, end, next))
    })
}

/// Splits a message or part at its first empty line: the header block and the body.
fn split_head(data: &[u8]) -> (&[u8], &[u8]) {
    for (start, end, next) in lines(data) {
        if start == end {
            return (&data[..start], &data[next..]);
        }
    }
    (data, &[])
}

fn parse_headers(head: &[u8]) -> Headers {
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for (start, end, _) in lines(head) {
        let line = &head[start..end];
        match line.first() {
            Some(b' ' | b'\t') => {
                // Unfolding: the line break goes, the whitespace stays.
                if let Some((_, value)) = headers.last_mut() {
                    value.extend_from_slice(line);
                }
            }
            _ => {
                if let Some(colon) = line.iter().position(|&b| b == b':') {
                    let name = String::from_utf8_lossy(&line[..colon])
                        .trim()
                        .to_lowercase();
                    headers.push((name, line[colon + 1..].to_vec()));
                }
            }
        }
    }
    headers
        .into_iter()
        .map(|(n, v)| (n, header_text(&v).trim().to_string()))
        .collect()
}

/// A `Content-Type` or `Content-Disposition` value: its lowercase type, and its parameters
/// (names lowercase, values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Typed {
    value: String,
    params: Vec<(String, String)>,
}

impl Typed {
    fn parse(raw: &str) -> Typed {
        let mut pieces = Vec::new();
        let mut current = String::new();
        let (mut quoted, mut escaped) = (false, false);
        for c in raw.chars() {
            match c {
                _ if escaped => {
                    current.push(c);
                    escaped = false;
                }
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ';' if !quoted => pieces.push(std::mem::take(&mut current)),
                _ => current.push(c),
            }
        }
        pieces.push(current);
        let mut pieces = pieces.into_iter();
        let value = pieces
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let params = pieces
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
            })
            .collect();
        Typed { value, params }
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The parts of a multipart body, between its boundary lines.
fn multipart<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut open: Option<usize> = None;
    for (start, end, next) in lines(body) {
        let line = &body[start..end];
        let Some(after) = line.strip_prefix(delimiter.as_bytes()) else {
            continue;
        };
        let closing = after.starts_with(b"--");
        if !closing && !after.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        if let Some(from) = open {
            // The line break before a boundary belongs to the boundary.
            let mut to = start.max(from);
            if to > from && body[to - 1] == b'\n' {
                to -= 1;
                if to > from && body[to - 1] == b'\r' {
                    to -= 1;
                }
            }
            parts.push(&body[from..to]);
            if parts.len() >= MAX_PARTS {
                break;
            }
        }
        if closing {
            break;
        }
        open = Some(next);
    }
    parts
}

/// A text part found by the walk.
struct Leaf<'a> {
    data: &'a [u8],
    encoding: String,
    charset: Option<String>,
}

#[derive(Default)]
struct Walk<'a> {
    html: Option<Leaf<'a>>,
    text: Option<Leaf<'a>>,
    parts: usize,
}

fn is_attachment(headers: &Headers) -> bool {
    header(headers, "content-disposition").is_some_and(|d| Typed::parse(d).value == "attachment")
}

fn walk<'a>(headers: &Headers, body: &'a [u8], depth: usize, w: &mut Walk<'a>) {
    w.parts += 1;
    if w.parts > MAX_PARTS || depth > MAX_DEPTH {
        return;
    }
    let ct = Typed::parse(header(headers, "content-type").unwrap_or("text/plain"));
    if ct.value.starts_with("multipart/") {
        if let Some(boundary) = ct.param("boundary").filter(|b| !b.is_empty()) {
            for part in multipart(body, boundary) {
                let (head, part_body) = split_head(part);
                walk(&parse_headers(head), part_body, depth + 1, w);
                if w.html.is_some() || w.parts > MAX_PARTS {
                    return;
                }
            }
        }
        return;
    }
    if is_attachment(headers) {
        return;
    }
    let leaf = || Leaf {
        data: body,
        encoding: header(headers, "content-transfer-encoding")
            .unwrap_or("7bit")
            .trim()
            .to_ascii_lowercase(),
        charset: ct.param("charset").map(str::to_string),
    };
    match ct.value.as_str() {
        "text/html" if w.html.is_none() => w.html = Some(leaf()),
        // A part without a Content-Type is text/plain (RFC 2045).
        "text/plain" | "" if w.text.is_none() => w.text = Some(leaf()),
        _ => {}
    }
}

/// A part's bytes out of its transfer encoding.
pub fn transfer_decode(data: &[u8], encoding: &str) -> Vec<u8> {
    match encoding {
        "base64" => base64_mime(data),
        "quoted-printable" => quoted_printable(data),
        _ => data.to_vec(),
    }
}

/// Converts an RFC 822 message (`format=raw`, once out of base64url).
pub fn from_raw(raw: &[u8]) -> Converted {
    let (head, body) = split_head(raw);
    let headers = parse_headers(head);
    let mut w = Walk::default();
    walk(&headers, body, 0, &mut w);
    let (kind, leaf) = match (w.html, w.text) {
        (Some(h), _) => (BodyKind::Html, Some(h)),
        (None, Some(t)) => (BodyKind::Text, Some(t)),
        (None, None) => (BodyKind::None, None),
    };
    let body = leaf.map_or_else(String::new, |l| {
        decode(transfer_decode(l.data, &l.encoding), l.charset.as_deref())
    });
    Converted {
        subject: header(&headers, "subject")
            .map(decode_words)
            .unwrap_or_default(),
        sender: header(&headers, "from")
            .map(decode_words)
            .unwrap_or_default(),
        body,
        kind,
    }
}

fn full_header<'p>(part: &'p FullPart, name: &str) -> Option<&'p str> {
    part.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Finds the first part of `mime` that is not an attachment, depth first.
fn find_full<'p>(
    part: &'p FullPart,
    mime: &str,
    depth: usize,
    seen: &mut usize,
) -> Option<&'p FullPart> {
    *seen += 1;
    if *seen > MAX_PARTS || depth > MAX_DEPTH {
        return None;
    }
    if part
        .mime_type
        .to_ascii_lowercase()
        .starts_with("multipart/")
    {
        return part
            .parts
            .iter()
            .find_map(|p| find_full(p, mime, depth + 1, seen));
    }
    let attachment = !part.filename.is_empty()
        || full_header(part, "content-disposition")
            .is_some_and(|d| Typed::parse(d).value == "attachment");
    (part.mime_type.eq_ignore_ascii_case(mime) && !attachment).then_some(part)
}

/// Converts `format=full`: Gmail gives each part's data already out of its transfer encoding;
/// the charset is the part's.
pub fn from_full(payload: &FullPart) -> Result<Converted, ConvertError> {
    let find = |mime| find_full(payload, mime, 0, &mut 0);
    let (kind, part) = match (find("text/html"), find("text/plain")) {
        (Some(h), _) => (BodyKind::Html, Some(h)),
        (None, Some(t)) => (BodyKind::Text, Some(t)),
        (None, None) => (BodyKind::None, None),
    };
    let body = match part {
        None => String::new(),
        Some(p) => {
            let data = p.body.as_ref().and_then(|b| b.data.as_deref());
            let inline_elsewhere = p.body.as_ref().is_some_and(|b| b.attachment_id.is_some());
            match data {
                None if inline_elsewhere => return Err(ConvertError::BodyNotInline),
                None => String::new(),
                Some(d) => {
                    let ct = full_header(p, "content-type").map(Typed::parse);
                    let charset = ct.as_ref().and_then(|t| t.param("charset"));
                    decode(base64url(d.as_bytes()), charset)
                }
            }
        }
    };
    Ok(Converted {
        subject: full_header(payload, "subject")
            .map(decode_words)
            .unwrap_or_default(),
        sender: full_header(payload, "from")
            .map(decode_words)
            .unwrap_or_default(),
        body,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::ids::{email_id, sender_email};
    use crate::intake::ingest::parse_ingest;

    fn raw(s: &str) -> Converted {
        from_raw(s.replace('\n', "\r\n").as_bytes())
    }

    #[test]
    fn encoded_words() {
        #[rustfmt::skip]
        let table = [
            ("Hello", "Hello"),
            ("=?UTF-8?B?Q2Fmw6kgY3LDqG1l?=", "Café crème"),
            ("=?utf-8?q?Caf=C3=A9_cr=C3=A8me?=", "Café crème"),
            ("=?ISO-8859-1?Q?Caf=E9?= au lait", "Café au lait"),
            ("Re: =?ISO-8859-15?Q?=A4uro?=", "Re: €uro"),
            ("=?windows-1252?Q?=93quoted=94?=", "“quoted”"),
            // Whitespace between two encoded-words goes; a character split across them is whole.
            ("=?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?=", "éé"),
            ("=?UTF-8?Q?=C3?=\r\n =?UTF-8?Q?=A9t=C3=A9?=", "été"),
            ("=?UTF-8?Q?a?= b =?UTF-8?Q?c?=", "a b c"),
            ("=?UTF-8*fr?Q?d=C3=A9j=C3=A0?=", "déjà"),
            // Not encoded-words: kept as they are.
            ("=?UTF-8?X?abc?=", "=?UTF-8?X?abc?="),
            ("=?UTF-8?Q?with space?=", "=?UTF-8?Q?with space?="),
            ("a =? b ?= c", "a =? b ?= c"),
            ("=?", "=?"),
            ("Média Solution - Missions Recadrage - Lot 3", "Média Solution - Missions Recadrage - Lot 3"),
        ];
        for (input, want) in table {
            assert_eq!(decode_words(input), want, "{input}");
        }
    }

    #[test]
    fn quoted_printable_and_base64() {
        assert_eq!(
            quoted_printable(b"caf=E9 =3D x=\r\ny=\nz"),
            b"caf\xe9 = xyz"
        );
        assert_eq!(quoted_printable(b"a=zz=4"), b"a=zz=4");
        assert_eq!(quoted_printable(b"soft=  \r\nbreak="), b"softbreak");
        assert_eq!(base64_mime(b"Q2Fm\r\nw6k=\r\n"), "Café".as_bytes());
        assert_eq!(base64_mime(b"Q2Fmw6k"), "Café".as_bytes());
        assert_eq!(base64url(b"PGI-PzwvYj4"), b"<b>?</b>");
        assert_eq!(base64url(b"PGI-PzwvYj4="), b"<b>?</b>");
        assert_eq!(base64_mime(b"!!"), b"");
    }

    #[test]
    fn messages_of_every_shape() {
        struct Case {
            name: &'static str,
            raw: &'static str,
            subject: &'static str,
            sender: &'static str,
            body: &'static str,
            kind: BodyKind,
        }
        let cases = [
            Case {
                name: "text only, UTF-8 8bit",
                raw: "From: Jane <jane@example.com>\nSubject: Hi\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nBonjour, ça va ?\n",
                subject: "Hi",
                sender: "Jane <jane@example.com>",
                body: "Bonjour, ça va ?\r\n",
                kind: BodyKind::Text,
            },
            Case {
                name: "no Content-Type at all",
                raw: "From: a@b.c\nSubject: bare\n\nplain text",
                subject: "bare",
                sender: "a@b.c",
                body: "plain text",
                kind: BodyKind::Text,
            },
            Case {
                name: "HTML only, base64",
                raw: "From: a@b.c\nSubject: html\nContent-Type: text/html; charset=\"UTF-8\"\nContent-Transfer-Encoding: base64\n\nPHA+Q2Fmw6k8L3A+\n",
                subject: "html",
                sender: "a@b.c",
                body: "<p>Café</p>",
                kind: BodyKind::Html,
            },
            Case {
                name: "multipart/alternative, quoted-printable UTF-8: the HTML part",
                raw: "From: =?UTF-8?Q?Exp=C3=A9diteur?= <Sender@Example.com>\nSubject: =?UTF-8?B?UsOpc3Vtw6k=?=\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"b1\"\n\npreamble\n--b1\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: quoted-printable\n\nR=C3=A9sum=C3=A9\n--b1\nContent-Type: text/html; charset=UTF-8\nContent-Transfer-Encoding: quoted-printable\n\n<p>R=C3=A9sum=C3=A9 https://www.dropbox.com/scl/fo/a?rlkey=3Dk&amp;dl=3D0 =\nsuite</p>\n--b1--\nepilogue\n",
                subject: "Résumé",
                sender: "Expéditeur <Sender@Example.com>",
                body: "<p>Résumé https://www.dropbox.com/scl/fo/a?rlkey=k&amp;dl=0 suite</p>",
                kind: BodyKind::Html,
            },
            Case {
                name: "ISO-8859-1, quoted-printable, text only",
                raw: "From: b@c.d\nSubject: =?ISO-8859-1?Q?D=E9sabonnement?=\nContent-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nJourn=E9e aux tarifs habituels =80\n",
                subject: "Désabonnement",
                sender: "b@c.d",
                body: "Journée aux tarifs habituels €\r\n",
                kind: BodyKind::Text,
            },
            Case {
                name: "Windows-1252 HTML, 8bit",
                raw: "From: b@c.d\nSubject: x\nContent-Type: text/html; charset=windows-1252\n\n<p>\u{93}ok\u{94}</p>",
                subject: "x",
                sender: "b@c.d",
                // The test source is UTF-8: the bytes here are C2 93 / C2 94, which are not
                // Windows-1252 quotes; see the byte-level case below.
                body: "<p>Â\u{201c}okÂ\u{201d}</p>",
                kind: BodyKind::Html,
            },
            Case {
                name: "mixed: alternative nested, an attachment in text/plain ignored",
                raw: "From: c@d.e\nSubject: nested\nContent-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: multipart/alternative; boundary=inner\n\n--inner\nContent-Type: text/plain\n\nplain\n--inner\nContent-Type: text/html\n\n<b>rich</b>\n--inner--\n--outer\nContent-Type: text/plain; name=notes.txt\nContent-Disposition: attachment; filename=notes.txt\n\nattached\n--outer--\n",
                subject: "nested",
                sender: "c@d.e",
                body: "<b>rich</b>",
                kind: BodyKind::Html,
            },
            Case {
                name: "mixed: text first, an HTML attachment is not the body",
                raw: "From: c@d.e\nSubject: att\nContent-Type: multipart/mixed; boundary=\"=_x\"\n\n--=_x\nContent-Type: text/plain; charset=us-ascii\n\nthe text\n--=_x\nContent-Type: text/html\nContent-Disposition: attachment; filename=page.html\n\n<p>file</p>\n--=_x--\n",
                subject: "att",
                sender: "c@d.e",
                body: "the text",
                kind: BodyKind::Text,
            },
            Case {
                name: "folded subject, no text part",
                raw: "From: d@e.f\nSubject: a long\n\tsubject\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n",
                subject: "a long\tsubject",
                sender: "d@e.f",
                body: "",
                kind: BodyKind::None,
            },
            Case {
                name: "multipart without its closing boundary",
                raw: "From: e@f.g\nSubject: cut\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n<i>cut short</i>\n",
                subject: "cut",
                sender: "e@f.g",
                body: "",
                kind: BodyKind::None,
            },
        ];
        for c in cases {
            let got = raw(c.raw);
            assert_eq!(
                (
                    got.subject.as_str(),
                    got.sender.as_str(),
                    got.body.as_str(),
                    got.kind
                ),
                (c.subject, c.sender, c.body, c.kind),
                "{}",
                c.name
            );
        }
        // Raw Windows-1252 bytes, LF-only line endings.
        let bytes = b"From: x@y.z\nSubject: =?windows-1252?Q?=80?=\nContent-Type: text/html; charset=windows-1252\n\n<p>\x93ok\x94 \x80</p>";
        let got = from_raw(bytes);
        assert_eq!(
            (got.subject.as_str(), got.body.as_str()),
            ("€", "<p>“ok” €</p>")
        );
    }

    #[test]
    fn a_message_bomb_is_bounded() {
        let mut m = String::from("From: a@b.c\nSubject: deep\n");
        for i in 0..100 {
            m.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n"
            ));
        }
        m.push_str("Content-Type: text/html\n\n<p>too deep</p>\n");
        let got = raw(&m);
        assert_eq!((got.kind, got.body.as_str()), (BodyKind::None, ""));
        let mut wide = String::from("From: a@b.c\nContent-Type: multipart/mixed; boundary=w\n\n");
        for _ in 0..10_000 {
            wide.push_str("--w\nContent-Type: image/gif\n\nx\n");
        }
        wide.push_str("--w\nContent-Type: text/html\n\n<p>late</p>\n--w--\n");
        assert_eq!(
            raw(&wide).kind,
            BodyKind::None,
            "parts after the first 256 are not read"
        );
    }

    fn b64url(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s.as_bytes())
    }

    #[test]
    fn raw_and_full_answers_give_what_the_script_sends() {
        let rfc822 = "From: Jane <Jane@Example.com>\r\nSubject: =?UTF-8?Q?Lot_12_=E2=80=94_photos?=\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>caf=C3=A9</p>";
        let answer = json!({
            "id": "18c0ffee", "threadId": "18c0ffee", "labelIds": ["Label_1", "INBOX"],
            "internalDate": "1767225600123", "sizeEstimate": 321, "raw": b64url(rfc822),
        })
        .to_string();
        let m = convert_message(&answer).unwrap();
        assert_eq!(m.gmail_id, "18c0ffee");
        assert_eq!(
            m.date(),
            "2026-01-01T00:00:00.123Z",
            "new Date(ms).toISOString()"
        );
        assert_eq!(m.email.subject, "Lot 12 — photos");
        // The ingest reads the text exactly as it reads the script's push: same email_id.
        let pushed = parse_ingest(m.ingest_text().as_bytes(), 0).unwrap();
        let script = json!({"subject": "Lot 12 — photos", "sender": "Jane <Jane@Example.com>",
            "body": "<p>café</p>", "date": "2026-01-01T00:00:00.123Z", "snippet": "café"});
        let scripted = parse_ingest(script.to_string().as_bytes(), 0).unwrap();
        assert_eq!(pushed, scripted);
        assert_eq!(
            pushed.email_id,
            email_id(
                "Lot 12 — photos",
                &sender_email("Jane <Jane@Example.com>"),
                "2026-01-01T00:00:00.123Z"
            )
        );

        let full = json!({
            "id": "18c0ffee", "internalDate": "1767225600123",
            "payload": {
                "mimeType": "multipart/mixed",
                "headers": [{"name": "From", "value": "Jane <Jane@Example.com>"},
                            {"name": "Subject", "value": "Lot 12 — photos"}],
                "parts": [
                    {"mimeType": "multipart/alternative", "parts": [
                        {"mimeType": "text/plain", "headers": [{"name": "Content-Type", "value": "text/plain; charset=UTF-8"}],
                         "body": {"size": 5, "data": b64url("café")}},
                        {"mimeType": "text/html", "headers": [{"name": "Content-Type", "value": "text/html; charset=ISO-8859-1"}],
                         "body": {"size": 12, "data": base64::engine::general_purpose::URL_SAFE.encode(b"<p>caf\xe9</p>")}}
                    ]},
                    {"mimeType": "application/pdf", "filename": "big.pdf", "body": {"attachmentId": "att1", "size": 30000000}}
                ]
            }
        })
        .to_string();
        let f = convert_message(&full).unwrap();
        assert_eq!(f.email.body, "<p>café</p>");
        assert_eq!(f.ingest_text(), m.ingest_text(), "raw and full agree");

        let not_inline =
            json!({"id": "x", "internalDate": "1", "payload": {"mimeType": "text/html",
            "headers": [], "body": {"attachmentId": "a", "size": 40000000}}})
            .to_string();
        assert_eq!(
            convert_message(&not_inline),
            Err(ConvertError::BodyNotInline)
        );
        assert_eq!(
            convert_message(r#"{"id":"x","raw":"AAAA"}"#),
            Err(ConvertError::NoDate)
        );
        assert!(matches!(
            convert_message("<html>"),
            Err(ConvertError::Unreadable(_))
        ));
    }
}
