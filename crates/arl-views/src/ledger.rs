//! [`Ledger`]: the writer side. Holds the exclusive lock, the log and the views, and keeps
//! the views in step with the log.
//!
//! Order of an append: plan and build in the log (no writes), validate every new event in
//! order against what is known ([`Known`]: the committed views and the batch so far; staging
//! the views as it goes, in memory or past their committed lengths), commit to the log
//! (durable), then commit the views (durable). A crash between the last two leaves the views
//! behind the log; the next [`Ledger::open`] appends the missing seqs from the log. Opening
//! reads no more than the views' `heads`, whatever the size of the ledger.

use crate::format::HEADS_FILES;
use crate::known::Known;
use crate::rebuild::{stage_range, Chain};
use crate::txnids::{TxnFilter, TxnIdsReader, TXN_FILTER_BATCH_MIN};
use crate::writer::sync_dir;
use crate::{LogSource, ViewError, ViewReader, ViewWriter};
use arl_domain::{Event, InputEvent, Recorded, RuleError, Timestamp};
use arl_fold::{SourceError, ValidationError, Validator};
use arl_log::{
    AppendError, Envelope, Head, LedgerLock, Log, LogError, NewEvent, Outcome, PlannedBatch,
    Prepared,
};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Duration;

/// Directory names inside the ledger directory.
pub const LOG_DIR: &str = "log";
pub const VIEWS_DIR: &str = "views";
/// A replay builds here, then swaps it in.
pub const VIEWS_NEW_DIR: &str = "views.new";
/// The previous views during a replay's swap.
pub const VIEWS_OLD_DIR: &str = "views.old";
/// Events between two progress calls of a replay.
const REPLAY_PROGRESS_EVENTS: u64 = 65_536;

/// How to append a batch.
#[derive(Debug, Clone)]
pub struct AppendOptions {
    /// Input lines carry `recorded_at` (migration of history).
    pub imported: bool,
    /// The actor of lines that name none.
    pub actor: String,
    /// The record time of events that are not imported.
    pub now: Timestamp,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendReport {
    pub appended: u64,
    pub duplicates: u64,
    pub head: Head,
    /// One per input event, in input order.
    pub outcomes: Vec<Outcome>,
}

/// Why a batch was rejected (with the ledger unchanged), or failed while being stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A field breaks a limit of the log.
    Invalid,
    /// A rule of the contract's §3.
    Rule,
    /// `expected_version` did not match.
    StaleVersion,
    /// The id is taken by an event with other content.
    IdConflict,
    /// An imported `recorded_at` breaks the ordering rules.
    ImportedTime,
    /// Too many events in one batch.
    BatchTooLarge,
    /// Reading or writing the log or the views failed.
    Storage,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Invalid => "invalid",
            FailureKind::Rule => "rule",
            FailureKind::StaleVersion => "stale_version",
            FailureKind::IdConflict => "id_conflict",
            FailureKind::ImportedTime => "imported_time",
            FailureKind::BatchTooLarge => "batch_too_large",
            FailureKind::Storage => "storage",
        }
    }
}

/// A failed append. `index` is the 0-based position in the batch of the event at fault,
/// when one is. The command line and the server render it from its parts
/// ([`AppendFailure::at_line`], [`AppendFailure::fix`], [`AppendFailure::rule`]), naming the
/// input line of the event rather than its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AppendFailure {
    pub index: Option<usize>,
    pub kind: FailureKind,
    /// The whole message, with the event's position (`event 3: ...`) where the log names it.
    pub message: String,
    /// The broken rule, for [`FailureKind::Rule`].
    pub rule: Option<RuleError>,
    /// Validation found the views damaged (they are rebuilt before the failure is returned).
    views_damaged: bool,
    /// Another writer of a shared log committed first: nothing was written; the batch is
    /// planned again after catching up.
    moved: bool,
}

impl AppendFailure {
    fn storage(message: impl std::fmt::Display) -> AppendFailure {
        AppendFailure {
            index: None,
            kind: FailureKind::Storage,
            message: message.to_string(),
            rule: None,
            views_damaged: false,
            moved: false,
        }
    }

    /// The log's commit failed.
    fn commit(e: LogError) -> AppendFailure {
        AppendFailure {
            moved: matches!(e, LogError::Moved { .. }),
            ..AppendFailure::storage(e)
        }
    }

    /// What went wrong, without the event's position in the batch: for a broken rule, the
    /// event's type and the rule's message (its facts and what to do).
    pub fn reason(&self) -> &str {
        // The log names the event by its position; the caller names its input line.
        self.index
            .and_then(|index| self.message.strip_prefix(&format!("event {index}: ")))
            .unwrap_or(&self.message)
    }

    /// The message for the event's input line: `line N: reason`; the reason alone without a
    /// line (`None`, or 0 for an event that came from no line).
    pub fn at_line(&self, line: Option<u64>) -> String {
        match line {
            Some(line) if line > 0 => format!("line {line}: {}", self.reason()),
            _ => self.reason().to_string(),
        }
    }

    /// What to do about it: a broken rule's own fix; for the log's refusals, what their
    /// message says to do (after its last "; "). `None` when the failure names nothing.
    pub fn fix(&self) -> Option<&str> {
        match &self.rule {
            Some(rule) => rule.fix(),
            None if self.kind == FailureKind::Storage => None,
            None => self.reason().rsplit_once("; ").map(|(_, fix)| fix),
        }
    }

