//! `arl append --batch-size N`: a history larger than one batch, imported in one command.
//!
//! The input is read as it goes; every N lines that hold an event are one atomic batch
//! (parsed, validated and committed, or refused whole), so memory stays that of one batch
//! whatever the input's size. A line without an id gets `line-<n>-<hash>` (`n` its line
//! number, `hash` the first 16 hex digits of the blake3 hash of the line's bytes), so that a
//! rerun of the same command on the same input after an interruption finds the committed
//! lines as duplicates, skips them, and goes on where it stopped.

use crate::append::{self, actor, open_input, print_report, Batch};
use crate::cli::AppendArgs;
use crate::failure;
use crate::ledger::Ctx;
use crate::out;
use anyhow::{Context, Result};
use arl_domain::{line_id, InputEvent, Timestamp, LINE_BYTES_MAX};
use arl_log::Head;
use arl_views::{AppendOptions, AppendReport, Converted};
use std::io::{BufRead, Read};

/// `arl append --batch-size N`: the parent owns the loop and the totals.
///
/// The next batch is read, parsed and (when the ledger does not seal) converted for the
/// ledger on a thread of its own while the one before it is appended (one batch ahead at
/// most: the two together are what the import holds). That thread yields to the append
/// ([`yield_to_the_append`]) as long as it keeps ahead, so that its work fills the moments
/// an append leaves a core idle (its commit and syncs) rather than slowing the append's own
/// threads; when the append had to wait for it, the next one runs at the usual priority.
/// Batches are still appended one after the other, in the input's order.
pub fn run(ctx: &Ctx, args: &AppendArgs, batch_size: usize) -> Result<()> {
    assert!(batch_size > 0, "clap keeps --batch-size at least 1");
    let opts = AppendOptions {
        imported: args.imported,
        actor: actor(args.actor.as_deref()),
        now: Timestamp::now(),
    };
    let lines = Lines::new(open_input(args.file.as_deref())?);
    let mut ledger = ctx.writer()?;
    if args.seal {
        crate::privacy::start_sealing(&ctx.keys)?;
    }
    let input_bytes = input_size(args.file.as_deref());
    // An input of unknown size, or one past a gigabyte (about 4M generated lines), may take
    // the import near its bound on memory: freed pages go back sooner, for some speed.
    if input_bytes.is_none_or(|bytes| bytes > PURGE_SOONER_INPUT_BYTES) {
        crate::alloc::purge_freed_memory_after(crate::alloc::IMPORT_PURGE_DELAY_MS);
    }
    let bar = out::ImportProgress::new(ctx.quiet, input_bytes);
    let mut totals = Totals::starting_at(ledger.log().head());
    let seals = || ctx.keys.seals().map_err(|e| failure::error(e.to_string()));
    // A ledger that does not seal takes its batches converted by the reader; a sealing one
    // seals the input events first, with the key store, on this thread.
    let read = Reading {
        batch_size,
        imported: args.imported,
        convert: (!seals()? && !ledger.is_shared()).then(|| opts.clone()),
    };
    std::thread::scope(|scope| -> Result<()> {
        let read = &read;
        let mut reader = read.spawn(scope, lines, false)?;
        // While the first batch is read, the filters a large batch builds from every
        // committed id and txn id are built here rather than after it.
        if input_bytes.is_some_and(|bytes| bytes >= PREPARE_INPUT_BYTES_MIN) {
            ledger.prepare_for_batches(batch_size);
        }
        // Whether readers yield to the append: until one made it wait long.
        let mut yielding = true;
        // Whether the running reader yields, and how long the last batch took to append.
        let mut reader_yields = false;
        let mut appending = std::time::Duration::ZERO;
        loop {
            let waiting = std::time::Instant::now();
            // A reader that stopped without saying so (it cannot, short of a panic) must not
            // pass for the end of the input.
            let joined = reader.join();
            if reader_yields && waiting.elapsed() > appending / WAIT_SHARE_MAX {
                yielding = false;
            }
            let Ok((lines, ahead)) = joined else {
                return Err(failure::error(format!(
                    "reading the input stopped after line {}; the {} batches before it are appended (head seq {})",
                    totals.lines, totals.batches, totals.head.seq
                )));
            };
            let Ahead::Batch {
                first_line,
                last_line,
                bytes,
                batch,
            } = ahead
            else {
                break;
            };
            let refused = |e: anyhow::Error| not_appended(&e, first_line, &totals);
            let batch = batch.map_err(refused)?;
            reader = read.spawn(scope, lines, yielding)?;
            reader_yields = yielding;
            let started = std::time::Instant::now();
            let report = match batch {
                Ready::Input(batch) => append::append(&mut ledger, &ctx.keys, batch, &opts),
                Ready::Converted { converted, lines } => {
                    if seals()? {
                        Err(failure::error(
                            "the ledger began sealing personal fields while this import ran; run the same command again (what was committed is skipped)",
                        ))
                    } else {
                        append::append_converted(&mut ledger, converted, &lines, &opts)
                    }
                }
            }
            .map_err(refused)?;
            appending = started.elapsed();
            totals.add(&report);
            totals.lines = last_line;
            bar.set(bytes, totals.appended + totals.duplicates);
        }
        Ok(())
    })?;
    bar.finish();
    print_report(&totals.report(), args.format)
}

