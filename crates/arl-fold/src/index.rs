//! An in-memory index of the log by entity: what the writer validates appends against, what
//! a rebuild fills, and what the tests compare the persisted views with.

use crate::facts::{status_timeline, Facts, KnownTxn, StatusStep};
use crate::source::{Source, SourceError, TxnRow};
use arl_domain::money::Currency;
use arl_domain::{Event, Recorded, Status, Timestamp, TxnKind};
use rustc_hash::FxHashMap as HashMap;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;

/// What the "at any time" rules need to know of a transaction id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnInfo {
    /// The account's number (see [`MemIndex::account_number`]).
    pub account: u32,
    pub effective_at: Timestamp,
    pub seq: u64,
    pub kind: TxnKind,
    pub currency: Currency,
    pub amount_minor: i64,
    /// Seq of its reversal, if it was ever reversed.
    pub reversed_seq: Option<u64>,
}

#[derive(Debug, Default)]
struct AccountEntry {
    opened_seq: Option<u64>,
    /// Non-transaction events of the account's stream.
    events: Vec<Arc<Recorded>>,
    /// Opened and status changes: all that the account's status depends on.
    status_events: Vec<Arc<Recorded>>,
    /// The statuses those events give, in fold order.
    status_timeline: Vec<StatusStep>,
    /// Opened, parent changes and status changes.
    hierarchy: Vec<Arc<Recorded>>,
    child_refs: Vec<Arc<Recorded>>,
    txns: Vec<Arc<Recorded>>,
}

#[derive(Debug, Default)]
struct PersonEntry {
    joined_seq: Option<u64>,
    events: Vec<Arc<Recorded>>,
    /// Joined and left.
    lifecycle: Vec<Arc<Recorded>>,
    /// Person and reporting events with this person as subject.
    org: Vec<Arc<Recorded>>,
}

/// What a [`MemIndex`] keeps of transaction events.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum TxnKeeping {
    /// The events, their rows and ids ([`MemIndex::new`]).
    Events,
    /// Compact rows and ids ([`MemIndex::without_txn_events`]).
    #[default]
    Rows,
    /// Nothing: not indexed ([`MemIndex::after`], whose user keeps the batch's txn ids).
    Nothing,
}

/// The log's events grouped by entity, in memory.
#[derive(Debug, Default)]
pub struct MemIndex {
    keeps: TxnKeeping,
    /// The seq after which the index starts (0: it holds the whole log).
    base: u64,
    checkpoint: u64,
    /// The latest record time of seqs base+1..=n, at n − base − 1.
    recorded_at: Vec<Timestamp>,
    /// Account ids to their numbers; an account's entry and id are at its number in
    /// `accounts` and `account_names`.
    account_numbers: HashMap<Box<str>, u32>,
    accounts: Vec<AccountEntry>,
    account_names: Vec<String>,
    persons: HashMap<String, PersonEntry>,
    org: Vec<Arc<Recorded>>,
    /// Transaction ids to the index of their recorded row in `txn_rows` (small buckets: a
    /// million of them stay within a few cache-friendly megabytes).
    txns: HashMap<TxnKey, usize>,
    /// Row index of a recorded transaction to the seq of its reversal.
    reversed: HashMap<usize, u64>,
    txn_rows: Vec<TxnRow>,
    /// The validator [`crate::validate`] uses, kept in step with every insert.
    pub(crate) validator: RefCell<crate::Validator>,
}

impl MemIndex {
    /// An empty index that keeps every event, transactions included.
    pub fn new() -> MemIndex {
        MemIndex {
            keeps: TxnKeeping::Events,
            ..MemIndex::default()
        }
    }

    /// An empty index that keeps transactions only as compact rows and ids: enough to
    /// validate appends and answer balances, with a fraction of the memory.
    pub fn without_txn_events() -> MemIndex {
        MemIndex {
            keeps: TxnKeeping::Rows,
            ..MemIndex::default()
        }
    }

    /// An empty index of the events after `seq` (the events of one batch, beside an index
    /// of the log before it), for validation: it does not index transactions and answers
    /// no question about them ([`Facts::txn`] is always `None`, [`Source::txn_rows`] empty,
    /// an account named only by transactions has no number), which validation answers from
    /// the batch itself.
    /// [`Source::seq_known_at`] answers only for times at or after the first of its events.
    pub fn after(seq: u64) -> MemIndex {
        MemIndex {
            keeps: TxnKeeping::Nothing,
            base: seq,
            checkpoint: seq,
            ..MemIndex::default()
        }
    }