    /// Reading the views failed; damage is noted so that the views are rebuilt.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "called as map_err(AppendFailure::views)"
    )]
    fn views(e: ViewError) -> AppendFailure {
        AppendFailure {
            views_damaged: e.is_damage(),
            ..AppendFailure::storage(format!("reading the views to validate the batch: {e}"))
        }
    }

    /// Reading what validation needs failed: a damaged view (its cause) is noted so that
    /// the views are rebuilt.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "called as map_err(AppendFailure::source)"
    )]
    fn source(e: SourceError) -> AppendFailure {
        let damaged = e
            .cause
            .as_deref()
            .and_then(|cause| cause.downcast_ref::<ViewError>())
            .is_some_and(ViewError::is_damage);
        AppendFailure {
            views_damaged: damaged,
            ..AppendFailure::storage(format!("reading the views to validate the batch: {e}"))
        }
    }

    /// The failure of the event at `index` that broke `rule`.
    fn rule(index: usize, kind: &str, rule: RuleError) -> AppendFailure {
        AppendFailure {
            index: Some(index),
            kind: FailureKind::Rule,
            message: format!("{kind}: {rule}"),
            rule: Some(rule),
            views_damaged: false,
            moved: false,
        }
    }
}

impl From<AppendError> for AppendFailure {
    fn from(e: AppendError) -> AppendFailure {
        let (index, kind) = match &e {
            AppendError::StaleVersion { index, .. } => (Some(*index), FailureKind::StaleVersion),
            AppendError::IdConflict { index, .. } => (Some(*index), FailureKind::IdConflict),
            AppendError::ImportedTime { index, .. } => (Some(*index), FailureKind::ImportedTime),
            AppendError::InvalidEvent { index, .. } => (Some(*index), FailureKind::Invalid),
            AppendError::BatchTooLarge { .. } => (None, FailureKind::BatchTooLarge),
            AppendError::Log(_) => (None, FailureKind::Storage),
            // A refusal the log learns later is reported, whole, as a failure to store.
            _ => (None, FailureKind::Storage),
        };
        AppendFailure {
            index,
            kind,
            message: e.to_string(),
            rule: None,
            views_damaged: false,
            moved: false,
        }
    }
}

/// The ledger opened for writing: exclusive lock, log, views.
pub struct Ledger {
    dir: PathBuf,
    source: LogSource,
    log: Log,
    views: ViewWriter,
    /// Validation's caches, kept from one append to the next while every event the views
    /// take in goes through them (so that the batches of one import do not fold the same
    /// accounts afresh); cleared whenever the views change otherwise or a batch is refused.
    validator: Validator,
    /// The filter of the committed txn ids that the views writer's batches check against
    /// ([`TxnFilter`]), kept from one append to the next; dropped with the writer.
    txn_filter: Option<TxnFilter>,
    _lock: LedgerLock,
}

/// The typed event of a stored envelope.
pub fn recorded_from_envelope(envelope: &Envelope) -> Result<Recorded, ViewError> {
    let event =
        Event::parse(&envelope.kind, envelope.data.get()).map_err(|e| ViewError::BadEvent {
            seq: envelope.seq,
            message: e.to_string(),
        })?;
    Ok(Recorded {
        seq: envelope.seq,
        effective_at: Timestamp(envelope.effective_at),
        recorded_at: Timestamp(envelope.recorded_at),
        event,
    })
}

/// Opens a ledger for a query: a shared lock and the views, never the log's store.
///
/// Queries never answer from views behind the log: when the views' record of the log's
/// length ([`crate::format::Heads::log_len`]) differs from the log's on disk (a crash
/// between the log's commit and the views'), or the views are of an older format or were
/// never built, the views are first brought up to the log through the writer
/// ([`Ledger::bring_views_up`], under the exclusive lock), then opened again.
pub fn open_reader(
    ledger_dir: &Path,
    lock_timeout: Duration,
) -> Result<(LedgerLock, ViewReader), ViewError> {
    open_reader_in(ledger_dir, lock_timeout, &LogSource::Dir)
}

/// [`open_reader`] for a ledger whose log is in `source`.
pub fn open_reader_in(
    ledger_dir: &Path,
    lock_timeout: Duration,
    source: &LogSource,
) -> Result<(LedgerLock, ViewReader), ViewError> {
    let views = ledger_dir.join(VIEWS_DIR);
    if !ledger_dir.is_dir() {
        return Err(ViewError::Missing {
            path: views.join(HEADS_FILES[0]),
        });
    }
    for _ in 0..READER_CATCH_UP_TRIES {
        let lock = LedgerLock::shared(ledger_dir, lock_timeout)?;
        let stale = match ViewReader::open(&views) {
            Ok(reader) => {
                let log_len = source.committed_len(ledger_dir)?;
                if log_len == Some(reader.heads().log_len) {
                    return Ok((lock, reader));
                }
                log_len.is_some()
            }
            Err(ViewError::Missing { .. } | ViewError::Version { .. }) => {
                source.exists(ledger_dir)?
            }
            Err(e) => return Err(e),
        };
        drop(lock);
        if !stale {
            // No log: nothing to catch up from.
            break;
        }
        Ledger::open_in(ledger_dir, lock_timeout, source.clone()).map(drop)?;
    }
    let lock = LedgerLock::shared(ledger_dir, lock_timeout)?;
    let reader = ViewReader::open(&views)?;
    Ok((lock, reader))
}

/// Times an append to a shared log is planned again after another node committed first.
pub const MOVED_RETRIES_MAX: usize = 64;

