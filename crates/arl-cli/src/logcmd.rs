//! `arl log` and `arl export`: the envelopes of the log, read under the exclusive lock.

use crate::cli::{ExportArgs, ExportFormat, Format, LogArgs};
use crate::ledger::Ctx;
use crate::out;
use anyhow::{Context, Result};
use arl_domain::Timestamp;
use arl_log::{hex, Envelope};
use arl_query::export::{envelope_csv_row, envelope_line, ENVELOPE_CSV_HEADER};
use std::io::Write;

/// `arl log`.
pub fn log(ctx: &Ctx, args: &LogArgs) -> Result<()> {
    let (_lock, log) = ctx.log()?;
    let head = log.head().seq;
    let from = args.from_seq.unwrap_or(1);
    let to = args.to_seq.unwrap_or(head).min(head);
    let account_stream = args.account.as_ref().map(|a| format!("account/{a}"));
    let within = |t: i64, from: Option<Timestamp>, to: Option<Timestamp>| {
        from.is_none_or(|f| t >= f.0) && to.is_none_or(|x| t <= x.0)
    };
    let keep = |e: &Envelope| {
        args.stream.as_ref().is_none_or(|s| e.stream == *s)
            && account_stream.as_ref().is_none_or(|s| e.stream == *s)
            && args.kind.as_ref().is_none_or(|k| e.kind == *k)
            && within(e.recorded_at, args.recorded_from, args.recorded_to)
            && within(e.effective_at, args.effective_from, args.effective_to)
    };
    let limit = args.limit.unwrap_or(u64::MAX);
    let mut rows = Vec::new();
    for envelope in log.range(from, to) {
        if rows.len() as u64 >= limit {
            break;
        }
        let envelope = envelope?;
        if keep(&envelope) {
            rows.push(envelope);
        }
    }
    match args.format {
        Format::Json => {
            let values: Vec<serde_json::Value> = rows
                .iter()
                .map(|e| serde_json::from_str(&e.to_json_line()))
                .collect::<Result<_, _>>()
                .context("formatting envelopes")?;
            out::emit_json(&values)
        }
        Format::Csv => out::emit_csv(
            ENVELOPE_CSV_HEADER,
            &rows.iter().map(envelope_csv_row).collect::<Vec<_>>(),
        ),
        Format::Table => {
            let mut table = out::table(&[
                "seq",
                "recorded",
                "effective",
                "type",
                "stream",
                "ver",
                "actor",
                "hash",
            ]);
            for e in &rows {
                table.add_row(vec![
                    out::num(e.seq),
                    comfy_table::Cell::new(out::human_time(Timestamp(e.recorded_at))),
                    comfy_table::Cell::new(out::human_time(Timestamp(e.effective_at))),
                    comfy_table::Cell::new(&e.kind),
                    comfy_table::Cell::new(&e.stream),
                    out::num(e.version),
                    comfy_table::Cell::new(&e.actor),
                    comfy_table::Cell::new(&hex(&e.hash)[..12]),
                ]);
            }
            out::emit_table(&table)
        }
    }
}

/// `arl export`: every envelope, streamed.
pub fn export(ctx: &Ctx, args: &ExportArgs) -> Result<()> {
    let (_lock, log) = ctx.log()?;
    let unsealer = match args.decrypt {
        true => Some(crate::privacy::unsealer(ctx)?),
        false => None,
    };
    let head = log.head().seq;
    let bar = out::progress(ctx.quiet, Some(head), "exporting");
    let stdout = std::io::stdout().lock();
    let written = match args.format {
        ExportFormat::Jsonl => {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout);
            let mut result = Ok(());
            for envelope in log.range(1, head) {
                let envelope = crate::privacy::decrypted(unsealer.as_ref(), envelope?)?;
                if let Err(e) = writeln!(w, "{}", envelope_line(&envelope)) {
                    result = Err(e);
                    break;
                }
                if envelope.seq % 4096 == 0 {
                    bar.set_position(envelope.seq);
                }
            }
            result.and_then(|()| w.flush())
        }
        ExportFormat::Csv => {
            let mut w =
                csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, stdout));
            w.write_record(ENVELOPE_CSV_HEADER)?;
            for envelope in log.range(1, head) {
                let envelope = crate::privacy::decrypted(unsealer.as_ref(), envelope?)?;
                w.write_record(envelope_csv_row(&envelope))?;
                if envelope.seq % 4096 == 0 {
                    bar.set_position(envelope.seq);
                }
            }
            w.flush()
        }
    };
    bar.finish_and_clear();
    written.context("writing to standard output")
}
