//! The team assignment view: an account's team and contacts, a person's portfolio, and the
//! reporting lines (solid and dotted) as an org chart, at any point of valid time and
//! knowledge.
//!
//! Main types: [`OrgChart`], [`arl_fold::query::PortfolioEntry`]; an account's team and
//! contacts are those of its [`arl_accounts`]-style card, here without the account fields.
//!
//! ```
//! use arl_domain::{Event, Recorded, Timestamp};
//! use arl_fold::{MemIndex, Point};
//! let mut index = MemIndex::new();
//! let at = Timestamp::parse_input("2024-01-01").unwrap();
//! for (seq, (kind, data)) in [
//!     ("person.joined", r#"{"person":"ada","name":"Ada"}"#),
//!     ("person.joined", r#"{"person":"ben","name":"Ben"}"#),
//!     ("reporting.line_set", r#"{"person":"ben","manager":"ada","line":"solid"}"#),
//! ].into_iter().enumerate() {
//!     let event = Event::parse(kind, data).unwrap();
//!     index.insert(Recorded { seq: seq as u64 + 1, effective_at: at, recorded_at: at, event });
//! }
//! let chart = arl_teams::org_chart(&index, Point::LATEST).unwrap();
//! assert_eq!(chart.lines.len(), 1);
//! assert_eq!(chart.lines[0].manager, "ada");
//! ```

use arl_domain::{LineKind, Role, Timestamp};
use arl_fold::query::{self, PortfolioEntry};
use arl_fold::{Point, Source, SourceError};
use serde::Serialize;

/// An active assignment on a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub person: String,
    pub name: Option<String>,
    pub role: Role,
    pub primary: bool,
    pub since: Timestamp,
}

/// The account's team at `point`, sorted by (role, person); `None` when the account does
/// not exist there.
pub fn team(
    source: &dyn Source,
    account: &str,
    point: Point,
) -> Result<Option<Vec<Member>>, SourceError> {
    let Some(view) = query::account_at(source, account, point)? else {
        return Ok(None);
    };
    let mut members = Vec::with_capacity(view.account.team.len());
    for ((role, person), a) in &view.account.team {
        members.push(Member {
            person: person.clone(),
            name: person_name(source, person)?,
            role: *role,
            primary: a.primary,
            since: a.since,
        });
    }
    members.sort_by(|x, y| (x.role.as_str(), &x.person).cmp(&(y.role.as_str(), &y.person)));
    Ok(Some(members))
}

/// The name a person joined with.
fn person_name(source: &dyn Source, person: &str) -> Result<Option<String>, SourceError> {
    Ok(source
        .person_lifecycle(person)?
        .iter()
        .find_map(|r| match &r.event {
            arl_domain::Event::PersonJoined(d) => Some(d.name.clone()),
            _ => None,
        }))
}

/// An active contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactRow {
    pub contact: String,
    pub name: String,
    pub role: arl_domain::ContactRole,
    pub since: Timestamp,
}

/// The account's active contacts at `point`, sorted by id; `None` when it does not exist.
pub fn contacts(
    source: &dyn Source,
    account: &str,
    point: Point,
) -> Result<Option<Vec<ContactRow>>, SourceError> {
    let Some(view) = query::account_at(source, account, point)? else {
        return Ok(None);
    };
    Ok(Some(
        view.account
            .contacts
            .iter()
            .map(|(id, c)| ContactRow {
                contact: id.clone(),
                name: c.name.clone(),
                role: c.role,
                since: c.since,
            })
            .collect(),
    ))
}

/// The person's active assignments at `point`, sorted by (account, role); `None` when the
/// person never joined by then.
pub fn portfolio(
    source: &dyn Source,
    person: &str,
    point: Point,
) -> Result<Option<Vec<PortfolioEntry>>, SourceError> {
    // Whether the person joined by then depends on their own joining only (it always
    // applies), so fold just that rather than every person's events.
    let mut builder = arl_fold::SubsetBuilder::new(source, move |r| point.sees(r));
    builder.person(person)?;
    let joined = arl_fold::State::fold(builder.build().iter());
    if !joined.persons.contains_key(person) {
        return Ok(None);
    }
    let mut entries = query::portfolio_at(source, person, point)?;
    entries.sort_by(|x, y| (&x.account, x.role.as_str()).cmp(&(&y.account, y.role.as_str())));
    Ok(Some(entries))
}

/// A person on the org chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgPerson {
    pub person: String,
    pub name: String,
    pub title: Option<String>,
    pub joined_at: Timestamp,
}

/// A reporting line on the org chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgLine {
    pub person: String,
    pub manager: String,
    pub line: LineKind,
    pub since: Timestamp,
}

/// The people who have joined and not left at the point, and the active lines between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgChart {
    pub people: Vec<OrgPerson>,
    pub lines: Vec<OrgLine>,
}

impl OrgChart {
    /// The managers a person reports to: solid first, then dotted, by id.
    pub fn managers_of(&self, person: &str) -> Vec<&OrgLine> {
        let mut out: Vec<&OrgLine> = self.lines.iter().filter(|l| l.person == person).collect();
        out.sort_by_key(|l| (l.line != LineKind::Solid, l.manager.clone()));
        out
    }
}

/// The org chart at `point`: people sorted by id, lines sorted by (person, manager).
pub fn org_chart(source: &dyn Source, point: Point) -> Result<OrgChart, SourceError> {
    let state = query::org_at(source, point)?;
    let mut people: Vec<OrgPerson> = state
        .persons
        .iter()
        .filter(|(_, p)| p.left_at.is_none())
        .map(|(id, p)| OrgPerson {
            person: id.clone(),
            name: p.name.clone(),
            title: p.title.clone(),
            joined_at: p.joined_at,
        })
        .collect();
    people.sort_by(|a, b| a.person.cmp(&b.person));
    let lines = state
        .lines
        .iter()
        .map(|((person, manager), l)| OrgLine {
            person: person.clone(),
            manager: manager.clone(),
            line: l.kind,
            since: l.since,
        })
        .collect();
    Ok(OrgChart { people, lines })
}
