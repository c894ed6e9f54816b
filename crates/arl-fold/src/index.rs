//! An in-memory index of the log by entity: what the writer validates appends against, what
//! a rebuild fills, and what the tests compare the persisted views with.

use crate::source::{Source, SourceError, TxnRow};
use arl_domain::money::Currency;
use arl_domain::{Event, Recorded, Timestamp, TxnKind};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// What the "at any time" rules need to know of a transaction id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnInfo {
    pub account: String,
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
    number: u32,
    opened_seq: Option<u64>,
    /// Non-transaction events of the account's stream.
    events: Vec<Arc<Recorded>>,
    /// Opened and status changes: all that the account's status depends on.
    status_events: Vec<Arc<Recorded>>,
    child_refs: Vec<Arc<Recorded>>,
    txns: Vec<Arc<Recorded>>,
}

#[derive(Debug, Default)]
struct PersonEntry {
    joined_seq: Option<u64>,
    events: Vec<Arc<Recorded>>,
}

/// The log's events grouped by entity, in memory.
#[derive(Debug, Default)]
pub struct MemIndex {
    keep_txn_events: bool,
    checkpoint: u64,
    recorded_at: Vec<Timestamp>,
    accounts: HashMap<String, AccountEntry>,
    account_names: Vec<String>,
    persons: HashMap<String, PersonEntry>,
    org: Vec<Arc<Recorded>>,
    txns: HashMap<String, TxnInfo>,
    txn_rows: Vec<TxnRow>,
}

impl MemIndex {
    /// An empty index that keeps every event, transactions included.
    pub fn new() -> MemIndex {
        MemIndex {
            keep_txn_events: true,
            ..MemIndex::default()
        }
    }

    /// An empty index that keeps transactions only as compact rows and ids: enough to
    /// validate appends and answer balances, with a fraction of the memory.
    pub fn without_txn_events() -> MemIndex {
        MemIndex {
            keep_txn_events: false,
            ..MemIndex::default()
        }
    }

