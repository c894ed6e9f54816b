//! Validation at append: a new event against the state as of its `effective_at`, as known
//! with everything before it in the log and in its own batch.
//!
//! [`Validator`] asks the narrow [`Facts`] trait (an in-memory index, or the persisted views
//! with the batch so far) and keeps per-batch caches. For an account's events the state comes
//! from a per-account cache: the fold of the account's subset (see [`crate::subset`]) up to
//! its latest event. An event at or after that point is checked against the cache and then
//! applied to it; a back-dated event, or an event that needs facts the cache does not hold,
//! folds the subset afresh. Events that change facts other accounts' caches hold (a person's
//! joining or leaving, an account's hierarchy events) drop those caches. A bulk import,
//! mostly in valid-time order, thus costs O(1) per event.
//!
//! The caches are bounded, so that a writer's memory does not grow with the history it
//! appends (a server, an import of any size): past [`CACHED_ACCOUNTS_MAX`] account states,
//! the half used least recently is dropped, and past [`STATUS_TIMELINES_MAX`] status
//! timelines, all of them. A dropped cache costs a fresh fold when its account comes again.

use crate::facts::{status_at, Facts, StatusStep, ValidationError};
use crate::index::MemIndex;
use crate::source::SourceError;
use crate::state::State;
use crate::subset::{is_hierarchy, SubsetBuilder};
use arl_domain::{Event, Recorded, RuleError, Status, Timestamp};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::Arc;

/// Checks every §3 rule of `recorded` (the next event of the log, not yet inserted) against
/// `index`: the rules that hold "at any time" against everything known, the others against
/// the fold of the known events with `effective_at` at or before the event's.
pub fn validate(index: &MemIndex, recorded: &Recorded) -> Result<(), RuleError> {
    let verdict = index.validator.borrow_mut().check(index, recorded);
    in_memory(verdict)
}

/// [`validate`] without the per-account cache: folds the account's subset afresh. Slower;
/// the reference the cache is tested against.
pub fn validate_fresh(index: &MemIndex, recorded: &Recorded) -> Result<(), RuleError> {
    in_memory(check_fresh(index, recorded))
}

/// A verdict from the in-memory index, which cannot fail to read.
fn in_memory(verdict: Result<(), ValidationError>) -> Result<(), RuleError> {
    match verdict {
        Ok(()) => Ok(()),
        Err(ValidationError::Rule(rule)) => Err(rule),
        Err(ValidationError::Source(e)) => unreachable!("the in-memory index failed: {e}"),
    }
}

/// Account states [`Validator`] keeps at most (each the fold of the account's subset, about
/// 11 KB at the generator's sizes); past it, the half used least recently is dropped. A
/// workload that keeps more accounts than this busy folds them again and again: with a
/// bound of 4,096, a 4M-event import (13,331 accounts) ran at about half its speed, and with
/// this one the last batches of an 8M-event import (26,664 accounts) run at about half the
/// speed an unbounded cache gives them, which in exchange peaked 175 MB higher (1,126
/// against 951 MB for the whole process).
pub const CACHED_ACCOUNTS_MAX: usize = 16_384;
/// Status timelines [`Validator`] keeps at most; past it, all are dropped.
pub const STATUS_TIMELINES_MAX: usize = 16_384;

/// Validation of a batch of events against [`Facts`], with its caches. The caller checks
/// each event with [`Validator::check`] and, when it goes into the facts, first tells the
/// validator with [`Validator::inserting`], so that the caches stay in step.
#[derive(Debug)]
pub struct Validator {
    accounts: Cache,
    /// Status timelines read so far, by account; dropped when a status event comes.
    statuses: HashMap<String, Arc<Vec<StatusStep>>>,
    /// The most status timelines kept.
    statuses_max: usize,
}

impl Default for Validator {
    fn default() -> Validator {
        Validator::with_bounds(CACHED_ACCOUNTS_MAX, STATUS_TIMELINES_MAX)
    }
}

impl Validator {
    /// A validator with empty caches.
    pub fn new() -> Validator {
        Validator::default()
    }

    /// A validator that keeps at most `accounts` account states and `statuses` status
    /// timelines (each at least 1) instead of [`CACHED_ACCOUNTS_MAX`] and
    /// [`STATUS_TIMELINES_MAX`]; the tests of the bounds use small ones.
    pub fn with_bounds(accounts: usize, statuses: usize) -> Validator {
        Validator {
            accounts: Cache {
                max: accounts.max(1),
                ..Cache::default()
            },
            statuses: HashMap::default(),
            statuses_max: statuses.max(1),
        }
    }

