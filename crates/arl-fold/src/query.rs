//! Questions at a point: an account with its children, all accounts, a person's portfolio,
//! the reporting lines, and an account's history.

use crate::source::{Source, SourceError};
use crate::state::{AccountState, Applied, State};
use crate::subset::{Point, SubsetBuilder};
use arl_domain::{Recorded, Role, RuleError, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

/// An account at a point, with its children (sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountView {
    pub account: AccountState,
    pub children: Vec<String>,
}

/// The account at the point, or `None` when it does not exist there.
pub fn account_at(
    source: &dyn Source,
    account: &str,
    point: Point,
) -> Result<Option<AccountView>, SourceError> {
    // A server keeps each account's subset over all events and filters it by the point; a
    // lone process builds the subset for the point.
    let state = if let Some(cache) = source.subsets() {
        let subset = cache.account(source, account)?;
        State::fold(subset.iter().filter(|r| point.sees(r)))
    } else {
        let mut builder = SubsetBuilder::new(source, move |r| point.sees(r));
        builder.account(account)?.children(account)?;
        State::fold(builder.build().iter())
    };
    Ok(view(&state, account))
}

fn view(state: &State, account: &str) -> Option<AccountView> {
    let found = state.accounts.get(account)?;
    let children = children_of(state, account);
    Some(AccountView {
        account: found.clone(),
        children,
    })
}

fn children_of(state: &State, account: &str) -> Vec<String> {
    let mut children: Vec<String> = state
        .accounts
        .values()
        .filter(|a| a.parent.as_deref() == Some(account))
        .map(|a| a.id.clone())
        .collect();
    children.sort();
    children
}

/// Every account that exists at the point, sorted by id.
pub fn accounts_at(source: &dyn Source, point: Point) -> Result<Vec<AccountView>, SourceError> {
    let state = all_accounts_state(source, point)?;
    let mut children: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for a in state.accounts.values() {
        if let Some(parent) = &a.parent {
            children
                .entry(parent.as_str())
                .or_default()
                .push(a.id.clone());
        }
    }
    let mut views: Vec<AccountView> = state
        .accounts
        .values()
        .map(|a| {
            let mut kids = children.get(a.id.as_str()).cloned().unwrap_or_default();
            kids.sort();
            AccountView {
                account: a.clone(),
                children: kids,
            }
        })
        .collect();
    views.sort_by(|a, b| a.account.id.cmp(&b.account.id));
    Ok(views)
}

/// The fold of every account's events (teams and contacts included) at the point.
pub fn all_accounts_state(source: &dyn Source, point: Point) -> Result<State, SourceError> {
    let mut builder = SubsetBuilder::new(source, move |r| point.sees(r));
    for id in source.account_ids()? {
        builder.account(&id)?;
    }
    Ok(State::fold(builder.build().iter()))
}

/// The parent of every account at the point: the hierarchy, for roll-ups.
pub fn hierarchy_at(
    source: &dyn Source,
    point: Point,
) -> Result<BTreeMap<String, Option<String>>, SourceError> {
    let mut builder = SubsetBuilder::new(source, move |r| point.sees(r));
    for id in source.account_ids()? {
        builder.hierarchy(&id)?;
    }
    let state = State::fold(builder.build().iter());
    Ok(state
        .accounts
        .values()
        .map(|a| (a.id.clone(), a.parent.clone()))
        .collect())
}

/// The accounts below `account` at the point (its whole subtree), sorted. Only accounts that
/// ever named a member of the subtree as parent can be in it; their hierarchies are folded.
pub fn descendants_at(
    source: &dyn Source,
    account: &str,
    point: Point,
) -> Result<Vec<String>, SourceError> {
    let mut candidates = BTreeSet::new();
    let mut todo = vec![account.to_string()];
    while let Some(at) = todo.pop() {
        for r in source.child_refs(&at)? {
            if let Some(child) = r.event.account() {
                if child != account && candidates.insert(child.to_string()) {
                    todo.push(child.to_string());
                }
            }
        }
    }
    let mut builder = SubsetBuilder::new(source, move |r| point.sees(r));
    builder.hierarchy(account)?;
    for candidate in &candidates {
        builder.hierarchy(candidate)?;
    }
    let state = State::fold(builder.build().iter());
    Ok(candidates
        .into_iter()
        .filter(|c| state.ancestors(c).contains(&account))
        .collect())
}

/// One assignment in a person's portfolio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortfolioEntry {
    pub account: String,
    pub account_name: String,
    pub role: Role,
    pub primary: bool,
    pub since: Timestamp,
}

