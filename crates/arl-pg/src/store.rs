//! [`PgSource`] (the address), [`PgStore`] (one connection's store) and [`PgFollower`]
//! (a connection that listens for commits).

use arl_log::{BlockBytes, CommitSet, FastSet, Follower, Hash, LogError};
use arl_log::{SharedState, SharedStore, Store};
use fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The channel every commit is announced on, with the new head seq as payload.
pub const CHANNEL: &str = "arl_log";
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A PostgreSQL error as the log's error, naming the server and what was being done.
pub(crate) fn backend(describe: &str, doing: &str, e: &postgres::Error) -> LogError {
    let mut what = format!("PostgreSQL at {describe}: {doing}: {e}");
    if let Some(db) = e.as_db_error() {
        what = format!("PostgreSQL at {describe}: {doing}: {}", db.message());
    } else if let Some(source) = std::error::Error::source(e) {
        what.push_str(&format!(" ({source})"));
    }
    LogError::Backend { what }
}

/// Runs `f` on the connection in `slot`, opening one with `connect` if there is none (or it
/// was lost); when `f` fails because the connection was lost, opens a new one and runs `f`
/// once more. What every reader of a store or key table does with its one connection.
pub(crate) fn on_connection<T>(
    slot: &Mutex<Option<Client>>,
    connect: impl Fn() -> Result<Client, LogError>,
    describe: &str,
    doing: &str,
    f: impl Fn(&mut Client) -> Result<T, postgres::Error>,
) -> Result<T, LogError> {
    let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
    let mut tries = 0;
    loop {
        tries += 1;
        let client = match guard.as_mut() {
            Some(client) if !client.is_closed() => client,
            _ => guard.insert(connect()?),
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
                return Err(backend(describe, doing, &e));
            }
        }
    }
}

/// The address of a PostgreSQL database that holds (or will hold) a ledger's log.
#[derive(Clone)]
pub struct PgSource {
    config: postgres::Config,
    describe: String,
}

impl std::fmt::Debug for PgSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSource")
            .field("address", &self.describe)
            .finish_non_exhaustive()
    }
}

impl PgSource {
    /// Parses a `postgres://user[:password]@host[:port]/database` URL (connecting later).
    pub fn new(url: &str) -> Result<PgSource, LogError> {
        let describe = without_password(url);
        let mut config: postgres::Config = url.parse().map_err(|e| LogError::Backend {
            what: format!("{describe} is not a PostgreSQL URL: {e}"),
        })?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("arl");
        Ok(PgSource { config, describe })
    }

    pub(crate) fn connect(&self) -> Result<Client, LogError> {
        let mut client = self
            .config
            .connect(NoTls)
            .map_err(|e| backend(&self.describe, "connecting", &e))?;
        // Durability is asked for, not left to the server's default: a commit returns once
        // it is on the primary's disk.
        client
            .batch_execute("SET synchronous_commit = on")
            .map_err(|e| backend(&self.describe, "setting synchronous_commit", &e))?;
        Ok(client)
    }

    /// Connects, creating or migrating the schema, and reads the head.
    pub fn open_store(&self) -> Result<PgStore, LogError> {
        let mut client = self.connect()?;
        let err = |doing: &str, e: &postgres::Error| backend(&self.describe, doing, e);
        let mut tx = client
            .transaction()
            .map_err(|e| err("starting a transaction", &e))?;
        let ledger_id = crate::schema::migrate(&mut tx, &self.describe)?;
        tx.commit().map_err(|e| err("creating the schema", &e))?;
        let mut store = PgStore {
            source: self.clone(),
            client: Mutex::new(Some(client)),
            ledger_id,
            data_len: 0,
            meta: None,
            written: None,
            turn: false,
        };
        store.reload()?;
        Ok(store)
    }
}

impl SharedStore for PgSource {
    fn open(&self) -> Result<Box<dyn Store>, LogError> {
        Ok(Box::new(self.open_store()?))
    }