    /// Checks every §3 rule of `recorded` (the next event, not yet in `facts`): the rules
    /// that hold "at any time" against everything known, the others against the fold of
    /// the known events with `effective_at` at or before the event's.
    pub fn check(&mut self, facts: &dyn Facts, recorded: &Recorded) -> Result<(), ValidationError> {
        check_at_any_time(facts, recorded)?;
        let at = recorded.effective_at;
        match &recorded.event {
            Event::PersonJoined(_) | Event::TxnReversed(_) => Ok(()),
            Event::TxnRecorded(d) => {
                let timeline = self.status_timeline(facts, &d.account)?;
                match status_at(&timeline, at) {
                    None => Err(RuleError::AccountNotFound {
                        account: d.account.clone(),
                    }
                    .into()),
                    Some((Status::Closed, since)) => Err(RuleError::AccountClosed {
                        account: d.account.clone(),
                        closed_at: since,
                    }
                    .into()),
                    Some(_) => Ok(()),
                }
            }
            Event::PersonLeft(_) | Event::LineSet(_) | Event::LineEnded(_) => {
                check_org_event(facts, recorded)
            }
            _ => self.accounts.check_account_event(facts, recorded),
        }
    }

    /// Keeps the caches in step with `recorded`, about to be added to `facts` (call it
    /// before the facts hold it).
    pub fn inserting(&mut self, facts: &dyn Facts, recorded: &Recorded) {
        if recorded.event.is_transaction() {
            // Transactions are in no cache's subset.
            return;
        }
        if crate::facts::is_status_event(&recorded.event) {
            self.statuses
                .remove(recorded.event.account().unwrap_or_default());
        }
        self.accounts.on_insert(facts, recorded);
    }

    /// Forgets everything (after a rollback).
    pub fn clear(&mut self) {
        *self = Validator::with_bounds(self.accounts.max, self.statuses_max);
    }

    fn status_timeline(
        &mut self,
        facts: &dyn Facts,
        account: &str,
    ) -> Result<Arc<Vec<StatusStep>>, SourceError> {
        if let Some(timeline) = self.statuses.get(account) {
            return Ok(timeline.clone());
        }
        let timeline = Arc::new(facts.status_timeline(account)?);
        if self.statuses.len() >= self.statuses_max {
            self.statuses.clear();
        }
        self.statuses.insert(account.to_string(), timeline.clone());
        Ok(timeline)
    }
}

/// A person or reporting event: the fold of the reporting closure of the people it names.
fn check_org_event(facts: &dyn Facts, recorded: &Recorded) -> Result<(), ValidationError> {
    let at = recorded.effective_at;
    let mut builder = SubsetBuilder::new(facts, move |r| r.effective_at <= at);
    for person in org_people(&recorded.event) {
        builder.org_closure(person)?;
    }
    Ok(State::fold(builder.build().iter()).check(recorded)?)
}

/// The reference verdict: every rule from a fresh fold of the subset the event depends on.
pub fn check_fresh(facts: &dyn Facts, recorded: &Recorded) -> Result<(), ValidationError> {
    if recorded.event.account().is_none() || recorded.event.is_transaction() {
        return Validator::new().check(facts, recorded);
    }
    check_at_any_time(facts, recorded)?;
    let at = recorded.effective_at;
    let mut builder = SubsetBuilder::new(facts, move |r| r.effective_at <= at);
    add_account_facts(&mut builder, recorded)?;
    Ok(State::fold(builder.build().iter()).check(recorded)?)
}

/// Adds what an account event's rule reads: the account's subset, the person it names and
/// the hierarchy of the parent it names.
fn add_account_facts(
    builder: &mut SubsetBuilder<'_>,
    recorded: &Recorded,
) -> Result<(), SourceError> {
    let account = recorded.event.account().unwrap_or_default();
    builder.account(account)?;
    if let Some(person) = recorded.event.person() {
        builder.person(person)?;
    }
    if let Some(parent) = named_parent(&recorded.event) {
        builder.hierarchy(parent)?;
    }
    Ok(())
}

fn org_people(event: &Event) -> Vec<&str> {
    match event {
        Event::LineSet(d) => vec![d.person.as_str(), d.manager.as_str()],
        Event::LineEnded(d) => vec![d.person.as_str(), d.manager.as_str()],
        Event::PersonLeft(d) => vec![d.person.as_str()],
        _ => Vec::new(),
    }
}

fn named_parent(event: &Event) -> Option<&str> {
    match event {
        Event::AccountOpened(d) => d.parent.as_deref(),
        Event::ParentChanged(d) => d.parent.as_deref(),
        _ => None,
    }
}

