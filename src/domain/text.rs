//! Unicode normalisation for detection (SPEC §3): `norm` folds accents and case so that `Média`,
//! `MÉDIA`, `Me\u{301}dia` (combining accent) and `media` compare equal; `norm_collapsed` also
//! folds every whitespace run, non-breaking spaces included, into one ASCII space.

use unicode_normalization::char::{decompose_canonical, is_combining_mark};

/// NFD, combining marks dropped, lowercased.
pub fn norm(s: &str) -> String {
    fold(s, false)
}

/// [`norm`], then every run of Unicode whitespace (U+00A0, U+202F, U+2009, tabs, newlines…)
/// collapsed into one ASCII space, and the ends trimmed.
pub fn norm_collapsed(s: &str) -> String {
    fold(s, true)
}

/// One pass over `s` for both functions; bodies can be megabytes, so ASCII runs (most of an
/// HTML body) are copied as slices and the case is folded in place at the end.
///
/// Each non-ASCII character is decomposed on its own and its marks dropped. Full NFD would also
/// reorder runs of combining characters, but every character with a non-zero combining class is
/// a mark (checked over all of Unicode by a test below), so the reordering only moves characters
/// that are dropped anyway: the result is that of NFD, without its buffering.
fn fold(s: &str, collapse: bool) -> String {
    let mut f = Folder {
        out: String::with_capacity(s.len()),
        collapse,
        pending_space: false,
        unicode_case: false,
    };
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let run = ascii_prefix_len(&bytes[i..]);
        if run > 0 {
            f.ascii_run(&s[i..i + run]);
            i += run;
        } else if let Some(c) = s[i..].chars().next() {
            decompose_canonical(c, |d| f.non_ascii(d));
            i += c.len_utf8();
        }
    }
    if f.unicode_case {
        // The whole string at once, so context rules such as the Greek final sigma apply, as
        // in Python's `str.lower()`.
        f.out.to_lowercase()
    } else {
        f.out.make_ascii_lowercase();
        f.out
    }
}

/// Length of the ASCII prefix of `bytes`, a word at a time where possible (`<[u8]>::is_ascii`).
fn ascii_prefix_len(bytes: &[u8]) -> usize {
    const CHUNK: usize = 16;
    let mut n = 0;
    while n + CHUNK <= bytes.len() && bytes[n..n + CHUNK].is_ascii() {
        n += CHUNK;
    }
    n + bytes[n..]
        .iter()
        .position(|b| !b.is_ascii())
        .unwrap_or(bytes.len() - n)
}

fn is_ascii_space(b: u8) -> bool {
    // The ASCII whitespace of `char::is_whitespace`: `\t` to `\r` and the space.
    matches!(b, b' ' | b'\t'..=b'\r')
}

struct Folder {
    out: String,
    collapse: bool,
    /// Whitespace was seen since the last word (collapse mode).
    pending_space: bool,
    /// A character was kept whose lowercase is not itself and not ASCII.
    unicode_case: bool,
}

impl Folder {
    fn ascii_run(&mut self, run: &str) {
        if !self.collapse {
            self.out.push_str(run);
            return;
        }
        // Splitting an ASCII run at ASCII bytes keeps UTF-8 boundaries. A lone space between two
        // non-spaces of the run is already collapsed, so it stays inside the copied span: most
        // prose is copied in long slices rather than word by word.
        let bytes = run.as_bytes();
        let (mut start, mut k) = (0, 0);
        while k < bytes.len() {
            if !is_ascii_space(bytes[k]) {
                k += 1;
                continue;
            }
            let mut end = k + 1;
            while end < bytes.len() && is_ascii_space(bytes[end]) {
                end += 1;
            }
            let lone_inner_space =
                bytes[k] == b' ' && end == k + 1 && k > start && end < bytes.len();
            if !lone_inner_space {
                self.word(&run[start..k]);
                self.pending_space = true;
                start = end;
            }
            k = end;
        }
        self.word(&run[start..]);
    }