/// A reader that yields to the append ([`yield_to_the_append`]) and still makes it wait
/// more than this share of the last batch's append (1 / N) has less idle time to run in
/// than it needs (another program keeps the cores busy): the readers after it run at the
/// usual priority.
const WAIT_SHARE_MAX: u32 = 4;

/// Inputs of at least this size have the writer build its filters while their first batch
/// is read ([`arl_views::Ledger::prepare_for_batches`]): 1 MiB holds the 4,096 lines that make
/// a batch build them when its lines average 256 bytes or less (generated ones: about 260).
/// A shorter input, or one of fewer longer lines, at most builds them one batch early.
const PREPARE_INPUT_BYTES_MIN: u64 = 1 << 20;

/// Inputs longer than this have the allocator give freed memory back sooner
/// ([`crate::alloc::IMPORT_PURGE_DELAY_MS`]); shorter ones stay well under the bound on an
/// import's memory (about 0.6 GB at 4M lines) and keep the speed of the allocator's default.
const PURGE_SOONER_INPUT_BYTES: u64 = 1 << 30;

/// What a reading thread hands over.
enum Ahead {
    /// The batch of the lines from `first_line` to `last_line` (the input read up to its
    /// `bytes`), or why it cannot be read or parsed (the import stops there).
    Batch {
        first_line: u64,
        last_line: u64,
        bytes: u64,
        batch: Result<Ready>,
    },
    /// The input ended.
    End,
}

/// A batch as a reading thread hands it over.
enum Ready {
    /// The input events, for the appender to seal and convert.
    Input(Batch),
    /// Converted for a ledger that does not seal, with the line of each event.
    Converted {
        converted: Converted,
        lines: Vec<u64>,
    },
}

/// How each batch is read.
struct Reading {
    batch_size: usize,
    imported: bool,
    /// The options to convert each batch with ([`Converted::new`]); `None`: hand over the
    /// input events.
    convert: Option<AppendOptions>,
}

impl Reading {
    /// Starts the thread that reads the next batch of `lines` and hands them back with
    /// it; `lower`: the thread yields to the append ([`yield_to_the_append`]).
    fn spawn<'scope>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        lines: Lines,
        lower: bool,
    ) -> Result<std::thread::ScopedJoinHandle<'scope, (Lines, Ahead)>> {
        std::thread::Builder::new()
            .name("arl-read".into())
            .spawn_scoped(scope, move || {
                if lower {
                    yield_to_the_append();
                }
                self.next(lines)
            })
            .context("starting the thread that reads the input")
    }

    /// Reads, parses and, when asked, converts the next batch of `lines`.
    fn next(&self, mut lines: Lines) -> (Lines, Ahead) {
        let first_line = lines.line + 1;
        let batch = match lines.next_batch(self.batch_size) {
            Ok(texts) if texts.is_empty() => return (lines, Ahead::End),
            Ok(texts) => parse_batch(&texts, self.imported).and_then(|batch| self.ready(batch)),
            Err(e) => Err(e),
        };
        let ahead = Ahead::Batch {
            first_line,
            last_line: lines.line,
            bytes: lines.bytes,
            batch,
        };
        (lines, ahead)
    }

    fn ready(&self, mut batch: Batch) -> Result<Ready> {
        let Some(opts) = &self.convert else {
            return Ok(Ready::Input(batch));
        };
        // Each piece's events against their own lines, as `append::append` seals them.
        batch.each_piece(|piece, lines| crate::privacy::refuse_erasures(piece, lines))?;
        let Batch { pieces, lines } = batch;
        let converted = Converted::new(pieces, opts);
        Ok(Ready::Converted { converted, lines })
    }
}

/// Lowers the calling thread's priority to the least (Linux: a thread's nice value, 19),
/// for the reader of an import that keeps ahead of the append: it then runs when a core
/// would otherwise idle (the append's commit and syncs) instead of taking turns with the
/// append's threads. Nothing else changes if the system refuses. The thread cannot raise it
/// again, so each batch is read by a new thread (starting at the priority of the process).
fn yield_to_the_append() {
    #[cfg(target_os = "linux")]
    {
        // PRIO_PROCESS; `who` 0: the calling thread (on Linux a nice value is a thread's).
        let _ = ffi::setpriority(0, 0, READER_NICE);
    }
}

