//! The state of the world at a point, and how one event changes it.
//!
//! [`State::check`] tells whether an event's §3 rule holds in this state; [`State::apply`]
//! applies it, or skips it when the rule fails and the kind is not one of those that always
//! apply (contract §6). The same code serves the fast queries (a fold over the few events
//! that matter), append validation, and the naive reference of the tests (a fold over all).

use arl_domain::money::Currency;
use arl_domain::rules::{self, AccountFacts, PersonFacts};
use arl_domain::{
    Event, LineKind, Model, Recorded, Role, RuleError, Scope, Status, Timestamp, TxnKind,
};
use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeMap, BTreeSet};

/// Deepest hierarchy or reporting chain walked; a guard, never reached by valid histories.
pub const CHAIN_DEPTH_MAX: usize = 10_000;

/// An account as the fold sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    pub id: String,
    pub name: String,
    pub scope: Scope,
    pub status: Status,
    pub status_since: Timestamp,
    pub country: Option<String>,
    pub parent: Option<String>,
    pub opened_at: Timestamp,
    pub key_account: bool,
    pub classification: Option<(Model, String)>,
    /// Active assignments by (role, person).
    pub team: BTreeMap<(Role, String), Assignment>,
    /// Active contacts by contact id.
    pub contacts: BTreeMap<String, Contact>,
}

/// An active team assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub primary: bool,
    pub since: Timestamp,
}

/// An active contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub name: String,
    pub role: arl_domain::ContactRole,
    pub since: Timestamp,
}

/// A person of our staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonState {
    pub name: String,
    pub title: Option<String>,
    pub joined_at: Timestamp,
    pub left_at: Option<Timestamp>,
}

/// An active reporting line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub kind: LineKind,
    pub since: Timestamp,
}

/// A transaction as the fold sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnState {
    pub account: String,
    pub kind: TxnKind,
    pub currency: Currency,
    pub amount_minor: i64,
    pub effective_at: Timestamp,
    pub seq: u64,
    pub reference: Option<String>,
    pub description: Option<String>,
    /// (effective_at, seq) of the reversal, once applied.
    pub reversed: Option<(Timestamp, u64)>,
}

/// What happened to an event in the fold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// The rule failed at this point; the event and its effects were skipped.
    Skipped(RuleError),
}

/// The state after a fold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub accounts: HashMap<String, AccountState>,
    pub persons: HashMap<String, PersonState>,
    /// Active lines by (person, manager).
    pub lines: BTreeMap<(String, String), Line>,
    /// Accounts on whose team a person may be (kept superset-exact: pruned lazily).
    person_accounts: HashMap<String, BTreeSet<String>>,
    pub txns: HashMap<String, TxnState>,
}

impl AccountState {
    fn facts(&self) -> AccountFacts {
        AccountFacts {
            opened_at: self.opened_at,
            status: self.status,
            status_since: self.status_since,
            scope: self.scope,
            parent: self.parent.clone(),
        }
    }
}

impl State {
    /// An empty world.
    pub fn new() -> State {
        State::default()
    }

