//! Percent-decoding and -encoding, and the ISO-8859-1 fallback for bytes that are not UTF-8.

/// Decodes `%XX` escapes into bytes; a `%` not followed by two hex digits stays as it is
/// (browsers do the same, and a stray `%` in a filename is more likely literal than broken).
pub fn decode_bytes(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Bytes as UTF-8 when they are, else as ISO-8859-1 (every byte one character), so decoding
/// never fails.
pub fn utf8_or_latin1(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => latin1(e.as_bytes()),
    }
}

/// Bytes as ISO-8859-1.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Percent-encodes every byte outside RFC 3986 `unreserved` (and `keep`), for RFC 5987
/// `ext-value`s and URL path segments.
pub fn encode(s: &str, keep: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_keeps_stray_percents() {
        assert_eq!(decode_bytes("a%20b%2Fc"), b"a b/c");
        assert_eq!(decode_bytes("100%"), b"100%");
        assert_eq!(decode_bytes("%zz%4"), b"%zz%4");
        assert_eq!(decode_bytes("%e2%82%ac"), "€".as_bytes());
        assert_eq!(decode_bytes(""), b"");
    }

    #[test]
    fn utf8_then_latin1() {
        assert_eq!(utf8_or_latin1(vec![0xC3, 0xA9]), "é");
        assert_eq!(utf8_or_latin1(vec![0xE9]), "é");
    }

    #[test]
    fn encodes_outside_unreserved() {
        assert_eq!(encode("a b/€.zip", b""), "a%20b%2F%E2%82%AC.zip");
        assert_eq!(encode("a b/c", b"/"), "a%20b/c");
        assert_eq!(encode("A-z_0.9~", b""), "A-z_0.9~");
    }
}
