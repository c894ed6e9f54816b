//! `arl log` and `arl export`: the envelopes of the log, read under the exclusive lock.

use crate::cli::{ExportArgs, ExportFormat, Format, LogArgs};
use crate::ledger::Ctx;
use crate::out;
use anyhow::{Context, Result};
use arl_domain::Timestamp;
use arl_log::{hex, Envelope};
use arl_query::export::{
    envelope_csv_row, envelope_line, log_csv, log_json, LogQuestion, ENVELOPE_CSV_HEADER,
};
use std::io::Write;

/// The question `arl log`'s flags ask (the server's `GET /v1/log` asks the same).
pub fn log_question(args: &LogArgs) -> LogQuestion {
    LogQuestion {
        stream: args.stream.clone(),
        kind: args.kind.clone(),
        account: args.account.clone(),
        from_seq: args.from_seq,
        to_seq: args.to_seq,
        recorded_from: args.recorded_from,
        recorded_to: args.recorded_to,
        effective_from: args.effective_from,
        effective_to: args.effective_to,
        limit: args.limit,
    }
}

/// `arl log`.
pub fn log(ctx: &Ctx, args: &LogArgs) -> Result<()> {
    let (_lock, log) = ctx.log()?;
    let rows = log_question(args)
        .answer(&log)
        .map_err(crate::failure::query)?;
    print_log(args.format, &rows)
}

/// Prints the envelopes of `arl log` in `format`.
pub fn print_log(format: Format, rows: &[Envelope]) -> Result<()> {
    match format {
        Format::Json => out::emit_json(&log_json(rows).context("formatting envelopes")?),
        Format::Csv => out::emit_csv_table(&log_csv(rows)),
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
            for e in rows {
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
    let unsealer = if args.decrypt {
        Some(crate::privacy::unsealer(ctx)?)
    } else {
        None
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

/// One side of `arl copy`: a ledger directory (its log under the exclusive lock) or a
/// PostgreSQL store.
fn open_copy_side(
    ctx: &Ctx,
    address: &str,
    target: bool,
) -> Result<(Option<arl_log::LedgerLock>, arl_log::Log, String)> {
    use arl_log::SharedStore;
    if arl_pg::is_postgres_url(address) {
        let store = crate::ledger::shared_store(address)?;
        if !target && store.state()?.is_none() {
            return Err(crate::failure::error(format!(
                "no ledger in {}",
                store.describe()
            )));
        }
        let log = arl_log::Log::open_store(store.open()?)
            .with_context(|| format!("opening the log in {}", store.describe()))?;
        return Ok((None, log, store.describe()));
    }
    let dir = std::path::Path::new(address);
    let log_dir = dir.join(arl_views::LOG_DIR);
    if !target && !log_dir.is_dir() {
        return Err(crate::failure::error(format!(
            "no ledger at {}",
            crate::ledger::shown(dir)
        )));
    }
    if target && dir.join(arl_views::STORE_ID_FILE).exists() {
        return Err(crate::failure::error(format!(
            "{} holds the views of a ledger in PostgreSQL; copy into a new directory",
            crate::ledger::shown(dir)
        )));
    }
    let lock = arl_log::LedgerLock::exclusive(dir, ctx.lock_timeout)?;
    let log = arl_log::Log::open(&log_dir)
        .with_context(|| format!("opening the log of {}", crate::ledger::shown(dir)))?;
    Ok((Some(lock), log, crate::ledger::shown(dir)))
}

/// `arl copy --from DIR|URL --to DIR|URL`: every stored frame verbatim into an empty log,
/// checked on the way and, at the end, the digest of both sides compared.
pub fn copy(ctx: &Ctx, args: &crate::cli::CopyArgs) -> Result<()> {
    if args.from == args.to {
        return Err(crate::failure::usage(
            "--from and --to name the same ledger",
        ));
    }
    let (_from_lock, from, from_shown) = open_copy_side(ctx, &args.from, false)?;
    let (_to_lock, mut to, to_shown) = open_copy_side(ctx, &args.to, true)?;
    if to.head().seq != 0 {
        return Err(crate::failure::error(format!(
            "{to_shown} already holds {} envelopes; copy into an empty ledger",
            to.head().seq
        )));
    }
    let total = from.head().seq;
    let bar = out::progress(ctx.quiet, Some(total), "copying");
    let copied = to.copy_from(&from, &mut |seq| bar.set_position(seq));
    bar.finish_and_clear();
    let head = copied.with_context(|| format!("copying {from_shown} to {to_shown}"))?;
    let digest = crate::integrity::digest_json(&head);
    if digest != crate::integrity::digest_json(&from.head()) {
        return Err(crate::failure::error("the digests of the two sides differ"));
    }
    if !ctx.quiet {
        eprintln!(
            "copied {total} envelopes from {from_shown} to {to_shown}; the digests are equal"
        );
    }
    out::emit_line(&digest)
}
