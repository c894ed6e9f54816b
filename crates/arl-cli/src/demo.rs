//! `arl demo`: a fresh ledger from the deterministic generator (through the same append path
//! as `arl append --imported`), then a guided tour in which every step shows the command
//! line that repeats it.

use crate::append::{self, Batch};
use crate::cli::{
    AccountArgs, At, BalanceArgs, DemoArgs, Format, PeriodArg, SummaryFormat, VerifyArgs,
};
use crate::ledger::{shown, Ctx};
use crate::{failure, out, query};
use anyhow::{Context, Result};
use arl_accounts::Filter;
use arl_domain::{InputEvent, Scope, Timestamp};
use arl_fold::Point;
use arl_views::AppendOptions;
use chrono::{Datelike, Duration, NaiveDate};
use std::path::Path;

/// Input lines per appended batch: bounds the memory of one batch.
const DEMO_BATCH_LINES: usize = 50_000;
/// The most events a demo generates.
const DEMO_EVENTS_MAX: u64 = 20_000_000;
/// A transaction recorded this much after its valid time counts as late for the tour.
const LATE_MICROS_MIN: i64 = 7 * 86_400 * 1_000_000;
/// Entries a demo ledger directory may hold for it to be replaced.
const LEDGER_ENTRIES: &[&str] = &["log", "views", "views.new", "views.old", "LOCK"];

/// A transaction recorded late, remembered while generating.
#[derive(Debug, Clone)]
struct Late {
    seq: u64,
    account: String,
    effective_at: Timestamp,
    recorded_at: Timestamp,
}

/// The first and last record time of the generated history.
#[derive(Debug, Clone, Copy)]
struct Span {
    first: Timestamp,
    last: Timestamp,
}

impl Span {
    /// A year before the end, or half the history when it is shorter than two years; with
    /// its label.
    fn earlier(self) -> (String, String) {
        let days = ((self.last.0 - self.first.0) / 86_400_000_000).max(0);
        let back = if days >= 730 { 365 } else { days / 2 };
        let date = (self.last.date() - Duration::days(back)).format("%Y-%m-%d");
        let label = if back == 365 {
            "a year earlier".to_string()
        } else {
            format!("{back} days earlier")
        };
        (date.to_string(), label)
    }
}

/// `arl demo`.
pub fn run(ctx: &Ctx, args: &DemoArgs) -> Result<()> {
    if args.events == 0 || args.events > DEMO_EVENTS_MAX {
        return Err(failure::usage(format!(
            "--events is between 1 and {DEMO_EVENTS_MAX}"
        )));
    }
    clear_directory(&ctx.dir)?;
    let (late, span) = build(ctx, args)?;
    tour(ctx, late.as_ref(), span)
}

/// Removes the directory if it holds an arl ledger and nothing else; refuses anything else.
fn clear_directory(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(failure::error(format!(
                "cannot read {}: {e}",
                dir.display()
            )))
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    if names.is_empty() {
        return Ok(());
    }
    let looks_like_ledger = names.iter().any(|n| n == "log")
        && names.iter().all(|n| LEDGER_ENTRIES.contains(&n.as_str()));
    if !looks_like_ledger {
        return Err(failure::error(format!(
            "{} exists and is not an arl ledger; the demo replaces only a ledger: pass --ledger with a new directory",
            dir.display()
        )));
    }
    std::fs::remove_dir_all(dir)
        .map_err(|e| failure::error(format!("cannot remove {}: {e}", dir.display())))
}

/// Generates and appends every event; returns a late transaction (if any) and the last
/// record time.
fn build(ctx: &Ctx, args: &DemoArgs) -> Result<(Option<Late>, Span)> {
    out::note(
        ctx.quiet,
        &format!(
            "building a demo ledger of {} events (seed {}) in {}",
            args.events,
            args.seed,
            ctx.dir.display()
        ),
    );
    let mut generator = arl_gen::Generator::new(arl_gen::Config::new(args.events, args.seed));
    let mut ledger = ctx.writer()?;
    let opts = AppendOptions {
        imported: true,
        actor: "demo".to_string(),
        now: Timestamp::now(),
    };
    let bar = out::progress(ctx.quiet, Some(args.events), "appending");
    let mut events = Vec::with_capacity(DEMO_BATCH_LINES);
    let mut lines = Vec::with_capacity(DEMO_BATCH_LINES);
    let mut late: Option<Late> = None;
    let mut line_no = 0u64;
    let mut span = Span {
        first: Timestamp::MAX,
        last: Timestamp(0),
    };
    while let Some(line) = generator.next_line() {
        line_no += 1;
        let event = InputEvent::parse_line(line, true)
            .map_err(|e| failure::error(format!("generated line {line_no}: {e}")))?;
        if let Some(recorded_at) = event.recorded_at {
            span.first = span.first.min(recorded_at);
            span.last = span.last.max(recorded_at);
        }
        if let Some(found) = late_transaction(&event, line_no) {
            late = Some(found);
        }
        events.push(event);
        lines.push(line_no);
        if events.len() == DEMO_BATCH_LINES {
            let full = Batch::one(
                std::mem::replace(&mut events, Vec::with_capacity(DEMO_BATCH_LINES)),
                std::mem::replace(&mut lines, Vec::with_capacity(DEMO_BATCH_LINES)),
            );
            append::append(&mut ledger, &ctx.keys, full, &opts)?;
            bar.set_position(line_no);
        }
    }
    if !events.is_empty() {
        append::append(&mut ledger, &ctx.keys, Batch::one(events, lines), &opts)?;
    }
    bar.finish_and_clear();
    out::note(
        ctx.quiet,
        &format!("appended {line_no} events to {}", ctx.dir.display()),
    );
    Ok((late, span))
}

