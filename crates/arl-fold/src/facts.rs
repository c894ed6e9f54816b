//! What validation asks of the ledger: the narrow [`Facts`] trait.
//!
//! Validation reads the events an event's rule depends on through [`Source`] (an account's
//! events, a person's joining and leaving, reporting lines, hierarchies) and folds them with
//! [`crate::State`]; besides those it needs a few "at any time" facts: whether an account was
//! ever opened or a person ever joined, an account's status over time, and what is known of a
//! transaction id. [`Facts`] adds those, with default answers folded from the source's
//! events, so that an implementation only has to add transaction ids. The in-memory
//! [`crate::MemIndex`] answers from its maps; the persisted views (crate `arl-views`) answer
//! from their entity-chained files and their transaction-id index.

use crate::source::{Source, SourceError};
use arl_domain::{Event, Recorded, RuleError, Status, Timestamp};
use std::sync::Arc;

/// What is known of a transaction id: where its `transaction.recorded` lies and whether a
/// `transaction.reversed` of it was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownTxn {
    /// The account the transaction was recorded on.
    pub account: String,
    /// The valid time of its `transaction.recorded`.
    pub effective_at: Timestamp,
    /// True when a `transaction.reversed` of it was recorded.
    pub reversed: bool,
}

/// One step of an account's status over valid time: from `since` (the event at `seq`) on,
/// the account has `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusStep {
    pub since: Timestamp,
    pub seq: u64,
    pub status: Status,
}

/// Why validation gave no verdict or a negative one.
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    /// A rule of the contract's §3 is broken.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// Reading the facts failed (IO, or a damaged view file).
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// The facts validation reads (see the module documentation). Every answer covers exactly
/// the events the implementation holds (its [`Source::checkpoint`]).
pub trait Facts: Source {
    /// What is known of a transaction id, `None` when it was never recorded.
    fn txn(&self, txn: &str) -> Result<Option<KnownTxn>, SourceError>;

    /// The valid time of the account's opening, `None` when it was never opened. (The
    /// first of its opening and status events in seq order, as the status timeline starts.)
    fn opened_at(&self, account: &str) -> Result<Option<Timestamp>, SourceError> {
        let mut events = self.account_hierarchy(account)?;
        if !events
            .iter()
            .any(|r| matches!(r.event, Event::AccountOpened(_)))
        {
            return Ok(None);
        }
        events.retain(|r| is_status_event(&r.event));
        Ok(events.iter().min_by_key(|r| r.seq).map(|r| r.effective_at))
    }

    /// The valid time of the person's joining, `None` when they never joined.
    fn joined_at(&self, person: &str) -> Result<Option<Timestamp>, SourceError> {
        let events = self.person_lifecycle(person)?;
        let joined = events
            .iter()
            .filter(|r| matches!(r.event, Event::PersonJoined(_)))
            .min_by_key(|r| r.seq);
        Ok(joined.map(|r| r.effective_at))
    }

    /// The account's statuses over valid time, in fold order.
    fn status_timeline(&self, account: &str) -> Result<Vec<StatusStep>, SourceError> {
        let mut events = self.account_hierarchy(account)?;
        events.retain(|r| is_status_event(&r.event));
        Ok(status_timeline(&events))
    }
}

/// True for the events an account's status depends on.
pub(crate) fn is_status_event(event: &Event) -> bool {
    matches!(event, Event::AccountOpened(_) | Event::StatusChanged(_))
}

/// The statuses an account's opened and status events give, folded in valid-time order.
pub(crate) fn status_timeline(events: &[Arc<Recorded>]) -> Vec<StatusStep> {
    let mut sorted: Vec<&Recorded> = events.iter().map(AsRef::as_ref).collect();
    sorted.sort_by_key(|r| r.point());
    let mut out: Vec<StatusStep> = Vec::new();
    for r in sorted {
        let step = StatusStep {
            since: r.effective_at,
            seq: r.seq,
            status: match &r.event {
                Event::AccountOpened(d) if out.is_empty() => d.status,
                Event::StatusChanged(d)
                    if out.last().is_some_and(|last| last.status != d.status) =>
                {
                    d.status
                }
                _ => continue,
            },
        };
        out.push(step);
    }
    out
}

/// The status at `at` of a timeline, and since when: `None` when not opened by then.
pub(crate) fn status_at(timeline: &[StatusStep], at: Timestamp) -> Option<(Status, Timestamp)> {
    let n = timeline.partition_point(|step| step.since <= at);
    n.checked_sub(1)
        .map(|i| (timeline[i].status, timeline[i].since))
}
