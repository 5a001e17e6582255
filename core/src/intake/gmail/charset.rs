//! Text in the charsets e-mails are written in: UTF-8 (and US-ASCII), ISO-8859-1 and
//! Windows-1252, ISO-8859-15.
//!
//! `iso-8859-1` (and `latin1`, `us-ascii` aside) is decoded as Windows-1252, as every browser
//! does (the WHATWG Encoding Standard): the two differ only in 0x80–0x9F, which are C1 control
//! characters in ISO-8859-1 and printable (`€`, `’`, `œ`…) in Windows-1252, and mail labelled
//! ISO-8859-1 that uses those bytes means the Windows characters. An unknown charset is read as
//! UTF-8 when the bytes are valid UTF-8, else as Windows-1252: text is never dropped.

/// A charset Facteur decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// UTF-8, and US-ASCII (a subset).
    Utf8,
    /// Windows-1252, and ISO-8859-1 read the browsers' way.
    Windows1252,
    /// ISO-8859-15 (Latin-9: `€`, `Š`, `œ`… in place of eight Latin-1 symbols).
    Latin9,
}

/// The charset a label names (`UTF-8`, `"iso-8859-1"`, `cp1252`…), case and quotes ignored;
/// `None` for a label Facteur does not know.
pub fn charset(label: &str) -> Option<Charset> {
    let label = label.trim().trim_matches('"').trim().to_ascii_lowercase();
    Some(match label.as_str() {
        "utf-8" | "utf8" | "unicode-1-1-utf-8" | "us-ascii" | "ascii" | "ansi_x3.4-1968" | "us"
        | "iso646-us" => Charset::Utf8,
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "iso_8859-1:1987" | "latin1" | "l1"
        | "cp819" | "ibm819" | "windows-1252" | "cp1252" | "x-cp1252" => Charset::Windows1252,
        "iso-8859-15" | "iso8859-15" | "iso_8859-15" | "latin9" | "latin-9" | "l9" => {
            Charset::Latin9
        }
        _ => return None,
    })
}

/// Windows-1252's characters for 0x80..=0x9F (the five undefined bytes keep their C1 code).
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

fn windows_1252(b: u8) -> char {
    match b {
        0x80..=0x9F => CP1252_HIGH[(b - 0x80) as usize],
        _ => b as char,
    }
}

fn latin9(b: u8) -> char {
    match b {
        0xA4 => '\u{20AC}',
        0xA6 => '\u{0160}',
        0xA8 => '\u{0161}',
        0xB4 => '\u{017D}',
        0xB8 => '\u{017E}',
        0xBC => '\u{0152}',
        0xBD => '\u{0153}',
        0xBE => '\u{0178}',
        _ => b as char,
    }
}

/// Decodes `bytes` written in the charset `label` names (none: US-ASCII, read as UTF-8).
pub fn decode(bytes: Vec<u8>, label: Option<&str>) -> String {
    match label.map_or(Some(Charset::Utf8), charset) {
        Some(Charset::Utf8) => utf8_lossy(bytes),
        Some(Charset::Windows1252) => bytes.into_iter().map(windows_1252).collect(),
        Some(Charset::Latin9) => bytes.into_iter().map(latin9).collect(),
        None => match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => e.into_bytes().into_iter().map(windows_1252).collect(),
        },
    }
}

/// UTF-8, invalid sequences replaced by U+FFFD; valid input is not copied.
fn utf8_lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Raw header bytes as text: UTF-8 when they are (RFC 6532), else Windows-1252.
pub fn header_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().copied().map(windows_1252).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charsets_by_label() {
        #[rustfmt::skip]
        let table: [(&[u8], Option<&str>, &str); 12] = [
            (b"caf\xc3\xa9", Some("UTF-8"), "café"),
            (b"caf\xc3\xa9", None, "café"),
            (b"caf\xe9", Some("ISO-8859-1"), "café"),
            (b"caf\xe9", Some("\"latin1\""), "café"),
            (b"\x80 \x92 \x9c", Some("iso-8859-1"), "€ ’ œ"),
            (b"\x80 \x92 \x9c", Some("windows-1252"), "€ ’ œ"),
            (b"\xa4 \xbd \xe9", Some("ISO-8859-15"), "€ œ é"),
            (b"\xa4 \xbd", Some("iso-8859-1"), "¤ ½"),
            (b"caf\xc3\xa9", Some("x-unknown"), "café"),
            (b"caf\xe9", Some("x-unknown"), "café"),
            (b"caf\xe9", Some("utf-8"), "caf\u{FFFD}"),
            (b"plain", Some("us-ascii"), "plain"),
        ];
        for (bytes, label, want) in table {
            assert_eq!(decode(bytes.to_vec(), label), want, "{label:?}");
        }
        assert_eq!(charset(" UTF8 "), Some(Charset::Utf8));
        assert_eq!(charset("koi8-r"), None);
    }

    #[test]
    fn header_bytes() {
        assert_eq!(header_text("Café".as_bytes()), "Café");
        assert_eq!(header_text(b"Caf\xe9"), "Café");
    }
}