    /// Adds the next event of the log. Events must come in seq order without gaps.
    pub fn insert(&mut self, recorded: Recorded) {
        self.begin_insert(&recorded);
        match &recorded.event {
            Event::TxnRecorded(_) | Event::TxnReversed(_) => {
                self.insert_txn(&recorded, || recorded.clone());
            }
            Event::PersonJoined(_)
            | Event::PersonLeft(_)
            | Event::LineSet(_)
            | Event::LineEnded(_) => self.insert_person_event(Arc::new(recorded)),
            // An audit record on no list the fold reads (see docs/PRIVACY.md).
            Event::SubjectErased(_) => {}
            _ => self.insert_account_event(Arc::new(recorded)),
        }
    }

    /// [`MemIndex::insert`] for a borrowed event: copies it only when the index keeps it
    /// (transactions are kept as compact rows unless the index keeps transaction events).
    pub fn insert_ref(&mut self, recorded: &Recorded) {
        self.begin_insert(recorded);
        match &recorded.event {
            Event::TxnRecorded(_) | Event::TxnReversed(_) => {
                self.insert_txn(recorded, || recorded.clone());
            }
            Event::PersonJoined(_)
            | Event::PersonLeft(_)
            | Event::LineSet(_)
            | Event::LineEnded(_) => self.insert_person_event(Arc::new(recorded.clone())),
            // An audit record on no list the fold reads (see docs/PRIVACY.md).
            Event::SubjectErased(_) => {}
            _ => self.insert_account_event(Arc::new(recorded.clone())),
        }
    }

    fn begin_insert(&mut self, recorded: &Recorded) {
        assert_eq!(
            recorded.seq,
            self.checkpoint + 1,
            "events must be inserted in seq order"
        );
        self.checkpoint = recorded.seq;
        // The running maximum: record times of an imported batch may go back, and `--known-at`
        // means the longest prefix of the log recorded by then.
        let latest = self
            .recorded_at
            .last()
            .map_or(recorded.recorded_at, |t| (*t).max(recorded.recorded_at));
        self.recorded_at.push(latest);
        // Transactions are in no cache's subset.
        if !recorded.event.is_transaction() {
            let index: &MemIndex = self;
            index.validator.borrow_mut().inserting(recorded);
        }
    }

    fn insert_txn(&mut self, recorded: &Recorded, owned: impl FnOnce() -> Recorded) {
        if self.keeps == TxnKeeping::Nothing {
            return;
        }
        let fact = match &recorded.event {
            Event::TxnRecorded(d) => match txn_money(d) {
                Some((currency, amount_minor)) => Some(TxnFact {
                    account: &d.account,
                    txn: &d.txn,
                    kind: d.kind,
                    currency,
                    amount_minor,
                    reversal: false,
                }),
                _ => None,
            },
            Event::TxnReversed(d) => self.txns.get(d.txn.as_str()).map(|row| {
                let row = &self.txn_rows[*row];
                TxnFact {
                    account: &d.account,
                    txn: &d.txn,
                    kind: row.kind,
                    currency: row.currency,
                    amount_minor: row.amount_minor,
                    reversal: true,
                }
            }),
            _ => unreachable!("insert_txn takes transaction events"),
        };
        let account = recorded.event.account().unwrap_or_default();
        let number = match fact {
            Some(fact) => self.record_txn(recorded.seq, recorded.effective_at, &fact),
            None => self.account_entry(account),
        };
        if self.keeps == TxnKeeping::Events {
            self.accounts[number as usize].txns.push(Arc::new(owned()));
        }
    }

    /// Adds the next event of the log when it is a transaction event known only by its
    /// facts (a fast load from compact rows). The index must not keep transaction events.
    pub fn insert_txn_fact(
        &mut self,
        seq: u64,
        effective_at: Timestamp,
        recorded_at: Timestamp,
        fact: &TxnFact,
    ) {
        assert!(
            self.keeps != TxnKeeping::Events,
            "an index that keeps transaction events needs the events"
        );
        assert_eq!(
            seq,
            self.checkpoint + 1,
            "events must be inserted in seq order"
        );
        self.checkpoint = seq;
        let latest = self
            .recorded_at
            .last()
            .map_or(recorded_at, |t| (*t).max(recorded_at));
        self.recorded_at.push(latest);
        if self.keeps == TxnKeeping::Rows {
            self.record_txn(seq, effective_at, fact);
        }
    }