/// Times a query brings the views up to the log before it answers from what it finds (a
/// writer appending between two tries moves the log and the views together).
const READER_CATCH_UP_TRIES: usize = 3;

impl Ledger {
    /// Opens (or creates, mode 0700) the ledger in `ledger_dir` for writing, waiting up to
    /// `lock_timeout` for the exclusive lock, and brings the views up to the log's head. Costs
    /// the same at any size of the ledger (the views' `heads` is read, nothing else) unless
    /// the views must catch up or be rebuilt.
    pub fn open(ledger_dir: &Path, lock_timeout: Duration) -> Result<Ledger, ViewError> {
        Ledger::open_in(ledger_dir, lock_timeout, LogSource::Dir)
    }

    /// [`Ledger::open`] for a ledger whose log is in `source`: with a shared store the
    /// directory holds the views (bound to that log) and the lock, not the log.
    pub fn open_in(
        ledger_dir: &Path,
        lock_timeout: Duration,
        source: LogSource,
    ) -> Result<Ledger, ViewError> {
        let lock = LedgerLock::exclusive(ledger_dir, lock_timeout)?;
        let log = source.open_log(ledger_dir)?;
        recover_swap(ledger_dir)?;
        let views = open_views(ledger_dir, &log)?;
        let mut ledger = Ledger {
            dir: ledger_dir.to_path_buf(),
            source,
            log,
            views,
            validator: Validator::new(),
            txn_filter: None,
            _lock: lock,
        };
        ledger.catch_up_or_rebuild()?;
        Ok(ledger)
    }

    /// Appends to the views what the log has and they lack; views found damaged on the way
    /// are rebuilt from the log (they are derived).
    fn catch_up_or_rebuild(&mut self) -> Result<(), ViewError> {
        match self.catch_up() {
            Err(e) if e.is_damage() => self.rebuild().map(drop),
            caught_up => caught_up,
        }
    }

    /// Rebuilds the views from the log and opens the new ones.
    fn rebuild(&mut self) -> Result<Head, ViewError> {
        self.validator.clear();
        let head = rebuild_views(&self.dir, &self.log, &mut |_| {})?;
        self.reopen_views()?;
        Ok(head)
    }

    /// What [`Ledger::open`] does to the views, for a query that found them behind the log:
    /// under the exclusive lock, recovers the log and the views from a crash, rebuilds views
    /// of an older format or damaged ones, and appends to the views what the log has and
    /// they lack.
    pub fn bring_views_up(ledger_dir: &Path, lock_timeout: Duration) -> Result<(), ViewError> {
        Ledger::open(ledger_dir, lock_timeout).map(drop)
    }

