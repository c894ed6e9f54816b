//! The peer's fold: a straightforward replay, written for the bench from the contract, of
//! the rows the peer's SQL returns, into an account's card and team.
//!
//! It applies the §3 rules a card depends on in (`effective_at`, `seq`) order and skips an
//! event whose rule fails (contract §6). Simpler than arl's fold in two places, both noted
//! in the report: it does not check hierarchy cycles, and it takes an account it has not
//! loaded (the new parent of a child that moves away) to exist and be open.

use crate::peer::EventRow;
use anyhow::{Context, Result};
use arl_accounts::{Card, Classification, ContactEntry, TeamMember};
use arl_domain::{ContactRole, Event, Model, Role, Scope, Status, Timestamp};
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone)]
struct Acc {
    name: String,
    scope: Scope,
    status: Status,
    country: Option<String>,
    parent: Option<String>,
    opened_at: i64,
    key_account: bool,
    classification: Option<(Model, String)>,
    team: BTreeMap<(Role, String), (bool, i64)>,
    contacts: BTreeMap<String, (String, ContactRole, i64)>,
}

#[derive(Debug, Clone)]
struct Person {
    name: String,
    left: bool,
}

/// One member of a team with the person's name: the answer both sides give.
pub type TeamRow = (String, Option<String>, Role, bool, i64);

#[derive(Default)]
struct World {
    accounts: HashMap<String, Acc>,
    persons: HashMap<String, Person>,
    /// Accounts whose events were fetched: a rule about any other account is taken to hold.
    loaded: HashSet<String>,
}

impl World {
    fn open(&self, account: &str) -> bool {
        match self.accounts.get(account) {
            Some(a) => a.status != Status::Closed,
            None => !self.loaded.contains(account),
        }
    }

    fn active(&self, person: &str) -> bool {
        self.persons.get(person).is_some_and(|p| !p.left)
    }

    fn apply(&mut self, event: &Event, at: i64) {
        match event {
            Event::AccountOpened(d) => {
                self.accounts.entry(d.account.clone()).or_insert(Acc {
                    name: d.name.clone(),
                    scope: d.scope,
                    status: d.status,
                    country: d.country.clone(),
                    parent: d.parent.clone(),
                    opened_at: at,
                    key_account: false,
                    classification: None,
                    team: BTreeMap::new(),
                    contacts: BTreeMap::new(),
                });
            }
            Event::ParentChanged(d) => {
                let parent_ok = d.parent.as_deref().is_none_or(|p| self.open(p));
                if let Some(a) = self.accounts.get_mut(&d.account) {
                    if parent_ok && a.parent != d.parent {
                        a.parent = d.parent.clone();
                    }
                }
            }
            Event::PersonJoined(d) => {
                self.persons.entry(d.person.clone()).or_insert(Person {
                    name: d.name.clone(),
                    left: false,
                });
            }
            Event::PersonLeft(d) => {
                if self.active(&d.person) {
                    if let Some(p) = self.persons.get_mut(&d.person) {
                        p.left = true;
                    }
                    for a in self.accounts.values_mut() {
                        a.team.retain(|(_, p), _| *p != d.person);
                    }
                }
            }
            Event::TeamAssigned(d) => {
                if !self.active(&d.person) {
                    return;
                }
                self.change(&d.account, true, |a| {
                    let key = (d.role, d.person.clone());
                    if a.team.contains_key(&key) {
                        return;
                    }
                    if d.primary {
                        a.team.values_mut().for_each(|m| m.0 = false);
                    }
                    a.team.insert(key, (d.primary, at));
                });
            }
            other => self.apply_account(other, at),
        }
    }

