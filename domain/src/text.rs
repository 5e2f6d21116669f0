//! Names that spoof: free text shown to other people (session titles, display names) must not
//! reorder what is displayed around it (bidirectional controls) nor look empty while not being
//! so (only invisible characters). Unicode TR9 and TR39 name these characters.

use crate::DomainError;

/// The bidirectional controls: embeddings and overrides (U+202A–U+202E), isolates
/// (U+2066–U+2069), the implicit marks (U+200E, U+200F) and the Arabic letter mark (U+061C).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Characters that show nothing: white space, and the format and filler characters that
/// render as nothing (zero-width space and joiners, word joiner, invisible operators, BOM,
/// soft hyphen, combining grapheme joiner, Hangul fillers, braille blank, variation selectors,
/// tags).
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || is_bidi_control(c)
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200D}'
                | '\u{2060}'..='\u{2064}'
                | '\u{206A}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Refuses text with a bidirectional control, or made only of invisible characters.
pub fn check_not_spoofing(field: &'static str, value: &str) -> Result<(), DomainError> {
    if value.chars().any(is_bidi_control) {
        return Err(DomainError::validation(
            field,
            "must not contain bidirectional control characters (U+202A-U+202E, U+2066-U+2069, \
             U+200E, U+200F, U+061C)",
        ));
    }
    if value.chars().all(is_invisible) {
        return Err(DomainError::validation(
            field,
            "must contain a visible character (not only spaces or zero-width characters)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_width_only_text_is_refused() {
        for value in ["\u{200B}\u{200B}", "\u{FEFF}", " \u{2060} ", "\u{3164}", ""] {
            assert!(check_not_spoofing("title", value).is_err(), "{value:?}");
        }
    }

    #[test]
    fn bidi_controls_are_refused_anywhere() {
        for value in ["Chole\u{202E}gpj.exe", "\u{2066}x\u{2069}", "a\u{200F}b"] {
            assert!(check_not_spoofing("title", value).is_err(), "{value:?}");
        }
    }

    #[test]
    fn ordinary_names_in_any_script_pass() {
        for value in [
            "Dr Müller",
            "Лапароскопия",
            "手術",
            "Dr O'Neil",
            "a\u{200D}b",
        ] {
            assert!(check_not_spoofing("title", value).is_ok(), "{value:?}");
        }
    }
}