    /// Appends to the views every seq the log has and they lack.
    fn catch_up(&mut self) -> Result<(), ViewError> {
        self.validator.clear();
        let head = self.log.head().seq;
        let checkpoint = self.views.checkpoint();
        if checkpoint > head {
            return Err(ViewError::AheadOfLog {
                views: checkpoint,
                log: head,
            });
        }
        stage_range(
            &self.log,
            &mut self.views,
            (checkpoint + 1, head),
            Chain::Unchecked,
            &mut |_| {},
            u64::MAX,
        )?;
        self.views.set_log_len(self.log.committed_len());
        self.views.commit()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    /// Whether the log is shared with other nodes (PostgreSQL): its appends take input
    /// events, not batches converted beforehand ([`Ledger::append_converted`]).
    pub fn is_shared(&self) -> bool {
        self.source.is_shared()
    }

    /// A reader of the committed views, for queries inside the writing process.
    pub fn reader(&self) -> Result<ViewReader, ViewError> {
        self.views.reader()
    }

    /// Sets the longest committed region of `events.dat` and `txnids.idx` this ledger's
    /// writer and readers read through a mapping ([`ViewWriter::set_mapped_bytes_max`]).
    pub fn set_mapped_bytes_max(&mut self, bytes: u64) {
        self.views.set_mapped_bytes_max(bytes);
    }

    /// Opens the views' writer again from what is on disk, with the bound on mapped regions
    /// of the writer it replaces, and drops what was kept of the old one's files (the
    /// filter of txn ids).
    fn reopen_views(&mut self) -> Result<(), ViewError> {
        let mut views = ViewWriter::open(&self.dir.join(VIEWS_DIR))?;
        views.set_mapped_bytes_max(self.views.mapped_bytes_max());
        self.views = views;
        self.txn_filter = None;
        Ok(())
    }

    /// Readies this writer for batches of about `events` events each: the filters the
    /// first such batch would build (of the log's ids, and of the committed txn ids;
    /// [`TXN_FILTER_BATCH_MIN`] events or more), built now, so that an import can build
    /// them while it reads its first batch instead of after. Appends answer the same with
    /// or without it; a filter that does not build now is left to the first batch, which
    /// reports what stops it.
    pub fn prepare_for_batches(&mut self, events: usize) {
        if events < TXN_FILTER_BATCH_MIN {
            return;
        }
        let _ = self.log.prepare_id_lookups(events);
        if let Ok(reader) = self.views.reader() {
            self.bring_up_txn_filter(&reader, events);
        }
    }

    /// The writer's filter of txn ids brought up to the entries `reader` reads, or built
    /// for a batch of `events` events ([`TxnFilter::brought_up`]); none when they do not read.
    fn bring_up_txn_filter(&mut self, reader: &ViewReader, events: usize) {
        let kept = self.txn_filter.take();
        self.txn_filter = TxnIdsReader::open(reader)
            .ok()
            .and_then(|ids| TxnFilter::brought_up(kept, &ids, events));
    }

    /// Appends a batch: all of it or, on any error before the log commit, none of it.
    ///
    /// After the log has planned the batch (seqs, times, duplicates), three threads share
    /// the work: this one validates each event against what is known (the committed views
    /// and the batch so far, [`Known`]); one builds the log's
    /// frames (canonical bytes and the hash chain, itself on two threads); one stages the
    /// validated events into the views as they come (in memory, or past the views'
    /// committed lengths). When all is well this thread commits the log, then the views. A
    /// batch of at most [`INLINE_EVENTS_MAX`] input events does the same steps on this
    /// thread alone. A rejected batch throws the built frames and the staged views away.
    ///
    /// With a shared log, another node may commit between the plan and the commit: the
    /// commit is then refused with nothing written, and the batch is planned and validated
    /// again on the new head (duplicates and `expected_version` checked anew) while this
    /// node holds the writers' turn ([`Log::begin_write`]), so that it is not overtaken
    /// again; [`MOVED_RETRIES_MAX`] bounds the tries in case a writer that ignores the turn
    /// shares the log.
    pub fn append(
        &mut self,
        batch: Vec<InputEvent>,
        opts: &AppendOptions,
    ) -> Result<AppendReport, AppendFailure> {
        self.append_pieces(vec![batch], opts)
    }

    /// [`Ledger::append`] of a batch given in pieces (the input events in order, piece
    /// after piece): one atomic batch all the same. Each piece is dropped once converted,
    /// which keeps a large batch read a piece at a time from being held twice.
    pub fn append_pieces(
        &mut self,
        pieces: Vec<Vec<InputEvent>>,
        opts: &AppendOptions,
    ) -> Result<AppendReport, AppendFailure> {
        if !self.source.is_shared() {
            return self.append_once(Converted::new(pieces, opts), opts);
        }
        let done = self.append_shared(&pieces, opts);
        self.log.end_write();
        done
    }

    /// [`Ledger::append_pieces`] of a batch converted beforehand, on any thread
    /// ([`Converted::new`], with the same `opts`): an import converts the next batch while
    /// this one is appended. The ledger's log must be its own ([`Ledger::is_shared`]): a
    /// shared log's append may plan a batch more than once, from its input events.
    pub fn append_converted(
        &mut self,
        converted: Converted,
        opts: &AppendOptions,
    ) -> Result<AppendReport, AppendFailure> {
        if self.source.is_shared() {
            return Err(AppendFailure::storage(
                "a shared log takes its batches as input events (Ledger::append_pieces), not converted beforehand",
            ));
        }
        self.append_once(converted, opts)
    }

    /// The shared log's append. The first try is optimistic: planned on the head read
    /// when it starts, refused with nothing written if another node committed since. Then the node
    /// takes the writers' turn (no other node commits while it holds it), catches up and
    /// tries again, so a node that lost a race is not overtaken again.
    fn append_shared(
        &mut self,
        pieces: &[Vec<InputEvent>],
        opts: &AppendOptions,
    ) -> Result<AppendReport, AppendFailure> {
        let mut tries = 0;
        loop {
            tries += 1;
            if tries == 2 {
                self.log.begin_write().map_err(|e| {
                    AppendFailure::storage(format!(
                        "another node appended first; waiting for the writers' turn failed: {e}"
                    ))
                })?;
            }
            // The head as of now, and the views brought up to it: a batch is checked against
            // everything committed before it was asked for, on whichever node (a rule
            // refused on views behind the log would be a wrong answer, not a lost race).
            self.sync().map_err(|e| {
                AppendFailure::storage(format!("catching up with the shared log: {e}"))
            })?;
            match self.append_once(Converted::new(pieces.to_vec(), opts), opts) {
                Err(failure) if failure.moved && tries < MOVED_RETRIES_MAX => {}
                done => return done,
            }
        }
    }

    /// Reads the shared log's head again and brings the views up to it (what other nodes
    /// appended). Returns the head. Nothing to do for a directory log.
    pub fn sync(&mut self) -> Result<Head, ViewError> {
        let head = self.log.refresh()?;
        if self.views.checkpoint() != head.seq {
            self.catch_up_or_rebuild()?;
        }
        Ok(head)
    }

    fn append_once(
        &mut self,
        converted: Converted,
        opts: &AppendOptions,
    ) -> Result<AppendReport, AppendFailure> {
        let Converted {
            typed: events,
            new_events,
        } = converted;
        let planned = self.log.plan(new_events, opts.now.0)?;
        let outcomes = planned.outcomes().to_vec();
        let times: Vec<(i64, i64)> = planned.times().collect();
        let base_seq = self.log.head().seq;
        let reader = self.views.reader().map_err(AppendFailure::storage)?;
        assert_eq!(
            reader.heads().checkpoint,
            base_seq,
            "the views are up to the log before an append"
        );
        // A batch without transactions asks no txn id: a kept filter waits for the next
        // batch that does (it reads the entries committed since then).
        let large = outcomes.len() >= TXN_FILTER_BATCH_MIN;
        if large || (self.txn_filter.is_some() && events.has_transactions()) {
            self.bring_up_txn_filter(&reader, outcomes.len());
        }
        let (log, views, validator) = (&mut self.log, &mut self.views, &mut self.validator);
        let batch = Batch {
            base_seq,
            times: &times,
            outcomes: &outcomes,
            txn_filter: self.txn_filter.as_ref(),
        };
        let threads = append_steps(log, views, validator, &reader, &batch, events, planned);
        // The system refused a thread before anything was written.
        let (committed, staged) = threads.map_err(AppendFailure::storage)?;
        let (appended, head) = match committed {
            Ok(done) => done,
            Err(failure) => {
                drop(reader);
                // The caches took in events of the refused batch.
                self.validator.clear();
                // What was staged for the rejected batch must not reach the views.
                self.reopen_views()
                    .map_err(|e| AppendFailure::storage(e.to_string()))?;
                return Err(self.heal(failure));
            }
        };
        drop(reader);
        self.finish_views(staged).map_err(|e| {
            AppendFailure::storage(format!(
                "the events are stored in the log (head seq {}), but updating the views failed: {e}; they catch up when the ledger is next opened",
                head.seq
            ))
        })?;
        Ok(AppendReport {
            appended,
            duplicates: outcomes.len() as u64 - appended,
            head,
            outcomes,
        })
    }

    /// Commits the views staged for a batch the log has committed; when staging or the
    /// commit failed, starts again from what is on disk and catches up from the log, once.
    fn finish_views(&mut self, staged: Result<(), ViewError>) -> Result<(), ViewError> {
        self.views.set_log_len(self.log.committed_len());
        if staged.and_then(|()| self.views.commit()).is_err() {
            self.reopen_views()?;
            self.catch_up()?;
        }
        Ok(())
    }

    /// Rebuilds every view file from the log into a fresh directory, checking the hash
    /// chain on the way, then swaps it in. `progress` gets the last seq done, now and then.
    pub fn replay(&mut self, progress: &mut dyn FnMut(u64)) -> Result<Head, ViewError> {
        self.validator.clear();
        let head = rebuild_views(&self.dir, &self.log, progress)?;
        self.reopen_views()?;
        Ok(head)
    }

    /// A batch that failed because validation found the views damaged: rebuilds them from
    /// the log (nothing of the batch was committed) and says so; other failures pass.
    fn heal(&mut self, failure: AppendFailure) -> AppendFailure {
        if failure.kind != FailureKind::Storage || !failure.views_damaged {
            return failure;
        }
        match self.rebuild() {
            Ok(_) => AppendFailure::storage(format!(
                "{}; the views were rebuilt from the log and nothing was appended: run the append again",
                failure.message
            )),
            Err(e) => AppendFailure::storage(format!(
                "{}; rebuilding the views from the log failed too: {e}",
                failure.message
            )),
        }
    }
}

/// Opens the views for writing; views of an older format, or damaged so that they do not
/// open, are rebuilt from the log first (they are derived data).
fn open_views(ledger_dir: &Path, log: &Log) -> Result<ViewWriter, ViewError> {
    let views = ledger_dir.join(VIEWS_DIR);
    match ViewWriter::open(&views) {
        Err(e) if e.is_damage() || matches!(e, ViewError::Version { .. }) => {
            rebuild_views(ledger_dir, log, &mut |_| {})?;
            ViewWriter::open(&views)
        }
        opened => opened,
    }
}

/// Builds every view file from the log into `views.new`, checking the hash chain on the
/// way, then swaps it in for `views`. `progress` gets the last seq done, now and then.
fn rebuild_views(
    ledger_dir: &Path,
    log: &Log,
    progress: &mut dyn FnMut(u64),
) -> Result<Head, ViewError> {
    let head = log.head();
    let new_dir = ledger_dir.join(VIEWS_NEW_DIR);
    remove_dir_if_present(&new_dir)?;
    let mut writer = ViewWriter::open(&new_dir)?;
    let last = stage_range(
        log,
        &mut writer,
        (1, head.seq),
        Chain::From([0u8; 32]),
        progress,
        REPLAY_PROGRESS_EVENTS,
    )?;
    if writer.checkpoint() != head.seq || last.unwrap_or([0u8; 32]) != head.hash {
        return Err(integrity(
            writer.checkpoint() + 1,
            "the log ends before its head",
        ));
    }
    writer.set_log_len(log.committed_len());
    writer.commit_checkpoint()?;
    progress(head.seq);
    drop(writer);
    let views = ledger_dir.join(VIEWS_DIR);
    let old = ledger_dir.join(VIEWS_OLD_DIR);
    remove_dir_if_present(&old)?;
    if views.exists() {
        arl_io::rename(&views, &old).map_err(|e| ViewError::io(&views, e))?;
    }
    arl_io::rename(&new_dir, &views).map_err(|e| ViewError::io(&new_dir, e))?;
    sync_dir(ledger_dir)?;
    remove_dir_if_present(&old)?;
    Ok(head)
}

/// Batches of at most this many input events are validated, built and staged on the
/// appending thread: starting two threads cost more than their work for a few events.
const INLINE_EVENTS_MAX: usize = 64;

/// What the three steps of an append give: the log's commit (the events appended and the
/// new head) or the batch's failure, and the staging of the views.
type Steps = (Result<(u64, Head), AppendFailure>, Result<(), ViewError>);

/// The append's steps: validate, stage the views, build the log's frames, commit the log.
/// A small batch (at most [`INLINE_EVENTS_MAX`] input events) takes them one after the
/// other on this thread. A large one takes three threads: this one validates; one builds
/// the log's frames (canonical bytes and the hash chain, itself on two threads); one stages
/// the validated events into the views as they come; then this one commits the log.
fn append_steps(
    log: &mut Log,
    views: &mut ViewWriter,
    validator: &mut Validator,
    reader: &ViewReader,
    batch: &Batch<'_>,
    events: Typed,
    planned: PlannedBatch,
) -> std::io::Result<Steps> {
    if batch.outcomes.len() <= INLINE_EVENTS_MAX {
        // Validation sends its one chunk (fewer events than a chunk) without waiting.
        let (sender, receiver) = sync_channel::<Vec<Staged>>(1);
        let validated = validate(reader, validator, batch, events, &sender);
        drop(sender);
        let staged = match &validated {
            Ok(_) => stage_chunks(receiver, views),
            Err(_) => Ok(()),
        };
        let committed = commit_checked(log, planned.build(), validated);
        return Ok((committed, staged));
    }
    arl_par::scope(|scope| {
        let builder = scope.spawn("arl-build", move || planned.build())?;
        let (sender, receiver) = sync_channel::<Vec<Staged>>(STAGE_CHUNKS_IN_FLIGHT);
        let stager = scope.spawn("arl-stage", move || stage_chunks(receiver, views))?;
        let validated = validate(reader, validator, batch, events, &sender);
        drop(sender);
        let committed = commit_checked(log, builder.join(), validated);
        let staged = stager.join();
        Ok((committed, staged))
    })
}

/// Commits the built frames of a batch that passed validation. The log's own refusal (an
/// envelope over its size limit) comes first, as it would from `Log::prepare`.
fn commit_checked(
    log: &mut Log,
    built: Result<Prepared, AppendError>,
    validated: Result<u64, AppendFailure>,
) -> Result<(u64, Head), AppendFailure> {
    match (built, validated) {
        (Err(e), _) => Err(AppendFailure::from(e)),
        (Ok(_), Err(failure)) => Err(failure),
        (Ok(prepared), Ok(appended)) => log
            .commit(prepared)
            .map(|head| (appended, head))
            .map_err(AppendFailure::commit),
    }
}

/// Events handed to the views' stager at a time during an append, and chunks in flight.
const STAGE_CHUNK_EVENTS: usize = 1024;
const STAGE_CHUNKS_IN_FLIGHT: usize = 8;

/// A checked event with its data in canonical JSON, as the log stores it.
type Staged = (Recorded, String);

/// Where a batch's new events go: after seq `base_seq`, with the `(recorded_at,
/// effective_at)` the log planned for each, the log's outcome of every input event, and
/// the writer's filter of the committed txn ids when it keeps one.
struct Batch<'b> {
    base_seq: u64,
    times: &'b [(i64, i64)],
    outcomes: &'b [Outcome],
    txn_filter: Option<&'b TxnFilter>,
}

