//! An account's history (every event that touched it, with what it changed, its seq, its
//! envelope hash, who recorded it and why) and the diff of an account between two points.

use crate::{At, QueryError, Table};
use arl_domain::{Event, Timestamp};
use arl_fold::query::HistoryEntry;
use arl_fold::{query, Point, Source, SourceError, State, SubsetBuilder};
use arl_log::{hex, Envelope, Log, LogError};
use arl_privacy::{ERASED, ERASED_CELL};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One field that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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

/// What a history reads from the log besides the views: an envelope by seq (its hash,
/// actor and reason) and the envelopes of a stream (an erasure's audit event is on no
/// account's chain, only on its subject's `erased/...` stream).
pub trait HistoryLog {
    /// The envelope `seq`, or `None` beyond the head.
    fn envelope(&self, seq: u64) -> Result<Option<Envelope>, LogError>;
    /// Every envelope of `stream`, in seq order.
    fn stream(&self, stream: &str) -> Result<Vec<Envelope>, LogError>;
}

impl HistoryLog for Log {
    fn envelope(&self, seq: u64) -> Result<Option<Envelope>, LogError> {
        self.get(seq)
    }
    fn stream(&self, stream: &str) -> Result<Vec<Envelope>, LogError> {
        Log::stream(self, stream)
    }
}

/// The type of an erasure's audit event.
pub const SUBJECT_ERASED: &str = "subject.erased";