/// Numbers for the account and person ids the caches name, so that their sets and maps hash
/// and compare numbers, not strings.
#[derive(Debug, Default)]
struct Ids {
    numbers: HashMap<Box<str>, u32>,
}

impl Ids {
    fn get(&self, id: &str) -> Option<u32> {
        self.numbers.get(id).copied()
    }

    fn intern(&mut self, id: &str) -> u32 {
        if let Some(number) = self.numbers.get(id) {
            return *number;
        }
        let number = u32::try_from(self.numbers.len()).expect("fewer than 2^32 ids");
        self.numbers.insert(id.into(), number);
        number
    }
}

#[derive(Debug)]
struct Cached {
    state: State,
    last: (Timestamp, u64),
    /// The people whose joining and leaving the state holds (numbers of [`Ids`]).
    people: HashSet<u32>,
    /// The accounts whose hierarchy events the state holds (numbers of [`Ids`]).
    hierarchies: HashSet<u32>,
    /// When the cache was last used ([`Cache::clock`]), for dropping the least recent.
    used: u64,
}

impl Cached {
    /// True when the cache holds every fact `event` needs and the event comes after it.
    fn serves(&self, ids: &Ids, recorded: &Recorded) -> bool {
        let holds = |set: &HashSet<u32>, id: &str| ids.get(id).is_some_and(|n| set.contains(&n));
        recorded.point() > self.last
            && recorded
                .event
                .person()
                .is_none_or(|p| holds(&self.people, p))
            && named_parent(&recorded.event).is_none_or(|p| holds(&self.hierarchies, p))
    }
}

/// Per-account folded states for validation (see the module documentation).
#[derive(Debug, Default)]
struct Cache {
    ids: Ids,
    /// By account number.
    accounts: HashMap<u32, Cached>,
    /// Person number to the accounts whose caches hold the person.
    by_person: HashMap<u32, HashSet<u32>>,
    /// Account number to the accounts whose caches hold its hierarchy.
    by_hierarchy: HashMap<u32, HashSet<u32>>,
    /// Counts the uses of caches: each use stamps the cache with the next value.
    clock: u64,
    /// The most account caches kept.
    max: usize,
}

impl Cache {
    fn check_account_event(
        &mut self,
        facts: &dyn Facts,
        recorded: &Recorded,
    ) -> Result<(), ValidationError> {
        let account = recorded.event.account().unwrap_or_default();
        let number = self.ids.intern(account);
        if let Some(person) = recorded.event.person() {
            self.extend_person(facts, number, person, recorded);
        }
        self.extend_hierarchy(facts, number, recorded, &mut None);
        self.clock += 1;
        if let Some(cached) = self
            .accounts
            .get_mut(&number)
            .filter(|c| c.serves(&self.ids, recorded))
        {
            cached.used = self.clock;
            return Ok(cached.state.check(recorded)?);
        }
        let mut builder = SubsetBuilder::new(facts, |_| true);
        add_account_facts(&mut builder, recorded)?;
        let (people, hierarchies) = (builder.people().clone(), builder.hierarchies().clone());
        let subset = builder.build();
        let visible: Vec<&Recorded> = subset
            .iter()
            .filter(|r| r.effective_at <= recorded.effective_at)
            .collect();
        let complete = visible.len() == subset.len();
        let last = visible
            .last()
            .map(|r| r.point())
            .unwrap_or((Timestamp::MIN, 0));
        let state = State::fold(visible);
        let result = state.check(recorded);
        if complete {
            self.drop_account(number);
            if self.accounts.len() >= self.max {
                self.drop_least_recent_half();
            }
            let people: HashSet<u32> = people.iter().map(|p| self.ids.intern(p)).collect();
            let hierarchies: HashSet<u32> =
                hierarchies.iter().map(|a| self.ids.intern(a)).collect();
            for person in &people {
                self.by_person.entry(*person).or_default().insert(number);
            }
            for other in &hierarchies {
                self.by_hierarchy.entry(*other).or_default().insert(number);
            }
            self.accounts.insert(
                number,
                Cached {
                    state,
                    last,
                    people,
                    hierarchies,
                    used: self.clock,
                },
            );
        }
        Ok(result?)
    }

    /// Drops an account's cache and its entries in the indexes of people and hierarchies.
    fn drop_account(&mut self, number: u32) {
        let Some(cached) = self.accounts.remove(&number) else {
            return;
        };
        for (index, keys) in [
            (&mut self.by_person, &cached.people),
            (&mut self.by_hierarchy, &cached.hierarchies),
        ] {
            for key in keys {
                if let Some(accounts) = index.get_mut(key) {
                    accounts.remove(&number);
                    if accounts.is_empty() {
                        index.remove(key);
                    }
                }
            }
        }
    }

