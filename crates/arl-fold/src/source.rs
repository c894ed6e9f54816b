//! Where the fold reads events from: a narrow trait over an index of the log, grouped by
//! entity. The in-memory [`crate::MemIndex`] implements it for append validation, rebuilds and
//! tests; the persisted views (crate `arl-views`) implement it over files that open fast.

use crate::subset::SubsetCache;
use arl_domain::money::Currency;
use arl_domain::{Event, Recorded, Timestamp, TxnKind};
use std::sync::Arc;

/// A failure to read the index (IO or a corrupt view file): what was being done, and the
/// source's own error, kept typed so that a caller can tell damage from other failures.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub message: String,
    #[source]
    pub cause: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl SourceError {
    /// A failure described by `message` alone.
    pub fn new(message: impl Into<String>) -> SourceError {
        SourceError {
            message: message.into(),
            cause: None,
        }
    }

    /// A failure while `doing` something, caused by `cause`.
    pub fn caused_by(
        doing: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> SourceError {
        SourceError {
            message: doing.into(),
            cause: Some(Box::new(cause)),
        }
    }
}

/// One transaction event in compact form, for balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnRow {
    pub seq: u64,
    pub effective_at: Timestamp,
    /// A stable number the source gives the account; [`Source::account_of`] turns it into
    /// the id.
    pub account: u32,
    /// The kind of the original transaction (for a reversal too).
    pub kind: TxnKind,
    /// True for a `transaction.reversed` row, which carries the original's kind, currency
    /// and amount and counts negated.
    pub reversal: bool,
    pub currency: Currency,
    pub amount_minor: i64,
}

/// An index of the log's events by entity. Every method returns events (shared, so an
/// in-memory index need not copy them) in any order; the fold sorts them by (`effective_at`, `seq`) and filters them by the point it is asked about.
pub trait Source {
    /// The last seq the index includes.
    fn checkpoint(&self) -> u64;
    /// The longest prefix of the log recorded at or before `known_at`: the largest seq `n`
    /// such that every event `1..=n` has `recorded_at <= known_at` (0 if none).
    fn seq_known_at(&self, known_at: Timestamp) -> Result<u64, SourceError>;
    /// Non-transaction events of the account's stream: `account.*`, `team.*`, `contact.*`.
    fn account_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError>;
    /// `account.opened` and `account.parent_changed` events of other accounts that name
    /// `account` as their parent.
    fn child_refs(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError>;
    /// `person.*` and `reporting.*` events whose subject is the person, and `team.*` events
    /// that name the person.
    fn person_events(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError>;
    /// Every `person.*` and `reporting.*` event.
    fn org_events(&self) -> Result<Vec<Arc<Recorded>>, SourceError>;
    /// Every account id ever opened, sorted.
    fn account_ids(&self) -> Result<Vec<String>, SourceError>;
    /// Every person id that ever joined, sorted.
    fn person_ids(&self) -> Result<Vec<String>, SourceError>;
    /// Transaction events (recorded and reversed) of the account.
    fn txn_events(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError>;
    /// Calls `each` for every transaction row, in seq order.
    fn txn_rows(&self, each: &mut dyn FnMut(&TxnRow)) -> Result<(), SourceError>;
    /// The account id of a [`TxnRow::account`] number.
    fn account_of(&self, number: u32) -> Option<String>;

    /// The number [`TxnRow::account`] uses for this account id, if it has one.
    fn account_number(&self, account: &str) -> Option<u32>;

    /// Calls `each` for every transaction row of one account, in seq order. A source may
    /// follow a per-account chain instead of scanning every row.
    fn account_txn_rows(
        &self,
        account: &str,
        each: &mut dyn FnMut(&TxnRow),
    ) -> Result<(), SourceError> {
        let Some(number) = self.account_number(account) else {
            return Ok(());
        };
        self.txn_rows(&mut |row| {
            if row.account == number {
                each(row);
            }
        })
    }

    /// The number of transaction rows (`txn_rows` calls `each` that many times).
    fn txn_row_count(&self) -> u64 {
        let mut n = 0;
        let _ = self.txn_rows(&mut |_| n += 1);
        n
    }

    /// Calls `each` for the transaction rows `from..to` (0-based, in seq order).
    fn txn_rows_range(
        &self,
        from: u64,
        to: u64,
        each: &mut dyn FnMut(&TxnRow),
    ) -> Result<(), SourceError> {
        let mut i = 0u64;
        self.txn_rows(&mut |row| {
            if (from..to).contains(&i) {
                each(row);
            }
            i += 1;
        })
    }

    /// This source, when it can be read from several threads at once.
    fn as_sync(&self) -> Option<&(dyn Source + Sync)> {
        None
    }

    /// Where questions of one account keep what they read of this source, when it holds
    /// still for as long as the cache lives (see [`SubsetCache`]).
    fn subsets(&self) -> Option<&SubsetCache> {
        None
    }

    /// The account's `account.opened`, `account.parent_changed` and `account.status_changed`
    /// events. A source may keep them apart to avoid reading the rest.
    fn account_hierarchy(&self, account: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        let mut events = self.account_events(account)?;
        events.retain(|r| crate::subset::is_hierarchy(&r.event));
        Ok(events)
    }

    /// The person's `person.joined` and `person.left` events.
    fn person_lifecycle(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        let mut events = self.person_events(person)?;
        events.retain(|r| matches!(r.event, Event::PersonJoined(_) | Event::PersonLeft(_)));
        Ok(events)
    }

    /// The `person.*` and `reporting.*` events whose subject is the person.
    fn person_org_events(&self, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        let mut events = self.person_events(person)?;
        events.retain(|r| r.event.account().is_none());
        Ok(events)
    }
}
