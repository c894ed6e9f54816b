//! Validation at append: a new event against the state as of its `effective_at`, as known
//! with everything before it in the log and in its own batch.
//!
//! [`Validator`] asks the narrow [`Facts`] trait (an in-memory index, or the persisted views
//! with the batch so far) and keeps per-batch caches. For an account's events the state comes
//! from a per-account cache: the fold of the account's own subset (its events and the joining
//! and leaving of the people they name, see [`crate::subset`]) up to its latest event, with
//! no other account's facts. An event at or after that point is checked against the cache
//! and then applied to it; a back-dated event, or one naming a person the cache does not
//! hold, folds the subset afresh. The parent rules read the named parent and its ancestors
//! from one table of every account's hierarchy facts as the fold of all known events gives
//! them now ([`Hierarchy`]), kept in step with the hierarchy events inserted. An event that
//! changes facts a cache holds (its account's, a person's joining or leaving) is applied to
//! it when it comes after it and drops it otherwise, and a hierarchy event drops the caches
//! holding a parent change after it (whether that change applied may have changed). A bulk
//! import, mostly in valid-time order, thus costs O(1) per event.
//!
//! The caches are bounded, so that a writer's memory does not grow with the history it
//! appends (a server, an import of any size): past [`CACHED_ACCOUNTS_MAX`] account states, or
//! past [`CACHED_EVENTS_MAX`] events folded into them, the half used least recently is
//! dropped; past [`STATUS_TIMELINES_MAX`] status timelines, all of them; past
//! [`HIERARCHY_ACCOUNTS_MAX`] accounts' hierarchy facts, all of them; past
//! [`LIFECYCLES_MAX`] people's joining and leaving (read once for the folds that name the
//! person), all of them. A dropped cache costs a fresh fold when its account comes again.

use crate::facts::{status_at, Facts, StatusStep, ValidationError};
use crate::index::MemIndex;
use crate::source::SourceError;
use crate::state::State;
use crate::subset::{is_hierarchy, SubsetBuilder};
use arl_domain::{Event, Recorded, RuleError, Status, Timestamp};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::BTreeSet;
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

/// Account states [`Validator`] keeps at most (each the fold of the account's own subset);
/// past it, the half used least recently is dropped. A workload that keeps more accounts than
/// this busy folds them again and again. It was 16,384 while each state held copies of the
/// hierarchies of the parents its account named (about 11 KB each at 4M generated events,
/// far more later); without them, an import of 16M generated lines (about 30,000 accounts)
/// peaked at 1.49 GB resident with this bound (docs/PERFORMANCE.md, "Validation without
/// copies of the parents' closures").
pub const CACHED_ACCOUNTS_MAX: usize = 32_768;
/// Status timelines [`Validator`] keeps at most; past it, all are dropped. A timeline is a
/// few steps (about 150 bytes with its key), so this is at most about 20 MB. It was 16,384:
/// an import of 8M generated lines (about 26,000 accounts, each transaction reading its
/// account's timeline) dropped them all again and again and read 476,261 timelines, 33,924
/// with room for all, 10% of its time (docs/PERFORMANCE.md, "Txn ids through a filter").
pub const STATUS_TIMELINES_MAX: usize = 131_072;
/// Events [`Validator`]'s account states may hold, all told (each state counts the events of
/// its account's own subset folded into it); past it, as past [`CACHED_ACCOUNTS_MAX`], the
/// half used least recently is dropped. The number of states alone does not bound their
/// memory: each grows with its account's history. An import of 16M generated lines reaches
/// this bound with about 22,000 states (of about 30,000 accounts); it costs that import
/// 3–8% more time for 71–86 MB less memory at its peak, and one of 32M lines 35% more
/// time for 297 MB less (under 0.85 GB of anonymous memory, where it went past 1.1 GB),
/// in docs/PERFORMANCE.md, "Validation's states bounded by the events they hold".
pub const CACHED_EVENTS_MAX: usize = 1 << 21;

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
                weight_max: CACHED_EVENTS_MAX,
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
    pub fn inserting(&mut self, recorded: &Recorded) {
        if recorded.event.is_transaction() {
            // Transactions are in no cache's subset.
            return;
        }
        if crate::facts::is_status_event(&recorded.event) {
            self.statuses
                .remove(recorded.event.account().unwrap_or_default());
        }
        self.accounts.on_insert(recorded);
    }

    /// The validator with at most `events` events folded into its account states, all told,
    /// instead of [`CACHED_EVENTS_MAX`] (at least one state is kept, however large); the
    /// tests of the bound use a small one.
    pub fn with_cached_events(mut self, events: usize) -> Validator {
        self.accounts.weight_max = events;
        self
    }

    /// The account states kept and the events folded into them, all told: at most
    /// [`CACHED_ACCOUNTS_MAX`] and, once an event is inserted, at most [`CACHED_EVENTS_MAX`]
    /// (or the bounds given) unless one state alone holds more.
    pub fn cached(&self) -> (usize, usize) {
        (self.accounts.accounts.len(), self.accounts.weight)
    }

    /// Forgets everything (after a rollback).
    pub fn clear(&mut self) {
        let events = self.accounts.weight_max;
        *self =
            Validator::with_bounds(self.accounts.max, self.statuses_max).with_cached_events(events);
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
    check_in_subset(facts, recorded)
}

