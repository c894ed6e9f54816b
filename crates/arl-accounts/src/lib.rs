//! The account status view: an account's card (name, scope, status, country, parent and
//! children, key-account flag and classification, opened date, team and contacts), lists of
//! accounts with filters, and the hierarchy as a tree, at any point of valid time and
//! knowledge.
//!
//! Main types: [`Card`] (the JSON of `arl account`, contract §7), [`Filter`], [`TreeNode`].
//!
//! ```
//! use arl_domain::{Event, Recorded, Timestamp};
//! use arl_fold::{MemIndex, Point};
//! let mut index = MemIndex::new();
//! let at = Timestamp::parse_input("2024-01-01").unwrap();
//! let event = Event::parse("account.opened", r#"{"account":"acme","name":"ACME","scope":"global","country":"US"}"#).unwrap();
//! index.insert(Recorded { seq: 1, effective_at: at, recorded_at: at, event });
//! let card = arl_accounts::card(&index, "acme", Point::LATEST).unwrap().unwrap();
//! assert_eq!(card.country.as_deref(), Some("US"));
//! assert!(arl_accounts::card(&index, "acme", Point { as_of: Timestamp(0), at_seq: 1 }).unwrap().is_none());
//! ```

use arl_domain::{Scope, Status};
use arl_fold::query::{self, AccountView};
use arl_fold::{Point, Source, SourceError};
use serde::Serialize;
use std::collections::BTreeMap;

/// An account at a point, in the JSON form of contract §7.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Card {
    pub account: String,
    pub name: String,
    pub status: Status,
    pub scope: Scope,
    pub country: Option<String>,
    pub parent: Option<String>,
    pub children: Vec<String>,
    pub key_account: bool,
    pub classification: Option<Classification>,
    pub opened_at: String,
    pub team: Vec<TeamMember>,
    pub contacts: Vec<ContactEntry>,
}

/// A key-account classification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Classification {
    pub model: arl_domain::Model,
    pub category: String,
}

/// An active assignment on an account's team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TeamMember {
    pub person: String,
    pub role: arl_domain::Role,
    pub primary: bool,
    pub since: String,
}

/// An active contact on an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ContactEntry {
    pub contact: String,
    pub name: String,
    pub role: arl_domain::ContactRole,
    pub since: String,
}

impl Card {
    /// The card of an account view: team sorted by (role, person), contacts by id.
    pub fn from_view(view: &AccountView) -> Card {
        let a = &view.account;
        let mut team: Vec<TeamMember> = a
            .team
            .iter()
            .map(|((role, person), x)| TeamMember {
                person: person.clone(),
                role: *role,
                primary: x.primary,
                since: x.since.canonical(),
            })
            .collect();
        team.sort_by(|x, y| (x.role.as_str(), &x.person).cmp(&(y.role.as_str(), &y.person)));
        let contacts = a
            .contacts
            .iter()
            .map(|(id, c)| ContactEntry {
                contact: id.clone(),
                name: c.name.clone(),
                role: c.role,
                since: c.since.canonical(),
            })
            .collect();
        Card {
            account: a.id.clone(),
            name: a.name.clone(),
            status: a.status,
            scope: a.scope,
            country: a.country.clone(),
            parent: a.parent.clone(),
            children: view.children.clone(),
            key_account: a.key_account,
            classification: a
                .classification
                .as_ref()
                .map(|(model, category)| Classification {
                    model: *model,
                    category: category.clone(),
                }),
            opened_at: a.opened_at.canonical(),
            team,
            contacts,
        }
    }

    /// The primary (owner) of the account, if any.
    pub fn primary(&self) -> Option<&TeamMember> {
        self.team.iter().find(|m| m.primary)
    }
}

/// The card of `account` at `point`, or `None` when the account does not exist there.
pub fn card(source: &dyn Source, account: &str, point: Point) -> Result<Option<Card>, SourceError> {
    Ok(query::account_at(source, account, point)?.map(|v| Card::from_view(&v)))
}

/// Which accounts a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub status: Option<Status>,
    pub scope: Option<Scope>,
    pub key_accounts_only: bool,
    pub country: Option<String>,
}

impl Filter {
    /// True when the card passes the filter.
    pub fn accepts(&self, card: &Card) -> bool {
        self.status.is_none_or(|s| s == card.status)
            && self.scope.is_none_or(|s| s == card.scope)
            && (!self.key_accounts_only || card.key_account)
            && self
                .country
                .as_ref()
                .is_none_or(|c| card.country.as_ref() == Some(c))
    }
}

/// Every account at `point` that passes `filter`, sorted by id.
pub fn list(source: &dyn Source, point: Point, filter: &Filter) -> Result<Vec<Card>, SourceError> {
    Ok(query::accounts_at(source, point)?
        .iter()
        .map(Card::from_view)
        .filter(|c| filter.accepts(c))
        .collect())
}

/// An account in the hierarchy, with its children.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TreeNode {
    pub account: String,
    pub name: String,
    pub scope: Scope,
    pub status: Status,
    pub key_account: bool,
    pub children: Vec<TreeNode>,
}

/// The hierarchy at `point` as a forest: roots (accounts without a parent, or whose parent
/// does not exist at that point) sorted by id, each with its subtree. Accounts that `filter`
/// rejects are kept when a descendant passes, so the tree stays connected.
pub fn tree(
    source: &dyn Source,
    point: Point,
    filter: &Filter,
) -> Result<Vec<TreeNode>, SourceError> {
    let cards: BTreeMap<String, Card> = query::accounts_at(source, point)?
        .iter()
        .map(|v| (v.account.id.clone(), Card::from_view(v)))
        .collect();
    let roots: Vec<&Card> = cards
        .values()
        .filter(|c| c.parent.as_ref().is_none_or(|p| !cards.contains_key(p)))
        .collect();
    Ok(roots
        .into_iter()
        .filter_map(|c| node(&cards, c, filter, 0))
        .collect())
}

/// The subtree of `card` over `cards` (as [`tree`] builds each root's), or `None` when
/// neither it nor a descendant passes `filter`.
pub fn subtree(cards: &BTreeMap<String, Card>, card: &Card, filter: &Filter) -> Option<TreeNode> {
    node(cards, card, filter, 0)
}

fn node(
    cards: &BTreeMap<String, Card>,
    card: &Card,
    filter: &Filter,
    depth: usize,
) -> Option<TreeNode> {
    if depth > arl_fold::state::CHAIN_DEPTH_MAX {
        return None;
    }
    let children: Vec<TreeNode> = card
        .children
        .iter()
        .filter_map(|id| cards.get(id))
        .filter_map(|c| node(cards, c, filter, depth + 1))
        .collect();
    if children.is_empty() && !filter.accepts(card) {
        return None;
    }
    Some(TreeNode {
        account: card.account.clone(),
        name: card.name.clone(),
        scope: card.scope,
        status: card.status,
        key_account: card.key_account,
        children,
    })
}
