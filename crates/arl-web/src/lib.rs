//! `arl-web`: the read-only web page of `arl serve`, for directors and auditors.
//!
//! The page is one HTML document, one style sheet and one script, written by hand and
//! embedded in the binary (no CDN, no network at run time, no Node.js to build). The
//! script asks only the HTTP API (`/v1/...`) with the bearer token the user signs in with;
//! every view is a URL (`/accounts/globex-de?as_of=2023-07-01&known_at=2023-07-05`).
//! The server calls [`asset`] for every `GET` that is not an API path and sends the answer
//! with [`SECURITY_HEADERS`]. What each page shows: `docs/WEB.md`.
//!
//! ```
//! let page = arl_web::asset("/accounts/globex-de").expect("a page URL serves the app");
//! assert_eq!(page.content_type, "text/html; charset=utf-8");
//! let script = arl_web::asset("/assets/app.js").expect("the script");
//! assert_eq!(script.content_type, "text/javascript; charset=utf-8");
//! assert!(arl_web::asset("/nothing-here").is_none());
//! ```

/// One file to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The bytes, as committed.
    pub body: &'static [u8],
    /// The `ETag` header (quoted): a hash of the bytes, so a client revalidates cheaply.
    pub etag: &'static str,
    /// The `Cache-Control` header.
    pub cache_control: &'static str,
}

/// Headers sent with every page and asset: a strict Content-Security-Policy (scripts and
/// styles only from this server, no inline script, no framing, requests only to this
/// server), no MIME sniffing, no referrer (a URL never carries a token, but it names
/// accounts).
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
];

/// The first path segments that are pages of the app (each serves the index).
pub const PAGE_ROOTS: &[&str] = &["", "accounts", "people", "org"];

/// Longest path this crate looks at; longer ones are not pages.
pub const PATH_BYTES_MAX: usize = 1024;

const INDEX_HTML: &[u8] = include_bytes!("../assets/index.html");
const APP_JS: &[u8] = include_bytes!("../assets/app.js");
const APP_CSS: &[u8] = include_bytes!("../assets/app.css");
const ICON_SVG: &[u8] = include_bytes!("../assets/icon.svg");

/// Revalidate every time: an ETag match costs one round trip and no body.
const REVALIDATE: &str = "no-cache";

macro_rules! asset {
    ($content_type:expr, $body:expr) => {{
        const HASH: [u8; 18] = etag_of($body);
        Asset {
            content_type: $content_type,
            body: $body,
            etag: match std::str::from_utf8(&HASH) {
                Ok(text) => text,
                Err(_) => panic!("an ETag is ASCII"),
            },
            cache_control: REVALIDATE,
        }
    }};
}

/// The file for `path` (no query string), or `None` when the path is neither an asset nor
/// a page of the app.
pub fn asset(path: &str) -> Option<Asset> {
    if path.len() > PATH_BYTES_MAX {
        return None;
    }
    match path {
        "/assets/app.js" => return Some(asset!("text/javascript; charset=utf-8", APP_JS)),
        "/assets/app.css" => return Some(asset!("text/css; charset=utf-8", APP_CSS)),
        "/assets/icon.svg" | "/favicon.ico" => return Some(asset!("image/svg+xml", ICON_SVG)),
        _ => {}
    }
    let first = path.strip_prefix('/')?.split('/').next().unwrap_or("");
    PAGE_ROOTS
        .contains(&first)
        .then(|| asset!("text/html; charset=utf-8", INDEX_HTML))
}

/// `"` + 16 hex digits of the FNV-1a hash of `bytes` + `"`, computed at compile time.
const fn etag_of(bytes: &[u8]) -> [u8; 18] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'"'; 18];
    let mut digit = 0;
    while digit < 16 {
        out[1 + digit] = HEX[((hash >> (60 - 4 * digit)) & 0xf) as usize];
        digit += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_serve_the_index_and_other_paths_nothing() {
        for path in [
            "/",
            "/accounts",
            "/accounts/globex-de",
            "/people/ben",
            "/org",
        ] {
            let page = asset(path).unwrap_or_else(|| panic!("{path} is a page"));
            assert_eq!(page.body, INDEX_HTML, "{path}");
        }
        for path in ["", "/v2", "/accountsx", "/.env", &"/accounts/x".repeat(200)] {
            assert!(asset(path).is_none(), "{path} is not a page");
        }
    }

    #[test]
    fn etags_differ_by_content_and_are_quoted_hex() {
        let js = asset("/assets/app.js").expect("script");
        let css = asset("/assets/app.css").expect("style");
        assert_ne!(js.etag, css.etag);
        assert_eq!(js.etag.len(), 18);
        assert!(js.etag.starts_with('"') && js.etag.ends_with('"'));
        assert!(js.etag[1..17].bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn the_index_has_no_inline_script_or_style() {
        let html = std::str::from_utf8(INDEX_HTML).expect("UTF-8");
        assert!(html.contains(r#"<script src="/assets/app.js" defer></script>"#));
        assert_eq!(
            html.matches("<script").count(),
            1,
            "only the external script"
        );
        assert!(!html.contains("<style"), "no inline style element");
        assert!(!html.contains("style="), "no style attribute");
        for handler in [
            "onclick=",
            "onload=",
            "onsubmit=",
            "onerror=",
            "javascript:",
        ] {
            assert!(!html.contains(handler), "no inline handler {handler}");
        }
    }
}
