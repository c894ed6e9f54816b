//! The account relationship domain of arl: the event catalogue, identifiers, money, time
//! and the rules of the contract's §3 as pure functions.
//!
//! Main types: [`Event`] (typed data of every event type), [`InputEvent`] (one input line),
//! [`Timestamp`], [`money::Currency`], and [`RuleError`] (a broken rule, with its facts).
//!
//! ```
//! use arl_domain::{Event, InputEvent};
//! let line = r#"{"type":"team.assigned","data":{"account":"acme","person":"jdoe","role":"media"}}"#;
//! let input = InputEvent::parse_line(line, false).unwrap();
//! assert_eq!(input.event.stream(), "account/acme");
//! assert_eq!(input.event.data_json(), r#"{"account":"acme","person":"jdoe","primary":false,"role":"media"}"#);
//! ```

pub mod event;
pub mod ids;
pub mod input;
pub mod money;
pub mod rules;
pub mod time;

pub use event::*;
pub use input::{line_id, parse_lines, InputEvent, LINE_BYTES_MAX};
pub use rules::RuleError;
pub use time::{Period, Timestamp};

/// An input that is not a well-formed event (before any rule that needs state).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    #[error("not valid JSON: {message}")]
    Json { message: String },
    #[error("line is {bytes} bytes; the limit is 64 KiB (65,536 bytes)")]
    LineTooLong { bytes: u64 },
    #[error("unknown event type {kind:?}: use one of the catalogue (account.opened, team.assigned, transaction.recorded, ...)")]
    UnknownType { kind: String },
    #[error("{kind}: bad data: {message}")]
    Data { kind: String, message: String },
    #[error("{message}")]
    Shape { message: String },
    #[error("{kind}: {field} {value:?}: {rule}")]
    Field {
        kind: &'static str,
        field: &'static str,
        value: String,
        rule: &'static str,
    },
    #[error("{kind}: {error}")]
    Money {
        kind: &'static str,
        error: money::MoneyError,
    },
    #[error("{field}: {error}")]
    Time {
        field: &'static str,
        error: time::TimeError,
    },
    #[error("{field}: {rule}")]
    Envelope {
        field: &'static str,
        rule: &'static str,
    },
}
