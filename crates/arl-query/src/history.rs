//! An account's history (every event that touched it, with what it changed, its seq, its
//! envelope hash, who recorded it and why) and the diff of an account between two points.

use crate::{At, QueryError, Table};
use arl_domain::Timestamp;
use arl_fold::{query, Point, Source, SourceError, State, SubsetBuilder};
use arl_log::{hex, Envelope, LogError};
use serde::Serialize;
use std::collections::BTreeMap;

/// One field that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

fn changes(list: Vec<(String, Option<String>, Option<String>)>) -> Vec<Change> {
    list.into_iter()
        .map(|(field, before, after)| Change {
            field,
            before,
            after,
        })
        .collect()
}

/// One event of a history, as `arl history --format json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub seq: u64,
    pub hash: String,
    pub effective_at: String,
    pub recorded_at: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The envelope's `actor`: who recorded the event.
    pub actor: String,
    /// The envelope's `reason`, if one was given.
    pub reason: Option<String>,
    pub applied: bool,
    pub skipped: Option<String>,
    pub changes: Vec<Change>,
}

/// `arl history ACCOUNT`: `as_of` bounds the valid time of the events listed (default: all
/// of them), `known_at`/`at_seq` the knowledge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuestion {
    /// The account id.
    pub account: String,
    /// The point.
    pub at: At,
}

/// An account's history in valid-time order. `envelope_of` gives the envelope of a seq (from
/// the log, or from whatever else holds the envelopes), for its hash, actor and reason.
pub fn history(
    source: &dyn Source,
    question: &HistoryQuestion,
    envelope_of: &mut dyn FnMut(u64) -> Result<Option<Envelope>, LogError>,
) -> Result<Vec<Step>, QueryError> {
    let every = Window {
        offset: 0,
        limit: usize::MAX,
    };
    Ok(history_page(source, question, every, envelope_of)?.steps)
}

/// The longest page of a history.
pub const HISTORY_LIMIT_MAX: usize = 500;
/// The most steps a page of a history may skip.
pub const HISTORY_OFFSET_MAX: usize = 10_000_000;

/// Which steps of a list: `offset` skipped, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub offset: usize,
    pub limit: usize,
}

/// One page of a history and how many steps the whole history has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub steps: Vec<Step>,
    pub total: usize,
}

/// The steps `window` picks of [`history`]'s: the same steps, but envelopes are read for
/// the page's steps only (each read costs a log block), so a page costs its own steps.
pub fn history_page(
    source: &dyn Source,
    question: &HistoryQuestion,
    window: Window,
    envelope_of: &mut dyn FnMut(u64) -> Result<Option<Envelope>, LogError>,
) -> Result<HistoryPage, QueryError> {
    let as_of = question.at.as_of.unwrap_or(Timestamp::MAX);
    let knowledge = At {
        as_of: None,
        ..question.at
    };
    let point = knowledge.point(source)?;
    let entries = query::history(source, &question.account, point.at_seq)?;
    if entries.is_empty() {
        return Err(QueryError::NoHistory {
            account: question.account.clone(),
            at_seq: point.at_seq,
        });
    }
    let listed: Vec<_> = entries
        .into_iter()
        .filter(|e| e.effective_at <= as_of)
        .collect();
    let total = listed.len();
    let mut steps = Vec::new();
    for e in listed.into_iter().skip(window.offset).take(window.limit) {
        let Some(envelope) = envelope_of(e.seq)? else {
            return Err(QueryError::ViewsAheadOfLog { seq: e.seq });
        };
        debug_assert_eq!(envelope.seq, e.seq);
        steps.push(Step {
            seq: e.seq,
            hash: hex(&envelope.hash),
            effective_at: e.effective_at.canonical(),
            recorded_at: e.recorded_at.canonical(),
            kind: e.kind.to_string(),
            actor: envelope.actor,
            reason: envelope.reason,
            applied: e.skipped.is_none(),
            skipped: e.skipped.map(|r| r.to_string()),
            changes: changes(e.changes),
        });
    }
    Ok(HistoryPage { steps, total })
}