    /// Folds `events`, which must be sorted by (`effective_at`, `seq`).
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a Recorded>) -> State {
        let mut state = State::new();
        for event in events {
            state.apply(event);
        }
        state
    }

    fn account_facts(&self, account: &str) -> Option<AccountFacts> {
        self.accounts.get(account).map(AccountState::facts)
    }

    fn person_facts(&self, person: &str) -> Option<PersonFacts> {
        self.persons.get(person).map(|p| PersonFacts {
            joined_at: p.joined_at,
            left_at: p.left_at,
        })
    }

    /// The ancestors of `account`, nearest first.
    pub fn ancestors(&self, account: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut at = self.accounts.get(account).and_then(|a| a.parent.as_deref());
        while let Some(parent) = at {
            if out.len() >= CHAIN_DEPTH_MAX || out.contains(&parent) {
                break;
            }
            out.push(parent);
            at = self.accounts.get(parent).and_then(|a| a.parent.as_deref());
        }
        out
    }

    /// True when `from` reaches `to` by following active lines upwards (person to manager).
    fn reaches(&self, from: &str, to: &str) -> bool {
        let mut stack = vec![from.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(at) = stack.pop() {
            if at == to {
                return true;
            }
            if !seen.insert(at.clone()) || seen.len() > CHAIN_DEPTH_MAX {
                continue;
            }
            let lo = (at.clone(), String::new());
            for ((person, manager), _) in self.lines.range(lo..) {
                if *person != at {
                    break;
                }
                stack.push(manager.clone());
            }
        }
        false
    }

    /// Checks the event's §3 rule against this state (the rules that depend on state at a
    /// point; "at any time" rules are checked by [`crate::validate`]).
    // A rule table: one arm per event type of the catalogue (contract §3).
    #[allow(clippy::too_many_lines)]
    pub fn check(&self, recorded: &Recorded) -> Result<(), RuleError> {
        match &recorded.event {
            Event::AccountOpened(d) => {
                if let Some(existing) = self.accounts.get(&d.account) {
                    return Err(RuleError::AccountAlreadyOpened {
                        account: d.account.clone(),
                        opened_at: existing.opened_at,
                    });
                }
                match &d.parent {
                    Some(parent) => rules::parent_open(parent, self.account_facts(parent).as_ref()),
                    None => Ok(()),
                }
            }
            Event::AccountRenamed(d) => {
                rules::account_exists(&d.account, self.account_facts(&d.account).as_ref()).map(drop)
            }
            Event::ParentChanged(d) => {
                let facts = self.account_facts(&d.account);
                let facts = rules::account_exists(&d.account, facts.as_ref())?;
                if let Some(parent) = &d.parent {
                    rules::parent_open(parent, self.account_facts(parent).as_ref())?;
                    rules::no_parent_cycle(&d.account, parent, self.ancestors(parent).into_iter())?;
                }
                if facts.parent == d.parent {
                    return Err(RuleError::ParentUnchanged {
                        account: d.account.clone(),
                        parent: d.parent.clone(),
                    });
                }
                Ok(())
            }
            Event::ScopeChanged(d) => {
                let facts = self.account_facts(&d.account);
                let facts = rules::account_exists(&d.account, facts.as_ref())?;
                if facts.scope == d.scope {
                    return Err(RuleError::ScopeUnchanged {
                        account: d.account.clone(),
                        scope: d.scope,
                    });
                }
                Ok(())
            }
            Event::Classified(d) => {
                rules::account_open(&d.account, self.account_facts(&d.account).as_ref()).map(drop)
            }
            Event::StatusChanged(d) => {
                let facts = self.account_facts(&d.account);
                let facts = rules::account_exists(&d.account, facts.as_ref())?;
                if facts.status == d.status {
                    return Err(RuleError::StatusUnchanged {
                        account: d.account.clone(),
                        status: d.status,
                    });
                }
                Ok(())
            }
            Event::PersonJoined(d) => match self.persons.get(&d.person) {
                Some(p) => Err(RuleError::PersonAlreadyJoined {
                    person: d.person.clone(),
                    joined_at: p.joined_at,
                }),
                None => Ok(()),
            },
            Event::PersonLeft(d) => {
                rules::person_active(&d.person, self.person_facts(&d.person).as_ref())
            }
            Event::TeamAssigned(d) => {
                rules::account_open(&d.account, self.account_facts(&d.account).as_ref())?;
                rules::person_active(&d.person, self.person_facts(&d.person).as_ref())?;
                let key = (d.role, d.person.clone());
                if let Some(active) = self.accounts.get(&d.account).and_then(|a| a.team.get(&key)) {
                    return Err(RuleError::AssignmentActive {
                        account: d.account.clone(),
                        person: d.person.clone(),
                        role: d.role,
                        since: active.since,
                    });
                }
                Ok(())
            }
            Event::TeamUnassigned(d) => {
                let key = (d.role, d.person.clone());
                match self.accounts.get(&d.account).and_then(|a| a.team.get(&key)) {
                    Some(_) => Ok(()),
                    None => Err(RuleError::AssignmentNotActive {
                        account: d.account.clone(),
                        person: d.person.clone(),
                        role: d.role,
                    }),
                }
            }
            Event::LineSet(d) => {
                if d.person == d.manager {
                    return Err(RuleError::SelfReporting {
                        person: d.person.clone(),
                    });
                }
                rules::person_active(&d.person, self.person_facts(&d.person).as_ref())?;
                rules::person_active(&d.manager, self.person_facts(&d.manager).as_ref())?;
                if let Some(line) = self.lines.get(&(d.person.clone(), d.manager.clone())) {
                    return Err(RuleError::LineActive {
                        person: d.person.clone(),
                        manager: d.manager.clone(),
                        since: line.since,
                    });
                }
                if self.reaches(&d.manager, &d.person) {
                    return Err(RuleError::LineCycle {
                        person: d.person.clone(),
                        manager: d.manager.clone(),
                    });
                }
                Ok(())
            }
            Event::LineEnded(d) => match self.lines.get(&(d.person.clone(), d.manager.clone())) {
                Some(_) => Ok(()),
                None => Err(RuleError::LineNotActive {
                    person: d.person.clone(),
                    manager: d.manager.clone(),
                }),
            },
            Event::ContactAdded(d) => {
                let account = self.accounts.get(&d.account);
                rules::account_open(&d.account, account.map(AccountState::facts).as_ref())?;
                if let Some(active) = account.and_then(|a| a.contacts.get(&d.contact)) {
                    return Err(RuleError::ContactActive {
                        account: d.account.clone(),
                        contact: d.contact.clone(),
                        since: active.since,
                    });
                }
                Ok(())
            }
            Event::ContactRemoved(d) => match self
                .accounts
                .get(&d.account)
                .and_then(|a| a.contacts.get(&d.contact))
            {
                Some(_) => Ok(()),
                None => Err(RuleError::ContactNotActive {
                    account: d.account.clone(),
                    contact: d.contact.clone(),
                }),
            },
            Event::TxnRecorded(d) => {
                rules::account_open(&d.account, self.account_facts(&d.account).as_ref())?;
                if let Some(existing) = self.txns.get(&d.txn) {
                    return Err(RuleError::TxnIdUsed {
                        txn: d.txn.clone(),
                        account: existing.account.clone(),
                    });
                }
                Ok(())
            }
            Event::TxnReversed(d) => match self.txns.get(&d.txn) {
                Some(txn) if txn.account == d.account => {
                    if txn.effective_at > recorded.effective_at {
                        return Err(RuleError::TxnAfterReversal {
                            txn: d.txn.clone(),
                            effective_at: txn.effective_at,
                        });
                    }
                    if txn.reversed.is_some() {
                        return Err(RuleError::TxnAlreadyReversed { txn: d.txn.clone() });
                    }
                    Ok(())
                }
                _ => Err(RuleError::TxnNotFound {
                    account: d.account.clone(),
                    txn: d.txn.clone(),
                }),
            },
            // An audit record: no rule of the state (`arl erase` checks the key store).
            Event::SubjectErased(_) => Ok(()),
        }
    }

    /// Applies the event at its point: checks its rule and applies its effects, or skips it.
    /// `account.opened`, `person.joined`, `transaction.recorded` and `transaction.reversed`
    /// always apply.
    pub fn apply(&mut self, recorded: &Recorded) -> Applied {
        if let Err(error) = self.check(recorded) {
            if !recorded.event.always_applies() {
                return Applied::Skipped(error);
            }
        }
        self.effects(recorded);
        Applied::Applied
    }

    /// Applies the effects of an event that validation passed against the facts as they
    /// were at its point, where this state holds, as of that point, everything the event
    /// changes: its rule is not checked again (it may read facts this state does not hold,
    /// such as a new parent's).
    pub fn apply_checked(&mut self, recorded: &Recorded) {
        self.effects(recorded);
    }

    // A table of effects: one arm per event type of the catalogue.
    #[allow(clippy::too_many_lines)]
    fn effects(&mut self, recorded: &Recorded) {
        let at = recorded.effective_at;
        match &recorded.event {
            Event::AccountOpened(d) => {
                self.accounts
                    .entry(d.account.clone())
                    .or_insert_with(|| AccountState {
                        id: d.account.clone(),
                        name: d.name.clone(),
                        scope: d.scope,
                        status: d.status,
                        status_since: at,
                        country: d.country.clone(),
                        parent: d.parent.clone(),
                        opened_at: at,
                        key_account: false,
                        classification: None,
                        team: BTreeMap::new(),
                        contacts: BTreeMap::new(),
                    });
            }
            Event::AccountRenamed(d) => self.with_account(&d.account, |a| a.name = d.name.clone()),
            Event::ParentChanged(d) => {
                self.with_account(&d.account, |a| a.parent = d.parent.clone());
            }
            Event::ScopeChanged(d) => self.with_account(&d.account, |a| a.scope = d.scope),
            Event::Classified(d) => self.with_account(&d.account, |a| {
                a.key_account = d.key_account;
                a.classification = d.model.zip(d.category.clone());
            }),
            Event::StatusChanged(d) => self.with_account(&d.account, |a| {
                a.status = d.status;
                a.status_since = at;
                if d.status == Status::Closed {
                    a.team.clear();
                    a.contacts.clear();
                }
            }),
            Event::PersonJoined(d) => {
                self.persons
                    .entry(d.person.clone())
                    .or_insert_with(|| PersonState {
                        name: d.name.clone(),
                        title: d.title.clone(),
                        joined_at: at,
                        left_at: None,
                    });
            }
            Event::PersonLeft(d) => self.person_left(&d.person, at),
            Event::TeamAssigned(d) => {
                self.person_accounts
                    .entry(d.person.clone())
                    .or_default()
                    .insert(d.account.clone());
                self.with_account(&d.account, |a| {
                    if d.primary {
                        a.team.values_mut().for_each(|x| x.primary = false);
                    }
                    a.team.insert(
                        (d.role, d.person.clone()),
                        Assignment {
                            primary: d.primary,
                            since: at,
                        },
                    );
                });
            }
            Event::TeamUnassigned(d) => self.with_account(&d.account, |a| {
                a.team.remove(&(d.role, d.person.clone()));
            }),
            Event::LineSet(d) => {
                if d.line == LineKind::Solid {
                    self.lines
                        .retain(|(p, _), line| !(p == &d.person && line.kind == LineKind::Solid));
                }
                self.lines.insert(
                    (d.person.clone(), d.manager.clone()),
                    Line {
                        kind: d.line,
                        since: at,
                    },
                );
            }
            Event::LineEnded(d) => {
                self.lines.remove(&(d.person.clone(), d.manager.clone()));
            }
            Event::ContactAdded(d) => self.with_account(&d.account, |a| {
                a.contacts.insert(
                    d.contact.clone(),
                    Contact {
                        name: d.name.clone(),
                        role: d.role,
                        since: at,
                    },
                );
            }),
            Event::ContactRemoved(d) => self.with_account(&d.account, |a| {
                a.contacts.remove(&d.contact);
            }),
            Event::TxnRecorded(d) => {
                let (Some(currency), Some(amount_minor)) = (d.currency(), d.amount_minor()) else {
                    return;
                };
                self.txns.entry(d.txn.clone()).or_insert_with(|| TxnState {
                    account: d.account.clone(),
                    kind: d.kind,
                    currency,
                    amount_minor,
                    effective_at: at,
                    seq: recorded.seq,
                    reference: d.reference.clone(),
                    description: d.description.clone(),
                    reversed: None,
                });
            }
            Event::TxnReversed(d) => {
                if let Some(txn) = self.txns.get_mut(&d.txn) {
                    if txn.reversed.is_none() {
                        txn.reversed = Some((at, recorded.seq));
                    }
                }
            }
            // An erasure changes no fact: names are kept sealed, the key is gone.
            Event::SubjectErased(_) => {}
        }
    }

    fn with_account(&mut self, account: &str, change: impl FnOnce(&mut AccountState)) {
        if let Some(a) = self.accounts.get_mut(account) {
            change(a);
        }
    }

    fn person_left(&mut self, person: &str, at: Timestamp) {
        if let Some(p) = self.persons.get_mut(person) {
            p.left_at = Some(at);
        }
        for account in self.person_accounts.remove(person).unwrap_or_default() {
            self.with_account(&account, |a| a.team.retain(|(_, p), _| p != person));
        }
        self.lines.retain(|(p, m), _| p != person && m != person);
    }
}