    /// Records a transaction's facts; returns the account's number.
    fn record_txn(&mut self, seq: u64, at: Timestamp, fact: &TxnFact) -> u32 {
        let number = self.account_entry(fact.account);
        if fact.reversal {
            if let Some(row) = self.txns.get(fact.txn) {
                self.reversed.insert(*row, seq);
            }
        } else {
            // A reused id (only an unvalidated insert has one) forgets the earlier one.
            if let Some(earlier) = self.txns.insert(TxnKey::new(fact.txn), self.txn_rows.len()) {
                self.reversed.remove(&earlier);
            }
        }
        self.txn_rows.push(TxnRow {
            seq,
            effective_at: at,
            account: number,
            kind: fact.kind,
            reversal: fact.reversal,
            currency: fact.currency,
            amount_minor: fact.amount_minor,
        });
        number
    }

    fn insert_person_event(&mut self, recorded: Arc<Recorded>) {
        let person = recorded.event.person().unwrap_or_default().to_string();
        let entry = self.persons.entry(person).or_default();
        if matches!(recorded.event, Event::PersonJoined(_)) && entry.joined_seq.is_none() {
            entry.joined_seq = Some(recorded.seq);
        }
        if matches!(
            recorded.event,
            Event::PersonJoined(_) | Event::PersonLeft(_)
        ) {
            entry.lifecycle.push(recorded.clone());
        }
        entry.org.push(recorded.clone());
        entry.events.push(recorded.clone());
        self.org.push(recorded);
    }

    fn insert_account_event(&mut self, recorded: Arc<Recorded>) {
        let event = &recorded.event;
        let account = event.account().unwrap_or_default().to_string();
        if let Some(person) = event.person() {
            self.persons
                .entry(person.to_string())
                .or_default()
                .events
                .push(recorded.clone());
        }
        let parent = match event {
            Event::AccountOpened(d) => d.parent.clone(),
            Event::ParentChanged(d) => d.parent.clone(),
            _ => None,
        };
        if let Some(parent) = parent {
            let number = self.account_entry(&parent);
            self.accounts[number as usize]
                .child_refs
                .push(recorded.clone());
        }
        let number = self.account_entry(&account);
        let entry = &mut self.accounts[number as usize];
        if matches!(event, Event::AccountOpened(_) | Event::StatusChanged(_)) {
            if matches!(event, Event::AccountOpened(_)) && entry.opened_seq.is_none() {
                entry.opened_seq = Some(recorded.seq);
            }
            entry.status_events.push(recorded.clone());
            entry.status_timeline = status_timeline(&entry.status_events);
        }
        if crate::subset::is_hierarchy(event) {
            entry.hierarchy.push(recorded.clone());
        }
        entry.events.push(recorded);
    }

    /// The account's number, its entry made on first sight.
    fn account_entry(&mut self, account: &str) -> u32 {
        if let Some(number) = self.account_numbers.get(account) {
            return *number;
        }
        let number = u32::try_from(self.accounts.len()).expect("fewer than 2^32 accounts");
        self.account_numbers.insert(account.into(), number);
        self.account_names.push(account.to_string());
        self.accounts.push(AccountEntry::default());
        number
    }

    fn account(&self, account: &str) -> Option<&AccountEntry> {
        let number = *self.account_numbers.get(account)?;
        self.accounts.get(number as usize)
    }

    /// Forgets every event after `seq` (used when a batch is rejected half-way through
    /// validation). Account numbers given meanwhile stay given; they carry no meaning.
    pub fn rollback_to(&mut self, seq: u64) {
        if seq >= self.checkpoint {
            return;
        }
        assert!(
            seq >= self.base,
            "an index cannot roll back before its start"
        );
        let keep = |list: &mut Vec<Arc<Recorded>>| {
            let n = list.partition_point(|r| r.seq <= seq);
            list.truncate(n);
        };
        for entry in &mut self.accounts {
            keep(&mut entry.events);
            keep(&mut entry.status_events);
            keep(&mut entry.hierarchy);
            entry.status_timeline = status_timeline(&entry.status_events);
            keep(&mut entry.child_refs);
            keep(&mut entry.txns);
            entry.opened_seq = entry.opened_seq.filter(|s| *s <= seq);
        }
        for entry in self.persons.values_mut() {
            keep(&mut entry.events);
            keep(&mut entry.lifecycle);
            keep(&mut entry.org);
            entry.joined_seq = entry.joined_seq.filter(|s| *s <= seq);
        }
        keep(&mut self.org);
        let n = self.txn_rows.partition_point(|r| r.seq <= seq);
        self.txns.retain(|_, row| *row < n);
        self.reversed.retain(|row, s| *row < n && *s <= seq);
        self.txn_rows.truncate(n);
        self.recorded_at.truncate((seq - self.base) as usize);
        self.checkpoint = seq;
        self.validator.get_mut().clear();
    }

