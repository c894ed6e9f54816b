//! Team over time: who held which role on an account between two dates, as known at a point,
//! with when the ledger learned each start and end (`arl team ID --timeline`,
//! `GET /v1/accounts/{id}/team/timeline`).
//!
//! The account's events (and the joining and leaving of the people on its team) are folded
//! in valid-time order with the knowledge of the point; each time a (role, person) pair
//! appears on the team an interval opens, each time it goes (unassigned, the person left,
//! the account closed) the interval closes. Each end carries the seq and record time of the
//! event that made it, so an end recorded days after it took effect (back-dated) shows as
//! such.

use crate::{At, QueryError, Table};
use arl_domain::{Recorded, Timestamp};
use arl_fold::{Source, State, SubsetBuilder};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// `arl team ACCOUNT --timeline [--from D] [--to D] [--known-at T | --at-seq N]`: the valid
/// time window is `from ..= to`; `at.as_of` is not used (the window is the valid time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineQuestion {
    /// The account id.
    pub account: String,
    /// Start of the window (valid time); `None`: from the first assignment.
    pub from: Option<Timestamp>,
    /// End of the window (valid time); `None`: to the end of time.
    pub to: Option<Timestamp>,
    /// The knowledge (`known_at` or `at_seq`).
    pub at: At,
}

/// One (role, person) holding on the team, as `--format json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Interval {
    pub role: String,
    pub person: String,
    pub name: Option<String>,
    /// Primary at the end of the interval (or now, for an open one).
    pub primary: bool,
    /// Valid time the holding began.
    pub valid_from: String,
    /// Valid time it ended; `None` while it holds.
    pub valid_to: Option<String>,
    /// The event that began it, and when the ledger recorded it.
    pub start_seq: u64,
    pub start_recorded_at: String,
    /// True when the start was recorded on a later day than it took effect.
    pub start_backdated: bool,
    /// The event that ended it (`team.unassigned`, `person.left`, ...), its seq and record
    /// time; `None` while it holds.
    pub end_type: Option<String>,
    pub end_seq: Option<u64>,
    pub end_recorded_at: Option<String>,
    /// True when the end was recorded on a later day than it took effect.
    pub end_backdated: bool,
}

/// The answer: the window, the knowledge it was asked with and the intervals that overlap
/// the window, sorted by (role, person, valid_from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Timeline {
    pub account: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub at_seq: u64,
    pub intervals: Vec<Interval>,
}

/// An interval while folding, before it is rendered.
struct Open {
    start: Edge,
    primary: bool,
}

#[derive(Clone, Copy)]
struct Edge {
    seq: u64,
    effective_at: Timestamp,
    recorded_at: Timestamp,
    kind: &'static str,
}

impl Edge {
    fn of(recorded: &Recorded) -> Edge {
        Edge {
            seq: recorded.seq,
            effective_at: recorded.effective_at,
            recorded_at: recorded.recorded_at,
            kind: recorded.event.kind(),
        }
    }

    /// Recorded on a later (UTC) day than it took effect.
    fn backdated(self) -> bool {
        self.recorded_at.date() > self.effective_at.date()
    }
}

type Key = (String, String);

/// The team as (role, person) → primary.
fn team_of(state: &State, account: &str) -> BTreeMap<Key, bool> {
    state.accounts.get(account).map_or_else(BTreeMap::new, |a| {
        a.team
            .iter()
            .map(|((role, person), x)| ((role.as_str().to_string(), person.clone()), x.primary))
            .collect()
    })
}