/// The rules of an account event that depend on state: from a fresh fold of the subset the
/// event depends on, up to its point.
fn check_in_subset(facts: &dyn Facts, recorded: &Recorded) -> Result<(), ValidationError> {
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

/// A point of the fold order: (`effective_at`, `seq`).
type Point = (Timestamp, u64);

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

/// True for the events whose rules read the parent of their account or another account's
/// facts: a parent change, an opening under a parent.
fn reads_parents(event: &Event) -> bool {
    matches!(event, Event::ParentChanged(_)) || named_parent(event).is_some()
}

/// The point of an event that changes its account's parent to a parent: whether it applies
/// depends on the parent's facts and its ancestors' at that point.
fn parent_change(recorded: &Recorded) -> Option<Point> {
    matches!(&recorded.event, Event::ParentChanged(d) if d.parent.is_some())
        .then(|| recorded.point())
}

#[derive(Debug)]
struct Cached {
    /// The account's own state and the people its events name; no other account's facts
    /// (the parent rules read those from [`Hierarchy`]).
    state: State,
    last: Point,
    /// The people whose joining and leaving the state holds (numbers of [`Ids`]).
    people: HashSet<u32>,
    /// The point of the latest parent change to a parent the state holds: whether it
    /// applied depended on other accounts' hierarchy events before it, so that one coming
    /// before it drops the state.
    depends_until: Option<Point>,
    /// When the cache was last used ([`Cache::clock`]), for dropping the least recent.
    used: u64,
    /// The events folded into the state, the measure of its size ([`Cache::weight`]).
    weight: usize,
}

impl Cached {
    /// True when the cache holds every fact of the account and of the person `event` needs,
    /// and the event comes after it.
    fn serves(&self, ids: &Ids, recorded: &Recorded) -> bool {
        let holds = |set: &HashSet<u32>, id: &str| ids.get(id).is_some_and(|n| set.contains(&n));
        recorded.point() > self.last
            && recorded
                .event
                .person()
                .is_none_or(|p| holds(&self.people, p))
    }
}

/// What [`Cache::fold_account`] made of an account's own subset.
enum Folded {
    /// Kept as the account's cache.
    Kept,
    /// Not kept: the fold up to the event's point, whose account's parent is not to be read.
    Unkept(State),
}

/// Per-account folded states for validation (see the module documentation).
#[derive(Debug, Default)]
struct Cache {
    ids: Ids,
    /// By account number.
    accounts: HashMap<u32, Cached>,
    /// Person number to the accounts whose caches hold the person.
    by_person: HashMap<u32, HashSet<u32>>,
    /// `(depends_until, account)` of the caches that hold a parent change.
    depending: BTreeSet<(Point, u32)>,
    /// Every account's hierarchy facts as known now, for the parent rules.
    hierarchy: Hierarchy,
    /// People's joining and leaving, read once for every fold that names them.
    lifecycles: Lifecycles,
    /// Counts the uses of caches: each use stamps the cache with the next value.
    clock: u64,
    /// The most account caches kept.
    max: usize,
    /// The events folded into the kept states, all told: a state's size grows with its
    /// account's history, so a bound on their number alone lets memory grow with the ledger.
    weight: usize,
    /// The most events the kept states may hold ([`CACHED_EVENTS_MAX`]).
    weight_max: usize,
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
        self.clock += 1;
        let served = self
            .accounts
            .get(&number)
            .is_some_and(|c| c.serves(&self.ids, recorded));
        if !served {
            if let Folded::Unkept(state) = self.fold_account(facts, number, recorded)? {
                // Back-dated (events of the account's subset come after it), or the parent
                // does not read: the fold up to its point gives the verdict of an event that
                // reads no account's parent; the parent rules take the whole subset.
                if reads_parents(&recorded.event) {
                    return check_in_subset(facts, recorded);
                }
                return Ok(state.check(recorded)?);
            }
        }
        let chain = match named_parent(&recorded.event) {
            Some(parent) => {
                match self
                    .hierarchy
                    .chain(facts, parent, account, recorded.point())
                {
                    Some(chain) => chain,
                    // Facts of the chain come at or after the event, or do not read.
                    None => return check_in_subset(facts, recorded),
                }
            }
            None => Vec::new(),
        };
        let Some(cached) = self.accounts.get_mut(&number) else {
            return check_in_subset(facts, recorded);
        };
        cached.used = self.clock;
        // The parent and its ancestors as of the event, beside the account for the check;
        // the chain never holds the account itself.
        for (id, state) in &chain {
            cached.state.accounts.insert(id.clone(), state.clone());
        }
        let verdict = cached.state.check(recorded);
        for (id, _) in &chain {
            cached.state.accounts.remove(id);
        }
        Ok(verdict?)
    }

    /// Folds the account's own subset afresh ([`SubsetBuilder::account_own`], with the
    /// person `recorded` names) and keeps it as the account's cache when all of it comes
    /// before `recorded`, with the parent the fold of every event gives the account (from
    /// [`Hierarchy`]). When some of it comes after, or that parent cannot be read, nothing
    /// is kept and the fold up to the event's point is returned.
    fn fold_account(
        &mut self,
        facts: &dyn Facts,
        number: u32,
        recorded: &Recorded,
    ) -> Result<Folded, SourceError> {
        let account = recorded.event.account().unwrap_or_default();
        let lifecycles = &mut self.lifecycles;
        let mut read = |person: &str| lifecycles.read(facts, person);
        let mut builder = SubsetBuilder::new(facts, |_| true).reading_lifecycles(&mut read);
        builder.account_own(account)?;
        if let Some(person) = recorded.event.person() {
            builder.person(person)?;
        }
        let people = builder.people().clone();
        let subset = builder.build();
        let complete = subset
            .iter()
            .all(|r| r.effective_at <= recorded.effective_at);
        let visible = subset
            .iter()
            .filter(|r| r.effective_at <= recorded.effective_at);
        let mut state = State::fold(visible);
        if !complete {
            return Ok(Folded::Unkept(state));
        }
        let depends_until = subset
            .iter()
            .filter(|r| r.event.account() == Some(account))
            .filter_map(parent_change)
            .max();
        if depends_until.is_some() {
            // Whether each parent change applied depended on the parent's facts then, which
            // the own subset does not hold: the parent is the one all the facts give.
            let Some(parent) = self.hierarchy.parent_of(facts, account) else {
                return Ok(Folded::Unkept(state));
            };
            if let Some(own) = state.accounts.get_mut(account) {
                own.parent = parent;
            }
        }
        let last = subset
            .iter()
            .last()
            .map_or((Timestamp::MIN, 0), Recorded::point);
        let weight = subset.len();
        self.drop_account(number);
        while !self.accounts.is_empty()
            && (self.accounts.len() >= self.max || self.weight + weight > self.weight_max)
        {
            self.drop_least_recent_half();
        }
        let people: HashSet<u32> = people.iter().map(|p| self.ids.intern(p)).collect();
        for person in &people {
            self.by_person.entry(*person).or_default().insert(number);
        }
        if let Some(point) = depends_until {
            self.depending.insert((point, number));
        }
        self.accounts.insert(
            number,
            Cached {
                state,
                last,
                people,
                depends_until,
                used: self.clock,
                weight,
            },
        );
        self.weight += weight;
        Ok(Folded::Kept)
    }

    /// Drops an account's cache and its entries in the indexes.
    fn drop_account(&mut self, number: u32) {
        let Some(cached) = self.accounts.remove(&number) else {
            return;
        };
        self.weight -= cached.weight;
        for person in &cached.people {
            if let Some(accounts) = self.by_person.get_mut(person) {
                accounts.remove(&number);
                if accounts.is_empty() {
                    self.by_person.remove(person);
                }
            }
        }
        if let Some(point) = cached.depends_until {
            self.depending.remove(&(point, number));
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
        let Ok(lifecycle) = self.lifecycles.read(facts, person) else {
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
        cached.weight += events.len();
        self.weight += events.len();
        // The cache now holds facts up to the person's last event: it may serve only events
        // after that (an event between would not see them in their place).
        if let Some(latest) = events.last() {
            cached.last = cached.last.max(latest.point());
        }
        let person = self.ids.intern(person);
        cached.people.insert(person);
        self.by_person.entry(person).or_default().insert(account);
    }

    /// Keeps the caches in step with an event just validated and about to go into the
    /// facts: each cache whose subset the event belongs to takes its effects when it comes
    /// after everything the cache holds, and is dropped otherwise; a hierarchy event also
    /// drops the caches holding a parent change after it, and goes into [`Hierarchy`].
    fn on_insert(&mut self, recorded: &Recorded) {
        let mut affected: Vec<u32> = Vec::new();
        let holding = |person: &str| {
            let accounts = self.ids.get(person).and_then(|n| self.by_person.get(&n));
            accounts.into_iter().flatten().copied()
        };
        match &recorded.event {
            Event::PersonJoined(d) => {
                affected.extend(holding(&d.person));
                self.lifecycles.changed(&d.person);
            }
            Event::PersonLeft(d) => {
                affected.extend(holding(&d.person));
                self.lifecycles.changed(&d.person);
            }
            Event::LineSet(_)
            | Event::LineEnded(_)
            | Event::TxnRecorded(_)
            | Event::TxnReversed(_) => {}
            event => affected.extend(self.ids.get(event.account().unwrap_or_default())),
        }
        if is_hierarchy(&recorded.event) {
            let later = self.depending.split_off(&(recorded.point(), 0));
            for (_, account) in later {
                self.drop_account(account);
            }
            self.hierarchy.inserting(recorded);
        }
        for account in affected {
            let Some(cached) = self.accounts.get_mut(&account) else {
                continue;
            };
            if !cached.serves(&self.ids, recorded) {
                self.drop_account(account);
                continue;
            }
            // Validated against the facts at its point, which the cache holds for what the
            // event changes.
            cached.state.apply_checked(recorded);
            cached.last = recorded.point();
            cached.weight += 1;
            self.weight += 1;
            if let Some(point) = parent_change(recorded) {
                if let Some(before) = cached.depends_until.replace(point) {
                    self.depending.remove(&(before, account));
                }
                self.depending.insert((point, account));
            }
        }
        while self.accounts.len() > 1 && self.weight > self.weight_max {
            self.drop_least_recent_half();
        }
    }
}

/// People whose joining and leaving [`Lifecycles`] keeps at most; past it, all are
/// forgotten (and read again as folds name them). A person's are two events or one.
pub const LIFECYCLES_MAX: usize = 1 << 17;

/// Each person's `person.joined` and `person.left` events as the facts give them
/// ([`Facts::person_lifecycle`]), read when a fold first names the person and forgotten when
/// one of them is inserted. Every account fold takes the lifecycles of the people its
/// events name (a team of a dozen or more), and a person serves many accounts: read from
/// the facts each time, they were the people's chains walked again for every fold (7% of
/// the appending thread's time when a new process appends 250k lines to a ledger of 3.75M
/// events; docs/PERFORMANCE.md).
#[derive(Debug, Default)]
struct Lifecycles {
    by_person: HashMap<Box<str>, Vec<Arc<Recorded>>>,
}

impl Lifecycles {
    /// The person's lifecycle events, from `facts` the first time.
    fn read(&mut self, facts: &dyn Facts, person: &str) -> Result<Vec<Arc<Recorded>>, SourceError> {
        if let Some(events) = self.by_person.get(person) {
            return Ok(events.clone());
        }
        let events = facts.person_lifecycle(person)?;
        if self.by_person.len() >= LIFECYCLES_MAX {
            self.by_person.clear();
        }
        self.by_person.insert(person.into(), events.clone());
        Ok(events)
    }

    /// Forgets the person's events (one of them is about to be inserted).
    fn changed(&mut self, person: &str) {
        self.by_person.remove(person);
    }
}

/// Accounts [`Hierarchy`] keeps at most; past it, all are forgotten (and read again as the
/// parent rules need them).
pub const HIERARCHY_ACCOUNTS_MAX: usize = 1 << 18;

/// The hierarchy facts (opened, status, parent) of accounts as the fold of every known event
/// gives them now, read when the parent rules first need an account and kept in step with
/// the hierarchy events inserted since: one copy for every cached account state, however
/// many name the account as parent. An account's facts are those as of any point after its
/// own latest hierarchy event, except that whether a parent change applied depends on other
/// accounts' hierarchy events before it: an account holding a parent change forgets its
/// facts when a hierarchy event comes before that change.
#[derive(Debug, Default)]
struct Hierarchy {
    /// The accounts' hierarchy facts (no teams, no contacts).
    state: State,
    /// The accounts read, with their marks; an account read and never opened has no state.
    known: HashMap<String, Marks>,
    /// `(depends_until, account)` of the accounts that hold a parent change.
    depending: BTreeSet<(Point, String)>,
}

#[derive(Debug, Clone, Copy)]
struct Marks {
    /// The point of the account's latest hierarchy event.
    last: Option<Point>,
    /// The point of its latest parent change to a parent.
    depends_until: Option<Point>,
}

impl Hierarchy {
    /// The states of `parent` and of its ancestors as of `point`, nearest first, up to
    /// `account` (whose own state the caller holds): `None` when one of them has hierarchy
    /// events at or after `point` (its facts now are not those at the point), or the facts
    /// cannot be read.
    fn chain(
        &mut self,
        facts: &dyn Facts,
        parent: &str,
        account: &str,
        point: Point,
    ) -> Option<Vec<(String, crate::state::AccountState)>> {
        let mut out: Vec<(String, crate::state::AccountState)> = Vec::new();
        let mut at = Some(parent.to_string());
        while let Some(id) = at.take() {
            if id == account
                || out.len() > crate::state::CHAIN_DEPTH_MAX
                || out.iter().any(|(seen, _)| *seen == id)
            {
                break;
            }
            if !self.known.contains_key(&id) {
                self.read(facts, &id)?;
            }
            let marks = self.known.get(&id)?;
            if marks.last.is_some_and(|last| last >= point) {
                return None;
            }
            let Some(state) = self.state.accounts.get(&id) else {
                // Never opened: the rules find no facts, as the fold does.
                break;
            };
            at.clone_from(&state.parent);
            out.push((id, state.clone()));
        }
        Some(out)
    }

    /// The parent of `account` as the fold of every known event gives it now (`None` inside
    /// when it has none or was never opened); `None` when the facts cannot be read.
    fn parent_of(&mut self, facts: &dyn Facts, account: &str) -> Option<Option<String>> {
        if !self.known.contains_key(account) {
            self.read(facts, account)?;
        }
        self.known.get(account)?;
        Some(
            self.state
                .accounts
                .get(account)
                .and_then(|state| state.parent.clone()),
        )
    }

    /// Reads the hierarchy closure of `account` and keeps the facts of each of its accounts
    /// not kept yet (the closure's fold gives each what the fold of every event does).
    fn read(&mut self, facts: &dyn Facts, account: &str) -> Option<()> {
        let closure = Closure::read(facts, account)?;
        if self.known.len() + closure.accounts.len() > HIERARCHY_ACCOUNTS_MAX {
            *self = Hierarchy::default();
        }
        let Closure {
            accounts,
            mut folded,
        } = closure;
        for (id, marks) in accounts {
            if self.known.contains_key(&id) {
                continue;
            }
            if let Some(state) = folded.accounts.remove(&id) {
                self.state.accounts.insert(id.clone(), state);
            }
            if let Some(point) = marks.depends_until {
                self.depending.insert((point, id.clone()));
            }
            self.known.insert(id, marks);
        }
        Some(())
    }

    /// Forgets an account's facts.
    fn forget(&mut self, account: &str) {
        if let Some(marks) = self.known.remove(account) {
            self.state.accounts.remove(account);
            if let Some(point) = marks.depends_until {
                self.depending.remove(&(point, account.to_string()));
            }
        }
    }

    /// Takes in a hierarchy event just validated: the accounts holding a parent change
    /// after it forget their facts; its account takes its effects when the event comes
    /// after the account's latest, and forgets its facts otherwise.
    fn inserting(&mut self, recorded: &Recorded) {
        let point = recorded.point();
        let later = self.depending.split_off(&(point, String::new()));
        for (_, account) in later {
            self.forget(&account);
        }
        let account = recorded.event.account().unwrap_or_default();
        let marks = match self.known.get(account) {
            Some(marks) if marks.last.is_none_or(|last| last < point) => *marks,
            Some(_) => return self.forget(account),
            // An account opening: it had no facts before (an opening is refused for an
            // account known at any time), so these are all of them.
            None if matches!(recorded.event, Event::AccountOpened(_)) => Marks {
                last: None,
                depends_until: None,
            },
            None => return,
        };
        self.state.apply_checked(recorded);
        let mut marks = Marks {
            last: Some(point),
            ..marks
        };
        if let Some(change) = parent_change(recorded) {
            if let Some(before) = marks.depends_until.replace(change) {
                self.depending.remove(&(before, account.to_string()));
            }
            self.depending.insert((change, account.to_string()));
        }
        self.known.insert(account.to_string(), marks);
    }
}

/// The hierarchy closure of an account: the account and every account its hierarchy events
/// ever named as parent, transitively, with the fold of all their hierarchy events.
#[derive(Debug)]
struct Closure {
    /// Each account of the closure with the marks of its hierarchy events.
    accounts: Vec<(String, Marks)>,
    /// The fold of the hierarchy events of the whole closure.
    folded: State,
}

impl Closure {
    /// The closure of `account`, or `None` when the facts cannot be read.
    fn read(facts: &dyn Facts, account: &str) -> Option<Closure> {
        let mut accounts: Vec<(String, Marks)> = Vec::new();
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
            let marks = Marks {
                last: hierarchy.iter().map(|r| r.point()).max(),
                depends_until: hierarchy.iter().filter_map(|r| parent_change(r)).max(),
            };
            accounts.push((at, marks));
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
