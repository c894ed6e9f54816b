//! The transactions view: an account's register (with running totals per currency and
//! reversals marked) and period balances (month, quarter, year, all; from/to; roll-up over
//! the hierarchy), exactly as contract §7 defines, at any point of valid time and knowledge.
//!
//! Transaction events always apply in the fold (contract §6), so a balance is a filter and a
//! sum over compact rows; only the roll-up needs the hierarchy at the point.
//!
//! Main types: [`BalanceQuery`], [`BalanceRow`] (the JSON of `arl balance`), [`RegisterRow`].
//!
//! ```
//! use arl_domain::{Event, Period, Recorded, Timestamp};
//! use arl_fold::{MemIndex, Point};
//! let mut index = MemIndex::new();
//! let at = Timestamp::parse_input("2024-02-01").unwrap();
//! for (seq, (kind, data)) in [
//!     ("account.opened", r#"{"account":"acme","name":"ACME","scope":"global"}"#),
//!     ("transaction.recorded", r#"{"account":"acme","txn":"t1","kind":"sale","amount":"1200.5","currency":"EUR"}"#),
//! ].into_iter().enumerate() {
//!     let event = Event::parse(kind, data).unwrap();
//!     index.insert(Recorded { seq: seq as u64 + 1, effective_at: at, recorded_at: at, event });
//! }
//! let query = arl_txns::BalanceQuery { period: Period::Quarter, ..arl_txns::BalanceQuery::new(Point::LATEST) };
//! let rows = arl_txns::balances(&index, &query).unwrap();
//! assert_eq!((rows[0].period.as_str(), rows[0].net.as_str()), ("2024-Q1", "1200.50"));
//! ```

use arl_domain::money::Currency;
use arl_domain::{Event, Period, Timestamp, TxnKind};
use arl_fold::query;
use arl_fold::{Point, Source, SourceError, TxnRow};
use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What `arl balance` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceQuery {
    /// One account, or every account that has rows.
    pub account: Option<String>,
    pub period: Period,
    /// First day (inclusive, from its midnight UTC).
    pub from: Option<Timestamp>,
    /// Last day (inclusive, to its end).
    pub to: Option<Timestamp>,
    /// Include every descendant's rows in an account's rows (hierarchy at the point).
    pub rollup: bool,
    pub point: Point,
}

impl BalanceQuery {
    /// All accounts, period `all`, no bounds, no roll-up.
    pub fn new(point: Point) -> BalanceQuery {
        BalanceQuery {
            account: None,
            period: Period::All,
            from: None,
            to: None,
            rollup: false,
            point,
        }
    }
}

/// One row of `arl balance` (contract §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BalanceRow {
    pub account: String,
    pub period: String,
    pub currency: String,
    pub sales: String,
    pub purchases: String,
    pub net: String,
}

#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    sales: i128,
    purchases: i128,
}

impl Sums {
    fn add(&mut self, row: &TxnRow) {
        let amount = if row.reversal {
            -(row.amount_minor as i128)
        } else {
            row.amount_minor as i128
        };
        match row.kind {
            TxnKind::Sale => self.sales += amount,
            TxnKind::Purchase => self.purchases += amount,
        }
    }

    fn merge(&mut self, other: &Sums) {
        self.sales += other.sales;
        self.purchases += other.purchases;
    }
}