/// An account's history in valid-time order, with the erasures of its contacts and of the
/// people ever on its team.
pub fn history(
    source: &dyn Source,
    question: &HistoryQuestion,
    log: &dyn HistoryLog,
) -> Result<Vec<Step>, QueryError> {
    let every = Window {
        offset: 0,
        limit: usize::MAX,
    };
    Ok(history_page(source, question, every, log)?.steps)
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

/// One listed step before its envelope is read: an event of the account's chain (envelope
/// read for the page's steps only), or an erasure (its envelope came from its stream).
enum Listed {
    Entry(HistoryEntry),
    Erasure(Erasure),
}

impl Listed {
    /// The fold's order, (`effective_at`, `seq`), which the entries already follow.
    fn point(&self) -> (Timestamp, u64) {
        match self {
            Listed::Entry(e) => (e.effective_at, e.seq),
            Listed::Erasure(e) => (Timestamp(e.envelope.effective_at), e.envelope.seq),
        }
    }
}

/// A `subject.erased` of a contact or person of the account.
struct Erasure {
    envelope: Envelope,
    /// `contact.ID.name` or `person.ID.name`.
    field: String,
    /// Whether the subject's name now shows as erased (false when it was written in clear,
    /// before sealing: the erasure could not remove it, and the history says so by listing
    /// no change).
    shows_erased: bool,
}

/// The steps `window` picks of [`history`]'s: the same steps, but envelopes of the
/// account's events are read for the page's steps only (each read costs a log block), so a
/// page costs its own steps plus one stream lookup per contact and team member.
pub fn history_page(
    source: &dyn Source,
    question: &HistoryQuestion,
    window: Window,
    log: &dyn HistoryLog,
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
    let mut listed: Vec<Listed> = entries
        .into_iter()
        .filter(|e| e.effective_at <= as_of)
        .map(Listed::Entry)
        .collect();
    let erasures = erasures(source, &question.account, point.at_seq, log)?;
    if !erasures.is_empty() {
        listed.extend(
            erasures
                .into_iter()
                .filter(|e| Timestamp(e.envelope.effective_at) <= as_of)
                .map(Listed::Erasure),
        );
        // Stable: the entries keep their order, each erasure goes where its time puts it.
        listed.sort_by_key(Listed::point);
    }
    let total = listed.len();
    let mut steps = Vec::new();
    for item in listed.into_iter().skip(window.offset).take(window.limit) {
        steps.push(match item {
            Listed::Entry(e) => entry_step(e, log)?,
            Listed::Erasure(e) => erasure_step(e),
        });
    }
    Ok(HistoryPage { steps, total })
}

fn entry_step(e: HistoryEntry, log: &dyn HistoryLog) -> Result<Step, QueryError> {
    let Some(envelope) = log.envelope(e.seq)? else {
        return Err(QueryError::ViewsAheadOfLog { seq: e.seq });
    };
    debug_assert_eq!(envelope.seq, e.seq);
    Ok(Step {
        seq: e.seq,
        hash: hex(&envelope.hash),
        effective_at: e.effective_at.canonical(),
        recorded_at: e.recorded_at.canonical(),
        kind: e.kind.to_string(),
        actor: envelope.actor,
        reason: envelope.reason,
        applied: e.skipped.is_none(),
        skipped: e.skipped.map(|r| r.to_string()),
        changes: changes(e.changes.into_iter().map(shown_change).collect()),
    })
}

/// An erased name inside a longer value (`contact.ID` is "name (role), since date") shows
/// as `[erased]`: the marker is the ledger's own and means nothing to a reader. A value that
/// is the marker alone stays, for the answer's writer to show as `null` (JSON) or
/// `[erased]` (tables).
fn shown_change(
    (field, before, after): (String, Option<String>, Option<String>),
) -> (String, Option<String>, Option<String>) {
    let shown = |v: Option<String>| {
        v.map(|v| {
            if v != ERASED && v.contains(ERASED) {
                v.replace(ERASED, ERASED_CELL)
            } else {
                v
            }
        })
    };
    (field, shown(before), shown(after))
}

fn erasure_step(e: Erasure) -> Step {
    let changes = if e.shows_erased {
        vec![Change {
            field: e.field,
            before: None,
            after: Some(ERASED.to_string()),
        }]
    } else {
        Vec::new()
    };
    Step {
        seq: e.envelope.seq,
        hash: hex(&e.envelope.hash),
        effective_at: Timestamp(e.envelope.effective_at).canonical(),
        recorded_at: Timestamp(e.envelope.recorded_at).canonical(),
        kind: SUBJECT_ERASED.to_string(),
        actor: e.envelope.actor,
        reason: e.envelope.reason,
        applied: true,
        skipped: None,
        changes,
    }
}

/// The contacts ever added to the account and the people ever assigned to its team, as
/// known at `at_seq`: (contact id → whether its name shows erased, person ids).
fn subjects(
    source: &dyn Source,
    account: &str,
    at_seq: u64,
) -> Result<(BTreeMap<String, bool>, BTreeSet<String>), SourceError> {
    let mut contacts = BTreeMap::new();
    let mut people = BTreeSet::new();
    for r in source.account_events(account)? {
        if r.seq > at_seq {
            continue;
        }
        match &r.event {
            Event::ContactAdded(d) if d.account == account => {
                *contacts.entry(d.contact.clone()).or_insert(false) |= d.name == ERASED;
            }
            Event::TeamAssigned(d) if d.account == account => {
                people.insert(d.person.clone());
            }
            _ => {}
        }
    }
    Ok((contacts, people))
}

/// Whether the person's name shows erased (its `person.joined` opened to the marker).
fn person_shows_erased(source: &dyn Source, person: &str) -> Result<bool, SourceError> {
    Ok(source
        .person_lifecycle(person)?
        .iter()
        .any(|r| matches!(&r.event, Event::PersonJoined(d) if d.name == ERASED)))
}

/// The `subject.erased` events of the account's contacts and team members known at
/// `at_seq`: one stream lookup per subject (the log's stream index), not a scan of the log.
fn erasures(
    source: &dyn Source,
    account: &str,
    at_seq: u64,
    log: &dyn HistoryLog,
) -> Result<Vec<Erasure>, QueryError> {
    let (contacts, people) = subjects(source, account, at_seq)?;
    let mut out = Vec::new();
    for (contact, shows_erased) in contacts {
        for envelope in audit_events(log, "contact", &contact, at_seq)? {
            out.push(Erasure {
                envelope,
                field: format!("contact.{contact}.name"),
                shows_erased,
            });
        }
    }
    for person in people {
        let found = audit_events(log, "person", &person, at_seq)?;
        if found.is_empty() {
            continue;
        }
        let shows_erased = person_shows_erased(source, &person)?;
        out.extend(found.into_iter().map(|envelope| Erasure {
            envelope,
            field: format!("person.{person}.name"),
            shows_erased,
        }));
    }
    Ok(out)
}

/// The audit events on the subject's `erased/KIND/ID` stream, known at `at_seq`.
fn audit_events(
    log: &dyn HistoryLog,
    kind: &str,
    id: &str,
    at_seq: u64,
) -> Result<Vec<Envelope>, LogError> {
    let mut found = log.stream(&format!("erased/{kind}/{id}"))?;
    found.retain(|e| e.seq <= at_seq && e.kind == SUBJECT_ERASED);
    Ok(found)
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
