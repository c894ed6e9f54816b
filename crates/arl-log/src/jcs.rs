//! RFC 8785 JSON Canonicalization Scheme (JCS): object members sorted by the UTF-16 code
//! units of their names, no white space, strings escaped minimally, numbers written as
//! ECMAScript writes an IEEE 754 double.

use serde_json::{Number, Value};

/// Integers up to this magnitude are exact in an IEEE 754 double and are written as is.
const EXACT_INTEGER_MAX: u64 = 1 << 53;

/// Returns the RFC 8785 canonical form of `v`.
///
/// Integers beyond ±2^53 and non-integers are written as the double they denote, the way
/// ECMAScript's `Number.prototype.toString` writes it, as RFC 8785 §3.2.2.3 requires.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

/// Whether `text` is a JSON object already in canonical form.
pub fn is_canonical_object(text: &str) -> bool {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => canonical_json(&v) == text,
        _ => false,
    }
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (name, value)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, name);
                out.push(':');
                write_value(out, value);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, n: &Number) {
    use std::fmt::Write;
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= EXACT_INTEGER_MAX {
            let _ = write!(out, "{i}");
            return;
        }
    } else if let Some(u) = n.as_u64() {
        if u <= EXACT_INTEGER_MAX {
            let _ = write!(out, "{u}");
            return;
        }
    }
    // serde_json numbers are always finite.
    write_double(out, n.as_f64().unwrap_or(0.0));
}

/// ECMAScript Number::toString for a finite double (ECMA-262 §6.1.6.1.20).
fn write_double(out: &mut String, f: f64) {
    if f == 0.0 {
        out.push('0');
        return;
    }
    if f < 0.0 {
        out.push('-');
    }
    // `{:e}` gives the shortest digits that round-trip, e.g. "1.2345e-7".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i64;
    let n = exponent.parse::<i64>().unwrap_or(0) + 1;
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        out.push_str(&(n - 1).abs().to_string());
    }
}

/// Writes `s` as a JSON string with the escapes RFC 8785 prescribes: `\"`, `\\`, the short
/// forms `\b \t \n \f \r`, `\u00xx` (lower-case hex) for other control characters, and every
/// other character as itself.
pub(crate) fn write_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x09 => "\\t",
            0x0a => "\\n",
            0x0c => "\\f",
            0x0d => "\\r",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// [`write_str`] into bytes: the same escapes, copying runs that need none at once.