/// The balance rows, sorted by (account, period, currency).
pub fn balances(source: &dyn Source, query: &BalanceQuery) -> Result<Vec<BalanceRow>, SourceError> {
    let mut parents = None;
    let cells = match &query.account {
        Some(account) => {
            // Only this account's rows, and with roll-up its descendants' at the point.
            let mut members = vec![account.clone()];
            if query.rollup {
                members.extend(query::descendants_at(source, account, query.point)?);
            }
            let (mut cells, mut periods) = (Cells::default(), PeriodCache::new(query.period));
            for member in &members {
                source.account_txn_rows(member, &mut |row| {
                    add_row(&mut cells, &mut periods, query, row)
                })?;
            }
            // Every member's rows count for the account.
            let number = source.account_number(account);
            cells
                .into_iter()
                .fold(Cells::default(), |mut all, ((_, key, currency), sums)| {
                    if let Some(number) = number {
                        all.entry((number, key, currency)).or_default().merge(&sums);
                    }
                    all
                })
        }
        None => {
            if query.rollup {
                parents = Some(query::hierarchy_at(source, query.point)?);
            }
            scan_all(source, query)?
        }
    };
    // Group by account id; numbers are turned into ids once per account.
    let mut by_number: HashMap<u32, Vec<(u32, Currency, Sums)>> = HashMap::default();
    for ((number, key, currency), sums) in cells {
        by_number
            .entry(number)
            .or_default()
            .push((key, currency, sums));
    }
    let mut per_account: PerAccount = BTreeMap::new();
    for (number, list) in by_number {
        let account = source
            .account_of(number)
            .ok_or_else(|| SourceError(format!("no account numbered {number}")))?;
        let targets: Vec<String> = match &parents {
            Some(parents) => ancestors_and_self(parents, &account),
            None => vec![account],
        };
        for target in targets {
            let entry = per_account.entry(target).or_default();
            for (key, currency, sums) in &list {
                entry.entry((*key, *currency)).or_default().merge(sums);
            }
        }
    }
    let mut rows = Vec::new();
    for (account, cells) in per_account {
        if query.account.as_ref().is_some_and(|a| *a != account) {
            continue;
        }
        let mut cells: Vec<((u32, Currency), Sums)> = cells.into_iter().collect();
        cells.sort_by_key(|((key, currency), _)| (*key, currency.code_bytes()));
        for ((key, currency), sums) in cells {
            rows.push(BalanceRow {
                account: account.clone(),
                period: query.period.label_of_key(key),
                currency: currency.code().to_string(),
                sales: format_amount(sums.sales, currency),
                purchases: format_amount(sums.purchases, currency),
                net: format_amount(sums.sales - sums.purchases, currency),
            });
        }
    }
    Ok(rows)
}

/// Sums by (account number, period key, currency).
type Cells = HashMap<(u32, u32, Currency), Sums>;

/// Sums by account, then by (period key, currency).
type PerAccount = BTreeMap<String, BTreeMap<(u32, Currency), Sums>>;

/// Rows below this are summed on one thread.
const PARALLEL_ROWS_MIN: u64 = 200_000;

/// Sums every transaction row; on a source that can be read from two threads, the two
/// halves of the rows are summed at once and the cells merged.
fn scan_all(source: &dyn Source, query: &BalanceQuery) -> Result<Cells, SourceError> {
    let sum = |source: &dyn Source, from: u64, to: u64| -> Result<Cells, SourceError> {
        let (mut cells, mut periods) = (Cells::default(), PeriodCache::new(query.period));
        source.txn_rows_range(from, to, &mut |row| {
            add_row(&mut cells, &mut periods, query, row)
        })?;
        Ok(cells)
    };
    // Only a source read from two threads needs the row count (counting may cost a scan).
    let Some((shared, rows)) = source
        .as_sync()
        .map(|shared| (shared, shared.txn_row_count()))
        .filter(|(_, rows)| *rows >= PARALLEL_ROWS_MIN)
    else {
        let (mut cells, mut periods) = (Cells::default(), PeriodCache::new(query.period));
        source.txn_rows(&mut |row| add_row(&mut cells, &mut periods, query, row))?;
        return Ok(cells);
    };
    let middle = rows / 2;
    let (first, second) = std::thread::scope(|scope| {
        let other = scope.spawn(|| sum(shared, middle, rows));
        let first = sum(shared, 0, middle);
        (
            first,
            other
                .join()
                .unwrap_or_else(|_| Err(SourceError("a balance thread panicked".into()))),
        )
    });
    let mut cells = first?;
    for (key, sums) in second? {
        cells.entry(key).or_default().merge(&sums);
    }
    Ok(cells)
}

fn add_row(cells: &mut Cells, periods: &mut PeriodCache, query: &BalanceQuery, row: &TxnRow) {
    let from = query.from.unwrap_or(Timestamp::MIN);
    let to = query.to.unwrap_or(Timestamp::MAX).min(query.point.as_of);
    if row.seq > query.point.at_seq || row.effective_at < from || row.effective_at > to {
        return;
    }
    let key = periods.key(row.effective_at);
    cells
        .entry((row.account, key, row.currency))
        .or_default()
        .add(row);
}

/// Period keys by UTC day: most rows fall on a day already seen.
struct PeriodCache {
    period: Period,
    day: i64,
    key: u32,
}

impl PeriodCache {
    const MICROS_PER_DAY: i64 = 86_400_000_000;

