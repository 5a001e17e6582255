//! Property tests of the Content-Disposition parser: whatever a file host answers, the filename
//! kept is safe to store and to show (no directory part, no control or bidirectional formatting
//! character, not empty, `.` or `..`, at most 255 bytes).

use proptest::prelude::*;
use r2_fetch::filename::from_content_disposition;

/// Header values made of the pieces Content-Disposition parsers trip on.
fn header() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("attachment".to_string()),
        Just("inline".to_string()),
        Just("; ".to_string()),
        Just("filename=".to_string()),
        Just("filename*=".to_string()),
        Just("UTF-8''".to_string()),
        Just("iso-8859-1'en'".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("/".to_string()),
        Just("..".to_string()),
        Just("%E2%80%AE".to_string()),
        Just("%2F".to_string()),
        Just("%00".to_string()),
        Just("\u{202e}".to_string()),
        Just("\u{2067}".to_string()),
        Just(".exe".to_string()),
        "[a-zA-Z0-9 ._-]{1,12}",
        "\\PC{1,4}",
        ".{1,3}",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn filenames_are_safe_whatever_the_header(value in header()) {
        if let Some(name) = from_content_disposition(&value) {
            prop_assert!(!name.is_empty() && name != "." && name != "..", "{value:?} -> {name:?}");
            prop_assert!(!name.contains(['/', '\\']), "{value:?} -> {name:?}");
            prop_assert!(!name.chars().any(|c| c.is_control()), "{value:?} -> {name:?}");
            prop_assert!(
                !name.chars().any(|c| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')),
                "{value:?} -> {name:?}"
            );
            prop_assert!(name.len() <= 255, "{value:?}");
            prop_assert_eq!(name.trim(), name.as_str());
        }
    }
}
