//! Identifiers and the limits on names and free text.

/// Longest identifier (`account`, `person`, `contact`, `txn`, `manager`, `parent`).
pub const ID_CHARS_MAX: usize = 64;
/// Longest idempotency key (`id`).
pub const EVENT_ID_CHARS_MAX: usize = 128;
/// Longest account name.
pub const NAME_CHARS_MAX: usize = 200;
/// Longest person or contact name, title, reference or description.
pub const TEXT_CHARS_MAX: usize = 200;
/// Longest free-text reason.
pub const REASON_CHARS_MAX: usize = 1024;
/// Longest custom classification category.
pub const CATEGORY_CHARS_MAX: usize = 64;
/// Longest actor.
pub const ACTOR_CHARS_MAX: usize = 128;

/// The prefix of a personal field as stored: sealed under its data subject's key.
pub const SEALED_PREFIX: &str = "arl:sealed:v1:";
/// Longest sealed value after the prefix, in base64url characters: a 200-character field
/// of 4-byte characters (800 bytes) with the key reference, nonce and tag (844 bytes).
pub const SEALED_BODY_CHARS_MAX: usize = 1_200;

/// True when `body` (a sealed value without [`SEALED_PREFIX`]) is 1 to
/// [`SEALED_BODY_CHARS_MAX`] base64url characters, without padding.
pub fn is_sealed_body(body: &str) -> bool {
    (1..=SEALED_BODY_CHARS_MAX).contains(&body.len())
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// True when `text` is a valid identifier: 1–64 ASCII letters, digits, `.`, `_`, `-`,
/// starting with a letter or digit.
pub fn is_valid_id(text: &str) -> bool {
    is_valid_id_bytes(text.as_bytes())
}

/// [`is_valid_id`] of bytes: true only for the bytes of a valid id, which are ASCII (and so
/// UTF-8) whenever it holds.
pub fn is_valid_id_bytes(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.len() <= ID_CHARS_MAX
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// True when `text` is a valid idempotency key: 1–128 printable ASCII characters.
pub fn is_valid_event_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= EVENT_ID_CHARS_MAX
        && text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// True when `text` is an ISO 3166-1 alpha-2 shape: two upper-case ASCII letters.
pub fn is_valid_country(text: &str) -> bool {
    text.len() == 2 && text.bytes().all(|b| b.is_ascii_uppercase())
}

/// Number of characters (not bytes) in `text`.
pub fn chars(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in [
            "a",
            "acme",
            "acme-de",
            "x.y_z-1",
            "9lives",
            &"a".repeat(ID_CHARS_MAX),
        ] {
            assert!(is_valid_id(ok), "{ok}");
        }
        for bad in [
            "",
            "-acme",
            ".x",
            "_x",
            "a b",
            "ä",
            "a/b",
            &"a".repeat(ID_CHARS_MAX + 1),
        ] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn event_ids_and_countries() {
        assert!(is_valid_event_id("crm 7781/x"));
        assert!(is_valid_event_id(&"k".repeat(EVENT_ID_CHARS_MAX)));
        assert!(!is_valid_event_id(&"k".repeat(EVENT_ID_CHARS_MAX + 1)));
        assert!(!is_valid_event_id("tab\there"));
        assert!(!is_valid_event_id(""));
        assert!(is_valid_country("DE"));
        assert!(!is_valid_country("de"));
        assert!(!is_valid_country("DEU"));
    }
}