    /// Drops the half of the account caches used least recently, the middle one included (the
    /// stamps are distinct).
    fn drop_least_recent_half(&mut self) {
        let mut stamps: Vec<u64> = self.accounts.values().map(|c| c.used).collect();
        let Some(middle) = stamps.len().checked_sub(1).map(|last| last / 2) else {
            return;
        };
        let (_, cut, _) = stamps.select_nth_unstable(middle);
        let cut = *cut;
        let old: Vec<u32> = self
            .accounts
            .iter()
            .filter(|(_, c)| c.used <= cut)
            .map(|(number, _)| *number)
            .collect();
        for number in old {
            self.drop_account(number);
        }
    }

    /// Adds a person the account's cache does not hold yet, when all of the person's joining
    /// and leaving comes before `recorded`: such a person has no assignment on the account in
    /// the cache, so their facts fold apart from the account's. When the facts cannot be
    /// read, the account's cache is dropped (the fresh fold then reports the failure).
    fn extend_person(
        &mut self,
        facts: &dyn Facts,
        account: u32,
        person: &str,
        recorded: &Recorded,
    ) {
        let Some(cached) = self.accounts.get_mut(&account) else {
            return;
        };
        let held = self
            .ids
            .get(person)
            .is_some_and(|n| cached.people.contains(&n));
        if held || recorded.point() <= cached.last {
            return;
        }
        let Ok(lifecycle) = facts.person_lifecycle(person) else {
            self.drop_account(account);
            return;
        };
        if lifecycle.iter().any(|r| r.point() > recorded.point()) {
            return;
        }
        let mut events: Vec<&Recorded> =
            lifecycle.iter().map(std::convert::AsRef::as_ref).collect();
        events.sort_by_key(|r| r.point());
        for event in &events {
            cached.state.apply(event);
        }
        // The cache now holds facts up to the person's last event: it may serve only events
        // after that (an event between would not see them in their place).
        if let Some(latest) = events.last() {
            cached.last = cached.last.max(latest.point());
        }
        let person = self.ids.intern(person);
        cached.people.insert(person);
        self.by_person.entry(person).or_default().insert(account);
    }

    /// Adds to the account's cache the hierarchy of a parent `recorded` names that the cache
    /// does not hold yet, when every hierarchy event of the accounts that brings in comes
    /// before `recorded`.
    ///
    /// The hierarchy facts of an account (opened, status, parent) depend only on the
    /// hierarchy events of the account and of the accounts it ever named as parent,
    /// transitively; and none of the cache's events reads the facts of an account outside
    /// its hierarchies. So the fold of the parent's closure alone gives the states a fresh
    /// fold of the larger subset would give those accounts, whatever the cache's other
    /// events: they are copied into the cache. The closure is read and folded once per
    /// event, however many caches take it: `closure` is `None` until a cache needs it, then
    /// holds it, or `Some(None)` when the facts could not be read; then the account's cache
    /// is dropped (the fresh fold reports the failure).
    fn extend_hierarchy(
        &mut self,
        facts: &dyn Facts,
        account: u32,
        recorded: &Recorded,
        closure: &mut Option<Option<Closure>>,
    ) {
        let Some(parent) = named_parent(&recorded.event) else {
            return;
        };
        let Some(cached) = self.accounts.get_mut(&account) else {
            return;
        };
        let held =
            |ids: &Ids, id: &str| ids.get(id).is_some_and(|n| cached.hierarchies.contains(&n));
        if held(&self.ids, parent) || recorded.point() <= cached.last {
            return;
        }
        let Some(closure) = closure.get_or_insert_with(|| Closure::read(facts, parent)) else {
            self.drop_account(account);
            return;
        };
        // The copied states hold facts up to the events of the accounts they bring in:
        // those must all come before `recorded` (an event between would not see them in
        // their place).
        let mut latest = cached.last;
        for (other, last) in &closure.accounts {
            if held(&self.ids, other) {
                continue;
            }
            if last.is_some_and(|last| last >= recorded.point()) {
                return;
            }
            latest = latest.max(last.unwrap_or(latest));
        }
        for (other, _) in &closure.accounts {
            let number = self.ids.intern(other);
            if !cached.hierarchies.insert(number) {
                continue;
            }
            if let Some(state) = closure.folded.accounts.get(other.as_str()) {
                cached.state.accounts.insert(other.clone(), state.clone());
            }
            self.by_hierarchy.entry(number).or_default().insert(account);
        }
        cached.last = latest;
    }

