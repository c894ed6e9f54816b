//! The peer: the same events in one SQLite table, with the indexes a competent user would
//! create, and the SQL such a user would write for each question.
//!
//! One row per event: `seq`, `id`, `type`, `stream`, `recorded_at` and `effective_at` (UTC
//! microseconds, so that they compare as numbers), `actor`, `reason` and the event's `data`
//! JSON as given. Virtual generated columns expose the JSON fields the queries filter and
//! group by; indexes: the optional id (unique), the non-transaction events of a stream by
//! valid time (for cards and teams), the parent an event names (for children), a covering
//! index of the transaction rows (for balances) and one of recorded transactions by id (for
//! the reversal join). Journal mode WAL; `synchronous=FULL` throughout, so a commit is
//! durable as arl's append is.

use anyhow::{bail, Context, Result};
use arl_domain::Timestamp;
use rusqlite::{params, Connection};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY,
    id           TEXT,
    type         TEXT NOT NULL,
    stream       TEXT NOT NULL,
    recorded_at  INTEGER NOT NULL,
    effective_at INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT,
    data         TEXT NOT NULL,
    parent       TEXT AS (json_extract(data, '$.parent')) VIRTUAL,
    account      TEXT AS (json_extract(data, '$.account')) VIRTUAL,
    txn          TEXT AS (json_extract(data, '$.txn')) VIRTUAL,
    kind         TEXT AS (json_extract(data, '$.kind')) VIRTUAL,
    currency     TEXT AS (json_extract(data, '$.currency')) VIRTUAL,
    amount_e4    INTEGER AS (CAST(round(json_extract(data, '$.amount') * 10000) AS INTEGER)) VIRTUAL
);";

const INDEXES: &str = "
CREATE UNIQUE INDEX events_id ON events(id) WHERE id IS NOT NULL;
CREATE INDEX events_entity ON events(stream, effective_at, seq)
    WHERE type NOT IN ('transaction.recorded', 'transaction.reversed');
CREATE INDEX events_parent ON events(parent)
    WHERE type IN ('account.opened', 'account.parent_changed');
CREATE INDEX events_txn_rows ON events(type, account, effective_at, recorded_at, kind, currency, amount_e4, txn);
CREATE INDEX events_txn_id ON events(txn, kind, currency, amount_e4)
    WHERE type = 'transaction.recorded';";

const INSERT: &str =
    "INSERT INTO events (seq, id, type, stream, recorded_at, effective_at, actor, reason, data)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Opens (or creates) the peer's database with the pragmas of every connection.
pub fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("open {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -65536)?; // 64 MiB
    Ok(conn)
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: String,
    #[serde(borrow)]
    data: &'a RawValue,
    effective_at: Option<String>,
    id: Option<String>,
    actor: Option<String>,
    reason: Option<String>,
    recorded_at: Option<String>,
}

#[derive(Deserialize)]
struct Subject {
    account: Option<String>,
    person: Option<String>,
}

/// One input line as a row: the work an application does before its INSERT.
struct Row {
    id: Option<String>,
    kind: String,
    stream: String,
    recorded_at: i64,
    effective_at: i64,
    actor: String,
    reason: Option<String>,
    data: String,
}

fn row_of(line: &str, now: i64) -> Result<Row> {
    let line: Line = serde_json::from_str(line).context("peer: parse line")?;
    let subject: Subject = serde_json::from_str(line.data.get()).context("peer: parse data")?;
    let stream = match (subject.account, subject.person) {
        (Some(account), _) => format!("account/{account}"),
        (None, Some(person)) => format!("person/{person}"),
        (None, None) => bail!("peer: event without subject"),
    };
    let recorded_at = match &line.recorded_at {
        Some(t) => Timestamp::parse_input(t)?.0,
        None => now,
    };
    let effective_at = match &line.effective_at {
        Some(t) => Timestamp::parse_input(t)?.0,
        None => recorded_at,
    };
    Ok(Row {
        id: line.id,
        kind: line.kind,
        stream,
        recorded_at,
        effective_at,
        actor: line.actor.unwrap_or_else(|| "bench".into()),
        reason: line.reason,
        data: line.data.get().to_owned(),
    })
}

