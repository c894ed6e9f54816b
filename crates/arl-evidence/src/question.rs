//! The questions a bundle can answer and their answers, in the JSON the `arl` command
//! prints for them (`--format json`).

use crate::merkle::Hash;
use arl_domain::{Period, Timestamp};
use arl_fold::{query, Point, Source, SourceError};
use serde::{Deserialize, Serialize};

/// The command a question repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Account,
    Team,
    Contacts,
    Portfolio,
    Balance,
    History,
}

/// The balance options of a question.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BalanceOptions {
    /// `month`, `quarter`, `year` or `all`.
    pub period: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub rollup: bool,
}

/// A question: the command, its subject and the point it was answered at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub command: Command,
    /// The account id (the person id for `portfolio`).
    pub subject: String,
    /// Valid time (canonical); `None` for the end of time.
    pub as_of: Option<String>,
    /// `--known-at` as asked (canonical), if it was.
    pub known_at: Option<String>,
    /// The seq the knowledge point resolved to.
    pub at_seq: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub balance: Option<BalanceOptions>,
}

/// A question that cannot be answered as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuestionError {
    /// A time that does not parse.
    #[error("the question's {field} {value:?} is not a canonical time")]
    Time {
        /// Which field.
        field: &'static str,
        /// Its text.
        value: String,
    },
    /// A balance period that does not parse.
    #[error("the question's period {0:?} is not month, quarter, year or all")]
    Period(String),
    /// Reading what the answer depends on failed.
    #[error(transparent)]
    Source(#[from] SourceError),
}

fn time(field: &'static str, value: &Option<String>) -> Result<Option<Timestamp>, QuestionError> {
    value
        .as_ref()
        .map(|text| {
            Timestamp::parse_canonical(text).ok_or_else(|| QuestionError::Time {
                field,
                value: text.clone(),
            })
        })
        .transpose()
}

impl Question {
    /// The point the question is asked at.
    pub fn point(&self) -> Result<Point, QuestionError> {
        Ok(Point {
            as_of: time("as_of", &self.as_of)?.unwrap_or(Timestamp::MAX),
            at_seq: self.at_seq,
        })
    }

    /// The known-at time asked, if any.
    pub fn known_at(&self) -> Result<Option<Timestamp>, QuestionError> {
        time("known_at", &self.known_at)
    }

    /// The answer exactly as the command prints it in JSON (without the final newline), or `None` when the command would fail
    /// with "not found". `hash_of` gives an envelope's hash (for `history`).
    pub fn answer(
        &self,
        source: &dyn Source,
        hash_of: &dyn Fn(u64) -> Option<Hash>,
    ) -> Result<Option<String>, QuestionError> {
        let point = self.point()?;
        let id = self.subject.as_str();
        let value = match self.command {
            Command::Account => arl_accounts::card(source, id, point)?.map(|c| json(&c)),
            Command::Team => team(source, id, point)?,
            Command::Contacts => contacts(source, id, point)?,
            Command::Portfolio => portfolio(source, id, point)?,
            Command::Balance => self.balance(source, point)?,
            Command::History => history(source, id, point, hash_of)?,
        };
        Ok(value)
    }

    fn balance(&self, source: &dyn Source, point: Point) -> Result<Option<String>, QuestionError> {
        let options = self.balance.clone().unwrap_or_default();
        let period = match options.period.as_str() {
            "month" => Period::Month,
            "quarter" => Period::Quarter,
            "year" => Period::Year,
            "all" | "" => Period::All,
            other => return Err(QuestionError::Period(other.to_string())),
        };
        let ever = Point {
            as_of: Timestamp::MAX,
            at_seq: point.at_seq,
        };
        if query::account_at(source, &self.subject, ever)?.is_none() {
            return Ok(None);
        }
        let query = arl_txns::BalanceQuery {
            account: Some(self.subject.clone()),
            period,
            from: time("from", &options.from)?,
            to: time("to", &options.to)?,
            rollup: options.rollup,
            point,
        };
        Ok(Some(json(&arl_txns::balances(source, &query)?)))
    }
}

/// The JSON the command prints: pretty, members in the order of the answer's type.
fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("answers serialize")
}

#[derive(Serialize)]
struct MemberJson {
    person: String,
    name: Option<String>,
    role: String,
    primary: bool,
    since: String,
}

fn team(source: &dyn Source, account: &str, point: Point) -> Result<Option<String>, SourceError> {
    let Some(members) = arl_teams::team(source, account, point)? else {
        return Ok(None);
    };
    let rows: Vec<MemberJson> = members
        .into_iter()
        .map(|m| MemberJson {
            person: m.person,
            name: m.name,
            role: m.role.to_string(),
            primary: m.primary,
            since: m.since.canonical(),
        })
        .collect();
    Ok(Some(json(&rows)))
}

#[derive(Serialize)]
struct ContactJson {
    contact: String,
    name: String,
    role: String,
    since: String,
}

fn contacts(
    source: &dyn Source,
    account: &str,
    point: Point,
) -> Result<Option<String>, SourceError> {
    let Some(contacts) = arl_teams::contacts(source, account, point)? else {
        return Ok(None);
    };
    let rows: Vec<ContactJson> = contacts
        .into_iter()
        .map(|c| ContactJson {
            contact: c.contact,
            name: c.name,
            role: c.role.to_string(),
            since: c.since.canonical(),
        })
        .collect();
    Ok(Some(json(&rows)))
}

#[derive(Serialize)]
struct PortfolioJson {
    account: String,
    account_name: String,
    role: String,
    primary: bool,
    since: String,
}

fn portfolio(
    source: &dyn Source,
    person: &str,
    point: Point,
) -> Result<Option<String>, SourceError> {
    let Some(entries) = arl_teams::portfolio(source, person, point)? else {
        return Ok(None);
    };
    let rows: Vec<PortfolioJson> = entries
        .into_iter()
        .map(|e| PortfolioJson {
            account: e.account,
            account_name: e.account_name,
            role: e.role.to_string(),
            primary: e.primary,
            since: e.since.canonical(),
        })
        .collect();
    Ok(Some(json(&rows)))
}

#[derive(Serialize)]
struct Change {
    field: String,
    before: Option<String>,
    after: Option<String>,
}

#[derive(Serialize)]
struct Step {
    seq: u64,
    hash: String,
    effective_at: String,
    recorded_at: String,
    #[serde(rename = "type")]
    kind: String,
    applied: bool,
    skipped: Option<String>,
    changes: Vec<Change>,
}

fn history(
    source: &dyn Source,
    account: &str,
    point: Point,
    hash_of: &dyn Fn(u64) -> Option<Hash>,
) -> Result<Option<String>, SourceError> {
    let entries = query::history(source, account, point.at_seq)?;
    if entries.is_empty() {
        return Ok(None);
    }
    let mut steps = Vec::new();
    for e in entries
        .into_iter()
        .filter(|e| e.effective_at <= point.as_of)
    {
        let hash = hash_of(e.seq)
            .ok_or_else(|| SourceError::new(format!("no hash for seq {} of the history", e.seq)))?;
        steps.push(Step {
            seq: e.seq,
            hash: crate::hex(&hash),
            effective_at: e.effective_at.canonical(),
            recorded_at: e.recorded_at.canonical(),
            kind: e.kind.to_string(),
            applied: e.skipped.is_none(),
            skipped: e.skipped.map(|r| r.to_string()),
            changes: e
                .changes
                .into_iter()
                .map(|(field, before, after)| Change {
                    field,
                    before,
                    after,
                })
                .collect(),
        });
    }
    Ok(Some(json(&steps)))
}
