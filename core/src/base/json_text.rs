//! JSON string escapes decoded in place: a push's body (up to 25 MB) becomes the e-mail's body
//! inside the very buffer that held the request, instead of being copied out of it.

/// One step of decoding: a raw byte (copied as is), or an escape standing for `char`.
enum Step {
    Byte(u8),
    Char(char),
}

/// Reads the unit at `*i` of the contents of a JSON string (between its quotes) and moves past
/// it. `None` for an invalid escape (unknown letter, bad hex, a lone surrogate).
fn step(src: &[u8], i: &mut usize) -> Option<Step> {
    let b = *src.get(*i)?;
    *i += 1;
    if b != b'\\' {
        return Some(Step::Byte(b));
    }
    let e = *src.get(*i)?;
    *i += 1;
    let c = match e {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let first = hex4(src, i)?;
            match first {
                0xD800..=0xDBFF => {
                    // A high surrogate must be followed by `\u` and a low one.
                    if src.get(*i..*i + 2)? != b"\\u" {
                        return None;
                    }
                    *i += 2;
                    let low = hex4(src, i)?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return None;
                    }
                    let code = 0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00);
                    char::from_u32(code)?
                }
                0xDC00..=0xDFFF => return None,
                _ => char::from_u32(first)?,
            }
        }
        _ => return None,
    };
    Some(Step::Char(c))
}

fn hex4(src: &[u8], i: &mut usize) -> Option<u32> {
    let digits = src.get(*i..*i + 4)?;
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    *i += 4;
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// True when the contents of a JSON string (between its quotes, as in a valid JSON document)
/// decode without an invalid escape.
pub fn escapes_valid(contents: &[u8]) -> bool {
    let mut i = 0;
    while i < contents.len() {
        if step(contents, &mut i).is_none() {
            return false;
        }
    }
    true
}

/// Decodes the contents of a JSON string in place and returns the decoded text, in the same
/// allocation (a decoded escape is never longer than the escape itself). `None` for an
/// invalid escape.
pub fn decode_in_place(mut buf: Vec<u8>) -> Option<String> {
    let (mut read, mut write) = (0, 0);
    while read < buf.len() {
        match step(&buf, &mut read)? {
            Step::Byte(b) => {
                buf[write] = b;
                write += 1;
            }
            Step::Char(c) => {
                let mut utf8 = [0; 4];
                for &b in c.encode_utf8(&mut utf8).as_bytes() {
                    buf[write] = b;
                    write += 1;
                }
            }
        }
    }
    buf.truncate(write);
    String::from_utf8(buf).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes through serde_json, the reference.
    fn reference(contents: &str) -> Option<String> {
        serde_json::from_str::<String>(&format!("\"{contents}\"")).ok()
    }

    #[test]
    fn decodes_like_serde_json() {
        for contents in [
            "",
            "plain",
            r#"a\"b\\c\/d"#,
            r"\b\f\n\r\t",
            r"caf\u00e9 \u00E9",
            r"\ud83d\ude00 emoji",
            "déjà vu 한국어",
            r"\u0000",
            r"\ud83d",
            r"\ude00",
            r"\ud83d\u0041",
            r"\x",
            r"\u12",
            r"\u12g4",
            r"\u+123",
        ] {
            let ours = decode_in_place(contents.as_bytes().to_vec());
            assert_eq!(ours, reference(contents), "{contents:?}");
            assert_eq!(
                escapes_valid(contents.as_bytes()),
                ours.is_some(),
                "{contents:?}"
            );
        }
    }

    #[test]
    fn random_strings_round_trip_through_serde_escaping() {
        let alphabet = [
            "a", "\"", "\\", "/", "\n", "\u{1}", "é", "한", "😀", "\u{2028}", " ",
        ];
        let mut x: u64 = 0x1234_5678_9ABC_DEF1;
        for _ in 0..5_000 {
            let mut s = String::new();
            for _ in 0..(x % 20) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push_str(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let quoted = serde_json::to_string(&s).unwrap();
            let contents = &quoted[1..quoted.len() - 1];
            assert_eq!(decode_in_place(contents.as_bytes().to_vec()), Some(s));
        }
    }
}