fn insert(stmt: &mut rusqlite::Statement<'_>, seq: i64, row: &Row) -> Result<()> {
    stmt.execute(params![
        seq,
        row.id,
        row.kind,
        row.stream,
        row.recorded_at,
        row.effective_at,
        row.actor,
        row.reason,
        row.data
    ])?;
    Ok(())
}

/// The peer's import: one transaction holding every row, the indexes built at its end.
pub struct Import {
    conn: Connection,
    seq: i64,
}

impl Import {
    pub fn begin(conn: Connection) -> Result<Import> {
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch("BEGIN")?;
        Ok(Import { conn, seq: 0 })
    }

    pub fn rows(&mut self, lines: &[String]) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(INSERT)?;
        for line in lines {
            self.seq += 1;
            insert(&mut stmt, self.seq, &row_of(line, 0)?)?;
        }
        Ok(())
    }

    /// Builds the indexes, commits (durable) and truncates the WAL.
    pub fn finish(self) -> Result<Connection> {
        self.conn.execute_batch(INDEXES)?;
        self.conn.execute_batch("COMMIT; ANALYZE;")?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(self.conn)
    }
}

/// One durable append: a single INSERT in its own transaction.
pub fn append_one(conn: &Connection, line: &str, now: i64) -> Result<()> {
    let seq: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM events", [], |r| {
        r.get(0)
    })?;
    let mut stmt = conn.prepare_cached(INSERT)?;
    insert(&mut stmt, seq, &row_of(line, now)?)
}

/// The peer's counterpart of a rebuild: every index rebuilt from the table.
pub fn reindex(conn: &Connection) -> Result<()> {
    conn.execute_batch("REINDEX")?;
    Ok(())
}

/// One event as the queries return it.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub seq: i64,
    pub kind: String,
    pub effective_at: i64,
    pub data: String,
}

const NOT_TXN: &str = "type NOT IN ('transaction.recorded', 'transaction.reversed')";

fn q_own() -> String {
    format!(
        "SELECT seq, type, effective_at, data FROM events
         WHERE stream = ?1 AND {NOT_TXN} AND effective_at <= ?2 AND recorded_at <= ?3
         ORDER BY effective_at, seq"
    )
}

fn q_people() -> String {
    format!(
        "SELECT seq, type, effective_at, data FROM events
         WHERE stream IN (SELECT 'person/' || json_extract(data, '$.person') FROM events
                          WHERE stream = ?1 AND {NOT_TXN} AND type = 'team.assigned')
           AND {NOT_TXN} AND type IN ('person.joined', 'person.left')
           AND effective_at <= ?2 AND recorded_at <= ?3
         ORDER BY effective_at, seq"
    )
}

fn q_hierarchy() -> String {
    format!(
        "SELECT seq, type, effective_at, data FROM events
         WHERE stream IN (
             SELECT 'account/' || parent FROM events
             WHERE stream = ?1 AND {NOT_TXN} AND type IN ('account.opened', 'account.parent_changed')
               AND parent IS NOT NULL
             UNION
             SELECT stream FROM events
             WHERE parent = ?4 AND type IN ('account.opened', 'account.parent_changed'))
           AND {NOT_TXN} AND type IN ('account.opened', 'account.parent_changed', 'account.status_changed')
           AND effective_at <= ?2 AND recorded_at <= ?3
         ORDER BY effective_at, seq"
    )
}

fn fetch(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
    out: &mut Vec<EventRow>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| {
        Ok(EventRow {
            seq: r.get(0)?,
            kind: r.get(1)?,
            effective_at: r.get(2)?,
            data: r.get(3)?,
        })
    })?;
    for row in rows {
        out.push(row?);
    }
    Ok(())
}

