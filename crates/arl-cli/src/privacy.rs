//! Personal fields in the command line: sealing them on the way in (`arl append`), opening
//! them on the way out (queries read through [`arl_privacy::UnsealedSource`]; an erased
//! field prints as `null` with `"erased": true` in JSON and `[erased]` elsewhere), and
//! `arl erase`. See docs/PRIVACY.md.

use crate::cli::{EraseArgs, SummaryFormat};
use crate::ledger::Ctx;
use crate::{failure, out};
use anyhow::{Context, Result};
use arl_domain::{Event, InputEvent, SubjectErased, Timestamp};
use arl_log::{Envelope, LedgerLock, Log};
use arl_privacy::{KeyState, KeyStore, Subject, SubjectKind, UnsealedSource, Unsealer, ERASED};
use arl_views::{AppendOptions, Ledger, ViewReader};
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;
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
    let unsealer =
        Unsealer::open_ledger(&ctx.dir).map_err(|e| failure::integrity(e.to_string()))?;
    Ok(Opened {
        _lock: lock,
        views,
        unsealer,
    })
}

/// The unsealer of the ledger (for `arl export --decrypt`).
pub fn unsealer(ctx: &Ctx) -> Result<Unsealer> {
    Unsealer::open_ledger(&ctx.dir).map_err(|e| failure::integrity(e.to_string()))
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
        envelope.data = RawValue::from_string(event.data_json()).context("formatting JSON")?;
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
pub fn start_sealing(ledger: &Ledger) -> Result<()> {
    KeyStore::open(ledger.dir()).map_err(|e| failure::error(e.to_string()))?;
    Ok(())
}

/// True when the ledger seals personal fields: it has a key store.
pub fn seals(ledger: &Ledger) -> bool {
    ledger.dir().join(arl_privacy::KEYS_FILE).exists()
}

/// Seals the personal fields of a batch before the log plans it (keys of new subjects are
/// synced first), when the ledger seals. `subject.erased` is refused as input always. An event whose `id` the log already holds with its personal fields in
/// clear (written before sealing) is left in clear, so that a resend is still recognized
/// as a duplicate.
pub fn seal_batch(ledger: &Ledger, events: &mut [InputEvent], lines: &[u64]) -> Result<()> {
    if let Some(i) = events.iter().position(|e| is_erasure(&e.event)) {
        return Err(batch_error(lines, i, &arl_privacy::PrivacyError::AuditOnly));
    }
    if !seals(ledger)
        || !events
            .iter()
            .any(|e| arl_privacy::subject_of(&e.event).is_some())
    {
        return Ok(());
    }
    let mut store = KeyStore::open(ledger.dir()).map_err(|e| failure::error(e.to_string()))?;
    for (i, input) in events.iter_mut().enumerate() {
        if stored_in_clear(ledger.log(), input)? {
            continue;
        }
        arl_privacy::seal_event(&mut store, &mut input.event)
            .map_err(|e| batch_error(lines, i, &e))?;
    }
    store.commit().map_err(|e| failure::error(e.to_string()))
}

fn batch_error(lines: &[u64], i: usize, e: &arl_privacy::PrivacyError) -> anyhow::Error {
    let at = match lines.get(i) {
        Some(0) | None => String::new(),
        Some(line) => format!("line {line}: "),
    };
    failure::error(format!(
        "{at}{e}\nnothing was appended: the whole input is one batch"
    ))
}

fn is_erasure(event: &Event) -> bool {
    matches!(event, Event::SubjectErased(_))
}

fn stored_in_clear(log: &Log, input: &InputEvent) -> Result<bool> {
    let Some(id) = &input.id else {
        return Ok(false);
    };
    if arl_privacy::subject_of(&input.event).is_none() {
        return Ok(false);
    }
    let Some(seq) = log.lookup_id(id)? else {
        return Ok(false);
    };
    let Some(envelope) = log.get(seq)? else {
        return Ok(false);
    };
    Ok(Event::parse(&envelope.kind, envelope.data.get())
        .is_ok_and(|e| arl_privacy::subject_of(&e).is_some() && arl_privacy::is_clear(&e)))
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
    if args.reason.trim().is_empty() || args.reason.chars().count() > 1024 {
        return Err(failure::usage(
            "--reason is 1-1024 characters: why the data is erased",
        ));
    }
    ctx.require()?;
    if !args.yes && !confirmed(&subject)? {
        return Err(failure::error(format!("{subject} was not erased")));
    }
    let mut ledger = ctx.writer()?;
    // A ledger that does not seal gets no key store from an erasure.
    let mut store = match seals(&ledger) {
        true => Some(KeyStore::open(ledger.dir()).map_err(|e| failure::error(e.to_string()))?),
        false => None,
    };
    let state = store.as_ref().and_then(|s| s.state(&subject));
    if let Some(KeyState::Erased { at_micros }) = state {
        return Err(failure::error(format!(
            "{subject} was already erased at {}",
            Timestamp(*at_micros)
        )));
    }
    let had_key = state.is_some();
    let clear_seqs = clear_events(ledger.log(), &subject)?;
    if !had_key && clear_seqs.is_empty() {
        return Err(failure::error(format!(
            "no {subject} in this ledger: nothing to erase"
        )));
    }
    let now = Timestamp::now();
    let event = SubjectErased {
        contact: (subject.kind == SubjectKind::Contact).then(|| subject.id.clone()),
        person: (subject.kind == SubjectKind::Person).then(|| subject.id.clone()),
    };
    let input = InputEvent {
        event: Event::SubjectErased(event),
        effective_at: None,
        id: None,
        actor: None,
        reason: Some(args.reason.clone()),
        expected_version: None,
        recorded_at: None,
    };
    let opts = AppendOptions {
        imported: false,
        actor: actor(args.actor.as_deref()),
        now,
    };
    // Straight to the ledger: the append path refuses subject.erased as input.
    let report = ledger
        .append(vec![input], &opts)
        .map_err(|f| failure::error(format!("{subject} was not erased: {}", f.message)))?;
    let destroyed = match store.as_mut() {
        Some(store) => store
            .erase(&subject, now.0)
            .map_err(|e| failure::error(e.to_string()))?,
        None => false,
    };
    print_erased(
        args.format,
        &subject,
        report.head.seq,
        destroyed,
        &clear_seqs,
    )
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
            &json!({
                "subject": subject.kind.as_str(),
                "id": subject.id,
                "seq": seq,
                "key_destroyed": destroyed,
                "not_erasable_seqs": clear_seqs,
            })
            .to_string(),
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

/// Seqs of the subject's events whose personal fields are stored in clear.
fn clear_events(log: &Log, subject: &Subject) -> Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for envelope in log.range(1, log.head().seq) {
        let envelope = envelope?;
        if !matches!(envelope.kind.as_str(), "contact.added" | "person.joined") {
            continue;
        }
        let Ok(event) = Event::parse(&envelope.kind, envelope.data.get()) else {
            continue;
        };
        if arl_privacy::subject_of(&event).as_ref() == Some(subject)
            && arl_privacy::is_clear(&event)
        {
            seqs.push(envelope.seq);
        }
    }
    Ok(seqs)
}

/// `--actor`, else `$USER`, else `unknown` (as `arl append`).
fn actor(flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}
