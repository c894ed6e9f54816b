//! `arl append`: input lines (or one event from flags) to one atomic batch, or with
//! `--batch-size N` to one atomic batch every N lines.

use crate::cli::{AppendArgs, SummaryFormat};
use crate::failure;
use crate::ledger::Ctx;
use crate::out;
use anyhow::{Context, Result};
use arl_domain::{InputEvent, Timestamp};
use arl_privacy::KeyHome;
use arl_views::{AppendFailure, AppendOptions, AppendReport, Converted, FailureKind, Ledger};
use serde_json::{json, Value};
use std::io::{BufRead, Read};
use std::path::Path;

/// The largest input `arl append` reads, in bytes (4 GiB): far beyond any one batch.
pub const INPUT_BYTES_MAX: u64 = 4 << 30;

/// What a refused batch adds to its reason when the whole input was one batch.
pub const WHOLE_INPUT_NOTE: &str = "\nnothing was appended: the whole input is one batch";

/// A batch of parsed input events, in the pieces they were read in, and for each event the
/// line it came from (1-based; 0 for the one-event form).
pub struct Batch {
    pub pieces: Vec<Vec<InputEvent>>,
    pub lines: Vec<u64>,
}

impl Batch {
    /// A batch of one piece.
    pub fn one(events: Vec<InputEvent>, lines: Vec<u64>) -> Batch {
        Batch {
            pieces: vec![events],
            lines,
        }
    }

    /// How many events the batch holds.
    pub fn count(&self) -> usize {
        self.pieces.iter().map(Vec::len).sum()
    }

    /// Calls `f` with each piece in order and the input lines of its events; stops at the
    /// first error.
    pub fn each_piece(
        &mut self,
        mut f: impl FnMut(&mut [InputEvent], &[u64]) -> Result<()>,
    ) -> Result<()> {
        let mut first = 0;
        for piece in &mut self.pieces {
            f(piece, self.lines.get(first..).unwrap_or_default())?;
            first += piece.len();
        }
        Ok(())
    }
}

/// Bytes read at a time while counting an input's lines.
const READ_CHUNK_BYTES: usize = 1 << 20;
/// Bytes of whole lines parsed at a time while an input is read as one batch.
const PARSE_CHUNK_BYTES: usize = 8 << 20;

/// `arl append`.
pub fn run(ctx: &Ctx, args: &AppendArgs) -> Result<()> {
    if let Some(batch_size) = args.batch_size {
        let batch_size = usize::try_from(batch_size).context("--batch-size")?;
        return crate::batches::run(ctx, args, batch_size);
    }
    let batch = match &args.kind {
        Some(kind) => one_event(args, kind)?,
        None => read_batch(args.file.as_deref(), args.imported)?,
    };
    let opts = AppendOptions {
        imported: args.imported,
        actor: actor(args.actor.as_deref()),
        now: Timestamp::now(),
    };
    let mut ledger = ctx.writer()?;
    if args.seal {
        crate::privacy::start_sealing(&ctx.keys)?;
    }
    let bar = out::progress(ctx.quiet, None, "appending");
    bar.set_position(batch.count() as u64);
    let report = append(&mut ledger, &ctx.keys, batch, &opts);
    bar.finish_and_clear();
    print_report(&report?, args.format)?;
    // The command ends here, and the process with it (`main` runs it once): a directory
    // ledger is left to the exit, which closes its files and releases its lock (it has
    // nothing left to write), sparing the freeing of its heads entry by entry: 0.5 ms of
    // a one-event append at 4M events. A shared ledger is dropped: its connection closes
    // cleanly.
    if ctx.source.is_shared() {
        drop(ledger);
    } else {
        std::mem::forget(ledger);
    }
    Ok(())
}

/// Appends a parsed batch, sealed with the keys in `keys` when the ledger seals; a failure
/// names the input line, the rule and that nothing was appended.
pub fn append(
    ledger: &mut Ledger,
    keys: &KeyHome,
    mut batch: Batch,
    opts: &AppendOptions,
) -> Result<AppendReport> {
    batch.each_piece(|piece, lines| crate::privacy::seal_batch(ledger, keys, piece, lines))?;
    let Batch { pieces, lines } = batch;
    ledger
        .append_pieces(pieces, opts)
        .map_err(|f| refusal(&f, &lines))
}

