//! The fold's [`Source`] over stream parts: whoever supplies the parts (the ledger when it
//! builds a bundle, the bundle when a checker checks it), the same questions read the same
//! parts, and the source remembers which parts they read.

use arl_domain::{Event, Recorded, Timestamp};
use arl_fold::{Source, SourceError, TxnRow};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Where the stream parts come from.
pub trait Parts {
    /// The envelopes of the part `key` visible to the question (seq at or below its point),
    /// or an error when the part cannot be given.
    fn part(&self, key: &str) -> Result<Vec<Arc<Recorded>>, SourceError>;
}

/// A [`Source`] that reads only stream parts and records their keys.
pub struct PartSource<P: Parts> {
    parts: P,
    size: u64,
    read: RefCell<BTreeSet<String>>,
    numbers: RefCell<Vec<String>>,
}

fn unsupported(what: &str) -> SourceError {
    SourceError::new(format!(
        "{what} reads the whole ledger; evidence covers questions about one account or person"
    ))
}

impl<P: Parts> PartSource<P> {
    /// A source over `parts` of a log of `size` envelopes.
    pub fn new(parts: P, size: u64) -> PartSource<P> {
        PartSource {
            parts,
            size,
            read: RefCell::new(BTreeSet::new()),
            numbers: RefCell::new(Vec::new()),
        }
    }

    /// The keys of the parts read so far.
    pub fn keys_read(&self) -> BTreeSet<String> {
        self.read.borrow().clone()
    }

    /// The parts' supplier.
    pub fn parts(&self) -> &P {
        &self.parts
    }

    fn read(&self, keys: &[String]) -> Result<Vec<Arc<Recorded>>, SourceError> {
        let mut out = Vec::new();
        for key in keys {
            self.read.borrow_mut().insert(key.clone());
            out.extend(self.parts.part(key)?);
        }
        Ok(out)
    }
}

fn account_key(account: &str, part: &str) -> String {
    format!("account/{account}#{part}")
}

fn person_key(person: &str, part: &str) -> String {
    format!("person/{person}#{part}")
}

impl<P: Parts> Source for PartSource<P> {
    fn checkpoint(&self) -> u64 {
        self.size
    }

    fn seq_known_at(&self, _known_at: Timestamp) -> Result<u64, SourceError> {
        Err(unsupported("resolving --known-at"))
    }

    fn account_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.read(&[account_key(account, "hier"), account_key(account, "rest")])
    }

    fn child_refs(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.read(&[account_key(account, "children")])
    }

    fn person_events(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.read(&[
            person_key(person, "life"),
            person_key(person, "lines"),
            person_key(person, "teams"),
        ])
    }

    fn org_events(&self) -> Result<Vec<Arc<Recorded>>, SourceError> {
        Err(unsupported("the org chart"))
    }

    fn account_ids(&self) -> Result<Vec<String>, SourceError> {
        Err(unsupported("listing every account"))
    }

    fn person_ids(&self) -> Result<Vec<String>, SourceError> {
        Err(unsupported("listing every person"))
    }

    fn txn_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.read(&[account_key(account, "txns")])
    }

    fn txn_rows(&self, _each: &mut dyn FnMut(&TxnRow)) -> Result<(), SourceError> {
        Err(unsupported("every transaction"))
    }

    fn account_of(&self, number: u32) -> Option<String> {
        self.numbers.borrow().get(number as usize).cloned()
    }

    fn account_number(&self, account: &str) -> Option<u32> {
        let mut numbers = self.numbers.borrow_mut();
        let at = if let Some(at) = numbers.iter().position(|a| a == account) {
            at
        } else {
            numbers.push(account.to_string());
            numbers.len() - 1
        };
        u32::try_from(at).ok()
    }

    fn account_txn_rows(
        &self,
        account: &str,
        each: &mut dyn FnMut(&TxnRow),
    ) -> Result<(), SourceError> {
        let Some(number) = self.account_number(account) else {
            return Ok(());
        };
        let mut events = self.txn_events(account)?;
        events.sort_by_key(|r| r.seq);
        for row in txn_rows(&events, number) {
            each(&row);
        }
        Ok(())
    }

    fn account_hierarchy(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.read(&[account_key(account, "hier")])
    }

    fn person_lifecycle(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.read(&[person_key(person, "life")])
    }

    fn person_org_events(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        self.read(&[person_key(person, "life"), person_key(person, "lines")])
    }
}

/// The compact rows of one account's transaction events (in seq order), as the ledger's
/// index makes them: a reversal carries its original's kind, currency and amount; a
/// recorded transaction whose amount does not convert, or a reversal of an unknown id,
/// gives no row.
fn txn_rows(events: &[Arc<Recorded>], number: u32) -> Vec<TxnRow> {
    let mut originals: HashMap<&str, (arl_domain::TxnKind, arl_domain::money::Currency, i64)> =
        HashMap::new();
    let mut rows = Vec::new();
    for recorded in events {
        let fact = match &recorded.event {
            Event::TxnRecorded(d) => match (d.currency(), d.amount_minor()) {
                (Some(currency), Some(amount)) => {
                    originals.insert(&d.txn, (d.kind, currency, amount));
                    Some((d.kind, currency, amount, false))
                }
                _ => None,
            },
            Event::TxnReversed(d) => originals
                .get(d.txn.as_str())
                .map(|(kind, currency, amount)| (*kind, *currency, *amount, true)),
            _ => None,
        };
        if let Some((kind, currency, amount_minor, reversal)) = fact {
            rows.push(TxnRow {
                seq: recorded.seq,
                effective_at: recorded.effective_at,
                account: number,
                kind,
                reversal,
                currency,
                amount_minor,
            });
        }
    }
    rows
}
