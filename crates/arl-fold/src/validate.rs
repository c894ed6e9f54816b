//! Validation at append: a new event against the state as of its `effective_at`, as known
//! with everything before it in the log and in its own batch.

use crate::index::MemIndex;
use crate::state::State;
use crate::subset::SubsetBuilder;
use arl_domain::{Event, Recorded, RuleError};

/// Checks every §3 rule of `recorded` (the next event of the log, not yet inserted) against
/// `index`: the rules that hold "at any time" against everything known, the others against
/// the fold of the known events with `effective_at` at or before the event's.
pub fn validate(index: &MemIndex, recorded: &Recorded) -> Result<(), RuleError> {
    check_at_any_time(index, &recorded.event, recorded)?;
    let at = recorded.effective_at;
    let keep = move |r: &Recorded| r.effective_at <= at;
    let subset = match &recorded.event {
        Event::PersonJoined(_) | Event::TxnReversed(_) => return Ok(()),
        Event::TxnRecorded(d) => {
            let mut events: Vec<&Recorded> = index
                .status_events(&d.account)
                .iter()
                .map(|r| r.as_ref())
                .filter(|r| keep(r))
                .collect();
            events.sort_by_key(|r| r.point());
            return State::fold(events).check(recorded);
        }
        Event::PersonLeft(d) => {
            let mut builder = SubsetBuilder::new(index, keep);
            builder
                .person(&d.person)
                .map_err(|_| unreachable_source())?;
            builder.build()
        }
        Event::LineSet(_) | Event::LineEnded(_) => {
            let mut builder = SubsetBuilder::new(index, keep);
            builder.org().map_err(|_| unreachable_source())?;
            builder.build()
        }
        event => {
            let account = event.account().unwrap_or_default();
            let mut builder = SubsetBuilder::new(index, keep);
            builder.account(account).map_err(|_| unreachable_source())?;
            if let Some(person) = event.person() {
                builder.person(person).map_err(|_| unreachable_source())?;
            }
            let parent = match event {
                Event::AccountOpened(d) => d.parent.as_deref(),
                Event::ParentChanged(d) => d.parent.as_deref(),
                _ => None,
            };
            if let Some(parent) = parent {
                builder
                    .hierarchy(parent)
                    .map_err(|_| unreachable_source())?;
            }
            builder.build()
        }
    };
    State::fold(subset.iter()).check(recorded)
}

/// An in-memory index never fails to read.
fn unreachable_source() -> RuleError {
    unreachable!("the in-memory index cannot fail")
}

fn check_at_any_time(
    index: &MemIndex,
    event: &Event,
    recorded: &Recorded,
) -> Result<(), RuleError> {
    match event {
        Event::AccountOpened(d) if index.opened_seq(&d.account).is_some() => {
            let opened_at = index
                .status_events(&d.account)
                .first()
                .map(|r| r.effective_at);
            Err(RuleError::AccountAlreadyOpened {
                account: d.account.clone(),
                opened_at: opened_at.unwrap_or(recorded.effective_at),
            })
        }
        Event::PersonJoined(d) if index.joined_seq(&d.person).is_some() => {
            let events = crate::Source::person_events(index, &d.person).unwrap_or_default();
            let joined = events
                .iter()
                .find(|r| matches!(r.event, Event::PersonJoined(_)));
            Err(RuleError::PersonAlreadyJoined {
                person: d.person.clone(),
                joined_at: joined
                    .map(|r| r.effective_at)
                    .unwrap_or(recorded.effective_at),
            })
        }
        Event::TxnRecorded(d) => match index.txn(&d.txn) {
            Some(info) => Err(RuleError::TxnIdUsed {
                txn: d.txn.clone(),
                account: info.account.clone(),
            }),
            None => Ok(()),
        },
        Event::TxnReversed(d) => {
            let info = index
                .txn(&d.txn)
                .filter(|info| info.account == d.account)
                .ok_or_else(|| RuleError::TxnNotFound {
                    account: d.account.clone(),
                    txn: d.txn.clone(),
                })?;
            if info.effective_at > recorded.effective_at {
                return Err(RuleError::TxnAfterReversal {
                    txn: d.txn.clone(),
                    effective_at: info.effective_at,
                });
            }
            if info.reversed_seq.is_some() {
                return Err(RuleError::TxnAlreadyReversed { txn: d.txn.clone() });
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
