//! The arl side of each measure, through the crates' public API.

use anyhow::{anyhow, Context, Result};
use arl_domain::{InputEvent, Period, Timestamp};
use arl_fold::{Point, Source};
use arl_txns::{BalanceQuery, BalanceRow};
use arl_views::{AppendOptions, Ledger, ViewReader};
use std::path::Path;
use std::time::Duration;

pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

pub fn open(dir: &Path) -> Result<Ledger> {
    Ledger::open(dir, LOCK_TIMEOUT).map_err(|e| anyhow!("open ledger {}: {e}", dir.display()))
}

/// Parses and appends one batch of imported lines (validated, hashed, durable).
pub fn import_batch(ledger: &mut Ledger, lines: &[String]) -> Result<()> {
    let texts: Vec<&str> = lines.iter().map(String::as_str).collect();
    let batch =
        arl_domain::parse_lines(&texts, true).map_err(|(i, e)| anyhow!("line {}: {e}", i + 1))?;
    let opts = AppendOptions {
        imported: true,
        actor: "bench".into(),
        now: Timestamp::now(),
    };
    ledger
        .append(batch, &opts)
        .map_err(|e| anyhow!("arl import: {e}"))?;
    Ok(())
}

/// One durable append of a single, not imported, event.
pub fn append_one(ledger: &mut Ledger, line: &str, now: i64) -> Result<()> {
    let input = InputEvent::parse_line(line, false).map_err(|e| anyhow!("append: {e}"))?;
    let opts = AppendOptions {
        imported: false,
        actor: "bench".into(),
        now: Timestamp(now),
    };
    ledger
        .append(vec![input], &opts)
        .map_err(|e| anyhow!("arl append: {e}"))?;
    Ok(())
}

/// The point arl answers at for (as-of, known-at).
pub fn point(reader: &ViewReader, as_of: i64, known_at: i64) -> Result<Point> {
    Ok(Point {
        as_of: Timestamp(as_of),
        at_seq: Source::seq_known_at(reader, Timestamp(known_at))?,
    })
}

pub fn card(
    reader: &ViewReader,
    account: &str,
    as_of: i64,
    known_at: i64,
) -> Result<Option<arl_accounts::Card>> {
    let point = point(reader, as_of, known_at)?;
    Ok(arl_accounts::card(reader, account, point)?)
}

pub fn team(
    reader: &ViewReader,
    account: &str,
    as_of: i64,
    known_at: i64,
) -> Result<Option<Vec<crate::peer_fold::TeamRow>>> {
    let point = point(reader, as_of, known_at)?;
    let Some(members) = arl_teams::team(reader, account, point)? else {
        return Ok(None);
    };
    Ok(Some(
        members
            .into_iter()
            .map(|m| (m.person, m.name, m.role, m.primary, m.since.0))
            .collect(),
    ))
}

pub fn balances(
    reader: &ViewReader,
    as_of: i64,
    known_at: i64,
    rollup: bool,
) -> Result<Vec<BalanceRow>> {
    let query = BalanceQuery {
        period: Period::Quarter,
        rollup,
        ..BalanceQuery::new(point(reader, as_of, known_at)?)
    };
    Ok(arl_txns::balances(reader, &query)?)
}

/// `arl-bench arl-query`: what `arl account X --format json` does, in a fresh process.
pub fn query_process(ledger_dir: &Path, account: &str) -> Result<String> {
    let (_lock, reader) = arl_views::open_reader(ledger_dir, LOCK_TIMEOUT)
        .map_err(|e| anyhow!("open {}: {e}", ledger_dir.display()))?;
    let card = arl_accounts::card(&reader, account, Point::LATEST)?
        .with_context(|| format!("no account {account}"))?;
    Ok(serde_json::to_string(&card)?)
}