/// Team over time of an account.
pub fn timeline(source: &dyn Source, question: &TimelineQuestion) -> Result<Timeline, QueryError> {
    if let (Some(from), Some(to)) = (question.from, question.to) {
        if from > to {
            return Err(QueryError::EmptyWindow { from, to });
        }
    }
    let knowledge = At {
        as_of: None,
        ..question.at
    };
    let at_seq = knowledge.point(source)?.at_seq;
    let mut builder = SubsetBuilder::new(source, move |r| r.seq <= at_seq);
    builder.account(&question.account)?;
    let subset = builder.build();
    let mut state = State::new();
    let mut open: BTreeMap<Key, Open> = BTreeMap::new();
    let mut closed: Vec<(Key, Open, Edge)> = Vec::new();
    let mut seen = false;
    for recorded in subset.iter() {
        state.apply(recorded);
        let Some(_) = state.accounts.get(&question.account) else {
            continue;
        };
        seen = true;
        let team = team_of(&state, &question.account);
        let gone: BTreeSet<Key> = open
            .keys()
            .filter(|k| !team.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(interval) = open.remove(&key) {
                closed.push((key, interval, Edge::of(recorded)));
            }
        }
        for (key, primary) in team {
            open.entry(key)
                .and_modify(|o| o.primary = primary)
                .or_insert(Open {
                    start: Edge::of(recorded),
                    primary,
                });
        }
    }
    if !seen {
        return Err(QueryError::NoHistory {
            account: question.account.clone(),
            at_seq,
        });
    }
    let from = question.from.unwrap_or(Timestamp::MIN);
    let to = question.to.unwrap_or(Timestamp::MAX);
    let ends = closed.into_iter().map(|(k, o, e)| (k, o, Some(e)));
    let mut intervals: Vec<Interval> = ends
        .chain(open.into_iter().map(|(k, o)| (k, o, None)))
        .filter(|(_, o, end)| {
            o.start.effective_at <= to && end.is_none_or(|e| e.effective_at > from)
        })
        .map(|((role, person), o, end)| Interval {
            name: state.persons.get(&person).map(|p| p.name.clone()),
            role,
            person,
            primary: o.primary,
            valid_from: o.start.effective_at.canonical(),
            valid_to: end.map(|e| e.effective_at.canonical()),
            start_seq: o.start.seq,
            start_recorded_at: o.start.recorded_at.canonical(),
            start_backdated: o.start.backdated(),
            end_type: end.map(|e| e.kind.to_string()),
            end_seq: end.map(|e| e.seq),
            end_recorded_at: end.map(|e| e.recorded_at.canonical()),
            end_backdated: end.is_some_and(Edge::backdated),
        })
        .collect();
    intervals.sort_by(|a, b| {
        (&a.role, &a.person, &a.valid_from).cmp(&(&b.role, &b.person, &b.valid_from))
    });
    Ok(Timeline {
        account: question.account.clone(),
        from: question.from.map(Timestamp::canonical),
        to: question.to.map(Timestamp::canonical),
        at_seq,
        intervals,
    })
}

