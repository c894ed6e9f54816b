//! Account cards, lists and the hierarchy.

use crate::{At, QueryError, Table};
use arl_accounts::{Card, Filter, TreeNode};
use arl_fold::{Point, Source};
use std::collections::BTreeMap;

/// `arl account ID`: the card of one account (contract §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardQuestion {
    /// The account id.
    pub account: String,
    /// The point.
    pub at: At,
}

impl CardQuestion {
    /// The card, or [`QueryError::AccountMissing`].
    pub fn answer(&self, source: &dyn Source) -> Result<Card, QueryError> {
        let point = self.at.point(source)?;
        arl_accounts::card(source, &self.account, point)?.ok_or_else(|| {
            QueryError::AccountMissing {
                account: self.account.clone(),
                point,
            }
        })
    }
}

/// `arl accounts`: accounts that pass a filter, as cards or as the hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountsQuestion {
    /// Which accounts.
    pub filter: Filter,
    /// The point.
    pub at: At,
}

impl AccountsQuestion {
    /// The cards of the accounts that pass, sorted by id.
    pub fn list(&self, source: &dyn Source) -> Result<Vec<Card>, QueryError> {
        let point = self.at.point(source)?;
        Ok(arl_accounts::list(source, point, &self.filter)?)
    }

    /// The hierarchy as a forest (accounts that fail the filter stay when a descendant
    /// passes).
    pub fn tree(&self, source: &dyn Source) -> Result<Vec<TreeNode>, QueryError> {
        let point = self.at.point(source)?;
        Ok(arl_accounts::tree(source, point, &self.filter)?)
    }

    /// One page of the cards [`AccountsQuestion::list`] gives that `search` matches: the
    /// same cards in the same order, `search.offset` of them skipped. Builds cards one
    /// account at a time, in id order, and stops once the page is full, so the first page
    /// costs its own cards, not every card of the ledger.
    pub fn search(&self, source: &dyn Source, search: &Search) -> Result<Vec<Card>, QueryError> {
        let point = self.at.point(source)?;
        let mut skipped = 0;
        let mut page = Vec::new();
        for id in source.account_ids()? {
            if page.len() >= search.limit {
                break;
            }
            let Some(card) = arl_accounts::card(source, &id, point)? else {
                continue;
            };
            if !self.filter.accepts(&card) || !search.matches(&card) {
                continue;
            }
            if skipped < search.offset {
                skipped += 1;
                continue;
            }
            page.push(card);
        }
        Ok(page)
    }

    /// The tree that holds `account` with only what a page around the account needs: its
    /// ancestors (each with only the child on the way down) and its whole subtree, as the
    /// forest [`AccountsQuestion::tree`] gives with the other branches left out. Reads the
    /// cards of those accounts only.
    pub fn tree_around(
        &self,
        source: &dyn Source,
        account: &str,
    ) -> Result<Vec<TreeNode>, QueryError> {
        let point = self.at.point(source)?;
        let Some(card) = arl_accounts::card(source, account, point)? else {
            return Err(QueryError::AccountMissing {
                account: account.to_string(),
                point,
            });
        };
        let mut cards = BTreeMap::new();
        for id in arl_fold::query::descendants_at(source, account, point)? {
            if let Some(descendant) = arl_accounts::card(source, &id, point)? {
                cards.insert(id, descendant);
            }
        }
        let top = ancestors(source, point, card, &mut cards)?;
        let Some(top) = cards.get(&top) else {
            return Ok(Vec::new());
        };
        Ok(arl_accounts::subtree(&cards, top, &self.filter)
            .into_iter()
            .collect())
    }
}

/// Puts `card` and its ancestors in `cards`, each ancestor with only the child on the way
/// down to `card`; the id of the topmost (a root of the forest at the point).
fn ancestors(
    source: &dyn Source,
    point: Point,
    card: Card,
    cards: &mut BTreeMap<String, Card>,
) -> Result<String, QueryError> {
    let mut top = card.account.clone();
    let mut parent = card.parent.clone();
    cards.insert(card.account.clone(), card);
    // The depth bound and the `contains_key` check stop a cycle, as the fold's own walk does.
    for _ in 0..=arl_fold::state::CHAIN_DEPTH_MAX {
        let Some(id) = parent.take() else { break };
        if cards.contains_key(&id) {
            break;
        }
        let Some(mut above) = arl_accounts::card(source, &id, point)? else {
            break;
        };
        above.children.retain(|child| *child == top);
        parent = above.parent.clone();
        top = id.clone();
        cards.insert(id, above);
    }
    Ok(top)
}

/// The longest search text, in characters.
pub const SEARCH_TEXT_CHARS_MAX: usize = 100;
/// The most cards one page of a search holds.
pub const SEARCH_LIMIT_MAX: usize = 500;
/// The cards a page holds when the question does not say.
pub const SEARCH_LIMIT_DEFAULT: usize = 50;
/// The most cards a search may skip (more than any ledger's accounts today).
pub const SEARCH_OFFSET_MAX: usize = 1_000_000;

