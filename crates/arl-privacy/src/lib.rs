//! `arl-privacy`: personal fields sealed under a key per data subject, so that erasing a
//! person's data is destroying one key (crypto-shredding) while the log, its hash chain,
//! its Merkle tree and every proof stay as they are.
//!
//! - [`seal`]: the sealed form `arl:sealed:v1:<base64url>` (XChaCha20-Poly1305, a nonce
//!   derived from key and plaintext, so equal fields seal equally and idempotency holds).
//! - [`KeyStore`] / [`KeyReader`]: `<ledger>/keys`, fixed-size records, erased in place;
//!   [`KeyHome`]: that file, or a table a shared log's nodes share ([`SharedKeys`]).
//! - [`seal_event`]: what the append path does to an input event before the log plans it.
//! - [`Unsealer`], [`UnsealedSource`]: what the query side does to show names: sealed
//!   fields opened where the key lives, [`ERASED`] where it was destroyed; [`mark_erased`]
//!   turns that into `"name": null, "erased": true` in JSON.
//!
//! The personal fields are the `name` of `contact.added` and the `name` and `title` of
//! `person.joined` (docs/PRIVACY.md says why these and what else an operator must keep out
//! of free text).
//!
//! ```
//! use arl_privacy::{seal, Subject, SubjectKind};
//! let key = seal::Key::from_bytes([9; 32]);
//! let vogel = Subject::new(SubjectKind::Contact, "k-vogel");
//! let sealed = seal::seal(&key, 0, &vogel, "Karl Vogel");
//! assert!(sealed.starts_with("arl:sealed:v1:") && !sealed.contains("Vogel"));
//! assert_eq!(seal::open(&key, &vogel, &sealed).as_deref(), Some("Karl Vogel"));
//! ```

mod home;
pub mod seal;
mod source;
mod store;

pub use home::{KeyHome, KeyWriter, SharedKeys};
pub use source::{mark_erased, table_text, UnsealedSource, Unsealer, ERASED, ERASED_CELL};
pub use store::{KeyReader, KeyState, KeyStore, HEADER_BYTES, KEYS_FILE, RECORD_BYTES};

use arl_domain::Event;
use std::path::PathBuf;

/// Prefix reserved for the ledger's own markers in personal fields: input may not start a
/// name or title with it.
pub const RESERVED_PREFIX: &str = "arl:";

/// What kind of data subject a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubjectKind {
    /// A person on the customer's side (`contact.added`).
    Contact,
    /// A member of staff (`person.joined`).
    Person,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Contact => "contact",
            SubjectKind::Person => "person",
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            SubjectKind::Contact => 1,
            SubjectKind::Person => 2,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<SubjectKind> {
        match code {
            1 => Some(SubjectKind::Contact),
            2 => Some(SubjectKind::Person),
            _ => None,
        }
    }
}

/// A data subject: a contact or a person of staff, by id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject {
    pub kind: SubjectKind,
    pub id: String,
}

impl Subject {
    pub fn new(kind: SubjectKind, id: &str) -> Subject {
        Subject {
            kind,
            id: id.to_string(),
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.kind.as_str(), self.id)
    }
}

/// What went wrong with sealing, opening or the key store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivacyError {
    /// Reading or writing the key store failed.
    #[error("key store {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A record or the header of the key store does not hold together.
    #[error("key store {} is damaged at byte {offset}: {what}; restore it from a backup that is not older than the last erasure", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: &'static str,
    },
    /// The subject's key was destroyed: nothing more can be sealed for it.
    #[error(
        "{subject} was erased; its data can no longer be recorded under that id (use a new id)"
    )]
    Erased { subject: Subject },
    /// A personal field starts with the reserved prefix.
    #[error("{kind}: field {field} starts with \"arl:\", which the ledger reserves for sealed and erased values; give the text in clear")]
    Reserved {
        kind: &'static str,
        field: &'static str,
    },
    /// `subject.erased` came as input: only `arl erase` records it.
    #[error("subject.erased is recorded by arl erase only (it destroys the key too)")]
    AuditOnly,
    /// The operating system gave no random bytes.
    #[error("no random bytes for a new key: {0}")]
    Random(String),
    /// More subjects than record numbers.
    #[error("the key store holds 2^32 keys; no more subjects can be added")]
    TooManyKeys,
    /// The shared key store (beside a shared log) failed.
    #[error("key store: {what}")]
    Shared { what: String },
}

/// The subject whose key seals the personal fields of `event`, if it has any.
pub fn subject_of(event: &Event) -> Option<Subject> {
    match event {
        Event::ContactAdded(d) => Some(Subject::new(SubjectKind::Contact, &d.contact)),
        Event::PersonJoined(d) => Some(Subject::new(SubjectKind::Person, &d.person)),
        _ => None,
    }
}