/// A timeline as CSV: one row per interval.
pub fn timeline_csv(timeline: &Timeline) -> Table {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let rows = timeline
        .intervals
        .iter()
        .map(|i| {
            vec![
                i.role.clone(),
                i.person.clone(),
                text(&i.name),
                i.primary.to_string(),
                i.valid_from.clone(),
                text(&i.valid_to),
                i.start_seq.to_string(),
                i.start_recorded_at.clone(),
                i.start_backdated.to_string(),
                text(&i.end_type),
                i.end_seq.map(|s| s.to_string()).unwrap_or_default(),
                text(&i.end_recorded_at),
                i.end_backdated.to_string(),
            ]
        })
        .collect();
    Table::new(
        &[
            "role",
            "person",
            "name",
            "primary",
            "valid_from",
            "valid_to",
            "start_seq",
            "start_recorded_at",
            "start_backdated",
            "end_type",
            "end_seq",
            "end_recorded_at",
            "end_backdated",
        ],
        rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use arl_domain::input::InputEvent;
    use arl_fold::MemIndex;

    fn globex() -> MemIndex {
        let mut index = MemIndex::new();
        let text = include_str!("../../../tests/fixtures/globex.jsonl");
        for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            let input = InputEvent::parse_line(line, true).unwrap();
            let recorded_at = input.recorded_at.unwrap();
            index.insert(Recorded {
                seq: i as u64 + 1,
                effective_at: input.effective_at.unwrap_or(recorded_at),
                recorded_at,
                event: input.event,
            });
        }
        index
    }

    fn ask(index: &MemIndex, account: &str, from: &str, to: &str, known_at: &str) -> Timeline {
        let time = |t: &str| (!t.is_empty()).then(|| Timestamp::parse_query(t).unwrap());
        let question = TimelineQuestion {
            account: account.into(),
            from: time(from),
            to: time(to),
            at: At {
                known_at: time(known_at),
                ..At::default()
            },
        };
        timeline(index, &question).unwrap()
    }

    fn find<'a>(t: &'a Timeline, role: &str, person: &str) -> Vec<&'a Interval> {
        t.intervals
            .iter()
            .filter(|i| i.role == role && i.person == person)
            .collect()
    }

    #[test]
    fn chen_ends_on_30_june_learned_on_7_july() {
        let index = globex();
        let t = ask(&index, "globex-de", "2023-01-01", "2023-12-31", "");
        let chen = find(&t, "national_account_manager", "chen");
        assert_eq!(chen.len(), 1);
        let chen = chen[0];
        assert_eq!(chen.name.as_deref(), Some("Chen Wei"));
        assert!(chen.valid_from.starts_with("2023-01-09"));
        assert!(!chen.start_backdated);
        assert!(chen.valid_to.as_deref().unwrap().starts_with("2023-06-30"));
        assert!(chen
            .end_recorded_at
            .as_deref()
            .unwrap()
            .starts_with("2023-07-07"));
        assert_eq!(chen.end_type.as_deref(), Some("person.left"));
        assert!(chen.end_backdated);
        let ben = find(&t, "global_account_manager", "ben");
        assert_eq!(ben.len(), 1);
        assert!(ben[0].valid_from.starts_with("2023-05-02"));
        assert_eq!(ben[0].valid_to, None);
    }

    #[test]
    fn known_at_5_july_chen_still_holds() {
        let index = globex();
        let t = ask(
            &index,
            "globex-de",
            "2023-01-01",
            "2023-12-31",
            "2023-07-05",
        );
        let chen = find(&t, "national_account_manager", "chen");
        assert_eq!(chen.len(), 1);
        assert_eq!(chen[0].valid_to, None);
        assert!(!chen[0].end_backdated);
        assert!(t.at_seq < ask(&index, "globex-de", "", "", "").at_seq);
    }

    #[test]
    fn the_window_keeps_only_overlapping_intervals() {
        let index = globex();
        let after = ask(&index, "globex-de", "2023-07-01", "2023-12-31", "");
        assert!(find(&after, "national_account_manager", "chen").is_empty());
        assert_eq!(find(&after, "global_account_manager", "ben").len(), 1);
        let before = ask(&index, "globex-de", "2023-01-01", "2023-03-01", "");
        assert!(find(&before, "global_account_manager", "ben").is_empty());
        assert_eq!(find(&before, "national_account_manager", "chen").len(), 1);
    }

    #[test]
    fn an_unassignment_closes_the_interval() {
        let index = globex();
        let t = ask(&index, "globex-fr", "", "", "");
        let gus = find(&t, "media", "gus");
        assert_eq!(gus.len(), 1);
        assert_eq!(gus[0].end_type.as_deref(), Some("team.unassigned"));
        assert!(gus[0]
            .valid_to
            .as_deref()
            .unwrap()
            .starts_with("2023-12-31"));
        assert!(gus[0].end_backdated);
    }

    #[test]
    fn bad_window_and_unknown_account_are_errors() {
        let index = globex();
        let time = |t: &str| Some(Timestamp::parse_query(t).unwrap());
        let reversed = TimelineQuestion {
            account: "globex-de".into(),
            from: time("2023-12-31"),
            to: time("2023-01-01"),
            at: At::default(),
        };
        assert!(matches!(
            timeline(&index, &reversed),
            Err(QueryError::EmptyWindow { .. })
        ));
        let missing = TimelineQuestion {
            account: "nope".into(),
            from: None,
            to: None,
            at: At::default(),
        };
        assert!(matches!(
            timeline(&index, &missing),
            Err(QueryError::NoHistory { .. })
        ));
    }

    #[test]
    fn csv_has_one_row_per_interval() {
        let index = globex();
        let t = ask(&index, "globex-de", "", "", "");
        let table = timeline_csv(&t);
        assert_eq!(table.rows.len(), t.intervals.len());
        assert!(table.rows.iter().any(|r| r[1] == "chen" && r[12] == "true"));
    }
}