impl Batch<'_> {
    /// The planned `(recorded_at, effective_at)` of the new event `seq`.
    fn times_of(&self, seq: u64) -> Result<(i64, i64), AppendFailure> {
        seq.checked_sub(self.base_seq + 1)
            .and_then(|k| self.times.get(usize::try_from(k).ok()?))
            .copied()
            .ok_or_else(|| {
                AppendFailure::storage(format!("the log planned no times for seq {seq}"))
            })
    }
}

/// Checks each new event in order against what is known (the committed views `reader`
/// reads and the batch so far), adding it so that later ones see it, and hands the checked
/// events on to the views' stager. Returns how many were appended. Stops at the first
/// broken rule or failed read. `events` are the typed events of the input, in input order.
fn validate(
    reader: &ViewReader,
    validator: &mut Validator,
    batch: &Batch<'_>,
    mut events: Typed,
    stager: &SyncSender<Vec<Staged>>,
) -> Result<u64, AppendFailure> {
    let mut known =
        Known::new(reader, batch.txn_filter, batch.outcomes.len()).map_err(AppendFailure::views)?;
    let mut chunk = Vec::with_capacity(STAGE_CHUNK_EVENTS);
    let mut appended = 0;
    for (position, outcome) in batch.outcomes.iter().enumerate() {
        let Outcome::Appended { seq } = *outcome else {
            continue;
        };
        let (recorded_at, effective_at) = batch.times_of(seq)?;
        let (event, data) = events
            .take(position)
            .ok_or_else(|| AppendFailure::storage("an input event was used twice"))?;
        let recorded = Recorded {
            seq,
            effective_at: Timestamp(effective_at),
            recorded_at: Timestamp(recorded_at),
            event,
        };
        check_one(validator, &known, &recorded, position)?;
        validator.inserting(&recorded);
        known.insert(&recorded).map_err(AppendFailure::source)?;
        chunk.push((recorded, data));
        appended += 1;
        if chunk.len() == STAGE_CHUNK_EVENTS {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(STAGE_CHUNK_EVENTS));
            // A stager that stopped on an error has said why; the views catch up later.
            let _ = stager.send(full);
        }
    }
    if !chunk.is_empty() {
        let _ = stager.send(chunk);
    }
    Ok(appended)
}

