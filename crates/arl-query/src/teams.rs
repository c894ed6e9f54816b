//! Teams, contacts, portfolios and the org chart.

use crate::{At, QueryError, Table};
use arl_fold::Source;
use arl_teams::OrgChart;
use serde::Serialize;

/// An account in a question: `arl team`, `arl contacts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountQuestion {
    /// The account id.
    pub account: String,
    /// The point.
    pub at: At,
}

/// A person in a question: `arl portfolio`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonQuestion {
    /// The person id.
    pub person: String,
    /// The point.
    pub at: At,
}

/// One member of a team, as `arl team --format json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TeamRow {
    pub person: String,
    pub name: Option<String>,
    pub role: String,
    pub primary: bool,
    pub since: String,
}

/// An account's team, sorted by (role, person).
pub fn team(source: &dyn Source, question: &AccountQuestion) -> Result<Vec<TeamRow>, QueryError> {
    let point = question.at.point(source)?;
    let Some(members) = arl_teams::team(source, &question.account, point)? else {
        return Err(QueryError::AccountMissing {
            account: question.account.clone(),
            point,
        });
    };
    Ok(members
        .into_iter()
        .map(|m| TeamRow {
            person: m.person,
            name: m.name,
            role: m.role.to_string(),
            primary: m.primary,
            since: m.since.canonical(),
        })
        .collect())
}

/// A team as CSV.
pub fn team_csv(rows: &[TeamRow]) -> Table {
    let row = |m: &TeamRow| {
        vec![
            m.role.clone(),
            m.person.clone(),
            m.name.clone().unwrap_or_default(),
            m.primary.to_string(),
            m.since.clone(),
        ]
    };
    Table::new(
        &["role", "person", "name", "primary", "since"],
        rows.iter().map(row).collect(),
    )
}

/// One account of a portfolio, as `arl portfolio --format json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PortfolioRow {
    pub account: String,
    pub account_name: String,
    pub role: String,
    pub primary: bool,
    pub since: String,
}

/// A person's portfolio, sorted by (account, role).
pub fn portfolio(
    source: &dyn Source,
    question: &PersonQuestion,
) -> Result<Vec<PortfolioRow>, QueryError> {
    let point = question.at.point(source)?;
    let Some(entries) = arl_teams::portfolio(source, &question.person, point)? else {
        return Err(QueryError::PersonMissing {
            person: question.person.clone(),
            point,
        });
    };
    Ok(entries
        .into_iter()
        .map(|e| PortfolioRow {
            account: e.account,
            account_name: e.account_name,
            role: e.role.to_string(),
            primary: e.primary,
            since: e.since.canonical(),
        })
        .collect())
}

/// A portfolio as CSV.
pub fn portfolio_csv(rows: &[PortfolioRow]) -> Table {
    let row = |e: &PortfolioRow| {
        vec![
            e.account.clone(),
            e.account_name.clone(),
            e.role.clone(),
            e.primary.to_string(),
            e.since.clone(),
        ]
    };
    Table::new(
        &["account", "name", "role", "primary", "since"],
        rows.iter().map(row).collect(),
    )
}

/// One active contact, as `arl contacts --format json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ContactRow {
    pub contact: String,
    pub name: String,
    pub role: String,
    pub since: String,
}

/// An account's active contacts, sorted by id.
pub fn contacts(
    source: &dyn Source,
    question: &AccountQuestion,
) -> Result<Vec<ContactRow>, QueryError> {
    let point = question.at.point(source)?;
    let Some(contacts) = arl_teams::contacts(source, &question.account, point)? else {
        return Err(QueryError::AccountMissing {
            account: question.account.clone(),
            point,
        });
    };
    Ok(contacts
        .into_iter()
        .map(|c| ContactRow {
            contact: c.contact,
            name: c.name,
            role: c.role.to_string(),
            since: c.since.canonical(),
        })
        .collect())
}

/// Contacts as CSV.
pub fn contacts_csv(rows: &[ContactRow]) -> Table {
    let row = |c: &ContactRow| {
        vec![
            c.contact.clone(),
            c.name.clone(),
            c.role.clone(),
            c.since.clone(),
        ]
    };
    Table::new(
        &["contact", "name", "role", "since"],
        rows.iter().map(row).collect(),
    )
}

/// The org chart as `arl org --format json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OrgJson {
    pub people: Vec<OrgPersonJson>,
    pub lines: Vec<OrgLineJson>,
}

/// A person of the org chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OrgPersonJson {
    pub person: String,
    pub name: String,
    pub title: Option<String>,
    pub joined_at: String,
}

/// A reporting line of the org chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OrgLineJson {
    pub person: String,
    pub manager: String,
    pub line: String,
    pub since: String,
}

/// The org chart at a point.
pub fn org(source: &dyn Source, at: &At) -> Result<OrgChart, QueryError> {
    let point = at.point(source)?;
    Ok(arl_teams::org_chart(source, point)?)
}

/// The org chart in its JSON form.
pub fn org_json(chart: &OrgChart) -> OrgJson {
    OrgJson {
        people: chart
            .people
            .iter()
            .map(|p| OrgPersonJson {
                person: p.person.clone(),
                name: p.name.clone(),
                title: p.title.clone(),
                joined_at: p.joined_at.canonical(),
            })
            .collect(),
        lines: chart
            .lines
            .iter()
            .map(|l| OrgLineJson {
                person: l.person.clone(),
                manager: l.manager.clone(),
                line: l.line.to_string(),
                since: l.since.canonical(),
            })
            .collect(),
    }
}

/// The org chart's lines as CSV.
pub fn org_csv(chart: &OrgChart) -> Table {
    let row = |l: &arl_teams::OrgLine| {
        vec![
            l.person.clone(),
            l.manager.clone(),
            l.line.to_string(),
            l.since.canonical(),
        ]
    };
    Table::new(
        &["person", "manager", "line", "since"],
        chart.lines.iter().map(row).collect(),
    )
}
