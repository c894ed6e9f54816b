//! The key store of a sealing ledger whose log is in PostgreSQL: a table beside the log
//! (schema version 2), so that every node seals under the same keys, opens the names any
//! node sealed, and sees an erasure made on any node from its next answer on.

use crate::store::backend;
use crate::PgSource;
use arl_log::SharedStore;
use arl_privacy::seal::{Key, KEY_BYTES};
use arl_privacy::{KeyState, PrivacyError, SharedKeys, Subject, SubjectKind};
use postgres::Client;
use std::sync::{Mutex, PoisonError};

/// The keys of the ledger at one PostgreSQL address, through one connection (opened at
/// first use, the schema migrated as a store's open does, and opened again if lost).
pub struct PgKeys {
    source: PgSource,
    client: Mutex<Option<Client>>,
}

impl PgKeys {
    pub fn new(source: PgSource) -> PgKeys {
        PgKeys {
            source,
            client: Mutex::new(None),
        }
    }

    /// Runs `f` on the connection; a connection found lost is opened again once.
    fn with<T>(
        &self,
        doing: &str,
        f: impl Fn(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, PrivacyError> {
        let failed = |what: String| PrivacyError::Shared { what };
        let mut guard = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        let mut tries = 0;
        loop {
            tries += 1;
            let client = match guard.as_mut() {
                Some(client) if !client.is_closed() => client,
                _ => guard.insert(self.connect().map_err(|e| failed(e.to_string()))?),
            };
            match f(client) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    if e.is_closed() || client.is_closed() {
                        *guard = None;
                        if tries < 2 {
                            continue;
                        }
                    }
                    let describe = self.source.describe();
                    return Err(failed(backend(&describe, doing, &e).to_string()));
                }
            }
        }
    }

    fn connect(&self) -> Result<Client, arl_log::LogError> {
        let mut client = self.source.connect()?;
        let describe = self.source.describe();
        let mut tx = client
            .transaction()
            .map_err(|e| backend(&describe, "starting a transaction", &e))?;
        crate::schema::migrate(&mut tx, &describe)?;
        tx.commit()
            .map_err(|e| backend(&describe, "creating the schema", &e))?;
        Ok(client)
    }
}

fn kind_code(kind: SubjectKind) -> i16 {
    match kind {
        SubjectKind::Contact => 1,
        SubjectKind::Person => 2,
    }
}

/// A row's key state: live with its key, or erased at a time.
fn state_of(key: Option<Vec<u8>>, erased_at: Option<i64>) -> Result<KeyState, PrivacyError> {
    match (key, erased_at) {
        (Some(bytes), None) => {
            let bytes: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| PrivacyError::Shared {
                what: "a key in arl_keys is not 32 bytes".into(),
            })?;
            Ok(KeyState::Live(Key::from_bytes(bytes)))
        }
        (None, Some(at_micros)) => Ok(KeyState::Erased { at_micros }),
        _ => Err(PrivacyError::Shared {
            what: "a row of arl_keys is neither live nor erased".into(),
        }),
    }
}

fn key_ref(n: i32) -> Result<u32, PrivacyError> {
    u32::try_from(n).map_err(|_| PrivacyError::Shared {
        what: format!("arl_keys holds the negative key reference {n}"),
    })
}

impl SharedKeys for PgKeys {
    fn seals(&self) -> Result<bool, PrivacyError> {
        self.with("reading whether the ledger seals", |c| {
            Ok(
                c.query_one("SELECT EXISTS (SELECT 1 FROM arl_sealing)", &[])?
                    .get(0),
            )
        })
    }

    fn turn_on(&self) -> Result<(), PrivacyError> {
        let now = arl_domain::Timestamp::now().0;
        self.with("turning sealing on", |c| {
            c.execute(
                "INSERT INTO arl_sealing (since) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&now],
            )
            .map(drop)
        })
    }

    fn state(&self, subject: &Subject) -> Result<Option<KeyState>, PrivacyError> {
        let kind = kind_code(subject.kind);
        let row = self.with("reading a key", |c| {
            c.query_opt(
                "SELECT key, erased_at FROM arl_keys WHERE kind = $1 AND subject = $2",
                &[&kind, &subject.id],
            )
        })?;
        row.map(|row| state_of(row.get(0), row.get(1))).transpose()
    }

    /// One statement inserts the key unless the subject has one; a second reads the row,
    /// whoever wrote it: two nodes sealing the same new subject at once agree on its key.
    fn key_for(&self, subject: &Subject) -> Result<(u32, Key), PrivacyError> {
        let kind = kind_code(subject.kind);
        let fresh = Key::random()?;
        let fresh_bytes: &[u8] = fresh.bytes();
        let row = self.with("storing a new key", |c| {
            c.execute(
                "INSERT INTO arl_keys (kind, subject, key) VALUES ($1, $2, $3)
                 ON CONFLICT (kind, subject) DO NOTHING",
                &[&kind, &subject.id, &fresh_bytes],
            )?;
            c.query_one(
                "SELECT n, key, erased_at FROM arl_keys WHERE kind = $1 AND subject = $2",
                &[&kind, &subject.id],
            )
        })?;
        let n = key_ref(row.get(0))?;
        match state_of(row.get(1), row.get(2))? {
            KeyState::Live(key) => Ok((n, key)),
            KeyState::Erased { .. } => Err(PrivacyError::Erased {
                subject: subject.clone(),
            }),
        }
    }

    /// Sets the key to `NULL`, then rewrites the table (`VACUUM FULL`) so that the row
    /// version that held the key is not kept in its pages (docs/PRIVACY.md says what
    /// PostgreSQL may still hold: its write-ahead log and backups).
    fn erase(&self, subject: &Subject, at_micros: i64) -> Result<bool, PrivacyError> {
        let kind = kind_code(subject.kind);
        let found = self.with("destroying a key", |c| {
            c.execute(
                "UPDATE arl_keys SET key = NULL, erased_at = $3
                 WHERE kind = $1 AND subject = $2 AND key IS NOT NULL",
                &[&kind, &subject.id, &at_micros],
            )?;
            c.query_opt(
                "SELECT 1 FROM arl_keys WHERE kind = $1 AND subject = $2",
                &[&kind, &subject.id],
            )
        })?;
        self.with("rewriting the key table", |c| {
            c.batch_execute("VACUUM FULL arl_keys")
        })?;
        Ok(found.is_some())
    }

    fn key(&self, n: u32, subject: &Subject) -> Result<Option<Key>, PrivacyError> {
        let Ok(n) = i32::try_from(n) else {
            return Ok(None);
        };
        let kind = kind_code(subject.kind);
        let row = self.with("reading a key", |c| {
            c.query_opt(
                "SELECT key FROM arl_keys WHERE n = $1 AND kind = $2 AND subject = $3",
                &[&n, &kind, &subject.id],
            )
        })?;
        let Some(bytes) = row.and_then(|r| r.get::<_, Option<Vec<u8>>>(0)) else {
            return Ok(None);
        };
        let bytes: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| PrivacyError::Shared {
            what: "a key in arl_keys is not 32 bytes".into(),
        })?;
        Ok(Some(Key::from_bytes(bytes)))
    }
}