/// The verdict on one event, as the failure of the batch when it is rejected.
fn check_one(
    validator: &mut Validator,
    known: &Known<'_>,
    recorded: &Recorded,
    position: usize,
) -> Result<(), AppendFailure> {
    match validator.check(known, recorded) {
        Ok(()) => Ok(()),
        Err(ValidationError::Rule(rule)) => {
            Err(AppendFailure::rule(position, recorded.event.kind(), rule))
        }
        Err(ValidationError::Source(e)) => Err(AppendFailure::source(e)),
    }
}

/// Stages every chunk received into the views (nothing is committed here).
fn stage_chunks(chunks: Receiver<Vec<Staged>>, views: &mut ViewWriter) -> Result<(), ViewError> {
    for chunk in chunks {
        for (recorded, data) in &chunk {
            views.stage_data(recorded, data)?;
        }
    }
    Ok(())
}

fn integrity(seq: u64, reason: &str) -> ViewError {
    ViewError::Log(LogError::Integrity {
        seq,
        reason: reason.to_string(),
    })
}

/// Batches at least this large are converted on two threads.
const PARALLEL_CONVERT_EVENTS: usize = 4096;

/// The typed events of a batch, each with its data in canonical JSON (for validation and
/// the views; the log stores the same bytes), in the pieces the input came in. Validation
/// takes them in input order and drops each piece once it has passed it, so that a large
/// batch does not hold every event in two forms until its last one is checked.
struct Typed {
    pieces: VecDeque<Vec<Option<(Event, String)>>>,
    /// The input position of the first event of the first piece.
    first: usize,
}