    fn apply_account(&mut self, event: &Event, at: i64) {
        match event {
            Event::AccountRenamed(d) => self.change(&d.account, false, |a| a.name = d.name.clone()),
            Event::ScopeChanged(d) => self.change(&d.account, false, |a| a.scope = d.scope),
            Event::Classified(d) => self.change(&d.account, true, |a| {
                a.key_account = d.key_account;
                a.classification = d.model.zip(d.category.clone());
            }),
            Event::StatusChanged(d) => self.change(&d.account, false, |a| {
                if a.status != d.status {
                    a.status = d.status;
                    if d.status == Status::Closed {
                        a.team.clear();
                        a.contacts.clear();
                    }
                }
            }),
            Event::TeamUnassigned(d) => self.change(&d.account, false, |a| {
                a.team.remove(&(d.role, d.person.clone()));
            }),
            Event::ContactAdded(d) => self.change(&d.account, true, |a| {
                a.contacts
                    .entry(d.contact.clone())
                    .or_insert((d.name.clone(), d.role, at));
            }),
            Event::ContactRemoved(d) => self.change(&d.account, false, |a| {
                a.contacts.remove(&d.contact);
            }),
            _ => {}
        }
    }

    /// Changes the account when it exists (and, if `must_be_open`, is not closed).
    fn change(&mut self, account: &str, must_be_open: bool, f: impl FnOnce(&mut Acc)) {
        if let Some(a) = self.accounts.get_mut(account) {
            if !must_be_open || a.status != Status::Closed {
                f(a);
            }
        }
    }
}

fn fold(account: &str, rows: &[EventRow]) -> Result<World> {
    let mut world = World::default();
    world.loaded.insert(account.to_string());
    for row in rows {
        let event = Event::parse(&row.kind, &row.data)
            .with_context(|| format!("peer: seq {} does not parse", row.seq))?;
        if let Some(a) = event.account() {
            world.loaded.insert(a.to_string());
        }
        world.apply(&event, row.effective_at);
    }
    Ok(world)
}

/// The card of `account` from the rows of [`crate::peer::card_events`], `None` when the
/// account does not exist at that point.
pub fn card(account: &str, rows: &[EventRow]) -> Result<Option<Card>> {
    let world = fold(account, rows)?;
    let Some(a) = world.accounts.get(account) else {
        return Ok(None);
    };
    let mut children: Vec<String> = world
        .accounts
        .iter()
        .filter(|(_, c)| c.parent.as_deref() == Some(account))
        .map(|(id, _)| id.clone())
        .collect();
    children.sort();
    let mut team: Vec<TeamMember> = a
        .team
        .iter()
        .map(|((role, person), (primary, since))| TeamMember {
            person: person.clone(),
            role: *role,
            primary: *primary,
            since: Timestamp(*since).canonical(),
        })
        .collect();
    team.sort_by(|x, y| (x.role.as_str(), &x.person).cmp(&(y.role.as_str(), &y.person)));
    let contacts = a
        .contacts
        .iter()
        .map(|(id, (name, role, since))| ContactEntry {
            contact: id.clone(),
            name: name.clone(),
            role: *role,
            since: Timestamp(*since).canonical(),
        })
        .collect();
    Ok(Some(Card {
        account: account.to_string(),
        name: a.name.clone(),
        status: a.status,
        scope: a.scope,
        country: a.country.clone(),
        parent: a.parent.clone(),
        children,
        key_account: a.key_account,
        classification: a
            .classification
            .as_ref()
            .map(|(model, category)| Classification {
                model: *model,
                category: category.clone(),
            }),
        opened_at: Timestamp(a.opened_at).canonical(),
        team,
        contacts,
    }))
}

/// The team of `account` with names, sorted by (role, person); `None` when the account
/// does not exist at that point.
pub fn team(account: &str, rows: &[EventRow]) -> Result<Option<Vec<TeamRow>>> {
    let world = fold(account, rows)?;
    let Some(a) = world.accounts.get(account) else {
        return Ok(None);
    };
    let mut out: Vec<TeamRow> = a
        .team
        .iter()
        .map(|((role, person), (primary, since))| {
            let name = world.persons.get(person).map(|p| p.name.clone());
            (person.clone(), name, *role, *primary, *since)
        })
        .collect();
    out.sort_by(|x, y| (x.2.as_str(), &x.0).cmp(&(y.2.as_str(), &y.0)));
    Ok(Some(out))
}
