//! The key store of a sealing ledger whose log is in PostgreSQL: a table beside the log
//! (schema version 2), so that every node seals under the same keys, opens the names any
//! node sealed, and sees an erasure made on any node from its next answer on. This crate
//! stores rows (subject kind code, subject id, 32 key bytes or the time of erasure); what a
//! key seals is arl-privacy's, and the command line joins the two.

use crate::store::{backend, on_connection};
use crate::PgSource;
use arl_log::{LogError, SharedStore};
use postgres::Client;
use std::sync::Mutex;

/// A subject's row: its key reference `n`, and its key (32 bytes) while live or the time
/// it was erased (microseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub n: i32,
    pub key: Option<Vec<u8>>,
    pub erased_at: Option<i64>,
}

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

    /// Whether the ledger seals (sealing was turned on).
    pub fn seals(&self) -> Result<bool, LogError> {
        self.with("reading whether the ledger seals", |c| {
            Ok(
                c.query_one("SELECT EXISTS (SELECT 1 FROM arl_sealing)", &[])?
                    .get(0),
            )
        })
    }

    /// Turns sealing on (at `now_micros`); nothing if it is on.
    pub fn turn_on(&self, now_micros: i64) -> Result<(), LogError> {
        self.with("turning sealing on", |c| {
            c.execute(
                "INSERT INTO arl_sealing (since) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&now_micros],
            )
            .map(drop)
        })
    }

    /// The row of subject `(kind, id)`, if it has one.
    pub fn row(&self, kind: i16, id: &str) -> Result<Option<KeyRow>, LogError> {
        self.with("reading a key", |c| {
            c.query_opt(
                "SELECT n, key, erased_at FROM arl_keys WHERE kind = $1 AND subject = $2",
                &[&kind, &id],
            )
            .map(|row| row.map(|r| key_row(&r)))
        })
    }

    /// The row of subject `(kind, id)`, inserted with `fresh` as its key if it had none.
    /// One statement inserts unless the subject has a row; a second reads the row, whoever
    /// wrote it: two nodes sealing the same new subject at once agree on its key.
    pub fn row_or_insert(&self, kind: i16, id: &str, fresh: &[u8]) -> Result<KeyRow, LogError> {
        self.with("storing a new key", |c| {
            c.execute(
                "INSERT INTO arl_keys (kind, subject, key) VALUES ($1, $2, $3)
                 ON CONFLICT (kind, subject) DO NOTHING",
                &[&kind, &id, &fresh],
            )?;
            c.query_one(
                "SELECT n, key, erased_at FROM arl_keys WHERE kind = $1 AND subject = $2",
                &[&kind, &id],
            )
            .map(|r| key_row(&r))
        })
    }

    /// Destroys the subject's key: sets it to `NULL` with the time, then rewrites the
    /// table (`VACUUM FULL`) so that the row version that held the key is not kept in its
    /// pages (docs/PRIVACY.md says what PostgreSQL may still hold: its write-ahead log and
    /// backups). False when the subject has no row.
    pub fn erase(&self, kind: i16, id: &str, at_micros: i64) -> Result<bool, LogError> {
        let found = self.with("destroying a key", |c| {
            c.execute(
                "UPDATE arl_keys SET key = NULL, erased_at = $3
                 WHERE kind = $1 AND subject = $2 AND key IS NOT NULL",
                &[&kind, &id, &at_micros],
            )?;
            c.query_opt(
                "SELECT 1 FROM arl_keys WHERE kind = $1 AND subject = $2",
                &[&kind, &id],
            )
        })?;
        self.with("rewriting the key table", |c| {
            c.batch_execute("VACUUM FULL arl_keys")
        })?;
        Ok(found.is_some())
    }

    /// The live key of reference `n` if it belongs to subject `(kind, id)`.
    pub fn key(&self, n: i32, kind: i16, id: &str) -> Result<Option<Vec<u8>>, LogError> {
        let row = self.with("reading a key", |c| {
            c.query_opt(
                "SELECT key FROM arl_keys WHERE n = $1 AND kind = $2 AND subject = $3",
                &[&n, &kind, &id],
            )
        })?;
        Ok(row.and_then(|r| r.get::<_, Option<Vec<u8>>>(0)))
    }

    /// Runs `f` on the connection; a connection found lost is opened again once.
    fn with<T>(
        &self,
        doing: &str,
        f: impl Fn(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, LogError> {
        let describe = self.source.describe();
        on_connection(&self.client, || self.connect(), &describe, doing, f)
    }

    fn connect(&self) -> Result<Client, LogError> {
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

fn key_row(row: &postgres::Row) -> KeyRow {
    KeyRow {
        n: row.get(0),
        key: row.get(1),
        erased_at: row.get(2),
    }
}