impl Typed {
    /// Whether any of the events is a transaction.
    fn has_transactions(&self) -> bool {
        self.pieces
            .iter()
            .flatten()
            .flatten()
            .any(|(event, _)| event.is_transaction())
    }

    /// The event at input `position`, once: positions are taken in increasing order.
    fn take(&mut self, position: usize) -> Option<(Event, String)> {
        while let Some(front) = self.pieces.front() {
            if position < self.first + front.len() {
                break;
            }
            self.first += front.len();
            self.pieces.pop_front();
        }
        let at = position.checked_sub(self.first)?;
        self.pieces.front_mut()?.get_mut(at)?.take()
    }
}

/// A batch ready for [`Ledger::append_converted`]: each input event as the typed event
/// with its canonical data, and as the log's new event. Converting needs no ledger, so it
/// can be done on another thread while the batch before is appended.
pub struct Converted {
    typed: Typed,
    new_events: Vec<NewEvent>,
}

impl Converted {
    /// Converts the input events (the pieces in order; each dropped once converted) with
    /// `opts`' actor for lines that name none and its `imported` flag. Cannot fail: an
    /// input event is checked when it is parsed.
    pub fn new(pieces: Vec<Vec<InputEvent>>, opts: &AppendOptions) -> Converted {
        let (typed, new_events) = new_events(pieces, opts);
        Converted { typed, new_events }
    }
}

/// What an append works on, for each input event: the typed event with its canonical data
/// ([`Typed`]) and the log's new event. Each input piece is dropped once converted. A large
/// batch is converted on two threads (each a run of whole pieces). Converting cannot fail:
/// an input event is checked when it is parsed.
fn new_events(pieces: Vec<Vec<InputEvent>>, opts: &AppendOptions) -> (Typed, Vec<NewEvent>) {
    // Converts `pieces` into new events with room for `capacity` (the first run's for the
    // whole batch, so that the second joins it without growing it).
    let convert = |pieces: Vec<Vec<InputEvent>>, capacity: usize| {
        let mut typed = VecDeque::with_capacity(pieces.len());
        let mut new_events = Vec::with_capacity(capacity);
        for piece in pieces {
            let mut events = Vec::with_capacity(piece.len());
            for input in piece {
                let (event, new_event) = new_event(input, opts);
                // The views store the same canonical data the log does; copied, not
                // serialized again.
                let data = new_event.data.get().to_owned();
                events.push(Some((event, data)));
                new_events.push(new_event);
            }
            typed.push_back(events);
        }
        (typed, new_events)
    };
    let total: usize = pieces.iter().map(Vec::len).sum();
    let mut first = pieces;
    if total < PARALLEL_CONVERT_EVENTS {
        let (typed, new_events) = convert(first, total);
        let typed = Typed {
            pieces: typed,
            first: 0,
        };
        return (typed, new_events);
    }
    // One piece (a batch given whole) is split in two; more are shared out whole.
    if first.len() == 1 {
        let second = first[0].split_off(total / 2);
        first.push(second);
    }
    let mut before = 0;
    let split = first
        .iter()
        .position(|piece| {
            before += piece.len();
            before >= total / 2
        })
        .map_or(first.len(), |i| i + 1);
    let second = first.split_off(split);
    let ((mut typed, mut new_events), (more_typed, more_new)) = arl_par::join(
        || convert(first, total),
        || {
            let len = second.iter().map(Vec::len).sum();
            convert(second, len)
        },
    );
    typed.extend(more_typed);
    new_events.extend(more_new);
    let typed = Typed {
        pieces: typed,
        first: 0,
    };
    (typed, new_events)
}

fn new_event(input: InputEvent, opts: &AppendOptions) -> (Event, NewEvent) {
    let InputEvent {
        event,
        effective_at,
        id,
        actor,
        reason,
        expected_version,
        recorded_at,
    } = input;
    let data = event.data_raw();
    let new_event = NewEvent {
        id,
        kind: event.kind().to_string(),
        stream: event.stream(),
        effective_at: effective_at.map(|t| t.0),
        recorded_at: if opts.imported {
            recorded_at.map(|t| t.0)
        } else {
            None
        },
        actor: actor.unwrap_or_else(|| opts.actor.clone()),
        reason,
        data,
        expected_version,
    };
    (event, new_event)
}