    fn state(&self) -> Result<Option<SharedState>, LogError> {
        let mut client = self.connect()?;
        let err = |e: postgres::Error| backend(&self.describe, "reading the head", &e);
        let exists: bool = client
            .query_one(
                "SELECT to_regclass('arl_schema') IS NOT NULL AND to_regclass('arl_head') IS NOT NULL",
                &[],
            )
            .map_err(err)?
            .get(0);
        if !exists {
            return Ok(None);
        }
        let row = client
            .query_opt(
                "SELECT s.ledger_id, h.data_len, h.seq FROM arl_schema s, arl_head h",
                &[],
            )
            .map_err(err)?;
        Ok(row.map(|row| SharedState {
            ledger_id: row.get(0),
            data_len: row.get::<_, i64>(1) as u64,
            seq: row.get::<_, i64>(2) as u64,
        }))
    }

    fn follower(&self) -> Result<Box<dyn Follower>, LogError> {
        let mut client = self.connect()?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(|e| backend(&self.describe, "listening for commits", &e))?;
        Ok(Box::new(PgFollower {
            client,
            describe: self.describe.clone(),
        }))
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user@host/db`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}

/// A connection that hears every commit announced on [`CHANNEL`].
pub struct PgFollower {
    client: Client,
    describe: String,
}

impl Follower for PgFollower {
    fn wait(&mut self, timeout: Duration) -> Result<Option<u64>, LogError> {
        let describe = &self.describe;
        let err = |e: postgres::Error| backend(describe, "waiting for commits", &e);
        let mut seq: Option<u64> = None;
        {
            let mut notifications = self.client.notifications();
            if let Some(n) = notifications.timeout_iter(timeout).next().map_err(err)? {
                seq = Some(n.payload().parse::<u64>().unwrap_or(0));
            }
            // Take whatever else arrived at once.
            let mut pending = notifications.iter();
            while let Some(n) = pending.next().map_err(err)? {
                let announced = n.payload().parse::<u64>().unwrap_or(0);
                seq = Some(seq.map_or(announced, |s| s.max(announced)));
            }
        }
        if seq.is_none() && self.client.is_closed() {
            return Err(LogError::Backend {
                what: format!("PostgreSQL at {describe}: the connection closed"),
            });
        }
        Ok(seq)
    }
}

/// The log's store in PostgreSQL, on one connection (opened again when it is lost).
pub struct PgStore {
    source: PgSource,
    client: Mutex<Option<Client>>,
    ledger_id: String,
    /// The committed length of the frames as this store last read or wrote it.
    data_len: u64,
    /// The head record as last read or written.
    meta: Option<Vec<u8>>,
    /// Bytes given to `write_frames`, until `commit`.
    written: Option<u64>,
    /// This connection holds the writers' turn (`begin_write`).
    turn: bool,
}

/// How long a writer waits for its turn before it gives up with an error: a node that
/// holds the turn longer is stuck (a live connection whose process stopped).
const TURN_TIMEOUT: &str = "30s";

/// The advisory lock key of the writers' turn on the ledger `ledger_id`: a 64-bit FNV-1a
/// hash of the id, so that ledgers sharing a database do not wait for one another.
fn turn_key(ledger_id: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"arl writers ".iter().chain(ledger_id.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

impl PgStore {
    /// The ledger id generated when the schema was created.
    pub fn ledger_id(&self) -> &str {
        &self.ledger_id
    }

    /// Runs `f` on the connection, connecting first if there is none; a read that finds
    /// the connection lost connects again and runs once more.
    fn read<T>(
        &self,
        doing: &str,
        f: impl Fn(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, LogError> {
        on_connection(
            &self.client,
            || self.source.connect(),
            &self.source.describe,
            doing,
            f,
        )
    }

    /// Reads the committed length and the head record.
    fn reload(&mut self) -> Result<(), LogError> {
        let (data_len, meta) = self.read("reading the head", |c| {
            let row = c.query_one("SELECT data_len, meta FROM arl_head", &[])?;
            Ok((row.get::<_, i64>(0), row.get::<_, Option<Vec<u8>>>(1)))
        })?;
        let data_len = u64::try_from(data_len).map_err(|_| LogError::Backend {
            what: format!("the stored committed length {data_len} is negative"),
        })?;
        if data_len < self.data_len {
            return Err(LogError::Backend {
                what: format!(
                    "the committed length in {} went back from {} to {data_len}",
                    self.source.describe, self.data_len
                ),
            });
        }
        self.data_len = data_len;
        self.meta = meta;
        Ok(())
    }

    /// The committed frame rows that overlap `start..end`, joined: exactly those bytes.
    fn range(&self, start: u64, end: u64) -> Result<Vec<u8>, LogError> {
        if start > end || end > self.data_len {
            return Err(LogError::Corrupt {
                what: format!(
                    "a read of bytes {start}..{end} goes beyond the committed {} bytes",
                    self.data_len
                ),
            });
        }
        let rows = self.read("reading envelope frames", |c| {
            c.query(
                "SELECT start, bytes FROM arl_frames
                 WHERE start < $2
                   AND start >= COALESCE((SELECT max(start) FROM arl_frames WHERE start <= $1), 0)
                 ORDER BY start",
                &[&(start as i64), &(end as i64)],
            )
        })?;
        let mut out = Vec::with_capacity((end - start) as usize);
        let mut at = None;
        for row in rows {
            let row_start = row.get::<_, i64>(0) as u64;
            let bytes: &[u8] = row.get(1);
            if at.is_some_and(|a| a != row_start) {
                return Err(LogError::Corrupt {
                    what: format!("the envelope frames have a gap or overlap at byte {row_start}"),
                });
            }
            at = Some(row_start + bytes.len() as u64);
            let from = start.saturating_sub(row_start).min(bytes.len() as u64) as usize;
            let to = end.saturating_sub(row_start).min(bytes.len() as u64) as usize;
            out.extend_from_slice(&bytes[from..to]);
        }
        if out.len() as u64 != end - start {
            return Err(LogError::Corrupt {
                what: format!("bytes {start}..{end} of the envelope frames are not all stored"),
            });
        }
        Ok(out)
    }
}

/// Splits the batch's frames (segments, back to back from `base`) into rows that never
/// cross the start of a block: `(start, bytes)`.
fn frame_rows<'a>(set: &'a CommitSet<'_>, base: u64) -> Vec<(i64, &'a [u8])> {
    let mut cuts: Vec<u64> = set.block_starts.iter().map(|(_, o)| *o).collect();
    cuts.sort_unstable();
    let mut rows = Vec::new();
    let mut offset = 0u64;
    for segment in set.frames {
        let end = offset + segment.len() as u64;
        let mut from = offset;
        for cut in cuts.iter().filter(|c| **c > offset && **c < end) {
            rows.push((
                (base + from) as i64,
                &segment[(from - offset) as usize..(cut - offset) as usize],
            ));
            from = *cut;
        }
        if from < end {
            rows.push(((base + from) as i64, &segment[(from - offset) as usize..]));
        }
        offset = end;
    }
    rows
}

/// `u64` hashes as the bigint of the same bits.
fn as_i64(values: impl Iterator<Item = u64>) -> Vec<i64> {
    values.map(|v| v as i64).collect()
}

impl PgStore {
    /// The body of `commit`, inside its transaction.
    fn commit_in(
        &self,
        tx: &mut postgres::Transaction<'_>,
        set: &CommitSet<'_>,
        data_len: u64,
    ) -> Result<Result<(), u64>, postgres::Error> {
        // A writer that holds the turn (`begin_write`) excludes every commit but its own.
        tx.batch_execute(&format!("SET LOCAL lock_timeout = '{TURN_TIMEOUT}'"))?;
        tx.execute(
            "SELECT pg_advisory_xact_lock_shared($1)",
            &[&turn_key(&self.ledger_id)],
        )?;
        let found = tx
            .query_one("SELECT data_len FROM arl_head FOR UPDATE", &[])?
            .get::<_, i64>(0) as u64;
        if found != self.data_len {
            return Ok(Err(found));
        }
        let base = self.data_len;
        let rows = frame_rows(set, base);
        let starts: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let bytes: Vec<&[u8]> = rows.iter().map(|r| r.1).collect();
        tx.execute(
            "INSERT INTO arl_frames (start, bytes) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
            &[&starts, &bytes],
        )?;
        let blocks = as_i64(set.block_starts.iter().map(|b| b.0));
        let offsets = as_i64(set.block_starts.iter().map(|b| base + b.1));
        tx.execute(
            "INSERT INTO arl_blocks (block, start) SELECT * FROM unnest($1::bigint[], $2::bigint[])",
            &[&blocks, &offsets],
        )?;
        for (table, entries) in [("arl_ids", set.ids), ("arl_streams", set.streams)] {
            let hashes = as_i64(entries.iter().map(|e| e.0));
            let seqs = as_i64(entries.iter().map(|e| e.1));
            tx.execute(
                &format!(
                    "INSERT INTO {table} (hash, seq) SELECT * FROM unnest($1::bigint[], $2::bigint[])"
                ),
                &[&hashes, &seqs],
            )?;
        }
        let names: Vec<&[u8]> = set.versions.iter().map(|v| v.0.as_bytes()).collect();
        let hashes = as_i64(set.versions.iter().map(|v| v.1));
        let versions = as_i64(set.versions.iter().map(|v| v.2));
        tx.execute(
            "INSERT INTO arl_versions (name, hash, version)
             SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bigint[])
             ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version",
            &[&names, &hashes, &versions],
        )?;
        let levels: Vec<i16> = set.nodes.iter().map(|n| i16::from(n.0)).collect();
        let indexes = as_i64(set.nodes.iter().map(|n| n.1));
        let node_hashes: Vec<&[u8]> = set.nodes.iter().map(|n| &n.2[..]).collect();
        tx.execute(
            "INSERT INTO arl_nodes (level, idx, hash)
             SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
            &[&levels, &indexes, &node_hashes],
        )?;
        tx.execute(
            "UPDATE arl_head SET seq = $1, data_len = $2, meta = $3",
            &[&(set.seq as i64), &(data_len as i64), &set.meta],
        )?;
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&CHANNEL, &set.seq.to_string()],
        )?;
        Ok(Ok(()))
    }
}

impl Store for PgStore {
    fn meta(&self) -> Result<Option<Vec<u8>>, LogError> {
        Ok(self.meta.clone())
    }

    fn write_frames(&mut self, frames: &[Vec<u8>]) -> Result<(), LogError> {
        // The frames are written by `commit`, in its transaction.
        self.written = Some(frames.iter().map(|f| f.len() as u64).sum());
        Ok(())
    }

    fn commit(&mut self, set: &CommitSet) -> Result<(), LogError> {
        let written: u64 = set.frames.iter().map(|f| f.len() as u64).sum();
        if self.written.take() != Some(written) {
            return Err(LogError::Corrupt {
                what: "commit without the frames it covers written first".into(),
            });
        }
        let data_len = self.data_len + written;
        let describe = self.source.describe.clone();
        let mut guard = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        let client = match guard.as_mut() {
            Some(client) if !client.is_closed() => client,
            _ => guard.insert(self.source.connect()?),
        };
        // One transaction: all of the batch or nothing of it. A connection lost before the
        // commit is acknowledged leaves the outcome to the server; the next commit of this
        // store finds out (the head moved or not).
        let outcome = client.transaction().and_then(|mut tx| {
            match self.commit_in(&mut tx, set, data_len)? {
                Ok(()) => tx.commit().map(|()| Ok(())),
                Err(found) => tx.rollback().map(|()| Err(found)),
            }
        });
        match outcome {
            Ok(Ok(())) => {
                drop(guard);
                self.data_len = data_len;
                self.meta = Some(set.meta.clone());
                Ok(())
            }
            Ok(Err(found)) => Err(LogError::Moved {
                planned: self.data_len,
                found,
            }),
            Err(e) => {
                if e.is_closed() || client.is_closed() {
                    *guard = None;
                }
                Err(backend(&describe, "committing a batch", &e))
            }
        }
    }

    fn refresh(&mut self) -> Result<Option<Vec<u8>>, LogError> {
        self.reload()?;
        Ok(self.meta.clone())
    }

    /// A session-level advisory lock, exclusive: every commit takes it shared for its
    /// transaction, so while one writer holds the turn no other commits, and the commits
    /// asked for after it wait (PostgreSQL queues lock requests in order). It is released
    /// by `end_write`, or by PostgreSQL when the connection dies.
    fn begin_write(&mut self) -> Result<(), LogError> {
        if self.turn {
            return Ok(());
        }
        let key = turn_key(&self.ledger_id);
        self.read("waiting for the writers' turn", |c| {
            c.batch_execute(&format!("SET lock_timeout = '{TURN_TIMEOUT}'"))?;
            let taken = c.execute("SELECT pg_advisory_lock($1)", &[&key]);
            c.batch_execute("SET lock_timeout = 0")?;
            taken
        })?;
        self.turn = true;
        Ok(())
    }

    fn end_write(&mut self) {
        if !std::mem::take(&mut self.turn) {
            return;
        }
        let key = turn_key(&self.ledger_id);
        let mut guard = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = guard.as_mut() {
            // A lost connection has released the lock with its session: drop it, so the
            // next use connects afresh.
            if client
                .execute("SELECT pg_advisory_unlock($1)", &[&key])
                .is_err()
            {
                *guard = None;
            }
        }
    }

    fn block(&self, block: u64) -> Result<Option<BlockBytes>, LogError> {
        let Some(start) = self.block_offset(block)? else {
            return Ok(None);
        };
        let end = self
            .block_offset(block + 1)?
            .filter(|e| *e <= self.data_len)
            .unwrap_or(self.data_len);
        Ok(Some(Box::new(self.range(start, end)?)))
    }

    fn block_offset(&self, block: u64) -> Result<Option<u64>, LogError> {
        let start = self.read("reading a block offset", |c| {
            c.query_opt(
                "SELECT start FROM arl_blocks WHERE block = $1",
                &[&(block as i64)],
            )
            .map(|row| row.map(|r| r.get::<_, i64>(0) as u64))
        })?;
        // A block another writer committed after this store's head is not there yet.
        Ok(start.filter(|s| *s < self.data_len))
    }

    fn data_len(&self) -> u64 {
        self.data_len
    }

    fn read_data(&self, offset: u64, buf: &mut [u8]) -> Result<(), LogError> {
        let bytes = self.range(offset, offset + buf.len() as u64)?;
        buf.copy_from_slice(&bytes);
        Ok(())
    }

    fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, LogError> {
        let stored = self.read("reading a Merkle node", |c| {
            c.query_opt(
                "SELECT hash FROM arl_nodes WHERE level = $1 AND idx = $2",
                &[&i16::from(level), &(index as i64)],
            )
            .map(|row| row.map(|r| r.get::<_, Vec<u8>>(0)))
        })?;
        stored
            .map(|bytes| {
                Hash::try_from(bytes.as_slice()).map_err(|_| LogError::Corrupt {
                    what: format!("Merkle node {level}/{index} is not 32 bytes"),
                })
            })
            .transpose()
    }

    fn id_candidates(&self, wanted: &FastSet<u64>) -> Result<Vec<(u64, u64)>, LogError> {
        let hashes = as_i64(wanted.iter().copied());
        self.read("reading the id index", |c| {
            c.query(
                "SELECT hash, seq FROM arl_ids WHERE hash = ANY($1)",
                &[&hashes],
            )
            .map(|rows| {
                rows.iter()
                    .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64))
                    .collect()
            })
        })
    }

    fn stream_candidates(&self, hash: u64) -> Result<Vec<u64>, LogError> {
        self.read("reading the stream index", |c| {
            c.query(
                "SELECT seq FROM arl_streams WHERE hash = $1 ORDER BY seq",
                &[&(hash as i64)],
            )
            .map(|rows| rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect())
        })
    }

    fn stream_versions(
        &self,
        hashes: &[u64],
        found: &mut dyn FnMut(&str, u64),
    ) -> Result<(), LogError> {
        let hashes = as_i64(hashes.iter().copied());
        let rows = self.read("reading stream versions", |c| {
            c.query(
                "SELECT name, version FROM arl_versions WHERE hash = ANY($1)",
                &[&hashes],
            )
        })?;
        for row in rows {
            let name: &[u8] = row.get(0);
            let name = std::str::from_utf8(name).map_err(|_| LogError::Corrupt {
                what: "a stored stream name is not UTF-8".into(),
            })?;
            found(name, row.get::<_, i64>(1) as u64);
        }
        Ok(())
    }
}