    fn new(period: Period) -> PeriodCache {
        PeriodCache {
            period,
            day: i64::MIN,
            key: 0,
        }
    }

    fn key(&mut self, at: Timestamp) -> u32 {
        let day = at.0.div_euclid(Self::MICROS_PER_DAY);
        if day != self.day {
            self.day = day;
            self.key = self.period.key(at);
        }
        self.key
    }
}

/// The account and its ancestors in `parents`, nearest first.
fn ancestors_and_self(parents: &BTreeMap<String, Option<String>>, account: &str) -> Vec<String> {
    let mut out = vec![account.to_string()];
    let mut at = parents.get(account).cloned().flatten();
    while let Some(parent) = at {
        if out.contains(&parent) || out.len() > arl_fold::state::CHAIN_DEPTH_MAX {
            break;
        }
        at = parents.get(&parent).cloned().flatten();
        out.push(parent);
    }
    out
}

/// Formats minor units with exactly the currency's digits.
pub fn format_amount(amount_minor: i128, currency: Currency) -> String {
    let digits = currency.minor_units() as u32;
    let negative = amount_minor < 0;
    let magnitude = amount_minor.unsigned_abs();
    let scale = 10u128.pow(digits);
    let sign = if negative { "-" } else { "" };
    if digits == 0 {
        format!("{sign}{magnitude}")
    } else {
        format!(
            "{sign}{}.{:0width$}",
            magnitude / scale,
            magnitude % scale,
            width = digits as usize
        )
    }
}

/// One line of an account's register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisterRow {
    pub seq: u64,
    pub effective_at: Timestamp,
    pub recorded_at: Timestamp,
    pub txn: String,
    pub kind: TxnKind,
    /// True for the row of a reversal (its amount counts negated).
    pub reversal: bool,
    /// True for a transaction that is reversed at the point.
    pub reversed: bool,
    pub currency: String,
    /// Signed: sales and purchases positive, reversals negative.
    pub amount: String,
    pub reference: Option<String>,
    pub description: Option<String>,
    /// Running net (sales − purchases) in the row's currency.
    pub running_net: String,
}

/// The account's register at the point, in valid-time order (`effective_at`, `seq`),
/// bounded by `from`/`to` when given.
pub fn register(
    source: &dyn Source,
    account: &str,
    point: Point,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<Vec<RegisterRow>, SourceError> {
    let mut events = source.txn_events(account)?;
    let (from, to) = (from.unwrap_or(Timestamp::MIN), to.unwrap_or(Timestamp::MAX));
    events.retain(|r| point.sees(r) && r.effective_at >= from && r.effective_at <= to);
    events.sort_by_key(|r| r.point());
    let reversed: BTreeSet<&str> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::TxnReversed(d) => Some(d.txn.as_str()),
            _ => None,
        })
        .collect();
    let originals: HashMap<String, arl_domain::TxnRecorded> = source
        .txn_events(account)?
        .iter()
        .filter_map(|r| match &r.event {
            Event::TxnRecorded(d) => Some((d.txn.clone(), d.clone())),
            _ => None,
        })
        .collect();
    let mut running: HashMap<Currency, i128> = HashMap::default();
    let mut rows = Vec::new();
    for r in &events {
        let (original, reversal) = match &r.event {
            Event::TxnRecorded(d) => (d, false),
            Event::TxnReversed(d) => match originals.get(&d.txn) {
                Some(original) => (original, true),
                None => continue,
            },
            _ => continue,
        };
        let (Some(currency), Some(amount)) = (original.currency(), original.amount_minor()) else {
            continue;
        };
        let signed = if reversal {
            -(amount as i128)
        } else {
            amount as i128
        };
        let net_effect = match original.kind {
            TxnKind::Sale => signed,
            TxnKind::Purchase => -signed,
        };
        let total = running.entry(currency).or_default();
        *total += net_effect;
        rows.push(RegisterRow {
            seq: r.seq,
            effective_at: r.effective_at,
            recorded_at: r.recorded_at,
            txn: original.txn.clone(),
            kind: original.kind,
            reversal,
            reversed: !reversal && reversed.contains(original.txn.as_str()),
            currency: currency.code().to_string(),
            amount: format_amount(signed, currency),
            reference: original.reference.clone(),
            description: original.description.clone(),
            running_net: format_amount(*total, currency),
        });
    }
    Ok(rows)
}