/// Which page of a list of accounts: those whose id or name contains `text` (ignoring
/// case; every account when it is empty), `offset` of them skipped, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// Lower-cased text to find in the id or the name.
    text: String,
    /// The most cards answered.
    pub limit: usize,
    /// How many matching cards come before the page.
    pub offset: usize,
}

impl Search {
    /// A search for `text` (case ignored).
    pub fn new(text: &str, limit: usize, offset: usize) -> Search {
        Search {
            text: text.trim().to_lowercase(),
            limit,
            offset,
        }
    }

    /// True when the card's id or name holds the text.
    pub fn matches(&self, card: &Card) -> bool {
        self.text.is_empty()
            || card.account.to_lowercase().contains(&self.text)
            || card.name.to_lowercase().contains(&self.text)
    }
}

/// Fails when the account was never opened in what is known at the point (at any valid
/// time): registers and balances of an account opened later are empty, of an unknown id an
/// error.
pub(crate) fn require_known(
    source: &dyn Source,
    account: &str,
    point: Point,
) -> Result<(), QueryError> {
    let ever = Point {
        as_of: arl_domain::Timestamp::MAX,
        at_seq: point.at_seq,
    };
    match arl_fold::query::account_at(source, account, ever)? {
        Some(_) => Ok(()),
        None => Err(QueryError::AccountMissing {
            account: account.to_string(),
            point: ever,
        }),
    }
}

/// The CSV header of cards.
pub const CARD_CSV_HEADER: &[&str] = &[
    "account",
    "name",
    "status",
    "scope",
    "country",
    "parent",
    "children",
    "key_account",
    "model",
    "category",
    "opened_at",
    "primary",
    "team",
    "contacts",
];

/// One card as a CSV row (`role:person` and `role:contact` lists separated by spaces).
pub fn card_csv_row(card: &Card) -> Vec<String> {
    let (model, category) = match &card.classification {
        Some(c) => (c.model.to_string(), c.category.clone()),
        None => (String::new(), String::new()),
    };
    let pairs = |items: Vec<String>| items.join(" ");
    vec![
        card.account.clone(),
        card.name.clone(),
        card.status.to_string(),
        card.scope.to_string(),
        card.country.clone().unwrap_or_default(),
        card.parent.clone().unwrap_or_default(),
        card.children.join(" "),
        card.key_account.to_string(),
        model,
        category,
        card.opened_at.clone(),
        card.primary().map(|m| m.person.clone()).unwrap_or_default(),
        pairs(
            card.team
                .iter()
                .map(|m| format!("{}:{}", m.role, m.person))
                .collect(),
        ),
        pairs(
            card.contacts
                .iter()
                .map(|c| format!("{}:{}", c.role, c.contact))
                .collect(),
        ),
    ]
}

/// Cards as CSV.
pub fn cards_csv(cards: &[Card]) -> Table {
    Table::new(CARD_CSV_HEADER, cards.iter().map(card_csv_row).collect())
}

/// A node of the hierarchy with its depth, its parent and whether it is the last of its
/// siblings, depth first.
pub struct FlatNode<'a> {
    /// Depth (0 for a root).
    pub depth: usize,
    /// The parent's id.
    pub parent: Option<&'a str>,
    /// The node.
    pub node: &'a TreeNode,
    /// The last of its siblings.
    pub last: bool,
}

/// Every node of the forest, depth first.
pub fn flatten(forest: &[TreeNode]) -> Vec<FlatNode<'_>> {
    fn walk<'a>(
        nodes: &'a [TreeNode],
        parent: Option<&'a str>,
        depth: usize,
        out: &mut Vec<FlatNode<'a>>,
    ) {
        for (index, node) in nodes.iter().enumerate() {
            out.push(FlatNode {
                depth,
                parent,
                node,
                last: index + 1 == nodes.len(),
            });
            walk(&node.children, Some(&node.account), depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(forest, None, 0, &mut out);
    out
}

/// The hierarchy as CSV: one row per account with its parent and depth.
pub fn tree_csv(forest: &[TreeNode]) -> Table {
    let rows = flatten(forest)
        .iter()
        .map(|flat| {
            let n = flat.node;
            vec![
                n.account.clone(),
                flat.parent.unwrap_or_default().to_string(),
                flat.depth.to_string(),
                n.name.clone(),
                n.scope.to_string(),
                n.status.to_string(),
                n.key_account.to_string(),
            ]
        })
        .collect();
    Table::new(
        &[
            "account",
            "parent",
            "depth",
            "name",
            "scope",
            "status",
            "key_account",
        ],
        rows,
    )
}
