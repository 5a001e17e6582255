//! Unicode normalisation for detection (SPEC §3): `norm` folds accents and case so that `Média`,
//! `MÉDIA`, `Me\u{301}dia` (combining accent) and `media` compare equal; `norm_collapsed` also
//! folds every whitespace run, non-breaking spaces included, into one ASCII space.

use unicode_normalization::char::{decompose_canonical, is_combining_mark};

/// NFD, combining marks dropped, lowercased.
pub fn norm(s: &str) -> String {
    // NFD of ASCII is the identity: most bodies are mostly-ASCII HTML.
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    // Each character is decomposed on its own and the marks dropped. Full NFD would also
    // reorder runs of combining characters, but every character with a non-zero combining class
    // is a mark (checked over all of Unicode by a test below), so the reordering only moves
    // characters that are dropped anyway: the result is that of NFD, without its buffering.
    let mut stripped = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            stripped.push(c);
        } else {
            decompose_canonical(c, |d| {
                if !is_combining_mark(d) {
                    stripped.push(d);
                }
            });
        }
    }
    // Lowercase the whole string (not char by char) so context rules such as the Greek final
    // sigma apply, as Python's `str.lower()` does.
    stripped.to_lowercase()
}

/// [`norm`], then every run of Unicode whitespace (U+00A0, U+202F, U+2009, tabs, newlines…)
/// collapsed into one ASCII space, and the ends trimmed.
pub fn norm_collapsed(s: &str) -> String {
    collapse_whitespace(&norm(s))
}

/// Collapses runs of Unicode whitespace (`char::is_whitespace`, which includes U+00A0) into one
/// ASCII space and trims the ends.
pub fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
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

    #[test]
    fn equals_full_nfd_then_filter() {
        for s in [
            "Ǻ\u{323}\u{301}x",
            "a\u{301}\u{323}\u{35c}b",
            "ΣΑΣ Ὀδυσσεύς",
            "Å Ω ﬁ Ǆ",
            "İstanbul",
        ] {
            let reference: String = s.nfd().filter(|&c| !is_combining_mark(c)).collect();
            assert_eq!(norm(s), reference.to_lowercase(), "{s}");
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