fn late_transaction(event: &InputEvent, seq: u64) -> Option<Late> {
    let arl_domain::Event::TxnRecorded(data) = &event.event else {
        return None;
    };
    let (effective_at, recorded_at) = (event.effective_at?, event.recorded_at?);
    (recorded_at.0 - effective_at.0 >= LATE_MICROS_MIN).then(|| Late {
        seq,
        account: data.account.clone(),
        effective_at,
        recorded_at,
    })
}

fn step(number: u32, title: &str, command: &str) -> Result<()> {
    out::emit_line(&format!("\n── {number}. {title}\n$ {command}"))
}

fn tour(ctx: &Ctx, late: Option<&Late>, span: Span) -> Result<()> {
    let l = format!("arl --ledger {}", shown(&ctx.dir));
    let (year_ago, earlier_label) = span.earlier();
    let earlier = Timestamp::parse_query(&year_ago).unwrap_or(span.last);
    let (account, global) = pick_accounts(ctx, earlier)?;
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    if let Some(account) = &account {
        step(
            next(),
            "A key account, now",
            &format!("{l} account {account}"),
        )?;
        query::account(ctx, &account_args(account, At::default()))?;
        step(
            next(),
            &format!("The same account {earlier_label} (valid time: --as-of)"),
            &format!("{l} account {account} --as-of {year_ago}"),
        )?;
        let at = At {
            as_of: Some(earlier),
            ..At::default()
        };
        query::account(ctx, &account_args(account, at))?;
    }
    if let Some(late) = late {
        late_step(ctx, &l, late, &mut next)?;
    }
    if let Some(global) = &global {
        step(
            next(),
            "Quarterly balance of a global account, its subsidiaries rolled up",
            &format!("{l} balance {global} --period quarter --rollup --from {year_ago}"),
        )?;
        let mut args = balance_args(Some(global.clone()), PeriodArg::Quarter);
        args.rollup = true;
        args.from = Timestamp::parse_input(&year_ago).ok();
        query::balance(ctx, &args)?;
    }
    step(
        next(),
        "Verify the hash chain, the Merkle tree and the views",
        &format!("{l} verify"),
    )?;
    crate::integrity::verify(
        ctx,
        &VerifyArgs {
            digest: None,
            views_only: false,
            checkpoint: None,
            key: None,
            witness: Vec::new(),
            format: SummaryFormat::Text,
        },
    )?;
    out::emit_line(&format!(
        "\nNext: {l} accounts --tree | {l} org | {l} history <account> | arl --help"
    ))
}

fn late_step(ctx: &Ctx, l: &str, late: &Late, next: &mut dyn FnMut() -> u32) -> Result<()> {
    let date = late.effective_at.date();
    let first = NaiveDate::from_ymd_opt(date.year(), date.month(), 1).unwrap_or(date);
    let last = first
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(date);
    let before = Timestamp(late.recorded_at.0 - 1_000_000);
    let month = |known: Timestamp| -> Result<()> {
        let mut args = balance_args(Some(late.account.clone()), PeriodArg::Month);
        args.from = Timestamp::from_date(first);
        args.to = Timestamp::from_date(last).map(|t| Timestamp(t.0 + 86_400_000_000 - 1));
        args.at.known_at = Some(known);
        query::balance(ctx, &args)
    };
    let command = |known: Timestamp| {
        format!(
            "{l} balance {} --period month --from {first} --to {last} --known-at {}",
            late.account,
            known.canonical()
        )
    };
    out::emit_line(&format!(
        "\nA late event: seq {} is a transaction of {} effective {}, recorded only on {}.",
        late.seq,
        late.account,
        out::human_time(late.effective_at),
        out::human_time(late.recorded_at)
    ))?;
    step(
        next(),
        "What the ledger said just before it arrived",
        &command(before),
    )?;
    month(before)?;
    step(
        next(),
        "What it says once it arrived (the same month, corrected)",
        &command(late.recorded_at),
    )?;
    month(late.recorded_at)
}

fn account_args(account: &str, at: At) -> AccountArgs {
    AccountArgs {
        account: account.to_string(),
        at,
        format: Format::Table,
        evidence: None,
    }
}

fn balance_args(account: Option<String>, period: PeriodArg) -> BalanceArgs {
    BalanceArgs {
        account,
        period,
        from: None,
        to: None,
        rollup: false,
        at: At::default(),
        format: Format::Table,
        evidence: None,
    }
}

/// A key account with a team that existed at `earlier` (global first), and a global
/// account with subsidiaries.
fn pick_accounts(ctx: &Ctx, earlier: Timestamp) -> Result<(Option<String>, Option<String>)> {
    let (_lock, reader) = ctx.reader()?;
    let cards = arl_accounts::list(&reader, Point::LATEST, &Filter::default())?;
    let earlier = earlier.canonical();
    let key = cards
        .iter()
        .filter(|c| c.key_account && !c.team.is_empty() && c.opened_at <= earlier)
        .max_by_key(|c| (c.scope == Scope::Global, c.team.len() + c.contacts.len()))
        .map(|c| c.account.clone());
    let global = cards
        .iter()
        .filter(|c| c.scope == Scope::Global)
        .max_by_key(|c| c.children.len())
        .map(|c| c.account.clone());
    let oldest = cards.iter().min_by_key(|c| c.opened_at.clone());
    Ok((key.or_else(|| oldest.map(|c| c.account.clone())), global))
}