/// [`append`] of a batch converted beforehand (`Converted::new` with `opts`) for a ledger
/// that does not seal; `lines` as in [`Batch`].
pub fn append_converted(
    ledger: &mut Ledger,
    converted: Converted,
    lines: &[u64],
    opts: &AppendOptions,
) -> Result<AppendReport> {
    ledger
        .append_converted(converted, opts)
        .map_err(|f| refusal(&f, lines))
}

/// The error of a refused batch, naming the line of the event refused.
fn refusal(f: &AppendFailure, lines: &[u64]) -> anyhow::Error {
    let line = f.index.and_then(|index| lines.get(index).copied());
    let message = f.at_line(line);
    match f.kind {
        FailureKind::Storage => failure::error(message),
        _ => failure::error(format!("{message}{WHOLE_INPUT_NOTE}")),
    }
}

/// `--actor`, else `$USER`, else `unknown`.
pub fn actor(flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The input named by `file` (`None` or `-`: standard input), buffered.
/// (`Send`: the batches of `--batch-size` are read on a thread of their own; standard
/// input is buffered here rather than through its lock, which stays on one thread).
pub fn open_input(file: Option<&Path>) -> Result<Box<dyn BufRead + Send>> {
    let stdin = || {
        Box::new(std::io::BufReader::with_capacity(
            READ_CHUNK_BYTES,
            std::io::stdin(),
        ))
    };
    match file {
        None => Ok(stdin()),
        Some(path) if path.as_os_str() == "-" => Ok(stdin()),
        Some(path) => {
            let f = std::fs::File::open(path)
                .map_err(|e| failure::error(format!("cannot open {}: {e}", path.display())))?;
            Ok(Box::new(std::io::BufReader::with_capacity(
                READ_CHUNK_BYTES,
                f,
            )))
        }
    }
}

fn read_input(file: Option<&Path>) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match file {
        None => {
            read_limited(std::io::stdin().lock(), &mut bytes).context("reading standard input")?;
        }
        Some(path) if path.as_os_str() == "-" => {
            read_limited(std::io::stdin().lock(), &mut bytes).context("reading standard input")?;
        }
        Some(path) => {
            let f = std::fs::File::open(path)
                .map_err(|e| failure::error(format!("cannot open {}: {e}", path.display())))?;
            read_limited(f, &mut bytes).with_context(|| format!("reading {}", path.display()))?;
        }
    }
    Ok(bytes)
}

/// Reads the whole input, refusing it as soon as it is over [`INPUT_BYTES_MAX`] or holds
/// more events than one batch can ([`arl_log::MAX_BATCH_EVENTS`]), before reading the rest.
fn read_limited(reader: impl Read, bytes: &mut Vec<u8>) -> Result<()> {
    let mut reader = reader.take(INPUT_BYTES_MAX + 1);
    let mut lines = LineCounter::default();
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        let n = match read_chunk(&mut reader, &mut chunk)? {
            0 => break,
            n => n,
        };
        lines.count(&chunk[..n]);
        if lines.events() > arl_log::MAX_BATCH_EVENTS as u64 {
            return Err(too_many_events());
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    if bytes.len() as u64 > INPUT_BYTES_MAX {
        return Err(failure::error(
            "the input is over 4 GiB; import it with --batch-size N",
        ));
    }
    Ok(())
}

/// The whole input as one parsed batch, read and parsed a piece at a time so that its bytes
/// are never held whole. Refused as soon as it holds more events than one batch can
/// ([`arl_log::MAX_BATCH_EVENTS`]) or is over [`INPUT_BYTES_MAX`], before the rest is read;
/// otherwise at its first bad line (after counting the rest, which may still be too many).
fn read_batch(file: Option<&Path>, imported: bool) -> Result<Batch> {
    match file {
        Some(path) if path.as_os_str() != "-" => {
            let f = std::fs::File::open(path)
                .map_err(|e| failure::error(format!("cannot open {}: {e}", path.display())))?;
            parse_pieces(f, imported, &|e| format!("reading {}: {e}", path.display()))
        }
        _ => parse_pieces(std::io::stdin().lock(), imported, &|e| {
            format!("reading standard input: {e}")
        }),
    }
}

/// [`read_batch`] of `reader`; `io_error` says what a failed read was reading.
fn parse_pieces(
    reader: impl Read,
    imported: bool,
    io_error: &dyn Fn(std::io::Error) -> String,
) -> Result<Batch> {
    let mut reader = reader.take(INPUT_BYTES_MAX + 1);
    let mut batch = Batch {
        pieces: Vec::new(),
        lines: Vec::new(),
    };
    // Bytes read and not parsed yet: the lines after the last parsed piece.
    let mut pending = Vec::with_capacity(PARSE_CHUNK_BYTES + READ_CHUNK_BYTES);
    // The number of the first line in `pending`.
    let mut first_line = 1;
    let mut read_total = 0u64;
    let mut lines = LineCounter::default();
    // The first bad line's error; past it, the input is only counted.
    let mut failed = None;
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        let n =
            match read_chunk(&mut reader, &mut chunk).map_err(|e| failure::error(io_error(e)))? {
                0 => break,
                n => n,
            };
        read_total += n as u64;
        if read_total > INPUT_BYTES_MAX {
            return Err(failure::error(
                "the input is over 4 GiB; import it with --batch-size N",
            ));
        }
        lines.count(&chunk[..n]);
        if lines.events() > arl_log::MAX_BATCH_EVENTS as u64 {
            return Err(too_many_events());
        }
        if failed.is_some() {
            continue;
        }
        pending.extend_from_slice(&chunk[..n]);
        if pending.len() < PARSE_CHUNK_BYTES {
            continue;
        }
        // The piece's whole lines; with none, its line is too long, which parsing says.
        let end = pending
            .iter()
            .rposition(|b| *b == b'\n')
            .unwrap_or(pending.len() - 1);
        let rest = pending[end + 1..].to_vec();
        pending.truncate(end + 1);
        match parse_piece(&mut batch, &pending, first_line, imported) {
            Ok(next) => first_line = next,
            Err(e) => failed = Some(e),
        }
        pending.clear();
        pending.extend_from_slice(&rest);
    }
    if let Some(e) = failed {
        return Err(e);
    }
    parse_piece(&mut batch, &pending, first_line, imported)?;
    Ok(batch)
}