    /// The seq that opened the account, if it was ever opened.
    pub fn opened_seq(&self, account: &str) -> Option<u64> {
        self.account(account).and_then(|a| a.opened_seq)
    }

    /// The seq at which the person joined, if ever.
    pub fn joined_seq(&self, person: &str) -> Option<u64> {
        self.persons.get(person).and_then(|p| p.joined_seq)
    }

    /// What is known of a transaction id.
    pub fn txn(&self, txn: &str) -> Option<TxnInfo> {
        let index = *self.txns.get(txn)?;
        let row = &self.txn_rows[index];
        Some(TxnInfo {
            account: row.account,
            effective_at: row.effective_at,
            seq: row.seq,
            kind: row.kind,
            currency: row.currency,
            amount_minor: row.amount_minor,
            reversed_seq: self.reversed.get(&index).copied(),
        })
    }

    /// The events the status of an account depends on (opened, status changes).
    pub fn status_events(&self, account: &str) -> &[Arc<Recorded>] {
        self.account(account)
            .map(|a| a.status_events.as_slice())
            .unwrap_or_default()
    }

    /// The account's status, and since when, after every known event at or before `at`:
    /// `None` when it was not opened by then.
    pub fn status_at(&self, account: &str, at: Timestamp) -> Option<(Status, Timestamp)> {
        crate::facts::status_at(&self.account(account)?.status_timeline, at)
    }

    /// The id of an account number (empty if unknown).
    pub fn account_of_number(&self, number: u32) -> String {
        self.account_names
            .get(number as usize)
            .cloned()
            .unwrap_or_default()
    }

    /// The last recorded time, if any event.
    pub fn last_recorded_at(&self) -> Option<Timestamp> {
        self.recorded_at.last().copied()
    }
}

/// What the index keeps of a transaction event: for a reversal, the original's kind,
/// currency and amount, and the original's txn id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnFact<'a> {
    pub account: &'a str,
    pub txn: &'a str,
    pub kind: TxnKind,
    pub currency: Currency,
    pub amount_minor: i64,
    pub reversal: bool,
}

impl Facts for MemIndex {
    fn txn(&self, txn: &str) -> Result<Option<KnownTxn>, SourceError> {
        Ok(MemIndex::txn(self, txn).map(|info| KnownTxn {
            account: self.account_of_number(info.account),
            effective_at: info.effective_at,
            reversed: info.reversed_seq.is_some(),
        }))
    }

    fn opened_at(&self, account: &str) -> Result<Option<Timestamp>, SourceError> {
        Ok(self.opened_seq(account).map(|_| {
            let first = self.status_events(account).first();
            first.map_or(Timestamp::MIN, |r| r.effective_at)
        }))
    }

    fn status_timeline(&self, account: &str) -> Result<Vec<StatusStep>, SourceError> {
        Ok(self
            .account(account)
            .map(|a| a.status_timeline.clone())
            .unwrap_or_default())
    }
}

impl Source for MemIndex {
    fn checkpoint(&self) -> u64 {
        self.checkpoint
    }

    fn seq_known_at(&self, known_at: Timestamp) -> Result<u64, SourceError> {
        let known = self.recorded_at.partition_point(|t| *t <= known_at) as u64;
        if known == 0 && self.base > 0 {
            return Err(SourceError::new(format!(
                "this index starts after seq {}: it cannot tell what was known before",
                self.base
            )));
        }
        Ok(self.base + known)
    }

    fn account_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(self
            .account(account)
            .map(|a| a.events.clone())
            .unwrap_or_default())
    }

    fn child_refs(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(self
            .account(account)
            .map(|a| a.child_refs.clone())
            .unwrap_or_default())
    }

    fn person_events(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(self
            .persons
            .get(person)
            .map(|p| p.events.clone())
            .unwrap_or_default())
    }

    fn org_events(&self) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(self.org.clone())
    }

    fn account_ids(&self) -> Result<Vec<String>, SourceError> {
        let ids: BTreeSet<&String> = self
            .accounts
            .iter()
            .zip(&self.account_names)
            .filter(|(a, _)| a.opened_seq.is_some())
            .map(|(_, id)| id)
            .collect();
        Ok(ids.into_iter().cloned().collect())
    }

    fn person_ids(&self) -> Result<Vec<String>, SourceError> {
        let ids: BTreeSet<&String> = self
            .persons
            .iter()
            .filter(|(_, p)| p.joined_seq.is_some())
            .map(|(id, _)| id)
            .collect();
        Ok(ids.into_iter().cloned().collect())
    }

    fn txn_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        if self.keeps != TxnKeeping::Events {
            return Err(SourceError::new(
                "this index keeps transactions only as rows",
            ));
        }
        Ok(self
            .account(account)
            .map(|a| a.txns.clone())
            .unwrap_or_default())
    }

    fn txn_rows(&self, each: &mut dyn FnMut(&TxnRow)) -> Result<(), SourceError> {
        self.txn_rows.iter().for_each(each);
        Ok(())
    }

    fn account_of(&self, number: u32) -> Option<String> {
        self.account_names.get(number as usize).cloned()
    }

    fn account_number(&self, account: &str) -> Option<u32> {
        self.account_numbers.get(account).copied()
    }

    fn account_hierarchy(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(self
            .account(account)
            .map(|a| a.hierarchy.clone())
            .unwrap_or_default())
    }

    fn person_lifecycle(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(self
            .persons
            .get(person)
            .map(|p| p.lifecycle.clone())
            .unwrap_or_default())
    }

    fn person_org_events(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(self
            .persons
            .get(person)
            .map(|p| p.org.clone())
            .unwrap_or_default())
    }
}

