//! `arl append`: input lines (or one event from flags) to one atomic batch.

use crate::cli::{AppendArgs, SummaryFormat};
use crate::failure;
use crate::ledger::Ctx;
use crate::out;
use anyhow::{Context, Result};
use arl_domain::{InputEvent, Timestamp};
use arl_views::{AppendOptions, AppendReport, FailureKind, Ledger};
use serde_json::{json, Value};
use std::io::Read;
use std::path::Path;

/// The largest input `arl append` reads, in bytes (4 GiB): far beyond any one batch.
pub const INPUT_BYTES_MAX: u64 = 4 << 30;

/// A batch of parsed input events and, for each, the line it came from (1-based; 0 for the
/// one-event form).
pub struct Batch {
    pub events: Vec<InputEvent>,
    pub lines: Vec<u64>,
}

/// `arl append`.
pub fn run(ctx: &Ctx, args: &AppendArgs) -> Result<()> {
    let batch = match &args.kind {
        Some(kind) => one_event(args, kind)?,
        None => parse_lines(&read_input(args.file.as_deref())?, args.imported)?,
    };
    let opts = AppendOptions {
        imported: args.imported,
        actor: actor(args.actor.as_deref()),
        now: Timestamp::now(),
    };
    let mut ledger = ctx.writer()?;
    if args.seal {
        crate::privacy::start_sealing(&ledger)?;
    }
    let bar = out::progress(ctx.quiet, None, "appending");
    bar.set_position(batch.events.len() as u64);
    let report = append(&mut ledger, batch, &opts);
    bar.finish_and_clear();
    print_report(&report?, args.format)
}

/// Appends a parsed batch; a failure names the input line, the rule and that nothing was
/// appended.
pub fn append(ledger: &mut Ledger, batch: Batch, opts: &AppendOptions) -> Result<AppendReport> {
    let Batch { mut events, lines } = batch;
    crate::privacy::seal_batch(ledger, &mut events, &lines)?;
    ledger.append(events, opts).map_err(|f| {
        let message = match f.index {
            Some(index) => {
                let stripped = f
                    .message
                    .strip_prefix(&format!("event {index}: "))
                    .unwrap_or(&f.message)
                    .to_string();
                match lines.get(index) {
                    Some(0) => stripped,
                    Some(line) => format!("line {line}: {stripped}"),
                    None => stripped,
                }
            }
            None => f.message.clone(),
        };
        match f.kind {
            FailureKind::Storage => failure::error(message),
            _ => failure::error(format!(
                "{message}\nnothing was appended: the whole input is one batch"
            )),
        }
    })
}

/// `--actor`, else `$USER`, else `unknown`.
fn actor(flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

fn read_input(file: Option<&Path>) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match file {
        None => {
            read_limited(std::io::stdin().lock(), &mut bytes).context("reading standard input")?
        }
        Some(path) if path.as_os_str() == "-" => {
            read_limited(std::io::stdin().lock(), &mut bytes).context("reading standard input")?
        }
        Some(path) => {
            let f = std::fs::File::open(path)
                .map_err(|e| failure::error(format!("cannot open {}: {e}", path.display())))?;
            read_limited(f, &mut bytes).with_context(|| format!("reading {}", path.display()))?
        }
    }
    Ok(bytes)
}

fn read_limited(reader: impl Read, bytes: &mut Vec<u8>) -> Result<()> {
    reader.take(INPUT_BYTES_MAX + 1).read_to_end(bytes)?;
    if bytes.len() as u64 > INPUT_BYTES_MAX {
        return Err(failure::error(
            "the input is over 4 GiB; split it into several appends",
        ));
    }
    Ok(())
}

/// Parses JSON Lines: blank lines ignored, each other line one event (large inputs on two
/// threads); an error names the first bad line.
pub fn parse_lines(bytes: &[u8], imported: bool) -> Result<Batch> {
    let mut texts = Vec::new();
    let mut lines = Vec::new();
    for (n, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line_no = n as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw)
            .map_err(|_| failure::error(format!("line {line_no}: not UTF-8 text")))?;
        if line.trim().is_empty() {
            continue;
        }
        texts.push(line);
        lines.push(line_no);
    }
    let events = arl_domain::parse_lines(&texts, imported)
        .map_err(|(i, e)| failure::error(format!("line {}: {e}", lines[i])))?;
    Ok(Batch { events, lines })
}

fn one_event(args: &AppendArgs, kind: &str) -> Result<Batch> {
    let line = one_event_line(args, kind)?;
    let event = InputEvent::parse_line(&line, false).map_err(failure_of_flags)?;
    Ok(Batch {
        events: vec![event],
        lines: vec![0],
    })
}

/// The one event given by flags, as an input line.
fn one_event_line(args: &AppendArgs, kind: &str) -> Result<String> {
    if args.imported {
        return Err(failure::usage(
            "--imported needs recorded_at on every line: give the events as JSON Lines",
        ));
    }
    let data: Value = serde_json::from_str(args.data.as_deref().unwrap_or_default())
        .map_err(|e| failure::error(format!("--data is not valid JSON: {e}")))?;
    let mut line = json!({"type": kind, "data": data});
    let fields = [
        ("effective_at", args.effective_at.clone().map(Value::from)),
        ("id", args.id.clone().map(Value::from)),
        ("reason", args.reason.clone().map(Value::from)),
        ("expected_version", args.expected_version.map(Value::from)),
    ];
    for (name, value) in fields {
        if let (Some(value), Some(object)) = (value, line.as_object_mut()) {
            object.insert(name.to_string(), value);
        }
    }
    Ok(line.to_string())
}

/// The input of `arl append` as bytes (the file, standard input, or the one event given by
/// flags as a line), for sending to a server.
pub fn input_bytes(args: &AppendArgs) -> Result<Vec<u8>> {
    match &args.kind {
        Some(kind) => Ok(one_event_line(args, kind)?.into_bytes()),
        None => read_input(args.file.as_deref()),
    }
}

fn failure_of_flags(e: arl_domain::DomainError) -> anyhow::Error {
    failure::error(e.to_string())
}

fn print_report(report: &AppendReport, format: SummaryFormat) -> Result<()> {
    let head = arl_log::hex(&report.head.hash);
    print_summary(
        report.appended,
        report.duplicates,
        report.head.seq,
        &head,
        format,
    )
}

/// The summary of an append, as text or JSON (the same for a local ledger and a server).
pub fn print_summary(
    appended: u64,
    duplicates: u64,
    seq: u64,
    head: &str,
    format: SummaryFormat,
) -> Result<()> {
    match format {
        SummaryFormat::Json => out::emit_line(
            &json!({
                "appended": appended,
                "duplicates": duplicates,
                "seq": seq,
                "head": head,
            })
            .to_string(),
        ),
        SummaryFormat::Text => {
            let plural = if duplicates == 1 { "" } else { "s" };
            out::emit_line(&format!(
                "appended {appended}, skipped {duplicates} duplicate{plural}, head seq {seq} {}",
                head.get(..12).unwrap_or(head)
            ))
        }
    }
}