/// The events an account's card at (as-of, known-at) depends on, as the peer sees it: its
/// own events, the joining and leaving of everyone its team events name, and the hierarchy
/// events of its parents and of every account that ever named it as parent.
pub fn card_events(
    conn: &Connection,
    account: &str,
    as_of: i64,
    known_at: i64,
    with_hierarchy: bool,
) -> Result<Vec<EventRow>> {
    let stream = format!("account/{account}");
    let mut out = Vec::new();
    fetch(conn, &q_own(), &[&stream, &as_of, &known_at], &mut out)?;
    fetch(conn, &q_people(), &[&stream, &as_of, &known_at], &mut out)?;
    if with_hierarchy {
        let p: [&dyn rusqlite::ToSql; 4] = [&stream, &as_of, &known_at, &account];
        fetch(conn, &q_hierarchy(), &p, &mut out)?;
    }
    out.sort_by_key(|r| (r.effective_at, r.seq));
    out.dedup_by_key(|r| r.seq);
    Ok(out)
}

/// One row of the peer's balances: amounts in ten-thousandths of the currency unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumRow {
    pub account: String,
    pub period: String,
    pub currency: String,
    pub sales_e4: i64,
    pub purchases_e4: i64,
}

const TXN_ROWS: &str = "
    SELECT account, effective_at AS eff, kind, currency, amount_e4 AS amount FROM events
    WHERE type = 'transaction.recorded' AND effective_at <= ?1 AND recorded_at <= ?2
    UNION ALL
    SELECT r.account, r.effective_at, o.kind, o.currency, -o.amount_e4 FROM events r
    JOIN events o ON o.type = 'transaction.recorded' AND o.txn = r.txn
    WHERE r.type = 'transaction.reversed' AND r.effective_at <= ?1 AND r.recorded_at <= ?2";

const QUARTER: &str = "strftime('%Y', eff / 1000000, 'unixepoch') || '-Q' ||
    ((CAST(strftime('%m', eff / 1000000, 'unixepoch') AS INTEGER) + 2) / 3)";

fn q_balances() -> String {
    format!(
        "SELECT account, {QUARTER} AS period, currency,
                SUM(CASE WHEN kind = 'sale' THEN amount ELSE 0 END),
                SUM(CASE WHEN kind = 'purchase' THEN amount ELSE 0 END)
         FROM ({TXN_ROWS})
         GROUP BY account, period, currency ORDER BY account, period, currency"
    )
}

fn q_rollup() -> String {
    format!(
        "WITH RECURSIVE
         own(account, period, currency, sales, purchases) AS (
             SELECT account, {QUARTER} AS period, currency,
                    SUM(CASE WHEN kind = 'sale' THEN amount ELSE 0 END),
                    SUM(CASE WHEN kind = 'purchase' THEN amount ELSE 0 END)
             FROM ({TXN_ROWS}) GROUP BY account, period, currency),
         latest AS (
             SELECT account, parent, ROW_NUMBER() OVER (
                 PARTITION BY account ORDER BY effective_at DESC, seq DESC) AS rn
             FROM events
             WHERE type IN ('account.opened', 'account.parent_changed')
               AND effective_at <= ?1 AND recorded_at <= ?2),
         parent_of AS (SELECT account, parent FROM latest WHERE rn = 1),
         up(account, ancestor) AS (
             SELECT account, account FROM parent_of
             UNION
             SELECT up.account, p.parent FROM up JOIN parent_of p ON p.account = up.ancestor
             WHERE p.parent IS NOT NULL)
         SELECT up.ancestor, own.period, own.currency, SUM(own.sales), SUM(own.purchases)
         FROM own JOIN up ON up.account = own.account
         GROUP BY up.ancestor, own.period, own.currency ORDER BY 1, 2, 3"
    )
}

/// Quarterly balances of every account at (as-of, known-at), rolled up over the hierarchy
/// at as-of when `rollup`.
pub fn balances(conn: &Connection, as_of: i64, known_at: i64, rollup: bool) -> Result<Vec<SumRow>> {
    let sql = if rollup { q_rollup() } else { q_balances() };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![as_of, known_at], |r| {
        Ok(SumRow {
            account: r.get(0)?,
            period: r.get(1)?,
            currency: r.get(2)?,
            sales_e4: r.get(3)?,
            purchases_e4: r.get(4)?,
        })
    })?;
    rows.map(|r| r.map_err(anyhow::Error::from)).collect()
}