/// The personal fields of `event` (mutable), by name.
fn fields_mut(event: &mut Event) -> Vec<(&'static str, &mut String)> {
    match event {
        Event::ContactAdded(d) => vec![("name", &mut d.name)],
        Event::PersonJoined(d) => {
            let mut fields = vec![("name", &mut d.name)];
            if let Some(title) = d.title.as_mut() {
                fields.push(("title", title));
            }
            fields
        }
        _ => Vec::new(),
    }
}

/// The personal fields of `event`, by name: those of [`fields_mut`], read only (a query
/// asks this of every `person.joined` and `contact.added` it reads, so it copies nothing).
fn fields(event: &Event) -> [Option<(&'static str, &str)>; 2] {
    match event {
        Event::ContactAdded(d) => [Some(("name", &d.name)), None],
        Event::PersonJoined(d) => [
            Some(("name", &d.name)),
            d.title.as_deref().map(|title| ("title", title)),
        ],
        _ => [None, None],
    }
}

/// True when every personal field of `event` is in clear (an event written before sealing,
/// or one without personal fields).
pub fn is_clear(event: &Event) -> bool {
    fields(event)
        .into_iter()
        .flatten()
        .all(|(_, value)| !seal::is_sealed(value))
}

/// Seals the personal fields of an input event in place, under its subject's key (staged
/// in `store` when new; the caller commits the store before the log). Refuses
/// `subject.erased` (recorded by `arl erase` only), a field that starts with
/// [`RESERVED_PREFIX`], and a subject whose key was erased.
pub fn seal_event(store: &mut KeyWriter, event: &mut Event) -> Result<(), PrivacyError> {
    if matches!(event, Event::SubjectErased(_)) {
        return Err(PrivacyError::AuditOnly);
    }
    let Some(subject) = subject_of(event) else {
        return Ok(());
    };
    let kind = event.kind();
    for (field, value) in fields_mut(event) {
        if value.starts_with(RESERVED_PREFIX) {
            return Err(PrivacyError::Reserved { kind, field });
        }
    }
    let (key_ref, key) = store.key_for(&subject)?;
    for (_, value) in fields_mut(event) {
        *value = seal::seal(&key, key_ref, &subject, value);
    }
    Ok(())
}

/// Opens the sealed personal fields of `event` in place with `unsealer`; a field whose key
/// was destroyed becomes [`ERASED`]. Returns whether anything changed.
pub fn unseal_event(unsealer: &Unsealer, event: &mut Event) -> Result<bool, PrivacyError> {
    open_fields(unsealer, event, Some(ERASED))
}

/// Opens the sealed personal fields of `event` in place where the key lives; a field whose
/// key was destroyed stays sealed (`arl export --decrypt`). Returns whether anything changed.
pub fn open_event(unsealer: &Unsealer, event: &mut Event) -> Result<bool, PrivacyError> {
    open_fields(unsealer, event, None)
}

fn open_fields(
    unsealer: &Unsealer,
    event: &mut Event,
    erased: Option<&str>,
) -> Result<bool, PrivacyError> {
    let Some(subject) = subject_of(event) else {
        return Ok(false);
    };
    let mut changed = false;
    for (_, value) in fields_mut(event) {
        if !seal::is_sealed(value) {
            continue;
        }
        match (unsealer.open(&subject, value)?, erased) {
            (Some(plain), _) => *value = plain,
            (None, Some(marker)) => *value = marker.to_string(),
            (None, None) => continue,
        }
        changed = true;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, data: &str) -> Event {
        Event::parse(kind, data).expect("a valid event")
    }

    #[test]
    fn fields_and_fields_mut_name_the_same_fields() {
        let events = [
            event(
                "contact.added",
                r#"{"account":"a","contact":"c","name":"N","role":"buyer"}"#,
            ),
            event("person.joined", r#"{"person":"p","name":"N","title":"T"}"#),
            event("person.joined", r#"{"person":"p","name":"N"}"#),
            event(
                "account.opened",
                r#"{"account":"a","name":"A","scope":"global"}"#,
            ),
        ];
        for e in events {
            let read: Vec<(&str, String)> = fields(&e)
                .into_iter()
                .flatten()
                .map(|(name, value)| (name, value.to_string()))
                .collect();
            let mut copy = e.clone();
            let written: Vec<(&str, String)> = fields_mut(&mut copy)
                .into_iter()
                .map(|(name, value)| (name, value.clone()))
                .collect();
            assert_eq!(read, written, "{}", e.kind());
            assert!(is_clear(&e));
        }
    }

    #[test]
    fn an_event_with_a_sealed_field_is_not_clear() {
        let sealed = format!("{}x", arl_domain::ids::SEALED_PREFIX);
        let title = event(
            "person.joined",
            &format!(r#"{{"person":"p","name":"N","title":"{sealed}"}}"#),
        );
        let name = event(
            "contact.added",
            &format!(r#"{{"account":"a","contact":"c","name":"{sealed}","role":"buyer"}}"#),
        );
        assert!(
            seal::is_sealed(&sealed),
            "the test's value must look sealed"
        );
        assert!(!is_clear(&title));
        assert!(!is_clear(&name));
    }
}