    fn non_ascii(&mut self, c: char) {
        if is_combining_mark(c) {
            return;
        }
        if self.collapse && c.is_whitespace() {
            self.pending_space = true;
            return;
        }
        if !c.is_ascii() && !c.to_lowercase().eq([c]) {
            self.unicode_case = true;
        }
        let mut buf = [0; 4];
        self.word(c.encode_utf8(&mut buf));
    }

    fn word(&mut self, w: &str) {
        if w.is_empty() {
            return;
        }
        if self.pending_space && !self.out.is_empty() {
            self.out.push(' ');
        }
        self.pending_space = false;
        self.out.push_str(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::char::canonical_combining_class;
    use unicode_normalization::UnicodeNormalization;

    #[test]
    fn every_reordered_character_is_a_dropped_mark() {
        let odd = (0..=0x10_FFFF_u32)
            .filter_map(char::from_u32)
            .find(|&c| canonical_combining_class(c) != 0 && !is_combining_mark(c));
        assert_eq!(odd, None);
    }

    /// The straightforward definition the one-pass [`fold`] must agree with.
    fn reference(s: &str, collapse: bool) -> String {
        let lower = s
            .nfd()
            .filter(|&c| !is_combining_mark(c))
            .collect::<String>()
            .to_lowercase();
        if collapse {
            lower.split_whitespace().collect::<Vec<_>>().join(" ")
        } else {
            lower
        }
    }

    #[test]
    fn agrees_with_nfd_filter_lowercase_collapse() {
        let samples = [
            " \u{a0}Ça\u{202f}\u{301} coûte\t\u{2009}\n cher ",
            "\u{b}a\u{c}\u{85}b\u{2028}c\u{3000}",
            "É\u{a0}\u{301}\u{a0}x",
            "Ǻ\u{323}\u{301}x",
            "a\u{301}\u{323}\u{35c}b",
            "ΣΑΣ Ὀδυσσεύς ΟΔΟΣ",
            "Å Ω ﬁ Ǆ ǅ",
            "İstanbul ΚELVIN",
            "MÉDIA   Solution\r\n",
            "",
            "   ",
        ];
        for s in samples {
            assert_eq!(norm(s), reference(s, false), "norm {s:?}");
            assert_eq!(
                norm_collapsed(s),
                reference(s, true),
                "norm_collapsed {s:?}"
            );
        }
    }

    #[test]
    fn agrees_with_the_reference_on_random_strings() {
        let alphabet: Vec<char> = "aZ é\u{301}\u{300}\u{a0}\t\nÉΣσΑ\u{2009}İǅﬁ«»œŒ\u{3000}1"
            .chars()
            .collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2_000 {
            let len = (x % 24) as usize;
            let s: String = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect();
            assert_eq!(norm(&s), reference(&s, false), "norm {s:?}");
            assert_eq!(
                norm_collapsed(&s),
                reference(&s, true),
                "norm_collapsed {s:?}"
            );
        }
    }

    #[test]
    fn folds_accents_in_both_forms_and_case() {
        assert_eq!(norm("Média"), "media");
        assert_eq!(norm("Me\u{301}dia"), "media");
        assert_eq!(norm("JOURNÉE"), "journee");
        assert_eq!(norm("ÇA Où"), "ca ou");
        assert_eq!(norm("plain ASCII"), "plain ascii");
    }

    #[test]
    fn keeps_whitespace_in_norm_but_collapses_in_norm_collapsed() {
        assert_eq!(norm("a\u{a0}b"), "a\u{a0}b");
        assert_eq!(
            norm_collapsed("  Tarifs\u{a0}\u{a0} \t habituels\n"),
            "tarifs habituels"
        );
        assert_eq!(norm_collapsed("a\u{202f}b\u{2009}c\u{3000}d"), "a b c d");
        assert_eq!(norm_collapsed(""), "");
        assert_eq!(norm_collapsed(" \u{a0} "), "");
    }
}