/// Undoes what a replay interrupted by a crash left: an unfinished `views.new` is dropped;
/// when `views` itself is gone (crash between the two renames), `views.old` comes back.
/// Either way the catch-up that follows brings the views to the log's head.
fn recover_swap(ledger_dir: &Path) -> Result<(), ViewError> {
    let views = ledger_dir.join(VIEWS_DIR);
    let old = ledger_dir.join(VIEWS_OLD_DIR);
    remove_dir_if_present(&ledger_dir.join(VIEWS_NEW_DIR))?;
    if !views.exists() && old.exists() {
        arl_io::rename(&old, &views).map_err(|e| ViewError::io(&old, e))?;
        sync_dir(ledger_dir)?;
    }
    remove_dir_if_present(&old)
}

fn remove_dir_if_present(dir: &Path) -> Result<(), ViewError> {
    match arl_io::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ViewError::io(dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::TXN_RECORD_BYTES;
    use arl_domain::{Event, Timestamp, TxnReversed};

    fn opts() -> AppendOptions {
        AppendOptions {
            imported: false,
            actor: "test".into(),
            now: Timestamp::parse_input("2030-01-01").unwrap(),
        }
    }

    fn imported() -> AppendOptions {
        AppendOptions {
            imported: true,
            ..opts()
        }
    }

    /// Generated events enough to build the filter of txn ids, and the first transaction
    /// among them.
    fn a_large_batch_and_its_first_sale() -> (Vec<InputEvent>, InputEvent) {
        let n = TXN_FILTER_BATCH_MIN as u64 + 1_000;
        let events: Vec<InputEvent> = arl_gen::Generator::new(arl_gen::Config::new(n, 5))
            .map(|l| InputEvent::parse_line(&l, true).unwrap())
            .collect();
        let sale = events
            .iter()
            .find(|e| matches!(e.event, Event::TxnRecorded(_)))
            .cloned()
            .expect("a transaction");
        (events, sale)
    }

    fn covers(ledger: &Ledger) -> Option<u64> {
        ledger.txn_filter.as_ref().map(TxnFilter::covers)
    }

    fn entries(ledger: &Ledger) -> u64 {
        ledger.reader().unwrap().heads().txns_len / TXN_RECORD_BYTES
    }

    /// A writer readied for large batches ([`Ledger::prepare_for_batches`]) holds the
    /// filter of txn ids before the first of them, over every committed entry; readied for
    /// small ones it builds nothing. A committed txn id used again is refused through it.
    #[test]
    fn a_writer_readied_for_large_batches_holds_the_filter_before_them() {
        let dir = tempfile::tempdir().unwrap();
        let (events, mut sale) = a_large_batch_and_its_first_sale();
        Ledger::open(dir.path(), Duration::from_secs(5))
            .unwrap()
            .append(events, &imported())
            .unwrap();

        let mut ledger = Ledger::open(dir.path(), Duration::from_secs(5)).unwrap();
        assert_eq!(covers(&ledger), None);
        ledger.prepare_for_batches(TXN_FILTER_BATCH_MIN - 1);
        assert_eq!(covers(&ledger), None);
        ledger.prepare_for_batches(TXN_FILTER_BATCH_MIN);
        assert!(entries(&ledger) > 0);
        assert_eq!(covers(&ledger), Some(entries(&ledger)));

        sale.recorded_at = None;
        sale.id = None;
        let Event::TxnRecorded(data) = &sale.event else {
            unreachable!()
        };
        let txn = data.txn.clone();
        let failure = ledger.append(vec![sale], &opts()).unwrap_err();
        assert_eq!(failure.kind, FailureKind::Rule, "{failure:?}");
        assert!(failure.message.contains(&txn), "{failure:?}");
    }

    /// The writer's filter of txn ids is built for a large batch and then brought up to
    /// the entries every later batch commits, so that it holds each committed txn id: a
    /// txn committed after it was built is found by its reversal, and refused when used
    /// again (a filter that missed it would say "unused" and let both wrong answers
    /// through). A refused batch drops it with the writer.
    #[test]
    fn the_filter_of_txn_ids_holds_every_committed_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(dir.path(), Duration::from_secs(5)).unwrap();
        let (events, mut sale) = a_large_batch_and_its_first_sale();
        ledger.append(events, &imported()).unwrap();
        // Built before that batch, when no entry was committed.
        assert_eq!(covers(&ledger), Some(0));

        // The same account and time, a new txn id.
        sale.recorded_at = None;
        sale.id = None;
        let Event::TxnRecorded(data) = &mut sale.event else {
            unreachable!()
        };
        data.txn = "filter-new".into();
        let account = data.account.clone();
        let before = entries(&ledger);
        ledger.append(vec![sale.clone()], &opts()).unwrap();
        assert_eq!(covers(&ledger), Some(before));

        let mut reversal = sale.clone();
        reversal.event = Event::TxnReversed(TxnReversed {
            account,
            txn: "filter-new".into(),
        });
        let before = entries(&ledger);
        ledger.append(vec![reversal.clone()], &opts()).unwrap();
        assert_eq!(covers(&ledger), Some(before));

        let before = entries(&ledger);
        let failure = ledger.append(vec![sale], &opts()).unwrap_err();
        assert_eq!(failure.kind, FailureKind::Rule, "{failure:?}");
        assert!(failure.message.contains("filter-new"), "{failure:?}");
        assert_eq!(entries(&ledger), before);
        // Dropped with the writer the refused batch replaced.
        assert_eq!(covers(&ledger), None);
        let failure = ledger.append(vec![reversal], &opts()).unwrap_err();
        assert_eq!(failure.kind, FailureKind::Rule, "{failure:?}");
    }
}
