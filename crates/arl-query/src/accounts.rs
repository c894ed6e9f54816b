//! Account cards, lists and the hierarchy.

use crate::{At, QueryError, Table};
use arl_accounts::{Card, Filter, TreeNode};
use arl_fold::{Point, Source};

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
