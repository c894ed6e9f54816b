//! `arl history` (every event that touched an account, with what it changed, its seq and its
//! envelope hash from the log) and `arl diff` (an account between two points): asked of
//! arl-query, printed here.

use crate::cli::{Axis, DiffArgs, Format, HistoryArgs};
use crate::failure;
use crate::ledger::Ctx;
use crate::out;
use anyhow::Result;
use arl_query::history::{self, DiffQuestion, HistoryQuestion, Step};
use arl_views::ViewReader;

/// `arl history ACCOUNT`.
pub fn history(ctx: &Ctx, args: &HistoryArgs) -> Result<()> {
    let (_lock, log) = ctx.log()?;
    let views = ViewReader::open(&ctx.views_dir())?;
    let unsealer = crate::privacy::unsealer(ctx)?;
    let reader = crate::privacy::source(&views, &unsealer);
    let question = HistoryQuestion {
        account: args.account.clone(),
        at: args.at.query(),
    };
    let steps = history::history(&reader, &question, &log).map_err(failure::query)?;
    match args.format {
        // A bundle's answer is recomputed from the fold, which knows no actor or reason and
        // no erasure (on no account's chain): the printed answer is the bundle's.
        Format::Json if args.evidence.is_some() => out::emit_json(
            &steps
                .iter()
                .filter(|s| s.kind != history::SUBJECT_ERASED)
                .map(AsProven::of)
                .collect::<Vec<_>>(),
        ),
        Format::Json => out::emit_json(&steps),
        Format::Csv => out::emit_csv_table(&history::history_csv(&steps)),
        Format::Table => print_history_table(&steps),
    }
}

/// A step as an evidence bundle states it: without the envelope's actor and reason.
#[derive(serde::Serialize)]
struct AsProven<'a> {
    seq: u64,
    hash: &'a str,
    effective_at: &'a str,
    recorded_at: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    applied: bool,
    skipped: &'a Option<String>,
    changes: &'a [history::Change],
}

impl<'a> AsProven<'a> {
    fn of(s: &'a Step) -> AsProven<'a> {
        AsProven {
            seq: s.seq,
            hash: &s.hash,
            effective_at: &s.effective_at,
            recorded_at: &s.recorded_at,
            kind: &s.kind,
            applied: s.applied,
            skipped: &s.skipped,
            changes: &s.changes,
        }
    }
}

pub(crate) fn print_history_table(steps: &[Step]) -> Result<()> {
    let mut table = out::table(&[
        "seq",
        "effective",
        "recorded",
        "type",
        "actor",
        "reason",
        "change",
        "hash",
    ]);
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
            comfy_table::Cell::new(&s.actor),
            comfy_table::Cell::new(s.reason.as_deref().unwrap_or("")),
            comfy_table::Cell::new(change),
            comfy_table::Cell::new(&s.hash[..12]),
        ]);
    }
    out::emit_table(&table)
}

/// `arl diff ACCOUNT --from T1 --to T2 [--axis valid|known]`.
pub fn diff(ctx: &Ctx, args: &DiffArgs) -> Result<()> {
    let opened = crate::privacy::open(ctx)?;
    let reader = opened.source();
    let question = DiffQuestion {
        account: args.account.clone(),
        from: args.from,
        to: args.to,
        axis: match args.axis {
            Axis::Valid => history::Axis::Valid,
            Axis::Known => history::Axis::Known,
        },
        at: args.at.query(),
    };
    let diff = history::diff(&reader, &question).map_err(failure::query)?;
    print_diff(args.format, &diff, ctx.quiet)
}

/// A diff in `format`; in a table, an empty one says so on standard error.
pub(crate) fn print_diff(format: Format, diff: &history::DiffJson, quiet: bool) -> Result<()> {
    match format {
        Format::Json => out::emit_json(diff),
        Format::Csv => out::emit_csv_table(&history::diff_csv(diff)),
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
                out::note(quiet, "no change between the two points");
            }
            Ok(())
        }
    }
}