    /// Keeps the caches in step with an event just inserted into the index: each cache whose
    /// subset the event belongs to applies it when it comes after everything the cache holds,
    /// and is dropped otherwise.
    fn on_insert(&mut self, facts: &dyn Facts, recorded: &Recorded) {
        let mut affected: Vec<u32> = Vec::new();
        let holding = |person: &str| {
            let accounts = self.ids.get(person).and_then(|n| self.by_person.get(&n));
            accounts.into_iter().flatten().copied()
        };
        match &recorded.event {
            Event::PersonJoined(d) => affected.extend(holding(&d.person)),
            Event::PersonLeft(d) => affected.extend(holding(&d.person)),
            Event::LineSet(_)
            | Event::LineEnded(_)
            | Event::TxnRecorded(_)
            | Event::TxnReversed(_) => {}
            event => {
                let Some(account) = self.ids.get(event.account().unwrap_or_default()) else {
                    // No cache holds an account never named.
                    return;
                };
                affected.push(account);
                if is_hierarchy(event) {
                    affected.extend(
                        self.by_hierarchy
                            .get(&account)
                            .into_iter()
                            .flatten()
                            .filter(|a| **a != account),
                    );
                }
            }
        }
        let mut closure = None;
        for account in affected {
            self.extend_hierarchy(facts, account, recorded, &mut closure);
            let Some(cached) = self.accounts.get_mut(&account) else {
                continue;
            };
            if cached.serves(&self.ids, recorded) {
                cached.state.apply(recorded);
                cached.last = recorded.point();
            } else {
                self.drop_account(account);
            }
        }
    }
}

/// The hierarchy closure of an account: the account and every account its hierarchy events
/// ever named as parent, transitively, with the fold of all their hierarchy events.
#[derive(Debug)]
struct Closure {
    /// Each account of the closure with the point of its latest hierarchy event.
    accounts: Vec<(String, Option<(Timestamp, u64)>)>,
    /// The fold of the hierarchy events of the whole closure.
    folded: State,
}

impl Closure {
    /// The closure of `account`, or `None` when the facts cannot be read.
    fn read(facts: &dyn Facts, account: &str) -> Option<Closure> {
        let mut accounts: Vec<(String, Option<(Timestamp, u64)>)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::default();
        let mut events: Vec<Arc<Recorded>> = Vec::new();
        let mut todo = vec![account.to_string()];
        while let Some(at) = todo.pop() {
            if !seen.insert(at.clone()) {
                continue;
            }
            let hierarchy = facts.account_hierarchy(&at).ok()?;
            todo.extend(
                hierarchy
                    .iter()
                    .filter_map(|r| named_parent(&r.event))
                    .map(str::to_string),
            );
            let last = hierarchy.iter().map(|r| r.point()).max();
            accounts.push((at, last));
            events.extend(hierarchy);
        }
        events.sort_by_key(|r| r.point());
        let folded = State::fold(events.iter().map(std::convert::AsRef::as_ref));
        Some(Closure { accounts, folded })
    }
}

/// The rules that hold "at any time": against everything known, whatever its valid time.
fn check_at_any_time(facts: &dyn Facts, recorded: &Recorded) -> Result<(), ValidationError> {
    match &recorded.event {
        Event::AccountOpened(d) => match facts.opened_at(&d.account)? {
            Some(opened_at) => Err(RuleError::AccountAlreadyOpened {
                account: d.account.clone(),
                opened_at,
            }
            .into()),
            None => Ok(()),
        },
        Event::PersonJoined(d) => match facts.joined_at(&d.person)? {
            Some(joined_at) => Err(RuleError::PersonAlreadyJoined {
                person: d.person.clone(),
                joined_at,
            }
            .into()),
            None => Ok(()),
        },
        Event::TxnRecorded(d) => match facts.txn(&d.txn)? {
            Some(known) => Err(RuleError::TxnIdUsed {
                txn: d.txn.clone(),
                account: known.account,
            }
            .into()),
            None => Ok(()),
        },
        Event::TxnReversed(d) => {
            let known = facts
                .txn(&d.txn)?
                .filter(|known| known.account == d.account)
                .ok_or_else(|| RuleError::TxnNotFound {
                    account: d.account.clone(),
                    txn: d.txn.clone(),
                })?;
            if known.effective_at > recorded.effective_at {
                return Err(RuleError::TxnAfterReversal {
                    txn: d.txn.clone(),
                    effective_at: known.effective_at,
                }
                .into());
            }
            if known.reversed {
                return Err(RuleError::TxnAlreadyReversed { txn: d.txn.clone() }.into());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
