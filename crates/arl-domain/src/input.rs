//! One input line of `arl append` (contract §2), parsed and checked for shape.

use crate::ids::{self, is_valid_event_id};
use crate::{DomainError, Event, Timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Longest input line, in bytes (64 KiB).
pub const LINE_BYTES_MAX: usize = 64 * 1024;

/// A line's fields; those that are only read (the type and the times) borrow from the line
/// unless they hold escapes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    data: &'a RawValue,
    #[serde(default, borrow)]
    effective_at: Option<Cow<'a, str>>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    expected_version: Option<u64>,
    #[serde(default, borrow)]
    recorded_at: Option<Cow<'a, str>>,
}

/// Lines at least this many are parsed on two threads by [`parse_lines`].
pub const PARALLEL_LINES_MIN: usize = 4096;

/// Parses many lines with [`InputEvent::parse_line`], the two halves on two threads when
/// there are [`PARALLEL_LINES_MIN`] or more. The error is that of the first bad line, with
/// its index in `lines`.
pub fn parse_lines(
    lines: &[&str],
    imported: bool,
) -> Result<Vec<InputEvent>, (usize, DomainError)> {
    /// Parses `lines` (the first at position `first`) into a vector with room for
    /// `capacity` events, so that the halves of a large input join without growing it.
    fn in_order(
        lines: &[&str],
        imported: bool,
        first: usize,
        capacity: usize,
    ) -> Result<Vec<InputEvent>, (usize, DomainError)> {
        let mut events = Vec::with_capacity(capacity);
        for (i, line) in lines.iter().enumerate() {
            events.push(InputEvent::parse_line(line, imported).map_err(|e| (first + i, e))?);
        }
        Ok(events)
    }
    if lines.len() < PARALLEL_LINES_MIN {
        return in_order(lines, imported, 0, lines.len());
    }
    let (front, back) = lines.split_at(lines.len() / 2);
    let (front, back) = arl_par::join(
        || in_order(front, imported, 0, lines.len()),
        || in_order(back, imported, front.len(), back.len()),
    );
    let mut events = front?;
    events.extend(back?);
    Ok(events)
}

/// The id `--batch-size` gives a line without one: `line-<n>-<first 16 hex digits of the
/// blake3 hash of the line>`. The same line at the same place gets the same id on a rerun.
pub fn line_id(line: u64, text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = blake3::hash(text.as_bytes());
    // "line-", 20 digits at most, "-", 16 hex digits.
    let mut id = String::with_capacity(42);
    let _ = write!(id, "line-{line}-"); // writing to a String cannot fail
    for byte in &hash.as_bytes()[..8] {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    id
}

impl<'a> Line<'a> {
    /// Parses a line that plain parsing rejected again, tracking the path, so the error
    /// names the field (or, for bad JSON, says what is wrong without a position).
    fn parse_reporting(line: &'a str) -> Result<Line<'a>, DomainError> {
        let mut deserializer = serde_json::Deserializer::from_str(line);
        let raw: Line = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            if e.inner().is_syntax() || e.inner().is_eof() {
                DomainError::Json {
                    message: strip_position(&e.inner().to_string()),
                }
            } else {
                DomainError::Shape {
                    message: format!(
                        "not a valid event (JSON): {}",
                        describe(&e.path().to_string(), e.inner(), "the line")
                    ),
                }
            }
        })?;
        deserializer.end().map_err(|e| DomainError::Json {
            message: strip_position(&e.to_string()),
        })?;
        Ok(raw)
    }
}

/// An input event after parsing: typed data plus the envelope fields the caller gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputEvent {
    pub event: Event,
    pub effective_at: Option<Timestamp>,
    pub id: Option<String>,
    pub actor: Option<String>,
    pub reason: Option<String>,
    pub expected_version: Option<u64>,
    pub recorded_at: Option<Timestamp>,
}