/// Parses the lines of `piece` (the first is line `first_line`) into `batch`; returns the
/// number of the line after the piece.
fn parse_piece(batch: &mut Batch, piece: &[u8], first_line: u64, imported: bool) -> Result<u64> {
    let parsed = parse_lines(piece, first_line, imported)?;
    batch.pieces.extend(parsed.pieces);
    batch.lines.extend(parsed.lines);
    let newlines = piece.iter().filter(|b| **b == b'\n').count() as u64;
    Ok(first_line + newlines)
}

/// The next bytes of `reader` into `chunk` (0 at the end), a read cut short by a signal
/// tried again.
fn read_chunk(reader: &mut impl Read, chunk: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match reader.read(chunk) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            read => return read,
        }
    }
}

/// An input with more events than one atomic batch holds.
fn too_many_events() -> anyhow::Error {
    failure::error(format!(
        "the input holds more than {} events, the most one atomic batch holds; import it with --batch-size N (every N lines one atomic batch; a rerun skips what was committed)",
        arl_log::MAX_BATCH_EVENTS
    ))
}

/// Counts the lines that hold an event (not blank) in an input read chunk by chunk.
#[derive(Default)]
struct LineCounter {
    complete: u64,
    /// The line being read has a byte other than white space.
    open_has_text: bool,
}

impl LineCounter {
    fn count(&mut self, chunk: &[u8]) {
        for byte in chunk {
            match byte {
                b'\n' => {
                    self.complete += u64::from(self.open_has_text);
                    self.open_has_text = false;
                }
                b' ' | b'\t' | b'\r' => {}
                _ => self.open_has_text = true,
            }
        }
    }

    /// Lines with an event so far, the unfinished last one included.
    fn events(&self) -> u64 {
        self.complete + u64::from(self.open_has_text)
    }
}

/// Parses JSON Lines (the first is line `first_line` of the input): blank lines ignored,
/// each other line one event (large inputs on two threads); an error names the first bad
/// line.
fn parse_lines(bytes: &[u8], first_line: u64, imported: bool) -> Result<Batch> {
    let mut texts = Vec::new();
    let mut lines = Vec::new();
    for (n, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line_no = first_line + n as u64;
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
    Ok(Batch::one(events, lines))
}

fn one_event(args: &AppendArgs, kind: &str) -> Result<Batch> {
    let line = one_event_line(args, kind)?;
    let event = InputEvent::parse_line(&line, false).map_err(|e| failure_of_flags(&e))?;
    Ok(Batch::one(vec![event], vec![0]))
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

fn failure_of_flags(e: &arl_domain::DomainError) -> anyhow::Error {
    failure::error(e.to_string())
}

pub fn print_report(report: &AppendReport, format: SummaryFormat) -> Result<()> {
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
