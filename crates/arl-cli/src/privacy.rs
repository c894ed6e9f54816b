//! Personal fields in the command line: sealing them on the way in (`arl append`), opening
//! them on the way out (queries read through [`arl_privacy::UnsealedSource`]; an erased
//! field prints as `null` with `"erased": true` in JSON and `[erased]` elsewhere), and
//! `arl erase`. See docs/PRIVACY.md.

use crate::cli::{EraseArgs, SummaryFormat};
use crate::ledger::Ctx;
use crate::{failure, out};
use anyhow::{Context, Result};
use arl_domain::{Event, InputEvent, Timestamp};
use arl_log::{Envelope, LedgerLock};
use arl_privacy::{KeyHome, Subject, SubjectKind, UnsealedSource, Unsealer, ERASED};
use arl_query::privacy::{EraseError, Erasure};
use arl_views::{AppendOptions, Ledger, ViewReader};
use serde::Serialize;
use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicBool, Ordering};

/// The views of a query with the ledger's keys: [`Opened::source`] is what answers read.
pub struct Opened {
    _lock: LedgerLock,
    pub views: ViewReader,
    unsealer: Unsealer,
}

impl Opened {
    /// The views, personal fields opened (as stored when the answer goes into an evidence
    /// bundle: see [`answer_as_stored`]).
    pub fn source(&self) -> UnsealedSource<'_> {
        source(&self.views, &self.unsealer)
    }
}

/// Set when this run writes an evidence bundle: the printed answer is then the bundle's,
/// the answer over the data as stored, personal fields sealed. A bundle travels outside
/// the ledger and its checker has no keys; plaintext in it would outlive an erasure.
static AS_STORED: AtomicBool = AtomicBool::new(false);

/// Makes every answer of this run the answer over the data as stored (`--evidence`).
pub fn answer_as_stored() {
    AS_STORED.store(true, Ordering::Relaxed);
}

/// The views through the key store, or as stored after [`answer_as_stored`].
pub fn source<'a>(views: &'a ViewReader, unsealer: &'a Unsealer) -> UnsealedSource<'a> {
    if AS_STORED.load(Ordering::Relaxed) {
        UnsealedSource::as_stored(views)
    } else {
        UnsealedSource::new(views, unsealer)
    }
}

/// Opens the views for a query, with the key store.
pub fn open(ctx: &Ctx) -> Result<Opened> {
    let (lock, views) = ctx.reader()?;
    let unsealer = ctx
        .keys
        .unsealer()
        .map_err(|e| failure::integrity(e.to_string()))?;
    Ok(Opened {
        _lock: lock,
        views,
        unsealer,
    })
}

/// The unsealer of the ledger (for `arl export --decrypt`).
pub fn unsealer(ctx: &Ctx) -> Result<Unsealer> {
    ctx.keys
        .unsealer()
        .map_err(|e| failure::integrity(e.to_string()))
}

/// The envelope with its personal fields opened where the key lives (`arl export
/// --decrypt`); as stored without an unsealer.
pub fn decrypted(unsealer: Option<&Unsealer>, mut envelope: Envelope) -> Result<Envelope> {
    let Some(unsealer) = unsealer else {
        return Ok(envelope);
    };
    if !matches!(envelope.kind.as_str(), "contact.added" | "person.joined") {
        return Ok(envelope);
    }
    let mut event = Event::parse(&envelope.kind, envelope.data.get())
        .map_err(|e| failure::integrity(format!("seq {}: {e}", envelope.seq)))?;
    let opened = arl_privacy::open_event(unsealer, &mut event)
        .map_err(|e| failure::integrity(e.to_string()))?;
    if opened {
        envelope.data = event.data_raw();
    }
    Ok(envelope)
}

/// Pretty JSON of an answer; erased fields become `null` and their object says
/// `"erased": true`.
pub fn pretty_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let text = serde_json::to_string_pretty(value).context("formatting JSON")?;
    if !text.contains(ERASED) {
        return Ok(text);
    }
    let mut value = serde_json::to_value(value).context("formatting JSON")?;
    arl_privacy::mark_erased(&mut value);
    serde_json::to_string_pretty(&value).context("formatting JSON")
}