impl InputEvent {
    /// Parses one line. `imported` says whether `recorded_at` is required (true) or forbidden.
    pub fn parse_line(line: &str, imported: bool) -> Result<InputEvent, DomainError> {
        if line.len() > LINE_BYTES_MAX {
            return Err(DomainError::LineTooLong {
                bytes: line.len() as u64,
            });
        }
        let raw: Line = match serde_json::from_str(line) {
            Ok(raw) => raw,
            Err(_) => Line::parse_reporting(line)?,
        };
        let event = Event::parse(&raw.kind, raw.data.get())?;
        let time = |field: &'static str, text: &str| {
            Timestamp::parse_input(text).map_err(|error| DomainError::Time { field, error })
        };
        let effective_at = raw
            .effective_at
            .as_deref()
            .map(|t| time("effective_at", t))
            .transpose()?;
        let recorded_at = match (imported, raw.recorded_at.as_deref()) {
            (true, Some(text)) => Some(time("recorded_at", text)?),
            (true, None) => {
                return Err(DomainError::Envelope {
                    field: "recorded_at",
                    rule: "--imported needs recorded_at on every line",
                })
            }
            (false, Some(_)) => {
                return Err(DomainError::Envelope {
                    field: "recorded_at",
                    rule: "recorded_at is set by the ledger; use --imported to migrate history",
                })
            }
            (false, None) => None,
        };
        if let Some(id) = &raw.id {
            if !is_valid_event_id(id) {
                return Err(DomainError::Envelope {
                    field: "id",
                    rule: "an id is 1-128 printable ASCII characters",
                });
            }
        }
        if let Some(reason) = &raw.reason {
            if ids::chars(reason) > ids::REASON_CHARS_MAX {
                return Err(DomainError::Envelope {
                    field: "reason",
                    rule: "a reason is at most 1,024 characters",
                });
            }
        }
        if let Some(actor) = &raw.actor {
            if actor.is_empty()
                || ids::chars(actor) > ids::ACTOR_CHARS_MAX
                || actor.chars().any(char::is_control)
            {
                return Err(DomainError::Envelope {
                    field: "actor",
                    rule: "an actor is 1-128 characters without control characters",
                });
            }
        }
        Ok(InputEvent {
            event,
            effective_at,
            id: raw.id,
            actor: raw.actor,
            reason: raw.reason,
            expected_version: raw.expected_version,
            recorded_at,
        })
    }
}

