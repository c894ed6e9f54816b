//! `arl history` (every event that touched an account, with what it changed, its seq and its
//! envelope hash from the log) and `arl diff` (an account between two points).

use crate::cli::{Axis, DiffArgs, Format, HistoryArgs};
use crate::failure;
use crate::ledger::{point, Ctx};
use crate::out;
use anyhow::Result;
use arl_domain::Timestamp;
use arl_fold::{query, Point, Source, SourceError, State, SubsetBuilder};
use arl_log::hex;
use arl_views::ViewReader;
use serde::Serialize;
use std::collections::BTreeMap;

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

fn changes(list: Vec<(String, Option<String>, Option<String>)>) -> Vec<Change> {
    list.into_iter()
        .map(|(field, before, after)| Change {
            field,
            before,
            after,
        })
        .collect()
}

/// `arl history ACCOUNT`.
pub fn history(ctx: &Ctx, args: &HistoryArgs) -> Result<()> {
    let (_lock, log) = ctx.log()?;
    let reader = ViewReader::open(&ctx.views_dir())?;
    let mut at = args.at.clone();
    let as_of = at.as_of.take().unwrap_or(Timestamp::MAX);
    let point = point(&reader, &at)?;
    let entries = query::history(&reader, &args.account, point.at_seq)?;
    if entries.is_empty() {
        return Err(failure::error(format!(
            "no event touched account \"{}\" by seq {}; list the accounts with arl accounts",
            args.account, point.at_seq
        )));
    }
    let mut steps = Vec::new();
    for e in entries.into_iter().filter(|e| e.effective_at <= as_of) {
        let hash = match log.get(e.seq)? {
            Some(envelope) => hex(&envelope.hash),
            None => {
                return Err(failure::integrity(format!(
                    "the views hold seq {} but the log does not; run arl verify",
                    e.seq
                )))
            }
        };
        steps.push(Step {
            seq: e.seq,
            hash,
            effective_at: e.effective_at.canonical(),
            recorded_at: e.recorded_at.canonical(),
            kind: e.kind.to_string(),
            applied: e.skipped.is_none(),
            skipped: e.skipped.map(|r| r.to_string()),
            changes: changes(e.changes),
        });
    }
    match args.format {
        Format::Json => out::emit_json(&steps),
        Format::Csv => print_history_csv(&steps),
        Format::Table => print_history_table(&steps),
    }
}

fn print_history_csv(steps: &[Step]) -> Result<()> {
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
    out::emit_csv(
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
        ],
        &rows,
    )
}

fn print_history_table(steps: &[Step]) -> Result<()> {
    let mut table = out::table(&["seq", "effective", "recorded", "type", "change", "hash"]);
    for s in steps {
        let change = match &s.skipped {
            Some(rule) => format!("SKIPPED: {rule}"),
            None if s.changes.is_empty() => "-".to_string(),
            None => s
                .changes
                .iter()
                .map(|c| {
                    format!(
                        "{}: {} → {}",
                        c.field,
                        c.before.as_deref().unwrap_or("∅"),
                        c.after.as_deref().unwrap_or("∅")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        };
        table.add_row(vec![
            out::num(s.seq),
            comfy_table::Cell::new(out::human(&s.effective_at)),
            comfy_table::Cell::new(out::human(&s.recorded_at)),
            comfy_table::Cell::new(&s.kind),
            comfy_table::Cell::new(change),
            comfy_table::Cell::new(&s.hash[..12]),
        ]);
    }
    out::emit_table(&table)
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

#[derive(Serialize)]
struct PointJson {
    as_of: Option<String>,
    at_seq: u64,
}

impl PointJson {
    fn of(point: Point) -> PointJson {
        PointJson {
            as_of: (point.as_of != Timestamp::MAX).then(|| point.as_of.canonical()),
            at_seq: point.at_seq,
        }
    }
}

#[derive(Serialize)]
struct DiffJson {
    account: String,
    from: PointJson,
    to: PointJson,
    changes: Vec<Change>,
}

/// `arl diff ACCOUNT --from T1 --to T2 [--axis valid|known]`.
pub fn diff(ctx: &Ctx, args: &DiffArgs) -> Result<()> {
    let (_lock, reader) = ctx.reader()?;
    let (from, to) = match args.axis {
        Axis::Valid => {
            let mut at = args.at.clone();
            at.as_of = None;
            let base = point(&reader, &at)?;
            (
                Point {
                    as_of: args.from,
                    ..base
                },
                Point {
                    as_of: args.to,
                    ..base
                },
            )
        }
        Axis::Known => {
            if args.at.known_at.is_some() || args.at.at_seq.is_some() {
                return Err(failure::usage(
                    "with --axis known, --from and --to are the points of knowledge: drop --known-at/--at-seq",
                ));
            }
            let as_of = args.at.as_of.unwrap_or_else(Timestamp::now);
            (
                Point {
                    as_of,
                    at_seq: reader.seq_known_at(args.from)?,
                },
                Point {
                    as_of,
                    at_seq: reader.seq_known_at(args.to)?,
                },
            )
        }
    };
    let before = fields_at(&reader, &args.account, from)?;
    let after = fields_at(&reader, &args.account, to)?;
    if before.is_empty() && after.is_empty() {
        return Err(failure::error(format!(
            "account \"{}\" exists at neither point; list the accounts with arl accounts",
            args.account
        )));
    }
    let diff = DiffJson {
        account: args.account.clone(),
        from: PointJson::of(from),
        to: PointJson::of(to),
        changes: changes(query::diff_fields(&before, &after)),
    };
    let or_blank = |v: &Option<String>| v.clone().unwrap_or_default();
    match args.format {
        Format::Json => out::emit_json(&diff),
        Format::Csv => out::emit_csv(
            &["field", "before", "after"],
            &diff
                .changes
                .iter()
                .map(|c| vec![c.field.clone(), or_blank(&c.before), or_blank(&c.after)])
                .collect::<Vec<_>>(),
        ),
        Format::Table => {
            let mut table = out::table(&["field", "before", "after"]);
            for c in &diff.changes {
                table.add_row(vec![
                    c.field.clone(),
                    c.before.clone().unwrap_or_else(|| "∅".into()),
                    c.after.clone().unwrap_or_else(|| "∅".into()),
                ]);
            }
            out::emit_table(&table)?;
            if diff.changes.is_empty() {
                out::note(ctx.quiet, "no change between the two points");
            }
            Ok(())
        }
    }
}