/// The nice value of a reader that yields: against the append's threads (at 0) it gets
/// about one part in seventy of a core's time while they keep the cores busy, and a whole
/// core when they leave one idle.
#[cfg(target_os = "linux")]
const READER_NICE: std::os::raw::c_int = 19;

#[cfg(target_os = "linux")]
#[allow(
    unsafe_code,
    reason = "one system call's wrapper in the C library, declared as <sys/resource.h> does"
)]
mod ffi {
    use std::os::raw::{c_int, c_uint};

    unsafe extern "C" {
        pub safe fn setpriority(which: c_int, who: c_uint, prio: c_int) -> c_int;
    }
}

/// The size of the input when it is a regular file (standard input and pipes: unknown).
fn input_size(file: Option<&std::path::Path>) -> Option<u64> {
    let path = file.filter(|path| path.as_os_str() != "-")?;
    let meta = std::fs::metadata(path).ok()?;
    meta.is_file().then_some(meta.len())
}

/// What the batches appended so far.
struct Totals {
    /// The last line of the last batch appended.
    lines: u64,
    appended: u64,
    duplicates: u64,
    batches: u64,
    head: Head,
}

impl Totals {
    fn starting_at(head: Head) -> Totals {
        Totals {
            lines: 0,
            appended: 0,
            duplicates: 0,
            batches: 0,
            head,
        }
    }

    fn add(&mut self, report: &AppendReport) {
        assert!(report.head.seq >= self.head.seq, "the head never goes back");
        self.appended += report.appended;
        self.duplicates += report.duplicates;
        self.batches += 1;
        self.head = report.head;
    }

    fn report(&self) -> AppendReport {
        AppendReport {
            appended: self.appended,
            duplicates: self.duplicates,
            head: self.head,
            outcomes: Vec::new(),
        }
    }
}

/// The failure (reading, parsing or appending) of the batch starting at `first_line`,
/// saying what earlier batches committed and how to go on.
fn not_appended(error: &anyhow::Error, first_line: u64, totals: &Totals) -> anyhow::Error {
    let message = error.to_string();
    let reason = message
        .strip_suffix(append::WHOLE_INPUT_NOTE)
        .unwrap_or(&message)
        .trim_end();
    failure::error(format!(
        "{reason}\nthe batch from line {first_line} on was not appended; the {} batches before it are (head seq {}); fix the input and run the same command again: what was committed is skipped",
        totals.batches, totals.head.seq
    ))
}

/// Parses the lines of one batch and gives the lines without an id their
/// [`line_id`].
fn parse_batch(texts: &[(u64, String)], imported: bool) -> Result<Batch> {
    let refs: Vec<&str> = texts.iter().map(|(_, text)| text.as_str()).collect();
    let mut events: Vec<InputEvent> = arl_domain::parse_lines(&refs, imported)
        .map_err(|(i, e)| failure::error(format!("line {}: {e}", texts[i].0)))?;
    for (event, (line, text)) in events.iter_mut().zip(texts) {
        if event.id.is_none() {
            event.id = Some(line_id(*line, text));
        }
    }
    let lines = texts.iter().map(|(line, _)| *line).collect();
    Ok(Batch::one(events, lines))
}

/// The input, read a line at a time, each line at most [`LINE_BYTES_MAX`] bytes.
struct Lines {
    input: Box<dyn BufRead + Send>,
    /// The number of the last line read (1-based).
    line: u64,
    /// Bytes of the input read so far.
    bytes: u64,
    buffer: Vec<u8>,
}

impl Lines {
    fn new(input: Box<dyn BufRead + Send>) -> Lines {
        Lines {
            input,
            line: 0,
            bytes: 0,
            buffer: Vec::new(),
        }
    }

    /// The next lines that hold an event, at most `n`, with their line numbers; empty at
    /// the end of the input.
    fn next_batch(&mut self, n: usize) -> Result<Vec<(u64, String)>> {
        let mut out = Vec::new();
        while out.len() < n {
            let Some(text) = self.next_line()? else {
                break;
            };
            if !text.trim().is_empty() {
                out.push((self.line, text));
            }
        }
        Ok(out)
    }

    fn next_line(&mut self) -> Result<Option<String>> {
        self.buffer.clear();
        // The line, its "\r\n", and one byte more to tell a line that is too long.
        let limit = LINE_BYTES_MAX as u64 + 3;
        let read = (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.buffer)?;
        if read == 0 {
            return Ok(None);
        }
        self.bytes += read as u64;
        self.line += 1;
        let line = self.line;
        let text = self.buffer.strip_suffix(b"\n").unwrap_or(&self.buffer);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.len() > LINE_BYTES_MAX {
            return Err(failure::error(format!(
                "line {line}: longer than {LINE_BYTES_MAX} bytes"
            )));
        }
        let text = std::str::from_utf8(text)
            .map_err(|_| failure::error(format!("line {line}: not UTF-8 text")))?;
        Ok(Some(text.to_string()))
    }
}
