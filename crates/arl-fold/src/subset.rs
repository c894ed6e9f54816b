//! Choosing the few events a question depends on.
//!
//! The state of one account at a point depends on: its own non-transaction events; the
//! joining and leaving of the people its team events name; the hierarchy events (opened,
//! parent changes, status changes) of every account it ever named as parent, transitively
//! (for the parent rules and the cycle check); and, for its children, the hierarchy events
//! of every account that ever named it as parent, with their own closures. Folding just that
//! subset in (`effective_at`, `seq`) order gives exactly what the fold of the whole log gives
//! for that account: every rule those events check reads only facts inside the subset.

use crate::source::{Source, SourceError};
use arl_domain::{Event, Recorded, Timestamp};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A point of valid time and of knowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    /// Valid time: events with `effective_at` at or before this.
    pub as_of: Timestamp,
    /// Knowledge: events with `seq` at or below this.
    pub at_seq: u64,
}

impl Point {
    /// Everything recorded, at the end of valid time.
    pub const LATEST: Point = Point {
        as_of: Timestamp::MAX,
        at_seq: u64::MAX,
    };

    /// True when the event is visible at this point.
    pub fn sees(&self, recorded: &Recorded) -> bool {
        recorded.seq <= self.at_seq && recorded.effective_at <= self.as_of
    }
}

/// A set of events, ordered for the fold and free of duplicates.
#[derive(Debug, Default, Clone)]
pub struct Subset {
    /// Sorted by (`effective_at`, `seq`), one event per seq.
    events: Vec<Arc<Recorded>>,
}