/// Text for the terminal (tables, charts): an erased field shows as `[erased]`, padded to
/// the marker's width so that table columns stay aligned.
pub fn shown_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(ERASED) {
        let cell = format!("{:<width$}", arl_privacy::ERASED_CELL, width = ERASED.len());
        std::borrow::Cow::Owned(text.replace(ERASED, &cell))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// A CSV cell: `[erased]` for an erased field.
pub fn shown_cell(cell: &str) -> String {
    arl_privacy::table_text(cell)
}

/// Creates the ledger's key store (`arl append --seal`): from then on every append seals.
pub fn start_sealing(keys: &KeyHome) -> Result<()> {
    keys.writer().map_err(|e| failure::error(e.to_string()))?;
    Ok(())
}

/// Seals the personal fields of a batch before the log plans it, when the ledger seals
/// (`arl_query::privacy::seal_batch`, as the server does).
pub fn seal_batch(
    ledger: &Ledger,
    keys: &KeyHome,
    events: &mut [InputEvent],
    lines: &[u64],
) -> Result<()> {
    arl_query::privacy::seal_batch(keys, ledger.log(), events).map_err(|e| seal_error(e, lines))
}

/// [`seal_batch`]'s first check alone, for a batch appended to a ledger that does not seal:
/// `subject.erased` is refused as input.
pub fn refuse_erasures(events: &[InputEvent], lines: &[u64]) -> Result<()> {
    arl_query::privacy::refuse_erasures(events).map_err(|e| seal_error(e, lines))
}

fn seal_error(e: arl_query::privacy::SealError, lines: &[u64]) -> anyhow::Error {
    use arl_query::privacy::SealError;
    match e {
        SealError::Event { index, error } => {
            let at = match lines.get(index) {
                Some(0) | None => String::new(),
                Some(line) => format!("line {line}: "),
            };
            failure::error(format!(
                "{at}{error}\nnothing was appended: the whole input is one batch"
            ))
        }
        SealError::Log(e) => e.into(),
        other => failure::error(other.to_string()),
    }
}

/// `arl erase`.
pub fn erase(ctx: &Ctx, args: &EraseArgs) -> Result<()> {
    let subject = match (&args.contact, &args.person) {
        (Some(contact), None) => Subject::new(SubjectKind::Contact, contact),
        (None, Some(person)) => Subject::new(SubjectKind::Person, person),
        _ => {
            return Err(failure::usage(
                "give exactly one of --contact ID and --person ID",
            ))
        }
    };
    if !arl_domain::ids::is_valid_id(&subject.id) {
        return Err(failure::usage(format!("{subject}: not a valid id")));
    }
    let reason_max = arl_query::privacy::REASON_CHARS_MAX;
    if args.reason.trim().is_empty() || args.reason.chars().count() > reason_max {
        return Err(failure::usage(format!(
            "--reason is 1-{reason_max} characters: why the data is erased"
        )));
    }
    ctx.require()?;
    if !args.yes && !confirmed(&subject)? {
        return Err(failure::error(format!("{subject} was not erased")));
    }
    let mut ledger = ctx.writer()?;
    let erasure = Erasure::plan(&ctx.keys, ledger.log(), subject).map_err(erase_error)?;
    let now = Timestamp::now();
    let opts = AppendOptions {
        imported: false,
        actor: actor(args.actor.as_deref()),
        now,
    };
    // Straight to the ledger: the append path refuses subject.erased as input.
    let report = ledger
        .append(vec![erasure.event(&args.reason)], &opts)
        .map_err(|f| {
            failure::error(format!("{} was not erased: {}", erasure.subject, f.message))
        })?;
    let subject = erasure.subject.clone();
    let clear_seqs = erasure.clear_seqs.clone();
    let destroyed = erasure.destroy_key(now).map_err(erase_error)?;
    print_erased(
        args.format,
        &subject,
        report.head.seq,
        destroyed,
        &clear_seqs,
    )
}

fn erase_error(e: EraseError) -> anyhow::Error {
    match e {
        EraseError::Log(e) => e.into(),
        other => failure::error(other.to_string()),
    }
}

fn print_erased(
    format: SummaryFormat,
    subject: &Subject,
    seq: u64,
    destroyed: bool,
    clear_seqs: &[u64],
) -> Result<()> {
    match format {
        SummaryFormat::Json => out::emit_line(
            &arl_query::privacy::erased_json(subject, seq, destroyed, clear_seqs).to_string(),
        ),
        SummaryFormat::Text => {
            out::emit_line(&format!(
                "erased {subject}: subject.erased at seq {seq}, key {}",
                if destroyed {
                    "destroyed"
                } else {
                    "none (no sealed data)"
                }
            ))?;
            if !clear_seqs.is_empty() {
                out::stderr_line(&format!(
                    "warning: seqs {clear_seqs:?} hold {subject}'s data in clear (written before sealing); they cannot be erased and still show it"
                ));
            }
            Ok(())
        }
    }
}

/// Asks on standard error, reads one line of standard input: true for `yes`.
fn confirmed(subject: &Subject) -> Result<bool> {
    out::stderr_line(&format!(
        "erasing {subject} destroys the key of its personal data: this cannot be undone, and \
         every answer will show the name as erased. Type yes to go on:"
    ));
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(64)
        .read_line(&mut line)
        .context("reading the answer from standard input")?;
    Ok(line.trim() == "yes")
}

/// `--actor`, else `$USER`, else `unknown` (as `arl append`).
fn actor(flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}