/// A serde error as a message that names the field: `field `name`: invalid type: integer
/// `5`, expected a string`. The position serde adds counts inside the JSON text, which would
/// clash with the input line number, so it is left out.
pub(crate) fn describe(path: &str, error: &serde_json::Error, whole: &str) -> String {
    let message = strip_position(&error.to_string());
    if message.starts_with("unknown field") {
        // serde's message names the field already.
        return message;
    }
    if path.is_empty() || path == "." {
        format!("{whole}: {message}")
    } else {
        format!("field `{path}`: {message}")
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids given to lines stay what they were (a rerun of an import finds the lines
    /// committed before by them): `line-<n>-` and the first 16 hex digits of the line's
    /// blake3 hash, here against the hash's own hex form.
    #[test]
    fn a_line_id_is_its_number_and_the_start_of_its_hash() {
        for (line, text) in [
            (1, ""),
            (7, "{\"type\":\"person.joined\"}"),
            (123_456_789, "é and ünïcode"),
            (u64::MAX, "x"),
        ] {
            let hex = blake3::hash(text.as_bytes()).to_hex();
            assert_eq!(line_id(line, text), format!("line-{line}-{}", &hex[..16]));
        }
        assert_eq!(
            line_id(1, ""),
            "line-1-af1349b9f5f9a1a6",
            "blake3 of nothing starts af1349b9f5f9a1a6"
        );
    }

    fn check(line: &str, imported: bool, expected: Result<&str, &str>) {
        match (InputEvent::parse_line(line, imported), expected) {
            (Ok(e), Ok(data)) => assert_eq!(e.event.data_json(), data, "{line}"),
            (Err(e), Err(fragment)) => assert!(
                e.to_string().contains(fragment),
                "{line}: {e} lacks {fragment:?}"
            ),
            (got, want) => panic!("{line}: got {got:?}, want {want:?}"),
        }
    }

    /// A large input parses on two threads into what parsing line by line gives, and its
    /// error is the first bad line's, in either half.
    #[test]
    fn large_inputs_parse_as_line_by_line() {
        let lines: Vec<String> = (0..10_000)
            .map(|i| {
                format!(
                    r#"{{"type":"person.joined","data":{{"person":"p{i}","name":"P {i}"}},"effective_at":"2024-01-01"}}"#
                )
            })
            .collect();
        let texts: Vec<&str> = lines.iter().map(String::as_str).collect();
        let one_by_one: Vec<InputEvent> = texts
            .iter()
            .map(|l| InputEvent::parse_line(l, false).unwrap())
            .collect();
        assert_eq!(parse_lines(&texts, false).unwrap(), one_by_one);
        for bad in [[7_000, 9_000], [10, 7_000], [4_999, 5_000]] {
            let mut texts = texts.clone();
            for at in bad {
                texts[at] = r#"{"type":"person.joined","data":{"person":"x"}}"#;
            }
            assert_eq!(parse_lines(&texts, false).map_err(|e| e.0), Err(bad[0]));
        }
    }

    #[test]
    fn lines() {
        check(
            r#"{"type":"team.assigned","data":{"role":"media","account":"acme","person":"jdoe"},"effective_at":"2024-03-01"}"#,
            false,
            Ok(r#"{"account":"acme","person":"jdoe","primary":false,"role":"media"}"#),
        );
        check(
            r#"{"type":"account.opened","data":{"account":"acme","name":"ACME","scope":"global"}}"#,
            false,
            Ok(r#"{"account":"acme","name":"ACME","scope":"global","status":"active"}"#),
        );
        check(
            r#"{"type":"account.parent_changed","data":{"account":"a","parent":null}}"#,
            false,
            Ok(r#"{"account":"a","parent":null}"#),
        );
        check(
            r#"{"type":"account.parent_changed","data":{"account":"a"}}"#,
            false,
            Err("missing field `parent`"),
        );
        check(
            r#"{"type":"person.left","data":{"person":"p","x":1}}"#,
            false,
            Err("unknown field `x`"),
        );
        check(
            r#"{"type":"person.left","data":{"person":"p"},"colour":1}"#,
            false,
            Err("unknown field `colour`"),
        );
        check(
            r#"{"type":"person.sang","data":{"person":"p"}}"#,
            false,
            Err("unknown event type"),
        );
        check(
            r#"{"type":"person.left","data":{"person":"p"},"recorded_at":"2024-01-01"}"#,
            false,
            Err("--imported"),
        );
        check(
            r#"{"type":"person.left","data":{"person":"p"}}"#,
            true,
            Err("needs recorded_at"),
        );
        check(
            r#"{"type":"person.left","data":{"person":"p"},"effective_at":"2024-13-01"}"#,
            false,
            Err("not a valid time"),
        );
        check(
            r#"{"type":"person.left","data":{"person":"-p"}}"#,
            false,
            Err("an id is"),
        );
        check(
            r#"{"type":"transaction.recorded","data":{"account":"a","txn":"t","kind":"sale","amount":"1.005","currency":"EUR"}}"#,
            false,
            Err("more decimals"),
        );
        check(
            r#"{"type":"transaction.recorded","data":{"account":"a","txn":"t","kind":"sale","amount":"1","currency":"EUX"}}"#,
            false,
            Err("unknown currency"),
        );
        check(
            r#"{"type":"account.classified","data":{"account":"a","key_account":true,"model":"st-gallen"}}"#,
            false,
            Err("both"),
        );
        check(
            r#"{"type":"account.classified","data":{"account":"a","key_account":true,"model":"st-gallen","category":"mid-kam"}}"#,
            false,
            Err("belong to the model"),
        );
        check("{", false, Err("not valid JSON"));
        check(
            r#"{"type":"person.left","data":{"person":"p"}} x"#,
            false,
            Err("trailing characters"),
        );
        check(
            r#"{"type":"person.left","data":{"person":"p"},"expected_version":"1"}"#,
            false,
            Err("field `expected_version`"),
        );
        check(
            r#"{"type":"person.joined","data":{"person":"p","name":5}}"#,
            false,
            Err("field `name`: invalid type"),
        );
        let long = format!(
            r#"{{"type":"person.left","data":{{"person":"p"}},"reason":"{}"}}"#,
            "r".repeat(LINE_BYTES_MAX)
        );
        check(&long, false, Err("64 KiB"));
    }
}