/// A transaction's currency and amount in minor units (both checked when it was parsed),
/// the currency looked up once.
fn txn_money(d: &arl_domain::TxnRecorded) -> Option<(Currency, i64)> {
    let currency = d.currency()?;
    let amount_minor = arl_domain::money::parse_amount(&d.amount, currency).ok()?;
    Some((currency, amount_minor))
}

/// A transaction id as a key of the index: ids up to 23 bytes (all the usual ones) inline,
/// so a million transactions do not cost a million small allocations and a rehash reads no
/// other memory. Hashes and compares as its `str`.
#[derive(Clone)]
enum TxnKey {
    Inline {
        len: u8,
        bytes: [u8; TxnKey::INLINE],
    },
    Heap(Box<str>),
}

impl TxnKey {
    const INLINE: usize = 22;

    fn new(id: &str) -> TxnKey {
        if id.len() <= TxnKey::INLINE {
            let mut bytes = [0u8; TxnKey::INLINE];
            bytes[..id.len()].copy_from_slice(id.as_bytes());
            TxnKey::Inline {
                len: id.len() as u8,
                bytes,
            }
        } else {
            TxnKey::Heap(id.into())
        }
    }

    fn as_str(&self) -> &str {
        match self {
            TxnKey::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)])
                .unwrap_or_else(|_| unreachable!("made from a str")),
            TxnKey::Heap(id) => id,
        }
    }
}

impl std::borrow::Borrow<str> for TxnKey {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for TxnKey {
    fn eq(&self, other: &TxnKey) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TxnKey {}

impl std::hash::Hash for TxnKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::fmt::Debug for TxnKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(seq: u64, kind: &str, data: &str) -> Recorded {
        let at = Timestamp::parse_input("2024-01-01").unwrap();
        Recorded {
            seq,
            effective_at: at,
            recorded_at: at,
            event: Event::parse(kind, data).unwrap(),
        }
    }

    #[test]
    fn a_batch_index_keeps_nothing_of_transactions() {
        let events = [
            recorded(
                1,
                "account.opened",
                r#"{"account":"acme","name":"ACME","scope":"global"}"#,
            ),
            recorded(
                2,
                "transaction.recorded",
                r#"{"account":"globex","txn":"t1","kind":"sale","amount":"12.5","currency":"EUR"}"#,
            ),
            recorded(
                3,
                "transaction.reversed",
                r#"{"account":"globex","txn":"t1"}"#,
            ),
        ];
        // A batch that is the whole log, against an index of the log.
        let (mut batch, mut whole) = (MemIndex::after(0), MemIndex::without_txn_events());
        for r in &events {
            batch.insert_ref(r);
            whole.insert_ref(r);
        }
        for index in [&batch, &whole] {
            assert_eq!(Source::account_number(index, "acme"), Some(0));
            assert_eq!(Source::checkpoint(index), 3);
        }
        // Numbered by its transaction in the index of the log only.
        assert_eq!(Source::account_number(&whole, "globex"), Some(1));
        assert_eq!(Source::account_number(&batch, "globex"), None);
        // The whole index answers for the transaction; the batch's leaves it to its user.
        assert!(Facts::txn(&whole, "t1").unwrap().unwrap().reversed);
        assert_eq!(Facts::txn(&batch, "t1").unwrap(), None);
        let mut rows = 0;
        Source::txn_rows(&batch, &mut |_| rows += 1).unwrap();
        assert_eq!(rows, 0);
        Source::txn_rows(&whole, &mut |_| rows += 1).unwrap();
        assert_eq!(rows, 2);
    }
}