/// The person's active assignments at the point, sorted by (account, role).
pub fn portfolio_at(
    source: &dyn Source,
    person: &str,
    point: Point,
) -> Result<Vec<PortfolioEntry>, SourceError> {
    let candidates: BTreeSet<String> = source
        .person_events(person)?
        .iter()
        .filter_map(|r| r.event.account().map(str::to_string))
        .collect();
    let mut builder = SubsetBuilder::new(source, move |r| point.sees(r));
    builder.person(person)?;
    for account in &candidates {
        builder.account(account)?;
    }
    let state = State::fold(builder.build().iter());
    let mut out = Vec::new();
    for account in &candidates {
        let Some(a) = state.accounts.get(account) else {
            continue;
        };
        for ((role, p), assignment) in &a.team {
            if p == person {
                out.push(PortfolioEntry {
                    account: account.clone(),
                    account_name: a.name.clone(),
                    role: *role,
                    primary: assignment.primary,
                    since: assignment.since,
                });
            }
        }
    }
    Ok(out)
}

/// The people and reporting lines at the point (a fold of every person and reporting event).
pub fn org_at(source: &dyn Source, point: Point) -> Result<State, SourceError> {
    let mut builder = SubsetBuilder::new(source, move |r| point.sees(r));
    builder.org()?;
    Ok(State::fold(builder.build().iter()))
}

/// One step of an account's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub seq: u64,
    pub effective_at: Timestamp,
    pub recorded_at: Timestamp,
    pub kind: &'static str,
    /// `None` when applied; the broken rule when skipped.
    pub skipped: Option<RuleError>,
    /// What changed on the account: (field, before, after).
    pub changes: Vec<(String, Option<String>, Option<String>)>,
}

/// Every event that touched the account, in valid-time order, as known at `at_seq`, with what
/// it changed or why it was skipped.
pub fn history(
    source: &dyn Source,
    account: &str,
    at_seq: u64,
) -> Result<Vec<HistoryEntry>, SourceError> {
    let point = Point {
        as_of: Timestamp::MAX,
        at_seq,
    };
    let mut builder = SubsetBuilder::new(source, move |r| point.sees(r));
    builder.account(account)?.children(account)?.txns(account)?;
    let subset = builder.build();
    let mut state = State::new();
    let mut out = Vec::new();
    for recorded in subset.iter() {
        let before = fields(&state, account);
        let outcome = state.apply(recorded);
        let after = fields(&state, account);
        let changes = diff_fields(&before, &after);
        if touches(recorded, account) || !changes.is_empty() {
            out.push(HistoryEntry {
                seq: recorded.seq,
                effective_at: recorded.effective_at,
                recorded_at: recorded.recorded_at,
                kind: recorded.event.kind(),
                skipped: match outcome {
                    Applied::Applied => None,
                    Applied::Skipped(rule) => Some(rule),
                },
                changes,
            });
        }
    }
    Ok(out)
}

fn touches(recorded: &Recorded, account: &str) -> bool {
    recorded.event.account() == Some(account)
}

/// The account at a state as flat fields (`name`, `team.media.gus`, `txn.inv-1`, ...), for
/// history and diffs; an account that does not exist has no fields.
pub fn fields(state: &State, account: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(a) = state.accounts.get(account) else {
        return out;
    };
    out.insert("name".into(), a.name.clone());
    out.insert("status".into(), a.status.to_string());
    out.insert("scope".into(), a.scope.to_string());
    out.insert(
        "country".into(),
        a.country.clone().unwrap_or_else(|| "-".into()),
    );
    out.insert(
        "parent".into(),
        a.parent.clone().unwrap_or_else(|| "-".into()),
    );
    out.insert("key_account".into(), a.key_account.to_string());
    let classification = a
        .classification
        .as_ref()
        .map(|(m, c)| format!("{m}/{c}"))
        .unwrap_or_else(|| "-".into());
    out.insert("classification".into(), classification);
    out.insert("children".into(), children_of(state, account).join(","));
    for ((role, person), assignment) in &a.team {
        let primary = if assignment.primary { "primary, " } else { "" };
        out.insert(
            format!("team.{role}.{person}"),
            format!("{primary}since {}", assignment.since.human()),
        );
    }
    for (contact, c) in &a.contacts {
        out.insert(
            format!("contact.{contact}"),
            format!("{} ({}), since {}", c.name, c.role, c.since.human()),
        );
    }
    for (id, txn) in state.txns.iter().filter(|(_, t)| t.account == account) {
        let amount = arl_domain::money::format_minor(txn.amount_minor, txn.currency);
        let reversed = if txn.reversed.is_some() {
            ", reversed"
        } else {
            ""
        };
        out.insert(
            format!("txn.{id}"),
            format!("{} {} {amount}{reversed}", txn.kind, txn.currency.code()),
        );
    }
    out
}

/// The fields that differ: (field, before, after).
pub fn diff_fields(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<(String, Option<String>, Option<String>)> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| (k.clone(), before.get(k).cloned(), after.get(k).cloned()))
        .collect()
}