pub(crate) fn write_str_bytes(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    // Most strings need no escape: check eight bytes at a time, then copy them at once.
    if !needs_escape(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether any byte is below 0x20, `"` or `\\`.
fn needs_escape(bytes: &[u8]) -> bool {
    first_special(bytes).is_some()
}

/// Where the first byte below 0x20, `"` or `\\` is, eight bytes per step. A byte of `v`
/// is zero exactly when the top bit of `(v - 0x01..) & !v & 0x80..` is set, counting from
/// the lowest byte that is (a borrow only marks bytes above a true one); the same holds for
/// bytes below 0x20 with `(v - 0x20..) & !v & 0x80..`.
fn first_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        let low = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let found = low
            | zero_byte(x ^ (ONES * u64::from(b'"')))
            | zero_byte(x ^ (ONES * u64::from(b'\\')));
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
        .map(|i| at + i)
}

/// Writes `n` in decimal.
pub(crate) fn write_u64_bytes(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

/// A reader of JSON in the canonical form [`canonical_json`] writes, for the hot paths that
/// read stored envelopes back. The caller says what comes next, member by member; the reader
/// takes exactly that and gives up (`None`) on anything else, escaped strings included, so
/// that the caller falls back to a full JSON parser, which accepts or explains. Whatever it
/// accepts, a full parser reads the same way.
#[derive(Debug, Clone)]
pub struct CanonicalReader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> CanonicalReader<'a> {
    pub fn new(text: &'a str) -> Self {
        CanonicalReader { text, at: 0 }
    }

    /// Whether all of the text was read.
    pub fn at_end(&self) -> bool {
        self.at == self.text.len()
    }

    /// Takes `literal` (punctuation and member names) if it comes next.
    pub fn accept(&mut self, literal: &str) -> bool {
        let found = self.text.as_bytes()[self.at..].starts_with(literal.as_bytes());
        if found {
            self.at += literal.len();
        }
        found
    }

    /// Takes `literal`, which must come next.
    pub fn expect(&mut self, literal: &str) -> Option<()> {
        self.accept(literal).then_some(())
    }

    /// A string without escapes; its contents.
    pub fn string(&mut self) -> Option<&'a str> {
        self.expect("\"")?;
        let bytes = &self.text.as_bytes()[self.at..];
        let len = first_special(bytes)?;
        if bytes[len] != b'"' {
            return None;
        }
        // Both ends sit next to an ASCII quote, so on character boundaries.
        let s = self.text.get(self.at..self.at + len)?;
        self.at += len + 1;
        Some(s)
    }

    /// `null` or a string without escapes.
    pub fn nullable_string(&mut self) -> Option<Option<&'a str>> {
        if self.accept("null") {
            return Some(None);
        }
        self.string().map(Some)
    }

    /// An unsigned integer (no sign, no leading zero, no fraction or exponent).
    pub fn uint(&mut self) -> Option<u64> {
        let bytes = &self.text.as_bytes()[self.at..];
        let len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 || (len > 1 && bytes[0] == b'0') {
            return None;
        }
        if matches!(bytes.get(len), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let mut n = 0u64;
        for b in &bytes[..len] {
            n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        }
        self.at += len;
        Some(n)
    }

    /// `true` or `false`.
    pub fn boolean(&mut self) -> Option<bool> {
        if self.accept("true") {
            Some(true)
        } else if self.accept("false") {
            Some(false)
        } else {
            None
        }
    }

    /// An object, as its text. Only its nesting and its strings' ends are followed
    /// (strings in it may hold escapes); whoever reads the object checks the rest.
    pub fn object(&mut self) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        if bytes.get(self.at) != Some(&b'{') {
            return None;
        }
        let (mut i, mut depth) = (self.at, 0usize);
        loop {
            match *bytes.get(i)? {
                b'"' => {
                    // To the string's closing quote, stepping over escapes.
                    i += 1;
                    loop {
                        i += first_special(bytes.get(i..)?)?;
                        match bytes[i] {
                            b'"' => break,
                            b'\\' => i += 2,
                            _ => return None,
                        }
                    }
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        if bytes[i] != b'}' {
                            return None;
                        }
                        let s = self.text.get(self.at..=i)?;
                        self.at = i + 1;
                        return Some(s);
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
}

#[cfg(test)]
// The table-driven checks take their expected values by value, written as literals.
#[allow(clippy::needless_pass_by_value)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(input: Value, expected: &str) {
        assert_eq!(canonical_json(&input), expected);
    }

    #[test]
    fn sorts_and_compacts() {
        check(
            json!({"b": [1, {"z": null, "a": true}], "a": "x"}),
            r#"{"a":"x","b":[1,{"a":true,"z":null}]}"#,
        );
        check(json!({}), "{}");
    }

    #[test]
    fn escapes_strings_minimally() {
        check(
            json!("\u{1}\u{8}\t\n\u{c}\r\"\\/é\u{7f}\u{2028}"),
            "\"\\u0001\\b\\t\\n\\f\\r\\\"\\\\/é\u{7f}\u{2028}\"",
        );
    }

    #[test]
    fn sorts_by_utf16_code_units() {
        // U+1F600 is D83D DE00 in UTF-16, which sorts before U+FB01 (a ligature).
        check(
            json!({"\u{fb01}": 1, "\u{1f600}": 2}),
            "{\"\u{1f600}\":2,\"\u{fb01}\":1}",
        );
    }

    #[test]
    fn numbers_as_ecmascript() {
        check(json!(0.0), "0");
        check(json!(-0.0), "0");
        check(json!(1.5), "1.5");
        check(json!(-12.25), "-12.25");
        check(json!(1e21), "1e+21");
        check(json!(1e20), "100000000000000000000");
        check(json!(1e-7), "1e-7");
        check(json!(0.000001), "0.000001");
        check(json!(123456789012345680000.0), "123456789012345680000");
        check(json!(9007199254740993u64), "9007199254740992");
        check(json!(-9007199254740992i64), "-9007199254740992");
        check(json!(5e-324), "5e-324");
        check(json!(1.7976931348623157e308), "1.7976931348623157e+308");
    }

    #[test]
    fn byte_writers_agree() {
        for s in [
            "",
            "plain",
            "\u{1}\u{8}\t\n\u{c}\r\"\\/é\u{7f}\u{1f}x",
            "a\"b",
        ] {
            let mut text = String::new();
            write_str(&mut text, s);
            let mut bytes = Vec::new();
            write_str_bytes(&mut bytes, s);
            assert_eq!(text.as_bytes(), bytes.as_slice());
        }
        for i in 0..=255u8 {
            for at in 0..17 {
                let mut s = vec![b'a'; 17];
                s[at] = i;
                let expected = i < 0x20 || i == b'"' || i == b'\\';
                assert_eq!(needs_escape(&s), expected, "{i} at {at}");
            }
        }
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            let mut bytes = Vec::new();
            write_u64_bytes(&mut bytes, n);
            assert_eq!(bytes, n.to_string().into_bytes());
        }
    }

    #[test]
    fn canonical_object_check() {
        assert!(is_canonical_object(r#"{"a":1,"b":"x"}"#));
        assert!(!is_canonical_object(r#"{"b":1,"a":"x"}"#));
        assert!(!is_canonical_object(r#"{"a": 1}"#));
        assert!(!is_canonical_object("[1]"));
        assert!(!is_canonical_object("{"));
    }
}
