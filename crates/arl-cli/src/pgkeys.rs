//! The key store of a sealing ledger on PostgreSQL, as arl-privacy asks for it: arl-pg
//! stores the rows (it knows nothing of subjects or keys), arl-privacy seals and opens;
//! this joins the two.

use arl_pg::{KeyRow, PgKeys};
use arl_privacy::seal::{Key, KEY_BYTES};
use arl_privacy::{KeyState, PrivacyError, SharedKeys, Subject, SubjectKind};

/// [`PgKeys`] as the key store the nodes of a shared log share.
pub struct SharedPgKeys(pub PgKeys);

/// The subject kind's code in `arl_keys.kind` (the key file's codes).
fn kind_code(kind: SubjectKind) -> i16 {
    match kind {
        SubjectKind::Contact => 1,
        SubjectKind::Person => 2,
    }
}

fn failed(e: &arl_log::LogError) -> PrivacyError {
    PrivacyError::Shared {
        what: e.to_string(),
    }
}

fn key_of(bytes: Vec<u8>) -> Result<Key, PrivacyError> {
    let bytes: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| PrivacyError::Shared {
        what: "a key in arl_keys is not 32 bytes".into(),
    })?;
    Ok(Key::from_bytes(bytes))
}

/// A row's key state: live with its key, or erased at a time.
fn state_of(row: KeyRow) -> Result<KeyState, PrivacyError> {
    match (row.key, row.erased_at) {
        (Some(bytes), None) => Ok(KeyState::Live(key_of(bytes)?)),
        (None, Some(at_micros)) => Ok(KeyState::Erased { at_micros }),
        _ => Err(PrivacyError::Shared {
            what: format!("row {} of arl_keys is neither live nor erased", row.n),
        }),
    }
}

impl SharedKeys for SharedPgKeys {
    fn seals(&self) -> Result<bool, PrivacyError> {
        self.0.seals().map_err(|e| failed(&e))
    }

    fn turn_on(&self) -> Result<(), PrivacyError> {
        let now = arl_domain::Timestamp::now().0;
        self.0.turn_on(now).map_err(|e| failed(&e))
    }

    fn state(&self, subject: &Subject) -> Result<Option<KeyState>, PrivacyError> {
        let row = self.0.row(kind_code(subject.kind), &subject.id);
        row.map_err(|e| failed(&e))?.map(state_of).transpose()
    }

    fn key_for(&self, subject: &Subject) -> Result<(u32, Key), PrivacyError> {
        let fresh = Key::random()?;
        let row = self
            .0
            .row_or_insert(kind_code(subject.kind), &subject.id, fresh.bytes())
            .map_err(|e| failed(&e))?;
        let n = u32::try_from(row.n).map_err(|_| PrivacyError::Shared {
            what: format!("arl_keys holds the negative key reference {}", row.n),
        })?;
        match state_of(row)? {
            KeyState::Live(key) => Ok((n, key)),
            KeyState::Erased { .. } => Err(PrivacyError::Erased {
                subject: subject.clone(),
            }),
        }
    }

    fn erase(&self, subject: &Subject, at_micros: i64) -> Result<bool, PrivacyError> {
        self.0
            .erase(kind_code(subject.kind), &subject.id, at_micros)
            .map_err(|e| failed(&e))
    }

    fn key(&self, n: u32, subject: &Subject) -> Result<Option<Key>, PrivacyError> {
        let Ok(n) = i32::try_from(n) else {
            return Ok(None);
        };
        self.0
            .key(n, kind_code(subject.kind), &subject.id)
            .map_err(|e| failed(&e))?
            .map(key_of)
            .transpose()
    }
}