    /// Adds the next event of the log. Events must come in seq order without gaps.
    pub fn insert(&mut self, recorded: Recorded) {
        assert_eq!(
            recorded.seq,
            self.checkpoint + 1,
            "events must be inserted in seq order"
        );
        self.checkpoint = recorded.seq;
        self.recorded_at.push(recorded.recorded_at);
        let recorded = Arc::new(recorded);
        let seq = recorded.seq;
        match &recorded.event {
            Event::TxnRecorded(d) => {
                let number = self.account_entry(&d.account).number;
                if let (Some(currency), Some(amount_minor)) = (d.currency(), d.amount_minor()) {
                    let info = TxnInfo {
                        account: d.account.clone(),
                        effective_at: recorded.effective_at,
                        seq,
                        kind: d.kind,
                        currency,
                        amount_minor,
                        reversed_seq: None,
                    };
                    self.txn_rows
                        .push(row(&info, number, seq, recorded.effective_at, false));
                    self.txns.insert(d.txn.clone(), info);
                }
                self.keep_txn(&d.account, &recorded);
            }
            Event::TxnReversed(d) => {
                let number = self.account_entry(&d.account).number;
                if let Some(info) = self.txns.get_mut(&d.txn) {
                    info.reversed_seq = Some(seq);
                    let info = info.clone();
                    self.txn_rows
                        .push(row(&info, number, seq, recorded.effective_at, true));
                }
                self.keep_txn(&d.account, &recorded);
            }
            Event::PersonJoined(_)
            | Event::PersonLeft(_)
            | Event::LineSet(_)
            | Event::LineEnded(_) => {
                let person = recorded.event.person().unwrap_or_default().to_string();
                let entry = self.persons.entry(person).or_default();
                if matches!(recorded.event, Event::PersonJoined(_)) && entry.joined_seq.is_none() {
                    entry.joined_seq = Some(seq);
                }
                entry.events.push(recorded.clone());
                self.org.push(recorded);
            }
            event => {
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
                    self.account_entry(&parent)
                        .child_refs
                        .push(recorded.clone());
                }
                let entry = self.account_entry(&account);
                if matches!(event, Event::AccountOpened(_) | Event::StatusChanged(_)) {
                    if matches!(event, Event::AccountOpened(_)) && entry.opened_seq.is_none() {
                        entry.opened_seq = Some(seq);
                    }
                    entry.status_events.push(recorded.clone());
                }
                entry.events.push(recorded);
            }
        }
    }

    fn keep_txn(&mut self, account: &str, recorded: &Arc<Recorded>) {
        if self.keep_txn_events {
            self.account_entry(account).txns.push(recorded.clone());
        }
    }

    fn account_entry(&mut self, account: &str) -> &mut AccountEntry {
        if !self.accounts.contains_key(account) {
            let number = self.account_names.len() as u32;
            self.account_names.push(account.to_string());
            self.accounts.insert(
                account.to_string(),
                AccountEntry {
                    number,
                    ..AccountEntry::default()
                },
            );
        }
        self.accounts.get_mut(account).expect("inserted above")
    }

    /// Forgets every event after `seq` (used when a batch is rejected half-way through
    /// validation). Account numbers given meanwhile stay given; they carry no meaning.
    pub fn rollback_to(&mut self, seq: u64) {
        if seq >= self.checkpoint {
            return;
        }
        let keep = |list: &mut Vec<Arc<Recorded>>| {
            let n = list.partition_point(|r| r.seq <= seq);
            list.truncate(n);
        };
        for entry in self.accounts.values_mut() {
            keep(&mut entry.events);
            keep(&mut entry.status_events);
            keep(&mut entry.child_refs);
            keep(&mut entry.txns);
            entry.opened_seq = entry.opened_seq.filter(|s| *s <= seq);
        }
        for entry in self.persons.values_mut() {
            keep(&mut entry.events);
            entry.joined_seq = entry.joined_seq.filter(|s| *s <= seq);
        }
        keep(&mut self.org);
        self.txns.retain(|_, info| info.seq <= seq);
        for info in self.txns.values_mut() {
            info.reversed_seq = info.reversed_seq.filter(|s| *s <= seq);
        }
        let n = self.txn_rows.partition_point(|r| r.seq <= seq);
        self.txn_rows.truncate(n);
        self.recorded_at.truncate(seq as usize);
        self.checkpoint = seq;
    }

    /// The seq that opened the account, if it was ever opened.
    pub fn opened_seq(&self, account: &str) -> Option<u64> {
        self.accounts.get(account).and_then(|a| a.opened_seq)
    }

    /// The seq at which the person joined, if ever.
    pub fn joined_seq(&self, person: &str) -> Option<u64> {
        self.persons.get(person).and_then(|p| p.joined_seq)
    }

    /// What is known of a transaction id.
    pub fn txn(&self, txn: &str) -> Option<&TxnInfo> {
        self.txns.get(txn)
    }

    /// The events the status of an account depends on (opened, status changes).
    pub fn status_events(&self, account: &str) -> &[Arc<Recorded>] {
        self.accounts
            .get(account)
            .map(|a| a.status_events.as_slice())
            .unwrap_or_default()
    }

    /// The last recorded time, if any event.
    pub fn last_recorded_at(&self) -> Option<Timestamp> {
        self.recorded_at.last().copied()
    }
}

fn row(info: &TxnInfo, account: u32, seq: u64, effective_at: Timestamp, reversal: bool) -> TxnRow {
    TxnRow {
        seq,
        effective_at,
        account,
        kind: info.kind,
        reversal,
        currency: info.currency,
        amount_minor: info.amount_minor,
    }
}

impl Source for MemIndex {
    fn checkpoint(&self) -> u64 {
        self.checkpoint
    }

    fn seq_known_at(&self, known_at: Timestamp) -> Result<u64, SourceError> {
        Ok(self.recorded_at.partition_point(|t| *t <= known_at) as u64)
    }

    fn account_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(self
            .accounts
            .get(account)
            .map(|a| a.events.clone())
            .unwrap_or_default())
    }

    fn child_refs(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Ok(self
            .accounts
            .get(account)
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
            .filter(|(_, a)| a.opened_seq.is_some())
            .map(|(id, _)| id)
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
        if !self.keep_txn_events {
            return Err(SourceError(
                "this index keeps transactions only as rows".into(),
            ));
        }
        Ok(self
            .accounts
            .get(account)
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
}
