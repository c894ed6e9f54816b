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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BalanceRow {
    pub account: String,
    pub period: String,
    pub currency: String,
    pub sales: String,
    pub purchases: String,
    pub net: String,
}

impl BalanceRow {
    /// The row's columns in output order: account, period, currency, sales, purchases, net.
    pub const COLUMNS: [&'static str; 6] =
        ["account", "period", "currency", "sales", "purchases", "net"];

    /// The row's values in the order of [`BalanceRow::COLUMNS`].
    pub fn fields(&self) -> [&str; 6] {
        [
            &self.account,
            &self.period,
            &self.currency,
            &self.sales,
            &self.purchases,
            &self.net,
        ]
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    sales: i128,
    purchases: i128,
}

impl Sums {
    fn add(&mut self, row: &TxnRow) {
        let amount = if row.reversal {
            -i128::from(row.amount_minor)
        } else {
            i128::from(row.amount_minor)
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
    balances_with(source, query, Parallel::DEFAULT)
}

/// From what size work is split over two threads.
#[derive(Debug, Clone, Copy)]
struct Parallel {
    /// Transaction rows to sum (on a source that can be read from two threads).
    scan_rows: u64,
    /// Output rows to build.
    output_rows: usize,
}

impl Parallel {
    const DEFAULT: Parallel = Parallel {
        scan_rows: 200_000,
        output_rows: 20_000,
    };
}

fn balances_with(
    source: &dyn Source,
    query: &BalanceQuery,
    parallel: Parallel,
) -> Result<Vec<BalanceRow>, SourceError> {
    let mut parents = None;
    let cells = if let Some(account) = &query.account {
        // Only this account's rows, and with roll-up its descendants' at the point; every
        // member's rows count for the account.
        let mut members = vec![account.clone()];
        if query.rollup {
            members.extend(query::descendants_at(source, account, query.point)?);
        }
        let Some(number) = source.account_number(account) else {
            return Ok(Vec::new());
        };
        let mut sums = Accumulator::new(query);
        for member in &members {
            source.account_txn_rows(member, &mut |row| {
                sums.add(&TxnRow {
                    account: number,
                    ..*row
                });
            })?;
        }
        vec![sums.cells]
    } else {
        if query.rollup {
            parents = Some(query::hierarchy_at(source, query.point)?);
        }
        scan_all(source, query, parallel.scan_rows)?
    };
    let (ids, merged) = merge(source, query, parents.as_ref(), &cells)?;
    drop(cells);
    Ok(rows_of(query.period, &ids, &merged, parallel.output_rows))
}

/// Sums of sales and purchases of one (account number, period key, currency).
#[derive(Debug, Clone, Copy)]
struct Cell {
    account: u32,
    key: u32,
    currency: Currency,
    /// The next cell of the same account and period key ([`NONE`] at the end).
    next: u32,
    sums: Sums,
}

/// No cell.
const NONE: u32 = u32::MAX;

/// Account numbers below this index tables directly; larger ones (no source gives them
/// today) go through a map first.
const DENSE_ACCOUNTS_MAX: u32 = 1 << 20;

/// The cells of one period key: the first cell of each account (by account slot).
struct Block {
    key: u32,
    first: Vec<u32>,
}

/// Sums transaction rows into cells by (account, period key, currency).
///
/// Cells are chained per (period, account): rows arrive roughly in valid-time order, so a
/// stretch of the scan mostly touches the cells of one or two periods, which stay in cache,
/// instead of a hash table spread over every cell of the ledger.
struct Accumulator {
    period: Period,
    at_seq: u64,
    from: Timestamp,
    to: Timestamp,
    /// The UTC day of the last row counted, and the index of its period's block.
    day: i64,
    block: usize,
    blocks: Vec<Block>,
    cells: Vec<Cell>,
    /// Slots of account numbers of [`DENSE_ACCOUNTS_MAX`] and above.
    sparse: HashMap<u32, u32>,
}

impl Accumulator {
    const MICROS_PER_DAY: i64 = 86_400_000_000;

    fn new(query: &BalanceQuery) -> Accumulator {
        Accumulator {
            period: query.period,
            at_seq: query.point.at_seq,
            from: query.from.unwrap_or(Timestamp::MIN),
            to: query.to.unwrap_or(Timestamp::MAX).min(query.point.as_of),
            day: i64::MIN,
            block: 0,
            blocks: Vec::new(),
            cells: Vec::new(),
            sparse: HashMap::default(),
        }
    }

    fn add(&mut self, row: &TxnRow) {
        if row.seq > self.at_seq || row.effective_at < self.from || row.effective_at > self.to {
            return;
        }
        // Period keys are per UTC day, and most rows fall on the day of the row before.
        let day = row.effective_at.0.div_euclid(Self::MICROS_PER_DAY);
        if day != self.day || self.blocks.is_empty() {
            self.day = day;
            self.block = self.block_of(self.period.key(row.effective_at));
        }
        let slot = if row.account < DENSE_ACCOUNTS_MAX {
            row.account
        } else {
            let next = DENSE_ACCOUNTS_MAX + self.sparse.len() as u32;
            *self.sparse.entry(row.account).or_insert(next)
        } as usize;
        let block = &mut self.blocks[self.block];
        if slot >= block.first.len() {
            block.first.resize(slot + 1, NONE);
        }
        // New cells go to the end of the chain: an account's first currency in a period is
        // mostly its usual one, which then is found first.
        let (mut at, mut last) = (block.first[slot], NONE);
        while at != NONE {
            let cell = &mut self.cells[at as usize];
            if cell.currency == row.currency {
                cell.sums.add(row);
                return;
            }
            (last, at) = (at, cell.next);
        }
        let new = self.cells.len() as u32;
        match last {
            NONE => block.first[slot] = new,
            last => self.cells[last as usize].next = new,
        }
        let mut sums = Sums::default();
        sums.add(row);
        self.cells.push(Cell {
            account: row.account,
            key: block.key,
            currency: row.currency,
            next: NONE,
            sums,
        });
    }

    /// The block of a period key (a new one the first time).
    fn block_of(&mut self, key: u32) -> usize {
        if let Some(at) = self.blocks.iter().rposition(|b| b.key == key) {
            return at;
        }
        self.blocks.push(Block {
            key,
            first: Vec::new(),
        });
        self.blocks.len() - 1
    }
}

/// Sums every transaction row; on a source that can be read from two threads, the two
/// halves of the rows are summed at once. The cells of the two halves are merged later
/// (a cell of each half may have the same account, period and currency).
fn scan_all(
    source: &dyn Source,
    query: &BalanceQuery,
    parallel_rows: u64,
) -> Result<Vec<Vec<Cell>>, SourceError> {
    let sum = |source: &dyn Source, from: u64, to: u64| -> Result<Vec<Cell>, SourceError> {
        let mut sums = Accumulator::new(query);
        source.txn_rows_range(from, to, &mut |row| sums.add(row))?;
        Ok(sums.cells)
    };
    // Only a source read from two threads needs the row count (counting may cost a scan).
    let Some((shared, rows)) = source
        .as_sync()
        .map(|shared| (shared, shared.txn_row_count()))
        .filter(|(_, rows)| *rows >= parallel_rows)
    else {
        let mut sums = Accumulator::new(query);
        source.txn_rows(&mut |row| sums.add(row))?;
        return Ok(vec![sums.cells]);
    };
    let middle = rows / 2;
    let (first, second) = arl_par::join(|| sum(shared, 0, middle), || sum(shared, middle, rows));
    Ok(vec![first?, second?])
}

/// The sums of one output row: an account (its place in the sorted ids), a period key and a
/// currency.
#[derive(Debug, Clone, Copy)]
struct Merged {
    account: u32,
    key: u32,
    currency: Currency,
    sums: Sums,
}

/// A cell in the bucket of one of its target accounts, with its order in the bucket.
#[derive(Debug, Clone, Copy)]
struct Bucketed {
    sort_key: u64,
    cell: Cell,
}

/// A currency's code as a number that sorts as the code does.
fn code_order(currency: Currency) -> u32 {
    let [a, b, c] = currency.code_bytes();
    u32::from_be_bytes([0, a, b, c])
}

/// The cells summed by (target account, period key, currency), where the targets of an
/// account are the account itself or, with `parents` (roll-up), the account and its
/// ancestors; only the queried account's rows when one is asked. Returns the target ids,
/// sorted, and the sums sorted by (account id, period key, currency code).
fn merge(
    source: &dyn Source,
    query: &BalanceQuery,
    parents: Option<&BTreeMap<String, Option<String>>>,
    cells: &[Vec<Cell>],
) -> Result<(Vec<String>, Vec<Merged>), SourceError> {
    // The distinct account numbers, each with an index in `numbers`.
    let mut numbers: Vec<u32> = Vec::new();
    let mut dense: Vec<u32> = Vec::new();
    let mut sparse: HashMap<u32, u32> = HashMap::default();
    let mut index_of = |number: u32| -> u32 {
        let next = numbers.len() as u32;
        let index = if number < DENSE_ACCOUNTS_MAX {
            let slot = number as usize;
            if slot >= dense.len() {
                dense.resize(slot + 1, NONE);
            }
            if dense[slot] == NONE {
                dense[slot] = next;
            }
            dense[slot]
        } else {
            *sparse.entry(number).or_insert(next)
        };
        if index == next {
            numbers.push(number);
        }
        index
    };
    let cells = || cells.iter().flatten();
    let cell_number: Vec<u32> = cells().map(|c| index_of(c.account)).collect();
    // The target ids of each number; ids are sorted once, and an account is its place.
    let mut targets_of: Vec<Vec<String>> = Vec::with_capacity(numbers.len());
    for &number in &numbers {
        let account = source
            .account_of(number)
            .ok_or_else(|| SourceError::new(format!("no account numbered {number}")))?;
        let mut targets = match parents {
            Some(parents) => ancestors_and_self(parents, &account),
            None => vec![account],
        };
        if let Some(only) = &query.account {
            targets.retain(|t| t == only);
        }
        targets_of.push(targets);
    }
    let mut ids: Vec<String> = targets_of.iter().flatten().cloned().collect();
    ids.sort_unstable();
    ids.dedup();
    let places: Vec<Vec<u32>> = targets_of
        .iter()
        .map(|targets| {
            targets
                .iter()
                .map(|t| ids.binary_search(t).expect("every target is in ids") as u32)
                .collect()
        })
        .collect();
    // Cells bucketed by target account (a counting sort), then each bucket sorted by
    // (period key, currency) and equal neighbours summed.
    let mut starts = vec![0usize; ids.len() + 1];
    for &n in &cell_number {
        for &place in &places[n as usize] {
            starts[place as usize + 1] += 1;
        }
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    // Each cell is copied to its buckets in one pass over the cells, in their order.
    let mut fill = starts.clone();
    let Some(&blank) = cells().next() else {
        return Ok((ids, Vec::new()));
    };
    let blank = Bucketed {
        sort_key: 0,
        cell: blank,
    };
    let mut order = vec![blank; starts[ids.len()]];
    for (cell, &n) in cells().zip(&cell_number) {
        let sort_key = u64::from(cell.key) << 32 | u64::from(code_order(cell.currency));
        for &place in &places[n as usize] {
            order[fill[place as usize]] = Bucketed {
                sort_key,
                cell: *cell,
            };
            fill[place as usize] += 1;
        }
    }
    let mut merged: Vec<Merged> = Vec::with_capacity(order.len());
    for account in 0..ids.len() {
        let bucket = &mut order[starts[account]..starts[account + 1]];
        bucket.sort_unstable_by_key(|b| b.sort_key);
        let first = merged.len();
        for Bucketed { cell, .. } in bucket.iter() {
            match merged[first..].last_mut() {
                Some(last) if last.key == cell.key && last.currency == cell.currency => {
                    last.sums.merge(&cell.sums);
                }
                _ => merged.push(Merged {
                    account: account as u32,
                    key: cell.key,
                    currency: cell.currency,
                    sums: cell.sums,
                }),
            }
        }
    }
    Ok((ids, merged))
}

/// The rows of the merged sums, in their order; many rows are built on two threads.
fn rows_of(
    period: Period,
    ids: &[String],
    merged: &[Merged],
    parallel_rows: usize,
) -> Vec<BalanceRow> {
    let mut labels: HashMap<u32, String> = HashMap::default();
    for m in merged {
        labels
            .entry(m.key)
            .or_insert_with(|| period.label_of_key(m.key));
    }
    let mut codes: HashMap<Currency, String> = HashMap::default();
    for m in merged {
        codes
            .entry(m.currency)
            .or_insert_with(|| m.currency.code().to_string());
    }
    let row = |m: &Merged| BalanceRow {
        account: ids[m.account as usize].clone(),
        period: labels[&m.key].clone(),
        currency: codes[&m.currency].clone(),
        sales: format_amount(m.sums.sales, m.currency),
        purchases: format_amount(m.sums.purchases, m.currency),
        net: format_amount(m.sums.sales - m.sums.purchases, m.currency),
    };
    if merged.len() < parallel_rows.max(2) {
        return merged.iter().map(row).collect();
    }
    // The two halves are built in place, each on its own thread.
    let mut rows = Vec::with_capacity(merged.len());
    rows.resize_with(merged.len(), || BalanceRow {
        account: String::new(),
        period: String::new(),
        currency: String::new(),
        sales: String::new(),
        purchases: String::new(),
        net: String::new(),
    });
    let fill = |out: &mut [BalanceRow], part: &[Merged]| {
        for (out, m) in out.iter_mut().zip(part) {
            *out = row(m);
        }
    };
    let middle = merged.len() / 2;
    let (first, second) = rows.split_at_mut(middle);
    arl_par::join(
        || fill(first, &merged[..middle]),
        || fill(second, &merged[middle..]),
    );
    rows
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
    let digits = currency.minor_units() as usize;
    // The magnitude's digits, right-aligned and padded with zeros to one more than the minor
    // digits; then the point and the sign go in front of the whole part (at most 39 digits).
    let mut buf = [b'0'; 48];
    let end = buf.len();
    let mut at = end;
    let mut magnitude = amount_minor.unsigned_abs();
    while magnitude > u128::from(u64::MAX) {
        at -= 1;
        buf[at] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
    }
    let mut small = magnitude as u64;
    while small > 0 {
        at -= 1;
        buf[at] = b'0' + (small % 10) as u8;
        small /= 10;
    }
    let mut start = at.min(end - digits - 1);
    if digits > 0 {
        buf.copy_within(start..end - digits, start - 1);
        start -= 1;
        buf[end - digits - 1] = b'.';
    }
    if amount_minor < 0 {
        start -= 1;
        buf[start] = b'-';
    }
    String::from(std::str::from_utf8(&buf[start..]).expect("ASCII digits"))
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
            -i128::from(amount)
        } else {
            i128::from(amount)
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

#[cfg(test)]
mod tests {
    use super::*;
    use arl_domain::{InputEvent, Recorded};
    use arl_fold::MemIndex;
    use std::sync::{Arc, Mutex};

    /// The straightforward definition: every row summed into a map by (account id, period
    /// key, currency), the roll-up through each account's ancestors.
    fn reference(source: &dyn Source, query: &BalanceQuery) -> Vec<BalanceRow> {
        let from = query.from.unwrap_or(Timestamp::MIN);
        let to = query.to.unwrap_or(Timestamp::MAX).min(query.point.as_of);
        let mut rows: Vec<TxnRow> = Vec::new();
        source.txn_rows(&mut |row| rows.push(*row)).unwrap();
        rows.retain(|r| {
            r.seq <= query.point.at_seq && r.effective_at >= from && r.effective_at <= to
        });
        let parents = query::hierarchy_at(source, query.point).unwrap();
        let mut members = Vec::new();
        if let Some(asked) = &query.account {
            members.push(asked.clone());
            members.extend(query::descendants_at(source, asked, query.point).unwrap());
        }
        let targets = |account: &str| -> Vec<String> {
            match &query.account {
                Some(asked) if query.rollup => {
                    if members.iter().any(|m| m == account) {
                        vec![asked.clone()]
                    } else {
                        vec![]
                    }
                }
                Some(asked) => [account.to_string()]
                    .into_iter()
                    .filter(|a| a == asked)
                    .collect(),
                None if query.rollup => ancestors_and_self(&parents, account),
                None => vec![account.to_string()],
            }
        };
        let mut sums: BTreeMap<(String, u32, [u8; 3]), (Currency, Sums)> = BTreeMap::new();
        for row in &rows {
            let account = source.account_of(row.account).unwrap();
            for target in targets(&account) {
                let key = (
                    target,
                    query.period.key(row.effective_at),
                    row.currency.code_bytes(),
                );
                sums.entry(key)
                    .or_insert((row.currency, Sums::default()))
                    .1
                    .add(row);
            }
        }
        sums.into_iter()
            .map(|((account, key, _), (currency, s))| BalanceRow {
                account,
                period: query.period.label_of_key(key),
                currency: currency.code().to_string(),
                sales: format_amount(s.sales, currency),
                purchases: format_amount(s.purchases, currency),
                net: format_amount(s.sales - s.purchases, currency),
            })
            .collect()
    }

    /// A [`MemIndex`] that can be read from two threads (one at a time).
    struct Shared(Mutex<MemIndex>);

    impl Source for Shared {
        fn checkpoint(&self) -> u64 {
            self.0.lock().unwrap().checkpoint()
        }
        fn seq_known_at(&self, known_at: Timestamp) -> Result<u64, SourceError> {
            self.0.lock().unwrap().seq_known_at(known_at)
        }
        fn account_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
            self.0.lock().unwrap().account_events(account)
        }
        fn child_refs(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
            self.0.lock().unwrap().child_refs(account)
        }
        fn person_events(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
            self.0.lock().unwrap().person_events(person)
        }
        fn org_events(&self) -> Result<Vec<Arc<Recorded>>, SourceError> {
            self.0.lock().unwrap().org_events()
        }
        fn account_ids(&self) -> Result<Vec<String>, SourceError> {
            self.0.lock().unwrap().account_ids()
        }
        fn person_ids(&self) -> Result<Vec<String>, SourceError> {
            self.0.lock().unwrap().person_ids()
        }
        fn txn_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
            self.0.lock().unwrap().txn_events(account)
        }
        fn txn_rows(&self, each: &mut dyn FnMut(&TxnRow)) -> Result<(), SourceError> {
            self.0.lock().unwrap().txn_rows(each)
        }
        fn account_of(&self, number: u32) -> Option<String> {
            self.0.lock().unwrap().account_of(number)
        }
        fn account_number(&self, account: &str) -> Option<u32> {
            self.0.lock().unwrap().account_number(account)
        }
        fn account_hierarchy(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
            self.0.lock().unwrap().account_hierarchy(account)
        }
        fn as_sync(&self) -> Option<&(dyn Source + Sync)> {
            Some(self)
        }
    }

    fn generated(events: u64, seed: u64) -> MemIndex {
        let mut index = MemIndex::new();
        for (i, line) in arl_gen::Generator::new(arl_gen::Config::new(events, seed)).enumerate() {
            let input = InputEvent::parse_line(&line, true).expect("generated lines parse");
            let recorded_at = input.recorded_at.expect("imported");
            index.insert(Recorded {
                seq: i as u64 + 1,
                effective_at: input.effective_at.unwrap_or(recorded_at),
                recorded_at,
                event: input.event,
            });
        }
        index
    }

    #[test]
    fn balances_equal_the_reference_on_one_and_two_threads() {
        let index = &generated(6_000, 7);
        let shared = Shared(Mutex::new(generated(6_000, 7)));
        let ids = index.account_ids().unwrap();
        let middle = Timestamp::parse_input("2024-06-15").unwrap();
        let points = [
            Point::LATEST,
            Point {
                as_of: middle,
                at_seq: u64::MAX,
            },
            Point {
                as_of: Timestamp::MAX,
                at_seq: index.checkpoint() / 2,
            },
        ];
        let mut accounts = vec![None, Some("no-such-account".to_string())];
        accounts.extend(ids.iter().step_by(ids.len() / 5 + 1).cloned().map(Some));
        let tiny = Parallel {
            scan_rows: 2,
            output_rows: 2,
        };
        let mut compared = 0;
        for period in [Period::All, Period::Year, Period::Quarter, Period::Month] {
            for rollup in [false, true] {
                for point in points {
                    for account in &accounts {
                        for (from, to) in [(None, None), (Some(middle), None), (None, Some(middle))]
                        {
                            let query = BalanceQuery {
                                account: account.clone(),
                                period,
                                from,
                                to,
                                rollup,
                                point,
                            };
                            let expected = reference(index, &query);
                            assert_eq!(balances(index, &query).unwrap(), expected, "{query:?}");
                            let two = balances_with(&shared, &query, tiny).unwrap();
                            assert_eq!(two, expected, "two threads, {query:?}");
                            compared += expected.len();
                        }
                    }
                }
            }
        }
        assert!(compared > 10_000, "{compared} rows compared");
    }

    #[test]
    fn amounts_have_the_currency_digits() {
        let currency = |code| Currency::from_code(code).unwrap();
        let simple = |amount: i128, currency: Currency| {
            let digits = u32::from(currency.minor_units());
            let sign = if amount < 0 { "-" } else { "" };
            let magnitude = amount.unsigned_abs();
            let scale = 10u128.pow(digits);
            if digits == 0 {
                format!("{sign}{magnitude}")
            } else {
                let (whole, part) = (magnitude / scale, magnitude % scale);
                format!("{sign}{whole}.{part:0width$}", width = digits as usize)
            }
        };
        let mut amounts = vec![0, 1, 9, 10, 99, 100, 101, 12_345, i128::MAX, i128::MIN];
        amounts.extend([
            i128::from(i64::MAX),
            i128::from(u64::MAX),
            i128::from(u64::MAX) + 1,
        ]);
        amounts.extend((0..40).map(|p| 10i128.pow(p.min(38)) - 1));
        amounts.extend((0..40).map(|p| 7 * 10i128.pow(p.min(37))));
        for amount in amounts.clone() {
            amounts.push(-amount.max(i128::MIN + 1));
        }
        for code in ["JPY", "EUR", "KWD", "CLF"] {
            for &amount in &amounts {
                assert_eq!(
                    format_amount(amount, currency(code)),
                    simple(amount, currency(code)),
                    "{amount} {code}"
                );
            }
        }
        assert_eq!(format_amount(-5, currency("EUR")), "-0.05");
        assert_eq!(format_amount(120_050, currency("EUR")), "1200.50");
        assert_eq!(format_amount(-7, currency("JPY")), "-7");
        assert_eq!(format_amount(1, currency("CLF")), "0.0001");
    }
}