impl Subset {
    /// The subset of `events` (in any order, an event possibly more than once; of the
    /// copies of one event, the last given is kept).
    fn of(mut events: Vec<Arc<Recorded>>) -> Subset {
        // Stable: the copies of one event stay in the order given.
        events.sort_by_key(|e| e.point());
        events.dedup_by(|later, kept| {
            let same = later.point() == kept.point();
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        Subset { events }
    }

    /// The events in fold order.
    pub fn iter(&self) -> impl Iterator<Item = &Recorded> {
        self.events.iter().map(std::convert::AsRef::as_ref)
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// The subsets of accounts' questions (card, team, contacts), built over all of a source's
/// events and kept for as long as the source holds still: the state of one committed
/// ledger, which a server answers many questions from.
///
/// The subset of an account at a point is this subset with the events the point does not
/// see left out: which accounts and people a [`SubsetBuilder`] follows is read from every
/// event it is given, seen or not, so only the events it keeps depend on the point. The
/// cache holds at most [`SUBSET_CACHE_EVENTS_MAX`] events in all; past that, subsets are
/// built and not kept.
pub struct SubsetCache {
    shards: [std::sync::Mutex<SubsetShard>; SUBSET_CACHE_SHARDS],
    hasher: std::collections::hash_map::RandomState,
}

/// Events a [`SubsetCache`] holds at most, over all its subsets.
pub const SUBSET_CACHE_EVENTS_MAX: usize = 1 << 20;
const SUBSET_CACHE_SHARDS: usize = 16;

#[derive(Default)]
struct SubsetShard {
    subsets: std::collections::HashMap<Box<str>, Arc<Subset>>,
    events: usize,
}

impl Default for SubsetCache {
    fn default() -> Self {
        SubsetCache {
            shards: std::array::from_fn(|_| Default::default()),
            hasher: Default::default(),
        }
    }
}

impl SubsetCache {
    /// An empty cache.
    pub fn new() -> SubsetCache {
        SubsetCache::default()
    }

    /// What the state of `account` and its children depends on, over every event of
    /// `source` (the source this cache belongs to): [`SubsetBuilder::account`] and
    /// [`SubsetBuilder::children`] keeping everything.
    pub fn account(&self, source: &dyn Source, account: &str) -> Result<Arc<Subset>, SourceError> {
        use std::hash::BuildHasher;
        let shard =
            &self.shards[(self.hasher.hash_one(account) >> 32) as usize % SUBSET_CACHE_SHARDS];
        let lock = || {
            shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(subset) = lock().subsets.get(account) {
            return Ok(subset.clone());
        }
        let mut builder = SubsetBuilder::new(source, |_| true);
        builder.account(account)?.children(account)?;
        let subset = Arc::new(builder.build());
        let mut kept = lock();
        if kept.events + subset.len() <= SUBSET_CACHE_EVENTS_MAX / SUBSET_CACHE_SHARDS
            && !kept.subsets.contains_key(account)
        {
            kept.events += subset.len();
            kept.subsets.insert(account.into(), subset.clone());
        }
        Ok(subset)
    }
}

/// True for the events an account's place in the hierarchy and its status depend on.
pub fn is_hierarchy(event: &Event) -> bool {
    matches!(
        event,
        Event::AccountOpened(_) | Event::ParentChanged(_) | Event::StatusChanged(_)
    )
}

fn named_parent(event: &Event) -> Option<&str> {
    match event {
        Event::AccountOpened(d) => d.parent.as_deref(),
        Event::ParentChanged(d) => d.parent.as_deref(),
        _ => None,
    }
}

/// Reads a person's `person.joined` and `person.left` events, as
/// [`Source::person_lifecycle`] does ([`SubsetBuilder::reading_lifecycles`]).
pub type ReadLifecycle<'s> = dyn FnMut(&str) -> Result<Vec<Arc<Recorded>>, SourceError> + 's;

/// Builds subsets from a [`Source`], remembering which accounts' hierarchies it holds.
pub struct SubsetBuilder<'s> {
    source: &'s dyn Source,
    keep: Box<dyn Fn(&Recorded) -> bool + 's>,
    /// The events kept so far, in the order added (sorted once, when built).
    kept: Vec<Arc<Recorded>>,
    hierarchies: BTreeSet<String>,
    accounts: BTreeSet<String>,
    people: BTreeSet<String>,
    org_people: BTreeSet<String>,
    /// Where [`SubsetBuilder::person`] reads a person's joining and leaving, when not from
    /// the source ([`SubsetBuilder::reading_lifecycles`]).
    lifecycles: Option<&'s mut ReadLifecycle<'s>>,
}

impl<'s> SubsetBuilder<'s> {
    /// A builder keeping only events `keep` accepts (usually [`Point::sees`]).
    pub fn new(source: &'s dyn Source, keep: impl Fn(&Recorded) -> bool + 's) -> SubsetBuilder<'s> {
        SubsetBuilder {
            source,
            keep: Box::new(keep),
            kept: Vec::new(),
            hierarchies: BTreeSet::new(),
            accounts: BTreeSet::new(),
            people: BTreeSet::new(),
            org_people: BTreeSet::new(),
            lifecycles: None,
        }
    }

    /// This builder reading each person's `person.joined` and `person.left` events through
    /// `read` (which must give what [`Source::person_lifecycle`] of the builder's source
    /// gives) instead of asking the source: a validator keeps them from one fold to the next.
    pub fn reading_lifecycles(mut self, read: &'s mut ReadLifecycle<'s>) -> SubsetBuilder<'s> {
        self.lifecycles = Some(read);
        self
    }

    /// Adds what the state of `account` (card, team, contacts) depends on.
    pub fn account(&mut self, account: &str) -> Result<&mut Self, SourceError> {
        for parent in self.own(account)? {
            self.hierarchy(&parent)?;
        }
        Ok(self)
    }

    /// Adds the account's own events and the joining and leaving of the people they name:
    /// everything the account's state depends on but whether its parent changes applied
    /// (that depends on the new parents' facts at the time; see [`SubsetBuilder::account`]).
    pub fn account_own(&mut self, account: &str) -> Result<&mut Self, SourceError> {
        self.own(account)?;
        Ok(self)
    }

    /// Adds the account's own events and its people's joining and leaving; returns the
    /// parents its events name (none when the account was added before).
    fn own(&mut self, account: &str) -> Result<BTreeSet<String>, SourceError> {
        let mut parents = BTreeSet::new();
        if !self.accounts.insert(account.to_string()) {
            return Ok(parents);
        }
        let events = self.source.account_events(account)?;
        let mut people = BTreeSet::new();
        for event in &events {
            if let Some(parent) = named_parent(&event.event) {
                parents.insert(parent.to_string());
            }
            if let Some(person) = event.event.person() {
                people.insert(person.to_string());
            }
        }
        self.hierarchies.insert(account.to_string());
        self.add(events);
        for person in people {
            self.person(&person)?;
        }
        Ok(parents)
    }

    /// Adds what the children of `account` depend on.
    pub fn children(&mut self, account: &str) -> Result<&mut Self, SourceError> {
        let refs = self.source.child_refs(account)?;
        let candidates: BTreeSet<String> = refs
            .iter()
            .filter_map(|r| r.event.account().map(str::to_string))
            .collect();
        for child in candidates {
            self.hierarchy(&child)?;
        }
        Ok(self)
    }

    /// Adds the hierarchy events of `account` and, transitively, of every account it ever
    /// named as parent.
    pub fn hierarchy(&mut self, account: &str) -> Result<&mut Self, SourceError> {
        let mut todo = vec![account.to_string()];
        while let Some(at) = todo.pop() {
            if !self.hierarchies.insert(at.clone()) {
                continue;
            }
            let events = self.source.account_hierarchy(&at)?;
            todo.extend(
                events
                    .iter()
                    .filter_map(|r| named_parent(&r.event))
                    .map(str::to_string),
            );
            self.add(events);
        }
        Ok(self)
    }

    /// Adds the joining and leaving of a person.
    pub fn person(&mut self, person: &str) -> Result<&mut Self, SourceError> {
        if self.people.insert(person.to_string()) {
            let events = match self.lifecycles.as_mut() {
                Some(read) => read(person)?,
                None => self.source.person_lifecycle(person)?,
            };
            self.add(events);
        }
        Ok(self)
    }

    /// Adds what the reporting lines of `person` depend on: the person and reporting events
    /// of the person and, transitively, of every manager they ever named (their joining,
    /// leaving and own lines decide whether a line holds and whether a new one would close
    /// a cycle).
    pub fn org_closure(&mut self, person: &str) -> Result<&mut Self, SourceError> {
        let mut todo = vec![person.to_string()];
        while let Some(at) = todo.pop() {
            if !self.org_people.insert(at.clone()) {
                continue;
            }
            let events = self.source.person_org_events(&at)?;
            todo.extend(events.iter().filter_map(|r| match &r.event {
                Event::LineSet(d) => Some(d.manager.clone()),
                _ => None,
            }));
            self.add(events);
        }
        Ok(self)
    }

    /// The people whose joining and leaving the subset holds.
    pub fn people(&self) -> &BTreeSet<String> {
        &self.people
    }

    /// The accounts whose hierarchy events the subset holds.
    pub fn hierarchies(&self) -> &BTreeSet<String> {
        &self.hierarchies
    }

    /// Adds every person and reporting event.
    pub fn org(&mut self) -> Result<&mut Self, SourceError> {
        let events = self.source.org_events()?;
        self.add(events);
        Ok(self)
    }

    /// Adds the transaction events of an account.
    pub fn txns(&mut self, account: &str) -> Result<&mut Self, SourceError> {
        let events = self.source.txn_events(account)?;
        self.add(events);
        Ok(self)
    }

    /// The subset built.
    pub fn build(self) -> Subset {
        Subset::of(self.kept)
    }

    fn add(&mut self, events: Vec<Arc<Recorded>>) {
        let keep = &self.keep;
        self.kept.extend(events.into_iter().filter(|e| keep(e)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(seq: u64, effective_at: i64, name: &str) -> Arc<Recorded> {
        let data = format!(r#"{{"person":"p{seq}","name":"{name}"}}"#);
        Arc::new(Recorded {
            seq,
            effective_at: Timestamp(effective_at),
            recorded_at: Timestamp(0),
            event: Event::parse("person.joined", &data).unwrap(),
        })
    }

    #[test]
    fn a_subset_is_in_fold_order_with_the_last_copy_of_each_event() {
        let subset = Subset::of(vec![
            recorded(3, 10, "a"),
            recorded(1, 20, "b"),
            recorded(2, 10, "c"),
            recorded(1, 20, "b2"),
            recorded(4, 5, "d"),
        ]);
        let seen: Vec<(u64, String)> = subset
            .iter()
            .map(|r| match &r.event {
                Event::PersonJoined(d) => (r.seq, d.name.clone()),
                _ => unreachable!("only person.joined here"),
            })
            .collect();
        let expected = [(4, "d"), (2, "c"), (3, "a"), (1, "b2")];
        let expected: Vec<(u64, String)> =
            expected.iter().map(|(s, n)| (*s, n.to_string())).collect();
        assert_eq!(seen, expected);
        assert_eq!(subset.len(), 4);
    }
}