/// A history as CSV: one row per changed field (one for an event that changed none); actor
/// and reason come last.
pub fn history_csv(steps: &[Step]) -> Table {
    let mut rows = Vec::new();
    for s in steps {
        let base = |field: &str, before: &str, after: &str| {
            vec![
                s.seq.to_string(),
                s.effective_at.clone(),
                s.recorded_at.clone(),
                s.kind.clone(),
                s.skipped.clone().unwrap_or_default(),
                field.to_string(),
                before.to_string(),
                after.to_string(),
                s.hash.clone(),
                s.actor.clone(),
                s.reason.clone().unwrap_or_default(),
            ]
        };
        if s.changes.is_empty() {
            rows.push(base("", "", ""));
        }
        for c in &s.changes {
            rows.push(base(
                &c.field,
                c.before.as_deref().unwrap_or(""),
                c.after.as_deref().unwrap_or(""),
            ));
        }
    }
    Table::new(
        &[
            "seq",
            "effective_at",
            "recorded_at",
            "type",
            "skipped",
            "field",
            "before",
            "after",
            "hash",
            "actor",
            "reason",
        ],
        rows,
    )
}

/// Which time axis a diff moves along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// As of `from` against as of `to`, at the knowledge of `at`.
    Valid,
    /// Known at `from` against known at `to`, both as of `at.as_of`.
    Known,
}

/// `arl diff ACCOUNT --from T1 --to T2 [--axis valid|known]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffQuestion {
    /// The account id.
    pub account: String,
    /// The earlier point.
    pub from: Timestamp,
    /// The later point.
    pub to: Timestamp,
    /// The axis.
    pub axis: Axis,
    /// The rest of the point.
    pub at: At,
}

/// A point as a diff prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PointJson {
    pub as_of: Option<String>,
    pub at_seq: u64,
}

impl PointJson {
    fn of(point: Point) -> PointJson {
        PointJson {
            as_of: (point.as_of != Timestamp::MAX).then(|| point.as_of.canonical()),
            at_seq: point.at_seq,
        }
    }
}

/// A diff, as `arl diff --format json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffJson {
    pub account: String,
    pub from: PointJson,
    pub to: PointJson,
    pub changes: Vec<Change>,
}

/// The account's flat fields (card, team, contacts, transactions) at a point.
fn fields_at(
    source: &dyn Source,
    account: &str,
    point: Point,
) -> Result<BTreeMap<String, String>, SourceError> {
    let mut builder = SubsetBuilder::new(source, move |r| point.sees(r));
    builder.account(account)?.children(account)?.txns(account)?;
    let state = State::fold(builder.build().iter());
    Ok(query::fields(&state, account))
}

fn diff_points(source: &dyn Source, question: &DiffQuestion) -> Result<(Point, Point), QueryError> {
    match question.axis {
        Axis::Valid => {
            let base = At {
                as_of: None,
                ..question.at
            }
            .point(source)?;
            let from = Point {
                as_of: question.from,
                ..base
            };
            let to = Point {
                as_of: question.to,
                ..base
            };
            Ok((from, to))
        }
        Axis::Known => {
            if question.at.known_at.is_some() || question.at.at_seq.is_some() {
                return Err(QueryError::KnownAxisWithKnownAt);
            }
            let as_of = question.at.as_of.unwrap_or_else(Timestamp::now);
            let from = Point {
                as_of,
                at_seq: source.seq_known_at(question.from)?,
            };
            let to = Point {
                as_of,
                at_seq: source.seq_known_at(question.to)?,
            };
            Ok((from, to))
        }
    }
}

/// What changed on an account between two points.
pub fn diff(source: &dyn Source, question: &DiffQuestion) -> Result<DiffJson, QueryError> {
    let (from, to) = diff_points(source, question)?;
    let before = fields_at(source, &question.account, from)?;
    let after = fields_at(source, &question.account, to)?;
    if before.is_empty() && after.is_empty() {
        return Err(QueryError::AtNeitherPoint {
            account: question.account.clone(),
        });
    }
    Ok(DiffJson {
        account: question.account.clone(),
        from: PointJson::of(from),
        to: PointJson::of(to),
        changes: changes(query::diff_fields(&before, &after)),
    })
}

/// A diff as CSV.
pub fn diff_csv(diff: &DiffJson) -> Table {
    let or_blank = |v: &Option<String>| v.clone().unwrap_or_default();
    Table::new(
        &["field", "before", "after"],
        diff.changes
            .iter()
            .map(|c| vec![c.field.clone(), or_blank(&c.before), or_blank(&c.after)])
            .collect(),
    )
}
