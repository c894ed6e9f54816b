//! [`Known`]: what validation of a batch knows — the committed views, read through the same
//! reader queries use, plus the events of the batch checked so far — behind the narrow
//! [`Facts`] trait. Opening it costs the same at any size of the ledger: the reader reads
//! `heads`, the transaction-id index is opened when a txn id is first asked for, and every
//! answer reads only the chains it names.

use crate::format::TXN_RECORD_BYTES;
use crate::txnids::{known_txn, TxnFilter, TxnIdsReader};
use crate::{ViewError, ViewReader};
use arl_domain::{Event, Recorded, Timestamp};
use arl_fold::{Facts, KnownTxn, MemIndex, Source, SourceError, TxnRow};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The most txn ids [`Known`] makes room for before the batch is checked (about 8 MB).
const BATCH_TXNS_ROOM_MAX: usize = 1 << 17;

/// The committed views and the batch so far (see the module documentation).
pub(crate) struct Known<'v> {
    committed: &'v ViewReader,
    /// The transaction-id index, opened at the first txn id looked up: a batch without
    /// transactions does not open it.
    txn_ids: std::cell::OnceCell<TxnIdsReader>,
    /// The writer's filter of the committed txn ids, when it holds exactly the committed
    /// entries: an id it does not hold is looked up no further.
    txn_filter: Option<&'v TxnFilter>,
    /// The batch's events checked so far, by entity.
    batch: MemIndex,
    /// What the batch says of txn ids: recorded in it, or reversed in it.
    batch_txns: HashMap<String, KnownTxn>,
}

impl<'v> Known<'v> {
    /// What is known before a batch of `events` events: the views `committed` reads, with
    /// the filter of their txn ids when there is one ([`TxnFilter`]; ignored unless it holds
    /// every committed entry and no other).
    pub(crate) fn new(
        committed: &'v ViewReader,
        txn_filter: Option<&'v TxnFilter>,
        events: usize,
    ) -> Result<Known<'v>, ViewError> {
        let entries = committed.heads().txns_len / TXN_RECORD_BYTES;
        Ok(Known {
            txn_ids: std::cell::OnceCell::new(),
            txn_filter: txn_filter.filter(|f| f.covers() == entries),
            batch: MemIndex::after(Source::checkpoint(committed)),
            // Room for the txn ids of a batch of transactions, up to a bound.
            batch_txns: HashMap::with_capacity_and_hasher(
                events.min(BATCH_TXNS_ROOM_MAX),
                Default::default(),
            ),
            committed,
        })
    }

    /// Adds the next event of the batch (checked) so that later events see it.
    pub(crate) fn insert(&mut self, recorded: &Recorded) -> Result<(), SourceError> {
        match &recorded.event {
            Event::TxnRecorded(d) => {
                let known = KnownTxn {
                    account: d.account.clone(),
                    effective_at: recorded.effective_at,
                    reversed: false,
                };
                self.batch_txns.insert(d.txn.clone(), known);
            }
            Event::TxnReversed(d) => {
                let mut known = self.txn(&d.txn)?.ok_or_else(|| {
                    SourceError::new(format!("a checked reversal of {:?} found no txn", d.txn))
                })?;
                known.reversed = true;
                self.batch_txns.insert(d.txn.clone(), known);
            }
            _ => {}
        }
        self.batch.insert_ref(recorded);
        Ok(())
    }

    /// The committed events `read` returns followed by the batch's `batch` returns.
    fn both(
        &self,
        read: impl FnOnce(&ViewReader) -> Result<Vec<Arc<Recorded>>, ViewError>,
        batch: impl FnOnce(&MemIndex) -> Result<Vec<Arc<Recorded>>, SourceError>,
    ) -> Result<Vec<Arc<Recorded>>, SourceError> {
        let mut events = read(self.committed)?;
        events.extend(batch(&self.batch)?);
        Ok(events)
    }

    /// Numbers of accounts the committed views do not number come after theirs.
    fn committed_accounts(&self) -> u32 {
        self.committed.heads().accounts.len() as u32
    }
}

/// Sorted ids of both lists, each once.
fn merged(committed: Vec<String>, batch: Vec<String>) -> Vec<String> {
    let ids: BTreeSet<String> = committed.into_iter().chain(batch).collect();
    ids.into_iter().collect()
}

fn not_kept(what: &str) -> SourceError {
    SourceError::new(format!("{what} are not read while validating a batch"))
}

impl Facts for Known<'_> {
    fn txn(&self, txn: &str) -> Result<Option<KnownTxn>, SourceError> {
        if let Some(known) = self.batch_txns.get(txn) {
            return Ok(Some(known.clone()));
        }
        if self.txn_filter.is_some_and(|f| !f.may_hold(txn)) {
            return Ok(None);
        }
        // Opened at the first txn id asked for: most batches never ask.
        let ids = if let Some(ids) = self.txn_ids.get() {
            ids
        } else {
            let opened = TxnIdsReader::open(self.committed)?;
            self.txn_ids.get_or_init(|| opened)
        };
        Ok(known_txn(self.committed, ids, txn)?)
    }
}

impl Source for Known<'_> {
    fn checkpoint(&self) -> u64 {
        Source::checkpoint(&self.batch)
    }

    fn seq_known_at(&self, known_at: Timestamp) -> Result<u64, SourceError> {
        match self.batch.seq_known_at(known_at) {
            Ok(seq) => Ok(seq),
            Err(_) => Ok(self.committed.seq_known_at(known_at)?),
        }
    }

    fn account_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.both(
            |views| views.account_events(account),
            |batch| batch.account_events(account),
        )
    }

    fn child_refs(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.both(
            |views| views.child_refs(account),
            |batch| batch.child_refs(account),
        )
    }

    fn person_events(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.both(
            |views| views.person_events(person),
            |batch| batch.person_events(person),
        )
    }

    fn org_events(&self) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.both(ViewReader::org_events, Source::org_events)
    }

    fn account_ids(&self) -> Result<Vec<String>, SourceError> {
        Ok(merged(
            self.committed.account_ids(),
            self.batch.account_ids()?,
        ))
    }

    fn person_ids(&self) -> Result<Vec<String>, SourceError> {
        Ok(merged(
            self.committed.person_ids(),
            self.batch.person_ids()?,
        ))
    }

    fn txn_events(&self, _account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Err(not_kept("transaction events"))
    }

    fn txn_rows(&self, _each: &mut dyn FnMut(&TxnRow)) -> Result<(), SourceError> {
        Err(not_kept("transaction rows"))
    }

    fn account_of(&self, number: u32) -> Option<String> {
        match number.checked_sub(self.committed_accounts()) {
            None => self.committed.account_of(number),
            Some(in_batch) => self.batch.account_of(in_batch),
        }
    }

    fn account_number(&self, account: &str) -> Option<u32> {
        Source::account_number(self.committed, account).or_else(|| {
            let in_batch = Source::account_number(&self.batch, account)?;
            Some(self.committed_accounts() + in_batch)
        })
    }

    fn account_hierarchy(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.both(
            |views| views.account_hierarchy(account),
            |batch| batch.account_hierarchy(account),
        )
    }

    fn person_lifecycle(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        let mut events = self.committed.person_org_events(person)?;
        events.retain(|r| matches!(r.event, Event::PersonJoined(_) | Event::PersonLeft(_)));
        events.extend(self.batch.person_lifecycle(person)?);
        Ok(events)
    }

    fn person_org_events(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.both(
            |views| views.person_org_events(person),
            |batch| batch.person_org_events(person),
        )
    }
}
